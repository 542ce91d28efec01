"""``Registration``: one background fetch; and the C callback trampolines."""

from __future__ import annotations

import ctypes
from typing import (TYPE_CHECKING, AsyncIterator, Callable, Dict, List, Optional, Union)

from . import _bindings as _b
from . import _cbtable as _cb
from ._bindings import c
from ._managed import NOT_CONSTRUCTED, Managed
from ._util import blocking, check, copied_text, dec_str, enc, owned_str
from .errors import Closed, FetchFailed
from .records import Record, _RecordList
from .request import Icons, Request, free_request, make_options, query_flags

if TYPE_CHECKING:
    import ctypes as _ct
    from .manager import Manager
    RegistrationPtr = _ct._Pointer[_b.Registration]

__all__ = ["Registration", "ProgressCallback", "EventCallback"]

#: ``fn(reg)`` for ``Registration.on_progress``.
ProgressCallback = Callable[["Registration"], object]
#: ``fn(kind, reg)`` for ``Manager.on_event``; kind ``"success"``, ``"fail"`` or ``"abort"``.
EventCallback = Callable[[str, "Registration"], object]


class Registration(Managed["RegistrationPtr"]):
    """One background fetch (the web's ``BackgroundFetchRegistration``); a live view. Not
    constructed directly: ``Manager.fetch`` and ``Manager.get`` return registrations, and
    ``Manager.on_event`` and ``on_progress`` callbacks receive them."""

    _what = "registration"
    __signature__ = NOT_CONSTRUCTED
    _manager: "Optional[Manager]"
    _borrowed: bool
    _id: Optional[str]

    def __init__(self) -> None:
        """Raises ``TypeError``: registrations come from ``Manager.fetch``/``Manager.get``."""
        raise TypeError("registrations come from Manager.fetch and Manager.get")

    @classmethod
    def _make(cls, manager: "Optional[Manager]", ptr: "RegistrationPtr",
              borrowed: bool) -> "Registration":
        self = cls.__new__(cls)
        self._manager = manager
        self._borrowed = borrowed
        self._id = None
        self._set_ptr(ptr)
        return self

    @classmethod
    def _own(cls, manager: "Manager", ptr: "RegistrationPtr") -> "Registration":
        return cls._make(manager, ptr, False)

    @classmethod
    def _borrow(cls, manager: "Optional[Manager]", ptr: "RegistrationPtr") -> "Registration":
        """Wraps a handle the library lends for a callback: never freed by Python."""
        return cls._make(manager, ptr, True)

    @classmethod
    def _for_event(cls, manager: "Optional[Manager]", ptr: "RegistrationPtr") -> "Registration":
        """An owned handle for an event callback (so it may be kept), else a borrowed one."""
        if manager is not None:
            mp = manager._ptr_or_none()
            if mp is not None:
                rid = c.registration_id(ptr)
                if rid is not None:
                    out = _b.P(_b.Registration)()
                    if c.get(mp, rid, ctypes.byref(out)) == 0 and out:
                        return cls._own(manager, out)
        return cls._borrow(manager, ptr)

    def _detach(self) -> None:
        self._ptr_value = None

    def _delete(self, ptr: "RegistrationPtr") -> None:
        if not self._borrowed:
            c.registration_free(ptr)

    def __repr__(self) -> str:
        if self.closed:
            return "<bgfetch.Registration closed>"
        return "<bgfetch.Registration id=%r result=%r>" % (self.id, self.result)

    @property
    def manager(self) -> "Optional[Manager]":
        """The ``Manager`` this registration came from."""
        return self._manager

    # -- properties (live values)

    @property
    def id(self) -> str:
        """The fetch's id, as given to ``Manager.fetch``."""
        if self._id is None:
            self._id = dec_str(c.registration_id(self._ptr()))
        return self._id

    @property
    def upload_total(self) -> int:
        """The total size in bytes of the request bodies to upload (0 if none)."""
        return int(c.registration_upload_total(self._ptr()))

    @property
    def uploaded(self) -> int:
        """Request body bytes uploaded so far."""
        return int(c.registration_uploaded(self._ptr()))

    @property
    def download_total(self) -> int:
        """The fetch's download total in bytes, as given to ``Manager.fetch`` (0: none). The
        fetch fails with ``"download-total-exceeded"`` if its responses would exceed it."""
        return int(c.registration_download_total(self._ptr()))

    @property
    def downloaded(self) -> int:
        """Response body bytes stored so far (non-2xx bodies count: they are the records'
        responses)."""
        return int(c.registration_downloaded(self._ptr()))

    @property
    def result(self) -> str:
        """``""`` while running, then ``"success"`` or ``"failure"``."""
        return dec_str(c.result_str(c.registration_result(self._ptr())))

    @property
    def failure_reason(self) -> str:
        """``""``, ``"aborted"``, ``"bad-status"``, ``"fetch-error"``, ``"quota-exceeded"``
        or ``"download-total-exceeded"``."""
        return dec_str(c.failure_reason_str(c.registration_failure_reason(self._ptr())))

    @property
    def records_available(self) -> bool:
        """Whether the records can be read: ``True`` until ``release()``."""
        return bool(c.registration_records_available(self._ptr()))

    @property
    def title(self) -> str:
        """The title (``""`` if none), as given to ``Manager.fetch`` or ``update_ui``."""
        return owned_str(c.registration_title(self._ptr())) or ""

    @property
    def icons(self) -> List[Dict[str, str]]:
        """A list of dicts with ``src``, ``sizes``, ``type``, ``label`` (``""`` if absent)."""
        out = _b.P(_b.Icons)()
        check(c.registration_icons(self._ptr(), ctypes.byref(out)))
        try:
            icons = []
            for i in range(c.icons_len(out)):
                f = [_b.cstr() for _ in range(4)]
                check(c.icons_get(out, i, *(ctypes.byref(x) for x in f)))
                icons.append(dict(zip(("src", "sizes", "type", "label"),
                                      (dec_str(x.value) for x in f))))
            return icons
        finally:
            c.icons_free(out)

    @property
    def state(self) -> str:
        """What the fetch is doing now: settled, ``"done"`` (success) or ``"failed"``; else the
        most alive state of its pending records, in the order ``"active"``, ``"queued"``,
        ``"retry-wait"``, ``"offline"``, ``"paused"`` (see ``Record.state``)."""
        return dec_str(c.state_str(c.registration_state(self._ptr())))

    @property
    def last_error(self) -> str:
        """The latest failed attempt's message of any of its records (``""`` if none failed
        since that record last made progress): why the fetch waits, or why it failed."""
        rp = self._ptr()
        return copied_text(lambda buf, cap: c.registration_last_error(rp, buf, cap))

    @property
    def expected_total(self) -> Optional[int]:
        """The body bytes the fetch expects (the lengths its response heads gave: show a
        percentage against it), or ``None`` until every record's length is known."""
        known = _b.c_bool(False)
        total = int(c.registration_expected_total(self._ptr(), ctypes.byref(known)))
        return total if known.value else None

    # -- methods

    def raise_for_result(self) -> None:
        """Raises ``FetchFailed`` (with the failure reason and the last error) if the fetch
        failed; nothing while it runs or once it succeeded. ``wait()`` itself returns normally
        for a failed fetch, as on the web, where the result is a value."""
        if self.result != "failure":
            return
        why = self.last_error
        raise FetchFailed("the fetch %r failed: %s%s" % (self.id, self.failure_reason,
                                                         ": " + why if why else ""),
                          FetchFailed.status)

    def abort(self) -> bool:
        """``True`` if the fetch was running and is now aborted, ``False`` if it had settled."""
        flag = _b.c_bool(False)
        check(c.registration_abort(self._ptr(), ctypes.byref(flag)))
        return bool(flag.value)

    def wait(self, timeout: Optional[float] = None) -> None:
        """Blocks until ``result`` is set; ``Timeout`` if ``timeout`` seconds pass first."""
        blocking(lambda ms: int(c.registration_wait(self._ptr(), ms)), timeout)

    async def wait_async(self, timeout: Optional[float] = None) -> None:
        """``wait`` for asyncio: awaits the result without blocking the loop; ``Timeout``
        (a ``TimeoutError``) if ``timeout`` seconds pass first. See the package
        documentation, "asyncio"."""
        from ._aio import wait_async
        await wait_async(self, timeout)

    def progress_async(self) -> AsyncIterator["Registration"]:
        """``async for reg in reg.progress_async()``: yields this registration at once, then
        after each progress change (coalesced: a slow consumer sees the latest values, not
        every step), and ends after yielding the final state (``result`` set). Breaking out
        early is fine. See the package documentation, "asyncio"."""
        from ._aio import progress_async
        return progress_async(self)

    def on_progress(self, fn: Optional[ProgressCallback]) -> None:
        """Sets ``fn(reg)``, called once at once with the current values (also for a settled
        fetch: a callback set after ``fetch`` never misses the final state), then when
        uploaded, downloaded, result, failure_reason, paused or a record's state change (at
        most once per progress interval, always for the final change); ``None`` clears.
        The callback belongs to this object (the web's per-object ``onprogress``): another
        ``Registration`` of the same fetch has its own, and ``close()`` of this one (or its
        garbage collection) removes it. ``wait()`` returns after the final call."""
        if fn is not None and not callable(fn):
            raise TypeError("on_progress needs a callable or None")
        if self._manager is None:
            raise Closed("this registration has no manager", Closed.status)
        self._manager._set_progress(self, fn)

    def update_ui(self, title: Optional[str] = None, icons: Optional[Icons] = None) -> None:
        """updateUI: changes the title and/or the icons; ``None`` (or, as the C API cannot
        express "no icons", an empty list) keeps the current value."""
        rp = self._ptr()
        opts = make_options(title, icons, 0)
        try:
            check(c.registration_update_ui(rp, opts))
        finally:
            c.options_free(opts)

    def pause(self) -> None:
        """Pauses the fetch (durable across close, reopen and a crash); its transfers stop and
        it holds no connection. Bytes already received are still stored: ``downloaded`` may
        grow by up to one read per connection after this returns. ``InvalidState`` once
        settled."""
        check(c.registration_pause(self._ptr()))

    def resume(self) -> None:
        """Resumes a paused fetch. ``InvalidState`` once settled."""
        check(c.registration_resume(self._ptr()))

    @property
    def paused(self) -> bool:
        """Whether the fetch is paused."""
        return bool(c.registration_paused(self._ptr()))

    def release(self) -> None:
        """Records become unavailable and their storage is freed; the completion event is not
        delivered again and ``Manager.get`` no longer finds the id. ``InvalidState`` while the
        fetch is running."""
        check(c.registration_release(self._ptr()))

    def match(self, req: Union[str, Request], ignore_search: bool = False,
              ignore_method: bool = False, ignore_vary: bool = False) -> Optional[Record]:
        """The first ``Record`` matching ``req`` (URL or ``Request``), or ``None``."""
        rp = self._ptr()
        flags = query_flags(ignore_search, ignore_method, ignore_vary)
        out = _b.P(_b.Record)()
        if isinstance(req, str):
            check(c.registration_match_url(rp, enc(req, "url"), flags, ctypes.byref(out)))
        else:
            cr = Request._coerce(req)._to_c()
            try:
                check(c.registration_match(rp, cr, flags, ctypes.byref(out)))
            finally:
                free_request(cr)
        if not out:
            return None
        return Record._make(self, out, None)

    def match_all(self, req: Union[str, Request, None] = None, ignore_search: bool = False,
                  ignore_method: bool = False, ignore_vary: bool = False) -> List[Record]:
        """Every matching ``Record`` in request order (all of them if ``req`` is None)."""
        rp = self._ptr()
        flags = query_flags(ignore_search, ignore_method, ignore_vary)
        out = _b.P(_b.Records)()
        cr = Request._coerce(req)._to_c() if req is not None else None
        try:
            check(c.registration_match_all(rp, cr, flags, ctypes.byref(out)))
        finally:
            if cr is not None:
                free_request(cr)
        owner = _RecordList(out)
        return [Record._make(self, c.records_get(out, i), owner)
                for i in range(c.records_len(out))]


# ---------------------------------------------------------------------------------------------
# The trampolines: module-level CFUNCTYPE objects, never freed (see _cbtable).


def _event(userdata: Optional[int], kind: int, reg_ptr: "RegistrationPtr") -> None:
    entry = _cb.lookup(userdata)
    if entry is None:
        return
    reg = None
    manager = _cb.enter_callback(entry)
    try:
        reg = Registration._for_event(manager, reg_ptr)
        entry.fn(_b.EVENT_KINDS.get(kind, str(kind)), reg)
    except BaseException as exc:  # noqa: B902 - nothing may unwind into C
        _cb.store_exception(entry, exc, "event")
    finally:
        if reg is not None and reg._borrowed:
            reg._detach()
        # Drop our references while still marked as inside the callback (see _cbtable).
        reg = manager = None
        _cb.leave_callback()


def _free(userdata: Optional[int]) -> None:
    """The library lets go of a callback's userdata: forget its table entry."""
    try:
        _cb.remove_entry(userdata)
    except BaseException:  # noqa: B902 - nothing may unwind into C
        pass


def _progress(userdata: Optional[int], reg_ptr: "RegistrationPtr") -> None:
    entry = _cb.lookup(userdata)
    if entry is None:
        return
    reg: Optional[Registration] = None
    borrowed: Optional[Registration] = None
    manager = _cb.enter_callback(entry)
    try:
        reg = entry.owner() if entry.owner is not None else None
        if reg is None or reg._ptr_or_none() is None:
            borrowed = reg = Registration._borrow(manager, reg_ptr)
        entry.fn(reg)
    except BaseException as exc:  # noqa: B902 - nothing may unwind into C
        _cb.store_exception(entry, exc, "progress")
    finally:
        if borrowed is not None:
            borrowed._detach()
        reg = borrowed = manager = None
        _cb.leave_callback()


event_trampoline = _b.EVENT_CB(_event)
free_trampoline = _b.FREE_CB(_free)
progress_trampoline = _b.PROGRESS_CB(_progress)
