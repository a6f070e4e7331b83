/* What sys.immortalize_heap() leaves mortal: the rule, in one place.

   An immortal object is never deallocated, and its finalizer never runs.
   So an object the walk reaches stays mortal when its deallocation or
   finalization does something a program relies on beyond freeing memory
   (Doc/immortal/immortalize-heap.md, "What stays mortal", has the rule;
   Doc/immortal/dealloc-audit.md the audit of every tp_dealloc of the core
   and the standard library behind the list below):

   1. its type has a finalizer (tp_finalize or tp_del): files, sockets,
      generators, coroutines, instances of classes with __del__;
   2. its type's tp_dealloc releases an operating system resource or
      something another object waits for: a file descriptor or a mapping
      (mmap, epoll), a database handle with its locks and transaction
      (sqlite3, dbm), a buffer export (memoryview), a named semaphore, a
      profiler hook. These are the standard library's types named in
      RESOURCE_TYPES, and their subclasses;
   3. it is a capsule with a destructor, which may release anything;
   4. it is the frame object of a running frame (or of a suspended
      generator): when the frame returns, _PyFrame_Clear() hands the
      frame's locals over to a frame object that anything else holds;
   5. it is a tuple that C code is still filling (its last item is NULL):
      it will be resized, which needs a refcount of 1.

   And what only such objects hold stays mortal with them: an object all of
   whose references come from objects that stay mortal (the closure of the
   set over "every reference to it is from the set"). sqlite3.Connection
   and its statement cache reference each other; made immortal, the cache
   would keep the connection, its file and its locks for ever. What such an
   object references from elsewhere too is made immortal as usual. Objects
   that stay mortal are freed exactly as on stock, when their last
   reference goes or their cycle is collected. */

#include "Python.h"
#include "pycore_frame.h"         // FRAME_OWNED_BY_FRAME_OBJECT
#include "pycore_hashtable.h"     // _Py_hashtable_t
#include "pycore_object.h"        // _PyObject_GC_IS_TRACKED()
#include "pycore_pyerrors.h"      // _PyErr_Occurred()
#include "pycore_immortal_heap.h"
#include "frameobject.h"          // PyFrameObject

/* tp_name of the standard library's types whose tp_dealloc releases more
   than memory and that have no finalizer. */
static const char *const RESOURCE_TYPES[] = {
    "mmap.mmap",                        // munmap(), close() of its fd
    "select.epoll",                     // close() of the epoll fd
    "select.devpoll",
    "select.kqueue",
    "sqlite3.Connection",               // sqlite3_close_v2(): file, locks
    "sqlite3.Cursor",                   // finalizes statements: read locks
    "sqlite3.Blob",                     // sqlite3_blob_close()
    "_dbm.dbm",                         // dbm_close(): file, lock
    "_gdbm.gdbm",                       // gdbm_close(): file, lock
    "memoryview",                       // releases the buffer export
    "managedbuffer",
    "_multiprocessing.SemLock",         // sem_close()
    "_ssl._SSLSocket",                  // SSL_free(): the TLS session
    "sqlite3.Statement",                // sqlite3_finalize(): its locks
    "pickle.PickleBuffer",              // buffer exports of the objects
    "_pickle.Unpickler",                //   they read: until released,
    "_struct.unpack_iterator",          //   a bytearray cannot resize,
    "_sre.SRE_Scanner",                 //   an mmap cannot close
    "_ssl._SSLContext",                 // fclose() of the keylog file
    "_lsprof.Profiler",                 // uninstalls the profile hook
    "_tkinter.tkapp",                   // Tcl_DeleteInterp()
    "_curses_panel.panel",              // del_panel()
    "InterpreterID",                    // Py_EndInterpreter()
    "_xxsubinterpreters.ChannelID",     // destroys the channel
    "ossaudiodev.oss_audio_device",     // close() of the device fd
    "ossaudiodev.oss_mixer_device",
};

static int
is_resource_type_name(const char *name)
{
    for (size_t i = 0; i < Py_ARRAY_LENGTH(RESOURCE_TYPES); i++) {
        if (strcmp(name, RESOURCE_TYPES[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The verdict for a type depends on the type alone: computed once a walk,
   in a small table of types (open addressing; when full, computed again). */
#define VERDICTS 1024

static struct {
    PyTypeObject *type;
    int mortal;
} verdicts[VERDICTS];

void
_PyImmortal_ResetMortalRule(void)
{
    memset(verdicts, 0, sizeof(verdicts));
}

static int
type_stays_mortal(PyTypeObject *type)
{
    if (type->tp_finalize != NULL || type->tp_del != NULL) {
        return 1;
    }
    for (PyTypeObject *t = type; t != NULL; t = t->tp_base) {
        /* Heap types named by a class statement have no module in their
           tp_name: only an extension's type can match. */
        if (t->tp_name != NULL && is_resource_type_name(t->tp_name)) {
            return 1;
        }
    }
    return 0;
}

static int
type_verdict(PyTypeObject *type)
{
    size_t h = ((uintptr_t)type >> 4) % VERDICTS;
    for (size_t probe = 0; probe < 16; probe++) {
        size_t i = (h + probe) % VERDICTS;
        if (verdicts[i].type == type) {
            return verdicts[i].mortal;
        }
        if (verdicts[i].type == NULL) {
            verdicts[i].type = type;
            verdicts[i].mortal = type_stays_mortal(type);
            return verdicts[i].mortal;
        }
    }
    return type_stays_mortal(type);
}

/* The closure: object -> number of references to it from the set seen
   so far, with MEMBER set once it is in the set. Raw memory: none of it
   may land in an arena about to be sealed. */
#define MEMBER ((uintptr_t)1 << (8 * sizeof(uintptr_t) - 1))

static _Py_hashtable_t *closure = NULL;

int _PyImmortal_StaysMortal(PyObject *op);

typedef struct {
    _PyImmortal_ObjectArray stack;
    int error;
} closure_state;

/* Set op's entry (_Py_hashtable_set() adds a key, it never replaces). */
static int
set_entry(PyObject *op, uintptr_t value)
{
    _Py_hashtable_entry_t *entry = _Py_hashtable_get_entry(closure, op);
    if (entry != NULL) {
        entry->value = (void *)value;
        return 0;
    }
    return _Py_hashtable_set(closure, op, (void *)value);
}

static int
add_member(closure_state *cs, PyObject *op)
{
    if (set_entry(op, MEMBER) < 0) {
        cs->error = 1;
        return -1;
    }
    if (_PyImmortal_ObjectArray_Append(&cs->stack, op, 256) < 0) {
        cs->error = 1;
        return -1;
    }
    return 0;
}

/* visitproc: one more reference to op from the set. */
static int
count_reference(PyObject *op, void *arg)
{
    closure_state *cs = (closure_state *)arg;
    if (_Py_IsImmortal(op)) {
        return 0;
    }
    uintptr_t n = (uintptr_t)_Py_hashtable_get(closure, op);
    if (n & MEMBER) {
        return 0;
    }
    n++;
    if ((Py_ssize_t)n >= Py_REFCNT(op)) {
        return add_member(cs, op);
    }
    if (set_entry(op, n) < 0) {
        cs->error = 1;
        return -1;
    }
    return 0;
}

static int
seed_member(PyObject *op, void *arg)
{
    closure_state *cs = (closure_state *)arg;
    if (!_Py_IsImmortal(op) && _PyImmortal_StaysMortal(op)) {
        return add_member(cs, op);
    }
    return 0;
}

int
_PyImmortal_BuildMortalSet(PyInterpreterState *interp)
{
    _PyImmortal_FreeMortalSet();
    _Py_hashtable_allocator_t alloc = {PyMem_RawMalloc, PyMem_RawFree};
    closure = _Py_hashtable_new_full(_Py_hashtable_hash_ptr,
                                     _Py_hashtable_compare_direct,
                                     NULL, NULL, &alloc);
    if (closure == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    closure_state cs = {0};
    if (_PyGC_ForEachMortalTracked(interp, seed_member, &cs) < 0) {
        goto error;
    }
    while (cs.stack.length > 0) {
        PyObject *op = cs.stack.items[--cs.stack.length];
        if (PyObject_IS_GC(op)
            && Py_TYPE(op)->tp_traverse(op, count_reference, &cs) < 0)
        {
            goto error;
        }
    }
    PyMem_RawFree(cs.stack.items);
    return 0;

error:
    PyMem_RawFree(cs.stack.items);
    _PyImmortal_FreeMortalSet();
    PyErr_NoMemory();
    return -1;
}

void
_PyImmortal_FreeMortalSet(void)
{
    if (closure != NULL) {
        _Py_hashtable_destroy(closure);
        closure = NULL;
    }
}

int
_PyImmortal_InMortalSet(PyObject *op)
{
    return (closure != NULL
            && ((uintptr_t)_Py_hashtable_get(closure, op) & MEMBER));
}

int
_PyImmortal_StaysMortal(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    if (type_verdict(type)) {
        return 1;
    }
    if (type == &PyFrame_Type) {
        return ((PyFrameObject *)op)->f_frame->owner
               != FRAME_OWNED_BY_FRAME_OBJECT;
    }
    if (type == &PyTuple_Type) {
        return (Py_SIZE(op) > 0
                && PyTuple_GET_ITEM(op, Py_SIZE(op) - 1) == NULL);
    }
    if (type == &PyCapsule_Type) {
        /* Only an invalid capsule (never one of the heap) sets an error. */
        PyCapsule_Destructor destructor = PyCapsule_GetDestructor(op);
        if (destructor == NULL && PyErr_Occurred()) {
            PyErr_Clear();
        }
        return destructor != NULL;
    }
    return 0;
}


/* --- At exit: finalize what immortal objects hold --- */

/* An immortal object never lets go of its references. Objects with a
   finalizer stay mortal, but those that immortal ones hold (a file in a
   warm list, a NamedTemporaryFile in a module global, a GzipFile in a
   dict) would never be finalized, where stock finalizes them as the
   modules are torn down at exit: a file would lose its buffer, a temporary
   file would stay, a gzip stream would lack its trailer. Py_FinalizeEx()
   calls this after the atexit handlers, while everything still works: it
   finalizes each object with a finalizer that immortal objects reach
   through mortal ones, holders before what they hold (breadth first). */

typedef struct {
    _Py_hashtable_t *seen;
    _PyImmortal_ObjectArray queue;
    int error;
} held_state;

static int
reach_held(PyObject *op, void *arg)
{
    held_state *hs = (held_state *)arg;
    if (hs->error || _Py_IsImmortal(op) || !PyObject_IS_GC(op)
        || !_PyObject_GC_IS_TRACKED(op)
        || _Py_hashtable_get_entry(hs->seen, op) != NULL)
    {
        /* Untracked containers hold only atoms. */
        return 0;
    }
    if (_Py_hashtable_set(hs->seen, op, NULL) < 0) {
        hs->error = 1;
        return 0;
    }
    if (_PyImmortal_ObjectArray_Append(&hs->queue, op, 256) < 0) {
        hs->error = 1;
    }
    return 0;
}

static int
reach_from_immortal(PyObject *op, void *arg)
{
    return Py_TYPE(op)->tp_traverse(op, reach_held, arg);
}

void
_PyImmortal_FinalizeHeld(PyThreadState *tstate)
{
    if (!_PyImmortal_HeapIsImmortalized()) {
        return;
    }
    _Py_hashtable_allocator_t alloc = {PyMem_RawMalloc, PyMem_RawFree};
    held_state hs = {0};
    hs.seen = _Py_hashtable_new_full(_Py_hashtable_hash_ptr,
                                     _Py_hashtable_compare_direct,
                                     NULL, NULL, &alloc);
    if (hs.seen == NULL) {
        return;
    }
    /* No Python code runs and no object is allocated while the lists are
       read. */
    _PyGC_ForEachImmortalTracked(tstate->interp, reach_from_immortal, &hs);
    for (Py_ssize_t i = 0; i < hs.queue.length && !hs.error; i++) {
        PyObject *op = hs.queue.items[i];
        Py_TYPE(op)->tp_traverse(op, reach_held, &hs);
    }
    _Py_hashtable_destroy(hs.seen);

    /* Keep the ones to finalize alive while the others are finalized. */
    PyObject **queue = hs.queue.items;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < hs.queue.length; i++) {
        PyObject *op = queue[i];
        if (Py_TYPE(op)->tp_finalize != NULL && !_PyGC_FINALIZED(op)) {
            queue[n++] = Py_NewRef(op);
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject_CallFinalizer(queue[i]);
        if (_PyErr_Occurred(tstate)) {
            PyErr_WriteUnraisable(queue[i]);
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(queue[i]);
    }
    PyMem_RawFree(queue);
}


/* --- For the auditor (Lib/immortal_audit.py) --- */

const char _PyImmortal_sys_stays_mortal_doc[] =
"_immortal_stays_mortal($module, op, /)\n"
"--\n"
"\n"
"Return True if sys.immortalize_heap() leaves op mortal by its rule:\n"
"a finalizer, an operating-system resource its deallocation releases,\n"
"a capsule destructor, a running frame's frame object, a tuple under\n"
"construction. (Objects only such objects hold also stay mortal.)";

PyObject *
_PyImmortal_sys_stays_mortal(PyObject *Py_UNUSED(module), PyObject *op)
{
    return PyBool_FromLong(_PyImmortal_StaysMortal(op));
}
