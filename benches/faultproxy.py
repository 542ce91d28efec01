#!/usr/bin/env python3
"""A fault-injecting TCP proxy for the "bad link" row of benches/bench.py (issue 12).

One thread runs a `selectors` event loop (non-blocking sockets, no thread per connection, so a
cut is immediate: nothing is left blocked in a `recv`). Every connection accepted on
127.0.0.1:<port> is forwarded to 127.0.0.1:<target>:

- **throttle**: the server->client direction goes through one token bucket shared by all
  connections (`rate` bytes/s, a burst of 50 ms worth), sent in chunks of 16 KiB (less only at
  the end of what the server sent), like one slow link; the client->server direction is not
  throttled.
- **outages on a schedule**: `arm(cut_at=[b1, b2, ...], outage_s=5)` cuts every connection
  when the response *body* bytes the proxy has sent in this run reach b1, b2, ... (its own
  count, re-sent bytes included); a cut closes both sides with SO_LINGER 0 (the client gets a
  reset; the bytes still in its socket buffers are lost, as on a real cut). For `outage_s`
  after a cut, new connections are accepted and at once closed with SO_LINGER 0 (the client's
  first read fails with ECONNRESET: an error at once, never a timeout).
- **accounting**: the bytes sent to clients, split into response heads and bodies by a small
  HTTP/1.1 parser (Content-Length; HEAD, 1xx, 204 and 304 have no body), the statuses, the
  connections forwarded and refused, and for every outage the time from its end to the first
  forwarded connection and to the first body byte after it (the client's reconnect lag).

Standalone, for trying a client by hand:

    benches/faultproxy.py --target 8080 --rate 5MiB --size 100MiB --cut-at 25,50,75 --outage 5
"""

import argparse
import collections
import selectors
import socket
import struct
import threading
import time

LINGER0 = struct.pack("ii", 1, 0)
CAP = 256 * 1024        # per-direction buffer of a connection
CHUNK = 16 * 1024       # largest single send to a client while throttled
BURST_S = 0.05          # the bucket holds this much time's worth of bytes


def _hard_close(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class _Link:
    def __init__(self, c, u, t):
        self.c, self.u = c, u
        self.up = bytearray()         # client -> server, not yet sent
        self.down = bytearray()       # server -> client, not yet sent
        self.connected = False
        self.u_eof = False
        self.c_blocked = False        # the last send to the client hit EAGAIN
        self.u_blocked = False
        self.methods = collections.deque()
        self.reqbuf = b""
        self.headbuf = b""
        self.body_left = 0            # of the response being sent; -1: until close
        self.opened = t
        self.c_mask = self.u_mask = 0


class FaultProxy:
    def __init__(self, target_port, rate=0):
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(256)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.lock = threading.Lock()
        self.links = set()
        self.stopping = False
        self.rate = rate
        self.tokens = 0.0
        self.refill_at = time.monotonic()
        self.arm([], 0.0)
        self.thread = threading.Thread(target=self._loop, name="faultproxy", daemon=True)
        self.thread.start()

    # --- control (any thread) ---------------------------------------------------------------

    def arm(self, cut_at, outage_s, rate=None):
        """A new run: cut every live connection, reset the counters, set the schedule."""
        with self.lock:
            for L in list(self.links):
                self._close_link(L, hard=True)
            if rate is not None:
                self.rate = rate
            self.cut_at = sorted(cut_at)
            self.outage_s = outage_s
            self.down_until = 0.0
            self.t0 = time.monotonic()
            self.s = dict(head=0, body=0, total=0, up=0, links=0, refused=0,
                          statuses=collections.Counter(), outages=[])

    def stats(self):
        with self.lock:
            s = dict(self.s)
            s["statuses"] = dict(s["statuses"])
            s["outages"] = [dict(o) for o in s["outages"]]
            return s

    def stop(self):
        with self.lock:
            self.stopping = True
        self.thread.join(5)
        with self.lock:
            for L in list(self.links):
                self._close_link(L, hard=True)
            self.sel.close()
            self.lsock.close()

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self):
        while True:
            with self.lock:
                if self.stopping:
                    return
                timeout = self._timeout()
            events = self.sel.select(timeout)
            with self.lock:
                if self.stopping:
                    return
                now = time.monotonic()
                self._refill(now)
                for key, mask in events:
                    if key.data is None:
                        self._accept(now)
                        continue
                    L, side = key.data
                    if L not in self.links:
                        continue
                    if side == "c":
                        self._on_client(L, mask, now)
                    else:
                        self._on_upstream(L, mask, now)
                for L in list(self.links):
                    if L in self.links:
                        self._pump(L, now)
                for L in list(self.links):
                    self._interest(L)

    def _timeout(self):
        t = 0.05
        if self.rate:
            waiting = [L for L in self.links if L.down and not L.c_blocked]
            if waiting:
                need = min(CHUNK, min(len(L.down) for L in waiting))
                t = max(0.0005, min(t, (need - self.tokens) / self.rate))
        return t

    def _refill(self, now):
        if self.rate:
            burst = max(CHUNK, self.rate * BURST_S)
            self.tokens = min(burst, self.tokens + (now - self.refill_at) * self.rate)
        self.refill_at = now

    def _accept(self, now):
        while True:
            try:
                c, _ = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if now < self.down_until:
                self.s["refused"] += 1
                _hard_close(c)
                continue
            c.setblocking(False)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            u = socket.socket()
            u.setblocking(False)
            u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = u.connect_ex(self.target)
            L = _Link(c, u, now)
            if err == 0:
                L.connected = True
            self.links.add(L)
            self.s["links"] += 1
            for o in self.s["outages"]:
                if o["first_conn_after"] is None and now >= o["end"]:
                    o["first_conn_after"] = now - o["end"]
            L.c_mask = selectors.EVENT_READ
            L.u_mask = selectors.EVENT_WRITE
            self.sel.register(c, L.c_mask, (L, "c"))
            self.sel.register(u, L.u_mask, (L, "u"))

    def _recv(self, L, sock, room):
        """Up to `room` bytes from `sock` of link `L`: b"" at its end, None when nothing is
        ready, False (and the link cut hard) on an error."""
        try:
            return sock.recv(room)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            self._close_link(L, hard=True)
            return False

    def _on_client(self, L, mask, now):
        if mask & selectors.EVENT_READ and len(L.up) < CAP:
            data = self._recv(L, L.c, CAP - len(L.up))
            if data is False:
                return
            if data == b"":
                self._close_link(L, hard=False)
                return
            if data:
                L.up += data
                self.s["up"] += len(data)
                self._parse_requests(L, data)
        if mask & selectors.EVENT_WRITE:
            L.c_blocked = False

    def _on_upstream(self, L, mask, now):
        if not L.connected and mask & selectors.EVENT_WRITE:
            err = L.u.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close_link(L, hard=True)
                return
            L.connected = True
        if mask & selectors.EVENT_WRITE:
            L.u_blocked = False
        if mask & selectors.EVENT_READ and len(L.down) < CAP and not L.u_eof:
            data = self._recv(L, L.u, CAP - len(L.down))
            if data is False:
                return
            if data == b"":
                L.u_eof = True
            elif data:
                L.down += data

    def _pump(self, L, now):
        if L.connected and L.up and not L.u_blocked:
            try:
                n = L.u.send(L.up)
                del L.up[:n]
            except (BlockingIOError, InterruptedError):
                L.u_blocked = True
            except OSError:
                self._close_link(L, hard=True)
                return
        while L.down and not L.c_blocked:
            n = len(L.down)
            if self.rate:
                # Whole chunks only (a partial one at the end of a response): sends of the
                # few bytes that refilled since the last would make every client read a few
                # hundred bytes at a time, which no real link does.
                n = min(n, CHUNK)
                if self.tokens < n:
                    break
            try:
                k = L.c.send(memoryview(L.down)[:n])
            except (BlockingIOError, InterruptedError):
                L.c_blocked = True
                break
            except OSError:
                self._close_link(L, hard=True)
                return
            sent = bytes(L.down[:k])
            del L.down[:k]
            if self.rate:
                self.tokens -= k
            if self._account(L, sent, now):
                return  # the schedule cut every connection
        if L.u_eof and not L.down and L in self.links:
            self._close_link(L, hard=False)

    def _interest(self, L):
        cm = 0
        if len(L.up) < CAP:
            cm |= selectors.EVENT_READ
        if L.down and L.c_blocked:
            cm |= selectors.EVENT_WRITE
        um = 0
        if not L.connected or (L.up and L.u_blocked):
            um |= selectors.EVENT_WRITE
        if len(L.down) < CAP and not L.u_eof:
            um |= selectors.EVENT_READ
        for sock, attr, m in ((L.c, "c_mask", cm), (L.u, "u_mask", um)):
            if m == getattr(L, attr):
                continue
            if getattr(L, attr) == 0:
                self.sel.register(sock, m, (L, attr[0]))
            elif m == 0:
                self.sel.unregister(sock)
            else:
                self.sel.modify(sock, m, (L, attr[0]))
            setattr(L, attr, m)

    def _close_link(self, L, hard):
        if L not in self.links:
            return
        self.links.discard(L)
        for sock, m in ((L.c, L.c_mask), (L.u, L.u_mask)):
            if m:
                try:
                    self.sel.unregister(sock)
                except (KeyError, ValueError):
                    pass
        if hard:
            _hard_close(L.c)
            _hard_close(L.u)
        else:
            L.c.close()
            L.u.close()

    # --- HTTP accounting --------------------------------------------------------------------

    def _parse_requests(self, L, data):
        buf = L.reqbuf + data
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            head, buf = buf[:i], buf[i + 4:]
            L.methods.append(head.split(b" ", 1)[0].upper())
        L.reqbuf = buf[-8192:]

    def _account(self, L, data, now):
        """Counts bytes sent to the client; returns True if the schedule cut the links."""
        s = self.s
        s["total"] += len(data)
        i = 0
        body = 0
        while i < len(data):
            if L.body_left:
                n = len(data) - i if L.body_left < 0 else min(L.body_left, len(data) - i)
                body += n
                i += n
                if L.body_left > 0:
                    L.body_left -= n
                continue
            buf = L.headbuf + data[i:]
            j = buf.find(b"\r\n\r\n")
            if j < 0:
                s["head"] += len(data) - i
                L.headbuf = buf[-8192:]
                break
            used = j + 4 - len(L.headbuf)
            s["head"] += used
            i += used
            L.headbuf = b""
            L.body_left = self._body_length(L, buf[:j])
        if body:
            for o in s["outages"]:
                if o["first_body_after"] is None and now >= o["end"]:
                    o["first_body_after"] = now - o["end"]
            s["body"] += body
            if self.cut_at and s["body"] >= self.cut_at[0]:
                self.cut_at.pop(0)
                self._cut(now)
                return True
        return False

    def _body_length(self, L, head):
        lines = head.split(b"\r\n")
        method = L.methods.popleft() if L.methods else b"GET"
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            status = 0
        self.s["statuses"][status] += 1
        if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
            if 100 <= status < 200:
                L.methods.appendleft(method)  # the final response follows
            return 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                try:
                    return int(v.strip())
                except ValueError:
                    break
        return -1

    def _cut(self, now):
        for L in list(self.links):
            self._close_link(L, hard=True)
        self.down_until = now + self.outage_s
        self.s["outages"].append(dict(at=now - self.t0, body_at_cut=self.s["body"],
                                      end=self.down_until, first_conn_after=None,
                                      first_body_after=None))


def parse_size(v):
    v = v.strip()
    for suf, mul in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 10 ** 9),
                     ("MB", 10 ** 6), ("KB", 10 ** 3)):
        if v.endswith(suf):
            return int(float(v[:-len(suf)]) * mul)
    return int(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--rate", default="0", help="server->client bytes/s (e.g. 5MiB; 0: none)")
    ap.add_argument("--size", default="0", help="the body size the --cut-at percentages use")
    ap.add_argument("--cut-at", default="", help="comma list of percentages of --size")
    ap.add_argument("--outage", type=float, default=5.0, help="seconds refused after a cut")
    a = ap.parse_args()
    p = FaultProxy(a.target, parse_size(a.rate))
    size = parse_size(a.size)
    cuts = [size * float(x) / 100 for x in a.cut_at.split(",") if x]
    p.arm(cuts, a.outage)
    print(f"faultproxy: 127.0.0.1:{p.port} -> 127.0.0.1:{a.target}; Ctrl-C prints the counts",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print(p.stats())
        p.stop()


if __name__ == "__main__":
    main()
