"""Errors: each failure raises the bgfetch.Error subclass named after its status, carrying the
library's message; nothing is registered by a failed fetch."""

import os
import unittest

import bgfetch
from support import StoreTestCase, url


class ErrorClasses(unittest.TestCase):
    def test_hierarchy_and_status_codes(self):
        expected = {
            "InvalidArgument": (1, "BGFETCH_E_INVALID_ARGUMENT"),
            "DuplicateId": (2, "BGFETCH_E_DUPLICATE_ID"),
            "QuotaExceeded": (3, "BGFETCH_E_QUOTA_EXCEEDED"),
            "InvalidState": (4, "BGFETCH_E_INVALID_STATE"),
            "Aborted": (5, "BGFETCH_E_ABORTED"),
            "FetchFailed": (6, "BGFETCH_E_FETCH_FAILED"),
            "Timeout": (7, "BGFETCH_E_TIMEOUT"),
            "StoreError": (8, "BGFETCH_E_IO"),
            "Closed": (9, "BGFETCH_E_CLOSED"),
            "Busy": (10, "BGFETCH_E_BUSY"),
            "Internal": (99, "BGFETCH_E_INTERNAL"),
        }
        for name, (code, c_name) in expected.items():
            with self.subTest(name=name):
                cls = getattr(bgfetch, name)
                self.assertTrue(issubclass(cls, bgfetch.Error))
                self.assertEqual(cls.status, code)
                self.assertEqual(bgfetch.status_name(code), c_name)
                e = cls("message")
                self.assertEqual(str(e), "message")
                self.assertEqual(e.status, code)
        self.assertTrue(issubclass(bgfetch.Error, Exception))

    def test_errors_also_subclass_the_builtin_exceptions(self):
        expected = {
            "InvalidArgument": ValueError,
            "DuplicateId": ValueError,
            "QuotaExceeded": OSError,
            "InvalidState": RuntimeError,
            "FetchFailed": ConnectionError,
            "Timeout": TimeoutError,
            "StoreError": OSError,
            "Closed": RuntimeError,
            "Busy": OSError,
            "Internal": RuntimeError,
        }
        for name, builtin in expected.items():
            with self.subTest(name=name):
                cls = getattr(bgfetch, name)
                self.assertTrue(issubclass(cls, builtin))
                e = cls("the message")
                # The built-in's constructor did not take over: the message is str(), the
                # status is the class's, and an OSError carries no errno.
                self.assertEqual(str(e), "the message")
                self.assertEqual(e.status, cls.status)
                self.assertEqual(e.args, ("the message",))
                if isinstance(e, OSError):
                    self.assertIsNone(e.errno)
                try:
                    raise cls("raised", cls.status)
                except builtin as caught:
                    self.assertIsInstance(caught, bgfetch.Error)
        self.assertTrue(issubclass(bgfetch.Timeout, OSError))
        self.assertFalse(issubclass(bgfetch.Aborted, (ValueError, OSError, RuntimeError)))
        self.assertFalse(issubclass(bgfetch.InvalidArgument, OSError))
        # The package's own errors module is the same classes.
        self.assertIs(bgfetch.errors.Timeout, bgfetch.Timeout)


class BuiltinsCatchLibraryErrors(StoreTestCase):
    def test_except_builtin_catches_what_the_library_raises(self):
        m = self.open()
        with self.assertRaises(ValueError) as cm:
            m.fetch("bad", "ftp://127.0.0.1/file")
        self.assertIsInstance(cm.exception, bgfetch.InvalidArgument)
        reg = m.fetch("slow", "/bytes/10?stall_ms=2000&t=builtin")
        self.addCleanup(reg.close)
        with self.assertRaises(TimeoutError):
            reg.wait(timeout=0.05)
        with self.assertRaises(OSError):
            bgfetch.Manager(self.store)          # Busy
        with self.assertRaises(ValueError):
            m.fetch("slow", "/bytes/1")          # DuplicateId
        with self.assertRaises(RuntimeError):
            reg.release()                        # InvalidState: still running
        reg.abort()
        m.close()
        with self.assertRaises(RuntimeError):
            m.get_ids()                          # Closed
        with self.assertRaises(TypeError):
            reg.wait(timeout="soon")             # a wrong type, before the library


class FetchErrors(StoreTestCase):
    def assertRaisesWithMessage(self, cls, fn, *args, **kw):
        with self.assertRaises(cls) as cm:
            fn(*args, **kw)
        self.assertIs(type(cm.exception), cls)
        self.assertEqual(cm.exception.status, cls.status)
        self.assertTrue(str(cm.exception).strip(), "no message from bgfetch_last_error")
        return cm.exception

    def test_duplicate_id(self):
        m = self.open()
        reg = m.fetch("dup", "/bytes/10")
        self.addCleanup(reg.close)
        self.assertRaisesWithMessage(bgfetch.DuplicateId, m.fetch, "dup", "/bytes/20")
        reg.wait(10)
        # Still a duplicate once finished, until released.
        self.assertRaisesWithMessage(bgfetch.DuplicateId, m.fetch, "dup", "/bytes/20")
        self.assertEqual(reg.downloaded, 10)
        reg.release()
        m.fetch("dup", "/bytes/20").close()

    def test_bad_urls_and_requests_are_invalid_arguments(self):
        m = self.open()
        bad = [
            ("scheme", "ftp://127.0.0.1/file"),
            ("credentials", "http://user:secret@127.0.0.1/x"),
            ("bad port", "http://127.0.0.1:25/x"),
            ("not a url", "http://exa mple.com/x"),
            ("method CONNECT", bgfetch.Request("/bytes/1", method="CONNECT")),
            ("method TRACE", bgfetch.Request("/bytes/1", method="TRACE")),
            ("bad method token", bgfetch.Request("/bytes/1", method="GE T")),
            ("header CRLF", bgfetch.Request("/bytes/1", headers={"X-A": "a\r\nb"})),
            ("header name", bgfetch.Request("/bytes/1", headers={"Bad Name": "v"})),
            ("NUL in URL", "/bytes/1\0x"),
        ]
        for what, req in bad:
            with self.subTest(what=what):
                self.assertRaisesWithMessage(bgfetch.InvalidArgument, m.fetch, "bad-url",
                                             ["/bytes/1", req])
        self.assertEqual(m.get_ids(), [], "a failed fetch registered something")

    def test_bad_ids_and_empty_lists_are_invalid_arguments(self):
        m = self.open()
        self.assertRaisesWithMessage(bgfetch.InvalidArgument, m.fetch, "", "/bytes/1")
        self.assertRaisesWithMessage(bgfetch.InvalidArgument, m.fetch, "empty", [])
        self.assertRaisesWithMessage(bgfetch.InvalidArgument, m.fetch, "nul\0id", "/bytes/1")
        self.assertRaisesWithMessage(bgfetch.InvalidArgument, m.fetch, "x" * 65537, "/bytes/1")
        self.assertRaisesWithMessage(bgfetch.InvalidArgument, m.fetch, "surrogate\udc80",
                                     "/bytes/1")
        with self.assertRaises(TypeError):
            m.fetch("typed", [42])
        self.assertEqual(m.get_ids(), [])
        # The longest id is fine.
        m.fetch("y" * 65536, "/bytes/1").close()

    def test_invalid_state_after_release(self):
        m = self.open()
        reg = self.fetch_done(m, "released", "/bytes/10")
        reg.release()
        e = self.assertRaisesWithMessage(bgfetch.InvalidState, reg.match, "/bytes/10")
        self.assertIsInstance(e, bgfetch.Error)
        self.assertRaisesWithMessage(bgfetch.InvalidState, reg.match_all)

    def test_busy_on_second_open_of_the_same_store(self):
        self.open()
        self.assertRaisesWithMessage(bgfetch.Busy, bgfetch.Manager, self.store)

    def test_store_that_cannot_be_created_is_a_store_error(self):
        blocker = os.path.join(self.dir, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory")
        self.assertRaisesWithMessage(bgfetch.StoreError, bgfetch.Manager,
                                     os.path.join(blocker, "store"))
        self.assertRaisesWithMessage(bgfetch.InvalidArgument, bgfetch.Manager, "")

    def test_quota_exceeded_at_fetch(self):
        m = self.open(quota=100)
        self.assertRaisesWithMessage(bgfetch.QuotaExceeded, m.fetch, "q",
                                     bgfetch.Request(url("/echo"), method="POST", body=b"x" * 101))

    def test_closed_manager(self):
        m = self.open()
        reg = m.fetch("c", "/bytes/10?stall_ms=2000&t=closed")
        self.addCleanup(reg.close)
        m.close()
        self.assertRaisesWithMessage(bgfetch.Closed, m.fetch, "c2", "/bytes/1")
        self.assertRaisesWithMessage(bgfetch.Closed, reg.wait, 1)
        self.assertRaisesWithMessage(bgfetch.Closed, reg.abort)
        self.assertRaisesWithMessage(bgfetch.Closed, reg.release)


if __name__ == "__main__":
    unittest.main()
