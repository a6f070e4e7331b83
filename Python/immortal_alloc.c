/* A forked worker's raw allocations never come from its master's memory.

   pymalloc's sealed arenas (Objects/obmalloc_seal.h) keep a worker off
   the pages of its master's small objects. Everything larger (dict keys
   tables past 512 bytes, list and set arrays, big str and bytes, buffers)
   comes from PyMem_RawMalloc(), which is glibc's malloc(). In a worker
   glibc hands out the chunks the master had freed, holes in pages that
   hold immortal data, and its free() writes chunk headers and bin links
   into the master's pages: on a real site most of what a worker still
   copied. glibc cannot be told to leave a heap alone: the main thread
   always allocates from the main arena, and malloc_trim() returns only
   whole free pages, not the holes.

   So a worker forked after sys.immortalize_heap() allocates raw memory
   with mimalloc (Debian's libmimalloc2.0; the allocator CPython 3.13
   adopted). The call loads it in the master with dlopen(RTLD_LOCAL), so
   that its malloc() and free() do not interpose on the process's; the
   master never allocates from it, so in a worker every mimalloc block is
   in a mapping of the worker's own. In the worker:

   - malloc, calloc: mimalloc;
   - free of a mimalloc block: mi_free(); of anything else (a chunk of the
     master's glibc heap): forgotten, unwritten, as a sealed arena forgets
     its frees. What is forgotten is bounded by the master's heap, which
     stays mapped and shared;
   - realloc of a master's chunk: a new mimalloc block, the bytes copied,
     the old chunk forgotten (malloc_usable_size() only reads its header).

   The master keeps glibc: its speed and its memory are stock's.

   C libraries allocate with malloc() itself (SQLite on every query,
   OpenSSL, libxml2, libpq, numpy's array data): this file also defines
   malloc(), free() and the rest of glibc's allocation interface for the
   whole process, as a replacement allocator does (glibc documents ELF
   interposition for that). They forward to glibc's own entry points
   (__libc_malloc() ...) until the process is a worker, then follow the
   rules above. The interposition takes effect where libpython comes
   before libc in the lookup order: the python executable, a shared
   libpython loaded by the executable; not a libpython that a host
   program dlopen()s (uWSGI's plugin: there LD_PRELOAD=libpython3.11.so
   puts it first), where PyMem still moves and C libraries stay on glibc.
   Sanitizer builds keep their own malloc(). Doc/immortal/immortalize-heap.md
   has the measurements.

   PYTHONIMMORTALALLOC, read by the call in the master: unset or
   "mimalloc" loads libmimalloc.so.2; "malloc" keeps workers on glibc (to
   compare); anything else is the path of a mimalloc library to load. */

#include "Python.h"
#include "pycore_immortal_heap.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>               // malloc_usable_size()
#include <string.h>
#include <unistd.h>               // sysconf()

#define MIMALLOC_SONAME "libmimalloc.so.2"

#if defined(__GLIBC__) && !defined(_Py_ADDRESS_SANITIZER) \
    && !defined(_Py_MEMORY_SANITIZER) && !defined(_Py_THREAD_SANITIZER)
#  define INTERPOSE_MALLOC 1
#endif

int _PyImmortal_worker_alloc = 0;

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    _Bool (*owns)(const void *);
    void *(*malloc_aligned)(size_t, size_t);
    size_t (*usable_size)(const void *);
} mi;

/* Loaded, and the name it was loaded as (for the stats). */
static const char *loaded_name = NULL;


static int
is_worker_block(void *ptr)
{
    return mi.owns(ptr);
}

#ifdef INTERPOSE_MALLOC
/* Ours replaces the name: glibc's, found once (dlsym() may allocate,
   which only reaches __libc_malloc()). */
static size_t (*libc_usable_size)(void *) = NULL;

static size_t
glibc_usable_size(void *ptr)
{
    if (libc_usable_size == NULL) {
        *(void **)&libc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
        if (libc_usable_size == NULL) {
            abort();
        }
    }
    return libc_usable_size(ptr);
}
#else
#  define glibc_usable_size(ptr) malloc_usable_size(ptr)
#endif

void *
_PyImmortal_RawMalloc(size_t size)
{
    return mi.malloc(size);
}

void *
_PyImmortal_RawCalloc(size_t nelem, size_t elsize)
{
    return mi.calloc(nelem, elsize);
}

void *
_PyImmortal_RawRealloc(void *ptr, size_t size)
{
    if (ptr == NULL || is_worker_block(ptr)) {
        return mi.realloc(ptr, size);
    }
    void *moved = mi.malloc(size);
    if (moved != NULL) {
        size_t old = glibc_usable_size(ptr);
        memcpy(moved, ptr, old < size ? old : size);
    }
    return moved;
}

void
_PyImmortal_RawFree(void *ptr)
{
    if (ptr != NULL && is_worker_block(ptr)) {
        mi.free(ptr);
    }
}


/* mimalloc 2.0 decommits the pages a worker frees 25 ms later, at its
   next operation on that segment after the delay: in a worker between
   requests that is often never, and a Wagtail worker kept 11 MiB of freed
   pages. Without the delay it keeps 2 MiB and serves as fast
   (Doc/immortal/immortalize-heap.md). Option 15 is decommit_delay in 2.0,
   purge_delay (the same setting) in 2.1; mimalloc has read its options
   from the environment when it was loaded, so one set there is left as
   it is. */
static void
tune(void *lib)
{
    int (*version)(void);
    void (*set)(int, long);
    *(void **)&version = dlsym(lib, "mi_version");
    *(void **)&set = dlsym(lib, "mi_option_set");
    if (version != NULL && set != NULL
        && version() >= 200 && version() < 300
        && getenv("MIMALLOC_DECOMMIT_DELAY") == NULL
        && getenv("MIMALLOC_RESET_DELAY") == NULL
        && getenv("MIMALLOC_PURGE_DELAY") == NULL)
    {
        set(15, 0);
    }
}

int
_PyImmortal_LoadWorkerAllocator(void)
{
    if (loaded_name != NULL) {
        return 0;
    }
    const char *name = Py_GETENV("PYTHONIMMORTALALLOC");
    if (name != NULL && strcmp(name, "malloc") == 0) {
        return 0;
    }
    if (name == NULL || name[0] == '\0' || strcmp(name, "mimalloc") == 0) {
        name = MIMALLOC_SONAME;
    }
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;
    const char *why = lib == NULL ? dlerror() : NULL;
    if (lib != NULL) {
        static const char *names[] = {
            "mi_malloc", "mi_calloc", "mi_realloc", "mi_free",
            "mi_is_in_heap_region", "mi_malloc_aligned", "mi_usable_size"};
        void *syms[7];
        for (int i = 0; i < 7 && missing == NULL; i++) {
            syms[i] = dlsym(lib, names[i]);
            if (syms[i] == NULL) {
                missing = names[i];
            }
        }
        if (missing == NULL) {
            *(void **)&mi.malloc = syms[0];
            *(void **)&mi.calloc = syms[1];
            *(void **)&mi.realloc = syms[2];
            *(void **)&mi.free = syms[3];
            *(void **)&mi.owns = syms[4];
            *(void **)&mi.malloc_aligned = syms[5];
            *(void **)&mi.usable_size = syms[6];
            tune(lib);
            loaded_name = "mimalloc";
            return 0;
        }
        dlclose(lib);
    }
    if (why == NULL) {
        why = "it lacks one of mi_malloc, mi_calloc, mi_realloc, mi_free, "
              "mi_is_in_heap_region, mi_malloc_aligned, mi_usable_size";
    }
    return PyErr_WarnFormat(
        PyExc_RuntimeWarning, 1,
        "sys.immortalize_heap(): cannot use %s (%s): workers forked "
        "afterwards allocate with malloc(), which reuses the master's free "
        "memory and writes to its pages (install libmimalloc2.0, or set "
        "PYTHONIMMORTALALLOC=malloc to choose this)",
        name, why);
}

const char *
_PyImmortal_WorkerAllocatorName(void)
{
    return loaded_name != NULL ? loaded_name : "malloc";
}

void
_PyImmortal_AllocAfterFork(void)
{
    if (loaded_name != NULL) {
        _PyImmortal_worker_alloc = 1;
    }
}


#ifdef INTERPOSE_MALLOC
/* --- malloc() and friends for the whole process --- */

/* glibc exports these for replacement allocators to forward to. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

PyAPI_FUNC(void *)
malloc(size_t size)
{
    if (_PyImmortal_worker_alloc) {
        return mi.malloc(size);
    }
    return __libc_malloc(size);
}

PyAPI_FUNC(void *)
calloc(size_t nelem, size_t elsize)
{
    if (_PyImmortal_worker_alloc) {
        return mi.calloc(nelem, elsize);
    }
    return __libc_calloc(nelem, elsize);
}

PyAPI_FUNC(void *)
realloc(void *ptr, size_t size)
{
    if (_PyImmortal_worker_alloc) {
        return _PyImmortal_RawRealloc(ptr, size);
    }
    return __libc_realloc(ptr, size);
}

PyAPI_FUNC(void *)
reallocarray(void *ptr, size_t nelem, size_t elsize)
{
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, size);
}

PyAPI_FUNC(void)
free(void *ptr)
{
    if (_PyImmortal_worker_alloc) {
        _PyImmortal_RawFree(ptr);
        return;
    }
    __libc_free(ptr);
}

static void *
aligned(size_t alignment, size_t size)
{
    if (_PyImmortal_worker_alloc) {
        return mi.malloc_aligned(size, alignment);
    }
    return __libc_memalign(alignment, size);
}

PyAPI_FUNC(void *)
memalign(size_t alignment, size_t size)
{
    return aligned(alignment, size);
}

PyAPI_FUNC(void *)
aligned_alloc(size_t alignment, size_t size)
{
    return aligned(alignment, size);
}

PyAPI_FUNC(int)
posix_memalign(void **memptr, size_t alignment, size_t size)
{
    if (alignment % sizeof(void *) != 0
        || (alignment & (alignment - 1)) != 0 || alignment == 0)
    {
        return EINVAL;
    }
    void *p = aligned(alignment, size);
    if (p == NULL) {
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

PyAPI_FUNC(void *)
valloc(size_t size)
{
    if (_PyImmortal_worker_alloc) {
        return mi.malloc_aligned(size, (size_t)sysconf(_SC_PAGESIZE));
    }
    return __libc_valloc(size);
}

PyAPI_FUNC(void *)
pvalloc(size_t size)
{
    if (_PyImmortal_worker_alloc) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        return mi.malloc_aligned((size + page - 1) & ~(page - 1), page);
    }
    return __libc_pvalloc(size);
}

PyAPI_FUNC(size_t)
malloc_usable_size(void *ptr)
{
    if (_PyImmortal_worker_alloc && ptr != NULL && is_worker_block(ptr)) {
        return mi.usable_size(ptr);
    }
    return glibc_usable_size(ptr);
}
#endif  /* INTERPOSE_MALLOC */
