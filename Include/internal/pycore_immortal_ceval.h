#ifndef Py_INTERNAL_IMMORTAL_CEVAL_H
#define Py_INTERNAL_IMMORTAL_CEVAL_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

/* What the eval loop does to win back the immortality test's cost.
   Included by Python/ceval.c. */

#include "pycore_floatobject.h"   // _PyFloat_ExactDealloc()
#include "pycore_object.h"        // _Py_DECREF_SPECIALIZED()

/* The result of a specialized float operation (BINARY_OP_ADD_FLOAT, ...)
   on two exact floats, written into an operand that only the value stack
   holds, instead of a new float that the operand's deallocation then
   frees: one allocation, one deallocation and two refcount tests fewer on
   the hottest float paths (3.14's _PyFloat_FromDouble_ConsumeInputs()).
   Consumes both references. An immortal operand is never written: its
   count is never 1. Returns NULL with an exception set if out of
   memory. */
static inline PyObject *
_PyImmortal_FloatResult(PyObject *left, PyObject *right, double value)
{
    if (Py_REFCNT(left) == 1) {
        ((PyFloatObject *)left)->ob_fval = value;
        _Py_DECREF_SPECIALIZED(right, _PyFloat_ExactDealloc);
        return left;
    }
    if (Py_REFCNT(right) == 1) {
        ((PyFloatObject *)right)->ob_fval = value;
        _Py_DECREF_SPECIALIZED(left, _PyFloat_ExactDealloc);
        return right;
    }
    PyObject *res = PyFloat_FromDouble(value);
    _Py_DECREF_SPECIALIZED(right, _PyFloat_ExactDealloc);
    _Py_DECREF_SPECIALIZED(left, _PyFloat_ExactDealloc);
    return res;
}

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_IMMORTAL_CEVAL_H */
