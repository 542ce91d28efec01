/* test_events.c - completion events, redelivery, MANUAL dispatch with event_fd, uploads, Vary,
   integrity, update_ui and the icons accessor (issue 3) */
#include "harness.h"

#include <poll.h>

/* ---------------------------------------------------------------------------------------- */
/* a global sequence, to order progress calls against events                               */

static pthread_mutex_t seq_mu = PTHREAD_MUTEX_INITIALIZER;
static long seq_counter;
static long next_seq(void) {
    long s;
    pthread_mutex_lock(&seq_mu);
    s = ++seq_counter;
    pthread_mutex_unlock(&seq_mu);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* event recorder                                                                           */

#define MAX_EVENTS 64

typedef struct {
    char id[128];
    bgfetch_event_type type;
    long seq;
    bgfetch_status match_all_status; /* records readable inside the callback? */
    size_t n_records;
    uint64_t bytes_read;             /* bodies read through the records inside the callback */
    int read_errors;
    bgfetch_result result;
    bgfetch_failure_reason reason;
    pthread_t thread;
} event_rec;

typedef struct {
    pthread_mutex_t mu;
    h_latch latch; /* number of events */
    int n;
    event_rec ev[MAX_EVENTS];
    int read_bodies;
} events;

static void events_init(events *e) {
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    h_latch_init(&e->latch);
    e->read_bodies = 1;
}
static void events_destroy(events *e) {
    pthread_mutex_destroy(&e->mu);
    h_latch_destroy(&e->latch);
}

static void on_event(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    events *e = (events *)ud;
    event_rec rec;
    bgfetch_records *rs = NULL;
    memset(&rec, 0, sizeof rec);
    rec.seq = next_seq();
    rec.type = type;
    rec.thread = pthread_self();
    snprintf(rec.id, sizeof rec.id, "%s", bgfetch_registration_id(reg) ? bgfetch_registration_id(reg) : "(NULL)");
    rec.result = bgfetch_registration_result(reg);
    rec.reason = bgfetch_registration_failure_reason(reg);
    rec.match_all_status = bgfetch_registration_match_all(reg, NULL, 0, &rs);
    rec.n_records = bgfetch_records_len(rs);
    if (e->read_bodies && rec.match_all_status == BGFETCH_OK) {
        size_t i;
        for (i = 0; i < rec.n_records; i++) {
            bgfetch_response *res = NULL;
            if (bgfetch_record_response(bgfetch_records_get(rs, i), 0, &res) == BGFETCH_OK) {
                size_t len = 0;
                uint8_t *b = NULL;
                if (bgfetch_response_complete(res)) b = h_read_all(res, &len);
                if (b) rec.bytes_read += len;
                else rec.read_errors++;
                free(b);
            }
            bgfetch_response_free(res);
        }
    }
    bgfetch_records_free(rs);
    pthread_mutex_lock(&e->mu);
    if (e->n < MAX_EVENTS) e->ev[e->n++] = rec;
    pthread_mutex_unlock(&e->mu);
    h_latch_add(&e->latch, 1);
}

static int count_events(events *e, const char *id) {
    int i, c = 0;
    pthread_mutex_lock(&e->mu);
    for (i = 0; i < e->n; i++)
        if (strcmp(e->ev[i].id, id) == 0) c++;
    pthread_mutex_unlock(&e->mu);
    return c;
}

/* wait until an event for id arrived; copies it to *out; 1 if found */
static int wait_event(events *e, const char *id, event_rec *out, int64_t timeout_ms) {
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        long seen = h_latch_get(&e->latch);
        int i, found = 0;
        pthread_mutex_lock(&e->mu);
        for (i = 0; i < e->n; i++)
            if (strcmp(e->ev[i].id, id) == 0) {
                if (out) *out = e->ev[i];
                found = 1;
                break;
            }
        pthread_mutex_unlock(&e->mu);
        if (found) return 1;
        if (h_now_ms() >= deadline) return 0;
        h_latch_wait(&e->latch, seen + 1, deadline - h_now_ms());
    }
}

/* ---------------------------------------------------------------------------------------- */
/* progress recorder                                                                        */

typedef struct {
    pthread_mutex_t mu;
    long calls;
    long final_seq;
    long last_seq;
    uint64_t last_uploaded;
    int uploaded_decreased;
    long mid_upload_calls;
    long mid_upload_rises;   /* mid-transfer calls whose uploaded is above the previous call's */
    uint64_t upload_total;
    uint64_t final_uploaded;
    pthread_t thread;
    int other_thread;
} progress_rec;

static void progress_init(progress_rec *p, uint64_t upload_total) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->upload_total = upload_total;
    p->thread = pthread_self();
}

static void on_progress(void *ud, bgfetch_registration *r) {
    progress_rec *p = (progress_rec *)ud;
    long s = next_seq();
    uint64_t up = bgfetch_registration_uploaded(r), prev_up;
    pthread_mutex_lock(&p->mu);
    prev_up = p->last_uploaded;
    p->calls++;
    p->last_seq = s;
    if (!pthread_equal(pthread_self(), p->thread)) p->other_thread = 1;
    if (up < p->last_uploaded) p->uploaded_decreased = 1;
    p->last_uploaded = up;
    if (up > 0 && up < p->upload_total) {
        p->mid_upload_calls++;
        if (up > prev_up) p->mid_upload_rises++;
    }
    if (bgfetch_registration_result(r) != BGFETCH_RESULT_NONE && !p->final_seq) {
        p->final_seq = s;
        p->final_uploaded = up;
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------------------------------- */

static bgfetch_manager *M; /* THREAD mode, event callback set to EV */
static events EV;

static void t_event_success(void) {
    int ok = 1;
    progress_rec p;
    event_rec e;
    h_str u = U("bytes/20000?seed=1&rate=100000");
    bgfetch_registration *r = h_fetch(M, "ev-success", NULL, u.s, NULL);
    progress_init(&p, 0);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &p, NULL), BGFETCH_OK);
        ok &= EXPECT(wait_event(&EV, "ev-success", &e, H_WAIT_MS));
        if (ok) {
            ok &= EXPECT_U64(e.type, BGFETCH_EVENT_SUCCESS);
            ok &= EXPECT_U64(e.result, BGFETCH_RESULT_SUCCESS);
        }
        CHECK(ok, "event SUCCESS for a successful fetch");

        ok = 1;
        pthread_mutex_lock(&p.mu);
        ok &= EXPECT(p.final_seq > 0);
        ok &= EXPECT(p.final_seq < e.seq);
        ok &= EXPECT(p.last_seq < e.seq);
        if (!ok) h_diag("final progress seq %ld, last progress seq %ld, event seq %ld", p.final_seq, p.last_seq, e.seq);
        pthread_mutex_unlock(&p.mu);
        CHECK(ok, "the event comes after the final progress callback");

        ok = 1;
        ok &= EXPECT_ST(e.match_all_status, BGFETCH_OK);
        ok &= EXPECT_U64(e.n_records, 1);
        ok &= EXPECT_U64(e.bytes_read, 20000);
        ok &= EXPECT(e.read_errors == 0);
        CHECK(ok, "records and bodies are readable inside the event callback");

        ok = 1;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        h_sleep_ms(300); /* checking for the absence of a second event */
        ok &= EXPECT(count_events(&EV, "ev-success") == 1);
        CHECK(ok, "exactly one event per settled fetch");
        bgfetch_registration_free(r);
    } else {
        CHECK(0, "event SUCCESS for a successful fetch");
    }
    pthread_mutex_destroy(&p.mu);
}

static void t_event_fail(void) {
    int ok = 1;
    event_rec e;
    bgfetch_registration *r = h_fetch(M, "ev-fail", NULL, U("status/404").s, U("bytes/30?seed=2").s, NULL);
    ok &= EXPECT(r != NULL);
    ok &= EXPECT(wait_event(&EV, "ev-fail", &e, H_WAIT_MS));
    if (ok) {
        ok &= EXPECT_U64(e.type, BGFETCH_EVENT_FAIL);
        ok &= EXPECT_U64(e.reason, BGFETCH_FAILURE_BAD_STATUS);
        ok &= EXPECT_ST(e.match_all_status, BGFETCH_OK);
        ok &= EXPECT_U64(e.n_records, 2);
        ok &= EXPECT_U64(e.bytes_read, strlen("status 404\n") + 30);
    }
    bgfetch_registration_free(r);
    CHECK(ok, "event FAIL for a bad-status fetch, records readable inside");
}

static void t_event_abort(void) {
    int ok = 1;
    event_rec e;
    bool aborted = false;
    bgfetch_registration *r = h_fetch(M, "ev-abort", NULL, U("bytes/100?stall_ms=60000").s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
    ok &= EXPECT(wait_event(&EV, "ev-abort", &e, H_WAIT_MS));
    if (ok) {
        ok &= EXPECT_U64(e.type, BGFETCH_EVENT_ABORT);
        ok &= EXPECT_U64(e.reason, BGFETCH_FAILURE_ABORTED);
        ok &= EXPECT_ST(e.match_all_status, BGFETCH_OK);
    }
    bgfetch_registration_free(r);
    CHECK(ok, "event ABORT for an aborted fetch");
}

static void t_event_fetch_error_is_fail(void) {
    int ok = 1;
    event_rec e;
    h_str u = S("http://127.0.0.1:%u/x", (unsigned)h_closed_port());
    bgfetch_registration *r = h_fetch(M, "ev-fetch-error", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    ok &= EXPECT(wait_event(&EV, "ev-fetch-error", &e, H_WAIT_MS));
    if (ok) {
        ok &= EXPECT_U64(e.type, BGFETCH_EVENT_FAIL);
        ok &= EXPECT_U64(e.reason, BGFETCH_FAILURE_FETCH_ERROR);
    }
    bgfetch_registration_free(r);
    CHECK(ok, "event FAIL for a fetch-error fetch");
}

static void t_event_callback_swap(void) {
    int ok = 1;
    events a, b;
    bgfetch_manager *m = h_open("store-ev-swap");
    events_init(&a);
    events_init(&b);
    ok &= EXPECT(m != NULL);
    if (m) {
        bgfetch_registration *r;
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &a, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &b, NULL), BGFETCH_OK);
        r = h_fetch(m, "swap", NULL, U("bytes/10").s, NULL);
        ok &= EXPECT(r != NULL);
        ok &= EXPECT(wait_event(&b, "swap", NULL, H_WAIT_MS));
        ok &= EXPECT(count_events(&a, "swap") == 0);
        bgfetch_registration_free(r);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
        bgfetch_manager_close(m);
    }
    events_destroy(&a);
    events_destroy(&b);
    CHECK(ok, "a new event callback replaces the old one");
}

static void t_held_events(void) {
    int ok = 1;
    events e;
    bgfetch_manager *m = h_open("store-ev-held");
    events_init(&e);
    ok &= EXPECT(m != NULL);
    if (m) {
        bgfetch_registration *r = h_fetch(m, "held", NULL, U("bytes/10?seed=3").s, NULL);
        ok &= EXPECT(r != NULL);
        if (r) ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &e, NULL), BGFETCH_OK);
        ok &= EXPECT(wait_event(&e, "held", NULL, H_WAIT_MS));
        h_sleep_ms(200); /* checking for the absence of a duplicate */
        ok &= EXPECT(count_events(&e, "held") == 1);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
        bgfetch_registration_free(r);
        bgfetch_manager_close(m);
    }
    events_destroy(&e);
    CHECK(ok, "an event that settles while no callback is set is delivered (once) when one is set");
}

static void t_redelivery(void) {
    int ok = 1;
    events e1, e2, e3;
    bgfetch_manager *m;
    bgfetch_registration *r1, *r2;
    event_rec ev;
    events_init(&e1);
    events_init(&e2);
    events_init(&e3);

    /* session 1: two fetches settle and are delivered */
    m = h_open("store-ev-redeliver");
    ok &= EXPECT(m != NULL);
    if (!m) {
        CHECK(0, "after close + reopen the unreleased event is delivered again when the callback is set");
        CHECK(0, "no redelivery after release");
        return;
    }
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &e1, NULL), BGFETCH_OK);
    r1 = h_fetch(m, "redo", NULL, U("bytes/500?seed=4").s, NULL);
    r2 = h_fetch(m, "marker", NULL, U("status/404").s, NULL);
    ok &= EXPECT(r1 && r2);
    ok &= EXPECT(wait_event(&e1, "redo", NULL, H_WAIT_MS));
    ok &= EXPECT(wait_event(&e1, "marker", NULL, H_WAIT_MS));
    bgfetch_registration_free(r1);
    bgfetch_registration_free(r2);
    bgfetch_manager_close(m);

    /* session 2: both are delivered again, when the callback is set */
    m = h_open("store-ev-redeliver");
    ok &= EXPECT(m != NULL);
    if (m) {
        bgfetch_registration *g = NULL;
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &e2, NULL), BGFETCH_OK);
        ok &= EXPECT(wait_event(&e2, "redo", &ev, H_WAIT_MS));
        if (ok) {
            ok &= EXPECT_U64(ev.type, BGFETCH_EVENT_SUCCESS);
            ok &= EXPECT_ST(ev.match_all_status, BGFETCH_OK);
            ok &= EXPECT_U64(ev.bytes_read, 500);
        }
        ok &= EXPECT(wait_event(&e2, "marker", &ev, H_WAIT_MS));
        if (ok) ok &= EXPECT_U64(ev.type, BGFETCH_EVENT_FAIL);
        h_sleep_ms(200); /* checking for the absence of duplicates */
        ok &= EXPECT(count_events(&e2, "redo") == 1);
        ok &= EXPECT(count_events(&e2, "marker") == 1);
        CHECK(ok, "after close + reopen the unreleased events are delivered again (once) when the callback is set");

        /* release "redo" only */
        ok = 1;
        ok &= EXPECT_ST(bgfetch_get(m, "redo", &g), BGFETCH_OK);
        if (g) ok &= EXPECT_ST(bgfetch_registration_release(g), BGFETCH_OK);
        bgfetch_registration_free(g);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
        bgfetch_manager_close(m);
    } else {
        CHECK(0, "after close + reopen the unreleased events are delivered again (once) when the callback is set");
    }

    /* session 3: only the unreleased one comes back */
    m = h_open("store-ev-redeliver");
    ok &= EXPECT(m != NULL);
    if (m) {
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &e3, NULL), BGFETCH_OK);
        ok &= EXPECT(wait_event(&e3, "marker", NULL, H_WAIT_MS));
        h_sleep_ms(300); /* checking for the absence of the released one */
        ok &= EXPECT(count_events(&e3, "redo") == 0);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
        bgfetch_manager_close(m);
    }
    CHECK(ok, "no redelivery after release (the unreleased one still comes back)");
    events_destroy(&e1);
    events_destroy(&e2);
    events_destroy(&e3);
}

/* ---------------------------------------------------------------------------------------- */
/* MANUAL dispatch                                                                          */

static int fd_readable(int fd, int timeout_ms) {
    struct pollfd pfd;
    int n;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0 && (pfd.revents & POLLIN);
}

static void t_manual_dispatch(void) {
    int ok = 1;
    events e;
    progress_rec p;
    bgfetch_config *c = h_config("store-ev-manual");
    bgfetch_manager *m;
    bgfetch_registration *r = NULL;
    int fd;
    uint32_t n = 0;
    int rounds = 0;
    events_init(&e);
    progress_init(&p, 0);
    if (c) ok &= EXPECT_ST(bgfetch_config_set_dispatch(c, BGFETCH_DISPATCH_MANUAL), BGFETCH_OK);
    m = h_open_cfg(c);
    ok &= EXPECT(m != NULL);
    if (!m) {
        CHECK(0, "MANUAL: nothing runs outside bgfetch_manager_dispatch");
        return;
    }
    fd = bgfetch_manager_event_fd(m);
    ok &= EXPECT(fd >= 0);
    ok &= EXPECT(!fd_readable(fd, 0));
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event, &e, NULL), BGFETCH_OK);
    r = h_fetch(m, "manual", NULL, U("bytes/30000?seed=5&rate=150000").s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &p, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    }
    h_sleep_ms(300); /* give a wrongly running event thread the chance to call */
    pthread_mutex_lock(&p.mu);
    ok &= EXPECT(p.calls == 0);
    pthread_mutex_unlock(&p.mu);
    ok &= EXPECT(count_events(&e, "manual") == 0);
    CHECK(ok, "MANUAL: nothing runs outside bgfetch_manager_dispatch (the fetch itself still completes)");

    ok = 1;
    ok &= EXPECT(fd_readable(fd, 5000));
    CHECK(ok, "MANUAL: the event fd is readable (poll) while callbacks are pending");

    ok = 1;
    while (count_events(&e, "manual") == 0 && rounds++ < 50) {
        bgfetch_status st = bgfetch_manager_dispatch(m, 1000, &n);
        if (st != BGFETCH_OK && st != BGFETCH_E_TIMEOUT) {
            ok &= EXPECT_ST(st, BGFETCH_OK);
            break;
        }
    }
    ok &= EXPECT(count_events(&e, "manual") == 1);
    pthread_mutex_lock(&p.mu);
    ok &= EXPECT(p.calls >= 1);
    ok &= EXPECT(!p.other_thread);
    ok &= EXPECT(p.final_seq > 0);
    pthread_mutex_unlock(&p.mu);
    pthread_mutex_lock(&e.mu);
    if (e.n > 0) ok &= EXPECT(pthread_equal(e.ev[0].thread, pthread_self()));
    if (e.n > 0) ok &= EXPECT(p.final_seq < e.ev[0].seq);
    pthread_mutex_unlock(&e.mu);
    CHECK(ok, "MANUAL: dispatch runs the progress and event callbacks on the caller's thread, progress first");

    ok = 1;
    ok &= EXPECT(!fd_readable(fd, 0));
    n = 99;
    {
        bgfetch_status st = bgfetch_manager_dispatch(m, 0, &n);
        ok &= EXPECT(st == BGFETCH_OK || st == BGFETCH_E_TIMEOUT);
        ok &= EXPECT_U64(n, 0);
        /* n_dispatched is documented as optional */
        st = bgfetch_manager_dispatch(m, 0, NULL);
        ok &= EXPECT(st == BGFETCH_OK || st == BGFETCH_E_TIMEOUT);
    }
    CHECK(ok, "MANUAL: after dispatch the fd is no longer readable and nothing is pending");

    ok = 1;
    {
        /* dispatch waits up to its timeout for the first callback */
        bgfetch_registration *r2 = h_fetch(m, "manual-2", NULL, U("bytes/10?seed=6").s, NULL);
        int64_t t0 = h_now_ms();
        n = 0;
        ok &= EXPECT(r2 != NULL);
        ok &= EXPECT_ST(bgfetch_manager_dispatch(m, H_WAIT_MS, &n), BGFETCH_OK);
        ok &= EXPECT(n >= 1);
        ok &= EXPECT(h_now_ms() - t0 < 10000);
        rounds = 0;
        while (count_events(&e, "manual-2") == 0 && rounds++ < 50) bgfetch_manager_dispatch(m, 1000, &n);
        ok &= EXPECT(count_events(&e, "manual-2") == 1);
        bgfetch_registration_free(r2);
    }
    CHECK(ok, "MANUAL: dispatch(timeout) blocks until the first callback is pending");

    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    events_destroy(&e);
    pthread_mutex_destroy(&p.mu);
}

/* ---------------------------------------------------------------------------------------- */
/* uploads                                                                                  */

static uint32_t byte_sum(const uint8_t *b, size_t n) {
    uint32_t s = 0;
    size_t i;
    for (i = 0; i < n; i++) s += b[i];
    return s;
}

static int json_has(const char *json, const char *fmt, ...) {
    char want[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (json && strstr(json, want)) return 1;
    h_diag("echo JSON %.300s does not contain %s", json ? json : "(NULL)", want);
    return 0;
}

static void t_uploads(void) {
    int ok = 1;
    uint8_t *b1 = h_pattern(100000, 3), *b2 = h_pattern(5000, 4);
    h_str u1 = U("echo?n=1"), u2 = U("echo?n=2");
    bgfetch_request *q1 = NULL, *q2 = NULL;
    bgfetch_registration *r = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(u1.s, &q1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(q1, "PUT"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_body(q1, b1, 100000), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_new(u2.s, &q2), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(q2, "POST"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_add_header(q2, "Content-Type", "application/x-test"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_add_header(q2, "X-Test", "abc"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_body(q2, b2, 5000), BGFETCH_OK);
    memset(b1, 0, 100000); /* the body was copied at the call */
    r = h_fetch2(M, "upload", q1, q2);
    free(b1);
    b1 = h_pattern(100000, 3);
    if (!r) {
        CHECK(0, "upload_total is the sum of the bodies as soon as fetch returns");
        free(b1);
        free(b2);
        return;
    }
    ok &= EXPECT_U64(bgfetch_registration_upload_total(r), 105000);
    CHECK(ok, "upload_total is the sum of the bodies as soon as fetch returns");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_U64(bgfetch_registration_uploaded(r), 105000);
    {
        char *j1 = h_echo_json(r, u1.s), *j2 = h_echo_json(r, u2.s);
        ok &= EXPECT(json_has(j1, "\"method\":\"PUT\""));
        ok &= EXPECT(json_has(j1, "\"length\":100000"));
        ok &= EXPECT(json_has(j1, "\"sum\":%u,", (unsigned)byte_sum(b1, 100000)));
        ok &= EXPECT(json_has(j2, "\"method\":\"POST\""));
        ok &= EXPECT(json_has(j2, "\"length\":5000"));
        ok &= EXPECT(json_has(j2, "\"sum\":%u,", (unsigned)byte_sum(b2, 5000)));
        ok &= EXPECT(json_has(j2, "\"x-test\":\"abc\""));
        ok &= EXPECT(json_has(j2, "\"content-type\":\"application/x-test\""));
        free(j1);
        free(j2);
    }
    CHECK(ok, "PUT and POST bodies are sent whole (length, byte sum, headers); uploaded == upload_total");

    ok = 1;
    {
        bgfetch_records *rs = NULL;
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_records_len(rs), 2);
        if (bgfetch_records_len(rs) == 2) {
            const bgfetch_record *a = bgfetch_records_get(rs, 0), *b = bgfetch_records_get(rs, 1);
            size_t i, nh = bgfetch_record_header_count(b);
            int found = 0;
            ok &= EXPECT_STR(bgfetch_record_method(a), "PUT");
            ok &= EXPECT_STR(bgfetch_record_method(b), "POST");
            for (i = 0; i < nh; i++) {
                const char *hn = NULL, *hv = NULL;
                if (bgfetch_record_header_at(b, i, &hn, &hv) == BGFETCH_OK && hn && hv &&
                    strcasecmp(hn, "X-Test") == 0 && strcmp(hv, "abc") == 0)
                    found = 1;
            }
            ok &= EXPECT(found);
        }
        bgfetch_records_free(rs);
    }
    CHECK(ok, "the records keep the method and headers of the requests");

    ok = 1;
    {
        bgfetch_record *rec = (bgfetch_record *)&ok;
        bgfetch_request *put = NULL;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u1.s, 0, &rec), BGFETCH_OK);
        ok &= EXPECT(rec == NULL);
        rec = NULL;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u1.s, BGFETCH_QUERY_IGNORE_METHOD, &rec), BGFETCH_OK);
        ok &= EXPECT(rec != NULL);
        if (rec) ok &= EXPECT_STR(bgfetch_record_method(rec), "PUT");
        bgfetch_record_free(rec);
        rec = (bgfetch_record *)&ok;
        ok &= EXPECT_ST(bgfetch_request_new(u1.s, &put), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_request_set_method(put, "PUT"), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_match(r, put, 0, &rec), BGFETCH_OK);
        ok &= EXPECT(rec == NULL);
        rec = NULL;
        ok &= EXPECT_ST(bgfetch_registration_match(r, put, BGFETCH_QUERY_IGNORE_METHOD, &rec), BGFETCH_OK);
        ok &= EXPECT(rec != NULL);
        bgfetch_record_free(rec);
        bgfetch_request_free(put);
    }
    CHECK(ok, "a non-GET record matches only with IGNORE_METHOD");
    bgfetch_registration_free(r);
    free(b1);
    free(b2);
}

static void t_slow_upload(void) {
    int ok = 1;
    /* loopback TCP buffers absorb about 4 MB at once: send 8 MB to a server reading 4 MB/s */
    const size_t size = 8000000;
    uint8_t *body = h_pattern(size, 5);
    h_str u = U("echo?read_rate=4000000");
    bgfetch_request *q = NULL;
    const bgfetch_request *rq[1];
    bgfetch_registration *r = NULL;
    progress_rec p;
    progress_init(&p, size);
    ok &= EXPECT_ST(bgfetch_request_new(u.s, &q), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(q, "PUT"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_body(q, body, size), BGFETCH_OK);
    rq[0] = q;
    ok &= EXPECT_ST(bgfetch_fetch(M, "slow-upload", rq, 1, NULL, &r), BGFETCH_OK);
    bgfetch_request_free(q);
    if (r) {
        char *j;
        ok &= EXPECT_U64(bgfetch_registration_upload_total(r), size);
        int64_t t0 = h_now_ms();
        long polled_mid = 0;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress, &p, NULL), BGFETCH_OK);
        /* for the diagnostics only: sample uploaded from this thread while waiting */
        while (bgfetch_registration_wait(r, 50) == BGFETCH_E_TIMEOUT && h_now_ms() - t0 < H_WAIT_MS) {
            uint64_t up = bgfetch_registration_uploaded(r);
            if (up > 0 && up < size) polled_mid++;
        }
        pthread_mutex_lock(&p.mu);
        long calls_so_far = p.calls;
        pthread_mutex_unlock(&p.mu);
        h_diag("slow upload: %" PRId64 " ms; polled 0 < uploaded < total %ld times; %ld progress calls",
               h_now_ms() - t0, polled_mid, calls_so_far);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_uploaded(r), size);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        pthread_mutex_lock(&p.mu);
        ok &= EXPECT(p.mid_upload_calls >= 2);
        ok &= EXPECT(p.mid_upload_rises >= 2);
        ok &= EXPECT(!p.uploaded_decreased);
        if (p.final_seq) ok &= EXPECT_U64(p.final_uploaded, size);
        if (!ok)
            h_diag("progress calls %ld, with 0 < uploaded < total: %ld, rising: %ld", p.calls, p.mid_upload_calls,
                   p.mid_upload_rises);
        pthread_mutex_unlock(&p.mu);
        j = h_echo_json(r, u.s);
        ok &= EXPECT(json_has(j, "\"length\":%zu", size));
        ok &= EXPECT(json_has(j, "\"sum\":%u,", (unsigned)byte_sum(body, size)));
        free(j);
        bgfetch_registration_free(r);
    }
    pthread_mutex_destroy(&p.mu);
    free(body);
    CHECK(ok, "uploaded is seen rising (never decreasing) in progress callbacks on a slow server");
}

static void t_upload_survives_restart(void) {
    int ok = 1;
    const size_t size = 400000;
    uint8_t *body = h_pattern(size, 6);
    h_str u = U("echo?read_rate=400000&restart=1");
    bgfetch_manager *m = h_open("store-ev-upload-restart");
    bgfetch_request *q = NULL;
    const bgfetch_request *rq[1];
    bgfetch_registration *r = NULL;
    ok &= EXPECT(m != NULL);
    ok &= EXPECT_ST(bgfetch_request_new(u.s, &q), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(q, "PUT"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_body(q, body, size), BGFETCH_OK);
    rq[0] = q;
    if (m) ok &= EXPECT_ST(bgfetch_fetch(m, "upload-restart", rq, 1, NULL, &r), BGFETCH_OK);
    bgfetch_request_free(q);
    bgfetch_registration_free(r);
    r = NULL;
    bgfetch_manager_close(m); /* right away: the body must already be in the store */
    m = h_open("store-ev-upload-restart");
    ok &= EXPECT(m != NULL);
    if (m) {
        ok &= EXPECT_ST(bgfetch_get(m, "upload-restart", &r), BGFETCH_OK);
        ok &= EXPECT(r != NULL);
    }
    if (r) {
        char *j;
        ok &= EXPECT_U64(bgfetch_registration_upload_total(r), size);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        j = h_echo_json(r, u.s);
        ok &= EXPECT(json_has(j, "\"length\":%zu", size));
        ok &= EXPECT(json_has(j, "\"sum\":%u,", (unsigned)byte_sum(body, size)));
        free(j);
        bgfetch_registration_free(r);
    }
    bgfetch_manager_close(m);
    free(body);
    CHECK(ok, "a request body is stored by fetch: closing at once and reopening still uploads it whole");
}

/* ---------------------------------------------------------------------------------------- */
/* Vary                                                                                     */

static int match_with_lang(bgfetch_registration *r, const char *url, const char *lang, uint32_t flags) {
    bgfetch_request *q = NULL;
    bgfetch_record *rec = NULL;
    int found;
    bgfetch_request_new(url, &q);
    if (lang) bgfetch_request_add_header(q, "Accept-Language", lang);
    if (bgfetch_registration_match(r, q, flags, &rec) != BGFETCH_OK) h_diag("match failed: %s", bgfetch_last_error());
    found = rec != NULL;
    bgfetch_record_free(rec);
    bgfetch_request_free(q);
    return found;
}

static void t_vary(void) {
    int ok = 1;
    h_str u = U("echo?vary=Accept-Language"), star = U("echo?vary=*");
    bgfetch_request *q = NULL, *q2 = NULL;
    bgfetch_registration *r = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(u.s, &q), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_add_header(q, "Accept-Language", "en"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_new(star.s, &q2), BGFETCH_OK);
    r = h_fetch2(M, "vary", q, q2);
    if (!r) {
        CHECK(0, "Vary: a query with the same Accept-Language matches");
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT(match_with_lang(r, u.s, "en", 0));
    CHECK(ok, "Vary: a query with the same Accept-Language matches");

    ok = 1;
    ok &= EXPECT(!match_with_lang(r, u.s, "fr", 0));
    ok &= EXPECT(!match_with_lang(r, u.s, NULL, 0));
    CHECK(ok, "Vary: a different or missing Accept-Language does not match");

    ok = 1;
    ok &= EXPECT(match_with_lang(r, u.s, "fr", BGFETCH_QUERY_IGNORE_VARY));
    CHECK(ok, "Vary: a mismatch matches with IGNORE_VARY");

    ok = 1;
    ok &= EXPECT(!match_with_lang(r, star.s, NULL, 0));
    ok &= EXPECT(match_with_lang(r, star.s, NULL, BGFETCH_QUERY_IGNORE_VARY));
    CHECK(ok, "Vary: * never matches (unless IGNORE_VARY)");
    bgfetch_registration_free(r);
}

/* ---------------------------------------------------------------------------------------- */
/* integrity                                                                                */

static bgfetch_registration *fetch_with_integrity(const char *id, const char *url, const char *sri) {
    bgfetch_request *q = NULL;
    const bgfetch_request *rq[1];
    bgfetch_registration *r = NULL;
    bgfetch_status st;
    if (bgfetch_request_new(url, &q) != BGFETCH_OK) return NULL;
    st = bgfetch_request_set_integrity(q, sri);
    if (st != BGFETCH_OK) {
        h_diag("set_integrity(%s): %s: %s", sri, h_stname(st), bgfetch_last_error());
        bgfetch_request_free(q);
        return NULL;
    }
    rq[0] = q;
    st = bgfetch_fetch(M, id, rq, 1, NULL, &r);
    if (st != BGFETCH_OK) h_diag("fetch %s: %s: %s", id, h_stname(st), bgfetch_last_error());
    bgfetch_request_free(q);
    if (r) (void)bgfetch_registration_wait(r, H_WAIT_MS);
    return r;
}

static void t_integrity(void) {
    int ok = 1;
    uint8_t *good = h_pattern(5000, 6), *other = h_pattern(5000, 7);
    char sri_good[64], sri_bad[64], both[200], strongest[200];
    h_str u = U("bytes/5000?seed=6");
    bgfetch_registration *r;
    h_sri_sha256(good, 5000, sri_good);
    h_sri_sha256(other, 5000, sri_bad);
    snprintf(both, sizeof both, "%s %s", sri_bad, sri_good);
    /* a sha512 entry is stronger than the sha256 one, so only it counts (and it is wrong) */
    snprintf(strongest, sizeof strongest, "%s sha512-%s", sri_good,
             "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==");

    ok &= EXPECT(h_sha256_selftest());
    CHECK(ok, "embedded SHA-256 passes its test vectors");

    ok = 1;
    r = fetch_with_integrity("sri-good", u.s, sri_good);
    ok &= EXPECT(r != NULL);
    if (r) {
        size_t len = 0;
        uint8_t *b;
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        b = h_body_of(r, u.s, &len);
        ok &= EXPECT(h_is_pattern(b, len, 5000, 6));
        free(b);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "integrity match (sha256 of the body) -> success, body readable");

    ok = 1;
    r = fetch_with_integrity("sri-bad", u.s, sri_bad);
    ok &= EXPECT(r != NULL);
    if (r) {
        bgfetch_record *rec = NULL;
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_OK);
        if (rec) {
            bgfetch_response *res = NULL;
            bgfetch_status st = bgfetch_record_response(rec, H_WAIT_MS, &res);
            if (st == BGFETCH_OK) {
                /* a response object may exist (headers came first), but no body bytes are exposed */
                uint8_t buf[16];
                size_t n = 0;
                bgfetch_status rst = bgfetch_response_read(res, 0, buf, sizeof buf, -1, &n);
                ok &= EXPECT_ST(bgfetch_response_wait(res, H_WAIT_MS), BGFETCH_E_FETCH_FAILED);
                ok &= EXPECT(rst != BGFETCH_OK || n == 0);
                ok &= EXPECT(!bgfetch_response_complete(res));
                ok &= EXPECT(bgfetch_response_save(res, P("sri-bad.bin").s, -1) != BGFETCH_OK);
            } else {
                ok &= EXPECT_ST(st, BGFETCH_E_FETCH_FAILED);
            }
            bgfetch_response_free(res);
        } else {
            ok = 0;
        }
        bgfetch_record_free(rec);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "integrity mismatch -> fetch-error and the body is not exposed");

    ok = 1;
    r = fetch_with_integrity("sri-both", u.s, both);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "integrity with two sha256 values, one matching -> success");

    ok = 1;
    r = fetch_with_integrity("sri-strongest", u.s, strongest);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "integrity: the strongest algorithm wins (matching sha256 + wrong sha512 -> fetch-error)");
    free(good);
    free(other);
}

/* ---------------------------------------------------------------------------------------- */
/* update_ui and icons                                                                      */

static int icons_are(bgfetch_registration *r, size_t n, const char *const *srcs, const char *const *labels) {
    int ok = 1;
    bgfetch_icons *ic = NULL;
    size_t i;
    ok &= EXPECT_ST(bgfetch_registration_icons(r, &ic), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_icons_len(ic), n);
    for (i = 0; i < n && bgfetch_icons_len(ic) == n; i++) {
        const char *src = NULL, *sizes = NULL, *type = NULL, *label = NULL;
        ok &= EXPECT_ST(bgfetch_icons_get(ic, i, &src, &sizes, &type, &label), BGFETCH_OK);
        ok &= EXPECT_STR(src, srcs[i]);
        ok &= EXPECT_STR(label, labels[i]);
    }
    bgfetch_icons_free(ic);
    return ok;
}

static void t_update_ui(void) {
    int ok = 1;
    static const char *const old_src[1] = {"https://example.com/old.png"};
    static const char *const old_label[1] = {"old"};
    static const char *const new_src[2] = {"https://example.com/new-1.png", "https://example.com/new-2.png"};
    static const char *const new_label[2] = {"", "second"};
    bgfetch_manager *m = h_open("store-ev-ui");
    bgfetch_options *o = bgfetch_options_new(), *ui = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    h_str u = U("bytes/100?stall_ms=60000");
    const char *urls[1];
    char *title;
    bool aborted = false;
    urls[0] = u.s;
    ok &= EXPECT(m != NULL);
    ok &= EXPECT_ST(bgfetch_options_set_title(o, "Old title"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, old_src[0], "16x16", "image/png", old_label[0]), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_title(ui, "New title"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(ui, new_src[0], NULL, NULL, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(ui, new_src[1], "32x32", "image/png", new_label[1]), BGFETCH_OK);
    if (m) ok &= EXPECT_ST(bgfetch_fetch_urls(m, "ui", urls, 1, o, &r), BGFETCH_OK);
    if (!r) {
        CHECK(0, "update_ui replaces title and icons");
        bgfetch_options_free(o);
        bgfetch_options_free(ui);
        bgfetch_manager_close(m);
        return;
    }
    title = bgfetch_registration_title(r);
    ok &= EXPECT_STR(title, "Old title");
    bgfetch_string_free(title);
    ok &= EXPECT(icons_are(r, 1, old_src, old_label));
    ok &= EXPECT_ST(bgfetch_registration_update_ui(r, ui), BGFETCH_OK);
    bgfetch_options_free(ui); /* copied */
    title = bgfetch_registration_title(r);
    ok &= EXPECT_STR(title, "New title");
    bgfetch_string_free(title);
    ok &= EXPECT(icons_are(r, 2, new_src, new_label));
    {
        bgfetch_registration *g = NULL;
        ok &= EXPECT_ST(bgfetch_get(m, "ui", &g), BGFETCH_OK);
        if (g) {
            title = bgfetch_registration_title(g);
            ok &= EXPECT_STR(title, "New title");
            bgfetch_string_free(title);
        }
        bgfetch_registration_free(g);
    }
    CHECK(ok, "update_ui replaces title and icons (seen through every handle)");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    bgfetch_registration_free(r);
    r = NULL;
    bgfetch_manager_close(m);
    m = h_open("store-ev-ui");
    ok &= EXPECT(m != NULL);
    if (m) ok &= EXPECT_ST(bgfetch_get(m, "ui", &r), BGFETCH_OK);
    ok &= EXPECT(r != NULL);
    if (r) {
        title = bgfetch_registration_title(r);
        ok &= EXPECT_STR(title, "New title");
        bgfetch_string_free(title);
        ok &= EXPECT(icons_are(r, 2, new_src, new_label));
        bgfetch_registration_free(r);
    }
    bgfetch_manager_close(m);
    bgfetch_options_free(o);
    CHECK(ok, "update_ui is persisted (title and icons after close + reopen)");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    events_init(&EV);
    M = h_open("store-events");
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    if (!CHECK(bgfetch_manager_set_event_callback(M, on_event, &EV, NULL) == BGFETCH_OK, "set the event callback"))
        return h_done();
    t_event_success();
    t_event_fail();
    t_event_abort();
    t_event_fetch_error_is_fail();
    t_event_callback_swap();
    t_held_events();
    t_redelivery();
    t_manual_dispatch();
    t_uploads();
    t_slow_upload();
    t_upload_survives_restart();
    t_vary();
    t_integrity();
    t_update_ui();
    bgfetch_manager_set_event_callback(M, NULL, NULL, NULL);
    bgfetch_manager_close(M);
    events_destroy(&EV);
    return h_done();
}
