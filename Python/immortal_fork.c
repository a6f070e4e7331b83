/* A process forked after sys.immortalize_heap(): what its child does first.

   PyOS_AfterFork_Child() calls _PyImmortal_AfterForkChild() before
   anything else runs in the child (patch 0012). The child seals the
   pymalloc arenas it inherited (Objects/obmalloc_seal.h), so that it
   neither allocates from nor links frees into the pages it shares with
   its parent, empties the free lists that would hand out blocks of those
   arenas, and arms the write detector if the environment asks for it
   (Python/immortal_detect.c). The parent never seals: it keeps reusing its
   memory as stock does. */

#include "Python.h"
#include "pycore_gc.h"            // _PyTuple_ClearFreeList(), ...
#include "pycore_immortal_heap.h"
#include "pycore_sliceobject.h"   // _PySlice_Fini()


/* The free lists of tuples, lists, dicts, floats, ... hand out memory
   without pymalloc: one that holds a block of a sealed arena would make
   the next allocation write to a shared page. Empty them, and the slice
   cache (one slice object, rewritten by every slicing). */
static void
clear_free_lists(PyInterpreterState *interp)
{
    _PyTuple_ClearFreeList(interp);
    _PyFloat_ClearFreeList(interp);
    _PyList_ClearFreeList(interp);
    _PyDict_ClearFreeList(interp);
    _PyAsyncGen_ClearFreeLists(interp);
    _PyContext_ClearFreeList(interp);
    _PySlice_Fini(interp);
}


void
_PyImmortal_AfterForkChild(PyInterpreterState *interp)
{
    if (!_PyImmortal_HeapIsImmortalized()) {
        return;
    }
    /* Seal what the parent left, before anything is freed into it: the
       child allocates elsewhere and forgets what it frees there. Without
       memory for the table it runs unsealed: correct, only less shared. */
    (void)_PyObject_SealArenas();
    /* And its raw memory comes from mappings of its own
       (Python/immortal_alloc.c). */
    _PyImmortal_AllocAfterFork();
    /* The free lists hand out memory behind pymalloc's back, blocks of
       the sealed arenas: the child starts with empty ones (what they held
       is forgotten, unwritten). */
    clear_free_lists(interp);
    _PyImmortal_DetectorAfterFork();
}
