"""The README's example: an episode and its artwork, fetched in the background.

    python examples/podcast.py STORE_DIR BASE_URL

``BASE_URL`` serves ``/ep-5.mp3`` and ``/ep-5-artwork.jpg``. Run it again after Ctrl-C:
``exist_ok=True`` picks up the fetch where it is.
"""

from __future__ import annotations

import sys

import bgfetch


def main(store: str, base_url: str) -> int:
    with bgfetch.Manager(store, base_url=base_url) as m:
        reg = m.fetch("my-fetch", ["/ep-5.mp3", "ep-5-artwork.jpg"],
                      title="Episode 5: Interesting things.",
                      icons=[{"src": "/ep-5-icon.png", "sizes": "300x300",
                              "type": "image/png"}],
                      download_total=60 * 1024 * 1024, exist_ok=True)
        reg.on_progress(lambda r: print(r.downloaded, "/", r.download_total))
        reg.wait()
        print("result:", reg.result or "?", reg.failure_reason)
        rec = reg.match("/ep-5.mp3")
        if rec is not None and reg.result == "success":
            res = rec.response_ready(timeout=5.0)
            res.save("ep-5.mp3")
            print("saved ep-5.mp3:", res.body_size, "bytes,", res.headers.get("content-type"))
        ok = reg.result == "success"
        reg.release()
        return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
