/*
 * libbgfetch: the web's Background Fetch API as a native library.
 *
 * Generated from the Rust sources by cbindgen (build.rs); do not edit.
 *
 * Conventions: every symbol starts with bgfetch_ / BGFETCH_. Objects are opaque pointers;
 * what a _new/_open/fetch/get/match call hands out is owned by the caller and freed with the
 * matching _free/_close, and every _free accepts NULL. Fallible calls return bgfetch_status
 * (BGFETCH_OK = 0), write results through out-pointers only on success (NULL/0 otherwise),
 * and leave a message in bgfetch_last_error(). Strings in are NUL-terminated UTF-8 and copied;
 * `const char *` strings out are borrowed from the object they came from. All functions are
 * thread-safe, except that an object must not be freed while another thread uses it.
 * Timeouts are int64_t milliseconds: -1 waits forever, 0 polls.
 */

#ifndef BGFETCH_H
#define BGFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The version of this header; equal to bgfetch_version() of the matching library. */
#define BGFETCH_VERSION_MAJOR 0
#define BGFETCH_VERSION_MINOR 3
#define BGFETCH_VERSION_PATCH 0

/* Marks the functions whose bgfetch_status must not be ignored: [[nodiscard]] in C23 and
 * C++17, warn_unused_result with clang (which, unlike gcc, lets a (void) cast discard it), else
 * nothing. Define BGFETCH_NODISCARD yourself (even empty) before including to override. */
#ifndef BGFETCH_NODISCARD
#  if defined(__cplusplus) && __cplusplus >= 201703L
#    define BGFETCH_NODISCARD [[nodiscard]]
#  elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 202311L
#    define BGFETCH_NODISCARD [[nodiscard]]
#  elif defined(__clang__)
#    define BGFETCH_NODISCARD __attribute__((warn_unused_result))
#  else
#    define BGFETCH_NODISCARD
#  endif
#endif

/**
 * Query flag: ignore the query string of both URLs (`ignoreSearch`).
 */
#define BGFETCH_QUERY_IGNORE_SEARCH 1

/**
 * Query flag: match records whatever their method (`ignoreMethod`).
 */
#define BGFETCH_QUERY_IGNORE_METHOD 2

/**
 * Query flag: do not compare the headers the response's `Vary` names (`ignoreVary`).
 */
#define BGFETCH_QUERY_IGNORE_VARY 4

/**
 * The configuration of a manager (opaque). Create with `bgfetch_config_new`, free with
 * `bgfetch_config_free`; `bgfetch_manager_open` copies it, so it may be freed right after.
 * Thread safety: usable from any thread; setters on one config are serialized.
 */
typedef struct bgfetch_config bgfetch_config;

/**
 * A list of icons (opaque). Owned: free with `bgfetch_icons_free`. Thread safety: read-only,
 * usable from any thread. Lifetime: a copy, independent of the registration or options it
 * came from.
 */
typedef struct bgfetch_icons bgfetch_icons;

/**
 * A manager (opaque): owns one store directory, its worker threads and its event thread.
 * Thread safety: every function may be called from any thread at the same time, but
 * `bgfetch_manager_close` must not run while another thread still uses the manager.
 */
typedef struct bgfetch_manager bgfetch_manager;

/**
 * Options of a fetch (opaque): title, icons, download total. Owned by the caller; free with
 * `bgfetch_options_free`. Thread safety: usable from any thread; changes are serialized.
 * Lifetime: independent of any manager; `bgfetch_fetch` and `update_ui` copy it.
 */
typedef struct bgfetch_options bgfetch_options;

/**
 * A record (opaque): a request of a fetch and, through `bgfetch_record_response`, its
 * response. Owned when returned by match (free with `bgfetch_record_free`), borrowed when
 * taken from a `bgfetch_records` list. Thread safety: usable from any thread. Lifetime: it may
 * outlive its registration handle and its manager; once the records are released its calls
 * return `BGFETCH_E_INVALID_STATE`, once the manager is closed `BGFETCH_E_CLOSED`.
 */
typedef struct bgfetch_record bgfetch_record;

/**
 * A list of records (opaque), in request order. Owned: free with `bgfetch_records_free`.
 * Thread safety: read-only, usable from any thread. Lifetime: independent of its registration
 * and manager (like its records); the records it lends live as long as the list.
 */
typedef struct bgfetch_records bgfetch_records;

/**
 * A handle to a registration (opaque), the web's `BackgroundFetchRegistration`. A live view:
 * getters always return current values. Several handles may refer to one registration; each
 * is freed on its own with `bgfetch_registration_free`, and each may have its own progress
 * callback, which lives exactly as long as the handle. Thread safety: usable from any thread
 * at the same time; it may outlive its manager (calls then return `BGFETCH_E_CLOSED`, getters
 * the last values).
 */
typedef struct bgfetch_registration bgfetch_registration;

/**
 * A request (opaque): URL, method, headers, body, integrity. Owned by the caller; free with
 * `bgfetch_request_free`. `bgfetch_fetch` copies it. Thread safety: usable from any thread;
 * changes are serialized. Lifetime: independent of any manager.
 */
typedef struct bgfetch_request bgfetch_request;

/**
 * A response (opaque): status, final URL, headers, and the body as it is stored. Owned: free
 * with `bgfetch_response_free`. Thread safety: usable from any thread at the same time.
 * Lifetime: it may outlive its record, registration and manager; the status, URL and headers
 * stay readable, while body calls return `BGFETCH_E_INVALID_STATE` once the records are
 * released and `BGFETCH_E_CLOSED` once the manager is closed.
 */
typedef struct bgfetch_response bgfetch_response;

/**
 * A list of strings (opaque). Owned by the caller: free with `bgfetch_strings_free`.
 * Thread safety: read-only, usable from any thread. Lifetime: a copy, independent of its
 * manager.
 */
typedef struct bgfetch_strings bgfetch_strings;

/**
 * The result of a fallible call: `BGFETCH_OK` (0) or an error code; the message is in
 * `bgfetch_last_error()`.
 */
typedef uint32_t bgfetch_status;

/**
 * A fetch's result: `BGFETCH_RESULT_*`.
 */
typedef uint32_t bgfetch_result;

/**
 * Why a fetch failed: `BGFETCH_FAILURE_*`.
 */
typedef uint32_t bgfetch_failure_reason;

/**
 * 0.3. What a record (or a fetch) is doing: `BGFETCH_RECORD_*` (returned by
 * `bgfetch_record_state` and `bgfetch_registration_state`). API.md named this type
 * `bgfetch_record_state`, like the function; C cannot have a type and a function of one name,
 * so the type is `bgfetch_state` and the function keeps its name.
 */
typedef uint32_t bgfetch_state;

/**
 * Where callbacks run: `BGFETCH_DISPATCH_*`.
 */
typedef uint32_t bgfetch_dispatch;

/**
 * The completion event of a settled fetch: `BGFETCH_EVENT_*`.
 */
typedef uint32_t bgfetch_event_type;

/**
 * A completion-event callback.
 *
 * - Runs on the manager's event thread (`BGFETCH_DISPATCH_THREAD`) or inside
 *   `bgfetch_manager_dispatch` on the caller's thread (`BGFETCH_DISPATCH_MANUAL`).
 * - `type` is `BGFETCH_EVENT_SUCCESS`, `_FAIL` or `_ABORT`; it comes after the fetch's final
 *   progress callback. `reg` is borrowed for the call: copy what you need, or call
 *   `bgfetch_get` for a handle of your own. Records are readable during the call.
 * - It may call any `bgfetch_` function (including `bgfetch_registration_release` on `reg`),
 *   except `bgfetch_manager_close` of its own manager, which must be called from another thread.
 */
typedef void (*bgfetch_event_callback)(void *userdata,
                                       bgfetch_event_type kind,
                                       bgfetch_registration *reg);

/**
 * A userdata finalizer (`free_userdata` of the callback setters): called exactly once with
 * the userdata when the library lets go of it, after the last call of the callback it was
 * given with. May be NULL.
 *
 * - Runs on the thread whose call let go of the userdata (the setter that replaced or cleared
 *   the callback, `bgfetch_registration_free`, `bgfetch_manager_close`), or on the event
 *   thread right after the callback returns when that call came from inside the callback.
 * - It may free the userdata and call `bgfetch_` functions, except the setter or free that is
 *   running it.
 */
typedef void (*bgfetch_free_callback)(void *userdata);

/**
 * A progress callback (the web's `onprogress`).
 *
 * - Runs on the manager's event thread (`BGFETCH_DISPATCH_THREAD`) or inside
 *   `bgfetch_manager_dispatch` (`BGFETCH_DISPATCH_MANUAL`); never while a library lock is held.
 * - Fires once as soon as it is set, with the current values (also for a fetch that has
 *   settled: a host that sets it after `bgfetch_fetch` never misses the final state); then
 *   when `uploaded`, `downloaded`, `result`, `failure_reason`, `paused` or the state of a
 *   record (`bgfetch_record_state`: a retry wait, going offline, ...) changed, at most once
 *   per progress interval per registration, and always once for the final state (then never
 *   again, but for the first call of a callback set later). Read the values with the getters
 *   on `r`.
 * - `r` is a handle borrowed for the call (not the one the callback was set on; do not free
 *   it). The callback may call any `bgfetch_` function, on this registration too (abort it,
 *   release it, free the handle it was set on), except `bgfetch_manager_close` of its own
 *   manager. A callback set through `r` itself lasts only until the call returns.
 */
typedef void (*bgfetch_progress_callback)(void *userdata, bgfetch_registration *r);

/**
 * Success.
 */
#define BGFETCH_OK 0

/**
 * A bad argument: NULL, bad UTF-8, bad id, URL, method or header, empty request list
 * (the web's `TypeError`).
 */
#define BGFETCH_E_INVALID_ARGUMENT 1

/**
 * An unreleased fetch already has this id (`TypeError`).
 */
#define BGFETCH_E_DUPLICATE_ID 2

/**
 * The store's quota would be exceeded (`QuotaExceededError`).
 */
#define BGFETCH_E_QUOTA_EXCEEDED 3

/**
 * Records no longer available, or a call in the wrong state (`InvalidStateError`).
 */
#define BGFETCH_E_INVALID_STATE 4

/**
 * The fetch was aborted first (`AbortError`).
 */
#define BGFETCH_E_ABORTED 5

/**
 * The request failed or was never made (`TypeError` from responseReady).
 */
#define BGFETCH_E_FETCH_FAILED 6

/**
 * A wait ran out of time.
 */
#define BGFETCH_E_TIMEOUT 7

/**
 * The store could not be read or written.
 */
#define BGFETCH_E_IO 8

/**
 * The manager was closed.
 */
#define BGFETCH_E_CLOSED 9

/**
 * Another manager (this process or another) holds this store.
 */
#define BGFETCH_E_BUSY 10

/**
 * A bug in the library, caught at the boundary. Once a thread of a manager died of one, its
 * running fetches fail (`fetch-error`) and every call that reaches the manager — on it, its
 * registrations, records and responses, waits included — returns this (getters keep answering
 * with the last values, and the lists and headers a handle holds stay readable): close the
 * manager and open the store again.
 */
#define BGFETCH_E_INTERNAL 99

/**
 * Still running (`""`).
 */
#define BGFETCH_RESULT_NONE 0

/**
 * `"success"`.
 */
#define BGFETCH_RESULT_SUCCESS 1

/**
 * `"failure"`.
 */
#define BGFETCH_RESULT_FAILURE 2

/**
 * No failure (`""`).
 */
#define BGFETCH_FAILURE_NONE 0

/**
 * `"aborted"`: the host aborted it.
 */
#define BGFETCH_FAILURE_ABORTED 1

/**
 * `"bad-status"`: a response status outside 200..=299.
 */
#define BGFETCH_FAILURE_BAD_STATUS 2

/**
 * `"fetch-error"`: a network error after the retries, or an integrity mismatch.
 */
#define BGFETCH_FAILURE_FETCH_ERROR 3

/**
 * `"quota-exceeded"`: the store's quota (or the disk) is full.
 */
#define BGFETCH_FAILURE_QUOTA_EXCEEDED 4

/**
 * `"download-total-exceeded"`: the responses would exceed the fetch's download total.
 */
#define BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED 5

/**
 * Waiting for a connection slot (`"queued"`).
 */
#define BGFETCH_RECORD_QUEUED 0

/**
 * Connecting, sending or receiving (`"active"`).
 */
#define BGFETCH_RECORD_ACTIVE 1

/**
 * An attempt failed transiently; the next comes after `bgfetch_record_retry_in_ms`
 * (`"retry-wait"`).
 */
#define BGFETCH_RECORD_RETRY_WAIT 2

/**
 * The host said offline (`"offline"`).
 */
#define BGFETCH_RECORD_OFFLINE 3

/**
 * Its fetch is paused (`"paused"`).
 */
#define BGFETCH_RECORD_PAUSED 4

/**
 * Its response is complete, whatever its status (`"done"`).
 */
#define BGFETCH_RECORD_DONE 5

/**
 * It will never have a complete response: failed, aborted (`"failed"`).
 */
#define BGFETCH_RECORD_FAILED 6

/**
 * `backgroundfetchsuccess`.
 */
#define BGFETCH_EVENT_SUCCESS 1

/**
 * `backgroundfetchfail`.
 */
#define BGFETCH_EVENT_FAIL 2

/**
 * `backgroundfetchabort`.
 */
#define BGFETCH_EVENT_ABORT 3

/**
 * On the manager's event thread (the default).
 */
#define BGFETCH_DISPATCH_THREAD 0

/**
 * Only inside `bgfetch_manager_dispatch()`, on the caller's thread.
 */
#define BGFETCH_DISPATCH_MANUAL 1

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The name of a status code, e.g. `"BGFETCH_E_TIMEOUT"`; `"BGFETCH_E_UNKNOWN"` for a value
 * that is not a status. Static: never freed.
 */
const char *bgfetch_status_name(bgfetch_status s);

/**
 * This thread's last error message: `""` after a successful call (getters and `_free`
 * included; the pure functions `bgfetch_status_name`, `bgfetch_version`,
 * `bgfetch_result_str`, `bgfetch_failure_reason_str`, `bgfetch_state_str` and this one
 * leave it as it is). Never
 * NULL. The string is valid until the next `bgfetch_` call on this thread.
 */
const char *bgfetch_last_error(void);

/**
 * The library version, `"MAJOR.MINOR.PATCH"`, equal to `BGFETCH_VERSION_*`. Static.
 */
const char *bgfetch_version(void);

/**
 * The web's string for a result: `""`, `"success"`, `"failure"` (`""` for an unknown value).
 * Static.
 */
const char *bgfetch_result_str(bgfetch_result v);

/**
 * The web's string for a failure reason: `""`, `"aborted"`, `"bad-status"`, `"fetch-error"`,
 * `"quota-exceeded"`, `"download-total-exceeded"` (`""` for an unknown value). Static.
 */
const char *bgfetch_failure_reason_str(bgfetch_failure_reason v);

/**
 * 0.3. The name of a record state: `"queued"`, `"active"`, `"retry-wait"`, `"offline"`,
 * `"paused"`, `"done"`, `"failed"` (`""` for an unknown value). Static.
 */
const char *bgfetch_state_str(bgfetch_state v);

/**
 * Frees a string the library handed out as owned (`char *`). NULL is a no-op.
 */
void bgfetch_string_free(char *s);

/**
 * A configuration with defaults for the store directory `store_dir`. A relative path is
 * resolved against the current directory once, by `bgfetch_manager_open`, which creates the
 * directory (mode 0700) if it is missing: only the directory itself, as `mkdir` without `-p`
 * (a missing parent is `BGFETCH_E_INVALID_ARGUMENT` at open). Returns NULL if `store_dir` is
 * NULL, empty or not UTF-8 (see `bgfetch_last_error`). Owned: free with `bgfetch_config_free`.
 */
bgfetch_config *bgfetch_config_new(const char *store_dir);

/**
 * Frees a configuration. NULL is a no-op.
 */
void bgfetch_config_free(bgfetch_config *c);

/**
 * The base URL that relative request URLs (and match URLs) resolve against: an absolute
 * http(s) URL.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_base_url(bgfetch_config *c, const char *url);

/**
 * Connections (and worker threads) for the whole manager, 1..=256. Default 8.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_max_connections(bgfetch_config *c, uint32_t n);

/**
 * Connections one fetch may use at once, 1..=256. Default 4.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_max_connections_per_fetch(bgfetch_config *c,
                                                            uint32_t n);

/**
 * Segments a large GET body may be split into (aria2's `--split`), 1..=16; default 1 (off:
 * one connection a request). The body is then fetched over that many connections at once,
 * each range written in place into the one body file and resumed on its own after a cut, a
 * pause, a close or a crash. Used only when the first response allows it (a
 * `Content-Length`, `Accept-Ranges: bytes`, a strong ETag or a Last-Modified for `If-Range`,
 * and no `Range` header of the host's) and into at most one segment per MiB of body;
 * otherwise one connection, as before. Segments count against `max_connections` and
 * `max_connections_per_fetch` (default 4: raise it to use more) and share the bandwidth cap.
 * `BGFETCH_E_INVALID_ARGUMENT` outside 1..=16.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_max_segments(bgfetch_config *c, uint32_t n);

/**
 * Bytes the store may hold in all (request bodies and response bodies); 0 = no quota (the
 * default).
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_quota(bgfetch_config *c, uint64_t bytes);

/**
 * The `User-Agent` sent with requests that do not set one (no CR, LF or NUL).
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_user_agent(bgfetch_config *c, const char *ua);

/**
 * Connect timeout and per-read timeout, in milliseconds, each at least 1. Defaults 10 000 and
 * 30 000. A read that waits longer is a network error (retried). The whole response head must
 * arrive within the read timeout (a head that trickles in never holds a connection longer),
 * and no read goes on longer than the no-progress timeout without a new body byte.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_timeouts(bgfetch_config *c,
                                           uint32_t connect_ms,
                                           uint32_t read_ms);

/**
 * The retry policy (manager-wide). Transient errors: connect/DNS/read/write errors, timeouts,
 * resets, truncated bodies. They are retried with exponential backoff (base `backoff_ms`,
 * default 1000, doubled each time, random jitter x1..1.5, capped by
 * `bgfetch_config_set_max_backoff`) and fail the request (fetch-error) only when BOTH hold:
 * `max_attempts` (1..=100, default 5) consecutive attempts failed without progress (any
 * progress resets the count), AND there was no progress for the no-progress timeout (unless
 * `bgfetch_config_set_fail_after_attempts`). Progress means the record's stored body grows
 * past the most it ever held in this fetch (a body restarted from zero that never gets
 * further is not progress).
 *
 * Fail at once: TLS verification errors (unknown issuer, expired, wrong name; the message
 * gives the verifier's reason), redirect errors, integrity mismatch, a full disk.
 * Fail after `max_attempts` consecutive attempts, without waiting for the no-progress
 * timeout: answers that are not well-formed HTTP (bad chunk framing, conflicting
 * Content-Lengths, a head over 64 KiB, a non-HTTP answer, TLS spoken to a plain-HTTP port;
 * also folded header lines and a space before a header's colon, which the parser refuses).
 * The outage rule is for a network that cannot be reached, not for a server that answers
 * wrongly. No backoff (the next attempt at once, not counted as a failure): an attempt that
 * made progress and ended early (a short 206, a cut after new bytes), and a reused keep-alive
 * connection that the server had closed.
 *
 * A GET with a validator (a strong ETag or Last-Modified) resumes with one `Range` +
 * `If-Range` (a request with its own `Range` resumes by narrowing it); anything else starts
 * again from byte 0. Only the answer to a request from byte 0 is the record's response: a
 * 408, 429, 5xx (any status but 200, 206 or 416) answering a resume keeps the stored bytes
 * and head and is a transient failure (`Retry-After` honoured). A body without a length
 * (close-delimited) is complete only at a clean end from the server; a pause, reset or close
 * that cuts it is a failed attempt. A waiting request holds no connection. A response status
 * is final unless `bgfetch_config_set_retry_statuses`.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_retries(bgfetch_config *c,
                                          uint32_t max_attempts,
                                          uint32_t backoff_ms);

/**
 * The longest delay in ms between two attempts of a request (default 60000).
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_max_backoff(bgfetch_config *c, uint32_t ms);

/**
 * How long in ms without a new body byte before a request may fail (default 600000 = 10
 * min); 0 = never (transient errors are retried for as long as the fetch lives).
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_no_progress_timeout(bgfetch_config *c,
                                                      uint64_t ms);

/**
 * `true`: a request fails as soon as `max_attempts` consecutive attempts failed, whatever the
 * no-progress timeout (for hosts that would rather fail fast than outlive an outage).
 * Default `false`.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_fail_after_attempts(bgfetch_config *c, bool on);

/**
 * `true`: 408, 429, 500, 502, 503 and 504 are transient (retried by the retry policy; a
 * `Retry-After` in seconds or as an HTTP date sets the next delay, clamped to 1 s..24 h; when
 * the retries are over, the last such response is the record's response). Default `false`:
 * every status is final, as the spec has it.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_retry_statuses(bgfetch_config *c, bool on);

/**
 * The proxy: `"http://host:port"` (or `"socks5://host:port"`); `""` = no proxy even if the
 * environment names one. Unset: the environment's `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`
 * (the first set wins, upper or lower case) and `NO_PROXY`, read at open.
 * A malformed URL is `BGFETCH_E_INVALID_ARGUMENT`.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_config_set_proxy(bgfetch_config *c, const char *proxy_url);

/**
 * The bandwidth cap of the whole manager in bytes of response bodies per second, shared
 * fairly by the running transfers (0 = none, the default). Changeable while open with
 * `bgfetch_manager_set_max_download_rate`.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_max_download_rate(bgfetch_config *c,
                                                    uint64_t bytes_per_s);

/**
 * The shortest time in ms between two progress callbacks of one registration while it runs
 * (the final one, when it settles, comes at once). Default 100.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_progress_interval(bgfetch_config *c,
                                                    uint32_t ms);

/**
 * A PEM file of CA certificates to trust for https instead of the built-in roots. TLS
 * verification is always on.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_ca_file(bgfetch_config *c,
                                          const char *pem_path);

/**
 * Where callbacks run. `BGFETCH_DISPATCH_THREAD` (default): on the manager's event thread.
 * `BGFETCH_DISPATCH_MANUAL`: only inside `bgfetch_manager_dispatch()`, on the caller's thread;
 * `bgfetch_manager_event_fd()` tells a poll loop when to call it.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_dispatch(bgfetch_config *c,
                                           bgfetch_dispatch mode);

/**
 * Whether a redirect from https to http is followed. Default false: such a redirect is a
 * `fetch-error`.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_config_set_allow_https_to_http(bgfetch_config *c,
                                                      bool allow);

/**
 * Opens the manager of `c`'s store: makes the store path absolute (a relative one is taken
 * against the current directory, once: every path the manager hands out is absolute), creates
 * the store directory (0700) if it is missing, takes the store lock (`BGFETCH_E_BUSY` if
 * another manager of this or another process holds it), loads every registration, resumes
 * unfinished fetches, and holds the completion events of settled, unreleased fetches until an
 * event callback is set. Only the store directory itself is created, as `mkdir` without `-p`
 * does: if its parent does not exist, `BGFETCH_E_INVALID_ARGUMENT` and nothing is created.
 * `*out` is owned: close it with `bgfetch_manager_close`.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_manager_open(const bgfetch_config *c,
                                    bgfetch_manager **out);

/**
 * Closes the manager: stops its transfers promptly (even mid-body), stops its threads,
 * releases the store lock and frees `m`. Everything registered is kept: unfinished fetches
 * resume at the next open. Registration handles that outlive it keep their last values;
 * calls that need the manager return `BGFETCH_E_CLOSED`. A callback running when close begins
 * runs to its end with the store whole (close waits for it and starts no other), but a call
 * of it that would block (a wait, `bgfetch_record_response` before the head, a read of body
 * bytes not stored yet) returns `BGFETCH_E_CLOSED` instead, so that close is never held up.
 * NULL is a no-op.
 */
void bgfetch_manager_close(bgfetch_manager *m);

/**
 * In `BGFETCH_DISPATCH_MANUAL` mode: a file descriptor (the read end of a pipe) that is
 * readable exactly while callbacks wait for `bgfetch_manager_dispatch`. Poll it for
 * readability only; do not read or close it. -1 in THREAD mode or for NULL.
 */
int bgfetch_manager_event_fd(const bgfetch_manager *m);

/**
 * In `BGFETCH_DISPATCH_MANUAL` mode: runs the pending callbacks on this thread, waiting up to
 * `timeout_ms` for the first (-1 forever, 0 poll). `*n_dispatched` (may be NULL) is how many
 * callbacks ran. A pending item that calls nothing when its turn comes (the first call of a
 * progress callback that an update already reached, a completion event while no event
 * callback is set) is not counted, and the wait goes on while `timeout_ms` lasts.
 * `BGFETCH_E_INVALID_STATE` in THREAD mode. Do not call it from inside a callback.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_manager_dispatch(bgfetch_manager *m,
                                        int64_t timeout_ms,
                                        uint32_t *n_dispatched);

/**
 * Sets (or, with NULL `cb`, clears) the completion-event callback; see
 * `bgfetch_event_callback`. Completion events of fetches that settled while no callback was
 * set — including every settled, unreleased fetch found at open — are delivered once one is
 * set. Each settled fetch gets its event once per manager session, and again at every open
 * until `bgfetch_registration_release`. When this returns, the previous callback is not
 * running (unless this call came from inside it) and will never be called again.
 *
 * With a non-NULL `cb` the library takes `userdata`: `free_userdata` (may be NULL) runs
 * exactly once, after the last call of `cb`, when the callback is replaced or cleared or the
 * manager is closed — and at once if this call fails. With a NULL `cb`, `userdata` and
 * `free_userdata` are not used.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_manager_set_event_callback(bgfetch_manager *m,
                                                  bgfetch_event_callback cb,
                                                  void *userdata,
                                                  bgfetch_free_callback free_userdata);

/**
 * Starts a background fetch of `n_requests` requests under `id` (any non-empty UTF-8 string
 * up to 65536 bytes; it never becomes a file name). Validates everything first: an empty
 * list, a bad URL, scheme, credentials in a URL, a blocked port, a bad method or header →
 * `BGFETCH_E_INVALID_ARGUMENT` and nothing is registered; an unreleased fetch with this id →
 * `BGFETCH_E_DUPLICATE_ID`; request bodies or a download total beyond the quota →
 * `BGFETCH_E_QUOTA_EXCEEDED`. Returns once the registration and request bodies are durably
 * stored; it does not wait for the network. `opts` may be NULL. The requests are copied.
 * `*out` is owned: free with `bgfetch_registration_free`.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_fetch(bgfetch_manager *m,
                             const char *id,
                             const bgfetch_request *const *requests,
                             size_t n_requests,
                             const bgfetch_options *opts,
                             bgfetch_registration **out);

/**
 * `bgfetch_fetch` of GET requests for `n_urls` URLs.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_fetch_urls(bgfetch_manager *m,
                                  const char *id,
                                  const char *const *urls,
                                  size_t n_urls,
                                  const bgfetch_options *opts,
                                  bgfetch_registration **out);

/**
 * The registration with `id`: `*out` is a new owned handle (free with
 * `bgfetch_registration_free`), or NULL if there is none (status OK). Finished fetches stay
 * findable until released.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_get(bgfetch_manager *m,
                           const char *id,
                           bgfetch_registration **out);

/**
 * The ids of every unreleased registration, sorted. `*out` is owned: free with
 * `bgfetch_strings_free`.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_get_ids(bgfetch_manager *m, bgfetch_strings **out);

/**
 * Number of problems met when the store was opened (state files that could not be read,
 * moved to `<store>/quarantine/`). 0 for NULL.
 */
size_t bgfetch_manager_problem_count(const bgfetch_manager *m);

/**
 * Problem `i` as an owned string (free with `bgfetch_string_free`), or NULL if out of range.
 */
char *bgfetch_manager_problem(const bgfetch_manager *m, size_t i);

/**
 * Bytes the store holds (request and response bodies), as the quota counts them.
 */
uint64_t bgfetch_manager_used_bytes(const bgfetch_manager *m);

/**
 * Offline (`true`): the host knows the network is gone. Running transfers stop at once (GET
 * keeps its partial bytes), no connection is tried, and neither the attempt counts nor the
 * no-progress clocks advance. Back online (`false`): every waiting request is tried at once.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_manager_set_offline(bgfetch_manager *m, bool offline);

/**
 * Whether the manager is offline. False for NULL.
 */
bool bgfetch_manager_offline(const bgfetch_manager *m);

/**
 * Changes the bandwidth cap of the whole manager (bytes of response bodies per second, 0 =
 * none); running transfers follow at once.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_manager_set_max_download_rate(bgfetch_manager *m,
                                                     uint64_t bytes_per_s);

/**
 * A GET request of `url` (absolute, or relative to the manager's base URL; checked by
 * `bgfetch_fetch`). `*out` is owned by the caller.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_request_new(const char *url, bgfetch_request **out);

/**
 * Sets the method: an HTTP token; CONNECT, TRACE and TRACK are refused; DELETE, GET, HEAD,
 * OPTIONS, POST and PUT are uppercased.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_request_set_method(bgfetch_request *r, const char *method);

/**
 * Adds a header. The name must be a token, the value free of CR, LF and NUL. Headers the
 * library owns (Host, Content-Length, Transfer-Encoding, Connection, ...) are ignored.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_request_add_header(bgfetch_request *r,
                                          const char *name,
                                          const char *value);

/**
 * Sets the body to upload (copied now; stored in the store by `bgfetch_fetch`). `data` may be
 * NULL only when `len` is 0.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_request_set_body(bgfetch_request *r,
                                        const uint8_t *data,
                                        size_t len);

/**
 * Sets Subresource-Integrity metadata (`"sha256-<base64>"`, sha384, sha512; several separated
 * by spaces, the strongest algorithm wins). A body that does not match fails the request
 * (`fetch-error`) and is never exposed.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_request_set_integrity(bgfetch_request *r, const char *sri);

/**
 * Frees a request. NULL is a no-op.
 */
void bgfetch_request_free(bgfetch_request *r);

/**
 * New options: no title, no icons, no download total. Owned: free with
 * `bgfetch_options_free`.
 */
bgfetch_options *bgfetch_options_new(void);

/**
 * Sets the title.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_options_set_title(bgfetch_options *o, const char *title);

/**
 * Adds an icon. `src` is required; `sizes`, `type` and `label` may be NULL.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_options_add_icon(bgfetch_options *o,
                                        const char *src,
                                        const char *sizes,
                                        const char *mime_type,
                                        const char *label);

/**
 * Sets the download total: the most bytes the responses may hold in all; 0 = no limit.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_options_set_download_total(bgfetch_options *o,
                                                  uint64_t bytes);

/**
 * Whether the fetch starts paused (stored durably; it runs once
 * `bgfetch_registration_resume` is called). Default `false`.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_options_set_start_paused(bgfetch_options *o, bool paused);

/**
 * Frees options. NULL is a no-op.
 */
void bgfetch_options_free(bgfetch_options *o);

/**
 * Number of icons; 0 for NULL.
 */
size_t bgfetch_icons_len(const bgfetch_icons *icons);

/**
 * Icon `i`: its `src`, `sizes`, `type` and `label` (`""` where not given). Any out-pointer may
 * be NULL to skip it. The strings are borrowed from the list. `BGFETCH_E_INVALID_ARGUMENT` if
 * `i` is out of range.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_icons_get(const bgfetch_icons *icons,
                                 size_t i,
                                 const char **src,
                                 const char **sizes,
                                 const char **mime_type,
                                 const char **label);

/**
 * Frees a list of icons. NULL is a no-op.
 */
void bgfetch_icons_free(bgfetch_icons *icons);

/**
 * The id. Borrowed: lives as long as the handle. NULL for NULL.
 */
const char *bgfetch_registration_id(const bgfetch_registration *r);

/**
 * Sum of the request body sizes (`uploadTotal`). 0 for NULL.
 */
uint64_t bgfetch_registration_upload_total(const bgfetch_registration *r);

/**
 * Request body bytes sent so far (`uploaded`). 0 for NULL.
 */
uint64_t bgfetch_registration_uploaded(const bgfetch_registration *r);

/**
 * The download total of the options, 0 if none (`downloadTotal`). 0 for NULL.
 */
uint64_t bgfetch_registration_download_total(const bgfetch_registration *r);

/**
 * Response body bytes stored so far (`downloaded`). 0 for NULL.
 */
uint64_t bgfetch_registration_downloaded(const bgfetch_registration *r);

/**
 * The result: `BGFETCH_RESULT_NONE` while running, then `_SUCCESS` or `_FAILURE`.
 */
bgfetch_result bgfetch_registration_result(const bgfetch_registration *r);

/**
 * The failure reason (`BGFETCH_FAILURE_NONE` unless the result is failure).
 */
bgfetch_failure_reason bgfetch_registration_failure_reason(const bgfetch_registration *r);

/**
 * 0.3. What the fetch is doing, read live: settled, `BGFETCH_RECORD_DONE` (success) or
 * `BGFETCH_RECORD_FAILED`; else the most alive state of its pending records, in the order
 * `_ACTIVE`, `_QUEUED`, `_RETRY_WAIT`, `_OFFLINE`, `_PAUSED` (see `bgfetch_record_state`).
 * `BGFETCH_RECORD_FAILED` for NULL.
 */
bgfetch_state bgfetch_registration_state(const bgfetch_registration *r);

/**
 * 0.3. The latest failed attempt's message of any of its records (`""` if none failed since
 * that record last made progress), copied into `buf` as `snprintf` does (see
 * `bgfetch_record_last_error`). Returns the message's full length. 0 (and `""` in `buf`) for
 * NULL.
 */
size_t bgfetch_registration_last_error(const bgfetch_registration *r, char *buf, size_t cap);

/**
 * 0.3. The body bytes the fetch expects: the sum of the response bodies' lengths known from
 * their heads (Content-Length, Content-Range), read live. `*all_known` (may be NULL) is set to
 * whether every record's length is known: until then the sum is a lower bound (show a
 * percentage only once it is true). 0 (and `*all_known` false) for NULL.
 */
uint64_t bgfetch_registration_expected_total(const bgfetch_registration *r, bool *all_known);

/**
 * Whether the records can be read (`recordsAvailable`): true until released. False for NULL.
 */
bool bgfetch_registration_records_available(const bgfetch_registration *r);

/**
 * The title as an owned string (`""` if none): free with `bgfetch_string_free`. NULL for NULL.
 */
char *bgfetch_registration_title(const bgfetch_registration *r);

/**
 * The icons as an owned list (free with `bgfetch_icons_free`).
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_icons(const bgfetch_registration *r,
                                          bgfetch_icons **out);

/**
 * updateUI: replaces the title and/or the icons with those set in `ui` (a title or icons
 * that `ui` does not set are kept). Persisted. `BGFETCH_E_INVALID_STATE` after release.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_update_ui(bgfetch_registration *r,
                                              const bgfetch_options *ui);

/**
 * abort(): `*out_aborted` (may be NULL) is true if the fetch was running and is now aborted,
 * false if it had already settled. Transfers stop promptly, even one blocked on the server.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_abort(bgfetch_registration *r,
                                          bool *out_aborted);

/**
 * Blocks until the result is set and stored (-1 forever, 0 poll): `BGFETCH_E_TIMEOUT` if it
 * is not by then, `BGFETCH_E_CLOSED` once the manager is closed.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_wait(bgfetch_registration *r,
                                         int64_t timeout_ms);

/**
 * Sets (NULL `cb` clears) the progress callback of this HANDLE (the web's per-object
 * `onprogress`: every handle may have its own); see `bgfetch_progress_callback`.
 *
 * - When this returns, the callback it replaced is not running (unless this call came from
 *   inside it) and will never be called again, and that callback's `free_userdata` has run
 *   (or runs as soon as it returns, when called from inside it).
 * - With a non-NULL `cb` the library takes `userdata`: `free_userdata` (may be NULL) runs
 *   exactly once, after the last call of `cb`, when the callback is replaced or cleared,
 *   the handle is freed, or the manager is closed — and at once if this call fails.
 *   With a NULL `cb`, `userdata` and `free_userdata` are not used.
 * - Freeing the handle removes its callback: when `bgfetch_registration_free` returns, the
 *   callback is not running and will never run again.
 * - In THREAD dispatch, `bgfetch_registration_wait` returns only after the final progress
 *   callbacks have returned.
 * - 0.3: a callback set is called once soon after this returns (on the event thread, or in
 *   the next `bgfetch_manager_dispatch`), with the current values.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_set_progress_callback(bgfetch_registration *r,
                                                          bgfetch_progress_callback cb,
                                                          void *userdata,
                                                          bgfetch_free_callback free_userdata);

/**
 * Pauses the fetch (the spec's paused flag). Durable: it stays paused across close, open and
 * a crash. Its transfers stop now and it holds no connection; GET requests resume with
 * `Range` when it resumes, others restart. Bytes a transfer had already received are still
 * stored: the byte counters may grow by up to one read per connection after this returns.
 * `bgfetch_registration_abort` works while paused. The progress callback fires on the
 * change. Pausing a paused fetch is OK; `BGFETCH_E_INVALID_STATE` once it settled.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_registration_pause(bgfetch_registration *r);

/**
 * Resumes a paused fetch (OK if it is not paused); `BGFETCH_E_INVALID_STATE` once settled.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_registration_resume(bgfetch_registration *r);

/**
 * Whether the fetch is paused. False for NULL.
 */
bool bgfetch_registration_paused(const bgfetch_registration *r);

/**
 * The host has what it needs: the records become unavailable, their storage is freed, the
 * completion event is never delivered again, and `bgfetch_get` no longer finds the id (which
 * may be used again). `BGFETCH_E_INVALID_STATE` while the fetch runs. Releasing twice is OK.
 */
BGFETCH_NODISCARD bgfetch_status bgfetch_registration_release(bgfetch_registration *r);

/**
 * Frees a handle (the registration itself lives on in its manager). NULL is a no-op. A
 * handle may be freed inside a callback, except the borrowed `reg` passed to it.
 */
void bgfetch_registration_free(bgfetch_registration *r);

/**
 * match(): the first record (in request order) matching `req` under the query flags
 * (`BGFETCH_QUERY_*`), as an owned `*out` (free with `bgfetch_record_free`), or NULL if none.
 * `BGFETCH_E_INVALID_STATE` once the records are released.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_match(bgfetch_registration *r,
                                          const bgfetch_request *req,
                                          uint32_t query_flags,
                                          bgfetch_record **out);

/**
 * match() with a GET request of `url` (absolute or relative to the base URL).
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_match_url(bgfetch_registration *r,
                                              const char *url,
                                              uint32_t query_flags,
                                              bgfetch_record **out);

/**
 * matchAll(): every record matching `req` (NULL = all records), in request order, as an
 * owned list (free with `bgfetch_records_free`). `BGFETCH_E_INVALID_STATE` once released.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_registration_match_all(bgfetch_registration *r,
                                              const bgfetch_request *req,
                                              uint32_t query_flags,
                                              bgfetch_records **out);

/**
 * Number of records; 0 for NULL.
 */
size_t bgfetch_records_len(const bgfetch_records *rs);

/**
 * Record `i`, borrowed from the list (do not free it), or NULL if out of range.
 */
const bgfetch_record *bgfetch_records_get(const bgfetch_records *rs, size_t i);

/**
 * Frees a list and its records. NULL is a no-op.
 */
void bgfetch_records_free(bgfetch_records *rs);

/**
 * The request URL (absolute, without fragment). Borrowed from the record. NULL for NULL.
 */
const char *bgfetch_record_url(const bgfetch_record *rec);

/**
 * The request method. Borrowed from the record. NULL for NULL.
 */
const char *bgfetch_record_method(const bgfetch_record *rec);

/**
 * Number of request headers. 0 for NULL.
 */
size_t bgfetch_record_header_count(const bgfetch_record *rec);

/**
 * Request header `i`: `*name` and `*value` are borrowed from the record.
 * `BGFETCH_E_INVALID_ARGUMENT` if `i` is out of range.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_record_header_at(const bgfetch_record *rec,
                                        size_t i,
                                        const char **name,
                                        const char **value);

/**
 * The size of the request body in bytes (0 = none): the record's request includes its body.
 * 0 for NULL.
 */
uint64_t bgfetch_record_body_size(const bgfetch_record *rec);

/**
 * Reads up to `cap` bytes of the stored request body at `offset` into `buf`; `*n_read = 0`
 * at its end (or for a request without a body). Never blocks on the network: the body was
 * stored by `bgfetch_fetch`. `BGFETCH_E_INVALID_STATE` once the records are released;
 * `BGFETCH_E_IO` if the stored body cannot be read.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_record_read_body(const bgfetch_record *rec,
                                        uint64_t offset,
                                        uint8_t *buf,
                                        size_t cap,
                                        size_t *n_read);

/**
 * responseReady: blocks until the response's status and headers are known (the body may still
 * be arriving), then `*out` is an owned response (free with `bgfetch_response_free`).
 * `BGFETCH_E_ABORTED` if the fetch was aborted first; `BGFETCH_E_FETCH_FAILED` if the request
 * failed (network error, integrity mismatch) or was never made; `BGFETCH_E_TIMEOUT` when
 * `timeout_ms` (-1 forever, 0 poll) passes first; `BGFETCH_E_INVALID_STATE` once released.
 * A non-2xx response is a response (OK).
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_record_response(const bgfetch_record *rec,
                                       int64_t timeout_ms,
                                       bgfetch_response **out);

/**
 * 0.3. What the record is doing, read live: `BGFETCH_RECORD_QUEUED` (waiting for a
 * connection slot), `_ACTIVE` (connecting, sending or receiving), `_RETRY_WAIT` (an attempt
 * failed transiently; the next comes after `bgfetch_record_retry_in_ms`), `_OFFLINE` (the
 * host said offline), `_PAUSED` (its fetch is paused), `_DONE` (its response is complete,
 * whatever its status), `_FAILED` (it will never have a complete response: failed, aborted).
 * `BGFETCH_RECORD_FAILED` for NULL.
 */
bgfetch_state bgfetch_record_state(const bgfetch_record *rec);

/**
 * 0.3. Attempts made for the record in this fetch since the manager was opened (0: none yet).
 * 0 for NULL.
 */
uint32_t bgfetch_record_attempts(const bgfetch_record *rec);

/**
 * 0.3. In `BGFETCH_RECORD_RETRY_WAIT`: milliseconds until the next attempt (0 when it is due);
 * -1 in any other state, and for NULL.
 */
int64_t bgfetch_record_retry_in_ms(const bgfetch_record *rec);

/**
 * 0.3. The last failed attempt's message (`""` if none failed; a record still waiting keeps
 * it across close and open, so that a later session can say why it waited), copied into `buf` as
 * `snprintf` does: at most `cap - 1` bytes and a NUL (nothing when `buf` is NULL or `cap` is
 * 0). Returns the message's full length in bytes: a return `>= cap` means it was truncated.
 * 0 (and `""` in `buf`) for a NULL record.
 */
size_t bgfetch_record_last_error(const bgfetch_record *rec, char *buf, size_t cap);

/**
 * Frees a record returned by match. NULL is a no-op. Never free one borrowed from a list.
 */
void bgfetch_record_free(bgfetch_record *rec);

/**
 * The status code. 0 for NULL.
 */
uint16_t bgfetch_response_status(const bgfetch_response *res);

/**
 * Whether the status is 200..=299. False for NULL.
 */
bool bgfetch_response_ok(const bgfetch_response *res);

/**
 * The final URL, after redirects. Borrowed from the response. NULL for NULL.
 */
const char *bgfetch_response_url(const bgfetch_response *res);

/**
 * The value of header `name` (case-insensitive; several of one name joined with ", "), or NULL
 * if absent. Borrowed from the response.
 */
const char *bgfetch_response_header(const bgfetch_response *res, const char *name);

/**
 * Number of headers (as received, in order). 0 for NULL.
 */
size_t bgfetch_response_header_count(const bgfetch_response *res);

/**
 * Header `i`: `*name` (lowercase) and `*value`, borrowed from the response.
 * `BGFETCH_E_INVALID_ARGUMENT` if `i` is out of range.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_response_header_at(const bgfetch_response *res,
                                          size_t i,
                                          const char **name,
                                          const char **value);

/**
 * Whether the whole body is stored. False for NULL.
 */
bool bgfetch_response_complete(const bgfetch_response *res);

/**
 * Blocks until the body is complete (-1 forever, 0 poll): `BGFETCH_E_ABORTED` /
 * `BGFETCH_E_FETCH_FAILED` if it can never complete, `BGFETCH_E_TIMEOUT` if time runs out.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_response_wait(const bgfetch_response *res,
                                     int64_t timeout_ms);

/**
 * Body bytes stored so far. 0 for NULL.
 */
uint64_t bgfetch_response_body_size(const bgfetch_response *res);

/**
 * The absolute path of the stored body file (the store directory is made absolute at open):
 * it exists once the body is complete. Read it, never write it. Borrowed from the response;
 * the file is valid until the records are released.
 */
const char *bgfetch_response_body_path(const bgfetch_response *res);

/**
 * 0.3. Reads up to `cap` body bytes at `offset` into `buf`, blocking (up to `timeout_ms`: -1
 * forever, 0 poll) until bytes at `offset` are stored or the body is complete; `*n_read = 0`
 * at the end of a complete body. `BGFETCH_E_TIMEOUT` when no byte at `offset` was stored in
 * time (a paused fetch stores none); `BGFETCH_E_ABORTED` / `BGFETCH_E_FETCH_FAILED` if the
 * body stops short of `offset`.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_response_read(const bgfetch_response *res,
                                     uint64_t offset,
                                     uint8_t *buf,
                                     size_t cap,
                                     int64_t timeout_ms,
                                     size_t *n_read);

/**
 * 0.3. Waits (up to `timeout_ms`: -1 forever, 0 poll) for the complete body, then writes it
 * to `dest_path` atomically: a temporary file in the same directory, synced, renamed over
 * `dest_path`. All or nothing. `BGFETCH_E_TIMEOUT` when the body is not complete in time:
 * `dest_path` is then untouched.
 */
BGFETCH_NODISCARD
bgfetch_status bgfetch_response_save(const bgfetch_response *res,
                                     const char *dest_path,
                                     int64_t timeout_ms);

/**
 * Frees a response. NULL is a no-op.
 */
void bgfetch_response_free(bgfetch_response *res);

/**
 * Number of strings; 0 for NULL.
 */
size_t bgfetch_strings_len(const bgfetch_strings *s);

/**
 * String `i`, or NULL if `i` is out of range. Borrowed: lives as long as the list.
 */
const char *bgfetch_strings_get(const bgfetch_strings *s, size_t i);

/**
 * Frees a list. NULL is a no-op.
 */
void bgfetch_strings_free(bgfetch_strings *s);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* BGFETCH_H */
