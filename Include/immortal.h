/* Immortal objects: how a reference count marks an object immortal.

   Included by object.h, before Py_INCREF(). The design and its reasons are
   in Doc/immortal/design.md of the Immortal CPython repository.

   An object is immortal when bit 6 of the most significant byte of its
   ob_refcnt is set: bit 62 on 64-bit builds, bit 30 on 32-bit builds.
   Immortal objects are created with _Py_IMMORTAL_REFCNT (bits 62 and 61 set
   on 64-bit), halfway into the immortal range, so code compiled against stock
   3.11 headers, whose Py_INCREF()/Py_DECREF() are a plain ob_refcnt++/--,
   can move it by 2**61 - 1 up and 2**61 down (2**29 - 1 and 2**29 on
   32-bit, where the core re-centres it: _Py_IMMORTAL_RECENTER) before it
   could look mortal. Mortal objects have 2**62 (2**30) counts below the
   immortal range.

   Testing one byte against a constant is a single instruction with a memory
   operand on x86-64 and arm64, and keeps the refcount a positive number, so
   old code that reads Py_REFCNT(op) > 1 as "shared" keeps doing so.
   Reading the byte through an unsigned char pointer is allowed to alias the
   Py_ssize_t field (C11 6.5p7), unlike other type punning.
*/

#ifndef Py_IMMORTAL_H
#define Py_IMMORTAL_H
#ifdef __cplusplus
extern "C" {
#endif

/* Initial refcount of an immortal object (and the value a reset restores). */
#define _Py_IMMORTAL_REFCNT ((Py_ssize_t)3 << (8 * SIZEOF_SIZE_T - 3))

/* The bit that marks immortality, within the most significant byte. */
#define _Py_IMMORTAL_BIT_IN_TOP_BYTE 0x40

#if PY_BIG_ENDIAN
#  define _Py_REFCNT_TOP_BYTE(op) \
    (((const unsigned char *)&(op)->ob_refcnt)[0])
#else
#  define _Py_REFCNT_TOP_BYTE(op) \
    (((const unsigned char *)&(op)->ob_refcnt)[sizeof(Py_ssize_t) - 1])
#endif

/* Run where the core finds an object immortal (Py_INCREF, Py_DECREF). On
   32-bit builds the band leaves 2**29 unbalanced steps of code built
   against stock headers (a plain ob_refcnt++ or --); putting the count back
   to _Py_IMMORTAL_REFCNT here makes that the limit between two touches by
   the core, not over the life of the process. It stores only where such
   code has moved the count: in this process, so the page is written
   already, or in the master before the fork, and then the worker's first
   touch copies that one page. On 64-bit builds (2**61 steps) it is
   nothing: no load, no store. */
static inline void _Py_ImmortalRecenter(PyObject *op)
{
#if SIZEOF_SIZE_T < 8
    if (op->ob_refcnt != _Py_IMMORTAL_REFCNT) {
        op->ob_refcnt = _Py_IMMORTAL_REFCNT;
    }
#else
    (void)op;
#endif
}
#define _Py_IMMORTAL_RECENTER(op) _Py_ImmortalRecenter(op)

static inline int _Py_IsImmortal(PyObject *op)
{
    return (_Py_REFCNT_TOP_BYTE(op) & _Py_IMMORTAL_BIT_IN_TOP_BYTE) != 0;
}
#define _Py_IsImmortal(op) _Py_IsImmortal(_PyObject_CAST(op))

#ifndef Py_LIMITED_API
/* Return 1 if op is immortal, else 0 (3.14's name, for forward
   compatibility). Never fails. */
PyAPI_FUNC(int) PyUnstable_IsImmortal(PyObject *op);
#endif

#ifdef __cplusplus
}
#endif
#endif /* !Py_IMMORTAL_H */
