"""Records and responses: match flags, match_all, request, response_ready, headers, read,
save, uploads, integrity."""

import base64
import hashlib
import io
import json
import os
import shutil
import unittest

import bgfetch
from support import StoreTestCase, closed_port, pattern, url


class Match(StoreTestCase):
    def test_match_by_url_returns_first_record_or_none(self):
        m = self.open()
        reg = self.fetch_done(m, "m", ["/bytes/10?seed=1", "/bytes/20?seed=2#frag",
                                       "/bytes/10?seed=1"])
        rec = reg.match("/bytes/10?seed=1")
        self.assertIsInstance(rec, bgfetch.Record)
        self.assertEqual(rec.request.url, url("/bytes/10?seed=1"))
        self.assertEqual(reg.match(url("/bytes/10?seed=1")).request.url, url("/bytes/10?seed=1"))
        # The fragment is ignored on both sides.
        self.assertEqual(reg.match("/bytes/20?seed=2").request.url, url("/bytes/20?seed=2"))
        self.assertIsNotNone(reg.match("/bytes/20?seed=2#other"))
        self.assertIsNone(reg.match("/bytes/30"))

    def test_ignore_search(self):
        m = self.open()
        reg = self.fetch_done(m, "s", "/bytes/10?seed=1")
        self.assertIsNone(reg.match("/bytes/10"))
        self.assertIsNone(reg.match("/bytes/10?seed=2"))
        rec = reg.match("/bytes/10", ignore_search=True)
        self.assertIsNotNone(rec)
        self.assertEqual(rec.request.url, url("/bytes/10?seed=1"))
        self.assertEqual(len(reg.match_all("/bytes/10?x=y", ignore_search=True)), 1)

    def test_ignore_method(self):
        m = self.open()
        reg = self.fetch_done(m, "meth", bgfetch.Request("/echo?meth=1", method="POST",
                                                         body=b"hello"))
        self.assertEqual(reg.result, "success")
        self.assertIsNone(reg.match(bgfetch.Request("/echo?meth=1", method="POST")))
        rec = reg.match(bgfetch.Request("/echo?meth=1", method="POST"), ignore_method=True)
        self.assertIsNotNone(rec)
        self.assertEqual(rec.request.method, "POST")
        self.assertEqual(len(reg.match_all(bgfetch.Request("/echo?meth=1", method="PUT"),
                                           ignore_method=True)), 1)

    def test_ignore_vary(self):
        m = self.open()
        target = "/bytes/10?vary=X-Lang"
        reg = self.fetch_done(m, "vary", bgfetch.Request(target, headers={"X-Lang": "en"}))
        self.assertEqual(reg.result, "success")
        self.assertIsNotNone(reg.match(bgfetch.Request(target, headers={"x-lang": "en"})))
        self.assertIsNone(reg.match(bgfetch.Request(target, headers={"X-Lang": "fr"})))
        self.assertIsNotNone(reg.match(bgfetch.Request(target, headers={"X-Lang": "fr"}),
                                       ignore_vary=True))
        self.assertIsNone(reg.match(target))
        self.assertIsNotNone(reg.match(target, ignore_vary=True))

    def test_match_all_in_request_order(self):
        m = self.open()
        urls = ["/bytes/3?seed=1", "/bytes/4?seed=2", "/bytes/3?seed=1", "/bytes/5?seed=3"]
        reg = self.fetch_done(m, "all", urls)
        recs = reg.match_all()
        self.assertEqual([r.request.url for r in recs], [url(u) for u in urls])
        self.assertEqual([r.response_ready(5).read() for r in recs],
                         [pattern(3, 1), pattern(4, 2), pattern(3, 1), pattern(5, 3)])
        dup = reg.match_all("/bytes/3?seed=1")
        self.assertEqual(len(dup), 2)
        self.assertEqual(reg.match_all("/nothing"), [])
        self.assertEqual(len(reg.match_all("/bytes/3", ignore_search=True)), 2)
        # Records borrowed from one list: the list is freed with the last of them.
        owner = recs[0]._owner
        for r in recs:
            self.assertFalse(owner.closed)
            r.close()
        self.assertTrue(owner.closed)

    def test_record_request_has_url_method_headers(self):
        m = self.open()
        req = bgfetch.Request("/echo?rq=1", method="put",
                              headers=[("X-One", "1"), ("X-Two", "2")], body="data")
        reg = self.fetch_done(m, "rq", req)
        rec = reg.match_all()[0]
        self.assertEqual(rec.request.url, url("/echo?rq=1"))
        self.assertEqual(rec.request.method, "PUT")
        self.assertEqual(rec.request.headers["x-one"], "1")
        self.assertEqual(rec.request.headers["X-TWO"], "2")
        self.assertIn("PUT", repr(rec))
        # The record's request is the stored request, its body included.
        self.assertEqual(rec.request.body, b"data")

    def test_record_request_body_is_none_without_a_body_and_whole_when_large(self):
        m = self.open()
        big = pattern(300000, seed=4)
        reg = self.fetch_done(m, "rqb", ["/bytes/10",
                                         bgfetch.Request("/echo?rqb=1", method="POST", body=big)])
        get, post = reg.match_all(ignore_method=True)
        self.assertIsNone(get.request.body)
        self.assertEqual(post.request.body, big)
        reg.release()
        with self.assertRaises(bgfetch.InvalidState):
            reg.match_all()


class Responses(StoreTestCase):
    def test_response_properties_and_case_insensitive_headers(self):
        m = self.open()
        path = ("/bytes/1000?seed=2&header=X-Custom:Hello%20World&header=X-Other:1"
                "&header=X-Dup:a&header=X-Dup:b")
        reg = self.fetch_done(m, "hdr", path)
        res = reg.match(path).response_ready(timeout=5)
        self.assertEqual(res.status, 200)
        self.assertTrue(res.ok)
        self.assertEqual(res.url, url(path))
        self.assertTrue(res.complete)
        self.assertEqual(res.body_size, 1000)
        h = res.headers
        self.assertIsInstance(h, bgfetch.Headers)
        for name in ("X-Custom", "x-custom", "X-CUSTOM"):
            self.assertIn(name, h)
            self.assertEqual(h[name], "Hello World")
        self.assertEqual(h.get("x-other"), "1")
        self.assertEqual(h["ETag"], '"1000-2"')
        self.assertEqual(h["content-length"], "1000")
        self.assertIsNone(h.get("X-Missing"))
        self.assertNotIn("X-Missing", h)
        with self.assertRaises(KeyError):
            h["X-Missing"]
        self.assertIn("x-custom", [n.lower() for n in h])
        self.assertEqual(len(h), len(list(h)))
        self.assertEqual(res.header("x-CUSTOM"), "Hello World")
        # Repeated names: joined with ", ", and each kept in order.
        self.assertEqual(h["X-DUP"], "a, b")
        self.assertEqual(h.get_all("x-dup"), ["a", "b"])
        self.assertEqual(res.header("X-Dup"), "a, b")
        self.assertIsNone(res.header("X-Missing"))
        # The repr holds the URL (and so a random port): check where the status stands.
        self.assertTrue(repr(res).startswith("<bgfetch.Response 200 "), repr(res))

    def test_non_2xx_is_a_response(self):
        m = self.open()
        reg = self.fetch_done(m, "404", "/status/404")
        self.assertEqual(reg.failure_reason, "bad-status")
        res = reg.match("/status/404").response_ready(5)
        self.assertEqual(res.status, 404)
        self.assertFalse(res.ok)
        self.assertEqual(res.read_all(), b"status 404\n")

    def test_redirect_final_url(self):
        m = self.open()
        path = "/redirect?to=%2Fbytes%2F10&n=2"
        reg = self.fetch_done(m, "redir", path)
        rec = reg.match(path)
        self.assertEqual(rec.request.url, url(path))
        res = rec.response_ready(5)
        self.assertEqual(res.url, url("/bytes/10"))
        self.assertEqual(res.read(), pattern(10))

    def test_read_with_size_and_offset(self):
        m = self.open()
        n = 200000
        data = pattern(n, 1)
        reg = self.fetch_done(m, "read", "/bytes/%d?seed=1" % n)
        res = reg.match_all()[0].response_ready(5)
        self.assertEqual(res.read(), data)
        self.assertEqual(res.read_all(), data)
        self.assertEqual(res.read(100), data[:100])
        self.assertEqual(res.read(100, offset=65500), data[65500:65600])
        self.assertEqual(res.read(offset=n - 5), data[-5:])
        self.assertEqual(res.read(10, offset=n), b"")
        self.assertEqual(res.read(0, offset=10), b"")
        self.assertEqual(res.read(n + 1000, offset=n - 3), data[-3:])
        with open(res.body_path, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_save_is_byte_exact(self):
        m = self.open()
        n = 300001
        reg = self.fetch_done(m, "save", "/bytes/%d?seed=3" % n)
        res = reg.match_all()[0].response_ready(5)
        dest = os.path.join(self.dir, "saved.bin")
        with open(dest, "wb") as f:
            f.write(b"old contents to be replaced")
        res.save(dest)
        with open(dest, "rb") as f:
            saved = f.read()
        self.assertEqual(len(saved), n)
        expected = pattern(n, 3)
        self.assertEqual(saved, expected)
        # The pattern helper against the formula itself, at the block boundaries.
        for i in (0, 250, 251, 65535, 65536, 131072, n - 1):
            self.assertEqual(saved[i], ((i % 251) + 7 * 3 + i // 65536) % 256)
        self.assertEqual(sorted(os.listdir(self.dir)), ["saved.bin", "store"])

    def test_save_to_a_bad_path_raises(self):
        m = self.open()
        reg = self.fetch_done(m, "badsave", "/bytes/10")
        res = reg.match_all()[0].response_ready(5)
        with self.assertRaises(bgfetch.Error):
            res.save(os.path.join(self.dir, "no", "such", "dir", "x"))

    def test_streaming_body_wait_complete_body_size(self):
        m = self.open()
        n = 200000
        reg = m.fetch("stream", "/bytes/%d?rate=250000&seed=2&t=stream" % n)
        self.addCleanup(reg.close)
        res = reg.match_all()[0].response_ready(timeout=5)
        self.assertEqual(res.status, 200)
        self.assertFalse(res.complete)
        self.assertLess(res.body_size, n)
        with self.assertRaises(bgfetch.Timeout):
            res.wait(timeout=0.01)
        # read blocks until the bytes are there.
        self.assertEqual(res.read(10, offset=150000), pattern(n, 2)[150000:150010])
        res.wait(timeout=10)
        self.assertTrue(res.complete)
        self.assertEqual(res.body_size, n)
        res.wait()  # already complete: returns at once
        self.assertEqual(res.read_all(), pattern(n, 2))

    def test_read_all_of_a_streaming_body_waits_for_the_end(self):
        m = self.open()
        n = 100000
        reg = m.fetch("stream2", "/bytes/%d?rate=300000&seed=4&t=stream2" % n)
        self.addCleanup(reg.close)
        res = reg.match_all()[0].response_ready(timeout=5)
        self.assertEqual(res.read_all(), pattern(n, 4))

    def test_response_ready_errors(self):
        m = self.open()
        # Timeout, then Aborted.
        reg = m.fetch("stall", "/bytes/10?stall_ms=4000&t=rr")
        self.addCleanup(reg.close)
        rec = reg.match_all()[0]
        with self.assertRaises(bgfetch.Timeout):
            rec.response_ready(timeout=0.05)
        reg.abort()
        with self.assertRaises(bgfetch.Aborted) as cm:
            rec.response_ready(timeout=5)
        self.assertEqual(cm.exception.status, 5)
        self.assertTrue(str(cm.exception))
        # FetchFailed: a network error.
        dead = "http://127.0.0.1:%d/x" % closed_port()
        reg2 = self.fetch_done(m, "dead", [dead, "/bytes/10"])
        self.assertEqual(reg2.failure_reason, "fetch-error")
        with self.assertRaises(bgfetch.FetchFailed) as cm:
            reg2.match(dead).response_ready(timeout=5)
        self.assertEqual(cm.exception.status, 6)
        # The other request still completed and stays readable.
        self.assertEqual(reg2.match("/bytes/10").response_ready(5).read(), pattern(10))

    def test_body_stopping_short_raises_on_read_and_wait(self):
        m = self.open()
        path = "/bytes/100000?noranges=1&reset_at=30000&t=short"
        reg = self.fetch_done(m, "short", path)
        self.assertEqual(reg.failure_reason, "fetch-error")
        rec = reg.match(path)
        try:
            res = rec.response_ready(5)
        except bgfetch.FetchFailed:
            return  # never exposed: also correct
        with self.assertRaises(bgfetch.FetchFailed):
            res.wait(5)
        with self.assertRaises(bgfetch.FetchFailed):
            res.read_all()

    def test_response_outlives_manager_close(self):
        m = self.open()
        reg = self.fetch_done(m, "after", "/bytes/10")
        res = reg.match_all()[0].response_ready(5)
        m.close()
        self.assertEqual(res.status, 200)
        self.assertEqual(reg.result, "success")
        with self.assertRaises(bgfetch.Closed):
            res.read()
        with self.assertRaises(bgfetch.Closed):
            reg.match("/bytes/10")


class Uploads(StoreTestCase):
    def test_uploads_reach_the_server(self):
        m = self.open()
        payload = pattern(100000, 7)
        reqs = [
            bgfetch.Request("/echo?u=bytes", method="PUT",
                            headers={"X-Test": "yes", "Content-Type": "application/x-test"},
                            body=payload),
            bgfetch.Request("/echo?u=str", method="POST", body="héllo"),
            bgfetch.Request("/echo?u=bytearray", method="POST", body=bytearray(b"\0\1\2")),
            bgfetch.Request("/echo?u=memoryview", method="POST", body=memoryview(b"abcdef")[1:4]),
            bgfetch.Request("/echo?u=empty", method="POST", body=b""),
        ]
        reg = m.fetch("up", reqs)
        self.addCleanup(reg.close)
        expected = [(payload, "PUT"), ("héllo".encode(), "POST"), (b"\0\1\2", "POST"),
                    (b"bcd", "POST"), (b"", "POST")]
        self.assertEqual(reg.upload_total, sum(len(b) for b, _ in expected))
        reg.wait(10)
        self.assertEqual(reg.result, "success", reg.failure_reason)
        self.assertEqual(reg.uploaded, reg.upload_total)
        for r, (body, method) in zip(reqs, expected):
            with self.subTest(url=r.url):
                rec = reg.match(bgfetch.Request(r.url, method=method), ignore_method=True)
                echo = json.loads(rec.response_ready(5).read())
                self.assertEqual(echo["method"], method)
                self.assertEqual(echo["length"], len(body))
                self.assertEqual(echo["sum"], sum(body) % 2 ** 32)
        first = json.loads(reg.match_all()[0].response_ready(5).read())
        self.assertEqual(first["headers"]["x-test"], "yes")
        self.assertEqual(first["headers"]["content-type"], "application/x-test")

    def test_upload_beyond_quota_is_refused(self):
        m = self.open(quota=1000)
        with self.assertRaises(bgfetch.QuotaExceeded) as cm:
            m.fetch("big", bgfetch.Request("/echo", method="PUT", body=b"x" * 2000))
        self.assertEqual(cm.exception.status, 3)
        with self.assertRaises(bgfetch.QuotaExceeded):
            m.fetch("total", "/bytes/10", download_total=5000)
        self.assertEqual(m.get_ids(), [])


class Integrity(StoreTestCase):
    def sri(self, data):
        return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()

    def test_integrity_match_and_mismatch(self):
        m = self.open()
        good = self.fetch_done(m, "good", bgfetch.Request("/bytes/1000?seed=1",
                                                          integrity=self.sri(pattern(1000, 1))))
        self.assertEqual(good.result, "success")
        self.assertEqual(good.match_all()[0].response_ready(5).read(), pattern(1000, 1))
        bad = self.fetch_done(m, "bad", bgfetch.Request("/bytes/1000?seed=2",
                                                        integrity=self.sri(b"other")))
        self.assertEqual((bad.result, bad.failure_reason), ("failure", "fetch-error"))
        with self.assertRaises(bgfetch.FetchFailed):
            bad.match_all()[0].response_ready(5)


class TextJsonOpen(StoreTestCase):
    def test_text_decodes_with_the_charset_or_utf8(self):
        m = self.open()
        latin = "/bytes/300?seed=1&ct=text%2Fplain%3B%20charset%3Dlatin-1"
        reg = self.fetch_done(m, "text", ["/echo?text=1", latin, "/bytes/300?seed=2"])
        echo = reg.match("/echo?text=1").response_ready(5)
        self.assertEqual(echo.text(), echo.read_all().decode("utf-8"))
        self.assertTrue(echo.text().startswith('{"method":"GET"'))
        res = reg.match(latin).response_ready(5)
        self.assertEqual(res.headers["content-type"], "text/plain; charset=latin-1")
        self.assertEqual(res.text(), pattern(300, 1).decode("latin-1"))
        # No charset: UTF-8, which these bytes are not.
        binary = reg.match("/bytes/300?seed=2").response_ready(5)
        with self.assertRaises(UnicodeDecodeError):
            binary.text()
        self.assertEqual(binary.text(errors="replace"),
                         pattern(300, 2).decode("utf-8", "replace"))
        self.assertEqual(binary.text("latin-1"), pattern(300, 2).decode("latin-1"))

    def test_json_parses_the_body(self):
        m = self.open()
        reg = self.fetch_done(m, "json", [bgfetch.Request("/echo?json=1", method="POST",
                                                           headers={"X-A": "b"}, body=b"abc"),
                                          "/bytes/10"])
        body = reg.match("/echo?json=1", ignore_method=True).response_ready(5).json()
        self.assertEqual(body["method"], "POST")
        self.assertEqual(body["length"], 3)
        self.assertEqual(body["headers"]["x-a"], "b")
        with self.assertRaises(ValueError):
            reg.match("/bytes/10").response_ready(5).json()

    def test_open_is_a_binary_file(self):
        m = self.open()
        n = 200000
        data = pattern(n, 3)
        reg = self.fetch_done(m, "open", "/bytes/%d?seed=3" % n)
        res = reg.match_all()[0].response_ready(5)
        with res.open() as f:
            self.assertIsInstance(f, io.BufferedReader)
            self.assertTrue(f.readable() and f.seekable())
            self.assertFalse(f.writable())
            self.assertEqual(f.read(10), data[:10])
            self.assertEqual(f.tell(), 10)
            self.assertEqual(f.read(70000), data[10:70010])
            f.seek(65530)
            self.assertEqual(f.read(12), data[65530:65542])
            f.seek(-5, io.SEEK_END)
            self.assertEqual(f.read(), data[-5:])
            self.assertEqual(f.read(), b"")
            f.seek(0)
            self.assertEqual(f.read(), data)
            f.seek(0)
            buf = bytearray(1000)
            self.assertEqual(f.readinto(buf), 1000)
            self.assertEqual(bytes(buf), data[:1000])
            with self.assertRaises(io.UnsupportedOperation):
                f.fileno()
            with self.assertRaises(ValueError):
                f.seek(-1)
        self.assertTrue(f.closed)
        with self.assertRaises(ValueError):
            f.read()
        # The response stays open, and shutil-style copies work.
        self.assertFalse(res.closed)
        out = io.BytesIO()
        with res.open() as f:
            shutil.copyfileobj(f, out)
        self.assertEqual(out.getvalue(), data)

    def test_open_lines_and_streaming(self):
        m = self.open()
        reg = self.fetch_done(m, "lines", "/echo?lines=1")
        with reg.match_all()[0].response_ready(5).open() as f:
            self.assertEqual(f.readlines(), [reg.match_all()[0].response_ready(5).read()])
        n = 150000
        stream = m.fetch("stream-open", "/bytes/%d?rate=300000&seed=5&t=sopen" % n)
        self.addCleanup(stream.close)
        res = stream.match_all()[0].response_ready(5)
        self.assertFalse(res.complete)
        with res.open() as f:
            # Reads block until the bytes are stored; the end of the body is EOF.
            self.assertEqual(f.read(), pattern(n, 5))
        res.close()
        with self.assertRaises(bgfetch.Closed):
            res.open()


if __name__ == "__main__":
    unittest.main()
