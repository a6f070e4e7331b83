/* Static types readied the way Cython 3 readies them.

   Lib/test/test_immortal_cython3types.py compiles this against the headers
   of stock CPython 3.11.2 (the stock twin's), as PyPI's wheels are built.
   Cython 3's __Pyx_PyType_Ready() sets Py_TPFLAGS_HEAPTYPE on a *static*
   type for the duration of PyType_Ready() when the type has a base chain,
   with the collector disabled, and clears it afterwards
   (cython/cython#3603). Such types used to stay mortal on the fork, and
   sys.immortalize_heap() then called type_traverse() on them, which
   aborts the process on a non-heap type.

   The module has:
   - Base (a collector type with a reference to any object), Derived(Base)
     and Leaf(Derived): a base chain, each readied the Cython way, each
     with a class attribute set in its tp_dict after readying, as Cython
     does for class-level constants;
   - OnHeapBase: a static type whose tp_base is a heap type (made with
     PyType_FromSpec), readied the same way: it hangs under a heap type in
     the subclass lists;
   - Plain: a type without Py_TPFLAGS_HAVE_GC whose tp_traverse aborts the
     process: the collector never calls it, nor may the walk;
   - set_refcnt(obj, n): a stored count, as code built for stock 3.11 may
     store (Py_SET_REFCNT() there is a plain store): makes a type mortal
     again, whatever PyType_Ready() did;
   - raw_refcnt(obj), and instances of each type in module attributes. */

#define PY_SSIZE_T_CLEAN
#include "Python.h"
#include "structmember.h"

#ifdef _Py_IMMORTAL_REFCNT
#  error "immortal_cython3types.c must be compiled against stock 3.11 headers"
#endif

typedef struct {
    PyObject_HEAD
    PyObject *payload;
} BaseObject;

static int
base_traverse(BaseObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->payload);
    return 0;
}

static int
base_clear(BaseObject *self)
{
    Py_CLEAR(self->payload);
    return 0;
}

static void
base_dealloc(BaseObject *self)
{
    PyObject_GC_UnTrack(self);
    base_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
base_init(BaseObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *payload = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &payload)) {
        return -1;
    }
    Py_INCREF(payload);
    Py_XSETREF(self->payload, payload);
    return 0;
}

static PyMemberDef base_members[] = {
    {"payload", T_OBJECT, offsetof(BaseObject, payload), 0, NULL},
    {NULL}
};

static PyObject *
base_kind(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(Py_TYPE(self)->tp_name);
}

static PyMethodDef base_methods[] = {
    {"kind", base_kind, METH_NOARGS, NULL},
    {NULL}
};

#define COLLECTOR_TYPE(cname, name) \
    static PyTypeObject cname = { \
        PyVarObject_HEAD_INIT(NULL, 0) \
        .tp_name = "immortal_cython3types." name, \
        .tp_basicsize = sizeof(BaseObject), \
        .tp_dealloc = (destructor)base_dealloc, \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE \
                    | Py_TPFLAGS_HAVE_GC, \
        .tp_traverse = (traverseproc)base_traverse, \
        .tp_clear = (inquiry)base_clear, \
        .tp_methods = base_methods, \
        .tp_members = base_members, \
        .tp_init = (initproc)base_init, \
        .tp_new = PyType_GenericNew, \
    }

COLLECTOR_TYPE(Base_Type, "Base");
COLLECTOR_TYPE(Derived_Type, "Derived");
COLLECTOR_TYPE(Leaf_Type, "Leaf");
COLLECTOR_TYPE(OnHeapBase_Type, "OnHeapBase");

/* A type the collector knows nothing of, with a tp_traverse anyway. */
static int
plain_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_FatalError("Plain's tp_traverse was called: it is no collector "
                  "object");
    return 0;
}

static PyTypeObject Plain_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "immortal_cython3types.Plain",
    .tp_basicsize = sizeof(BaseObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_traverse = plain_traverse,
    .tp_members = base_members,
    .tp_new = PyType_GenericNew,
};

/* Cython 3's __Pyx_PyType_Ready(), in essence. */
static int
cython_type_ready(PyTypeObject *t)
{
    int gc_was_enabled = PyGC_Disable();
    t->tp_flags |= Py_TPFLAGS_HEAPTYPE;
    int r = PyType_Ready(t);
    t->tp_flags &= ~Py_TPFLAGS_HEAPTYPE;
    if (gc_was_enabled) {
        PyGC_Enable();
    }
    return r;
}

static PyObject *
raw_refcnt(PyObject *self, PyObject *obj)
{
    return PyLong_FromSsize_t(obj->ob_refcnt);
}

static PyObject *
set_refcnt(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &obj, &n)) {
        return NULL;
    }
    Py_SET_REFCNT(obj, n);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"raw_refcnt", raw_refcnt, METH_O, NULL},
    {"set_refcnt", set_refcnt, METH_VARARGS, NULL},
    {NULL}
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "immortal_cython3types", NULL, -1, module_methods,
};

static PyType_Slot heap_base_slots[] = {{0, NULL}};
static PyType_Spec heap_base_spec = {
    "immortal_cython3types.HeapBase", sizeof(BaseObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, heap_base_slots,
};

/* Ready t the Cython way, give its dict a class attribute (a mortal list
   and str, as Cython's class constants are), add it and an instance. */
static int
add_type(PyObject *m, PyTypeObject *t, const char *name)
{
    if (cython_type_ready(t) < 0) {
        return -1;
    }
    PyObject *table = Py_BuildValue("[ssi]", name, "class-constant", 12345);
    if (table == NULL) {
        return -1;
    }
    int r = PyDict_SetItemString(t->tp_dict, "table", table);
    Py_DECREF(table);
    if (r < 0) {
        return -1;
    }
    PyType_Modified(t);
    Py_INCREF(t);
    if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
        Py_DECREF(t);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit_immortal_cython3types(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    PyObject *heap_base = PyType_FromSpec(&heap_base_spec);
    if (heap_base == NULL || PyModule_AddObject(m, "HeapBase", heap_base)) {
        Py_XDECREF(heap_base);
        goto error;
    }
    Derived_Type.tp_base = &Base_Type;
    Leaf_Type.tp_base = &Derived_Type;
    OnHeapBase_Type.tp_base = (PyTypeObject *)heap_base;
    /* Plain is readied plainly: it has no base chain. */
    if (add_type(m, &Base_Type, "Base") < 0
        || add_type(m, &Derived_Type, "Derived") < 0
        || add_type(m, &Leaf_Type, "Leaf") < 0
        || add_type(m, &OnHeapBase_Type, "OnHeapBase") < 0
        || PyType_Ready(&Plain_Type) < 0)
    {
        goto error;
    }
    Py_INCREF(&Plain_Type);
    if (PyModule_AddObject(m, "Plain", (PyObject *)&Plain_Type) < 0) {
        Py_DECREF(&Plain_Type);
        goto error;
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
