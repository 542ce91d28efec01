/*
 * bgfetch.hpp - a header-only C++17 interface to libbgfetch, over the C ABI of bgfetch.h.
 *
 * Written by hand (bgfetch.h is generated; this file is not). Link the program with libbgfetch
 * as for C; nothing of this header is compiled into the library.
 *
 * Conventions:
 *  - One move-only RAII class per C handle type: config, manager, request, options,
 *    registration, record, records, response, icons, strings. Each frees its handle with the
 *    matching bgfetch_*_free (bgfetch_manager_close for the manager) in its destructor.
 *    A moved-from object is empty: it may be destroyed or assigned to; calls on it throw
 *    bgfetch::error (BGFETCH_E_INVALID_ARGUMENT) or return zero values, as the C calls with
 *    NULL do. native_handle() gives the C pointer (still owned by the object),
 *    release_handle() gives up ownership, and the explicit constructor from a C pointer
 *    adopts one.
 *  - registration_ref and record_ref are copyable, non-owning views of a handle the library
 *    lends for a while (the registration passed to a callback; a record of a records list).
 *  - Every C call that returns a status other than BGFETCH_OK throws bgfetch::error, which
 *    carries that status and bgfetch_last_error()'s message. The only calls that report a
 *    status as a value are the wait_for() variants, which return false on BGFETCH_E_TIMEOUT.
 *  - Strings in are std::string (copied by the library; an embedded NUL is refused with
 *    BGFETCH_E_INVALID_ARGUMENT). Strings out are std::string_view when the C ABI lends them
 *    (valid as long as the object they came from, as documented on each function; static for
 *    the name functions) and std::string when the C ABI hands out an owned `char *` (freed
 *    here with bgfetch_string_free before the function returns).
 *  - Timeouts and intervals are std::chrono::milliseconds (the C ABI counts milliseconds;
 *    seconds and minutes convert implicitly). Waits without a duration wait forever; a
 *    zero or negative duration polls.
 *  - Callbacks are std::function objects. The library owns the heap copy it is given and
 *    destroys it exactly once, through the C ABI's free_userdata finalizer, when it lets the
 *    callback go: when it is replaced or cleared, when the object it was set on is destroyed
 *    (registration handle; manager), or at once if the setter fails. An exception that
 *    escapes a callback calls std::terminate() (it cannot cross the C library).
 *  - Thread safety is that of the C ABI: every call may be made from any thread, but an object
 *    must not be destroyed (or moved from, or assigned to) while another thread uses it.
 */
#ifndef BGFETCH_HPP
#define BGFETCH_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgfetch.h"

/** The C++ interface of libbgfetch. */
namespace bgfetch {

// ------------------------------------------------------------------------------------------
// Codes

/** The status of a C call (`BGFETCH_OK`, `BGFETCH_E_*`); non-OK statuses are thrown as
    bgfetch::error. */
enum class status : bgfetch_status {
    ok = BGFETCH_OK,                              ///< Success.
    invalid_argument = BGFETCH_E_INVALID_ARGUMENT, ///< A bad argument (the web's TypeError).
    duplicate_id = BGFETCH_E_DUPLICATE_ID,        ///< An unreleased fetch already has this id.
    quota_exceeded = BGFETCH_E_QUOTA_EXCEEDED,    ///< The store's quota would be exceeded.
    invalid_state = BGFETCH_E_INVALID_STATE,      ///< Records released, or the wrong state.
    aborted = BGFETCH_E_ABORTED,                  ///< The fetch was aborted first.
    fetch_failed = BGFETCH_E_FETCH_FAILED,        ///< The request failed or was never made.
    timeout = BGFETCH_E_TIMEOUT,                  ///< A wait ran out of time.
    io = BGFETCH_E_IO,                            ///< The store could not be read or written.
    closed = BGFETCH_E_CLOSED,                    ///< The manager was closed.
    busy = BGFETCH_E_BUSY,                        ///< Another manager holds this store.
    internal = BGFETCH_E_INTERNAL,                ///< A bug; also every call that reaches a manager once one of its threads died.
};

/** A fetch's result (the web's `result`). */
enum class result : bgfetch_result {
    none = BGFETCH_RESULT_NONE,       ///< Still running (`""`).
    success = BGFETCH_RESULT_SUCCESS, ///< `"success"`.
    failure = BGFETCH_RESULT_FAILURE, ///< `"failure"`.
};

/** Why a fetch failed (the web's `failureReason`). */
enum class failure_reason : bgfetch_failure_reason {
    none = BGFETCH_FAILURE_NONE,                   ///< No failure (`""`).
    aborted = BGFETCH_FAILURE_ABORTED,             ///< `"aborted"`.
    bad_status = BGFETCH_FAILURE_BAD_STATUS,       ///< `"bad-status"`.
    fetch_error = BGFETCH_FAILURE_FETCH_ERROR,     ///< `"fetch-error"`.
    quota_exceeded = BGFETCH_FAILURE_QUOTA_EXCEEDED, ///< `"quota-exceeded"`.
    /** `"download-total-exceeded"`. */
    download_total_exceeded = BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED,
};

/** What a record (or a fetch) is doing, or waiting for (0.3). */
enum class record_state : bgfetch_state {
    queued = BGFETCH_RECORD_QUEUED,         ///< `"queued"`: waiting for a connection slot.
    active = BGFETCH_RECORD_ACTIVE,         ///< `"active"`: connecting, sending or receiving.
    retry_wait = BGFETCH_RECORD_RETRY_WAIT, ///< `"retry-wait"`: the next attempt after retry_in().
    offline = BGFETCH_RECORD_OFFLINE,       ///< `"offline"`: the host said offline.
    paused = BGFETCH_RECORD_PAUSED,         ///< `"paused"`: its fetch is paused.
    done = BGFETCH_RECORD_DONE,             ///< `"done"`: its response is complete.
    failed = BGFETCH_RECORD_FAILED,         ///< `"failed"`: it will never have a complete one.
};

/** The completion event of a settled fetch. */
enum class event_type : bgfetch_event_type {
    success = BGFETCH_EVENT_SUCCESS, ///< `backgroundfetchsuccess`.
    fail = BGFETCH_EVENT_FAIL,       ///< `backgroundfetchfail`.
    abort = BGFETCH_EVENT_ABORT,     ///< `backgroundfetchabort`.
};

/** Where callbacks run (config::set_dispatch). */
enum class dispatch_mode : bgfetch_dispatch {
    thread = BGFETCH_DISPATCH_THREAD, ///< On the manager's event thread (the default).
    manual = BGFETCH_DISPATCH_MANUAL, ///< Only inside manager::dispatch(), on its caller's thread.
};

/** Query flags of match() and match_all(); combine with `|`. */
enum class query : std::uint32_t {
    none = 0,                                   ///< Compare URL, method and Vary headers.
    ignore_search = BGFETCH_QUERY_IGNORE_SEARCH, ///< Ignore the query strings (`ignoreSearch`).
    ignore_method = BGFETCH_QUERY_IGNORE_METHOD, ///< Match any method (`ignoreMethod`).
    ignore_vary = BGFETCH_QUERY_IGNORE_VARY,     ///< Ignore the `Vary` headers (`ignoreVary`).
};

/** Both sets of query flags. */
constexpr query operator|(query a, query b) noexcept {
    return static_cast<query>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}

/** The flags set in both. */
constexpr query operator&(query a, query b) noexcept {
    return static_cast<query>(static_cast<std::uint32_t>(a) & static_cast<std::uint32_t>(b));
}

/** The name of a status, e.g. `"BGFETCH_E_TIMEOUT"` (static). */
inline std::string_view to_string(status s) noexcept {
    return bgfetch_status_name(static_cast<bgfetch_status>(s));
}

/** The web's string for a result: `""`, `"success"`, `"failure"` (static). */
inline std::string_view to_string(result r) noexcept {
    return bgfetch_result_str(static_cast<bgfetch_result>(r));
}

/** The web's string for a failure reason, e.g. `"bad-status"` (static). */
inline std::string_view to_string(failure_reason f) noexcept {
    return bgfetch_failure_reason_str(static_cast<bgfetch_failure_reason>(f));
}

/** The name of a record state, e.g. `"retry-wait"` (static). */
inline std::string_view to_string(record_state s) noexcept {
    return bgfetch_state_str(static_cast<bgfetch_state>(s));
}

/** The library's version, `"MAJOR.MINOR.PATCH"` (static); compare with BGFETCH_VERSION_*. */
inline std::string_view version() noexcept { return bgfetch_version(); }

// ------------------------------------------------------------------------------------------
// Errors

/**
 * The exception every failing call throws: a std::runtime_error whose what() is
 * `"<status name>: <message>"`, carrying the C status and bgfetch_last_error()'s message of
 * the failed call. Thread safety: an ordinary immutable exception object.
 */
class error : public std::runtime_error {
public:
    /** An error with status `code` and `message`. */
    error(bgfetch::status code, const std::string &message)
        : std::runtime_error(std::string(to_string(code)) + ": " + message),
          code_(code),
          prefix_(to_string(code).size() + 2) {}

    /** The status the C call returned. */
    bgfetch::status code() const noexcept { return code_; }

    /** The library's message (bgfetch_last_error() right after the failed call). */
    std::string_view message() const noexcept {
        std::string_view all(what());
        return prefix_ <= all.size() ? all.substr(prefix_) : all;
    }

private:
    bgfetch::status code_;
    std::size_t prefix_;
};

/** Implementation details; not part of the interface. */
namespace detail {

/** Throws bgfetch::error for a non-OK status, with this thread's last error message. */
inline void check(bgfetch_status s) {
    if (s != BGFETCH_OK) {
        std::string message(bgfetch_last_error()); // copied before any other bgfetch_ call
        throw error(static_cast<bgfetch::status>(s), message);
    }
}

/** Throws bgfetch::error(invalid_argument) with `what` (a check made on the C++ side). */
[[noreturn]] inline void invalid(const std::string &what) {
    throw error(bgfetch::status::invalid_argument, what);
}

/** A borrowed C string as a view; "" for NULL. */
inline std::string_view view(const char *s) noexcept {
    return s ? std::string_view(s) : std::string_view();
}

/** `s` as a NUL-terminated C string; refuses an embedded NUL (the C side would cut it). */
inline const char *c_str(const std::string &s) {
    if (s.find('\0') != std::string::npos) invalid("a string argument contains a NUL byte");
    return s.c_str();
}

/** An owned `char *` from the library, as a std::string; frees it with bgfetch_string_free. */
inline std::string take_string(char *s) {
    std::unique_ptr<char, void (*)(char *)> owned(s, bgfetch_string_free);
    return s ? std::string(s) : std::string();
}

/** A wait's timeout for the C ABI: forever is -1; a negative duration polls (0). */
inline std::int64_t wait_ms(std::chrono::milliseconds d) noexcept {
    auto n = d.count();
    return n < 0 ? 0 : static_cast<std::int64_t>(n);
}

/** A message the C ABI copies out as snprintf does (`copy(buf, cap)` returns its length). */
template <class Copy>
std::string copied_text(Copy copy) {
    std::string text(copy(nullptr, 0), '\0');
    // The message is live: if it grew between the two calls, copy it again at its new length.
    for (;;) {
        if (text.empty()) return text;
        std::size_t full = copy(text.data(), text.size() + 1);
        if (full <= text.size()) {
            text.resize(full);
            return text;
        }
        text.assign(full, '\0');
    }
}

/** A duration as `uint32_t` milliseconds for a setter; refuses what does not fit. */
inline std::uint32_t u32_ms(std::chrono::milliseconds d, const char *what) {
    auto n = d.count();
    if (n < 0 || static_cast<unsigned long long>(n) > std::numeric_limits<std::uint32_t>::max())
        invalid(std::string(what) + ": the duration is out of range (0..=4294967295 ms)");
    return static_cast<std::uint32_t>(n);
}

/** Deleter calling a C free function. */
template <class T, void (*Free)(T *)>
struct deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

/** A move-only owner of a C handle. */
template <class T, void (*Free)(T *)>
using owner = std::unique_ptr<T, deleter<T, Free>>;

/** An iterator over position 0..size() of a list class whose operator[] returns a value. */
template <class List, class Value>
class index_iterator {
public:
    using iterator_category = std::input_iterator_tag; ///< Values, not references (multi-pass).
    using value_type = Value;                          ///< What * gives.
    using difference_type = std::ptrdiff_t;           ///< Distance type.
    using pointer = void;                              ///< No operator->.
    using reference = Value;                           ///< * returns by value.

    /** An iterator at position `i` of `list`. */
    index_iterator(const List *list, std::size_t i) noexcept : list_(list), i_(i) {}
    /** The element here. */
    Value operator*() const { return (*list_)[i_]; }
    /** Next position. */
    index_iterator &operator++() noexcept {
        ++i_;
        return *this;
    }
    /** Next position (postfix). */
    index_iterator operator++(int) noexcept {
        index_iterator old = *this;
        ++i_;
        return old;
    }
    /** Same list and position. */
    friend bool operator==(const index_iterator &a, const index_iterator &b) noexcept {
        return a.list_ == b.list_ && a.i_ == b.i_;
    }
    /** Not the same list and position. */
    friend bool operator!=(const index_iterator &a, const index_iterator &b) noexcept {
        return !(a == b);
    }

private:
    const List *list_;
    std::size_t i_;
};

} // namespace detail

class registration;
class registration_ref;
class record;
class record_ref;
class records;
class response;

// ------------------------------------------------------------------------------------------
// Small value types

/** One header field: name and value, borrowed from the record or response it came from. */
struct header_field {
    std::string_view name;  ///< The name (lowercase for a response).
    std::string_view value; ///< The value.
};

/** One icon (a copy: independent of the list it came from). `""` where not given. */
struct icon {
    std::string src;   ///< The image URL.
    std::string sizes; ///< e.g. `"300x300"`.
    std::string type;  ///< The MIME type, e.g. `"image/png"`.
    std::string label; ///< The label.
};

// ------------------------------------------------------------------------------------------
// strings (bgfetch_strings)

/**
 * A list of strings (the ids of manager::ids()), owned; iterable as std::string_view.
 * Thread safety: read-only, usable from any thread. Lifetime: a copy, independent of its
 * manager; the views it gives live as long as the list.
 */
class strings {
public:
    /** Iterates the strings in order, as std::string_view. */
    using iterator = detail::index_iterator<strings, std::string_view>;

    /** Adopts a C list (may be NULL: an empty list). */
    explicit strings(bgfetch_strings *adopt) noexcept : h_(adopt) {}

    /** Number of strings. */
    std::size_t size() const noexcept { return bgfetch_strings_len(h_.get()); }
    /** Whether there is none. */
    bool empty() const noexcept { return size() == 0; }
    /** String `i`, borrowed from the list; "" if out of range. */
    std::string_view operator[](std::size_t i) const noexcept {
        return detail::view(bgfetch_strings_get(h_.get(), i));
    }
    /** The first string. */
    iterator begin() const noexcept { return iterator(this, 0); }
    /** Past the last string. */
    iterator end() const noexcept { return iterator(this, size()); }
    /** Copies of the strings. */
    std::vector<std::string> to_vector() const { return std::vector<std::string>(begin(), end()); }

    /** The C handle (still owned by this object). */
    bgfetch_strings *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_strings_free. */
    bgfetch_strings *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_strings, bgfetch_strings_free> h_;
};

// ------------------------------------------------------------------------------------------
// icons (bgfetch_icons)

/**
 * A list of icons (registration::icons()), owned; iterable as bgfetch::icon values.
 * Thread safety: read-only, usable from any thread. Lifetime: a copy, independent of the
 * registration it came from.
 */
class icons {
public:
    /** Iterates the icons in order, as bgfetch::icon copies. */
    using iterator = detail::index_iterator<icons, icon>;

    /** Adopts a C list (may be NULL: an empty list). */
    explicit icons(bgfetch_icons *adopt) noexcept : h_(adopt) {}

    /** Number of icons. */
    std::size_t size() const noexcept { return bgfetch_icons_len(h_.get()); }
    /** Whether there is none. */
    bool empty() const noexcept { return size() == 0; }
    /** Icon `i`, copied; throws error(invalid_argument) if out of range. */
    icon operator[](std::size_t i) const {
        const char *src = nullptr, *sizes = nullptr, *type = nullptr, *label = nullptr;
        detail::check(bgfetch_icons_get(h_.get(), i, &src, &sizes, &type, &label));
        return icon{std::string(detail::view(src)), std::string(detail::view(sizes)),
                    std::string(detail::view(type)), std::string(detail::view(label))};
    }
    /** The first icon. */
    iterator begin() const noexcept { return iterator(this, 0); }
    /** Past the last icon. */
    iterator end() const noexcept { return iterator(this, size()); }

    /** The C handle (still owned by this object). */
    bgfetch_icons *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_icons_free. */
    bgfetch_icons *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_icons, bgfetch_icons_free> h_;
};

// ------------------------------------------------------------------------------------------
// config (bgfetch_config)

/**
 * The configuration of a manager. The setters return *this, for chaining. manager's
 * constructor copies it, so it may be destroyed right after. Thread safety: usable from any
 * thread; setters on one config are serialized. Lifetime: independent of any manager.
 */
class config {
public:
    /** Defaults for the store directory `store_dir`; throws error(invalid_argument) if it is
        empty or not UTF-8. The manager's constructor makes the path absolute and creates the
        directory (mode 0700) if it is missing, but not its parents (as `mkdir` without `-p`:
        a missing parent throws error(invalid_argument)). */
    explicit config(const std::string &store_dir)
        : h_(bgfetch_config_new(detail::c_str(store_dir))) {
        if (!h_) detail::check(BGFETCH_E_INVALID_ARGUMENT);
    }
    /** Adopts a C configuration. */
    explicit config(bgfetch_config *adopt) noexcept : h_(adopt) {}

    /** The base URL that relative request and match URLs resolve against (absolute http(s)). */
    config &set_base_url(const std::string &url) {
        detail::check(bgfetch_config_set_base_url(h_.get(), detail::c_str(url)));
        return *this;
    }
    /** Connections (and worker threads) for the whole manager, 1..=256 (default 8). */
    config &set_max_connections(std::uint32_t n) {
        detail::check(bgfetch_config_set_max_connections(h_.get(), n));
        return *this;
    }
    /** Connections one fetch may use at once, 1..=256 (default 4). */
    config &set_max_connections_per_fetch(std::uint32_t n) {
        detail::check(bgfetch_config_set_max_connections_per_fetch(h_.get(), n));
        return *this;
    }
    /** Segments a large GET body may be split into, fetched over that many connections at
        once and written in place, 1..=16 (default 1: off). See bgfetch_config_set_max_segments. */
    config &set_max_segments(std::uint32_t n) {
        detail::check(bgfetch_config_set_max_segments(h_.get(), n));
        return *this;
    }
    /** Bytes the store may hold in all (request and response bodies); 0 = no quota. */
    config &set_quota(std::uint64_t bytes) {
        detail::check(bgfetch_config_set_quota(h_.get(), bytes));
        return *this;
    }
    /** The User-Agent sent with requests that do not set one (no CR, LF or NUL). */
    config &set_user_agent(const std::string &ua) {
        detail::check(bgfetch_config_set_user_agent(h_.get(), detail::c_str(ua)));
        return *this;
    }
    /** Connect timeout and per-read timeout, each at least 1 ms (defaults 10 s and 30 s). */
    config &set_timeouts(std::chrono::milliseconds connect, std::chrono::milliseconds read) {
        detail::check(bgfetch_config_set_timeouts(h_.get(), detail::u32_ms(connect, "connect"),
                                                  detail::u32_ms(read, "read")));
        return *this;
    }
    /** The retry policy for transient errors: `max_attempts` consecutive failed attempts
        (1..=100, default 5) and the first backoff (default 1 s, doubled after each failure);
        see bgfetch_config_set_retries. */
    config &set_retries(std::uint32_t max_attempts, std::chrono::milliseconds backoff) {
        detail::check(
            bgfetch_config_set_retries(h_.get(), max_attempts, detail::u32_ms(backoff, "backoff")));
        return *this;
    }
    /** The longest delay between two attempts of a request (default 60 s). */
    config &set_max_backoff(std::chrono::milliseconds d) {
        detail::check(bgfetch_config_set_max_backoff(h_.get(), detail::u32_ms(d, "max backoff")));
        return *this;
    }
    /** How long without a new body byte before a request may fail (default 10 min); zero =
        never. */
    config &set_no_progress_timeout(std::chrono::milliseconds d) {
        if (d.count() < 0) detail::invalid("no-progress timeout: negative duration");
        detail::check(bgfetch_config_set_no_progress_timeout(
            h_.get(), static_cast<std::uint64_t>(d.count())));
        return *this;
    }
    /** Whether a request fails as soon as `max_attempts` attempts failed in a row, whatever
        the no-progress timeout (default false). */
    config &set_fail_after_attempts(bool on) {
        detail::check(bgfetch_config_set_fail_after_attempts(h_.get(), on));
        return *this;
    }
    /** Whether 408, 429, 500, 502, 503 and 504 are retried (default false). */
    config &set_retry_statuses(bool on) {
        detail::check(bgfetch_config_set_retry_statuses(h_.get(), on));
        return *this;
    }
    /** The proxy, `"http://host:port"` or `"socks5://host:port"`; `""` = none even if the
        environment names one. */
    config &set_proxy(const std::string &proxy_url) {
        detail::check(bgfetch_config_set_proxy(h_.get(), detail::c_str(proxy_url)));
        return *this;
    }
    /** The bandwidth cap of the whole manager in response body bytes per second (0 = none). */
    config &set_max_download_rate(std::uint64_t bytes_per_s) {
        detail::check(bgfetch_config_set_max_download_rate(h_.get(), bytes_per_s));
        return *this;
    }
    /** The shortest time between two progress callbacks of one registration (default 100 ms). */
    config &set_progress_interval(std::chrono::milliseconds d) {
        detail::check(
            bgfetch_config_set_progress_interval(h_.get(), detail::u32_ms(d, "progress interval")));
        return *this;
    }
    /** A PEM file of CA certificates to trust for https instead of the built-in roots. */
    config &set_ca_file(const std::string &pem_path) {
        detail::check(bgfetch_config_set_ca_file(h_.get(), detail::c_str(pem_path)));
        return *this;
    }
    /** Where callbacks run (default dispatch_mode::thread). */
    config &set_dispatch(dispatch_mode mode) {
        detail::check(bgfetch_config_set_dispatch(h_.get(), static_cast<bgfetch_dispatch>(mode)));
        return *this;
    }
    /** Whether a redirect from https to http is followed (default false). */
    config &set_allow_https_to_http(bool allow) {
        detail::check(bgfetch_config_set_allow_https_to_http(h_.get(), allow));
        return *this;
    }

    /** The C handle (still owned by this object). */
    bgfetch_config *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_config_free. */
    bgfetch_config *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_config, bgfetch_config_free> h_;
};

// ------------------------------------------------------------------------------------------
// request (bgfetch_request)

/**
 * A request: URL, method, headers, body, integrity. The setters return *this, for chaining.
 * manager::fetch copies it. Thread safety: usable from any thread; changes are serialized.
 * Lifetime: independent of any manager.
 */
class request {
public:
    /** A GET request of `url` (absolute, or relative to the manager's base URL; checked by
        manager::fetch). */
    explicit request(const std::string &url) : h_(nullptr) {
        bgfetch_request *r = nullptr;
        detail::check(bgfetch_request_new(detail::c_str(url), &r));
        h_.reset(r);
    }
    /** Adopts a C request. */
    explicit request(bgfetch_request *adopt) noexcept : h_(adopt) {}

    /** Sets the method (an HTTP token; CONNECT, TRACE and TRACK are refused). */
    request &set_method(const std::string &method) {
        detail::check(bgfetch_request_set_method(h_.get(), detail::c_str(method)));
        return *this;
    }
    /** Adds a header (headers the library owns, such as Host, are ignored). */
    request &add_header(const std::string &name, const std::string &value) {
        detail::check(
            bgfetch_request_add_header(h_.get(), detail::c_str(name), detail::c_str(value)));
        return *this;
    }
    /** Sets the body to upload (copied now). */
    request &set_body(const void *data, std::size_t len) {
        detail::check(
            bgfetch_request_set_body(h_.get(), static_cast<const std::uint8_t *>(data), len));
        return *this;
    }
    /** Sets the body to upload (copied now). */
    request &set_body(std::string_view body) { return set_body(body.data(), body.size()); }
    /** Sets the body to upload (copied now). */
    request &set_body(const std::vector<std::uint8_t> &body) {
        return set_body(body.data(), body.size());
    }
    /** Sets Subresource-Integrity metadata (`"sha256-<base64>"`, ...); a body that does not
        match fails the request. */
    request &set_integrity(const std::string &sri) {
        detail::check(bgfetch_request_set_integrity(h_.get(), detail::c_str(sri)));
        return *this;
    }

    /** The C handle (still owned by this object). */
    bgfetch_request *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_request_free. */
    bgfetch_request *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_request, bgfetch_request_free> h_;
};

// ------------------------------------------------------------------------------------------
// options (bgfetch_options)

/**
 * Options of a fetch: title, icons, download total, start paused. The setters return *this.
 * manager::fetch and registration::update_ui copy it. Thread safety: usable from any thread;
 * changes are serialized. Lifetime: independent of any manager.
 */
class options {
public:
    /** No title, no icons, no download total. */
    options() : h_(bgfetch_options_new()) {
        if (!h_) detail::check(BGFETCH_E_INTERNAL);
    }
    /** Adopts C options. */
    explicit options(bgfetch_options *adopt) noexcept : h_(adopt) {}

    /** Sets the title. */
    options &set_title(const std::string &title) {
        detail::check(bgfetch_options_set_title(h_.get(), detail::c_str(title)));
        return *this;
    }
    /** Adds an icon; an empty `sizes`, `type` or `label` is not given. */
    options &add_icon(const std::string &src, const std::string &sizes = std::string(),
                      const std::string &type = std::string(),
                      const std::string &label = std::string()) {
        auto opt = [](const std::string &s) { return s.empty() ? nullptr : detail::c_str(s); };
        detail::check(bgfetch_options_add_icon(h_.get(), detail::c_str(src), opt(sizes), opt(type),
                                               opt(label)));
        return *this;
    }
    /** Adds an icon. */
    options &add_icon(const icon &i) { return add_icon(i.src, i.sizes, i.type, i.label); }
    /** Sets the download total: the most bytes the responses may hold in all; 0 = no limit. */
    options &set_download_total(std::uint64_t bytes) {
        detail::check(bgfetch_options_set_download_total(h_.get(), bytes));
        return *this;
    }
    /** Whether the fetch starts paused (it runs once registration::resume() is called). */
    options &set_start_paused(bool paused) {
        detail::check(bgfetch_options_set_start_paused(h_.get(), paused));
        return *this;
    }

    /** The C handle (still owned by this object). */
    bgfetch_options *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_options_free. */
    bgfetch_options *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_options, bgfetch_options_free> h_;
};

// ------------------------------------------------------------------------------------------
// response (bgfetch_response)

/**
 * A response: status, final URL, headers, and the body as it is stored. Owned.
 * Thread safety: usable from any thread at the same time. Lifetime: it may outlive its record,
 * registration and manager; the status, URL and headers stay readable (the views live as long
 * as the response), while body calls throw error(invalid_state) once the records are released
 * and error(closed) once the manager is closed.
 */
class response {
public:
    /** Adopts a C response. */
    explicit response(bgfetch_response *adopt) noexcept : h_(adopt) {}

    /** The status code (0 for an empty object). */
    std::uint16_t status() const noexcept { return bgfetch_response_status(h_.get()); }
    /** Whether the status is 200..=299. */
    bool ok() const noexcept { return bgfetch_response_ok(h_.get()); }
    /** The final URL, after redirects; borrowed from the response. */
    std::string_view url() const noexcept { return detail::view(bgfetch_response_url(h_.get())); }
    /** The value of header `name` (case-insensitive; several joined with ", "), borrowed from
        the response; std::nullopt if absent. */
    std::optional<std::string_view> header(const std::string &name) const {
        const char *v = bgfetch_response_header(h_.get(), detail::c_str(name));
        if (!v) return std::nullopt;
        return std::string_view(v);
    }
    /** Number of headers. */
    std::size_t header_count() const noexcept { return bgfetch_response_header_count(h_.get()); }
    /** Header `i` (name lowercase), borrowed; throws error(invalid_argument) if out of range. */
    header_field header_at(std::size_t i) const {
        const char *n = nullptr, *v = nullptr;
        detail::check(bgfetch_response_header_at(h_.get(), i, &n, &v));
        return header_field{detail::view(n), detail::view(v)};
    }
    /** Every header, as received, in order (borrowed from the response). */
    std::vector<header_field> headers() const {
        std::vector<header_field> all;
        for (std::size_t i = 0, n = header_count(); i < n; ++i) all.push_back(header_at(i));
        return all;
    }
    /** Whether the whole body is stored. */
    bool complete() const noexcept { return bgfetch_response_complete(h_.get()); }
    /** Waits (forever) until the body is complete; throws error(aborted / fetch_failed) if it
        can never complete. */
    void wait() const { detail::check(bgfetch_response_wait(h_.get(), -1)); }
    /** Waits up to `timeout` until the body is complete; throws error(timeout) if it is not. */
    void wait(std::chrono::milliseconds timeout) const {
        detail::check(bgfetch_response_wait(h_.get(), detail::wait_ms(timeout)));
    }
    /** Waits up to `timeout`: true if the body is complete, false if the time ran out. */
    bool wait_for(std::chrono::milliseconds timeout) const {
        bgfetch_status s = bgfetch_response_wait(h_.get(), detail::wait_ms(timeout));
        if (s == BGFETCH_E_TIMEOUT) return false;
        detail::check(s);
        return true;
    }
    /** Body bytes stored so far. */
    std::uint64_t body_size() const noexcept { return bgfetch_response_body_size(h_.get()); }
    /** The absolute path of the stored body file (read it, never write it); it exists once the
        body is complete and stays valid until the records are released. Borrowed from the
        response. */
    std::string_view body_path() const noexcept {
        return detail::view(bgfetch_response_body_path(h_.get()));
    }
    /** Reads up to `cap` body bytes at `offset` into `buf`, blocking until bytes at `offset`
        are stored or the body is complete; returns how many (0 at the end of the body). */
    std::size_t read(std::uint64_t offset, void *buf, std::size_t cap) const {
        return read_ms(offset, buf, cap, -1);
    }
    /** As read(), waiting at most `timeout`; throws error(timeout) when no byte at `offset`
        was stored in time (a paused fetch stores none). */
    std::size_t read(std::uint64_t offset, void *buf, std::size_t cap,
                     std::chrono::milliseconds timeout) const {
        return read_ms(offset, buf, cap, detail::wait_ms(timeout));
    }
    /** The whole body (blocks until it is complete). */
    std::vector<std::uint8_t> read_all() const { return read_all_ms(-1); }
    /** The whole body, each read waiting at most `timeout`; throws error(timeout). */
    std::vector<std::uint8_t> read_all(std::chrono::milliseconds timeout) const {
        return read_all_ms(detail::wait_ms(timeout));
    }
    /** Waits for the complete body, then writes it to `dest_path` atomically. */
    void save(const std::string &dest_path) const {
        detail::check(bgfetch_response_save(h_.get(), detail::c_str(dest_path), -1));
    }
    /** As save(), waiting at most `timeout` for the complete body; throws error(timeout) if it
        is not complete by then (`dest_path` is then untouched). */
    void save(const std::string &dest_path, std::chrono::milliseconds timeout) const {
        detail::check(
            bgfetch_response_save(h_.get(), detail::c_str(dest_path), detail::wait_ms(timeout)));
    }

    /** The C handle (still owned by this object). */
    bgfetch_response *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_response_free. */
    bgfetch_response *release_handle() noexcept { return h_.release(); }

private:
    std::size_t read_ms(std::uint64_t offset, void *buf, std::size_t cap,
                        std::int64_t timeout_ms) const {
        std::size_t n = 0;
        detail::check(bgfetch_response_read(h_.get(), offset, static_cast<std::uint8_t *>(buf),
                                            cap, timeout_ms, &n));
        return n;
    }
    std::vector<std::uint8_t> read_all_ms(std::int64_t timeout_ms) const {
        std::vector<std::uint8_t> body;
        std::uint8_t buf[65536];
        for (;;) {
            std::size_t n = read_ms(body.size(), buf, sizeof buf, timeout_ms);
            if (n == 0) return body;
            body.insert(body.end(), buf, buf + n);
        }
    }

    detail::owner<bgfetch_response, bgfetch_response_free> h_;
};

// ------------------------------------------------------------------------------------------
// records (bgfetch_record, bgfetch_records)

namespace detail {

/** The calls of a record, shared by record (owned) and record_ref (borrowed). */
template <class Self>
class record_api {
public:
    /** The request URL (absolute, without fragment), borrowed from the record. */
    std::string_view url() const noexcept { return view(bgfetch_record_url(h())); }
    /** The request method, borrowed from the record. */
    std::string_view method() const noexcept { return view(bgfetch_record_method(h())); }
    /** Number of request headers. */
    std::size_t header_count() const noexcept { return bgfetch_record_header_count(h()); }
    /** Request header `i`, borrowed; throws error(invalid_argument) if out of range. */
    header_field header_at(std::size_t i) const {
        const char *n = nullptr, *v = nullptr;
        check(bgfetch_record_header_at(h(), i, &n, &v));
        return header_field{view(n), view(v)};
    }
    /** Every request header, in order (borrowed from the record). */
    std::vector<header_field> headers() const {
        std::vector<header_field> all;
        for (std::size_t i = 0, n = header_count(); i < n; ++i) all.push_back(header_at(i));
        return all;
    }
    /** The size of the request body in bytes (0 = none). */
    std::uint64_t body_size() const noexcept { return bgfetch_record_body_size(h()); }
    /** Reads up to `cap` bytes of the stored request body at `offset`; 0 at its end. */
    std::size_t read_body(std::uint64_t offset, void *buf, std::size_t cap) const {
        std::size_t n = 0;
        check(bgfetch_record_read_body(h(), offset, static_cast<std::uint8_t *>(buf), cap, &n));
        return n;
    }
    /** The whole stored request body. */
    std::vector<std::uint8_t> read_body() const {
        std::vector<std::uint8_t> body;
        std::uint8_t buf[16384];
        for (;;) {
            std::size_t n = read_body(body.size(), buf, sizeof buf);
            if (n == 0) return body;
            body.insert(body.end(), buf, buf + n);
        }
    }
    /** What the record is doing now (0.3). */
    record_state state() const noexcept {
        return static_cast<record_state>(bgfetch_record_state(h()));
    }
    /** Attempts made for it in this fetch since the manager was opened (0.3). */
    std::uint32_t attempts() const noexcept { return bgfetch_record_attempts(h()); }
    /** In record_state::retry_wait: the time until its next attempt; else std::nullopt (0.3). */
    std::optional<std::chrono::milliseconds> retry_in() const noexcept {
        std::int64_t ms = bgfetch_record_retry_in_ms(h());
        if (ms < 0) return std::nullopt;
        return std::chrono::milliseconds(ms);
    }
    /** The last failed attempt's message (`""` if none failed), copied (0.3). */
    std::string last_error() const {
        return copied_text(
            [this](char *buf, std::size_t cap) { return bgfetch_record_last_error(h(), buf, cap); });
    }
    /** responseReady: waits (forever) until the response's status and headers are known.
        Throws error(aborted) if the fetch was aborted first, error(fetch_failed) if the request
        failed or was never made, error(invalid_state) once released. A non-2xx response is a
        response. */
    bgfetch::response response_ready() const {
        bgfetch_response *r = nullptr;
        check(bgfetch_record_response(h(), -1, &r));
        return bgfetch::response(r);
    }
    /** responseReady with a time limit: as above, and error(timeout) when `timeout` passes
        first. */
    bgfetch::response response_ready(std::chrono::milliseconds timeout) const {
        bgfetch_response *r = nullptr;
        check(bgfetch_record_response(h(), wait_ms(timeout), &r));
        return bgfetch::response(r);
    }

private:
    const bgfetch_record *h() const noexcept {
        return static_cast<const Self *>(this)->native_handle();
    }
};

} // namespace detail

/**
 * A record borrowed from a records list (or any record the caller keeps alive): a copyable
 * view that frees nothing. Thread safety: usable from any thread. Lifetime: valid as long as
 * the list it came from; its calls throw error(invalid_state) once the records are released,
 * error(closed) once the manager is closed.
 */
class record_ref : public detail::record_api<record_ref> {
public:
    /** A view of `rec` (not owned). */
    explicit record_ref(const bgfetch_record *rec) noexcept : h_(rec) {}
    /** The C handle (borrowed). */
    const bgfetch_record *native_handle() const noexcept { return h_; }

private:
    const bgfetch_record *h_;
};

/**
 * A record owned by the caller (from match()): a request of a fetch and, through
 * response_ready(), its response. Thread safety: usable from any thread. Lifetime: it may
 * outlive its registration handle and its manager; its calls then throw error(invalid_state)
 * once the records are released, error(closed) once the manager is closed.
 */
class record : public detail::record_api<record> {
public:
    /** Adopts a C record (one returned by match, never one borrowed from a list). */
    explicit record(bgfetch_record *adopt) noexcept : h_(adopt) {}
    /** A non-owning view of this record (valid while this object lives). */
    record_ref ref() const noexcept { return record_ref(h_.get()); }
    /** The C handle (still owned by this object). */
    const bgfetch_record *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_record_free. */
    bgfetch_record *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_record, bgfetch_record_free> h_;
};

/**
 * A list of records (match_all()), in request order, owned; iterable as record_ref.
 * Thread safety: read-only, usable from any thread. Lifetime: independent of its registration
 * and manager; the records it lends live as long as the list.
 */
class records {
public:
    /** Iterates the records in order, as record_ref views. */
    using iterator = detail::index_iterator<records, record_ref>;

    /** Adopts a C list (may be NULL: an empty list). */
    explicit records(bgfetch_records *adopt) noexcept : h_(adopt) {}

    /** Number of records. */
    std::size_t size() const noexcept { return bgfetch_records_len(h_.get()); }
    /** Whether there is none. */
    bool empty() const noexcept { return size() == 0; }
    /** Record `i`, borrowed from the list; throws std::out_of_range if `i` is out of range. */
    record_ref operator[](std::size_t i) const {
        const bgfetch_record *r = bgfetch_records_get(h_.get(), i);
        if (!r) throw std::out_of_range("bgfetch::records: index out of range");
        return record_ref(r);
    }
    /** The first record. */
    iterator begin() const noexcept { return iterator(this, 0); }
    /** Past the last record. */
    iterator end() const noexcept { return iterator(this, size()); }

    /** The C handle (still owned by this object). */
    bgfetch_records *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_records_free. */
    bgfetch_records *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_records, bgfetch_records_free> h_;
};

// ------------------------------------------------------------------------------------------
// registrations (bgfetch_registration)

namespace detail {

/** The calls of a registration, shared by registration (owned) and registration_ref. */
template <class Self>
class registration_api {
public:
    /** The id, borrowed: lives as long as the handle. */
    std::string_view id() const noexcept { return view(bgfetch_registration_id(h())); }
    /** Sum of the request body sizes (`uploadTotal`). */
    std::uint64_t upload_total() const noexcept { return bgfetch_registration_upload_total(h()); }
    /** Request body bytes sent so far (`uploaded`). */
    std::uint64_t uploaded() const noexcept { return bgfetch_registration_uploaded(h()); }
    /** The download total of the options, 0 if none (`downloadTotal`). */
    std::uint64_t download_total() const noexcept {
        return bgfetch_registration_download_total(h());
    }
    /** Response body bytes stored so far (`downloaded`). */
    std::uint64_t downloaded() const noexcept { return bgfetch_registration_downloaded(h()); }
    /** The result: result::none while running, then success or failure. */
    bgfetch::result result() const noexcept {
        return static_cast<bgfetch::result>(bgfetch_registration_result(h()));
    }
    /** The failure reason (failure_reason::none unless the result is failure). */
    bgfetch::failure_reason failure_reason() const noexcept {
        return static_cast<bgfetch::failure_reason>(bgfetch_registration_failure_reason(h()));
    }
    /** Whether the records can be read (`recordsAvailable`): true until released. */
    bool records_available() const noexcept {
        return bgfetch_registration_records_available(h());
    }
    /** What the fetch is doing now: settled, done or failed; else the most alive state of its
        pending records (active, queued, retry_wait, offline, paused) (0.3). */
    record_state state() const noexcept {
        return static_cast<record_state>(bgfetch_registration_state(h()));
    }
    /** The latest failed attempt's message of any of its records (`""` if none failed since
        that record last made progress), copied (0.3). */
    std::string last_error() const {
        return copied_text([this](char *buf, std::size_t cap) {
            return bgfetch_registration_last_error(h(), buf, cap);
        });
    }
    /** The body bytes the fetch expects (the lengths its response heads gave), once every
        record's is known; std::nullopt until then (0.3). */
    std::optional<std::uint64_t> expected_total() const noexcept {
        bool all_known = false;
        std::uint64_t bytes = bgfetch_registration_expected_total(h(), &all_known);
        if (!all_known) return std::nullopt;
        return bytes;
    }
    /** The title (`""` if none), copied. */
    std::string title() const { return take_string(bgfetch_registration_title(h())); }
    /** The icons, copied. */
    bgfetch::icons icons() const {
        bgfetch_icons *out = nullptr;
        check(bgfetch_registration_icons(h(), &out));
        return bgfetch::icons(out);
    }
    /** updateUI: replaces the title and/or icons with those `ui` sets. Persisted. */
    void update_ui(const bgfetch::options &ui) const {
        check(bgfetch_registration_update_ui(h(), ui.native_handle()));
    }
    /** abort(): true if the fetch was running and is now aborted, false if it had settled. */
    bool abort() const {
        bool aborted = false;
        check(bgfetch_registration_abort(h(), &aborted));
        return aborted;
    }
    /** Waits (forever) until the result is set and stored; throws error(closed) once the
        manager is closed. In dispatch_mode::thread it returns after the final progress
        callbacks have returned. */
    void wait() const { check(bgfetch_registration_wait(h(), -1)); }
    /** Waits up to `timeout` for the result; throws error(timeout) if it is not set by then. */
    void wait(std::chrono::milliseconds timeout) const {
        check(bgfetch_registration_wait(h(), wait_ms(timeout)));
    }
    /** Waits up to `timeout`: true if the result is set, false if the time ran out. */
    bool wait_for(std::chrono::milliseconds timeout) const {
        bgfetch_status s = bgfetch_registration_wait(h(), wait_ms(timeout));
        if (s == BGFETCH_E_TIMEOUT) return false;
        check(s);
        return true;
    }
    /** Pauses the fetch (durably); throws error(invalid_state) once it settled. Bytes already
        received are still stored (see bgfetch_registration_pause). */
    void pause() const { check(bgfetch_registration_pause(h())); }
    /** Resumes a paused fetch; throws error(invalid_state) once it settled. */
    void resume() const { check(bgfetch_registration_resume(h())); }
    /** Whether the fetch is paused. */
    bool paused() const noexcept { return bgfetch_registration_paused(h()); }
    /** Releases the records (their storage is freed; the id may be used again); throws
        error(invalid_state) while the fetch runs. Releasing twice is fine. */
    void release() const { check(bgfetch_registration_release(h())); }
    /** match(): the first record matching `req` under `flags`, or std::nullopt. */
    std::optional<bgfetch::record> match(const bgfetch::request &req,
                                         query flags = query::none) const {
        bgfetch_record *out = nullptr;
        check(bgfetch_registration_match(h(), req.native_handle(),
                                         static_cast<std::uint32_t>(flags), &out));
        if (!out) return std::nullopt;
        return bgfetch::record(out);
    }
    /** match() with a GET request of `url` (absolute or relative to the base URL). */
    std::optional<bgfetch::record> match(const std::string &url, query flags = query::none) const {
        bgfetch_record *out = nullptr;
        check(bgfetch_registration_match_url(h(), c_str(url), static_cast<std::uint32_t>(flags),
                                             &out));
        if (!out) return std::nullopt;
        return bgfetch::record(out);
    }
    /** matchAll() of every record, in request order. */
    bgfetch::records match_all() const {
        bgfetch_records *out = nullptr;
        check(bgfetch_registration_match_all(h(), nullptr, 0, &out));
        return bgfetch::records(out);
    }
    /** matchAll(): every record matching `req` under `flags`, in request order. */
    bgfetch::records match_all(const bgfetch::request &req, query flags = query::none) const {
        bgfetch_records *out = nullptr;
        check(bgfetch_registration_match_all(h(), req.native_handle(),
                                             static_cast<std::uint32_t>(flags), &out));
        return bgfetch::records(out);
    }

private:
    bgfetch_registration *h() const noexcept {
        return static_cast<const Self *>(this)->native_handle();
    }
};

} // namespace detail

/**
 * A registration handle that someone else owns: a copyable view that frees nothing. The
 * library lends one to each callback call (the C `reg` / `r` argument), and
 * registration::ref() makes one. Thread safety: usable from any thread. Lifetime: a callback's
 * argument only during the call (copy what you need, or get a handle of your own with
 * manager::get(id())); one from ref() while that registration object lives.
 */
class registration_ref : public detail::registration_api<registration_ref> {
public:
    /** A view of `r` (not owned). */
    explicit registration_ref(bgfetch_registration *r) noexcept : h_(r) {}
    /** The C handle (borrowed; never free it). */
    bgfetch_registration *native_handle() const noexcept { return h_; }

private:
    bgfetch_registration *h_;
};

/**
 * A progress callback (the web's `onprogress`), set with registration::on_progress.
 *
 * - Runs on the manager's event thread (dispatch_mode::thread) or inside manager::dispatch()
 *   (dispatch_mode::manual); never while a library lock is held.
 * - Fires once as soon as it is set, with the current values (also for a fetch that has
 *   settled: a callback set late never misses the final state); then when `uploaded`,
 *   `downloaded`, `result`, `failure_reason`, `paused` or a record's state (record::state():
 *   a retry wait, offline, ...) changed, at most once per progress interval per registration,
 *   and always once for the final state. Read the values with the getters of its argument.
 * - Its argument is a handle borrowed for the call (not the one the callback was set on): do
 *   not keep it. The callback may call anything of this header, on this registration too
 *   (abort it, release its records, destroy the registration object it was set on), except
 *   closing (destroying) its own manager.
 * - The std::function (and what it captured) is destroyed exactly once, after its last call:
 *   when it is replaced or cleared, when the registration object it was set on is destroyed,
 *   or when the manager is closed; on the thread making that call, or on the event thread
 *   right after the callback returns when that call came from inside the callback.
 * - An exception escaping it calls std::terminate().
 */
using progress_callback = std::function<void(registration_ref)>;

/**
 * A completion-event callback, set with manager::on_event.
 *
 * - Runs on the manager's event thread (dispatch_mode::thread) or inside manager::dispatch()
 *   on the caller's thread (dispatch_mode::manual).
 * - Its event_type is success, fail or abort; it comes after the fetch's final progress
 *   callback. The registration_ref is borrowed for the call: copy what you need, or call
 *   manager::get for a handle of your own. Records are readable during the call.
 * - It may call anything of this header (including release() on its argument), except
 *   closing (destroying) its own manager, which must happen on another thread.
 * - The std::function (and what it captured) is destroyed exactly once, after its last call:
 *   when it is replaced or cleared, or when the manager is closed; on the thread making that
 *   call, or on the event thread right after the callback returns when that call came from
 *   inside it.
 * - An exception escaping it calls std::terminate().
 */
using event_callback = std::function<void(event_type, registration_ref)>;

namespace detail {

/** Calls the std::function of a progress callback. */
inline void progress_trampoline(void *userdata, bgfetch_registration *r) noexcept {
    (*static_cast<progress_callback *>(userdata))(registration_ref(r));
}

/** Calls the std::function of an event callback. */
inline void event_trampoline(void *userdata, bgfetch_event_type kind,
                             bgfetch_registration *r) noexcept {
    (*static_cast<event_callback *>(userdata))(static_cast<event_type>(kind), registration_ref(r));
}

/** The free_userdata finalizer: deletes the heap std::function (of type F). */
template <class F>
void delete_userdata(void *userdata) noexcept {
    delete static_cast<F *>(userdata);
}

} // namespace detail

/**
 * An owned handle to a registration (the web's `BackgroundFetchRegistration`): a live view,
 * whose getters always return current values. Several handles may refer to one registration;
 * each has its own progress callback, which lives exactly as long as the handle.
 * Thread safety: usable from any thread at the same time (but not destroyed while in use).
 * Lifetime: it may outlive its manager (calls then throw error(closed), getters return the
 * last values); the views it gives (id()) live as long as the handle.
 */
class registration : public detail::registration_api<registration> {
public:
    /** Adopts a C handle. */
    explicit registration(bgfetch_registration *adopt) noexcept : h_(adopt) {}

    /**
     * Sets this handle's progress callback (an empty std::function clears it); see
     * bgfetch::progress_callback for where it runs and what it may do. When this returns, the
     * callback it replaced is not running (unless this call came from inside it) and will
     * never be called again, and that callback's std::function has been destroyed (or is
     * destroyed as soon as it returns, when called from inside it). If this throws, `cb` has
     * been destroyed.
     */
    void on_progress(progress_callback cb) {
        if (!cb) {
            detail::check(bgfetch_registration_set_progress_callback(h_.get(), nullptr, nullptr,
                                                                     nullptr));
            return;
        }
        auto *heap = new progress_callback(std::move(cb));
        // From here the library owns `heap` (it deletes it at once if the call fails).
        detail::check(bgfetch_registration_set_progress_callback(
            h_.get(), detail::progress_trampoline, heap,
            detail::delete_userdata<progress_callback>));
    }
    /** Clears the progress callback (as on_progress with an empty function). */
    void clear_progress() { on_progress(progress_callback()); }

    /** A non-owning view of this handle (valid while this object lives). */
    registration_ref ref() const noexcept { return registration_ref(h_.get()); }
    /** The C handle (still owned by this object). */
    bgfetch_registration *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller frees the result with bgfetch_registration_free (which
        also ends its progress callback). */
    bgfetch_registration *release_handle() noexcept { return h_.release(); }

private:
    detail::owner<bgfetch_registration, bgfetch_registration_free> h_;
};

// ------------------------------------------------------------------------------------------
// manager (bgfetch_manager)

/**
 * A manager: owns one store directory, its worker threads and its event thread. Destroying
 * it closes it (bgfetch_manager_close): transfers stop, unfinished fetches resume at the next
 * open, its event callback is destroyed. Thread safety: every call may be made from any thread
 * at the same time, but it must not be closed (destroyed, moved from, assigned to) while
 * another thread uses it, nor from inside one of its own callbacks. Lifetime: registration,
 * record and response objects may outlive it.
 */
class manager {
public:
    /** Opens the manager of `cfg`'s store (copies `cfg`): throws error(busy) if another
        manager holds the store. Resumes unfinished fetches; completion events of settled,
        unreleased fetches wait until an event callback is set. */
    explicit manager(const config &cfg) : h_(nullptr) {
        bgfetch_manager *m = nullptr;
        detail::check(bgfetch_manager_open(cfg.native_handle(), &m));
        h_.reset(m);
    }
    /** Adopts a C manager. */
    explicit manager(bgfetch_manager *adopt) noexcept : h_(adopt) {}

    /** Closes the manager now (as the destructor does); the object becomes empty. */
    void close() noexcept { h_.reset(); }

    /**
     * Sets this manager's completion-event callback (an empty std::function clears it); see
     * bgfetch::event_callback. Events of fetches that settled while none was set (including
     * every settled, unreleased fetch found at open) are delivered once one is set. When this
     * returns, the previous callback is not running (unless this call came from inside it) and
     * will never be called again. If this throws, `cb` has been destroyed.
     */
    void on_event(event_callback cb) {
        if (!cb) {
            detail::check(bgfetch_manager_set_event_callback(h_.get(), nullptr, nullptr, nullptr));
            return;
        }
        auto *heap = new event_callback(std::move(cb));
        // From here the library owns `heap` (it deletes it at once if the call fails).
        detail::check(bgfetch_manager_set_event_callback(
            h_.get(), detail::event_trampoline, heap, detail::delete_userdata<event_callback>));
    }
    /** Clears the event callback (as on_event with an empty function). */
    void clear_event() { on_event(event_callback()); }

    /** In dispatch_mode::manual: a file descriptor readable exactly while callbacks wait for
        dispatch() (poll it; never read or close it). -1 in thread mode. */
    int event_fd() const noexcept { return bgfetch_manager_event_fd(h_.get()); }
    /** In dispatch_mode::manual: runs the pending callbacks on this thread, waiting forever
        for the first; returns how many callbacks ran (bgfetch_manager_dispatch says what is
        not counted). Throws error(invalid_state) in thread mode. Never call it from inside a
        callback. */
    std::uint32_t dispatch() {
        std::uint32_t n = 0;
        detail::check(bgfetch_manager_dispatch(h_.get(), -1, &n));
        return n;
    }
    /** dispatch() waiting up to `timeout` for the first callback (zero polls); returns how
        many ran (0 if none came in time). */
    std::uint32_t dispatch(std::chrono::milliseconds timeout) {
        std::uint32_t n = 0;
        detail::check(bgfetch_manager_dispatch(h_.get(), detail::wait_ms(timeout), &n));
        return n;
    }

    /** Starts a background fetch of `requests` under `id` (non-empty, up to 65536 bytes).
        Throws error(invalid_argument) for an empty list, bad URL, method or header,
        error(duplicate_id) if an unreleased fetch has this id, error(quota_exceeded). Returns
        once the registration is durably stored. */
    registration fetch(const std::string &id, const std::vector<request> &requests) {
        return fetch_impl(id, requests, nullptr);
    }
    /** fetch() with options (title, icons, download total, start paused). */
    registration fetch(const std::string &id, const std::vector<request> &requests,
                       const options &opts) {
        return fetch_impl(id, requests, opts.native_handle());
    }
    /** fetch() of GET requests for `urls` (absolute or relative to the base URL). */
    registration fetch_urls(const std::string &id, const std::vector<std::string> &urls) {
        return fetch_urls_impl(id, urls, nullptr);
    }
    /** fetch_urls() with options. */
    registration fetch_urls(const std::string &id, const std::vector<std::string> &urls,
                            const options &opts) {
        return fetch_urls_impl(id, urls, opts.native_handle());
    }
    /** A new handle to the registration `id`, or std::nullopt if there is none (finished
        fetches stay findable until released). */
    std::optional<registration> get(const std::string &id) {
        bgfetch_registration *out = nullptr;
        detail::check(bgfetch_get(h_.get(), detail::c_str(id), &out));
        if (!out) return std::nullopt;
        return registration(out);
    }
    /** The ids of every unreleased registration, sorted. */
    strings ids() {
        bgfetch_strings *out = nullptr;
        detail::check(bgfetch_get_ids(h_.get(), &out));
        return strings(out);
    }
    /** The problems met when the store was opened (state files moved to quarantine). */
    std::vector<std::string> problems() const {
        std::vector<std::string> all;
        for (std::size_t i = 0, n = bgfetch_manager_problem_count(h_.get()); i < n; ++i)
            all.push_back(detail::take_string(bgfetch_manager_problem(h_.get(), i)));
        return all;
    }
    /** Bytes the store holds (request and response bodies), as the quota counts them. */
    std::uint64_t used_bytes() const noexcept { return bgfetch_manager_used_bytes(h_.get()); }
    /** Offline (true): transfers stop and no connection is tried; back online (false): every
        waiting request is tried at once. */
    void set_offline(bool offline) {
        detail::check(bgfetch_manager_set_offline(h_.get(), offline));
    }
    /** Whether the manager is offline. */
    bool offline() const noexcept { return bgfetch_manager_offline(h_.get()); }
    /** Changes the bandwidth cap in response body bytes per second (0 = none). */
    void set_max_download_rate(std::uint64_t bytes_per_s) {
        detail::check(bgfetch_manager_set_max_download_rate(h_.get(), bytes_per_s));
    }

    /** The C handle (still owned by this object). */
    bgfetch_manager *native_handle() const noexcept { return h_.get(); }
    /** Gives up ownership: the caller closes the result with bgfetch_manager_close. */
    bgfetch_manager *release_handle() noexcept { return h_.release(); }

private:
    registration fetch_impl(const std::string &id, const std::vector<request> &requests,
                            const bgfetch_options *opts) {
        std::vector<const bgfetch_request *> ptrs;
        ptrs.reserve(requests.size());
        for (const request &r : requests) ptrs.push_back(r.native_handle());
        bgfetch_registration *out = nullptr;
        detail::check(
            bgfetch_fetch(h_.get(), detail::c_str(id), ptrs.data(), ptrs.size(), opts, &out));
        return registration(out);
    }
    registration fetch_urls_impl(const std::string &id, const std::vector<std::string> &urls,
                                 const bgfetch_options *opts) {
        std::vector<const char *> ptrs;
        ptrs.reserve(urls.size());
        for (const std::string &u : urls) ptrs.push_back(detail::c_str(u));
        bgfetch_registration *out = nullptr;
        detail::check(
            bgfetch_fetch_urls(h_.get(), detail::c_str(id), ptrs.data(), ptrs.size(), opts, &out));
        return registration(out);
    }

    detail::owner<bgfetch_manager, bgfetch_manager_close> h_;
};

} // namespace bgfetch

#endif /* BGFETCH_HPP */
