/* test_fetch.c - fetch / get / getIds / records / matching / validation / ids / title and icons */
#include "harness.h"

static bgfetch_manager *M;

/* three bodies of different sizes and seeds; 70000 > 65536 exercises the i/65536 term */
static const size_t SIZES[3] = {1000, 20000, 70000};
static const unsigned SEEDS[3] = {1, 2, 3};
static h_str URLS[3];
static bgfetch_registration *R3; /* the fetch of URLS */

static void t_fetch_three(void) {
    int ok = 1;
    const bgfetch_request *reqs[3];
    bgfetch_request *rq[3] = {NULL, NULL, NULL};
    bgfetch_status st;
    int i;
    for (i = 0; i < 3; i++) {
        URLS[i] = U("bytes/%zu?seed=%u", SIZES[i], SEEDS[i]);
        ok &= EXPECT_ST(bgfetch_request_new(URLS[i].s, &rq[i]), BGFETCH_OK);
        reqs[i] = rq[i];
    }
    st = bgfetch_fetch(M, "three", reqs, 3, NULL, &R3);
    ok &= EXPECT_ST(st, BGFETCH_OK);
    ok &= EXPECT(R3 != NULL);
    ok &= EXPECT_STR(bgfetch_last_error(), "");
    for (i = 0; i < 3; i++) bgfetch_request_free(rq[i]); /* inputs are copied */
    if (R3) {
        ok &= EXPECT_STR(bgfetch_registration_id(R3), "three");
        ok &= EXPECT_U64(bgfetch_registration_download_total(R3), 0);
        ok &= EXPECT_U64(bgfetch_registration_upload_total(R3), 0);
        ok &= EXPECT(bgfetch_registration_records_available(R3));
    }
    CHECK(ok, "fetch of three /bytes requests returns a registration with the id");
}

static void t_wait_success(void) {
    int ok = 1;
    if (!R3) {
        CHECK(0, "wait -> success, downloaded == sum of sizes");
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(R3, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(R3), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(R3), BGFETCH_FAILURE_NONE);
    ok &= EXPECT_STR(bgfetch_result_str(bgfetch_registration_result(R3)), "success");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(bgfetch_registration_failure_reason(R3)), "");
    ok &= EXPECT_U64(bgfetch_registration_downloaded(R3), SIZES[0] + SIZES[1] + SIZES[2]);
    ok &= EXPECT(bgfetch_registration_records_available(R3));
    /* waiting again on a settled fetch returns at once */
    ok &= EXPECT_ST(bgfetch_registration_wait(R3, 0), BGFETCH_OK);
    CHECK(ok, "wait -> success, downloaded == sum of sizes");
}

static void t_bodies_via_read(void) {
    int ok = 1, i;
    for (i = 0; i < 3 && R3; i++) {
        size_t len = 0;
        uint8_t *b = h_body_of(R3, URLS[i].s, &len);
        ok &= EXPECT(h_is_pattern(b, len, SIZES[i], SEEDS[i]));
        free(b);
    }
    CHECK(ok && R3, "bodies are byte-exact via bgfetch_response_read");
}

static void t_response_fields(void) {
    int ok = 1;
    bgfetch_response *res = R3 ? h_response_of(R3, URLS[1].s) : NULL;
    ok &= EXPECT(res != NULL);
    if (res) {
        size_t i, n;
        int saw_ct = 0;
        h_str cl = S("%zu", SIZES[1]);
        ok &= EXPECT_U64(bgfetch_response_status(res), 200);
        ok &= EXPECT(bgfetch_response_ok(res));
        ok &= EXPECT_STR(bgfetch_response_url(res), URLS[1].s);
        ok &= EXPECT_STR(bgfetch_response_header(res, "content-type"), "application/octet-stream");
        ok &= EXPECT_STR(bgfetch_response_header(res, "CONTENT-TYPE"), "application/octet-stream");
        ok &= EXPECT_STR(bgfetch_response_header(res, "Content-Length"), cl.s);
        ok &= EXPECT_STR(bgfetch_response_header(res, "ETag"), "\"20000-2\"");
        ok &= EXPECT(bgfetch_response_header(res, "X-Not-There") == NULL);
        n = bgfetch_response_header_count(res);
        ok &= EXPECT(n >= 3);
        for (i = 0; i < n; i++) {
            const char *hn = NULL, *hv = NULL;
            ok &= EXPECT_ST(bgfetch_response_header_at(res, i, &hn, &hv), BGFETCH_OK);
            ok &= EXPECT(hn != NULL && hv != NULL);
            if (hn && hv && strcasecmp(hn, "content-type") == 0 &&
                strcmp(hv, "application/octet-stream") == 0)
                saw_ct = 1;
        }
        ok &= EXPECT(saw_ct);
        ok &= EXPECT(bgfetch_response_complete(res));
        ok &= EXPECT_ST(bgfetch_response_wait(res, 0), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_response_body_size(res), SIZES[1]);
        bgfetch_response_free(res);
    }
    CHECK(ok, "response status, ok, url, headers (case-insensitive), complete, body_size");
}

static void t_read_semantics(void) {
    int ok = 1;
    bgfetch_response *res = R3 ? h_response_of(R3, URLS[0].s) : NULL;
    ok &= EXPECT(res != NULL);
    if (res) {
        uint8_t buf[64];
        size_t n = 999;
        ok &= EXPECT_ST(bgfetch_response_read(res, 990, buf, sizeof buf, -1, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 10);
        if (n == 10) ok &= EXPECT(buf[0] == h_pattern_byte(990, 1) && buf[9] == h_pattern_byte(999, 1));
        n = 999;
        ok &= EXPECT_ST(bgfetch_response_read(res, 1000, buf, sizeof buf, -1, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 0);
        n = 999;
        ok &= EXPECT_ST(bgfetch_response_read(res, 5000000, buf, sizeof buf, -1, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 0);
        n = 999;
        ok &= EXPECT_ST(bgfetch_response_read(res, 0, buf, 0, -1, &n), BGFETCH_OK);
        ok &= EXPECT_U64(n, 0);
        bgfetch_response_free(res);
    }
    CHECK(ok, "response_read at an offset, at the end (0 bytes) and with cap 0");
}

static void t_bodies_via_path(void) {
    int ok = 1, i;
    for (i = 0; i < 3 && R3; i++) {
        bgfetch_response *res = h_response_of(R3, URLS[i].s);
        ok &= EXPECT(res != NULL);
        if (res) {
            size_t len = 0;
            const char *path = bgfetch_response_body_path(res);
            uint8_t *b;
            ok &= EXPECT(path != NULL && path[0] == '/');
            b = h_read_file(path, &len);
            ok &= EXPECT(h_is_pattern(b, len, SIZES[i], SEEDS[i]));
            free(b);
            bgfetch_response_free(res);
        }
    }
    CHECK(ok && R3, "bodies are byte-exact via body_path");
}

static void t_bodies_via_save(void) {
    int ok = 1, i;
    for (i = 0; i < 3 && R3; i++) {
        bgfetch_response *res = h_response_of(R3, URLS[i].s);
        ok &= EXPECT(res != NULL);
        if (res) {
            size_t len = 0;
            h_str dest = P("saved-%d.bin", i);
            uint8_t *b;
            ok &= EXPECT_ST(bgfetch_response_save(res, dest.s, -1), BGFETCH_OK);
            b = h_read_file(dest.s, &len);
            ok &= EXPECT(h_is_pattern(b, len, SIZES[i], SEEDS[i]));
            free(b);
            /* saving again over an existing file replaces it */
            ok &= EXPECT_ST(bgfetch_response_save(res, dest.s, -1), BGFETCH_OK);
            b = h_read_file(dest.s, &len);
            ok &= EXPECT(h_is_pattern(b, len, SIZES[i], SEEDS[i]));
            free(b);
            bgfetch_response_free(res);
        }
    }
    CHECK(ok && R3, "bodies are byte-exact via save (also over an existing file)");
}

static void t_save_bad_dest(void) {
    int ok = 1;
    bgfetch_response *res = R3 ? h_response_of(R3, URLS[0].s) : NULL;
    if (res) {
        bgfetch_status st = bgfetch_response_save(res, P("no-such-dir/sub/x.bin").s, -1);
        ok &= EXPECT(st != BGFETCH_OK);
        if (st != BGFETCH_OK) ok &= EXPECT(bgfetch_last_error()[0] != '\0');
        bgfetch_response_free(res);
    } else {
        ok = 0;
    }
    CHECK(ok, "save into a missing directory fails with a message");
}

static void t_match_url_record(void) {
    int ok = 1;
    bgfetch_record *rec = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match_url(R3, URLS[2].s, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec != NULL);
    if (rec) {
        ok &= EXPECT_STR(bgfetch_record_url(rec), URLS[2].s);
        ok &= EXPECT_STR(bgfetch_record_method(rec), "GET");
        bgfetch_record_free(rec);
    }
    rec = (bgfetch_record *)&rec;
    ok &= EXPECT_ST(bgfetch_registration_match_url(R3, U("bytes/5?seed=9").s, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    CHECK(ok, "match_url finds the record (url, method GET) and returns NULL when none matches");
}

static void t_match_relative_url(void) {
    int ok = 1;
    bgfetch_record *rec = NULL;
    /* the manager has a base URL: a relative query URL is resolved against it */
    ok &= EXPECT_ST(bgfetch_registration_match_url(R3, "bytes/1000?seed=1", 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec != NULL);
    if (rec) ok &= EXPECT_STR(bgfetch_record_url(rec), URLS[0].s);
    bgfetch_record_free(rec);
    CHECK(ok, "match_url resolves a relative URL against the base URL");
}

static void t_match_all(void) {
    int ok = 1, i;
    bgfetch_records *rs = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match_all(R3, NULL, 0, &rs), BGFETCH_OK);
    ok &= EXPECT(rs != NULL);
    ok &= EXPECT_U64(bgfetch_records_len(rs), 3);
    for (i = 0; i < 3 && rs && bgfetch_records_len(rs) == 3; i++) {
        const bgfetch_record *rec = bgfetch_records_get(rs, (size_t)i);
        ok &= EXPECT(rec != NULL);
        if (rec) ok &= EXPECT_STR(bgfetch_record_url(rec), URLS[i].s); /* request order */
    }
    ok &= EXPECT(bgfetch_records_get(rs, 3) == NULL);
    bgfetch_records_free(rs);
    CHECK(ok, "match_all(NULL) returns every record in request order");
}

static void t_match_all_with_request(void) {
    int ok = 1;
    bgfetch_records *rs = NULL;
    bgfetch_request *q = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(URLS[1].s, &q), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_all(R3, q, 0, &rs), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_records_len(rs), 1);
    if (bgfetch_records_len(rs) == 1) ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 0)), URLS[1].s);
    bgfetch_records_free(rs);
    /* the same with bgfetch_registration_match */
    {
        bgfetch_record *rec = NULL;
        bgfetch_response *res = NULL;
        ok &= EXPECT_ST(bgfetch_registration_match(R3, q, 0, &rec), BGFETCH_OK);
        ok &= EXPECT(rec != NULL);
        if (rec) {
            ok &= EXPECT_STR(bgfetch_record_url(rec), URLS[1].s);
            ok &= EXPECT_ST(bgfetch_record_response(rec, H_WAIT_MS, &res), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_response_status(res), 200);
        }
        bgfetch_response_free(res);
        bgfetch_record_free(rec);
    }
    bgfetch_request_free(q);
    CHECK(ok, "match_all / match with a request return just that record");
}

static void t_query_flags(void) {
    int ok = 1;
    bgfetch_registration *r = h_fetch(M, "flags", NULL, U("bytes/100?seed=4").s,
                                      U("bytes/101?seed=5&vary=X-Test").s, NULL);
    bgfetch_record *rec = NULL;
    bgfetch_records *rs = NULL;
    bgfetch_request *post = NULL, *withhdr = NULL;
    ok &= EXPECT(r != NULL);
    if (!r) {
        CHECK(0, "query flags");
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);

    /* ignoreSearch */
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("bytes/100").s, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("bytes/100?other=1").s, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("bytes/100").s, BGFETCH_QUERY_IGNORE_SEARCH, &rec),
                    BGFETCH_OK);
    ok &= EXPECT(rec != NULL);
    if (rec) ok &= EXPECT_STR(bgfetch_record_url(rec), U("bytes/100?seed=4").s);
    bgfetch_record_free(rec);
    rec = NULL;
    CHECK(ok, "query flag IGNORE_SEARCH: the query string matters unless set");

    /* fragment ignored */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("bytes/100?seed=4#part").s, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec != NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    CHECK(ok, "matching ignores the URL fragment");

    /* ignoreMethod */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_request_new(U("bytes/100?seed=4").s, &post), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(post, "POST"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match(r, post, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match(r, post, BGFETCH_QUERY_IGNORE_METHOD, &rec), BGFETCH_OK);
    ok &= EXPECT(rec != NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    CHECK(ok, "query flag IGNORE_METHOD: a POST query matches a GET record only with it");

    /* ignoreVary: the stored request had no X-Test header; the response says Vary: X-Test */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_request_new(U("bytes/101?seed=5&vary=X-Test").s, &withhdr), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_add_header(withhdr, "X-Test", "a"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match(r, withhdr, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match(r, withhdr, BGFETCH_QUERY_IGNORE_VARY, &rec), BGFETCH_OK);
    ok &= EXPECT(rec != NULL);
    bgfetch_record_free(rec);
    rec = NULL;
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("bytes/101?seed=5&vary=X-Test").s, 0, &rec),
                    BGFETCH_OK);
    ok &= EXPECT(rec != NULL); /* no X-Test on either side: matches */
    bgfetch_record_free(rec);
    rec = NULL;
    CHECK(ok, "query flag IGNORE_VARY: a Vary mismatch matches only with it");

    /* all flags together, match_all */
    ok = 1;
    ok &= EXPECT_ST(bgfetch_registration_match_all(r, post,
                                                   BGFETCH_QUERY_IGNORE_SEARCH | BGFETCH_QUERY_IGNORE_METHOD |
                                                       BGFETCH_QUERY_IGNORE_VARY,
                                                   &rs),
                    BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_records_len(rs), 1);
    bgfetch_records_free(rs);
    CHECK(ok, "match_all honours combined flags");

    bgfetch_request_free(post);
    bgfetch_request_free(withhdr);
    bgfetch_registration_free(r);
}

static void t_get_and_ids(void) {
    int ok = 1;
    bgfetch_registration *g = NULL, *g2 = NULL, *none = (bgfetch_registration *)&ok;
    bgfetch_strings *ids = NULL;
    ok &= EXPECT_ST(bgfetch_get(M, "three", &g), BGFETCH_OK);
    ok &= EXPECT(g != NULL);
    ok &= EXPECT_ST(bgfetch_get(M, "three", &g2), BGFETCH_OK);
    ok &= EXPECT(g2 != NULL && g2 != g);
    if (g && g2) {
        ok &= EXPECT_STR(bgfetch_registration_id(g), "three");
        ok &= EXPECT_U64(bgfetch_registration_result(g), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(g), bgfetch_registration_downloaded(R3));
        ok &= EXPECT_U64(bgfetch_registration_downloaded(g2), bgfetch_registration_downloaded(R3));
    }
    bgfetch_registration_free(g);
    /* g2 still works after g is freed */
    if (g2) ok &= EXPECT_STR(bgfetch_registration_id(g2), "three");
    bgfetch_registration_free(g2);
    ok &= EXPECT_ST(bgfetch_get(M, "no-such-id", &none), BGFETCH_OK);
    ok &= EXPECT(none == NULL);
    ok &= EXPECT_ST(bgfetch_get_ids(M, &ids), BGFETCH_OK);
    ok &= EXPECT(h_strings_contains(ids, "three"));
    ok &= EXPECT(h_strings_contains(ids, "flags"));
    ok &= EXPECT(!h_strings_contains(ids, "no-such-id"));
    bgfetch_strings_free(ids);
    CHECK(ok, "get returns independent handles to one registration; get of an unknown id is NULL; get_ids lists ids");
}

static void t_duplicate_id(void) {
    int ok = 1;
    bgfetch_registration *out = (bgfetch_registration *)&ok, *slow;
    const char *urls[1];
    h_str u = U("bytes/10?seed=1");
    bool aborted = false;
    urls[0] = u.s;
    /* settled but not released: the id is still in use */
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "three", urls, 1, NULL, &out), BGFETCH_E_DUPLICATE_ID);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT(bgfetch_last_error()[0] != '\0');
    /* running */
    slow = h_fetch(M, "dup-running", NULL, U("bytes/100000?rate=20000").s, NULL);
    ok &= EXPECT(slow != NULL);
    out = (bgfetch_registration *)&ok;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "dup-running", urls, 1, NULL, &out), BGFETCH_E_DUPLICATE_ID);
    ok &= EXPECT(out == NULL);
    if (slow) {
        ok &= EXPECT_ST(bgfetch_registration_abort(slow, &aborted), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_wait(slow, H_WAIT_MS), BGFETCH_OK);
        /* the first registration is untouched by the refused duplicate */
        ok &= EXPECT_STR(bgfetch_registration_id(slow), "dup-running");
    }
    bgfetch_registration_free(slow);
    CHECK(ok, "an id in use (running, or settled and not released) -> DUPLICATE_ID");
}

/* fetch_urls(id, url) must be INVALID_ARGUMENT with nothing registered */
static int refused(const char *id, const char *const *urls, size_t n) {
    int ok = 1;
    bgfetch_strings *before = NULL, *after = NULL;
    bgfetch_registration *out = (bgfetch_registration *)&ok, *g = (bgfetch_registration *)&ok;
    size_t i;
    ok &= EXPECT_ST(bgfetch_get_ids(M, &before), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, id, urls, n, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT(bgfetch_last_error()[0] != '\0');
    ok &= EXPECT_ST(bgfetch_get_ids(M, &after), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_strings_len(after), bgfetch_strings_len(before));
    for (i = 0; i < bgfetch_strings_len(before) && i < bgfetch_strings_len(after); i++)
        ok &= EXPECT(h_strings_contains(after, bgfetch_strings_get(before, i)));
    if (id[0]) {
        ok &= EXPECT_ST(bgfetch_get(M, id, &g), BGFETCH_OK);
        ok &= EXPECT(g == NULL);
        bgfetch_registration_free(g == (bgfetch_registration *)&ok ? NULL : g);
    }
    if (!ok) for (i = 0; i < n; i++) h_diag("  url[%zu] = %s", i, urls[i]);
    bgfetch_strings_free(before);
    bgfetch_strings_free(after);
    return ok;
}

static void t_invalid_fetches(void) {
    h_str good = U("bytes/10");
    const char *urls[2] = {NULL, NULL};
    bgfetch_registration *out = (bgfetch_registration *)&urls;
    int ok;
    h_str cred1 = S("http://user:pass@127.0.0.1:%s", h_base + strlen("http://127.0.0.1:"));
    h_str cred2 = S("http://user@127.0.0.1:%s", h_base + strlen("http://127.0.0.1:"));
    h_str cred3 = S("http://:pass@127.0.0.1:%s", h_base + strlen("http://127.0.0.1:"));

    ok = 1;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "empty-list", urls, 0, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    {
        bgfetch_registration *g = NULL;
        ok &= EXPECT_ST(bgfetch_get(M, "empty-list", &g), BGFETCH_OK);
        ok &= EXPECT(g == NULL);
        bgfetch_registration_free(g);
    }
    CHECK(ok, "empty request list -> INVALID_ARGUMENT, nothing registered");

    urls[0] = "http://";
    CHECK(refused("bad-url-1", urls, 1), "bad URL \"http://\" -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "http://[::1";
    CHECK(refused("bad-url-2", urls, 1), "bad URL \"http://[::1\" -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "ftp://127.0.0.1/file";
    CHECK(refused("ftp", urls, 1), "ftp: scheme -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "file:///etc/passwd";
    CHECK(refused("file", urls, 1), "file: scheme -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "data:text/plain,hello";
    CHECK(refused("data", urls, 1), "data: scheme -> INVALID_ARGUMENT, nothing registered");
    urls[0] = cred1.s;
    CHECK(refused("cred-1", urls, 1), "user:password in URL -> INVALID_ARGUMENT, nothing registered");
    urls[0] = cred2.s;
    CHECK(refused("cred-2", urls, 1), "username only in URL -> INVALID_ARGUMENT, nothing registered");
    urls[0] = cred3.s;
    CHECK(refused("cred-3", urls, 1), "password only in URL -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "http://127.0.0.1:25/x";
    CHECK(refused("port-25", urls, 1), "port 25 -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "http://127.0.0.1:587/x";
    CHECK(refused("port-587", urls, 1), "port 587 -> INVALID_ARGUMENT, nothing registered");
    urls[0] = "https://127.0.0.1:6667/x";
    CHECK(refused("port-6667", urls, 1), "port 6667 (bad-port list) -> INVALID_ARGUMENT, nothing registered");
    urls[0] = good.s;
    CHECK(refused("", urls, 1), "empty id -> INVALID_ARGUMENT, nothing registered");
    /* one bad request among good ones: nothing registered */
    urls[0] = good.s;
    urls[1] = "http://127.0.0.1:25/x";
    CHECK(refused("one-bad-of-two", urls, 2), "one bad URL among good ones -> INVALID_ARGUMENT, nothing registered");
}

static void t_invalid_request_fields(void) {
    /* a bad method or header is refused by the builder or by fetch; either way nothing is registered */
    static const char *methods[] = {"CONNECT", "TRACE", "TRACK", "GE T", "", "GET\r\nX: y"};
    static const char *hnames[] = {"X Bad", "X:Bad", "", "X-\r\nInjected"};
    static const char *hvals[] = {"a\r\nX-Injected: 1", "a\nb", "a\rb"};
    size_t i;
    int ok = 1;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        bgfetch_request *r = NULL;
        bgfetch_registration *out = NULL;
        bgfetch_status st;
        h_str id = S("bad-method-%zu", i);
        ok &= EXPECT_ST(bgfetch_request_new(U("bytes/10").s, &r), BGFETCH_OK);
        st = bgfetch_request_set_method(r, methods[i]);
        if (st == BGFETCH_OK) {
            const bgfetch_request *rq[1];
            rq[0] = r;
            st = bgfetch_fetch(M, id.s, rq, 1, NULL, &out);
        }
        if (st != BGFETCH_E_INVALID_ARGUMENT) h_diag("method \"%s\": %s", methods[i], h_stname(st));
        ok &= EXPECT_ST(st, BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(out == NULL);
        bgfetch_registration_free(out);
        bgfetch_request_free(r);
    }
    CHECK(ok, "forbidden or malformed methods (CONNECT, TRACE, TRACK, \"GE T\", \"\", CRLF) -> INVALID_ARGUMENT");

    ok = 1;
    for (i = 0; i < sizeof hnames / sizeof hnames[0] + sizeof hvals / sizeof hvals[0]; i++) {
        bgfetch_request *r = NULL;
        bgfetch_registration *out = NULL;
        bgfetch_status st;
        h_str id = S("bad-header-%zu", i);
        const char *n = i < 4 ? hnames[i] : "X-Good";
        const char *v = i < 4 ? "v" : hvals[i - 4];
        ok &= EXPECT_ST(bgfetch_request_new(U("bytes/10").s, &r), BGFETCH_OK);
        st = bgfetch_request_add_header(r, n, v);
        if (st == BGFETCH_OK) {
            const bgfetch_request *rq[1];
            rq[0] = r;
            st = bgfetch_fetch(M, id.s, rq, 1, NULL, &out);
        }
        if (st != BGFETCH_E_INVALID_ARGUMENT) h_diag("header %zu: %s", i, h_stname(st));
        ok &= EXPECT_ST(st, BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(out == NULL);
        bgfetch_registration_free(out);
        bgfetch_request_free(r);
    }
    CHECK(ok, "bad header names and values with CR/LF -> INVALID_ARGUMENT");
}

static void t_method_uppercased(void) {
    int ok = 1;
    bgfetch_request *q = NULL;
    bgfetch_registration *r = NULL;
    const bgfetch_request *rq[1];
    ok &= EXPECT_ST(bgfetch_request_new(U("echo?m=1").s, &q), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(q, "delete"), BGFETCH_OK);
    rq[0] = q;
    ok &= EXPECT_ST(bgfetch_fetch(M, "method-case", rq, 1, NULL, &r), BGFETCH_OK);
    bgfetch_request_free(q);
    if (r) {
        bgfetch_record *rec = NULL;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("echo?m=1").s, BGFETCH_QUERY_IGNORE_METHOD, &rec),
                        BGFETCH_OK);
        if (rec) ok &= EXPECT_STR(bgfetch_record_method(rec), "DELETE");
        else ok = 0;
        bgfetch_record_free(rec);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "a standard method given in lowercase is uppercased (delete -> DELETE)");
}

static void t_relative_urls(void) {
    int ok = 1;
    const char *urls[3] = {"bytes/10?seed=5", "/bytes/11?seed=6", "./bytes/12?seed=7"};
    bgfetch_registration *r = NULL;
    bgfetch_records *rs = NULL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "relative", urls, 3, NULL, &r), BGFETCH_OK);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 33);
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_records_len(rs), 3);
        if (bgfetch_records_len(rs) == 3) {
            ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 0)), U("bytes/10?seed=5").s);
            ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 1)), U("bytes/11?seed=6").s);
            ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 2)), U("bytes/12?seed=7").s);
        }
        {
            size_t len = 0;
            uint8_t *b = h_body_of(r, U("bytes/11?seed=6").s, &len);
            ok &= EXPECT(h_is_pattern(b, len, 11, 6));
            free(b);
        }
        bgfetch_records_free(rs);
        bgfetch_registration_free(r);
    } else {
        ok = 0;
    }
    CHECK(ok, "relative URLs are resolved against the base URL");
}

static void t_relative_without_base(void) {
    int ok = 1;
    bgfetch_manager *m2 = NULL;
    bgfetch_config *c = bgfetch_config_new(P("store-nobase").s);
    const char *urls[1] = {"bytes/10"};
    bgfetch_registration *out = (bgfetch_registration *)&ok;
    bgfetch_strings *ids = NULL;
    ok &= EXPECT(c != NULL);
    ok &= EXPECT_ST(bgfetch_manager_open(c, &m2), BGFETCH_OK);
    bgfetch_config_free(c);
    if (m2) {
        ok &= EXPECT_ST(bgfetch_fetch_urls(m2, "rel", urls, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(out == NULL);
        ok &= EXPECT_ST(bgfetch_get_ids(m2, &ids), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_strings_len(ids), 0);
        bgfetch_strings_free(ids);
        bgfetch_manager_close(m2);
    }
    CHECK(ok, "a relative URL without a base URL -> INVALID_ARGUMENT, nothing registered");
}

static void t_empty_url_is_base(void) {
    int ok = 1;
    const char *urls[1] = {""};
    bgfetch_registration *r = NULL;
    bgfetch_records *rs = NULL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "empty-url", urls, 1, NULL, &r), BGFETCH_OK);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_records_len(rs), 1);
        if (bgfetch_records_len(rs) == 1) ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 0)), h_base);
        bgfetch_records_free(rs);
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        bgfetch_registration_free(r);
    } else {
        ok = 0;
    }
    CHECK(ok, "an empty URL is the base URL itself");
}

static void t_fetch_urls_absolute(void) {
    int ok = 1;
    h_str a = U("bytes/300?seed=8"), b = U("bytes/301?seed=9&chunked=1");
    bgfetch_registration *r = h_fetch(M, "urls-abs", NULL, a.s, b.s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        size_t len = 0;
        uint8_t *body;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 601);
        body = h_body_of(r, a.s, &len);
        ok &= EXPECT(h_is_pattern(body, len, 300, 8));
        free(body);
        body = h_body_of(r, b.s, &len);
        ok &= EXPECT(h_is_pattern(body, len, 301, 9));
        free(body);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "fetch_urls with absolute URLs (one chunked) -> success, byte-exact");
}

static void t_duplicate_urls(void) {
    int ok = 1;
    h_str a = U("bytes/50?seed=3");
    bgfetch_registration *r = h_fetch(M, "dup-urls", NULL, a.s, a.s, NULL);
    bgfetch_records *rs = NULL;
    ok &= EXPECT(r != NULL);
    if (r) {
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 100);
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_records_len(rs), 2);
        bgfetch_records_free(rs);
        bgfetch_registration_free(r);
    }
    CHECK(ok, "duplicate URLs inside one fetch are allowed (two records)");
}

static int fetch_and_find(const char *id, size_t seed) {
    int ok = 1;
    bgfetch_registration *r = h_fetch(M, id, NULL, U("bytes/20?seed=%zu", seed).s, NULL);
    bgfetch_registration *g = NULL;
    bgfetch_strings *ids = NULL;
    ok &= EXPECT(r != NULL);
    if (!r) return 0;
    ok &= EXPECT_STR(bgfetch_registration_id(r), id);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_ST(bgfetch_get(M, id, &g), BGFETCH_OK);
    ok &= EXPECT(g != NULL);
    if (g) ok &= EXPECT_STR(bgfetch_registration_id(g), id);
    ok &= EXPECT_ST(bgfetch_get_ids(M, &ids), BGFETCH_OK);
    ok &= EXPECT(h_strings_contains(ids, id));
    {
        size_t len = 0;
        uint8_t *b = h_body_of(r, U("bytes/20?seed=%zu", seed).s, &len);
        ok &= EXPECT(h_is_pattern(b, len, 20, seed));
        free(b);
    }
    bgfetch_strings_free(ids);
    bgfetch_registration_free(g);
    bgfetch_registration_free(r);
    return ok;
}

static void t_path_like_ids(void) {
    int ok = 1;
    int before = h_dir_entries(h_tmp);
    ok &= EXPECT(fetch_and_find("a/b/c", 1));
    ok &= EXPECT(fetch_and_find("..", 2));
    ok &= EXPECT(fetch_and_find("../../escape", 3));
    ok &= EXPECT(fetch_and_find("/", 4));
    ok &= EXPECT(fetch_and_find(".", 5));
    ok &= EXPECT(fetch_and_find("a\\b:c*?<>|", 6));
    ok &= EXPECT(fetch_and_find("\xc3\xa9t\xc3\xa9 \xf0\x9f\x8e\xb5", 7)); /* UTF-8 */
    /* nothing was created next to the store (ids never become file names) */
    ok &= EXPECT(h_dir_entries(h_tmp) == before);
    {
        struct stat sb;
        ok &= EXPECT(stat(P("escape").s, &sb) != 0);
        ok &= EXPECT(stat(P("../escape").s, &sb) != 0);
    }
    CHECK(ok, "ids with '/', '..', '.', other path characters and UTF-8 work and create nothing outside the store");
}

static void t_long_ids(void) {
    int ok = 1;
    char *id = (char *)malloc(65537 + 1);
    bgfetch_registration *out = (bgfetch_registration *)&ok;
    const char *urls[1];
    h_str u = U("bytes/10");
    urls[0] = u.s;
    memset(id, 'x', 65536);
    id[0] = 'L';
    id[65536] = 0;
    ok &= EXPECT(fetch_and_find(id, 8));
    CHECK(ok, "a 64 KiB (65536-byte) id works");

    ok = 1;
    memset(id, 'y', 65537);
    id[65537] = 0;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, id, urls, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    CHECK(ok, "a 65537-byte id -> INVALID_ARGUMENT");
    free(id);
}

static void t_title_and_icons(void) {
    int ok = 1;
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_registration *r = NULL;
    bgfetch_icons *ic = NULL;
    char *title;
    const char *urls[1];
    h_str u = U("bytes/10?seed=2");
    urls[0] = u.s;
    ok &= EXPECT(o != NULL);
    ok &= EXPECT_ST(bgfetch_options_set_title(o, "Episode 5: Interesting things."), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "https://example.com/ep-5-icon.png", "300x300", "image/png",
                                             "Episode 5"),
                    BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "https://example.com/small.png", NULL, NULL, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 10), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "titled", urls, 1, o, &r), BGFETCH_OK);
    bgfetch_options_free(o); /* copied */
    if (!r) {
        CHECK(0, "title and icons from the options");
        return;
    }
    title = bgfetch_registration_title(r);
    ok &= EXPECT_STR(title, "Episode 5: Interesting things.");
    bgfetch_string_free(title);
    ok &= EXPECT_U64(bgfetch_registration_download_total(r), 10);
    ok &= EXPECT_ST(bgfetch_registration_icons(r, &ic), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_icons_len(ic), 2);
    if (bgfetch_icons_len(ic) == 2) {
        const char *src = NULL, *sizes = NULL, *type = NULL, *label = NULL;
        ok &= EXPECT_ST(bgfetch_icons_get(ic, 0, &src, &sizes, &type, &label), BGFETCH_OK);
        ok &= EXPECT_STR(src, "https://example.com/ep-5-icon.png");
        ok &= EXPECT_STR(sizes, "300x300");
        ok &= EXPECT_STR(type, "image/png");
        ok &= EXPECT_STR(label, "Episode 5");
        ok &= EXPECT_ST(bgfetch_icons_get(ic, 1, &src, &sizes, &type, &label), BGFETCH_OK);
        ok &= EXPECT_STR(src, "https://example.com/small.png");
        ok &= EXPECT_STR(sizes, "");
        ok &= EXPECT_STR(type, "");
        ok &= EXPECT_STR(label, "");
        /* the out-pointers of icons_get are documented as optional */
        src = NULL;
        ok &= EXPECT_ST(bgfetch_icons_get(ic, 0, &src, NULL, NULL, NULL), BGFETCH_OK);
        ok &= EXPECT_STR(src, "https://example.com/ep-5-icon.png");
    }
    bgfetch_icons_free(ic);
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    bgfetch_registration_free(r);
    CHECK(ok, "title, icons (absent fields \"\") and download_total from the options");
}

static void t_no_options(void) {
    int ok = 1;
    bgfetch_icons *ic = NULL;
    char *title;
    ok &= EXPECT(R3 != NULL);
    if (R3) {
        title = bgfetch_registration_title(R3);
        ok &= EXPECT_STR(title, "");
        bgfetch_string_free(title);
        ok &= EXPECT_ST(bgfetch_registration_icons(R3, &ic), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_icons_len(ic), 0);
        bgfetch_icons_free(ic);
    }
    CHECK(ok, "without options: title \"\", no icons, download_total 0");
}

static void t_request_headers_sent(void) {
    int ok = 1;
    bgfetch_request *q = NULL;
    bgfetch_registration *r = NULL;
    const bgfetch_request *rq[1];
    ok &= EXPECT_ST(bgfetch_request_new(U("echo?h=1").s, &q), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_add_header(q, "X-Custom", "hello world"), BGFETCH_OK);
    rq[0] = q;
    ok &= EXPECT_ST(bgfetch_fetch(M, "headers", rq, 1, NULL, &r), BGFETCH_OK);
    bgfetch_request_free(q);
    if (r) {
        bgfetch_record *rec = NULL;
        size_t len = 0;
        uint8_t *b;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_match_url(r, U("echo?h=1").s, 0, &rec), BGFETCH_OK);
        if (rec) {
            size_t i, n = bgfetch_record_header_count(rec);
            int found = 0;
            for (i = 0; i < n; i++) {
                const char *hn = NULL, *hv = NULL;
                ok &= EXPECT_ST(bgfetch_record_header_at(rec, i, &hn, &hv), BGFETCH_OK);
                if (hn && hv && strcasecmp(hn, "X-Custom") == 0 &&
                    strcmp(hv, "hello world") == 0)
                    found = 1;
            }
            ok &= EXPECT(found);
        } else {
            ok = 0;
        }
        bgfetch_record_free(rec);
        b = h_body_of(r, U("echo?h=1").s, &len);
        ok &= EXPECT(b != NULL);
        if (b) {
            b = (uint8_t *)realloc(b, len + 1);
            b[len] = 0;
            ok &= EXPECT(strstr((char *)b, "\"x-custom\":\"hello world\"") != NULL);
            ok &= EXPECT(strstr((char *)b, "\"method\":\"GET\"") != NULL);
            if (!ok) h_diag("echo body: %s", (char *)b);
        }
        free(b);
        bgfetch_registration_free(r);
    } else {
        ok = 0;
    }
    CHECK(ok, "request headers are kept on the record and sent to the server");
}

static void t_user_agent(void) {
    int ok = 1;
    bgfetch_config *c = h_config("store-ua");
    bgfetch_manager *m2;
    ok &= EXPECT_ST(bgfetch_config_set_user_agent(c, "bgfetch-c-test/1.0"), BGFETCH_OK);
    m2 = h_open_cfg(c);
    ok &= EXPECT(m2 != NULL);
    if (m2) {
        bgfetch_registration *r = h_fetch(m2, "ua", NULL, U("echo?ua=1").s, NULL);
        ok &= EXPECT(r != NULL);
        if (r) {
            size_t len = 0;
            uint8_t *b;
            ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
            b = h_body_of(r, U("echo?ua=1").s, &len);
            if (b) {
                b = (uint8_t *)realloc(b, len + 1);
                b[len] = 0;
                ok &= EXPECT(strstr((char *)b, "\"user-agent\":\"bgfetch-c-test/1.0\"") != NULL);
                if (!ok) h_diag("echo body: %s", (char *)b);
            } else {
                ok = 0;
            }
            free(b);
            bgfetch_registration_free(r);
        }
        bgfetch_manager_close(m2);
    }
    CHECK(ok, "config user agent is sent");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    M = h_open("store-fetch");
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    t_fetch_three();
    t_wait_success();
    t_bodies_via_read();
    t_response_fields();
    t_read_semantics();
    t_bodies_via_path();
    t_bodies_via_save();
    t_save_bad_dest();
    t_match_url_record();
    t_match_relative_url();
    t_match_all();
    t_match_all_with_request();
    t_query_flags();
    t_get_and_ids();
    t_duplicate_id();
    t_invalid_fetches();
    t_invalid_request_fields();
    t_method_uppercased();
    t_relative_urls();
    t_relative_without_base();
    t_empty_url_is_base();
    t_fetch_urls_absolute();
    t_duplicate_urls();
    t_path_like_ids();
    t_long_ids();
    t_title_and_icons();
    t_no_options();
    t_request_headers_sent();
    t_user_agent();
    bgfetch_registration_free(R3);
    bgfetch_manager_close(M);
    return h_done();
}
