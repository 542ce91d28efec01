"""Records and their responses: ``Record``, ``Response`` and the body reader of
``Response.open()``."""

from __future__ import annotations

import codecs
import ctypes
import io
import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from . import _bindings as _b
from ._bindings import c
from ._managed import NOT_CONSTRUCTED, Managed
from ._cbtable import raise_pending
from ._util import (StrPath, blocking, check, copied_text, dec, dec_str, enc, enc_path,
                    timeout_ms)
from .errors import InvalidArgument
from .request import Headers, Request

if TYPE_CHECKING:
    import ctypes as _ct
    from .registration import Registration
    RecordPtr = _ct._Pointer[_b.Record]
    RecordsPtr = _ct._Pointer[_b.Records]
    ResponsePtr = _ct._Pointer[_b.Response]

__all__ = ["Record", "Response"]

_READ_CHUNK = 1 << 16


class _RecordList(Managed["RecordsPtr"]):
    """Owns a ``bgfetch_records``; freed when its last ``Record`` is closed or collected."""

    _what = "record list"

    def __init__(self, ptr: "RecordsPtr") -> None:
        self._users = 0
        self._lock = threading.Lock()
        self._set_ptr(ptr)

    def _acquire(self) -> None:
        with self._lock:
            self._users += 1

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def _delete(self, ptr: "RecordsPtr") -> None:
        c.records_free(ptr)


class Record(Managed["RecordPtr"]):
    """A request and its response (the web's ``BackgroundFetchRecord``). Not constructed
    directly: ``Registration.match`` and ``Registration.match_all`` return records."""

    _what = "record"
    __signature__ = NOT_CONSTRUCTED

    def __init__(self) -> None:
        """Raises ``TypeError``: records come from ``Registration.match``/``match_all``."""
        raise TypeError("records come from Registration.match and Registration.match_all")

    @classmethod
    def _make(cls, registration: "Registration", ptr: "RecordPtr",
              owner: Optional[_RecordList]) -> "Record":
        self = cls.__new__(cls)
        self._init(registration, ptr, owner)
        return self

    def _init(self, registration: "Registration", ptr: "RecordPtr",
              owner: Optional[_RecordList]) -> None:
        self._registration = registration
        self._owner = owner           # _RecordList lending ptr, or None if ptr is owned
        if owner is not None:
            owner._acquire()
        self._set_ptr(ptr)
        self._request: Optional[Request] = None

    def _delete(self, ptr: "RecordPtr") -> None:
        if self._owner is None:
            c.record_free(ptr)
        else:
            owner, self._owner = self._owner, None
            owner._release()

    def __repr__(self) -> str:
        if self.closed:
            return "<bgfetch.Record closed>"
        return "<bgfetch.Record %s %s>" % (self.request.method, self.request.url)

    @property
    def registration(self) -> "Registration":
        """The ``Registration`` this record came from."""
        return self._registration

    @property
    def request(self) -> Request:
        """A ``Request`` with the stored ``url`` (absolute), ``method``, ``headers`` and
        ``body`` (``bytes``, or ``None`` for a request without one): the record's request is
        the stored request, its body included."""
        if self._request is None:
            rp = self._ptr()
            pairs: List[Tuple[str, str]] = []
            for i in range(c.record_header_count(rp)):
                n, v = _b.cstr(), _b.cstr()
                check(c.record_header_at(rp, i, ctypes.byref(n), ctypes.byref(v)))
                pairs.append((dec_str(n.value), dec_str(v.value)))
            self._request = Request(dec_str(c.record_url(rp)), dec_str(c.record_method(rp)),
                                    pairs, body=self._read_request_body(rp))
        return self._request

    @staticmethod
    def _read_request_body(rp: "RecordPtr") -> Optional[bytes]:
        size = int(c.record_body_size(rp))
        if size == 0:
            return None
        buf = (_b.u8 * min(size, 1 << 20))()
        n = _b.size(0)
        parts = []
        offset = 0
        while offset < size:
            check(c.record_read_body(rp, offset, buf, len(buf), ctypes.byref(n)))
            if n.value == 0:
                break
            parts.append(bytes(buf[:n.value]))
            offset += n.value
        return b"".join(parts)

    @property
    def state(self) -> str:
        """What the record is doing now: ``"queued"`` (waiting for a connection slot),
        ``"active"`` (connecting, sending or receiving), ``"retry-wait"`` (an attempt failed
        transiently; the next comes after ``retry_in``), ``"offline"`` (the manager is
        offline), ``"paused"`` (its fetch is paused), ``"done"`` (its response is complete,
        whatever its status) or ``"failed"`` (it will never have a complete response)."""
        return dec_str(c.state_str(c.record_state(self._ptr())))

    @property
    def attempts(self) -> int:
        """Attempts made for this record in its fetch since the manager was opened."""
        return int(c.record_attempts(self._ptr()))

    @property
    def retry_in(self) -> Optional[float]:
        """In ``"retry-wait"``: seconds until the next attempt; else ``None``."""
        ms = int(c.record_retry_in_ms(self._ptr()))
        return None if ms < 0 else ms / 1000.0

    @property
    def last_error(self) -> str:
        """The last failed attempt's message (``""`` if none failed), e.g. why it waits; a record
        still waiting keeps it across close and reopen of the store."""
        rp = self._ptr()
        return copied_text(lambda buf, cap: c.record_last_error(rp, buf, cap))

    def _try_response(self, ms: int) -> Tuple[int, Optional["Response"]]:
        """One ``bgfetch_record_response`` call: (status, the Response on success)."""
        out = _b.P(_b.Response)()
        status = int(c.record_response(self._ptr(), ms, ctypes.byref(out)))
        return status, (Response._make(self, out) if status == 0 else None)

    def response_ready(self, timeout: Optional[float] = None) -> "Response":
        """Blocks until the response's status and headers are known (the body may still be
        arriving) and returns a ``Response``. ``Aborted`` if the fetch was aborted first,
        ``FetchFailed`` if the request failed or was never made, ``Timeout``."""
        out = _b.P(_b.Response)()
        blocking(lambda ms: int(c.record_response(self._ptr(), ms, ctypes.byref(out))),
                 timeout)
        return Response._make(self, out)

    async def response_ready_async(self, timeout: Optional[float] = None) -> "Response":
        """``response_ready`` for asyncio: awaits the response without blocking the loop.
        See the package documentation, "asyncio", for how the wait is woken."""
        from ._aio import response_ready_async
        return await response_ready_async(self, timeout)


def _charset(content_type: Optional[str]) -> Optional[str]:
    """The ``charset`` parameter of a Content-Type value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"').strip()
            return value or None
    return None


class Response(Managed["ResponsePtr"]):
    """A stored response; its body streams from the store as it arrives. Not constructed
    directly: ``Record.response_ready`` returns it."""

    _what = "response"
    __signature__ = NOT_CONSTRUCTED
    _record: Record
    _headers: Optional[Headers]

    def __init__(self) -> None:
        """Raises ``TypeError``: a response comes from ``Record.response_ready``."""
        raise TypeError("a response comes from Record.response_ready")

    @classmethod
    def _make(cls, record: Record, ptr: "ResponsePtr") -> "Response":
        self = cls.__new__(cls)
        self._record = record
        self._headers = None
        self._set_ptr(ptr)
        return self

    def _delete(self, ptr: "ResponsePtr") -> None:
        c.response_free(ptr)

    def __repr__(self) -> str:
        if self.closed:
            return "<bgfetch.Response closed>"
        return "<bgfetch.Response %d %s>" % (self.status, self.url)

    @property
    def record(self) -> Record:
        """The ``Record`` this response belongs to."""
        return self._record

    @property
    def status(self) -> int:
        """The HTTP status, e.g. ``200`` (a non-2xx response is a response too)."""
        return int(c.response_status(self._ptr()))

    @property
    def ok(self) -> bool:
        """Whether ``status`` is in 200..299."""
        return bool(c.response_ok(self._ptr()))

    @property
    def url(self) -> str:
        """The final URL, after redirects."""
        return dec_str(c.response_url(self._ptr()))

    @property
    def headers(self) -> Headers:
        """A case-insensitive ``Headers`` mapping."""
        if self._headers is None:
            rp = self._ptr()
            pairs: List[Tuple[str, str]] = []
            for i in range(c.response_header_count(rp)):
                n, v = _b.cstr(), _b.cstr()
                check(c.response_header_at(rp, i, ctypes.byref(n), ctypes.byref(v)))
                pairs.append((dec_str(n.value), dec_str(v.value)))
            self._headers = Headers(pairs)
        return self._headers

    def header(self, name: str) -> Optional[str]:
        """One header's value (case-insensitive, as the library answers), or ``None``."""
        return dec(c.response_header(self._ptr(), enc(name, "header name")))

    @property
    def body_path(self) -> Optional[str]:
        """The absolute path of the stored body file (read-only; it exists once the body is
        complete and stays valid until the records are released), also for a store opened
        with a relative path: the store's directory is resolved once, at open."""
        p = c.response_body_path(self._ptr())
        return None if p is None else os.fsdecode(p)

    @property
    def complete(self) -> bool:
        """Whether the whole body is stored."""
        return bool(c.response_complete(self._ptr()))

    @property
    def body_size(self) -> int:
        """Bytes of the body stored so far."""
        return int(c.response_body_size(self._ptr()))

    def wait(self, timeout: Optional[float] = None) -> None:
        """Blocks until the body is complete (``Aborted``/``FetchFailed`` if it never will,
        ``Timeout``)."""
        blocking(lambda ms: int(c.response_wait(self._ptr(), ms)), timeout)

    async def wait_async(self, timeout: Optional[float] = None) -> None:
        """``wait`` for asyncio: awaits the complete body without blocking the loop."""
        from ._aio import response_wait_async
        await response_wait_async(self, timeout)

    def _read_into(self, offset: int, buf: Any, cap: int, deadline: Optional[float]) -> int:
        """One ``bgfetch_response_read``, waiting in slices until ``deadline`` (a
        ``time.monotonic()`` value; ``None``: no limit)."""
        n = _b.size(0)
        rp = self._ptr()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        blocking(lambda ms: int(c.response_read(rp, offset, buf, cap, ms, ctypes.byref(n))),
                 left)
        return int(n.value)

    def read(self, size: int = -1, offset: int = 0, timeout: Optional[float] = None) -> bytes:
        """Up to ``size`` bytes from ``offset`` (all the rest if ``size`` < 0), blocking until
        they are stored; fewer only at the end of the body. ``Timeout`` if they are not all
        stored within ``timeout`` seconds (``None``: no limit; the wait is in short slices, so
        Ctrl-C raises ``KeyboardInterrupt`` at once)."""
        self._ptr()
        if offset < 0:
            raise InvalidArgument("offset must not be negative", 1)
        deadline = _deadline(timeout)
        chunks = []
        want = size
        buf = (_b.u8 * _READ_CHUNK)()
        while want != 0:
            ask = _READ_CHUNK if want < 0 else min(_READ_CHUNK, want)
            got = self._read_into(offset, buf, ask, deadline)
            if got == 0:
                break
            chunks.append(ctypes.string_at(buf, got))
            offset += got
            if want > 0:
                want -= got
        return b"".join(chunks)

    def read_all(self, timeout: Optional[float] = None) -> bytes:
        """The whole body (waits for it; ``Timeout`` after ``timeout`` seconds)."""
        return self.read(-1, 0, timeout)

    def text(self, encoding: Optional[str] = None, errors: str = "strict",
             timeout: Optional[float] = None) -> str:
        """The whole body decoded: with ``encoding`` if given, else the ``charset`` of the
        Content-Type header (if Python knows it), else UTF-8. ``Timeout`` as ``read_all``."""
        if encoding is None:
            encoding = _charset(self.headers.get("content-type"))
            if encoding is not None:
                try:
                    codecs.lookup(encoding)
                except LookupError:
                    encoding = None
        return self.read_all(timeout).decode(encoding or "utf-8", errors)

    def json(self, timeout: Optional[float] = None, **kwargs: Any) -> Any:
        """The whole body parsed as JSON (``json.loads``, which detects UTF-8/16/32);
        ``kwargs`` go to ``json.loads``. ``ValueError`` (``json.JSONDecodeError``) if the body
        is not JSON; ``Timeout`` as ``read_all``."""
        return json.loads(self.read_all(timeout), **kwargs)

    def open(self, timeout: Optional[float] = None) -> io.BufferedReader:
        """The body as a binary file object (``io.BufferedReader`` over a raw reader of
        ``bgfetch_response_read``): ``read``, ``readinto``, ``readline``, iteration, ``seek``
        and ``tell``. Reads block until the bytes are stored, as ``read()`` does, each at most
        ``timeout`` seconds (``None``: no limit; ``Timeout`` then); the end of the body is the
        end of file. ``seek(0, io.SEEK_END)`` waits for the complete body. Closing the reader
        does not close the response; the reader keeps it alive."""
        self._ptr()
        timeout_ms(timeout)
        return io.BufferedReader(_BodyReader(self, timeout), buffer_size=_READ_CHUNK)

    def save(self, path: StrPath, timeout: Optional[float] = None) -> None:
        """Waits for the complete body, then writes ``path`` atomically (all or nothing).
        ``Timeout`` if the body is not complete within ``timeout`` seconds (``path`` is then
        untouched)."""
        rp = self._ptr()
        dest = enc_path(path)
        blocking(lambda ms: int(c.response_save(rp, dest, ms)), timeout)


def _deadline(timeout: Optional[float]) -> Optional[float]:
    """The ``time.monotonic()`` value ``timeout`` seconds from now (``None``: no limit)."""
    ms = timeout_ms(timeout)
    return None if ms < 0 else time.monotonic() + ms / 1000.0


class _BodyReader(io.RawIOBase):
    """A raw, seekable reader of a response body (see ``Response.open``)."""

    def __init__(self, response: Response, timeout: Optional[float]) -> None:
        super().__init__()
        self._response = response
        self._timeout = timeout
        self._pos = 0

    @property
    def response(self) -> Response:
        return self._response

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        view = memoryview(b).cast("B")
        n = len(view)
        if n == 0:
            return 0
        raise_pending()
        if view.readonly:
            raise TypeError("readinto() needs a writable buffer")
        buf = (_b.u8 * n).from_buffer(view)
        got = self._response._read_into(self._pos, buf, n, _deadline(self._timeout))
        self._pos += got
        return got

    def tell(self) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            self._response.wait(self._timeout)
            pos = self._response.body_size + offset
        else:
            raise ValueError("invalid whence (%r)" % (whence,))
        if pos < 0:
            raise ValueError("negative seek position %d" % pos)
        self._pos = pos
        return pos
