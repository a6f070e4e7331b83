#ifndef Py_INTERNAL_IMMORTAL_HEAP_H
#define Py_INTERNAL_IMMORTAL_HEAP_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

/* sys.immortalize_heap(): making every live object immortal, so that
   processes forked afterwards share the heap. Python/immortalize.c walks
   the heap; the collector (Modules/gc_immortal.h, part of gcmodule.c) and
   pymalloc (Objects/obmalloc_seal.h, part of obmalloc.c) give it what only
   they can reach. Doc/immortal/immortalize-heap.md has the design. */

/* A growable array of object pointers, in raw memory: what works on the
   heap while it is walked allocates no object (an allocation could start a
   collection), and none of it may land among the objects it walks. The
   walk's stack, the mortal rule's, the list of static types, the objects
   finalized at exit. Free items with PyMem_RawFree(). */
typedef struct {
    PyObject **items;
    Py_ssize_t length;
    Py_ssize_t capacity;
} _PyImmortal_ObjectArray;

/* Append op, first making room for `first` items, then doubling. Returns
   -1, with no exception set, when memory runs out. */
static inline int
_PyImmortal_ObjectArray_Append(_PyImmortal_ObjectArray *a, PyObject *op,
                               Py_ssize_t first)
{
    if (a->length == a->capacity) {
        Py_ssize_t capacity = a->capacity ? 2 * a->capacity : first;
        PyObject **items = (PyObject **)PyMem_RawRealloc(
            a->items, capacity * sizeof(PyObject *));
        if (items == NULL) {
            return -1;
        }
        a->items = items;
        a->capacity = capacity;
    }
    a->items[a->length++] = op;
    return 0;
}

/* In a child process after fork (PyOS_AfterFork_Child()): what the heap
   immortalized by a parent needs (Python/immortal_fork.c). */
extern void _PyImmortal_AfterForkChild(PyInterpreterState *interp);

/* --- A worker's raw allocator (Python/immortal_alloc.c) --- */

/* Nonzero in a process forked after sys.immortalize_heap() once it has
   switched PyMem_RawMalloc() and friends to mimalloc (obmalloc.c's raw
   allocator tests it). */
extern int _PyImmortal_worker_alloc;
extern void *_PyImmortal_RawMalloc(size_t size);
extern void *_PyImmortal_RawCalloc(size_t nelem, size_t elsize);
extern void *_PyImmortal_RawRealloc(void *ptr, size_t size);
extern void _PyImmortal_RawFree(void *ptr);

/* In the master, by sys.immortalize_heap(): load the allocator workers
   will use. Returns 0, or -1 with an exception set when it cannot be
   loaded and the RuntimeWarning saying so was turned into an error. */
extern int _PyImmortal_LoadWorkerAllocator(void);
/* "mimalloc" once loaded, else "malloc". */
extern const char *_PyImmortal_WorkerAllocatorName(void);
/* In the child, from _PyImmortal_AfterForkChild(). */
extern void _PyImmortal_AllocAfterFork(void);

/* --- Read-only in use (Python/immortal_readonly.c) --- */

/* Assign what the runtime would write to op on first use (its hash,
   version tags); a code object's warm-up and specialization are frozen by
   _PyImmortal_FreezeCode(), unless the call says specialize=True. */
extern void _PyImmortal_PrepareReadOnly(PyObject *op);
extern void _PyImmortal_FreezeCode(PyCodeObject *co);

/* The str case, inlined on the walk's most common path. str and bytes
   cache their hash in the object the first time they are hashed (used as
   a dict key, put in a set, compared by a hash-based lookup). Any length:
   a worker that hashes a long text once writes its page. The cost is one
   read of the bytes (SipHash-1-3, about 1 GB/s). */
static inline void
_PyImmortal_HashStr(PyObject *op)
{
    if (_PyASCIIObject_CAST(op)->hash == -1 && PyUnicode_IS_READY(op)) {
        (void)PyObject_Hash(op);
    }
}

/* --- The write detector (Python/immortal_detect.c) --- */

/* Arm it in a forked child if PYTHONIMMORTALDETECT says so; called by
   _PyImmortal_AfterForkChild() once the arenas are sealed. */
extern void _PyImmortal_DetectorAfterFork(void);

/* pymalloc's side (Objects/obmalloc_seal.h): safe in a signal handler. */
extern int _PyObject_ArenasSealed(void);
extern void _PyObject_ForEachSealedArena(
    void (*fn)(void *start, size_t size, void *arg), void *arg);
extern int _PyObject_SealedBlock(const void *addr, char **block,
                                 size_t *size);

/* --- What stays mortal (Python/immortal_mortal.c) --- */

/* Must op stay mortal: does its deallocation or finalization do more than
   free memory (a finalizer, an OS resource released, a running frame's
   frame object, a tuple under construction)? Runs no Python code. */
extern int _PyImmortal_StaysMortal(PyObject *op);

/* Forget the verdicts per type of the last walk (types may be freed and
   their memory reused between walks). */
extern void _PyImmortal_ResetMortalRule(void);

/* Before the walk: the set of tracked objects that stay mortal, closed over
   what only they reference. Returns -1 with MemoryError set. */
extern int _PyImmortal_BuildMortalSet(PyInterpreterState *interp);
/* Is op in that set? (A tracked object; walk_tracked() asks.) */
extern int _PyImmortal_InMortalSet(PyObject *op);
/* After the walk. */
extern void _PyImmortal_FreeMortalSet(void);

/* For Py_FinalizeEx(), after the atexit handlers: run the finalizers of
   the mortal objects that immortal ones hold (files, temporary files, ...),
   which stock runs as modules are torn down. Nothing if the heap was never
   immortalized. */
extern void _PyImmortal_FinalizeHeld(PyThreadState *tstate);

/* Has sys.immortalize_heap() run in this process (or in the parent it was
   forked from)? (Python/immortalize.c) */
extern int _PyImmortal_HeapIsImmortalized(void);
/* ... and has a call frozen code objects (specialize=False)? Immortal
   code is then never re-specialized after a miss (Python/ceval.c). */
extern int _PyImmortal_CodeIsFrozen(void);

/* --- The collector (Modules/gc_immortal.h) --- */

/* A full collection, as gc.collect() runs it (callbacks included).
   Returns the number of unreachable objects found, or -1 with RuntimeError
   set when a collection is already running (a finalizer or a gc callback
   called us). */
extern Py_ssize_t _PyGC_ImmortalizeCollect(PyThreadState *tstate);

/* Call fn(op, arg) for every object of the generations and the permanent
   generation (the mortal tracked objects), moving none. fn must not run
   Python code or allocate objects. Returns -1 if fn returns -1, else 0. */
extern int _PyGC_ForEachMortalTracked(
    PyInterpreterState *interp, int (*fn)(PyObject *, void *), void *arg);

/* Call fn(op, arg) for every tracked immortal object (the immortal
   lists), moving none, with no collection allowed to start. fn must not
   run Python code. */
extern void _PyGC_ForEachImmortalTracked(
    PyInterpreterState *interp, int (*fn)(PyObject *, void *), void *arg);

/* Call fn(op, arg) for every object the collector tracks: the immortal
   lists first, then the generations and the permanent generation; then
   move every tracked object that is immortal now out of the generations
   into the immortal list, where no collection looks at it again. fn must
   not run Python code or allocate objects. Returns -1 if fn returns -1,
   else the number of objects moved. */
extern Py_ssize_t _PyGC_ImmortalizeTracked(
    PyInterpreterState *interp, int (*fn)(PyObject *, void *), void *arg);

/* --- pymalloc (Objects/obmalloc_seal.h) --- */

/* Seal every pymalloc arena in use: no later allocation is served from
   it, and a block freed into it is not reused. Returns the bytes of the
   arenas sealed by this call, or (size_t)-1 if memory for the table of
   sealed arenas ran out. A child forked after sys.immortalize_heap() does
   it first thing (_PyImmortal_AfterForkChild()). */
extern size_t _PyObject_SealArenas(void);

/* The bytes of pymalloc's pools in use: what a child would seal. */
extern size_t _PyObject_ArenaBytesInUse(void);

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_IMMORTAL_HEAP_H */
