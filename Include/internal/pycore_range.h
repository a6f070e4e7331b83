#ifndef Py_INTERNAL_RANGE_H
#define Py_INTERNAL_RANGE_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

/* A range iterator over C longs (Objects/rangeobject.c), here so that the
   eval loop's FOR_ITER can read it (pycore_immortal_ceval.h); 3.12 has the
   header for the same reason. */
typedef struct {
    PyObject_HEAD
    long index;
    long start;
    long step;
    long len;
} _PyRangeIterObject;

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_RANGE_H */
