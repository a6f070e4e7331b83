"""Extensions built against stock 3.11 headers keep working on the fork.

Their Py_INCREF()/Py_DECREF() are a plain ob_refcnt++/--: the fork must keep
an immortal object immortal through at least 2**31 unbalanced increments or
decrements made that way, and must reset, not free, a static object such
code drives to zero.

The extension (Lib/test/immortal_oldabi.c) is compiled against the headers
of the stock twin, the pristine 3.11.2 built with the same flags, named by
the IMMORTAL_STOCK_PYTHON environment variable (`make test` sets it).
"""

import importlib.util
import os
import shlex
import struct
import subprocess
import sys
import sysconfig
import tempfile
import unittest

from test import support

STOCK_PYTHON = os.environ.get('IMMORTAL_STOCK_PYTHON')
N = 2**32
IMMORTAL_REFCNT = 3 << (8 * struct.calcsize('n') - 3)


def compile_extension(tmpdir, name='immortal_oldabi'):
    """Compile Lib/test/NAME.c with the stock interpreter's headers, as
    binary wheels for 3.11 are built; return the path of the module."""
    source = os.path.join(os.path.dirname(__file__), name + '.c')
    query = ('import sysconfig; '
             'print(sysconfig.get_paths()["include"]); '
             'print(sysconfig.get_config_h_filename())')
    out = subprocess.run([STOCK_PYTHON, '-c', query], check=True,
                         capture_output=True, text=True).stdout.split('\n')
    include, config_h = out[0], out[1]
    if os.path.exists(os.path.join(include, 'immortal.h')):
        raise unittest.SkipTest(f'{STOCK_PYTHON} is not a stock build')
    suffix = sysconfig.get_config_var('EXT_SUFFIX')
    target = os.path.join(tmpdir, name + suffix)
    cc = shlex.split(sysconfig.get_config_var('CC'))
    cmd = [*cc, '-O2', '-fPIC', '-shared',
           '-I', include, '-I', os.path.dirname(config_h),
           source, '-o', target]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f'{shlex.join(cmd)} failed:\n{proc.stderr}')
    return target


def build_extension(tmpdir):
    """Compile immortal_oldabi.c with the stock interpreter's headers and
    load it."""
    target = compile_extension(tmpdir)
    spec = importlib.util.spec_from_file_location('immortal_oldabi', target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_extension = None


def extension():
    """Build and load the extension once per process: CPython keeps every
    single-phase-init extension module it loads, so loading a fresh copy for
    each run of the tests (regrtest -R) would show up as a leak."""
    global _extension
    if _extension is None:
        with tempfile.TemporaryDirectory() as tmpdir:
            _extension = build_extension(tmpdir)
    return _extension


@unittest.skipUnless(STOCK_PYTHON, 'IMMORTAL_STOCK_PYTHON (the stock twin) '
                     'is not set; `make test` sets it')
@support.requires_subprocess()
class OldABITests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ext = extension()

    def test_unbalanced_refcounting_keeps_none_and_small_int_immortal(self):
        ext = self.ext
        forty_two = 42
        objs = (None, forty_two)
        start = [ext.raw_refcnt(o) for o in objs]
        for o in objs:
            self.assertTrue(sys._is_immortal(o))

        # Each call of the extension also increfs None once, as stock's
        # Py_RETURN_NONE does: hence the small tolerance on the counts.
        ext.incref_n(objs, N)         # 2**32 unbalanced increments
        for o, s in zip(objs, start):
            self.assertAlmostEqual(ext.raw_refcnt(o), s + N, delta=16)
            self.assertTrue(sys._is_immortal(o))
            self.assertEqual(sys.getrefcount(o), sys.getrefcount(()))

        ext.decref_n(objs, 2 * N)     # then 2**32 below where they started
        for o, s in zip(objs, start):
            self.assertAlmostEqual(ext.raw_refcnt(o), s - N, delta=16)
            self.assertTrue(sys._is_immortal(o))
            # The fork's own refcounting still leaves them alone.
            before = ext.raw_refcnt(o)
            refs = [o] * 1000
            del refs
            self.assertIn(ext.raw_refcnt(o) - before, (0, 1))

        # Never freed, still themselves.
        self.assertEqual(forty_two + 1, 43)
        self.assertEqual(repr(None), 'None')

        # Leave them where they started (for -R runs and later tests).
        ext.incref_n(objs, N)
        for o, s in zip(objs, start):
            self.assertAlmostEqual(ext.raw_refcnt(o), s, delta=16)

    def test_static_objects_are_reset_not_freed(self):
        ext = self.ext
        immortal_refcnt = IMMORTAL_REFCNT
        # The runtime's static objects, the singletons, static types, and
        # deep-frozen objects ('a' and 'encodings' are interned from the
        # frozen stdlib; importlib's bootstrap code is always frozen).
        import _frozen_importlib
        for obj in (None, True, False, Ellipsis, NotImplemented, 0, 256, -5,
                    '', 'a', chr(0xe9), b'', bytes([120]), (), int, type,
                    object,
                    sys.intern('encodings'),
                    _frozen_importlib._find_and_load.__code__,
                    _frozen_importlib._find_and_load.__code__.co_consts):
            with self.subTest(obj=obj):
                # Driving a mortal object to zero would free it for real.
                self.assertTrue(sys._is_immortal(obj))
                ext.drive_to_zero(obj)
                self.assertTrue(sys._is_immortal(obj))
                # Reset to the immortal value (then, for None, the
                # extension's own Py_RETURN_NONE added one).
                self.assertIn(ext.raw_refcnt(obj) - immortal_refcnt, (0, 1))
        # Still usable: nothing was freed.
        self.assertEqual(repr((None, True, 0, '', b'', ())),
                         "(None, True, 0, '', b'', ())")

    def test_static_type_of_old_extension_is_immortal(self):
        cls = self.ext.OldStatic
        self.assertEqual(self.ext.static_type_refcnt_before_ready, 1)
        self.assertTrue(sys._is_immortal(cls))
        self.assertIsInstance(cls(), cls)


if __name__ == '__main__':
    unittest.main()
