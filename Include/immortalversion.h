#ifndef Py_IMMORTALVERSION_H
#define Py_IMMORTALVERSION_H

/* Immortal CPython: a patched CPython 3.11 whose objects can be made
   immortal, so pre-fork servers share their warm heap. This header says which
   release of the fork this is; PY_VERSION (patchlevel.h) stays the upstream
   version it is built on, so version checks and ABI tags are unchanged.

   C code can test for the fork with
       #if defined(__has_include) && __has_include("immortalversion.h")
   and Python code with hasattr(sys.implementation, "_immortal_version"). */

#define PY_IMMORTAL_MAJOR_VERSION 0
#define PY_IMMORTAL_MINOR_VERSION 1
#define PY_IMMORTAL_MICRO_VERSION 0

#define PY_IMMORTAL_VERSION "0.1.0"
#define PY_IMMORTAL_VERSION_HEX ((PY_IMMORTAL_MAJOR_VERSION << 16) | \
                                 (PY_IMMORTAL_MINOR_VERSION << 8) | \
                                 PY_IMMORTAL_MICRO_VERSION)

/* The name sys.version ends with, in brackets after the compiler:
   "3.11.2 (main, ...) [GCC 12.2.0] [Immortal CPython 0.1.0]". */
#define PY_IMMORTAL_NAME "Immortal CPython " PY_IMMORTAL_VERSION

#endif /* !Py_IMMORTALVERSION_H */
