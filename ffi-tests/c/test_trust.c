/* test_trust.c - issue 11 ("Trust at the edges"), the C side: one check (or a few) per item.
 *
 * Every check here fails on the behaviour issue 11 describes for the library before 0.2:
 *   1  updateUI twice in one completion event      7  userdata finalizers run exactly once
 *   2  bgfetch_get with an empty id                8  wait returns after the final progress call
 *   3  dangling-markup URLs                         9  no half-closed view in a close-time event
 *   4  bodyless POST/PUT send Content-Length: 0    10 a fully received body survives an abort
 *   5  a record's request body is readable         11 release racing a new fetch of the same id
 *   6  a progress callback dies with its handle    12 a missing stored body is BGFETCH_E_IO
 * Shared state between a callback (library thread) and the test's threads always goes through
 * a mutex, a latch or an atomic, so that the program is clean under ThreadSanitizer.
 */
#include "harness.h"

#include <sched.h>
#include <stdatomic.h>

static bgfetch_manager *M; /* THREAD dispatch, no event callback */

/* ---------------------------------------------------------------------------------------- */
/* small helpers                                                                            */

/* A copy of this thread's last error message (bgfetch_last_error is per thread). */
static void copy_last_error(char *dst, size_t cap) {
    const char *e = bgfetch_last_error();
    snprintf(dst, cap, "%s", e ? e : "(NULL)");
}

/* A counting progress callback and finalizer. */
typedef struct {
    atomic_long calls;  /* callback calls */
    atomic_long finals; /* calls that saw the final state (result != NONE) */
    atomic_long fin;    /* finalizer runs */
} counter;

static void counter_init(counter *c) {
    atomic_init(&c->calls, 0);
    atomic_init(&c->finals, 0);
    atomic_init(&c->fin, 0);
}
static void cnt_progress(void *ud, bgfetch_registration *r) {
    counter *c = (counter *)ud;
    atomic_fetch_add(&c->calls, 1);
    if (bgfetch_registration_result(r) != BGFETCH_RESULT_NONE) atomic_fetch_add(&c->finals, 1);
}
static void cnt_event(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    counter *c = (counter *)ud;
    (void)type;
    (void)reg;
    atomic_fetch_add(&c->calls, 1);
}
static void cnt_fin(void *ud) {
    counter *c = (counter *)ud;
    atomic_fetch_add(&c->fin, 1);
}
#define CALLS(c) atomic_load(&(c).calls)
#define FINALS(c) atomic_load(&(c).finals)
#define FIN(c) atomic_load(&(c).fin)

/* A URL made of the server's base URL and a suffix (which may hold any byte but NUL). */
static h_str base_plus(const char *suffix) { return S("%s%s", h_base, suffix); }

/* A library call that may block forever on a broken library runs on a helper thread, and the
   test waits for it at most H_WAIT_MS: a hang then fails a check instead of the whole program.
   After a hang, `stuck` is set (and noted at the end); the helper thread and its arguments are
   left behind, and the test does not touch the objects it still uses. */
static int stuck;

typedef struct {
    void (*fn)(void *);
    void *arg;
    h_latch done;
} bounded;

static void *bounded_main(void *p) {
    bounded *b = (bounded *)p;
    b->fn(b->arg);
    h_latch_add(&b->done, 1); /* publishes what fn wrote into arg */
    return NULL;
}

/* Runs fn(arg) on a helper thread; 1 if it returned within H_WAIT_MS, else 0 (and stuck = 1). */
static int run_bounded(void (*fn)(void *), void *arg, const char *what) {
    bounded *b = (bounded *)calloc(1, sizeof *b);
    pthread_t t;
    b->fn = fn;
    b->arg = arg;
    h_latch_init(&b->done);
    if (pthread_create(&t, NULL, bounded_main, b) != 0) {
        h_diag("pthread_create failed");
        free(b);
        stuck = 1;
        return 0;
    }
    if (!h_latch_wait(&b->done, 1, H_WAIT_MS)) {
        h_diag("%s still blocked after %d ms", what, H_WAIT_MS);
        pthread_detach(t);
        stuck = 1;
        return 0; /* b is still in use by the blocked thread */
    }
    pthread_join(t, NULL);
    h_latch_destroy(&b->done);
    free(b);
    return 1;
}

static void close_fn(void *m) { bgfetch_manager_close((bgfetch_manager *)m); }

/* bgfetch_manager_close, bounded; 1 if it returned. */
static int close_bounded(bgfetch_manager *m) {
    if (!m) return 1;
    return run_bounded(close_fn, m, "bgfetch_manager_close");
}

typedef struct {
    bgfetch_registration *r;
    bgfetch_status st;
} release_call;

static void release_fn(void *p) {
    release_call *c = (release_call *)p;
    c->st = bgfetch_registration_release(c->r);
}

/* bgfetch_registration_release, bounded; its status, or BGFETCH_E_TIMEOUT if it hung. */
static bgfetch_status release_bounded(bgfetch_registration *r) {
    release_call *c = (release_call *)calloc(1, sizeof *c);
    bgfetch_status st;
    c->r = r;
    if (!run_bounded(release_fn, c, "bgfetch_registration_release")) return BGFETCH_E_TIMEOUT; /* c leaks */
    st = c->st;
    free(c);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* item 1: updateUI twice in one completion event                                           */

typedef struct {
    h_latch latch;
    bgfetch_options *ui1, *ui2;
    atomic_uint st1, st2;
    atomic_uint type;
} ui_event;

static void on_ui_event(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    ui_event *u = (ui_event *)ud;
    bgfetch_status a = bgfetch_registration_update_ui(reg, u->ui1);
    bgfetch_status b = bgfetch_registration_update_ui(reg, u->ui2);
    if (h_latch_get(&u->latch) == 0) {
        atomic_store(&u->st1, a);
        atomic_store(&u->st2, b);
        atomic_store(&u->type, type);
    }
    h_latch_add(&u->latch, 1);
}

static int title_is(bgfetch_registration *r, const char *want) {
    char *t = bgfetch_registration_title(r);
    int ok = EXPECT_STR(t, want);
    bgfetch_string_free(t);
    return ok;
}

static void t_update_ui_in_event(void) {
    int ok = 1;
    ui_event u;
    bgfetch_options *o = bgfetch_options_new(), *out1 = bgfetch_options_new(), *out2 = bgfetch_options_new();
    bgfetch_manager *m = h_open("store-ui-event");
    bgfetch_registration *r = NULL;
    h_latch_init(&u.latch);
    u.ui1 = bgfetch_options_new();
    u.ui2 = bgfetch_options_new();
    atomic_init(&u.st1, 1000);
    atomic_init(&u.st2, 1000);
    atomic_init(&u.type, 0);
    ok &= EXPECT_ST(bgfetch_options_set_title(o, "original"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_title(out1, "outside 1"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_title(out2, "outside 2"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_title(u.ui1, "first in the event"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_title(u.ui2, "second in the event"), BGFETCH_OK);
    ok &= EXPECT(m != NULL);
    if (m) r = h_fetch(m, "ui-event", o, U("bytes/1000?seed=1").s, NULL);
    ok &= EXPECT(r != NULL);
    if (!r) {
        CHECK(0, "item 1: update_ui outside an event may be called twice");
        CHECK(0, "item 1: update_ui twice in one completion event: OK, then BGFETCH_E_INVALID_STATE");
        goto out;
    }
    /* No event callback yet: the completion event is held, so nothing here is inside one. */
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_ST(bgfetch_registration_update_ui(r, out1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_update_ui(r, out2), BGFETCH_OK);
    ok &= title_is(r, "outside 2");
    CHECK(ok, "item 1: update_ui outside an event may be called twice (both OK)");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_ui_event, &u, NULL), BGFETCH_OK);
    ok &= EXPECT(h_latch_wait(&u.latch, 1, H_WAIT_MS));
    /* clearing returns only once the callback is no longer running: the event is over */
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
    if (h_latch_get(&u.latch) >= 1) {
        ok &= EXPECT_U64(atomic_load(&u.type), BGFETCH_EVENT_SUCCESS);
        ok &= EXPECT_ST(atomic_load(&u.st1), BGFETCH_OK);
        ok &= EXPECT_ST(atomic_load(&u.st2), BGFETCH_E_INVALID_STATE);
        ok &= title_is(r, "first in the event");
    }
    CHECK(ok, "item 1: update_ui twice in one completion event: OK, then BGFETCH_E_INVALID_STATE");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_update_ui(r, out1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_update_ui(r, out2), BGFETCH_OK);
    ok &= title_is(r, "outside 2");
    CHECK(ok, "item 1: after the event has returned, update_ui may be called twice again");
    bgfetch_registration_free(r);
out:
    bgfetch_manager_close(m);
    bgfetch_options_free(o);
    bgfetch_options_free(out1);
    bgfetch_options_free(out2);
    bgfetch_options_free(u.ui1);
    bgfetch_options_free(u.ui2);
    h_latch_destroy(&u.latch);
}

/* ---------------------------------------------------------------------------------------- */
/* item 2: bgfetch_get with an empty id                                                     */

static void t_get_empty_id(void) {
    int ok = 1;
    static int not_a_handle;
    bgfetch_registration *out = (bgfetch_registration *)(void *)&not_a_handle;
    const char *urls[1];
    h_str u = U("bytes/10");
    urls[0] = u.s;
    ok &= EXPECT_ST(bgfetch_get(M, "", &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT(strlen(bgfetch_last_error()) > 0);
    /* the same answer as fetch with an empty id */
    out = (bgfetch_registration *)(void *)&not_a_handle;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "", urls, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    CHECK(ok, "item 2: bgfetch_get(m, \"\") is BGFETCH_E_INVALID_ARGUMENT, *out NULL, with a message");
}

/* ---------------------------------------------------------------------------------------- */
/* item 3: dangling-markup URLs                                                             */

/* The URL is refused at bgfetch_fetch_urls and at bgfetch_fetch (bgfetch_request_new may
   refuse it already: the header says request URLs are "checked by bgfetch_fetch"), and nothing
   is registered. */
static int refused(const char *id, const char *url, const char *what) {
    int ok = 1;
    const char *urls[1];
    bgfetch_registration *r = NULL, *g = NULL;
    bgfetch_request *q = NULL;
    bgfetch_status st;
    urls[0] = url;
    st = bgfetch_fetch_urls(M, id, urls, 1, NULL, &r);
    if (st != BGFETCH_E_INVALID_ARGUMENT) h_diag("fetch_urls with %s", what);
    ok &= EXPECT_ST(st, BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(r == NULL);
    ok &= EXPECT(strlen(bgfetch_last_error()) > 0);
    bgfetch_registration_free(r);
    r = NULL;
    st = bgfetch_request_new(url, &q);
    if (st == BGFETCH_OK) {
        const bgfetch_request *rq[1];
        rq[0] = q;
        st = bgfetch_fetch(M, id, rq, 1, NULL, &r);
        if (st != BGFETCH_E_INVALID_ARGUMENT) h_diag("bgfetch_fetch of a request with %s", what);
        ok &= EXPECT_ST(st, BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(r == NULL);
        bgfetch_registration_free(r);
    } else {
        if (st != BGFETCH_E_INVALID_ARGUMENT) h_diag("bgfetch_request_new with %s", what);
        ok &= EXPECT_ST(st, BGFETCH_E_INVALID_ARGUMENT);
    }
    bgfetch_request_free(q);
    ok &= EXPECT_ST(bgfetch_get(M, id, &g), BGFETCH_OK);
    ok &= EXPECT(g == NULL);
    bgfetch_registration_free(g);
    return ok;
}

/* The URL is fetched, and the body is the pattern (size, seed). */
static int accepted(const char *id, const char *url, size_t size, unsigned seed, const char *what) {
    int ok = 1;
    const char *urls[1];
    bgfetch_registration *r = NULL;
    bgfetch_status st;
    urls[0] = url;
    st = bgfetch_fetch_urls(M, id, urls, 1, NULL, &r);
    if (st != BGFETCH_OK) h_diag("fetch_urls with %s", what);
    ok &= EXPECT_ST(st, BGFETCH_OK);
    if (r) {
        bgfetch_records *rs = NULL;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_records_len(rs), 1);
        if (bgfetch_records_len(rs) == 1) {
            bgfetch_response *res = NULL;
            ok &= EXPECT_ST(bgfetch_record_response(bgfetch_records_get(rs, 0), H_WAIT_MS, &res), BGFETCH_OK);
            if (res) {
                size_t len = 0;
                uint8_t *b = h_read_all(res, &len);
                ok &= EXPECT(h_is_pattern(b, len, size, seed));
                free(b);
            }
            bgfetch_response_free(res);
        }
        bgfetch_records_free(rs);
        ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
    }
    bgfetch_registration_free(r);
    return ok;
}

static void t_dangling_markup(void) {
    int ok = 1;
    ok &= refused("dm-1", base_plus("?\n<").s, "\"\\n\" and \"<\" in the query");
    ok &= refused("dm-2", base_plus("?\t<").s, "\"\\t\" and \"<\"");
    ok &= refused("dm-3", base_plus("?\r<").s, "\"\\r\" and \"<\"");
    ok &= refused("dm-4", base_plus("bytes/10?x=<&y=\n").s, "\"<\" before \"\\n\"");
    ok &= refused("dm-5", base_plus("by\ntes/10?x=<img").s, "\"\\n\" in the path and \"<\" in the query");
    ok &= refused("dm-6", "bytes/10?\n<", "a relative URL with \"\\n\" and \"<\"");
    CHECK(ok, "item 3: URLs with \\n, \\r or \\t and '<' are refused (BGFETCH_E_INVALID_ARGUMENT), nothing registered");

    ok = 1;
    ok &= accepted("dm-ok-1", base_plus("bytes/10?seed=4&x=<").s, 10, 4, "\"<\" and no whitespace");
    ok &= accepted("dm-ok-2", base_plus("bytes/1\n0?seed=3").s, 10, 3, "\"\\n\" and no \"<\"");
    ok &= accepted("dm-ok-3", base_plus("bytes/1\t2?seed=2").s, 12, 2, "\"\\t\" and no \"<\"");
    CHECK(ok, "item 3: a URL with '<' but no \\n\\r\\t, or with \\n/\\t but no '<', is fetched");
}

/* ---------------------------------------------------------------------------------------- */
/* item 4: bodyless POST and PUT                                                            */

static int json_has(const char *json, const char *want) {
    if (json && strstr(json, want)) return 1;
    h_diag("echo JSON %.400s does not contain %s", json ? json : "(NULL)", want);
    return 0;
}
static int json_lacks(const char *json, const char *unwanted) {
    if (json && !strstr(json, unwanted)) return 1;
    h_diag("echo JSON %.400s contains %s", json ? json : "(NULL)", unwanted);
    return 0;
}

static void t_bodyless_post_put(void) {
    static const char *const methods[2] = {"POST", "PUT"};
    int i, k, ok = 1, done = 0;
    for (i = 0; i < 10; i++) {
        for (k = 0; k < 2; k++) {
            h_str u = U("echo?method=%s&i=%d", methods[k], i);
            h_str id = S("cl0-%s-%d", methods[k], i);
            h_str want = S("\"method\":\"%s\"", methods[k]);
            bgfetch_request *q = NULL;
            const bgfetch_request *rq[1];
            bgfetch_registration *r = NULL;
            int one = 1;
            char *j;
            one &= EXPECT_ST(bgfetch_request_new(u.s, &q), BGFETCH_OK);
            one &= EXPECT_ST(bgfetch_request_set_method(q, methods[k]), BGFETCH_OK);
            /* every other time an explicitly empty body: the same on the wire */
            if (i % 2) one &= EXPECT_ST(bgfetch_request_set_body(q, NULL, 0), BGFETCH_OK);
            rq[0] = q;
            one &= EXPECT_ST(bgfetch_fetch(M, id.s, rq, 1, NULL, &r), BGFETCH_OK);
            bgfetch_request_free(q);
            if (r) {
                one &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
                one &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
                j = h_echo_json(r, u.s);
                one &= json_has(j, want.s);
                one &= json_has(j, "\"length\":0,");
                one &= json_has(j, "\"content-length\":\"0\"");
                one &= json_lacks(j, "\"transfer-encoding\"");
                free(j);
                one &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
                bgfetch_registration_free(r);
            }
            if (!one) h_diag("bodyless %s, round %d%s", methods[k], i, i % 2 ? " (set_body(NULL, 0))" : "");
            else done++;
            ok &= one;
        }
    }
    ok &= EXPECT(done == 20);
    CHECK(ok, "item 4: bodyless POST and PUT (10 each, one manager) succeed and send Content-Length: 0, no Transfer-Encoding");
}

/* ---------------------------------------------------------------------------------------- */
/* item 5: a record's request includes its body                                             */

static void t_record_request_body(void) {
    int ok = 1;
    const size_t size = 10007;
    uint8_t *body = h_pattern(size, 9);
    h_str put_url = U("echo?body=1"), get_url = U("bytes/100?seed=5");
    bgfetch_request *q1 = NULL, *q2 = NULL;
    bgfetch_registration *r = NULL;
    bgfetch_records *rs = NULL;
    const bgfetch_record *put = NULL, *get = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(put_url.s, &q1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(q1, "PUT"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_body(q1, body, size), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_new(get_url.s, &q2), BGFETCH_OK);
    r = h_fetch2(M, "request-body", q1, q2);
    if (!r) {
        CHECK(0, "item 5: bgfetch_record_body_size / bgfetch_record_read_body give the stored request body");
        free(body);
        return;
    }
    /* before the fetch settles: the body was stored by bgfetch_fetch */
    ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_records_len(rs), 2);
    put = bgfetch_records_get(rs, 0);
    get = bgfetch_records_get(rs, 1);
    ok &= EXPECT(put && get);
    if (put && get) {
        uint8_t *got = (uint8_t *)calloc(size + 64, 1);
        uint8_t small[8];
        uint64_t off = 0;
        size_t n = 0;
        int rounds = 0;
        ok &= EXPECT_STR(bgfetch_record_method(put), "PUT");
        ok &= EXPECT_U64(bgfetch_record_body_size(put), size);
        /* in small odd pieces, at increasing offsets */
        while (off < size + 64 && rounds++ < 10000) {
            size_t piece = 1 + (size_t)(rounds % 13) * 7;
            bgfetch_status st = bgfetch_record_read_body(put, off, got + off, piece, &n);
            if (st != BGFETCH_OK) {
                ok &= EXPECT_ST(st, BGFETCH_OK);
                break;
            }
            if (n == 0) break;
            ok &= EXPECT(n <= piece);
            off += n;
        }
        ok &= EXPECT(h_is_pattern(got, (size_t)off, size, 9));
        /* a piece in the middle, at an odd offset */
        ok &= EXPECT_ST(bgfetch_record_read_body(put, 5001, small, sizeof small, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, sizeof small);
        if (n == sizeof small) ok &= EXPECT(memcmp(small, body + 5001, sizeof small) == 0);
        /* the last bytes, then the end and past it */
        ok &= EXPECT_ST(bgfetch_record_read_body(put, size - 3, small, sizeof small, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 3);
        n = 99;
        ok &= EXPECT_ST(bgfetch_record_read_body(put, size, small, sizeof small, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 0);
        n = 99;
        ok &= EXPECT_ST(bgfetch_record_read_body(put, size + 1000000, small, sizeof small, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 0);
        /* a GET has no body */
        ok &= EXPECT_U64(bgfetch_record_body_size(get), 0);
        n = 99;
        ok &= EXPECT_ST(bgfetch_record_read_body(get, 0, small, sizeof small, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 0);
        free(got);
    }
    CHECK(ok, "item 5: bgfetch_record_body_size / bgfetch_record_read_body give the stored request body exactly (0 for a GET)");

    ok = 1;
    if (put) {
        uint8_t small[8];
        size_t n = 0;
        ok &= EXPECT_U64(bgfetch_record_body_size(NULL), 0);
        ok &= EXPECT_ST(bgfetch_record_read_body(NULL, 0, small, sizeof small, &n), BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT_ST(bgfetch_record_read_body(put, 0, NULL, sizeof small, &n), BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT_ST(bgfetch_record_read_body(put, 0, small, sizeof small, NULL), BGFETCH_E_INVALID_ARGUMENT);
    }
    CHECK(ok, "item 5: NULL record, buffer or n_read -> BGFETCH_E_INVALID_ARGUMENT");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    {
        char *j = h_echo_json(r, put_url.s);
        h_str want = S("\"length\":%zu,", size);
        ok &= json_has(j, want.s);
        free(j);
    }
    ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
    if (put) {
        uint8_t small[8];
        size_t n = 99;
        ok &= EXPECT_ST(bgfetch_record_read_body(put, 0, small, sizeof small, &n), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT_U64(n, 0);
    }
    CHECK(ok, "item 5: after release, bgfetch_record_read_body is BGFETCH_E_INVALID_STATE");
    bgfetch_records_free(rs);
    bgfetch_registration_free(r);
    free(body);
}

/* ---------------------------------------------------------------------------------------- */
/* items 6 and 7: a progress callback lives exactly as long as its handle; finalizers       */

/* Userdata on the heap, freed by its finalizer: a call after the free is a use-after-free that
   ASan and valgrind report, and the global counters count it in a plain build too. */
#define BOX_MAGIC 0x5eedf00du
typedef struct {
    unsigned magic;
} box;
static atomic_long box_calls, box_bad, box_fin;
static h_latch box_latch;

static void box_progress(void *ud, bgfetch_registration *r) {
    box *b = (box *)ud;
    (void)r;
    atomic_fetch_add(&box_calls, 1);
    if (b->magic != BOX_MAGIC) atomic_fetch_add(&box_bad, 1);
    h_latch_add(&box_latch, 1);
}
static void box_free(void *ud) {
    box *b = (box *)ud;
    if (b->magic != BOX_MAGIC) atomic_fetch_add(&box_bad, 1);
    b->magic = 0;
    free(b);
    atomic_fetch_add(&box_fin, 1);
}

static void t_free_removes_callback(void) {
    int ok = 1;
    h_str u = U("bytes/300000?seed=5&rate=150000"); /* about 2 s */
    bgfetch_registration *r1 = h_fetch(M, "cb-free", NULL, u.s, NULL), *r2 = NULL;
    box *b = (box *)malloc(sizeof *b);
    long calls_at_free, fin_at_free;
    bool running = false;
    b->magic = BOX_MAGIC;
    h_latch_init(&box_latch);
    atomic_init(&box_calls, 0);
    atomic_init(&box_bad, 0);
    atomic_init(&box_fin, 0);
    ok &= EXPECT(r1 != NULL);
    if (r1) ok &= EXPECT_ST(bgfetch_get(M, "cb-free", &r2), BGFETCH_OK);
    ok &= EXPECT(r2 != NULL);
    if (!r2) {
        free(b);
        bgfetch_registration_free(r1);
        CHECK(0, "items 6/7: freeing the handle removes its progress callback; its finalizer runs once");
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r2, box_progress, b, box_free), BGFETCH_OK);
    ok &= EXPECT(h_latch_wait(&box_latch, 1, H_WAIT_MS)); /* it fired at least once */
    running = bgfetch_registration_result(r1) == BGFETCH_RESULT_NONE;
    bgfetch_registration_free(r2); /* the only handle with a callback */
    calls_at_free = atomic_load(&box_calls);
    fin_at_free = atomic_load(&box_fin);
    ok &= EXPECT_U64(fin_at_free, 1);
    /* let the fetch finish through the other handle: wait returns after the final progress
       callbacks, so a callback that outlived its handle would have been called by then */
    ok &= EXPECT_ST(bgfetch_registration_wait(r1, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r1), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_U64(atomic_load(&box_calls), calls_at_free);
    ok &= EXPECT_U64(atomic_load(&box_fin), 1);
    ok &= EXPECT_U64(atomic_load(&box_bad), 0);
    if (!running) h_diag("note: the fetch had already settled when the handle was freed (slow machine?)");
    h_diag("progress calls before the free: %ld", calls_at_free);
    CHECK(ok, "items 6/7: after bgfetch_registration_free the callback never runs again and its finalizer ran exactly once");
    bgfetch_registration_free(r1);
    h_latch_destroy(&box_latch);
}

static void t_two_handles(void) {
    int ok = 1;
    counter a, b;
    bgfetch_registration *r1 = h_fetch(M, "cb-two", NULL, U("bytes/200000?seed=6&rate=200000").s, NULL), *r2 = NULL;
    counter_init(&a);
    counter_init(&b);
    ok &= EXPECT(r1 != NULL);
    if (r1) ok &= EXPECT_ST(bgfetch_get(M, "cb-two", &r2), BGFETCH_OK);
    ok &= EXPECT(r2 != NULL);
    if (r1 && r2) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r1, cnt_progress, &a, cnt_fin), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r2, cnt_progress, &b, cnt_fin), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r1, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT(CALLS(a) >= 1);
        ok &= EXPECT(CALLS(b) >= 1);
        ok &= EXPECT_U64(FINALS(a), 1);
        ok &= EXPECT_U64(FINALS(b), 1);
        ok &= EXPECT_U64(FIN(a), 0);
        ok &= EXPECT_U64(FIN(b), 0);
    }
    bgfetch_registration_free(r1);
    ok &= EXPECT_U64(FIN(a), 1);
    ok &= EXPECT_U64(FIN(b), 0);
    bgfetch_registration_free(r2);
    ok &= EXPECT_U64(FIN(b), 1);
    CHECK(ok, "items 6/7: two handles of one fetch each have their own callback (both fire, each sees the final state once)");
}

static void t_replace_and_clear(void) {
    int ok = 1;
    counter a, b, c, d, e;
    bool aborted = false;
    bgfetch_registration *r = h_fetch(M, "cb-replace", NULL, U("bytes/100?stall_ms=30000&r=1").s, NULL);
    counter_init(&a);
    counter_init(&b);
    counter_init(&c);
    counter_init(&d);
    counter_init(&e);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, cnt_progress, &a, cnt_fin), BGFETCH_OK);
        ok &= EXPECT_U64(FIN(a), 0);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, cnt_progress, &b, cnt_fin), BGFETCH_OK);
        ok &= EXPECT_U64(FIN(a), 1); /* replaced */
        ok &= EXPECT_U64(FIN(b), 0);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        ok &= EXPECT_U64(FIN(b), 1); /* cleared */
        /* with a NULL callback, userdata and free_userdata are not used */
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, &c, cnt_fin), BGFETCH_OK);
        ok &= EXPECT_U64(FIN(c), 0);
        /* a NULL finalizer is fine */
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, cnt_progress, &d, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, cnt_progress, &e, cnt_fin), BGFETCH_OK);
        ok &= EXPECT_U64(FIN(d), 0);
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(FINALS(e), 1);
    }
    bgfetch_registration_free(r);
    ok &= EXPECT_U64(FIN(a), 1);
    ok &= EXPECT_U64(FIN(b), 1);
    ok &= EXPECT_U64(FIN(c), 0);
    ok &= EXPECT_U64(FIN(e), 1); /* the handle was freed */
    CHECK(ok, "item 7: replacing runs the old finalizer once, clearing runs it once, free runs the last; NULL free_userdata is fine");
}

static void t_failed_setters(void) {
    int ok = 1;
    counter a, b;
    counter_init(&a);
    counter_init(&b);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(NULL, cnt_progress, &a, cnt_fin),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(FIN(a), 1);
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(NULL, cnt_event, &b, cnt_fin), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(FIN(b), 1);
    ok &= EXPECT_U64(CALLS(a), 0);
    ok &= EXPECT_U64(CALLS(b), 0);
    CHECK(ok, "item 7: a setter that fails (NULL handle / manager) runs the finalizer exactly once, at once");
}

static void t_close_runs_finalizers(void) {
    int ok = 1;
    counter ev, p, q, after;
    bgfetch_manager *m = h_open("store-fin-close");
    bgfetch_registration *r = NULL, *g = NULL;
    counter_init(&ev);
    counter_init(&p);
    counter_init(&q);
    counter_init(&after);
    ok &= EXPECT(m != NULL);
    if (!m) {
        CHECK(0, "item 7: bgfetch_manager_close runs the event and progress finalizers exactly once");
        return;
    }
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, cnt_event, &ev, cnt_fin), BGFETCH_OK);
    r = h_fetch(m, "stalled", NULL, U("bytes/100?stall_ms=30000&r=2").s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) ok &= EXPECT_ST(bgfetch_get(m, "stalled", &g), BGFETCH_OK);
    ok &= EXPECT(g != NULL);
    if (r) ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, cnt_progress, &p, cnt_fin), BGFETCH_OK);
    if (g) ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(g, cnt_progress, &q, cnt_fin), BGFETCH_OK);
    bgfetch_manager_close(m);
    ok &= EXPECT_U64(FIN(ev), 1);
    ok &= EXPECT_U64(FIN(p), 1);
    ok &= EXPECT_U64(FIN(q), 1);
    CHECK(ok, "item 7: bgfetch_manager_close runs the event callback's and the live progress callbacks' finalizers once");

    ok = 1;
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, cnt_progress, &after, cnt_fin), BGFETCH_E_CLOSED);
        ok &= EXPECT_U64(FIN(after), 1);
    }
    bgfetch_registration_free(r);
    bgfetch_registration_free(g);
    ok &= EXPECT_U64(FIN(ev), 1);
    ok &= EXPECT_U64(FIN(p), 1);
    ok &= EXPECT_U64(FIN(q), 1);
    ok &= EXPECT_U64(CALLS(after), 0);
    CHECK(ok, "item 7: after close a setter fails with BGFETCH_E_CLOSED and runs its finalizer once; freeing the handles runs none again");
}

/* ---------------------------------------------------------------------------------------- */
/* item 8: bgfetch_registration_wait returns after the final progress callback              */

typedef struct {
    pthread_mutex_t mu;
    int saw_final;
    long calls;
    const char *url;
} final_rec;

static void on_progress_final(void *ud, bgfetch_registration *r) {
    final_rec *f = (final_rec *)ud;
    int final = bgfetch_registration_result(r) != BGFETCH_RESULT_NONE;
    if (final) {
        /* some real work in the final call (the host reading what arrived), so that a wait
           that does not wait for it would return first */
        bgfetch_records *rs = NULL;
        if (bgfetch_registration_match_all(r, NULL, 0, &rs) == BGFETCH_OK && bgfetch_records_len(rs) == 1) {
            bgfetch_response *res = NULL;
            if (bgfetch_record_response(bgfetch_records_get(rs, 0), 0, &res) == BGFETCH_OK) {
                size_t len = 0;
                free(h_read_all(res, &len));
            }
            bgfetch_response_free(res);
        }
        bgfetch_records_free(rs);
    }
    pthread_mutex_lock(&f->mu);
    f->calls++;
    if (final) f->saw_final = 1;
    pthread_mutex_unlock(&f->mu);
}

static void t_wait_after_final_progress(void) {
    int i, ok = 1, meaningful = 0, late = 0;
    for (i = 0; i < 20; i++) {
        final_rec f;
        h_str id = S("final-%d", i);
        /* the server holds the response 100 ms: the callback is set long before the end */
        h_str u = U("bytes/20000?seed=%d&stall_ms=100", i);
        bgfetch_registration *r = h_fetch(M, id.s, NULL, u.s, NULL);
        int saw;
        pthread_mutex_init(&f.mu, NULL);
        f.saw_final = 0;
        f.calls = 0;
        f.url = u.s;
        ok &= EXPECT(r != NULL);
        if (!r) {
            pthread_mutex_destroy(&f.mu);
            break;
        }
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress_final, &f, NULL), BGFETCH_OK);
        /* only meaningful if the fetch had not settled when the callback was set */
        if (bgfetch_registration_result(r) == BGFETCH_RESULT_NONE) meaningful++;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, -1), BGFETCH_OK);
        pthread_mutex_lock(&f.mu); /* right away: no extra waiting */
        saw = f.saw_final;
        pthread_mutex_unlock(&f.mu);
        if (!saw) {
            late++;
            h_diag("fetch %d: bgfetch_registration_wait returned before the final progress callback", i);
        }
        ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
        bgfetch_registration_free(r); /* removes the callback */
        pthread_mutex_destroy(&f.mu);
    }
    ok &= EXPECT(late == 0);
    ok &= EXPECT(meaningful >= 15);
    if (meaningful < 20) h_diag("%d of 20 fetches had settled before their callback was set", 20 - meaningful);
    CHECK(ok, "item 8: bgfetch_registration_wait(-1) returns only after the final progress callback (20 fetches)");
}

/* ---------------------------------------------------------------------------------------- */
/* item 9: no completion event with unreadable records during bgfetch_manager_close         */

typedef struct {
    pthread_mutex_t mu;
    h_latch latch;
    long events;
    bgfetch_event_type type;
    bgfetch_status bad;   /* a match_all status other than OK (first one) */
    char bad_msg[256];
} close_ev;

static void close_ev_init(close_ev *c) {
    pthread_mutex_init(&c->mu, NULL);
    h_latch_init(&c->latch);
    c->events = 0;
    c->type = 0;
    c->bad = BGFETCH_OK;
    c->bad_msg[0] = 0;
}
static void close_ev_destroy(close_ev *c) {
    pthread_mutex_destroy(&c->mu);
    h_latch_destroy(&c->latch);
}

static void on_close_event(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    close_ev *c = (close_ev *)ud;
    bgfetch_records *rs = NULL;
    bgfetch_status st = bgfetch_registration_match_all(reg, NULL, 0, &rs);
    char msg[256];
    copy_last_error(msg, sizeof msg);
    bgfetch_records_free(rs);
    pthread_mutex_lock(&c->mu);
    c->events++;
    c->type = type;
    if (st != BGFETCH_OK && c->bad == BGFETCH_OK) {
        c->bad = st;
        snprintf(c->bad_msg, sizeof c->bad_msg, "%s", msg);
    }
    pthread_mutex_unlock(&c->mu);
    h_latch_add(&c->latch, 1);
}

static void t_abort_then_close(void) {
    int i, ok = 1, in_session = 0, at_reopen = 0;
    for (i = 0; i < 20 && ok; i++) {
        h_str store = S("store-close-%d", i);
        close_ev c1, c2;
        bgfetch_manager *m = h_open(store.s);
        bgfetch_registration *r = NULL;
        bool aborted = false;
        long n1;
        close_ev_init(&c1);
        close_ev_init(&c2);
        ok &= EXPECT(m != NULL);
        if (m) {
            ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_close_event, &c1, NULL), BGFETCH_OK);
            r = h_fetch(m, "stalled", NULL, U("bytes/100?stall_ms=30000&i=%d", i).s, NULL);
            ok &= EXPECT(r != NULL);
            if (r) ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
            bgfetch_manager_close(m); /* at once */
            bgfetch_registration_free(r);
        }
        pthread_mutex_lock(&c1.mu);
        n1 = c1.events;
        if (c1.bad != BGFETCH_OK) {
            h_diag("round %d: inside the event callback during close, match_all returned %s: %s", i,
                   h_stname(c1.bad), c1.bad_msg);
            ok = 0;
        }
        if (n1 > 0 && c1.type != BGFETCH_EVENT_ABORT) {
            h_diag("round %d: event type %u, expected ABORT", i, (unsigned)c1.type);
            ok = 0;
        }
        pthread_mutex_unlock(&c1.mu);
        if (n1 > 0) {
            in_session++;
        } else if (ok) {
            /* not delivered in that session: the next open delivers it, readable */
            m = h_open(store.s);
            ok &= EXPECT(m != NULL);
            if (m) {
                ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_close_event, &c2, NULL), BGFETCH_OK);
                ok &= EXPECT(h_latch_wait(&c2.latch, 1, H_WAIT_MS));
                ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
                pthread_mutex_lock(&c2.mu);
                ok &= EXPECT_ST(c2.bad, BGFETCH_OK);
                if (c2.events > 0) ok &= EXPECT_U64(c2.type, BGFETCH_EVENT_ABORT);
                pthread_mutex_unlock(&c2.mu);
                bgfetch_manager_close(m);
                at_reopen++;
            }
            if (!ok) h_diag("round %d: the event held for the next open", i);
        }
        close_ev_destroy(&c1);
        close_ev_destroy(&c2);
    }
    h_diag("abort + close at once: event delivered in the session %d times, at the next open %d times",
           in_session, at_reopen);
    CHECK(ok, "item 9: abort + bgfetch_manager_close at once: the event never sees BGFETCH_E_CLOSED (else it comes at the next open, readable)");
}

/* ---------------------------------------------------------------------------------------- */
/* item 10: a body that was fully received stays readable after an abort                    */

typedef struct {
    uint64_t size;
    atomic_int aborted;     /* abort() said it aborted the fetch */
    atomic_int tried;       /* abort() was called with downloaded == size */
} abort_full;

static void abort_when_full(void *ud, bgfetch_registration *r) {
    abort_full *a = (abort_full *)ud;
    if (bgfetch_registration_downloaded(r) == a->size && !atomic_load(&a->tried)) {
        bool did = false;
        atomic_store(&a->tried, 1);
        if (bgfetch_registration_abort(r, &did) == BGFETCH_OK && did) atomic_store(&a->aborted, 1);
    }
}

static void t_abort_after_full_body(void) {
    int i, ok = 1, hits = 0, ready = 0, rounds = 0;
    bgfetch_config *c = h_config("store-abort-full");
    bgfetch_manager *m;
    if (c) bgfetch_config_set_progress_interval(c, 0); /* a progress call for every change */
    m = h_open_cfg(c);
    ok &= EXPECT(m != NULL);
    for (i = 0; m && i < 20; i++) {
        abort_full a;
        uint64_t size = 512 * 1024 + (uint64_t)i;
        unsigned seed = (unsigned)(40 + i);
        h_str u = U("bytes/%" PRIu64 "?seed=%u", size, seed);
        h_str id = S("abort-full-%d", i);
        bgfetch_registration *r = h_fetch(m, id.s, NULL, u.s, NULL);
        bgfetch_record *rec = NULL;
        bgfetch_response *res = NULL;
        bgfetch_status st;
        rounds++;
        a.size = size;
        atomic_init(&a.aborted, 0);
        atomic_init(&a.tried, 0);
        ok &= EXPECT(r != NULL);
        if (!r) break;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, abort_when_full, &a, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        if (atomic_load(&a.aborted)) hits++;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_OK);
        ok &= EXPECT(rec != NULL);
        if (rec) {
            st = bgfetch_record_response(rec, 0, &res);
            if (st == BGFETCH_OK) {
                size_t len = 0;
                uint8_t *b = h_read_all(res, &len);
                int good = b && h_is_pattern(b, len, (size_t)size, seed);
                ready++;
                if (!good)
                    h_diag("round %d (%s): responseReady resolved and all %" PRIu64
                           " bytes were reported, but the body is not readable whole", i,
                           atomic_load(&a.aborted) ? "aborted" : "not aborted", size);
                ok &= good;
                ok &= EXPECT(bgfetch_response_complete(res));
                free(b);
            } else {
                /* the abort came before responseReady: allowed */
                ok &= EXPECT_ST(st, BGFETCH_E_ABORTED);
            }
            bgfetch_response_free(res);
        }
        bgfetch_record_free(rec);
        st = release_bounded(r);
        if (st == BGFETCH_E_TIMEOUT) {
            h_diag("round %d (%s): bgfetch_registration_release of the settled fetch never returned", i,
                   atomic_load(&a.aborted) ? "aborted" : "not aborted");
            ok = 0;
            break; /* the handle is still in use */
        }
        ok &= EXPECT_ST(st, BGFETCH_OK);
        bgfetch_registration_free(r);
    }
    h_diag("abort at downloaded == size: the abort took effect in %d of %d rounds; responses ready %d", hits, rounds,
           ready);
    if (!close_bounded(m)) ok = 0;
    CHECK(ok, "item 10: abort right after the whole body was reported: a ready response is readable whole (never ABORTED)");
}

/* ---------------------------------------------------------------------------------------- */
/* item 12: a missing stored body is BGFETCH_E_IO, and no read blocks forever               */

typedef struct {
    const bgfetch_response *res;
    uint64_t offset;
    bgfetch_status st;
    char msg[256];
} read_call;

static void read_fn(void *p) {
    read_call *x = (read_call *)p;
    uint8_t buf[4096];
    size_t n = 0;
    x->st = bgfetch_response_read(x->res, x->offset, buf, sizeof buf, -1, &n);
    copy_last_error(x->msg, sizeof x->msg);
}

/* bgfetch_response_read at offset, bounded; 0 if it hung. */
static int read_on_helper(const bgfetch_response *res, uint64_t offset, bgfetch_status *st, char *msg,
                          size_t cap) {
    read_call *x = (read_call *)calloc(1, sizeof *x);
    x->res = res;
    x->offset = offset;
    if (!run_bounded(read_fn, x, "bgfetch_response_read")) return 0; /* x leaks: still in use */
    *st = x->st;
    snprintf(msg, cap, "%s", x->msg);
    free(x);
    return 1;
}


/* fetch url under id on m, wait, and return the path of its stored body (copied) */
static int stored_body_path(bgfetch_manager *m, const char *id, const char *url, char *path, size_t cap,
                            bgfetch_registration **out) {
    bgfetch_registration *r = h_fetch(m, id, NULL, url, NULL);
    bgfetch_response *res;
    int ok = 1;
    *out = r;
    path[0] = 0;
    if (!r) return 0;
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    res = h_response_of(r, url);
    ok &= EXPECT(res != NULL);
    if (res) {
        const char *p = bgfetch_response_body_path(res);
        ok &= EXPECT(p != NULL);
        if (p) snprintf(path, cap, "%s", p);
        ok &= EXPECT(bgfetch_response_complete(res));
    }
    bgfetch_response_free(res);
    return ok && path[0];
}

static void t_missing_body(void) {
    int ok = 1, hung = 0;
    char path[1024], msg[256];
    bgfetch_status st = BGFETCH_OK;
    h_str u = U("bytes/5000?seed=12");
    bgfetch_registration *r = NULL;
    bgfetch_response *res = NULL;
    ok &= EXPECT(stored_body_path(M, "gone", u.s, path, sizeof path, &r));
    if (ok) ok &= EXPECT(unlink(path) == 0);
    if (ok) res = h_response_of(r, u.s);
    ok &= EXPECT(res != NULL);
    if (ok) {
        if (read_on_helper(res, 0, &st, msg, sizeof msg)) {
            ok &= EXPECT_ST(st, BGFETCH_E_IO);
            ok &= EXPECT(strlen(msg) > 0);
        } else {
            ok = 0;
            hung = 1;
        }
    }
    CHECK(ok, "item 12: reading a complete body whose stored file was deleted is BGFETCH_E_IO with a message (no hang)");
    if (!hung) { /* else the blocked reader still uses them */
        bgfetch_response_free(res);
        if (r) (void)release_bounded(r);
        bgfetch_registration_free(r);
    }

    /* a truncated file: the bytes that are there are read, then BGFETCH_E_IO */
    ok = 1;
    hung = 0;
    r = NULL;
    res = NULL;
    u = U("bytes/5000?seed=13");
    ok &= EXPECT(stored_body_path(M, "truncated", u.s, path, sizeof path, &r));
    if (ok) ok &= EXPECT(truncate(path, 1000) == 0);
    if (ok) res = h_response_of(r, u.s);
    ok &= EXPECT(res != NULL);
    if (ok) {
        if (read_on_helper(res, 2000, &st, msg, sizeof msg)) {
            ok &= EXPECT_ST(st, BGFETCH_E_IO);
            ok &= EXPECT(strlen(msg) > 0);
        } else {
            ok = 0;
            hung = 1;
        }
    }
    CHECK(ok, "item 12: reading past the end of a truncated stored body is BGFETCH_E_IO (no hang)");
    if (!hung) {
        bgfetch_response_free(res);
        if (r) (void)release_bounded(r);
        bgfetch_registration_free(r);
    }
}

/* the same read inside an event callback */
typedef struct {
    h_latch latch;
    atomic_uint st; /* the read's status */
} read_ev;

static void on_read_event(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    read_ev *e = (read_ev *)ud;
    bgfetch_records *rs = NULL;
    bgfetch_status st = bgfetch_registration_match_all(reg, NULL, 0, &rs);
    (void)type;
    if (st == BGFETCH_OK && bgfetch_records_len(rs) == 1) {
        bgfetch_response *res = NULL;
        st = bgfetch_record_response(bgfetch_records_get(rs, 0), 0, &res);
        if (st == BGFETCH_OK) {
            uint8_t buf[4096];
            size_t n = 0;
            st = bgfetch_response_read(res, 0, buf, sizeof buf, -1, &n);
        }
        bgfetch_response_free(res);
    } else if (st == BGFETCH_OK) {
        st = BGFETCH_E_INTERNAL; /* wrong number of records */
    }
    bgfetch_records_free(rs);
    atomic_store(&e->st, st);
    h_latch_add(&e->latch, 1);
}

static void t_missing_body_in_event(void) {
    int ok = 1;
    char path[1024];
    h_str u = U("bytes/5000?seed=14");
    bgfetch_manager *m;
    bgfetch_registration *r = NULL;
    read_ev *e = (read_ev *)calloc(1, sizeof *e); /* on the heap: a wedged callback keeps it */
    h_latch_init(&e->latch);
    atomic_init(&e->st, 1000);
    m = h_open("store-missing-event"); /* no event callback yet: the event is held */
    ok &= EXPECT(m != NULL);
    if (m) ok &= EXPECT(stored_body_path(m, "gone-in-event", u.s, path, sizeof path, &r));
    bgfetch_registration_free(r);
    if (ok) ok &= EXPECT(unlink(path) == 0);
    if (ok) {
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_read_event, e, NULL), BGFETCH_OK);
        ok &= EXPECT(h_latch_wait(&e->latch, 1, H_WAIT_MS));
        if (h_latch_get(&e->latch) >= 1) ok &= EXPECT_ST(atomic_load(&e->st), BGFETCH_E_IO);
    }
    if (close_bounded(m)) {
        h_latch_destroy(&e->latch);
        free(e);
    } else {
        ok = 0;
    }
    CHECK(ok, "item 12: the same read inside an event callback ends (BGFETCH_E_IO), and bgfetch_manager_close returns");
}

/* ---------------------------------------------------------------------------------------- */
/* item 11: release racing a new fetch of the same id                                       */

typedef struct {
    bgfetch_manager *m;
    atomic_int stop;
    atomic_long failures, io_errors;
    pthread_mutex_t mu;
    char first_failure[400];
    /* thread A */
    long a_loops, created, dups, verified, released_under_us;
    size_t last_size;
    unsigned last_seed;
    h_str last_url;
    /* thread B */
    long b_loops, found, releases;
} race11;

static void race_fail(race11 *x, const char *what, bgfetch_status st) {
    char msg[256];
    copy_last_error(msg, sizeof msg);
    atomic_fetch_add(&x->failures, 1);
    if (st == BGFETCH_E_IO) atomic_fetch_add(&x->io_errors, 1);
    pthread_mutex_lock(&x->mu);
    if (!x->first_failure[0])
        snprintf(x->first_failure, sizeof x->first_failure, "%s: %s (%s)", what, h_stname(st), msg);
    pthread_mutex_unlock(&x->mu);
}

#define RACE_ITERATIONS 300
#define RACE_MS 3000

/* Thread A: fetch "same", wait, check the body right away, free.
   Allowed: fetch -> OK or DUPLICATE_ID (B has not released the previous one yet); wait -> OK
   (nothing releases a running fetch); match_url / record_response / response_read -> OK or
   INVALID_STATE (B released it in between). Anything else, and any wrong byte, fails. */
static void *race_a(void *arg) {
    race11 *x = (race11 *)arg;
    int64_t end = h_now_ms() + RACE_MS;
    long i;
    for (i = 0; x->created < RACE_ITERATIONS && h_now_ms() < end && i < 100000; i++) {
        size_t size = 1000 + (size_t)(i % 64) * 97;
        unsigned seed = (unsigned)(i % 250);
        h_str u = U("bytes/%zu?seed=%u&a=%ld", size, seed, i);
        const char *urls[1];
        bgfetch_registration *r = NULL;
        bgfetch_record *rec = NULL;
        bgfetch_response *res = NULL;
        bgfetch_status st;
        urls[0] = u.s;
        x->a_loops++;
        st = bgfetch_fetch_urls(x->m, "same", urls, 1, NULL, &r);
        if (st == BGFETCH_E_DUPLICATE_ID) {
            /* again at once, so that the next fetch follows B's release as closely as it can;
               yielding leaves the library's threads the CPU on a 2-core machine */
            x->dups++;
            sched_yield();
            continue;
        }
        if (st != BGFETCH_OK) {
            race_fail(x, "A: bgfetch_fetch_urls", st);
            continue;
        }
        x->created++;
        x->last_size = size;
        x->last_seed = seed;
        x->last_url = u;
        st = bgfetch_registration_wait(r, H_WAIT_MS);
        if (st != BGFETCH_OK) race_fail(x, "A: bgfetch_registration_wait", st);
        if (bgfetch_registration_result(r) != BGFETCH_RESULT_SUCCESS) {
            h_diag("A: fetch %ld settled as %s/%s", i, bgfetch_result_str(bgfetch_registration_result(r)),
                   bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)));
            race_fail(x, "A: result is not success", BGFETCH_OK);
        }
        st = bgfetch_registration_match_url(r, u.s, 0, &rec);
        if (st == BGFETCH_OK && !rec) race_fail(x, "A: match_url found no record", st);
        else if (st != BGFETCH_OK && st != BGFETCH_E_INVALID_STATE) race_fail(x, "A: bgfetch_registration_match_url", st);
        if (rec) {
            st = bgfetch_record_response(rec, H_WAIT_MS, &res);
            if (st != BGFETCH_OK && st != BGFETCH_E_INVALID_STATE) race_fail(x, "A: bgfetch_record_response", st);
        }
        if (res) {
            uint8_t buf[4096];
            uint64_t off = 0;
            int bad = 0, complete = 0, rounds = 0;
            for (;;) {
                size_t n = 0, k;
                st = bgfetch_response_read(res, off, buf, sizeof buf, -1, &n);
                if (st == BGFETCH_E_INVALID_STATE) break;
                if (st != BGFETCH_OK) {
                    race_fail(x, "A: bgfetch_response_read", st);
                    break;
                }
                if (n == 0) {
                    complete = 1;
                    break;
                }
                for (k = 0; k < n && !bad; k++)
                    if (off + k >= size || buf[k] != h_pattern_byte(off + k, seed)) bad = 1;
                off += n;
                if (bad || ++rounds > 1000) break;
            }
            if (bad) race_fail(x, "A: a wrong byte in the body", BGFETCH_OK);
            else if (complete && off != size) race_fail(x, "A: the body is complete but short", BGFETCH_OK);
            else if (complete) x->verified++;
            else x->released_under_us++;
        } else {
            x->released_under_us++;
        }
        bgfetch_response_free(res);
        bgfetch_record_free(rec);
        bgfetch_registration_free(r);
    }
    atomic_store(&x->stop, 1);
    return NULL;
}

/* Thread B: get "same", wait until it settles, release it at once (racing A's reads and A's
   next fetch). Allowed: get -> OK; wait -> OK; release of a settled fetch -> OK (only a
   running one answers INVALID_STATE, and releasing twice is OK). */
static void *race_b(void *arg) {
    race11 *x = (race11 *)arg;
    int64_t end = h_now_ms() + RACE_MS + H_WAIT_MS;
    long i;
    for (i = 0; !atomic_load(&x->stop) && h_now_ms() < end && i < 100000000; i++) {
        bgfetch_registration *g = NULL;
        bgfetch_status st = bgfetch_get(x->m, "same", &g);
        x->b_loops++;
        if (st != BGFETCH_OK) {
            race_fail(x, "B: bgfetch_get", st);
        } else if (g) {
            x->found++;
            st = bgfetch_registration_wait(g, H_WAIT_MS);
            if (st != BGFETCH_OK) race_fail(x, "B: bgfetch_registration_wait", st);
            st = bgfetch_registration_release(g);
            if (st != BGFETCH_OK) race_fail(x, "B: bgfetch_registration_release", st);
            else x->releases++;
        } else {
            sched_yield(); /* nothing there yet: let A (and the library) run */
        }
        bgfetch_registration_free(g);
    }
    return NULL;
}

static void t_release_races_fetch(void) {
    int ok = 1;
    race11 x;
    pthread_t ta, tb;
    memset(&x, 0, sizeof x);
    atomic_init(&x.stop, 0);
    atomic_init(&x.failures, 0);
    atomic_init(&x.io_errors, 0);
    pthread_mutex_init(&x.mu, NULL);
    x.m = h_open("store-release-race");
    ok &= EXPECT(x.m != NULL);
    if (!x.m) {
        CHECK(0, "item 11: release racing a new fetch of the same id");
        return;
    }
    pthread_create(&ta, NULL, race_a, &x);
    pthread_create(&tb, NULL, race_b, &x);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    h_diag("release race: A %ld loops, %ld fetches created, %ld DUPLICATE_ID, %ld bodies verified, %ld released "
           "before A read them; B %ld loops, %ld found, %ld released",
           x.a_loops, x.created, x.dups, x.verified, x.released_under_us, x.b_loops, x.found, x.releases);
    if (atomic_load(&x.failures)) h_diag("first failure: %s", x.first_failure);
    ok &= EXPECT_U64(atomic_load(&x.io_errors), 0);
    ok &= EXPECT_U64(atomic_load(&x.failures), 0);
    ok &= EXPECT(x.created >= 5);
    ok &= EXPECT(x.releases >= 1);
    CHECK(ok, "item 11: fetch/wait/read of \"same\" on one thread, get/release on another: no BGFETCH_E_IO, every unreleased body exact");

    /* the store is intact: reopen, no problems, and a surviving "same" is the last fetch, whole */
    ok = 1;
    bgfetch_manager_close(x.m);
    x.m = h_open("store-release-race");
    ok &= EXPECT(x.m != NULL);
    if (x.m) {
        bgfetch_registration *g = NULL;
        ok &= EXPECT_U64(bgfetch_manager_problem_count(x.m), 0);
        ok &= EXPECT_ST(bgfetch_get(x.m, "same", &g), BGFETCH_OK);
        if (g && x.created > 0) {
            size_t len = 0;
            uint8_t *b;
            ok &= EXPECT_ST(bgfetch_registration_wait(g, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_result(g), BGFETCH_RESULT_SUCCESS);
            b = h_body_of(g, x.last_url.s, &len);
            ok &= EXPECT(h_is_pattern(b, len, x.last_size, x.last_seed));
            free(b);
        }
        bgfetch_registration_free(g);
        bgfetch_manager_close(x.m);
    }
    CHECK(ok, "item 11: after the race the store reopens without problems, and an unreleased \"same\" is whole");
    pthread_mutex_destroy(&x.mu);
}

/* Whether to run test function `name`: all of them, unless BGFETCH_TEST_ONLY names some
   (a comma-separated list of substrings; for debugging one item). */
static int wanted(const char *name) {
    const char *only = getenv("BGFETCH_TEST_ONLY");
    char buf[256], *tok, *save = NULL;
    if (!only || !*only) return 1;
    snprintf(buf, sizeof buf, "%s", only);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (*tok && strstr(name, tok)) return 1;
    return 0;
}

/* runs one test function and notes how long it took (a diagnostic only) */
#define RUN(f)                                                       \
    do {                                                             \
        if (wanted(#f)) {                                            \
            int64_t t0_ = h_now_ms();                                \
            f();                                                     \
            h_diag("%s took %" PRId64 " ms", #f, h_now_ms() - t0_);  \
        }                                                            \
    } while (0)

int main(int argc, char **argv) {
    h_init(argc, argv);
    M = h_open("store-trust");
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    RUN(t_update_ui_in_event);
    RUN(t_get_empty_id);
    RUN(t_dangling_markup);
    RUN(t_bodyless_post_put);
    RUN(t_record_request_body);
    RUN(t_free_removes_callback);
    RUN(t_two_handles);
    RUN(t_replace_and_clear);
    RUN(t_failed_setters);
    RUN(t_close_runs_finalizers);
    RUN(t_wait_after_final_progress);
    RUN(t_abort_then_close);
    RUN(t_abort_after_full_body);
    RUN(t_missing_body);
    RUN(t_missing_body_in_event);
    RUN(t_release_races_fetch);
    if (stuck) h_diag("note: a library call is still blocked on a helper thread");
    CHECK(close_bounded(M), "the manager closes");
    return h_done();
}
