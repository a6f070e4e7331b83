"""How far code built against stock 3.11 headers can move an immortal count.

Such code (every binary wheel built for 3.11) increments and decrements
ob_refcnt with no test. Lib/test/immortal_drift.c does the same, spelled
out, against the running interpreter's headers, so the test runs on the
64-bit build and on the 32-bit one (make m32, Doc/immortal/reliability.md).
The exact bounds are in Include/immortal.h and Doc/immortal/design.md.
"""

import importlib.util
import os
import shlex
import struct
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import unittest

from test import support
from test.support import script_helper

WORD = struct.calcsize('P') * 8
BAND = 2 ** (WORD - 3)          # steps from _Py_IMMORTAL_REFCNT to the edge
HANDOVERS = 2 ** 30


def wrapped(count):
    """count as a Py_ssize_t holds it after ++ past the top: wrapped."""
    return count - 2 ** WORD if count >= 2 ** (WORD - 1) else count


def compile_drift(tmpdir):
    """Compile Lib/test/immortal_drift.c against this interpreter's
    headers; return the path of the module."""
    source = os.path.join(os.path.dirname(__file__), 'immortal_drift.c')
    paths = sysconfig.get_paths()
    config_dir = os.path.dirname(sysconfig.get_config_h_filename())
    target = os.path.join(tmpdir, 'immortal_drift'
                          + sysconfig.get_config_var('EXT_SUFFIX'))
    cmd = [*shlex.split(sysconfig.get_config_var('CC')), '-O2', '-fPIC',
           '-shared', '-I', paths['include'], '-I', paths['platinclude'],
           '-I', config_dir, source, '-o', target]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f'{shlex.join(cmd)} failed:\n{proc.stderr}')
    return target


def load(path):
    spec = importlib.util.spec_from_file_location('immortal_drift', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@unittest.skipUnless(hasattr(sys, 'immortalize_heap'),
                     'needs Immortal CPython')
@unittest.skipUnless(sysconfig.get_config_var('CC'), 'needs a C compiler')
@support.requires_subprocess()
class BoundsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.path = compile_drift(cls.tmpdir.name)
        cls.drift = load(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def test_band_edges(self):
        d = self.drift
        self.assertEqual(d.IMMORTAL_REFCNT, 3 << (WORD - 3))
        self.assertEqual(d.raw_refcnt(None), d.IMMORTAL_REFCNT)
        # 2**61 - 1 steps up and 2**61 down on 64-bit; 2**29 - 1 and 2**29
        # on 32-bit.
        self.assertTrue(d.immortal_at(d.IMMORTAL_REFCNT + BAND - 1))
        self.assertFalse(d.immortal_at(wrapped(d.IMMORTAL_REFCNT + BAND)))
        self.assertTrue(d.immortal_at(d.IMMORTAL_REFCNT - BAND))
        self.assertFalse(d.immortal_at(d.IMMORTAL_REFCNT - BAND - 1))
        # Mortal counts: 0 .. 2**62 - 1 (2**30 - 1).
        for count in (0, 1, 2, 2 ** (WORD - 2) - 1):
            self.assertFalse(d.immortal_at(count), count)
        self.assertTrue(d.immortal_at(2 ** (WORD - 2)))

    def test_handover_static_objects(self):
        # 2**30 references taken by the extension and dropped by the core,
        # then 2**30 the other way: still immortal, never read as unique.
        for obj in (None, int):
            with self.subTest(obj=obj):
                half, low, end = self.drift.handover(obj, HANDOVERS)
                self.assertTrue(half)
                self.assertTrue(end)
                self.assertGreater(low, 1)
                self.assertTrue(sys._is_immortal(obj))

    def test_handover_immortalized_heap_object(self):
        code = textwrap.dedent(f"""
            import importlib.util, sys
            spec = importlib.util.spec_from_file_location(
                'immortal_drift', {self.path!r})
            d = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(d)
            shared = [[i, str(i)] for i in range(1000)]
            sys.immortalize_heap()
            obj = shared[500]
            assert sys._is_immortal(obj)
            half, low, end = d.handover(obj, {HANDOVERS})
            assert half and end and low > 1, (half, low, end)
            assert obj == [500, '500'], obj
            print('ok')
        """)
        res = script_helper.assert_python_ok('-X', 'faulthandler', '-c', code)
        self.assertEqual(res.out.decode().strip(), 'ok')

    def test_core_touch(self):
        # On 32-bit, one touch by the core puts a drifted count back; on
        # 64-bit the core never stores to an immortal object.
        d = self.drift
        steps = BAND - 1 if WORD == 32 else 2 ** 20
        after = d.stock_steps(None, steps)
        self.assertEqual(after, d.IMMORTAL_REFCNT + steps)
        self.assertTrue(sys._is_immortal(None))
        d.core_touch(None)
        if WORD == 32:
            self.assertEqual(d.raw_refcnt(None), d.IMMORTAL_REFCNT)
        else:
            self.assertEqual(d.raw_refcnt(None), d.IMMORTAL_REFCNT + steps)
            d.stock_steps(None, -steps)
            self.assertEqual(d.raw_refcnt(None), d.IMMORTAL_REFCNT)
        # Downwards: the whole band, then one touch.
        steps = BAND if WORD == 32 else 2 ** 20
        self.assertEqual(d.stock_steps(None, -steps),
                         d.IMMORTAL_REFCNT - steps)
        self.assertTrue(sys._is_immortal(None))
        d.core_touch(None)
        if WORD == 64:
            d.stock_steps(None, steps)
        self.assertEqual(d.raw_refcnt(None), d.IMMORTAL_REFCNT)


if __name__ == '__main__':
    unittest.main()
