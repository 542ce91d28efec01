"""Shared helpers of the Python binding tests (run by tests/ffi_python.rs).

Environment (set by the Rust harness): BGFETCH_TEST_URL (the local test server's base URL,
"http://127.0.0.1:PORT/") and BGFETCH_TEST_PACKAGE: "installed" (the suite runs with a venv's
python where the wheel of python/ is installed) or "source" (PYTHONPATH is python/ and
BGFETCH_LIB the library cargo built). Durations are seconds, as everywhere in the package.
"""

import json
import os
import shutil
import socket
import tempfile
import time
import unittest
import urllib.request

import bgfetch

BASE = os.environ.get("BGFETCH_TEST_URL", "")


def url(path_and_query):
    """Absolute URL on the test server: url("/bytes/10") == "http://127.0.0.1:PORT/bytes/10"."""
    return BASE.rstrip("/") + path_and_query


def server_stats():
    """The test server's counters (its /_stats): requests, connections, body bytes sent..."""
    with urllib.request.urlopen(url("/_stats"), timeout=10) as r:
        return json.loads(r.read().decode())


def server_reset():
    """Resets the test server's counters (its /_reset)."""
    with urllib.request.urlopen(url("/_reset"), timeout=10) as r:
        r.read()


def pattern_byte(i, seed=0):
    return ((i % 251) + 7 * seed + i // 65536) % 256


def pattern(n, seed=0):
    """The server's /bytes/<n>?seed=<seed> body: byte i = ((i % 251) + 7*seed + i//65536) % 256.

    Built one 64 KiB block at a time (within a block the bytes repeat with period 251)."""
    out = bytearray()
    for start in range(0, n, 65536):
        length = min(65536, n - start)
        add = 7 * seed + start // 65536
        phase = start % 251
        period = bytes(((phase + j) % 251 + add) % 256 for j in range(251))
        out += (period * (length // 251 + 1))[:length]
    return bytes(out)


def closed_port():
    """A port on 127.0.0.1 with nothing listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, timeout=10.0, interval=0.01):
    """Polls ``predicate`` until it is true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class StoreTestCase(unittest.TestCase):
    """A fresh store directory per test; ``self.open(**kw)`` opens a manager on it that is
    closed at the end of the test (fast failure settings by default)."""

    def setUp(self):
        if not BASE:
            self.skipTest("BGFETCH_TEST_URL is not set: run through `cargo test --test ffi_python`")
        self.dir = tempfile.mkdtemp(prefix="bgfetch-py-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.store = os.path.join(self.dir, "store")

    def assert_byte_exact(self, reg, path, n, seed, status=200):
        """The fetch succeeded and the record of ``path`` is the server's
        ``/bytes/<n>?seed=<seed>`` with ``status``, read through the library and from its
        body file."""
        self.assertEqual((reg.result, reg.failure_reason), ("success", ""))
        res = reg.match(path).response_ready(timeout=5)
        self.assertEqual(res.status, status)
        self.assertTrue(res.complete)
        body = res.read_all(timeout=10)
        self.assertEqual(len(body), n)
        self.assertTrue(body == pattern(n, seed), "a wrong body of the right length")
        with open(res.body_path, "rb") as f:
            self.assertTrue(f.read() == body, "the body file differs")

    def open(self, store=None, **kw):
        kw.setdefault("base_url", BASE)
        kw.setdefault("retries", (1, 0))
        kw.setdefault("fail_after_attempts", True)  # a fault is final (tests of failures)
        kw.setdefault("progress_interval", 0.02)
        m = bgfetch.Manager(store or self.store, **kw)
        self.addCleanup(m.close)
        return m

    def fetch_done(self, m, id, requests, timeout=20, **kw):
        """fetch(), then wait() for the result."""
        reg = m.fetch(id, requests, **kw)
        self.addCleanup(reg.close)
        reg.wait(timeout=timeout)
        return reg
