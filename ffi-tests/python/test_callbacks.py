"""Callbacks: manual dispatch with select() on event_fd, exceptions raised in callbacks
(logged, then re-raised on the registering thread), the callback table."""

import select
import threading
import time
import unittest

import bgfetch
from support import StoreTestCase, wait_until


class ManualDispatch(StoreTestCase):
    def test_callbacks_run_only_in_dispatch_on_the_calling_thread(self):
        m = self.open(dispatch="manual")
        fd = m.event_fd()
        self.assertIsInstance(fd, int)
        self.assertGreaterEqual(fd, 0)
        self.assertEqual(m.fileno(), fd)
        me = threading.get_ident()
        events, progress = [], []
        m.on_event(lambda kind, reg: events.append((kind, reg.id, threading.get_ident())))
        reg = m.fetch("manual", "/bytes/50000?rate=500000&t=manual")
        self.addCleanup(reg.close)
        reg.on_progress(lambda r: progress.append((r.downloaded, threading.get_ident())))
        reg.wait(10)
        time.sleep(0.2)
        self.assertEqual((events, progress), ([], []), "a callback ran outside dispatch()")

        deadline = time.monotonic() + 10
        dispatched = 0
        while not events and time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], deadline - time.monotonic())
            if readable:
                dispatched += m.dispatch(timeout=0)
        self.assertEqual(events, [("success", "manual", me)])
        self.assertGreaterEqual(dispatched, 2)
        self.assertTrue(progress)
        self.assertEqual(progress[-1], (50000, me))
        self.assertTrue(all(t == me for _, t in progress))
        # Nothing pending: the fd is not readable, dispatch(0) runs nothing.
        self.assertEqual(select.select([fd], [], [], 0)[0], [])
        self.assertEqual(m.dispatch(0), 0)
        t0 = time.monotonic()
        self.assertEqual(m.dispatch(timeout=0.1), 0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.05)

    def test_dispatch_without_timeout_waits_for_the_first_callback(self):
        m = self.open(dispatch="manual")
        got = []
        m.on_event(lambda kind, reg: got.append(kind))
        reg = m.fetch("forever", "/bytes/10?stall_ms=300&t=forever")
        self.addCleanup(reg.close)
        n = 0
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            n += m.dispatch()
        self.assertEqual(got, ["success"])
        self.assertGreaterEqual(n, 1)

    def test_thread_mode_has_no_event_fd_and_refuses_dispatch(self):
        m = self.open()
        self.assertIsNone(m.event_fd())
        with self.assertRaises(bgfetch.InvalidState):
            m.dispatch(0)
        with self.assertRaises(bgfetch.InvalidState):
            m.fileno()

    def test_close_from_a_manual_callback_happens_after_dispatch(self):
        m = self.open(dispatch="manual")
        m.on_event(lambda kind, reg: m.close())
        reg = self.fetch_done(m, "mclose", "/bytes/10")
        deadline = time.monotonic() + 10
        while not m.closed and time.monotonic() < deadline:
            m.dispatch(0.1)
        self.assertTrue(m.closed)
        self.assertEqual(reg.result, "success")


class CallbackExceptions(StoreTestCase):
    def test_exception_in_thread_mode_callback_is_logged_then_reraised(self):
        m = self.open()

        class Boom(Exception):
            pass

        def on_event(kind, reg):
            raise Boom("from the event callback")
        m.on_event(on_event)
        raised = []
        with self.assertLogs("bgfetch", "ERROR") as logs:
            reg = m.fetch("boom", "/bytes/10")
            self.addCleanup(reg.close)
            try:
                # The event may come while wait() still runs: wait() raises it then.
                reg.wait(10)
            except Boom as e:
                raised.append(e)
            self.assertTrue(wait_until(lambda: logs.output, 5), "nothing logged")
        self.assertIn("Boom", logs.output[0])
        self.assertIn("from the event callback", logs.output[0])
        if not raised:
            # Otherwise the next call into the library raises it.
            with self.assertRaises(Boom):
                m.get_ids()
        # Raised once: the next call works.
        self.assertEqual(m.get_ids(), ["boom"])

    def test_exception_is_reraised_only_on_the_registering_thread(self):
        m = self.open()
        box = {}
        registered = threading.Event()
        go = threading.Event()

        def other_thread():
            m.on_event(lambda kind, reg: 1 / 0)
            registered.set()
            go.wait(10)
            try:
                m.get_ids()
                box["raised"] = None
            except ZeroDivisionError as e:
                box["raised"] = e
        t = threading.Thread(target=other_thread)
        t.start()
        registered.wait(5)
        with self.assertLogs("bgfetch", "ERROR") as logs:
            self.fetch_done(m, "zero", "/bytes/10")
            self.assertTrue(wait_until(lambda: logs.output, 5))
        self.assertEqual(m.get_ids(), ["zero"])  # not this thread's exception
        go.set()
        t.join(10)
        self.assertIsInstance(box.get("raised"), ZeroDivisionError)

    def test_exception_in_manual_callback_is_raised_by_dispatch(self):
        m = self.open(dispatch="manual")
        reg = m.fetch("manual-boom", "/bytes/10")
        self.addCleanup(reg.close)

        def on_progress(r):
            raise RuntimeError("progress failed")
        reg.on_progress(on_progress)
        reg.wait(5)
        with self.assertLogs("bgfetch", "ERROR"):
            with self.assertRaises(RuntimeError) as cm:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    m.dispatch(0.1)
        self.assertEqual(str(cm.exception), "progress failed")
        self.assertEqual(reg.result, "success")

    def test_exception_surfaces_from_a_blocking_wait(self):
        m = self.open()
        reg = m.fetch("wait-boom", "/bytes/100000?rate=500000&t=waitboom")
        self.addCleanup(reg.close)

        def on_progress(r):
            raise KeyError("in progress")
        # Set inside the block: the event thread runs the first call at once, and its log
        # record must find the block's handler installed.
        with self.assertLogs("bgfetch", "ERROR"):
            reg.on_progress(on_progress)
            with self.assertRaises(KeyError):
                reg.wait()          # forever, but returns with the callback's exception
                time.sleep(0.5)
                reg.downloaded      # or the next call raises it

    def test_callback_may_call_the_library_on_its_registration(self):
        m = self.open()
        seen = []

        def on_progress(r):
            seen.append((r.id, r.downloaded, r.records_available, len(r.match_all())))
        reg = m.fetch("reentrant", "/bytes/100000?rate=1000000&t=reent")
        self.addCleanup(reg.close)
        reg.on_progress(on_progress)
        reg.wait(10)
        self.assertTrue(wait_until(lambda: seen and seen[-1][1] == 100000, 5), seen)
        self.assertTrue(all(s[0] == "reentrant" and s[3] == 1 for s in seen))


class CallbackTable(StoreTestCase):
    def keys_of(self, m):
        return {k for k, e in bgfetch._callbacks.items() if e.manager() is m}

    def test_entries_removed_when_replaced_cleared_or_manager_closed(self):
        m = self.open()
        self.assertEqual(self.keys_of(m), set())
        m.on_event(lambda k, r: None)
        first = self.keys_of(m)
        self.assertEqual(len(first), 1)
        m.on_event(lambda k, r: None)
        second = self.keys_of(m)
        self.assertEqual(len(second), 1)
        self.assertNotEqual(first, second)
        reg = m.fetch("tbl", "/bytes/10")
        self.addCleanup(reg.close)
        reg.on_progress(lambda r: None)
        self.assertEqual(len(self.keys_of(m)), 2)
        reg.on_progress(lambda r: None)
        self.assertEqual(len(self.keys_of(m)), 2)
        # Another handle of the same registration has a callback of its own, which goes
        # with that handle.
        other = m.get("tbl")
        other.on_progress(lambda r: None)
        self.assertEqual(len(self.keys_of(m)), 3)
        other.close()
        self.assertEqual(len(self.keys_of(m)), 2)
        reg.on_progress(None)
        self.assertEqual(self.keys_of(m), second)
        reg.on_progress(lambda r: None)
        m.close()
        self.assertEqual(self.keys_of(m), set())

    def test_non_callable_is_refused(self):
        m = self.open()
        with self.assertRaises(TypeError):
            m.on_event(42)
        reg = m.fetch("nc", "/bytes/1")
        self.addCleanup(reg.close)
        with self.assertRaises(TypeError):
            reg.on_progress("not callable")


if __name__ == "__main__":
    unittest.main()
