"""An auditor of sys.immortalize_heap(): is every object it should cover
immortal?

    import immortal_audit, sys
    sys.immortalize_heap()
    for finding in immortal_audit.audit():
        print(finding)

It shares no code with the walk (Python/immortalize.c). It starts from
every immortal object the collector tracks (gc.get_objects()), every
module and every type (object.__subclasses__(), recursively), and follows
references its own way: a dict's keys and values, the items of lists,
tuples, sets and frozensets, a type's namespace, MRO and bases (and a
heap type's names), a module's dict, a code object's constants and names,
a cell's contents, the references the collector's traversal leaves out
that the walk covers too (descriptors' names, a range's bounds, a datetime's
tzinfo, a timezone's offset: Doc/immortal/traverse-audit.md), and for
anything else what gc.get_referents() reports. Each mortal object that an
immortal object references is a finding, unless the rule of what stays
mortal keeps it so (sys._immortal_stays_mortal(): finalizers, OS resources,
capsule destructors, running frames' frame objects, tuples under
construction). Objects created after the call, and what only mortal objects
hold, are not followed: run it right after the call.

Reading objects runs no code of theirs and writes nothing the audit
follows: it asks type(o), never o.__class__ (a lazy object's __class__
evaluates it), reads no attribute computed on first access (a function's
__dict__, a code object's co_code), calls no repr(). Import this module
before the call: a module imported after it is mortal, and a finding.
"""

import gc
import sys
import types

__all__ = ["Finding", "audit"]


class Finding:
    """A mortal object referenced by an immortal one."""

    __slots__ = ("holder", "referent")

    def __init__(self, holder, referent):
        self.holder = holder
        self.referent = referent

    def __repr__(self):
        return (f"<Finding: {type(self.holder).__qualname__} at "
                f"{id(self.holder):#x} holds a mortal "
                f"{type(self.referent).__qualname__} at "
                f"{id(self.referent):#x}>")


_type_dict = type.__dict__["__dict__"].__get__   # the real dict, no proxy
_type_name = type.__dict__["__name__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_HEAPTYPE = 1 << 9

# References the collector's traversal does not report (see
# Doc/immortal/traverse-audit.md), read here through their Python
# accessors, which return the object held.
_DESCRIPTORS = (type(str.join), type(dict.__dict__["fromkeys"]),
                type(type.__dict__["__basicsize__"]),
                type(type.__dict__["__dict__"]), type(object.__init__))
_datetime = None     # the _datetime module, if the audited process loaded it


def _referents(o):
    t = type(o)       # not isinstance(): o.__class__ may run code
    if t is dict or issubclass(t, dict):
        out = []
        for k, v in dict.items(o):
            out.append(k)
            out.append(v)
        # A dict subclass's own attributes (OrderedDict, defaultdict's
        # default_factory, instance __dict__) come from the traversal.
        if t is not dict:
            out.extend(gc.get_referents(o))
        return out
    if t in (list, tuple, set, frozenset):
        return list(o)
    if issubclass(t, type):
        ns = _type_dict(o)
        out = [*ns.keys(), *ns.values(), *o.__mro__, *o.__bases__]
        if type.__dict__["__flags__"].__get__(o) & _HEAPTYPE:
            out += [_type_name(o), _type_qualname(o)]
        return out
    if t in _DESCRIPTORS:
        return [o.__objclass__, o.__name__]
    if t is range:
        return [o.start, o.stop, o.step]
    if _datetime is not None:
        # The C types' own accessors: a subclass's attributes may run code.
        for base in (_datetime.datetime, _datetime.time):
            if issubclass(t, base):
                tzinfo = base.tzinfo.__get__(o)
                out = gc.get_referents(o)
                return out + [tzinfo] if tzinfo is not None else out
        if t is _datetime.timezone:
            return [_datetime.timezone.utcoffset(o, None)]
    if t is types.ModuleType:
        return [o.__dict__]
    if t is types.CodeType:
        return [*o.co_consts, *o.co_names, *o.co_varnames, *o.co_freevars,
                *o.co_cellvars, o.co_filename, o.co_name, o.co_qualname,
                o.co_linetable, o.co_exceptiontable]
    if t is types.CellType:
        try:
            return [o.cell_contents]
        except ValueError:
            return []
    return gc.get_referents(o)


def _all_types():
    out, todo = [], [object]
    seen = set()
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(t)
        try:
            todo.extend(type.__subclasses__(t))
        except TypeError:
            pass
    return out


def audit(limit=None):
    """Return the list of Findings (at most limit of them)."""
    global _datetime
    _datetime = sys.modules.get("_datetime")
    stays_mortal = sys._immortal_stays_mortal
    is_immortal = sys._is_immortal
    roots = [o for o in gc.get_objects() if is_immortal(o)]
    roots += [m for m in list(sys.modules.values()) if is_immortal(m)]
    roots += [t for t in _all_types() if is_immortal(t)]
    findings = []
    seen = set()
    todo = roots
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        try:
            refs = _referents(o)
        except Exception:
            continue
        for r in refs:
            if is_immortal(r):
                if id(r) not in seen:
                    todo.append(r)
            elif not stays_mortal(r):
                findings.append(Finding(o, r))
                if limit is not None and len(findings) >= limit:
                    return findings
    return findings
