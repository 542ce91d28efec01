"""asyncio: ``wait_async``, ``response_ready_async``, ``Response.wait_async`` and
``progress_async``, without polling and without a thread per wait.

How a wait is woken: each wait opens a private handle of its fetch (``bgfetch_get`` of the
id; the 0.2 ABI gives every handle a progress callback of its own, so the user's
``on_progress`` is untouched) and sets an internal progress callback on it. The library calls
it once when it is set, then when ``uploaded``, ``downloaded``, ``result``, ``failure_reason``,
``paused`` or a record's state change, and always once for the final state. The callback only schedules a check on the loop
(``loop.call_soon_threadsafe``); the check, on the loop's thread, reads the live state (result
set? response ready? body complete?) and completes the waiting future. The state is also read
once right after the callback is set, so a change that came before is not missed.

Who runs that callback depends on the manager's dispatch mode:

- ``dispatch="manual"`` (recommended with asyncio): the first async call attaches the manager
  to the running loop (``Manager.attach_loop``): ``loop.add_reader(event_fd)`` runs
  ``bgfetch_manager_dispatch`` on the loop's thread whenever callbacks are pending, so every
  callback of that manager — ``on_event`` and ``on_progress`` too — runs on the loop's thread
  and may use the loop freely.
- ``dispatch="thread"``: the callbacks run on the manager's event thread (one per manager, not
  per wait); the internal one only calls ``call_soon_threadsafe``, which wakes the loop
  through the loop's own self-pipe. User callbacks keep running on the event thread.

A response is "ready" (status and headers known) before its first body byte arrives, but the
library signals progress only for body bytes and the request's end: ``response_ready_async``
therefore completes at the first progress signal after the headers (the first stored body
bytes, or the end of the request), which for a body that stalls right after its headers is
later than the blocking ``response_ready`` would return.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, AsyncIterator, Callable, List, Optional, Tuple

from . import _cbtable as _cb
from ._bindings import c
from ._util import check_timeout, raise_status
from .errors import Closed, InvalidState, Timeout

if TYPE_CHECKING:
    from .manager import Manager
    from .records import Record, Response
    from .registration import Registration


class Watch:
    """Progress notifications of one fetch, delivered on ``loop`` (see the module doc)."""

    def __init__(self, manager: "Manager", reg_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.manager = manager
        self.listeners: List[Callable[[], None]] = []
        self.manager_gone = False
        handle = manager.get(reg_id)
        if handle is None:
            raise InvalidState("the fetch %r was released" % reg_id, 4)
        self.handle: Optional["Registration"] = handle
        manager._watches.add(self)
        try:
            manager._set_progress(handle, self._notified)
        except BaseException:
            self.close()
            raise

    def _notified(self, _reg: "Registration") -> None:
        # Event thread (THREAD) or the dispatching thread (MANUAL): wake the loop, no more.
        self._wake()

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._fire)
        except RuntimeError:      # the loop is closed: nobody waits any more
            pass

    def _fire(self) -> None:
        for fn in list(self.listeners):
            fn()

    def manager_closed(self) -> None:
        """Called by ``Manager.close``: the waits end with ``Closed``."""
        self.manager_gone = True
        self._wake()

    def close(self) -> None:
        self.manager._watches.discard(self)
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.close()      # frees the handle: its callback is removed


def _manager_of(reg: "Registration") -> "Manager":
    m = reg.manager
    if m is None:
        raise Closed("this registration has no manager", Closed.status)
    m._ensure_async()
    return m


def _closed() -> Closed:
    return Closed("the manager was closed while waiting", Closed.status)


async def _until(manager: "Manager", reg_id: str, ready: Callable[[], bool],
                 timeout: Optional[float], what: str) -> None:
    """Returns once ``ready()`` is true, checked now and after every progress signal of the
    fetch ``reg_id``; ``ready()`` may raise to end the wait. ``Timeout`` after ``timeout``."""
    check_timeout(timeout)
    if ready():
        _cb.raise_pending()
        return
    if timeout is not None and timeout <= 0:
        raise Timeout("%s: not yet (timeout 0)" % what, Timeout.status)
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[None]" = loop.create_future()

    def check() -> None:
        if fut.done():
            return
        if watch.manager_gone:
            fut.set_exception(_closed())
            return
        try:
            if ready():
                fut.set_result(None)
        except BaseException as exc:  # noqa: B902 - handed to the awaiting task
            fut.set_exception(exc)

    def expire() -> None:
        if not fut.done():
            fut.set_exception(Timeout("%s: timed out after %s s" % (what, timeout),
                                      Timeout.status))

    watch = Watch(manager, reg_id, loop)
    timer = loop.call_later(timeout, expire) if timeout is not None else None
    try:
        watch.listeners.append(check)
        check()             # what changed before the callback was set
        await fut
    finally:
        if timer is not None:
            timer.cancel()
        watch.close()
    _cb.raise_pending()


async def wait_async(reg: "Registration", timeout: Optional[float]) -> None:
    manager = _manager_of(reg)
    await _until(manager, reg.id, lambda: bool(c.registration_result(reg._ptr())), timeout,
                 "wait_async")


async def response_ready_async(rec: "Record", timeout: Optional[float]) -> "Response":
    reg = rec.registration
    manager = _manager_of(reg)
    got: List["Response"] = []

    def ready() -> bool:
        status, res = rec._try_response(0)
        if res is not None:
            got.append(res)
            return True
        if status == Timeout.status:
            return False
        raise_status(status)

    await _until(manager, reg.id, ready, timeout, "response_ready_async")
    return got[0]


async def response_wait_async(res: "Response", timeout: Optional[float]) -> None:
    reg = res.record.registration
    manager = _manager_of(reg)

    def ready() -> bool:
        status = int(c.response_wait(res._ptr(), 0))
        if status == 0:
            return True
        if status == Timeout.status:
            return False
        raise_status(status)

    await _until(manager, reg.id, ready, timeout, "Response.wait_async")


async def progress_async(reg: "Registration") -> AsyncIterator["Registration"]:
    manager = _manager_of(reg)
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    watch = Watch(manager, reg.id, loop)
    try:
        watch.listeners.append(changed.set)
        shown = None
        while True:
            changed.clear()
            if watch.manager_gone:
                raise _closed()
            now = _progress_values(reg)
            final = bool(now[0])
            if now != shown:
                # Only a change is yielded: a callback may also come with the same values
                # (the first call of the internal callback, with the current values).
                shown = now
                yield reg
            if final:
                return
            await changed.wait()
    finally:
        watch.close()


def _progress_values(reg: "Registration") -> Tuple[int, ...]:
    """What a progress change changes: result first (non-zero once settled), then the
    failure reason, the counters, paused and the state."""
    rp = reg._ptr()
    return (int(c.registration_result(rp)), int(c.registration_failure_reason(rp)),
            int(c.registration_uploaded(rp)), int(c.registration_downloaded(rp)),
            int(c.registration_paused(rp)), int(c.registration_state(rp)))
