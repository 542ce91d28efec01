#!/usr/bin/env python3
"""A small local HTTP server for the demo: serves a directory, slowly enough to see progress.

    python3 scripts/demo_server.py DIR [--rate BYTES_PER_SECOND] [--port-file FILE]

Binds 127.0.0.1 on a free port chosen by the kernel and prints "PORT" (just the number) on
the first line of stdout (and into --port-file, written atomically, if given), then serves
DIR until it is killed (SIGTERM/SIGINT). Bodies are sent at about --rate bytes per second
per connection (default 4 MiB/s; 0 = unthrottled). Requests are logged to stderr.
Standard library only.
"""

import argparse
import functools
import http.server
import os
import signal
import sys
import time


class ThrottledHandler(http.server.SimpleHTTPRequestHandler):
    rate = 4 * 1024 * 1024  # bytes per second per connection; 0 = as fast as possible
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mp3": "audio/mpeg",
        ".jpg": "image/jpeg",
        ".png": "image/png",
    }

    def copyfile(self, source, outputfile):
        chunk = 64 * 1024
        start = time.monotonic()
        sent = 0
        try:
            while True:
                buf = source.read(chunk)
                if not buf:
                    break
                outputfile.write(buf)
                sent += len(buf)
                if self.rate > 0:
                    ahead = sent / self.rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. the demo was interrupted)

    def log_message(self, fmt, *args):
        sys.stderr.write("demo server: %s\n" % (fmt % args))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory")
    ap.add_argument("--rate", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--port-file")
    args = ap.parse_args()

    ThrottledHandler.rate = args.rate
    handler = functools.partial(ThrottledHandler, directory=os.path.abspath(args.directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    port = server.server_address[1]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
