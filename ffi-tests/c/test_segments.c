/* test_segments.c - segmented downloads from C (issue 21), under the library's default
   configuration but for bgfetch_config_set_max_segments (4) and as many connections a fetch:
   1. a 4 MiB body from a server that caps each connection comes over several connections
      (several Range requests with If-Range), written in place, byte-exact, and `downloaded`
      never goes past the body;
   2. paused midway, then closed and reopened: each range resumes from its own stored end
      (the server sends little more than the body) and the body ends byte-exact;
   3. a file that changed on the server between the ranges restarts from zero: the body is
      the new file, never a splice of the two;
   4. integrity metadata is checked over the whole body: a mismatch fails the fetch;
   5. the quota stops a split body midway (quota-exceeded), never past it;
   6. bad values of bgfetch_config_set_max_segments are INVALID_ARGUMENT with a message.
   Every check that counts bytes or requests uses this run's own server (its /_stats).
   Nothing sleeps to synchronise: a check waits for a callback, a state or a settled fetch. */
#include "harness.h"

#define LEN (4u << 20)

static char own_base[256]; /* "http://127.0.0.1:PORT/" of this run's own server */

/* The default configuration but the store, the own server as base URL, 4 segments (and 4
   connections a fetch, the default), a short progress interval and no proxy. */
static bgfetch_config *split_config(const char *store) {
    bgfetch_config *c = bgfetch_config_new(P("%s", store).s);
    if (!c) {
        h_diag("bgfetch_config_new(%s): %s", store, bgfetch_last_error());
        return NULL;
    }
    if (bgfetch_config_set_base_url(c, own_base) != BGFETCH_OK ||
        bgfetch_config_set_max_segments(c, 4) != BGFETCH_OK ||
        bgfetch_config_set_max_connections_per_fetch(c, 4) != BGFETCH_OK ||
        bgfetch_config_set_progress_interval(c, 10) != BGFETCH_OK ||
        bgfetch_config_set_proxy(c, "") != BGFETCH_OK)
        h_diag("configuring %s failed: %s", store, bgfetch_last_error());
    return c;
}

/* GET `path` on the own server over a plain socket; its body in out. 1 on success. */
static int own_get(const char *path, char *out, size_t cap) {
    unsigned port = 0;
    struct sockaddr_in a;
    char req[256];
    size_t len = 0;
    ssize_t n;
    char *body;
    int fd;
    if (sscanf(own_base, "http://127.0.0.1:%u/", &port) != 1) return 0;
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

/* A counter of the own server's /_stats (-1 if it cannot be read). */
static long long own_stat(const char *key) {
    char buf[1024], k[64];
    const char *p;
    if (!own_get("/_stats", buf, sizeof buf)) return -1;
    snprintf(k, sizeof k, "\"%s\":", key);
    p = strstr(buf, k);
    return p ? atoll(p + strlen(k)) : -1;
}

/* Resets the own server's counters. */
static void own_reset(void) {
    char buf[256];
    if (!own_get("/_reset", buf, sizeof buf)) h_diag("resetting the own server failed");
}

/* The fetch succeeded and the body of `url`, read through the ABI and from its body file, is
   pattern(LEN, seed). */
static int ends_byte_exact(bgfetch_registration *r, const char *url, uint64_t seed) {
    int ok = 1;
    size_t got = 0;
    uint8_t *b;
    bgfetch_response *res;
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_NONE);
    ok &= EXPECT_U64(bgfetch_registration_downloaded(r), LEN);
    if (!ok) return 0;
    res = h_response_of(r, url);
    if (!EXPECT(res != NULL)) return 0;
    ok &= EXPECT_U64(bgfetch_response_status(res), 200);
    ok &= EXPECT(bgfetch_response_complete(res));
    b = h_read_all(res, &got);
    ok &= h_is_pattern(b, got, LEN, seed);
    free(b);
    b = h_read_file(bgfetch_response_body_path(res), &got);
    ok &= h_is_pattern(b, got, LEN, seed);
    free(b);
    bgfetch_response_free(res);
    return ok;
}

typedef struct {
    uint64_t threshold; /* `reached` goes to 1 once downloaded is at least this */
    h_latch reached;
    pthread_mutex_t lock;
    uint64_t most; /* the most `downloaded` any call saw */
} bytes_watch;

static void watch_init(bytes_watch *w, uint64_t threshold) {
    w->threshold = threshold;
    w->most = 0;
    h_latch_init(&w->reached);
    pthread_mutex_init(&w->lock, NULL);
}

static void watch_destroy(bytes_watch *w) {
    h_latch_destroy(&w->reached);
    pthread_mutex_destroy(&w->lock);
}

static void on_bytes(void *ud, bgfetch_registration *r) {
    bytes_watch *w = (bytes_watch *)ud;
    uint64_t d = bgfetch_registration_downloaded(r);
    pthread_mutex_lock(&w->lock);
    if (d > w->most) w->most = d;
    pthread_mutex_unlock(&w->lock);
    if (d >= w->threshold && h_latch_get(&w->reached) == 0) h_latch_add(&w->reached, 1);
}

static uint64_t watch_most(bytes_watch *w) {
    uint64_t m;
    pthread_mutex_lock(&w->lock);
    m = w->most;
    pthread_mutex_unlock(&w->lock);
    return m;
}

/* ------------------------------------------------------------------------------------------ */

static void t_split_body_comes_in_place_byte_exact(void) {
    int ok = 1;
    bytes_watch w;
    long long requests, sent;
    bgfetch_manager *m;
    bgfetch_registration *r = NULL;
    h_str u = h_url(own_base, "bytes/%u?seed=81&rate=2000000", LEN);
    own_reset();
    m = h_open_cfg(split_config("store-split"));
    watch_init(&w, LEN);
    if (m) r = h_fetch(m, "split", NULL, u.s, NULL);
    if (!EXPECT(r != NULL)) {
        CHECK(0, "split: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_bytes, &w, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    ok &= ends_byte_exact(r, u.s, 81);
    ok &= EXPECT(watch_most(&w) <= LEN);
    requests = own_stat("requests");
    sent = own_stat("body_bytes_sent");
    ok &= EXPECT_D(requests >= 4, "%lld requests", requests);
    ok &= EXPECT_D(sent >= (long long)LEN && sent <= (long long)LEN + 8 * 65536,
                   "%lld bytes sent for %u", sent, LEN);
    CHECK(ok, "a 4 MiB body with 4 segments comes over several connections (several requests), "
              "byte-exact, the server sending little more than the body");
out:
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    watch_destroy(&w);
}

static void t_split_body_paused_closed_and_reopened_resumes_each_range(void) {
    int ok = 1;
    bytes_watch w;
    long long sent;
    bgfetch_manager *m;
    bgfetch_registration *r = NULL;
    h_str u = h_url(own_base, "bytes/%u?seed=82&rate=1000000", LEN);
    own_reset();
    m = h_open_cfg(split_config("store-split-pause"));
    watch_init(&w, LEN / 3);
    if (m) r = h_fetch(m, "pause", NULL, u.s, NULL);
    if (!EXPECT(r != NULL)) {
        CHECK(0, "split, pause: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_bytes, &w, NULL), BGFETCH_OK);
    ok &= EXPECT(h_latch_wait(&w.reached, 1, H_WAIT_MS));
    ok &= EXPECT_ST(bgfetch_registration_pause(r), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    ok &= EXPECT(bgfetch_registration_downloaded(r) < LEN);
    CHECK(ok, "a split body paused midway");
    /* Closed while paused, reopened: the store's map of the ranges resumes each one. */
    bgfetch_registration_free(r);
    r = NULL;
    bgfetch_manager_close(m);
    m = h_open_cfg(split_config("store-split-pause"));
    ok = EXPECT(m != NULL);
    if (m) ok &= EXPECT_ST(bgfetch_get(m, "pause", &r), BGFETCH_OK) && EXPECT(r != NULL);
    if (!ok) {
        CHECK(0, "split, pause: reopen");
        goto out;
    }
    ok &= EXPECT(bgfetch_registration_downloaded(r) >= LEN / 3);
    ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= ends_byte_exact(r, u.s, 82);
    sent = own_stat("body_bytes_sent");
    ok &= EXPECT_D(sent <= (long long)LEN + 2 * 4 * 262144, "%lld bytes sent for %u", sent, LEN);
    CHECK(ok, "closed and reopened, each range resumes from its stored end: byte-exact, and the "
              "stored ranges are not fetched again");
out:
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    watch_destroy(&w);
}

static void t_a_file_changed_between_ranges_restarts_from_zero(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(split_config("store-split-changed"));
    bgfetch_registration *r = NULL;
    /* The first request gets seed 0; every later one the new file (seed 1, another ETag). */
    h_str u = h_url(own_base, "bytes/%u?change_after=1&rate=4000000", LEN);
    if (m) r = h_fetch(m, "changed", NULL, u.s, NULL);
    if (!EXPECT(r != NULL)) {
        CHECK(0, "changed: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= ends_byte_exact(r, u.s, 1);
    CHECK(ok, "a file that changed between ranges restarts from zero: the body is the new "
              "file, byte-exact, never a splice");
out:
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_integrity_mismatch_over_a_split_body_fails(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(split_config("store-split-sri"));
    bgfetch_registration *r = NULL;
    bgfetch_request *q = NULL;
    const bgfetch_request *rq[1];
    char err[512] = "";
    bgfetch_record *rec = NULL;
    h_str u = h_url(own_base, "bytes/%u?seed=84&rate=4000000", LEN);
    ok &= EXPECT_ST(bgfetch_request_new(u.s, &q), BGFETCH_OK);
    if (q)
        ok &= EXPECT_ST(bgfetch_request_set_integrity(
                            q, "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
                        BGFETCH_OK);
    rq[0] = q;
    if (m && q) ok &= EXPECT_ST(bgfetch_fetch(m, "sri", rq, 1, NULL, &r), BGFETCH_OK);
    bgfetch_request_free(q);
    if (!EXPECT(r != NULL)) {
        CHECK(0, "integrity: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
    if (bgfetch_registration_match_url(r, u.s, 0, &rec) == BGFETCH_OK && rec)
        bgfetch_record_last_error(rec, err, sizeof err);
    ok &= EXPECT_D(strstr(err, "integrity") != NULL, "last error: %s", err);
    CHECK(ok, "integrity metadata that does not match the whole split body fails the fetch");
out:
    bgfetch_record_free(rec);
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_quota_stops_a_split_body_midway(void) {
    int ok = 1;
    bytes_watch w;
    bgfetch_config *c = split_config("store-split-quota");
    bgfetch_manager *m;
    bgfetch_registration *r = NULL;
    h_str u = h_url(own_base, "bytes/%u?seed=85&rate=4000000", LEN);
    if (c && bgfetch_config_set_quota(c, LEN / 2) != BGFETCH_OK) h_diag("set_quota failed");
    m = h_open_cfg(c);
    watch_init(&w, LEN);
    if (m) r = h_fetch(m, "quota", NULL, u.s, NULL);
    if (!EXPECT(r != NULL)) {
        CHECK(0, "quota: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_bytes, &w, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_QUOTA_EXCEEDED);
    ok &= EXPECT_D(watch_most(&w) <= LEN / 2, "downloaded reached %" PRIu64, watch_most(&w));
    ok &= EXPECT(bgfetch_registration_downloaded(r) <= LEN / 2);
    CHECK(ok, "the quota stops a split body midway: quota-exceeded, never past the quota");
out:
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    watch_destroy(&w);
}

static void t_max_segments_bad_values(void) {
    int ok = 1;
    bgfetch_config *c = bgfetch_config_new(P("store-split-bad").s);
    if (!EXPECT(c != NULL)) {
        CHECK(0, "config");
        return;
    }
    ok &= EXPECT_ST(bgfetch_config_set_max_segments(c, 0), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(strstr(bgfetch_last_error(), "1..=16") != NULL);
    ok &= EXPECT_ST(bgfetch_config_set_max_segments(c, 17), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_max_segments(c, 1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_segments(c, 16), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_segments(NULL, 4), BGFETCH_E_INVALID_ARGUMENT);
    bgfetch_config_free(c);
    CHECK(ok, "max segments: 0, 17 and NULL are INVALID_ARGUMENT; 1 and 16 are fine");
}

int main(int argc, char **argv) {
    const char *own;
    h_init(argc, argv);
    own = getenv("BGFETCH_TEST_OWN_SERVER");
    if (!CHECK(own && *own && strlen(own) + 2 < sizeof own_base,
               "BGFETCH_TEST_OWN_SERVER names this run's own server"))
        return h_done();
    snprintf(own_base, sizeof own_base, "%s%s", own, own[strlen(own) - 1] == '/' ? "" : "/");

    t_max_segments_bad_values();
    t_split_body_comes_in_place_byte_exact();
    t_split_body_paused_closed_and_reopened_resumes_each_range();
    t_a_file_changed_between_ranges_restarts_from_zero();
    t_integrity_mismatch_over_a_split_body_fails();
    t_quota_stops_a_split_body_midway();
    return h_done();
}
