/* Immortal objects: the runtime's side.

   Include/immortal.h defines the representation (which refcounts are
   immortal) and the test the refcount paths use; this file holds what is
   not inlined: giving statically allocated objects the immortal count
   (when readied, or when code unaware of immortality drove them down), and
   the sys and C API entry points. */

#include "Python.h"
#include "pycore_immortal.h"

int
PyUnstable_IsImmortal(PyObject *op)
{
    return _Py_IsImmortal(op);
}

void
_Py_SetImmortalStatic(PyObject *op)
{
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
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
