"""Manager: the podcast example, fetch/get/get_ids, configuration, store lock, close/with/GC."""

import gc
import json
import os
import threading
import time
import unittest
import weakref

import bgfetch
from support import BASE, StoreTestCase, pattern, url, wait_until


class PodcastExample(StoreTestCase):
    def test_podcast_example_of_api_md(self):
        # API.md's example, with /bytes/N paths for the episode and its artwork.
        episode = "/bytes/300000?seed=5&rate=1500000"
        with bgfetch.Manager(self.store, base_url=BASE, retries=(1, 0), fail_after_attempts=True,
                             progress_interval=0.02) as m:
            reg = m.fetch("my-fetch", [episode, "bytes/20000?seed=6"],
                          title="Episode 5: Interesting things.",
                          icons=[{"src": "/ep-5-icon.png", "sizes": "300x300",
                                  "type": "image/png"}],
                          download_total=60 * 1024 * 1024)
            seen = []
            reg.on_progress(lambda r: seen.append((r.downloaded, r.download_total)))
            self.assertEqual(reg.id, "my-fetch")
            self.assertEqual(reg.title, "Episode 5: Interesting things.")
            self.assertEqual(reg.icons, [{"src": "/ep-5-icon.png", "sizes": "300x300",
                                          "type": "image/png", "label": ""}])
            self.assertEqual(reg.download_total, 60 * 1024 * 1024)
            reg.wait()
            self.assertEqual((reg.result, reg.failure_reason), ("success", ""))
            self.assertEqual(reg.downloaded, 320000)
            # The final progress callback comes after the result is set.
            self.assertTrue(wait_until(lambda: seen and seen[-1][0] == 320000), seen)
            self.assertTrue(all(t == 60 * 1024 * 1024 for _, t in seen))

            rec = reg.match(episode)
            self.assertIsNotNone(rec)
            self.assertEqual(rec.request.url, url(episode))
            self.assertEqual(rec.request.method, "GET")
            res = rec.response_ready(timeout=5.0)
            self.assertIsInstance(res, bgfetch.Response)
            self.assertEqual(res.status, 200)
            self.assertTrue(res.ok)
            self.assertEqual(res.url, url(episode))
            self.assertEqual(res.headers["content-type"], "application/octet-stream")
            self.assertTrue(os.path.isfile(res.body_path))
            self.assertEqual(res.read(), pattern(300000, 5))
            dest = os.path.join(self.dir, "ep-5.mp3")
            res.save(dest)
            with open(dest, "rb") as f:
                self.assertEqual(f.read(), pattern(300000, 5))
            self.assertIsNone(reg.match("/ep-5.mp3"))
            res.close()
            rec.close()
            reg.release()
            self.assertFalse(reg.records_available)
            self.assertIsNone(m.get("my-fetch"))
            self.assertEqual(m.get_ids(), [])


class FetchGetIds(StoreTestCase):
    def test_fetch_accepts_a_single_url_or_request_and_lists(self):
        m = self.open()
        a = m.fetch("a", "/bytes/10")
        b = m.fetch("b", bgfetch.Request("/bytes/11"))
        c = m.fetch("c", ["/bytes/12", bgfetch.Request(url("/bytes/13"))])
        for r in (a, b, c):
            r.wait(10)
            self.assertEqual(r.result, "success")
        self.assertEqual(a.downloaded, 10)
        self.assertEqual(b.downloaded, 11)
        self.assertEqual(c.downloaded, 25)

    def test_get_returns_a_live_view_or_none(self):
        m = self.open()
        reg = m.fetch("live", "/bytes/100000?rate=400000")
        other = m.get("live")
        self.addCleanup(other.close)
        self.assertIsInstance(other, bgfetch.Registration)
        self.assertIsNot(other, reg)
        self.assertEqual(other.id, "live")
        self.assertEqual(other.result, "")
        reg.wait(10)
        # The second handle sees the current values without being waited on.
        self.assertEqual(other.result, "success")
        self.assertEqual(other.downloaded, 100000)
        self.assertIsNone(m.get("no-such-id"))

    def test_get_ids_lists_unreleased_ids_sorted(self):
        m = self.open()
        self.assertEqual(m.get_ids(), [])
        regs = [self.fetch_done(m, i, "/bytes/5") for i in ("zeta", "alpha", "mu", "ünïcødé")]
        self.assertEqual(m.get_ids(), sorted(["zeta", "alpha", "mu", "ünïcødé"]))
        regs[0].release()
        self.assertEqual(m.get_ids(), sorted(["alpha", "mu", "ünïcødé"]))
        self.assertIsNone(m.get("zeta"))
        self.assertEqual(m.get("ünïcødé").id, "ünïcødé")

    def test_released_id_can_be_used_again(self):
        m = self.open()
        reg = self.fetch_done(m, "again", "/bytes/5")
        reg.release()
        reg2 = self.fetch_done(m, "again", "/bytes/6")
        self.assertEqual(reg2.downloaded, 6)


class Configuration(StoreTestCase):
    def test_every_config_keyword_is_accepted_and_applied(self):
        ca = "/etc/ssl/certs/ca-certificates.crt"
        m = self.open(max_connections=2, max_connections_per_fetch=1, quota=10 ** 9,
                      user_agent="bgfetch-py-test/1.0", timeouts=(2.0, 5.0), retries=(2, 0.01),
                      progress_interval=0.01, ca_file=ca if os.path.exists(ca) else None,
                      dispatch="thread", allow_https_to_http=False)
        reg = self.fetch_done(m, "cfg", ["/echo?ua=1", "/bytes/1000"])
        self.assertEqual(reg.result, "success")
        body = json.loads(reg.match("/echo?ua=1").response_ready(5).read())
        self.assertEqual(body["headers"].get("user-agent"), "bgfetch-py-test/1.0")

    def test_relative_urls_need_a_base_url(self):
        m = self.open(base_url=None)
        with self.assertRaises(bgfetch.InvalidArgument):
            m.fetch("rel", "/bytes/10")
        reg = self.fetch_done(m, "abs", url("/bytes/10"))
        self.assertEqual(reg.result, "success")

    def test_bad_config_values_raise_invalid_argument(self):
        for kw in ({"max_connections": 0}, {"max_connections_per_fetch": 0},
                   {"timeouts": (0, 0)}, {"retries": (0, 0)}, {"dispatch": "bogus"},
                   {"base_url": "not a url"}, {"user_agent": "a\r\nb"}):
            with self.subTest(kw=kw):
                with self.assertRaises(bgfetch.InvalidArgument) as cm:
                    bgfetch.Manager(self.store, **kw)
                self.assertTrue(str(cm.exception))

    def test_read_timeout_turns_a_stall_into_fetch_error(self):
        m = self.open(timeouts=(1.0, 0.2), retries=(1, 0))
        t0 = time.monotonic()
        reg = self.fetch_done(m, "stall", "/bytes/100?stall_ms=3000&cfg=timeout")
        self.assertEqual((reg.result, reg.failure_reason), ("failure", "fetch-error"))
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_retries_recover_from_transient_network_errors(self):
        m = self.open(retries=(3, 0.01))
        reg = self.fetch_done(m, "retry", "/bytes/1000?reset_before_headers=1&fail_times=2&t=py1")
        self.assertEqual((reg.result, reg.failure_reason), ("success", ""))
        m2 = self.open(store=os.path.join(self.dir, "s2"), retries=(1, 0))
        reg2 = self.fetch_done(m2, "noretry",
                               "/bytes/1000?reset_before_headers=1&fail_times=2&t=py2")
        self.assertEqual((reg2.result, reg2.failure_reason), ("failure", "fetch-error"))

    def test_used_bytes_and_problems(self):
        m = self.open()
        self.assertEqual(m.problems, [])
        self.assertEqual(m.used_bytes, 0)
        reg = self.fetch_done(m, "bytes", "/bytes/5000")
        self.assertGreaterEqual(m.used_bytes, 5000)
        reg.release()
        self.assertEqual(m.used_bytes, 0)

    def test_version(self):
        self.assertRegex(bgfetch.version(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(bgfetch.status_name(7), "BGFETCH_E_TIMEOUT")


class StoreLockAndPersistence(StoreTestCase):
    def test_second_open_of_the_same_store_is_busy(self):
        m = self.open()
        with self.assertRaises(bgfetch.Busy) as cm:
            bgfetch.Manager(self.store)
        self.assertEqual(cm.exception.status, 10)
        self.assertTrue(str(cm.exception))
        m.close()
        # Once closed, the store opens again.
        self.open().close()

    def test_only_the_store_directory_is_created_not_its_parents(self):
        # As mkdir without -p: a missing parent is a mistake, not a tree to create.
        missing = os.path.join(self.dir, "no", "such", "store")
        with self.assertRaises(bgfetch.InvalidArgument) as cm:
            bgfetch.Manager(missing)
        self.assertIn("does not exist", str(cm.exception))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "no")))
        # The store directory itself is created, private.
        self.open().close()
        self.assertEqual(os.stat(self.store).st_mode & 0o777, 0o700)

    def test_body_path_is_absolute_for_a_relative_store_path(self):
        cwd = os.getcwd()
        os.chdir(self.dir)
        try:
            m = self.open("store")
            here = os.getcwd()
        finally:
            os.chdir(cwd)
        # The store was resolved at open: the path stays right after a chdir.
        reg = self.fetch_done(m, "rel", ["/bytes/2000?seed=3"])
        res = reg.match_all()[0].response_ready(timeout=5.0)
        self.assertTrue(os.path.isabs(res.body_path), res.body_path)
        self.assertTrue(res.body_path.startswith(os.path.join(here, "store") + os.sep),
                        res.body_path)
        with open(res.body_path, "rb") as f:
            self.assertEqual(f.read(), pattern(2000, 3))

    def test_unreleased_fetch_is_redelivered_at_the_next_open(self):
        with self.open() as m:
            self.fetch_done(m, "persist", ["/bytes/3000?seed=2", "/bytes/10"],
                            title="kept").close()
        events = []
        m = self.open()
        self.assertEqual(m.get_ids(), ["persist"])

        def on_event(kind, reg):
            events.append((kind, reg.id, reg.title, reg.downloaded))
            reg.release()
        m.on_event(on_event)
        self.assertTrue(wait_until(lambda: events), "no event redelivered at open")
        self.assertEqual(events, [("success", "persist", "kept", 3010)])
        m.close()
        with self.open() as m:
            self.assertEqual(m.get_ids(), [])

    def test_unfinished_fetch_resumes_at_the_next_open(self):
        with self.open() as m:
            reg = m.fetch("resume", "/bytes/300000?rate=600000&seed=4&t=resume")
            wait_until(lambda: reg.downloaded > 0, 5)
        # reg outlives its manager: getters keep the last values.
        self.assertEqual(reg.result, "")
        with self.assertRaises(bgfetch.Closed):
            reg.wait(1)
        reg.close()
        with self.open() as m:
            reg = m.get("resume")
            self.assertIsNotNone(reg)
            reg.wait(15)
            self.assertEqual(reg.result, "success")
            res = reg.match("/bytes/300000?rate=600000&seed=4&t=resume").response_ready(5)
            self.assertEqual(res.read(), pattern(300000, 4))
            res.close()
            reg.close()


class CloseWithAndGarbageCollection(StoreTestCase):
    def test_with_closes_and_close_is_idempotent(self):
        with bgfetch.Manager(self.store, base_url=BASE) as m:
            self.assertFalse(m.closed)
        self.assertTrue(m.closed)
        m.close()
        m.close()
        for call in (lambda: m.fetch("x", "/bytes/1"), lambda: m.get("x"), m.get_ids,
                     lambda: m.on_event(None), lambda: m.dispatch(0), m.event_fd):
            with self.assertRaises(bgfetch.Closed):
                call()

    def test_objects_close_idempotently_and_refuse_use_after_close(self):
        m = self.open()
        reg = self.fetch_done(m, "c", "/bytes/10")
        rec = reg.match("/bytes/10")
        res = rec.response_ready(5)
        for obj, use in ((res, lambda: res.status), (rec, lambda: rec.response_ready(1)),
                         (reg, lambda: reg.downloaded)):
            with obj:
                pass
            obj.close()
            self.assertTrue(obj.closed)
            with self.assertRaises(bgfetch.Closed):
                use()

    def test_garbage_collection_frees_everything_and_releases_the_store(self):
        def work():
            m = bgfetch.Manager(self.store, base_url=BASE, retries=(1, 0), fail_after_attempts=True)
            m.on_event(lambda kind, reg: None)
            reg = m.fetch("gc", ["/bytes/2000", "/bytes/3000?rate=100000"])
            reg.on_progress(lambda r: r.downloaded)
            reg.wait(10)
            recs = reg.match_all()
            res = recs[0].response_ready(5)
            res.headers
            # One registration still running, never closed.
            m.fetch("gc-running", "/bytes/100?stall_ms=3000&t=gc")
            return res.read(10)
        self.assertEqual(work(), pattern(10))
        gc.collect()
        # Every object was freed: the manager too, so the store is free again. (If the last
        # reference went away inside a callback, on the event thread, the close runs on a
        # helper thread just after: allow it a moment.)
        self.assertTrue(wait_until(self._can_open, 5), "the manager was never closed")
        m = self.open()
        self.assertEqual(m.get_ids(), ["gc", "gc-running"])
        self.assertEqual(len([k for k, e in bgfetch._callbacks.items()
                              if e.manager() is None]), 0)

    def test_registration_keeps_its_manager_alive(self):
        m = bgfetch.Manager(self.store, base_url=BASE)
        reg = m.fetch("keep", "/bytes/10")
        ref = weakref.ref(m)
        del m
        gc.collect()
        self.assertIsNotNone(ref())
        self.assertFalse(ref().closed)
        self.assertIs(reg.manager, ref())
        reg.wait(10)
        del reg
        gc.collect()
        self.assertIsNone(ref())
        self.assertTrue(self._can_open())

    def test_manager_closed_from_inside_its_callback_closes_afterwards(self):
        m = self.open()
        m.on_event(lambda kind, reg: m.close())
        self.fetch_done(m, "self-close", "/bytes/10")
        self.assertTrue(wait_until(lambda: m.closed, 5))
        with self.assertRaises(bgfetch.Closed):
            m.get_ids()
        # The store lock is released: the close really happened.
        self.assertTrue(wait_until(lambda: self._can_open(), 5))

    def test_last_reference_dropped_inside_a_callback(self):
        # The manager's last reference goes away on the event thread, inside its callback:
        # the library forbids closing it there, so the binding must defer the close.
        called = threading.Event()
        m = bgfetch.Manager(self.store, base_url=BASE, retries=(1, 0), fail_after_attempts=True)
        holder = [m.fetch("last", "/bytes/10?stall_ms=200&t=last")]
        ref = weakref.ref(m)

        def on_event(kind, reg):
            holder.clear()
            called.set()
        m.on_event(on_event)
        del m
        gc.collect()
        self.assertIsNotNone(ref(), "the registration should keep the manager alive")
        self.assertTrue(called.wait(10))
        self.assertTrue(wait_until(lambda: ref() is None and self._can_open(), 10),
                        "the manager was not closed after its last reference went away")

    def _can_open(self):
        try:
            bgfetch.Manager(self.store).close()
            return True
        except bgfetch.Busy:
            return False

    def test_concurrent_use_from_threads(self):
        m = self.open()
        errors = []

        def worker(n):
            try:
                reg = m.fetch("t%d" % n, "/bytes/%d?seed=%d" % (1000 + n, n % 5))
                reg.wait(10)
                data = reg.match_all()[0].response_ready(5).read()
                if data != pattern(1000 + n, n % 5):
                    errors.append("body %d differs" % n)
                reg.release()
            except Exception as e:  # collected for the assertion below
                errors.append(repr(e))
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(m.get_ids(), [])


class ExistOk(StoreTestCase):
    def test_exist_ok_returns_the_existing_unreleased_fetch(self):
        m = self.open()
        first = m.fetch("again", "/bytes/100000?rate=500000&t=existok", title="first")
        self.addCleanup(first.close)
        with self.assertRaises(bgfetch.DuplicateId):
            m.fetch("again", "/bytes/10")
        # Running: the same fetch comes back, whatever this call asked for.
        same = m.fetch("again", "/bytes/10", title="second", exist_ok=True)
        self.addCleanup(same.close)
        self.assertIsNot(same, first)
        self.assertEqual(same.id, "again")
        self.assertEqual(same.title, "first")
        self.assertEqual([r.request.url for r in same.match_all()],
                         [url("/bytes/100000?rate=500000&t=existok")])
        same.wait(10)
        # Settled but not released (a script run again after Ctrl-C): still returned.
        again = m.fetch("again", "/bytes/10", exist_ok=True)
        self.addCleanup(again.close)
        self.assertEqual((again.result, again.downloaded), ("success", 100000))
        self.assertEqual(m.get_ids(), ["again"])
        # Released: a new fetch.
        again.release()
        new = m.fetch("again", "/bytes/10", exist_ok=True)
        self.addCleanup(new.close)
        new.wait(10)
        self.assertEqual(new.downloaded, 10)

    def test_exist_ok_still_checks_the_arguments(self):
        m = self.open()
        self.fetch_done(m, "checked", "/bytes/10")
        with self.assertRaises(bgfetch.InvalidArgument):
            m.fetch("checked", "/bytes/1\0x", exist_ok=True)
        with self.assertRaises(TypeError):
            m.fetch("checked", [42], exist_ok=True)
        with self.assertRaises(bgfetch.InvalidArgument):
            m.fetch("", "/bytes/1", exist_ok=True)

    def test_exist_ok_across_reopen(self):
        with self.open() as m:
            m.fetch("kept", "/bytes/300000?rate=600000&t=existreopen").close()
        m = self.open()
        reg = m.fetch("kept", "/bytes/1", exist_ok=True)
        self.addCleanup(reg.close)
        reg.wait(15)
        self.assertEqual((reg.result, reg.downloaded), ("success", 300000))


if __name__ == "__main__":
    unittest.main()
