/* Immortal objects: the runtime's side.

   Include/immortal.h defines the representation (which refcounts are
   immortal) and the test the refcount paths use; this file holds what is
   not inlined: giving statically allocated objects the immortal count
   (when readied, or when code unaware of immortality drove them down), and
   the sys and C API entry points. */

#include "Python.h"
#include "pycore_hashtable.h"     // _Py_hashtable_t
#include "pycore_immortal.h"

#include <stddef.h>               // offsetof()
#ifdef HAVE_DLFCN_H
#  include <dlfcn.h>              // dladdr()
#endif

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

/* Does p lie in the image of the executable or of a loaded shared object
   (its data or bss), rather than in memory allocated at run time? */
static int
in_loaded_image(const void *p)
{
#if defined(HAVE_DLFCN_H) && defined(__GLIBC__)
    Dl_info info;
    return dladdr(p, &info) != 0;
#else
    (void)p;
    return 0;
#endif
}

/* A static type readied with Py_TPFLAGS_HEAPTYPE set: Cython 3 sets the
   flag around PyType_Ready() when the type has a base chain (to get past
   a check on bases; cython/cython#3603) and clears it afterwards. A real
   heap type's slot tables lie inside its PyHeapTypeObject (type_new() and
   PyType_FromMetaclass() point tp_as_async there, so do pybind11 and the
   others that build heap types by hand), and it was allocated at run
   time; a static type is neither. The pointer test is the cheap one, made
   for every class statement; dladdr() decides. */
static int
is_static_type_flagged_heap(PyTypeObject *type)
{
    void *own_as_async = (char *)type + offsetof(PyHeapTypeObject, as_async);
    return ((void *)type->tp_as_async != own_as_async
            && in_loaded_image(type));
}

void
_PyImmortal_TypeReady(PyTypeObject *type)
{
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)
        || is_static_type_flagged_heap(type))
    {
        _Py_SetImmortalStatic((PyObject *)type);
    }
}


int
_PyImmortal_TupleResize(PyObject **pv, Py_ssize_t newsize)
{
    PyObject *v = *pv;
    PyObject *t = PyTuple_New(newsize);
    if (t == NULL) {
        *pv = NULL;
        return -1;
    }
    Py_ssize_t n = Py_MIN(Py_SIZE(v), newsize);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(v, i);
        Py_XINCREF(item);
        PyTuple_SET_ITEM(t, i, item);
    }
    *pv = t;
    return 0;
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


/* PyUnicode_AsUTF8AndSize() caches a non-ASCII string's UTF-8 form in the
   string the first time C code asks for it (sqlite3 parameters, "s"
   arguments): a write to shared memory when the string is the master's.
   For an immortal string the form lives in this table instead, keyed by
   the string. An immortal string is never freed, so an entry never goes
   stale, and the pointer returned lives as long as the string, as the API
   promises. The table and the forms are the process's own memory (a
   worker's, if it asked): what the cached form would have cost. They are
   not freed at exit, like the immortal strings they belong to. The GIL
   guards the table. */
static _Py_hashtable_t *utf8_of_immortal = NULL;

typedef struct {
    Py_ssize_t size;
    char data[1];
} utf8_form;

const char *
_PyImmortal_AsUTF8AndSize(PyObject *unicode, Py_ssize_t *psize)
{
    if (utf8_of_immortal == NULL) {
        /* Raw memory: not in pymalloc's arenas, which a later call would
           have the workers share. */
        _Py_hashtable_allocator_t alloc = {PyMem_RawMalloc, PyMem_RawFree};
        utf8_of_immortal = _Py_hashtable_new_full(
            _Py_hashtable_hash_ptr, _Py_hashtable_compare_direct,
            NULL, NULL, &alloc);
        if (utf8_of_immortal == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    utf8_form *form = _Py_hashtable_get(utf8_of_immortal, unicode);
    if (form == NULL) {
        PyObject *bytes = PyUnicode_AsUTF8String(unicode);
        if (bytes == NULL) {
            return NULL;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(bytes);
        form = PyMem_RawMalloc(offsetof(utf8_form, data) + size + 1);
        if (form == NULL) {
            Py_DECREF(bytes);
            PyErr_NoMemory();
            return NULL;
        }
        form->size = size;
        memcpy(form->data, PyBytes_AS_STRING(bytes), size + 1);
        Py_DECREF(bytes);
        if (_Py_hashtable_set(utf8_of_immortal, unicode, form) < 0) {
            PyMem_RawFree(form);
            PyErr_NoMemory();
            return NULL;
        }
    }
    if (psize != NULL) {
        *psize = form->size;
    }
    return form->data;
}
