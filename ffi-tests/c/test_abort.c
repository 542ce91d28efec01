/* test_abort.c - abort(), responseReady after abort, release() */
#include "harness.h"

static bgfetch_manager *M;

/* abort r and measure how long until it settles; returns elapsed ms (or -1) */
static int64_t abort_and_time(bgfetch_registration *r, bool *aborted, int *ok) {
    int64_t t0 = h_now_ms();
    *ok &= EXPECT_ST(bgfetch_registration_abort(r, aborted), BGFETCH_OK);
    *ok &= EXPECT_ST(bgfetch_registration_wait(r, 5000), BGFETCH_OK);
    return h_now_ms() - t0;
}

static void t_abort_slow(void) {
    int ok = 1;
    bool aborted = false;
    h_str u = U("bytes/1000000?seed=1&rate=50000");
    bgfetch_registration *r = h_fetch(M, "slow", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        int64_t took;
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 0), BGFETCH_E_TIMEOUT);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 50), BGFETCH_E_TIMEOUT);
        took = abort_and_time(r, &aborted, &ok);
        ok &= EXPECT(aborted == true);
        ok &= EXPECT(took < 2000);
        if (took >= 2000) h_diag("abort took %" PRId64 " ms", took);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
        ok &= EXPECT_STR(bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)), "aborted");
        ok &= EXPECT(bgfetch_registration_downloaded(r) < 1000000);
    }
    CHECK(ok, "abort of a slow fetch -> true; failure/aborted within 2 s");

    ok = 1;
    if (r) {
        aborted = true;
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT(aborted == false);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
    } else {
        ok = 0;
    }
    CHECK(ok, "abort again -> false");

    ok = 1;
    if (r) {
        bgfetch_record *rec = NULL;
        bgfetch_response *res = NULL;
        bgfetch_status st;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_OK);
        ok &= EXPECT(rec != NULL);
        st = bgfetch_record_response(rec, H_WAIT_MS, &res);
        /* the response headers had arrived before the abort: the record has a response, but
           its body can never complete; or responseReady rejects with AbortError */
        if (st == BGFETCH_OK) {
            ok &= EXPECT_ST(bgfetch_response_wait(res, H_WAIT_MS), BGFETCH_E_ABORTED);
            ok &= EXPECT(!bgfetch_response_complete(res));
        } else {
            ok &= EXPECT_ST(st, BGFETCH_E_ABORTED);
        }
        bgfetch_response_free(res);
        bgfetch_record_free(rec);
    } else {
        ok = 0;
    }
    CHECK(ok, "an aborted mid-body record never completes (response_wait / record_response -> ABORTED)");
    bgfetch_registration_free(r);
}

static void t_abort_stalled_headers(void) {
    int ok = 1;
    bool aborted = false;
    h_str u = U("bytes/100?seed=2&stall_ms=60000");
    bgfetch_registration *r = h_fetch(M, "stalled-headers", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        bgfetch_record *rec = NULL;
        bgfetch_response *res = (bgfetch_response *)&ok;
        int64_t took;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_OK);
        /* responseReady times out while the server stalls */
        if (rec) {
            ok &= EXPECT_ST(bgfetch_record_response(rec, 300, &res), BGFETCH_E_TIMEOUT);
            ok &= EXPECT(res == NULL);
        }
        took = abort_and_time(r, &aborted, &ok);
        ok &= EXPECT(aborted == true);
        ok &= EXPECT(took < 2000);
        if (took >= 2000) h_diag("abort took %" PRId64 " ms", took);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
        if (rec) {
            res = (bgfetch_response *)&ok;
            ok &= EXPECT_ST(bgfetch_record_response(rec, H_WAIT_MS, &res), BGFETCH_E_ABORTED);
            ok &= EXPECT(res == NULL);
        }
        bgfetch_record_free(rec);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "abort while the server stalls before the headers (stall_ms=60000) is prompt; record_response -> TIMEOUT before, ABORTED after");
}

static void t_abort_stalled_body(void) {
    int ok = 1;
    bool aborted = false;
    h_str u = U("bytes/10000?seed=3&stall_at=5000&stall_ms=60000");
    bgfetch_registration *r = h_fetch(M, "stalled-body", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        bgfetch_response *res = NULL;
        bgfetch_record *rec = NULL;
        int64_t took;
        uint8_t buf[16];
        size_t n = 0;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_OK);
        if (rec) ok &= EXPECT_ST(bgfetch_record_response(rec, H_WAIT_MS, &res), BGFETCH_OK);
        if (res) {
            /* bytes before the stall are stored (and readable) while the transfer runs; poll
               body_size first so that a library that never stores them fails instead of hanging */
            int64_t deadline = h_now_ms() + 5000;
            while (bgfetch_response_body_size(res) < 5000 && h_now_ms() < deadline) h_sleep_ms(10);
            ok &= EXPECT_U64(bgfetch_response_body_size(res), 5000);
            ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 5000);
        }
        if (res && bgfetch_response_body_size(res) >= 5000) {
            ok &= EXPECT_ST(bgfetch_response_read(res, 4990, buf, 10, -1, &n), BGFETCH_OK);
            ok &= EXPECT_U64(n, 10);
            if (n == 10) ok &= EXPECT(buf[0] == h_pattern_byte(4990, 3) && buf[9] == h_pattern_byte(4999, 3));
            ok &= EXPECT(!bgfetch_response_complete(res));
            ok &= EXPECT_ST(bgfetch_response_wait(res, 100), BGFETCH_E_TIMEOUT);
        }
        took = abort_and_time(r, &aborted, &ok);
        ok &= EXPECT(aborted == true);
        ok &= EXPECT(took < 2000);
        if (took >= 2000) h_diag("abort took %" PRId64 " ms", took);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
        if (res) {
            bgfetch_status st;
            n = 99;
            /* reading past the stored bytes no longer blocks: it reports the abort */
            st = bgfetch_response_read(res, 6000, buf, 10, -1, &n);
            ok &= EXPECT(st == BGFETCH_E_ABORTED || (st == BGFETCH_OK && n == 0));
            ok &= EXPECT_ST(bgfetch_response_wait(res, H_WAIT_MS), BGFETCH_E_ABORTED);
        }
        bgfetch_response_free(res);
        bgfetch_record_free(rec);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "abort while the body stalls (stall_at) is prompt; partial bytes readable before; read/wait end after");
}

typedef struct {
    bgfetch_record *rec;
    bgfetch_status st;
    int64_t returned_at;
} blocked_arg;

static void *blocked_response(void *p) {
    blocked_arg *a = (blocked_arg *)p;
    bgfetch_response *res = NULL;
    a->st = bgfetch_record_response(a->rec, -1, &res);
    a->returned_at = h_now_ms();
    bgfetch_response_free(res);
    return NULL;
}

static void t_abort_wakes_blocked_waiter(void) {
    int ok = 1;
    bool aborted = false;
    h_str u = U("bytes/100?seed=4&stall_ms=60000");
    bgfetch_registration *r = h_fetch(M, "blocked-waiter", NULL, u.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        blocked_arg a;
        pthread_t t;
        int64_t t_abort;
        a.rec = NULL;
        a.st = BGFETCH_E_INTERNAL;
        a.returned_at = 0;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &a.rec), BGFETCH_OK);
        if (a.rec) {
            pthread_create(&t, NULL, blocked_response, &a);
            h_sleep_ms(200); /* let the thread block in record_response(-1) */
            t_abort = h_now_ms();
            ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
            pthread_join(t, NULL);
            ok &= EXPECT_ST(a.st, BGFETCH_E_ABORTED);
            ok &= EXPECT(a.returned_at - t_abort < 2000);
            bgfetch_record_free(a.rec);
        } else {
            ok = 0;
        }
        bgfetch_registration_wait(r, H_WAIT_MS);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "abort wakes a thread blocked in record_response(-1) with ABORTED");
}

static void t_abort_keeps_finished_records(void) {
    int ok = 1;
    bool aborted = false;
    h_str fast = U("bytes/3000?seed=5"), slow = U("bytes/100?seed=6&stall_ms=60000");
    bgfetch_registration *r = h_fetch(M, "partial", NULL, fast.s, slow.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        bgfetch_response *res = h_response_of(r, fast.s);
        bgfetch_record *rec = NULL;
        bgfetch_response *res2 = (bgfetch_response *)&ok;
        ok &= EXPECT(res != NULL);
        if (res) ok &= EXPECT_ST(bgfetch_response_wait(res, H_WAIT_MS), BGFETCH_OK);
        bgfetch_response_free(res);
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT(aborted);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 5000), BGFETCH_OK);
        {
            size_t len = 0;
            uint8_t *b = h_body_of(r, fast.s, &len);
            ok &= EXPECT(h_is_pattern(b, len, 3000, 5));
            free(b);
        }
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, slow.s, 0, &rec), BGFETCH_OK);
        if (rec) {
            ok &= EXPECT_ST(bgfetch_record_response(rec, H_WAIT_MS, &res2), BGFETCH_E_ABORTED);
            ok &= EXPECT(res2 == NULL);
        } else {
            ok = 0;
        }
        bgfetch_record_free(rec);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "after abort, a record that already had its response stays readable; an unfinished one -> ABORTED");
}

static void t_abort_after_success(void) {
    int ok = 1;
    bool aborted = true;
    bgfetch_registration *r = h_fetch(M, "done", NULL, U("bytes/10?seed=7").s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT(aborted == false);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_NONE);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "abort after success -> false, result stays success");
}

static void t_abort_via_other_handle(void) {
    int ok = 1;
    bool aborted = false;
    bgfetch_registration *r = h_fetch(M, "two-handles", NULL, U("bytes/100?stall_ms=60000").s, NULL);
    bgfetch_registration *g = NULL;
    ok &= EXPECT(r != NULL);
    ok &= EXPECT_ST(bgfetch_get(M, "two-handles", &g), BGFETCH_OK);
    ok &= EXPECT(g != NULL);
    if (r && g) {
        ok &= EXPECT_ST(bgfetch_registration_abort(g, &aborted), BGFETCH_OK);
        ok &= EXPECT(aborted);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, 5000), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
        aborted = true;
        ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
        ok &= EXPECT(!aborted);
    }
    bgfetch_registration_free(g);
    bgfetch_registration_free(r);
    CHECK(ok, "abort through a second handle is seen by the first (live view)");
}

static void t_release(void) {
    int ok = 1;
    bool aborted = false;
    h_str u = U("bytes/100?seed=8&stall_ms=60000");
    bgfetch_registration *r = h_fetch(M, "release-me", NULL, u.s, NULL);
    bgfetch_registration *other = NULL;
    bgfetch_record *kept = NULL; /* a record obtained before the release */
    ok &= EXPECT(r != NULL);
    if (!r) {
        CHECK(0, "release while running -> INVALID_STATE");
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_E_INVALID_STATE);
    ok &= EXPECT(bgfetch_registration_records_available(r));
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
    CHECK(ok, "release while running -> INVALID_STATE (records stay available)");

    ok = 1;
    ok &= EXPECT_ST(bgfetch_get(M, "release-me", &other), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, 5000), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &kept), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
    ok &= EXPECT(!bgfetch_registration_records_available(r));
    if (other) ok &= EXPECT(!bgfetch_registration_records_available(other));
    /* the settled values stay readable */
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
    ok &= EXPECT_STR(bgfetch_registration_id(r), "release-me");
    CHECK(ok, "release after settle -> records_available false (on every handle)");

    ok = 1;
    {
        bgfetch_record *rec = (bgfetch_record *)&ok;
        bgfetch_records *rs = (bgfetch_records *)&ok;
        bgfetch_request *q = NULL;
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT(rec == NULL);
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT(rs == NULL);
        ok &= EXPECT_ST(bgfetch_request_new(u.s, &q), BGFETCH_OK);
        rec = (bgfetch_record *)&ok;
        ok &= EXPECT_ST(bgfetch_registration_match(r, q, 0, &rec), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT(rec == NULL);
        bgfetch_request_free(q);
        if (other) {
            rec = (bgfetch_record *)&ok;
            ok &= EXPECT_ST(bgfetch_registration_match_url(other, u.s, 0, &rec), BGFETCH_E_INVALID_STATE);
            ok &= EXPECT(rec == NULL);
        }
    }
    if (kept) {
        bgfetch_response *res = (bgfetch_response *)&ok;
        ok &= EXPECT_ST(bgfetch_record_response(kept, 0, &res), BGFETCH_E_INVALID_STATE);
        ok &= EXPECT(res == NULL);
    } else {
        ok = 0;
    }
    bgfetch_record_free(kept);
    CHECK(ok, "after release, match / match_url / match_all, and record_response of an older record -> INVALID_STATE");

    ok = 1;
    {
        bgfetch_registration *g = (bgfetch_registration *)&ok;
        bgfetch_strings *ids = NULL;
        ok &= EXPECT_ST(bgfetch_get(M, "release-me", &g), BGFETCH_OK);
        ok &= EXPECT(g == NULL);
        ok &= EXPECT_ST(bgfetch_get_ids(M, &ids), BGFETCH_OK);
        ok &= EXPECT(!h_strings_contains(ids, "release-me"));
        bgfetch_strings_free(ids);
        /* releasing twice is OK (documented) */
        ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
    }
    CHECK(ok, "after release, get -> NULL, get_ids omits the id, releasing again is OK");

    ok = 1;
    {
        bgfetch_registration *again = h_fetch(M, "release-me", NULL, U("bytes/64?seed=9").s, NULL);
        ok &= EXPECT(again != NULL);
        if (again) {
            size_t len = 0;
            uint8_t *b;
            ok &= EXPECT_ST(bgfetch_registration_wait(again, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_result(again), BGFETCH_RESULT_SUCCESS);
            b = h_body_of(again, U("bytes/64?seed=9").s, &len);
            ok &= EXPECT(h_is_pattern(b, len, 64, 9));
            free(b);
            /* the old handle still describes the released fetch */
            ok &= EXPECT(!bgfetch_registration_records_available(r));
            ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_ABORTED);
            ok &= EXPECT_ST(bgfetch_registration_release(again), BGFETCH_OK);
            bgfetch_registration_free(again);
        }
    }
    CHECK(ok, "after release the id can be used again (and the old handle is not confused with the new fetch)");
    bgfetch_registration_free(other);
    bgfetch_registration_free(r);
}

static void t_release_frees_storage(void) {
    int ok = 1;
    bgfetch_registration *r = h_fetch(M, "storage", NULL, U("bytes/200000?seed=10").s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        uint64_t before, after;
        bgfetch_response *res;
        char *path = NULL;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        res = h_response_of(r, U("bytes/200000?seed=10").s);
        if (res && bgfetch_response_body_path(res)) path = strdup(bgfetch_response_body_path(res));
        bgfetch_response_free(res);
        before = bgfetch_manager_used_bytes(M);
        ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
        after = bgfetch_manager_used_bytes(M);
        ok &= EXPECT(before >= 200000);
        ok &= EXPECT(after + 200000 <= before);
        if (!ok) h_diag("used_bytes before %" PRIu64 ", after %" PRIu64, before, after);
        if (path) {
            struct stat sb;
            ok &= EXPECT(stat(path, &sb) != 0);
        }
        free(path);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "release frees the stored bodies (used_bytes drops, body file removed)");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    M = h_open("store-abort");
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    t_abort_slow();
    t_abort_stalled_headers();
    t_abort_stalled_body();
    t_abort_wakes_blocked_waiter();
    t_abort_keeps_finished_records();
    t_abort_after_success();
    t_abort_via_other_handle();
    t_release();
    t_release_frees_storage();
    bgfetch_manager_close(M);
    return h_done();
}
