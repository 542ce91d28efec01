/* test_network.c - the network-reality calls of the C ABI (issue 12; README "Bad networks"):
   pause / resume / paused and start_paused, offline, the bandwidth cap (config and live),
   the retry policy (retries, max_backoff, no_progress_timeout, fail_after_attempts),
   retry_statuses with Retry-After, the proxy and the CA file; each with good input and an
   observed effect against a local server, and with bad input.

   Checks that count requests use the run's own server (BGFETCH_TEST_OWN_SERVER, started by
   tests/common/ffi_runner.rs for this run only, so no other program's requests are counted)
   through its /_stats and /_reset routes. The proxy checks use BGFETCH_TEST_CONNECT_PROXY.
   Nothing here sleeps to synchronise: a check waits for a callback, a settled fetch, or a
   bounded wait that must run out (an observation window that a correct library cannot end). */
#include "harness.h"

static char proxy_url[256]; /* "http://127.0.0.1:PORT" of the CONNECT proxy, or "" */

/* ------------------------------------------------------------------------------------------ */
/* the own server's counters, over a plain socket (never through the library)                 */

typedef struct {
    long long requests, connections, body_bytes_sent;
} stats;

static long long json_num(const char *json, const char *key) {
    char k[64];
    const char *p;
    snprintf(k, sizeof k, "\"%s\":", key);
    p = strstr(json, k);
    return p ? atoll(p + strlen(k)) : -1;
}

static stats own_stats(void) {
    char buf[1024];
    stats s = {-1, -1, -1};
    if (!h_own_get("/_stats", buf, sizeof buf)) {
        h_diag("cannot read the own server's /_stats");
        return s;
    }
    s.requests = json_num(buf, "requests");
    s.connections = json_num(buf, "connections");
    s.body_bytes_sent = json_num(buf, "body_bytes_sent");
    return s;
}

/* An absolute URL on the own server. */
#define OWN(...) h_url(h_own_base, __VA_ARGS__)

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                     */

/* A config on the own server with quick progress callbacks; retry settings as h_config (one
   attempt, final) unless a test sets its own. */
static bgfetch_config *net_config(const char *store) {
    bgfetch_config *c = h_config(store);
    if (c) {
        bgfetch_config_set_base_url(c, h_own_base);
        bgfetch_config_set_progress_interval(c, 10);
        bgfetch_config_set_proxy(c, ""); /* whatever the environment says */
    }
    return c;
}

/* The call failed with `want` and left a message in bgfetch_last_error(). */
static int refused(bgfetch_status got, bgfetch_status want, const char *what) {
    const char *e = bgfetch_last_error();
    if (got != want) {
        h_diag("%s returned %s, expected %s (last_error \"%s\")", what, h_stname(got),
               h_stname(want), e ? e : "(NULL)");
        return 0;
    }
    if (!e || !*e) {
        h_diag("%s: %s without a message in bgfetch_last_error()", what, h_stname(got));
        return 0;
    }
    return 1;
}
#define REFUSED(call, want) refused((call), (want), #call)

/* Wait for the fetch; it succeeded and the body of `url` is pattern(len, seed). */
static int completes_exact(bgfetch_registration *r, const char *url, size_t len, uint64_t seed,
                           int64_t timeout_ms) {
    int ok = 1;
    size_t got = 0;
    uint8_t *b;
    ok &= EXPECT_ST(bgfetch_registration_wait(r, timeout_ms), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    if (!ok) {
        h_diag("result \"%s\", reason \"%s\"", bgfetch_result_str(bgfetch_registration_result(r)),
               bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)));
        return 0;
    }
    b = h_body_of(r, url, &got);
    ok &= h_is_pattern(b, got, len, seed);
    free(b);
    return ok;
}

/* Progress observer: the latest downloaded count and paused flag, and latches. */
typedef struct {
    pthread_mutex_t mu;
    uint64_t downloaded;
    uint64_t threshold;   /* `reached` fires once downloaded >= threshold */
    int paused_seen;      /* the callback saw paused == true */
    int resumed_seen;     /* ...and later paused == false */
    h_latch reached;
    h_latch paused;
    h_latch resumed;
} watch;

static void watch_init(watch *w, uint64_t threshold) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    h_latch_init(&w->reached);
    h_latch_init(&w->paused);
    h_latch_init(&w->resumed);
    w->threshold = threshold;
}

static void watch_destroy(watch *w) {
    pthread_mutex_destroy(&w->mu);
    h_latch_destroy(&w->reached);
    h_latch_destroy(&w->paused);
    h_latch_destroy(&w->resumed);
}

static void on_watch(void *ud, bgfetch_registration *r) {
    watch *w = (watch *)ud;
    uint64_t d = bgfetch_registration_downloaded(r);
    bool p = bgfetch_registration_paused(r);
    int reached = 0, paused = 0, resumed = 0;
    pthread_mutex_lock(&w->mu);
    if (d >= w->threshold && w->downloaded < w->threshold) reached = 1;
    w->downloaded = d;
    if (p && !w->paused_seen) w->paused_seen = paused = 1;
    if (!p && w->paused_seen && !w->resumed_seen) w->resumed_seen = resumed = 1;
    pthread_mutex_unlock(&w->mu);
    if (reached) h_latch_add(&w->reached, 1);
    if (paused) h_latch_add(&w->paused, 1);
    if (resumed) h_latch_add(&w->resumed, 1);
}

/* Fetches `url` on m as `id` and waits for it: the synchronising event of the pause checks
   (the manager's workers demonstrably ran meanwhile). */
static int other_fetch_completes(bgfetch_manager *m, const char *id, const char *url, size_t len,
                                 uint64_t seed) {
    int ok;
    bgfetch_registration *o = h_fetch(m, id, NULL, url, NULL);
    if (!o) return 0;
    ok = completes_exact(o, url, len, seed, H_WAIT_MS);
    bgfetch_registration_free(o);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* pause / resume / paused                                                                     */

static void t_pause_stops_and_resume_completes_byte_exact(void) {
    int ok = 1;
    const size_t len = 400000;
    const uint64_t kept_min = 150000;
    watch w;
    bgfetch_manager *m = h_open_cfg(net_config("store-pause"));
    h_str u = OWN("bytes/400000?seed=31&rate=400000");
    h_str other = OWN("bytes/1000?seed=32");
    bgfetch_registration *r;
    uint64_t kept;
    stats s;
    watch_init(&w, kept_min);
    if (!m) {
        CHECK(0, "pause: open");
        watch_destroy(&w);
        return;
    }
    r = h_fetch(m, "p", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT(!bgfetch_registration_paused(r));
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_watch, &w, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&w.reached, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_pause(r), BGFETCH_OK);
        ok &= EXPECT(bgfetch_registration_paused(r));
        ok &= EXPECT_ST(bgfetch_registration_pause(r), BGFETCH_OK); /* pausing twice is OK */
        /* the progress callback reports the change */
        ok &= EXPECT(h_latch_wait(&w.paused, 1, H_WAIT_MS));
        kept = bgfetch_registration_downloaded(r);
        ok &= EXPECT(kept >= kept_min && kept < len);
        h_own_reset();
        /* Synchronising event: another fetch of the same manager runs to completion. */
        ok &= EXPECT(other_fetch_completes(m, "other", other.s, 1000, 32));
        s = own_stats();
        ok &= EXPECT_U64(s.requests, 1); /* only the other fetch's request */
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), kept);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
        ok &= EXPECT(bgfetch_registration_paused(r));
        CHECK(ok, "pause: the progress callback reports paused; no request and no byte while "
                  "paused (another fetch completed meanwhile)");

        ok = 1;
        ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK);
        ok &= EXPECT(!bgfetch_registration_paused(r));
        ok &= EXPECT(h_latch_wait(&w.resumed, 1, H_WAIT_MS));
        ok &= completes_exact(r, u.s, len, 31, H_WAIT_MS);
        s = own_stats();
        ok &= EXPECT(s.requests == 2); /* the other fetch, and the resumed one */
        /* resumed with Range from the kept bytes, not from zero: the server sent the other
           body and the rest (plus what it wrote into the paused connection before it saw
           the close), far below a second whole body */
        if (!EXPECT(s.body_bytes_sent >= 0 &&
                    (uint64_t)s.body_bytes_sent <= 1000 + (len - kept) + 100000))
            h_diag("body bytes sent after the pause: %lld (kept %" PRIu64 ")", s.body_bytes_sent,
                   kept);
        ok &= EXPECT(!bgfetch_registration_paused(r));
        CHECK(ok, "resume: the progress callback reports it, the body completes byte-exact, "
                  "resumed from the kept bytes");
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    } else {
        CHECK(0, "pause: fetch");
    }
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    watch_destroy(&w);
}

static void t_pause_is_durable_across_reopen(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(net_config("store-pause-durable"));
    h_str u = OWN("bytes/30000?seed=33&t=durable");
    h_str other = OWN("bytes/100?seed=34&t=durable-other");
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    ok &= EXPECT(m != NULL && o != NULL);
    ok &= EXPECT_ST(bgfetch_options_set_start_paused(o, true), BGFETCH_OK);
    if (m) r = h_fetch(m, "d", o, u.s, NULL);
    ok &= EXPECT(r != NULL);
    ok &= EXPECT(bgfetch_registration_paused(r));
    bgfetch_registration_free(r);
    r = NULL;
    bgfetch_manager_close(m);
    h_own_reset();
    m = h_open_cfg(net_config("store-pause-durable"));
    ok &= EXPECT(m != NULL);
    if (m) ok &= EXPECT_ST(bgfetch_get(m, "d", &r), BGFETCH_OK);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT(bgfetch_registration_paused(r));
        ok &= EXPECT(other_fetch_completes(m, "o", other.s, 100, 34));
        ok &= EXPECT_U64(own_stats().requests, 1);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 0);
        ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK);
        ok &= completes_exact(r, u.s, 30000, 33, H_WAIT_MS);
    }
    CHECK(ok, "start_paused: stored paused, still paused after close and open, no request "
              "until resume, then complete");
    bgfetch_registration_free(r);
    bgfetch_options_free(o);
    bgfetch_manager_close(m);
}

static void t_start_paused_makes_no_request_until_resumed(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(net_config("store-start-paused"));
    h_str u = OWN("bytes/20000?seed=35&t=sp");
    h_str other = OWN("bytes/10?seed=36&t=sp-other");
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    ok &= EXPECT(m != NULL && o != NULL);
    ok &= EXPECT_ST(bgfetch_options_set_start_paused(o, true), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_start_paused(o, false), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_start_paused(o, true), BGFETCH_OK); /* the last wins */
    h_own_reset();
    if (m) r = h_fetch(m, "sp", o, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT(bgfetch_registration_paused(r));
        ok &= EXPECT(other_fetch_completes(m, "o", other.s, 10, 36));
        ok &= EXPECT_U64(own_stats().requests, 1);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
        ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK); /* resuming twice is OK */
        ok &= completes_exact(r, u.s, 20000, 35, H_WAIT_MS);
    }
    CHECK(ok, "start_paused: paused from the start, no request while another fetch completes, "
              "resume completes it");
    bgfetch_registration_free(r);
    bgfetch_options_free(o);
    bgfetch_manager_close(m);
}

static void t_pause_resume_invalid_once_settled(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(net_config("store-pause-settled"));
    h_str done = OWN("bytes/10?t=settled"), bad = OWN("status/404"), sp = OWN("bytes/10?t=abort");
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *a = NULL, *b = NULL, *c = NULL;
    bool aborted = false;
    ok &= EXPECT(m != NULL && o != NULL);
    if (m) a = h_fetch(m, "ok", NULL, done.s, NULL);
    if (m) b = h_fetch(m, "bad", NULL, bad.s, NULL);
    ok &= EXPECT(a && b);
    if (a && b) {
        ok &= EXPECT_ST(bgfetch_registration_wait(a, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(b, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(a), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(b), BGFETCH_FAILURE_BAD_STATUS);
        ok &= REFUSED(bgfetch_registration_pause(a), BGFETCH_E_INVALID_STATE);
        ok &= REFUSED(bgfetch_registration_resume(a), BGFETCH_E_INVALID_STATE);
        ok &= REFUSED(bgfetch_registration_pause(b), BGFETCH_E_INVALID_STATE);
        ok &= REFUSED(bgfetch_registration_resume(b), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT(!bgfetch_registration_paused(a));
        ok &= EXPECT(!bgfetch_registration_paused(b));
    }
    CHECK(ok, "pause/resume of a settled fetch (success, failure): BGFETCH_E_INVALID_STATE "
              "with a message");

    ok = 1;
    h_own_reset();
    ok &= EXPECT_ST(bgfetch_options_set_start_paused(o, true), BGFETCH_OK);
    if (m) c = h_fetch(m, "abort-paused", o, sp.s, NULL);
    ok &= EXPECT(c != NULL);
    if (c) {
        ok &= EXPECT_ST(bgfetch_registration_abort(c, &aborted), BGFETCH_OK);
        ok &= EXPECT(aborted);
        ok &= EXPECT_ST(bgfetch_registration_wait(c, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(c), BGFETCH_FAILURE_ABORTED);
        ok &= REFUSED(bgfetch_registration_pause(c), BGFETCH_E_INVALID_STATE);
        ok &= REFUSED(bgfetch_registration_resume(c), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT_U64(own_stats().requests, 0);
    }
    CHECK(ok, "abort works while paused (no request made); pause/resume afterwards: "
              "BGFETCH_E_INVALID_STATE");
    bgfetch_registration_free(a);
    bgfetch_registration_free(b);
    bgfetch_registration_free(c);
    bgfetch_options_free(o);
    bgfetch_manager_close(m);
}

/* ------------------------------------------------------------------------------------------ */
/* offline                                                                                     */

static void t_offline_tries_nothing_and_online_completes(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(net_config("store-offline"));
    h_str u = OWN("bytes/50000?seed=37&t=offline");
    bgfetch_registration *r = NULL;
    stats s;
    ok &= EXPECT(m != NULL);
    if (!m) {
        CHECK(0, "offline: open");
        return;
    }
    ok &= EXPECT(!bgfetch_manager_offline(m));
    ok &= EXPECT_ST(bgfetch_manager_set_offline(m, true), BGFETCH_OK);
    ok &= EXPECT(bgfetch_manager_offline(m));
    ok &= EXPECT_ST(bgfetch_manager_set_offline(m, true), BGFETCH_OK); /* twice is OK */
    h_own_reset();
    r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        /* An observation window: offline, the fetch cannot settle (one attempt is final in
           this config, so a single connection try would fail it at once) ... */
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 300), BGFETCH_E_TIMEOUT);
        s = own_stats();
        /* ... and not one connection reached the server */
        ok &= EXPECT_U64(s.connections, 0);
        ok &= EXPECT_U64(s.requests, 0);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 0);
        CHECK(ok, "offline: no connection, no request, the fetch waits (not failed although "
                  "one attempt is final)");
        ok = 1;
        ok &= EXPECT_ST(bgfetch_manager_set_offline(m, false), BGFETCH_OK);
        ok &= EXPECT(!bgfetch_manager_offline(m));
        ok &= completes_exact(r, u.s, 50000, 37, H_WAIT_MS);
        ok &= EXPECT(own_stats().requests >= 1);
        CHECK(ok, "back online: the waiting request is tried and completes byte-exact");
    } else {
        CHECK(0, "offline: fetch");
    }
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_offline_mid_transfer_keeps_the_bytes(void) {
    int ok = 1;
    const size_t len = 400000;
    watch w;
    bgfetch_manager *m = h_open_cfg(net_config("store-offline-mid"));
    h_str u = OWN("bytes/400000?seed=38&rate=400000&t=offline-mid");
    bgfetch_registration *r = NULL;
    uint64_t kept;
    stats s;
    watch_init(&w, 100000);
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_watch, &w, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&w.reached, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_manager_set_offline(m, true), BGFETCH_OK);
        kept = bgfetch_registration_downloaded(r);
        ok &= EXPECT(kept >= 100000);
        h_own_reset();
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 300), BGFETCH_E_TIMEOUT);
        s = own_stats();
        ok &= EXPECT_U64(s.requests, 0);
        ok &= EXPECT(bgfetch_registration_downloaded(r) >= kept);
        ok &= EXPECT_ST(bgfetch_manager_set_offline(m, false), BGFETCH_OK);
        ok &= completes_exact(r, u.s, len, 38, H_WAIT_MS);
        s = own_stats();
        ok &= EXPECT(s.requests >= 1);
        if (!EXPECT(s.body_bytes_sent >= 0 &&
                    (uint64_t)s.body_bytes_sent <= (len - kept) + 100000))
            h_diag("body bytes sent after going offline: %lld (kept %" PRIu64 ")",
                   s.body_bytes_sent, kept);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    }
    CHECK(ok, "offline mid-GET: the transfer stops, the bytes are kept, online resumes from "
              "them and completes byte-exact");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    watch_destroy(&w);
}

/* ------------------------------------------------------------------------------------------ */
/* bandwidth                                                                                   */

static void t_rate_limit_from_config_holds(void) {
    int ok = 1;
    bgfetch_config *c = net_config("store-rate");
    bgfetch_manager *m;
    h_str u = OWN("bytes/300000?seed=39&t=rate");
    bgfetch_registration *r = NULL;
    int64_t t0, took;
    ok &= EXPECT(c != NULL);
    ok &= EXPECT_ST(bgfetch_config_set_max_download_rate(c, 1000), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_download_rate(c, 0), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_download_rate(c, 200000), BGFETCH_OK); /* last wins */
    m = h_open_cfg(c);
    ok &= EXPECT(m != NULL);
    t0 = h_now_ms();
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= completes_exact(r, u.s, 300000, 39, H_WAIT_MS);
        took = h_now_ms() - t0;
        /* 300 000 bytes at 200 000 B/s: 1.5 s, less at most a 50 ms burst and one read */
        if (!EXPECT(took >= 1300)) h_diag("300000 bytes at 200000 B/s took %" PRId64 " ms", took);
    }
    CHECK(ok, "bgfetch_config_set_max_download_rate: the body arrives no faster than the cap");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_rate_limit_changes_live(void) {
    int ok = 1;
    watch w;
    const size_t len = 2000000;
    bgfetch_manager *m = h_open_cfg(net_config("store-rate-live"));
    h_str u = OWN("bytes/2000000?seed=40&t=rate-live");
    bgfetch_registration *r = NULL;
    watch_init(&w, 1);
    ok &= EXPECT(m != NULL);
    if (m) ok &= EXPECT_ST(bgfetch_manager_set_max_download_rate(m, 2000), BGFETCH_OK);
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_watch, &w, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&w.reached, 1, H_WAIT_MS)); /* some bytes arrived */
        /* at 2 000 B/s, 2 MB take 1 000 s: it cannot finish in this window */
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 300), BGFETCH_E_TIMEOUT);
        ok &= EXPECT(bgfetch_registration_downloaded(r) < len / 4);
        ok &= EXPECT_ST(bgfetch_manager_set_max_download_rate(m, 0), BGFETCH_OK);
        /* lifted: the rest arrives at once (well within the 20 s of this wait) */
        ok &= completes_exact(r, u.s, len, 40, 20000);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    }
    CHECK(ok, "bgfetch_manager_set_max_download_rate: a cap set live holds the transfer back; "
              "0 lifts it for the running transfer");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    watch_destroy(&w);
}

/* ------------------------------------------------------------------------------------------ */
/* retries                                                                                     */

static bgfetch_config *retry_config(const char *store, uint32_t attempts, uint32_t backoff_ms,
                                    bool fail_after_attempts) {
    bgfetch_config *c = net_config(store);
    if (!c) return NULL;
    if (bgfetch_config_set_retries(c, attempts, backoff_ms) != BGFETCH_OK ||
        bgfetch_config_set_fail_after_attempts(c, fail_after_attempts) != BGFETCH_OK ||
        bgfetch_config_set_max_backoff(c, 200) != BGFETCH_OK)
        h_diag("retry_config: %s", bgfetch_last_error());
    return c;
}

static void t_retries_outlast_a_server_that_fails_n_times(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(retry_config("store-retry", 5, 20, true));
    h_str u = OWN("bytes/20000?seed=41&fail_times=3&reset_before_headers=1&t=retry");
    bgfetch_registration *r = NULL;
    h_own_reset();
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= completes_exact(r, u.s, 20000, 41, H_WAIT_MS);
        ok &= EXPECT_U64(own_stats().requests, 4); /* 3 resets, then the body */
    }
    CHECK(ok, "bgfetch_config_set_retries(5, 20 ms): a server that resets 3 times is outlasted "
              "(4 requests, byte-exact)");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);

    ok = 1;
    r = NULL;
    m = h_open_cfg(retry_config("store-retry-few", 2, 20, true));
    u = OWN("bytes/20000?seed=41&fail_times=3&reset_before_headers=1&t=retry-few");
    h_own_reset();
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
        ok &= EXPECT_U64(own_stats().requests, 2);
    }
    CHECK(ok, "bgfetch_config_set_retries(2, ...) with fail_after_attempts: 2 attempts, then "
              "fetch-error");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_max_backoff_caps_the_delay(void) {
    int ok = 1;
    /* a 20 s base backoff, capped at 200 ms by retry_config's max_backoff */
    bgfetch_manager *m = h_open_cfg(retry_config("store-max-backoff", 5, 20000, true));
    h_str u = OWN("bytes/1000?seed=42&fail_times=2&reset_before_headers=1&t=max-backoff");
    bgfetch_registration *r = NULL;
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    /* uncapped, the first retry alone would wait 20 s or more */
    if (r) ok &= completes_exact(r, u.s, 1000, 42, 10000);
    CHECK(ok, "bgfetch_config_set_max_backoff(200): two retries of a 20 s base backoff finish "
              "within 10 s");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_no_progress_timeout(void) {
    int ok = 1;
    bgfetch_config *c = retry_config("store-no-progress", 2, 20, false);
    bgfetch_manager *m;
    h_str u = S("http://127.0.0.1:%u/x", (unsigned)h_closed_port());
    bgfetch_registration *r = NULL;
    int64_t t0, took = 0;
    ok &= EXPECT_ST(bgfetch_config_set_no_progress_timeout(c, 0), BGFETCH_OK); /* 0 = never */
    ok &= EXPECT_ST(bgfetch_config_set_no_progress_timeout(c, 1500), BGFETCH_OK);
    m = h_open_cfg(c);
    t0 = h_now_ms();
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        took = h_now_ms() - t0;
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
        /* 2 attempts fail at once, but the request fails only when 1.5 s passed without a byte */
        if (!EXPECT(took >= 1500)) h_diag("failed after %" PRId64 " ms", took);
    }
    CHECK(ok, "bgfetch_config_set_no_progress_timeout(1500): a dead server fails the request "
              "only after 1.5 s without a byte");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

static void t_retry_statuses(void) {
    int ok = 1;
    const char *q = "bytes/100?seed=43&status=503&fail_times=1&header=Retry-After:1";
    bgfetch_config *c = retry_config("store-status-retry", 3, 20, true);
    bgfetch_manager *m;
    h_str u = OWN("%s&t=retry", q);
    bgfetch_registration *r = NULL;
    int64_t t0, took;
    ok &= EXPECT_ST(bgfetch_config_set_retry_statuses(c, true), BGFETCH_OK);
    m = h_open_cfg(c);
    h_own_reset();
    t0 = h_now_ms();
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= completes_exact(r, u.s, 100, 43, H_WAIT_MS);
        took = h_now_ms() - t0;
        ok &= EXPECT_U64(own_stats().requests, 2);
        /* Retry-After: 1 overrides the 20 ms backoff (and the 200 ms cap) */
        if (!EXPECT(took >= 1000)) h_diag("the retry came after %" PRId64 " ms", took);
    }
    CHECK(ok, "bgfetch_config_set_retry_statuses(true): a 503 with Retry-After: 1 is retried "
              "after 1 s and the fetch succeeds");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);

    ok = 1;
    r = NULL;
    c = retry_config("store-status-final", 3, 20, true);
    ok &= EXPECT_ST(bgfetch_config_set_retry_statuses(c, true), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_retry_statuses(c, false), BGFETCH_OK); /* the default */
    m = h_open_cfg(c);
    u = OWN("%s&t=final", q);
    h_own_reset();
    if (m) r = h_fetch(m, "f", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        bgfetch_response *res = NULL;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_BAD_STATUS);
        ok &= EXPECT_U64(own_stats().requests, 1);
        res = h_response_of(r, u.s);
        ok &= EXPECT(res != NULL);
        ok &= EXPECT_U64(bgfetch_response_status(res), 503);
        bgfetch_response_free(res);
    }
    CHECK(ok, "bgfetch_config_set_retry_statuses(false): the 503 is final (bad-status, one "
              "request)");
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
}

/* ------------------------------------------------------------------------------------------ */
/* proxy, CA file                                                                              */

static int fetch_outcome(bgfetch_config *c, const char *url, size_t len, uint64_t seed,
                         bgfetch_failure_reason want) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(c);
    bgfetch_registration *r = NULL;
    if (m) r = h_fetch(m, "f", NULL, url, NULL);
    ok &= EXPECT(r != NULL);
    if (r && want == BGFETCH_FAILURE_NONE) {
        ok &= completes_exact(r, url, len, seed, H_WAIT_MS);
    } else if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), want);
    }
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    return ok;
}

static void t_proxy(void) {
    int ok = 1;
    bgfetch_config *c;
    h_str u = OWN("bytes/70000?seed=44&t=proxy");
    if (!proxy_url[0]) {
        h_diag("BGFETCH_TEST_CONNECT_PROXY is not set: skipping the proxied fetches");
    } else {
        c = net_config("store-proxy");
        ok &= EXPECT_ST(bgfetch_config_set_proxy(c, proxy_url), BGFETCH_OK);
        ok &= fetch_outcome(c, u.s, 70000, 44, BGFETCH_FAILURE_NONE);
        CHECK(ok, "bgfetch_config_set_proxy(the CONNECT proxy): the fetch completes byte-exact");

        /* The setting is used: a proxy that is not there fails the same fetch ... */
        ok = 1;
        c = net_config("store-proxy-dead");
        ok &= EXPECT_ST(bgfetch_config_set_proxy(
                            c, S("http://127.0.0.1:%u", (unsigned)h_closed_port()).s),
                        BGFETCH_OK);
        ok &= fetch_outcome(c, u.s, 70000, 44, BGFETCH_FAILURE_FETCH_ERROR);
        /* ... and "" after it means no proxy: direct again */
        c = net_config("store-proxy-none");
        ok &= EXPECT_ST(bgfetch_config_set_proxy(
                            c, S("http://127.0.0.1:%u", (unsigned)h_closed_port()).s),
                        BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_config_set_proxy(c, ""), BGFETCH_OK);
        ok &= fetch_outcome(c, u.s, 70000, 44, BGFETCH_FAILURE_NONE);
        CHECK(ok, "bgfetch_config_set_proxy: a proxy that is not listening fails the fetch "
                  "(fetch-error); \"\" goes direct");
    }

    ok = 1;
    c = bgfetch_config_new(P("store-proxy-bad").s);
    ok &= REFUSED(bgfetch_config_set_proxy(c, "not a url"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_proxy(c, "ftp://127.0.0.1:1"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_proxy(c, "http://"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_proxy(c, "127.0.0.1:8080"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_proxy(c, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_proxy(c, "http://127.0.0.1:3128"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_proxy(c, "socks5://127.0.0.1:1080"), BGFETCH_OK);
    bgfetch_config_free(c);
    CHECK(ok, "bgfetch_config_set_proxy: malformed URLs and NULL are "
              "BGFETCH_E_INVALID_ARGUMENT with a message; http:// and socks5:// are accepted");
}

static void t_ca_file(void) {
    int ok = 1;
    bgfetch_config *c = bgfetch_config_new(P("store-ca").s);
    h_str pem = P("ca.pem");
    FILE *f = fopen(pem.s, "w");
    ok &= EXPECT(f != NULL);
    if (f) {
        fputs("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", f);
        fclose(f);
    }
    ok &= REFUSED(bgfetch_config_set_ca_file(c, P("no-such.pem").s), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_ca_file(c, ""), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_ca_file(c, h_tmp), BGFETCH_E_INVALID_ARGUMENT); /* a dir */
    ok &= REFUSED(bgfetch_config_set_ca_file(c, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_ca_file(c, pem.s), BGFETCH_OK);
    bgfetch_config_free(c);
    CHECK(ok, "bgfetch_config_set_ca_file: a missing file, \"\", a directory and NULL are "
              "BGFETCH_E_INVALID_ARGUMENT with a message; a file is accepted");
}

/* ------------------------------------------------------------------------------------------ */
/* bad input                                                                                   */

static void t_null_handles_and_zero_values(void) {
    int ok = 1;
    bgfetch_config *c = bgfetch_config_new(P("store-bad-values").s);
    ok &= REFUSED(bgfetch_registration_pause(NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_registration_resume(NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(!bgfetch_registration_paused(NULL));
    ok &= REFUSED(bgfetch_manager_set_offline(NULL, true), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_manager_set_offline(NULL, false), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(!bgfetch_manager_offline(NULL));
    ok &= REFUSED(bgfetch_manager_set_max_download_rate(NULL, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_options_set_start_paused(NULL, true), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_retries(NULL, 5, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_max_backoff(NULL, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_no_progress_timeout(NULL, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_fail_after_attempts(NULL, true), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_retry_statuses(NULL, true), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_max_download_rate(NULL, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_proxy(NULL, ""), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_ca_file(NULL, "/etc/hosts"), BGFETCH_E_INVALID_ARGUMENT);
    CHECK(ok, "NULL handles: BGFETCH_E_INVALID_ARGUMENT with a message (the bool getters: "
              "false)");

    ok = 1;
    /* the unsigned parameters cannot be negative in C; the invalid values are these */
    ok &= REFUSED(bgfetch_config_set_retries(c, 0, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_retries(c, 101, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= REFUSED(bgfetch_config_set_retries(c, UINT32_MAX, 0), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_retries(c, 1, 0), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_retries(c, 100, UINT32_MAX), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_backoff(c, 0), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_backoff(c, UINT32_MAX), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_no_progress_timeout(c, UINT64_MAX), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_download_rate(c, UINT64_MAX), BGFETCH_OK);
    CHECK(ok, "bgfetch_config_set_retries: 0 and more than 100 attempts are "
              "BGFETCH_E_INVALID_ARGUMENT with a message; the limits of the other setters are "
              "accepted");
    bgfetch_config_free(c);
}

static void t_calls_after_close(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(net_config("store-closed"));
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    h_str u = OWN("bytes/10?t=closed");
    bgfetch_options_set_start_paused(o, true);
    if (m) r = h_fetch(m, "f", o, u.s, NULL);
    ok &= EXPECT(r != NULL);
    bgfetch_manager_close(m);
    if (r) {
        ok &= REFUSED(bgfetch_registration_resume(r), BGFETCH_E_CLOSED);
        ok &= REFUSED(bgfetch_registration_pause(r), BGFETCH_E_CLOSED);
        ok &= EXPECT(bgfetch_registration_paused(r)); /* its last value */
    }
    CHECK(ok, "pause/resume through a handle whose manager was closed: BGFETCH_E_CLOSED");
    bgfetch_registration_free(r);
    bgfetch_options_free(o);
}

int main(int argc, char **argv) {
    const char *proxy;
    h_init(argc, argv);
    proxy = getenv("BGFETCH_TEST_CONNECT_PROXY");
    if (!CHECK(h_own_init(), "BGFETCH_TEST_OWN_SERVER names this run's own server"))
        return h_done();
    snprintf(proxy_url, sizeof proxy_url, "%s", proxy ? proxy : "");

    t_pause_stops_and_resume_completes_byte_exact();
    t_pause_is_durable_across_reopen();
    t_start_paused_makes_no_request_until_resumed();
    t_pause_resume_invalid_once_settled();
    t_offline_tries_nothing_and_online_completes();
    t_offline_mid_transfer_keeps_the_bytes();
    t_rate_limit_from_config_holds();
    t_rate_limit_changes_live();
    t_retries_outlast_a_server_that_fails_n_times();
    t_max_backoff_caps_the_delay();
    t_no_progress_timeout();
    t_retry_statuses();
    t_proxy();
    t_ca_file();
    t_null_handles_and_zero_values();
    t_calls_after_close();
    return h_done();
}
