/* sys.immortalize_heap(): make every live object immortal.

   A pre-fork server calls it once in its master process after warm-up;
   the workers forked afterwards then share the warm heap instead of
   copying it page by page as they read it. Doc/immortal/
   immortalize-heap.md has the design; in short:

   1. A full collection, so that garbage is freed, not kept forever.
   2. A walk of the heap. Its roots are every object the collector tracks
      (the generations, the permanent generation, and the objects an
      earlier call made immortal, whose contents may have changed since),
      every static type (through the subclass lists) and the frames of
      every thread. From each, tp_traverse (and the str keys of dicts,
      which it skips) leads to the untracked objects the collector never
      sees: strings, numbers, atomic tuples and dicts, code objects and
      what they hold. The walk calls on an object only what the collector
      would (tp_traverse on collector objects only) and runs no Python
      code.
   3. Each object made immortal is also made read-only in the ways the
      runtime would otherwise write to it when it is merely used: str and
      bytes get their hash, types their version tag, dict keys and
      functions their specialization versions, and code objects stop
      warming up and specializing (the eval loop's inline caches are part
      of the code object): Python/immortal_readonly.c.
   4. The collector moves the tracked ones out of its generations
      (Modules/gc_immortal.h), and each process forked afterwards seals
      pymalloc's arenas (Python/immortal_fork.c, Objects/obmalloc_seal.h),
      so neither collections nor the allocations and frees of a worker
      write to those pages.

   This file holds the walk, the one fact "the heap has been immortalized"
   and the sys entry point with its stats.

   Objects whose deallocation does more than free memory stay mortal:
   those with finalizers (files, sockets, generators, classes with
   __del__), those that release OS resources (mmap, sqlite3, memoryview,
   ...) and the frame objects of running frames, and so does what only
   they hold; the rule is Python/immortal_mortal.c. The walk does not
   follow them: what they reference from elsewhere too is reached there. */

#include "Python.h"
#include "pycore_dict.h"          // _PyDictKeys_GetVersionForCurrentState()
#include "pycore_frame.h"         // _PyInterpreterFrame
#include "pycore_moduleobject.h"  // PyModuleObject
#include "pycore_immortal.h"
#include "pycore_immortal_heap.h"
#include "pycore_object.h"        // _PyObject_IS_GC()
#include "pycore_pystate.h"       // _PyThreadState_GET()
#include "pycore_runtime.h"       // _Py_ID()
#include "pycore_hashtable.h"     // _Py_hashtable_t
#include "structseq.h"
#define _PY_DATETIME_IMPL         // the layouts, not the C API capsule
#include "datetime.h"             // PyDateTime_DateTime, PyDateTime_Time


/* --- What a walk counts --- */

enum immortal_kind {
    KIND_TRACKED,       // containers the collector tracked
    KIND_UNTRACKED,     // containers it did not (atomic tuples and dicts)
    KIND_STR,
    KIND_BYTES,
    KIND_INT,
    KIND_FLOAT,
    KIND_CODE,
    KIND_OTHER,         // any other object without references to follow
    NUM_KINDS
};

typedef struct {
    /* Objects made immortal whose referents are still to be visited, and
       saved[i], the refcount stack.items[i] had before (0: it was immortal
       before this call). A walk that fails gives them their counts back:
       every object is left untouched or fully walked. */
    _PyImmortal_ObjectArray stack;
    Py_ssize_t *saved;
    Py_ssize_t saved_capacity;
    /* The object drain() is walking, and its saved count. */
    PyObject *current;
    Py_ssize_t current_saved;
    Py_ssize_t kinds[NUM_KINDS];
    Py_ssize_t kept_mortal;
    /* On a call after an earlier one: the immortal containers the
       collector does not track (so no list leads to them) entered again,
       once each. */
    _Py_hashtable_t *revisited;
    /* The datetime types, if the _datetime module is loaded: their
       instances are not collector objects but hold references. */
    PyTypeObject *datetime_type, *time_type, *timezone_type;
    /* specialize=False: code objects are frozen (_PyImmortal_FreezeCode()). */
    int freeze_code;
} walk_state;

/* Has a walk started in this process (or in the parent it was forked
   from), finished or not? Did the last one fail? */
static int walked_before = 0;
static int walk_failed = 0;
/* The dict version counter when the last walk finished: every mutation
   gives a dict a newer version (PEP 509), so an untracked immortal dict
   whose version is not above it has not changed since it was walked. */
static uint64_t dict_version_walked = 0;


/* --- Making one object immortal and read-only --- */

/* What stays mortal (finalizers, resources, running frames, tuples in
   construction) is decided by _PyImmortal_StaysMortal(), in
   Python/immortal_mortal.c; what read-only in use means, by
   _PyImmortal_PrepareReadOnly(), in Python/immortal_readonly.c. */

static inline void
set_immortal(PyObject *op)
{
#ifdef Py_REF_DEBUG
    /* The references it holds now are never released: stop counting them,
       so that sys.gettotalrefcount() stays comparable. */
    _Py_RefTotal -= Py_REFCNT(op);
#endif
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
}

/* Returns the refcount op had, for undo(). */
static Py_ssize_t
make_immortal(walk_state *st, PyObject *op, enum immortal_kind kind)
{
    Py_ssize_t refcnt = Py_REFCNT(op);
    set_immortal(op);
    st->kinds[kind]++;
    if (kind != KIND_CODE) {
        _PyImmortal_PrepareReadOnly(op);
    }
    else if (st->freeze_code) {
        _PyImmortal_FreezeCode((PyCodeObject *)op);
    }
    return refcnt;
}

/* Make op mortal again with the count it had (0: leave it immortal).
   What _PyImmortal_PrepareReadOnly() assigned stays: it is what the
   runtime would assign on first use anyway. */
static void
undo(PyObject *op, Py_ssize_t refcnt)
{
    if (refcnt == 0) {
        return;
    }
#ifdef Py_REF_DEBUG
    _Py_RefTotal += refcnt;
#endif
    op->ob_refcnt = refcnt;
}


/* --- The walk --- */

static int
push(walk_state *st, PyObject *op, Py_ssize_t saved)
{
    if (st->stack.length == st->saved_capacity) {
        Py_ssize_t capacity = st->saved_capacity ? 2 * st->saved_capacity
                                                 : 4096;
        Py_ssize_t *table = PyMem_RawRealloc(st->saved,
                                             capacity * sizeof(Py_ssize_t));
        if (table == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        st->saved = table;
        st->saved_capacity = capacity;
    }
    if (_PyImmortal_ObjectArray_Append(&st->stack, op, 4096) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    st->saved[st->stack.length - 1] = saved;
    return 0;
}

/* Stack entries made immortal and stacked together: on failure, undo the
   object that could not be stacked. */
static int
push_new(walk_state *st, PyObject *op, Py_ssize_t saved)
{
    if (push(st, op, saved) < 0) {
        undo(op, saved);
        return -1;
    }
    return 0;
}

/* After a failure: every object made immortal whose referents were not
   all visited is made mortal again. */
static void
abandon(walk_state *st)
{
    if (st->current != NULL) {
        undo(st->current, st->current_saved);
        st->current = NULL;
    }
    while (st->stack.length > 0) {
        st->stack.length--;
        undo(st->stack.items[st->stack.length], st->saved[st->stack.length]);
    }
}

/* References tp_traverse does not report (Doc/immortal/traverse-audit.md),
   in the types whose instances a warm heap keeps. The layouts of range
   (Objects/rangeobject.c) and datetime.timezone (Modules/_datetimemodule.c)
   are private to their files: these copies must match them. */
typedef struct {
    PyObject_HEAD
    PyObject *start;
    PyObject *stop;
    PyObject *step;
    PyObject *length;
} range_layout;

typedef struct {
    PyObject_HEAD
    PyObject *offset;
    PyObject *name;
} timezone_layout;

enum untraversed {
    UNTRAVERSED_NONE,
    UNTRAVERSED_RANGE,
    UNTRAVERSED_DATETIME,
    UNTRAVERSED_TIME,
    UNTRAVERSED_TIMEZONE,
};

/* Which references of tp's instances only this walk follows? Cheap for
   the common types: a test of tp against a handful of pointers. */
static enum untraversed
holds_untraversed(walk_state *st, PyTypeObject *tp)
{
    if (tp == &PyRange_Type) {
        return UNTRAVERSED_RANGE;
    }
    if (st->datetime_type == NULL) {
        return UNTRAVERSED_NONE;
    }
    /* The datetime types and their subclasses (C ones, and Python ones,
       which are collector objects whose tp_traverse visits only their
       own dict). */
    for (PyTypeObject *t = tp; t != NULL; t = t->tp_base) {
        if (t == st->datetime_type) {
            return UNTRAVERSED_DATETIME;
        }
        if (t == st->time_type) {
            return UNTRAVERSED_TIME;
        }
        if (t == st->timezone_type) {
            return UNTRAVERSED_TIMEZONE;
        }
    }
    return UNTRAVERSED_NONE;
}

static int visit(PyObject *op, void *arg);

static int
visit_untraversed(PyObject *op, enum untraversed what, walk_state *st)
{
    PyObject *refs[4] = {NULL, NULL, NULL, NULL};
    switch (what) {
    case UNTRAVERSED_RANGE: {
        range_layout *r = (range_layout *)op;
        refs[0] = r->start;
        refs[1] = r->stop;
        refs[2] = r->step;
        refs[3] = r->length;
        break;
    }
    case UNTRAVERSED_DATETIME:
        if (_PyDateTime_HAS_TZINFO(op)) {
            refs[0] = ((PyDateTime_DateTime *)op)->tzinfo;
        }
        break;
    case UNTRAVERSED_TIME:
        if (_PyDateTime_HAS_TZINFO(op)) {
            refs[0] = ((PyDateTime_Time *)op)->tzinfo;
        }
        break;
    case UNTRAVERSED_TIMEZONE:
        refs[0] = ((timezone_layout *)op)->offset;
        refs[1] = ((timezone_layout *)op)->name;
        break;
    case UNTRAVERSED_NONE:
        break;
    }
    for (int i = 0; i < 4; i++) {
        if (refs[i] != NULL && visit(refs[i], st) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The datetime types, read from the loaded _datetime module's dict (no
   import, no attribute hook: no Python code runs). Called before the
   collection: the lookups allocate their keys. */
static void
find_datetime_types(walk_state *st)
{
    PyObject *modules = PyImport_GetModuleDict();
    if (modules == NULL || !PyDict_CheckExact(modules)) {
        return;
    }
    PyObject *mod = PyDict_GetItemString(modules, "_datetime");
    if (mod == NULL || !PyModule_CheckExact(mod)) {
        return;
    }
    PyObject *dict = PyModule_GetDict(mod);
    PyObject *types[3];
    const char *names[3] = {"datetime", "time", "timezone"};
    const char *tp_names[3] = {"datetime.datetime", "datetime.time",
                               "datetime.timezone"};
    const Py_ssize_t sizes[3] = {sizeof(PyDateTime_DateTime),
                                 sizeof(PyDateTime_Time),
                                 sizeof(timezone_layout)};
    for (int i = 0; i < 3; i++) {
        /* The module's own static types, not whatever was assigned to
           its attributes: the walk reads their instances' layouts. */
        types[i] = PyDict_GetItemString(dict, names[i]);
        if (types[i] == NULL || !PyType_Check(types[i])) {
            return;
        }
        PyTypeObject *t = (PyTypeObject *)types[i];
        if ((t->tp_flags & Py_TPFLAGS_HEAPTYPE)
            || strcmp(t->tp_name, tp_names[i]) != 0
            || t->tp_basicsize != sizes[i])
        {
            return;
        }
    }
    st->datetime_type = (PyTypeObject *)types[0];
    st->time_type = (PyTypeObject *)types[1];
    st->timezone_type = (PyTypeObject *)types[2];
}

/* An immortal object an earlier walk made so: enter it again if no list
   of the collector leads to it and it may have changed. A dict the
   collector does not track (its values were all atoms) can be given new
   mortal keys and values and stay untracked; its version says whether it
   did. An untracked tuple, a code object or the other objects walked by
   hand cannot change: they are entered again only after a failed walk. */
static int
revisit(walk_state *st, PyObject *op)
{
    if (_PyImmortal_IsStatic(op)) {
        return 0;
    }
    if (PyDict_Check(op) && !_PyObject_GC_IS_TRACKED(op)) {
        if (!walk_failed
            && ((PyDictObject *)op)->ma_version_tag <= dict_version_walked)
        {
            return 0;
        }
    }
    else {
        /* After a failed walk, an object it walked fully may hold one it
           gave its count back (abandon()): enter every immortal container
           no list leads to again, once. */
        PyTypeObject *tp = Py_TYPE(op);
        if (!walk_failed
            || !((PyObject_IS_GC(op) && !_PyObject_GC_IS_TRACKED(op))
                 || tp == &PyCode_Type
                 || holds_untraversed(st, tp) != UNTRAVERSED_NONE))
        {
            return 0;
        }
    }
    if (_Py_hashtable_get_entry(st->revisited, op) != NULL) {
        return 0;
    }
    if (_Py_hashtable_set(st->revisited, op, NULL) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return push(st, op, 0);
}

/* Freeze an immortal code object and the code only its constants lead to
   (comprehensions, lambdas, nested functions, class bodies): the walk does
   not enter immortal code again, so deep-frozen code, and code an earlier
   call left specializing, would keep those warming up. */
static void
freeze_immortal_code(PyCodeObject *co)
{
    _PyImmortal_FreezeCode(co);
    PyObject *consts = co->co_consts;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); i++) {
        PyObject *c = PyTuple_GET_ITEM(consts, i);
        if (PyCode_Check(c) && _Py_IsImmortal(c)) {
            freeze_immortal_code((PyCodeObject *)c);
        }
    }
}

/* The visitproc of the walk: make a referent immortal. A tracked container
   is left to the walk of the collector's lists, which reaches every one of
   them; anything else is made immortal here and, if it holds references,
   stacked for drain(). */
static int
visit(PyObject *op, void *arg)
{
    walk_state *st = (walk_state *)arg;
    if (_Py_IsImmortal(op)) {
        /* Deep-frozen code (the frozen stdlib modules) was immortal from
           the start, but still warms up and specializes; so does code an
           earlier call made immortal with specialize=True. */
        if (Py_IS_TYPE(op, &PyCode_Type)) {
            PyCodeObject *co = (PyCodeObject *)op;
            if (st->freeze_code) {
                freeze_immortal_code(co);
            }
            /* co_code is made, and cached in the code object, on first
               access (after an earlier walk, maybe). */
            if (co->_co_code != NULL && !_Py_IsImmortal(co->_co_code)
                && visit(co->_co_code, st) < 0)
            {
                return -1;
            }
        }
        if (st->revisited != NULL && !PyUnicode_CheckExact(op)) {
            return revisit(st, op);
        }
        return 0;
    }
    PyTypeObject *tp = Py_TYPE(op);
    /* The most common referents first: leaves without finalizers. */
    if (tp == &PyUnicode_Type) {
        set_immortal(op);
        st->kinds[KIND_STR]++;
        _PyImmortal_HashStr(op);
        return 0;
    }
    if (tp == &PyLong_Type || tp == &PyFloat_Type) {
        set_immortal(op);
        st->kinds[tp == &PyLong_Type ? KIND_INT : KIND_FLOAT]++;
        return 0;
    }
    if (_PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(op))) {
        if (_PyObject_GC_IS_TRACKED(op) || _PyImmortal_StaysMortal(op)) {
            return 0;
        }
        return push_new(st, op, make_immortal(st, op, KIND_UNTRACKED));
    }
    if (tp != &PyBytes_Type && tp != &PyCode_Type
        && _PyImmortal_StaysMortal(op))
    {
        return 0;
    }
    Py_ssize_t saved = make_immortal(st, op, (tp == &PyBytes_Type ? KIND_BYTES
                                              : tp == &PyCode_Type ? KIND_CODE
                                              : KIND_OTHER));
    /* Only collector objects are traversed, as the collector does: a
       tp_traverse may assume it (type_traverse() aborts on a static type).
       Code objects, static types and the few other objects that hold
       references without being collector objects are walked by hand
       (drain()). */
    if (tp == &PyCode_Type || PyType_Check(op)
        || holds_untraversed(st, tp) != UNTRAVERSED_NONE)
    {
        return push_new(st, op, saved);
    }
    return 0;
}

#define VISIT(op) \
    do { \
        if ((op) != NULL && visit((PyObject *)(op), st) < 0) { \
            return -1; \
        } \
    } while (0)

/* Code objects are not collector objects in 3.11 and have no tp_traverse;
   these are the references they hold. */
static int
visit_code(PyCodeObject *co, walk_state *st)
{
    VISIT(co->co_consts);
    VISIT(co->co_names);
    VISIT(co->co_exceptiontable);
    VISIT(co->co_localsplusnames);
    VISIT(co->co_localspluskinds);
    VISIT(co->co_filename);
    VISIT(co->co_name);
    VISIT(co->co_qualname);
    VISIT(co->co_linetable);
    VISIT(co->_co_code);
    return 0;
}

/* Static types are not collector objects (type_is_gc() says so, whatever
   Py_TPFLAGS_HAVE_GC says): these are the references they hold. The
   weak references in tp_subclasses are collector objects. */
static int
visit_static_type(PyTypeObject *type, walk_state *st)
{
    VISIT(type->tp_dict);
    VISIT(type->tp_mro);
    VISIT(type->tp_bases);
    VISIT(type->tp_base);
    VISIT(type->tp_subclasses);
    VISIT(type->tp_cache);
    return 0;
}

/* dict_traverse() skips the keys of a table whose keys are all str (they
   cannot be part of a cycle), and no tp_traverse visits the keys a heap
   type shares with its instances' dicts: the names of attributes. The
   walk visits them, or every read of such a key in a worker (a lookup
   compares it, iteration hands it out) would write its refcount. */
static int
visit_unicode_keys(PyDictKeysObject *keys, walk_state *st)
{
    if (keys == NULL || !DK_IS_UNICODE(keys)) {
        return 0;
    }
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        VISIT(entries[i].me_key);
    }
    return 0;
}

/* A collector object's references: tp_traverse, and what it leaves out
   (Doc/immortal/traverse-audit.md). */
static int
traverse(PyObject *op, walk_state *st)
{
    PyTypeObject *tp = Py_TYPE(op);
    if (tp->tp_traverse(op, visit, st)) {
        return -1;
    }
    if (PyDict_Check(op)) {
        return visit_unicode_keys(((PyDictObject *)op)->ma_keys, st);
    }
    if (PyType_Check(op)) {
        /* A collector object: a heap type. Its names and slots are
           referenced from nowhere else when it was made by type(). */
        PyHeapTypeObject *ht = (PyHeapTypeObject *)op;
        VISIT(ht->ht_name);
        VISIT(ht->ht_qualname);
        VISIT(ht->ht_slots);
        VISIT(((PyTypeObject *)op)->tp_subclasses);
        return visit_unicode_keys(ht->ht_cached_keys, st);
    }
    if (tp == &PyMethodDescr_Type || tp == &PyClassMethodDescr_Type
        || tp == &PyMemberDescr_Type || tp == &PyGetSetDescr_Type
        || tp == &PyWrapperDescr_Type)
    {
        VISIT(((PyDescrObject *)op)->d_name);
        VISIT(((PyDescrObject *)op)->d_qualname);
        return 0;
    }
    if (PyModule_CheckExact(op)) {
        /* A subclass's instances are rare, and their md_name is the
           __name__ of their dict as well. */
        VISIT(((PyModuleObject *)op)->md_name);
        return 0;
    }
    /* A Python subclass (at any depth) of a type that is not a collector
       one (datetime): a walk of the base chain, for heap types' instances
       only, and only when _datetime is loaded. */
    if ((tp->tp_flags & Py_TPFLAGS_HEAPTYPE) && st->datetime_type != NULL) {
        enum untraversed what = holds_untraversed(st, tp);
        if (what != UNTRAVERSED_NONE) {
            return visit_untraversed(op, what, st);
        }
    }
    return 0;
}

static int
drain(walk_state *st)
{
    while (st->stack.length > 0) {
        PyObject *op = st->stack.items[--st->stack.length];
        st->current = op;
        st->current_saved = st->saved[st->stack.length];
        int err;
        if (Py_IS_TYPE(op, &PyCode_Type)) {
            err = visit_code((PyCodeObject *)op, st);
        }
        else if (PyType_Check(op) && !PyObject_IS_GC(op)) {
            err = visit_static_type((PyTypeObject *)op, st);
        }
        else if (!PyObject_IS_GC(op)) {
            err = visit_untraversed(op, holds_untraversed(st, Py_TYPE(op)),
                                    st);
        }
        else {
            err = traverse(op, st);
        }
        if (err) {
            return -1;
        }
        st->current = NULL;
    }
    return 0;
}

/* Called by the collector for each object it tracks. */
static int
walk_tracked(PyObject *op, void *arg)
{
    walk_state *st = (walk_state *)arg;
    Py_ssize_t saved = 0;
    if (!_Py_IsImmortal(op)) {
        if (_PyImmortal_InMortalSet(op)) {
            /* What only it holds stays mortal with it; the rest is
               reached from elsewhere. */
            st->kept_mortal++;
            return 0;
        }
        saved = make_immortal(st, op, KIND_TRACKED);
    }
    if (traverse(op, st)) {
        undo(op, saved);
        return -1;
    }
    return drain(st);
}

/* Static types are not collector objects: reach every one, and what it
   owns, from object's subclass lists. Every readied type is in the
   subclass list of its tp_base, so following those edges from object
   meets each type once, those of extensions included (a static type whose
   base is a heap type too). Static types of the core are immortal
   already; those of extensions may not be: Cython 3 readies them with
   Py_TPFLAGS_HEAPTYPE set (cython/cython#3603), or code built for stock
   3.11 may have stored a small count. Their dicts, MROs and bases are
   mortal, and their version tags are assigned lazily. Heap types are
   collector objects, walked with the others; only their subclass lists
   are read here. */
static int
walk_static_types(walk_state *st)
{
    _PyImmortal_ObjectArray types = {0};
    int err = -1;

    if (_PyImmortal_ObjectArray_Append(&types, (PyObject *)&PyBaseObject_Type,
                                       1024) < 0)
    {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < types.length; i++) {
        PyTypeObject *type = (PyTypeObject *)types.items[i];
        PyObject *subclasses = type->tp_subclasses;
        if (subclasses != NULL && PyDict_CheckExact(subclasses)) {
            Py_ssize_t pos = 0;
            PyObject *key, *ref;
            while (PyDict_Next(subclasses, &pos, &key, &ref)) {
                PyObject *sub = PyWeakref_GET_OBJECT(ref);
                if (PyType_Check(sub)
                    && ((PyTypeObject *)sub)->tp_base == type
                    && _PyImmortal_ObjectArray_Append(&types, sub, 1024) < 0)
                {
                    PyErr_NoMemory();
                    goto done;
                }
            }
        }
        if (PyObject_IS_GC((PyObject *)type)) {
            continue;
        }
        Py_ssize_t saved = 0;
        if (!_Py_IsImmortal((PyObject *)type)) {
            saved = make_immortal(st, (PyObject *)type, KIND_OTHER);
        }
        else {
            _PyImmortal_PrepareReadOnly((PyObject *)type);
        }
        if (visit_static_type(type, st) < 0) {
            undo((PyObject *)type, saved);
            goto done;
        }
        if (drain(st) < 0) {
            goto done;
        }
    }
    err = 0;
done:
    PyMem_RawFree(types.items);
    return err;
}

/* Frames are not collector objects while they run: their locals, function,
   code and namespaces may be referenced from nowhere else. Only the value
   stack is left: it holds temporaries, and its extent is not recorded
   while a frame runs. */
static int
walk_frames_of(PyThreadState *t, walk_state *st)
{
    if (t->cframe == NULL) {
        return 0;
    }
    for (_PyInterpreterFrame *f = t->cframe->current_frame;
         f != NULL; f = f->previous)
    {
        if (_PyFrame_IsIncomplete(f)) {
            continue;
        }
        VISIT(f->f_func);
        VISIT(f->f_code);
        VISIT(f->f_globals);
        VISIT(f->f_builtins);
        VISIT(f->f_locals);
        VISIT(f->frame_obj);
        for (int i = 0; i < f->f_code->co_nlocalsplus; i++) {
            VISIT(f->localsplus[i]);
        }
        if (drain(st) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
walk_frames(PyInterpreterState *interp, walk_state *st)
{
    /* A thread started from C may add its state without the GIL: hold the
       lock of the list, as sys._current_frames() does. */
    PyThread_type_lock lock = _PyRuntime.interpreters.mutex;
    PyThread_acquire_lock(lock, WAIT_LOCK);
    int err = 0;
    for (PyThreadState *t = interp->threads.head;
         t != NULL && err == 0; t = t->next)
    {
        err = walk_frames_of(t, st);
    }
    PyThread_release_lock(lock);
    return err;
}

/* The method cache holds a reference to each name it caches: often a str
   made for one lookup (PyObject_GetAttrString()), referenced from nowhere
   else. A worker replacing the entry would write its refcount (found by
   the write detector). */
static int
walk_type_cache(PyInterpreterState *interp, walk_state *st)
{
    struct type_cache *cache = &interp->type_cache;
    for (size_t i = 0; i < Py_ARRAY_LENGTH(cache->hashtable); i++) {
        VISIT(cache->hashtable[i].name);
    }
    return drain(st);
}

#undef VISIT


/* --- The fact --- */

/* Has sys.immortalize_heap() run in this process (or in the parent it was
   forked from)? */
static int heap_immortalized = 0;

int
_PyImmortal_HeapIsImmortalized(void)
{
    return heap_immortalized;
}

/* Has a call frozen immortal code (specialize=False)? Set with
   heap_immortalized, and never cleared: code a call froze keeps its
   instructions through a later specialize=True. Before any call,
   deep-frozen code specializes. */
static int code_frozen = 0;

int
_PyImmortal_CodeIsFrozen(void)
{
    return code_frozen;
}


/* --- sys.immortalize_heap() --- */

static PyTypeObject StatsType;

static PyStructSequence_Field stats_fields[] = {
    {"objects", "objects made immortal by this call"},
    {"tracked", "... of which containers the collector tracked"},
    {"untracked", "... of which containers it did not track"},
    {"str", "... of which str objects"},
    {"bytes", "... of which bytes objects"},
    {"int", "... of which int objects"},
    {"float", "... of which float objects"},
    {"code", "... of which code objects"},
    {"other", "... of which other objects"},
    {"kept_mortal", "tracked objects left mortal by the rule of what "
                    "stays mortal (finalizers, OS resources, running "
                    "frames)"},
    {"collected", "unreachable objects found by the collection first"},
    {"sealed_bytes", "bytes of pymalloc pools in use, which each process "
                     "forked afterwards seals"},
    {"collect_seconds", "seconds the collection took"},
    {"seconds", "seconds the whole call took, collection included"},
    {"worker_allocator", "what processes forked afterwards allocate raw "
                         "memory with: 'mimalloc' (mappings of their own) "
                         "or 'malloc' (reuses the master's free memory)"},
    {0}
};

static PyStructSequence_Desc stats_desc = {
    "sys.immortalize_heap_stats",
    "What sys.immortalize_heap() did.",
    stats_fields,
    15
};

static int
init_stats_type(void)
{
    if (_PyType_HasFeature(&StatsType, Py_TPFLAGS_READY)) {
        return 0;
    }
    if (Py_REFCNT(&StatsType) != 0) {
        /* PyType_Ready() failed half-way in an earlier call (it had made
           the type immortal): the type cannot be initialized again. */
        PyErr_SetString(PyExc_MemoryError,
                        "sys.immortalize_heap(): memory ran out while its "
                        "stats type was being created in an earlier call");
        return -1;
    }
    /* Failing before PyType_Ready() (out of memory for the members), it
       leaves nothing behind: the next call tries again. */
    if (PyStructSequence_InitType2(&StatsType, &stats_desc) < 0) {
        return -1;
    }
    /* Where its name says it is, so that pickle finds it. */
    return PySys_SetObject("immortalize_heap_stats", (PyObject *)&StatsType);
}

static PyObject *
make_stats(walk_state *st, Py_ssize_t collected, size_t sealed,
           _PyTime_t t0, _PyTime_t t1, _PyTime_t t2)
{
    PyObject *stats = PyStructSequence_New(&StatsType);
    if (stats == NULL) {
        return NULL;
    }
    Py_ssize_t total = 0;
    for (int k = 0; k < NUM_KINDS; k++) {
        total += st->kinds[k];
    }
    PyObject *values[15] = {
        PyLong_FromSsize_t(total),
        PyLong_FromSsize_t(st->kinds[KIND_TRACKED]),
        PyLong_FromSsize_t(st->kinds[KIND_UNTRACKED]),
        PyLong_FromSsize_t(st->kinds[KIND_STR]),
        PyLong_FromSsize_t(st->kinds[KIND_BYTES]),
        PyLong_FromSsize_t(st->kinds[KIND_INT]),
        PyLong_FromSsize_t(st->kinds[KIND_FLOAT]),
        PyLong_FromSsize_t(st->kinds[KIND_CODE]),
        PyLong_FromSsize_t(st->kinds[KIND_OTHER]),
        PyLong_FromSsize_t(st->kept_mortal),
        PyLong_FromSsize_t(collected),
        PyLong_FromSize_t(sealed),
        PyFloat_FromDouble(_PyTime_AsSecondsDouble(t1 - t0)),
        PyFloat_FromDouble(_PyTime_AsSecondsDouble(t2 - t0)),
        PyUnicode_FromString(_PyImmortal_WorkerAllocatorName()),
    };
    for (int i = 0; i < 15; i++) {
        if (values[i] == NULL) {
            for (int j = i; j < 15; j++) {
                Py_XDECREF(values[j]);
            }
            Py_DECREF(stats);
            return NULL;
        }
        PyStructSequence_SET_ITEM(stats, i, values[i]);
    }
    return stats;
}

PyObject *
_PyImmortal_sys_immortalize_heap(PyObject *Py_UNUSED(module),
                                 PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"specialize", NULL};
    int specialize = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$p:immortalize_heap",
                                     kwlist, &specialize))
    {
        return NULL;
    }
    PyThreadState *tstate = _PyThreadState_GET();
    PyInterpreterState *interp = tstate->interp;

    if (!_Py_IsMainInterpreter(interp)) {
        /* Subinterpreters' objects die with them; immortal ones would
           leak, and 3.11 shares no heap between interpreters anyway. */
        PyErr_SetString(PyExc_RuntimeError,
                        "sys.immortalize_heap() is only supported in the "
                        "main interpreter");
        return NULL;
    }
    if (_PyRuntimeState_GetFinalizing(&_PyRuntime) != NULL
        || interp->finalizing)
    {
        PyErr_SetString(PyExc_RuntimeError,
                        "sys.immortalize_heap() cannot run during "
                        "interpreter finalization");
        return NULL;
    }
    if (PySys_Audit("sys.immortalize_heap", NULL) < 0) {
        return NULL;
    }

    /* The stats type first, so that the walk covers it (and its entry in
       object's subclasses) like everything else. */
    if (init_stats_type() < 0) {
        return NULL;
    }
    /* Before the walk: loading it allocates, and may warn. */
    if (_PyImmortal_LoadWorkerAllocator() < 0) {
        return NULL;
    }

    walk_state st = {0};
    st.freeze_code = !specialize;
    find_datetime_types(&st);

    _PyTime_t t0 = _PyTime_GetPerfCounter();
    Py_ssize_t collected = _PyGC_ImmortalizeCollect(tstate);
    if (collected < 0) {
        return NULL;
    }
    _PyTime_t t1 = _PyTime_GetPerfCounter();

    /* From here on no object is allocated until the stats: an allocation
       could start a collection, or land in an arena about to be sealed. */
    PyObject *stats = NULL;
    int heap_walk_done = 0;
    _PyImmortal_ResetMortalRule();
    if (walked_before) {
        _Py_hashtable_allocator_t alloc = {PyMem_RawMalloc, PyMem_RawFree};
        st.revisited = _Py_hashtable_new_full(_Py_hashtable_hash_ptr,
                                              _Py_hashtable_compare_direct,
                                              NULL, NULL, &alloc);
        if (st.revisited == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    walked_before = 1;
    if (_PyImmortal_BuildMortalSet(interp) < 0
        || walk_static_types(&st) < 0
        || walk_frames(interp, &st) < 0
        || walk_type_cache(interp, &st) < 0
        || _PyGC_ImmortalizeTracked(interp, walk_tracked, &st) < 0)
    {
        goto done;
    }
    heap_walk_done = 1;
    dict_version_walked = _pydict_global_version;
    /* Each child forked from now on seals pymalloc's arenas. */
    size_t sealed = _PyObject_ArenaBytesInUse();
    heap_immortalized = 1;
    code_frozen |= st.freeze_code;
    _PyTime_t t2 = _PyTime_GetPerfCounter();
    stats = make_stats(&st, collected, sealed, t0, t1, t2);

done:
    if (stats == NULL) {
        abandon(&st);
    }
    /* Also when only the stats failed: the walk itself finished. */
    walk_failed = (stats == NULL && !heap_walk_done);
    if (st.revisited != NULL) {
        _Py_hashtable_destroy(st.revisited);
    }
    _PyImmortal_FreeMortalSet();
    PyMem_RawFree(st.stack.items);
    PyMem_RawFree(st.saved);
    return stats;
}

const char _PyImmortal_sys_immortalize_heap_doc[] =
"immortalize_heap($module, /, *, specialize=False)\n"
"--\n"
"\n"
"Make every live object immortal; return what was done.\n"
"\n"
"Meant for a pre-fork server's master process, once, after it has\n"
"imported and warmed up the application and before it forks workers:\n"
"the workers then share the heap instead of copying it as they read it.\n"
"Runs a full collection first. Afterwards no collection examines the\n"
"immortal objects and new objects are allocated away from them. Objects\n"
"whose type has a finalizer (files, sockets, generators, classes with\n"
"__del__) stay mortal. Objects created later stay mortal; calling again\n"
"makes them immortal too.\n"
"\n"
"Code objects are frozen: the workers never write to them, and code the\n"
"master did not warm up runs unspecialized there. With specialize=True\n"
"they keep warming up and specializing in every process, as on stock:\n"
"faster cold code, but each worker copies the pages of the code it\n"
"specializes. Once a call has frozen code, it stays frozen, and no\n"
"specialized instruction of immortal code is re-specialized after a\n"
"miss, even after a later specialize=True.\n"
"\n"
"Raises RuntimeError in a subinterpreter, during finalization, and\n"
"during a garbage collection.";
