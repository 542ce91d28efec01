/* test_basics.c - version, status names, last_error, _free(NULL), NULL arguments, bad UTF-8. */
#include "harness.h"

/* a pointer value that no function returns, to see out-pointers being reset */
static int sentinel_storage;
#define SENTINEL ((void *)&sentinel_storage)

static void noop_progress(void *ud, bgfetch_registration *r) {
    (void)ud;
    (void)r;
}
static void noop_event(void *ud, bgfetch_event_type t, bgfetch_registration *r) {
    (void)ud;
    (void)t;
    (void)r;
}

static void t_version(void) {
    int ok = 1;
    const char *v = bgfetch_version();
    h_str want = S("%d.%d.%d", (int)BGFETCH_VERSION_MAJOR, (int)BGFETCH_VERSION_MINOR,
                   (int)BGFETCH_VERSION_PATCH);
    ok &= EXPECT(v != NULL);
    ok &= EXPECT_STR(v, want.s);
    ok &= EXPECT(v == bgfetch_version()); /* static */
    CHECK(ok, "version string equals BGFETCH_VERSION_MAJOR.MINOR.PATCH");
}

static void t_status_names(void) {
    static const struct { bgfetch_status s; unsigned value; const char *name; } tab[] = {
        {BGFETCH_OK, 0, "BGFETCH_OK"},
        {BGFETCH_E_INVALID_ARGUMENT, 1, "BGFETCH_E_INVALID_ARGUMENT"},
        {BGFETCH_E_DUPLICATE_ID, 2, "BGFETCH_E_DUPLICATE_ID"},
        {BGFETCH_E_QUOTA_EXCEEDED, 3, "BGFETCH_E_QUOTA_EXCEEDED"},
        {BGFETCH_E_INVALID_STATE, 4, "BGFETCH_E_INVALID_STATE"},
        {BGFETCH_E_ABORTED, 5, "BGFETCH_E_ABORTED"},
        {BGFETCH_E_FETCH_FAILED, 6, "BGFETCH_E_FETCH_FAILED"},
        {BGFETCH_E_TIMEOUT, 7, "BGFETCH_E_TIMEOUT"},
        {BGFETCH_E_IO, 8, "BGFETCH_E_IO"},
        {BGFETCH_E_CLOSED, 9, "BGFETCH_E_CLOSED"},
        {BGFETCH_E_BUSY, 10, "BGFETCH_E_BUSY"},
        {BGFETCH_E_INTERNAL, 99, "BGFETCH_E_INTERNAL"},
    };
    size_t i;
    int ok = 1;
    for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        ok &= EXPECT_U64(tab[i].s, tab[i].value);
        ok &= EXPECT_STR(bgfetch_status_name(tab[i].s), tab[i].name);
    }
    ok &= EXPECT_STR(bgfetch_status_name(12345), "BGFETCH_E_UNKNOWN");
    CHECK(ok, "status codes have the documented values and names (unknown -> BGFETCH_E_UNKNOWN)");
}

static void t_enum_values_and_strings(void) {
    int ok = 1;
    ok &= EXPECT_U64(BGFETCH_RESULT_NONE, 0);
    ok &= EXPECT_U64(BGFETCH_RESULT_SUCCESS, 1);
    ok &= EXPECT_U64(BGFETCH_RESULT_FAILURE, 2);
    ok &= EXPECT_STR(bgfetch_result_str(BGFETCH_RESULT_NONE), "");
    ok &= EXPECT_STR(bgfetch_result_str(BGFETCH_RESULT_SUCCESS), "success");
    ok &= EXPECT_STR(bgfetch_result_str(BGFETCH_RESULT_FAILURE), "failure");
    ok &= EXPECT_STR(bgfetch_result_str(77), "");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(77), "");
    ok &= EXPECT_U64(BGFETCH_FAILURE_NONE, 0);
    ok &= EXPECT_U64(BGFETCH_FAILURE_ABORTED, 1);
    ok &= EXPECT_U64(BGFETCH_FAILURE_BAD_STATUS, 2);
    ok &= EXPECT_U64(BGFETCH_FAILURE_FETCH_ERROR, 3);
    ok &= EXPECT_U64(BGFETCH_FAILURE_QUOTA_EXCEEDED, 4);
    ok &= EXPECT_U64(BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED, 5);
    ok &= EXPECT_STR(bgfetch_failure_reason_str(BGFETCH_FAILURE_NONE), "");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(BGFETCH_FAILURE_ABORTED), "aborted");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(BGFETCH_FAILURE_BAD_STATUS), "bad-status");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(BGFETCH_FAILURE_FETCH_ERROR), "fetch-error");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(BGFETCH_FAILURE_QUOTA_EXCEEDED), "quota-exceeded");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED),
                     "download-total-exceeded");
    ok &= EXPECT_U64(BGFETCH_EVENT_SUCCESS, 1);
    ok &= EXPECT_U64(BGFETCH_EVENT_FAIL, 2);
    ok &= EXPECT_U64(BGFETCH_EVENT_ABORT, 3);
    ok &= EXPECT_U64(BGFETCH_DISPATCH_THREAD, 0);
    ok &= EXPECT_U64(BGFETCH_DISPATCH_MANUAL, 1);
    ok &= EXPECT_U64(BGFETCH_QUERY_IGNORE_SEARCH, 1);
    ok &= EXPECT_U64(BGFETCH_QUERY_IGNORE_METHOD, 2);
    ok &= EXPECT_U64(BGFETCH_QUERY_IGNORE_VARY, 4);
    CHECK(ok, "result / failure-reason / event / dispatch / query values and strings as documented");
}

static void t_last_error(void) {
    int ok = 1;
    bgfetch_request *r = NULL;
    const char *e;
    ok &= EXPECT_ST(bgfetch_request_set_method(NULL, "GET"), BGFETCH_E_INVALID_ARGUMENT);
    e = bgfetch_last_error();
    ok &= EXPECT(e != NULL && e[0] != '\0');
    if (e && !e[0]) h_diag("last_error is empty after a failure");
    ok &= EXPECT_ST(bgfetch_request_new(U("bytes/1").s, &r), BGFETCH_OK);
    e = bgfetch_last_error();
    ok &= EXPECT_STR(e, "");
    bgfetch_request_free(r);
    CHECK(ok, "last_error is a message after a failure and \"\" after a success");
}

static void *fail_in_thread(void *arg) {
    bgfetch_request *r = NULL;
    const char *e;
    (void)arg;
    if (bgfetch_request_new(NULL, &r) != BGFETCH_E_INVALID_ARGUMENT) return (void *)1;
    e = bgfetch_last_error();
    return (e && e[0]) ? NULL : (void *)1;
}

static void t_last_error_thread_local(void) {
    int ok = 1;
    pthread_t t;
    void *ret = (void *)1;
    bgfetch_request *r = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(U("bytes/1").s, &r), BGFETCH_OK);
    bgfetch_request_free(r);
    pthread_create(&t, NULL, fail_in_thread, NULL);
    pthread_join(t, &ret);
    ok &= EXPECT(ret == NULL);
    /* the other thread's failure does not show up here */
    ok &= EXPECT_STR(bgfetch_last_error(), "");
    CHECK(ok, "last_error is per thread");
}

static void t_free_null(void) {
    bgfetch_config_free(NULL);
    bgfetch_manager_close(NULL);
    bgfetch_request_free(NULL);
    bgfetch_options_free(NULL);
    bgfetch_strings_free(NULL);
    bgfetch_registration_free(NULL);
    bgfetch_string_free(NULL);
    bgfetch_records_free(NULL);
    bgfetch_record_free(NULL);
    bgfetch_response_free(NULL);
    bgfetch_icons_free(NULL);
    CHECK(1, "every _free(NULL) and manager_close(NULL) is a no-op");
}

/* ---------------------------------------------------------------------------------------- */
/* NULL arguments. One settled registration with one record/response is set up first.      */

static bgfetch_manager *M;
static bgfetch_registration *R;
static bgfetch_record *REC;
static bgfetch_response *RES;
static bgfetch_request *REQ;

static int setup_objects(void) {
    bgfetch_status st;
    M = h_open("store-basics");
    if (!M) return 0;
    R = h_fetch(M, "basics", NULL, U("bytes/100?seed=1").s, NULL);
    if (!R) return 0;
    st = bgfetch_registration_wait(R, H_WAIT_MS);
    if (st != BGFETCH_OK) return 0;
    if (bgfetch_request_new(U("bytes/100?seed=1").s, &REQ) != BGFETCH_OK) return 0;
    if (bgfetch_registration_match_url(R, U("bytes/100?seed=1").s, 0, &REC) != BGFETCH_OK || !REC)
        return 0;
    if (bgfetch_record_response(REC, H_WAIT_MS, &RES) != BGFETCH_OK || !RES) return 0;
    return 1;
}

static void t_null_config(void) {
    int ok = 1;
    bgfetch_config *c = bgfetch_config_new(P("store-null-cfg").s);
    ok &= EXPECT(bgfetch_config_new(NULL) == NULL);
    ok &= EXPECT(c != NULL);
    ok &= EXPECT_ST(bgfetch_config_set_base_url(NULL, h_base), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_base_url(c, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_max_connections(NULL, 2), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_max_connections_per_fetch(NULL, 2), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_quota(NULL, 1000), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_user_agent(NULL, "ua"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_user_agent(c, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_timeouts(NULL, 1, 1), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_retries(NULL, 1, 0), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_progress_interval(NULL, 100), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_ca_file(NULL, "/nonexistent.pem"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_ca_file(c, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_dispatch(NULL, BGFETCH_DISPATCH_MANUAL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_allow_https_to_http(NULL, true), BGFETCH_E_INVALID_ARGUMENT);
    bgfetch_config_free(c);
    CHECK(ok, "NULL arguments: bgfetch_config_*");
}

static void t_null_manager(void) {
    int ok = 1;
    bgfetch_manager *m = (bgfetch_manager *)SENTINEL;
    bgfetch_config *c = h_config("store-null-mgr");
    uint32_t n = 12345;
    ok &= EXPECT_ST(bgfetch_manager_open(NULL, &m), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(m == NULL);
    ok &= EXPECT_ST(bgfetch_manager_open(c, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(bgfetch_manager_event_fd(NULL) < 0);
    ok &= EXPECT_ST(bgfetch_manager_dispatch(NULL, 0, &n), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(n, 0);
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(NULL, noop_event, NULL, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(bgfetch_manager_problem_count(NULL), 0);
    ok &= EXPECT(bgfetch_manager_problem(NULL, 0) == NULL);
    ok &= EXPECT_U64(bgfetch_manager_used_bytes(NULL), 0);
    bgfetch_config_free(c);
    CHECK(ok, "NULL arguments: bgfetch_manager_*");
}

static void t_null_request(void) {
    int ok = 1;
    bgfetch_request *r = (bgfetch_request *)SENTINEL;
    static const uint8_t body[3] = {1, 2, 3};
    ok &= EXPECT_ST(bgfetch_request_new(NULL, &r), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(r == NULL);
    ok &= EXPECT_ST(bgfetch_request_new(U("bytes/1").s, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_new(U("bytes/1").s, &r), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(NULL, "GET"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_set_method(r, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_add_header(NULL, "X-A", "b"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_add_header(r, NULL, "b"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_add_header(r, "X-A", NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_set_body(NULL, body, 3), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_set_body(r, NULL, 3), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_set_integrity(NULL, "sha256-AAAA"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_set_integrity(r, NULL), BGFETCH_E_INVALID_ARGUMENT);
    bgfetch_request_free(r);
    CHECK(ok, "NULL arguments: bgfetch_request_*");
}

static void t_null_options(void) {
    int ok = 1;
    bgfetch_options *o = bgfetch_options_new();
    ok &= EXPECT(o != NULL);
    ok &= EXPECT_ST(bgfetch_options_set_title(NULL, "t"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_set_title(o, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(NULL, "/i.png", NULL, NULL, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, NULL, "1x1", "image/png", "l"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "/i.png", NULL, NULL, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_download_total(NULL, 1), BGFETCH_E_INVALID_ARGUMENT);
    bgfetch_options_free(o);
    CHECK(ok, "NULL arguments: bgfetch_options_* (icon sizes/type/label may be NULL)");
}

static void t_null_fetch(void) {
    int ok = 1;
    bgfetch_registration *out = (bgfetch_registration *)SENTINEL;
    bgfetch_strings *before = NULL, *after = NULL;
    h_str u = U("bytes/10?seed=2");
    const bgfetch_request *reqs[2];
    const char *urls[2];
    bgfetch_request *r = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(u.s, &r), BGFETCH_OK);
    reqs[0] = r;
    reqs[1] = NULL;
    urls[0] = u.s;
    urls[1] = NULL;
    ok &= EXPECT_ST(bgfetch_get_ids(M, &before), BGFETCH_OK);

    ok &= EXPECT_ST(bgfetch_fetch(NULL, "n1", reqs, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch(M, NULL, reqs, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch(M, "n2", NULL, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch(M, "n3", reqs, 2, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT_ST(bgfetch_fetch(M, "n4", reqs, 1, NULL, NULL), BGFETCH_E_INVALID_ARGUMENT);

    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(NULL, "n5", urls, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, NULL, urls, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "n6", NULL, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "n7", urls, 2, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "n8", urls, 1, NULL, NULL), BGFETCH_E_INVALID_ARGUMENT);

    ok &= EXPECT_ST(bgfetch_get_ids(M, &after), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_strings_len(after), bgfetch_strings_len(before));
    ok &= EXPECT(!h_strings_contains(after, "n4") && !h_strings_contains(after, "n8"));
    bgfetch_strings_free(before);
    bgfetch_strings_free(after);
    bgfetch_request_free(r);
    CHECK(ok, "NULL arguments: bgfetch_fetch / bgfetch_fetch_urls register nothing");
}

static void t_null_get(void) {
    int ok = 1;
    bgfetch_registration *out = (bgfetch_registration *)SENTINEL;
    bgfetch_strings *s = (bgfetch_strings *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_get(NULL, "basics", &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_get(M, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT_ST(bgfetch_get(M, "basics", NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_get_ids(NULL, &s), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(s == NULL);
    ok &= EXPECT_ST(bgfetch_get_ids(M, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(bgfetch_strings_len(NULL), 0);
    ok &= EXPECT(bgfetch_strings_get(NULL, 0) == NULL);
    CHECK(ok, "NULL arguments: bgfetch_get / bgfetch_get_ids / bgfetch_strings_*");
}

static void t_strings_out_of_range(void) {
    int ok = 1;
    bgfetch_strings *s = NULL;
    ok &= EXPECT_ST(bgfetch_get_ids(M, &s), BGFETCH_OK);
    ok &= EXPECT(bgfetch_strings_get(s, bgfetch_strings_len(s)) == NULL);
    ok &= EXPECT(bgfetch_strings_get(s, (size_t)-1) == NULL);
    bgfetch_strings_free(s);
    CHECK(ok, "bgfetch_strings_get out of range is NULL");
}

static void t_null_registration(void) {
    int ok = 1;
    bool aborted = true;
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_icons *ic = (bgfetch_icons *)SENTINEL;
    ok &= EXPECT(bgfetch_registration_id(NULL) == NULL);
    ok &= EXPECT_U64(bgfetch_registration_upload_total(NULL), 0);
    ok &= EXPECT_U64(bgfetch_registration_uploaded(NULL), 0);
    ok &= EXPECT_U64(bgfetch_registration_download_total(NULL), 0);
    ok &= EXPECT_U64(bgfetch_registration_downloaded(NULL), 0);
    ok &= EXPECT_U64(bgfetch_registration_result(NULL), BGFETCH_RESULT_NONE);
    ok &= EXPECT_U64(bgfetch_registration_failure_reason(NULL), BGFETCH_FAILURE_NONE);
    ok &= EXPECT(!bgfetch_registration_records_available(NULL));
    ok &= EXPECT(bgfetch_registration_title(NULL) == NULL);
    ok &= EXPECT_ST(bgfetch_registration_update_ui(NULL, o), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_registration_update_ui(R, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_registration_abort(NULL, &aborted), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(aborted == false);
    ok &= EXPECT_ST(bgfetch_registration_wait(NULL, 0), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(NULL, noop_progress, NULL, NULL),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_registration_release(NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_registration_icons(NULL, &ic), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(ic == NULL);
    ok &= EXPECT_ST(bgfetch_registration_icons(R, NULL), BGFETCH_E_INVALID_ARGUMENT);
    bgfetch_options_free(o);
    CHECK(ok, "NULL arguments: bgfetch_registration_*");
}

static void t_optional_out_pointers(void) {
    int ok = 1;
    bgfetch_icons *ic = NULL;
    /* documented as optional: abort's out_aborted, icons_get's out-pointers */
    ok &= EXPECT_ST(bgfetch_registration_abort(R, NULL), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_icons(R, &ic), BGFETCH_OK);
    bgfetch_icons_free(ic);
    CHECK(ok, "documented optional out-pointers may be NULL (abort's out_aborted)");
}

static void t_null_match(void) {
    int ok = 1;
    bgfetch_record *rec = (bgfetch_record *)SENTINEL;
    bgfetch_records *rs = (bgfetch_records *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_registration_match(NULL, REQ, 0, &rec), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(rec == NULL);
    rec = (bgfetch_record *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_registration_match(R, NULL, 0, &rec), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(rec == NULL);
    ok &= EXPECT_ST(bgfetch_registration_match(R, REQ, 0, NULL), BGFETCH_E_INVALID_ARGUMENT);
    rec = (bgfetch_record *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_registration_match_url(NULL, U("bytes/100?seed=1").s, 0, &rec),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(rec == NULL);
    rec = (bgfetch_record *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_registration_match_url(R, NULL, 0, &rec), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(rec == NULL);
    ok &= EXPECT_ST(bgfetch_registration_match_url(R, U("bytes/100?seed=1").s, 0, NULL),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_registration_match_all(NULL, NULL, 0, &rs), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(rs == NULL);
    ok &= EXPECT_ST(bgfetch_registration_match_all(R, REQ, 0, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(bgfetch_records_len(NULL), 0);
    ok &= EXPECT(bgfetch_records_get(NULL, 0) == NULL);
    CHECK(ok, "NULL arguments: bgfetch_registration_match* / bgfetch_records_*");
}

static void t_null_record(void) {
    int ok = 1;
    const char *n = (const char *)SENTINEL, *v = (const char *)SENTINEL;
    bgfetch_response *res = (bgfetch_response *)SENTINEL;
    ok &= EXPECT(bgfetch_record_url(NULL) == NULL);
    ok &= EXPECT(bgfetch_record_method(NULL) == NULL);
    ok &= EXPECT_U64(bgfetch_record_header_count(NULL), 0);
    ok &= EXPECT_ST(bgfetch_record_header_at(NULL, 0, &n, &v), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(n == NULL && v == NULL);
    ok &= EXPECT_ST(bgfetch_record_response(NULL, 0, &res), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(res == NULL);
    ok &= EXPECT_ST(bgfetch_record_response(REC, 0, NULL), BGFETCH_E_INVALID_ARGUMENT);
    /* out of range index */
    n = (const char *)SENTINEL;
    v = (const char *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_record_header_at(REC, bgfetch_record_header_count(REC) + 5, &n, &v),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(n == NULL && v == NULL);
    CHECK(ok, "NULL arguments: bgfetch_record_* (and header_at out of range)");
}

static void t_null_response(void) {
    int ok = 1;
    const char *n = (const char *)SENTINEL, *v = (const char *)SENTINEL;
    uint8_t buf[16];
    size_t got = 777;
    ok &= EXPECT_U64(bgfetch_response_status(NULL), 0);
    ok &= EXPECT(!bgfetch_response_ok(NULL));
    ok &= EXPECT(bgfetch_response_url(NULL) == NULL);
    ok &= EXPECT(bgfetch_response_header(NULL, "content-type") == NULL);
    ok &= EXPECT(bgfetch_response_header(RES, NULL) == NULL);
    ok &= EXPECT_U64(bgfetch_response_header_count(NULL), 0);
    ok &= EXPECT_ST(bgfetch_response_header_at(NULL, 0, &n, &v), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(n == NULL && v == NULL);
    ok &= EXPECT(!bgfetch_response_complete(NULL));
    ok &= EXPECT_ST(bgfetch_response_wait(NULL, 0), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(bgfetch_response_body_size(NULL), 0);
    ok &= EXPECT(bgfetch_response_body_path(NULL) == NULL);
    ok &= EXPECT_ST(bgfetch_response_read(NULL, 0, buf, sizeof buf, -1, &got), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(got, 0);
    got = 777;
    ok &= EXPECT_ST(bgfetch_response_read(RES, 0, NULL, sizeof buf, -1, &got), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_U64(got, 0);
    ok &= EXPECT_ST(bgfetch_response_read(RES, 0, buf, sizeof buf, -1, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_response_save(NULL, P("saved-null").s, -1), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_response_save(RES, NULL, -1), BGFETCH_E_INVALID_ARGUMENT);
    /* out of range header index */
    n = (const char *)SENTINEL;
    v = (const char *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_response_header_at(RES, bgfetch_response_header_count(RES), &n, &v),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(n == NULL && v == NULL);
    CHECK(ok, "NULL arguments: bgfetch_response_* (and header_at out of range)");
}

static void t_null_icons(void) {
    int ok = 1;
    const char *a = (const char *)SENTINEL, *b = (const char *)SENTINEL,
               *c = (const char *)SENTINEL, *d = (const char *)SENTINEL;
    bgfetch_icons *ic = NULL;
    ok &= EXPECT_U64(bgfetch_icons_len(NULL), 0);
    ok &= EXPECT_ST(bgfetch_icons_get(NULL, 0, &a, &b, &c, &d), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(a == NULL && b == NULL && c == NULL && d == NULL);
    ok &= EXPECT_ST(bgfetch_registration_icons(R, &ic), BGFETCH_OK);
    a = b = c = d = (const char *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_icons_get(ic, bgfetch_icons_len(ic), &a, &b, &c, &d),
                    BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(a == NULL && b == NULL && c == NULL && d == NULL);
    bgfetch_icons_free(ic);
    CHECK(ok, "NULL arguments: bgfetch_icons_* (and get out of range)");
}

static void t_bad_utf8(void) {
    int ok = 1;
    static const char bad[] = {'\xff', '\xfe', 'x', 0};
    static const char bad_url[] = {'h', 't', 't', 'p', ':', '/', '/', 'a', '/', '\xc3', '(', 0};
    static const char overlong[] = {'\xc0', '\xaf', 0}; /* overlong '/' */
    static const char surrogate[] = {'\xed', '\xa0', '\x80', 0}; /* UTF-16 surrogate */
    bgfetch_request *r = NULL, *r2 = (bgfetch_request *)SENTINEL;
    bgfetch_registration *out = (bgfetch_registration *)SENTINEL;
    bgfetch_record *rec = (bgfetch_record *)SENTINEL;
    bgfetch_config *c = bgfetch_config_new(P("store-utf8").s);
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_strings *before = NULL, *after = NULL;
    h_str u = U("bytes/10");
    const char *urls[1];

    ok &= EXPECT_ST(bgfetch_get_ids(M, &before), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_new(bad_url, &r2), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(r2 == NULL);
    ok &= EXPECT_ST(bgfetch_request_new(u.s, &r), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_set_method(r, bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_add_header(r, bad, "v"), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_add_header(r, "X-Name", bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_request_set_integrity(r, bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_base_url(c, bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_user_agent(c, bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_config_set_ca_file(c, bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_set_title(o, bad), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, bad, NULL, NULL, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "/i.png", bad, NULL, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "/i.png", NULL, bad, NULL), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "/i.png", NULL, NULL, bad), BGFETCH_E_INVALID_ARGUMENT);
    {
        const bgfetch_request *reqs[1];
        reqs[0] = r;
        ok &= EXPECT_ST(bgfetch_fetch(M, bad, reqs, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(out == NULL);
        out = (bgfetch_registration *)SENTINEL;
        ok &= EXPECT_ST(bgfetch_fetch(M, overlong, reqs, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(out == NULL);
        out = (bgfetch_registration *)SENTINEL;
        ok &= EXPECT_ST(bgfetch_fetch(M, surrogate, reqs, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
        ok &= EXPECT(out == NULL);
    }
    urls[0] = bad_url;
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(M, "utf8-url", urls, 1, NULL, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)SENTINEL;
    ok &= EXPECT_ST(bgfetch_get(M, bad, &out), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(out == NULL);
    ok &= EXPECT_ST(bgfetch_registration_match_url(R, bad_url, 0, &rec), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(rec == NULL);
    ok &= EXPECT(bgfetch_response_header(RES, bad) == NULL);
    ok &= EXPECT_ST(bgfetch_response_save(RES, bad, -1), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(bgfetch_config_new(bad) == NULL);

    ok &= EXPECT_ST(bgfetch_get_ids(M, &after), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_strings_len(after), bgfetch_strings_len(before));
    bgfetch_strings_free(before);
    bgfetch_strings_free(after);
    bgfetch_request_free(r);
    bgfetch_config_free(c);
    bgfetch_options_free(o);
    CHECK(ok, "invalid UTF-8 strings are refused with INVALID_ARGUMENT");
}

static void t_dispatch_in_thread_mode(void) {
    int ok = 1;
    uint32_t n = 99;
    ok &= EXPECT(bgfetch_manager_event_fd(M) == -1);
    ok &= EXPECT_ST(bgfetch_manager_dispatch(M, 0, &n), BGFETCH_E_INVALID_STATE);
    ok &= EXPECT_U64(n, 0);
    CHECK(ok, "THREAD mode: event_fd is -1 and dispatch is INVALID_STATE");
}

static void t_problem_out_of_range(void) {
    int ok = 1;
    ok &= EXPECT_U64(bgfetch_manager_problem_count(M), 0);
    ok &= EXPECT(bgfetch_manager_problem(M, bgfetch_manager_problem_count(M)) == NULL);
    CHECK(ok, "a fresh store has no problems; problem(i) out of range is NULL");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    t_version();
    t_status_names();
    t_enum_values_and_strings();
    t_last_error();
    t_last_error_thread_local();
    t_free_null();
    t_null_config();
    t_null_manager();
    t_null_request();
    t_null_options();
    if (!CHECK(setup_objects(), "setup: one settled fetch with a record and a response")) {
        h_diag("last_error: %s", bgfetch_last_error());
        return h_done();
    }
    t_null_fetch();
    t_null_get();
    t_strings_out_of_range();
    t_null_registration();
    t_optional_out_pointers();
    t_null_match();
    t_null_record();
    t_null_response();
    t_null_icons();
    t_bad_utf8();
    t_dispatch_in_thread_mode();
    t_problem_out_of_range();
    bgfetch_response_free(RES);
    bgfetch_record_free(REC);
    bgfetch_request_free(REQ);
    bgfetch_registration_free(R);
    bgfetch_manager_close(M);
    return h_done();
}
