"""Segmented downloads from Python (issue 21): ``max_segments`` splits a large body into
ranges fetched over several connections at once and written in place; each range resumes on
its own after kill -9 of the process; a file changed between the ranges restarts from zero;
integrity and the quota hold over the whole body.

Every manager uses the library's DEFAULT retry policy (``retries`` and
``fail_after_attempts`` left unset) and ``max_segments`` with as many connections a fetch.
Bytes sent are counted with the server's /_stats and /_reset (the suite runs one test at a
time). Nothing sleeps to synchronise: a check waits for a settled fetch, or polls a state (the
store's map of the ranges, a child's exit).
"""

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import bgfetch
from support import StoreTestCase, pattern, url, server_reset, server_stats

MIB = 1 << 20


CHILD = r"""
import sys, bgfetch
store, base, path = sys.argv[1:4]
m = bgfetch.Manager(store, base_url=base, max_segments=8, max_connections_per_fetch=8,
                    proxy="")
reg = m.get("kill") or m.fetch("kill", [path])
reg.wait(timeout=60)
print("CHILD", reg.result, flush=True)
m.close()
"""


def mapped_bytes(store):
    """The bytes the last map of record 0 in the store's head log claims (0 if none)."""
    fetches = os.path.join(store, "fetches")
    try:
        dirs = os.listdir(fetches)
        with open(os.path.join(fetches, dirs[0], "heads.log"), "rb") as f:
            lines = f.read().decode().splitlines()
    except (OSError, IndexError):
        return 0
    maps = [l for l in lines if l.startswith('0 {"segments":[')]
    if not maps:
        return 0
    return sum(n - s for s, n, _ in json.loads(maps[-1][2:])["segments"])


class Segments(StoreTestCase):
    def open_split(self, name, segments=4, **kw):
        return self.open(store=os.path.join(self.dir, name), retries=None,
                         fail_after_attempts=None, proxy="", max_segments=segments,
                         max_connections_per_fetch=segments, **kw)

    def assert_byte_exact(self, reg, path, n, seed, status=200):
        self.assertEqual(reg.downloaded, n)
        super().assert_byte_exact(reg, path, n, seed, status)

    def test_a_large_body_comes_over_several_connections_byte_exact(self):
        server_reset()
        m = self.open_split("split")
        path = "/bytes/%d?seed=91&rate=4000000" % (4 * MIB)
        reg = m.fetch("split", [path])
        reg.wait(timeout=60)
        self.assert_byte_exact(reg, path, 4 * MIB, 91)
        stats = server_stats()
        self.assertGreaterEqual(stats["requests"], 4, "split into ranges: %r" % stats)
        # Beyond the body: what was in flight when a connection was dropped at its range's
        # end; less than one range (1 MiB): no range was fetched twice.
        self.assertLess(stats["body_bytes_sent"], 5 * MIB)

    def test_max_segments_out_of_range_is_invalid_argument(self):
        for bad in (0, 17):
            with self.assertRaises(bgfetch.InvalidArgument) as cm:
                self.open(store=os.path.join(self.dir, "bad%d" % bad), max_segments=bad)
            self.assertIn("1..=16", str(cm.exception))

    def test_kill_9_midway_then_each_range_resumes_byte_exact(self):
        server_reset()
        store = os.path.join(self.dir, "kill")
        n = 16 * MIB
        path = "/bytes/%d?seed=92&rate=2000000" % n
        kills = 0
        finished = False
        for _ in range(3):
            start = mapped_bytes(store)
            child = subprocess.Popen([sys.executable, "-c", CHILD, store, url("/"), path],
                                     stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while mapped_bytes(store) < start + 2 * MIB:
                if child.poll() is not None:
                    finished = True
                    break
                self.assertLess(time.monotonic(), deadline, "the child made no progress")
                time.sleep(0.002)
            if finished:
                break
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
        self.assertGreaterEqual(kills, 2)
        m = self.open(store=store, retries=None, fail_after_attempts=None, proxy="",
                      max_segments=8, max_connections_per_fetch=8)
        reg = m.get("kill")
        self.assertIsNotNone(reg)
        self.assertGreater(reg.downloaded, 0, "the stored ranges survived kill -9")
        reg.wait(timeout=60)
        self.assert_byte_exact(reg, path, n, 92)
        sent = server_stats()["body_bytes_sent"]
        # Per kill at most what no map claimed yet: under 1 MiB stored since the last map and
        # a few 64 KiB pieces in flight on each of the 8 connections.
        self.assertLessEqual(sent, n + kills * (MIB + 8 * 2 * 65536) + 16 * 65536,
                             "%d bytes sent for %d with %d kills" % (sent, n, kills))

    def test_a_file_changed_between_ranges_is_fetched_again_whole(self):
        m = self.open_split("changed")
        path = "/bytes/%d?change_after=1&rate=8000000" % (4 * MIB)
        reg = m.fetch("changed", [path])
        reg.wait(timeout=60)
        self.assert_byte_exact(reg, path, 4 * MIB, 1)

    def test_integrity_holds_over_the_whole_body(self):
        body = pattern(4 * MIB, 93)
        sri = "sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        path = "/bytes/%d?seed=93&rate=8000000" % (4 * MIB)
        m = self.open_split("sri")
        reg = m.fetch("good", [bgfetch.Request(path, integrity=sri)])
        reg.wait(timeout=60)
        self.assert_byte_exact(reg, path, 4 * MIB, 93)
        bad = "sha256-" + base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        reg = m.fetch("bad", [bgfetch.Request(path, integrity=bad)])
        reg.wait(timeout=60)
        self.assertEqual((reg.result, reg.failure_reason), ("failure", "fetch-error"))

    def test_the_quota_stops_a_split_body_midway(self):
        m = self.open_split("quota", quota=2 * MIB)
        reg = m.fetch("quota", ["/bytes/%d?rate=4000000" % (4 * MIB)])
        reg.wait(timeout=60)
        self.assertEqual((reg.result, reg.failure_reason), ("failure", "quota-exceeded"))
        self.assertLessEqual(reg.downloaded, 2 * MIB)
