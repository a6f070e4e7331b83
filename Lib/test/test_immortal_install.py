"""The fork installed like a Python: `make install` (make test uses the
prefix `make servers` installed, IMMORTAL_SERVER_PREFIX), then `python3 -m
venv`, then pip installing a wheel and an sdist with a C extension, which
pip compiles against the installed fork's headers. Offline: the wheel and
the sdist are made here; the venv's pip and setuptools are the ones
ensurepip bundles.
"""

import base64
import hashlib
import os
import subprocess
import tempfile
import textwrap
import unittest
import zipfile

PREFIX = os.environ.get("IMMORTAL_SERVER_PREFIX", "")

EXT_C = r"""
#include <Python.h>

/* Does this interpreter see op as immortal? Built against the fork's
   headers, Py_INCREF/Py_DECREF below leave an immortal op alone. */
static PyObject *
refcount_moves(PyObject *self, PyObject *op)
{
    Py_ssize_t before = Py_REFCNT(op);
    Py_INCREF(op);
    Py_ssize_t during = Py_REFCNT(op);
    Py_DECREF(op);
    return PyBool_FromLong(during != before);
}

static PyMethodDef methods[] = {
    {"refcount_moves", refcount_moves, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "immortal_probe_ext", NULL, -1, methods
};

PyMODINIT_FUNC
PyInit_immortal_probe_ext(void)
{
    return PyModule_Create(&module);
}
"""

SETUP_PY = """
from setuptools import Extension, setup
setup(name="immortal-probe-ext", version="1.0",
      ext_modules=[Extension("immortal_probe_ext", ["probe.c"])])
"""


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f"{name},sha256={digest.rstrip(b'=').decode()},{len(data)}"


def make_wheel(directory):
    """A pure-Python wheel, written by hand (no `wheel` package offline)."""
    files = {
        "immortal_probe_pure.py": b"ANSWER = 42\n",
        "immortal_probe_pure-1.0.dist-info/METADATA":
            b"Metadata-Version: 2.1\nName: immortal-probe-pure\nVersion: 1.0\n",
        "immortal_probe_pure-1.0.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: test_immortal_install\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "immortal_probe_pure-1.0.dist-info/RECORD"
    lines = [record_line(n, d) for n, d in files.items()] + [f"{record},,"]
    files[record] = ("\n".join(lines) + "\n").encode()
    path = os.path.join(directory, "immortal_probe_pure-1.0-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


@unittest.skipUnless(PREFIX and os.path.exists(os.path.join(PREFIX, "bin",
                                                            "python3")),
                     "needs the fork installed (make servers; make test sets "
                     "IMMORTAL_SERVER_PREFIX)")
class InstalledForkTest(unittest.TestCase):

    def test_venv_pip_wheel_and_sdist_with_a_c_extension(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PIP_", "PYTHON"))}
            env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
                       PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PIP_CACHE_DIR=os.path.join(tmp, "pip-cache"))
            venv = os.path.join(tmp, "venv")
            subprocess.run([os.path.join(PREFIX, "bin", "python3"), "-m",
                            "venv", venv], check=True, env=env)
            python = os.path.join(venv, "bin", "python")
            pip = [python, "-m", "pip", "install", "-q"]
            subprocess.run(pip + [make_wheel(tmp)], check=True, env=env)
            src = os.path.join(tmp, "src")
            os.mkdir(src)
            with open(os.path.join(src, "probe.c"), "w") as f:
                f.write(EXT_C)
            with open(os.path.join(src, "setup.py"), "w") as f:
                f.write(SETUP_PY)
            proc = subprocess.run(pip + ["--no-build-isolation", src],
                                  env=env, capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
            out = subprocess.run([python, "-c", textwrap.dedent("""
                import sys, sysconfig
                import immortal_probe_ext, immortal_probe_pure
                print(sys.prefix != sys.base_prefix, sys.base_prefix)
                print("Immortal CPython" in sys.version,
                      immortal_probe_pure.ANSWER)
                print(immortal_probe_ext.__file__.startswith(sys.prefix),
                      immortal_probe_ext.refcount_moves(None),
                      immortal_probe_ext.refcount_moves([]))
                print(sysconfig.get_paths()["include"])
            """)], check=True, env=env, capture_output=True,
                text=True).stdout.split("\n")
        in_venv, base = out[0].split(" ", 1)
        self.assertEqual(in_venv, "True")
        self.assertEqual(os.path.realpath(base), os.path.realpath(PREFIX))
        self.assertEqual(out[1], "True 42")
        # None is immortal: the extension's own Py_INCREF leaves it alone;
        # a new list is mortal.
        self.assertEqual(out[2], "True False True")
        # The headers it compiled against: the installed fork's.
        self.assertTrue(os.path.realpath(out[3]).startswith(
            os.path.realpath(PREFIX)), out[3])


if __name__ == "__main__":
    unittest.main()
