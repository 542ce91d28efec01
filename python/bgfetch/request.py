"""``Request`` and ``Headers``, and the C options of a fetch."""

from __future__ import annotations

import collections.abc
import ctypes
from typing import (TYPE_CHECKING, Iterable, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from . import _bindings as _b
from ._bindings import c
from ._util import check, enc, opt_enc, unsigned
from .errors import Internal, InvalidArgument

if TYPE_CHECKING:
    import ctypes as _ct
    RequestPtr = _ct._Pointer[_b.Request]
    OptionsPtr = _ct._Pointer[_b.Options]

__all__ = ["Headers", "Request", "HeadersLike", "Body", "Icon", "Icons"]

#: What ``Headers(...)`` and ``Request(headers=...)`` accept.
HeadersLike = Union["Headers", Mapping[str, str], Iterable[Tuple[str, str]]]
#: A request body: bytes-like, or ``str`` (sent as UTF-8).
Body = Union[bytes, bytearray, memoryview, str]
#: An icon: its ``src``, a mapping with ``src`` and optional ``sizes``, ``type``, ``label``,
#: or a sequence ``(src, sizes, type, label)`` (trailing ones may be left out).
Icon = Union[str, Mapping[str, Optional[str]], Sequence[Optional[str]]]
#: One icon or several.
Icons = Union[str, Mapping[str, Optional[str]], Iterable[Icon]]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping (``Mapping[str, str]``), in order of arrival.

    ``h["content-type"] == h["Content-Type"]``; repeated names are joined with ", " (as the
    Fetch standard's ``Headers.get``); ``get_all(name)`` lists them; ``items_raw()`` keeps
    every (name, value) pair as received.
    """

    def __init__(self, pairs: Optional[HeadersLike] = ()) -> None:
        items: Iterable[Tuple[str, str]]
        if pairs is None:
            items = ()
        elif isinstance(pairs, Headers):
            items = pairs.items_raw()
        elif isinstance(pairs, collections.abc.Mapping):
            items = pairs.items()
        else:
            items = pairs
        self._pairs: List[Tuple[str, str]] = [(str(n), str(v)) for n, v in items]
        self._names: dict[str, str] = {}
        self._values: dict[str, str] = {}
        for n, v in self._pairs:
            k = n.lower()
            if k in self._values:
                self._values[k] = self._values[k] + ", " + v
            else:
                self._names[k] = n
                self._values[k] = v

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names.values()))

    def __len__(self) -> int:
        return len(self._values)

    def get_all(self, name: str) -> List[str]:
        """Every value of ``name``, in order."""
        k = name.lower()
        return [v for n, v in self._pairs if n.lower() == k]

    def items_raw(self) -> List[Tuple[str, str]]:
        """Every (name, value) pair as received."""
        return list(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, collections.abc.Mapping):
            return {str(k).lower(): v for k, v in other.items()} == self._values
        return NotImplemented

    def __repr__(self) -> str:
        return "Headers(%r)" % (self._pairs,)


class Request:
    """A request for ``Manager.fetch`` and ``match``; also ``Record.request``.

    ``headers``: a mapping or a list of (name, value) pairs; ``body``: bytes-like or str
    (UTF-8); ``integrity``: an SRI string such as ``"sha256-<base64>"``.
    """

    def __init__(self, url: str, method: str = "GET", headers: Optional[HeadersLike] = None,
                 body: Optional[Body] = None, integrity: Optional[str] = None) -> None:
        self.url = url
        self.method = method
        self.headers = Headers(headers or ())
        self.body = body
        self.integrity = integrity

    def __repr__(self) -> str:
        return "Request(%r, method=%r)" % (self.url, self.method)

    @staticmethod
    def _coerce(req: "Union[str, Request]") -> "Request":
        if isinstance(req, Request):
            return req
        if isinstance(req, str):
            return Request(req)
        raise TypeError("a request is a URL string or a bgfetch.Request, not %s"
                        % type(req).__name__)

    def _to_c(self) -> "RequestPtr":
        """A new owned ``bgfetch_request *``; the caller frees it with ``free_request``."""
        out = _b.P(_b.Request)()
        check(c.request_new(enc(self.url, "url"), ctypes.byref(out)))
        try:
            if self.method is not None and self.method != "GET":
                check(c.request_set_method(out, enc(self.method, "method")))
            for name, value in self.headers.items_raw():
                check(c.request_add_header(out, enc(name, "header name"),
                                           enc(value, "header value")))
            if self.body is not None:
                if isinstance(self.body, str):
                    data = self.body.encode("utf-8")
                else:
                    try:
                        data = bytes(memoryview(self.body))
                    except TypeError:
                        raise TypeError("body must be bytes-like or str, not %s"
                                        % type(self.body).__name__) from None
                n = len(data)
                buf = (_b.u8 * n).from_buffer_copy(data) if n else (_b.u8 * 1)()
                check(c.request_set_body(out, buf, n))
            if self.integrity is not None:
                check(c.request_set_integrity(out, enc(self.integrity, "integrity")))
        except BaseException:
            c.request_free(out)
            raise
        return out


def free_request(ptr: "RequestPtr") -> None:
    c.request_free(ptr)


def _icon_fields(icon: Icon) -> Tuple[str, Optional[str], Optional[str], Optional[str]]:
    if isinstance(icon, str):
        return icon, None, None, None
    if isinstance(icon, collections.abc.Mapping):
        if "src" not in icon or icon["src"] is None:
            raise InvalidArgument("an icon needs a 'src'", 1)
        src = icon["src"]
        assert src is not None
        return src, icon.get("sizes"), icon.get("type"), icon.get("label")
    fields = (tuple(icon) + (None, None, None))[:4]
    if fields[0] is None:
        raise InvalidArgument("an icon needs a 'src'", 1)
    return fields[0], fields[1], fields[2], fields[3]


def make_options(title: Optional[str] = None, icons: Optional[Icons] = None,
                 download_total: int = 0, start_paused: bool = False) -> "OptionsPtr":
    """A new owned ``bgfetch_options *``; the caller frees it with ``c.options_free``."""
    opts = c.options_new()
    if not opts:
        raise Internal("bgfetch_options_new returned NULL", 99)
    try:
        if title is not None:
            check(c.options_set_title(opts, enc(title, "title")))
        icon_list: Iterable[Icon]
        if icons is None:
            icon_list = ()
        elif isinstance(icons, (str, collections.abc.Mapping)):
            icon_list = [icons]
        else:
            icon_list = icons
        for icon in icon_list:
            src, sizes, typ, label = _icon_fields(icon)
            check(c.options_add_icon(opts, enc(src, "icon src"), opt_enc(sizes, "icon sizes"),
                                     opt_enc(typ, "icon type"), opt_enc(label, "icon label")))
        if download_total:
            check(c.options_set_download_total(opts, unsigned(download_total, "download_total")))
        if start_paused:
            check(c.options_set_start_paused(opts, True))
    except BaseException:
        c.options_free(opts)
        raise
    return opts  # type: ignore[no-any-return]


def query_flags(ignore_search: bool, ignore_method: bool, ignore_vary: bool) -> int:
    return ((_b.QUERY_IGNORE_SEARCH if ignore_search else 0)
            | (_b.QUERY_IGNORE_METHOD if ignore_method else 0)
            | (_b.QUERY_IGNORE_VARY if ignore_vary else 0))
