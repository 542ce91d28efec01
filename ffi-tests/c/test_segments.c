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

/* The default configuration but the store, the own server as base URL, 4 segments (and 4
   connections a fetch, the default), a short progress interval and no proxy. */
static bgfetch_config *split_config(const char *store) {
    bgfetch_config *c = h_default_config(store);
    if (c && (bgfetch_config_set_base_url(c, h_own_base) != BGFETCH_OK ||
              bgfetch_config_set_max_segments(c, 4) != BGFETCH_OK ||
              bgfetch_config_set_max_connections_per_fetch(c, 4) != BGFETCH_OK))
        h_diag("configuring %s failed: %s", store, bgfetch_last_error());
    return c;
}

/* The fetch succeeded with LEN bytes downloaded, and the body of `url` (a 200) is
   pattern(LEN, seed), read through the ABI and from its body file. */
static int ends_byte_exact(bgfetch_registration *r, const char *url, uint64_t seed) {
    return EXPECT_U64(bgfetch_registration_downloaded(r), LEN) &
           h_ends_byte_exact(r, url, LEN, seed, 200);
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
    h_str u = h_url(h_own_base, "bytes/%u?seed=81&rate=1000000", LEN);
    h_own_reset();
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
    requests = h_own_stat("requests");
    sent = h_own_stat("body_bytes_sent");
    ok &= EXPECT_D(requests >= 4, "%lld requests", requests);
    /* Beyond the body: what was in flight when a connection was dropped at its range's end
       (the first response runs on past range 0; a range taken over stops early). How much
       depends on how fast this program reads (slowly under valgrind): less than one range's
       worth (1 MiB) — no range was fetched twice. */
    ok &= EXPECT_D(sent >= (long long)LEN && sent < (long long)LEN + LEN / 4,
                   "%lld bytes sent for %u", sent, LEN);
    CHECK(ok, "a 4 MiB body with 4 segments comes over several connections (several requests), "
              "byte-exact, no range fetched twice");
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
    h_str u = h_url(h_own_base, "bytes/%u?seed=82&rate=1000000", LEN);
    h_own_reset();
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
    sent = h_own_stat("body_bytes_sent");
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
    h_str u = h_url(h_own_base, "bytes/%u?change_after=1&rate=4000000", LEN);
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
    h_str u = h_url(h_own_base, "bytes/%u?seed=84&rate=4000000", LEN);
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
    h_str u = h_url(h_own_base, "bytes/%u?seed=85&rate=4000000", LEN);
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
    h_init(argc, argv);
    if (!CHECK(h_own_init(), "BGFETCH_TEST_OWN_SERVER names this run's own server"))
        return h_done();

    t_max_segments_bad_values();
    t_split_body_comes_in_place_byte_exact();
    t_split_body_paused_closed_and_reopened_resumes_each_range();
    t_a_file_changed_between_ranges_restarts_from_zero();
    t_integrity_mismatch_over_a_split_body_fails();
    t_quota_stops_a_split_body_midway();
    return h_done();
}
