"""The exceptions: one ``Error`` subclass per failure status of the C ABI.

Each also subclasses the built-in exception a Python programmer would reach for, so that
``except ValueError`` or ``except TimeoutError`` works as it does with the standard library:

==================  ======  ==============================  ===========================
class               status  C name                          also a
==================  ======  ==============================  ===========================
``InvalidArgument`` 1       ``BGFETCH_E_INVALID_ARGUMENT``  ``ValueError``
``DuplicateId``     2       ``BGFETCH_E_DUPLICATE_ID``      ``ValueError`` (see below)
``QuotaExceeded``   3       ``BGFETCH_E_QUOTA_EXCEEDED``    ``OSError``
``InvalidState``    4       ``BGFETCH_E_INVALID_STATE``     ``RuntimeError``
``Aborted``         5       ``BGFETCH_E_ABORTED``           (``Error`` only)
``FetchFailed``     6       ``BGFETCH_E_FETCH_FAILED``      ``ConnectionError`` (``OSError``)
``Timeout``         7       ``BGFETCH_E_TIMEOUT``           ``TimeoutError`` (``OSError``)
``StoreError``      8       ``BGFETCH_E_IO``                ``OSError``
``Closed``          9       ``BGFETCH_E_CLOSED``            ``RuntimeError``
``Busy``            10      ``BGFETCH_E_BUSY``              ``OSError``
``Internal``        99      ``BGFETCH_E_INTERNAL``          ``RuntimeError``
==================  ======  ==============================  ===========================

Every class is named after its C status, but one: ``StoreError`` is ``BGFETCH_E_IO`` (status
8, the store could not be read or written). It is named after what failed, and a
``bgfetch.IOError`` would shadow Python's built-in ``IOError`` (an alias of ``OSError``,
which ``StoreError`` subclasses) after ``from bgfetch import *``.

``DuplicateId`` is a ``ValueError`` as the web makes it a ``TypeError`` of the id argument;
``Manager.fetch(..., exist_ok=True)`` avoids it. ``str(e)`` is the library's message
(``bgfetch_last_error()``); ``e.status`` is the numeric code. The ``OSError`` subclasses
leave ``errno`` and ``filename`` as ``None``. Arguments of the wrong Python type raise
``TypeError`` before the library is called.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "Error", "InvalidArgument", "DuplicateId", "QuotaExceeded", "InvalidState", "Aborted",
    "FetchFailed", "Timeout", "StoreError", "Closed", "Busy", "Internal",
]


class Error(Exception):
    """A libbgfetch failure. ``str(e)`` is the library's message; ``e.status`` the code."""

    status: Optional[int] = None

    def __init__(self, message: str = "", status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message


class InvalidArgument(Error, ValueError):
    """BGFETCH_E_INVALID_ARGUMENT: the web's TypeError (bad id, URL, header, empty list...)."""

    status = 1


class DuplicateId(Error, ValueError):
    """BGFETCH_E_DUPLICATE_ID: a fetch with this id exists and was not released."""

    status = 2


class QuotaExceeded(Error, OSError):
    """BGFETCH_E_QUOTA_EXCEEDED: the web's QuotaExceededError."""

    status = 3


class InvalidState(Error, RuntimeError):
    """BGFETCH_E_INVALID_STATE: the web's InvalidStateError (records no longer available...)."""

    status = 4


class Aborted(Error):
    """BGFETCH_E_ABORTED: the web's AbortError (responseReady after abort)."""

    status = 5


class FetchFailed(Error, ConnectionError):
    """BGFETCH_E_FETCH_FAILED: the request failed, or was never made because the fetch failed."""

    status = 6


class Timeout(Error, TimeoutError):
    """BGFETCH_E_TIMEOUT: a wait ran out of time."""

    status = 7


class StoreError(Error, OSError):
    """BGFETCH_E_IO (status 8): the store could not be read or written. The one class not
    named after its C status: ``bgfetch.IOError`` would shadow the built-in ``IOError``."""

    status = 8


class Closed(Error, RuntimeError):
    """BGFETCH_E_CLOSED: the manager (or this Python object) was closed."""

    status = 9


class Busy(Error, OSError):
    """BGFETCH_E_BUSY: another manager or process holds this store."""

    status = 10


class Internal(Error, RuntimeError):
    """BGFETCH_E_INTERNAL: a bug caught at the library boundary. Once a thread of a manager
    died of one, its running fetches fail and every call that reaches it raises this (on the
    manager, its registrations, records and responses, waits included; properties keep their
    last values): close the manager and open the store again."""

    status = 99


BY_STATUS: Dict[int, Type[Error]] = {
    cls.status: cls for cls in (InvalidArgument, DuplicateId, QuotaExceeded, InvalidState,
                                Aborted, FetchFailed, Timeout, StoreError, Closed, Busy,
                                Internal)
    if cls.status is not None
}
