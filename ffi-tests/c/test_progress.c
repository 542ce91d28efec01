/* test_progress.c - the progress callback (onprogress) */
#include "harness.h"

static bgfetch_manager *M;

typedef struct {
    pthread_mutex_t mu;
    long calls;
    long mid_calls;          /* calls with 0 < downloaded < expected total */
    uint64_t expect_total;
    uint64_t last_down;
    int decreased;
    int final_seen;
    long calls_after_final;
    bgfetch_result final_result;
    bgfetch_failure_reason final_reason;
    uint64_t final_downloaded;
    int inconsistent;        /* result set without reason or vice versa */
    int64_t final_ms;
    int in_cb;
    int sleep_in_cb_ms;
    h_latch calls_latch;
    h_latch final_latch;
} prog;

static void prog_init(prog *p, uint64_t expect_total) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    h_latch_init(&p->calls_latch);
    h_latch_init(&p->final_latch);
    p->expect_total = expect_total;
}

static void prog_destroy(prog *p) {
    pthread_mutex_destroy(&p->mu);
    h_latch_destroy(&p->calls_latch);
    h_latch_destroy(&p->final_latch);
}

static void on_progress(void *ud, bgfetch_registration *r) {
    prog *p = (prog *)ud;
    uint64_t d = bgfetch_registration_downloaded(r);
    bgfetch_result res = bgfetch_registration_result(r);
    bgfetch_failure_reason why = bgfetch_registration_failure_reason(r);
    int became_final = 0;
    pthread_mutex_lock(&p->mu);
    p->in_cb = 1;
    p->calls++;
    if (d < p->last_down) p->decreased = 1;
    p->last_down = d;
    if (d > 0 && d < p->expect_total) p->mid_calls++;
    if ((res == BGFETCH_RESULT_FAILURE) != (why != BGFETCH_FAILURE_NONE)) p->inconsistent = 1;
    if (p->final_seen) {
        p->calls_after_final++;
    } else if (res != BGFETCH_RESULT_NONE) {
        p->final_seen = 1;
        p->final_result = res;
        p->final_reason = why;
        p->final_downloaded = d;
        p->final_ms = h_now_ms();
        became_final = 1;
    }
    pthread_mutex_unlock(&p->mu);
    if (p->sleep_in_cb_ms) h_sleep_ms(p->sleep_in_cb_ms);
    pthread_mutex_lock(&p->mu);
    p->in_cb = 0;
    pthread_mutex_unlock(&p->mu);
    h_latch_add(&p->calls_latch, 1);
    if (became_final) h_latch_add(&p->final_latch, 1);
}

static void t_progress_rising(void) {
    int ok = 1;
    prog p;
    const uint64_t total = 300000;
    h_str u = U("bytes/300000?seed=1&rate=300000");
    bgfetch_registration *r = h_fetch(M, "rising", NULL, u.s, NULL);
    int64_t t_set;
    prog_init(&p, total);
    ok &= EXPECT(r != NULL);
    if (!r) {
        CHECK(0, "progress: downloaded rises and never decreases");
        prog_destroy(&p);
        return;
    }
    t_set = h_now_ms();
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &p, NULL), BGFETCH_OK);
    ok &= EXPECT(h_latch_wait(&p.final_latch, 1, H_WAIT_MS));
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    pthread_mutex_lock(&p.mu);
    {
        int ok1 = 1, ok2 = 1, ok3 = 1;
        int64_t elapsed = p.final_ms - t_set;
        long bound = (long)(elapsed / 100) + 2;
        ok1 &= EXPECT(!p.decreased);
        ok1 &= EXPECT(p.mid_calls >= 2);
        ok1 &= EXPECT(p.calls >= 3);
        if (!ok1) h_diag("calls %ld, mid-transfer calls %ld", p.calls, p.mid_calls);
        CHECK(ok && ok1, "progress: called during the transfer with downloaded rising, never decreasing");

        ok2 &= EXPECT(p.calls <= bound);
        if (!ok2) h_diag("%ld calls in %" PRId64 " ms with a 100 ms interval (bound %ld)", p.calls, elapsed, bound);
        CHECK(ok2, "progress: at most one call per interval (calls <= elapsed/100ms + 2)");

        ok3 &= EXPECT(p.final_seen);
        ok3 &= EXPECT_U64(p.final_result, BGFETCH_RESULT_SUCCESS);
        ok3 &= EXPECT_U64(p.final_reason, BGFETCH_FAILURE_NONE);
        ok3 &= EXPECT_U64(p.final_downloaded, total);
        ok3 &= EXPECT(!p.inconsistent);
        CHECK(ok3, "progress: a final call with result success and the full downloaded count");
    }
    pthread_mutex_unlock(&p.mu);

    ok = 1;
    /* no progress after settling, nor when the records are released */
    ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
    h_sleep_ms(300); /* checking for the absence of calls */
    pthread_mutex_lock(&p.mu);
    ok &= EXPECT(p.calls_after_final == 0);
    if (p.calls_after_final) h_diag("%ld calls after the final one", p.calls_after_final);
    pthread_mutex_unlock(&p.mu);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    CHECK(ok, "progress: no call after the final one (not even for release)");
    bgfetch_registration_free(r);
    prog_destroy(&p);
}

static void t_progress_failure_final(void) {
    int ok = 1;
    prog p;
    h_str u = U("bytes/50000?seed=2&rate=200000&status=404");
    bgfetch_registration *r = h_fetch(M, "final-failure", NULL, u.s, NULL);
    prog_init(&p, 50000);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &p, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&p.final_latch, 1, H_WAIT_MS));
        pthread_mutex_lock(&p.mu);
        ok &= EXPECT_U64(p.final_result, BGFETCH_RESULT_FAILURE);
        ok &= EXPECT_U64(p.final_reason, BGFETCH_FAILURE_BAD_STATUS);
        ok &= EXPECT(!p.inconsistent);
        pthread_mutex_unlock(&p.mu);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        bgfetch_registration_free(r);
    }
    prog_destroy(&p);
    CHECK(ok, "progress: the final call of a failed fetch has result failure and reason set together");
}

static void t_new_callback_stops_old(void) {
    int ok = 1;
    prog a, b;
    bool aborted = false;
    bgfetch_registration *r = h_fetch(M, "swap", NULL, U("bytes/2000000?seed=3&rate=200000").s, NULL);
    prog_init(&a, 2000000);
    prog_init(&b, 2000000);
    a.sleep_in_cb_ms = 60; /* A is often running when B is set */
    ok &= EXPECT(r != NULL);
    if (r) {
        long a_calls;
        int a_running;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &a, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&a.calls_latch, 2, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &b, NULL), BGFETCH_OK);
        pthread_mutex_lock(&a.mu);
        a_running = a.in_cb;
        a_calls = a.calls;
        pthread_mutex_unlock(&a.mu);
        ok &= EXPECT(!a_running);
        ok &= EXPECT(h_latch_wait(&b.calls_latch, 3, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&b.final_latch, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        pthread_mutex_lock(&a.mu);
        ok &= EXPECT(a.calls == a_calls);
        if (a.calls != a_calls) h_diag("old callback called %ld more times", a.calls - a_calls);
        pthread_mutex_unlock(&a.mu);
        pthread_mutex_lock(&b.mu);
        ok &= EXPECT_U64(b.final_reason, BGFETCH_FAILURE_ABORTED);
        pthread_mutex_unlock(&b.mu);
        bgfetch_registration_free(r);
    }
    prog_destroy(&a);
    prog_destroy(&b);
    CHECK(ok, "setting a new callback: the old one is not running when the setter returns and is never called again");
}

static void t_clear_callback(void) {
    int ok = 1;
    prog a;
    bool aborted = false;
    bgfetch_registration *r = h_fetch(M, "clear", NULL, U("bytes/2000000?seed=4&rate=200000").s, NULL);
    prog_init(&a, 2000000);
    ok &= EXPECT(r != NULL);
    if (r) {
        long n;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &a, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&a.calls_latch, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        n = h_latch_get(&a.calls_latch);
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        h_sleep_ms(300); /* checking for the absence of calls */
        ok &= EXPECT(h_latch_get(&a.calls_latch) == n);
        bgfetch_registration_free(r);
    }
    prog_destroy(&a);
    CHECK(ok, "a NULL callback clears it (no further calls, not even the final one)");
}

/* a callback that uses the library on its own registration */
typedef struct {
    bgfetch_manager *m;
    const char *id;
    const char *url;
    int errors;
    long calls;
    int freed_handles;
    int final_seen;
    h_latch final_latch;
} reentrant;

static void on_progress_reentrant(void *ud, bgfetch_registration *r) {
    reentrant *x = (reentrant *)ud;
    bgfetch_registration *g = NULL;
    bgfetch_strings *ids = NULL;
    bgfetch_record *rec = NULL;
    bgfetch_records *rs = NULL;
    bgfetch_icons *ic = NULL;
    char *title;
    x->calls++;
    if (strcmp(bgfetch_registration_id(r), x->id) != 0) x->errors++;
    (void)bgfetch_registration_downloaded(r);
    (void)bgfetch_registration_download_total(r);
    (void)bgfetch_registration_records_available(r);
    title = bgfetch_registration_title(r);
    if (!title || strcmp(title, "re-entrant") != 0) x->errors++;
    bgfetch_string_free(title);
    if (bgfetch_registration_icons(r, &ic) != BGFETCH_OK) x->errors++;
    bgfetch_icons_free(ic);
    if (bgfetch_get_ids(x->m, &ids) != BGFETCH_OK || !h_strings_contains(ids, x->id)) x->errors++;
    bgfetch_strings_free(ids);
    if (bgfetch_get(x->m, x->id, &g) != BGFETCH_OK || !g) {
        x->errors++;
    } else {
        if (bgfetch_registration_downloaded(g) < bgfetch_registration_downloaded(r)) x->errors++;
        if (bgfetch_registration_match_url(g, x->url, 0, &rec) != BGFETCH_OK || !rec) x->errors++;
        bgfetch_record_free(rec);
        if (bgfetch_registration_match_all(g, NULL, 0, &rs) != BGFETCH_OK || bgfetch_records_len(rs) != 1)
            x->errors++;
        bgfetch_records_free(rs);
        /* waiting on its own registration from inside the callback must not deadlock */
        (void)bgfetch_registration_wait(g, 0);
        bgfetch_registration_free(g); /* freeing a handle from get() inside the callback */
        x->freed_handles++;
    }
    if (bgfetch_registration_result(r) != BGFETCH_RESULT_NONE && !x->final_seen) {
        x->final_seen = 1;
        h_latch_add(&x->final_latch, 1);
    }
}

static void t_reentrant_callback(void) {
    int ok = 1;
    reentrant x;
    h_str u = U("bytes/200000?seed=5&rate=500000");
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    const char *urls[1];
    memset(&x, 0, sizeof x);
    h_latch_init(&x.final_latch);
    x.m = M;
    x.id = "reentrant";
    x.url = u.s;
    urls[0] = u.s;
    ok &= EXPECT_ST(bgfetch_options_set_title(o, "re-entrant"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "reentrant", urls, 1, o, &r), BGFETCH_OK);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress_reentrant, &x, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&x.final_latch, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT(x.errors == 0);
        ok &= EXPECT(x.calls >= 2);
        ok &= EXPECT(x.freed_handles == x.calls);
        if (!ok) h_diag("calls %ld, errors %d, freed %d", x.calls, x.errors, x.freed_handles);
        bgfetch_registration_free(r);
    }
    bgfetch_options_free(o);
    h_latch_destroy(&x.final_latch);
    CHECK(ok, "the callback can call bgfetch_ functions on its own registration (get, match, free a get() handle) without deadlock");
}

typedef struct {
    bgfetch_manager *m;
    int abort_status;
    int aborted;
    int cleared;
    long calls;
    h_latch final_latch;
} aborter;

static void on_progress_abort(void *ud, bgfetch_registration *r) {
    aborter *a = (aborter *)ud;
    a->calls++;
    if (a->calls == 1) {
        bgfetch_registration *g = NULL;
        bool did = false;
        if (bgfetch_get(a->m, bgfetch_registration_id(r), &g) == BGFETCH_OK && g) {
            a->abort_status = (int)bgfetch_registration_abort(g, &did);
            a->aborted = did;
            bgfetch_registration_free(g);
        } else {
            a->abort_status = -1;
        }
    }
    if (bgfetch_registration_result(r) != BGFETCH_RESULT_NONE) h_latch_add(&a->final_latch, 1);
}

static void t_abort_from_callback(void) {
    int ok = 1;
    aborter a;
    bgfetch_registration *r = h_fetch(M, "abort-in-cb", NULL, U("bytes/2000000?seed=6&rate=200000").s, NULL);
    memset(&a, 0, sizeof a);
    a.m = M;
    a.abort_status = -2;
    h_latch_init(&a.final_latch);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress_abort, &a, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&a.final_latch, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 5000), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        ok &= EXPECT(a.abort_status == (int)BGFETCH_OK);
        ok &= EXPECT(a.aborted);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
        bgfetch_registration_free(r);
    }
    h_latch_destroy(&a.final_latch);
    CHECK(ok, "abort() through a get() handle inside the progress callback works; a final call follows");
}

typedef struct {
    bgfetch_registration *self; /* the handle the callback was set on */
    long calls;
    int status;
    h_latch first;
} self_clear;

static void on_progress_self_clear(void *ud, bgfetch_registration *r) {
    self_clear *s = (self_clear *)ud;
    (void)r;
    s->calls++;
    if (s->calls == 1) {
        /* the callback clears itself through the handle it was set on */
        s->status = (int)bgfetch_registration_set_progress_callback(s->self, NULL, NULL, NULL);
        h_latch_add(&s->first, 1);
    }
}

static void t_clear_from_inside(void) {
    int ok = 1;
    self_clear s;
    bool aborted = false;
    bgfetch_registration *r = h_fetch(M, "self-clear", NULL, U("bytes/2000000?seed=7&rate=200000").s, NULL);
    memset(&s, 0, sizeof s);
    s.status = -1;
    h_latch_init(&s.first);
    s.self = r;
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress_self_clear, &s, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&s.first, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        h_sleep_ms(300); /* checking for the absence of calls */
        ok &= EXPECT(s.status == (int)BGFETCH_OK);
        ok &= EXPECT(s.calls == 1);
        if (s.calls != 1) h_diag("calls = %ld", s.calls);
        bgfetch_registration_free(r);
    }
    h_latch_destroy(&s.first);
    CHECK(ok, "the callback may clear itself (set_progress_callback(NULL) from inside returns and stops it)");
}

int main(int argc, char **argv) {
    bgfetch_config *c;
    h_init(argc, argv);
    c = h_config("store-progress");
    if (c && bgfetch_config_set_progress_interval(c, 100) != BGFETCH_OK) h_diag("set_progress_interval failed");
    M = h_open_cfg(c);
    if (!CHECK(M != NULL, "open a manager (progress interval 100 ms)")) return h_done();
    t_progress_rising();
    t_progress_failure_final();
    t_new_callback_stops_old();
    t_clear_callback();
    t_reentrant_callback();
    t_abort_from_callback();
    t_clear_from_inside();
    bgfetch_manager_close(M);
    return h_done();
}
