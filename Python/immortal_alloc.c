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

   The master keeps glibc: its speed and its memory are stock's. Memory
   that C code allocates with malloc() itself, not through PyMem, stays on
   glibc. Doc/immortal/immortalize-heap.md has the measurements.

   PYTHONIMMORTALALLOC, read by the call in the master: unset or
   "mimalloc" loads libmimalloc.so.2; "malloc" keeps workers on glibc (to
   compare); anything else is the path of a mimalloc library to load. */

#include "Python.h"
#include "pycore_immortal_heap.h"

#include <dlfcn.h>
#include <malloc.h>               // malloc_usable_size()
#include <string.h>

#define MIMALLOC_SONAME "libmimalloc.so.2"

int _PyImmortal_worker_alloc = 0;

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    _Bool (*owns)(const void *);
} mi;

/* Loaded, and the name it was loaded as (for the stats). */
static const char *loaded_name = NULL;


static int
is_worker_block(void *ptr)
{
    return mi.owns(ptr);
}

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
        size_t old = malloc_usable_size(ptr);
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
            "mi_is_in_heap_region"};
        void *syms[5];
        for (int i = 0; i < 5 && missing == NULL; i++) {
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
            loaded_name = "mimalloc";
            return 0;
        }
        dlclose(lib);
    }
    if (why == NULL) {
        why = "it lacks one of mi_malloc, mi_calloc, mi_realloc, mi_free, "
              "mi_is_in_heap_region";
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
