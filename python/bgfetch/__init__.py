"""Python binding for libbgfetch, the web's Background Fetch API as a native library.

Pure ``ctypes`` over the C ABI (``include/bgfetch.h``), standard library only, typed
(``py.typed``)::

    import bgfetch
    with bgfetch.Manager("store", base_url="http://127.0.0.1:8000/") as m:
        reg = m.fetch("my-fetch", ["/ep-5.mp3", "ep-5-artwork.jpg"],
                      title="Episode 5: Interesting things.",
                      icons=[{"src": "/ep-5-icon.png", "sizes": "300x300", "type": "image/png"}],
                      download_total=60 * 1024 * 1024, exist_ok=True)
        reg.on_progress(lambda r: print(r.downloaded, "/", r.expected_total, r.state))
        reg.wait()                              # returns for a failed fetch too
        reg.raise_for_result()                  # FetchFailed if it failed
        rec = reg.match("/ep-5.mp3")            # None if no match
        res = rec.response_ready(timeout=5.0)   # Response: status, ok, url, headers, read(),
        res.save("ep-5.mp3")                    #   text(), json(), open(), save()
        reg.release()

Installing
    ``pip install ./python`` builds the library with cargo and bundles it in the package.
    How ``import bgfetch`` finds a library otherwise (``BGFETCH_LIB``, the soname
    ``libbgfetch.so.0.3``, a source checkout's ``target/``): see ``bgfetch._lib``;
    ``library_path()`` says which file was loaded. The library's version must have this
    package's MAJOR.MINOR (checked at import).

Objects and handles
    Every object that wraps a C handle (``Manager``, ``Registration``, ``Record``,
    ``Response``) owns it and frees it in ``close()`` (idempotent), at the end of a ``with``
    block, or when garbage collected. Using an object after ``close()`` raises ``Closed``.
    A ``Registration`` keeps its ``Manager`` alive, a ``Record`` its ``Registration``, a
    ``Response`` its ``Record`` (alive, not open: ``Manager.close()`` still closes the manager;
    registrations then keep their last values and calls that need the manager raise
    ``Closed``). Open managers are closed at interpreter exit (``atexit``), so that no
    library thread calls into a finalizing interpreter.

Durations
    Every duration is in seconds (``int`` or ``float``): the waits' ``timeout`` (``None``
    waits forever, ``0`` or less polls; rounded up to whole milliseconds), and the
    ``Manager`` settings ``timeouts=(connect, read)``, ``retries=(attempts, backoff)``,
    ``max_backoff``, ``no_progress_timeout`` and ``progress_interval`` (rounded to whole
    milliseconds). Every wait is done in short slices (a finite one too) so that Ctrl-C raises
    ``KeyboardInterrupt`` at once and callback exceptions surface promptly; the blocking calls
    are ``wait``, ``response_ready``, ``Response.wait``, ``read``, ``read_all``, ``text``,
    ``json``, ``save``, the reads of ``open(timeout=...)`` and ``Manager.dispatch``.

Callbacks
    ``Manager.on_event(fn(kind, reg))`` and ``Registration.on_progress(fn(reg))``. With
    ``dispatch="thread"`` (the default) they run on the manager's event thread; with
    ``dispatch="manual"`` only inside ``Manager.dispatch()``, on the thread that calls it (wait
    for ``Manager.event_fd()`` to become readable, e.g. with ``select``), or on an asyncio
    loop (``Manager.attach_loop``). A callback may call any method of this package, including
    on the registration it was given, except ``Manager.dispatch()`` (``InvalidState``).
    ``Manager.close()`` of its own manager, which the library forbids inside a callback, is
    deferred: to a helper thread (``"thread"``) or to the end of the running dispatch
    (``"manual"``); garbage collection that drops a manager's last reference inside its
    callback is deferred the same way.

    The C side only ever holds module-level ``CFUNCTYPE`` trampolines (never freed) and an
    integer key as ``userdata``; the Python callable lives in a table under that key. The
    library's userdata finalizer removes the entry, exactly once, when it lets go of the
    callback: replaced or cleared, its handle freed (a progress callback belongs to the
    ``Registration`` object that set it and ends with it), or its manager closed. So a
    callback can never outlive its function pointer. (The table holds the callable: a
    callback that refers to its manager keeps that manager open until ``close()``, or until
    interpreter exit.)

    The ``reg`` an event callback receives is a new ``Registration`` with a handle of its own
    (``bgfetch_get`` of the borrowed handle's id), so it may be kept after the callback
    returns. The ``reg`` a progress callback receives is the ``Registration`` whose
    ``on_progress`` set it, if that object is still open; otherwise a wrapper of the borrowed
    handle, closed (``Closed`` on use) when the callback returns.

Exceptions raised inside a callback
    are never lost. They are (1) logged at once on the ``"bgfetch"`` logger (level ERROR, with
    the traceback), and (2) stored for the thread that registered the callback, and re-raised
    there by its next call into the library (any method or property that reaches the C
    library, before that call is made; and at the end of the blocking calls ``wait``,
    ``response_ready``, ``Response.wait``, ``Manager.dispatch`` and their ``*_async`` forms).
    Only the first exception is kept until it is re-raised; later ones of the same thread are
    dropped meanwhile (they were logged). ``close()`` never raises them, and closing a
    manager drops those of its callbacks not re-raised yet.

What a fetch waits for
    ``Registration.state`` and ``Record.state`` (``"queued"``, ``"active"``, ``"retry-wait"``,
    ``"offline"``, ``"paused"``, ``"done"``, ``"failed"``), ``Record.attempts``,
    ``Record.retry_in``, ``Record.last_error``, ``Registration.last_error`` and
    ``Registration.expected_total`` (the body bytes the response heads announce, ``None``
    until every length is known) are read live. The progress callback also fires when a
    record's state changes, and once as soon as it is set.

Errors
    A fetch that fails is a result, not an exception: ``wait()`` returns, ``result`` is
    ``"failure"``; ``raise_for_result()`` raises ``FetchFailed`` for those who want one.
    Every failure status of a call becomes an ``Error`` subclass named after it, which also subclasses
    the matching built-in exception (``InvalidArgument`` is a ``ValueError``, ``Timeout`` a
    ``TimeoutError``, ``StoreError``/``Busy`` are ``OSError``s...: the table is in
    ``bgfetch.errors``). ``StoreError`` is C's ``BGFETCH_E_IO`` (status 8), the one name that
    differs (``IOError`` is a built-in name). ``str(e)`` is the library's message (``bgfetch_last_error()``);
    ``e.status`` the numeric code.

asyncio
    ``await reg.wait_async()``, ``await rec.response_ready_async()``, ``await
    res.wait_async()`` and ``async for reg in reg.progress_async()`` wait on the running loop
    without polling and without a thread per wait. They work with both dispatch modes; with
    ``dispatch="manual"`` (recommended) the loop runs every callback of the manager on its own
    thread, through ``loop.add_reader(event_fd)``. The design, and the one limit of
    ``response_ready_async``, are described in ``bgfetch._aio``.
    ``python/examples/async_fetch.py`` shows them.

Threads
    Every object may be used from any thread; only closing an object while another thread
    uses it is not allowed (as in C). Blocking calls release the GIL.
"""


from . import _lib
from ._bindings import QUERY_IGNORE_METHOD, QUERY_IGNORE_SEARCH, QUERY_IGNORE_VARY
from ._cbtable import callbacks as _callbacks  # noqa: F401 - the tests look at it
from ._managed import Managed
from ._util import status_name, version
from ._version import __version__
from .errors import (Aborted, Busy, Closed, DuplicateId, Error, FetchFailed, Internal,
                     InvalidArgument, InvalidState, QuotaExceeded, StoreError, Timeout)
from .manager import Manager
from .records import Record, Response
from .registration import EventCallback, ProgressCallback, Registration
from .request import Headers, Request


def library_path() -> str:
    """The file of the libbgfetch this package loaded."""
    return _lib.path


__all__ = [
    "Manager", "Registration", "Record", "Response", "Request", "Headers", "Managed",
    "Error", "InvalidArgument", "DuplicateId", "QuotaExceeded", "InvalidState", "Aborted",
    "FetchFailed", "Timeout", "StoreError", "Closed", "Busy", "Internal",
    "version", "status_name", "library_path", "__version__",
    "QUERY_IGNORE_SEARCH", "QUERY_IGNORE_METHOD", "QUERY_IGNORE_VARY",
    "EventCallback", "ProgressCallback",
]
