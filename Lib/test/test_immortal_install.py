"""The fork installed like a Python: `make install` (make test uses the
prefix `make servers` installed, IMMORTAL_SERVER_PREFIX), then `python3 -m
venv`, then pip installing a wheel and an sdist with a C extension, which
pip compiles against the installed fork's headers. Offline: the wheel and
the sdist are made here; the venv's pip and setuptools are the ones
ensurepip bundles.
"""

import base64
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest
import zipfile

PREFIX = os.environ.get("IMMORTAL_SERVER_PREFIX", "")
# Where `make deb` wrote the package (make test says).
DEB_DIR = os.environ.get("IMMORTAL_DEB_DIR", "")
DEB_PREFIX = "/opt/immortal-cpython"

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


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dpkg_installed(package):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          capture_output=True, text=True)
    return proc.returncode == 0 and "install ok installed" in proc.stdout


@unittest.skipUnless(DEB_DIR, "IMMORTAL_DEB_DIR is not set (make test "
                     "builds the package with make deb and sets it)")
@unittest.skipUnless(shutil.which("dpkg") and hasattr(os, "geteuid")
                     and os.geteuid() == 0,
                     "installing a package needs dpkg and root")
class DebPackageTest(unittest.TestCase):
    """make deb's package installs with dpkg -i under /opt/immortal-cpython,
    beside the system's python3, runs, and dpkg -r removes every file."""

    def test_install_run_remove(self):
        debs = glob.glob(os.path.join(DEB_DIR, "immortal-cpython_*.deb"))
        self.assertEqual(len(debs), 1, debs)
        if dpkg_installed("immortal-cpython") or os.path.exists(DEB_PREFIX):
            self.skipTest(f"{DEB_PREFIX} is in use (the package is "
                          "installed): not touching it")
        system = os.path.realpath("/usr/bin/python3")
        system_sum = sha256(system) if os.path.exists(system) else None
        proc = subprocess.run(["dpkg", "-i", debs[0]], capture_output=True,
                              text=True)
        self.addCleanup(subprocess.run, ["dpkg", "--purge", "immortal-cpython"],
                        capture_output=True)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        python = os.path.join(DEB_PREFIX, "bin", "python3")
        env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
        out = subprocess.run(
            [python, "-c", "import sys, ssl, sqlite3, ctypes, readline;"
             "print(sys.prefix, sys._is_immortal(None),"
             " 'Immortal CPython' in sys.version)"],
            env=env, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), [DEB_PREFIX, "True", "True"])
        pip = subprocess.run([python, "-m", "pip", "--version"], env=env,
                             capture_output=True, text=True)
        self.assertEqual(pip.returncode, 0, pip.stderr)
        self.assertIn(DEB_PREFIX, pip.stdout)
        # The system's python3 is untouched.
        if system_sum is not None:
            self.assertEqual(sha256(system), system_sum)
        self.assertEqual(os.path.realpath("/usr/bin/python3"), system)
        proc = subprocess.run(["dpkg", "-r", "immortal-cpython"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertFalse(dpkg_installed("immortal-cpython"))
        left = []
        for top, dirs, files in os.walk(DEB_PREFIX):
            left += [os.path.join(top, f) for f in files]
        self.assertEqual(left, [])
        self.assertFalse(os.path.exists(DEB_PREFIX))


if __name__ == "__main__":
    unittest.main()
