"""Python binding for libbgfetch, the web's Background Fetch API as a native library.

Pure ``ctypes``, standard library only. It mirrors ``include/bgfetch.h`` (see the project's
API.md, section "Python")::

    import bgfetch
    with bgfetch.Manager("store", base_url="http://127.0.0.1:8000/") as m:
        reg = m.fetch("my-fetch", ["/ep-5.mp3", "ep-5-artwork.jpg"],
                      title="Episode 5: Interesting things.",
                      icons=[{"src": "/ep-5-icon.png", "sizes": "300x300", "type": "image/png"}],
                      download_total=60 * 1024 * 1024)
        reg.on_progress(lambda r: print(r.downloaded, "/", r.download_total))
        reg.wait()
        rec = reg.match("/ep-5.mp3")            # None if no match
        res = rec.response_ready(timeout=5.0)   # Response: status, ok, url, headers, read(), save()
        reg.release()

Finding the library
    ``$BGFETCH_LIB`` (a file path) if set; else ``libbgfetch.so`` next to this module; else
    ``../target/release/libbgfetch.so`` and then ``../target/debug/libbgfetch.so`` relative to
    this module.

Objects and handles
    Every object that wraps a C handle (``Manager``, ``Registration``, ``Record``,
    ``Response``) owns it and frees it in ``close()`` (idempotent), at the end of a ``with``
    block, or when garbage collected. Using an object after ``close()`` raises ``Closed``.
    A ``Registration`` keeps its ``Manager`` alive, a ``Record`` its ``Registration``, a
    ``Response`` its ``Record`` (alive, not open: ``Manager.close()`` still closes the manager;
    registrations then keep their last values and calls that need the manager raise
    ``Closed``).
    Open managers are closed at interpreter exit (``atexit``), so that no library thread calls
    into a finalizing interpreter.

Timeouts
    Seconds as ``float``; ``None`` waits forever, ``0`` (or less) polls. They become
    ``int64`` milliseconds (rounded up; ``None`` is ``-1``). Waiting forever is done in short
    slices so that Ctrl-C works and callback exceptions (below) surface promptly.

Callbacks
    ``Manager.on_event(fn(kind, reg))`` and ``Registration.on_progress(fn(reg))``. With
    ``dispatch="thread"`` (the default) they run on the manager's event thread; with
    ``dispatch="manual"`` only inside ``Manager.dispatch()``, on the thread that calls it (wait
    for ``Manager.event_fd()`` to become readable, e.g. with ``select``). A callback may call
    any method of this module, including on the registration it was given, except
    ``Manager.dispatch()`` (``InvalidState``). ``Manager.close()`` of its own manager, which the
    library forbids inside a callback, is deferred: to a helper thread (``"thread"``) or to the
    end of the running ``dispatch()`` (``"manual"``); garbage collection that drops a manager's
    last reference inside its callback is deferred the same way.

    The C side only ever holds module-level ``CFUNCTYPE`` trampolines (which are never freed)
    and an integer key as ``userdata``; the Python callable lives in a table under that key.
    The library's userdata finalizer removes the entry, exactly once, when it lets go of the
    callback: replaced or cleared, its handle freed (a progress callback belongs to the
    ``Registration`` object that set it and ends with it), or its manager closed. A late call
    with an unknown key does nothing. So a callback can never outlive its function pointer. (The table holds the callable: a callback that refers to its
    manager keeps that manager open until ``close()``, or until interpreter exit.)

    Registration handles passed to callbacks are borrowed from the library for the call; the
    binding never frees them. The ``reg`` an event callback receives is a new ``Registration``
    with a handle of its own (``bgfetch_get`` of the borrowed handle's id), so it may be kept
    after the callback returns. The ``reg`` a progress callback receives is the
    ``Registration`` whose ``on_progress`` set it, if that object is still open. Otherwise
    (the object was closed, or the id was released meanwhile) the callback gets a wrapper of
    the borrowed handle, which is closed (``Closed`` on use) when the callback returns.

Exceptions raised inside a callback
    are never lost. They are (1) logged at once on the ``"bgfetch"`` logger (level ERROR, with
    the traceback), and (2) stored for the thread that registered the callback, and re-raised
    there by its next call into the library (any method or property of this module that
    reaches the C library, before that call is made; and at the end of the blocking calls
    ``wait``, ``response_ready``, ``Response.wait`` and ``Manager.dispatch`` if they ran while
    the callback failed). Only the first exception is kept until it is re-raised; later ones
    of the same thread are dropped meanwhile (they were logged). ``close()`` never raises
    them, and closing a manager drops those of its callbacks not re-raised yet.

Errors
    Every failure status becomes an ``Error`` subclass named after it (``InvalidArgument``,
    ``DuplicateId``, ``QuotaExceeded``, ``InvalidState``, ``Aborted``, ``FetchFailed``,
    ``Timeout``, ``StoreError``, ``Closed``, ``Busy``, ``Internal``), whose ``str()`` is the
    library's message (``bgfetch_last_error()``); ``.status`` is the numeric code.

Threads
    Every object may be used from any thread; only closing an object while another thread
    uses it is not allowed (as in C). Blocking calls release the GIL.
"""

import atexit
import collections.abc
import ctypes
import itertools
import logging
import math
import os
import threading
import weakref

__all__ = [
    "Manager", "Registration", "Record", "Response", "Request", "Headers",
    "Error", "InvalidArgument", "DuplicateId", "QuotaExceeded", "InvalidState", "Aborted",
    "FetchFailed", "Timeout", "StoreError", "Closed", "Busy", "Internal",
    "version", "status_name",
]

_log = logging.getLogger("bgfetch")

# ---------------------------------------------------------------------------------------------
# Errors


class Error(Exception):
    """A libbgfetch failure. ``str(e)`` is the library's message; ``e.status`` the code."""

    status = None

    def __init__(self, message="", status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgument(Error):
    """BGFETCH_E_INVALID_ARGUMENT: the web's TypeError (bad id, URL, header, empty list...)."""
    status = 1


class DuplicateId(Error):
    """BGFETCH_E_DUPLICATE_ID: a fetch with this id exists and was not released."""
    status = 2


class QuotaExceeded(Error):
    """BGFETCH_E_QUOTA_EXCEEDED: the web's QuotaExceededError."""
    status = 3


class InvalidState(Error):
    """BGFETCH_E_INVALID_STATE: the web's InvalidStateError (records no longer available...)."""
    status = 4


class Aborted(Error):
    """BGFETCH_E_ABORTED: the web's AbortError (responseReady after abort)."""
    status = 5


class FetchFailed(Error):
    """BGFETCH_E_FETCH_FAILED: the request failed, or was never made because the fetch failed."""
    status = 6


class Timeout(Error):
    """BGFETCH_E_TIMEOUT: a wait ran out of time."""
    status = 7


class StoreError(Error):
    """BGFETCH_E_IO: the store could not be read or written."""
    status = 8


class Closed(Error):
    """BGFETCH_E_CLOSED: the manager (or this Python object) was closed."""
    status = 9


class Busy(Error):
    """BGFETCH_E_BUSY: another manager or process holds this store."""
    status = 10


class Internal(Error):
    """BGFETCH_E_INTERNAL: a bug caught at the library boundary."""
    status = 99


_ERRORS = {cls.status: cls for cls in (InvalidArgument, DuplicateId, QuotaExceeded,
                                       InvalidState, Aborted, FetchFailed, Timeout,
                                       StoreError, Closed, Busy, Internal)}

# ---------------------------------------------------------------------------------------------
# Loading the library


def _find_library():
    env = os.environ.get("BGFETCH_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.path.join(here, "libbgfetch.so"),
        os.path.join(here, os.pardir, "target", "release", "libbgfetch.so"),
        os.path.join(here, os.pardir, "target", "debug", "libbgfetch.so"),
    ]
    for c in candidates:
        if os.path.exists(c):
            return os.path.normpath(c)
    looked = ", ".join(os.path.normpath(c) for c in candidates)
    raise ImportError("libbgfetch not found: set BGFETCH_LIB, or build it (cargo build "
                      "--release); looked in: " + looked)


# CDLL (not PyDLL): every call releases the GIL, so the library's threads can run Python
# callbacks while this thread blocks in a call (the callback setters and close wait for them).
_lib = ctypes.CDLL(_find_library())


class _Opaque(ctypes.Structure):
    _fields_ = []


class _Config(_Opaque): pass
class _Manager(_Opaque): pass
class _Request(_Opaque): pass
class _Options(_Opaque): pass
class _Registration(_Opaque): pass
class _Strings(_Opaque): pass
class _Icons(_Opaque): pass
class _Record(_Opaque): pass
class _Records(_Opaque): pass
class _Response(_Opaque): pass


P = ctypes.POINTER
_status = ctypes.c_uint32
_u8, _u16, _u32, _u64, _i64 = (ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32,
                               ctypes.c_uint64, ctypes.c_int64)
_size, _bool, _int, _cstr, _vp = (ctypes.c_size_t, ctypes.c_bool, ctypes.c_int,
                                  ctypes.c_char_p, ctypes.c_void_p)

_EVENT_CB = ctypes.CFUNCTYPE(None, _vp, _u32, P(_Registration))
_PROGRESS_CB = ctypes.CFUNCTYPE(None, _vp, P(_Registration))
_FREE_CB = ctypes.CFUNCTYPE(None, _vp)


class _Missing:
    """Stands in for a symbol the loaded library lacks: fails when called, not at import."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        raise Internal("the loaded libbgfetch has no function %s" % self.name, 99)


class _Funcs:
    pass


_c = _Funcs()


def _declare(name, restype, *argtypes):
    try:
        f = getattr(_lib, name)
    except AttributeError:
        setattr(_c, name[len("bgfetch_"):], _Missing(name))
        return
    f.restype = restype
    f.argtypes = list(argtypes)
    setattr(_c, name[len("bgfetch_"):], f)


# Every function this module calls, with its exact C signature.
for _decl in [
    ("bgfetch_status_name", _cstr, _status),
    ("bgfetch_last_error", _cstr),
    ("bgfetch_version", _cstr),
    ("bgfetch_string_free", None, _vp),
    # config
    ("bgfetch_config_new", P(_Config), _cstr),
    ("bgfetch_config_free", None, P(_Config)),
    ("bgfetch_config_set_base_url", _status, P(_Config), _cstr),
    ("bgfetch_config_set_max_connections", _status, P(_Config), _u32),
    ("bgfetch_config_set_max_connections_per_fetch", _status, P(_Config), _u32),
    ("bgfetch_config_set_quota", _status, P(_Config), _u64),
    ("bgfetch_config_set_user_agent", _status, P(_Config), _cstr),
    ("bgfetch_config_set_timeouts", _status, P(_Config), _u32, _u32),
    ("bgfetch_config_set_retries", _status, P(_Config), _u32, _u32),
    ("bgfetch_config_set_progress_interval", _status, P(_Config), _u32),
    ("bgfetch_config_set_ca_file", _status, P(_Config), _cstr),
    ("bgfetch_config_set_dispatch", _status, P(_Config), _u32),
    ("bgfetch_config_set_allow_https_to_http", _status, P(_Config), _bool),
    ("bgfetch_config_set_max_backoff", _status, P(_Config), _u32),
    ("bgfetch_config_set_no_progress_timeout", _status, P(_Config), _u64),
    ("bgfetch_config_set_fail_after_attempts", _status, P(_Config), _bool),
    ("bgfetch_config_set_retry_statuses", _status, P(_Config), _bool),
    ("bgfetch_config_set_proxy", _status, P(_Config), _cstr),
    ("bgfetch_config_set_max_download_rate", _status, P(_Config), _u64),
    # manager
    ("bgfetch_manager_open", _status, P(_Config), P(P(_Manager))),
    ("bgfetch_manager_close", None, P(_Manager)),
    ("bgfetch_manager_event_fd", _int, P(_Manager)),
    ("bgfetch_manager_dispatch", _status, P(_Manager), _i64, P(_u32)),
    ("bgfetch_manager_set_event_callback", _status, P(_Manager), _EVENT_CB, _vp, _FREE_CB),
    ("bgfetch_manager_problem_count", _size, P(_Manager)),
    ("bgfetch_manager_problem", _vp, P(_Manager), _size),
    ("bgfetch_manager_used_bytes", _u64, P(_Manager)),
    ("bgfetch_manager_set_offline", _status, P(_Manager), _bool),
    ("bgfetch_manager_offline", _bool, P(_Manager)),
    ("bgfetch_manager_set_max_download_rate", _status, P(_Manager), _u64),
    # requests and options
    ("bgfetch_request_new", _status, _cstr, P(P(_Request))),
    ("bgfetch_request_set_method", _status, P(_Request), _cstr),
    ("bgfetch_request_add_header", _status, P(_Request), _cstr, _cstr),
    ("bgfetch_request_set_body", _status, P(_Request), P(_u8), _size),
    ("bgfetch_request_set_integrity", _status, P(_Request), _cstr),
    ("bgfetch_request_free", None, P(_Request)),
    ("bgfetch_options_new", P(_Options)),
    ("bgfetch_options_set_title", _status, P(_Options), _cstr),
    ("bgfetch_options_add_icon", _status, P(_Options), _cstr, _cstr, _cstr, _cstr),
    ("bgfetch_options_set_download_total", _status, P(_Options), _u64),
    ("bgfetch_options_set_start_paused", _status, P(_Options), _bool),
    ("bgfetch_options_free", None, P(_Options)),
    # fetch / get / getIds
    ("bgfetch_fetch", _status, P(_Manager), _cstr, P(P(_Request)), _size, P(_Options),
     P(P(_Registration))),
    ("bgfetch_get", _status, P(_Manager), _cstr, P(P(_Registration))),
    ("bgfetch_get_ids", _status, P(_Manager), P(P(_Strings))),
    ("bgfetch_strings_len", _size, P(_Strings)),
    ("bgfetch_strings_get", _cstr, P(_Strings), _size),
    ("bgfetch_strings_free", None, P(_Strings)),
    # registration
    ("bgfetch_registration_id", _cstr, P(_Registration)),
    ("bgfetch_registration_upload_total", _u64, P(_Registration)),
    ("bgfetch_registration_uploaded", _u64, P(_Registration)),
    ("bgfetch_registration_download_total", _u64, P(_Registration)),
    ("bgfetch_registration_downloaded", _u64, P(_Registration)),
    ("bgfetch_registration_result", _u32, P(_Registration)),
    ("bgfetch_registration_failure_reason", _u32, P(_Registration)),
    ("bgfetch_registration_records_available", _bool, P(_Registration)),
    ("bgfetch_result_str", _cstr, _u32),
    ("bgfetch_failure_reason_str", _cstr, _u32),
    ("bgfetch_registration_title", _vp, P(_Registration)),
    ("bgfetch_registration_icons", _status, P(_Registration), P(P(_Icons))),
    ("bgfetch_icons_len", _size, P(_Icons)),
    ("bgfetch_icons_get", _status, P(_Icons), _size, P(_cstr), P(_cstr), P(_cstr), P(_cstr)),
    ("bgfetch_icons_free", None, P(_Icons)),
    ("bgfetch_registration_update_ui", _status, P(_Registration), P(_Options)),
    ("bgfetch_registration_abort", _status, P(_Registration), P(_bool)),
    ("bgfetch_registration_wait", _status, P(_Registration), _i64),
    ("bgfetch_registration_set_progress_callback", _status, P(_Registration), _PROGRESS_CB,
     _vp, _FREE_CB),
    ("bgfetch_registration_release", _status, P(_Registration)),
    ("bgfetch_registration_pause", _status, P(_Registration)),
    ("bgfetch_registration_resume", _status, P(_Registration)),
    ("bgfetch_registration_paused", _bool, P(_Registration)),
    ("bgfetch_registration_free", None, P(_Registration)),
    # records
    ("bgfetch_registration_match", _status, P(_Registration), P(_Request), _u32,
     P(P(_Record))),
    ("bgfetch_registration_match_url", _status, P(_Registration), _cstr, _u32,
     P(P(_Record))),
    ("bgfetch_registration_match_all", _status, P(_Registration), P(_Request), _u32,
     P(P(_Records))),
    ("bgfetch_records_len", _size, P(_Records)),
    ("bgfetch_records_get", P(_Record), P(_Records), _size),
    ("bgfetch_records_free", None, P(_Records)),
    ("bgfetch_record_url", _cstr, P(_Record)),
    ("bgfetch_record_method", _cstr, P(_Record)),
    ("bgfetch_record_header_count", _size, P(_Record)),
    ("bgfetch_record_header_at", _status, P(_Record), _size, P(_cstr), P(_cstr)),
    ("bgfetch_record_body_size", _u64, P(_Record)),
    ("bgfetch_record_read_body", _status, P(_Record), _u64, P(_u8), _size, P(_size)),
    ("bgfetch_record_free", None, P(_Record)),
    ("bgfetch_record_response", _status, P(_Record), _i64, P(P(_Response))),
    # responses
    ("bgfetch_response_status", _u16, P(_Response)),
    ("bgfetch_response_ok", _bool, P(_Response)),
    ("bgfetch_response_url", _cstr, P(_Response)),
    ("bgfetch_response_header", _cstr, P(_Response), _cstr),
    ("bgfetch_response_header_count", _size, P(_Response)),
    ("bgfetch_response_header_at", _status, P(_Response), _size, P(_cstr), P(_cstr)),
    ("bgfetch_response_complete", _bool, P(_Response)),
    ("bgfetch_response_wait", _status, P(_Response), _i64),
    ("bgfetch_response_body_size", _u64, P(_Response)),
    ("bgfetch_response_body_path", _cstr, P(_Response)),
    ("bgfetch_response_read", _status, P(_Response), _u64, P(_u8), _size, P(_size)),
    ("bgfetch_response_save", _status, P(_Response), _cstr),
    ("bgfetch_response_free", None, P(_Response)),
]:
    _declare(*_decl)
del _decl

# Enumerations (uint32_t in C).
_DISPATCH = {"thread": 0, "manual": 1}
_EVENT_KINDS = {1: "success", 2: "fail", 3: "abort"}
QUERY_IGNORE_SEARCH = 1
QUERY_IGNORE_METHOD = 2
QUERY_IGNORE_VARY = 4

# Slice length for "wait forever", in ms (see the module docstring).
_SLICE_MS = 250


def version():
    """The library's version, "MAJOR.MINOR.PATCH"."""
    _raise_pending()
    return _c.version().decode()


def status_name(status):
    """The C name of a status code, e.g. ``status_name(7) == "BGFETCH_E_TIMEOUT"``."""
    _raise_pending()
    return _c.status_name(status).decode()


# ---------------------------------------------------------------------------------------------
# Small helpers


def _dec(b):
    return None if b is None else b.decode("utf-8", "replace")


def _enc(s, what="string"):
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


def _enc_path(p, what="path"):
    b = os.fsencode(p)
    if b"\0" in b:
        raise InvalidArgument("%s contains a NUL character" % what, 1)
    return b


def _duration_ms(seconds, what, limit=1 << 32):
    """A duration in seconds (int or float, >= 0) as whole milliseconds for a C setter."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("%s must be a number of seconds, not %s" % (what, type(seconds).__name__))
    ms = int(round(seconds * 1000.0))
    if not 0 <= ms < limit:
        raise InvalidArgument("%s is out of range: %r s" % (what, seconds), 1)
    return ms


def _ms(timeout):
    """Seconds (float or None) to the C int64 milliseconds (-1 = forever)."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return int(math.ceil(timeout * 1000.0))


def _raise_status(status):
    msg = _dec(_c.last_error()) or status_name(status)
    raise _ERRORS.get(status, Error)(msg, status)


def _check(status):
    if status != 0:
        _raise_status(status)


def _owned_str(ptr):
    """Takes an owned ``char *`` (as int) and frees it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        _c.string_free(ptr)


def _blocking(call, timeout):
    """Runs ``call(ms) -> status`` honouring ``timeout`` (seconds, None = forever).

    Forever is done in slices so that signals are handled and callback exceptions surface.
    """
    if timeout is not None:
        status = call(_ms(timeout))
        _raise_pending()
        _check(status)
        return
    while True:
        status = call(_SLICE_MS)
        _raise_pending()
        if status != Timeout.status:
            _check(status)
            return


# ---------------------------------------------------------------------------------------------
# Callback table, trampolines and exception hand-off

_table_lock = threading.Lock()
_callbacks = {}                  # key -> _Entry
_keys = itertools.count(1)
_pending = {}                    # thread ident -> (exception, weakref to its Manager)
_tls = threading.local()         # .active: managers whose callback runs on this thread


class _Entry:
    __slots__ = ("fn", "manager", "owner", "thread")

    def __init__(self, fn, manager, owner, thread):
        self.fn = fn              # the Python callable
        self.manager = manager    # weakref to the Manager
        self.owner = owner        # weakref to the Registration that set it (progress), or None
        self.thread = thread      # ident of the thread that registered it


def _add_entry(fn, manager, owner=None):
    key = next(_keys)
    entry = _Entry(fn, weakref.ref(manager), weakref.ref(owner) if owner is not None else None,
                   threading.get_ident())
    with _table_lock:
        _callbacks[key] = entry
    return key


def _remove_entry(key):
    if key is not None:
        with _table_lock:
            _callbacks.pop(key, None)


def _lookup(key):
    with _table_lock:
        return _callbacks.get(key)


def _store_exception(entry, exc, what):
    with _table_lock:
        _pending.setdefault(entry.thread, (exc, entry.manager))
    try:
        _log.error("exception in a bgfetch %s callback (re-raised by the next bgfetch call "
                   "of the thread that set it)", what, exc_info=(type(exc), exc,
                                                                exc.__traceback__))
    except Exception:
        pass


def _enter_callback(entry):
    """Marks this thread as running a callback of ``entry``'s manager; returns the manager.

    The mark is the manager's id, not a reference: when the trampoline drops its reference
    (before ``_leave_callback``) and that was the last one, ``Manager.close`` (from
    ``__del__``) still sees the mark and defers itself instead of closing the manager from
    inside its own callback."""
    manager = entry.manager()
    active = getattr(_tls, "active", None)
    if active is None:
        active = _tls.active = []
    active.append(id(manager) if manager is not None else None)
    return manager


def _leave_callback():
    _tls.active.pop()


def _in_callback_of(manager):
    return id(manager) in getattr(_tls, "active", ())


def _raise_pending():
    """Re-raises the first exception stored for this thread by a failed callback."""
    if not _pending:
        return
    with _table_lock:
        item = _pending.pop(threading.get_ident(), None)
    if item is not None:
        raise item[0]


def _drop_pending(manager):
    """Forgets exceptions of a closed manager's callbacks that were never re-raised."""
    with _table_lock:
        for t, (exc, ref) in list(_pending.items()):
            if ref() is manager or ref() is None:
                del _pending[t]


@_EVENT_CB
def _event_trampoline(userdata, kind, reg_ptr):
    entry = _lookup(userdata)
    if entry is None:
        return
    reg = None
    manager = _enter_callback(entry)
    try:
        reg = Registration._for_event(manager, reg_ptr)
        entry.fn(_EVENT_KINDS.get(kind, str(kind)), reg)
    except BaseException as exc:  # noqa: B902 - nothing may unwind into C
        _store_exception(entry, exc, "event")
    finally:
        if reg is not None and reg._borrowed:
            reg._detach()
        # Drop our references while still marked as inside the callback (see above).
        reg = manager = None
        _leave_callback()


@_FREE_CB
def _free_trampoline(userdata):
    """The library lets go of a callback's userdata: forget its table entry."""
    try:
        _remove_entry(userdata)
    except BaseException:  # noqa: B902 - nothing may unwind into C
        pass


@_PROGRESS_CB
def _progress_trampoline(userdata, reg_ptr):
    entry = _lookup(userdata)
    if entry is None:
        return
    reg = None
    borrowed = None
    manager = _enter_callback(entry)
    try:
        reg = entry.owner() if entry.owner is not None else None
        if reg is None or reg._ptr_or_none() is None:
            borrowed = reg = Registration._borrow(manager, reg_ptr)
        entry.fn(reg)
    except BaseException as exc:  # noqa: B902 - nothing may unwind into C
        _store_exception(entry, exc, "progress")
    finally:
        if borrowed is not None:
            borrowed._detach()
        reg = borrowed = manager = None
        _leave_callback()


# ---------------------------------------------------------------------------------------------
# Managed: owner of one C pointer


_swap_lock = threading.Lock()   # makes taking a pointer out for close() atomic


class Managed:
    """Base of every object owning a C handle: idempotent ``close()``, ``with``, ``__del__``."""

    _ptr_value = None
    _what = "object"

    def _set_ptr(self, ptr):
        self._ptr_value = ptr

    def _delete(self, ptr):
        raise NotImplementedError

    def _ptr_or_none(self):
        return self._ptr_value

    def _ptr(self):
        """The live pointer; re-raises pending callback exceptions first (see module doc)."""
        _raise_pending()
        ptr = self._ptr_value
        if ptr is None:
            raise Closed("this %s was closed" % self._what, Closed.status)
        return ptr

    def close(self):
        """Frees the handle. Idempotent; later use raises ``Closed``."""
        with _swap_lock:
            ptr, self._ptr_value = self._ptr_value, None
        if ptr is not None:
            self._delete(ptr)

    @property
    def closed(self):
        return self._ptr_value is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# Headers


class Headers(collections.abc.Mapping):
    """Read-only, case-insensitive header mapping, in order of arrival.

    ``h["content-type"] == h["Content-Type"]``; repeated names are joined with ", " (as the
    Fetch standard's ``Headers.get``); ``get_all(name)`` lists them; ``items_raw()`` keeps
    every (name, value) pair as received.
    """

    def __init__(self, pairs=()):
        if isinstance(pairs, Headers):
            pairs = pairs.items_raw()
        elif isinstance(pairs, collections.abc.Mapping):
            pairs = pairs.items()
        self._pairs = [(str(n), str(v)) for n, v in pairs]
        self._names = {}
        self._values = {}
        for n, v in self._pairs:
            k = n.lower()
            if k in self._values:
                self._values[k] = self._values[k] + ", " + v
            else:
                self._names[k] = n
                self._values[k] = v

    def __getitem__(self, name):
        return self._values[name.lower()]

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self):
        return iter(list(self._names.values()))

    def __len__(self):
        return len(self._values)

    def get_all(self, name):
        k = name.lower()
        return [v for n, v in self._pairs if n.lower() == k]

    def items_raw(self):
        return list(self._pairs)

    def __eq__(self, other):
        if isinstance(other, collections.abc.Mapping):
            return {k.lower(): v for k, v in other.items()} == self._values
        return NotImplemented

    def __repr__(self):
        return "Headers(%r)" % (self._pairs,)


# ---------------------------------------------------------------------------------------------
# Request and options


class Request:
    """A request for ``Manager.fetch`` and ``match``; also ``Record.request``.

    ``headers``: a mapping or a list of (name, value) pairs; ``body``: bytes-like or str
    (UTF-8); ``integrity``: an SRI string such as ``"sha256-<base64>"``.
    """

    def __init__(self, url, method="GET", headers=None, body=None, integrity=None):
        self.url = url
        self.method = method
        self.headers = Headers(headers or ())
        self.body = body
        self.integrity = integrity

    def __repr__(self):
        return "Request(%r, method=%r)" % (self.url, self.method)

    @staticmethod
    def _coerce(req):
        if isinstance(req, Request):
            return req
        if isinstance(req, str):
            return Request(req)
        raise TypeError("a request is a URL string or a bgfetch.Request, not %s"
                        % type(req).__name__)

    def _to_c(self):
        """A new owned ``bgfetch_request *``; the caller frees it with ``_free_request``."""
        out = P(_Request)()
        _check(_c.request_new(_enc(self.url, "url"), ctypes.byref(out)))
        try:
            if self.method is not None and self.method != "GET":
                _check(_c.request_set_method(out, _enc(self.method, "method")))
            for name, value in self.headers.items_raw():
                _check(_c.request_add_header(out, _enc(name, "header name"),
                                             _enc(value, "header value")))
            if self.body is not None:
                body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
                data = memoryview(body).cast("B") if not isinstance(body, bytes) else body
                n = len(data)
                buf = (_u8 * n).from_buffer_copy(data) if n else (_u8 * 1)()
                _check(_c.request_set_body(out, buf, n))
            if self.integrity is not None:
                _check(_c.request_set_integrity(out, _enc(self.integrity, "integrity")))
        except BaseException:
            _c.request_free(out)
            raise
        return out


def _free_request(ptr):
    _c.request_free(ptr)


def _icon_fields(icon):
    if isinstance(icon, str):
        return icon, None, None, None
    if isinstance(icon, collections.abc.Mapping):
        if "src" not in icon:
            raise InvalidArgument("an icon needs a 'src'", 1)
        return icon["src"], icon.get("sizes"), icon.get("type"), icon.get("label")
    src, sizes, typ, label = (tuple(icon) + (None, None, None))[:4]
    return src, sizes, typ, label


def _opt(s, what):
    return None if s is None else _enc(s, what)


def _make_options(title=None, icons=None, download_total=0, start_paused=False):
    opts = _c.options_new()
    if not opts:
        raise Internal("bgfetch_options_new returned NULL", 99)
    try:
        if title is not None:
            _check(_c.options_set_title(opts, _enc(title, "title")))
        if isinstance(icons, (str, collections.abc.Mapping)):
            icons = [icons]
        for icon in icons or ():
            src, sizes, typ, label = _icon_fields(icon)
            _check(_c.options_add_icon(opts, _enc(src, "icon src"), _opt(sizes, "icon sizes"),
                                       _opt(typ, "icon type"), _opt(label, "icon label")))
        if download_total:
            _check(_c.options_set_download_total(opts, int(download_total)))
        if start_paused:
            _check(_c.options_set_start_paused(opts, True))
    except BaseException:
        _c.options_free(opts)
        raise
    return opts


def _query_flags(ignore_search, ignore_method, ignore_vary):
    return ((QUERY_IGNORE_SEARCH if ignore_search else 0)
            | (QUERY_IGNORE_METHOD if ignore_method else 0)
            | (QUERY_IGNORE_VARY if ignore_vary else 0))


# ---------------------------------------------------------------------------------------------
# Manager

_open_managers = weakref.WeakSet()


class Manager(Managed):
    """A store directory and its background fetches (the web's ``BackgroundFetchManager``).

    ``Manager(store_dir, *, base_url=None, max_connections=None,
    max_connections_per_fetch=None, quota=None, user_agent=None, timeouts=None,
    retries=None, progress_interval=None, ca_file=None, dispatch="thread",
    allow_https_to_http=None, max_backoff=None, no_progress_timeout=None,
    fail_after_attempts=None, retry_statuses=None, proxy=None, max_download_rate=None)``.
    Each keyword calls the ``bgfetch_config_set_*`` of the same name. ``retries=(attempts,
    backoff)``, ``max_backoff`` and ``no_progress_timeout`` (0 = never) are seconds (float);
    as in C, ``timeouts=(connect_ms, read_ms)`` and ``progress_interval`` are integer
    milliseconds; ``quota`` and ``max_download_rate`` are bytes (per second; 0 = none);
    ``proxy`` is ``"http://host:port"`` or ``""`` for none; ``dispatch`` is ``"thread"`` or
    ``"manual"``. ``None`` keeps the library's default (the network rules: README, "Bad
    networks").

    Opening resumes unfinished fetches; completion events of unreleased fetches are delivered
    again once ``on_event`` sets a callback. ``Busy`` if the store is open elsewhere.
    """

    _what = "manager"

    def __init__(self, store_dir, *, base_url=None, max_connections=None,
                 max_connections_per_fetch=None, quota=None, user_agent=None, timeouts=None,
                 retries=None, progress_interval=None, ca_file=None, dispatch="thread",
                 allow_https_to_http=None, max_backoff=None, no_progress_timeout=None,
                 fail_after_attempts=None, retry_statuses=None, proxy=None,
                 max_download_rate=None):
        self._event_key = None
        self._close_requested = False
        self._close_mutex = threading.Lock()
        self._keys_lock = threading.Lock()
        if dispatch not in _DISPATCH:
            raise InvalidArgument("dispatch must be 'thread' or 'manual', not %r" % (dispatch,), 1)
        self._dispatch_mode = dispatch
        _raise_pending()
        cfg = _c.config_new(_enc_path(store_dir, "store_dir"))
        if not cfg:
            _raise_status(1)
        try:
            if base_url is not None:
                _check(_c.config_set_base_url(cfg, _enc(base_url, "base_url")))
            if max_connections is not None:
                _check(_c.config_set_max_connections(cfg, max_connections))
            if max_connections_per_fetch is not None:
                _check(_c.config_set_max_connections_per_fetch(cfg, max_connections_per_fetch))
            if quota is not None:
                _check(_c.config_set_quota(cfg, quota))
            if user_agent is not None:
                _check(_c.config_set_user_agent(cfg, _enc(user_agent, "user_agent")))
            if timeouts is not None:
                connect_ms, read_ms = timeouts
                _check(_c.config_set_timeouts(cfg, connect_ms, read_ms))
            if retries is not None:
                attempts, backoff = retries
                _check(_c.config_set_retries(cfg, attempts, _duration_ms(backoff, "backoff")))
            if max_backoff is not None:
                _check(_c.config_set_max_backoff(cfg, _duration_ms(max_backoff, "max_backoff")))
            if no_progress_timeout is not None:
                _check(_c.config_set_no_progress_timeout(
                    cfg, _duration_ms(no_progress_timeout, "no_progress_timeout", 1 << 64)))
            if fail_after_attempts is not None:
                _check(_c.config_set_fail_after_attempts(cfg, bool(fail_after_attempts)))
            if retry_statuses is not None:
                _check(_c.config_set_retry_statuses(cfg, bool(retry_statuses)))
            if proxy is not None:
                _check(_c.config_set_proxy(cfg, _enc(proxy, "proxy")))
            if max_download_rate is not None:
                _check(_c.config_set_max_download_rate(cfg, int(max_download_rate)))
            if progress_interval is not None:
                _check(_c.config_set_progress_interval(cfg, progress_interval))
            if ca_file is not None:
                _check(_c.config_set_ca_file(cfg, _enc_path(ca_file, "ca_file")))
            if dispatch != "thread":
                _check(_c.config_set_dispatch(cfg, _DISPATCH[dispatch]))
            if allow_https_to_http is not None:
                _check(_c.config_set_allow_https_to_http(cfg, bool(allow_https_to_http)))
            out = P(_Manager)()
            _check(_c.manager_open(cfg, ctypes.byref(out)))
        finally:
            _c.config_free(cfg)
        self._set_ptr(out)
        _open_managers.add(self)

    def _delete(self, ptr):
        _open_managers.discard(self)
        _c.manager_close(ptr)
        # The library has joined its event thread: no callback of this manager runs any more.
        # Closing ran every finalizer; drop what a failed open may have left all the same.
        with self._keys_lock:
            key, self._event_key = self._event_key, None
        _remove_entry(key)
        with _table_lock:
            for k in [k for k, e in _callbacks.items() if e.manager() is self]:
                del _callbacks[k]
        _drop_pending(self)

    def close(self):
        """Stops cleanly; unfinished fetches resume at the next open. Idempotent.

        The library forbids closing a manager from inside its own callbacks; called there
        (or reached there by garbage collection), the close is deferred: with
        ``dispatch="thread"`` to a helper thread, with ``"manual"`` to the end of the
        ``dispatch()`` call that runs the callback."""
        if self._ptr_value is None and not self._close_mutex.locked():
            return
        if _in_callback_of(self):
            if self._dispatch_mode == "manual":
                self._close_requested = True
            elif not self._close_requested:
                self._close_requested = True
                threading.Thread(target=self._close_now, name="bgfetch-close").start()
            return
        self._close_now()

    def _close_now(self):
        # A second close() waits until the first has finished (the store is then free).
        with self._close_mutex:
            super().close()

    def __repr__(self):
        return "<bgfetch.Manager%s>" % (" closed" if self.closed else "")

    # -- fetch / get / getIds

    def fetch(self, id, requests, *, title=None, icons=(), download_total=0, start_paused=False):
        """Starts a background fetch; returns its ``Registration`` once durably stored.

        ``requests``: a URL string, a ``Request``, or a list of them (relative URLs need
        ``base_url``). ``start_paused=True`` stores it paused: it runs after ``resume()``.
        """
        m = self._ptr()
        if isinstance(requests, (str, Request)):
            requests = [requests]
        reqs = [Request._coerce(r) for r in requests]
        idb = _enc(id, "id")
        ptrs = []
        opts = None
        try:
            for r in reqs:
                ptrs.append(r._to_c())
            opts = _make_options(title, icons, download_total, start_paused)
            arr = (P(_Request) * max(len(ptrs), 1))(*ptrs)
            out = P(_Registration)()
            _check(_c.fetch(m, idb, arr, len(ptrs), opts, ctypes.byref(out)))
        finally:
            for p in ptrs:
                _free_request(p)
            if opts is not None:
                _c.options_free(opts)
        return Registration._own(self, out)

    def get(self, id):
        """The ``Registration`` with this id, or ``None`` (released, or never fetched)."""
        m = self._ptr()
        out = P(_Registration)()
        _check(_c.get(m, _enc(id, "id"), ctypes.byref(out)))
        if not out:
            return None
        return Registration._own(self, out)

    def get_ids(self):
        """The ids of every registration not yet released."""
        m = self._ptr()
        out = P(_Strings)()
        _check(_c.get_ids(m, ctypes.byref(out)))
        try:
            return [_dec(_c.strings_get(out, i)) for i in range(_c.strings_len(out))]
        finally:
            _c.strings_free(out)

    # -- events

    def on_event(self, fn):
        """Sets the completion-event callback ``fn(kind, reg)``, kind ``"success"``,
        ``"fail"`` or ``"abort"``; ``None`` clears it. Held and restored events are delivered
        once a callback is set. When this returns, the previous callback is not running
        (unless this is called from inside it) and will not be called again."""
        m = self._ptr()
        if fn is not None and not callable(fn):
            raise TypeError("on_event needs a callable or None")
        key = _add_entry(fn, self) if fn is not None else None
        try:
            if fn is None:
                status = _c.manager_set_event_callback(m, _EVENT_CB(), None, _FREE_CB())
            else:
                status = _c.manager_set_event_callback(m, _event_trampoline, key,
                                                       _free_trampoline)
            _check(status)
        except BaseException:
            _remove_entry(key)
            raise
        with self._keys_lock:
            old, self._event_key = self._event_key, key
        _remove_entry(old)

    def _set_progress(self, reg, fn):
        rp = reg._ptr()
        key = _add_entry(fn, self, reg) if fn is not None else None
        try:
            if fn is None:
                status = _c.registration_set_progress_callback(rp, _PROGRESS_CB(), None,
                                                               _FREE_CB())
            else:
                # On failure the library runs the finalizer at once: the entry goes.
                status = _c.registration_set_progress_callback(rp, _progress_trampoline, key,
                                                               _free_trampoline)
            _check(status)
        except BaseException:
            _remove_entry(key)
            raise

    # -- manual dispatch

    def dispatch(self, timeout=None):
        """MANUAL mode: runs pending callbacks on this thread, waiting up to ``timeout``
        seconds for the first (``None`` = forever). Returns how many ran. ``InvalidState``
        in THREAD mode."""
        if _in_callback_of(self):
            raise InvalidState("dispatch() must not be called from inside a callback", 4)
        n = _u32(0)
        while True:
            m = self._ptr()
            ms = _ms(timeout) if timeout is not None else _SLICE_MS
            try:
                status = _c.manager_dispatch(m, ms, ctypes.byref(n))
            finally:
                if self._close_requested:
                    self.close()
            _raise_pending()
            _check(status)
            if n.value or timeout is not None:
                return n.value

    def event_fd(self):
        """MANUAL mode: a file descriptor readable while callbacks wait for ``dispatch()``
        (for ``select``/``poll``; do not read or close it). ``None`` in THREAD mode."""
        fd = _c.manager_event_fd(self._ptr())
        return None if fd < 0 else fd

    def fileno(self):
        """``event_fd()``, so that a MANUAL manager can be passed to ``select`` directly."""
        fd = self.event_fd()
        if fd is None:
            raise InvalidState("event_fd exists only with dispatch='manual'", 4)
        return fd

    # -- extras

    @property
    def problems(self):
        """Messages about state files found corrupt at open (moved to quarantine/)."""
        m = self._ptr()
        return [_owned_str(_c.manager_problem(m, i)) for i in range(_c.manager_problem_count(m))]

    @property
    def offline(self):
        """Whether the manager is offline (see ``set_offline``)."""
        return bool(_c.manager_offline(self._ptr()))

    def set_offline(self, offline):
        """``True``: the network is gone. Running transfers stop (GET keeps its bytes), nothing
        is tried, attempt counts and no-progress clocks stand still. ``False``: every waiting
        request is tried at once."""
        _check(_c.manager_set_offline(self._ptr(), bool(offline)))

    def set_max_download_rate(self, bytes_per_s):
        """Changes the bandwidth cap (bytes of response bodies per second, 0 = none), live."""
        _check(_c.manager_set_max_download_rate(self._ptr(), int(bytes_per_s)))

    @property
    def used_bytes(self):
        """Bytes the store holds, as the quota counts them."""
        return _c.manager_used_bytes(self._ptr())


# ---------------------------------------------------------------------------------------------
# Registration


class Registration(Managed):
    """One background fetch (the web's ``BackgroundFetchRegistration``); a live view."""

    _what = "registration"

    def __init__(self):
        raise TypeError("registrations come from Manager.fetch and Manager.get")

    @classmethod
    def _make(cls, manager, ptr, borrowed):
        self = cls.__new__(cls)
        self._manager = manager
        self._borrowed = borrowed
        self._id = None
        self._set_ptr(ptr)
        return self

    @classmethod
    def _own(cls, manager, ptr):
        return cls._make(manager, ptr, False)

    @classmethod
    def _borrow(cls, manager, ptr):
        """Wraps a handle the library lends for a callback: never freed by Python."""
        return cls._make(manager, ptr, True)

    @classmethod
    def _for_event(cls, manager, ptr):
        """An owned handle for an event callback (so it may be kept), else a borrowed one."""
        if manager is not None and manager._ptr_or_none() is not None:
            rid = _c.registration_id(ptr)
            if rid is not None:
                out = P(_Registration)()
                if _c.get(manager._ptr_or_none(), rid, ctypes.byref(out)) == 0 and out:
                    return cls._own(manager, out)
        return cls._borrow(manager, ptr)

    def _detach(self):
        self._ptr_value = None

    def _delete(self, ptr):
        if not self._borrowed:
            _c.registration_free(ptr)

    def __repr__(self):
        if self.closed:
            return "<bgfetch.Registration closed>"
        return "<bgfetch.Registration id=%r result=%r>" % (self.id, self.result)

    @property
    def manager(self):
        return self._manager

    # -- properties (live values)

    @property
    def id(self):
        if self._id is None:
            self._id = _dec(_c.registration_id(self._ptr()))
        return self._id

    @property
    def upload_total(self):
        return _c.registration_upload_total(self._ptr())

    @property
    def uploaded(self):
        return _c.registration_uploaded(self._ptr())

    @property
    def download_total(self):
        return _c.registration_download_total(self._ptr())

    @property
    def downloaded(self):
        return _c.registration_downloaded(self._ptr())

    @property
    def result(self):
        """``""`` while running, then ``"success"`` or ``"failure"``."""
        return _dec(_c.result_str(_c.registration_result(self._ptr())))

    @property
    def failure_reason(self):
        """``""``, ``"aborted"``, ``"bad-status"``, ``"fetch-error"``, ``"quota-exceeded"``
        or ``"download-total-exceeded"``."""
        return _dec(_c.failure_reason_str(_c.registration_failure_reason(self._ptr())))

    @property
    def records_available(self):
        return bool(_c.registration_records_available(self._ptr()))

    @property
    def title(self):
        return _owned_str(_c.registration_title(self._ptr())) or ""

    @property
    def icons(self):
        """A list of dicts with ``src``, ``sizes``, ``type``, ``label`` (``""`` if absent)."""
        out = P(_Icons)()
        _check(_c.registration_icons(self._ptr(), ctypes.byref(out)))
        try:
            icons = []
            for i in range(_c.icons_len(out)):
                f = [_cstr() for _ in range(4)]
                _check(_c.icons_get(out, i, *(ctypes.byref(x) for x in f)))
                icons.append(dict(zip(("src", "sizes", "type", "label"),
                                      (_dec(x.value) or "" for x in f))))
            return icons
        finally:
            _c.icons_free(out)

    # -- methods

    def abort(self):
        """``True`` if the fetch was running and is now aborted, ``False`` if it had settled."""
        flag = _bool(False)
        _check(_c.registration_abort(self._ptr(), ctypes.byref(flag)))
        return bool(flag.value)

    def wait(self, timeout=None):
        """Blocks until ``result`` is set; ``Timeout`` if ``timeout`` seconds pass first."""
        _blocking(lambda ms: _c.registration_wait(self._ptr(), ms), timeout)

    def on_progress(self, fn):
        """Sets ``fn(reg)``, called when uploaded, downloaded, result or failure_reason change
        (at most once per progress interval, always for the final change); ``None`` clears.
        The callback belongs to this object (the web's per-object ``onprogress``): another
        ``Registration`` of the same fetch has its own, and ``close()`` of this one (or its
        garbage collection) removes it. ``wait()`` returns after the final call."""
        if fn is not None and not callable(fn):
            raise TypeError("on_progress needs a callable or None")
        if self._manager is None:
            raise Closed("this registration has no manager", Closed.status)
        self._manager._set_progress(self, fn)

    def update_ui(self, title=None, icons=None):
        """updateUI: changes the title and/or the icons; ``None`` (or, as the C API cannot
        express "no icons", an empty list) keeps the current value."""
        rp = self._ptr()
        opts = _make_options(title, icons, 0)
        try:
            _check(_c.registration_update_ui(rp, opts))
        finally:
            _c.options_free(opts)

    def pause(self):
        """Pauses the fetch (durable across close, reopen and a crash); its transfers stop and
        it holds no connection. ``InvalidState`` once settled."""
        _check(_c.registration_pause(self._ptr()))

    def resume(self):
        """Resumes a paused fetch. ``InvalidState`` once settled."""
        _check(_c.registration_resume(self._ptr()))

    @property
    def paused(self):
        """Whether the fetch is paused."""
        return bool(_c.registration_paused(self._ptr()))

    def release(self):
        """Records become unavailable and their storage is freed; the completion event is not
        delivered again and ``Manager.get`` no longer finds the id. ``InvalidState`` while the
        fetch is running."""
        _check(_c.registration_release(self._ptr()))

    def match(self, req, ignore_search=False, ignore_method=False, ignore_vary=False):
        """The first ``Record`` matching ``req`` (URL or ``Request``), or ``None``."""
        rp = self._ptr()
        flags = _query_flags(ignore_search, ignore_method, ignore_vary)
        out = P(_Record)()
        if isinstance(req, str):
            _check(_c.registration_match_url(rp, _enc(req, "url"), flags, ctypes.byref(out)))
        else:
            cr = Request._coerce(req)._to_c()
            try:
                _check(_c.registration_match(rp, cr, flags, ctypes.byref(out)))
            finally:
                _free_request(cr)
        if not out:
            return None
        return Record(self, out, None)

    def match_all(self, req=None, ignore_search=False, ignore_method=False, ignore_vary=False):
        """Every matching ``Record`` in request order (all of them if ``req`` is None)."""
        rp = self._ptr()
        flags = _query_flags(ignore_search, ignore_method, ignore_vary)
        out = P(_Records)()
        cr = Request._coerce(req)._to_c() if req is not None else None
        try:
            _check(_c.registration_match_all(rp, cr, flags, ctypes.byref(out)))
        finally:
            if cr is not None:
                _free_request(cr)
        owner = _RecordList(out)
        return [Record(self, _c.records_get(out, i), owner) for i in range(_c.records_len(out))]


# ---------------------------------------------------------------------------------------------
# Records and responses


class _RecordList(Managed):
    """Owns a ``bgfetch_records``; freed when its last ``Record`` is closed or collected."""

    _what = "record list"

    def __init__(self, ptr):
        self._users = 0
        self._lock = threading.Lock()
        self._set_ptr(ptr)

    def _acquire(self):
        with self._lock:
            self._users += 1

    def _release(self):
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def _delete(self, ptr):
        _c.records_free(ptr)


class Record(Managed):
    """A request and its response (the web's ``BackgroundFetchRecord``)."""

    _what = "record"

    def __init__(self, registration, ptr, owner):
        self._registration = registration
        self._owner = owner           # _RecordList lending ptr, or None if ptr is owned
        if owner is not None:
            owner._acquire()
        self._set_ptr(ptr)
        self._request = None

    def _delete(self, ptr):
        if self._owner is None:
            _c.record_free(ptr)
        else:
            owner, self._owner = self._owner, None
            owner._release()

    def __repr__(self):
        if self.closed:
            return "<bgfetch.Record closed>"
        return "<bgfetch.Record %s %s>" % (self.request.method, self.request.url)

    @property
    def request(self):
        """A ``Request`` with the stored ``url`` (absolute), ``method``, ``headers`` and
        ``body`` (``bytes``, or ``None`` for a request without one): the record's request is
        the stored request, its body included."""
        if self._request is None:
            rp = self._ptr()
            pairs = []
            for i in range(_c.record_header_count(rp)):
                n, v = _cstr(), _cstr()
                _check(_c.record_header_at(rp, i, ctypes.byref(n), ctypes.byref(v)))
                pairs.append((_dec(n.value), _dec(v.value)))
            self._request = Request(_dec(_c.record_url(rp)), _dec(_c.record_method(rp)), pairs,
                                    body=self._read_request_body(rp))
        return self._request

    @staticmethod
    def _read_request_body(rp):
        size = _c.record_body_size(rp)
        if size == 0:
            return None
        buf = (_u8 * min(size, 1 << 20))()
        n = _size(0)
        parts = []
        offset = 0
        while offset < size:
            _check(_c.record_read_body(rp, offset, buf, len(buf), ctypes.byref(n)))
            if n.value == 0:
                break
            parts.append(bytes(buf[:n.value]))
            offset += n.value
        return b"".join(parts)

    def response_ready(self, timeout=None):
        """Blocks until the response's status and headers are known (the body may still be
        arriving) and returns a ``Response``. ``Aborted`` if the fetch was aborted first,
        ``FetchFailed`` if the request failed or was never made, ``Timeout``."""
        out = P(_Response)()
        _blocking(lambda ms: _c.record_response(self._ptr(), ms, ctypes.byref(out)), timeout)
        return Response(self, out)


class Response(Managed):
    """A stored response; its body streams from the store as it arrives."""

    _what = "response"

    def __init__(self, record, ptr):
        self._record = record
        self._set_ptr(ptr)
        self._headers = None

    def _delete(self, ptr):
        _c.response_free(ptr)

    def __repr__(self):
        if self.closed:
            return "<bgfetch.Response closed>"
        return "<bgfetch.Response %d %s>" % (self.status, self.url)

    @property
    def status(self):
        return _c.response_status(self._ptr())

    @property
    def ok(self):
        return bool(_c.response_ok(self._ptr()))

    @property
    def url(self):
        """The final URL, after redirects."""
        return _dec(_c.response_url(self._ptr()))

    @property
    def headers(self):
        """A case-insensitive ``Headers`` mapping."""
        if self._headers is None:
            rp = self._ptr()
            pairs = []
            for i in range(_c.response_header_count(rp)):
                n, v = _cstr(), _cstr()
                _check(_c.response_header_at(rp, i, ctypes.byref(n), ctypes.byref(v)))
                pairs.append((_dec(n.value), _dec(v.value)))
            self._headers = Headers(pairs)
        return self._headers

    def header(self, name):
        """One header's value (case-insensitive, as the library answers), or ``None``."""
        return _dec(_c.response_header(self._ptr(), _enc(name, "header name")))

    @property
    def body_path(self):
        """The stored body file (read-only; valid until the records are released)."""
        p = _c.response_body_path(self._ptr())
        return None if p is None else os.fsdecode(p)

    @property
    def complete(self):
        """Whether the whole body is stored."""
        return bool(_c.response_complete(self._ptr()))

    @property
    def body_size(self):
        """Bytes of the body stored so far."""
        return _c.response_body_size(self._ptr())

    def wait(self, timeout=None):
        """Blocks until the body is complete (``Aborted``/``FetchFailed`` if it never will,
        ``Timeout``)."""
        _blocking(lambda ms: _c.response_wait(self._ptr(), ms), timeout)

    def read(self, size=-1, offset=0):
        """Up to ``size`` bytes from ``offset`` (all the rest if ``size`` < 0), blocking until
        they are stored; fewer only at the end of the body."""
        rp = self._ptr()
        if offset < 0:
            raise InvalidArgument("offset must not be negative", 1)
        chunks = []
        want = size
        cap = 1 << 16
        buf = (_u8 * cap)()
        n = _size(0)
        while want != 0:
            ask = cap if want < 0 else min(cap, want)
            _check(_c.response_read(rp, offset, buf, ask, ctypes.byref(n)))
            got = n.value
            if got == 0:
                break
            chunks.append(ctypes.string_at(buf, got))
            offset += got
            if want > 0:
                want -= got
        return b"".join(chunks)

    def read_all(self):
        """The whole body (waits for it)."""
        return self.read(-1, 0)

    def save(self, path):
        """Waits for the complete body, then writes ``path`` atomically (all or nothing)."""
        _check(_c.response_save(self._ptr(), _enc_path(path)))


# ---------------------------------------------------------------------------------------------


@atexit.register
def _close_all_managers():
    for m in list(_open_managers):
        try:
            m.close()
        except Exception:
            pass
