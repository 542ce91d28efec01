"""What a fetch waits for (issue 19) from Python: ``Record.state / attempts / retry_in /
last_error``, ``Registration.state / last_error / expected_total / raise_for_result()``, the
progress callback on state changes and when set late, and the ``timeout=`` of every blocking
read of ``Response`` (and Ctrl-C during one without a timeout).

A refused connection (a closed port) runs under the library's DEFAULT retry policy, where it
waits to retry (with ``retries=(1, 0)`` it would fail at once). Nothing sleeps to synchronise:
a check waits for a callback, a settled fetch, a bounded poll of a live state, or a call whose
timeout must run out.
"""

import _thread
import faulthandler
import os
import signal
import sys
import threading
import time

import bgfetch
from support import StoreTestCase, closed_port, pattern


class StateWatch:
    """A progress callback recording every registration state it saw, and the record's and
    registration's values at the first call that saw ``"retry-wait"``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.seen = []
        self.retry_wait = None

    def __call__(self, reg):
        state = reg.state
        captured = None
        if state == "retry-wait" and self.retry_wait is None:
            rec = reg.match_all()[0]
            captured = dict(state=rec.state, attempts=rec.attempts, retry_in=rec.retry_in,
                            last_error=rec.last_error, reg_state=reg.state,
                            reg_last_error=reg.last_error, result=reg.result)
        with self.cond:
            self.seen.append(state)
            if captured is not None and self.retry_wait is None:
                self.retry_wait = captured
            self.cond.notify_all()

    def wait_for(self, state, timeout=30):
        with self.cond:
            return self.cond.wait_for(lambda: state in self.seen, timeout)


class StatesTestCase(StoreTestCase):
    def open_default(self, name, **kw):
        """A manager with the library's default retry policy."""
        return self.open(store=os.path.join(self.dir, name), retries=None,
                         fail_after_attempts=None, proxy="", progress_interval=0.01, **kw)


class RefusedConnection(StatesTestCase):
    def test_a_refused_connection_waits_to_retry_and_says_why(self):
        m = self.open_default("refused")
        u = "http://127.0.0.1:%d/bytes/100" % closed_port()
        reg = m.fetch("refused", u, start_paused=True)
        self.addCleanup(reg.close)
        rec = reg.match(u)
        self.assertEqual((reg.state, rec.state), ("paused", "paused"))
        self.assertEqual((rec.attempts, rec.retry_in, rec.last_error), (0, None, ""))
        self.assertEqual(reg.last_error, "")
        self.assertIsNone(reg.expected_total)
        self.assertIsNone(reg.raise_for_result(), "raise_for_result raised while running")

        watch = StateWatch()
        reg.on_progress(watch)
        self.assertTrue(watch.wait_for("paused"), "the callback was not called when set")
        reg.resume()
        self.assertTrue(watch.wait_for("retry-wait"),
                        "the progress callback never reported retry-wait: %r" % watch.seen)
        got = watch.retry_wait
        self.assertIsNotNone(got)
        self.assertEqual(got["state"], "retry-wait")
        self.assertEqual(got["attempts"], 1, "retry-wait was not entered after the first attempt")
        self.assertIsInstance(got["retry_in"], float)
        self.assertGreater(got["retry_in"], 0)
        self.assertIn("refused", got["last_error"].lower())
        self.assertEqual(got["reg_state"], "retry-wait")
        self.assertTrue(got["reg_last_error"])
        self.assertEqual(got["result"], "")

        # Read live from this thread: a consistent reading (retry-wait before and after).
        deadline = time.monotonic() + 30
        while True:
            before = rec.state
            values = (rec.attempts, rec.retry_in, rec.last_error, reg.state, reg.last_error,
                      reg.result)
            if before == "retry-wait" and rec.state == "retry-wait":
                break
            self.assertLess(time.monotonic(), deadline, "never read retry-wait")
            time.sleep(0.002)  # the interval of a bounded poll
        attempts, retry_in, last_error, reg_state, reg_last_error, result = values
        self.assertGreaterEqual(attempts, 1)
        self.assertGreater(retry_in, 0)
        self.assertIn("refused", last_error.lower())
        self.assertEqual(reg_state, "retry-wait")
        self.assertTrue(reg_last_error)
        self.assertEqual(result, "")
        # wait() does not end while it waits to retry
        with self.assertRaises(bgfetch.Timeout):
            reg.wait(timeout=0)

        # Offline (reported by the callback: see test_going_offline_alone_fires_the_callback)
        m.set_offline(True)
        self.assertEqual((reg.state, rec.state, rec.retry_in), ("offline", "offline", None))
        # Paused wins over offline.
        reg.pause()
        self.assertEqual((reg.state, rec.state), ("paused", "paused"))
        m.set_offline(False)
        self.assertEqual(rec.state, "paused")

        # Aborted: settled, both failed; the last progress call saw it.
        self.assertTrue(reg.abort())
        reg.wait(timeout=30)
        self.assertEqual((reg.result, reg.failure_reason), ("failure", "aborted"))
        self.assertEqual((reg.state, rec.state, rec.retry_in), ("failed", "failed", None))
        self.assertTrue(watch.wait_for("failed"))
        self.assertEqual(watch.seen[-1], "failed")
        reg.on_progress(None)


    def test_going_offline_alone_fires_the_callback(self):
        # A retry minutes away: once the record waits, nothing but going offline can make
        # the callback fire (no byte, no pause, no retry).
        m = self.open(store=os.path.join(self.dir, "offline-callback"), retries=(5, 600),
                      max_backoff=600, proxy="", progress_interval=0.01)
        u = "http://127.0.0.1:%d/x" % closed_port()
        reg = m.fetch("offline", u)
        self.addCleanup(reg.close)
        watch = StateWatch()
        reg.on_progress(watch)
        self.assertTrue(watch.wait_for("retry-wait"), "retry-wait not reported: %r" % watch.seen)
        self.assertGreater(reg.match(u).retry_in, 60)
        m.set_offline(True)
        self.assertTrue(watch.wait_for("offline"), "offline not reported: %r" % watch.seen)
        self.assertTrue(reg.abort())
        reg.wait(timeout=30)
        reg.on_progress(None)


class SettledStates(StatesTestCase):
    def test_done_and_failed(self):
        m = self.open()  # one final attempt: the point is the settled states
        ok = self.fetch_done(m, "ok", "/bytes/1000?seed=1&t=py-states")
        self.assertEqual((ok.result, ok.state), ("success", "done"))
        self.assertEqual(ok.match("/bytes/1000?seed=1&t=py-states").state, "done")
        self.assertEqual(ok.last_error, "")

        bad = self.fetch_done(m, "bad", ["/bytes/10?t=py-states", "/status/404?t=py-states"])
        self.assertEqual((bad.failure_reason, bad.state), ("bad-status", "failed"))
        # a 404 is a complete response: its record is done
        self.assertEqual([r.state for r in bad.match_all()], ["done", "done"])

        u = "http://127.0.0.1:%d/x" % closed_port()
        err = self.fetch_done(m, "err", u)
        self.assertEqual((err.failure_reason, err.state), ("fetch-error", "failed"))
        rec = err.match(u)
        self.assertEqual((rec.state, rec.retry_in), ("failed", None))
        self.assertIn("refused", rec.last_error.lower())
        self.assertIn("refused", err.last_error.lower())

    def test_raise_for_result_and_wait_on_a_failed_fetch(self):
        m = self.open()
        u = "http://127.0.0.1:%d/x" % closed_port()
        reg = m.fetch("failing", u)
        self.addCleanup(reg.close)
        self.assertIsNone(reg.wait(timeout=30), "wait() raised for a failed fetch")
        self.assertEqual(reg.result, "failure")
        with self.assertRaises(bgfetch.FetchFailed) as cm:
            reg.raise_for_result()
        msg = str(cm.exception)
        self.assertIn("fetch-error", msg)
        self.assertIn("refused", msg.lower())
        self.assertEqual(cm.exception.status, bgfetch.FetchFailed.status)

        bad = self.fetch_done(m, "bad", "/status/500?t=py-raise")
        with self.assertRaises(bgfetch.FetchFailed) as cm:
            bad.raise_for_result()
        self.assertIn("bad-status", str(cm.exception))

        ok = self.fetch_done(m, "ok", "/bytes/10?t=py-raise")
        self.assertIsNone(ok.raise_for_result())


class ExpectedTotal(StatesTestCase):
    def test_known_lengths_sum_and_a_chunked_body_is_unknown(self):
        m = self.open_default("total")
        known = self.fetch_done(m, "known", ["/bytes/1000?seed=2&t=py-total",
                                             "/bytes/23456?seed=3&t=py-total"])
        self.assertEqual(known.result, "success")
        self.assertEqual(known.expected_total, 1000 + 23456)
        self.assertIs(type(known.expected_total), int)
        self.assertEqual(known.download_total, 0)

        chunked = self.fetch_done(m, "chunked", ["/bytes/1000?seed=2&t=py-total",
                                                 "/bytes/5000?seed=4&chunked=1&t=py-total"])
        self.assertEqual((chunked.result, chunked.downloaded), ("success", 6000))
        self.assertIsNone(chunked.expected_total)


class LateProgressCallback(StatesTestCase):
    def test_a_callback_set_after_the_fetch_settled_gets_the_final_values_once(self):
        m = self.open_default("late")
        reg = self.fetch_done(m, "late", "/bytes/7000?seed=5&t=py-late")
        self.assertEqual(reg.result, "success")
        calls = []
        called = threading.Event()

        def late(r):
            calls.append((r.result, r.state, r.downloaded))
            called.set()

        reg.on_progress(late)
        self.assertTrue(called.wait(30), "a callback set after the fetch settled was not called")
        # A barrier on the event thread: the first call of a callback set later on another
        # Registration of the same fetch. A second call of `late` would come before it.
        other = m.get("late")
        self.addCleanup(other.close)
        barrier = threading.Event()
        other.on_progress(lambda r: barrier.set())
        self.assertTrue(barrier.wait(30))
        reg.on_progress(None)
        self.assertEqual(calls, [("success", "done", 7000)])


class BoundedReads(StatesTestCase):
    N = 200000

    def paused_response(self, name):
        """A slow body, paused after 20 000 bytes: its Response, and the registration."""
        m = self.open_default(name)
        path = "/bytes/%d?seed=6&rate=200000&t=py-%s" % (self.N, name)
        reg = m.fetch(name, path)
        self.addCleanup(reg.close)
        reached = threading.Event()
        reg.on_progress(lambda r: r.downloaded >= 20000 and reached.set())
        self.assertTrue(reached.wait(30))
        reg.pause()
        reg.on_progress(None)
        self.addCleanup(reg.abort)
        res = reg.match(path).response_ready(timeout=5)
        self.assertLess(res.body_size, self.N - 10)
        return reg, res

    def test_reads_and_save_time_out_on_a_paused_body(self):
        reg, res = self.paused_response("bounded")
        big = self.N - 10
        self.assertEqual(res.read(16, offset=0, timeout=0.3), pattern(16, 6))
        with self.assertRaises(bgfetch.Timeout):
            res.read(10, offset=big, timeout=0.3)
        with self.assertRaises(TimeoutError):  # Timeout is a TimeoutError
            res.read(10, offset=big, timeout=0)
        for call in (lambda: res.read_all(timeout=0.2), lambda: res.text(timeout=0.2),
                     lambda: res.json(timeout=0.2)):
            with self.assertRaises(bgfetch.Timeout):
                call()
        with res.open(timeout=0.2) as f:
            f.seek(big)
            with self.assertRaises(bgfetch.Timeout):
                f.read(10)

        dest = os.path.join(self.dir, "saves", "body.bin")
        os.makedirs(os.path.dirname(dest))
        with self.assertRaises(bgfetch.Timeout):
            res.save(dest, timeout=0.3)
        self.assertFalse(os.path.exists(dest), "save() left a file after its timeout")
        self.assertEqual(os.listdir(os.path.dirname(dest)), [], "a temporary file was left")
        self.assertEqual(reg.result, "")

        # resumed, the same calls complete
        reg.resume()
        res.save(dest, timeout=30)
        with open(dest, "rb") as f:
            self.assertTrue(f.read() == pattern(self.N, 6))
        self.assertEqual(res.read(10, offset=big, timeout=0), pattern(self.N, 6)[big:])

    def test_ctrl_c_interrupts_a_read_without_timeout(self):
        reg, res = self.paused_response("interrupt")
        main = threading.main_thread().ident
        self.assertEqual(threading.get_ident(), main, "run on the main thread")
        read_code = bgfetch.Response._read_into.__code__
        blocking_code = sys.modules["bgfetch._util"].blocking.__code__
        interrupted_at = []
        stop = threading.Event()

        def in_c_read():
            """The frame of the main thread's call into bgfetch_response_read (the lambda of
            Response._read_into running the C call), or None."""
            frame = sys._current_frames().get(main)
            caller = frame.f_back if frame is not None else None
            if (caller is not None and caller.f_code is blocking_code
                    and caller.f_back is not None and caller.f_back.f_code is read_code):
                return frame
            return None

        def ctrl_c():
            # Ctrl-C once the main thread is surely inside the C call: the same call seen
            # twice, 20 ms apart.
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                first = in_c_read()
                if first is not None:
                    time.sleep(0.02)
                    if in_c_read() is first:
                        interrupted_at.append(time.monotonic())
                        _thread.interrupt_main()  # SIGINT, as Ctrl-C
                        return
                time.sleep(0.005)  # the interval of a bounded poll

        def on_sigint(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_sigint)
        # The deadline of the whole test: a read that Ctrl-C cannot end would hang the suite;
        # this ends the process with a traceback instead.
        faulthandler.dump_traceback_later(30, exit=True)
        helper = threading.Thread(target=ctrl_c, name="ctrl-c")
        try:
            helper.start()
            with self.assertRaises(KeyboardInterrupt):
                res.read(10, offset=self.N - 10)  # timeout=None: waits for good
            ended = time.monotonic()
        finally:
            stop.set()
            helper.join(30)
            faulthandler.cancel_dump_traceback_later()
            signal.signal(signal.SIGINT, previous)
        self.assertEqual(len(interrupted_at), 1, "the helper never saw the read start")
        self.assertLess(ended - interrupted_at[0], 5.0, "Ctrl-C did not end the read promptly")
        self.assertEqual(reg.result, "")
