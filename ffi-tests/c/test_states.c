/* test_states.c - what a fetch waits for (issue 19, ABI 0.3), from C:
   - a refused connection under the DEFAULT retry policy: the record enters RETRY_WAIT after
     its first attempt, with the refusal as its last error and a time to the next attempt;
     the progress callback reports the state changes (paused -> retry-wait -> offline), and
     the registration's state and last error follow;
   - state changes alone fire the progress callback (a failed attempt, going offline), with a
     retry minutes away so that nothing else can;
   - settled fetches: DONE / FAILED for the registration and for each record;
   - the expected total from the response heads (known lengths, then a chunked body);
   - a progress callback set after the fetch settled is called once with the final values;
   - bgfetch_response_read / bgfetch_response_save bounded by their timeout on a paused body.

   Every config here keeps the library's default retry policy (h_config's one final attempt
   would turn a refusal into an at-once failure), but the one that needs a retry minutes
   away. Nothing sleeps to synchronise: a check waits for a callback, a settled fetch, a
   bounded poll of a live state, or a call whose timeout must run out. */
#include "harness.h"

#include <poll.h>


static const char *stname(bgfetch_state s) {
    const char *n = bgfetch_state_str(s);
    return n ? n : "(null)";
}

static int expect_state(bgfetch_state got, bgfetch_state want, const char *expr, int line) {
    if (got == want) return 1;
    h_diag("%s  (line %d): state \"%s\" (%u), expected \"%s\"", expr, line, stname(got),
           (unsigned)got, stname(want));
    return 0;
}
#define EXPECT_STATE(got, want) expect_state((got), (want), #got, __LINE__)

/* The first record of `r` (owned; free it), or NULL. */
static bgfetch_record *first_record(bgfetch_registration *r) {
    bgfetch_records *rs = NULL;
    bgfetch_record *rec = NULL;
    if (bgfetch_registration_match_all(r, NULL, 0, &rs) != BGFETCH_OK || bgfetch_records_len(rs) == 0) {
        h_diag("match_all: %s", bgfetch_last_error());
        bgfetch_records_free(rs);
        return NULL;
    }
    /* an owned record: match its URL */
    if (bgfetch_registration_match_url(r, bgfetch_record_url(bgfetch_records_get(rs, 0)), 0, &rec) !=
        BGFETCH_OK)
        h_diag("match_url: %s", bgfetch_last_error());
    bgfetch_records_free(rs);
    return rec;
}

/* ------------------------------------------------------------------------------------------ */
/* an observer of the registration's state, as the progress callback sees it                    */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long calls;
    unsigned seen;        /* bit 1 << state: the registration states the callback saw */
    bgfetch_state last;   /* the state at the latest call */
    /* the record and the registration at the first call that saw RETRY_WAIT */
    int captured;
    bgfetch_state rec_state;
    uint32_t attempts;
    int64_t retry_in_ms;
    char rec_error[512];
    size_t rec_error_len;
    char reg_error[512];
    bgfetch_result result;
} observer;

static void obs_init(observer *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
}

static void obs_destroy(observer *o) {
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
}

static void on_state(void *ud, bgfetch_registration *r) {
    observer *o = (observer *)ud;
    bgfetch_state st = bgfetch_registration_state(r);
    int capture;
    pthread_mutex_lock(&o->mu);
    capture = st == BGFETCH_RECORD_RETRY_WAIT && !o->captured;
    pthread_mutex_unlock(&o->mu);
    if (capture) {
        /* the library may be called from the callback; read the record now */
        bgfetch_records *rs = NULL;
        char reg_error[512];
        bgfetch_result result = bgfetch_registration_result(r);
        bgfetch_registration_last_error(r, reg_error, sizeof reg_error);
        if (bgfetch_registration_match_all(r, NULL, 0, &rs) == BGFETCH_OK && bgfetch_records_len(rs) > 0) {
            const bgfetch_record *rec = bgfetch_records_get(rs, 0);
            pthread_mutex_lock(&o->mu);
            o->captured = 1;
            o->rec_state = bgfetch_record_state(rec);
            o->attempts = bgfetch_record_attempts(rec);
            o->retry_in_ms = bgfetch_record_retry_in_ms(rec);
            o->rec_error_len = bgfetch_record_last_error(rec, o->rec_error, sizeof o->rec_error);
            memcpy(o->reg_error, reg_error, sizeof reg_error);
            o->result = result;
            pthread_mutex_unlock(&o->mu);
        }
        bgfetch_records_free(rs);
    }
    pthread_mutex_lock(&o->mu);
    o->calls++;
    o->seen |= 1u << st;
    o->last = st;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* Waits until the callback saw the registration in state `st` (at most H_WAIT_MS). */
static int obs_wait_state(observer *o, bgfetch_state st) {
    struct timespec dl;
    int ok;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += H_WAIT_MS / 1000;
    pthread_mutex_lock(&o->mu);
    while (!(o->seen & (1u << st)))
        if (pthread_cond_timedwait(&o->cv, &o->mu, &dl) == ETIMEDOUT) break;
    ok = (o->seen & (1u << st)) != 0;
    pthread_mutex_unlock(&o->mu);
    if (!ok) h_diag("the progress callback never saw the state \"%s\"", stname(st));
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* a refused connection under the default policy                                              */

static void t_refused_connection_waits_to_retry_and_says_why(void) {
    int ok = 1;
    observer o;
    bgfetch_manager *m = h_open_cfg(h_default_config("store-refused"));
    bgfetch_options *opts = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    bgfetch_record *rec = NULL;
    uint16_t port = h_closed_port();
    h_str u = S("http://127.0.0.1:%u/bytes/100", (unsigned)port);
    char buf[512];
    bool all_known = true;
    obs_init(&o);
    ok &= EXPECT(m != NULL && opts != NULL && port != 0);
    ok &= EXPECT_ST(bgfetch_options_set_start_paused(opts, true), BGFETCH_OK);
    if (m) r = h_fetch(m, "refused", opts, u.s, NULL);
    bgfetch_options_free(opts);
    if (!EXPECT(r != NULL) || !(rec = first_record(r))) {
        CHECK(0, "refused: fetch");
        goto out;
    }

    /* Paused: nothing was tried. */
    ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_PAUSED);
    ok &= EXPECT_STATE(bgfetch_record_state(rec), BGFETCH_RECORD_PAUSED);
    ok &= EXPECT_U64(bgfetch_record_attempts(rec), 0);
    ok &= EXPECT(bgfetch_record_retry_in_ms(rec) == -1);
    ok &= EXPECT_U64(bgfetch_record_last_error(rec, buf, sizeof buf), 0);
    ok &= EXPECT_STR(buf, "");
    ok &= EXPECT_U64(bgfetch_registration_last_error(r, buf, sizeof buf), 0);
    ok &= EXPECT_U64(bgfetch_registration_expected_total(r, &all_known), 0);
    ok &= EXPECT(!all_known);
    /* Setting the callback delivers one call at once: it sees "paused". */
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_state, &o, NULL), BGFETCH_OK);
    ok &= obs_wait_state(&o, BGFETCH_RECORD_PAUSED);
    CHECK(ok, "a fetch started paused: registration and record PAUSED, 0 attempts, no error, "
              "retry_in -1; a callback set now is called at once and sees PAUSED");

    /* Resumed: the connection is refused; the record waits to retry, and says why. */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK);
    ok &= obs_wait_state(&o, BGFETCH_RECORD_RETRY_WAIT);
    pthread_mutex_lock(&o.mu);
    ok &= EXPECT(o.captured);
    ok &= EXPECT_STATE(o.rec_state, BGFETCH_RECORD_RETRY_WAIT);
    /* entered after the FIRST failed attempt (the default policy makes 5 before giving up) */
    ok &= EXPECT_U64(o.attempts, 1);
    ok &= EXPECT_D(o.retry_in_ms > 0, "retry_in_ms %" PRId64, o.retry_in_ms);
    ok &= EXPECT_D(h_icontains(o.rec_error, "refused"), "the record's last error: \"%s\"",
                   o.rec_error);
    ok &= EXPECT(o.rec_error_len == strlen(o.rec_error));
    ok &= EXPECT_D(o.reg_error[0] != '\0', "the registration's last error is empty");
    ok &= EXPECT_U64(o.result, BGFETCH_RESULT_NONE);
    pthread_mutex_unlock(&o.mu);
    CHECK(ok, "refused connection, default policy: the progress callback reports RETRY_WAIT; "
              "then the record had made 1 attempt, retry_in > 0, its last error names the "
              "refusal, the registration's last error is set and there is no result");

    /* The same, read live from the host's thread. A consistent reading: the state is
       RETRY_WAIT before and after the other values were read. */
    ok = 1;
    {
        int64_t deadline = h_now_ms() + H_WAIT_MS;
        int seen = 0;
        while (!seen && h_now_ms() < deadline) {
            bgfetch_state a = bgfetch_record_state(rec);
            uint32_t attempts = bgfetch_record_attempts(rec);
            int64_t in_ms = bgfetch_record_retry_in_ms(rec);
            size_t len = bgfetch_record_last_error(rec, buf, sizeof buf);
            bgfetch_state reg_state = bgfetch_registration_state(r);
            char reg_error[512];
            size_t reg_len = bgfetch_registration_last_error(r, reg_error, sizeof reg_error);
            bgfetch_state b = bgfetch_record_state(rec);
            if (a != BGFETCH_RECORD_RETRY_WAIT || b != BGFETCH_RECORD_RETRY_WAIT) {
                h_sleep_ms(2); /* the interval of a bounded poll */
                continue;
            }
            seen = 1;
            ok &= EXPECT(attempts >= 1);
            ok &= EXPECT_D(in_ms > 0, "retry_in_ms %" PRId64, in_ms);
            ok &= EXPECT_D(h_icontains(buf, "refused"), "last error \"%s\"", buf);
            ok &= EXPECT(len == strlen(buf) && len > 0);
            ok &= EXPECT_STATE(reg_state, BGFETCH_RECORD_RETRY_WAIT);
            ok &= EXPECT(reg_len > 0 && reg_error[0] != '\0');
            ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
            /* snprintf semantics: a short buffer gets a truncated, NUL-terminated copy and
               the full length */
            {
                char small[8];
                memset(small, 'x', sizeof small);
                ok &= EXPECT(bgfetch_record_last_error(rec, small, sizeof small) >= sizeof small);
                ok &= EXPECT(small[sizeof small - 1] == '\0' && strlen(small) == sizeof small - 1);
                ok &= EXPECT(bgfetch_record_last_error(rec, NULL, 0) > 0);
            }
        }
        ok &= EXPECT(seen);
    }
    CHECK(ok, "refused connection: read live, the record is RETRY_WAIT with attempts >= 1, "
              "retry_in > 0 and \"refused\" in its last error; the registration RETRY_WAIT "
              "with a last error; no result");

    /* Offline: the callback reports it (no byte and no pause changed: a state change). */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_manager_set_offline(m, true), BGFETCH_OK);
    ok &= obs_wait_state(&o, BGFETCH_RECORD_OFFLINE);
    ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_OFFLINE);
    ok &= EXPECT_STATE(bgfetch_record_state(rec), BGFETCH_RECORD_OFFLINE);
    ok &= EXPECT(bgfetch_record_retry_in_ms(rec) == -1);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
    CHECK(ok, "offline: the progress callback reports OFFLINE; registration and record "
              "OFFLINE, retry_in -1");

    /* Paused while offline: paused wins (the fetch waits for its host first). */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_pause(r), BGFETCH_OK);
    ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_PAUSED);
    ok &= EXPECT_STATE(bgfetch_record_state(rec), BGFETCH_RECORD_PAUSED);
    ok &= EXPECT_ST(bgfetch_manager_set_offline(m, false), BGFETCH_OK);
    ok &= EXPECT_STATE(bgfetch_record_state(rec), BGFETCH_RECORD_PAUSED);
    CHECK(ok, "a paused fetch (offline or not): registration and record PAUSED");

    /* Aborted: settled, FAILED for both; the callback's last call sees it. */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_abort(r, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
    ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_FAILED);
    ok &= EXPECT_STATE(bgfetch_record_state(rec), BGFETCH_RECORD_FAILED);
    ok &= EXPECT(bgfetch_record_retry_in_ms(rec) == -1);
    ok &= obs_wait_state(&o, BGFETCH_RECORD_FAILED);
    pthread_mutex_lock(&o.mu);
    ok &= EXPECT_STATE(o.last, BGFETCH_RECORD_FAILED);
    pthread_mutex_unlock(&o.mu);
    CHECK(ok, "aborted while waiting to retry: registration and record FAILED, and the last "
              "progress call saw FAILED");
    if (!EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK))
        CHECK(0, "refused: clearing the progress callback");
out:
    bgfetch_record_free(rec);
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    obs_destroy(&o);
}

/* ------------------------------------------------------------------------------------------ */
/* state changes alone fire the progress callback                                             */

/* A socket listening on 127.0.0.1 (port in *port), or -1. */
static int listen_local(uint16_t *port) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* accept() on `fd`, waiting at most H_WAIT_MS; -1 if nobody came. */
static int accept_bounded(int fd) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, H_WAIT_MS) != 1) return -1;
    return accept(fd, NULL, NULL);
}

/* Reads from `fd` until a request head ("\r\n\r\n") has come (at most H_WAIT_MS); 1 if so. */
static int read_request_head(int fd) {
    char buf[4096];
    size_t len = 0;
    int64_t deadline = h_now_ms() + H_WAIT_MS;
    while (len + 1 < sizeof buf && h_now_ms() < deadline) {
        struct pollfd p;
        ssize_t n;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 100) != 1) continue;
        n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) return 0;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, "\r\n\r\n")) return 1;
    }
    return 0;
}

/* Ends a connection with a TCP reset (RST, not FIN). */
static void reset_connection(int fd) {
    struct linger l;
    l.l_onoff = 1;
    l.l_linger = 0;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* Here nothing else can make the callback fire: the retry comes after minutes (a base
   backoff of 10 min), no byte arrives, the paused flag does not change. The record becomes
   ACTIVE on a connection this test accepted; the test resets the connection: the callback
   must report RETRY_WAIT; then going offline: it must report OFFLINE. */
static void t_state_changes_alone_fire_the_progress_callback(void) {
    int ok = 1;
    observer o;
    bgfetch_config *c = h_default_config("store-state-changes");
    bgfetch_manager *m = NULL;
    bgfetch_registration *r = NULL;
    uint16_t port = 0;
    int lfd = listen_local(&port), conn = -1;
    h_str u = S("http://127.0.0.1:%u/x", (unsigned)port);
    obs_init(&o);
    ok &= EXPECT(lfd >= 0);
    if (c && (bgfetch_config_set_retries(c, 5, 600000) != BGFETCH_OK ||
              bgfetch_config_set_max_backoff(c, 600000) != BGFETCH_OK))
        h_diag("configuring the backoff: %s", bgfetch_last_error());
    m = h_open_cfg(c);
    if (m && lfd >= 0) r = h_fetch(m, "changes", NULL, u.s, NULL);
    if (!EXPECT(r != NULL)) {
        CHECK(0, "state changes: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_state, &o, NULL), BGFETCH_OK);
    conn = accept_bounded(lfd);
    ok &= EXPECT(conn >= 0);
    /* The request came: the record is ACTIVE, waiting for the response head, and reported. */
    ok &= EXPECT(conn >= 0 && read_request_head(conn));
    ok &= obs_wait_state(&o, BGFETCH_RECORD_ACTIVE);
    ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_ACTIVE);
    /* An observation window (it must run out: nothing answers): whatever progress the
       record's start asked for is delivered meanwhile (the interval is 10 ms), so that only
       the reset below can make the callback fire again. */
    ok &= EXPECT_ST(bgfetch_registration_wait(r, 200), BGFETCH_E_TIMEOUT);
    if (conn >= 0) reset_connection(conn);
    ok &= obs_wait_state(&o, BGFETCH_RECORD_RETRY_WAIT);
    pthread_mutex_lock(&o.mu);
    ok &= EXPECT(o.captured);
    ok &= EXPECT_U64(o.attempts, 1);
    ok &= EXPECT(o.retry_in_ms > 60000); /* the backoff asked for: minutes, not seconds */
    ok &= EXPECT(o.rec_error[0] != '\0');
    pthread_mutex_unlock(&o.mu);
    CHECK(ok, "a failed attempt (a reset while waiting for the head) fires the progress "
              "callback with RETRY_WAIT (nothing else could: no byte, no pause, the retry "
              "minutes away)");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_manager_set_offline(m, true), BGFETCH_OK);
    ok &= obs_wait_state(&o, BGFETCH_RECORD_OFFLINE);
    pthread_mutex_lock(&o.mu);
    ok &= EXPECT_STATE(o.last, BGFETCH_RECORD_OFFLINE);
    pthread_mutex_unlock(&o.mu);
    CHECK(ok, "going offline fires the progress callback with OFFLINE");
    ok = EXPECT_ST(bgfetch_registration_abort(r, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    if (!ok) CHECK(0, "state changes: abort");
out:
    if (lfd >= 0) close(lfd);
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    obs_destroy(&o);
}

/* ------------------------------------------------------------------------------------------ */
/* settled fetches                                                                             */

/* The state of the record matching `url` in `r`. */
static bgfetch_state record_state_of(bgfetch_registration *r, const char *url) {
    bgfetch_record *rec = NULL;
    bgfetch_state st;
    if (bgfetch_registration_match_url(r, url, 0, &rec) != BGFETCH_OK || !rec) {
        h_diag("no record for %s", url);
        return (bgfetch_state)99;
    }
    st = bgfetch_record_state(rec);
    bgfetch_record_free(rec);
    return st;
}

static void t_settled_states(void) {
    int ok = 1;
    bgfetch_manager *m = h_open_cfg(h_default_config("store-settled"));
    h_str good = U("bytes/1000?seed=1&t=states");
    h_str missing = U("status/404?t=states");
    bgfetch_registration *r = NULL;
    if (!m) {
        CHECK(0, "settled: open");
        return;
    }
    r = h_fetch(m, "ok", NULL, good.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_DONE);
        ok &= EXPECT_STATE(record_state_of(r, good.s), BGFETCH_RECORD_DONE);
    }
    bgfetch_registration_free(r);
    CHECK(ok, "a successful fetch: registration and record DONE");

    /* A 404 is a complete response (record DONE) of a failed fetch (bad-status). */
    ok = 1;
    r = h_fetch(m, "bad", NULL, good.s, missing.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_BAD_STATUS);
        ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_FAILED);
        ok &= EXPECT_STATE(record_state_of(r, good.s), BGFETCH_RECORD_DONE);
        ok &= EXPECT_STATE(record_state_of(r, missing.s), BGFETCH_RECORD_DONE);
    }
    bgfetch_registration_free(r);
    CHECK(ok, "a fetch failed with bad-status: registration FAILED, its records (200 and "
              "404, both complete responses) DONE");
    bgfetch_manager_close(m);

    /* A request that failed for good: the record FAILED, with its message. One final attempt
       here (h_config), as the point is the settled state, not the policy. */
    ok = 1;
    m = h_open("store-settled-error");
    r = NULL;
    if (m) {
        h_str refused = S("http://127.0.0.1:%u/x", (unsigned)h_closed_port());
        r = h_fetch(m, "err", NULL, refused.s, NULL);
        ok &= EXPECT(r != NULL);
        if (r) {
            bgfetch_record *rec = first_record(r);
            char buf[512];
            ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
            ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_FAILED);
            ok &= EXPECT_STATE(bgfetch_record_state(rec), BGFETCH_RECORD_FAILED);
            ok &= EXPECT(bgfetch_record_retry_in_ms(rec) == -1);
            bgfetch_record_last_error(rec, buf, sizeof buf);
            ok &= EXPECT_D(h_icontains(buf, "refused"), "record last error \"%s\"", buf);
            bgfetch_registration_last_error(r, buf, sizeof buf);
            ok &= EXPECT_D(h_icontains(buf, "refused"), "registration last error \"%s\"", buf);
            bgfetch_record_free(rec);
        }
    } else {
        ok = 0;
    }
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    CHECK(ok, "a fetch failed with fetch-error: registration and record FAILED, both last "
              "errors name the refusal");
}

/* ------------------------------------------------------------------------------------------ */
/* expected total                                                                              */

static void t_expected_total(void) {
    int ok = 1;
    bool all_known = false;
    bgfetch_manager *m = h_open_cfg(h_default_config("store-total"));
    h_str a = U("bytes/1000?seed=2&t=total");
    h_str b = U("bytes/23456?seed=3&t=total");
    h_str chunked = U("bytes/5000?seed=4&chunked=1&t=total");
    bgfetch_registration *r;
    if (!m) {
        CHECK(0, "expected total: open");
        return;
    }
    r = h_fetch(m, "known", NULL, a.s, b.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_expected_total(r, &all_known), 1000 + 23456);
        ok &= EXPECT(all_known);
        ok &= EXPECT_U64(bgfetch_registration_expected_total(r, NULL), 1000 + 23456);
        ok &= EXPECT_U64(bgfetch_registration_download_total(r), 0); /* not the host's cap */
    }
    bgfetch_registration_free(r);
    CHECK(ok, "two bodies with a Content-Length: expected_total is their sum, all known "
              "(download_total stays 0)");

    ok = 1;
    all_known = true;
    r = h_fetch(m, "chunked", NULL, a.s, chunked.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 1000 + 5000);
        ok &= EXPECT_U64(bgfetch_registration_expected_total(r, &all_known), 1000);
        ok &= EXPECT(!all_known);
    }
    bgfetch_registration_free(r);
    CHECK(ok, "a chunked body's length is not known from its head: all_known false, the sum "
              "is that of the known lengths");
    bgfetch_manager_close(m);
}

/* ------------------------------------------------------------------------------------------ */
/* a progress callback set after the fetch settled                                             */

typedef struct {
    pthread_mutex_t mu;
    long calls;
    bgfetch_result result;
    bgfetch_state state;
    uint64_t downloaded;
    h_latch called;
} late;

static void on_late(void *ud, bgfetch_registration *r) {
    late *l = (late *)ud;
    pthread_mutex_lock(&l->mu);
    l->calls++;
    l->result = bgfetch_registration_result(r);
    l->state = bgfetch_registration_state(r);
    l->downloaded = bgfetch_registration_downloaded(r);
    pthread_mutex_unlock(&l->mu);
    h_latch_add(&l->called, 1);
}

static void late_init(late *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    h_latch_init(&l->called);
}

static void late_destroy(late *l) {
    pthread_mutex_destroy(&l->mu);
    h_latch_destroy(&l->called);
}

static void t_late_progress_callback_gets_the_final_values(void) {
    int ok = 1;
    late l, barrier;
    bgfetch_manager *m = h_open_cfg(h_default_config("store-late"));
    h_str u = U("bytes/7000?seed=5&t=late");
    bgfetch_registration *r = NULL, *other = NULL;
    late_init(&l);
    late_init(&barrier);
    if (m) r = h_fetch(m, "late", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        /* settled; only now the callback */
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_late, &l, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&l.called, 1, H_WAIT_MS));
        /* A barrier on the event thread: the first call of a callback set later on another
           handle of the same fetch. Any second call of the first callback would come before. */
        ok &= EXPECT_ST(bgfetch_get(m, "late", &other), BGFETCH_OK);
        ok &= EXPECT(other != NULL);
        if (other) {
            ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(other, on_late, &barrier, NULL),
                            BGFETCH_OK);
            ok &= EXPECT(h_latch_wait(&barrier.called, 1, H_WAIT_MS));
        }
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        pthread_mutex_lock(&l.mu);
        ok &= EXPECT_U64(l.calls, 1);
        ok &= EXPECT_U64(l.result, BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_STATE(l.state, BGFETCH_RECORD_DONE);
        ok &= EXPECT_U64(l.downloaded, 7000);
        pthread_mutex_unlock(&l.mu);
    }
    CHECK(ok, "a progress callback set after the fetch settled is called once, with the final "
              "values (success, DONE, every byte)");
    bgfetch_registration_free(other);
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    late_destroy(&l);
    late_destroy(&barrier);
}

/* ------------------------------------------------------------------------------------------ */
/* bounded reads                                                                               */

typedef struct {
    h_latch reached; /* downloaded >= 20000 */
} bytes_watch;

static void on_bytes(void *ud, bgfetch_registration *r) {
    bytes_watch *w = (bytes_watch *)ud;
    if (bgfetch_registration_downloaded(r) >= 20000 && h_latch_get(&w->reached) == 0)
        h_latch_add(&w->reached, 1);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void t_bounded_read_and_save_on_a_paused_body(void) {
    int ok = 1;
    const uint64_t len = 200000;
    bytes_watch w;
    bgfetch_manager *m = h_open_cfg(h_default_config("store-bounded"));
    h_str u = U("bytes/200000?seed=6&rate=200000&t=bounded");
    h_str dir = P("saves");
    h_str dest = P("saves/body.bin");
    h_str kept = P("saves/kept.bin");
    bgfetch_registration *r = NULL;
    bgfetch_response *res = NULL;
    uint8_t buf[64];
    size_t n = 12345;
    uint64_t stored;
    h_latch_init(&w.reached);
    ok &= EXPECT(mkdir(dir.s, 0700) == 0);
    if (m) r = h_fetch(m, "bounded", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (!r) {
        CHECK(0, "bounded read: fetch");
        goto out;
    }
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_bytes, &w, NULL), BGFETCH_OK);
    ok &= EXPECT(h_latch_wait(&w.reached, 1, H_WAIT_MS));
    ok &= EXPECT_ST(bgfetch_registration_pause(r), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
    res = h_response_of(r, u.s);
    ok &= EXPECT(res != NULL);
    if (!res) {
        CHECK(0, "bounded read: response");
        goto out;
    }
    stored = bgfetch_response_body_size(res);
    ok &= EXPECT(stored >= 20000 && stored < len - 10);
    ok &= EXPECT_STATE(bgfetch_registration_state(r), BGFETCH_RECORD_PAUSED);

    /* stored bytes: read at once, whatever the timeout */
    ok &= EXPECT_ST(bgfetch_response_read(res, 0, buf, sizeof buf, 300, &n), BGFETCH_OK);
    ok &= EXPECT_U64(n, sizeof buf);
    ok &= h_is_pattern(buf, n, sizeof buf, 6);
    /* bytes that will not come while paused: TIMEOUT, nothing read */
    n = 12345;
    ok &= EXPECT_ST(bgfetch_response_read(res, len - 10, buf, 10, 300, &n), BGFETCH_E_TIMEOUT);
    ok &= EXPECT_U64(n, 0);
    ok &= EXPECT_ST(bgfetch_response_read(res, len - 10, buf, 10, 0, &n), BGFETCH_E_TIMEOUT);
    CHECK(ok, "bgfetch_response_read on a paused body: stored bytes read at once; beyond them "
              "BGFETCH_E_TIMEOUT after its timeout (300 ms, and 0 = poll)");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_response_save(res, dest.s, 300), BGFETCH_E_TIMEOUT);
    ok &= EXPECT(!file_exists(dest.s));
    ok &= EXPECT(h_dir_entries(dir.s) == 0); /* no temporary file left either */
    {
        FILE *f = fopen(kept.s, "wb");
        ok &= EXPECT(f != NULL);
        if (f) {
            fputs("old", f);
            fclose(f);
        }
    }
    ok &= EXPECT_ST(bgfetch_response_save(res, kept.s, 200), BGFETCH_E_TIMEOUT);
    {
        size_t flen = 0;
        uint8_t *old = h_read_file(kept.s, &flen);
        ok &= EXPECT(old && flen == 3 && memcmp(old, "old", 3) == 0);
        free(old);
    }
    ok &= EXPECT(h_dir_entries(dir.s) == 1);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
    CHECK(ok, "bgfetch_response_save on a paused body: BGFETCH_E_TIMEOUT; the destination does "
              "not exist afterwards (an existing one is untouched), no temporary file left");

    /* Resumed, the same calls complete. */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_resume(r), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_response_save(res, dest.s, H_WAIT_MS), BGFETCH_OK);
    {
        size_t flen = 0;
        uint8_t *body = h_read_file(dest.s, &flen);
        ok &= h_is_pattern(body, flen, (size_t)len, 6);
        free(body);
    }
    ok &= EXPECT_ST(bgfetch_response_read(res, len - 10, buf, 10, 0, &n), BGFETCH_OK);
    ok &= EXPECT_U64(n, 10);
    CHECK(ok, "resumed: save with a timeout completes byte-exact; the tail reads at once");
out:
    bgfetch_response_free(res);
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    h_latch_destroy(&w.reached);
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    t_refused_connection_waits_to_retry_and_says_why();
    t_state_changes_alone_fire_the_progress_callback();
    t_settled_states();
    t_expected_total();
    t_late_progress_callback_gets_the_final_values();
    t_bounded_read_and_save_on_a_paused_body();
    return h_done();
}
