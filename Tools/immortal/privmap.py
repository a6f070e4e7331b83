#!/usr/bin/env python3
"""privmap: what a forked worker's private pages hold.

Point it at a worker's pid; it compares the worker's page table with its
master's (the parent, or --master PID) at the same virtual addresses and
attributes every page that went private:

    Tools/immortal/privmap.py WORKER_PID [--master PID] [--json]
                              [--addr ADDR ...] [--top N] [--mappings]

A worker page whose physical frame (PFN, /proc/PID/pagemap) is the
master's is shared. A present page with another frame is private:
"copied" if the master has a page there (copy-on-write happened), "new" if
not (memory the worker allocated, or touched first). A page whose frame
differs from the master's but that is mapped by some other process too
(the kernel's "exclusively mapped" bit is clear: a sibling worker holds
the same copy, or it is the zero page) is counted apart, as shared with
others.

Private pages are sorted by allocator: pymalloc arenas (found by their
pool headers: 16 KiB pools of 3.11, block size (szidx + 1) * 16), glibc's
main heap ([heap], walked chunk by chunk from its start), glibc's thread
arenas, malloc's mmapped chunks, mimalloc's segments (the fork's workers
allocate raw memory with it), stacks, the .data/.bss of the executable
and libraries (by their ELF segments), and the rest. Within pymalloc
pools and malloc chunks it tells objects (a type pointer whose type's
type is `type` or a metatype, with or without the 16-byte PyGC_Head in
front) from buffers (dict keys tables, arrays of object pointers such as
list items, raw bytes), counts the bytes each type or buffer kind has on
private pages, and word-diffs every copied page against the master's:
"copied page, changed words in objects of type X at offset Y" is usually
the answer to "who wrote it".
Changed words in .data/.bss are named by the ELF symbol they fall in.

It reads /proc/PID/{maps,pagemap,mem} of both processes; it needs root
(PFNs read as 0 otherwise) and shares no code with the interpreter it
looks at. Standard library only; it runs under any Python 3.6+ (the
fork, the stock twin, the system's) and reads processes of CPython 3.11
on Linux x86-64 (pymalloc's and the object layouts are 3.11's). The processes
should be idle while it reads. A master that writes after the fork (a
gunicorn arbiter allocating between forks) makes the worker's page look
copied too: the word diff cannot tell whose write it was ("master" is the
master's value now); a page a sibling shares is counted apart. A page
written and restored (a refcount up and down) is copied with its content
unchanged: the census of its objects still says what lives there. Reading
an address neither process has touched maps the zero page there, which
costs no memory.

Exit status: 0; 1 when a process is gone or unreadable; 2 when PFNs are
not readable (not root), or on bad arguments.
"""

import argparse
import bisect
import json
import os
import struct
import sys
from array import array

PAGE = 4096
PFN_MASK = (1 << 55) - 1
PM_PRESENT = 1 << 63
PM_SWAPPED = 1 << 62
PM_EXCLUSIVE = 1 << 56

# pymalloc, CPython 3.11 (Objects/obmalloc.c): 1 MiB arenas of 16 KiB
# pools aligned to 16 KiB; the 48-byte pool header (pool_header rounded up
# to ALIGNMENT 16); block sizes (szidx + 1) * 16 up to 512.
POOL_SIZE = 16 * 1024
ARENA_SIZE = 1024 * 1024
POOL_OVERHEAD = 48
N_SIZE_CLASSES = 32
POOL_FIELDS = [(0, "ref.count"), (8, "freeblock"), (16, "nextpool"),
               (24, "prevpool"), (32, "arenaindex/szidx"),
               (40, "nextoffset/maxnextoffset")]

# PyObject / PyTypeObject on 64-bit (Include/object.h, cpython/object.h).
OB_TYPE = 8
TP_NAME = 24
TP_BASICSIZE = 32
TP_ITEMSIZE = 40
TP_FLAGS = 168
TPFLAGS_HAVE_GC = 1 << 14
TPFLAGS_TYPE_SUBCLASS = 1 << 31
GC_HEAD = 16
IMMORTAL_BIT = 1 << 62          # Include/immortal.h (the fork)

# glibc malloc
PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA = 1, 2, 4
HEAP_MAX = 64 * 1024 * 1024     # a thread arena's heap (HEAP_MAX_SIZE)

# mimalloc 2.0 (the fork's workers allocate raw memory with it, loaded by
# sys.immortalize_heap() in the master): 32 MiB segments, aligned.
MI_SEGMENT = 32 * 1024 * 1024

CATEGORIES = [
    "pymalloc arenas", "glibc heap [heap]", "glibc thread arenas",
    "malloc mmapped chunks", "mimalloc segments", "thread stacks",
    "main stack",
    "executable/library .data/.bss", "other anonymous", "other mappings",
]


class Gone(Exception):
    pass


# --------------------------------------------------------------------------
# reading a process

class Mapping(object):
    __slots__ = ("start", "end", "perms", "offset", "inode", "path",
                 "category", "regions", "lib", "bss_end")

    def __init__(self, line):
        parts = line.split(None, 5)
        lo, hi = parts[0].split("-")
        self.start, self.end = int(lo, 16), int(hi, 16)
        self.perms = parts[1]
        self.offset = int(parts[2], 16)
        self.inode = int(parts[4])
        self.path = parts[5].strip() if len(parts) > 5 else ""
        self.category = None
        self.regions = None     # [(start, end, category)] inside, or None
        self.lib = None         # the file a .bss belongs to
        self.bss_end = 0        # where that .bss ends

    @property
    def anonymous(self):
        return self.inode == 0 and (not self.path
                                    or self.path.startswith("[anon"))

    @property
    def size(self):
        return self.end - self.start

    def __repr__(self):
        return "%x-%x %s %s" % (self.start, self.end, self.perms, self.path)


def read_maps(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return [Mapping(line) for line in f if line.strip()]
    except OSError as e:
        raise Gone("cannot read /proc/%d/maps: %s" % (pid, e))


def pagemap(fd, start, end):
    """The pagemap entries of [start, end) as an array of uint64."""
    out = array("Q")
    n = (end - start) // PAGE
    pos = start // PAGE
    step = 1 << 16
    while n > 0:
        k = min(n, step)
        try:
            data = os.pread(fd, k * 8, pos * 8)
        except OSError:
            data = b""
        if len(data) < k * 8:
            data += bytes(k * 8 - len(data))
        chunk = array("Q")
        chunk.frombytes(data)
        out.extend(chunk)
        n -= k
        pos += k
    return out


class Mem(object):
    """Reads another process's memory through /proc/PID/mem, a page at a
    time, cached; an unreadable address reads as None."""

    def __init__(self, pid):
        self.pid = pid
        try:
            self.fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
        except OSError as e:
            raise Gone("cannot open /proc/%d/mem: %s" % (pid, e))
        self.cache = {}

    def page(self, pn):
        d = self.cache.get(pn)
        if d is None:
            try:
                d = os.pread(self.fd, PAGE, pn * PAGE)
            except OSError:
                d = b""
            if len(d) != PAGE:
                d = b""
            if len(self.cache) > 65536:
                self.cache.clear()
            self.cache[pn] = d
        return d

    def read(self, addr, n):
        if addr <= 0 or addr + n > 1 << 48:
            return None
        pn, off = divmod(addr, PAGE)
        if off + n <= PAGE:
            d = self.page(pn)
            return d[off:off + n] if d else None
        parts = []
        while n > 0:
            pn, off = divmod(addr, PAGE)
            d = self.page(pn)
            if not d:
                return None
            k = min(n, PAGE - off)
            parts.append(d[off:off + k])
            addr += k
            n -= k
        return b"".join(parts)

    def word(self, addr):
        d = self.read(addr, 8)
        return None if d is None else struct.unpack("<Q", d)[0]

    def bulk(self, addr, n):
        try:
            d = os.pread(self.fd, n, addr)
        except OSError:
            return None
        return d if len(d) == n else None


# --------------------------------------------------------------------------
# objects

class Types(object):
    """Recognizes PyObjects in one process: ob_type must be a type whose
    own type reaches `type` (the type that is its own type) within three
    steps, with a readable, printable tp_name."""

    def __init__(self, mem):
        self.mem = mem
        self.types = {}         # address -> (name, flags, basic, item) | None

    def is_metatype(self, addr, depth=0):
        h = self.mem.read(addr, TP_FLAGS + 8)
        if h is None:
            return False
        meta = struct.unpack_from("<Q", h, OB_TYPE)[0]
        flags = struct.unpack_from("<Q", h, TP_FLAGS)[0]
        if not flags & TPFLAGS_TYPE_SUBCLASS:
            return False
        if meta == addr:
            return True         # `type` itself
        return depth < 2 and self.is_metatype(meta, depth + 1)

    def type_info(self, tp):
        if tp in self.types:
            return self.types[tp]
        info = None
        h = self.mem.read(tp, TP_FLAGS + 8) if tp and not tp & 7 else None
        if h is not None:
            meta, = struct.unpack_from("<Q", h, OB_TYPE)
            name_p, basic, item = struct.unpack_from("<Qqq", h, TP_NAME)
            flags, = struct.unpack_from("<Q", h, TP_FLAGS)
            if (meta and not meta & 7 and 16 <= basic < 1 << 24
                    and 0 <= item < 1 << 16 and self.is_metatype(meta)):
                name = self.c_string(name_p)
                if name:
                    info = (name, flags, basic, item)
        if len(self.types) > 200000:
            self.types.clear()
        self.types[tp] = info
        return info

    def c_string(self, addr, limit=160):
        d = self.mem.read(addr, 1)
        if d is None:
            return None
        out = bytearray()
        while len(out) < limit:
            room = PAGE - addr % PAGE
            d = self.mem.read(addr, min(room, limit - len(out)))
            if d is None:
                break
            i = d.find(b"\0")
            if i >= 0:
                out += d[:i]
                break
            out += d
            addr += len(d)
        else:
            return None
        if not out or any(c < 32 or c > 126 for c in out):
            return None
        return out.decode("ascii")

    def object_at(self, addr, room=None):
        """(type name, immortal) if a PyObject starts at addr and fits in
        room bytes (when room is given), else None."""
        h = self.mem.read(addr, 16)
        if h is None:
            return None
        refcnt, tp = struct.unpack("<qQ", h)
        if refcnt <= 0:
            return None
        info = self.type_info(tp)
        if info is None:
            return None
        name, flags, basic, item = info
        # (A compact str is smaller than str's tp_basicsize, the size of
        # the non-compact form.)
        if room is not None and basic > room and name != "str":
            return None
        return info, bool(refcnt & IMMORTAL_BIT)

    def in_block(self, addr, size):
        """The object in a block (pymalloc block or malloc chunk's user
        memory) of size bytes: (offset of the object in the block, type
        name, immortal, gc) or None."""
        r = self.object_at(addr, size)
        if r is not None and not r[0][1] & TPFLAGS_HAVE_GC:
            return (0, r[0][0], r[1], False)
        r = self.object_at(addr + GC_HEAD, size - GC_HEAD)
        if r is not None and r[0][1] & TPFLAGS_HAVE_GC:
            return (GC_HEAD, r[0][0], r[1], True)
        return None

    def buffer_kind(self, addr, size):
        """What a block that holds no object looks like."""
        h = self.mem.read(addr, min(size, 64))
        if h is None or len(h) < 16:
            return "buffer"
        if len(h) >= 40:
            refcnt, log2size, log2idx, kind, version, usable, nent = \
                struct.unpack_from("<qBBBxIqq", h, 0)
            if (0 < refcnt and 3 <= log2size <= 40
                    and log2size <= log2idx <= log2size + 3 and kind <= 2
                    and 0 <= usable and 0 <= nent <= (2 << log2size)
                    and usable + nent <= (2 << log2size)):
                return "dict keys table"
        words = struct.unpack_from("<%dQ" % (len(h) // 8), h)
        nz = [w for w in words if w]
        if not nz:
            return "zeroed buffer"
        objs = sum(1 for w in nz[:6] if not w & 7 and
                   self.object_at(w) is not None)
        if objs >= 2 or (objs == 1 and len(nz) == 1):
            return "object pointer array"
        return "buffer"


# --------------------------------------------------------------------------
# pymalloc pools

class Pool(object):
    __slots__ = ("base", "size", "nextoffset", "free", "count")


def parse_pool(mem, base):
    h = mem.read(base, POOL_OVERHEAD)
    if h is None:
        return None
    count, freeblock, nextpool, prevpool = struct.unpack_from("<QQQQ", h)
    arenaindex, szidx, nextoffset, maxnext = struct.unpack_from("<IIII", h, 32)
    count &= 0xFFFFFFFF
    if szidx >= N_SIZE_CLASSES:
        return None
    size = (szidx + 1) * 16
    if maxnext != POOL_SIZE - size or arenaindex >= 1 << 24:
        return None
    if not (POOL_OVERHEAD + size <= nextoffset <= POOL_SIZE + size
            and (nextoffset - POOL_OVERHEAD) % size == 0):
        return None
    if count > (POOL_SIZE - POOL_OVERHEAD) // size:
        return None
    if freeblock and not base + POOL_OVERHEAD <= freeblock < base + POOL_SIZE:
        return None
    if not nextpool or not prevpool or (nextpool | prevpool) & 7:
        return None
    p = Pool()
    p.base, p.size, p.nextoffset, p.count = base, size, nextoffset, count
    free = set()
    blk = freeblock
    while (blk and len(free) < 1100 and blk not in free
           and base + POOL_OVERHEAD <= blk < base + POOL_SIZE
           and (blk - base - POOL_OVERHEAD) % size == 0):
        free.add(blk)
        blk = mem.word(blk)
    p.free = free
    return p


# --------------------------------------------------------------------------
# glibc malloc chunks

class Chunks(object):
    """The chunks of glibc's main heap, walked from its start: start
    addresses, sizes, and whether each is in use (its next chunk's
    PREV_INUSE bit; tcache and fastbin chunks keep that bit, so they read
    as in use)."""

    def __init__(self, mem, start, end, stop=None):
        self.starts = array("Q")
        self.sizes = array("Q")
        self.inuse = bytearray()
        self.end = end
        self.error = None
        stop = end if stop is None else min(stop, end)
        win_lo, win = 0, b""
        p = start
        prev = None
        while p + 16 <= end:
            if not win_lo <= p <= win_lo + len(win) - 16:
                win_lo = p
                win = mem.bulk(p, min(4 << 20, end - p))
                if win is None:
                    self.error = "unreadable at 0x%x" % p
                    break
            size_word, = struct.unpack_from("<Q", win, p - win_lo + 8)
            size = size_word & ~7
            if prev is not None:
                self.inuse[-1] = size_word & PREV_INUSE
            if size < 32 or size & 15 or p + size > end:
                self.error = "bad chunk size 0x%x at 0x%x" % (size_word, p)
                break
            self.starts.append(p)
            self.sizes.append(size)
            self.inuse.append(0)    # the top chunk, until a next one shows
            prev = p
            p += size
            if p >= stop:
                break

    def find(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0 or addr >= self.starts[i] + self.sizes[i]:
            return None
        return self.starts[i], self.sizes[i], bool(self.inuse[i]), \
            i == len(self.starts) - 1 and self.error is None

    def overlapping(self, lo, hi):
        i = max(bisect.bisect_right(self.starts, lo) - 1, 0)
        while i < len(self.starts) and self.starts[i] < hi:
            s, z = self.starts[i], self.sizes[i]
            if s + z > lo:
                yield s, z, bool(self.inuse[i]), \
                    i == len(self.starts) - 1 and self.error is None
            i += 1


# --------------------------------------------------------------------------
# ELF symbols, for .data/.bss

class Elf(object):
    """An ELF file's symbols (for .data/.bss addresses) and the end of its
    writable segment's memory (where its .bss ends)."""

    def __init__(self, path):
        self.values = []
        self.syms = []
        self.dyn = False
        self.bss_end = 0
        try:
            with open(path, "rb") as f:
                self._load(f)
        except (OSError, struct.error, ValueError):
            pass

    def _load(self, f):
        eh = f.read(64)
        if eh[:4] != b"\x7fELF" or eh[4] != 2:
            return
        e_type, = struct.unpack_from("<H", eh, 16)
        self.dyn = e_type == 3
        phoff, shoff = struct.unpack_from("<QQ", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", eh, 58)
        f.seek(phoff)
        for _ in range(phnum):
            ph = struct.unpack("<IIQQQQQQ", f.read(phentsize)[:56])
            if ph[0] == 1 and ph[6] > ph[5]:        # PT_LOAD with a .bss
                self.bss_end = max(self.bss_end, ph[3] + ph[6])
        f.seek(shoff)
        shdrs = [struct.unpack("<IIQQQQIIQQ", f.read(shentsize)[:64])
                 for _ in range(shnum)]
        tables = [s for s in shdrs if s[1] == 2] or \
                 [s for s in shdrs if s[1] == 11]
        out = []
        for sh in tables:
            strtab = shdrs[sh[6]]
            f.seek(strtab[4])
            strs = f.read(strtab[5])
            f.seek(sh[4])
            data = f.read(sh[5])
            for off in range(0, len(data) - 23, 24):
                name, info, other, shndx, value, size = \
                    struct.unpack_from("<IBBHQQ", data, off)
                if info & 0xF not in (1, 0) or not value or shndx == 0:
                    continue
                end = strs.find(b"\0", name)
                out.append((value, size, strs[name:end].decode("ascii",
                                                              "replace")))
        out.sort()
        self.syms = out
        self.values = [s[0] for s in out]

    def name(self, vaddr):
        i = bisect.bisect_right(self.values, vaddr) - 1
        if i < 0:
            return None
        value, size, name = self.syms[i]
        if size and vaddr >= value + size and vaddr - value > 4096:
            return None
        return "%s+%d" % (name, vaddr - value)


# --------------------------------------------------------------------------
# the analysis

def kib(n):
    return round(n / 1024.0, 1)


class Tally(object):
    """Bytes (and distinct blocks) per key, copied and new apart."""

    def __init__(self):
        self.data = {}

    def add(self, key, status, nbytes, block=None, seen=None):
        d = self.data.get(key)
        if d is None:
            d = self.data[key] = {"copied": 0, "new": 0, "blocks": 0}
        d[status] += nbytes
        if block is not None and (seen is None or block not in seen):
            d["blocks"] += 1
            if seen is not None:
                seen.add(block)

    def top(self, n):
        items = sorted(self.data.items(),
                       key=lambda kv: -(kv[1]["copied"] + kv[1]["new"]))
        return items[:n] if n else items


class Analysis(object):

    def __init__(self, pid, master, max_diff=20000, objects=True):
        self.pid, self.master = pid, master
        self.max_diff = max_diff
        self.do_objects = objects
        self.wmaps = read_maps(pid)
        self.mmaps = read_maps(master)
        self.wmem, self.mmem = Mem(pid), Mem(master)
        self.wtypes, self.mtypes = Types(self.wmem), Types(self.mmem)
        try:
            self.wpm = os.open("/proc/%d/pagemap" % pid, os.O_RDONLY)
            self.mpm = os.open("/proc/%d/pagemap" % master, os.O_RDONLY)
        except OSError as e:
            raise Gone("cannot open pagemap: %s" % e)
        self.pools = {}         # (proc, base) -> Pool | None
        self.chunks = {}        # proc -> Chunks
        self.symbols = {}
        self.notes = []
        self.pages = {}         # addr -> "copied" | "new"
        self.shared_other = {"copied": 0, "new": 0}
        self.shared = 0
        self.present = 0
        self.swapped = 0
        self.cat = {c: {"copied": 0, "new": 0} for c in CATEGORIES}
        self.page_cat = {}
        self.objects = Tally()      # (category, type name, immortal)
        self.buffers = Tally()      # (category, kind, size)
        self.writes = {}            # description -> [words, pages]
        self.identical = 0
        self.diffed = 0
        self.libs = {}              # path -> {"copied":, "new":}
        self.mapping_rows = []

    # ---- the page table ------------------------------------------------

    def scan(self):
        any_pfn = False
        exclusive_seen = False
        entries = []
        for m in self.wmaps:
            if "r" not in m.perms and "w" not in m.perms:
                continue
            if m.path == "[vsyscall]":
                continue
            w = pagemap(self.wpm, m.start, m.end)
            ms = pagemap(self.mpm, m.start, m.end)
            entries.append((m, w, ms))
            if any_pfn and exclusive_seen:
                continue
            for e in w:
                if e & PM_PRESENT:
                    if e & PFN_MASK:
                        any_pfn = True
                    if e & PM_EXCLUSIVE:
                        exclusive_seen = True
                    if any_pfn and exclusive_seen:
                        break
        if not any_pfn:
            raise PermissionError("PFNs read as 0 in /proc/%d/pagemap: "
                                  "run as root (CAP_SYS_ADMIN)" % self.pid)
        self.classify()
        for m, w, ms in entries:
            row = {"copied": 0, "new": 0}
            for i in range(len(w)):
                e = w[i]
                if not e & PM_PRESENT:
                    if e & PM_SWAPPED:
                        self.swapped += 1
                    continue
                self.present += 1
                me = ms[i]
                if me & PM_PRESENT and (me & PFN_MASK) == (e & PFN_MASK):
                    self.shared += 1
                    continue
                status = "copied" if me & (PM_PRESENT | PM_SWAPPED) else "new"
                if exclusive_seen and not e & PM_EXCLUSIVE:
                    self.shared_other[status] += 1
                    continue
                addr = m.start + i * PAGE
                self.pages[addr] = status
                row[status] += 1
            if row["copied"] or row["new"]:
                self.mapping_rows.append((m, row))

    # ---- what each mapping is -------------------------------------------

    def classify(self):
        maps = self.wmaps
        mimalloc = any("libmimalloc" in os.path.basename(m.path)
                       for m in maps)
        for i, m in enumerate(maps):
            prev = maps[i - 1] if i else None
            nxt = maps[i + 1] if i + 1 < len(maps) else None
            if m.path == "[heap]":
                m.category = "glibc heap [heap]"
            elif m.path == "[stack]":
                m.category = "main stack"
            elif m.path.startswith("[stack:"):
                m.category = "thread stacks"
            elif not m.anonymous:
                if m.path.startswith("/") and "w" in m.perms:
                    m.category = "executable/library .data/.bss"
                    m.lib = m.path
                else:
                    m.category = "other mappings"
            elif "w" not in m.perms:
                m.category = "other anonymous"
            elif self.thread_arena(m, nxt):
                m.category = "glibc thread arenas"
            elif mimalloc and m.start % MI_SEGMENT == 0:
                m.category = "mimalloc segments"
            else:
                # pymalloc's arenas and malloc's mmapped chunks are found
                # by their contents (category_of()), wherever they are:
                # adjacent anonymous mappings merge, a lib's .bss with
                # the arenas mapped after it too.
                m.category = "other anonymous"
                rest = m.start
                if (prev is not None and prev.end == m.start
                        and not prev.anonymous and prev.path.startswith("/")):
                    elf, base = self.elf(prev.path)
                    if elf.bss_end:
                        end = (base + elf.bss_end + PAGE - 1) & ~(PAGE - 1)
                        if end > m.start:
                            m.lib = prev.path
                            m.bss_end = rest = min(end, m.end)
                if (prev is not None and prev.end == m.start
                        and prev.anonymous and prev.perms.startswith("---")):
                    m.category = "thread stacks"
                m.regions = self.regions(m, rest)

    def thread_arena(self, m, nxt):
        if m.start % HEAP_MAX:
            return False
        if not (m.size == HEAP_MAX or (nxt is not None and nxt.start == m.end
                                      and nxt.perms.startswith("---"))):
            return False
        h = self.wmem.read(m.start, 32)
        if h is None:
            return False
        ar_ptr, prev, size, mprotect = struct.unpack("<QQQQ", h)
        return 0 < size <= HEAP_MAX and mprotect <= HEAP_MAX and ar_ptr != 0

    def regions(self, m, p):
        """Malloc's mmapped chunks in an anonymous mapping, from p (its
        start or the end of the .bss in front): a chunk begins a page with
        prev_size 0 and its size, a multiple of the page, with IS_MMAPPED
        alone set. Pages the worker does not have are not read; pymalloc
        pools are stepped over."""
        out = []
        present = pagemap(self.wpm, m.start, m.end)
        while p < m.end:
            if not present[(p - m.start) // PAGE] & PM_PRESENT:
                p += PAGE
                continue
            h = self.wmem.read(p, 16)
            if h is None:
                break
            prev_size, size_word = struct.unpack("<QQ", h)
            size = size_word & ~7
            if (size_word & 7 == IS_MMAPPED and prev_size == 0
                    and size % PAGE == 0 and size and p + size <= m.end):
                out.append((p, p + size, "malloc mmapped chunks"))
                p += size
            elif (p % POOL_SIZE == 0
                  and self.pool(self.wmem, p) is not None):
                p += POOL_SIZE
            else:
                p += PAGE
        return out

    def category_of(self, m, addr, status):
        if m.category in ("other anonymous", "thread stacks") \
                and "w" in m.perms:
            base = addr & ~(POOL_SIZE - 1)
            if base >= m.start and self.pool(self.mem_for(status),
                                             base) is not None:
                return "pymalloc arenas"
            for lo, hi, cat in m.regions or ():
                if lo <= addr < hi:
                    return cat
            if addr < m.bss_end:
                return "executable/library .data/.bss"
        return m.category

    def elf(self, path):
        if path not in self.symbols:
            base = min((x.start - x.offset for x in self.wmaps
                        if x.path == path), default=0)
            self.symbols[path] = (Elf(path), base)
        return self.symbols[path]

    def mem_for(self, status):
        return self.mmem if status == "copied" else self.wmem

    def types_for(self, status):
        return self.mtypes if status == "copied" else self.wtypes

    def pool(self, mem, base):
        key = (mem.pid, base)
        if key not in self.pools:
            self.pools[key] = parse_pool(mem, base)
        return self.pools[key]

    def heap_chunks(self, status):
        proc = self.master if status == "copied" else self.pid
        if proc not in self.chunks:
            maps = self.mmaps if status == "copied" else self.wmaps
            heap = [m for m in maps if m.path == "[heap]"]
            if not heap:
                self.chunks[proc] = None
            else:
                mem = self.mem_for(status)
                c = Chunks(mem, heap[0].start, heap[-1].end)
                if c.error:
                    self.notes.append("[heap] walk of pid %d stopped: %s"
                                      % (proc, c.error))
                self.chunks[proc] = c
        return self.chunks[proc]

    # ---- attribution ----------------------------------------------------

    def run(self):
        self.scan()
        bymap = sorted(self.pages)
        mi = 0
        maps = self.wmaps
        seen = set()
        for addr in bymap:
            while maps[mi].end <= addr:
                mi += 1
            m = maps[mi]
            status = self.pages[addr]
            cat = self.category_of(m, addr, status)
            self.page_cat[addr] = cat
            self.cat[cat][status] += PAGE
            if cat == "executable/library .data/.bss":
                d = self.libs.setdefault(m.lib or m.path,
                                         {"copied": 0, "new": 0})
                d[status] += PAGE
            if self.do_objects:
                if cat == "pymalloc arenas":
                    self.page_blocks(addr, status, seen)
                elif cat == "glibc heap [heap]":
                    self.page_chunks(addr, status, seen)
                elif cat == "malloc mmapped chunks":
                    self.page_mmapped(m, addr, status, seen)
            if status == "copied" and self.diffed < self.max_diff:
                self.diff(m, addr, cat)
        return self

    def page_blocks(self, page, status, seen):
        base = page & ~(POOL_SIZE - 1)
        pool = self.pool(self.mem_for(status), base)
        if pool is None:
            return
        types = self.types_for(status)
        size = pool.size
        lo = max(page, base + POOL_OVERHEAD)
        first = (lo - base - POOL_OVERHEAD) // size
        if lo > page:
            self.buffers.add(("pymalloc arenas", "pool header", 48), status,
                             lo - page)
        b = base + POOL_OVERHEAD + first * size
        limit = base + min(pool.nextoffset, POOL_SIZE)
        while b < page + PAGE and b + size <= base + POOL_SIZE:
            nbytes = min(b + size, page + PAGE) - max(b, page)
            if b >= limit:
                key = ("pymalloc arenas", "never used", size)
                self.buffers.add(key, status, page + PAGE - max(b, page))
                break
            if b in pool.free:
                self.buffers.add(("pymalloc arenas", "free block", size),
                                 status, nbytes, b, seen)
            else:
                obj = types.in_block(b, size)
                if obj is not None:
                    self.objects.add(("pymalloc arenas", obj[1], obj[2]),
                                     status, nbytes, b, seen)
                else:
                    kind = types.buffer_kind(b, size)
                    self.buffers.add(("pymalloc arenas", kind, size),
                                     status, nbytes, b, seen)
            b += size

    def page_chunks(self, page, status, seen):
        chunks = self.heap_chunks(status)
        if chunks is None:
            return
        types = self.types_for(status)
        covered = 0
        for s, z, inuse, top in chunks.overlapping(page, page + PAGE):
            nbytes = min(s + z, page + PAGE) - max(s, page)
            covered += nbytes
            self.chunk_bytes("glibc heap [heap]", types, s, z, inuse, top,
                             status, nbytes, seen)
        if covered < PAGE:
            self.buffers.add(("glibc heap [heap]", "not walked", 0), status,
                             PAGE - covered)

    def chunk_bytes(self, cat, types, s, z, inuse, top, status, nbytes, seen):
        if top:
            self.buffers.add((cat, "top chunk (free)", 0), status, nbytes)
        elif not inuse:
            self.buffers.add((cat, "free chunk", z), status, nbytes, s, seen)
        else:
            obj = types.in_block(s + 16, z - 16)
            if obj is not None:
                self.objects.add((cat, obj[1], obj[2]), status, nbytes, s,
                                 seen)
            else:
                kind = types.buffer_kind(s + 16, z - 16)
                self.buffers.add((cat, kind, z), status, nbytes, s, seen)

    def page_mmapped(self, m, page, status, seen):
        types = self.types_for(status)
        for lo, hi, cat in m.regions or ():
            if lo <= page < hi:
                self.chunk_bytes(cat, types, lo, hi - lo, True, False,
                                 status, PAGE, seen)
                return

    # ---- word diff ------------------------------------------------------

    def diff(self, m, page, cat):
        w = self.wmem.bulk(page, PAGE)
        mm = self.mmem.bulk(page, PAGE)
        if w is None or mm is None:
            return
        self.diffed += 1
        if w == mm:
            self.identical += 1
            self.note_write("(content identical to the master's: written "
                            "and restored, e.g. a refcount up and down, or "
                            "the same value written)", 0, page)
            return
        wa, ma = array("Q"), array("Q")
        wa.frombytes(w)
        ma.frombytes(mm)
        for i in range(PAGE // 8):
            if wa[i] != ma[i]:
                addr = page + i * 8
                self.note_write(self.attribute(m, addr, cat), 1, page)

    def note_write(self, what, words, page):
        d = self.writes.get(what)
        if d is None:
            d = self.writes[what] = [0, set()]
        d[0] += words
        d[1].add(page)

    def attribute(self, m, addr, cat):
        """One line for a changed word, from the master's memory."""
        if cat == "pymalloc arenas":
            return self.attribute_pool(addr)
        if cat == "glibc heap [heap]":
            chunks = self.heap_chunks("copied")
            c = chunks.find(addr) if chunks else None
            if c is None:
                return "[heap]: outside the walked chunks"
            return self.attribute_chunk("[heap]", c, addr)
        if cat == "malloc mmapped chunks":
            for lo, hi, _ in m.regions or ():
                if lo <= addr < hi:
                    return self.attribute_chunk("mmapped chunk",
                                                (lo, hi - lo, True, False),
                                                addr)
        if cat == "executable/library .data/.bss":
            return self.attribute_symbol(m, addr)
        if m.path:
            return "%s: %s" % (cat, os.path.basename(m.path))
        return "%s: mapping 0x%x-0x%x (%d KiB)" % (cat, m.start, m.end,
                                                   m.size // 1024)

    def attribute_pool(self, addr):
        base = addr & ~(POOL_SIZE - 1)
        pool = self.pool(self.mmem, base)
        if pool is None:
            return "pymalloc: not a pool in the master"
        off = addr - base
        if off < POOL_OVERHEAD:
            field = [n for o, n in POOL_FIELDS if o <= off][-1]
            return "pymalloc pool header (%s)" % field
        size = pool.size
        b = base + POOL_OVERHEAD + (off - POOL_OVERHEAD) // size * size
        if b - base >= pool.nextoffset:
            return "pymalloc never-used block (%d B)" % size
        if b in pool.free:
            now = self.wtypes.in_block(b, size)
            if now is not None:
                return ("pymalloc block free in the master, now %s "
                        "(%d B)" % (now[1], size))
            return "pymalloc free block (%d B)" % size
        obj = self.mtypes.in_block(b, size)
        if obj is not None:
            return self.describe_obj(obj, addr - b)
        return "pymalloc %s (%d B block) " % (
            self.mtypes.buffer_kind(b, size), size)

    def describe_obj(self, obj, off_in_block):
        ob_off, name, immortal, gc = obj
        off = off_in_block - ob_off
        where = "+%d" % off if off >= 0 else "its PyGC_Head"
        return "%s %s object %s" % ("immortal" if immortal else "mortal",
                                    name, where)

    def attribute_chunk(self, where, c, addr):
        s, z, inuse, top = c
        off = addr - s
        if off < 16 and where == "[heap]":
            return "%s malloc chunk header" % where
        if top:
            return "%s top chunk (free)" % where
        if not inuse:
            return "%s free chunk (%d B): malloc's links or reuse" % (where, z)
        obj = self.mtypes.in_block(s + 16, z - 16)
        if obj is not None:
            return "%s: %s" % (where, self.describe_obj(obj, off - 16))
        kind = self.mtypes.buffer_kind(s + 16, z - 16)
        return "%s %s (chunk of %d B, in use or in tcache/fastbin)" % (
            where, kind, z)

    def attribute_symbol(self, m, addr):
        path = m.lib or m.path
        syms, base = self.elf(path)
        vaddr = addr - base if syms.dyn else addr
        name = syms.name(vaddr) if syms.values else None
        lib = os.path.basename(path)
        if name:
            return "%s: %s" % (lib, name)
        return "%s: +0x%x" % (lib, vaddr)

    # ---- questions about addresses ---------------------------------------

    def explain(self, addr):
        page = addr & ~(PAGE - 1)
        m = next((x for x in self.wmaps if x.start <= addr < x.end), None)
        out = {"addr": "0x%x" % addr, "page": "0x%x" % page}
        if m is None:
            out["status"] = "unmapped"
            return out
        out["mapping"] = repr(m)
        status = self.pages.get(page)
        if status is None:
            w = pagemap(self.wpm, page, page + PAGE)[0]
            ms = pagemap(self.mpm, page, page + PAGE)[0]
            if not w & PM_PRESENT:
                status = "not present"
            elif ms & PM_PRESENT and ms & PFN_MASK == w & PFN_MASK:
                status = "shared"
            else:
                status = "shared with others"
        out["status"] = status
        cat = self.page_cat.get(page) or self.category_of(
            m, addr, status if status in ("copied", "new") else "new")
        out["category"] = cat
        if cat == "pymalloc arenas":
            use = "copied" if status in ("copied", "shared") else "new"
            base = addr & ~(POOL_SIZE - 1)
            pool = self.pool(self.mem_for(use), base)
            if pool is not None and addr - base >= POOL_OVERHEAD:
                size = pool.size
                b = base + POOL_OVERHEAD + (addr - base - POOL_OVERHEAD) \
                    // size * size
                obj = self.types_for(use).in_block(b, size)
                out["block"] = "0x%x" % b
                out["block_size"] = size
                if obj is not None:
                    out["object"] = {"type": obj[1], "immortal": obj[2],
                                     "address": "0x%x" % (b + obj[0]),
                                     "offset": addr - b - obj[0]}
        if cat == "glibc heap [heap]":
            use = "copied" if status in ("copied", "shared") else "new"
            chunks = self.heap_chunks(use)
            c = chunks.find(addr) if chunks else None
            if c is not None:
                s, z, inuse, top = c
                out["chunk"] = {"address": "0x%x" % s, "size": z,
                                "in_use": inuse, "top": top}
                obj = self.types_for(use).in_block(s + 16, z - 16)
                if obj is not None and not top and inuse:
                    out["object"] = {"type": obj[1], "immortal": obj[2],
                                     "address": "0x%x" % (s + 16 + obj[0]),
                                     "offset": addr - s - 16 - obj[0]}
        if status == "copied":
            w = self.wmem.bulk(page, PAGE)
            mm = self.mmem.bulk(page, PAGE)
            changes = []
            if w is not None and mm is not None:
                for i in range(0, PAGE, 8):
                    if w[i:i + 8] != mm[i:i + 8]:
                        changes.append({
                            "addr": "0x%x" % (page + i),
                            "master": "0x%x" % struct.unpack_from("<Q", mm, i),
                            "worker": "0x%x" % struct.unpack_from("<Q", w, i),
                            "what": self.attribute(m, page + i, cat)})
            out["changed_words"] = changes[:32]
            out["n_changed_words"] = len(changes)
        return out

    # ---- output ----------------------------------------------------------

    def result(self, top=15, addrs=()):
        private = len(self.pages)
        writes = sorted(self.writes.items(),
                        key=lambda kv: (-len(kv[1][1]), -kv[1][0]))
        res = {
            "pid": self.pid, "master": self.master,
            "present_kib": kib(self.present * PAGE),
            "shared_kib": kib(self.shared * PAGE),
            "private_kib": kib(private * PAGE),
            "copied_kib": kib(sum(1 for s in self.pages.values()
                                  if s == "copied") * PAGE),
            "new_kib": kib(sum(1 for s in self.pages.values()
                               if s == "new") * PAGE),
            "shared_with_others_kib": kib((self.shared_other["copied"]
                                           + self.shared_other["new"]) * PAGE),
            "swapped_pages": self.swapped,
            "categories": {c: {"copied_kib": kib(v["copied"]),
                               "new_kib": kib(v["new"])}
                           for c, v in self.cat.items()},
            "libraries": {p: {"copied_kib": kib(v["copied"]),
                              "new_kib": kib(v["new"])}
                          for p, v in self.libs.items()},
            "types": [{"category": k[0], "type": k[1], "immortal": k[2],
                       "copied_kib": kib(v["copied"]),
                       "new_kib": kib(v["new"]), "objects": v["blocks"]}
                      for k, v in self.objects.top(top)],
            "buffers": [{"category": k[0], "kind": k[1], "size": k[2],
                         "copied_kib": kib(v["copied"]),
                         "new_kib": kib(v["new"]), "blocks": v["blocks"]}
                        for k, v in self.buffers.top(top)],
            "writes": [{"what": k, "words": v[0], "pages": len(v[1])}
                       for k, v in writes[:top or None]],
            "pages_diffed": self.diffed,
            "pages_identical": self.identical,
            "mappings": [{"mapping": repr(m), "category": m.category,
                          "copied_kib": kib(r["copied"] * PAGE),
                          "new_kib": kib(r["new"] * PAGE)}
                         for m, r in self.mapping_rows],
            "notes": self.notes,
        }
        if addrs:
            res["addresses"] = [self.explain(a) for a in addrs]
        return res


def format_text(res, show_mappings=False):
    out = []
    w = out.append
    w("privmap: worker %d, master %d" % (res["pid"], res["master"]))
    w("present %.1f KiB: shared with the master %.1f KiB, private %.1f KiB "
      "(copied %.1f, new %.1f); shared with other processes %.1f KiB"
      % (res["present_kib"], res["shared_kib"], res["private_kib"],
         res["copied_kib"], res["new_kib"], res["shared_with_others_kib"]))
    w("")
    w("%-32s %12s %12s" % ("private pages by allocator", "copied KiB",
                           "new KiB"))
    for c, v in res["categories"].items():
        if v["copied_kib"] or v["new_kib"]:
            w("%-32s %12.1f %12.1f" % (c, v["copied_kib"], v["new_kib"]))
    for p, v in sorted(res["libraries"].items()):
        w("  %-30s %12.1f %12.1f" % (os.path.basename(p)[:30],
                                     v["copied_kib"], v["new_kib"]))
    if res["types"]:
        w("")
        w("objects on private pages (bytes of their blocks on those pages)")
        w("%-22s %-28s %9s %10s %10s" % ("allocator", "type", "objects",
                                         "copied KiB", "new KiB"))
        for t in res["types"]:
            name = ("immortal " if t["immortal"] else "") + t["type"]
            w("%-22s %-28s %9d %10.1f %10.1f" % (
                t["category"][:22], name[:28], t["objects"],
                t["copied_kib"], t["new_kib"]))
    if res["buffers"]:
        w("")
        w("non-object memory on private pages")
        w("%-22s %-28s %9s %10s %10s" % ("allocator", "kind (size B)",
                                         "blocks", "copied KiB", "new KiB"))
        for b in res["buffers"]:
            kind = b["kind"] + (" (%d)" % b["size"] if b["size"] else "")
            w("%-22s %-28s %9d %10.1f %10.1f" % (
                b["category"][:22], kind[:28], b["blocks"], b["copied_kib"],
                b["new_kib"]))
    w("")
    w("what changed on copied pages (word diff against the master; "
      "%d pages diffed)" % res["pages_diffed"])
    if not res["writes"]:
        w("  nothing")
    for x in res["writes"]:
        w("  %5d pages %6d words  %s" % (x["pages"], x["words"], x["what"]))
    if show_mappings:
        w("")
        w("mappings with private pages")
        for r in res["mappings"]:
            w("  %10.1f %10.1f  %-28s %s" % (r["copied_kib"], r["new_kib"],
                                              r["category"][:28],
                                              r["mapping"]))
    for a in res.get("addresses", ()):
        w("")
        w("address %s: %s, %s" % (a["addr"], a["status"],
                                  a.get("category", "")))
        if "chunk" in a:
            c = a["chunk"]
            w("  in malloc chunk at %s, %d B, %s" % (
                c["address"], c["size"], "the top chunk" if c["top"] else
                "in use (or tcache/fastbin)" if c["in_use"] else "free"))
        if "object" in a:
            o = a["object"]
            w("  in %s%s object at %s (+%d)" % (
                "immortal " if o["immortal"] else "", o["type"],
                o["address"], o["offset"]))
        for c in a.get("changed_words", ()):
            w("  changed %s: master %s, worker %s: %s" % (
                c["addr"], c["master"], c["worker"], c["what"]))
    for n in res["notes"]:
        w("note: " + n)
    return "\n".join(out)


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError as e:
        raise Gone("no process %d: %s" % (pid, e))
    return int(stat[stat.rindex(")") + 2:].split()[1])


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Attribute a forked worker's private pages (against "
                    "its master's page table) to allocators, object types "
                    "and buffers.")
    ap.add_argument("pid", type=int, help="the worker")
    ap.add_argument("--master", type=int,
                    help="the process it was forked from (default: its "
                         "parent)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--top", type=int, default=15,
                    help="rows per table (0: all; default 15)")
    ap.add_argument("--addr", action="append", default=[],
                    type=lambda s: int(s, 0),
                    help="also explain this address (repeatable): its "
                         "page's status, object and changed words")
    ap.add_argument("--mappings", action="store_true",
                    help="list the mappings that have private pages")
    ap.add_argument("--max-diff-pages", type=int, default=20000,
                    help="word-diff at most this many copied pages "
                         "(default 20000)")
    ap.add_argument("--no-objects", action="store_true",
                    help="skip the per-block census (faster)")
    args = ap.parse_args(argv)
    try:
        master = args.master or ppid_of(args.pid)
        if master <= 1:
            ap.error("pid %d has no master to compare with: give --master"
                     % args.pid)
        a = Analysis(args.pid, master, args.max_diff_pages,
                     not args.no_objects).run()
        res = a.result(args.top, args.addr)
    except PermissionError as e:
        print("privmap: %s" % e, file=sys.stderr)
        return 2
    except Gone as e:
        print("privmap: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(format_text(res, args.mappings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
