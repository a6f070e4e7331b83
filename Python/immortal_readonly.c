/* Immortal objects made read-only in use.

   The runtime writes to some objects when they are merely used: it
   caches a str's or bytes' hash in it, assigns a type its version tag and
   a dict's keys or a function their specialization versions on first
   lookup, and a code object counts its warm-up and rewrites its
   instructions and inline caches as it specializes. In a forked worker
   each such write copies a page of the master's. sys.immortalize_heap()
   (Python/immortalize.c) calls _PyImmortal_PrepareReadOnly() on each
   object it makes immortal, and _PyImmortal_FreezeCode() on each code
   object unless told specialize=True, so that those writes happen once,
   in the master; what is written on use anyway is listed under "Limits" in
   Doc/immortal/immortalize-heap.md. Nothing here runs Python code. */

#include "Python.h"
#include "pycore_code.h"          // _PyCode_CODE(), _PyOpcode_Adaptive
#include "pycore_dict.h"          // _PyDictKeys_GetVersionForCurrentState()
#include "pycore_function.h"      // _PyFunction_GetVersionForCurrentState()
#include "pycore_immortal.h"
#include "pycore_immortal_heap.h"
#include "pycore_object.h"
#include "pycore_opcode.h"        // _PyOpcode_Deopt, _PyOpcode_Caches
#include "pycore_runtime.h"       // _Py_ID()


/* Code objects are written to while they run: the warm-up counter, then
   quickening, then every adaptive instruction's counter and
   specialization. Code that has not been quickened keeps its base
   instructions and is never quickened; quickened code keeps its
   specialized instructions (the master's warm-up made them) and its
   adaptive ones go back to their base form. Neither writes to the code
   object again; a specialized instruction whose guard fails runs its base
   form without re-specializing (see "miss:" in Python/ceval.c). */
void
_PyImmortal_FreezeCode(PyCodeObject *co)
{
    if (co->co_warmup != 0) {
        co->co_warmup = 0;
        /* Objects/codeobject.c counts code with co_warmup 0 as quickened
           when it is deallocated. */
        _Py_QuickenedCount++;
        return;
    }
    _Py_CODEUNIT *instructions = _PyCode_CODE(co);
    for (Py_ssize_t i = 0; i < Py_SIZE(co); i++) {
        int opcode = _Py_OPCODE(instructions[i]);
        int base = _PyOpcode_Deopt[opcode];
        if (opcode != base && _PyOpcode_Adaptive[base] == opcode) {
            _Py_SET_OPCODE(instructions[i], base);
        }
        i += _PyOpcode_Caches[base];
    }
}

/* Would _PyType_Lookup() of an exact str run no Python code? It compares
   the name with keys of equal hash in each dict of the MRO: only a dict
   whose keys are all exact str (a "unicode" keys table) is compared
   without calling __eq__, and a type without an MRO would be readied. */
static int
lookup_runs_no_python_code(PyTypeObject *type)
{
    PyObject *mro = type->tp_mro;
    if (mro == NULL || !PyTuple_CheckExact(mro)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        if (!PyType_Check(base)) {
            return 0;
        }
        PyObject *dict = ((PyTypeObject *)base)->tp_dict;
        if (dict == NULL || !PyDict_CheckExact(dict)
            || !DK_IS_UNICODE(((PyDictObject *)dict)->ma_keys))
        {
            return 0;
        }
    }
    return 1;
}

/* Assign what the runtime would otherwise assign lazily, on first use, by
   writing to the object. */
void
_PyImmortal_PrepareReadOnly(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    /* Exact str never gets here: visit() hashes it on its fast path. */
    if (tp == &PyBytes_Type) {
        (void)PyObject_Hash(op);
    }
    else if (PyDict_Check(op)) {
        PyDictObject *mp = (PyDictObject *)op;
        if (mp->ma_used > 0) {
            (void)_PyDictKeys_GetVersionForCurrentState(mp->ma_keys);
        }
    }
    else if (tp == &PyFunction_Type) {
        (void)_PyFunction_GetVersionForCurrentState((PyFunctionObject *)op);
    }
    else if (PyType_Check(op)
             && (((PyTypeObject *)op)->tp_flags & Py_TPFLAGS_READY))
    {
        PyTypeObject *type = (PyTypeObject *)op;
        if (lookup_runs_no_python_code(type)) {
            /* A method cache lookup assigns the version tag (to the bases
               too). */
            (void)_PyType_Lookup(type, &_Py_ID(__init__));
        }
        if (type->tp_flags & Py_TPFLAGS_HEAPTYPE) {
            PyDictKeysObject *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
            if (keys != NULL) {
                (void)_PyDictKeys_GetVersionForCurrentState(keys);
                if (!_PyImmortal_DictKeysAreImmortal(keys->dk_refcnt)) {
#ifdef Py_REF_DEBUG
                    _Py_RefTotal -= keys->dk_refcnt;
#endif
                    keys->dk_refcnt = _Py_IMMORTAL_REFCNT;
                }
            }
        }
    }
}
