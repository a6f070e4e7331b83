#ifndef Py_INTERNAL_IMMORTAL_H
#define Py_INTERNAL_IMMORTAL_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

/* Immortal objects, the runtime's side. The representation is in
   Include/immortal.h; the functions are in Python/immortal.c. */

#include "pycore_runtime.h"       // _PyRuntime

/* Give a statically allocated object the immortal refcount. Its count was
   never part of _Py_RefTotal, so nothing else changes. Used when a static
   type is readied (PyType_Ready), and to reset a static object instead of
   freeing it: deallocation of a statically allocated object can only mean
   that code unaware of immortality (an extension built against stock 3.11
   headers, doing plain ob_refcnt--) drove its count down to zero. Also the
   tp_dealloc of None, NotImplemented, Ellipsis, True and False. */
extern void _Py_SetImmortalStatic(PyObject *op);

/* For PyType_Ready(): make a statically allocated type immortal, also one
   of an extension built against stock headers (created with a refcount of
   1), and one that a Cython 3 extension readies with Py_TPFLAGS_HEAPTYPE
   set for the duration of the call. Heap types stay mortal. */
extern void _PyImmortal_TypeReady(PyTypeObject *type);

/* Add n references to op at once (list and tuple repetition), counting
   them in debug builds; nothing for an immortal object (gh-104142 was 3.12's
   bug of this path). */
static inline void
_Py_RefcntAdd(PyObject *op, Py_ssize_t n)
{
    if (_Py_IsImmortal(op)) {
        return;
    }
#ifdef Py_REF_DEBUG
    _Py_RefTotal += n;
#endif
    op->ob_refcnt += n;
}

/* Deep-frozen objects (Tools/scripts/deepfreeze.py: the code objects of
   the frozen stdlib modules and their constants, many of them interned
   strings every program shares) are statically allocated in a section of
   their own, so that one range check recognizes them. */
#if defined(__GNUC__) && defined(__ELF__)
#  define _Py_DEEPFROZEN __attribute__((section("py_deepfrozen")))
extern char __start_py_deepfrozen[] __attribute__((weak, visibility("hidden")));
extern char __stop_py_deepfrozen[] __attribute__((weak, visibility("hidden")));
#  define _Py_IN_DEEPFROZEN(p) \
    ((const char *)(p) >= __start_py_deepfrozen \
     && (const char *)(p) < __stop_py_deepfrozen)
#else
#  define _Py_DEEPFROZEN
#  define _Py_IN_DEEPFROZEN(p) 0
#endif

/* Is op statically allocated: in _PyRuntime (small ints, the runtime's
   static strings, the 1-character str and bytes, the empty str, bytes and
   tuple) or deep-frozen? None, NotImplemented, Ellipsis, True, False and
   static types are recognized by their tp_dealloc instead. */
static inline int
_PyImmortal_IsStatic(PyObject *op)
{
    return ((const char *)op >= (const char *)&_PyRuntime
            && (const char *)op < (const char *)(&_PyRuntime + 1))
           || _Py_IN_DEEPFROZEN(op);
}

/* For _Py_Dealloc(), where stock headers' Py_DECREF() lands at zero:
   restore and return 1 if op is statically allocated, else return 0. */
static inline int
_PyImmortal_RestoreIfStatic(PyObject *op)
{
    if (_PyImmortal_IsStatic(op)) {
        _Py_SetImmortalStatic(op);
        return 1;
    }
    return 0;
}

/* For type_dealloc: the same for statically allocated types. */
static inline int
_PyImmortal_RestoreIfStaticType(PyTypeObject *type)
{
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        _Py_SetImmortalStatic((PyObject *)type);
        return 1;
    }
    return 0;
}

/* A tuple C code may still be filling although it is immortal: one that
   sys.immortalize_heap() made immortal (not a static one) while C code
   held the only reference, building it (PySequence_Tuple() iterating a
   generator that made the call, or another thread's). PyTuple_SetItem()
   lets such code go on filling it, and _PyTuple_Resize() hands it a copy
   (_PyImmortal_TupleResize(), Python/immortal.c): it cannot be resized in
   place, and the immortal one keeps its items. */
static inline int
_PyImmortal_TupleInConstruction(PyObject *op)
{
    return (PyTuple_CheckExact(op) && Py_SIZE(op) > 0 && _Py_IsImmortal(op)
            && !_PyImmortal_IsStatic(op));
}
extern int _PyImmortal_TupleResize(PyObject **pv, Py_ssize_t newsize);

/* The keys a heap type shares with its instances' dicts
   (ht_cached_keys), once sys.immortalize_heap() made them immortal:
   materializing an instance's __dict__ and freeing it count no reference
   to them, and making an instance no longer shrinks them (3.11's
   init_inline_values() decrements dk_usable), so that a worker's
   instances of warm classes write nothing to them. Patch 0015. */
static inline int
_PyImmortal_DictKeysAreImmortal(Py_ssize_t dk_refcnt)
{
    return dk_refcnt == _Py_IMMORTAL_REFCNT;
}

/* The UTF-8 form of an immortal non-ASCII str, for
   PyUnicode_AsUTF8AndSize(): kept in a table of the process's own, not
   cached in the string (a write to memory a forked worker shares).
   Python/immortal.c; patch 0015. */
extern const char *_PyImmortal_AsUTF8AndSize(PyObject *unicode,
                                             Py_ssize_t *psize);

/* What sys.getrefcount() reports: the refcount of a mortal object, and
   _Py_IMMORTAL_REFCNT for every immortal one. */
static inline Py_ssize_t
_PyImmortal_ReportedRefcnt(PyObject *op)
{
    return _Py_IsImmortal(op) ? _Py_IMMORTAL_REFCNT : Py_REFCNT(op);
}

/* Entries of the sys module's method table. */
extern PyObject *_PyImmortal_sys_is_immortal(PyObject *module, PyObject *op);
extern const char _PyImmortal_sys_is_immortal_doc[];
/* Python/immortalize.c */
extern PyObject *_PyImmortal_sys_immortalize_heap(PyObject *module,
                                                  PyObject *args,
                                                  PyObject *kwds);
extern const char _PyImmortal_sys_immortalize_heap_doc[];
/* Python/immortal_mortal.c */
extern PyObject *_PyImmortal_sys_stays_mortal(PyObject *module, PyObject *op);
extern const char _PyImmortal_sys_stays_mortal_doc[];
/* Python/immortal_detect.c */
extern PyObject *_PyImmortal_sys_detect_writes(PyObject *module,
                                               PyObject *const *args,
                                               Py_ssize_t nargs);
extern const char _PyImmortal_sys_detect_writes_doc[];
extern PyObject *_PyImmortal_sys_detected_writes(PyObject *module,
                                                 PyObject *unused);
extern const char _PyImmortal_sys_detected_writes_doc[];
#define _PYIMMORTAL_SYS_METHODS \
    {"_is_immortal", _PyImmortal_sys_is_immortal, METH_O, \
     _PyImmortal_sys_is_immortal_doc}, \
    {"immortalize_heap", _PyCFunction_CAST(_PyImmortal_sys_immortalize_heap), \
     METH_VARARGS | METH_KEYWORDS, \
     _PyImmortal_sys_immortalize_heap_doc}, \
    {"_immortal_stays_mortal", _PyImmortal_sys_stays_mortal, METH_O, \
     _PyImmortal_sys_stays_mortal_doc}, \
    {"_immortal_detect_writes", \
     _PyCFunction_CAST(_PyImmortal_sys_detect_writes), METH_FASTCALL, \
     _PyImmortal_sys_detect_writes_doc}, \
    {"_immortal_detected_writes", _PyImmortal_sys_detected_writes, \
     METH_NOARGS, _PyImmortal_sys_detected_writes_doc},

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_IMMORTAL_H */
