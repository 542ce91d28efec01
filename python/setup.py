"""Build of the bgfetch wheel: cargo builds libbgfetch (../Cargo.toml) and the wheel carries it
as ``bgfetch/libbgfetch.so``, which ``bgfetch/_lib.py`` loads with ctypes.

- setuptools-rust with ``Binding.NoBinding``: ``cargo rustc --lib --release --crate-type
  <the crate-types of Cargo.toml's [lib]>`` (the crate's own release profile); the copy in
  the wheel has its debug info stripped. Asking for the crate's own crate types (not just
  ``cdylib``, setuptools-rust's default) makes this the very build ``cargo build --release``
  does: after one, the wheel's build has nothing to compile, and it does not invalidate
  cargo's own build of the library either.
  ``SETUPTOOLS_RUST_CARGO_PROFILE`` picks another cargo profile (``dist``: the LTO'd,
  stripped profile ``make install`` uses; ``dev``: a quick debug build, as the tests do);
  ``CARGO_TARGET_DIR`` another target directory (the build then reuses what is there).
- cargo's output goes to stderr as it comes (``quiet=False``: setuptools-rust then leaves
  cargo's stderr alone instead of capturing it). pip shows a build backend's output only
  with ``-v``: ``pip install -v ./python`` shows cargo compiling each crate, which is most of
  the minute or so a first build takes; without ``-v`` pip shows "Building wheel ..." only.
  ``tests/ffi_python.rs`` checks that ``pip wheel -v`` shows it.
- The library is not a Python extension module: it is named ``libbgfetch.so`` (no
  ``cpython-3XX`` suffix) and the wheel is tagged ``py3-none-<platform>``: one wheel serves
  every Python 3 of that platform.
"""

import os
import re
import sys

from setuptools import setup
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust import build_rust as _build_rust

try:
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # older setuptools (a --no-build-isolation build)
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
CARGO_TOML = os.path.join(os.path.dirname(HERE), "Cargo.toml")
LIB_FILE = "libbgfetch.dylib" if sys.platform == "darwin" else "libbgfetch.so"


def crate_types():
    """The crate types of the crate's [lib], cdylib among them."""
    types = ["cdylib"]
    try:
        with open(CARGO_TOML) as f:
            text = f.read()
    except OSError:
        return types  # setuptools-rust reports the missing manifest
    lib = re.search(r"^\[lib\](.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = lib and re.search(r"^crate-type\s*=\s*\[([^\]]*)\]", lib.group(1), re.M)
    if found:
        types = re.findall(r'"([^"]+)"', found.group(1))
        if "cdylib" not in types:
            types.insert(0, "cdylib")
    return types


class build_rust(_build_rust):
    """Puts the cdylib at ``bgfetch/libbgfetch.so`` (a C library, not an extension module)."""

    def get_dylib_ext_path(self, ext, target_fname):
        path = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(path), LIB_FILE)


class bdist_wheel(_bdist_wheel):
    """``py3-none-<platform>``: the wheel holds a native library but no extension module."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    rust_extensions=[
        RustExtension(
            "bgfetch.libbgfetch",
            path=CARGO_TOML,
            args=["--crate-type", ",".join(crate_types())],
            binding=Binding.NoBinding,
            py_limited_api=False,
            strip=Strip.Debug,
            quiet=False,  # cargo's progress on stderr, shown by `pip install -v`
        )
    ],
    cmdclass={"build_rust": build_rust, "bdist_wheel": bdist_wheel},
)
