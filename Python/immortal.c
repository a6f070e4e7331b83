/* Immortal objects: the runtime's side.

   Include/immortal.h defines the representation (which refcounts are
   immortal) and the test the refcount paths use; this file holds what is
   not inlined: marking objects immortal, restoring statically allocated
   objects that code unaware of immortality drove down, and the sys and C
   API entry points. */

#include "Python.h"
#include "pycore_immortal.h"
#include "pycore_object.h"        // _Py_FatalRefcountError

int
PyUnstable_IsImmortal(PyObject *op)
{
    return _Py_IsImmortal(op);
}

void
_Py_SetImmortal(PyObject *op)
{
    if (_Py_IsImmortal(op)) {
        return;
    }
#ifdef Py_REF_DEBUG
    // Every reference to a heap object was counted; none will be released.
    _Py_RefTotal -= Py_REFCNT(op);
#endif
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
}

void
_Py_SetImmortalStatic(PyObject *op)
{
    // A static object's initial refcount (1 from PyObject_HEAD_INIT of stock
    // headers, 0 when zero-initialized) was never counted in _Py_RefTotal;
    // it is made immortal before anything else references it.
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
}

void
_PyImmortal_Restore(PyObject *op)
{
    // Reached at refcount 0 only: 2**61 unbalanced decrements (2**29 on
    // 32-bit) by code compiled against stock headers. Freeing a static
    // object would corrupt memory; a fresh immortal count is always safe.
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
}

void
_PyImmortal_StaticDealloc(PyObject *op)
{
    _PyImmortal_Restore(op);
}


const char _PyImmortal_sys_is_immortal_doc[] =
"_is_immortal($module, op, /)\n"
"--\n"
"\n"
"Return True if the given object is immortal.\n"
"\n"
"An immortal object's reference count never changes and it is never\n"
"freed; sys.getrefcount() reports the same large value for all of them.";

PyObject *
_PyImmortal_sys_is_immortal(PyObject *Py_UNUSED(module), PyObject *op)
{
    return PyBool_FromLong(_Py_IsImmortal(op));
}
