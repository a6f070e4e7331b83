"""The auditor (Lib/immortal_audit.py), and sys.immortalize_heap() audited.

The auditor follows references its own way, sharing no code with the walk:
after the call it must find nothing on heaps the walk never saw in its own
tests (every standard module that imports, the demo Django app, the
copy-on-write probe's heap), and it must find a planted mortal object.
Each heap is built in a new interpreter: the call is for good.
"""

import os
import sys
import textwrap
import unittest
from test import support
from test.support import script_helper

SERVERS_DIR = os.environ.get("IMMORTAL_SERVERS_DIR", "")
DIST_PACKAGES = "/usr/lib/python3/dist-packages"   # Debian's Django
PROBE = (os.path.join(os.path.dirname(SERVERS_DIR), "cowprobe.py")
         if SERVERS_DIR else "")

REPORT = """
import sys
findings = immortal_audit.audit(limit=20)
print(len(findings))
for f in findings:
    print(f, file=sys.stderr)
"""


def run(code, **env):
    # The auditor is imported before the call, like everything audited.
    res = script_helper.assert_python_ok(
        "-X", "faulthandler", "-c",
        "import immortal_audit\n" + textwrap.dedent(code) + REPORT, **env)
    return res.out.decode().strip().splitlines()[-1], res.err.decode()


@unittest.skipUnless(hasattr(sys, "immortalize_heap"), "needs Immortal CPython")
@support.requires_subprocess()
class AuditTest(unittest.TestCase):

    def test_finds_a_planted_mortal_object(self):
        out, err = run("""
            import sys
            warm = [["a"], {"k": "v"}]
            sys.immortalize_heap()
            warm.append(["planted-" + str(len(warm))])    # after the call
            warm[1]["new-key-" + str(len(warm))] = 1
            kinds = sorted(type(f.referent).__name__ + "<-" +
                           type(f.holder).__name__
                           for f in immortal_audit.audit())
            print(kinds, file=sys.stderr)
            assert "list<-list" in kinds and "str<-dict" in kinds, kinds
            warm.pop(); del warm[1]["new-key-3"]; del kinds
        """)
        self.assertEqual(out, "0", err)

    def test_every_importable_stdlib_module(self):
        out, err = run("""
            import contextlib, io, sys, warnings
            skip = {"antigravity", "this", "idlelib", "turtledemo",
                    "__phello__", "__hello__", "tkinter", "turtle"}
            imported = 0
            with warnings.catch_warnings(), \\
                    contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                for name in sorted(sys.stdlib_module_names - skip):
                    try:
                        __import__(name)
                        imported += 1
                    except Exception:
                        pass
            assert imported > 150, imported
            sys.immortalize_heap()
        """)
        self.assertEqual(out, "0", err)

    @unittest.skipUnless(SERVERS_DIR and os.path.isdir(
        os.path.join(DIST_PACKAGES, "django")),
        "needs IMMORTAL_SERVERS_DIR (make test sets it) and Debian's Django")
    def test_demo_django_app(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            out, err = run(f"""
                import sys
                sys.path[:0] = [{SERVERS_DIR!r}, {DIST_PACKAGES!r}]
                import demoapp.wsgi          # loads and warms the shop up
                sys.immortalize_heap()
            """, DEMOAPP_DB=os.path.join(tmp, "demo.sqlite3"),
                DEMOAPP_PRODUCTS="2000")
        self.assertEqual(out, "0", err)

    @unittest.skipUnless(PROBE and os.path.exists(PROBE),
                         "needs IMMORTAL_SERVERS_DIR (make test sets it)")
    def test_probe_heap(self):
        out, err = run(f"""
            import sys
            sys.path.insert(0, {os.path.dirname(PROBE)!r})
            import cowprobe
            for name in cowprobe.DEFAULT_MODULES:
                __import__(name)
            heap = cowprobe.build_heap(20, cowprobe.SHAPES)
            sys.immortalize_heap()
        """)
        self.assertEqual(out, "0", err)


if __name__ == "__main__":
    unittest.main()
