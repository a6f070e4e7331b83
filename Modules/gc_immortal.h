/* Immortal objects and the cyclic collector.

   Included by Modules/gcmodule.c (it needs the collector's list
   primitives); declared in Include/internal/pycore_immortal_heap.h.

   A collection writes to the PyGC_Head of every object of the generations
   it examines, and linking or unlinking an object writes to the headers of
   its list neighbours. So immortal objects live in lists of their own that
   no collection walks and no mortal object neighbours:

   - gcstate->immortal: the tracked objects sys.immortalize_heap() made
     immortal;
   - gcstate->immortal_adopted: immortal objects a collection found in a
     generation: a container that sys.immortalize_heap() saw untracked (an
     atomic dict or tuple) and that a mutation made trackable again. Its
     header was written by that tracking anyway; keeping these apart from
     gcstate->immortal keeps the writes off the sealed list.

   Objects in these lists are still tracked: gc.is_tracked() says True,
   gc.get_objects() (without a generation) and gc.get_referrers() include
   them; gc.get_objects(generation=N), gc.get_count(), gc.get_stats(),
   gc.freeze() and gc.get_freeze_count() deal only with the generations.
   An immortal container's references keep its mortal referents alive: a
   collection sees them as references from outside the generation it
   examines. */

static inline void gc_list_init(PyGC_Head *list);
static void gc_list_move(PyGC_Head *node, PyGC_Head *list);
static void gc_list_merge(PyGC_Head *from, PyGC_Head *to);
static Py_ssize_t gc_list_size(PyGC_Head *list);
static Py_ssize_t gc_collect_with_callback(PyThreadState *tstate,
                                           int generation);
static int append_objects(PyObject *py_list, PyGC_Head *gc_list);
static int gc_referrers_for(PyObject *objs, PyGC_Head *list,
                            PyObject *resultlist);

static void
gc_immortal_init_state(GCState *gcstate)
{
    gc_list_init(&gcstate->immortal);
    gc_list_init(&gcstate->immortal_adopted);
}

/* For update_refs(): move an immortal object out of the generation being
   collected. Returns 1 if it did. */
static inline int
gc_immortal_adopt(PyGC_Head *gc)
{
    if (!_Py_IsImmortal(FROM_GC(gc))) {
        return 0;
    }
    gc_list_move(gc, &get_gc_state()->immortal_adopted);
    return 1;
}

/* For handle_weakrefs(): where a weakref whose callback ran goes back to.
   An immortal one came from the immortal lists; putting it in a mortal
   generation would have the next collection write its header, and its
   neighbours', once more. */
static inline PyGC_Head *
gc_immortal_weakref_home(PyGC_Head *gc, PyGC_Head *old)
{
    return (_Py_IsImmortal(FROM_GC(gc)) ? &get_gc_state()->immortal_adopted
            : old);
}

/* For _PyGC_Fini() of a subinterpreter: its immortal lists are untracked
   like its generations (bpo-46070). Only adoption can fill them there (the
   call itself runs in the main interpreter only). */
static void gc_fini_untrack(PyGC_Head *list);

static inline void
gc_immortal_fini(GCState *gcstate)
{
    gc_fini_untrack(&gcstate->immortal);
    gc_fini_untrack(&gcstate->immortal_adopted);
}

/* For gc.get_objects(): append the immortal objects. Returns 1 on error. */
static int
gc_immortal_append_objects(GCState *gcstate, PyObject *result)
{
    return (append_objects(result, &gcstate->immortal)
            || append_objects(result, &gcstate->immortal_adopted));
}

/* For gc.get_referrers(): returns 0 on error, like gc_referrers_for(). */
static int
gc_immortal_referrers(GCState *gcstate, PyObject *objs, PyObject *result)
{
    return (gc_referrers_for(objs, &gcstate->immortal, result)
            && gc_referrers_for(objs, &gcstate->immortal_adopted, result));
}

/* The thread whose collection is running (gc_collect_with_callback()
   sets it): a finalizer of that collection may release the GIL, and
   another thread's call must then wait for the collection rather than
   fail. NULL outside collections. */
static PyThreadState *gc_immortal_collector = NULL;

static inline PyThreadState *
gc_immortal_collection_begins(PyThreadState *tstate)
{
    PyThreadState *previous = gc_immortal_collector;
    gc_immortal_collector = tstate;
    return previous;
}

static inline void
gc_immortal_collection_ends(PyThreadState *previous)
{
    gc_immortal_collector = previous;
}

Py_ssize_t
_PyGC_ImmortalizeCollect(PyThreadState *tstate)
{
    GCState *gcstate = &tstate->interp->gc;
    while (gcstate->collecting) {
        if (gc_immortal_collector == NULL || gc_immortal_collector == tstate) {
            _PyErr_SetString(tstate, PyExc_RuntimeError,
                             "sys.immortalize_heap() cannot run during a "
                             "garbage collection (from a finalizer or a "
                             "gc callback)");
            return -1;
        }
        /* Another thread's collection: let it finish. */
        Py_BEGIN_ALLOW_THREADS
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
    }
    gcstate->collecting = 1;
    Py_ssize_t n = gc_collect_with_callback(tstate, NUM_GENERATIONS - 1);
    gcstate->collecting = 0;
    return n;
}

/* Call fn for each object of list; with move, move the objects that are
   immortal afterwards to gcstate->immortal. Nearly all of them are: the
   list is spliced onto it whole and the few mortal ones put back. */
static Py_ssize_t
gc_immortal_walk_list(GCState *gcstate, PyGC_Head *list, int move,
                      int (*fn)(PyObject *, void *), void *arg)
{
    Py_ssize_t moved = 0;
    PyGC_Head mortal;
    gc_list_init(&mortal);
    PyGC_Head *next;
    for (PyGC_Head *gc = GC_NEXT(list); gc != list; gc = next) {
        next = GC_NEXT(gc);
        PyObject *op = FROM_GC(gc);
        if (fn(op, arg) < 0) {
            moved = -1;
            break;
        }
        if (!move) {
            continue;
        }
        if (_Py_IsImmortal(op)) {
            moved++;
        }
        else {
            gc_list_move(gc, &mortal);
        }
    }
    if (move) {
        if (moved >= 0) {
            gc_list_merge(list, &gcstate->immortal);
        }
        gc_list_merge(&mortal, list);
    }
    return moved;
}

/* The lists of mortal tracked objects: i < NUM_GENERATIONS is a
   generation, i == NUM_GENERATIONS the permanent generation. */
static inline PyGC_Head *
gc_immortal_mortal_list(GCState *gcstate, int i)
{
    return (i < NUM_GENERATIONS ? GEN_HEAD(gcstate, i)
            : &gcstate->permanent_generation.head);
}

int
_PyGC_ForEachMortalTracked(PyInterpreterState *interp,
                           int (*fn)(PyObject *, void *), void *arg)
{
    GCState *gcstate = &interp->gc;
    for (int i = 0; i <= NUM_GENERATIONS; i++) {
        PyGC_Head *list = gc_immortal_mortal_list(gcstate, i);
        if (gc_immortal_walk_list(gcstate, list, 0, fn, arg) < 0) {
            return -1;
        }
    }
    return 0;
}

void
_PyGC_ForEachImmortalTracked(PyInterpreterState *interp,
                             int (*fn)(PyObject *, void *), void *arg)
{
    GCState *gcstate = &interp->gc;
    int collecting = gcstate->collecting;
    gcstate->collecting = 1;
    (void)(gc_immortal_walk_list(gcstate, &gcstate->immortal, 0, fn, arg) < 0
           || gc_immortal_walk_list(gcstate, &gcstate->immortal_adopted, 0,
                                    fn, arg) < 0);
    gcstate->collecting = collecting;
}

Py_ssize_t
_PyGC_ImmortalizeTracked(PyInterpreterState *interp,
                         int (*fn)(PyObject *, void *), void *arg)
{
    GCState *gcstate = &interp->gc;
    Py_ssize_t moved = 0, n;
    assert(!gcstate->collecting);
    /* No collection may start while the lists are walked. */
    gcstate->collecting = 1;
    if (gc_immortal_walk_list(gcstate, &gcstate->immortal, 0, fn, arg) < 0) {
        goto error;
    }
    n = gc_immortal_walk_list(gcstate, &gcstate->immortal_adopted, 1,
                              fn, arg);
    if (n < 0) {
        goto error;
    }
    moved += n;
    for (int i = 0; i <= NUM_GENERATIONS; i++) {
        PyGC_Head *list = gc_immortal_mortal_list(gcstate, i);
        n = gc_immortal_walk_list(gcstate, list, 1, fn, arg);
        if (n < 0) {
            goto error;
        }
        moved += n;
    }
    /* The oldest generation holds only what stayed mortal: size the next
       full collection by that, not by the heap that left. */
    gcstate->long_lived_total = gc_list_size(GEN_HEAD(gcstate,
                                                      NUM_GENERATIONS - 1));
    gcstate->long_lived_pending = 0;
    gcstate->collecting = 0;
    return moved;

error:
    gcstate->collecting = 0;
    return -1;
}
