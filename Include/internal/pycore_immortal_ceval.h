#ifndef Py_INTERNAL_IMMORTAL_CEVAL_H
#define Py_INTERNAL_IMMORTAL_CEVAL_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

/* What the eval loop does to win back the immortality test's cost.
   Included by Python/ceval.c, where _Py_CODEUNIT, the opcodes and the
   frame's localsplus array are at hand.

   A specialized float or int operation (BINARY_OP_ADD_FLOAT, ...,
   BINARY_OP_ADD_INT, ...) writes its result into an operand that nothing
   but the operation can see, and FOR_ITER over a range writes the next
   value into the int its loop variable alone holds, instead of allocating
   a new object that the old one's deallocation then frees: one allocation,
   one deallocation and two refcount tests fewer on the hottest arithmetic
   and loop paths (3.14's _PyFloat_FromDouble_ConsumeInputs(), 3.12's
   FOR_ITER_RANGE and _PyLong_AssignValue()). An immortal object is never
   written: its count is never 1 or 2. A LOAD_FAST fused with the attribute
   access on its local borrows the owner (below). */

#include "pycore_code.h"          // _PyAttrCache, read_u32()
#include "pycore_dict.h"          // _PyDictValues_AddToInsertionOrder()
#include "pycore_floatobject.h"   // _PyFloat_ExactDealloc()
#include "pycore_global_objects.h" // _PY_NSMALLPOSINTS
#include "pycore_long.h"          // _PyLong_Add()
#include "pycore_object.h"        // _Py_DECREF_SPECIALIZED()
#include "pycore_range.h"         // _PyRangeIterObject
#include "opcode.h"               // STORE_FAST, NB_ADD

static inline int
_PyImmortal_IsStoreFast(_Py_CODEUNIT instr)
{
    int opcode = _Py_OPCODE(instr);
    // The superinstructions start with the STORE_FAST; the code unit
    // after them is the instruction they fuse, unchanged.
    return (opcode == STORE_FAST || opcode == STORE_FAST__LOAD_FAST
            || opcode == STORE_FAST__STORE_FAST);
}

/* The operand of a float or int operation (exact floats, or exact ints)
   that only the value stack holds, or NULL. */
static inline PyObject *
_PyImmortal_UniqueOperand(PyObject *left, PyObject *right)
{
    if (Py_REFCNT(left) == 1) {
        return left;
    }
    if (Py_REFCNT(right) == 1) {
        return right;
    }
    return NULL;
}

/* 1 if the stack and the local that the next instruction stores the
   result into are all that hold the left operand (i += 1, total = total +
   n): afterwards the local holds it alone. Ints only: an operand that a
   list or an attribute holds has the same count, and float code is full of
   those (nbody: 20 M instructions of failed tests, no success), int code
   of counters. */
static inline int
_PyImmortal_StoresBack(PyObject *left, _Py_CODEUNIT next,
                       PyObject **localsplus)
{
    return (Py_REFCNT(left) == 2 && _PyImmortal_IsStoreFast(next)
            && localsplus[_Py_OPARG(next)] == left);
}

/* The result of a float operation on two exact floats. Consumes both
   references. Returns NULL with an exception set if out of memory. */
static inline PyObject *
_PyImmortal_FloatResult(PyObject *left, PyObject *right, double value)
{
    PyObject *res = _PyImmortal_UniqueOperand(left, right);
    if (res != NULL) {
        ((PyFloatObject *)res)->ob_fval = value;
        _Py_DECREF_SPECIALIZED(res == left ? right : left,
                               _PyFloat_ExactDealloc);
        return res;
    }
    res = PyFloat_FromDouble(value);
    _Py_DECREF_SPECIALIZED(right, _PyFloat_ExactDealloc);
    _Py_DECREF_SPECIALIZED(left, _PyFloat_ExactDealloc);
    return res;
}

/* An int of one digit or zero, the "medium" values of longobject.c. */
static inline int
_PyImmortal_IsMediumInt(PyObject *op)
{
    return (size_t)Py_SIZE(op) + 1U < 3U;
}

static inline stwodigits
_PyImmortal_MediumValue(PyObject *op)
{
    return Py_SIZE(op) * (stwodigits)((PyLongObject *)op)->ob_digit[0];
}

static inline int
_PyImmortal_IsSmallInt(stwodigits value)
{
    return -_PY_NSMALLNEGINTS <= value && value < _PY_NSMALLPOSINTS;
}

/* The cached small int: immortal, so used without a reference. */
static inline PyObject *
_PyImmortal_SmallInt(stwodigits value)
{
    assert(_PyImmortal_IsSmallInt(value));
    return (PyObject *)&_PyLong_SMALL_INTS[_PY_NSMALLNEGINTS + value];
}

/* A one-digit value, written into an int object nothing else holds (never
   a small int: those are the shared cached objects). Every int has room
   for one digit, zero included (_PyLong_New()). */
static inline int
_PyImmortal_IsOneDigit(stwodigits value)
{
    return (-(stwodigits)PyLong_MASK <= value
            && value <= (stwodigits)PyLong_MASK);
}

static inline void
_PyImmortal_SetInt(PyObject *op, stwodigits value)
{
    assert(!_PyImmortal_IsSmallInt(value) && _PyImmortal_IsOneDigit(value));
    ((PyLongObject *)op)->ob_digit[0] = (digit)(value < 0 ? -value : value);
    Py_SET_SIZE(op, value < 0 ? -1 : 1);
}

/* left + right, left - right or left * right (NB_ADD, NB_SUBTRACT,
   NB_MULTIPLY, a constant: the conditions fold) of two exact ints.
   Consumes both references. Returns NULL with an exception set on error.
   A small result is the cached object, returned without a reference
   (immortal); the rest of the medium case is longobject.c's, without a
   call. */
static inline PyObject *
_PyImmortal_IntResult(int operation, PyObject *left, PyObject *right,
                      _Py_CODEUNIT next, PyObject **localsplus)
{
    PyObject *res;
    if (_PyImmortal_IsMediumInt(left) && _PyImmortal_IsMediumInt(right)) {
        stwodigits a = _PyImmortal_MediumValue(left);
        stwodigits b = _PyImmortal_MediumValue(right);
        stwodigits value = (operation == NB_ADD ? a + b
                            : operation == NB_SUBTRACT ? a - b : a * b);
        if (_PyImmortal_IsSmallInt(value)) {
            res = _PyImmortal_SmallInt(value);
        }
        else {
            res = NULL;
            if (_PyImmortal_IsOneDigit(value)) {
                res = _PyImmortal_UniqueOperand(left, right);
                if (res == NULL
                    && _PyImmortal_StoresBack(left, next, localsplus)) {
                    res = left;
                }
            }
            if (res != NULL) {
                _PyImmortal_SetInt(res, value);
                _Py_DECREF_SPECIALIZED(res == left ? right : left,
                                       (destructor)PyObject_Free);
                return res;
            }
            res = PyLong_FromLongLong(value);
        }
    }
    else {
        PyLongObject *a = (PyLongObject *)left, *b = (PyLongObject *)right;
        res = (operation == NB_ADD ? _PyLong_Add(a, b)
               : operation == NB_SUBTRACT ? _PyLong_Subtract(a, b)
               : _PyLong_Multiply(a, b));
    }
    _Py_DECREF_SPECIALIZED(right, (destructor)PyObject_Free);
    _Py_DECREF_SPECIALIZED(left, (destructor)PyObject_Free);
    return res;
}

/* FOR_ITER on a range iterator whose next instruction is a STORE_FAST:
   the next value goes straight into the local, and the caller skips the
   STORE_FAST. Returns 1 if the value was stored, 0 if the caller must take
   its usual path (the range is exhausted, or the next instruction is not
   a STORE_FAST), -1 with an exception set if out of memory. */
static inline int
_PyImmortal_RangeNextIntoLocal(PyObject *iter, _Py_CODEUNIT next,
                               PyObject **localsplus)
{
    _PyRangeIterObject *r = (_PyRangeIterObject *)iter;
    if (r->index >= r->len || !_PyImmortal_IsStoreFast(next)) {
        return 0;
    }
    // As rangeiter_next(): unsigned to avoid signed overflow.
    long value = (long)(r->start + (unsigned long)(r->index++) * r->step);
    PyObject **target = &localsplus[_Py_OPARG(next)];
    PyObject *old = *target;
    PyObject *v;
    if (_PyImmortal_IsSmallInt(value)) {
        v = _PyImmortal_SmallInt(value);
    }
    else if (old != NULL && PyLong_CheckExact(old) && Py_REFCNT(old) == 1
             && _PyImmortal_IsOneDigit(value)) {
        _PyImmortal_SetInt(old, value);
        return 1;
    }
    else {
        v = PyLong_FromLong(value);
        if (v == NULL) {
            return -1;
        }
    }
    *target = v;
    Py_XDECREF(old);
    return 1;
}

/* LOAD_FAST fused with the specialized LOAD_ATTR or STORE_ATTR that uses
   the local as its owner (LOAD_FAST__LOAD_ATTR, LOAD_FAST__STORE_ATTR, set
   by _PyCode_Quicken()). The local holds the owner for the whole access,
   so the owner is borrowed instead of pushed: no reference taken and
   dropped, no second dispatch (3.14's LOAD_FAST_BORROW does the same with
   a borrowed stack entry). These are the eval loop's most frequent
   refcount pairs in object-oriented code (self.x, self.x = v), where the
   immortality test costs most. The code unit at instr is the instruction
   fused; whatever it has become since quickening (deoptimized,
   re-specialized) is tested on each run, and anything but the cases below
   makes the caller run the plain LOAD_FAST and then that instruction, which
   counts its own miss. Only dicts of str keys (those of instances, as a
   rule) take the hinted paths here; others run unfused. */

/* The entry of the attribute name that the specialized *_ATTR_WITH_HINT
   instruction's hint points to in owner's dict, or NULL. */
static inline PyDictUnicodeEntry *
_PyImmortal_HintedEntry(PyObject *owner, PyObject *name,
                        _PyAttrCache *cache, PyDictObject **dictp)
{
    PyDictObject *dict = *(PyDictObject **)_PyObject_ManagedDictPointer(owner);
    if (dict == NULL || !DK_IS_UNICODE(dict->ma_keys)
        || cache->index >= (size_t)dict->ma_keys->dk_nentries) {
        return NULL;
    }
    PyDictUnicodeEntry *ep = DK_UNICODE_ENTRIES(dict->ma_keys) + cache->index;
    if (ep->me_key != name) {
        return NULL;
    }
    *dictp = dict;
    return ep;
}

/* The attribute the specialized LOAD_ATTR at instr loads from owner, as a
   new reference, or NULL (nothing set) to run the instructions unfused.
   names is the code object's co_names. */
static inline PyObject *
_PyImmortal_LoadAttrBorrowed(PyObject *owner, const _Py_CODEUNIT *instr,
                             PyObject *names)
{
    int opcode = _Py_OPCODE(*instr);
    _PyAttrCache *cache = (_PyAttrCache *)(instr + 1);
    PyObject *res;
    if (opcode == LOAD_ATTR_INSTANCE_VALUE) {
        if (Py_TYPE(owner)->tp_version_tag != read_u32(cache->version)) {
            return NULL;
        }
        PyDictValues *values = *_PyObject_ValuesPointer(owner);
        if (values == NULL) {
            return NULL;
        }
        res = values->values[cache->index];
    }
    else if (opcode == LOAD_ATTR_WITH_HINT) {
        if (Py_TYPE(owner)->tp_version_tag != read_u32(cache->version)) {
            return NULL;
        }
        PyDictObject *dict;
        PyDictUnicodeEntry *ep = _PyImmortal_HintedEntry(
            owner, PyTuple_GET_ITEM(names, _Py_OPARG(*instr)), cache, &dict);
        if (ep == NULL) {
            return NULL;
        }
        res = ep->me_value;
    }
    else if (opcode == LOAD_ATTR_SLOT) {
        if (Py_TYPE(owner)->tp_version_tag != read_u32(cache->version)) {
            return NULL;
        }
        res = *(PyObject **)((char *)owner + cache->index);
    }
    else {
        return NULL;
    }
    if (res != NULL) {
        Py_INCREF(res);
    }
    return res;
}

/* Stores value into the attribute of owner that the specialized
   STORE_ATTR at instr stores into and returns 1: the attribute takes the
   caller's reference to value. Returns 0, having done nothing, to run the
   instructions unfused. The old value is dropped last: its finalizer may
   run any code, and owner is not read after it. */
static inline int
_PyImmortal_StoreAttrBorrowed(PyObject *owner, PyObject *value,
                              const _Py_CODEUNIT *instr, PyObject *names)
{
    int opcode = _Py_OPCODE(*instr);
    _PyAttrCache *cache = (_PyAttrCache *)(instr + 1);
    if (opcode == STORE_ATTR_INSTANCE_VALUE) {
        if (Py_TYPE(owner)->tp_version_tag != read_u32(cache->version)) {
            return 0;
        }
        PyDictValues *values = *_PyObject_ValuesPointer(owner);
        if (values == NULL) {
            return 0;
        }
        Py_ssize_t index = cache->index;
        PyObject *old_value = values->values[index];
        values->values[index] = value;
        if (old_value == NULL) {
            _PyDictValues_AddToInsertionOrder(values, index);
        }
        else {
            Py_DECREF(old_value);
        }
        return 1;
    }
    if (opcode == STORE_ATTR_WITH_HINT) {
        if (Py_TYPE(owner)->tp_version_tag != read_u32(cache->version)) {
            return 0;
        }
        PyDictObject *dict;
        PyDictUnicodeEntry *ep = _PyImmortal_HintedEntry(
            owner, PyTuple_GET_ITEM(names, _Py_OPARG(*instr)), cache, &dict);
        if (ep == NULL || ep->me_value == NULL) {
            return 0;
        }
        PyObject *old_value = ep->me_value;
        ep->me_value = value;
        if (!_PyObject_GC_IS_TRACKED(dict)
            && _PyObject_GC_MAY_BE_TRACKED(value)) {
            _PyObject_GC_TRACK(dict);
        }
        dict->ma_version_tag = DICT_NEXT_VERSION();  // PEP 509
        Py_DECREF(old_value);
        return 1;
    }
    if (opcode == STORE_ATTR_SLOT) {
        if (Py_TYPE(owner)->tp_version_tag != read_u32(cache->version)) {
            return 0;
        }
        PyObject **addr = (PyObject **)((char *)owner + cache->index);
        PyObject *old_value = *addr;
        *addr = value;
        Py_XDECREF(old_value);
        return 1;
    }
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_IMMORTAL_CEVAL_H */
