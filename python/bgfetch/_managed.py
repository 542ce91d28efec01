"""``Managed``: the base of every object that owns a C handle."""

from __future__ import annotations

import inspect
import threading
from types import TracebackType
from typing import Any, Generic, Optional, Type, TypeVar

from ._cbtable import raise_pending
from .errors import Closed

_swap_lock = threading.Lock()   # makes taking a pointer out for close() atomic

#: The ``__signature__`` of the classes whose objects only the package creates
#: (``Registration``, ``Record``, ``Response``): no parameters, so that ``help()`` shows no
#: constructor (their ``__init__`` raises ``TypeError``) rather than a private factory's.
NOT_CONSTRUCTED = inspect.Signature()

PtrT = TypeVar("PtrT")
SelfT = TypeVar("SelfT", bound="Managed[Any]")


class Managed(Generic[PtrT]):
    """Base of every object owning a C handle: idempotent ``close()``, ``with``, ``__del__``."""

    _ptr_value: Optional[PtrT] = None
    _what = "object"

    def _set_ptr(self, ptr: PtrT) -> None:
        self._ptr_value = ptr

    def _delete(self, ptr: PtrT) -> None:
        raise NotImplementedError

    def _ptr_or_none(self) -> Optional[PtrT]:
        return self._ptr_value

    def _ptr(self) -> PtrT:
        """The live pointer; re-raises pending callback exceptions first."""
        raise_pending()
        ptr = self._ptr_value
        if ptr is None:
            raise Closed("this %s was closed" % self._what, Closed.status)
        return ptr

    def close(self) -> None:
        """Frees the handle. Idempotent; later use raises ``Closed``."""
        with _swap_lock:
            ptr, self._ptr_value = self._ptr_value, None
        if ptr is not None:
            self._delete(ptr)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (or the object was closed with its owner)."""
        return self._ptr_value is None

    def __enter__(self: SelfT) -> SelfT:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
