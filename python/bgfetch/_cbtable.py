"""The callback table, and the hand-off of exceptions raised inside callbacks.

The C side only ever holds module-level ``CFUNCTYPE`` trampolines (never freed; they live in
``registration.py``) and an integer key as ``userdata``; the Python callable lives in
``callbacks`` under that key. The library's userdata finalizer removes the entry, exactly once,
when it lets go of the callback. A late call with an unknown key does nothing.

An exception raised inside a callback is logged at once on the ``"bgfetch"`` logger and stored
for the thread that registered the callback; that thread's next call into the library raises
it (``raise_pending``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from .manager import Manager
    from .registration import Registration

log = logging.getLogger("bgfetch")

table_lock = threading.Lock()
_keys = itertools.count(1)
_tls = threading.local()         # .active: ids of managers whose callback runs on this thread


class Entry:
    __slots__ = ("fn", "manager", "owner", "thread")

    def __init__(self, fn: Callable[..., Any], manager: "weakref.ref[Manager]",
                 owner: "Optional[weakref.ref[Registration]]", thread: int) -> None:
        self.fn = fn              # the Python callable
        self.manager = manager    # weakref to the Manager
        self.owner = owner        # weakref to the Registration that set it (progress), or None
        self.thread = thread      # ident of the thread that registered it


callbacks: Dict[int, Entry] = {}                                   # key -> Entry
pending: Dict[int, Tuple[BaseException, "weakref.ref[Manager]"]] = {}  # thread -> first error


def add_entry(fn: Callable[..., Any], manager: "Manager",
              owner: "Optional[Registration]" = None) -> int:
    key = next(_keys)
    entry = Entry(fn, weakref.ref(manager), weakref.ref(owner) if owner is not None else None,
                  threading.get_ident())
    with table_lock:
        callbacks[key] = entry
    return key


def remove_entry(key: Optional[int]) -> None:
    if key is not None:
        with table_lock:
            callbacks.pop(key, None)


def lookup(key: Optional[int]) -> Optional[Entry]:
    if key is None:
        return None
    with table_lock:
        return callbacks.get(key)


def store_exception(entry: Entry, exc: BaseException, what: str) -> None:
    # Logged before it is stored: once stored, the owning thread may re-raise it at any
    # moment, and whoever handles the exception must find the log record already written.
    try:
        log.error("exception in a bgfetch %s callback (re-raised by the next bgfetch call "
                  "of the thread that set it)", what,
                  exc_info=(type(exc), exc, exc.__traceback__))
    except Exception:
        pass
    with table_lock:
        pending.setdefault(entry.thread, (exc, entry.manager))


def enter_callback(entry: Entry) -> "Optional[Manager]":
    """Marks this thread as running a callback of ``entry``'s manager; returns the manager.

    The mark is the manager's id, not a reference: when the trampoline drops its reference
    (before ``leave_callback``) and that was the last one, ``Manager.close`` (from
    ``__del__``) still sees the mark and defers itself instead of closing the manager from
    inside its own callback."""
    manager = entry.manager()
    active: Optional[List[Optional[int]]] = getattr(_tls, "active", None)
    if active is None:
        active = _tls.active = []
    active.append(id(manager) if manager is not None else None)
    return manager


def leave_callback() -> None:
    _tls.active.pop()


def in_callback_of(manager: object) -> bool:
    return id(manager) in getattr(_tls, "active", ())


def raise_pending() -> None:
    """Re-raises the first exception stored for this thread by a failed callback."""
    if not pending:
        return
    with table_lock:
        item = pending.pop(threading.get_ident(), None)
    if item is not None:
        raise item[0]


def drop_pending(manager: object) -> None:
    """Forgets exceptions of a closed manager's callbacks that were never re-raised."""
    with table_lock:
        for t, (exc, ref) in list(pending.items()):
            if ref() is manager or ref() is None:
                del pending[t]
