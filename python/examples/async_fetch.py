"""Fetches a few URLs in the background and follows them from asyncio.

    python examples/async_fetch.py STORE_DIR URL [URL...]

Run it again after Ctrl-C: ``exist_ok=True`` picks up the fetch where it is (the library
resumed it when the manager opened) instead of failing with ``DuplicateId``.

The manager uses ``dispatch="manual"``: the running loop dispatches its callbacks (through
``loop.add_reader`` on the manager's event fd), so nothing here runs on another thread and no
wait polls or holds a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from typing import List

import bgfetch


async def show_progress(reg: bgfetch.Registration) -> None:
    async for r in reg.progress_async():
        total = r.download_total
        of = " of %d" % total if total else ""
        print("  %s: %d bytes%s%s" % (r.id, r.downloaded, of,
                                      " (%s)" % r.result if r.result else ""))


async def digest_when_ready(rec: bgfetch.Record) -> str:
    """Awaits the response's headers, then its whole body, and hashes it."""
    res = await rec.response_ready_async(timeout=60)
    print("  %s: %d %s" % (rec.request.url, res.status,
                           res.headers.get("content-type", "?")))
    await res.wait_async()
    h = hashlib.sha256()
    with res.open() as body:
        for chunk in iter(lambda: body.read(1 << 16), b""):
            h.update(chunk)
    return "%s  %s (%d bytes)" % (h.hexdigest(), res.url, res.body_size)


async def main(store: str, urls: List[str]) -> int:
    with bgfetch.Manager(store, dispatch="manual", progress_interval=0.5) as m:
        reg = m.fetch("async-example", urls, title="async example", exist_ok=True)
        progress = asyncio.ensure_future(show_progress(reg))
        try:
            digests = await asyncio.gather(*(digest_when_ready(rec)
                                             for rec in reg.match_all()))
        except bgfetch.Error as e:
            print("a request failed: %s" % e, file=sys.stderr)
            digests = []
        await reg.wait_async()
        await progress
        for line in digests:
            print(line)
        print("result: %s %s" % (reg.result, reg.failure_reason))
        ok = reg.result == "success"
        reg.release()
        return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))
