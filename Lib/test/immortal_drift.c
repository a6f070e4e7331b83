/* Refcount drift: an immortal object handed between the core and code
   built against stock 3.11 headers.

   Lib/test/test_immortal_bounds.py compiles it against the running
   interpreter's own headers, so that it builds for any word size (the
   -m32 build included). The stock side is spelled out: STOCK_INCREF() and
   STOCK_DECREF() are the bodies of stock 3.11's Py_INCREF() and
   Py_DECREF(), a plain ob_refcnt++ and ob_refcnt-- with _Py_Dealloc() at
   zero. The core's side is libpython's Py_IncRef() and Py_DecRef(). */

#define PY_SSIZE_T_CLEAN
#include "Python.h"

/* Every iteration is a separate read-modify-write of ob_refcnt. */
#define BARRIER() __asm__ __volatile__("" ::: "memory")

#define STOCK_INCREF(op) ((op)->ob_refcnt++)
#define STOCK_DECREF(op) \
    do { \
        if (--(op)->ob_refcnt == 0) { \
            _Py_Dealloc(op); \
        } \
    } while (0)

/* handover(obj, n): n times, the extension takes a reference the core
   then drops (STOCK_INCREF, Py_DecRef), then n times the core hands out a
   reference the extension drops (Py_IncRef, STOCK_DECREF). Returns
   (immortal after the first half, smallest count seen, immortal at the
   end). */
static PyObject *
handover(PyObject *self, PyObject *args)
{
    PyObject *obj;
    unsigned long long n;
    if (!PyArg_ParseTuple(args, "OK", &obj, &n)) {
        return NULL;
    }
    Py_ssize_t low = Py_REFCNT(obj);
    for (unsigned long long i = 0; i < n; i++) {
        STOCK_INCREF(obj);
        BARRIER();
        Py_DecRef(obj);
        BARRIER();
        if (Py_REFCNT(obj) < low) {
            low = Py_REFCNT(obj);
        }
    }
    int half = _Py_IsImmortal(obj);
    for (unsigned long long i = 0; i < n; i++) {
        Py_IncRef(obj);
        BARRIER();
        STOCK_DECREF(obj);
        BARRIER();
        if (Py_REFCNT(obj) < low) {
            low = Py_REFCNT(obj);
        }
    }
    return Py_BuildValue("(inO)", half, low,
                         _Py_IsImmortal(obj) ? Py_True : Py_False);
}

/* stock_steps(obj, n): n unbalanced stock-ABI increments (n > 0) or
   decrements (n < 0), the core not touching obj in between; returns
   the raw count. */
static PyObject *
stock_steps(PyObject *self, PyObject *args)
{
    PyObject *obj;
    long long n;
    if (!PyArg_ParseTuple(args, "OL", &obj, &n)) {
        return NULL;
    }
    for (long long i = 0; i < n; i++) {
        STOCK_INCREF(obj);
        BARRIER();
    }
    for (long long i = 0; i > n; i--) {
        obj->ob_refcnt--;       /* never zero here: no dealloc to call */
        BARRIER();
    }
    return PyLong_FromSsize_t(obj->ob_refcnt);
}

/* raw_refcnt(obj): ob_refcnt as stored, unlike sys.getrefcount(). */
static PyObject *
raw_refcnt(PyObject *self, PyObject *obj)
{
    return PyLong_FromSsize_t(obj->ob_refcnt);
}

/* core_touch(obj): one Py_IncRef() and one Py_DecRef() by the core. */
static PyObject *
core_touch(PyObject *self, PyObject *obj)
{
    Py_IncRef(obj);
    Py_DecRef(obj);
    Py_RETURN_NONE;
}

/* immortal_at(count): what _Py_IsImmortal() answers for an object whose
   ob_refcnt is count (the header's own test on a stack object). */
static PyObject *
immortal_at(PyObject *self, PyObject *arg)
{
    PyObject probe;
    probe.ob_refcnt = PyLong_AsSsize_t(arg);
    if (probe.ob_refcnt == -1 && PyErr_Occurred()) {
        return NULL;
    }
    probe.ob_type = &PyBaseObject_Type;
    return PyBool_FromLong(_Py_IsImmortal(&probe));
}

static PyMethodDef methods[] = {
    {"handover", handover, METH_VARARGS, NULL},
    {"stock_steps", stock_steps, METH_VARARGS, NULL},
    {"raw_refcnt", raw_refcnt, METH_O, NULL},
    {"core_touch", core_touch, METH_O, NULL},
    {"immortal_at", immortal_at, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "immortal_drift", NULL, -1, methods
};

PyMODINIT_FUNC
PyInit_immortal_drift(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    PyObject *value = PyLong_FromSsize_t(_Py_IMMORTAL_REFCNT);
    if (value == NULL || PyModule_AddObjectRef(m, "IMMORTAL_REFCNT", value) < 0) {
        Py_XDECREF(value);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(value);
    return m;
}
