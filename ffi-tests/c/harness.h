/*
 * harness.h - a tiny, HTTP-free test harness shared by the C tests of libbgfetch.
 *
 * Every test program is run by tests/ffi_c.rs as
 *     test_x <server base URL "http://127.0.0.1:PORT/"> <fresh temporary directory>
 * and prints one TAP-like line per check ("ok N - name" / "not ok N - name"), with
 * "#" diagnostic lines before a failing check. It exits 0 only if every check passed.
 *
 * Include this file FIRST (it defines the POSIX feature macro before any system header).
 *
 * Conventions:
 *   EXPECT*(...)  evaluates one condition, prints a diagnostic if it is false, and yields 0/1;
 *                 used as `ok &= EXPECT(...)` to build one named check out of several facts.
 *   CHECK(ok, "name")  reports one named check.
 * All helpers are `static inline` so that a test that does not use one gets no warning.
 */
#ifndef BGFETCH_TEST_HARNESS_H
#define BGFETCH_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bgfetch.h"

/* ------------------------------------------------------------------------------------------ */
/* global state                                                                                */

static char h_base[256];     /* "http://127.0.0.1:PORT/" */
static char h_tmp[400];      /* a fresh directory for stores */
static int h_count;          /* checks reported */
static int h_failed;         /* checks failed */
static pthread_mutex_t h_print_lock = PTHREAD_MUTEX_INITIALIZER;

/* Every "long" wait in the tests; generous, so that a slow machine or valgrind does not fail
   a correct library, while a hang still ends as a failed check, not as a killed process. */
#define H_WAIT_MS 30000

/* ------------------------------------------------------------------------------------------ */
/* reporting                                                                                   */

static inline void h_diag(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&h_print_lock);
    fputs("#   ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&h_print_lock);
}

static inline int h_check(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&h_print_lock);
    h_count++;
    if (!ok) h_failed++;
    fprintf(stdout, "%s %d - ", ok ? "ok" : "not ok", h_count);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    if (!ok) fprintf(stdout, "  (%s:%d)", file, line);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&h_print_lock);
    return ok;
}

/* CHECK(ok, "name %d", args...) - one named check. */
#define CHECK(ok, ...) h_check(!!(ok), __FILE__, __LINE__, __VA_ARGS__)

static inline int h_expect(int ok, const char *expr, const char *file, int line) {
    if (!ok) h_diag("expected: %s  (%s:%d)", expr, file, line);
    return ok;
}
#define EXPECT(c) h_expect(!!(c), #c, __FILE__, __LINE__)

/* EXPECT_D(cond, "fmt", args...) - EXPECT, with a diagnostic of its own when cond is false. */
#define EXPECT_D(c, ...) (EXPECT(c) ? 1 : (h_diag(__VA_ARGS__), 0))

static inline const char *h_stname(bgfetch_status s) {
    const char *n = bgfetch_status_name(s);
    return n ? n : "(null)";
}

static inline int h_expect_st(bgfetch_status got, bgfetch_status want, const char *expr,
                              const char *file, int line) {
    if (got == want) return 1;
    {
        const char *e = bgfetch_last_error();
        h_diag("%s  (%s:%d)", expr, file, line);
        h_diag("    returned %s (%u), expected %s (%u); last_error: \"%s\"", h_stname(got),
               (unsigned)got, h_stname(want), (unsigned)want, e ? e : "(NULL)");
    }
    return 0;
}
/* EXPECT_ST(call, BGFETCH_OK) - a call returns the given status (prints last_error if not). */
#define EXPECT_ST(expr, want) h_expect_st((expr), (want), #expr, __FILE__, __LINE__)

static inline int h_expect_u64(uint64_t got, uint64_t want, const char *expr, const char *file,
                               int line) {
    if (got == want) return 1;
    h_diag("%s  (%s:%d): got %" PRIu64 ", expected %" PRIu64, expr, file, line, got, want);
    return 0;
}
#define EXPECT_U64(got, want) h_expect_u64((uint64_t)(got), (uint64_t)(want), #got, __FILE__, __LINE__)

static inline int h_expect_str(const char *got, const char *want, const char *expr,
                               const char *file, int line) {
    if (got && want && strcmp(got, want) == 0) return 1;
    if (!got && !want) return 1;
    if (got && strlen(got) > 300) {
        h_diag("%s  (%s:%d): got a %zu-byte string, expected \"%.200s\"", expr, file, line,
               strlen(got), want ? want : "(NULL)");
    } else {
        h_diag("%s  (%s:%d): got \"%s\", expected \"%.300s\"", expr, file, line,
               got ? got : "(NULL)", want ? want : "(NULL)");
    }
    return 0;
}
#define EXPECT_STR(got, want) h_expect_str((got), (want), #got, __FILE__, __LINE__)

/* ------------------------------------------------------------------------------------------ */
/* setup / teardown                                                                            */

static void h_on_alarm(int sig) {
    static const char msg[] = "not ok - watchdog: the test program did not finish in time\n";
    ssize_t n;
    (void)sig;
    n = write(1, msg, sizeof msg - 1);
    (void)n;
    _exit(3);
}

/* h_init(argc, argv): parse the runner's arguments; arms a watchdog. */
static inline void h_init(int argc, char **argv) {
    unsigned secs = 110;
    const char *w = getenv("BGFETCH_TEST_WATCHDOG_S");
    if (argc < 3) {
        fprintf(stderr, "usage: %s <server base URL> <temporary directory>\n", argv[0]);
        exit(2);
    }
    if (strlen(argv[1]) + 2 > sizeof h_base || strlen(argv[2]) + 1 > sizeof h_tmp) {
        fprintf(stderr, "%s: arguments too long\n", argv[0]);
        exit(2);
    }
    snprintf(h_base, sizeof h_base, "%s%s", argv[1],
             (argv[1][0] && argv[1][strlen(argv[1]) - 1] == '/') ? "" : "/");
    snprintf(h_tmp, sizeof h_tmp, "%s", argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (w && atoi(w) > 0) secs = (unsigned)atoi(w);
    signal(SIGALRM, h_on_alarm);
    alarm(secs);
}

/* return code for main() */
static inline int h_done(void) {
    pthread_mutex_lock(&h_print_lock);
    printf("1..%d\n", h_count);
    if (h_failed) printf("# FAILED %d of %d checks\n", h_failed, h_count);
    else printf("# all %d checks passed\n", h_count);
    fflush(stdout);
    pthread_mutex_unlock(&h_print_lock);
    return (h_failed || h_count == 0) ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* strings, URLs, paths                                                                        */

typedef struct { char s[1024]; } h_str;

/* An absolute URL: `base` (ending in '/') and the formatted path (a leading '/' is fine). */
static inline h_str h_url(const char *base, const char *fmt, ...) {
    h_str r;
    char path[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    snprintf(r.s, sizeof r.s, "%s%s", base, path[0] == '/' ? path + 1 : path);
    return r;
}

/* U("bytes/%d?seed=%d", n, s).s - an absolute URL on the test server (a leading '/' is fine). */
#define U(...) h_url(h_base, __VA_ARGS__)

/* S("fmt", ...).s - any formatted string. */
static inline h_str S(const char *fmt, ...) {
    h_str r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.s, sizeof r.s, fmt, ap);
    va_end(ap);
    return r;
}

/* P("name").s - a path inside the test's temporary directory. */
static inline h_str P(const char *fmt, ...) {
    h_str r;
    char name[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(r.s, sizeof r.s, "%s/%s", h_tmp, name);
    return r;
}

static inline int h_strings_contains(const bgfetch_strings *s, const char *want) {
    size_t i, n = bgfetch_strings_len(s);
    for (i = 0; i < n; i++) {
        const char *g = bgfetch_strings_get(s, i);
        if (g && strcmp(g, want) == 0) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* time                                                                                        */

static inline int64_t h_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void h_sleep_ms(int64_t ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------------------------ */
/* latch: a counter with a condition variable, for waiting on callbacks                        */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long value;
} h_latch;

static inline void h_latch_init(h_latch *l) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->value = 0;
}
static inline void h_latch_destroy(h_latch *l) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}
static inline void h_latch_add(h_latch *l, long d) {
    pthread_mutex_lock(&l->mu);
    l->value += d;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}
static inline long h_latch_get(h_latch *l) {
    long v;
    pthread_mutex_lock(&l->mu);
    v = l->value;
    pthread_mutex_unlock(&l->mu);
    return v;
}
/* wait until value >= want; returns 1 if reached, 0 on timeout */
static inline int h_latch_wait(h_latch *l, long want, int64_t timeout_ms) {
    struct timespec dl;
    int ok;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += (time_t)(timeout_ms / 1000);
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->mu);
    while (l->value < want) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &dl) == ETIMEDOUT) break;
    }
    ok = l->value >= want;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* the test server's body pattern                                                              */

static inline uint8_t h_pattern_byte(uint64_t i, uint64_t seed) {
    return (uint8_t)(((i % 251) + 7 * seed + i / 65536) % 256);
}

static inline uint8_t *h_pattern(size_t len, uint64_t seed) {
    size_t i;
    uint8_t *b = (uint8_t *)malloc(len ? len : 1);
    for (i = 0; i < len; i++) b[i] = h_pattern_byte(i, seed);
    return b;
}

/* 1 if buf[0..len) == pattern(want_len, seed) (and len == want_len); prints the first mismatch */
static inline int h_is_pattern(const uint8_t *buf, size_t len, size_t want_len, uint64_t seed) {
    size_t i;
    if (!buf) {
        h_diag("body: no buffer (expected %zu bytes of seed %" PRIu64 ")", want_len, seed);
        return 0;
    }
    if (len != want_len) {
        h_diag("body: %zu bytes, expected %zu", len, want_len);
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (buf[i] != h_pattern_byte(i, seed)) {
            h_diag("body: byte %zu is %u, expected %u (seed %" PRIu64 ")", i, buf[i],
                   h_pattern_byte(i, seed), seed);
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* this run's own test server (BGFETCH_TEST_OWN_SERVER), over a plain socket (never through  */
/* the library): its counters count this program's requests alone                            */

static char h_own_base[256]; /* "http://127.0.0.1:PORT/", set by h_own_init */

/* Reads BGFETCH_TEST_OWN_SERVER into h_own_base: 1 if it names a server. */
static inline int h_own_init(void) {
    const char *own = getenv("BGFETCH_TEST_OWN_SERVER");
    if (!own || !*own || strlen(own) + 2 >= sizeof h_own_base) return 0;
    snprintf(h_own_base, sizeof h_own_base, "%s%s", own,
             own[strlen(own) - 1] == '/' ? "" : "/");
    return 1;
}

/* GET `path` on the own server; the response body in out (NUL-terminated). 1 on success. */
static inline int h_own_get(const char *path, char *out, size_t cap) {
    unsigned port = 0;
    struct sockaddr_in a;
    char req[256];
    size_t len = 0;
    ssize_t n;
    char *body;
    int fd;
    if (sscanf(h_own_base, "http://127.0.0.1:%u/", &port) != 1) return 0;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return 0;
    }
    while (len + 1 < cap && (n = read(fd, out + len, cap - 1 - len)) > 0) len += (size_t)n;
    close(fd);
    out[len] = 0;
    body = strstr(out, "\r\n\r\n");
    if (!body) return 0;
    memmove(out, body + 4, strlen(body + 4) + 1);
    return 1;
}

/* A counter of the own server's /_stats ("requests", "body_bytes_sent", ...); -1 if it cannot
   be read. */
static inline long long h_own_stat(const char *key) {
    char buf[1024], k[64];
    const char *p;
    if (!h_own_get("/_stats", buf, sizeof buf)) return -1;
    snprintf(k, sizeof k, "\"%s\":", key);
    p = strstr(buf, k);
    return p ? atoll(p + strlen(k)) : -1;
}

/* Resets the own server's counters (a diagnostic if it cannot). */
static inline void h_own_reset(void) {
    char buf[256];
    if (!h_own_get("/_reset", buf, sizeof buf)) h_diag("cannot /_reset the own server");
}

/* ------------------------------------------------------------------------------------------ */
/* library helpers                                                                             */

/* A config for a store in the temporary directory: base URL = the server, one attempt that
   is final whatever the no-progress timeout (so expected failures are fast), short connect
   timeout. Free with bgfetch_config_free. */
static inline bgfetch_config *h_config(const char *store_name) {
    bgfetch_config *c = bgfetch_config_new(P("%s", store_name).s);
    if (!c) {
        h_diag("bgfetch_config_new(%s) returned NULL: %s", store_name, bgfetch_last_error());
        return NULL;
    }
    if (bgfetch_config_set_base_url(c, h_base) != BGFETCH_OK ||
        bgfetch_config_set_retries(c, 1, 0) != BGFETCH_OK ||
        bgfetch_config_set_fail_after_attempts(c, true) != BGFETCH_OK ||
        bgfetch_config_set_timeouts(c, 5000, 20000) != BGFETCH_OK) {
        h_diag("configuring %s failed: %s", store_name, bgfetch_last_error());
    }
    return c;
}

/* The library's default configuration (retry policy and all) but the store, the base URL (the
   shared server), a short progress interval and no proxy from the environment. Free with
   bgfetch_config_free. */
static inline bgfetch_config *h_default_config(const char *store) {
    bgfetch_config *c = bgfetch_config_new(P("%s", store).s);
    if (!c) {
        h_diag("bgfetch_config_new(%s): %s", store, bgfetch_last_error());
        return NULL;
    }
    if (bgfetch_config_set_base_url(c, h_base) != BGFETCH_OK ||
        bgfetch_config_set_progress_interval(c, 10) != BGFETCH_OK ||
        bgfetch_config_set_proxy(c, "") != BGFETCH_OK)
        h_diag("configuring %s failed: %s", store, bgfetch_last_error());
    return c;
}

/* `hay` contains `needle`, ignoring ASCII case. */
static inline int h_icontains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return 1;
    return 0;
}

/* Open a manager with the given config and free the config. NULL (and a diagnostic) on error. */
static inline bgfetch_manager *h_open_cfg(bgfetch_config *c) {
    bgfetch_manager *m = NULL;
    bgfetch_status st;
    if (!c) return NULL;
    st = bgfetch_manager_open(c, &m);
    if (st != BGFETCH_OK) {
        h_diag("bgfetch_manager_open failed: %s: %s", h_stname(st), bgfetch_last_error());
        m = NULL;
    }
    bgfetch_config_free(c);
    return m;
}

/* Open a manager on store_name with h_config's settings. */
static inline bgfetch_manager *h_open(const char *store_name) {
    return h_open_cfg(h_config(store_name));
}

/* Fetch the given absolute or relative URLs (NULL-terminated varargs) under id. */
static inline bgfetch_registration *h_fetch(bgfetch_manager *m, const char *id,
                                            const bgfetch_options *opts, const char *url, ...) {
    const char *urls[32];
    size_t n = 0;
    va_list ap;
    bgfetch_registration *r = NULL;
    bgfetch_status st;
    va_start(ap, url);
    while (url && n < 32) {
        urls[n++] = url;
        url = va_arg(ap, const char *);
    }
    va_end(ap);
    st = bgfetch_fetch_urls(m, id, urls, n, opts, &r);
    if (st != BGFETCH_OK) {
        h_diag("bgfetch_fetch_urls(%.100s) failed: %s: %s", id, h_stname(st),
               bgfetch_last_error());
        return NULL;
    }
    return r;
}

/* Fetch the requests q1 and q2 (built by the caller; both freed here, whatever happens) as
 * `id`. The registration, or NULL (with a diagnostic). */
static inline bgfetch_registration *h_fetch2(bgfetch_manager *m, const char *id,
                                             bgfetch_request *q1, bgfetch_request *q2) {
    const bgfetch_request *rq[2];
    bgfetch_registration *r = NULL;
    bgfetch_status st;
    rq[0] = q1;
    rq[1] = q2;
    st = bgfetch_fetch(m, id, rq, 2, NULL, &r);
    bgfetch_request_free(q1);
    bgfetch_request_free(q2);
    if (st != BGFETCH_OK) {
        h_diag("bgfetch_fetch(%.100s) failed: %s: %s", id, h_stname(st), bgfetch_last_error());
        return NULL;
    }
    return r;
}

/* Read a whole response body with bgfetch_response_read; malloc'd (free it); NULL on error. */
static inline uint8_t *h_read_all(const bgfetch_response *res, size_t *out_len) {
    size_t cap = 65536, len = 0;
    uint8_t *buf = (uint8_t *)malloc(cap);
    *out_len = 0;
    for (;;) {
        size_t n = 0;
        bgfetch_status st;
        if (cap - len < 4096) {
            cap *= 2;
            buf = (uint8_t *)realloc(buf, cap);
        }
        /* read in odd-sized pieces to exercise offsets */
        st = bgfetch_response_read(res, (uint64_t)len, buf + len, 4093, -1, &n);
        if (st != BGFETCH_OK) {
            h_diag("bgfetch_response_read(offset %zu) failed: %s: %s", len, h_stname(st),
                   bgfetch_last_error());
            free(buf);
            return NULL;
        }
        if (n == 0) break;
        len += n;
    }
    *out_len = len;
    return buf;
}

/* Read a whole file; malloc'd; NULL if it cannot be read. */
static inline uint8_t *h_read_file(const char *path, size_t *out_len) {
    FILE *f;
    size_t cap = 65536, len = 0, n;
    uint8_t *buf;
    *out_len = 0;
    if (!path) return NULL;
    f = fopen(path, "rb");
    if (!f) {
        h_diag("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = (uint8_t *)malloc(cap);
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = (uint8_t *)realloc(buf, cap);
        }
    }
    fclose(f);
    *out_len = len;
    return buf;
}

/* match_url + record_response + response_wait; returns the response (free it) or NULL. */
static inline bgfetch_response *h_response_of(bgfetch_registration *r, const char *url) {
    bgfetch_record *rec = NULL;
    bgfetch_response *res = NULL;
    bgfetch_status st = bgfetch_registration_match_url(r, url, 0, &rec);
    if (st != BGFETCH_OK || !rec) {
        h_diag("match_url(%s): %s, record %p: %s", url, h_stname(st), (void *)rec,
               bgfetch_last_error());
        return NULL;
    }
    st = bgfetch_record_response(rec, H_WAIT_MS, &res);
    bgfetch_record_free(rec);
    if (st != BGFETCH_OK || !res) {
        h_diag("record_response(%s): %s: %s", url, h_stname(st), bgfetch_last_error());
        return NULL;
    }
    return res;
}

/* The body of the record matching url, read through bgfetch_response_read. */
static inline uint8_t *h_body_of(bgfetch_registration *r, const char *url, size_t *len) {
    uint8_t *b;
    bgfetch_response *res = h_response_of(r, url);
    *len = 0;
    if (!res) return NULL;
    b = h_read_all(res, len);
    bgfetch_response_free(res);
    return b;
}

/* The fetch succeeded and the body of `url`, read through the ABI and from its body file, is
   pattern(len, seed); the response status is `status`. */
static inline int h_ends_byte_exact(bgfetch_registration *r, const char *url, size_t len,
                                    uint64_t seed, uint16_t status) {
    int ok = 1;
    size_t got = 0;
    uint8_t *b;
    bgfetch_response *res;
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_NONE);
    if (!ok) return 0;
    res = h_response_of(r, url);
    if (!EXPECT(res != NULL)) return 0;
    ok &= EXPECT_U64(bgfetch_response_status(res), status);
    ok &= EXPECT(bgfetch_response_complete(res));
    b = h_read_all(res, &got);
    ok &= h_is_pattern(b, got, len, seed);
    free(b);
    b = h_read_file(bgfetch_response_body_path(res), &got);
    ok &= h_is_pattern(b, got, len, seed);
    free(b);
    bgfetch_response_free(res);
    return ok;
}

/* the /echo JSON of the record matching url (any method), NUL-terminated; malloc'd */
static inline char *h_echo_json(bgfetch_registration *r, const char *url) {
    bgfetch_record *rec = NULL;
    bgfetch_response *res = NULL;
    bgfetch_status st;
    size_t len = 0;
    uint8_t *b = NULL;
    st = bgfetch_registration_match_url(r, url, BGFETCH_QUERY_IGNORE_METHOD, &rec);
    if (st != BGFETCH_OK || !rec) {
        h_diag("match_url(%s): %s, record %p", url, h_stname(st), (void *)rec);
        return NULL;
    }
    st = bgfetch_record_response(rec, H_WAIT_MS, &res);
    if (st == BGFETCH_OK) b = h_read_all(res, &len);
    else h_diag("record_response(%s): %s: %s", url, h_stname(st), bgfetch_last_error());
    bgfetch_response_free(res);
    bgfetch_record_free(rec);
    if (!b) return NULL;
    b = (uint8_t *)realloc(b, len + 1);
    b[len] = 0;
    return (char *)b;
}

/* A port on 127.0.0.1 with nothing listening: bind to port 0, read the port, close. */
static inline uint16_t h_closed_port(void) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    uint16_t port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Number of directory entries (excluding . and ..) in path, -1 if it cannot be read. */
static inline int h_dir_entries(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    }
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4; a compact public-domain style implementation) and base64, for SRI      */

typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} h_sha256_ctx;

static inline uint32_t h_ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline void h_sha256_block(h_sha256_ctx *c, const uint8_t *p) {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t w[64], a, b, cc, d, e, f, g, h, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = h_ror(w[i - 15], 7) ^ h_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = h_ror(w[i - 2], 17) ^ h_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
    e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (h_ror(e, 6) ^ h_ror(e, 11) ^ h_ror(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
        t2 = (h_ror(a, 2) ^ h_ror(a, 13) ^ h_ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static inline void h_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    h_sha256_ctx c;
    size_t i;
    uint64_t bits;
    memcpy(c.h, iv, sizeof iv);
    c.len = len;
    c.fill = 0;
    for (i = 0; i + 64 <= len; i += 64) h_sha256_block(&c, data + i);
    c.fill = len - i;
    memcpy(c.buf, data + i, c.fill);
    c.buf[c.fill++] = 0x80;
    if (c.fill > 56) {
        memset(c.buf + c.fill, 0, 64 - c.fill);
        h_sha256_block(&c, c.buf);
        c.fill = 0;
    }
    memset(c.buf + c.fill, 0, 56 - c.fill);
    bits = (uint64_t)len * 8;
    for (i = 0; i < 8; i++) c.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    h_sha256_block(&c, c.buf);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c.h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c.h[i];
    }
}

/* standard base64 with padding; out must hold 4*ceil(len/3)+1 bytes */
static inline void h_base64(const uint8_t *in, size_t len, char *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63]; out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
        out[o++] = '='; out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63]; out[o++] = '=';
    }
    out[o] = 0;
}

/* "sha256-<base64>" of data; out must hold at least 52 bytes */
static inline void h_sri_sha256(const uint8_t *data, size_t len, char *out) {
    uint8_t d[32];
    h_sha256(data, len, d);
    memcpy(out, "sha256-", 7);
    h_base64(d, 32, out + 7);
}

/* Self-test of the embedded SHA-256 against the FIPS 180-2 vectors; 1 if correct. */
static inline int h_sha256_selftest(void) {
    char sri[64];
    h_sri_sha256((const uint8_t *)"abc", 3, sri);
    if (strcmp(sri, "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=") != 0) {
        h_diag("sha256(abc) = %s", sri);
        return 0;
    }
    h_sri_sha256((const uint8_t *)"", 0, sri);
    if (strcmp(sri, "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") != 0) {
        h_diag("sha256('') = %s", sri);
        return 0;
    }
    {
        const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        h_sri_sha256((const uint8_t *)m, strlen(m), sri);
        if (strcmp(sri, "sha256-JI1qYdIGOLjlwCaTDD5gOaM85Flk/yFn9uzt1BnbBsE=") != 0) {
            h_diag("sha256(448-bit message) = %s", sri);
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* ThreadSanitizer: the library's documented happens-before edges                              */
/*
 * Only in a -fsanitize=thread build (tests/sanitizers.rs explains the whole TSan setup).
 * libbgfetch is not instrumented, so TSan cannot see the synchronization by which it hands a
 * callback's userdata to its event thread. These wrappers tell TSan exactly the two edges the
 * header documents for callbacks, and nothing more:
 *   (a) a call of bgfetch_registration_set_progress_callback / bgfetch_manager_set_event_callback
 *       happens before every call of the callback it sets (the callback may use what the
 *       setter's thread prepared for it: the userdata);
 *   (b) each call of a callback happens before the return of the setter call that replaces or
 *       clears it ("When this returns, the previous callback is not running ... and will never
 *       be called again").
 * Each callback is wrapped in a trampoline whose address is the sync object of both edges;
 * the trampoline's finalizer (0.2: free_userdata, which the library runs after the last call
 * of the callback, in the call that lets it go) makes edge (b) and then runs the test's own
 * finalizer. Nothing else adds an edge: any other sharing between the tests' threads
 * (including a callback and the thread that set it) must be synchronized by the test itself,
 * or TSan reports it.
 */
#if defined(__SANITIZE_THREAD__)
#define H_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define H_TSAN 1
#endif
#endif

#ifdef H_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

typedef struct {
    bgfetch_progress_callback progress;
    bgfetch_event_callback event;
    void *userdata;
    bgfetch_free_callback free_userdata;
} h_tsan_tramp;

static inline void h_tsan_progress_tramp(void *ud, bgfetch_registration *r) {
    h_tsan_tramp *t = (h_tsan_tramp *)ud;
    __tsan_acquire(t); /* (a) */
    t->progress(t->userdata, r);
    __tsan_release(t); /* (b) */
}

static inline void h_tsan_event_tramp(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    h_tsan_tramp *t = (h_tsan_tramp *)ud;
    __tsan_acquire(t); /* (a) */
    t->event(t->userdata, type, reg);
    __tsan_release(t); /* (b) */
}

/* Runs in the call that lets the callback go, after its last call: edge (b), then the test's
   finalizer. */
static inline void h_tsan_free_tramp(void *ud) {
    h_tsan_tramp *t = (h_tsan_tramp *)ud;
    __tsan_acquire(t); /* (b) */
    if (t->free_userdata) t->free_userdata(t->userdata);
    free(t);
}

static inline h_tsan_tramp *h_tsan_new_tramp(void *userdata, bgfetch_free_callback free_userdata) {
    h_tsan_tramp *t = (h_tsan_tramp *)calloc(1, sizeof *t);
    if (!t) abort();
    t->userdata = userdata;
    t->free_userdata = free_userdata;
    return t;
}

static inline bgfetch_status h_tsan_set_progress_callback(bgfetch_registration *r,
                                                          bgfetch_progress_callback cb,
                                                          void *userdata,
                                                          bgfetch_free_callback free_userdata) {
    h_tsan_tramp *t;
    if (!cb) return bgfetch_registration_set_progress_callback(r, cb, userdata, free_userdata);
    t = h_tsan_new_tramp(userdata, free_userdata);
    t->progress = cb;
    __tsan_release(t); /* (a) */
    return bgfetch_registration_set_progress_callback(r, h_tsan_progress_tramp, t, h_tsan_free_tramp);
}

static inline bgfetch_status h_tsan_set_event_callback(bgfetch_manager *m, bgfetch_event_callback cb,
                                                       void *userdata,
                                                       bgfetch_free_callback free_userdata) {
    h_tsan_tramp *t;
    if (!cb) return bgfetch_manager_set_event_callback(m, cb, userdata, free_userdata);
    t = h_tsan_new_tramp(userdata, free_userdata);
    t->event = cb;
    __tsan_release(t); /* (a) */
    return bgfetch_manager_set_event_callback(m, h_tsan_event_tramp, t, h_tsan_free_tramp);
}

#define bgfetch_registration_set_progress_callback(r, cb, ud, fud) \
    h_tsan_set_progress_callback(r, cb, ud, fud)
#define bgfetch_manager_set_event_callback(m, cb, ud, fud) h_tsan_set_event_callback(m, cb, ud, fud)
#endif /* H_TSAN */

#endif /* BGFETCH_TEST_HARNESS_H */
