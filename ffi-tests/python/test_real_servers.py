"""No false success on real servers (issue 18), items 1, 4 and 7 from Python, each under the
library's DEFAULT retry policy (``retries`` and ``fail_after_attempts`` left unset: 5 attempts,
1 s base backoff, 10 min without progress):

1. a close-delimited body (no Content-Length, not chunked) cut by a pause, then resumed, and
   by a TCP reset, ends byte-exact; never as a truncated success;
4. a 503 answering the resume of a body cut at 90 % keeps the stored bytes: byte-exact, 200;
7. a TLS verification error (a certificate from an unknown issuer, no ``ca_file``) fails the
   fetch at once (one attempt) with fetch-error, and the messages name the certificate
   problem. The server is ``openssl s_server``, started by tests/ffi_python.rs, which passes
   its URL in BGFETCH_TEST_TLS_URL (or, without openssl, the reason in BGFETCH_TEST_TLS_SKIP:
   the test is then skipped, visibly).

Bytes sent are counted with the server's /_stats and /_reset (the suite runs one test at a
time). Nothing sleeps to synchronise: a check waits for a callback or a settled fetch, or makes
a bounded wait that must run out (an observation window a correct library cannot end).
"""

import os
import threading

import bgfetch
from support import StoreTestCase, pattern, url, server_reset, server_stats

TLS_URL = os.environ.get("BGFETCH_TEST_TLS_URL", "")
TLS_SKIP = os.environ.get("BGFETCH_TEST_TLS_SKIP", "BGFETCH_TEST_TLS_URL is not set")


class DefaultPolicyTestCase(StoreTestCase):
    def open_default(self, name):
        """A manager with the library's default retry policy (no proxy from the environment,
        quick progress callbacks)."""
        return self.open(store=os.path.join(self.dir, name), retries=None,
                         fail_after_attempts=None, proxy="", progress_interval=0.01)



class CloseDelimited(DefaultPolicyTestCase):
    def test_a_paused_close_delimited_body_is_not_settled_and_resumes_byte_exact(self):
        n = 300000
        path = "/bytes/%d?seed=81&close_delimited=1&rate=300000&t=py-close-pause" % n
        m = self.open_default("close-pause")
        reg = m.fetch("p", path)
        self.addCleanup(reg.close)
        reached = threading.Event()
        reg.on_progress(lambda r: r.downloaded >= 60000 and reached.set())
        self.assertTrue(reached.wait(30), "the body did not start")
        reg.pause()
        reg.on_progress(None)
        # An observation window: a paused fetch never settles.
        with self.assertRaises(bgfetch.Timeout,
                               msg="the pause ended the close-delimited body as a result"):
            reg.wait(timeout=0.5)
        self.assertEqual(reg.result, "")
        rec = reg.match(path)
        self.assertEqual(rec.state, "paused")
        res = rec.response_ready(timeout=0)
        self.assertFalse(res.complete)
        self.assertLess(res.body_size, n)

        reg.resume()
        reg.wait(timeout=30)
        self.assert_byte_exact(reg, path, n, 81)

    def test_a_close_delimited_body_cut_by_a_reset_is_retried_and_ends_byte_exact(self):
        n = 300000
        m = self.open_default("close-reset")
        for seed, mode in ((82, "http10"), (83, "close_delimited")):
            with self.subTest(mode=mode):
                path = ("/bytes/%d?seed=%d&%s=1&rate=1000000&reset_at=100000&fail_times=1"
                        "&t=py-close-reset" % (n, seed, mode))
                reg = self.fetch_done(m, mode, path, timeout=30)
                self.assert_byte_exact(reg, path, n, seed)
                rec = reg.match(path)
                self.assertGreaterEqual(rec.attempts, 2, "the reset was not a failed attempt")
                self.assertTrue(rec.last_error, "the reset left no message")
                self.assertEqual(reg.last_error, "")  # it made progress since


class TransientAnswerToAResume(DefaultPolicyTestCase):
    def test_a_503_to_the_resume_of_a_body_cut_at_90_percent_keeps_the_body(self):
        n = 1000000
        path = ("/bytes/%d?seed=84&rate=2000000&reset_at=900000&fail_times=1"
                "&range_status=503&range_fail_times=1&t=py-503" % n)
        m = self.open_default("resume-503")
        server_reset()
        reg = self.fetch_done(m, "f", path, timeout=30)
        self.assertEqual((reg.result, reg.failure_reason), ("success", ""),
                         "the 503 to the resume replaced the stored body")
        self.assert_byte_exact(reg, path, n, 84, status=200)
        # the cut, the 503 to the resume, the resume that completed it
        rec = reg.match(path)
        self.assertEqual(rec.attempts, 3)
        # the 503 was a failed attempt of the record, and it made progress since
        self.assertIn("503", rec.last_error)
        self.assertEqual(reg.last_error, "")
        s = server_stats()
        self.assertEqual(s["requests"], 3)
        self.assertLess(s["body_bytes_sent"], n * 3 // 2, "the stored bytes were fetched again")


class TlsVerification(DefaultPolicyTestCase):
    def test_a_certificate_from_an_unknown_issuer_fails_at_once(self):
        if not TLS_URL:
            self.skipTest(TLS_SKIP)
        m = self.open_default("tls")  # no ca_file: the system's roots
        reg = self.fetch_done(m, "tls", TLS_URL, timeout=30)
        self.assertEqual((reg.result, reg.failure_reason), ("failure", "fetch-error"))
        rec = reg.match(TLS_URL)
        self.assertEqual(rec.attempts, 1, "a TLS verification error was retried")
        self.assertEqual(rec.state, "failed")
        squash = lambda s: s.lower().replace(" ", "").replace("_", "")  # noqa: E731
        self.assertIn("certificate", rec.last_error.lower())
        self.assertIn("unknownissuer", squash(rec.last_error))
        self.assertIn("certificate", reg.last_error.lower())
        with self.assertRaises(bgfetch.FetchFailed) as cm:
            rec.response_ready(timeout=5)
        self.assertIn("unknownissuer", squash(str(cm.exception)))
        with self.assertRaises(bgfetch.FetchFailed) as cm:
            reg.raise_for_result()
        self.assertIn("fetch-error", str(cm.exception))
        self.assertIn("unknownissuer", squash(str(cm.exception)))
