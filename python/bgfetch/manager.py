"""``Manager``: a store directory and its background fetches."""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import threading
import weakref
from typing import (TYPE_CHECKING, Any, Iterable, List, Optional, Sequence, Set, Tuple, Union)

from . import _bindings as _b
from . import _cbtable as _cb
from ._bindings import c
from ._managed import Managed
from ._util import (StrPath, check, dec_str, duration_ms, enc, enc_path, unsigned,
                    owned_str, raise_status, timeout_ms)
from .errors import Closed, DuplicateId, InvalidArgument, InvalidState
from .registration import (EventCallback, ProgressCallback, Registration, event_trampoline,
                           free_trampoline, progress_trampoline)
from .request import Icons, Request, free_request, make_options

if TYPE_CHECKING:
    import ctypes as _ct
    from typing import Literal
    from ._aio import Watch
    ManagerPtr = _ct._Pointer[_b.Manager]
    Dispatch = Literal["thread", "manual"]

__all__ = ["Manager"]

_open_managers: "weakref.WeakSet[Manager]" = weakref.WeakSet()

#: What ``Manager.fetch`` takes as ``requests``.
Requests = Union[str, Request, Sequence[Union[str, Request]]]


def _set_callback(setter: Any, handle: Any, null_callback: Any, trampoline: Any,
                  key: Optional[int]) -> None:
    """Calls the C setter ``setter(handle, callback, userdata, free_userdata)``: with
    ``trampoline`` and the callback-table entry ``key``, or, for ``key`` None, clears the
    callback (``null_callback``). On failure the library runs the finalizer at once and the
    entry goes; it is removed here too, for a failure before the call."""
    try:
        if key is None:
            status = setter(handle, null_callback, None, _b.FREE_CB())
        else:
            status = setter(handle, trampoline, key, free_trampoline)
        check(status)
    except BaseException:
        _cb.remove_entry(key)
        raise


class Manager(Managed["ManagerPtr"]):
    """A store directory and its background fetches (the web's ``BackgroundFetchManager``).

    Each keyword calls the ``bgfetch_config_set_*`` of the same name; ``None`` keeps the
    library's default (the network rules: README, "Bad networks"). Every duration is in
    seconds (``int`` or ``float``): ``timeouts=(connect, read)``, ``retries=(attempts,
    backoff)``, ``max_backoff``, ``no_progress_timeout`` (0 = never) and
    ``progress_interval``; they become whole milliseconds (rounded) for the C setters.
    ``quota`` is bytes and ``max_download_rate`` bytes per second (0 = none); ``proxy`` is
    ``"http://host:port"`` (tunnels with ``CONNECT``), ``"socks5://host:port"``, or ``""``
    for none even if the environment names one (unset: ``ALL_PROXY``, ``HTTPS_PROXY``,
    ``HTTP_PROXY`` and ``NO_PROXY``); ``dispatch`` is ``"thread"`` (callbacks run on the
    manager's event thread) or ``"manual"`` (callbacks run inside ``dispatch()``, or on an
    asyncio loop: ``attach_loop``). ``max_segments`` (1..=16, default 1) splits a large
    body into that many ranges fetched over as many connections at once (aria2's
    ``--split``), each resumed on its own; a fetch uses at most ``max_connections_per_fetch``
    connections (default 4) at once.

    ``store_dir`` is made absolute once, here (so ``Response.body_path`` is absolute), and
    created (mode 0700) if it is missing, but not its parents, as ``mkdir`` without ``-p``:
    a missing parent raises ``InvalidArgument``. Opening resumes unfinished fetches;
    completion events of unreleased fetches are delivered again once ``on_event`` sets a
    callback. ``Busy`` if the store is open elsewhere.
    """

    _what = "manager"

    def __init__(self, store_dir: StrPath, *, base_url: Optional[str] = None,
                 max_connections: Optional[int] = None,
                 max_connections_per_fetch: Optional[int] = None,
                 quota: Optional[int] = None, user_agent: Optional[str] = None,
                 timeouts: Optional[Tuple[float, float]] = None,
                 retries: Optional[Tuple[int, float]] = None,
                 progress_interval: Optional[float] = None,
                 ca_file: Optional[StrPath] = None, dispatch: "Dispatch" = "thread",
                 allow_https_to_http: Optional[bool] = None,
                 max_backoff: Optional[float] = None,
                 no_progress_timeout: Optional[float] = None,
                 fail_after_attempts: Optional[bool] = None,
                 retry_statuses: Optional[bool] = None, proxy: Optional[str] = None,
                 max_download_rate: Optional[int] = None,
                 max_segments: Optional[int] = None) -> None:
        self._event_key: Optional[int] = None
        self._close_requested = False
        self._close_mutex = threading.Lock()
        self._keys_lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_fd: Optional[int] = None
        self._watches: "Set[Watch]" = set()
        if dispatch not in _b.DISPATCH:
            raise InvalidArgument("dispatch must be 'thread' or 'manual', not %r"
                                  % (dispatch,), 1)
        self._dispatch_mode = dispatch
        _cb.raise_pending()
        cfg = c.config_new(enc_path(store_dir, "store_dir"))
        if not cfg:
            raise_status(1)
        try:
            if base_url is not None:
                check(c.config_set_base_url(cfg, enc(base_url, "base_url")))
            if max_connections is not None:
                check(c.config_set_max_connections(
                    cfg, unsigned(max_connections, "max_connections", 32)))
            if max_connections_per_fetch is not None:
                check(c.config_set_max_connections_per_fetch(
                    cfg, unsigned(max_connections_per_fetch, "max_connections_per_fetch", 32)))
            if max_segments is not None:
                check(c.config_set_max_segments(
                    cfg, unsigned(max_segments, "max_segments", 32)))
            if quota is not None:
                check(c.config_set_quota(cfg, unsigned(quota, "quota")))
            if user_agent is not None:
                check(c.config_set_user_agent(cfg, enc(user_agent, "user_agent")))
            if timeouts is not None:
                connect, read = timeouts
                check(c.config_set_timeouts(cfg, duration_ms(connect, "connect timeout"),
                                            duration_ms(read, "read timeout")))
            if retries is not None:
                attempts, backoff = retries
                check(c.config_set_retries(cfg, unsigned(attempts, "retry attempts", 32),
                                           duration_ms(backoff, "backoff")))
            if max_backoff is not None:
                check(c.config_set_max_backoff(cfg, duration_ms(max_backoff, "max_backoff")))
            if no_progress_timeout is not None:
                check(c.config_set_no_progress_timeout(
                    cfg, duration_ms(no_progress_timeout, "no_progress_timeout", 1 << 64)))
            if fail_after_attempts is not None:
                check(c.config_set_fail_after_attempts(cfg, bool(fail_after_attempts)))
            if retry_statuses is not None:
                check(c.config_set_retry_statuses(cfg, bool(retry_statuses)))
            if proxy is not None:
                check(c.config_set_proxy(cfg, enc(proxy, "proxy")))
            if max_download_rate is not None:
                check(c.config_set_max_download_rate(
                    cfg, unsigned(max_download_rate, "max_download_rate")))
            if progress_interval is not None:
                check(c.config_set_progress_interval(
                    cfg, duration_ms(progress_interval, "progress_interval")))
            if ca_file is not None:
                check(c.config_set_ca_file(cfg, enc_path(ca_file, "ca_file")))
            if dispatch != "thread":
                check(c.config_set_dispatch(cfg, _b.DISPATCH[dispatch]))
            if allow_https_to_http is not None:
                check(c.config_set_allow_https_to_http(cfg, bool(allow_https_to_http)))
            out = _b.P(_b.Manager)()
            check(c.manager_open(cfg, ctypes.byref(out)))
        finally:
            c.config_free(cfg)
        self._set_ptr(out)
        _open_managers.add(self)

    def _delete(self, ptr: "ManagerPtr") -> None:
        _open_managers.discard(self)
        # Off the loop before the library closes the fd the loop watches.
        self._detach_loop()
        c.manager_close(ptr)
        # The library has joined its event thread: no callback of this manager runs any more.
        # Closing ran every finalizer; drop what a failed open may have left all the same.
        with self._keys_lock:
            key, self._event_key = self._event_key, None
        _cb.remove_entry(key)
        with _cb.table_lock:
            for k in [k for k, e in _cb.callbacks.items() if e.manager() is self]:
                del _cb.callbacks[k]
        _cb.drop_pending(self)
        # Async waits on this manager end with Closed.
        for watch in list(self._watches):
            watch.manager_closed()
        self._watches.clear()

    def close(self) -> None:
        """Stops cleanly; unfinished fetches resume at the next open. Idempotent.

        The library forbids closing a manager from inside its own callbacks; called there
        (or reached there by garbage collection), the close is deferred: with
        ``dispatch="thread"`` to a helper thread, with ``"manual"`` to the end of the
        ``dispatch()`` call that runs the callback. Pending ``*_async`` waits of this manager
        raise ``Closed``. A manager attached to an asyncio loop should be closed on the
        loop's thread (or once the loop has stopped)."""
        if self._ptr_value is None and not self._close_mutex.locked():
            return
        if _cb.in_callback_of(self):
            if self._dispatch_mode == "manual":
                self._close_requested = True
            elif not self._close_requested:
                self._close_requested = True
                threading.Thread(target=self._close_now, name="bgfetch-close").start()
            return
        self._close_now()

    def _close_now(self) -> None:
        # A second close() waits until the first has finished (the store is then free).
        with self._close_mutex:
            super().close()

    def __repr__(self) -> str:
        return "<bgfetch.Manager%s>" % (" closed" if self.closed else "")

    @property
    def dispatch_mode(self) -> str:
        """``"thread"`` or ``"manual"``, as opened."""
        return self._dispatch_mode

    # -- fetch / get / getIds

    def fetch(self, id: str, requests: Requests, *, title: Optional[str] = None,
              icons: Optional[Icons] = (), download_total: int = 0,
              start_paused: bool = False, exist_ok: bool = False) -> Registration:
        """Starts a background fetch; returns its ``Registration`` once durably stored.

        ``requests``: a URL string, a ``Request``, or a list of them (relative URLs need
        ``base_url``). ``start_paused=True`` stores it paused: it runs after ``resume()``.

        ``exist_ok=True``: if an unreleased fetch with this ``id`` exists (running or
        settled), return its registration instead of raising ``DuplicateId`` — a
        get-or-fetch, for scripts that run again after an interruption. The existing fetch
        is returned as it is: its requests, title, icons, download total and paused state
        are NOT compared with (nor changed to) what this call asks for. If they may differ,
        compare ``reg.match_all()`` (or ``reg.title``...) yourself, and ``release()`` and
        fetch again to replace it. The requests of this call are still checked (a bad URL
        raises even when the id exists).
        """
        if isinstance(requests, (str, Request)):
            requests = [requests]
        reqs = [Request._coerce(r) for r in requests]
        while True:
            try:
                return self._fetch(id, reqs, title, icons, download_total, start_paused)
            except DuplicateId:
                if not exist_ok:
                    raise
            existing = self.get(id)
            if existing is not None:
                return existing
            # Released between the two calls: try the fetch again.

    def _fetch(self, id: str, reqs: List[Request], title: Optional[str],
               icons: Optional[Icons], download_total: int,
               start_paused: bool) -> Registration:
        m = self._ptr()
        idb = enc(id, "id")
        ptrs = []
        opts = None
        try:
            for r in reqs:
                ptrs.append(r._to_c())
            opts = make_options(title, icons, download_total, start_paused)
            arr = (_b.P(_b.Request) * max(len(ptrs), 1))(*ptrs)
            out = _b.P(_b.Registration)()
            check(c.fetch(m, idb, arr, len(ptrs), opts, ctypes.byref(out)))
        finally:
            for p in ptrs:
                free_request(p)
            if opts is not None:
                c.options_free(opts)
        return Registration._own(self, out)

    def get(self, id: str) -> Optional[Registration]:
        """The ``Registration`` with this id, or ``None`` (released, or never fetched)."""
        m = self._ptr()
        out = _b.P(_b.Registration)()
        check(c.get(m, enc(id, "id"), ctypes.byref(out)))
        if not out:
            return None
        return Registration._own(self, out)

    def get_ids(self) -> List[str]:
        """The ids of every registration not yet released."""
        m = self._ptr()
        out = _b.P(_b.Strings)()
        check(c.get_ids(m, ctypes.byref(out)))
        try:
            return [dec_str(c.strings_get(out, i)) for i in range(c.strings_len(out))]
        finally:
            c.strings_free(out)

    # -- events

    def on_event(self, fn: Optional[EventCallback]) -> None:
        """Sets the completion-event callback ``fn(kind, reg)``, kind ``"success"``,
        ``"fail"`` or ``"abort"``; ``None`` clears it. Held and restored events are delivered
        once a callback is set. When this returns, the previous callback is not running
        (unless this is called from inside it) and will not be called again."""
        m = self._ptr()
        if fn is not None and not callable(fn):
            raise TypeError("on_event needs a callable or None")
        key = _cb.add_entry(fn, self) if fn is not None else None
        _set_callback(c.manager_set_event_callback, m, _b.EVENT_CB(), event_trampoline, key)
        with self._keys_lock:
            old, self._event_key = self._event_key, key
        _cb.remove_entry(old)

    def _set_progress(self, reg: Registration, fn: Optional[ProgressCallback]) -> None:
        rp = reg._ptr()
        key = _cb.add_entry(fn, self, reg) if fn is not None else None
        _set_callback(c.registration_set_progress_callback, rp, _b.PROGRESS_CB(),
                      progress_trampoline, key)

    # -- manual dispatch

    def dispatch(self, timeout: Optional[float] = None) -> int:
        """MANUAL mode: runs pending callbacks on this thread, waiting up to ``timeout``
        seconds for the first (``None`` = forever). Returns how many callbacks ran (a pending
        item that calls nothing when its turn comes, such as the first call of an
        ``on_progress`` callback that an update already reached, is not counted, and the wait
        goes on). ``InvalidState`` in THREAD mode."""
        if _cb.in_callback_of(self):
            raise InvalidState("dispatch() must not be called from inside a callback", 4)
        n = _b.u32(0)
        while True:
            m = self._ptr()
            ms = timeout_ms(timeout) if timeout is not None else 250
            try:
                status = c.manager_dispatch(m, ms, ctypes.byref(n))
            finally:
                if self._close_requested:
                    self.close()
            _cb.raise_pending()
            check(status)
            if n.value or timeout is not None:
                return int(n.value)

    def event_fd(self) -> Optional[int]:
        """MANUAL mode: a file descriptor readable while callbacks wait for ``dispatch()``
        (for ``select``/``poll``; do not read or close it). ``None`` in THREAD mode."""
        fd = int(c.manager_event_fd(self._ptr()))
        return None if fd < 0 else fd

    def fileno(self) -> int:
        """``event_fd()``, so that a MANUAL manager can be passed to ``select`` directly."""
        fd = self.event_fd()
        if fd is None:
            raise InvalidState("event_fd exists only with dispatch='manual'", 4)
        return fd

    # -- asyncio

    def attach_loop(self, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        """MANUAL mode: lets ``loop`` (the running loop if ``None``) run this manager's
        callbacks: ``loop.add_reader(event_fd, ...)`` dispatches them on the loop's thread
        whenever they are pending. The ``*_async`` methods do this themselves on first use;
        call it to have ``on_event``/``on_progress`` callbacks run before (or without) any
        ``await``. Call it on the loop's thread (asyncio's selectors are not thread-safe).
        Idempotent; moves from a loop that is closed or no longer running to
        ``loop``; ``InvalidState`` while another running loop has it, and in THREAD mode
        (whose callbacks run on the event thread: nothing to attach)."""
        if self._dispatch_mode != "manual":
            raise InvalidState("attach_loop() needs a manager opened with dispatch='manual'", 4)
        if loop is None:
            loop = asyncio.get_running_loop()
        fd = self.fileno()
        old = self._loop
        if old is loop:
            return
        if old is not None:
            if not old.is_closed() and old.is_running():
                raise InvalidState("this manager is attached to another running event loop",
                                   4)
            self._detach_loop()
        loop.add_reader(fd, self._dispatch_ready)
        self._loop, self._loop_fd = loop, fd

    def detach_loop(self) -> None:
        """Undoes ``attach_loop``: the loop no longer runs this manager's callbacks (call
        ``dispatch()`` yourself again). Call it on the loop's thread."""
        self._detach_loop()

    def _detach_loop(self) -> None:
        loop, fd = self._loop, self._loop_fd
        self._loop = self._loop_fd = None
        if loop is None or fd is None or loop.is_closed():
            return
        try:
            if loop.is_running() and not _on_loop_thread(loop):
                loop.call_soon_threadsafe(loop.remove_reader, fd)
            else:
                loop.remove_reader(fd)
        except RuntimeError:     # the loop closed meanwhile
            pass

    def _dispatch_ready(self) -> None:
        """The attached loop's reader: runs what is pending, without waiting.

        Exceptions raised by callbacks stay pending for their thread (see "Exceptions raised
        inside a callback"): the awaiting ``*_async`` call, or the next call into the
        library, raises them; they are not raised here, into the loop."""
        ptr = self._ptr_or_none()
        if ptr is None:
            self._detach_loop()
            return
        n = _b.u32(0)
        try:
            status = c.manager_dispatch(ptr, 0, ctypes.byref(n))
        finally:
            if self._close_requested:
                self.close()
        if status not in (0, 7) and self._ptr_or_none() is not None:
            _cb.log.error("bgfetch: dispatch on the event loop failed: %s",
                          dec_str(c.last_error()))
            self._detach_loop()

    def _ensure_async(self) -> None:
        """Called by the ``*_async`` methods: a MANUAL manager needs a loop dispatching it."""
        self._ptr()
        if self._dispatch_mode == "manual":
            loop = asyncio.get_running_loop()
            if self._loop is not loop:
                self.attach_loop(loop)

    # -- extras

    @property
    def problems(self) -> List[str]:
        """Messages about state files found corrupt at open (moved to quarantine/)."""
        m = self._ptr()
        return [owned_str(c.manager_problem(m, i)) or ""
                for i in range(c.manager_problem_count(m))]

    @property
    def offline(self) -> bool:
        """Whether the manager is offline (see ``set_offline``)."""
        return bool(c.manager_offline(self._ptr()))

    def set_offline(self, offline: bool) -> None:
        """``True``: the network is gone. Running transfers stop (GET keeps its bytes), nothing
        is tried, attempt counts and no-progress clocks stand still. ``False``: every waiting
        request is tried at once."""
        check(c.manager_set_offline(self._ptr(), bool(offline)))

    def set_max_download_rate(self, bytes_per_s: int) -> None:
        """Changes the bandwidth cap (bytes of response bodies per second, 0 = none), live."""
        check(c.manager_set_max_download_rate(
            self._ptr(), unsigned(bytes_per_s, "max_download_rate")))

    @property
    def used_bytes(self) -> int:
        """Bytes the store holds, as the quota counts them."""
        return int(c.manager_used_bytes(self._ptr()))


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def open_managers() -> Iterable[Manager]:
    return list(_open_managers)


@atexit.register
def _close_all_managers() -> None:
    for m in list(_open_managers):
        try:
            m.close()
        except Exception:
            pass
