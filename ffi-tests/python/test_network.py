"""Bad networks (README, "Bad networks"): pause / resume / paused and start_paused, offline,
the bandwidth cap (keyword and live), the retry settings (retries, max_backoff,
no_progress_timeout, fail_after_attempts), retry_statuses with Retry-After, proxy and ca_file;
each with good input and an observed effect on the local test server, and with bad input.

Requests are counted with the server's /_stats and /_reset (the suite runs one test at a
time, and each test closes its managers). Nothing sleeps to synchronise: a check waits for a
callback, a settled fetch, or a bounded wait that must run out (an observation window).
"""

import os
import threading
import time

import bgfetch
from support import BASE, StoreTestCase, closed_port, pattern, url, server_reset, server_stats

PROXY = os.environ.get("BGFETCH_TEST_CONNECT_PROXY", "")


class Watch:
    """A progress callback recording the latest downloaded count and the paused changes."""

    def __init__(self, threshold=1):
        self.threshold = threshold
        self.reached = threading.Event()
        self.paused = threading.Event()
        self.resumed = threading.Event()

    def __call__(self, reg):
        if reg.downloaded >= self.threshold:
            self.reached.set()
        if reg.paused:
            self.paused.set()
        elif self.paused.is_set():
            self.resumed.set()


class NetworkTestCase(StoreTestCase):
    def open(self, store=None, **kw):
        kw.setdefault("proxy", "")  # whatever the environment says
        kw.setdefault("progress_interval", 0.01)
        return super().open(store, **kw)

    def fetch_until(self, m, fetch_id, path, threshold):
        """Fetches `path` as `fetch_id` and returns (registration, its Watch) once
        `threshold` body bytes have arrived."""
        reg = m.fetch(fetch_id, path)
        self.addCleanup(reg.close)
        w = Watch(threshold=threshold)
        reg.on_progress(w)
        self.assertTrue(w.reached.wait(30))
        return reg, w

    def assert_complete(self, reg, path, n, seed, timeout=20):
        reg.wait(timeout=timeout)
        self.assertEqual((reg.result, reg.failure_reason), ("success", ""))
        self.assertEqual(reg.match(path).response_ready(5).read_all(), pattern(n, seed))

    def other_fetch_completes(self, m, id, path, n, seed):
        """The synchronising event of the pause checks: another fetch of the manager runs to
        completion (its workers demonstrably ran meanwhile)."""
        other = m.fetch(id, path)
        self.addCleanup(other.close)
        self.assert_complete(other, path, n, seed)


class Pause(NetworkTestCase):
    def test_pause_stops_and_resume_completes_byte_exact(self):
        n = 400000
        m = self.open(store=os.path.join(self.dir, "pause"))
        path = "/bytes/%d?seed=51&rate=400000&t=py-pause" % n
        reg, w = self.fetch_until(m, "p", path, 150000)
        self.assertFalse(reg.paused)
        self.assertIsNone(reg.pause())
        self.assertTrue(reg.paused)
        reg.pause()  # pausing twice is fine
        self.assertTrue(w.paused.wait(30), "the progress callback did not report the pause")
        kept = reg.downloaded
        self.assertTrue(150000 <= kept < n)
        server_reset()
        self.other_fetch_completes(m, "other", "/bytes/1000?seed=52&t=py-pause", 1000, 52)
        self.assertEqual(server_stats()["requests"], 1, "a paused fetch made a request")
        self.assertEqual(reg.downloaded, kept, "bytes arrived while paused")
        self.assertEqual(reg.result, "")

        reg.resume()
        self.assertFalse(reg.paused)
        self.assertTrue(w.resumed.wait(30), "the progress callback did not report the resume")
        self.assert_complete(reg, path, n, 51)
        s = server_stats()
        self.assertEqual(s["requests"], 2)
        # Resumed from the kept bytes (what the server wrote into the paused connection
        # before it saw the close aside), not from zero.
        self.assertLessEqual(s["body_bytes_sent"], 1000 + (n - kept) + 100000)

    def test_start_paused_is_durable_and_makes_no_request_until_resumed(self):
        store = os.path.join(self.dir, "start-paused")
        m = self.open(store=store)
        path = "/bytes/30000?seed=53&t=py-sp"
        reg = m.fetch("sp", path, start_paused=True)
        self.assertTrue(reg.paused)
        reg.close()
        m.close()
        server_reset()
        m = self.open(store=store)
        reg = m.get("sp")
        self.addCleanup(reg.close)
        self.assertTrue(reg.paused, "the pause did not survive close and open")
        self.other_fetch_completes(m, "o", "/bytes/100?seed=54&t=py-sp", 100, 54)
        self.assertEqual(server_stats()["requests"], 1, "a paused fetch made a request")
        self.assertEqual(reg.downloaded, 0)
        reg.resume()
        reg.resume()  # resuming twice is fine
        self.assert_complete(reg, path, 30000, 53)

    def test_pause_and_resume_raise_invalid_state_once_settled(self):
        m = self.open()
        ok = self.fetch_done(m, "ok", "/bytes/10?t=py-settled")
        bad = self.fetch_done(m, "bad", "/status/404")
        self.assertEqual(bad.failure_reason, "bad-status")
        for reg in (ok, bad):
            for call in (reg.pause, reg.resume):
                with self.assertRaises(bgfetch.InvalidState) as cm:
                    call()
                self.assertTrue(str(cm.exception))
            self.assertFalse(reg.paused)
        server_reset()
        sp = m.fetch("abort-paused", "/bytes/10?t=py-abort", start_paused=True)
        self.addCleanup(sp.close)
        self.assertTrue(sp.abort())
        sp.wait(10)
        self.assertEqual(sp.failure_reason, "aborted")
        with self.assertRaises(bgfetch.InvalidState):
            sp.pause()
        self.assertEqual(server_stats()["requests"], 0)

    def test_pause_after_the_manager_closed_raises_closed(self):
        m = self.open()
        reg = m.fetch("c", "/bytes/10?t=py-closed", start_paused=True)
        self.addCleanup(reg.close)
        m.close()
        with self.assertRaises(bgfetch.Closed):
            reg.resume()
        with self.assertRaises(bgfetch.Closed):
            reg.pause()


class Offline(NetworkTestCase):
    def test_offline_tries_nothing_and_online_completes(self):
        m = self.open()
        self.assertFalse(m.offline)
        m.set_offline(True)
        self.assertTrue(m.offline)
        m.set_offline(True)
        server_reset()
        path = "/bytes/50000?seed=55&t=py-offline"
        reg = m.fetch("f", path)
        self.addCleanup(reg.close)
        # Observation window: one attempt is final in this setup, so a single connection
        # would settle the fetch.
        with self.assertRaises(bgfetch.Timeout):
            reg.wait(0.3)
        s = server_stats()
        self.assertEqual((s["connections"], s["requests"]), (0, 0))
        self.assertEqual(reg.downloaded, 0)
        m.set_offline(False)
        self.assertFalse(m.offline)
        self.assert_complete(reg, path, 50000, 55)

    def test_offline_mid_transfer_keeps_the_bytes(self):
        n = 400000
        m = self.open()
        path = "/bytes/%d?seed=56&rate=400000&t=py-offline-mid" % n
        reg, _ = self.fetch_until(m, "f", path, 100000)
        m.set_offline(True)
        kept = reg.downloaded
        server_reset()
        with self.assertRaises(bgfetch.Timeout):
            reg.wait(0.3)
        self.assertEqual(server_stats()["requests"], 0)
        self.assertGreaterEqual(reg.downloaded, kept)
        m.set_offline(False)
        self.assert_complete(reg, path, n, 56)
        self.assertLessEqual(server_stats()["body_bytes_sent"], (n - kept) + 100000)


class Bandwidth(NetworkTestCase):
    def test_max_download_rate_keyword_holds(self):
        m = self.open(max_download_rate=200000)
        path = "/bytes/300000?seed=57&t=py-rate"
        t0 = time.monotonic()
        reg = m.fetch("f", path)
        self.addCleanup(reg.close)
        self.assert_complete(reg, path, 300000, 57)
        took = time.monotonic() - t0
        # 1.5 s at the cap, less at most a 50 ms burst and one read
        self.assertGreaterEqual(took, 1.3)

    def test_set_max_download_rate_changes_live(self):
        n = 2000000
        m = self.open()
        m.set_max_download_rate(2000)
        path = "/bytes/%d?seed=58&t=py-rate-live" % n
        reg, _ = self.fetch_until(m, "f", path, 1)
        with self.assertRaises(bgfetch.Timeout):  # 1 000 s at 2 kB/s
            reg.wait(0.3)
        self.assertLess(reg.downloaded, n // 4)
        m.set_max_download_rate(0)
        self.assert_complete(reg, path, n, 58, timeout=20)

    def test_bad_rates_raise(self):
        for bad in (-1, 1 << 64, 1.5):
            with self.subTest(rate=bad):
                with self.assertRaises(bgfetch.InvalidArgument):
                    self.open(store=os.path.join(self.dir, "bad-rate"), max_download_rate=bad)
        for bad in ("1000", True):
            with self.subTest(rate=bad):
                with self.assertRaises(TypeError):
                    self.open(store=os.path.join(self.dir, "bad-rate"), max_download_rate=bad)
        m = self.open()
        for bad in (-1, 1 << 64, 0.5):
            with self.subTest(live=bad):
                with self.assertRaises(bgfetch.InvalidArgument):
                    m.set_max_download_rate(bad)
        with self.assertRaises(TypeError):
            m.set_max_download_rate("1000")
        m.set_max_download_rate((1 << 64) - 1)
        m.set_max_download_rate(1e6)

    def test_counts_ctypes_would_wrap_raise(self):
        # Every unsigned count: -1 would become "the largest value" and 2**bits "0" (for a
        # limit: none at all), silently.
        for kw, bits in (("quota", 64), ("max_connections", 32),
                         ("max_connections_per_fetch", 32)):
            for bad in (-1, 1 << bits):
                with self.subTest(option=kw, value=bad):
                    with self.assertRaises(bgfetch.InvalidArgument):
                        self.open(store=os.path.join(self.dir, "bad-count"), **{kw: bad})
        with self.assertRaises(bgfetch.InvalidArgument):
            self.open(store=os.path.join(self.dir, "bad-count"), retries=(-1, 0.1))
        m = self.open()
        for bad in (-1, 1 << 64):
            with self.subTest(download_total=bad):
                with self.assertRaises(bgfetch.InvalidArgument):
                    m.fetch("bad-total", "/bytes/10", download_total=bad)
        self.assertEqual(m.get_ids(), [])


class Retries(NetworkTestCase):
    def test_retries_outlast_a_server_that_fails_n_times(self):
        m = self.open(retries=(5, 0.02), max_backoff=0.2, fail_after_attempts=True)
        path = "/bytes/20000?seed=59&fail_times=3&reset_before_headers=1&t=py-retry"
        server_reset()
        reg = m.fetch("f", path)
        self.addCleanup(reg.close)
        self.assert_complete(reg, path, 20000, 59)
        self.assertEqual(server_stats()["requests"], 4)

    def test_too_few_retries_fail_with_fetch_error(self):
        m = self.open(retries=(2, 0.02), max_backoff=0.2, fail_after_attempts=True)
        server_reset()
        reg = self.fetch_done(
            m, "f", "/bytes/20000?seed=59&fail_times=3&reset_before_headers=1&t=py-few")
        self.assertEqual(reg.failure_reason, "fetch-error")
        self.assertEqual(server_stats()["requests"], 2)

    def test_max_backoff_caps_the_delay(self):
        # a 20 s base backoff capped at 0.2 s: uncapped, the first retry alone takes 20 s
        m = self.open(retries=(5, 20.0), max_backoff=0.2, fail_after_attempts=True)
        path = "/bytes/1000?seed=60&fail_times=2&reset_before_headers=1&t=py-cap"
        reg = m.fetch("f", path)
        self.addCleanup(reg.close)
        self.assert_complete(reg, path, 1000, 60, timeout=10)

    def test_no_progress_timeout_holds_a_dead_server_until_it_runs_out(self):
        m = self.open(retries=(2, 0.02), max_backoff=0.2, fail_after_attempts=False,
                      no_progress_timeout=1.5)
        t0 = time.monotonic()
        reg = self.fetch_done(m, "f", "http://127.0.0.1:%d/x" % closed_port())
        self.assertEqual(reg.failure_reason, "fetch-error")
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)

    def test_retry_statuses_honour_retry_after(self):
        q = "/bytes/100?seed=61&status=503&fail_times=1&header=Retry-After:1"
        m = self.open(store=os.path.join(self.dir, "on"), retries=(3, 0.02), max_backoff=0.2,
                      fail_after_attempts=True, retry_statuses=True)
        server_reset()
        t0 = time.monotonic()
        reg = m.fetch("f", q + "&t=py-on")
        self.addCleanup(reg.close)
        self.assert_complete(reg, q + "&t=py-on", 100, 61)
        self.assertGreaterEqual(time.monotonic() - t0, 1.0, "Retry-After was not honoured")
        self.assertEqual(server_stats()["requests"], 2)

        m = self.open(store=os.path.join(self.dir, "off"), retries=(3, 0.02),
                      fail_after_attempts=True, retry_statuses=False)
        server_reset()
        reg = self.fetch_done(m, "f", q + "&t=py-off")
        self.assertEqual(reg.failure_reason, "bad-status")
        self.assertEqual(reg.match(q + "&t=py-off").response_ready(5).status, 503)
        self.assertEqual(server_stats()["requests"], 1)

    def test_bad_retry_settings_raise(self):
        cases = [
            (bgfetch.InvalidArgument, dict(retries=(0, 1.0))),
            (bgfetch.InvalidArgument, dict(retries=(101, 1.0))),
            (bgfetch.InvalidArgument, dict(retries=(-1, 1.0))),
            (bgfetch.InvalidArgument, dict(retries=(5, -1.0))),
            (bgfetch.InvalidArgument, dict(max_backoff=-0.5)),
            (bgfetch.InvalidArgument, dict(max_backoff=float("nan"))),
            (bgfetch.InvalidArgument, dict(no_progress_timeout=-1)),
            (bgfetch.InvalidArgument, dict(no_progress_timeout=float("inf"))),
            (TypeError, dict(max_backoff="1")),
        ]
        for exc, kw in cases:
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                with self.assertRaises(exc) as cm:
                    bgfetch.Manager(os.path.join(self.dir, "bad"), base_url=BASE, **kw)
                self.assertTrue(str(cm.exception))
        # The limits are accepted; 0 = never for the no-progress timeout.
        self.open(store=os.path.join(self.dir, "limits"), retries=(100, 0),
                  max_backoff=0, no_progress_timeout=0).close()


class ProxyAndCaFile(NetworkTestCase):
    def test_proxy_carries_the_fetch_and_is_really_used(self):
        if not PROXY:
            self.skipTest("BGFETCH_TEST_CONNECT_PROXY is not set")
        path = "/bytes/70000?seed=62&t=py-proxy"
        m = self.open(store=os.path.join(self.dir, "proxied"), proxy=PROXY)
        reg = m.fetch("f", path)
        self.addCleanup(reg.close)
        self.assert_complete(reg, path, 70000, 62)
        # A proxy that is not listening fails the same fetch: the setting is used.
        m = self.open(store=os.path.join(self.dir, "dead-proxy"),
                      proxy="http://127.0.0.1:%d" % closed_port())
        reg = self.fetch_done(m, "f", path)
        self.assertEqual(reg.failure_reason, "fetch-error")

    def test_bad_proxy_urls_raise_invalid_argument(self):
        for bad in ("not a url", "ftp://127.0.0.1:1", "http://", "127.0.0.1:8080", "a\0b"):
            with self.subTest(proxy=bad):
                with self.assertRaises(bgfetch.InvalidArgument) as cm:
                    bgfetch.Manager(os.path.join(self.dir, "bad"), proxy=bad)
                self.assertTrue(str(cm.exception))
        self.open(store=os.path.join(self.dir, "socks"), proxy="socks5://127.0.0.1:1080").close()

    def test_ca_file(self):
        pem = os.path.join(self.dir, "ca.pem")
        with open(pem, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        for bad in (os.path.join(self.dir, "missing.pem"), "", self.dir):
            with self.subTest(ca_file=bad):
                with self.assertRaises(bgfetch.InvalidArgument) as cm:
                    bgfetch.Manager(os.path.join(self.dir, "bad"), ca_file=bad)
                self.assertTrue(str(cm.exception))
        m = self.open(store=os.path.join(self.dir, "ca"), ca_file=pem)
        # http is not affected by the roots
        reg = self.fetch_done(m, "f", "/bytes/10?t=py-ca")
        self.assertEqual(reg.result, "success")
