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
   with mimalloc (Debian's libmimalloc2.0). The call loads it in the master
   with dlopen(RTLD_LOCAL), so that its malloc() and free() do not
   interpose on the process's, and refuses one the process had loaded
   already (then its blocks could be the master's). The master allocates
   from it only one probe block, freed at once (load()), so in a worker
   every mimalloc block is in a mapping of the worker's own. In the worker:

   - malloc, calloc: mimalloc;
   - free of a mimalloc block: mi_free(); of anything else (a chunk of the
     master's glibc heap, or one glibc gave the child before the switch):
     forgotten, unwritten, as a sealed arena forgets its frees. The
     master's share is bounded by its heap, which stays mapped and shared;
   - realloc of such a chunk: a new mimalloc block and the bytes copied
     (read: glibc's chunk header for the size, then the payload).

   mimalloc's own test for its blocks (mi_is_in_heap_region()) does not
   know blocks of some hundreds of MiB and more, which the kernel places
   outside its segment map: those are checked at allocation and listed.

   The master keeps glibc: its speed and its memory are stock's.

   C libraries allocate with malloc() itself (SQLite on every query,
   OpenSSL, libxml2, libpq, numpy's array data). A shared libpython also
   defines malloc(), free() and the rest of glibc's allocation interface,
   as a replacement allocator does (glibc documents ELF interposition for
   that): they forward to glibc's own entry points (__libc_malloc() ...)
   until the process is a worker, then follow the rules above. A program
   linked with a shared libpython (its python executable, gunicorn run by
   it) resolves malloc() there, after the executable and whatever
   LD_PRELOAD names, so a preloaded allocator or sanitizer runtime still
   wins as on stock; a host that dlopen()s libpython (uWSGI's plugin) needs
   LD_PRELOAD=libpython3.11.so.1.0. The static python executable does not
   replace malloc(): it would come before any preloaded library and change
   what such a process runs even without immortalize_heap(). There C
   libraries stay on glibc in a worker. Doc/immortal/immortalize-heap.md
   has the measurements.

   PYTHONIMMORTALALLOC, read by the call in the master: unset or
   "mimalloc" loads libmimalloc.so.2 (unset, in a sanitizer build:
   malloc); "malloc" keeps workers on glibc (to compare); anything else is
   the path of a mimalloc 2 library to load. */

#include "Python.h"
#include "pycore_immortal_heap.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>               // malloc_usable_size()
#include <pthread.h>
#include <string.h>
#include <strings.h>              // strncasecmp()
#include <unistd.h>               // sysconf()

#define MIMALLOC_SONAME "libmimalloc.so.2"

#if defined(__GLIBC__) && defined(Py_ENABLE_SHARED) \
    && !defined(_Py_ADDRESS_SANITIZER) && !defined(_Py_MEMORY_SANITIZER) \
    && !defined(__SANITIZE_THREAD__)
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

/* glibc's malloc_usable_size(), for the master's chunks: where ours
   replaces the name, found with dlsym(RTLD_NEXT) by the call, in the
   master. */
static size_t (*libc_usable_size)(void *) = NULL;


/* --- Blocks mimalloc's test does not know --- */

/* Blocks from this size up (and any with a larger alignment than a page)
   are checked with mi.owns() when mimalloc returns them: below it every
   block lies in mimalloc's segment map. */
#define CHECK_SIZE ((size_t)1 << 20)

static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static void **huge = NULL;
static size_t n_huge = 0, cap_huge = 0;

/* Returns p, listed if mi.owns() does not know it; NULL (p freed) when
   the list cannot grow. */
static void *
note_block(void *p, size_t size, size_t alignment)
{
    if (p == NULL || (size < CHECK_SIZE && alignment <= 4096) || mi.owns(p)) {
        return p;
    }
    pthread_mutex_lock(&huge_lock);
    if (n_huge == cap_huge) {
        size_t cap = cap_huge ? 2 * cap_huge : 16;
        void **items = (void **)mi.realloc(huge, cap * sizeof(void *));
        if (items == NULL) {
            pthread_mutex_unlock(&huge_lock);
            mi.free(p);
            errno = ENOMEM;
            return NULL;
        }
        huge = items;
        cap_huge = cap;
    }
    huge[n_huge] = p;
    __atomic_store_n(&n_huge, n_huge + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&huge_lock);
    return p;
}

/* Is p a listed block? With take, also take it off the list. */
static int
listed(void *p, int take)
{
    if (__atomic_load_n(&n_huge, __ATOMIC_RELAXED) == 0) {
        return 0;
    }
    int found = 0;
    pthread_mutex_lock(&huge_lock);
    for (size_t i = 0; i < n_huge; i++) {
        if (huge[i] == p) {
            found = 1;
            if (take) {
                huge[i] = huge[--n_huge];
            }
            break;
        }
    }
    pthread_mutex_unlock(&huge_lock);
    return found;
}

static void *
no_memory(void *p)
{
    if (p == NULL) {
        errno = ENOMEM;
    }
    return p;
}


/* --- The worker's raw allocator --- */

void *
_PyImmortal_RawMalloc(size_t size)
{
    return no_memory(note_block(mi.malloc(size), size, 0));
}

void *
_PyImmortal_RawCalloc(size_t nelem, size_t elsize)
{
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    return no_memory(note_block(mi.calloc(nelem, elsize), size, 0));
}

void *
_PyImmortal_RawRealloc(void *ptr, size_t size)
{
    if (ptr == NULL || mi.owns(ptr)) {
        return no_memory(note_block(mi.realloc(ptr, size), size, 0));
    }
    if (listed(ptr, 1)) {
        void *moved = mi.realloc(ptr, size);
        if (moved == NULL) {
            (void)note_block(ptr, CHECK_SIZE, 0);   /* still listed */
            errno = ENOMEM;
            return NULL;
        }
        return no_memory(note_block(moved, size, 0));
    }
    /* A glibc chunk (the master's): copied, then forgotten. */
    void *moved = _PyImmortal_RawMalloc(size);
    if (moved != NULL) {
        size_t old = libc_usable_size(ptr);
        memcpy(moved, ptr, old < size ? old : size);
    }
    return moved;
}

void
_PyImmortal_RawFree(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    if (mi.owns(ptr) || listed(ptr, 1)) {
        mi.free(ptr);
    }
}


/* --- Loading it, in the master --- */

/* Is NAME (any case, as mimalloc reads it) in the environment? */
static int
mimalloc_env_has(const char *name)
{
    extern char **environ;
    size_t n = strlen(name);
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncasecmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return 1;
        }
    }
    return 0;
}

/* mimalloc 2.0 decommits the pages a worker frees 25 ms later, at its
   next operation on that segment after the delay: in a worker between
   requests that is often never, and a Wagtail worker kept 11 MiB of freed
   pages. With a delay of 1 ms it keeps about what it keeps with none
   (Doc/immortal/immortalize-heap.md); with none, every large buffer freed
   is decommitted at once and faulted in again by the next one: stdlib
   json.dumps() ran 2.5x slower in a worker than on stock. Option 15 is
   decommit_delay in 2.0, purge_delay (the same setting) in 2.1; mimalloc
   has read its options from the environment when it was loaded, so one
   set there is left as it is. */
static void
tune(void *lib)
{
    void (*set)(int, long);
    *(void **)&set = dlsym(lib, "mi_option_set");
    if (set != NULL
        && !mimalloc_env_has("MIMALLOC_DECOMMIT_DELAY")
        && !mimalloc_env_has("MIMALLOC_RESET_DELAY")
        && !mimalloc_env_has("MIMALLOC_PURGE_DELAY"))
    {
        set(15, 1);
    }
}

/* Load NAME and take its functions; on failure say why in *why. */
static int
load(const char *name, const char **why)
{
    void *already = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    if (already != NULL) {
        dlclose(already);
        *why = "the process has loaded it already (LD_PRELOAD, or a "
               "library linked with it): its blocks may be the master's";
        return -1;
    }
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        *why = dlerror();
        return -1;
    }
    /* From here on a refused library stays loaded: its constructor has
       run (mimalloc registers a thread-exit destructor), so unloading it
       could leave that pointing at unmapped code. */
    static const char *names[] = {
        "mi_malloc", "mi_calloc", "mi_realloc", "mi_free",
        "mi_is_in_heap_region", "mi_malloc_aligned", "mi_usable_size",
        "mi_version"};
    void *syms[8];
    for (int i = 0; i < 8; i++) {
        syms[i] = dlsym(lib, names[i]);
        if (syms[i] == NULL) {
            *why = "it lacks one of mi_malloc, mi_calloc, mi_realloc, "
                   "mi_free, mi_is_in_heap_region, mi_malloc_aligned, "
                   "mi_usable_size, mi_version";
            return -1;
        }
    }
    int version = ((int (*)(void))syms[7])();
    if (version < 200 || version >= 300) {
        /* 1.x tells its blocks apart by region, 3.x is untested here. */
        *why = "it is not mimalloc 2";
        return -1;
    }
#ifdef INTERPOSE_MALLOC
    *(void **)&libc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
    if (libc_usable_size == NULL) {
        *why = "glibc's malloc_usable_size() cannot be found";
        return -1;
    }
#else
    libc_usable_size = malloc_usable_size;
#endif
    *(void **)&mi.malloc = syms[0];
    *(void **)&mi.calloc = syms[1];
    *(void **)&mi.realloc = syms[2];
    *(void **)&mi.free = syms[3];
    *(void **)&mi.owns = syms[4];
    *(void **)&mi.malloc_aligned = syms[5];
    *(void **)&mi.usable_size = syms[6];
    /* mimalloc's map of its segments covers the addresses it asks the
       kernel for (hints from 2 TiB up). Where those are taken, as by
       AddressSanitizer's shadow memory, the kernel places its segments
       elsewhere and mi_is_in_heap_region() does not know their blocks:
       a worker could not tell them from the master's, and would read
       them as glibc chunks. One block tells (for the first segment; a
       later one placed elsewhere would go unnoticed below CHECK_SIZE);
       mi_collect() returns its segment to mimalloc's cache, decommitted,
       so the master keeps no written page of mimalloc's. */
    void (*collect)(_Bool);
    *(void **)&collect = dlsym(lib, "mi_collect");
    void *probe = mi.malloc(64);
    int known = probe != NULL && mi.owns(probe);
    mi.free(probe);
    if (collect != NULL) {
        collect(1);
    }
    if (!known) {
        *why = "its segment map does not know the blocks it returns "
               "(under AddressSanitizer, whose shadow memory takes the "
               "addresses mimalloc asks for)";
        memset(&mi, 0, sizeof(mi));
        return -1;
    }
    tune(lib);
    return 0;
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
#if defined(_Py_ADDRESS_SANITIZER) || defined(_Py_MEMORY_SANITIZER) \
    || defined(__SANITIZE_THREAD__)
    /* A sanitizer sees malloc()'s blocks, not mimalloc's: workers of a
       sanitizer build stay on malloc() unless asked by name. */
    if (name == NULL || name[0] == '\0') {
        return 0;
    }
#endif
    if (name == NULL || name[0] == '\0' || strcmp(name, "mimalloc") == 0) {
        name = MIMALLOC_SONAME;
    }
    /* A refusal is remembered: the library stays loaded, and loading it
       again would only find it "loaded already". */
    static char refused_name[1024], refused_why[256];
    const char *why = refused_why;   /* dlerror()'s text is not kept */
    if (strcmp(refused_name, name) != 0) {
        if (load(name, &why) == 0) {
            loaded_name = "mimalloc";
            return 0;
        }
        snprintf(refused_name, sizeof(refused_name), "%s", name);
        snprintf(refused_why, sizeof(refused_why), "%s", why);
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
/* --- malloc() and friends, for a program linked with libpython --- */

static int
is_worker_block(void *p)
{
    return mi.owns(p) || listed(p, 0);
}

static void *
aligned_block(size_t alignment, size_t size)
{
    return no_memory(note_block(mi.malloc_aligned(size, alignment), size,
                                alignment));
}

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
        return _PyImmortal_RawMalloc(size);
    }
    return __libc_malloc(size);
}

PyAPI_FUNC(void *)
calloc(size_t nelem, size_t elsize)
{
    if (_PyImmortal_worker_alloc) {
        return _PyImmortal_RawCalloc(nelem, elsize);
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

/* As glibc 2.36: an alignment below malloc's own is malloc's, one that is
   not a power of two is rounded up to one. */
static void *
aligned(size_t alignment, size_t size)
{
    if (!_PyImmortal_worker_alloc) {
        return __libc_memalign(alignment, size);
    }
    if (alignment <= 2 * sizeof(size_t)) {
        return _PyImmortal_RawMalloc(size);
    }
    if ((alignment & (alignment - 1)) != 0) {
        if (alignment > SIZE_MAX / 2 + 1) {
            errno = EINVAL;
            return NULL;
        }
        size_t a = 1;
        while (a < alignment) {
            a <<= 1;
        }
        alignment = a;
    }
    return aligned_block(alignment, size);
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
    int saved = errno;
    void *p = aligned(alignment, size);
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

PyAPI_FUNC(void *)
valloc(size_t size)
{
    if (_PyImmortal_worker_alloc) {
        return aligned_block((size_t)sysconf(_SC_PAGESIZE), size);
    }
    return __libc_valloc(size);
}

PyAPI_FUNC(void *)
pvalloc(size_t size)
{
    if (_PyImmortal_worker_alloc) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t rounded;
        if (__builtin_add_overflow(size, page - 1, &rounded)) {
            errno = ENOMEM;
            return NULL;
        }
        rounded &= ~(page - 1);
        return aligned_block(page, rounded ? rounded : page);
    }
    return __libc_pvalloc(size);
}

PyAPI_FUNC(size_t)
malloc_usable_size(void *ptr)
{
    if (_PyImmortal_worker_alloc && ptr != NULL && is_worker_block(ptr)) {
        return mi.usable_size(ptr);
    }
    if (libc_usable_size == NULL) {
        /* Before the call (nothing of ours is loaded yet). */
        size_t (*f)(void *);
        *(void **)&f = dlsym(RTLD_NEXT, "malloc_usable_size");
        if (f == NULL) {
            abort();
        }
        libc_usable_size = f;
    }
    return libc_usable_size(ptr);
}
#endif  /* INTERPOSE_MALLOC */
