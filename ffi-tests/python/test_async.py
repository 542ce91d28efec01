"""asyncio: wait_async, response_ready_async, Response.wait_async and progress_async with
real fetches, in both dispatch modes; no thread per wait and no polling; timeouts, abort,
close and cancellation; callbacks on the loop's thread with dispatch="manual"."""

import asyncio
import os
import threading
import time
import unittest

import bgfetch
from support import StoreTestCase, pattern

MODES = ("thread", "manual")


def run(coro, limit=30):
    """Runs ``coro`` on a new event loop (at most ``limit`` seconds)."""
    return asyncio.run(asyncio.wait_for(coro, limit))


class AsyncTestCase(StoreTestCase):
    def manager(self, mode, **kw):
        return self.open(store=os.path.join(self.dir, mode), dispatch=mode, **kw)

    def watch_entries(self, m):
        return [k for k, e in bgfetch._callbacks.items() if e.manager() is m]


class WaitAsync(AsyncTestCase):
    def test_wait_async_awaits_a_real_fetch_without_blocking_the_loop(self):
        for mode in MODES:
            with self.subTest(dispatch=mode):
                m = self.manager(mode)

                async def main():
                    reg = m.fetch("w", "/bytes/200000?rate=800000&t=wa-" + mode)
                    self.addCleanup(reg.close)
                    ticks = 0

                    async def ticker():
                        nonlocal ticks
                        while True:
                            await asyncio.sleep(0.01)
                            ticks += 1
                    t = asyncio.create_task(ticker())
                    await reg.wait_async()
                    t.cancel()
                    return reg, ticks
                reg, ticks = run(main())
                self.assertEqual((reg.result, reg.downloaded), ("success", 200000))
                self.assertGreater(ticks, 5, "the loop was blocked while waiting")
                # The wait left nothing behind: its private handle and callback are gone.
                self.assertEqual(m._watches, set())
                self.assertEqual(self.watch_entries(m), [])

    def test_wait_async_on_a_settled_fetch_returns_at_once(self):
        m = self.manager("manual")
        reg = self.fetch_done(m, "done", "/bytes/10")
        t0 = time.monotonic()
        run(reg.wait_async(timeout=0))
        self.assertLess(time.monotonic() - t0, 1)

    def test_wait_async_timeout_raises_timeout(self):
        for mode in MODES:
            with self.subTest(dispatch=mode):
                m = self.manager(mode)
                reg = m.fetch("slow", "/bytes/10?stall_ms=3000&t=wat-" + mode)
                self.addCleanup(reg.close)
                t0 = time.monotonic()
                with self.assertRaises(bgfetch.Timeout) as cm:
                    run(reg.wait_async(timeout=0.1))
                self.assertIsInstance(cm.exception, TimeoutError)
                self.assertLess(time.monotonic() - t0, 2)
                with self.assertRaises(bgfetch.Timeout):
                    run(reg.wait_async(timeout=0))
                with self.assertRaises(TypeError):
                    run(reg.wait_async(timeout="soon"))
                reg.abort()
                run(reg.wait_async(timeout=10))
                self.assertEqual(reg.failure_reason, "aborted")
                self.assertEqual(m._watches, set())

    def test_many_waits_need_no_thread_and_no_polling(self):
        for mode in MODES:
            with self.subTest(dispatch=mode):
                m = self.manager(mode)

                async def main():
                    regs = [m.fetch("n%d" % i, "/bytes/10?stall_ms=1200&t=n%d-%s" % (i, mode))
                            for i in range(20)]
                    for r in regs:
                        self.addCleanup(r.close)
                    await asyncio.sleep(0)
                    before = threading.active_count()
                    cpu0 = time.process_time()
                    tasks = [asyncio.ensure_future(r.wait_async(10)) for r in regs]
                    await asyncio.sleep(0.6)
                    during = threading.active_count()
                    cpu = time.process_time() - cpu0
                    await asyncio.gather(*tasks)
                    return before, during, cpu, regs
                before, during, cpu, regs = run(main())
                self.assertTrue(all(r.result == "success" for r in regs))
                # No Python thread per wait (THREAD mode: the event thread may show up once
                # as a dummy thread, when it first runs a Python callback).
                self.assertLessEqual(during, before + (1 if mode == "thread" else 0))
                # 20 waits for 0.6 s on stalled responses: no busy polling.
                self.assertLess(cpu, 0.3, "waiting used %.2f s of CPU" % cpu)


class ResponseAsync(AsyncTestCase):
    def test_response_ready_async_then_body_wait_async(self):
        for mode in MODES:
            with self.subTest(dispatch=mode):
                m = self.manager(mode)
                n = 300000
                path = "/bytes/%d?rate=600000&seed=2&t=rra-%s" % (n, mode)

                async def main():
                    reg = m.fetch("r", [path, "/echo?x=1"])
                    self.addCleanup(reg.close)
                    rec = reg.match(path)
                    res = await rec.response_ready_async(timeout=10)
                    early = (res.status, res.complete)
                    await res.wait_async(timeout=10)
                    echo = await reg.match("/echo?x=1").response_ready_async(10)
                    return early, res, echo
                early, res, echo = run(main())
                self.assertEqual(early, (200, False))
                self.assertTrue(res.complete)
                self.assertEqual(res.read_all(), pattern(n, 2))
                self.assertEqual(echo.json()["method"], "GET")
                self.assertEqual(m._watches, set())

    def test_response_ready_async_timeout_abort_and_failure(self):
        m = self.manager("manual")
        reg = m.fetch("stall", "/bytes/10?stall_ms=4000&t=rra-err")
        self.addCleanup(reg.close)
        rec = reg.match_all()[0]

        async def main():
            with self.assertRaises(bgfetch.Timeout):
                await rec.response_ready_async(timeout=0.1)
            task = asyncio.ensure_future(rec.response_ready_async(timeout=10))
            await asyncio.sleep(0.1)
            self.assertTrue(reg.abort())
            with self.assertRaises(bgfetch.Aborted):
                await task
        run(main())
        bad = self.fetch_done(m, "bad", "/bytes/100000?noranges=1&reset_at=30000&t=rra-short")
        self.assertEqual(bad.failure_reason, "fetch-error")

        async def short():
            try:
                res = await bad.match_all()[0].response_ready_async(5)
            except bgfetch.FetchFailed:
                return "no response"
            with self.assertRaises(bgfetch.FetchFailed):
                await res.wait_async(5)
            return "body failed"
        self.assertIn(run(short()), ("no response", "body failed"))


class ProgressAsync(AsyncTestCase):
    def test_progress_async_yields_rising_values_and_ends(self):
        for mode in MODES:
            with self.subTest(dispatch=mode):
                m = self.manager(mode, progress_interval=0.05)

                async def main():
                    reg = m.fetch("p", "/bytes/400000?rate=800000&t=pa-" + mode)
                    self.addCleanup(reg.close)
                    seen = []
                    async for r in reg.progress_async():
                        self.assertIs(r, reg)
                        seen.append((r.downloaded, r.result))
                    return reg, seen
                reg, seen = run(main())
                values = [d for d, _ in seen]
                self.assertGreaterEqual(len(set(values)), 3, seen)
                self.assertEqual(values, sorted(values), "downloaded went down")
                self.assertEqual(seen[-1], (400000, "success"))
                self.assertEqual(seen[0][1], "")
                self.assertEqual(m._watches, set())
                self.assertEqual(self.watch_entries(m), [])

    def test_progress_async_of_a_settled_fetch_yields_once(self):
        m = self.manager("thread")
        reg = self.fetch_done(m, "settled", "/bytes/10")

        async def main():
            return [r.result async for r in reg.progress_async()]
        self.assertEqual(run(main()), ["success"])

    def test_breaking_out_or_cancelling_cleans_up(self):
        m = self.manager("manual")
        reg = m.fetch("brk", "/bytes/10?stall_ms=3000&t=brk")
        self.addCleanup(reg.close)

        async def main():
            gen = reg.progress_async()
            async for _ in gen:
                break
            await gen.aclose()
            self.assertEqual(m._watches, set())
            task = asyncio.ensure_future(reg.wait_async())
            await asyncio.sleep(0.05)
            self.assertEqual(len(m._watches), 1)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
        run(main())
        self.assertEqual(m._watches, set())
        self.assertEqual(self.watch_entries(m), [])


class LoopIntegration(AsyncTestCase):
    def test_manual_callbacks_run_on_the_loop_thread(self):
        m = self.manager("manual")
        me = threading.get_ident()

        async def main():
            m.attach_loop()
            m.attach_loop()          # idempotent
            events, progress = [], []
            m.on_event(lambda kind, reg: events.append((kind, reg.id, threading.get_ident())))
            reg = m.fetch("ev", "/bytes/50000?rate=500000&t=loopcb")
            self.addCleanup(reg.close)
            reg.on_progress(lambda r: progress.append(threading.get_ident()))
            # No await on the fetch itself: the loop dispatches the callbacks on its own.
            for _ in range(1000):
                if events:
                    break
                await asyncio.sleep(0.01)
            return events, progress
        events, progress = run(main())
        self.assertEqual(events, [("success", "ev", me)])
        self.assertTrue(progress)
        self.assertTrue(all(t == me for t in progress))

    def test_attach_loop_needs_manual_dispatch(self):
        m = self.manager("thread")

        async def main():
            with self.assertRaises(bgfetch.InvalidState):
                m.attach_loop()
        run(main())

    def test_a_manual_manager_serves_one_loop_after_another(self):
        m = self.manager("manual")
        for i in range(2):
            reg = m.fetch("seq%d" % i, "/bytes/1000?t=seq%d" % i)
            self.addCleanup(reg.close)
            run(reg.wait_async(10))
            self.assertEqual(reg.result, "success")

    def test_close_while_waiting_raises_closed(self):
        for mode in MODES:
            with self.subTest(dispatch=mode):
                m = self.manager(mode)

                async def main():
                    reg = m.fetch("c", "/bytes/10?stall_ms=5000&t=cw-" + mode)
                    self.addCleanup(reg.close)
                    task = asyncio.ensure_future(reg.wait_async())
                    gen = reg.progress_async()
                    # Up to the request being active (a state change is progress too):
                    # then nothing changes while the server stalls.
                    seen = await gen.__anext__()
                    while seen.state != "active":
                        seen = await gen.__anext__()
                    nxt = asyncio.ensure_future(gen.__anext__())
                    await asyncio.sleep(0.1)
                    # The generator compares snapshots: when "active" came between its
                    # snapshot and our live read of the state, it yields once more with
                    # what we already saw. Close only while a next value is pending.
                    while nxt.done():
                        self.assertEqual(nxt.result().state, "active")
                        nxt = asyncio.ensure_future(gen.__anext__())
                        await asyncio.sleep(0.1)
                    m.close()
                    with self.assertRaises(bgfetch.Closed):
                        await task
                    with self.assertRaises(bgfetch.Closed):
                        await nxt
                    with self.assertRaises(bgfetch.Closed):
                        await reg.wait_async()
                run(main())
                self.assertEqual(m._watches, set())

    def test_callback_exception_surfaces_from_the_wait(self):
        m = self.manager("manual")

        async def main():
            reg = m.fetch("boom", "/bytes/100000?rate=500000&t=aboom")
            self.addCleanup(reg.close)

            def on_progress(r):
                raise KeyError("in progress")
            reg.on_progress(on_progress)
            with self.assertLogs("bgfetch", "ERROR"):
                with self.assertRaises(KeyError):
                    await reg.wait_async(10)
            # Raised once: the next wait works.
            reg.on_progress(None)
            await reg.wait_async(10)
            return reg
        self.assertEqual(run(main()).result, "success")


if __name__ == "__main__":
    unittest.main()
