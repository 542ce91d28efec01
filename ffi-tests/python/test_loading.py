"""Finding the library (bgfetch/_lib.py): bundled, then BGFETCH_LIB (a file or a directory),
then the soname through the dynamic loader and find_library, then a source checkout's
target/; the version check; a clear ImportError listing what was tried.

Each case imports a copy of the package in a fresh interpreter, so that the test controls
what lies beside it; the library used is the one this run loaded (the wheel's bundled copy
when the suite runs against the installed package)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import bgfetch
from bgfetch import _lib

PACKAGE_DIR = os.path.dirname(os.path.abspath(bgfetch.__file__))
REAL_LIB = bgfetch.library_path()
SONAME = _lib.soname()
PROBE = ("import json, sys, bgfetch; from bgfetch import _lib; "
         "sys.stdout.write(json.dumps([_lib.loaded.how, _lib.loaded.path, bgfetch.version()]))")
CC = shutil.which("cc") or shutil.which("gcc")


def copy_package(dest_parent, with_library=False):
    """A copy of the package under ``dest_parent`` (the bundled library only if asked)."""
    dest = os.path.join(dest_parent, "bgfetch")
    shutil.copytree(PACKAGE_DIR, dest,
                    ignore=shutil.ignore_patterns("libbgfetch*", "__pycache__"))
    if with_library:
        shutil.copy(REAL_LIB, os.path.join(dest, _lib.LIB_FILE))
    return dest_parent


def probe(pythonpath, bgfetch_lib=None, ld_library_path=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("BGFETCH_LIB", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PYTHONPATH"] = pythonpath
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if bgfetch_lib is not None:
        env["BGFETCH_LIB"] = bgfetch_lib
    if ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = ld_library_path
    p = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                       timeout=60, cwd=pythonpath)
    if p.returncode == 0:
        how, path, version = json.loads(p.stdout)
        return how, os.path.realpath(path), version, p.stderr
    return None, None, None, p.stderr


def build_fake_library(dest, version):
    """A shared library exporting bgfetch_version() -> version (None: no such function)."""
    src = os.path.join(os.path.dirname(dest), "fake.c")
    with open(src, "w") as f:
        if version is None:
            f.write("int not_bgfetch(void) { return 1; }\n")
        else:
            f.write('const char *bgfetch_version(void) { return "%s"; }\n' % version)
    subprocess.run([CC, "-shared", "-fPIC", "-o", dest, src], check=True, timeout=60)
    return dest


class LookupOrder(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bgfetch-loading-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pkg = copy_package(os.path.join(self.tmp, "site"))
        self.real = os.path.realpath(REAL_LIB)

    def libdir(self, *names, target=None):
        """A directory holding ``names``, each a symlink to ``target`` (the real library)."""
        d = tempfile.mkdtemp(dir=self.tmp)
        for n in names:
            os.symlink(target or REAL_LIB, os.path.join(d, n))
        return d

    def test_bundled_library_comes_first(self):
        site = copy_package(os.path.join(self.tmp, "bundled"), with_library=True)
        bundled = os.path.join(site, "bgfetch", _lib.LIB_FILE)
        how, path, version, err = probe(site, bgfetch_lib=os.path.join(self.tmp, "nowhere.so"))
        self.assertEqual((how, path), ("bundled", os.path.realpath(bundled)), err)
        self.assertEqual(version, bgfetch.version())

    def test_bgfetch_lib_as_a_file(self):
        how, path, _, err = probe(self.pkg, bgfetch_lib=REAL_LIB)
        self.assertEqual((how, path), ("BGFETCH_LIB", self.real), err)

    def test_bgfetch_lib_as_a_directory(self):
        d = self.libdir(_lib.LIB_FILE)
        how, path, _, err = probe(self.pkg, bgfetch_lib=d)
        self.assertEqual(how, "BGFETCH_LIB", err)
        self.assertEqual(path, self.real)
        # A directory with the soname too (a `make install` libdir): the soname is preferred.
        d2 = self.libdir(SONAME)
        os.symlink("/nonexistent/libbgfetch.so", os.path.join(d2, _lib.LIB_FILE))
        how, path, _, err = probe(self.pkg, bgfetch_lib=d2)
        self.assertEqual((how, path), ("BGFETCH_LIB", self.real), err)

    def test_wrong_bgfetch_lib_is_a_clear_error(self):
        nowhere = os.path.join(self.tmp, "no-such-libbgfetch.so")
        empty_dir = tempfile.mkdtemp(dir=self.tmp)
        not_a_lib = os.path.join(self.tmp, "text.so")
        with open(not_a_lib, "w") as f:
            f.write("not a library\n")
        for value, says in ((nowhere, "does not exist"),
                            (empty_dir, "a directory without %s or %s" % (SONAME, _lib.LIB_FILE)),
                            (not_a_lib, "cannot be loaded")):
            with self.subTest(bgfetch_lib=value):
                # Set means chosen: no fallback to another library, even one that exists.
                how, _, _, err = probe(self.pkg, bgfetch_lib=value,
                                       ld_library_path=self.libdir(SONAME))
                self.assertIsNone(how)
                self.assertIn("ImportError", err)
                self.assertIn(value, err)
                self.assertIn(says, err)
                self.assertIn("looked at, in order:", err)

    def test_soname_through_the_dynamic_loader(self):
        how, path, _, err = probe(self.pkg, ld_library_path=self.libdir(SONAME))
        self.assertEqual((how, path), ("soname", self.real), err)

    def test_source_checkout_target_dirs_come_last(self):
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(os.path.join(repo, "target", "debug"))
        with open(os.path.join(repo, "Cargo.toml"), "w") as f:
            f.write("[package]\n")
        os.symlink(REAL_LIB, os.path.join(repo, "target", "debug", _lib.LIB_FILE))
        site = copy_package(os.path.join(repo, "python"))
        how, path, _, err = probe(site)
        if how in ("soname", "find_library"):
            self.skipTest("this machine has an installed libbgfetch: %s" % path)
        self.assertEqual((how, path), ("source checkout", self.real), err)

    def test_nothing_found_lists_what_was_tried(self):
        how, path, _, err = probe(self.pkg)
        if how in ("soname", "find_library"):
            self.skipTest("this machine has an installed libbgfetch: %s" % path)
        self.assertIsNone(how)
        self.assertIn("libbgfetch not found", err)
        for tried in ("bundled %s: not there" % os.path.join(self.pkg, "bgfetch", _lib.LIB_FILE),
                      "BGFETCH_LIB: not set", "soname %s: cannot be loaded" % SONAME,
                      'find_library("bgfetch")', "pip install ./python"):
            self.assertIn(tried, err)


@unittest.skipIf(CC is None, "no C compiler to build a fake library")
class VersionCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bgfetch-version-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pkg = copy_package(os.path.join(self.tmp, "site"))

    def test_a_library_of_another_minor_version_is_refused(self):
        fake = build_fake_library(os.path.join(self.tmp, "libbgfetch.so"), "0.1.7")
        how, _, _, err = probe(self.pkg, bgfetch_lib=fake)
        self.assertIsNone(how)
        self.assertIn("is libbgfetch 0.1.7; this bgfetch package (%s) needs %s.x"
                      % (bgfetch.__version__, _lib.abi_version()), err)

    def test_another_patch_version_is_accepted(self):
        major, minor = bgfetch.__version__.split(".")[:2]
        fake = build_fake_library(os.path.join(self.tmp, "libbgfetch.so"),
                                  "%s.%s.99" % (major, minor))
        # The fake has only bgfetch_version: the import stops later, at a missing function
        # being called, or succeeds (missing functions fail when called) - not at the check.
        how, _, version, err = probe(self.pkg, bgfetch_lib=fake)
        self.assertNotIn("needs %s.x" % _lib.abi_version(), err)
        if how is not None:
            self.assertEqual(version, "%s.%s.99" % (major, minor))

    def test_a_library_without_bgfetch_version_is_refused(self):
        fake = build_fake_library(os.path.join(self.tmp, "libother.so"), None)
        how, _, _, err = probe(self.pkg, bgfetch_lib=fake)
        self.assertIsNone(how)
        self.assertIn("is not libbgfetch (no bgfetch_version)", err)

    def test_the_system_search_skips_other_versions(self):
        d = os.path.join(self.tmp, "lib")
        os.makedirs(d)
        build_fake_library(os.path.join(d, SONAME), "9.9.0")
        how, path, _, err = probe(self.pkg, ld_library_path=d)
        if how is not None:
            self.assertNotEqual(how, "soname", "a 9.9.0 library was accepted")
        else:
            self.assertIn("soname %s: is libbgfetch 9.9.0" % SONAME, err)


class WhatThisRunTests(unittest.TestCase):
    def test_the_suite_runs_against_the_package_it_should(self):
        kind = os.environ.get("BGFETCH_TEST_PACKAGE")
        repo_python = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    os.pardir, os.pardir, "python"))
        if kind == "installed":
            # The installed wheel, with the library it bundles; not the source tree.
            self.assertEqual(_lib.loaded.how, "bundled")
            self.assertFalse(os.path.realpath(PACKAGE_DIR).startswith(repo_python + os.sep),
                             PACKAGE_DIR)
            self.assertEqual(os.path.dirname(os.path.realpath(REAL_LIB)),
                             os.path.realpath(PACKAGE_DIR))
        elif kind == "source":
            self.assertEqual(os.path.realpath(PACKAGE_DIR),
                             os.path.join(repo_python, "bgfetch"))
        else:
            self.skipTest("BGFETCH_TEST_PACKAGE is not set (run through cargo test)")


class Versions(unittest.TestCase):
    def test_soname_and_compatibility_follow_the_abi_policy(self):
        self.assertEqual(_lib.soname("0.2.0"), "libbgfetch.so.0.2")
        self.assertEqual(_lib.soname("0.2.7"), "libbgfetch.so.0.2")
        self.assertEqual(_lib.soname("1.4.2"), "libbgfetch.so.1")
        self.assertTrue(_lib.compatible("0.2.9", "0.2.0"))
        self.assertFalse(_lib.compatible("0.3.0", "0.2.0"))
        self.assertFalse(_lib.compatible("1.2.0", "0.2.0"))

    def test_package_library_and_crate_versions_agree(self):
        self.assertTrue(_lib.compatible(bgfetch.version(), bgfetch.__version__))
        cargo = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                             "Cargo.toml")
        if not os.path.exists(cargo):
            self.skipTest("Cargo.toml not found")
        with open(cargo) as f:
            text = f.read()
        crate_version = text.split("\nversion = \"", 1)[1].split("\"", 1)[0]
        self.assertEqual(bgfetch.__version__, crate_version)


if __name__ == "__main__":
    unittest.main()
