/* A C extension that knows nothing of immortal objects.

   Lib/test/test_immortal_oldabi.py compiles it against the headers of
   stock CPython 3.11.2 (the stock twin's), where Py_INCREF() is a plain
   ob_refcnt++ and Py_DECREF() a plain ob_refcnt-- (calling _Py_Dealloc() at
   zero), and loads it into Immortal CPython: the way binary wheels built
   for 3.11 meet the fork. */

#define PY_SSIZE_T_CLEAN
#include "Python.h"

#ifdef _Py_IMMORTAL_REFCNT
#  error "immortal_oldabi.c must be compiled against stock 3.11 headers"
#endif

/* Keep the compiler from merging the loop into one addition: every
   iteration is a separate read-modify-write of ob_refcnt. */
#define BARRIER() __asm__ __volatile__("" ::: "memory")

/* Py_INCREF() (incref) or Py_DECREF() each object of a tuple, n times. */
static PyObject *
repeat_refcount_op(PyObject *args, int incref)
{
    PyObject *objs;
    unsigned long long n;
    if (!PyArg_ParseTuple(args, "O!K", &PyTuple_Type, &objs, &n)) {
        return NULL;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(objs);
    PyObject **items = &PyTuple_GET_ITEM(objs, 0);
    /* The objects' refcounts are independent chains: interleaving them
       lets the CPU overlap their read-modify-writes. */
    for (unsigned long long i = 0; i < n; i++) {
        for (Py_ssize_t j = 0; j < k; j++) {
            if (incref) {
                Py_INCREF(items[j]);
            }
            else {
                Py_DECREF(items[j]);
            }
        }
        BARRIER();
    }
    Py_RETURN_NONE;
}

static PyObject *
incref_n(PyObject *self, PyObject *args)
{
    return repeat_refcount_op(args, 1);
}

static PyObject *
decref_n(PyObject *self, PyObject *args)
{
    return repeat_refcount_op(args, 0);
}

/* Drive op's refcount to zero the way buggy old code would: this calls
   _Py_Dealloc() on it. */
static PyObject *
drive_to_zero(PyObject *self, PyObject *op)
{
    op->ob_refcnt = 1;
    Py_DECREF(op);
    Py_RETURN_NONE;
}

static PyObject *
raw_refcnt(PyObject *self, PyObject *op)
{
    return PyLong_FromSsize_t(op->ob_refcnt);
}

/* A static type, created with refcount 1 by stock's PyObject_HEAD_INIT. */
static PyTypeObject OldStatic_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "immortal_oldabi.OldStatic",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef methods[] = {
    {"incref_n", incref_n, METH_VARARGS,
     "Py_INCREF() each object of a tuple, n times."},
    {"decref_n", decref_n, METH_VARARGS,
     "Py_DECREF() each object of a tuple, n times."},
    {"drive_to_zero", drive_to_zero, METH_O,
     "Set op's refcount to 1, then Py_DECREF(op)."},
    {"raw_refcnt", raw_refcnt, METH_O, "op->ob_refcnt, as stored."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "immortal_oldabi",
    .m_doc = "An extension built against stock 3.11 headers.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit_immortal_oldabi(void)
{
    PyObject *m;
    Py_ssize_t before = OldStatic_Type.ob_base.ob_base.ob_refcnt;
    if (PyType_Ready(&OldStatic_Type) < 0) {
        return NULL;
    }
    m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&OldStatic_Type);
    if (PyModule_AddObject(m, "OldStatic", (PyObject *)&OldStatic_Type) < 0
        || PyModule_AddIntConstant(m, "static_type_refcnt_before_ready",
                                   (long)before) < 0)
    {
        Py_DECREF(&OldStatic_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
