"""Finding the library: BGFETCH_LIB, else next to the module, else ../target/release, then
../target/debug relative to the module. Each case runs in a fresh interpreter."""

import os
import subprocess
import sys
import unittest

import bgfetch

MODULE_DIR = os.path.dirname(os.path.abspath(bgfetch.__file__))
PROBE = "import bgfetch, sys; sys.stdout.write(bgfetch._lib._name)"


def run_probe(env_lib):
    env = dict(os.environ)
    env.pop("BGFETCH_LIB", None)
    if env_lib is not None:
        env["BGFETCH_LIB"] = env_lib
    env["PYTHONPATH"] = MODULE_DIR
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=30)


class Loading(unittest.TestCase):
    def test_bgfetch_lib_is_used_when_set(self):
        lib = os.environ.get("BGFETCH_LIB")
        if not lib:
            self.skipTest("BGFETCH_LIB is not set")
        p = run_probe(lib)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, lib)
        self.assertEqual(bgfetch._lib._name, lib)

    def test_bgfetch_lib_pointing_nowhere_fails_to_import(self):
        p = run_probe(os.path.join(MODULE_DIR, "no-such-libbgfetch.so"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no-such-libbgfetch.so", p.stderr)

    def test_without_bgfetch_lib_the_module_looks_beside_itself_then_in_target(self):
        candidates = [os.path.join(MODULE_DIR, "libbgfetch.so"),
                      os.path.join(MODULE_DIR, os.pardir, "target", "release", "libbgfetch.so"),
                      os.path.join(MODULE_DIR, os.pardir, "target", "debug", "libbgfetch.so")]
        found = [os.path.normpath(c) for c in candidates if os.path.exists(c)]
        p = run_probe(None)
        if not found:
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("libbgfetch not found", p.stderr)
        else:
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, found[0])


if __name__ == "__main__":
    unittest.main()
