"""Registration: properties, progress, events, abort, wait, update_ui, release."""

import threading
import time
import unittest

import bgfetch
from support import StoreTestCase, closed_port, wait_until


class Properties(StoreTestCase):
    def test_properties_while_running_and_after(self):
        m = self.open()
        reg = m.fetch("props", [bgfetch.Request("/echo?p=1", method="POST", body=b"x" * 1234),
                                "/bytes/50000?rate=250000"], download_total=10 ** 6)
        self.addCleanup(reg.close)
        self.assertEqual(reg.id, "props")
        self.assertEqual(reg.upload_total, 1234)
        self.assertEqual(reg.download_total, 10 ** 6)
        self.assertEqual(reg.result, "")
        self.assertEqual(reg.failure_reason, "")
        self.assertTrue(reg.records_available)
        self.assertEqual(reg.title, "")
        self.assertEqual(reg.icons, [])
        reg.wait(10)
        self.assertEqual(reg.result, "success")
        self.assertEqual(reg.failure_reason, "")
        self.assertEqual(reg.uploaded, 1234)
        echo = reg.match(bgfetch.Request("/echo?p=1", method="POST"), ignore_method=True)
        self.assertGreaterEqual(reg.downloaded, 50000 + 1)
        self.assertEqual(reg.downloaded, 50000 + echo.response_ready(5).body_size)
        self.assertIn("props", repr(reg))

    def test_failure_reasons_are_the_webs_strings(self):
        m = self.open(quota=100000)
        cases = [
            ("bad-status", ["/status/404", "/bytes/10"], {}),
            ("fetch-error", ["http://127.0.0.1:%d/x" % closed_port()], {}),
            ("download-total-exceeded", ["/bytes/5000"], {"download_total": 1000}),
            ("quota-exceeded", ["/bytes/200000"], {}),
        ]
        for reason, requests, kw in cases:
            with self.subTest(reason=reason):
                reg = self.fetch_done(m, reason, requests, **kw)
                self.assertEqual((reg.result, reg.failure_reason), ("failure", reason))
                if reason == "bad-status":
                    # The other request still ran to completion and stays readable.
                    self.assertEqual(reg.match("/bytes/10").response_ready(5).read_all(),
                                     bytes(((i % 251) % 256) for i in range(10)))
                if reason == "download-total-exceeded":
                    self.assertLessEqual(reg.downloaded, 1000, "wrote past the download total")
                if reason == "quota-exceeded":
                    self.assertLessEqual(m.used_bytes, 100000, "stored past the quota")
                reg.release()
        reg = m.fetch("aborted", "/bytes/10?stall_ms=5000&t=reasons")
        self.assertTrue(reg.abort())
        reg.wait(5)
        self.assertEqual((reg.result, reg.failure_reason), ("failure", "aborted"))


class Progress(StoreTestCase):
    def test_progress_values_rise_to_the_total(self):
        m = self.open(progress_interval=0.05)
        seen = []
        done = threading.Event()

        def on_progress(r):
            seen.append((time.monotonic(), r.downloaded, r.result))
            if r.result:
                done.set()
        reg = m.fetch("rising", "/bytes/400000?rate=800000&t=rising")
        self.addCleanup(reg.close)
        reg.on_progress(on_progress)
        reg.wait(10)
        self.assertTrue(done.wait(5), "no final progress callback: %r" % seen)
        # (A callback emitted just before the result was set may already read it: the
        # getters are live. Let the final one arrive before looking.)
        time.sleep(0.2)
        values = [d for _, d, _ in seen]
        self.assertGreaterEqual(len(set(values)), 3, values)
        self.assertEqual(values, sorted(values), "downloaded went down")
        self.assertEqual(values[-1], 400000)
        self.assertEqual(seen[-1][2], "success")
        # At most one callback per 50 ms interval while the fetch runs (measured in the
        # callbacks, so allow for scheduling jitter on a busy machine); the final one, when it
        # settles, comes at once.
        running = seen[:-1]
        gaps = [b - a for (a, _, _), (b, _, _) in zip(running, running[1:])]
        self.assertGreaterEqual(sum(gaps) / len(gaps), 0.04, gaps)
        self.assertGreaterEqual(min(gaps), 0.01, gaps)
        time.sleep(0.3)
        self.assertEqual(len(values), len(seen), "progress after the fetch settled")

    def test_progress_reports_uploads(self):
        m = self.open(progress_interval=0.02)
        seen = []
        body = bytes(range(256)) * 1024
        reg = m.fetch("upload", bgfetch.Request("/echo?read_rate=1000000", method="PUT",
                                                body=body))
        self.addCleanup(reg.close)
        reg.on_progress(lambda r: seen.append((r.uploaded, r.upload_total)))
        reg.wait(10)
        self.assertEqual(reg.result, "success")
        self.assertTrue(wait_until(lambda: seen and seen[-1][0] == len(body)), seen)
        self.assertTrue(all(total == len(body) for _, total in seen))
        ups = [u for u, _ in seen]
        self.assertEqual(ups, sorted(ups))

    def test_progress_callback_gets_its_registration_and_can_be_replaced_or_cleared(self):
        m = self.open()
        reg = m.fetch("repl", "/bytes/300000?rate=1000000&t=repl")
        self.addCleanup(reg.close)
        first, second = [], []
        reg.on_progress(lambda r: first.append(r is reg))
        self.assertTrue(wait_until(lambda: first, 5))
        reg.on_progress(lambda r: second.append(r is reg))
        n_first = len(first)
        reg.wait(10)
        self.assertTrue(wait_until(lambda: second, 5))
        self.assertEqual(len(first), n_first, "the replaced callback was called again")
        self.assertTrue(all(first) and all(second))
        reg.on_progress(None)
        # Replaced and cleared callbacks leave the callback table.
        self.assertFalse([k for k, e in bgfetch._callbacks.items()
                          if e.owner is not None and e.owner() is reg])

    def test_wait_returns_after_the_final_progress_callback(self):
        m = self.open()
        for i in range(5):
            # The stalled request keeps the fetch running until abort() settles it.
            reg = m.fetch("wf%d" % i, ["/bytes/10", "/bytes/10?stall_ms=60000&t=wf%d" % i])
            self.addCleanup(reg.close)
            seen = []
            reg.on_progress(lambda r: seen.append(r.result))
            reg.abort()
            reg.wait(10)
            self.assertEqual(seen[-1:], ["failure"], "wait() returned before the final call")

    def test_progress_callback_ends_with_the_handle_that_set_it(self):
        m = self.open()
        reg = m.fetch("outlive", "/bytes/200000?rate=1000000&t=outlive")
        self.addCleanup(reg.close)
        other = m.get("outlive")
        seen, mine = [], []
        other.on_progress(lambda r: seen.append(r.downloaded))
        reg.on_progress(lambda r: mine.append(r.downloaded))
        self.assertTrue(wait_until(lambda: seen, 5))
        key = [k for k, e in bgfetch._callbacks.items()
               if e.owner is not None and e.owner() is other]
        self.assertEqual(len(key), 1)
        # Closing the handle removes its callback (and, through the finalizer, its entry).
        other.close()
        n = len(seen)
        self.assertNotIn(key[0], bgfetch._callbacks)
        reg.wait(10)
        self.assertEqual(len(seen), n, "a callback ran after its handle was freed")
        # The other handle's callback is its own: it saw the end.
        self.assertEqual(mine[-1], 200000)


class Events(StoreTestCase):
    def test_on_event_kinds_success_fail_abort(self):
        m = self.open()
        events = {}

        def on_event(kind, reg):
            seen = (kind, reg.result, reg.failure_reason, reg.records_available)
            events.setdefault(reg.id, []).append(seen)
        m.on_event(on_event)
        ok = m.fetch("ok", "/bytes/100")
        bad = m.fetch("bad", ["/bytes/10", "/status/500"])
        stuck = m.fetch("stuck", "/bytes/100?stall_ms=5000&t=events")
        for r in (ok, bad, stuck):
            self.addCleanup(r.close)
        self.assertTrue(stuck.abort())
        self.assertFalse(stuck.abort())
        self.assertTrue(wait_until(lambda: len(events) == 3, 10), events)
        self.assertEqual(events["ok"], [("success", "success", "", True)])
        self.assertEqual(events["bad"], [("fail", "failure", "bad-status", True)])
        self.assertEqual(events["stuck"], [("abort", "failure", "aborted", True)])
        time.sleep(0.2)
        self.assertEqual(sum(len(v) for v in events.values()), 3, "an event came twice")

    def test_events_are_held_until_a_callback_is_set(self):
        m = self.open()
        self.fetch_done(m, "held", "/bytes/10")
        time.sleep(0.1)
        events = []
        m.on_event(lambda kind, reg: events.append((kind, reg.id)))
        self.assertTrue(wait_until(lambda: events, 5))
        self.assertEqual(events, [("success", "held")])

    def test_event_registration_may_be_kept_and_used_after_the_callback(self):
        m = self.open()
        got = []
        m.on_event(lambda kind, reg: got.append(reg))
        self.fetch_done(m, "kept", "/bytes/1000?seed=3")
        self.assertTrue(wait_until(lambda: got, 5))
        reg = got[0]
        self.assertFalse(reg.closed)
        self.assertEqual(reg.id, "kept")
        self.assertEqual(reg.match("/bytes/1000?seed=3").response_ready(5).body_size, 1000)
        reg.release()
        self.assertEqual(m.get_ids(), [])

    def test_event_callback_may_release_and_is_replaced_or_cleared(self):
        m = self.open()
        a, b = [], []

        def release_it(kind, reg):
            data = reg.match_all()[0].response_ready(5).read()
            reg.release()
            a.append(data)
        m.on_event(release_it)
        self.fetch_done(m, "r1", "/bytes/20?seed=1")
        self.assertTrue(wait_until(lambda: a, 5))
        self.assertEqual(m.get_ids(), [])
        m.on_event(lambda kind, reg: b.append(reg.id))
        self.fetch_done(m, "r2", "/bytes/5")
        self.assertTrue(wait_until(lambda: b, 5))
        self.assertEqual(len(a), 1)
        key = m._event_key
        self.assertIn(key, bgfetch._callbacks)
        m.on_event(None)
        self.assertNotIn(key, bgfetch._callbacks)
        self.assertIsNone(m._event_key)
        self.fetch_done(m, "r3", "/bytes/5")
        time.sleep(0.2)
        self.assertEqual(b, ["r2"])


class AbortWaitUpdateRelease(StoreTestCase):
    def test_abort_true_while_running_false_after(self):
        m = self.open()
        done = self.fetch_done(m, "done", "/bytes/10")
        self.assertFalse(done.abort())
        self.assertEqual(done.result, "success")
        running = m.fetch("running", "/bytes/1000000?rate=100000&t=abort")
        self.addCleanup(running.close)
        t0 = time.monotonic()
        self.assertTrue(running.abort())
        running.wait(5)
        self.assertLess(time.monotonic() - t0, 3, "abort did not stop the transfer promptly")
        self.assertEqual(running.failure_reason, "aborted")

    def test_abort_keeps_finished_records_readable(self):
        m = self.open()
        reg = m.fetch("partial", ["/bytes/1000?seed=1", "/bytes/10?stall_ms=5000&t=partial"])
        self.addCleanup(reg.close)
        first, second = reg.match_all()
        res = first.response_ready(5)
        res.wait(5)
        self.assertTrue(reg.abort())
        reg.wait(5)
        self.assertEqual(reg.failure_reason, "aborted")
        self.assertTrue(reg.records_available)
        self.assertEqual(first.response_ready(5).read_all(), res.read_all())
        self.assertEqual(len(res.read_all()), 1000)
        with self.assertRaises(bgfetch.Aborted):
            second.response_ready(5)

    def test_wait_with_timeout_raises_timeout(self):
        m = self.open()
        reg = m.fetch("slow", "/bytes/10?stall_ms=3000&t=wait")
        self.addCleanup(reg.close)
        t0 = time.monotonic()
        with self.assertRaises(bgfetch.Timeout) as cm:
            reg.wait(timeout=0.1)
        self.assertTrue(0.05 <= time.monotonic() - t0 < 2)
        self.assertEqual(cm.exception.status, 7)
        with self.assertRaises(bgfetch.Timeout):
            reg.wait(timeout=0)
        reg.abort()
        reg.wait()  # forever, returns once settled

    def test_update_ui_changes_title_and_icons(self):
        m = self.open()
        reg = m.fetch("ui", "/bytes/10", title="before",
                      icons=[{"src": "/a.png"}, {"src": "/b.png", "sizes": "16x16",
                                                 "type": "image/png", "label": "B"}])
        self.addCleanup(reg.close)
        self.assertEqual(reg.title, "before")
        self.assertEqual(reg.icons, [
            {"src": "/a.png", "sizes": "", "type": "", "label": ""},
            {"src": "/b.png", "sizes": "16x16", "type": "image/png", "label": "B"}])
        reg.update_ui(title="after")
        self.assertEqual(reg.title, "after")
        self.assertEqual(len(reg.icons), 2)
        reg.update_ui(icons=[{"src": "/c.png", "label": "C"}])
        self.assertEqual(reg.title, "after")
        self.assertEqual(reg.icons, [{"src": "/c.png", "sizes": "", "type": "", "label": "C"}])
        reg.update_ui(title="both", icons=[{"src": "/d.png"}])
        self.assertEqual((reg.title, [i["src"] for i in reg.icons]), ("both", ["/d.png"]))
        # The other handles see it, and so does the next open (persisted).
        reg.wait(5)
        m.close()
        m2 = self.open()
        again = m2.get("ui")
        self.assertEqual((again.title, [i["src"] for i in again.icons]), ("both", ["/d.png"]))

    def test_release_ends_the_records(self):
        m = self.open()
        running = m.fetch("running", "/bytes/10?stall_ms=3000&t=release")
        self.addCleanup(running.close)
        with self.assertRaises(bgfetch.InvalidState):
            running.release()
        running.abort()
        reg = self.fetch_done(m, "rel", "/bytes/10")
        rec = reg.match("/bytes/10")
        reg.release()
        reg.release()  # twice is fine
        self.assertFalse(reg.records_available)
        self.assertEqual(reg.result, "success")
        for call in (lambda: reg.match("/bytes/10"), reg.match_all,
                     lambda: reg.update_ui(title="x"), lambda: rec.response_ready(1)):
            with self.assertRaises(bgfetch.InvalidState) as cm:
                call()
            self.assertEqual(cm.exception.status, 4)
        self.assertIsNone(m.get("rel"))


if __name__ == "__main__":
    unittest.main()
