"""Small helpers: strings in and out, durations, status codes, blocking waits."""

from __future__ import annotations

import ctypes
import math
import os
import time
from typing import Callable, NoReturn, Optional, Union

from ._bindings import c
from ._cbtable import raise_pending
from .errors import BY_STATUS, Error, InvalidArgument, Timeout

StrPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# Slice length for "wait forever", in ms: waiting forever is done in short slices so that
# Ctrl-C works and callback exceptions surface promptly.
SLICE_MS = 250


def version() -> str:
    """The library's version, "MAJOR.MINOR.PATCH"."""
    raise_pending()
    return str(c.version().decode())


def status_name(status: int) -> str:
    """The C name of a status code, e.g. ``status_name(7) == "BGFETCH_E_TIMEOUT"``."""
    raise_pending()
    return str(c.status_name(status).decode())


def dec(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "replace")


def dec_str(b: Optional[bytes]) -> str:
    return "" if b is None else b.decode("utf-8", "replace")


def enc(s: Union[str, bytes, bytearray], what: str = "string") -> bytes:
    """A str (or bytes) as NUL-terminated UTF-8; the C side would reject what this rejects."""
    if isinstance(s, (bytes, bytearray)):
        b = bytes(s)
    elif isinstance(s, str):
        try:
            b = s.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgument("%s is not valid UTF-8: %s" % (what, e), 1) from None
    else:
        raise TypeError("%s must be str, not %s" % (what, type(s).__name__))
    if b"\0" in b:
        raise InvalidArgument("%s contains a NUL character" % what, 1)
    return b


def opt_enc(s: Optional[str], what: str) -> Optional[bytes]:
    return None if s is None else enc(s, what)


def enc_path(p: StrPath, what: str = "path") -> bytes:
    if not isinstance(p, (str, bytes, os.PathLike)):
        raise TypeError("%s must be a path, not %s" % (what, type(p).__name__))
    b = os.fsencode(p)
    if b"\0" in b:
        raise InvalidArgument("%s contains a NUL character" % what, 1)
    return b


def duration_ms(seconds: float, what: str, limit: int = 1 << 32) -> int:
    """A duration in seconds (int or float, >= 0) as whole milliseconds for a C setter."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("%s must be a number of seconds, not %s"
                        % (what, type(seconds).__name__))
    if math.isnan(seconds) or math.isinf(seconds):
        raise InvalidArgument("%s is out of range: %r s" % (what, seconds), 1)
    ms = int(round(seconds * 1000.0))
    if not 0 <= ms < limit:
        raise InvalidArgument("%s is out of range: %r s" % (what, seconds), 1)
    return ms


def unsigned(value: Union[int, float], what: str, bits: int = 64) -> int:
    """A count for a C ``uint32_t`` / ``uint64_t`` parameter: an ``int`` (or an integral
    ``float``) in 0..2**bits-1. ctypes would silently wrap -1 to the largest value and 2**bits
    to 0 (for a limit: none at all), so anything outside is ``InvalidArgument``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidArgument("%s must be a whole number: %r" % (what, value), 1)
        n = int(value)
    else:
        n = value
    if not 0 <= n < 1 << bits:
        raise InvalidArgument("%s is out of range: %r" % (what, value), 1)
    return n


def timeout_ms(timeout: Optional[float]) -> int:
    """A timeout in seconds (``None`` = forever) as the C ``int64`` milliseconds (-1 =
    forever, 0 = poll); rounded up."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds or None, not %s"
                        % type(timeout).__name__)
    if math.isnan(timeout):
        raise InvalidArgument("timeout is NaN", 1)
    if timeout <= 0:
        return 0
    if math.isinf(timeout):
        return -1
    return min(int(math.ceil(timeout * 1000.0)), (1 << 63) - 1)


def check_timeout(timeout: Optional[float]) -> None:
    """Validates a timeout argument (see ``timeout_ms``)."""
    timeout_ms(timeout)


def raise_status(status: int) -> NoReturn:
    msg = dec(c.last_error()) or status_name(status)
    raise BY_STATUS.get(status, Error)(msg, status)


def check(status: int) -> None:
    if status != 0:
        raise_status(status)


def owned_str(ptr: Optional[int]) -> Optional[str]:
    """Takes an owned ``char *`` (as int) and frees it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        c.string_free(ptr)


def blocking(call: Callable[[int], int], timeout: Optional[float]) -> None:
    """Runs ``call(ms) -> status`` honouring ``timeout`` (seconds, None = forever).

    Every wait is done in slices of at most ``SLICE_MS``, until the call answers something
    other than ``Timeout`` or the time is up, so that Ctrl-C raises ``KeyboardInterrupt`` at
    once and callback exceptions surface promptly, whatever the timeout.
    """
    ms = timeout_ms(timeout)
    deadline = None if ms < 0 else time.monotonic() + ms / 1000.0
    while True:
        if deadline is None:
            slice_ms = SLICE_MS
        else:
            left = max(0.0, deadline - time.monotonic())
            slice_ms = min(SLICE_MS, int(math.ceil(left * 1000.0)))
        status = call(slice_ms)
        raise_pending()
        if status == Timeout.status and (deadline is None or time.monotonic() < deadline):
            continue
        check(status)
        return


def copied_text(copy: Callable[[Optional[ctypes.Array[ctypes.c_char]], int], int]) -> str:
    """A message the C ABI copies out as ``snprintf`` does (``copy(buf, cap)`` returns its
    full length): asked for its length, then copied (again if it grew meanwhile)."""
    need = int(copy(None, 0))
    while need > 0:
        buf = ctypes.create_string_buffer(need + 1)
        got = int(copy(buf, need + 1))
        if got <= need:
            return buf.value.decode("utf-8", "replace")
        need = got
    return ""
