/* The write detector: what still writes to the immortal heap in a worker.

   A process forked after sys.immortalize_heap() shares the master's pages
   until it writes to one. In a worker, sys._immortal_detect_writes() (or
   PYTHONIMMORTALDETECT in the master's environment, for every worker it
   forks) write-protects the memory of the sealed pymalloc arenas: the
   master's small objects, immortal ones and any that stayed mortal. The
   first write to each page then faults; the SIGSEGV handler reports the
   address, the object that holds it (its type, and whether it is
   immortal), the C stack and the Python stack of the thread that wrote,
   lifts the protection from that one page and returns, and the write is
   done. A page is reported once: its first write is the one that copies
   it. sys._immortal_detected_writes() returns what was reported.

   Arm it after faulthandler.enable(), not before: enabling faulthandler
   later puts its handler in front, and it treats the detector's faults as
   fatal.

   What is not covered: the master's memory outside pymalloc's arenas
   (objects over 512 bytes, buffers of lists, dicts and sets over that
   size, memory extensions allocate with malloc()), static objects. A
   system call that writes into protected memory (read() into a small
   bytearray of the master's) fails with EFAULT instead of faulting: this
   is a mode for finding writers, not for serving.

   The handler does only what a signal handler may: it reads pymalloc's
   tables (_PyObject_SealedBlock(), Objects/obmalloc_seal.h), reads
   candidate objects with process_vm_readv() (which fails cleanly on an
   address that is not mapped), writes with write(), dumps the stacks with
   backtrace_symbols_fd() and _Py_DumpTraceback() (faulthandler's), and
   records into a table allocated when the detector was armed. */

#include "Python.h"
#include "pycore_immortal.h"
#include "pycore_immortal_heap.h"
#include "pycore_pystate.h"       // _PyThreadState_GET()
#include "pycore_traceback.h"     // _Py_DumpTraceback()

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>              // process_vm_readv()
#include <unistd.h>
#ifdef __GLIBC__
#  define HAVE_BACKTRACE 1
#  include <execinfo.h>           // backtrace()
#endif

#define MAX_RECORDS 65536
#define TYPE_NAME_SIZE 64     // and the longest of the strings below
#define C_STACK_DEPTH 48

typedef struct {
    uintptr_t address;
    uintptr_t object;           // 0: not inside an object found
    int immortal;
    char type_name[TYPE_NAME_SIZE];
} write_record;

static struct {
    int armed;
    int fd;                     // where reports go
    size_t page_size;
    size_t protected_bytes;
    write_record *records;      // MAX_RECORDS, mmap()ed when armed
    size_t n_records;           // all reported, even beyond MAX_RECORDS
    struct sigaction previous;
} detector;


/* --- In the handler --- */

/* Copy size bytes at addr into out; 0 if addr is not readable. */
static int
safe_read(const void *addr, void *out, size_t size)
{
    struct iovec local = {out, size};
    struct iovec remote = {(void *)addr, size};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0)
           == (ssize_t)size;
}

/* Is there a plausible object at op: its type's type a type? */
static PyTypeObject *
type_of(uintptr_t op, unsigned long *flags)
{
    PyTypeObject *type, *meta;
    if (!safe_read(&((PyObject *)op)->ob_type, &type, sizeof(type))
        || type == NULL
        || !safe_read(&((PyObject *)type)->ob_type, &meta, sizeof(meta))
        || meta == NULL
        || !safe_read(&type->tp_flags, flags, sizeof(*flags)))
    {
        return NULL;
    }
    unsigned long meta_flags;
    if (meta != &PyType_Type
        && (!safe_read(&meta->tp_flags, &meta_flags, sizeof(meta_flags))
            || !(meta_flags & Py_TPFLAGS_TYPE_SUBCLASS)))
    {
        return NULL;
    }
    return type;
}

/* The object of the block: after a PyGC_Head and the managed dict's two
   pointers (3.11's pre-header of instances of Python classes), after a
   PyGC_Head only, or at the start. */
static void
identify(write_record *r)
{
    char *block;
    size_t size;
    r->object = 0;
    r->immortal = 0;
    strcpy(r->type_name, "(no object: a buffer, keys table or free block)");
    int where = _PyObject_SealedBlock((void *)r->address, &block, &size);
    if (where != 1) {
        strcpy(r->type_name, "(pool header)");
        return;
    }
    uintptr_t candidates[3] = {
        (uintptr_t)block + sizeof(PyGC_Head) + 2 * sizeof(PyObject *),
        (uintptr_t)block + sizeof(PyGC_Head),
        (uintptr_t)block};
    for (int i = 0; i < 3; i++) {
        unsigned long flags;
        uintptr_t op = candidates[i];
        if (op + sizeof(PyObject) > (uintptr_t)block + size) {
            continue;
        }
        PyTypeObject *type = type_of(op, &flags);
        if (type == NULL) {
            continue;
        }
        int is_gc = (flags & Py_TPFLAGS_HAVE_GC) != 0;
        int managed = (flags & Py_TPFLAGS_MANAGED_DICT) != 0;
        if (is_gc != (i < 2) || managed != (i == 0)) {
            continue;
        }
        Py_ssize_t refcnt;
        const char *name;
        if (!safe_read(&((PyObject *)op)->ob_refcnt, &refcnt, sizeof(refcnt))
            || !safe_read(&type->tp_name, &name, sizeof(name)))
        {
            continue;
        }
        r->object = op;
        PyObject copy = {.ob_refcnt = refcnt};
        r->immortal = _Py_IsImmortal(&copy);
        size_t n = 0;
        char c;
        while (n < TYPE_NAME_SIZE - 1 && safe_read(name + n, &c, 1) && c) {
            r->type_name[n++] = c;
        }
        r->type_name[n] = '\0';
        return;
    }
}

static void
puts_fd(int fd, const char *s)
{
    (void)_Py_write_noraise(fd, s, strlen(s));
}

static void
report(const write_record *r)
{
    int fd = detector.fd;
    puts_fd(fd, "immortal write detector: pid ");
    _Py_DumpDecimal(fd, (size_t)getpid());
    puts_fd(fd, " wrote to 0x");
    _Py_DumpHexadecimal(fd, r->address, sizeof(void *) * 2);
    if (r->object) {
        puts_fd(fd, ", in ");
        puts_fd(fd, r->immortal ? "immortal " : "mortal ");
        puts_fd(fd, r->type_name);
        puts_fd(fd, " object at 0x");
        _Py_DumpHexadecimal(fd, r->object, sizeof(void *) * 2);
        if (r->address < r->object) {
            puts_fd(fd, " (its pre-header: PyGC_Head or dict pointers)");
        }
        else {
            puts_fd(fd, " (+");
            _Py_DumpDecimal(fd, r->address - r->object);
            puts_fd(fd, ")");
        }
    }
    else {
        puts_fd(fd, ", ");
        puts_fd(fd, r->type_name);
    }
    puts_fd(fd, "\nC stack:\n");
#ifdef HAVE_BACKTRACE
    void *frames[C_STACK_DEPTH];
    int n = backtrace(frames, C_STACK_DEPTH);
    /* Skip this function and the handler. */
    backtrace_symbols_fd(frames + 2, n > 2 ? n - 2 : 0, fd);
#else
    puts_fd(fd, "  (no backtrace() here)\n");
#endif
    puts_fd(fd, "Python stack:\n");
    PyThreadState *tstate = PyGILState_GetThisThreadState();
    if (tstate != NULL) {
        _Py_DumpTraceback(fd, tstate);
    }
    else {
        puts_fd(fd, "  (no Python thread)\n");
    }
}

static void unprotect_arena(void *start, size_t size, void *arg);

/* Give up: every arena writable again, the previous handler back. */
static void
disarm(const char *why)
{
    detector.armed = 0;
    _PyObject_ForEachSealedArena(unprotect_arena, NULL);
    sigaction(SIGSEGV, &detector.previous, NULL);
    puts_fd(detector.fd, "immortal write detector: disarmed: ");
    puts_fd(detector.fd, why);
    puts_fd(detector.fd, "\n");
}

static int
in_protected_memory(uintptr_t a)
{
    char *block;
    size_t size;
    return _PyObject_SealedBlock((void *)a, &block, &size) != 0;
}

static void
on_fault(int signum, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    uintptr_t a = (uintptr_t)info->si_addr;
    if (!detector.armed || info->si_code != SEGV_ACCERR
        || !in_protected_memory(a))
    {
        /* Not ours: let the fault happen again under the handler that
           was there before (faulthandler's, or the default). */
        sigaction(SIGSEGV, &detector.previous, NULL);
        errno = saved_errno;
        return;
    }
    write_record local, *r = &local;
    size_t index = __atomic_fetch_add(&detector.n_records, 1,
                                      __ATOMIC_RELAXED);
    if (index < MAX_RECORDS) {
        r = &detector.records[index];
    }
    r->address = a;
    identify(r);
    report(r);
    uintptr_t page = a & ~(uintptr_t)(detector.page_size - 1);
    if (mprotect((void *)page, detector.page_size,
                 PROT_READ | PROT_WRITE) != 0)
    {
        /* Each page made writable splits a mapping: past
           vm.max_map_count mprotect() fails (ENOMEM). Unprotecting whole
           arenas merges them back. */
        disarm("too many pages written (vm.max_map_count)");
    }
    errno = saved_errno;
    (void)signum;
    (void)context;
}


/* --- Arming --- */

static void
unprotect_arena(void *start, size_t size, void *arg)
{
    (void)mprotect(start, size, PROT_READ | PROT_WRITE);
    (void)arg;
}

static void
protect_arena(void *start, size_t size, void *arg)
{
    int *failed = (int *)arg;
    if (mprotect(start, size, PROT_READ) != 0) {
        *failed = errno;
        return;
    }
    detector.protected_bytes += size;
}

/* Protect the sealed arenas and install the handler; report to fd.
   Returns -1 with an exception set. */
static int
arm(int fd)
{
    if (detector.armed) {
        detector.fd = fd;
        return 0;
    }
    detector.page_size = (size_t)sysconf(_SC_PAGESIZE);
    if (detector.records == NULL) {
        void *p = mmap(NULL, MAX_RECORDS * sizeof(write_record),
                       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        detector.records = p;
    }
#ifdef HAVE_BACKTRACE
    /* The first backtrace() may load libgcc (and allocate): not in the
       handler. */
    void *frames[4];
    (void)backtrace(frames, 4);
#endif
    detector.fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = on_fault;
    /* On the alternate stack where there is one (faulthandler's), so that
       a stack overflow still reaches the previous handler. */
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    /* A child forked from an armed worker inherits the handler: the one
       before it is still the parent's previous one, never on_fault. */
    if (current.sa_sigaction != on_fault) {
        detector.previous = current;
    }
    if (sigaction(SIGSEGV, &action, NULL) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    detector.armed = 1;
    int failed = 0;
    _PyObject_ForEachSealedArena(protect_arena, &failed);
    if (failed) {
        errno = failed;
        PyErr_SetFromErrno(PyExc_OSError);
        disarm("could not protect the arenas");
        return -1;
    }
    return 0;
}

/* In a child forked after the call, from _PyImmortal_AfterForkChild():
   PYTHONIMMORTALDETECT=1 reports to stderr; any other value is a path
   prefix, and each worker reports to PREFIX.PID. */
void
_PyImmortal_DetectorAfterFork(void)
{
    /* Forked from an armed worker: still armed (the protection and the
       handler are inherited), with records of its own. */
    detector.n_records = 0;
    const char *value = Py_GETENV("PYTHONIMMORTALDETECT");
    if (value == NULL || value[0] == '\0') {
        return;
    }
    detector.armed = 0;         // the parent's protection is not ours
    detector.n_records = 0;
    detector.protected_bytes = 0;
    int fd = 2;
    if (strcmp(value, "1") != 0) {
        char path[4096];
        PyOS_snprintf(path, sizeof(path), "%s.%ld", value, (long)getpid());
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            fd = 2;
        }
    }
    if (arm(fd) < 0) {
        PyErr_Clear();
        puts_fd(2, "immortal write detector: could not protect the heap "
                   "in this worker\n");
    }
}


/* --- sys._immortal_detect_writes(), sys._immortal_detected_writes() --- */

const char _PyImmortal_sys_detect_writes_doc[] =
"_immortal_detect_writes(fd=2, /)\n"
"\n"
"In a process forked after sys.immortalize_heap(): write-protect the\n"
"memory of the master's sealed pymalloc arenas and report the first\n"
"write to each page to file descriptor fd, with the object written, the\n"
"C stack and the Python stack. A debugging mode: see\n"
"Doc/immortal/immortalize-heap.md. Returns the bytes protected.";

PyObject *
_PyImmortal_sys_detect_writes(PyObject *module, PyObject *const *args,
                              Py_ssize_t nargs)
{
    int fd = 2;
    if (!_PyArg_CheckPositional("_immortal_detect_writes", nargs, 0, 1)) {
        return NULL;
    }
    if (nargs == 1) {
        fd = _PyLong_AsInt(args[0]);
        if (fd == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (fd < 0) {
            PyErr_SetString(PyExc_ValueError, "fd must be >= 0");
            return NULL;
        }
    }
    if (!_PyObject_ArenasSealed()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "_immortal_detect_writes() protects the memory a "
                        "process shares with the master it was forked from "
                        "after sys.immortalize_heap(): call it in such a "
                        "process");
        return NULL;
    }
    if (arm(fd) < 0) {
        return NULL;
    }
    return PyLong_FromSize_t(detector.protected_bytes);
}

const char _PyImmortal_sys_detected_writes_doc[] =
"_immortal_detected_writes()\n"
"\n"
"The writes the detector reported in this process, first write to each\n"
"page: a list of (address, type name or None, immortal) tuples, where\n"
"the type is that of the object holding the address.";

PyObject *
_PyImmortal_sys_detected_writes(PyObject *module, PyObject *unused)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    size_t n = detector.n_records < MAX_RECORDS ? detector.n_records
                                                 : MAX_RECORDS;
    for (size_t i = 0; i < n; i++) {
        const write_record *r = &detector.records[i];
        PyObject *item;
        if (r->object) {
            item = Py_BuildValue("(ksO)", (unsigned long)r->address,
                                 r->type_name,
                                 r->immortal ? Py_True : Py_False);
        }
        else {
            item = Py_BuildValue("(kOO)", (unsigned long)r->address,
                                 Py_None, Py_None);
        }
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}
