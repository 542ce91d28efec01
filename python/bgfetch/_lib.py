"""Finding and loading libbgfetch, and checking its version (once, at import).

Where the library is looked for, in this order; the first that exists is used:

1. **bundled**: ``libbgfetch.so`` in this package's directory (what ``pip install ./python``
   puts there). When it is there, it is the one: the wheel was built for it.
2. ``$BGFETCH_LIB``: a library file, or a directory holding ``libbgfetch.so.0.3`` (the soname)
   or ``libbgfetch.so`` (a cargo target directory, a ``make install`` libdir).
   Set but wrong (missing, not a library, not libbgfetch, another version): ``ImportError``;
   nothing else is tried.
3. the system's search: ``libbgfetch.so.0.3`` by its soname through the dynamic loader
   (``LD_LIBRARY_PATH``, the ``ldconfig`` cache, the default directories), then
   ``ctypes.util.find_library("bgfetch")``.
4. a source checkout: ``target/release`` then ``target/debug`` of the repository this
   package directory lives in (``python/bgfetch`` next to ``Cargo.toml``), for
   ``PYTHONPATH=python`` runs.

In 3 and 4 a library of another version is skipped (and listed). The soname carries the
ABI: ``0.MINOR`` during 0.x (``libbgfetch.so.0.3``), ``MAJOR`` from 1.0 on; it is derived from
this package's version. The library's ``bgfetch_version()`` must have this package's
MAJOR.MINOR; otherwise ``ImportError``. When nothing is found, the ``ImportError`` lists
every place tried and why each was refused.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import List, Mapping, NamedTuple, Optional, Tuple

from ._version import __version__

LIB_FILE = "libbgfetch.dylib" if sys.platform == "darwin" else "libbgfetch.so"


def abi_version(version: str = __version__) -> str:
    """The part of a version the ABI promise covers: ``"0.2"`` for 0.2.x, ``"1"`` for 1.x."""
    major, minor = version.split(".")[:2]
    return "%s.%s" % (major, minor) if major == "0" else major


def soname(version: str = __version__) -> str:
    """The library's soname for ``version``: ``libbgfetch.so.0.3`` for 0.2.x."""
    if sys.platform == "darwin":
        return "libbgfetch.%s.dylib" % abi_version(version)
    return "%s.%s" % (LIB_FILE, abi_version(version))


def compatible(library_version: str, package_version: str = __version__) -> bool:
    """Whether a library of ``library_version`` serves this package: same MAJOR.MINOR."""
    return library_version.split(".")[:2] == package_version.split(".")[:2]


class Loaded(NamedTuple):
    """What ``load`` found."""

    lib: ctypes.CDLL
    path: str           # the file loaded
    version: str        # its bgfetch_version()
    how: str            # "bundled", "BGFETCH_LIB", "soname", "find_library", "source checkout"
    tried: List[str]    # the places passed over before it, each with the reason


class _Refused(Exception):
    """A candidate that exists but cannot be used (why: the message)."""


def _open(path: str) -> Tuple[ctypes.CDLL, str]:
    """Loads ``path`` (a file or a name for the dynamic loader); returns it and its version."""
    try:
        # CDLL (not PyDLL): every call releases the GIL, so the library's threads can run
        # Python callbacks while a thread blocks in a call.
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise _Refused("cannot be loaded: %s" % e) from None
    try:
        fn = lib.bgfetch_version
    except AttributeError:
        raise _Refused("is not libbgfetch (no bgfetch_version)") from None
    fn.restype = ctypes.c_char_p
    fn.argtypes = []
    raw = fn()
    version = raw.decode("ascii", "replace") if raw else "?"
    if not compatible(version):
        raise _Refused("is libbgfetch %s; this bgfetch package (%s) needs %s.x"
                       % (version, __version__, abi_version()))
    return lib, version


def _loaded_path(lib: ctypes.CDLL, fallback: str) -> str:
    """The file the dynamic loader picked for ``lib`` (Linux: from /proc/self/maps)."""
    try:
        addr = ctypes.cast(lib.bgfetch_version, ctypes.c_void_p).value or 0
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi and len(parts) == 6:
                    return parts[5].strip()
    except (OSError, ValueError):
        pass
    return fallback


def _in_dir(directory: str) -> Optional[str]:
    for name in (soname(), LIB_FILE):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    return None


def _source_checkout_libs(here: str) -> List[str]:
    root = os.path.dirname(os.path.dirname(here))
    if not os.path.isfile(os.path.join(root, "Cargo.toml")):
        return []
    return [os.path.join(root, "target", profile, LIB_FILE) for profile in ("release", "debug")]


def load(env: Optional[Mapping[str, str]] = None,
         here: Optional[str] = None) -> Loaded:
    """Finds and loads the library (see the module doc); ``ImportError`` if none serves."""
    env = os.environ if env is None else env
    here = os.path.dirname(os.path.abspath(__file__)) if here is None else here
    tried: List[str] = []

    def fail(msg: str) -> ImportError:
        lines = [msg, "looked at, in order:"] + ["  - " + t for t in tried]
        lines.append("install the package with `pip install ./python` (it bundles the "
                     "library), or set BGFETCH_LIB to libbgfetch.so or to its directory")
        return ImportError("\n".join(lines))

    # 1. Bundled.
    bundled = os.path.join(here, LIB_FILE)
    if os.path.exists(bundled):
        try:
            lib, version = _open(bundled)
        except _Refused as e:
            tried.append("bundled %s: %s" % (bundled, e))
            raise fail("libbgfetch: the bundled library cannot be used") from None
        return Loaded(lib, bundled, version, "bundled", tried)
    tried.append("bundled %s: not there" % bundled)

    # 2. BGFETCH_LIB: a file or a directory. Set means chosen: no fallback.
    chosen = env.get("BGFETCH_LIB")
    if chosen:
        if os.path.isdir(chosen):
            found = _in_dir(os.path.abspath(chosen))
            if found is None:
                tried.append("BGFETCH_LIB=%s: a directory without %s or %s"
                             % (chosen, soname(), LIB_FILE))
                raise fail("libbgfetch: BGFETCH_LIB names no library")
            path = found
        elif os.path.exists(chosen):
            path = os.path.abspath(chosen)
        else:
            tried.append("BGFETCH_LIB=%s: does not exist" % chosen)
            raise fail("libbgfetch: BGFETCH_LIB names no library")
        try:
            lib, version = _open(path)
        except _Refused as e:
            tried.append("BGFETCH_LIB=%s: %s %s" % (chosen, path, e))
            raise fail("libbgfetch: BGFETCH_LIB names a library that cannot be used") from None
        return Loaded(lib, path, version, "BGFETCH_LIB", tried)
    tried.append("BGFETCH_LIB: not set")

    # 3. The system's search: the soname, then find_library.
    searches: List[Tuple[str, Optional[str]]] = [("soname", soname())]
    searches.append(("find_library", ctypes.util.find_library("bgfetch")))
    for how, name in searches:
        if name is None:
            tried.append('find_library("bgfetch"): found nothing')
            continue
        try:
            lib, version = _open(name)
        except _Refused as e:
            tried.append("%s %s: %s" % (how, name, e))
            continue
        return Loaded(lib, _loaded_path(lib, name), version, how, tried)

    # 4. A source checkout's cargo builds.
    for path in _source_checkout_libs(here):
        if not os.path.exists(path):
            tried.append("source checkout %s: not there" % path)
            continue
        try:
            lib, version = _open(path)
        except _Refused as e:
            tried.append("source checkout %s: %s" % (path, e))
            continue
        return Loaded(lib, os.path.normpath(path), version, "source checkout", tried)

    raise fail("libbgfetch not found")


loaded = load()
lib = loaded.lib
path = loaded.path
