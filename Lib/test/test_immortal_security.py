"""The security fixes the fork carries, checked by behaviour.

Upstream is the 3.11.2 tarball plus Debian 12's security series
(patches/security-series, Doc/immortal/security.md). The fork and its
stock twin pass every test of FixesTest, so benchmarks compare like with
like. Measured on `make pristine` (the bare tarball, same build settings):
each test of a fix fails there, and the zipfile one hangs, which is
CVE-2024-8088 itself; only test_expat_is_debians, a build setting of all
twins, passes. The fixes' own regression tests come with
the series and run in the suite (test_urlparse, test_email, test_tarfile,
...); these few are an independent check that the series really went in. The level itself (sys.implementation.
_immortal_security, -VV) is test_immortal_version's.
"""

import email.utils
import io
import ipaddress
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest
import urllib.parse
import webbrowser
import wsgiref.headers
import zipfile
import pyexpat


class FixesTest(unittest.TestCase):
    """Also run on the stock twin (StockTwinTest): nothing fork-specific."""

    def test_urlsplit_strips_leading_c0_controls(self):
        # CVE-2023-24329: a leading control character or space hid the
        # scheme from blocklists (pristine: scheme '' and no netloc).
        parts = urllib.parse.urlsplit('\x00\x1f https://example.com/x')
        self.assertEqual(parts.scheme, 'https')
        self.assertEqual(parts.netloc, 'example.com')

    def test_urlsplit_rejects_bracketed_non_ipv6_hosts(self):
        # CVE-2024-11168.
        with self.assertRaises(ValueError):
            urllib.parse.urlsplit('scheme://prefix-[::1]/path')

    def test_getaddresses_rejects_malformed_addresses(self):
        # CVE-2023-27043: pristine parses this as bob@example.com (or two
        # addresses), so a check on the domain could be fooled.
        self.assertEqual(email.utils.getaddresses(
            ['alice@example.org <bob@example.com>']), [('', '')])
        self.assertEqual(email.utils.parseaddr(
            'alice@example.org <bob@example.com>'), ('', ''))
        # The old behaviour stays available on request.
        self.assertNotEqual(email.utils.parseaddr(
            'alice@example.org <bob@example.com>', strict=False), ('', ''))

    def test_tarfile_pax_header_parsing_rejects_bad_records(self):
        # CVE-2024-6232: the backtracking regular expressions of pax
        # header parsing are gone; malformed records are refused.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'pax.tar')
            with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT,
                              encoding='iso8859-1') as tar:
                info = tarfile.TarInfo('pax')
                info.uid = 1
                info.pax_headers = {'foo': 'bar'}
                tar.addfile(info)
            with open(path, 'rb') as f:
                data = f.read()
            self.assertIn(b'11 foo=bar\n', data)
            with open(path, 'wb') as f:
                f.write(data.replace(b'11 foo=bar\n', b'-12 foo=bar\n'))
            with self.assertRaisesRegex(tarfile.ReadError, 'invalid header'):
                tarfile.open(path, encoding='iso8859-1')

    def test_zipfile_path_sanitizes_malformed_names(self):
        # CVE-2024-8088: names like these sent zipfile.Path into an
        # endless loop. With the fix (and its follow-up, gh-123270) leading
        # slashes are dropped and ".." is an ordinary directory name.
        data = io.BytesIO()
        with zipfile.ZipFile(data, 'w') as zf:
            zf.writestr('/one-slash.txt', b'content')
            zf.writestr('//two-slash.txt', b'content')
            zf.writestr('../parent.txt', b'content')
        zf = zipfile.ZipFile(data)
        zf.filename = ''
        root = zipfile.Path(zf)
        self.assertEqual(list(map(str, root.iterdir())), ['../'])
        self.assertEqual(
            root.joinpath('..').joinpath('parent.txt').read_bytes(),
            b'content')

    def test_normpath_keeps_what_follows_a_nul(self):
        # CVE-2023-41105: pristine truncated the path at the NUL.
        self.assertEqual(os.path.normpath('a/\x00b'), 'a/\x00b')

    def test_ipaddress_private_ranges(self):
        # CVE-2024-4032.
        self.assertTrue(ipaddress.ip_address('192.0.0.9').is_global)
        self.assertFalse(ipaddress.ip_network('2001:3::/48').is_private)

    def test_wsgiref_headers_reject_control_characters(self):
        # CVE-2026-0865: header injection through newlines.
        headers = wsgiref.headers.Headers()
        with self.assertRaises(ValueError):
            headers['X-Test'] = 'value\r\nInjected: 1'
        with self.assertRaises(ValueError):
            headers.add_header('X-Test', 'value', param='a\nb')

    def test_webbrowser_rejects_option_like_urls(self):
        # CVE-2026-4519: a URL starting with "-" became a browser option.
        browser = webbrowser.GenericBrowser(['true', '%s'])
        with self.assertRaises(ValueError):
            browser.open('--key=val https://example.com/')

    def test_expat_is_debians(self):
        # The tarball's expat 2.5.0 gets no security fixes; pyexpat links
        # Debian's libexpat (--with-system-expat), which does. Debian's
        # 2.5.0 carries the reparse deferral of expat 2.6 (CVE-2023-52425):
        # the tarball's copy has no such setting.
        self.assertEqual(pyexpat.version_info, (2, 5, 0))
        with open('/proc/self/maps') as f:
            maps = f.read()
        self.assertIn('libexpat.so', maps)


class StockTwinTest(unittest.TestCase):
    """The stock twin carries the same fixes (make stock)."""

    def test_stock_twin_passes_the_fixes(self):
        stock = os.environ.get('IMMORTAL_STOCK_PYTHON')
        if not stock:
            self.skipTest('IMMORTAL_STOCK_PYTHON is not set (make test sets it)')
        proc = subprocess.run([stock, __file__, '-v', 'FixesTest'],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        count = unittest.defaultTestLoader.loadTestsFromTestCase(
            FixesTest).countTestCases()
        self.assertIn(f'Ran {count} tests', proc.stderr)


if __name__ == '__main__':
    unittest.main()
