/* test_failures.c - failure reasons: bad-status, fetch-error, download-total-exceeded,
   quota-exceeded, redirects, truncated bodies. The manager makes one attempt per request. */
#include "harness.h"

static bgfetch_manager *M;

/* fetch, wait, and check result/reason; returns the registration (free it) or NULL */
static bgfetch_registration *settle(const char *id, const bgfetch_options *o, const char *const *urls,
                                    size_t n, bgfetch_result want_result, bgfetch_failure_reason want_reason,
                                    int *ok) {
    bgfetch_registration *r = NULL;
    *ok &= EXPECT_ST(bgfetch_fetch_urls(M, id, urls, n, o, &r), BGFETCH_OK);
    if (!r) {
        *ok = 0;
        return NULL;
    }
    *ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    *ok &= EXPECT_U64(bgfetch_registration_result(r), want_result);
    *ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), want_reason);
    if (bgfetch_registration_failure_reason(r) != want_reason)
        h_diag("failure_reason is \"%s\", expected \"%s\"",
               bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)),
               bgfetch_failure_reason_str(want_reason));
    return r;
}

static bgfetch_status response_status_of(bgfetch_registration *r, const char *url, bgfetch_response **out) {
    bgfetch_record *rec = NULL;
    bgfetch_status st = bgfetch_registration_match_url(r, url, 0, &rec);
    *out = NULL;
    if (st != BGFETCH_OK) return st;
    if (!rec) {
        h_diag("no record for %s", url);
        return BGFETCH_E_INTERNAL;
    }
    st = bgfetch_record_response(rec, H_WAIT_MS, out);
    bgfetch_record_free(rec);
    return st;
}

static void t_bad_status(void) {
    int ok = 1;
    h_str u = U("status/404");
    const char *urls[1];
    bgfetch_registration *r;
    bgfetch_response *res = NULL;
    urls[0] = u.s;
    r = settle("s404", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_BAD_STATUS, &ok);
    if (r) {
        ok &= EXPECT_STR(bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)), "bad-status");
        ok &= EXPECT_STR(bgfetch_result_str(bgfetch_registration_result(r)), "failure");
        ok &= EXPECT(bgfetch_registration_records_available(r));
    }
    CHECK(ok, "/status/404 -> failure, bad-status");

    ok = 1;
    if (r) {
        ok &= EXPECT_ST(response_status_of(r, u.s, &res), BGFETCH_OK);
        if (res) {
            size_t len = 0;
            uint8_t *b;
            ok &= EXPECT_U64(bgfetch_response_status(res), 404);
            ok &= EXPECT(!bgfetch_response_ok(res));
            b = h_read_all(res, &len);
            ok &= EXPECT(b && len == 11 && memcmp(b, "status 404\n", 11) == 0);
            free(b);
        }
        bgfetch_response_free(res);
    } else {
        ok = 0;
    }
    CHECK(ok, "the bad-status record's response is readable: status 404, ok false, body");
    bgfetch_registration_free(r);
}

static void t_bad_status_others_complete(void) {
    int ok = 1;
    h_str a = U("status/500"), b = U("bytes/30000?seed=3&rate=150000"), c = U("bytes/7?seed=4");
    const char *urls[3];
    bgfetch_registration *r;
    urls[0] = a.s;
    urls[1] = b.s;
    urls[2] = c.s;
    r = settle("s500-others", NULL, urls, 3, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_BAD_STATUS, &ok);
    if (r) {
        size_t len = 0;
        uint8_t *body = h_body_of(r, b.s, &len);
        ok &= EXPECT(h_is_pattern(body, len, 30000, 3));
        free(body);
        body = h_body_of(r, c.s, &len);
        ok &= EXPECT(h_is_pattern(body, len, 7, 4));
        free(body);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), strlen("status 500\n") + 30000 + 7);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "after bad-status the other requests still complete and stay readable");
}

static void t_connection_refused(void) {
    int ok = 1;
    uint16_t port = h_closed_port();
    h_str u = S("http://127.0.0.1:%u/x", (unsigned)port);
    const char *urls[1];
    bgfetch_registration *r;
    bgfetch_response *res = (bgfetch_response *)&ok;
    ok &= EXPECT(port != 0);
    urls[0] = u.s;
    r = settle("refused", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    if (r) {
        ok &= EXPECT_STR(bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)), "fetch-error");
        ok &= EXPECT_ST(response_status_of(r, u.s, &res), BGFETCH_E_FETCH_FAILED);
        ok &= EXPECT(res == NULL);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 0);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "connection refused -> fetch-error; record_response -> FETCH_FAILED");
}

static void t_reset_before_headers(void) {
    int ok = 1;
    h_str u = U("bytes/100?reset_before_headers=1");
    const char *urls[1];
    bgfetch_registration *r;
    bgfetch_response *res = NULL;
    urls[0] = u.s;
    r = settle("reset-before-headers", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    if (r) {
        ok &= EXPECT_ST(response_status_of(r, u.s, &res), BGFETCH_E_FETCH_FAILED);
        bgfetch_response_free(res);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "connection reset before the headers -> fetch-error; record_response -> FETCH_FAILED");
}

static void t_fetch_error_others_complete(void) {
    int ok = 1;
    uint16_t port = h_closed_port();
    h_str a = S("http://127.0.0.1:%u/x", (unsigned)port), b = U("bytes/20000?seed=5&rate=100000");
    const char *urls[2];
    bgfetch_registration *r;
    urls[0] = a.s;
    urls[1] = b.s;
    r = settle("refused-others", NULL, urls, 2, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    if (r) {
        size_t len = 0;
        uint8_t *body = h_body_of(r, b.s, &len);
        ok &= EXPECT(h_is_pattern(body, len, 20000, 5));
        free(body);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "after fetch-error the other requests still complete and stay readable");
}

/* progress observer: the largest downloaded value seen */
typedef struct {
    pthread_mutex_t mu;
    uint64_t max_downloaded;
    long calls;
} max_obs;

static void on_progress_max(void *ud, bgfetch_registration *r) {
    max_obs *o = (max_obs *)ud;
    uint64_t d = bgfetch_registration_downloaded(r);
    pthread_mutex_lock(&o->mu);
    if (d > o->max_downloaded) o->max_downloaded = d;
    o->calls++;
    pthread_mutex_unlock(&o->mu);
}

static void t_download_total_exceeded(void) {
    int ok = 1;
    h_str a = U("bytes/400000?seed=6&rate=2000000");
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    const char *urls[1];
    max_obs obs;
    pthread_mutex_init(&obs.mu, NULL);
    obs.max_downloaded = 0;
    obs.calls = 0;
    urls[0] = a.s;
    ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 100000), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "dt-exceeded", urls, 1, o, &r), BGFETCH_OK);
    if (r) {
        bgfetch_response *res = NULL;
        bgfetch_status st;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress_max, &obs, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED);
        ok &= EXPECT_STR(bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)),
                         "download-total-exceeded");
        ok &= EXPECT(bgfetch_registration_downloaded(r) <= 100000);
        /* let the final progress call come in before reading the observer */
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL), BGFETCH_OK);
        pthread_mutex_lock(&obs.mu);
        ok &= EXPECT(obs.max_downloaded <= 100000);
        if (obs.max_downloaded > 100000) h_diag("progress saw downloaded = %" PRIu64, obs.max_downloaded);
        pthread_mutex_unlock(&obs.mu);
        /* the stored body never holds a byte past the total */
        st = response_status_of(r, a.s, &res);
        if (st == BGFETCH_OK && res) {
            ok &= EXPECT(bgfetch_response_body_size(res) <= 100000);
            ok &= EXPECT(!bgfetch_response_complete(res));
        } else {
            ok &= EXPECT(st == BGFETCH_E_ABORTED || st == BGFETCH_E_FETCH_FAILED);
        }
        bgfetch_response_free(res);
        bgfetch_registration_free(r);
    }
    bgfetch_options_free(o);
    pthread_mutex_destroy(&obs.mu);
    CHECK(ok, "download total exceeded -> download-total-exceeded, downloaded never > total");
}

static void t_download_total_exact(void) {
    int ok = 1;
    h_str a = U("bytes/3000?seed=7"), b = U("bytes/2000?seed=8");
    bgfetch_options *o = bgfetch_options_new();
    const char *urls[2];
    bgfetch_registration *r;
    urls[0] = a.s;
    urls[1] = b.s;
    ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 5000), BGFETCH_OK);
    r = settle("dt-exact", o, urls, 2, BGFETCH_RESULT_SUCCESS, BGFETCH_FAILURE_NONE, &ok);
    if (r) {
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 5000);
        ok &= EXPECT_U64(bgfetch_registration_download_total(r), 5000);
        bgfetch_registration_free(r);
    }
    bgfetch_options_free(o);
    CHECK(ok, "downloaded == download_total exactly is a success");
}

static void t_download_total_two_requests(void) {
    int ok = 1;
    h_str a = U("bytes/3000?seed=9"), b = U("bytes/2001?seed=10");
    bgfetch_options *o = bgfetch_options_new();
    const char *urls[2];
    bgfetch_registration *r;
    urls[0] = a.s;
    urls[1] = b.s;
    ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 5000), BGFETCH_OK);
    r = settle("dt-two", o, urls, 2, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED, &ok);
    if (r) {
        ok &= EXPECT(bgfetch_registration_downloaded(r) <= 5000);
        bgfetch_registration_free(r);
    }
    bgfetch_options_free(o);
    CHECK(ok, "one byte over download_total across two requests -> download-total-exceeded");
}

static void t_download_total_stops_others(void) {
    int ok = 1;
    /* the first request exceeds the total at once; the second is slow and must be stopped */
    h_str a = U("bytes/50000?seed=11"), b = U("bytes/2000000?seed=12&rate=100000");
    bgfetch_options *o = bgfetch_options_new();
    const char *urls[2];
    bgfetch_registration *r;
    int64_t t0 = h_now_ms();
    urls[0] = a.s;
    urls[1] = b.s;
    ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 10000), BGFETCH_OK);
    r = settle("dt-stops", o, urls, 2, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED, &ok);
    ok &= EXPECT(h_now_ms() - t0 < 10000);
    if (r) {
        bgfetch_response *res = NULL;
        bgfetch_status st = response_status_of(r, b.s, &res);
        /* the slow record was stopped: aborted, or its body never completes */
        if (st == BGFETCH_OK) {
            ok &= EXPECT_ST(bgfetch_response_wait(res, H_WAIT_MS), BGFETCH_E_ABORTED);
        } else {
            ok &= EXPECT_ST(st, BGFETCH_E_ABORTED);
        }
        bgfetch_response_free(res);
        ok &= EXPECT(bgfetch_registration_downloaded(r) <= 10000);
        bgfetch_registration_free(r);
    }
    bgfetch_options_free(o);
    CHECK(ok, "download-total-exceeded stops the remaining transfers (their records are aborted)");
}

static void t_quota(void) {
    int ok = 1;
    bgfetch_config *c = h_config("store-quota");
    bgfetch_manager *m;
    ok &= EXPECT_ST(bgfetch_config_set_quota(c, 50000), BGFETCH_OK);
    m = h_open_cfg(c);
    ok &= EXPECT(m != NULL);
    if (m) {
        h_str a = U("bytes/200000?seed=13");
        const char *urls[1];
        bgfetch_registration *r = NULL;
        urls[0] = a.s;
        ok &= EXPECT_ST(bgfetch_fetch_urls(m, "quota", urls, 1, NULL, &r), BGFETCH_OK);
        if (r) {
            ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_FAILURE);
            ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_QUOTA_EXCEEDED);
            ok &= EXPECT_STR(bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)), "quota-exceeded");
            ok &= EXPECT(bgfetch_registration_downloaded(r) <= 50000);
            ok &= EXPECT(bgfetch_manager_used_bytes(m) <= 50000);
            if (bgfetch_manager_used_bytes(m) > 50000)
                h_diag("used_bytes = %" PRIu64, bgfetch_manager_used_bytes(m));
            bgfetch_registration_free(r);
        }
        CHECK(ok, "storage quota exceeded -> quota-exceeded, store stays within the quota");

        ok = 1;
        {
            bgfetch_options *o = bgfetch_options_new();
            h_str b = U("bytes/10");
            bgfetch_registration *out = (bgfetch_registration *)&ok, *g = NULL;
            urls[0] = b.s;
            ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 50001), BGFETCH_OK);
            ok &= EXPECT_ST(bgfetch_fetch_urls(m, "quota-total", urls, 1, o, &out), BGFETCH_E_QUOTA_EXCEEDED);
            ok &= EXPECT(out == NULL);
            ok &= EXPECT_ST(bgfetch_get(m, "quota-total", &g), BGFETCH_OK);
            ok &= EXPECT(g == NULL);
            bgfetch_registration_free(g);
            bgfetch_options_free(o);
        }
        CHECK(ok, "a download_total above the quota at fetch -> QUOTA_EXCEEDED, nothing registered");
        bgfetch_manager_close(m);
    } else {
        CHECK(0, "storage quota exceeded -> quota-exceeded, store stays within the quota");
        CHECK(0, "a download_total above the quota at fetch -> QUOTA_EXCEEDED, nothing registered");
    }
}

static void t_redirects(void) {
    static const int codes[] = {301, 302, 303, 307, 308};
    size_t i;
    int ok = 1;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        h_str u = U("redirect?to=%%2Fbytes%%2F100%%3Fseed%%3D%zu&n=3&code=%d", 20 + i, codes[i]);
        h_str final_url = U("bytes/100?seed=%zu", 20 + i);
        const char *urls[1];
        h_str id = S("redirect-%d", codes[i]);
        bgfetch_registration *r;
        urls[0] = u.s;
        r = settle(id.s, NULL, urls, 1, BGFETCH_RESULT_SUCCESS, BGFETCH_FAILURE_NONE, &ok);
        if (r) {
            bgfetch_record *rec = NULL;
            bgfetch_response *res = NULL;
            ok &= EXPECT_ST(bgfetch_registration_match_url(r, u.s, 0, &rec), BGFETCH_OK);
            ok &= EXPECT(rec != NULL);
            if (rec) {
                ok &= EXPECT_STR(bgfetch_record_url(rec), u.s); /* the request keeps its URL */
                ok &= EXPECT_ST(bgfetch_record_response(rec, H_WAIT_MS, &res), BGFETCH_OK);
            }
            if (res) {
                size_t len = 0;
                uint8_t *b;
                ok &= EXPECT_U64(bgfetch_response_status(res), 200);
                ok &= EXPECT_STR(bgfetch_response_url(res), final_url.s);
                b = h_read_all(res, &len);
                ok &= EXPECT(h_is_pattern(b, len, 100, 20 + i));
                free(b);
            }
            ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 100);
            bgfetch_response_free(res);
            bgfetch_record_free(rec);
            bgfetch_registration_free(r);
        }
    }
    CHECK(ok, "redirects (301/302/303/307/308, 3 hops) are followed; the response URL is the final URL");
}

static void t_redirect_loop(void) {
    int ok = 1;
    h_str u = U("redirect-loop");
    const char *urls[1];
    bgfetch_registration *r;
    int64_t t0 = h_now_ms();
    urls[0] = u.s;
    r = settle("redirect-loop", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    if (r) {
        bgfetch_response *res = NULL;
        ok &= EXPECT_ST(response_status_of(r, u.s, &res), BGFETCH_E_FETCH_FAILED);
        bgfetch_response_free(res);
        bgfetch_registration_free(r);
    }
    ok &= EXPECT(h_now_ms() - t0 < 10000);
    CHECK(ok, "a redirect loop -> fetch-error (record_response FETCH_FAILED)");
}

static void t_redirect_limit(void) {
    int ok = 1;
    h_str u20 = U("redirect?to=%%2Fbytes%%2F10&n=20"), u21 = U("redirect?to=%%2Fbytes%%2F10&n=21");
    const char *urls[1];
    bgfetch_registration *r;
    urls[0] = u20.s;
    r = settle("redirect-20", NULL, urls, 1, BGFETCH_RESULT_SUCCESS, BGFETCH_FAILURE_NONE, &ok);
    bgfetch_registration_free(r);
    urls[0] = u21.s;
    r = settle("redirect-21", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    bgfetch_registration_free(r);
    CHECK(ok, "20 redirects are followed, 21 -> fetch-error");
}

static void t_redirect_scheme(void) {
    int ok = 1;
    h_str u = U("redirect-scheme");
    const char *urls[1];
    bgfetch_registration *r;
    urls[0] = u.s;
    r = settle("redirect-scheme", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    bgfetch_registration_free(r);
    CHECK(ok, "a redirect to ftp: -> fetch-error");
}

static void t_truncated(void) {
    int ok = 1;
    h_str u = U("bytes/5000?seed=14&cl_delta=5");
    const char *urls[1];
    bgfetch_registration *r;
    urls[0] = u.s;
    r = settle("truncated", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    if (r) {
        bgfetch_response *res = NULL;
        bgfetch_status st = response_status_of(r, u.s, &res);
        /* responseReady may have resolved with the headers; the body can never complete */
        if (st == BGFETCH_OK) {
            ok &= EXPECT_ST(bgfetch_response_wait(res, H_WAIT_MS), BGFETCH_E_FETCH_FAILED);
            ok &= EXPECT(!bgfetch_response_complete(res));
            ok &= EXPECT(bgfetch_response_save(res, P("truncated.bin").s, -1) != BGFETCH_OK);
            {
                struct stat sb;
                ok &= EXPECT(stat(P("truncated.bin").s, &sb) != 0); /* all or nothing */
            }
        } else {
            ok &= EXPECT_ST(st, BGFETCH_E_FETCH_FAILED);
        }
        bgfetch_response_free(res);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "a truncated body (Content-Length 5 too large) -> fetch-error; body never complete, save writes nothing");
}

static void t_reset_mid_body(void) {
    int ok = 1;
    /* A server that ignores Range and resets at the same byte: the attempt after the first
       (which made progress, so it is not counted) brings no new byte and is final. */
    h_str u = U("bytes/50000?seed=15&noranges=1&reset_at=20000");
    const char *urls[1];
    bgfetch_registration *r;
    urls[0] = u.s;
    r = settle("reset-mid-body", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    bgfetch_registration_free(r);
    CHECK(ok, "a connection reset mid-body (one attempt) -> fetch-error");
}

static void t_bad_chunked(void) {
    int ok = 1;
    h_str u = U("bad-chunked");
    const char *urls[1];
    bgfetch_registration *r;
    urls[0] = u.s;
    r = settle("bad-chunked", NULL, urls, 1, BGFETCH_RESULT_FAILURE, BGFETCH_FAILURE_FETCH_ERROR, &ok);
    bgfetch_registration_free(r);
    CHECK(ok, "invalid chunked framing -> fetch-error");
}

static void t_retry_after_reset(void) {
    int ok = 1;
    bgfetch_config *c = h_config("store-retry");
    bgfetch_manager *m;
    ok &= EXPECT_ST(bgfetch_config_set_retries(c, 3, 10), BGFETCH_OK);
    m = h_open_cfg(c);
    if (m) {
        h_str u = U("bytes/60000?seed=16&reset_at=25000&fail_times=1");
        bgfetch_registration *r = h_fetch(m, "retry", NULL, u.s, NULL);
        ok &= EXPECT(r != NULL);
        if (r) {
            size_t len = 0;
            uint8_t *b;
            ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
            ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 60000);
            b = h_body_of(r, u.s, &len);
            ok &= EXPECT(h_is_pattern(b, len, 60000, 16));
            free(b);
            bgfetch_registration_free(r);
        }
        bgfetch_manager_close(m);
    } else {
        ok = 0;
    }
    CHECK(ok, "with retries, a reset mid-body is retried and the body is byte-exact (downloaded not double-counted)");
}

static void t_timeout_read(void) {
    int ok = 1;
    bgfetch_config *c = h_config("store-read-timeout");
    bgfetch_manager *m;
    ok &= EXPECT_ST(bgfetch_config_set_timeouts(c, 2000, 300), BGFETCH_OK);
    m = h_open_cfg(c);
    if (m) {
        h_str u = U("bytes/100?stall_ms=5000");
        bgfetch_registration *r = h_fetch(m, "read-timeout", NULL, u.s, NULL);
        int64_t t0 = h_now_ms();
        ok &= EXPECT(r != NULL);
        if (r) {
            ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_FETCH_ERROR);
            ok &= EXPECT(h_now_ms() - t0 < 4000);
            bgfetch_registration_free(r);
        }
        bgfetch_manager_close(m);
    } else {
        ok = 0;
    }
    CHECK(ok, "a server that stalls longer than the read timeout -> fetch-error, in time");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    M = h_open("store-failures");
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    t_bad_status();
    t_bad_status_others_complete();
    t_connection_refused();
    t_reset_before_headers();
    t_fetch_error_others_complete();
    t_download_total_exceeded();
    t_download_total_exact();
    t_download_total_two_requests();
    t_download_total_stops_others();
    t_quota();
    t_redirects();
    t_redirect_loop();
    t_redirect_limit();
    t_redirect_scheme();
    t_truncated();
    t_reset_mid_body();
    t_bad_chunked();
    t_retry_after_reset();
    t_timeout_read();
    bgfetch_manager_close(M);
    return h_done();
}
