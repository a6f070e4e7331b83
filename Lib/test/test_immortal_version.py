"""Immortal CPython identifies itself without disturbing version consumers.

The fork ends sys.version with "[Immortal CPython X.Y.Z; security: Debian
REVISION]" and adds sys.implementation._immortal_version and
_immortal_security (the Debian revision whose security fixes upstream
carries: Doc/immortal/security.md); everything that tools key on (the
upstream version number, sys.version_info, the implementation name, the
cache tag, platform's and sysconfig's answers) must stay what stock 3.11.2
gives.
"""

import platform
import re
import subprocess
import sys
import sysconfig
import unittest


class ForkIdentityTests(unittest.TestCase):

    def test_implementation_attribute(self):
        version = sys.implementation._immortal_version
        self.assertIsInstance(version, str)
        self.assertRegex(version, r'^\d+\.\d+\.\d+$')

    def test_security_attribute(self):
        level = sys.implementation._immortal_security
        self.assertRegex(level, r'^Debian 3\.11\.2-\d+\+deb\d+u\d+$')

    def test_sys_version_marker(self):
        marker = (f' [Immortal CPython {sys.implementation._immortal_version};'
                  f' security: {sys.implementation._immortal_security}]')
        self.assertTrue(sys.version.endswith(marker), sys.version)
        # The upstream version number still comes first, as on stock.
        self.assertTrue(sys.version.startswith('3.11.2 ('), sys.version)
        self.assertEqual(sys.version.split()[0], '3.11.2')

    def test_version_info_unchanged(self):
        self.assertEqual(sys.version_info[:3], (3, 11, 2))
        self.assertEqual(sys.version_info.releaselevel, 'final')
        self.assertEqual(sys.hexversion, 0x030B02F0)
        self.assertEqual(sys.implementation.version, sys.version_info)
        self.assertEqual(sys.implementation.hexversion, sys.hexversion)

    def test_implementation_name_and_cache_tag_unchanged(self):
        # Changing either would break pyc caches and extension module lookup.
        self.assertEqual(sys.implementation.name, 'cpython')
        self.assertEqual(sys.implementation.cache_tag, 'cpython-311')

    def test_platform(self):
        self.assertEqual(platform.python_implementation(), 'CPython')
        self.assertEqual(platform.python_version(), '3.11.2')
        self.assertEqual(platform.python_version_tuple(), ('3', '11', '2'))
        buildno, builddate = platform.python_build()
        self.assertTrue(buildno)
        self.assertRegex(builddate, r'\d{4} \d\d:\d\d:\d\d$')
        self.assertTrue(platform.python_compiler())
        self.assertNotIn('Immortal', platform.python_compiler())
        self.assertNotIn('|', platform.python_compiler())

    def test_platform_parses_the_marker_form(self):
        # platform caches by sys.version; feed it a fresh string of our form.
        name, version, branch, revision, buildno, builddate, compiler = (
            platform._sys_version(
                '3.11.2 (main, Nov 21 2026, 09:09:08) [GCC 12.2.0] '
                '[Immortal CPython 9.8.7; security: Debian 3.11.2-6+deb12u8]'))
        self.assertEqual(name, 'CPython')
        self.assertEqual(version, '3.11.2')
        self.assertEqual(buildno, 'main')
        self.assertEqual(builddate, 'Nov 21 2026 09:09:08')
        self.assertEqual(compiler, 'GCC 12.2.0')

    def test_sysconfig(self):
        self.assertEqual(sysconfig.get_python_version(), '3.11')
        self.assertEqual(sysconfig.get_config_var('VERSION'), '3.11')
        # The extension ABI tag is stock's: binary wheels for 3.11 load.
        self.assertIn('.cpython-311', sysconfig.get_config_var('EXT_SUFFIX'))

    def test_command_line_version(self):
        # `python -V` prints the version number only, like stock; -VV shows all.
        out = subprocess.run([sys.executable, '-V'], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(out.strip(), 'Python 3.11.2')
        out = subprocess.run([sys.executable, '-VV'], capture_output=True,
                             text=True, check=True).stdout
        self.assertIn('Immortal CPython', out)
        self.assertIn(f'security: {sys.implementation._immortal_security}]',
                      out)


if __name__ == '__main__':
    unittest.main()
