/* Sealed pymalloc arenas.

   Included by Objects/obmalloc.c (it needs pymalloc's arena and pool
   tables: arenas, maxarenas, usedpools, usable_arenas, nfp2lasta, the
   pool header's arenaindex and szidx; the radix tree's
   arena_map_mark_used(); _PyObject_Malloc()); declared in
   Include/internal/pycore_immortal_heap.h.

   A process forked after sys.immortalize_heap() seals every arena it
   inherited, first thing in the child (PyOS_AfterFork_Child()). It shares
   those pages with its parent only as long as it does not write to them,
   and pymalloc would write to them twice over: by serving new objects
   from their free blocks (and from the unused pools of a partly carved
   arena), and by threading freed blocks onto pool free lists. The parent
   itself does not seal: it goes on reusing its memory as stock does, so
   that a master that calls again and again stays bounded, and whatever it
   allocated since is sealed in the next child too. So a sealed arena

   - serves no allocation: its pools leave usedpools[] and the arena leaves
     usable_arenas, so new objects come from arenas allocated afterwards;
   - takes frees without writing: a block freed into it (the buffer of an
     immortal list that grew, an object the walk could not reach) is
     forgotten, not reused. Nothing else changes: the block was the
     caller's, and the arena is never returned to the system.

   The memory so forgotten is bounded by the size of the sealed arenas,
   which stay mapped and shared. */

/* sealed_arenas[i] is 1 if arenas[i] is sealed; n_sealed_slots is 0 until
   the first seal. */
static uint8_t *sealed_arenas = NULL;
static uint n_sealed_slots = 0;

static inline int
arena_is_sealed(uint arenaindex)
{
    return arenaindex < n_sealed_slots && sealed_arenas[arenaindex];
}

#if WITH_PYMALLOC_RADIX_TREE
/* Sealing takes an arena out of the radix tree, so address_in_range() says
   no for its blocks and pymalloc's free and realloc paths pay nothing for
   sealing: the blocks reach the paths for memory pymalloc did not
   allocate, where block_is_sealed() recognizes them by address
   (sealed_bases: the sealed arenas' addresses, sorted). */
#  define pool_is_sealed(pool) 0
static uintptr_t *sealed_bases = NULL;
static size_t n_sealed_bases = 0;

static int
in_sealed_arena(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    size_t lo = 0, hi = n_sealed_bases;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a < sealed_bases[mid]) {
            hi = mid;
        }
        else if (a >= sealed_bases[mid] + ARENA_SIZE) {
            lo = mid + 1;
        }
        else {
            return 1;
        }
    }
    return 0;
}

static int
compare_bases(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

/* Before the sealing loop: room for the address of every arena in use
   (all of them are sealed), so that nothing has changed if memory runs
   out. Returns -1 if it does. */
static int
reserve_sealed_bases(void)
{
    size_t n = 0;
    for (uint i = 0; i < maxarenas; i++) {
        n += (arenas[i].address != 0);
    }
    uintptr_t *bases = PyMem_RawRealloc(sealed_bases,
                                        (n ? n : 1) * sizeof(uintptr_t));
    if (bases == NULL) {
        return -1;
    }
    sealed_bases = bases;
    return 0;
}

/* After the sealing loop: take the sealed arenas out of the radix tree
   and list their addresses, sorted. */
static void
seal_out_of_radix_tree(void)
{
    size_t n = 0;
    for (uint i = 0; i < n_sealed_slots; i++) {
        if (sealed_arenas[i] && arenas[i].address != 0) {
            /* Unmarking writes no more than the tree's leaves for the
               arena (a node it finds is kept: is_used 0 allocates none). */
            arena_map_mark_used(arenas[i].address, 0);
            sealed_bases[n++] = arenas[i].address;
        }
    }
    qsort(sealed_bases, n, sizeof(uintptr_t), compare_bases);
    n_sealed_bases = n;
}

/* For the paths of blocks pymalloc does not claim: is p a block of a
   sealed arena? _PyObject_Free() then forgets it; pymalloc_realloc()
   handles it as its own (a copy, and its free of the old block forgets
   it). */
static inline int
block_is_sealed(void *p)
{
    return UNLIKELY(n_sealed_bases != 0) && in_sealed_arena(p);
}
#else
/* For pymalloc_free(): does the pool of a pymalloc block belong to a
   sealed arena? n_sealed_slots is 0 until the first seal, so the free
   path pays one predictable branch. */
static inline int
pool_is_sealed(poolp pool)
{
    return UNLIKELY(n_sealed_slots != 0) && arena_is_sealed(pool->arenaindex);
}
#  define block_is_sealed(p) 0
#endif

/* The bytes of the pools of arenas[i] that are in use. */
static inline size_t
arena_bytes_in_use(uint i)
{
    return (size_t)(arenas[i].ntotalpools - arenas[i].nfreepools) * POOL_SIZE;
}

size_t
_PyObject_ArenaBytesInUse(void)
{
    size_t bytes = 0;
    for (uint i = 0; i < maxarenas; i++) {
        if (arenas[i].address != 0) {
            bytes += arena_bytes_in_use(i);
        }
    }
    return bytes;
}

size_t
_PyObject_SealArenas(void)
{
#if WITH_PYMALLOC_RADIX_TREE
    if (reserve_sealed_bases() < 0) {
        return (size_t)-1;
    }
#endif
    if (maxarenas > n_sealed_slots) {
        /* Raw memory: this runs with the GIL held, but the table must not
           itself land in an arena. */
        uint8_t *table = PyMem_RawRealloc(sealed_arenas, maxarenas);
        if (table == NULL) {
            return (size_t)-1;
        }
        memset(table + n_sealed_slots, 0, maxarenas - n_sealed_slots);
        sealed_arenas = table;
        n_sealed_slots = maxarenas;
    }

    size_t sealed = 0;
    for (uint i = 0; i < maxarenas; i++) {
        if (arenas[i].address != 0 && !sealed_arenas[i]) {
            sealed_arenas[i] = 1;
            sealed += arena_bytes_in_use(i);
        }
    }

#if WITH_PYMALLOC_RADIX_TREE
    seal_out_of_radix_tree();
#endif

    /* Every arena in use is sealed now: forget all the lists that lead to
       free space in them. */
    for (uint i = 0; i < NB_SMALL_SIZE_CLASSES; i++) {
        usedpools[i + i] = usedpools[i + i + 1] = PTA(i);
    }
    usable_arenas = NULL;
    for (uint i = 0; i <= MAX_POOLS_IN_ARENA; i++) {
        nfp2lasta[i] = NULL;
    }
    return sealed;
}

/* Has this process sealed arenas (a child forked after the call)? */
int
_PyObject_ArenasSealed(void)
{
    return n_sealed_slots != 0;
}

/* For the write detector (Python/immortal_detect.c), which runs these in
   a SIGSEGV handler: they read pymalloc's tables and pool headers, never
   write, lock or allocate. */

/* Call fn for each sealed arena's memory: [address, address + ARENA_SIZE). */
void
_PyObject_ForEachSealedArena(void (*fn)(void *start, size_t size, void *arg),
                             void *arg)
{
    for (uint i = 0; i < n_sealed_slots; i++) {
        if (sealed_arenas[i] && arenas[i].address != 0) {
            fn((void *)arenas[i].address, ARENA_SIZE, arg);
        }
    }
}

/* Where does addr lie? 0: in no sealed arena; 1: in the block *block of
   *size bytes of a pool of a sealed arena (a pool whose size class is
   known); 2: in a sealed arena, outside any block (a pool header, a pool
   never carved). */
int
_PyObject_SealedBlock(const void *addr, char **block, size_t *size)
{
    uintptr_t a = (uintptr_t)addr;
    for (uint i = 0; i < n_sealed_slots; i++) {
        uintptr_t base = arenas[i].address;
        if (!sealed_arenas[i] || base == 0 || a < base
            || a >= base + ARENA_SIZE)
        {
            continue;
        }
        /* Pools are carved from the first POOL_SIZE boundary up, in
           order: pool_address is the first not yet carved. */
        uintptr_t first_pool = _Py_ALIGN_UP(base, POOL_SIZE);
        poolp pool = (poolp)(a & ~(uintptr_t)POOL_SIZE_MASK);
        if (a < first_pool || (uintptr_t)pool >= (uintptr_t)arenas[i].pool_address) {
            return 2;
        }
        uintptr_t blocks = (uintptr_t)pool + POOL_OVERHEAD;
        if (a < blocks) {
            return 2;
        }
        size_t bsize = INDEX2SIZE(pool->szidx);
        uintptr_t start = blocks + (a - blocks) / bsize * bsize;
        if (start + bsize > (uintptr_t)pool + POOL_SIZE) {
            return 2;           // the pool's tail, past its last block
        }
        *size = bsize;
        *block = (char *)start;
        return 1;
    }
    return 0;
}
