"""The ctypes declarations of ``include/bgfetch.h``: every function with its exact signature.

``DECLARATIONS`` is checked against the header by the test suite
(``ffi-tests/python/test_header.py`` parses the header's prototypes and compares each
function's return and argument types, and that every header function is declared here), so a
change of the C ABI that is not made here too fails the tests.

``c.<name>`` is ``bgfetch_<name>`` with ``argtypes``/``restype`` set. A symbol the loaded
library lacks becomes a stand-in that raises ``Internal`` when called (not at import).
"""

from __future__ import annotations

import ctypes
from typing import Any, Dict, List, Optional, Tuple, Type, Union

from . import _lib
from .errors import Internal


class _Opaque(ctypes.Structure):
    _fields_ = []


# The opaque C types, one Python class each (so a pointer of one kind is not accepted where
# the C ABI wants another).
class Config(_Opaque):
    """``bgfetch_config``"""


class Manager(_Opaque):
    """``bgfetch_manager``"""


class Request(_Opaque):
    """``bgfetch_request``"""


class Options(_Opaque):
    """``bgfetch_options``"""


class Registration(_Opaque):
    """``bgfetch_registration``"""


class Strings(_Opaque):
    """``bgfetch_strings``"""


class Icons(_Opaque):
    """``bgfetch_icons``"""


class Record(_Opaque):
    """``bgfetch_record``"""


class Records(_Opaque):
    """``bgfetch_records``"""


class Response(_Opaque):
    """``bgfetch_response``"""


#: The C name of each opaque type.
OPAQUE: Dict[str, Type[_Opaque]] = {
    "bgfetch_config": Config, "bgfetch_manager": Manager, "bgfetch_request": Request,
    "bgfetch_options": Options, "bgfetch_registration": Registration,
    "bgfetch_strings": Strings, "bgfetch_icons": Icons, "bgfetch_record": Record,
    "bgfetch_records": Records, "bgfetch_response": Response,
}

P = ctypes.POINTER
status = ctypes.c_uint32          # bgfetch_status
u8, u16, u32, u64, i64 = (ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64,
                          ctypes.c_int64)
size, c_bool, c_int, cstr, vp = (ctypes.c_size_t, ctypes.c_bool, ctypes.c_int,
                                 ctypes.c_char_p, ctypes.c_void_p)
# Owned strings (``char *`` results freed with bgfetch_string_free) are ``c_void_p``, so that
# ctypes does not convert them to bytes and lose the pointer.
owned_str = ctypes.c_void_p

#: The callback types, by their C typedef names.
EVENT_CB = ctypes.CFUNCTYPE(None, vp, u32, P(Registration))
PROGRESS_CB = ctypes.CFUNCTYPE(None, vp, P(Registration))
FREE_CB = ctypes.CFUNCTYPE(None, vp)
CALLBACKS: Dict[str, Any] = {
    "bgfetch_event_callback": EVENT_CB,
    "bgfetch_progress_callback": PROGRESS_CB,
    "bgfetch_free_callback": FREE_CB,
}

CType = Any   # a ctypes type (ctypes has no common public base class for them all)

#: (C function name, return type or None for void, argument types), in the header's order.
DECLARATIONS: List[Tuple[str, Optional[CType], Tuple[CType, ...]]] = [
    # config
    ("bgfetch_config_new", P(Config), (cstr,)),
    ("bgfetch_config_free", None, (P(Config),)),
    ("bgfetch_config_set_base_url", status, (P(Config), cstr)),
    ("bgfetch_config_set_max_connections", status, (P(Config), u32)),
    ("bgfetch_config_set_max_connections_per_fetch", status, (P(Config), u32)),
    ("bgfetch_config_set_max_segments", status, (P(Config), u32)),
    ("bgfetch_config_set_quota", status, (P(Config), u64)),
    ("bgfetch_config_set_user_agent", status, (P(Config), cstr)),
    ("bgfetch_config_set_timeouts", status, (P(Config), u32, u32)),
    ("bgfetch_config_set_retries", status, (P(Config), u32, u32)),
    ("bgfetch_config_set_max_backoff", status, (P(Config), u32)),
    ("bgfetch_config_set_no_progress_timeout", status, (P(Config), u64)),
    ("bgfetch_config_set_fail_after_attempts", status, (P(Config), c_bool)),
    ("bgfetch_config_set_retry_statuses", status, (P(Config), c_bool)),
    ("bgfetch_config_set_proxy", status, (P(Config), cstr)),
    ("bgfetch_config_set_max_download_rate", status, (P(Config), u64)),
    ("bgfetch_config_set_progress_interval", status, (P(Config), u32)),
    ("bgfetch_config_set_ca_file", status, (P(Config), cstr)),
    ("bgfetch_config_set_dispatch", status, (P(Config), u32)),
    ("bgfetch_config_set_allow_https_to_http", status, (P(Config), c_bool)),
    # icons
    ("bgfetch_icons_len", size, (P(Icons),)),
    ("bgfetch_icons_get", status, (P(Icons), size, P(cstr), P(cstr), P(cstr), P(cstr))),
    ("bgfetch_icons_free", None, (P(Icons),)),
    # manager
    ("bgfetch_manager_open", status, (P(Config), P(P(Manager)))),
    ("bgfetch_manager_close", None, (P(Manager),)),
    ("bgfetch_manager_event_fd", c_int, (P(Manager),)),
    ("bgfetch_manager_dispatch", status, (P(Manager), i64, P(u32))),
    ("bgfetch_manager_set_event_callback", status, (P(Manager), EVENT_CB, vp, FREE_CB)),
    # fetch / get / getIds
    ("bgfetch_fetch", status, (P(Manager), cstr, P(P(Request)), size, P(Options),
                               P(P(Registration)))),
    ("bgfetch_fetch_urls", status, (P(Manager), cstr, P(cstr), size, P(Options),
                                    P(P(Registration)))),
    ("bgfetch_get", status, (P(Manager), cstr, P(P(Registration)))),
    ("bgfetch_get_ids", status, (P(Manager), P(P(Strings)))),
    ("bgfetch_manager_problem_count", size, (P(Manager),)),
    ("bgfetch_manager_problem", owned_str, (P(Manager), size)),
    ("bgfetch_manager_used_bytes", u64, (P(Manager),)),
    ("bgfetch_manager_set_offline", status, (P(Manager), c_bool)),
    ("bgfetch_manager_offline", c_bool, (P(Manager),)),
    ("bgfetch_manager_set_max_download_rate", status, (P(Manager), u64)),
    # options
    ("bgfetch_options_new", P(Options), ()),
    ("bgfetch_options_set_title", status, (P(Options), cstr)),
    ("bgfetch_options_add_icon", status, (P(Options), cstr, cstr, cstr, cstr)),
    ("bgfetch_options_set_download_total", status, (P(Options), u64)),
    ("bgfetch_options_set_start_paused", status, (P(Options), c_bool)),
    ("bgfetch_options_free", None, (P(Options),)),
    # records
    ("bgfetch_records_len", size, (P(Records),)),
    ("bgfetch_records_get", P(Record), (P(Records), size)),
    ("bgfetch_records_free", None, (P(Records),)),
    ("bgfetch_record_url", cstr, (P(Record),)),
    ("bgfetch_record_method", cstr, (P(Record),)),
    ("bgfetch_record_header_count", size, (P(Record),)),
    ("bgfetch_record_header_at", status, (P(Record), size, P(cstr), P(cstr))),
    ("bgfetch_record_body_size", u64, (P(Record),)),
    ("bgfetch_record_read_body", status, (P(Record), u64, P(u8), size, P(size))),
    ("bgfetch_record_response", status, (P(Record), i64, P(P(Response)))),
    ("bgfetch_record_free", None, (P(Record),)),
    ("bgfetch_record_state", u32, (P(Record),)),
    ("bgfetch_record_attempts", u32, (P(Record),)),
    ("bgfetch_record_retry_in_ms", i64, (P(Record),)),
    ("bgfetch_record_last_error", size, (P(Record), vp, size)),
    # registration
    ("bgfetch_registration_id", cstr, (P(Registration),)),
    ("bgfetch_registration_upload_total", u64, (P(Registration),)),
    ("bgfetch_registration_uploaded", u64, (P(Registration),)),
    ("bgfetch_registration_download_total", u64, (P(Registration),)),
    ("bgfetch_registration_downloaded", u64, (P(Registration),)),
    ("bgfetch_registration_result", u32, (P(Registration),)),
    ("bgfetch_registration_failure_reason", u32, (P(Registration),)),
    ("bgfetch_registration_records_available", c_bool, (P(Registration),)),
    ("bgfetch_registration_state", u32, (P(Registration),)),
    ("bgfetch_registration_last_error", size, (P(Registration), vp, size)),
    ("bgfetch_registration_expected_total", u64, (P(Registration), P(c_bool))),
    ("bgfetch_registration_title", owned_str, (P(Registration),)),
    ("bgfetch_registration_icons", status, (P(Registration), P(P(Icons)))),
    ("bgfetch_registration_update_ui", status, (P(Registration), P(Options))),
    ("bgfetch_registration_abort", status, (P(Registration), P(c_bool))),
    ("bgfetch_registration_wait", status, (P(Registration), i64)),
    ("bgfetch_registration_set_progress_callback", status,
     (P(Registration), PROGRESS_CB, vp, FREE_CB)),
    ("bgfetch_registration_pause", status, (P(Registration),)),
    ("bgfetch_registration_resume", status, (P(Registration),)),
    ("bgfetch_registration_paused", c_bool, (P(Registration),)),
    ("bgfetch_registration_release", status, (P(Registration),)),
    ("bgfetch_registration_free", None, (P(Registration),)),
    ("bgfetch_registration_match", status, (P(Registration), P(Request), u32, P(P(Record)))),
    ("bgfetch_registration_match_url", status, (P(Registration), cstr, u32, P(P(Record)))),
    ("bgfetch_registration_match_all", status,
     (P(Registration), P(Request), u32, P(P(Records)))),
    # requests
    ("bgfetch_request_new", status, (cstr, P(P(Request)))),
    ("bgfetch_request_set_method", status, (P(Request), cstr)),
    ("bgfetch_request_add_header", status, (P(Request), cstr, cstr)),
    ("bgfetch_request_set_body", status, (P(Request), P(u8), size)),
    ("bgfetch_request_set_integrity", status, (P(Request), cstr)),
    ("bgfetch_request_free", None, (P(Request),)),
    # responses
    ("bgfetch_response_status", u16, (P(Response),)),
    ("bgfetch_response_ok", c_bool, (P(Response),)),
    ("bgfetch_response_url", cstr, (P(Response),)),
    ("bgfetch_response_header", cstr, (P(Response), cstr)),
    ("bgfetch_response_header_count", size, (P(Response),)),
    ("bgfetch_response_header_at", status, (P(Response), size, P(cstr), P(cstr))),
    ("bgfetch_response_complete", c_bool, (P(Response),)),
    ("bgfetch_response_wait", status, (P(Response), i64)),
    ("bgfetch_response_body_size", u64, (P(Response),)),
    ("bgfetch_response_body_path", cstr, (P(Response),)),
    ("bgfetch_response_read", status, (P(Response), u64, P(u8), size, i64, P(size))),
    ("bgfetch_response_save", status, (P(Response), cstr, i64)),
    ("bgfetch_response_free", None, (P(Response),)),
    # status, strings, version
    ("bgfetch_status_name", cstr, (status,)),
    ("bgfetch_last_error", cstr, ()),
    ("bgfetch_version", cstr, ()),
    ("bgfetch_result_str", cstr, (u32,)),
    ("bgfetch_failure_reason_str", cstr, (u32,)),
    ("bgfetch_state_str", cstr, (u32,)),
    ("bgfetch_string_free", None, (vp,)),
    ("bgfetch_strings_len", size, (P(Strings),)),
    ("bgfetch_strings_get", cstr, (P(Strings), size)),
    ("bgfetch_strings_free", None, (P(Strings),)),
]

# Enumerations (uint32_t in C).
DISPATCH = {"thread": 0, "manual": 1}
EVENT_KINDS = {1: "success", 2: "fail", 3: "abort"}
QUERY_IGNORE_SEARCH = 1
QUERY_IGNORE_METHOD = 2
QUERY_IGNORE_VARY = 4
RESULT_NONE = 0


class _Missing:
    """Stands in for a symbol the loaded library lacks: fails when called, not at import."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: object) -> Any:
        raise Internal("the loaded libbgfetch has no function %s" % self.name, 99)


class _Functions:
    """``c.<name>``: the C function ``bgfetch_<name>``, declared."""

    def __getattr__(self, name: str) -> Any:   # only reached for an undeclared name
        raise AttributeError("bgfetch_%s is not declared in bgfetch._bindings" % name)


def _declare(lib: ctypes.CDLL) -> _Functions:
    funcs = _Functions()
    for name, restype, argtypes in DECLARATIONS:
        f: Union[_Missing, Any]
        try:
            f = getattr(lib, name)
        except AttributeError:
            f = _Missing(name)
        else:
            f.restype = restype
            f.argtypes = list(argtypes)
        setattr(funcs, name[len("bgfetch_"):], f)
    return funcs


c: Any = _declare(_lib.lib)
