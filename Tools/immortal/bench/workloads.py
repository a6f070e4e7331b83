"""Fixed workloads for instruction counts (Tools/immortal/bench/callgrind.py).

Each workload exercises one part of the interpreter where refcounting is
hot, deterministically (no clocks, no randomness, no I/O). Run one with
`python workloads.py NAME`; `python workloads.py` lists them. `empty` is the
start-up baseline that the driver subtracts.
"""

import sys


def empty():
    pass


def calls():
    # Function calls returning None, positional and keyword arguments.
    def f(a, b, c=None):
        return None

    def g(*args, **kwargs):
        return len(args) + len(kwargs)

    n = 0
    for i in range(200_000):
        f(i, None)
        f(i, i, c=True)
        n += g(i, None, x=False)
    return n


def attributes():
    # Instance and class attribute loads and stores, method calls.
    class Point:
        scale = 2

        def __init__(self, x, y):
            self.x = x
            self.y = y

        def norm1(self):
            return abs(self.x) + abs(self.y) * self.scale

    p = Point(1, 2)
    total = 0
    for i in range(150_000):
        p.x = i
        p.y = -i
        total += p.norm1()
    return total


def ints():
    # Small-int and big-int arithmetic, comparisons and branches.
    a, b, total = 0, 1, 0
    for i in range(300_000):
        total += (i * 7) % 13 - (i & 5)
        if i % 3 == 0:
            total -= 1
        a, b = b, (a + b) % 1_000_003
    return total + a


def floats():
    # A small n-body-style integration loop.
    bodies = [[float(i), float(i * 2), float(i * 3), 0.1 * i, 0.2, 0.3, 1.0 + i]
              for i in range(5)]
    for _ in range(6_000):
        for i, b1 in enumerate(bodies):
            for b2 in bodies[i + 1:]:
                dx, dy, dz = b1[0] - b2[0], b1[1] - b2[1], b1[2] - b2[2]
                d2 = dx * dx + dy * dy + dz * dz + 0.01
                mag = 0.01 / (d2 * d2 ** 0.5)
                b1[3] -= dx * b2[6] * mag
                b2[3] += dx * b1[6] * mag
        for b in bodies:
            b[0] += 0.01 * b[3]
    return bodies[0][0]


def containers():
    # Lists, dicts, tuples: build, index, unpack, iterate.
    total = 0
    for i in range(20_000):
        lst = [i, i + 1, i + 2, None, True]
        d = {'a': i, 'b': lst, 'c': None}
        t = (i, 'x', None)
        x, y, z = t
        a, b, c, _, _ = lst
        total += a + b + c + x + d['a'] + len(d) + lst[-3]
        d['d'] = t
        lst.append(d.get('e'))
        total += sum(lst[:3])
    return total


def strings():
    # Building, formatting, splitting and joining strings.
    words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon']
    total = 0
    for i in range(25_000):
        s = ' '.join(words) + str(i)
        parts = s.split(' ')
        total += len(parts[1]) + len(f'{i}:{parts[0]}:{i % 7}')
        total += s.startswith('alpha') + ('eps' in s)
        total += len(s.upper().replace('A', 'a'))
    return total


def generators():
    # Generator pipelines and comprehensions.
    def numbers(n):
        for i in range(n):
            yield i

    def evens(it):
        for x in it:
            if x % 2 == 0:
                yield x

    total = 0
    for _ in range(40):
        total += sum(evens(numbers(5_000)))
        total += len([x * 2 for x in range(2_000) if x % 3])
        total += len({x: None for x in range(500)})
    return total


def recursion():
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    return fib(22)


def objects():
    # Creating and dropping many small objects (allocation, dealloc).
    class Node:
        __slots__ = ('value', 'next')

        def __init__(self, value, next=None):
            self.value = value
            self.next = next

    total = 0
    for _ in range(60):
        head = None
        for i in range(2_000):
            head = Node(i, head)
        while head is not None:
            total += head.value
            head = head.next
    return total


def exceptions():
    def check(i):
        if i % 4 == 0:
            raise ValueError(i)
        return i

    total = 0
    for i in range(60_000):
        try:
            total += check(i)
        except ValueError:
            total -= 1
    return total


def stdlib():
    # json and re, C accelerated parts of the stdlib.
    import json
    import re
    doc = {'name': 'immortal', 'items': list(range(50)), 'nested':
           {'a': None, 'b': True, 'c': [1.5, 'x', {'y': False}]}}
    pattern = re.compile(r'(\w+)=(\d+)')
    total = 0
    for i in range(1_500):
        text = json.dumps(doc)
        total += len(json.loads(text)['items'])
        total += len(pattern.findall(f'a={i} b={i * 2} c=x d={i % 10}'))
    return total


def frozen_stdlib():
    # Deep-frozen stdlib code (collections.abc, posixpath) whose call sites
    # specialize for one type, then see another for good: it must
    # re-specialize, as stock does, or run its base instructions forever.
    from collections.abc import Mapping
    import posixpath

    class Small(Mapping):
        def __init__(self):
            self.data = {'a': 1, 'b': 2}

        def __getitem__(self, key):
            return self.data[key]

        def __iter__(self):
            return iter(self.data)

        def __len__(self):
            return 2

    class Other(Small):
        def __getitem__(self, key):
            if key == 'a':
                return 3
            raise KeyError(key)

    total = 0
    first, then = Small(), Other()
    for i in range(2_000):
        total += first.get('a', 0) + len(posixpath.join('srv', 'www'))
    for i in range(60_000):
        total += then.get('a', 0) + then.get('z', 1)
        total += len(posixpath.join(b'srv', b'www'))
    return total


WORKLOADS = {f.__name__: f for f in (
    empty, calls, attributes, ints, floats, containers, strings, generators,
    recursion, objects, exceptions, stdlib, frozen_stdlib)}


if __name__ == '__main__':
    if len(sys.argv) != 2:
        print(' '.join(WORKLOADS))
    else:
        WORKLOADS[sys.argv[1]]()
