/* test_bad_input.c - hostile input through the C ABI: every call gets a status and a message,
 * never a crash.
 *
 * Part 1 (between the GENERATED markers) is written by gen_bad_input.py from include/bgfetch.h:
 * for EVERY function, NULL in each pointer argument in turn (the others valid), and invalid
 * UTF-8 in each string argument. tests/ffi_c.rs checks that every function the header declares
 * is called in this file; rerun the generator after changing the header.
 *
 * Part 2 is written by hand: empty and huge strings, odd ids ('/', '..', control bytes, 64 KiB),
 * header names/values with CR, LF and non-token bytes, methods that are not tokens and the
 * forbidden CONNECT/TRACE/TRACK, URLs with credentials (refused, the password never in a
 * message, on stderr or in the store), out-of-range indexes, unknown enum values, timeouts
 * below -1, out-of-range settings, calls on surviving handles after bgfetch_manager_close
 * (BGFETCH_E_CLOSED), freeing a registration handle inside its own progress callback and
 * releasing inside the event callback.
 *
 * Note on NUL: a C string ends at its first NUL, so "a\0\r\nInjected: x" IS "a" for the
 * library; the tests below check exactly that (nothing after the NUL ever reaches it).
 */
#include "harness.h"

#include <fcntl.h>

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                     */

/* a pointer value that no function returns, to see out-pointers being reset */
static int bi_sentinel_storage;
#define BI_SENTINEL ((void *)&bi_sentinel_storage)

/* invalid UTF-8 */
static const char BI_BAD_LEAD[] = {'\x80', 'a', '\xff', '\xfe', 0};
static const char BI_BAD_OVERLONG_SLASH[] = {'a', '\xc0', '\xaf', 0};
static const char BI_BAD_OVERLONG_NUL[] = {'a', '\xc0', '\x80', 'b', 0};
static const char BI_BAD_SURROGATE[] = {'\xed', '\xa0', '\x80', 0};
static const char BI_BAD_TRUNCATED[] = {'a', 'b', '\xe2', '\x82', 0};
static const char BI_BAD_TOO_BIG[] = {'\xf4', '\x90', '\x80', '\x80', 0};

/* the fixtures the generated part uses as its "valid" arguments (set up in main) */
static bgfetch_config *F_CFG;     /* a config that is never opened */
static bgfetch_manager *F_M;      /* THREAD mode, base URL = the server */
static bgfetch_manager *F_MM;     /* MANUAL mode (for dispatch / event_fd) */
static bgfetch_registration *F_R; /* a settled fetch of F_URL with a title, an icon, a header */
static bgfetch_options *F_OPTS;
static bgfetch_request *F_REQ;
static bgfetch_record *F_REC;     /* owned (from match_url) */
static bgfetch_records *F_RECS;
static bgfetch_response *F_RES;
static bgfetch_strings *F_STRS;
static bgfetch_icons *F_ICONS;
static const bgfetch_request *F_REQS[1];
static const char *F_URLS[1];
static char F_URL[1024];
static const char *F_PEM = "/nonexistent/bgfetch-test-ca.pem";
static const uint8_t F_BODY[3] = {1, 2, 3};
static int F_UD;

static void bi_noop_event(void *ud, bgfetch_event_type t, bgfetch_registration *r) {
    (void)ud;
    (void)t;
    (void)r;
}
static void bi_noop_progress(void *ud, bgfetch_registration *r) {
    (void)ud;
    (void)r;
}
static void bi_noop_free(void *ud) {
    (void)ud;
}

/* a successful call, so that bgfetch_last_error() is "" before the call under test */
static void bi_clear_error(void) {
    if (bgfetch_config_set_quota(F_CFG, 0) != BGFETCH_OK || bgfetch_last_error()[0] != 0)
        h_diag("could not clear the last error: \"%s\"", bgfetch_last_error());
}

static int bi_icontains(const char *hay, const char *needle) {
    size_t i, j, n = strlen(needle);
    if (!hay) return 0;
    for (i = 0; hay[i]; i++) {
        for (j = 0; j < n && hay[i + j]; j++) {
            char a = hay[i + j], b = needle[j];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
        }
        if (j == n) return 1;
    }
    return 0;
}

/* The last error is a non-empty message (mentioning `word`, unless NULL). */
/* A call that succeeded: no message in bgfetch_last_error(). */
static int bi_no_message(const char *what) {
    const char *e = bgfetch_last_error();
    if (!e || e[0]) {
        h_diag("%s: succeeded, but bgfetch_last_error() is \"%.300s\"", what, e ? e : "(NULL)");
        return 0;
    }
    return 1;
}

static int bi_has_message(const char *what, const char *word) {
    const char *e = bgfetch_last_error();
    if (!e) {
        h_diag("%s: bgfetch_last_error() is NULL", what);
        return 0;
    }
    if (!e[0]) {
        h_diag("%s: no message in bgfetch_last_error()", what);
        return 0;
    }
    if (word && !bi_icontains(e, word)) {
        h_diag("%s: the message \"%.300s\" does not mention \"%s\"", what, e, word);
        return 0;
    }
    return 1;
}

/* A call failed with `want` and left a message (mentioning `word`, unless NULL). */
static int bi_fails(bgfetch_status st, bgfetch_status want, const char *what, const char *word) {
    int ok = 1;
    if (st != want) {
        const char *e = bgfetch_last_error();
        h_diag("%s", what);
        h_diag("    returned %s (%u), expected %s; last_error: \"%.300s\"", h_stname(st),
               (unsigned)st, h_stname(want), e ? e : "(NULL)");
        ok = 0;
    }
    return bi_has_message(what, word) && ok;
}

/* used by the generated part: an out-pointer was reset to NULL / 0 by a failed call */
static int bi_out_reset(int reset, const char *what, const char *out) {
    if (!reset) h_diag("%s failed but left %s unchanged (the header: NULL/0 unless it succeeds)", what, out);
    return reset;
}

/* used by the generated part: a getter returned its documented default */
static int bi_default(int is_default, const char *what, const char *want) {
    if (!is_default) h_diag("%s did not return %s", what, want);
    return is_default;
}

/* used by the generated part */
static int bi_refused(bgfetch_status st, const char *what, const char *word) {
    return bi_fails(st, BGFETCH_E_INVALID_ARGUMENT, what, word);
}

/* FAILS(call, BGFETCH_E_x): that status and a message. REFUSED(call): INVALID_ARGUMENT. */
#define FAILS(call, want) bi_fails((call), (want), #call, NULL)
#define REFUSED(call) bi_fails((call), BGFETCH_E_INVALID_ARGUMENT, #call, NULL)

/* Waits for a registration to settle, releases it and frees the handle. */
static int bi_settle_and_release(bgfetch_registration *r) {
    int ok = 1;
    ok &= EXPECT(r != NULL);
    if (!r) return 0;
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_OK);
    bgfetch_registration_free(r);
    return ok;
}

/* The number of registrations of m (-1 on error). */
static long bi_count_ids(bgfetch_manager *m) {
    bgfetch_strings *s = NULL;
    long n;
    if (bgfetch_get_ids(m, &s) != BGFETCH_OK) return -1;
    n = (long)bgfetch_strings_len(s);
    bgfetch_strings_free(s);
    return n;
}

/* A manager whose config has no base URL. */
static bgfetch_manager *bi_open_without_base(const char *store_name) {
    bgfetch_config *c = bgfetch_config_new(P("%s", store_name).s);
    if (c) bgfetch_config_set_retries(c, 1, 0);
    return h_open_cfg(c);
}

/* A malloc'd string of `len` bytes: `prefix` then `fill` repeated (then NUL). */
static char *bi_long_string(const char *prefix, char fill, size_t len) {
    char *s = (char *)malloc(len + 1);
    size_t p = strlen(prefix);
    if (!s) return NULL;
    if (p > len) p = len;
    memcpy(s, prefix, p);
    memset(s + p, fill, len - p);
    s[len] = 0;
    return s;
}

static const char *bi_memfind(const char *hay, size_t n, const char *needle) {
    size_t i, k = strlen(needle);
    if (k == 0 || n < k) return NULL;
    for (i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

/* Calls visit(path, name, is_dir, ctx) for every entry below dir (not following symlinks). */
static void bi_walk(const char *dir, void (*visit)(const char *, const char *, int, void *),
                    void *ctx) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0) continue;
        visit(path, e->d_name, S_ISDIR(st.st_mode), ctx);
        if (S_ISDIR(st.st_mode)) bi_walk(path, visit, ctx);
    }
    closedir(d);
}

/* ------------------------------------------------------------------------------------------ */
/* fixtures                                                                                    */

static int setup_fixtures(void) {
    int ok = 1;
    bgfetch_config *c;
    F_CFG = h_config("store-null-cfg");
    F_M = h_open("store-bad-input");
    c = h_config("store-bad-input-manual");
    if (c) ok &= EXPECT_ST(bgfetch_config_set_dispatch(c, BGFETCH_DISPATCH_MANUAL), BGFETCH_OK);
    F_MM = h_open_cfg(c);
    ok &= EXPECT(F_CFG && F_M && F_MM);
    if (!ok) return 0;
    F_OPTS = bgfetch_options_new();
    ok &= EXPECT_ST(bgfetch_options_set_title(F_OPTS, "fixture"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(F_OPTS, "https://example.com/f.png", "32x32",
                                             "image/png", "fixture icon"),
                    BGFETCH_OK);
    snprintf(F_URL, sizeof F_URL, "%s", U("bytes/100?seed=1").s);
    F_URLS[0] = F_URL;
    ok &= EXPECT_ST(bgfetch_request_new(F_URL, &F_REQ), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_add_header(F_REQ, "X-Fixture", "1"), BGFETCH_OK);
    F_REQS[0] = F_REQ;
    ok &= EXPECT_ST(bgfetch_fetch(F_M, "fixture", F_REQS, 1, F_OPTS, &F_R), BGFETCH_OK);
    if (!ok || !F_R) return 0;
    ok &= EXPECT_ST(bgfetch_registration_wait(F_R, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(F_R), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_ST(bgfetch_registration_match_url(F_R, F_URL, 0, &F_REC), BGFETCH_OK);
    if (!ok || !F_REC) return 0;
    ok &= EXPECT_ST(bgfetch_record_response(F_REC, H_WAIT_MS, &F_RES), BGFETCH_OK);
    if (!ok || !F_RES) return 0;
    ok &= EXPECT_ST(bgfetch_response_wait(F_RES, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_all(F_R, NULL, 0, &F_RECS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_get_ids(F_M, &F_STRS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_icons(F_R, &F_ICONS), BGFETCH_OK);
    ok &= EXPECT(bgfetch_record_header_count(F_REC) >= 1);
    ok &= EXPECT(bgfetch_response_header_count(F_RES) >= 1);
    ok &= EXPECT_U64(bgfetch_records_len(F_RECS), 1);
    ok &= EXPECT_U64(bgfetch_strings_len(F_STRS), 1);
    ok &= EXPECT_U64(bgfetch_icons_len(F_ICONS), 1);
    return ok;
}

static void teardown_fixtures(void) {
    bgfetch_icons_free(F_ICONS);
    bgfetch_strings_free(F_STRS);
    bgfetch_records_free(F_RECS);
    bgfetch_response_free(F_RES);
    bgfetch_record_free(F_REC);
    bgfetch_registration_free(F_R);
    bgfetch_request_free(F_REQ);
    bgfetch_options_free(F_OPTS);
    bgfetch_manager_close(F_MM);
    bgfetch_manager_close(F_M);
    bgfetch_config_free(F_CFG);
}

/* ------------------------------------------------------------------------------------------ */
/* part 1: generated                                                                           */

/* ===== BEGIN GENERATED by gen_bad_input.py from include/bgfetch.h: do not edit ===== */

/* const char *bgfetch_status_name(bgfetch_status s) */
static void null_bgfetch_status_name(void) {
    int ok = 1;
    {
        const char *v = bgfetch_status_name(BGFETCH_OK);
        ok &= EXPECT(v != NULL && strcmp(v, "BGFETCH_OK") == 0);
    }
    CHECK(ok, "bgfetch_status_name: no pointer arguments; returns \"BGFETCH_OK\"");
}

/* const char *bgfetch_last_error(void) */
static void null_bgfetch_last_error(void) {
    int ok = 1;
    {
        const char *v = bgfetch_last_error();
        ok &= EXPECT(v != NULL);
    }
    CHECK(ok, "bgfetch_last_error: no pointer arguments; returns never NULL");
}

/* const char *bgfetch_version(void) */
static void null_bgfetch_version(void) {
    int ok = 1;
    {
        const char *v = bgfetch_version();
        ok &= EXPECT(v != NULL && v[0] != 0);
    }
    CHECK(ok, "bgfetch_version: no pointer arguments; returns a version string");
}

/* const char *bgfetch_result_str(bgfetch_result v) */
static void null_bgfetch_result_str(void) {
    int ok = 1;
    {
        const char *v = bgfetch_result_str(0);
        ok &= EXPECT(v != NULL && strcmp(v, "") == 0);
    }
    CHECK(ok, "bgfetch_result_str: no pointer arguments; returns \"\" for NONE");
}

/* const char *bgfetch_failure_reason_str(bgfetch_failure_reason v) */
static void null_bgfetch_failure_reason_str(void) {
    int ok = 1;
    {
        const char *v = bgfetch_failure_reason_str(0);
        ok &= EXPECT(v != NULL && strcmp(v, "") == 0);
    }
    CHECK(ok, "bgfetch_failure_reason_str: no pointer arguments; returns \"\" for NONE");
}

/* const char *bgfetch_state_str(bgfetch_state v) */
static void null_bgfetch_state_str(void) {
    int ok = 1;
    {
        const char *v = bgfetch_state_str(0);
        ok &= EXPECT(v != NULL && strcmp(v, "queued") == 0);
    }
    CHECK(ok, "bgfetch_state_str: no pointer arguments; returns \"queued\" for QUEUED");
}

/* void bgfetch_string_free(char *s) */
static void null_bgfetch_string_free(void) {
    int ok = 1;
    { /* bgfetch_string_free(s=NULL) */
        bi_clear_error();
        bgfetch_string_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_string_free (s?)");
}

/* bgfetch_config *bgfetch_config_new(const char *store_dir) */
static void null_bgfetch_config_new(void) {
    int ok = 1;
    { /* bgfetch_config_new(store_dir=NULL) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(NULL);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=NULL)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_new (store_dir)");
}

static void utf8_bgfetch_config_new(void) {
    int ok = 1;
    { /* bgfetch_config_new(store_dir=BI_BAD_LEAD) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(BI_BAD_LEAD);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=BI_BAD_LEAD)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_config_new(store_dir=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(BI_BAD_OVERLONG_SLASH);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=BI_BAD_OVERLONG_SLASH)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_config_new(store_dir=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(BI_BAD_OVERLONG_NUL);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=BI_BAD_OVERLONG_NUL)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_config_new(store_dir=BI_BAD_SURROGATE) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(BI_BAD_SURROGATE);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=BI_BAD_SURROGATE)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_config_new(store_dir=BI_BAD_TRUNCATED) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(BI_BAD_TRUNCATED);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=BI_BAD_TRUNCATED)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_config_new(store_dir=BI_BAD_TOO_BIG) */
        bi_clear_error();
        bgfetch_config *v = bgfetch_config_new(BI_BAD_TOO_BIG);
        ok &= bi_default(v == NULL, "bgfetch_config_new(store_dir=BI_BAD_TOO_BIG)", "NULL");
        if (v) bgfetch_config_free(v);
        ok &= bi_has_message("bgfetch_config_new(store_dir=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_config_new (store_dir)");
}

/* void bgfetch_config_free(bgfetch_config *c) */
static void null_bgfetch_config_free(void) {
    int ok = 1;
    { /* bgfetch_config_free(c=NULL) */
        bi_clear_error();
        bgfetch_config_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_free (c?)");
}

/* bgfetch_status bgfetch_config_set_base_url(bgfetch_config *c, const char *url) */
static void null_bgfetch_config_set_base_url(void) {
    int ok = 1;
    { /* bgfetch_config_set_base_url(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(NULL, h_base), "bgfetch_config_set_base_url(c=NULL)", "null");
    }
    { /* bgfetch_config_set_base_url(url=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, NULL), "bgfetch_config_set_base_url(url=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_base_url (c, url)");
}

static void utf8_bgfetch_config_set_base_url(void) {
    int ok = 1;
    { /* bgfetch_config_set_base_url(url=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, BI_BAD_LEAD), "bgfetch_config_set_base_url(url=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_config_set_base_url(url=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, BI_BAD_OVERLONG_SLASH), "bgfetch_config_set_base_url(url=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_config_set_base_url(url=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, BI_BAD_OVERLONG_NUL), "bgfetch_config_set_base_url(url=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_config_set_base_url(url=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, BI_BAD_SURROGATE), "bgfetch_config_set_base_url(url=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_config_set_base_url(url=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, BI_BAD_TRUNCATED), "bgfetch_config_set_base_url(url=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_config_set_base_url(url=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_base_url(F_CFG, BI_BAD_TOO_BIG), "bgfetch_config_set_base_url(url=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_config_set_base_url (url)");
}

/* bgfetch_status bgfetch_config_set_max_connections(bgfetch_config *c, uint32_t n) */
static void null_bgfetch_config_set_max_connections(void) {
    int ok = 1;
    { /* bgfetch_config_set_max_connections(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_max_connections(NULL, 2), "bgfetch_config_set_max_connections(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_max_connections (c)");
}

/* bgfetch_status bgfetch_config_set_max_connections_per_fetch(bgfetch_config *c, uint32_t n) */
static void null_bgfetch_config_set_max_connections_per_fetch(void) {
    int ok = 1;
    { /* bgfetch_config_set_max_connections_per_fetch(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_max_connections_per_fetch(NULL, 2), "bgfetch_config_set_max_connections_per_fetch(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_max_connections_per_fetch (c)");
}

/* bgfetch_status bgfetch_config_set_max_segments(bgfetch_config *c, uint32_t n) */
static void null_bgfetch_config_set_max_segments(void) {
    int ok = 1;
    { /* bgfetch_config_set_max_segments(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_max_segments(NULL, 2), "bgfetch_config_set_max_segments(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_max_segments (c)");
}

/* bgfetch_status bgfetch_config_set_quota(bgfetch_config *c, uint64_t bytes) */
static void null_bgfetch_config_set_quota(void) {
    int ok = 1;
    { /* bgfetch_config_set_quota(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_quota(NULL, 0), "bgfetch_config_set_quota(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_quota (c)");
}

/* bgfetch_status bgfetch_config_set_user_agent(bgfetch_config *c, const char *ua) */
static void null_bgfetch_config_set_user_agent(void) {
    int ok = 1;
    { /* bgfetch_config_set_user_agent(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(NULL, "bad-input-test/1.0"), "bgfetch_config_set_user_agent(c=NULL)", "null");
    }
    { /* bgfetch_config_set_user_agent(ua=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, NULL), "bgfetch_config_set_user_agent(ua=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_user_agent (c, ua)");
}

static void utf8_bgfetch_config_set_user_agent(void) {
    int ok = 1;
    { /* bgfetch_config_set_user_agent(ua=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, BI_BAD_LEAD), "bgfetch_config_set_user_agent(ua=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_config_set_user_agent(ua=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, BI_BAD_OVERLONG_SLASH), "bgfetch_config_set_user_agent(ua=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_config_set_user_agent(ua=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, BI_BAD_OVERLONG_NUL), "bgfetch_config_set_user_agent(ua=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_config_set_user_agent(ua=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, BI_BAD_SURROGATE), "bgfetch_config_set_user_agent(ua=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_config_set_user_agent(ua=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, BI_BAD_TRUNCATED), "bgfetch_config_set_user_agent(ua=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_config_set_user_agent(ua=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_user_agent(F_CFG, BI_BAD_TOO_BIG), "bgfetch_config_set_user_agent(ua=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_config_set_user_agent (ua)");
}

/* bgfetch_status bgfetch_config_set_timeouts(bgfetch_config *c, uint32_t connect_ms, uint32_t read_ms) */
static void null_bgfetch_config_set_timeouts(void) {
    int ok = 1;
    { /* bgfetch_config_set_timeouts(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_timeouts(NULL, 1000, 1000), "bgfetch_config_set_timeouts(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_timeouts (c)");
}

/* bgfetch_status bgfetch_config_set_retries(bgfetch_config *c, uint32_t max_attempts, uint32_t backoff_ms) */
static void null_bgfetch_config_set_retries(void) {
    int ok = 1;
    { /* bgfetch_config_set_retries(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_retries(NULL, 1, 0), "bgfetch_config_set_retries(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_retries (c)");
}

/* bgfetch_status bgfetch_config_set_max_backoff(bgfetch_config *c, uint32_t ms) */
static void null_bgfetch_config_set_max_backoff(void) {
    int ok = 1;
    { /* bgfetch_config_set_max_backoff(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_max_backoff(NULL, 100), "bgfetch_config_set_max_backoff(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_max_backoff (c)");
}

/* bgfetch_status bgfetch_config_set_no_progress_timeout(bgfetch_config *c, uint64_t ms) */
static void null_bgfetch_config_set_no_progress_timeout(void) {
    int ok = 1;
    { /* bgfetch_config_set_no_progress_timeout(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_no_progress_timeout(NULL, 100), "bgfetch_config_set_no_progress_timeout(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_no_progress_timeout (c)");
}

/* bgfetch_status bgfetch_config_set_fail_after_attempts(bgfetch_config *c, bool on) */
static void null_bgfetch_config_set_fail_after_attempts(void) {
    int ok = 1;
    { /* bgfetch_config_set_fail_after_attempts(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_fail_after_attempts(NULL, false), "bgfetch_config_set_fail_after_attempts(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_fail_after_attempts (c)");
}

/* bgfetch_status bgfetch_config_set_retry_statuses(bgfetch_config *c, bool on) */
static void null_bgfetch_config_set_retry_statuses(void) {
    int ok = 1;
    { /* bgfetch_config_set_retry_statuses(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_retry_statuses(NULL, false), "bgfetch_config_set_retry_statuses(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_retry_statuses (c)");
}

/* bgfetch_status bgfetch_config_set_proxy(bgfetch_config *c, const char *proxy_url) */
static void null_bgfetch_config_set_proxy(void) {
    int ok = 1;
    { /* bgfetch_config_set_proxy(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(NULL, ""), "bgfetch_config_set_proxy(c=NULL)", "null");
    }
    { /* bgfetch_config_set_proxy(proxy_url=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, NULL), "bgfetch_config_set_proxy(proxy_url=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_proxy (c, proxy_url)");
}

static void utf8_bgfetch_config_set_proxy(void) {
    int ok = 1;
    { /* bgfetch_config_set_proxy(proxy_url=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, BI_BAD_LEAD), "bgfetch_config_set_proxy(proxy_url=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_config_set_proxy(proxy_url=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, BI_BAD_OVERLONG_SLASH), "bgfetch_config_set_proxy(proxy_url=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_config_set_proxy(proxy_url=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, BI_BAD_OVERLONG_NUL), "bgfetch_config_set_proxy(proxy_url=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_config_set_proxy(proxy_url=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, BI_BAD_SURROGATE), "bgfetch_config_set_proxy(proxy_url=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_config_set_proxy(proxy_url=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, BI_BAD_TRUNCATED), "bgfetch_config_set_proxy(proxy_url=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_config_set_proxy(proxy_url=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_proxy(F_CFG, BI_BAD_TOO_BIG), "bgfetch_config_set_proxy(proxy_url=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_config_set_proxy (proxy_url)");
}

/* bgfetch_status bgfetch_config_set_max_download_rate(bgfetch_config *c, uint64_t bytes_per_s) */
static void null_bgfetch_config_set_max_download_rate(void) {
    int ok = 1;
    { /* bgfetch_config_set_max_download_rate(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_max_download_rate(NULL, 0), "bgfetch_config_set_max_download_rate(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_max_download_rate (c)");
}

/* bgfetch_status bgfetch_config_set_progress_interval(bgfetch_config *c, uint32_t ms) */
static void null_bgfetch_config_set_progress_interval(void) {
    int ok = 1;
    { /* bgfetch_config_set_progress_interval(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_progress_interval(NULL, 100), "bgfetch_config_set_progress_interval(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_progress_interval (c)");
}

/* bgfetch_status bgfetch_config_set_ca_file(bgfetch_config *c, const char *pem_path) */
static void null_bgfetch_config_set_ca_file(void) {
    int ok = 1;
    { /* bgfetch_config_set_ca_file(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(NULL, F_PEM), "bgfetch_config_set_ca_file(c=NULL)", "null");
    }
    { /* bgfetch_config_set_ca_file(pem_path=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, NULL), "bgfetch_config_set_ca_file(pem_path=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_ca_file (c, pem_path)");
}

static void utf8_bgfetch_config_set_ca_file(void) {
    int ok = 1;
    { /* bgfetch_config_set_ca_file(pem_path=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, BI_BAD_LEAD), "bgfetch_config_set_ca_file(pem_path=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_config_set_ca_file(pem_path=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, BI_BAD_OVERLONG_SLASH), "bgfetch_config_set_ca_file(pem_path=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_config_set_ca_file(pem_path=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, BI_BAD_OVERLONG_NUL), "bgfetch_config_set_ca_file(pem_path=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_config_set_ca_file(pem_path=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, BI_BAD_SURROGATE), "bgfetch_config_set_ca_file(pem_path=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_config_set_ca_file(pem_path=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, BI_BAD_TRUNCATED), "bgfetch_config_set_ca_file(pem_path=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_config_set_ca_file(pem_path=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_ca_file(F_CFG, BI_BAD_TOO_BIG), "bgfetch_config_set_ca_file(pem_path=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_config_set_ca_file (pem_path)");
}

/* bgfetch_status bgfetch_config_set_dispatch(bgfetch_config *c, bgfetch_dispatch mode) */
static void null_bgfetch_config_set_dispatch(void) {
    int ok = 1;
    { /* bgfetch_config_set_dispatch(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_dispatch(NULL, BGFETCH_DISPATCH_THREAD), "bgfetch_config_set_dispatch(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_dispatch (c)");
}

/* bgfetch_status bgfetch_config_set_allow_https_to_http(bgfetch_config *c, bool allow) */
static void null_bgfetch_config_set_allow_https_to_http(void) {
    int ok = 1;
    { /* bgfetch_config_set_allow_https_to_http(c=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_config_set_allow_https_to_http(NULL, false), "bgfetch_config_set_allow_https_to_http(c=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_config_set_allow_https_to_http (c)");
}

/* bgfetch_status bgfetch_manager_open(const bgfetch_config *c, bgfetch_manager **out) */
static void null_bgfetch_manager_open(void) {
    int ok = 1;
    { /* bgfetch_manager_open(c=NULL) */
        bgfetch_manager *o_out = (bgfetch_manager *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_manager_open(NULL, &o_out), "bgfetch_manager_open(c=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_manager_open(c=NULL)", "*out");
    }
    { /* bgfetch_manager_open(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_manager_open(F_CFG, NULL), "bgfetch_manager_open(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_open (c, out)");
}

/* void bgfetch_manager_close(bgfetch_manager *m) */
static void null_bgfetch_manager_close(void) {
    int ok = 1;
    { /* bgfetch_manager_close(m=NULL) */
        bi_clear_error();
        bgfetch_manager_close(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_close (m?)");
}

/* int bgfetch_manager_event_fd(const bgfetch_manager *m) */
static void null_bgfetch_manager_event_fd(void) {
    int ok = 1;
    { /* bgfetch_manager_event_fd(m=NULL) */
        bi_clear_error();
        int v = bgfetch_manager_event_fd(NULL);
        ok &= bi_default(v == -1, "bgfetch_manager_event_fd(m=NULL)", "-1");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_event_fd (m)");
}

/* bgfetch_status bgfetch_manager_dispatch(bgfetch_manager *m, int64_t timeout_ms, uint32_t *n_dispatched) */
static void null_bgfetch_manager_dispatch(void) {
    int ok = 1;
    { /* bgfetch_manager_dispatch(m=NULL) */
        uint32_t o_n_dispatched = (uint32_t)12345;
        bi_clear_error();
        ok &= bi_refused(bgfetch_manager_dispatch(NULL, 0, &o_n_dispatched), "bgfetch_manager_dispatch(m=NULL)", "null");
        ok &= bi_out_reset(!o_n_dispatched, "bgfetch_manager_dispatch(m=NULL)", "*n_dispatched");
    }
    { /* bgfetch_manager_dispatch(n_dispatched=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_manager_dispatch(F_MM, 0, NULL), BGFETCH_OK);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_dispatch (m, n_dispatched?)");
}

/* bgfetch_status bgfetch_manager_set_event_callback(bgfetch_manager *m, bgfetch_event_callback cb, void *userdata, bgfetch_free_callback free_userdata) */
static void null_bgfetch_manager_set_event_callback(void) {
    int ok = 1;
    { /* bgfetch_manager_set_event_callback(m=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_manager_set_event_callback(NULL, bi_noop_event, &F_UD, bi_noop_free), "bgfetch_manager_set_event_callback(m=NULL)", "null");
    }
    { /* bgfetch_manager_set_event_callback(cb=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(F_M, NULL, &F_UD, bi_noop_free), BGFETCH_OK);
    }
    { /* bgfetch_manager_set_event_callback(userdata=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(F_M, bi_noop_event, NULL, bi_noop_free), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(F_M, NULL, NULL, NULL), BGFETCH_OK);
    }
    { /* bgfetch_manager_set_event_callback(free_userdata=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(F_M, bi_noop_event, &F_UD, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_manager_set_event_callback(F_M, NULL, NULL, NULL), BGFETCH_OK);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_set_event_callback (m, cb?, userdata?, free_userdata?)");
}

/* bgfetch_status bgfetch_fetch(bgfetch_manager *m, const char *id, const bgfetch_request *const *requests, size_t n_requests, const bgfetch_options *opts, bgfetch_registration **out) */
static void null_bgfetch_fetch(void) {
    int ok = 1;
    { /* bgfetch_fetch(m=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(NULL, "null-args-bgfetch_fetch", F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(m=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(m=NULL)", "*out");
    }
    { /* bgfetch_fetch(id=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, NULL, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=NULL)", "*out");
    }
    { /* bgfetch_fetch(requests=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, "null-args-bgfetch_fetch", NULL, 1, F_OPTS, &o_out), "bgfetch_fetch(requests=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(requests=NULL)", "*out");
    }
    { /* bgfetch_fetch(opts=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_fetch(F_M, "null-args-bgfetch_fetch", F_REQS, 1, NULL, &o_out), BGFETCH_OK);
        ok &= bi_settle_and_release(o_out);
    }
    { /* bgfetch_fetch(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, "null-args-bgfetch_fetch", F_REQS, 1, F_OPTS, NULL), "bgfetch_fetch(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_fetch (m, id, requests, opts?, out)");
}

static void utf8_bgfetch_fetch(void) {
    int ok = 1;
    { /* bgfetch_fetch(id=BI_BAD_LEAD) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, BI_BAD_LEAD, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=BI_BAD_LEAD)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=BI_BAD_LEAD)", "*out");
    }
    { /* bgfetch_fetch(id=BI_BAD_OVERLONG_SLASH) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, BI_BAD_OVERLONG_SLASH, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=BI_BAD_OVERLONG_SLASH)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=BI_BAD_OVERLONG_SLASH)", "*out");
    }
    { /* bgfetch_fetch(id=BI_BAD_OVERLONG_NUL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, BI_BAD_OVERLONG_NUL, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=BI_BAD_OVERLONG_NUL)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=BI_BAD_OVERLONG_NUL)", "*out");
    }
    { /* bgfetch_fetch(id=BI_BAD_SURROGATE) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, BI_BAD_SURROGATE, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=BI_BAD_SURROGATE)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=BI_BAD_SURROGATE)", "*out");
    }
    { /* bgfetch_fetch(id=BI_BAD_TRUNCATED) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, BI_BAD_TRUNCATED, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=BI_BAD_TRUNCATED)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=BI_BAD_TRUNCATED)", "*out");
    }
    { /* bgfetch_fetch(id=BI_BAD_TOO_BIG) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch(F_M, BI_BAD_TOO_BIG, F_REQS, 1, F_OPTS, &o_out), "bgfetch_fetch(id=BI_BAD_TOO_BIG)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch(id=BI_BAD_TOO_BIG)", "*out");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_fetch (id)");
}

/* bgfetch_status bgfetch_fetch_urls(bgfetch_manager *m, const char *id, const char *const *urls, size_t n_urls, const bgfetch_options *opts, bgfetch_registration **out) */
static void null_bgfetch_fetch_urls(void) {
    int ok = 1;
    { /* bgfetch_fetch_urls(m=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(NULL, "null-args-bgfetch_fetch_urls", F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(m=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(m=NULL)", "*out");
    }
    { /* bgfetch_fetch_urls(id=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, NULL, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=NULL)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", NULL, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=NULL)", "*out");
    }
    { /* bgfetch_fetch_urls(opts=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", F_URLS, 1, NULL, &o_out), BGFETCH_OK);
        ok &= bi_settle_and_release(o_out);
    }
    { /* bgfetch_fetch_urls(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", F_URLS, 1, F_OPTS, NULL), "bgfetch_fetch_urls(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_fetch_urls (m, id, urls, opts?, out)");
}

static void utf8_bgfetch_fetch_urls(void) {
    int ok = 1;
    { /* bgfetch_fetch_urls(id=BI_BAD_LEAD) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, BI_BAD_LEAD, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=BI_BAD_LEAD)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=BI_BAD_LEAD)", "*out");
    }
    { /* bgfetch_fetch_urls(id=BI_BAD_OVERLONG_SLASH) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, BI_BAD_OVERLONG_SLASH, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=BI_BAD_OVERLONG_SLASH)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=BI_BAD_OVERLONG_SLASH)", "*out");
    }
    { /* bgfetch_fetch_urls(id=BI_BAD_OVERLONG_NUL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, BI_BAD_OVERLONG_NUL, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=BI_BAD_OVERLONG_NUL)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=BI_BAD_OVERLONG_NUL)", "*out");
    }
    { /* bgfetch_fetch_urls(id=BI_BAD_SURROGATE) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, BI_BAD_SURROGATE, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=BI_BAD_SURROGATE)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=BI_BAD_SURROGATE)", "*out");
    }
    { /* bgfetch_fetch_urls(id=BI_BAD_TRUNCATED) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, BI_BAD_TRUNCATED, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=BI_BAD_TRUNCATED)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=BI_BAD_TRUNCATED)", "*out");
    }
    { /* bgfetch_fetch_urls(id=BI_BAD_TOO_BIG) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, BI_BAD_TOO_BIG, F_URLS, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(id=BI_BAD_TOO_BIG)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(id=BI_BAD_TOO_BIG)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=BI_BAD_LEAD) */
        const char *bad_urls[1];
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bad_urls[0] = BI_BAD_LEAD;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", bad_urls, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=BI_BAD_LEAD)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=BI_BAD_LEAD)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=BI_BAD_OVERLONG_SLASH) */
        const char *bad_urls[1];
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bad_urls[0] = BI_BAD_OVERLONG_SLASH;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", bad_urls, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=BI_BAD_OVERLONG_SLASH)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=BI_BAD_OVERLONG_SLASH)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=BI_BAD_OVERLONG_NUL) */
        const char *bad_urls[1];
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bad_urls[0] = BI_BAD_OVERLONG_NUL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", bad_urls, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=BI_BAD_OVERLONG_NUL)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=BI_BAD_OVERLONG_NUL)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=BI_BAD_SURROGATE) */
        const char *bad_urls[1];
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bad_urls[0] = BI_BAD_SURROGATE;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", bad_urls, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=BI_BAD_SURROGATE)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=BI_BAD_SURROGATE)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=BI_BAD_TRUNCATED) */
        const char *bad_urls[1];
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bad_urls[0] = BI_BAD_TRUNCATED;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", bad_urls, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=BI_BAD_TRUNCATED)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=BI_BAD_TRUNCATED)", "*out");
    }
    { /* bgfetch_fetch_urls(urls=BI_BAD_TOO_BIG) */
        const char *bad_urls[1];
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bad_urls[0] = BI_BAD_TOO_BIG;
        bi_clear_error();
        ok &= bi_refused(bgfetch_fetch_urls(F_M, "null-args-bgfetch_fetch_urls", bad_urls, 1, F_OPTS, &o_out), "bgfetch_fetch_urls(urls=BI_BAD_TOO_BIG)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_fetch_urls(urls=BI_BAD_TOO_BIG)", "*out");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_fetch_urls (id, urls)");
}

/* bgfetch_status bgfetch_get(bgfetch_manager *m, const char *id, bgfetch_registration **out) */
static void null_bgfetch_get(void) {
    int ok = 1;
    { /* bgfetch_get(m=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(NULL, "null-args-bgfetch_get", &o_out), "bgfetch_get(m=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(m=NULL)", "*out");
    }
    { /* bgfetch_get(id=NULL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, NULL, &o_out), "bgfetch_get(id=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=NULL)", "*out");
    }
    { /* bgfetch_get(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, "null-args-bgfetch_get", NULL), "bgfetch_get(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_get (m, id, out)");
}

static void utf8_bgfetch_get(void) {
    int ok = 1;
    { /* bgfetch_get(id=BI_BAD_LEAD) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, BI_BAD_LEAD, &o_out), "bgfetch_get(id=BI_BAD_LEAD)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=BI_BAD_LEAD)", "*out");
    }
    { /* bgfetch_get(id=BI_BAD_OVERLONG_SLASH) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, BI_BAD_OVERLONG_SLASH, &o_out), "bgfetch_get(id=BI_BAD_OVERLONG_SLASH)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=BI_BAD_OVERLONG_SLASH)", "*out");
    }
    { /* bgfetch_get(id=BI_BAD_OVERLONG_NUL) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, BI_BAD_OVERLONG_NUL, &o_out), "bgfetch_get(id=BI_BAD_OVERLONG_NUL)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=BI_BAD_OVERLONG_NUL)", "*out");
    }
    { /* bgfetch_get(id=BI_BAD_SURROGATE) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, BI_BAD_SURROGATE, &o_out), "bgfetch_get(id=BI_BAD_SURROGATE)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=BI_BAD_SURROGATE)", "*out");
    }
    { /* bgfetch_get(id=BI_BAD_TRUNCATED) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, BI_BAD_TRUNCATED, &o_out), "bgfetch_get(id=BI_BAD_TRUNCATED)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=BI_BAD_TRUNCATED)", "*out");
    }
    { /* bgfetch_get(id=BI_BAD_TOO_BIG) */
        bgfetch_registration *o_out = (bgfetch_registration *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get(F_M, BI_BAD_TOO_BIG, &o_out), "bgfetch_get(id=BI_BAD_TOO_BIG)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get(id=BI_BAD_TOO_BIG)", "*out");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_get (id)");
}

/* bgfetch_status bgfetch_get_ids(bgfetch_manager *m, bgfetch_strings **out) */
static void null_bgfetch_get_ids(void) {
    int ok = 1;
    { /* bgfetch_get_ids(m=NULL) */
        bgfetch_strings *o_out = (bgfetch_strings *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_get_ids(NULL, &o_out), "bgfetch_get_ids(m=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_get_ids(m=NULL)", "*out");
    }
    { /* bgfetch_get_ids(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_get_ids(F_M, NULL), "bgfetch_get_ids(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_get_ids (m, out)");
}

/* size_t bgfetch_manager_problem_count(const bgfetch_manager *m) */
static void null_bgfetch_manager_problem_count(void) {
    int ok = 1;
    { /* bgfetch_manager_problem_count(m=NULL) */
        bi_clear_error();
        size_t v = bgfetch_manager_problem_count(NULL);
        ok &= bi_default(v == 0, "bgfetch_manager_problem_count(m=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_problem_count (m)");
}

/* char *bgfetch_manager_problem(const bgfetch_manager *m, size_t i) */
static void null_bgfetch_manager_problem(void) {
    int ok = 1;
    { /* bgfetch_manager_problem(m=NULL) */
        bi_clear_error();
        char *v = bgfetch_manager_problem(NULL, 0);
        ok &= bi_default(v == NULL, "bgfetch_manager_problem(m=NULL)", "NULL");
        if (v) bgfetch_string_free(v);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_problem (m)");
}

/* uint64_t bgfetch_manager_used_bytes(const bgfetch_manager *m) */
static void null_bgfetch_manager_used_bytes(void) {
    int ok = 1;
    { /* bgfetch_manager_used_bytes(m=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_manager_used_bytes(NULL);
        ok &= bi_default(v == 0, "bgfetch_manager_used_bytes(m=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_used_bytes (m)");
}

/* bgfetch_status bgfetch_manager_set_offline(bgfetch_manager *m, bool offline) */
static void null_bgfetch_manager_set_offline(void) {
    int ok = 1;
    { /* bgfetch_manager_set_offline(m=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_manager_set_offline(NULL, false), "bgfetch_manager_set_offline(m=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_set_offline (m)");
}

/* bool bgfetch_manager_offline(const bgfetch_manager *m) */
static void null_bgfetch_manager_offline(void) {
    int ok = 1;
    { /* bgfetch_manager_offline(m=NULL) */
        bi_clear_error();
        bool v = bgfetch_manager_offline(NULL);
        ok &= bi_default(v == false, "bgfetch_manager_offline(m=NULL)", "false");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_offline (m)");
}

/* bgfetch_status bgfetch_manager_set_max_download_rate(bgfetch_manager *m, uint64_t bytes_per_s) */
static void null_bgfetch_manager_set_max_download_rate(void) {
    int ok = 1;
    { /* bgfetch_manager_set_max_download_rate(m=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_manager_set_max_download_rate(NULL, 0), "bgfetch_manager_set_max_download_rate(m=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_manager_set_max_download_rate (m)");
}

/* bgfetch_status bgfetch_request_new(const char *url, bgfetch_request **out) */
static void null_bgfetch_request_new(void) {
    int ok = 1;
    { /* bgfetch_request_new(url=NULL) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(NULL, &o_out), "bgfetch_request_new(url=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=NULL)", "*out");
    }
    { /* bgfetch_request_new(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(F_URL, NULL), "bgfetch_request_new(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_request_new (url, out)");
}

static void utf8_bgfetch_request_new(void) {
    int ok = 1;
    { /* bgfetch_request_new(url=BI_BAD_LEAD) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(BI_BAD_LEAD, &o_out), "bgfetch_request_new(url=BI_BAD_LEAD)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=BI_BAD_LEAD)", "*out");
    }
    { /* bgfetch_request_new(url=BI_BAD_OVERLONG_SLASH) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(BI_BAD_OVERLONG_SLASH, &o_out), "bgfetch_request_new(url=BI_BAD_OVERLONG_SLASH)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=BI_BAD_OVERLONG_SLASH)", "*out");
    }
    { /* bgfetch_request_new(url=BI_BAD_OVERLONG_NUL) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(BI_BAD_OVERLONG_NUL, &o_out), "bgfetch_request_new(url=BI_BAD_OVERLONG_NUL)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=BI_BAD_OVERLONG_NUL)", "*out");
    }
    { /* bgfetch_request_new(url=BI_BAD_SURROGATE) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(BI_BAD_SURROGATE, &o_out), "bgfetch_request_new(url=BI_BAD_SURROGATE)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=BI_BAD_SURROGATE)", "*out");
    }
    { /* bgfetch_request_new(url=BI_BAD_TRUNCATED) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(BI_BAD_TRUNCATED, &o_out), "bgfetch_request_new(url=BI_BAD_TRUNCATED)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=BI_BAD_TRUNCATED)", "*out");
    }
    { /* bgfetch_request_new(url=BI_BAD_TOO_BIG) */
        bgfetch_request *o_out = (bgfetch_request *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_new(BI_BAD_TOO_BIG, &o_out), "bgfetch_request_new(url=BI_BAD_TOO_BIG)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_request_new(url=BI_BAD_TOO_BIG)", "*out");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_request_new (url)");
}

/* bgfetch_status bgfetch_request_set_method(bgfetch_request *r, const char *method) */
static void null_bgfetch_request_set_method(void) {
    int ok = 1;
    { /* bgfetch_request_set_method(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(NULL, "POST"), "bgfetch_request_set_method(r=NULL)", "null");
    }
    { /* bgfetch_request_set_method(method=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, NULL), "bgfetch_request_set_method(method=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_request_set_method (r, method)");
}

static void utf8_bgfetch_request_set_method(void) {
    int ok = 1;
    { /* bgfetch_request_set_method(method=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, BI_BAD_LEAD), "bgfetch_request_set_method(method=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_request_set_method(method=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, BI_BAD_OVERLONG_SLASH), "bgfetch_request_set_method(method=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_request_set_method(method=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, BI_BAD_OVERLONG_NUL), "bgfetch_request_set_method(method=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_request_set_method(method=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, BI_BAD_SURROGATE), "bgfetch_request_set_method(method=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_request_set_method(method=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, BI_BAD_TRUNCATED), "bgfetch_request_set_method(method=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_request_set_method(method=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_method(F_REQ, BI_BAD_TOO_BIG), "bgfetch_request_set_method(method=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_request_set_method (method)");
}

/* bgfetch_status bgfetch_request_add_header(bgfetch_request *r, const char *name, const char *value) */
static void null_bgfetch_request_add_header(void) {
    int ok = 1;
    { /* bgfetch_request_add_header(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(NULL, "X-Test", "value"), "bgfetch_request_add_header(r=NULL)", "null");
    }
    { /* bgfetch_request_add_header(name=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, NULL, "value"), "bgfetch_request_add_header(name=NULL)", "null");
    }
    { /* bgfetch_request_add_header(value=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", NULL), "bgfetch_request_add_header(value=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_request_add_header (r, name, value)");
}

static void utf8_bgfetch_request_add_header(void) {
    int ok = 1;
    { /* bgfetch_request_add_header(name=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, BI_BAD_LEAD, "value"), "bgfetch_request_add_header(name=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_request_add_header(name=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, BI_BAD_OVERLONG_SLASH, "value"), "bgfetch_request_add_header(name=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_request_add_header(name=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, BI_BAD_OVERLONG_NUL, "value"), "bgfetch_request_add_header(name=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_request_add_header(name=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, BI_BAD_SURROGATE, "value"), "bgfetch_request_add_header(name=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_request_add_header(name=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, BI_BAD_TRUNCATED, "value"), "bgfetch_request_add_header(name=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_request_add_header(name=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, BI_BAD_TOO_BIG, "value"), "bgfetch_request_add_header(name=BI_BAD_TOO_BIG)", "utf");
    }
    { /* bgfetch_request_add_header(value=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", BI_BAD_LEAD), "bgfetch_request_add_header(value=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_request_add_header(value=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", BI_BAD_OVERLONG_SLASH), "bgfetch_request_add_header(value=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_request_add_header(value=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", BI_BAD_OVERLONG_NUL), "bgfetch_request_add_header(value=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_request_add_header(value=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", BI_BAD_SURROGATE), "bgfetch_request_add_header(value=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_request_add_header(value=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", BI_BAD_TRUNCATED), "bgfetch_request_add_header(value=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_request_add_header(value=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_add_header(F_REQ, "X-Test", BI_BAD_TOO_BIG), "bgfetch_request_add_header(value=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_request_add_header (name, value)");
}

/* bgfetch_status bgfetch_request_set_body(bgfetch_request *r, const uint8_t *data, size_t len) */
static void null_bgfetch_request_set_body(void) {
    int ok = 1;
    { /* bgfetch_request_set_body(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_body(NULL, F_BODY, sizeof F_BODY), "bgfetch_request_set_body(r=NULL)", "null");
    }
    { /* bgfetch_request_set_body(data=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_body(F_REQ, NULL, sizeof F_BODY), "bgfetch_request_set_body(data=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_request_set_body (r, data)");
}

/* bgfetch_status bgfetch_request_set_integrity(bgfetch_request *r, const char *sri) */
static void null_bgfetch_request_set_integrity(void) {
    int ok = 1;
    { /* bgfetch_request_set_integrity(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(NULL, "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="), "bgfetch_request_set_integrity(r=NULL)", "null");
    }
    { /* bgfetch_request_set_integrity(sri=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, NULL), "bgfetch_request_set_integrity(sri=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_request_set_integrity (r, sri)");
}

static void utf8_bgfetch_request_set_integrity(void) {
    int ok = 1;
    { /* bgfetch_request_set_integrity(sri=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, BI_BAD_LEAD), "bgfetch_request_set_integrity(sri=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_request_set_integrity(sri=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, BI_BAD_OVERLONG_SLASH), "bgfetch_request_set_integrity(sri=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_request_set_integrity(sri=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, BI_BAD_OVERLONG_NUL), "bgfetch_request_set_integrity(sri=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_request_set_integrity(sri=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, BI_BAD_SURROGATE), "bgfetch_request_set_integrity(sri=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_request_set_integrity(sri=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, BI_BAD_TRUNCATED), "bgfetch_request_set_integrity(sri=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_request_set_integrity(sri=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_request_set_integrity(F_REQ, BI_BAD_TOO_BIG), "bgfetch_request_set_integrity(sri=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_request_set_integrity (sri)");
}

/* void bgfetch_request_free(bgfetch_request *r) */
static void null_bgfetch_request_free(void) {
    int ok = 1;
    { /* bgfetch_request_free(r=NULL) */
        bi_clear_error();
        bgfetch_request_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_request_free (r?)");
}

/* bgfetch_options *bgfetch_options_new(void) */
static void null_bgfetch_options_new(void) {
    int ok = 1;
    {
        bgfetch_options *v = bgfetch_options_new();
        ok &= EXPECT(v != NULL);
        if (v) bgfetch_options_free(v);
    }
    CHECK(ok, "bgfetch_options_new: no pointer arguments; returns a new options object");
}

/* bgfetch_status bgfetch_options_set_title(bgfetch_options *o, const char *title) */
static void null_bgfetch_options_set_title(void) {
    int ok = 1;
    { /* bgfetch_options_set_title(o=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(NULL, "a title"), "bgfetch_options_set_title(o=NULL)", "null");
    }
    { /* bgfetch_options_set_title(title=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, NULL), "bgfetch_options_set_title(title=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_options_set_title (o, title)");
}

static void utf8_bgfetch_options_set_title(void) {
    int ok = 1;
    { /* bgfetch_options_set_title(title=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, BI_BAD_LEAD), "bgfetch_options_set_title(title=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_options_set_title(title=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, BI_BAD_OVERLONG_SLASH), "bgfetch_options_set_title(title=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_options_set_title(title=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, BI_BAD_OVERLONG_NUL), "bgfetch_options_set_title(title=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_options_set_title(title=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, BI_BAD_SURROGATE), "bgfetch_options_set_title(title=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_options_set_title(title=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, BI_BAD_TRUNCATED), "bgfetch_options_set_title(title=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_options_set_title(title=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_title(F_OPTS, BI_BAD_TOO_BIG), "bgfetch_options_set_title(title=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_options_set_title (title)");
}

/* bgfetch_status bgfetch_options_add_icon(bgfetch_options *o, const char *src, const char *sizes, const char *mime_type, const char *label) */
static void null_bgfetch_options_add_icon(void) {
    int ok = 1;
    { /* bgfetch_options_add_icon(o=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(NULL, "https://example.com/icon.png", "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(o=NULL)", "null");
    }
    { /* bgfetch_options_add_icon(src=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, NULL, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=NULL)", "null");
    }
    { /* bgfetch_options_add_icon(sizes=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", NULL, "image/png", "an icon"), BGFETCH_OK);
    }
    { /* bgfetch_options_add_icon(mime_type=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", NULL, "an icon"), BGFETCH_OK);
    }
    { /* bgfetch_options_add_icon(label=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", NULL), BGFETCH_OK);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_options_add_icon (o, src, sizes?, mime_type?, label?)");
}

static void utf8_bgfetch_options_add_icon(void) {
    int ok = 1;
    { /* bgfetch_options_add_icon(src=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, BI_BAD_LEAD, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_options_add_icon(src=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, BI_BAD_OVERLONG_SLASH, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_options_add_icon(src=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, BI_BAD_OVERLONG_NUL, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_options_add_icon(src=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, BI_BAD_SURROGATE, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_options_add_icon(src=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, BI_BAD_TRUNCATED, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_options_add_icon(src=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, BI_BAD_TOO_BIG, "16x16", "image/png", "an icon"), "bgfetch_options_add_icon(src=BI_BAD_TOO_BIG)", "utf");
    }
    { /* bgfetch_options_add_icon(sizes=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", BI_BAD_LEAD, "image/png", "an icon"), "bgfetch_options_add_icon(sizes=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_options_add_icon(sizes=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", BI_BAD_OVERLONG_SLASH, "image/png", "an icon"), "bgfetch_options_add_icon(sizes=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_options_add_icon(sizes=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", BI_BAD_OVERLONG_NUL, "image/png", "an icon"), "bgfetch_options_add_icon(sizes=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_options_add_icon(sizes=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", BI_BAD_SURROGATE, "image/png", "an icon"), "bgfetch_options_add_icon(sizes=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_options_add_icon(sizes=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", BI_BAD_TRUNCATED, "image/png", "an icon"), "bgfetch_options_add_icon(sizes=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_options_add_icon(sizes=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", BI_BAD_TOO_BIG, "image/png", "an icon"), "bgfetch_options_add_icon(sizes=BI_BAD_TOO_BIG)", "utf");
    }
    { /* bgfetch_options_add_icon(mime_type=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", BI_BAD_LEAD, "an icon"), "bgfetch_options_add_icon(mime_type=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_options_add_icon(mime_type=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", BI_BAD_OVERLONG_SLASH, "an icon"), "bgfetch_options_add_icon(mime_type=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_options_add_icon(mime_type=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", BI_BAD_OVERLONG_NUL, "an icon"), "bgfetch_options_add_icon(mime_type=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_options_add_icon(mime_type=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", BI_BAD_SURROGATE, "an icon"), "bgfetch_options_add_icon(mime_type=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_options_add_icon(mime_type=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", BI_BAD_TRUNCATED, "an icon"), "bgfetch_options_add_icon(mime_type=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_options_add_icon(mime_type=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", BI_BAD_TOO_BIG, "an icon"), "bgfetch_options_add_icon(mime_type=BI_BAD_TOO_BIG)", "utf");
    }
    { /* bgfetch_options_add_icon(label=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", BI_BAD_LEAD), "bgfetch_options_add_icon(label=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_options_add_icon(label=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", BI_BAD_OVERLONG_SLASH), "bgfetch_options_add_icon(label=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_options_add_icon(label=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", BI_BAD_OVERLONG_NUL), "bgfetch_options_add_icon(label=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_options_add_icon(label=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", BI_BAD_SURROGATE), "bgfetch_options_add_icon(label=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_options_add_icon(label=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", BI_BAD_TRUNCATED), "bgfetch_options_add_icon(label=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_options_add_icon(label=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_add_icon(F_OPTS, "https://example.com/icon.png", "16x16", "image/png", BI_BAD_TOO_BIG), "bgfetch_options_add_icon(label=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_options_add_icon (src, sizes, mime_type, label)");
}

/* bgfetch_status bgfetch_options_set_download_total(bgfetch_options *o, uint64_t bytes) */
static void null_bgfetch_options_set_download_total(void) {
    int ok = 1;
    { /* bgfetch_options_set_download_total(o=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_download_total(NULL, 0), "bgfetch_options_set_download_total(o=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_options_set_download_total (o)");
}

/* bgfetch_status bgfetch_options_set_start_paused(bgfetch_options *o, bool paused) */
static void null_bgfetch_options_set_start_paused(void) {
    int ok = 1;
    { /* bgfetch_options_set_start_paused(o=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_options_set_start_paused(NULL, false), "bgfetch_options_set_start_paused(o=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_options_set_start_paused (o)");
}

/* void bgfetch_options_free(bgfetch_options *o) */
static void null_bgfetch_options_free(void) {
    int ok = 1;
    { /* bgfetch_options_free(o=NULL) */
        bi_clear_error();
        bgfetch_options_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_options_free (o?)");
}

/* size_t bgfetch_icons_len(const bgfetch_icons *icons) */
static void null_bgfetch_icons_len(void) {
    int ok = 1;
    { /* bgfetch_icons_len(icons=NULL) */
        bi_clear_error();
        size_t v = bgfetch_icons_len(NULL);
        ok &= bi_default(v == 0, "bgfetch_icons_len(icons=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_icons_len (icons)");
}

/* bgfetch_status bgfetch_icons_get(const bgfetch_icons *icons, size_t i, const char **src, const char **sizes, const char **mime_type, const char **label) */
static void null_bgfetch_icons_get(void) {
    int ok = 1;
    { /* bgfetch_icons_get(icons=NULL) */
        const char *o_src = (const char *)BI_SENTINEL;
        const char *o_sizes = (const char *)BI_SENTINEL;
        const char *o_mime_type = (const char *)BI_SENTINEL;
        const char *o_label = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_icons_get(NULL, 0, &o_src, &o_sizes, &o_mime_type, &o_label), "bgfetch_icons_get(icons=NULL)", "null");
        ok &= bi_out_reset(o_src == NULL, "bgfetch_icons_get(icons=NULL)", "*src");
        ok &= bi_out_reset(o_sizes == NULL, "bgfetch_icons_get(icons=NULL)", "*sizes");
        ok &= bi_out_reset(o_mime_type == NULL, "bgfetch_icons_get(icons=NULL)", "*mime_type");
        ok &= bi_out_reset(o_label == NULL, "bgfetch_icons_get(icons=NULL)", "*label");
    }
    { /* bgfetch_icons_get(src=NULL) */
        const char *o_sizes = (const char *)BI_SENTINEL;
        const char *o_mime_type = (const char *)BI_SENTINEL;
        const char *o_label = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_icons_get(F_ICONS, 0, NULL, &o_sizes, &o_mime_type, &o_label), BGFETCH_OK);
    }
    { /* bgfetch_icons_get(sizes=NULL) */
        const char *o_src = (const char *)BI_SENTINEL;
        const char *o_mime_type = (const char *)BI_SENTINEL;
        const char *o_label = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_icons_get(F_ICONS, 0, &o_src, NULL, &o_mime_type, &o_label), BGFETCH_OK);
    }
    { /* bgfetch_icons_get(mime_type=NULL) */
        const char *o_src = (const char *)BI_SENTINEL;
        const char *o_sizes = (const char *)BI_SENTINEL;
        const char *o_label = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_icons_get(F_ICONS, 0, &o_src, &o_sizes, NULL, &o_label), BGFETCH_OK);
    }
    { /* bgfetch_icons_get(label=NULL) */
        const char *o_src = (const char *)BI_SENTINEL;
        const char *o_sizes = (const char *)BI_SENTINEL;
        const char *o_mime_type = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_icons_get(F_ICONS, 0, &o_src, &o_sizes, &o_mime_type, NULL), BGFETCH_OK);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_icons_get (icons, src?, sizes?, mime_type?, label?)");
}

/* void bgfetch_icons_free(bgfetch_icons *icons) */
static void null_bgfetch_icons_free(void) {
    int ok = 1;
    { /* bgfetch_icons_free(icons=NULL) */
        bi_clear_error();
        bgfetch_icons_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_icons_free (icons?)");
}

/* const char *bgfetch_registration_id(const bgfetch_registration *r) */
static void null_bgfetch_registration_id(void) {
    int ok = 1;
    { /* bgfetch_registration_id(r=NULL) */
        bi_clear_error();
        const char *v = bgfetch_registration_id(NULL);
        ok &= bi_default(v == NULL, "bgfetch_registration_id(r=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_id (r)");
}

/* uint64_t bgfetch_registration_upload_total(const bgfetch_registration *r) */
static void null_bgfetch_registration_upload_total(void) {
    int ok = 1;
    { /* bgfetch_registration_upload_total(r=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_registration_upload_total(NULL);
        ok &= bi_default(v == 0, "bgfetch_registration_upload_total(r=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_upload_total (r)");
}

/* uint64_t bgfetch_registration_uploaded(const bgfetch_registration *r) */
static void null_bgfetch_registration_uploaded(void) {
    int ok = 1;
    { /* bgfetch_registration_uploaded(r=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_registration_uploaded(NULL);
        ok &= bi_default(v == 0, "bgfetch_registration_uploaded(r=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_uploaded (r)");
}

/* uint64_t bgfetch_registration_download_total(const bgfetch_registration *r) */
static void null_bgfetch_registration_download_total(void) {
    int ok = 1;
    { /* bgfetch_registration_download_total(r=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_registration_download_total(NULL);
        ok &= bi_default(v == 0, "bgfetch_registration_download_total(r=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_download_total (r)");
}

/* uint64_t bgfetch_registration_downloaded(const bgfetch_registration *r) */
static void null_bgfetch_registration_downloaded(void) {
    int ok = 1;
    { /* bgfetch_registration_downloaded(r=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_registration_downloaded(NULL);
        ok &= bi_default(v == 0, "bgfetch_registration_downloaded(r=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_downloaded (r)");
}

/* bgfetch_result bgfetch_registration_result(const bgfetch_registration *r) */
static void null_bgfetch_registration_result(void) {
    int ok = 1;
    { /* bgfetch_registration_result(r=NULL) */
        bi_clear_error();
        bgfetch_result v = bgfetch_registration_result(NULL);
        ok &= bi_default(v == 0, "bgfetch_registration_result(r=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_result (r)");
}

/* bgfetch_failure_reason bgfetch_registration_failure_reason(const bgfetch_registration *r) */
static void null_bgfetch_registration_failure_reason(void) {
    int ok = 1;
    { /* bgfetch_registration_failure_reason(r=NULL) */
        bi_clear_error();
        bgfetch_failure_reason v = bgfetch_registration_failure_reason(NULL);
        ok &= bi_default(v == 0, "bgfetch_registration_failure_reason(r=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_failure_reason (r)");
}

/* bgfetch_state bgfetch_registration_state(const bgfetch_registration *r) */
static void null_bgfetch_registration_state(void) {
    int ok = 1;
    { /* bgfetch_registration_state(r=NULL) */
        bi_clear_error();
        bgfetch_state v = bgfetch_registration_state(NULL);
        ok &= bi_default(v == BGFETCH_RECORD_FAILED, "bgfetch_registration_state(r=NULL)", "BGFETCH_RECORD_FAILED");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_state (r)");
}

/* size_t bgfetch_registration_last_error(const bgfetch_registration *r, char *buf, size_t cap) */
static void null_bgfetch_registration_last_error(void) {
    int ok = 1;
    { /* bgfetch_registration_last_error(r=NULL) */
        char buf[64];
        bi_clear_error();
        size_t v = bgfetch_registration_last_error(NULL, buf, sizeof buf);
        ok &= bi_default(v == 0, "bgfetch_registration_last_error(r=NULL)", "0");
    }
    { /* bgfetch_registration_last_error(buf=NULL) */
        char buf[64];
        bi_clear_error();
        size_t v = bgfetch_registration_last_error(F_R, NULL, sizeof buf);
        (void)v;
        ok &= bi_no_message("bgfetch_registration_last_error(buf=NULL)");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_last_error (r, buf?)");
}

/* uint64_t bgfetch_registration_expected_total(const bgfetch_registration *r, bool *all_known) */
static void null_bgfetch_registration_expected_total(void) {
    int ok = 1;
    { /* bgfetch_registration_expected_total(r=NULL) */
        bool o_all_known = (bool)true;
        bi_clear_error();
        uint64_t v = bgfetch_registration_expected_total(NULL, &o_all_known);
        ok &= bi_default(v == 0, "bgfetch_registration_expected_total(r=NULL)", "0");
        ok &= bi_out_reset(!o_all_known, "bgfetch_registration_expected_total(r=NULL)", "*all_known");
    }
    { /* bgfetch_registration_expected_total(all_known=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_registration_expected_total(F_R, NULL);
        (void)v;
        ok &= bi_no_message("bgfetch_registration_expected_total(all_known=NULL)");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_expected_total (r, all_known?)");
}

/* bool bgfetch_registration_records_available(const bgfetch_registration *r) */
static void null_bgfetch_registration_records_available(void) {
    int ok = 1;
    { /* bgfetch_registration_records_available(r=NULL) */
        bi_clear_error();
        bool v = bgfetch_registration_records_available(NULL);
        ok &= bi_default(v == false, "bgfetch_registration_records_available(r=NULL)", "false");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_records_available (r)");
}

/* char *bgfetch_registration_title(const bgfetch_registration *r) */
static void null_bgfetch_registration_title(void) {
    int ok = 1;
    { /* bgfetch_registration_title(r=NULL) */
        bi_clear_error();
        char *v = bgfetch_registration_title(NULL);
        ok &= bi_default(v == NULL, "bgfetch_registration_title(r=NULL)", "NULL");
        if (v) bgfetch_string_free(v);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_title (r)");
}

/* bgfetch_status bgfetch_registration_icons(const bgfetch_registration *r, bgfetch_icons **out) */
static void null_bgfetch_registration_icons(void) {
    int ok = 1;
    { /* bgfetch_registration_icons(r=NULL) */
        bgfetch_icons *o_out = (bgfetch_icons *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_icons(NULL, &o_out), "bgfetch_registration_icons(r=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_icons(r=NULL)", "*out");
    }
    { /* bgfetch_registration_icons(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_icons(F_R, NULL), "bgfetch_registration_icons(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_icons (r, out)");
}

/* bgfetch_status bgfetch_registration_update_ui(bgfetch_registration *r, const bgfetch_options *ui) */
static void null_bgfetch_registration_update_ui(void) {
    int ok = 1;
    { /* bgfetch_registration_update_ui(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_update_ui(NULL, F_OPTS), "bgfetch_registration_update_ui(r=NULL)", "null");
    }
    { /* bgfetch_registration_update_ui(ui=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_update_ui(F_R, NULL), "bgfetch_registration_update_ui(ui=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_update_ui (r, ui)");
}

/* bgfetch_status bgfetch_registration_abort(bgfetch_registration *r, bool *out_aborted) */
static void null_bgfetch_registration_abort(void) {
    int ok = 1;
    { /* bgfetch_registration_abort(r=NULL) */
        bool o_out_aborted = (bool)true;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_abort(NULL, &o_out_aborted), "bgfetch_registration_abort(r=NULL)", "null");
        ok &= bi_out_reset(!o_out_aborted, "bgfetch_registration_abort(r=NULL)", "*out_aborted");
    }
    { /* bgfetch_registration_abort(out_aborted=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_registration_abort(F_R, NULL), BGFETCH_OK);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_abort (r, out_aborted?)");
}

/* bgfetch_status bgfetch_registration_wait(bgfetch_registration *r, int64_t timeout_ms) */
static void null_bgfetch_registration_wait(void) {
    int ok = 1;
    { /* bgfetch_registration_wait(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_wait(NULL, 0), "bgfetch_registration_wait(r=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_wait (r)");
}

/* bgfetch_status bgfetch_registration_set_progress_callback(bgfetch_registration *r, bgfetch_progress_callback cb, void *userdata, bgfetch_free_callback free_userdata) */
static void null_bgfetch_registration_set_progress_callback(void) {
    int ok = 1;
    { /* bgfetch_registration_set_progress_callback(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_set_progress_callback(NULL, bi_noop_progress, &F_UD, bi_noop_free), "bgfetch_registration_set_progress_callback(r=NULL)", "null");
    }
    { /* bgfetch_registration_set_progress_callback(cb=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(F_R, NULL, &F_UD, bi_noop_free), BGFETCH_OK);
    }
    { /* bgfetch_registration_set_progress_callback(userdata=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(F_R, bi_noop_progress, NULL, bi_noop_free), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(F_R, NULL, NULL, NULL), BGFETCH_OK);
    }
    { /* bgfetch_registration_set_progress_callback(free_userdata=NULL) */
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(F_R, bi_noop_progress, &F_UD, NULL), BGFETCH_OK);
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(F_R, NULL, NULL, NULL), BGFETCH_OK);
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_set_progress_callback (r, cb?, userdata?, free_userdata?)");
}

/* bgfetch_status bgfetch_registration_pause(bgfetch_registration *r) */
static void null_bgfetch_registration_pause(void) {
    int ok = 1;
    { /* bgfetch_registration_pause(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_pause(NULL), "bgfetch_registration_pause(r=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_pause (r)");
}

/* bgfetch_status bgfetch_registration_resume(bgfetch_registration *r) */
static void null_bgfetch_registration_resume(void) {
    int ok = 1;
    { /* bgfetch_registration_resume(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_resume(NULL), "bgfetch_registration_resume(r=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_resume (r)");
}

/* bool bgfetch_registration_paused(const bgfetch_registration *r) */
static void null_bgfetch_registration_paused(void) {
    int ok = 1;
    { /* bgfetch_registration_paused(r=NULL) */
        bi_clear_error();
        bool v = bgfetch_registration_paused(NULL);
        ok &= bi_default(v == false, "bgfetch_registration_paused(r=NULL)", "false");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_paused (r)");
}

/* bgfetch_status bgfetch_registration_release(bgfetch_registration *r) */
static void null_bgfetch_registration_release(void) {
    int ok = 1;
    { /* bgfetch_registration_release(r=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_release(NULL), "bgfetch_registration_release(r=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_release (r)");
}

/* void bgfetch_registration_free(bgfetch_registration *r) */
static void null_bgfetch_registration_free(void) {
    int ok = 1;
    { /* bgfetch_registration_free(r=NULL) */
        bi_clear_error();
        bgfetch_registration_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_free (r?)");
}

/* bgfetch_status bgfetch_registration_match(bgfetch_registration *r, const bgfetch_request *req, uint32_t query_flags, bgfetch_record **out) */
static void null_bgfetch_registration_match(void) {
    int ok = 1;
    { /* bgfetch_registration_match(r=NULL) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match(NULL, F_REQ, 0, &o_out), "bgfetch_registration_match(r=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match(r=NULL)", "*out");
    }
    { /* bgfetch_registration_match(req=NULL) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match(F_R, NULL, 0, &o_out), "bgfetch_registration_match(req=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match(req=NULL)", "*out");
    }
    { /* bgfetch_registration_match(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match(F_R, F_REQ, 0, NULL), "bgfetch_registration_match(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_match (r, req, out)");
}

/* bgfetch_status bgfetch_registration_match_url(bgfetch_registration *r, const char *url, uint32_t query_flags, bgfetch_record **out) */
static void null_bgfetch_registration_match_url(void) {
    int ok = 1;
    { /* bgfetch_registration_match_url(r=NULL) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(NULL, F_URL, 0, &o_out), "bgfetch_registration_match_url(r=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(r=NULL)", "*out");
    }
    { /* bgfetch_registration_match_url(url=NULL) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, NULL, 0, &o_out), "bgfetch_registration_match_url(url=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=NULL)", "*out");
    }
    { /* bgfetch_registration_match_url(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, F_URL, 0, NULL), "bgfetch_registration_match_url(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_match_url (r, url, out)");
}

static void utf8_bgfetch_registration_match_url(void) {
    int ok = 1;
    { /* bgfetch_registration_match_url(url=BI_BAD_LEAD) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, BI_BAD_LEAD, 0, &o_out), "bgfetch_registration_match_url(url=BI_BAD_LEAD)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=BI_BAD_LEAD)", "*out");
    }
    { /* bgfetch_registration_match_url(url=BI_BAD_OVERLONG_SLASH) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, BI_BAD_OVERLONG_SLASH, 0, &o_out), "bgfetch_registration_match_url(url=BI_BAD_OVERLONG_SLASH)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=BI_BAD_OVERLONG_SLASH)", "*out");
    }
    { /* bgfetch_registration_match_url(url=BI_BAD_OVERLONG_NUL) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, BI_BAD_OVERLONG_NUL, 0, &o_out), "bgfetch_registration_match_url(url=BI_BAD_OVERLONG_NUL)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=BI_BAD_OVERLONG_NUL)", "*out");
    }
    { /* bgfetch_registration_match_url(url=BI_BAD_SURROGATE) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, BI_BAD_SURROGATE, 0, &o_out), "bgfetch_registration_match_url(url=BI_BAD_SURROGATE)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=BI_BAD_SURROGATE)", "*out");
    }
    { /* bgfetch_registration_match_url(url=BI_BAD_TRUNCATED) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, BI_BAD_TRUNCATED, 0, &o_out), "bgfetch_registration_match_url(url=BI_BAD_TRUNCATED)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=BI_BAD_TRUNCATED)", "*out");
    }
    { /* bgfetch_registration_match_url(url=BI_BAD_TOO_BIG) */
        bgfetch_record *o_out = (bgfetch_record *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_url(F_R, BI_BAD_TOO_BIG, 0, &o_out), "bgfetch_registration_match_url(url=BI_BAD_TOO_BIG)", "utf");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_url(url=BI_BAD_TOO_BIG)", "*out");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_registration_match_url (url)");
}

/* bgfetch_status bgfetch_registration_match_all(bgfetch_registration *r, const bgfetch_request *req, uint32_t query_flags, bgfetch_records **out) */
static void null_bgfetch_registration_match_all(void) {
    int ok = 1;
    { /* bgfetch_registration_match_all(r=NULL) */
        bgfetch_records *o_out = (bgfetch_records *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_all(NULL, F_REQ, 0, &o_out), "bgfetch_registration_match_all(r=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_registration_match_all(r=NULL)", "*out");
    }
    { /* bgfetch_registration_match_all(req=NULL) */
        bgfetch_records *o_out = (bgfetch_records *)BI_SENTINEL;
        bi_clear_error();
        ok &= EXPECT_ST(bgfetch_registration_match_all(F_R, NULL, 0, &o_out), BGFETCH_OK);
        ok &= EXPECT(o_out != NULL); bgfetch_records_free(o_out);
    }
    { /* bgfetch_registration_match_all(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_registration_match_all(F_R, F_REQ, 0, NULL), "bgfetch_registration_match_all(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_registration_match_all (r, req?, out)");
}

/* size_t bgfetch_records_len(const bgfetch_records *rs) */
static void null_bgfetch_records_len(void) {
    int ok = 1;
    { /* bgfetch_records_len(rs=NULL) */
        bi_clear_error();
        size_t v = bgfetch_records_len(NULL);
        ok &= bi_default(v == 0, "bgfetch_records_len(rs=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_records_len (rs)");
}

/* const bgfetch_record *bgfetch_records_get(const bgfetch_records *rs, size_t i) */
static void null_bgfetch_records_get(void) {
    int ok = 1;
    { /* bgfetch_records_get(rs=NULL) */
        bi_clear_error();
        const bgfetch_record *v = bgfetch_records_get(NULL, 0);
        ok &= bi_default(v == NULL, "bgfetch_records_get(rs=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_records_get (rs)");
}

/* void bgfetch_records_free(bgfetch_records *rs) */
static void null_bgfetch_records_free(void) {
    int ok = 1;
    { /* bgfetch_records_free(rs=NULL) */
        bi_clear_error();
        bgfetch_records_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_records_free (rs?)");
}

/* const char *bgfetch_record_url(const bgfetch_record *rec) */
static void null_bgfetch_record_url(void) {
    int ok = 1;
    { /* bgfetch_record_url(rec=NULL) */
        bi_clear_error();
        const char *v = bgfetch_record_url(NULL);
        ok &= bi_default(v == NULL, "bgfetch_record_url(rec=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_url (rec)");
}

/* const char *bgfetch_record_method(const bgfetch_record *rec) */
static void null_bgfetch_record_method(void) {
    int ok = 1;
    { /* bgfetch_record_method(rec=NULL) */
        bi_clear_error();
        const char *v = bgfetch_record_method(NULL);
        ok &= bi_default(v == NULL, "bgfetch_record_method(rec=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_method (rec)");
}

/* size_t bgfetch_record_header_count(const bgfetch_record *rec) */
static void null_bgfetch_record_header_count(void) {
    int ok = 1;
    { /* bgfetch_record_header_count(rec=NULL) */
        bi_clear_error();
        size_t v = bgfetch_record_header_count(NULL);
        ok &= bi_default(v == 0, "bgfetch_record_header_count(rec=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_header_count (rec)");
}

/* bgfetch_status bgfetch_record_header_at(const bgfetch_record *rec, size_t i, const char **name, const char **value) */
static void null_bgfetch_record_header_at(void) {
    int ok = 1;
    { /* bgfetch_record_header_at(rec=NULL) */
        const char *o_name = (const char *)BI_SENTINEL;
        const char *o_value = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_header_at(NULL, 0, &o_name, &o_value), "bgfetch_record_header_at(rec=NULL)", "null");
        ok &= bi_out_reset(o_name == NULL, "bgfetch_record_header_at(rec=NULL)", "*name");
        ok &= bi_out_reset(o_value == NULL, "bgfetch_record_header_at(rec=NULL)", "*value");
    }
    { /* bgfetch_record_header_at(name=NULL) */
        const char *o_value = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_header_at(F_REC, 0, NULL, &o_value), "bgfetch_record_header_at(name=NULL)", "null");
        ok &= bi_out_reset(o_value == NULL, "bgfetch_record_header_at(name=NULL)", "*value");
    }
    { /* bgfetch_record_header_at(value=NULL) */
        const char *o_name = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_header_at(F_REC, 0, &o_name, NULL), "bgfetch_record_header_at(value=NULL)", "null");
        ok &= bi_out_reset(o_name == NULL, "bgfetch_record_header_at(value=NULL)", "*name");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_header_at (rec, name, value)");
}

/* uint64_t bgfetch_record_body_size(const bgfetch_record *rec) */
static void null_bgfetch_record_body_size(void) {
    int ok = 1;
    { /* bgfetch_record_body_size(rec=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_record_body_size(NULL);
        ok &= bi_default(v == 0, "bgfetch_record_body_size(rec=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_body_size (rec)");
}

/* bgfetch_status bgfetch_record_read_body(const bgfetch_record *rec, uint64_t offset, uint8_t *buf, size_t cap, size_t *n_read) */
static void null_bgfetch_record_read_body(void) {
    int ok = 1;
    { /* bgfetch_record_read_body(rec=NULL) */
        uint8_t buf[64];
        size_t o_n_read = (size_t)12345;
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_read_body(NULL, 0, buf, sizeof buf, &o_n_read), "bgfetch_record_read_body(rec=NULL)", "null");
        ok &= bi_out_reset(!o_n_read, "bgfetch_record_read_body(rec=NULL)", "*n_read");
    }
    { /* bgfetch_record_read_body(buf=NULL) */
        uint8_t buf[64];
        size_t o_n_read = (size_t)12345;
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_read_body(F_REC, 0, NULL, sizeof buf, &o_n_read), "bgfetch_record_read_body(buf=NULL)", "null");
        ok &= bi_out_reset(!o_n_read, "bgfetch_record_read_body(buf=NULL)", "*n_read");
    }
    { /* bgfetch_record_read_body(n_read=NULL) */
        uint8_t buf[64];
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_read_body(F_REC, 0, buf, sizeof buf, NULL), "bgfetch_record_read_body(n_read=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_read_body (rec, buf, n_read)");
}

/* bgfetch_status bgfetch_record_response(const bgfetch_record *rec, int64_t timeout_ms, bgfetch_response **out) */
static void null_bgfetch_record_response(void) {
    int ok = 1;
    { /* bgfetch_record_response(rec=NULL) */
        bgfetch_response *o_out = (bgfetch_response *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_response(NULL, 0, &o_out), "bgfetch_record_response(rec=NULL)", "null");
        ok &= bi_out_reset(o_out == NULL, "bgfetch_record_response(rec=NULL)", "*out");
    }
    { /* bgfetch_record_response(out=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_record_response(F_REC, 0, NULL), "bgfetch_record_response(out=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_response (rec, out)");
}

/* bgfetch_state bgfetch_record_state(const bgfetch_record *rec) */
static void null_bgfetch_record_state(void) {
    int ok = 1;
    { /* bgfetch_record_state(rec=NULL) */
        bi_clear_error();
        bgfetch_state v = bgfetch_record_state(NULL);
        ok &= bi_default(v == BGFETCH_RECORD_FAILED, "bgfetch_record_state(rec=NULL)", "BGFETCH_RECORD_FAILED");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_state (rec)");
}

/* uint32_t bgfetch_record_attempts(const bgfetch_record *rec) */
static void null_bgfetch_record_attempts(void) {
    int ok = 1;
    { /* bgfetch_record_attempts(rec=NULL) */
        bi_clear_error();
        uint32_t v = bgfetch_record_attempts(NULL);
        ok &= bi_default(v == 0, "bgfetch_record_attempts(rec=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_attempts (rec)");
}

/* int64_t bgfetch_record_retry_in_ms(const bgfetch_record *rec) */
static void null_bgfetch_record_retry_in_ms(void) {
    int ok = 1;
    { /* bgfetch_record_retry_in_ms(rec=NULL) */
        bi_clear_error();
        int64_t v = bgfetch_record_retry_in_ms(NULL);
        ok &= bi_default(v == -1, "bgfetch_record_retry_in_ms(rec=NULL)", "-1");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_retry_in_ms (rec)");
}

/* size_t bgfetch_record_last_error(const bgfetch_record *rec, char *buf, size_t cap) */
static void null_bgfetch_record_last_error(void) {
    int ok = 1;
    { /* bgfetch_record_last_error(rec=NULL) */
        char buf[64];
        bi_clear_error();
        size_t v = bgfetch_record_last_error(NULL, buf, sizeof buf);
        ok &= bi_default(v == 0, "bgfetch_record_last_error(rec=NULL)", "0");
    }
    { /* bgfetch_record_last_error(buf=NULL) */
        char buf[64];
        bi_clear_error();
        size_t v = bgfetch_record_last_error(F_REC, NULL, sizeof buf);
        (void)v;
        ok &= bi_no_message("bgfetch_record_last_error(buf=NULL)");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_last_error (rec, buf?)");
}

/* void bgfetch_record_free(bgfetch_record *rec) */
static void null_bgfetch_record_free(void) {
    int ok = 1;
    { /* bgfetch_record_free(rec=NULL) */
        bi_clear_error();
        bgfetch_record_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_record_free (rec?)");
}

/* uint16_t bgfetch_response_status(const bgfetch_response *res) */
static void null_bgfetch_response_status(void) {
    int ok = 1;
    { /* bgfetch_response_status(res=NULL) */
        bi_clear_error();
        uint16_t v = bgfetch_response_status(NULL);
        ok &= bi_default(v == 0, "bgfetch_response_status(res=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_status (res)");
}

/* bool bgfetch_response_ok(const bgfetch_response *res) */
static void null_bgfetch_response_ok(void) {
    int ok = 1;
    { /* bgfetch_response_ok(res=NULL) */
        bi_clear_error();
        bool v = bgfetch_response_ok(NULL);
        ok &= bi_default(v == false, "bgfetch_response_ok(res=NULL)", "false");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_ok (res)");
}

/* const char *bgfetch_response_url(const bgfetch_response *res) */
static void null_bgfetch_response_url(void) {
    int ok = 1;
    { /* bgfetch_response_url(res=NULL) */
        bi_clear_error();
        const char *v = bgfetch_response_url(NULL);
        ok &= bi_default(v == NULL, "bgfetch_response_url(res=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_url (res)");
}

/* const char *bgfetch_response_header(const bgfetch_response *res, const char *name) */
static void null_bgfetch_response_header(void) {
    int ok = 1;
    { /* bgfetch_response_header(res=NULL) */
        bi_clear_error();
        const char *v = bgfetch_response_header(NULL, "content-type");
        ok &= bi_default(v == NULL, "bgfetch_response_header(res=NULL)", "NULL");
    }
    { /* bgfetch_response_header(name=NULL) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, NULL);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_header (res, name)");
}

static void utf8_bgfetch_response_header(void) {
    int ok = 1;
    { /* bgfetch_response_header(name=BI_BAD_LEAD) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, BI_BAD_LEAD);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=BI_BAD_LEAD)", "NULL");
    }
    { /* bgfetch_response_header(name=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, BI_BAD_OVERLONG_SLASH);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=BI_BAD_OVERLONG_SLASH)", "NULL");
    }
    { /* bgfetch_response_header(name=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, BI_BAD_OVERLONG_NUL);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=BI_BAD_OVERLONG_NUL)", "NULL");
    }
    { /* bgfetch_response_header(name=BI_BAD_SURROGATE) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, BI_BAD_SURROGATE);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=BI_BAD_SURROGATE)", "NULL");
    }
    { /* bgfetch_response_header(name=BI_BAD_TRUNCATED) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, BI_BAD_TRUNCATED);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=BI_BAD_TRUNCATED)", "NULL");
    }
    { /* bgfetch_response_header(name=BI_BAD_TOO_BIG) */
        bi_clear_error();
        const char *v = bgfetch_response_header(F_RES, BI_BAD_TOO_BIG);
        ok &= bi_default(v == NULL, "bgfetch_response_header(name=BI_BAD_TOO_BIG)", "NULL");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_response_header (name)");
}

/* size_t bgfetch_response_header_count(const bgfetch_response *res) */
static void null_bgfetch_response_header_count(void) {
    int ok = 1;
    { /* bgfetch_response_header_count(res=NULL) */
        bi_clear_error();
        size_t v = bgfetch_response_header_count(NULL);
        ok &= bi_default(v == 0, "bgfetch_response_header_count(res=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_header_count (res)");
}

/* bgfetch_status bgfetch_response_header_at(const bgfetch_response *res, size_t i, const char **name, const char **value) */
static void null_bgfetch_response_header_at(void) {
    int ok = 1;
    { /* bgfetch_response_header_at(res=NULL) */
        const char *o_name = (const char *)BI_SENTINEL;
        const char *o_value = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_header_at(NULL, 0, &o_name, &o_value), "bgfetch_response_header_at(res=NULL)", "null");
        ok &= bi_out_reset(o_name == NULL, "bgfetch_response_header_at(res=NULL)", "*name");
        ok &= bi_out_reset(o_value == NULL, "bgfetch_response_header_at(res=NULL)", "*value");
    }
    { /* bgfetch_response_header_at(name=NULL) */
        const char *o_value = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_header_at(F_RES, 0, NULL, &o_value), "bgfetch_response_header_at(name=NULL)", "null");
        ok &= bi_out_reset(o_value == NULL, "bgfetch_response_header_at(name=NULL)", "*value");
    }
    { /* bgfetch_response_header_at(value=NULL) */
        const char *o_name = (const char *)BI_SENTINEL;
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_header_at(F_RES, 0, &o_name, NULL), "bgfetch_response_header_at(value=NULL)", "null");
        ok &= bi_out_reset(o_name == NULL, "bgfetch_response_header_at(value=NULL)", "*name");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_header_at (res, name, value)");
}

/* bool bgfetch_response_complete(const bgfetch_response *res) */
static void null_bgfetch_response_complete(void) {
    int ok = 1;
    { /* bgfetch_response_complete(res=NULL) */
        bi_clear_error();
        bool v = bgfetch_response_complete(NULL);
        ok &= bi_default(v == false, "bgfetch_response_complete(res=NULL)", "false");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_complete (res)");
}

/* bgfetch_status bgfetch_response_wait(const bgfetch_response *res, int64_t timeout_ms) */
static void null_bgfetch_response_wait(void) {
    int ok = 1;
    { /* bgfetch_response_wait(res=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_wait(NULL, 0), "bgfetch_response_wait(res=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_wait (res)");
}

/* uint64_t bgfetch_response_body_size(const bgfetch_response *res) */
static void null_bgfetch_response_body_size(void) {
    int ok = 1;
    { /* bgfetch_response_body_size(res=NULL) */
        bi_clear_error();
        uint64_t v = bgfetch_response_body_size(NULL);
        ok &= bi_default(v == 0, "bgfetch_response_body_size(res=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_body_size (res)");
}

/* const char *bgfetch_response_body_path(const bgfetch_response *res) */
static void null_bgfetch_response_body_path(void) {
    int ok = 1;
    { /* bgfetch_response_body_path(res=NULL) */
        bi_clear_error();
        const char *v = bgfetch_response_body_path(NULL);
        ok &= bi_default(v == NULL, "bgfetch_response_body_path(res=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_body_path (res)");
}

/* bgfetch_status bgfetch_response_read(const bgfetch_response *res, uint64_t offset, uint8_t *buf, size_t cap, int64_t timeout_ms, size_t *n_read) */
static void null_bgfetch_response_read(void) {
    int ok = 1;
    { /* bgfetch_response_read(res=NULL) */
        uint8_t buf[64];
        size_t o_n_read = (size_t)12345;
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_read(NULL, 0, buf, sizeof buf, 0, &o_n_read), "bgfetch_response_read(res=NULL)", "null");
        ok &= bi_out_reset(!o_n_read, "bgfetch_response_read(res=NULL)", "*n_read");
    }
    { /* bgfetch_response_read(buf=NULL) */
        uint8_t buf[64];
        size_t o_n_read = (size_t)12345;
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_read(F_RES, 0, NULL, sizeof buf, 0, &o_n_read), "bgfetch_response_read(buf=NULL)", "null");
        ok &= bi_out_reset(!o_n_read, "bgfetch_response_read(buf=NULL)", "*n_read");
    }
    { /* bgfetch_response_read(n_read=NULL) */
        uint8_t buf[64];
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_read(F_RES, 0, buf, sizeof buf, 0, NULL), "bgfetch_response_read(n_read=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_read (res, buf, n_read)");
}

/* bgfetch_status bgfetch_response_save(const bgfetch_response *res, const char *dest_path, int64_t timeout_ms) */
static void null_bgfetch_response_save(void) {
    int ok = 1;
    { /* bgfetch_response_save(res=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(NULL, P("saved-by-null-args").s, 0), "bgfetch_response_save(res=NULL)", "null");
    }
    { /* bgfetch_response_save(dest_path=NULL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, NULL, 0), "bgfetch_response_save(dest_path=NULL)", "null");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_save (res, dest_path)");
}

static void utf8_bgfetch_response_save(void) {
    int ok = 1;
    { /* bgfetch_response_save(dest_path=BI_BAD_LEAD) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, BI_BAD_LEAD, 0), "bgfetch_response_save(dest_path=BI_BAD_LEAD)", "utf");
    }
    { /* bgfetch_response_save(dest_path=BI_BAD_OVERLONG_SLASH) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, BI_BAD_OVERLONG_SLASH, 0), "bgfetch_response_save(dest_path=BI_BAD_OVERLONG_SLASH)", "utf");
    }
    { /* bgfetch_response_save(dest_path=BI_BAD_OVERLONG_NUL) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, BI_BAD_OVERLONG_NUL, 0), "bgfetch_response_save(dest_path=BI_BAD_OVERLONG_NUL)", "utf");
    }
    { /* bgfetch_response_save(dest_path=BI_BAD_SURROGATE) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, BI_BAD_SURROGATE, 0), "bgfetch_response_save(dest_path=BI_BAD_SURROGATE)", "utf");
    }
    { /* bgfetch_response_save(dest_path=BI_BAD_TRUNCATED) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, BI_BAD_TRUNCATED, 0), "bgfetch_response_save(dest_path=BI_BAD_TRUNCATED)", "utf");
    }
    { /* bgfetch_response_save(dest_path=BI_BAD_TOO_BIG) */
        bi_clear_error();
        ok &= bi_refused(bgfetch_response_save(F_RES, BI_BAD_TOO_BIG, 0), "bgfetch_response_save(dest_path=BI_BAD_TOO_BIG)", "utf");
    }
    CHECK(ok, "invalid UTF-8 in each string argument of bgfetch_response_save (dest_path)");
}

/* void bgfetch_response_free(bgfetch_response *res) */
static void null_bgfetch_response_free(void) {
    int ok = 1;
    { /* bgfetch_response_free(res=NULL) */
        bi_clear_error();
        bgfetch_response_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_response_free (res?)");
}

/* size_t bgfetch_strings_len(const bgfetch_strings *s) */
static void null_bgfetch_strings_len(void) {
    int ok = 1;
    { /* bgfetch_strings_len(s=NULL) */
        bi_clear_error();
        size_t v = bgfetch_strings_len(NULL);
        ok &= bi_default(v == 0, "bgfetch_strings_len(s=NULL)", "0");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_strings_len (s)");
}

/* const char *bgfetch_strings_get(const bgfetch_strings *s, size_t i) */
static void null_bgfetch_strings_get(void) {
    int ok = 1;
    { /* bgfetch_strings_get(s=NULL) */
        bi_clear_error();
        const char *v = bgfetch_strings_get(NULL, 0);
        ok &= bi_default(v == NULL, "bgfetch_strings_get(s=NULL)", "NULL");
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_strings_get (s)");
}

/* void bgfetch_strings_free(bgfetch_strings *s) */
static void null_bgfetch_strings_free(void) {
    int ok = 1;
    { /* bgfetch_strings_free(s=NULL) */
        bi_clear_error();
        bgfetch_strings_free(NULL); /* a no-op: must not crash */
    }
    CHECK(ok, "NULL in each pointer argument of bgfetch_strings_free (s?)");
}

/* 113 functions of include/bgfetch.h */
static void gen_null_arguments(void) {
    null_bgfetch_status_name();
    null_bgfetch_last_error();
    null_bgfetch_version();
    null_bgfetch_result_str();
    null_bgfetch_failure_reason_str();
    null_bgfetch_state_str();
    null_bgfetch_string_free();
    null_bgfetch_config_new();
    null_bgfetch_config_free();
    null_bgfetch_config_set_base_url();
    null_bgfetch_config_set_max_connections();
    null_bgfetch_config_set_max_connections_per_fetch();
    null_bgfetch_config_set_max_segments();
    null_bgfetch_config_set_quota();
    null_bgfetch_config_set_user_agent();
    null_bgfetch_config_set_timeouts();
    null_bgfetch_config_set_retries();
    null_bgfetch_config_set_max_backoff();
    null_bgfetch_config_set_no_progress_timeout();
    null_bgfetch_config_set_fail_after_attempts();
    null_bgfetch_config_set_retry_statuses();
    null_bgfetch_config_set_proxy();
    null_bgfetch_config_set_max_download_rate();
    null_bgfetch_config_set_progress_interval();
    null_bgfetch_config_set_ca_file();
    null_bgfetch_config_set_dispatch();
    null_bgfetch_config_set_allow_https_to_http();
    null_bgfetch_manager_open();
    null_bgfetch_manager_close();
    null_bgfetch_manager_event_fd();
    null_bgfetch_manager_dispatch();
    null_bgfetch_manager_set_event_callback();
    null_bgfetch_fetch();
    null_bgfetch_fetch_urls();
    null_bgfetch_get();
    null_bgfetch_get_ids();
    null_bgfetch_manager_problem_count();
    null_bgfetch_manager_problem();
    null_bgfetch_manager_used_bytes();
    null_bgfetch_manager_set_offline();
    null_bgfetch_manager_offline();
    null_bgfetch_manager_set_max_download_rate();
    null_bgfetch_request_new();
    null_bgfetch_request_set_method();
    null_bgfetch_request_add_header();
    null_bgfetch_request_set_body();
    null_bgfetch_request_set_integrity();
    null_bgfetch_request_free();
    null_bgfetch_options_new();
    null_bgfetch_options_set_title();
    null_bgfetch_options_add_icon();
    null_bgfetch_options_set_download_total();
    null_bgfetch_options_set_start_paused();
    null_bgfetch_options_free();
    null_bgfetch_icons_len();
    null_bgfetch_icons_get();
    null_bgfetch_icons_free();
    null_bgfetch_registration_id();
    null_bgfetch_registration_upload_total();
    null_bgfetch_registration_uploaded();
    null_bgfetch_registration_download_total();
    null_bgfetch_registration_downloaded();
    null_bgfetch_registration_result();
    null_bgfetch_registration_failure_reason();
    null_bgfetch_registration_state();
    null_bgfetch_registration_last_error();
    null_bgfetch_registration_expected_total();
    null_bgfetch_registration_records_available();
    null_bgfetch_registration_title();
    null_bgfetch_registration_icons();
    null_bgfetch_registration_update_ui();
    null_bgfetch_registration_abort();
    null_bgfetch_registration_wait();
    null_bgfetch_registration_set_progress_callback();
    null_bgfetch_registration_pause();
    null_bgfetch_registration_resume();
    null_bgfetch_registration_paused();
    null_bgfetch_registration_release();
    null_bgfetch_registration_free();
    null_bgfetch_registration_match();
    null_bgfetch_registration_match_url();
    null_bgfetch_registration_match_all();
    null_bgfetch_records_len();
    null_bgfetch_records_get();
    null_bgfetch_records_free();
    null_bgfetch_record_url();
    null_bgfetch_record_method();
    null_bgfetch_record_header_count();
    null_bgfetch_record_header_at();
    null_bgfetch_record_body_size();
    null_bgfetch_record_read_body();
    null_bgfetch_record_response();
    null_bgfetch_record_state();
    null_bgfetch_record_attempts();
    null_bgfetch_record_retry_in_ms();
    null_bgfetch_record_last_error();
    null_bgfetch_record_free();
    null_bgfetch_response_status();
    null_bgfetch_response_ok();
    null_bgfetch_response_url();
    null_bgfetch_response_header();
    null_bgfetch_response_header_count();
    null_bgfetch_response_header_at();
    null_bgfetch_response_complete();
    null_bgfetch_response_wait();
    null_bgfetch_response_body_size();
    null_bgfetch_response_body_path();
    null_bgfetch_response_read();
    null_bgfetch_response_save();
    null_bgfetch_response_free();
    null_bgfetch_strings_len();
    null_bgfetch_strings_get();
    null_bgfetch_strings_free();
}

static void gen_invalid_utf8(void) {
    utf8_bgfetch_config_new();
    utf8_bgfetch_config_set_base_url();
    utf8_bgfetch_config_set_user_agent();
    utf8_bgfetch_config_set_proxy();
    utf8_bgfetch_config_set_ca_file();
    utf8_bgfetch_fetch();
    utf8_bgfetch_fetch_urls();
    utf8_bgfetch_get();
    utf8_bgfetch_request_new();
    utf8_bgfetch_request_set_method();
    utf8_bgfetch_request_add_header();
    utf8_bgfetch_request_set_integrity();
    utf8_bgfetch_options_set_title();
    utf8_bgfetch_options_add_icon();
    utf8_bgfetch_registration_match_url();
    utf8_bgfetch_response_header();
    utf8_bgfetch_response_save();
}

/* ===== END GENERATED ===== */

/* ------------------------------------------------------------------------------------------ */
/* part 2: by hand                                                                             */

static void t_refused_calls_register_nothing(void) {
    int ok = 1;
    bgfetch_strings *ids = NULL;
    ok &= EXPECT_ST(bgfetch_get_ids(F_M, &ids), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_strings_len(ids), 1);
    ok &= EXPECT_STR(bgfetch_strings_get(ids, 0), "fixture");
    bgfetch_strings_free(ids);
    ok &= EXPECT_U64(bgfetch_registration_result(F_R), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT(bgfetch_registration_records_available(F_R));
    CHECK(ok, "after all the refused calls: nothing else is registered, the fixture is intact");
}

static void t_empty_strings(void) {
    int ok = 1;
    bgfetch_registration *out = (bgfetch_registration *)BI_SENTINEL;
    bgfetch_record *rec = (bgfetch_record *)BI_SENTINEL;
    bgfetch_request *r = NULL;
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_manager *nb = bi_open_without_base("store-no-base");
    const char *empty_url[1];
    empty_url[0] = "";

    ok &= REFUSED(bgfetch_fetch_urls(F_M, "", F_URLS, 1, NULL, &out));
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_fetch(F_M, "", F_REQS, 1, NULL, &out));
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_get(F_M, "", &out)); /* 0.2: as fetch (WPT get() with an empty id) */
    ok &= EXPECT(out == NULL);
    /* an empty request list */
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_fetch_urls(F_M, "no-urls", F_URLS, 0, NULL, &out));
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_fetch(F_M, "no-requests", NULL, 0, NULL, &out));
    ok &= EXPECT(out == NULL);

    bi_clear_error();
    ok &= EXPECT(bgfetch_config_new("") == NULL);
    ok &= bi_has_message("bgfetch_config_new(\"\")", NULL);
    ok &= REFUSED(bgfetch_config_set_base_url(F_CFG, ""));
    ok &= EXPECT_ST(bgfetch_request_new("", &r), BGFETCH_OK); /* checked by fetch */
    if (r) {
        ok &= REFUSED(bgfetch_request_set_method(r, ""));
        ok &= REFUSED(bgfetch_request_add_header(r, "", "v"));
        ok &= EXPECT_ST(bgfetch_request_add_header(r, "X-Empty", ""), BGFETCH_OK);
        bgfetch_request_free(r);
    }
    ok &= REFUSED(bgfetch_options_add_icon(o, "", NULL, NULL, NULL)); /* src is required */
    ok &= EXPECT_ST(bgfetch_options_set_title(o, ""), BGFETCH_OK);
    ok &= REFUSED(bgfetch_response_save(F_RES, "", -1));
    /* "" resolves to the base URL itself: no record has it */
    ok &= EXPECT_ST(bgfetch_registration_match_url(F_R, "", 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    /* without a base URL, "" is not a URL */
    ok &= EXPECT(nb != NULL);
    if (nb) {
        out = (bgfetch_registration *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_fetch_urls(nb, "empty-url", empty_url, 1, NULL, &out));
        ok &= EXPECT(out == NULL);
        ok &= EXPECT(bi_count_ids(nb) == 0);
        bgfetch_manager_close(nb);
    }
    bgfetch_options_free(o);
    ok &= EXPECT(bi_count_ids(F_M) == 1);
    CHECK(ok, "empty strings: empty id, request list, store dir, URL without a base, method, "
              "header name, icon src and save path are refused; empty values/titles are fine");
}

static void t_huge_strings(void) {
    int ok = 1;
    const size_t MIB = 1024 * 1024;
    char *url = bi_long_string(U("bytes/10?seed=5&pad=").s, 'a', MIB);
    char *title = bi_long_string("", 't', MIB);
    char *id64k = bi_long_string("", 'i', 65536);
    char *id64k1 = bi_long_string("", 'j', 65537);
    char *id_utf8_ok = bi_long_string("", 'k', 65536);   /* 65534 'k' + "é" = 65536 bytes */
    char *id_utf8_bad = bi_long_string("", 'l', 65537);  /* 65535 'l' + "é" = 65537 bytes */
    bgfetch_request *r = NULL;
    bgfetch_record *rec = (bgfetch_record *)BI_SENTINEL;
    bgfetch_registration *out = NULL, *g = NULL;
    bgfetch_options *o = bgfetch_options_new();
    const char *urls[1];
    h_str small = U("bytes/10?seed=6");
    bgfetch_status st;
    if (!url || !title || !id64k || !id64k1 || !id_utf8_ok || !id_utf8_bad) {
        CHECK(0, "huge strings: allocation");
        return;
    }
    memcpy(id_utf8_ok + 65534, "\xc3\xa9", 2);
    memcpy(id_utf8_bad + 65535, "\xc3\xa9", 2);

    /* a 1 MiB URL: a request, a query, a title; a fetch is either refused or settles */
    ok &= EXPECT_ST(bgfetch_request_new(url, &r), BGFETCH_OK);
    bgfetch_request_free(r);
    ok &= EXPECT_ST(bgfetch_registration_match_url(F_R, url, 0, &rec), BGFETCH_OK);
    ok &= EXPECT(rec == NULL);
    ok &= EXPECT_ST(bgfetch_get(F_M, url, &g), BGFETCH_OK);
    ok &= EXPECT(g == NULL);
    ok &= EXPECT_ST(bgfetch_options_set_title(o, title), BGFETCH_OK);
    urls[0] = url;
    st = bgfetch_fetch_urls(F_M, "huge-url", urls, 1, NULL, &out);
    if (st == BGFETCH_OK) {
        bgfetch_records *rs = NULL;
        ok &= EXPECT(out != NULL);
        ok &= EXPECT_ST(bgfetch_registration_wait(out, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT(bgfetch_registration_result(out) != BGFETCH_RESULT_NONE);
        h_diag("a 1 MiB URL was accepted; the fetch settled as %s/%s",
               bgfetch_result_str(bgfetch_registration_result(out)),
               bgfetch_failure_reason_str(bgfetch_registration_failure_reason(out)));
        ok &= EXPECT_ST(bgfetch_registration_match_all(out, NULL, 0, &rs), BGFETCH_OK);
        if (rs && bgfetch_records_len(rs) == 1) {
            const char *ru = bgfetch_record_url(bgfetch_records_get(rs, 0));
            ok &= EXPECT(ru && strlen(ru) == MIB);
        } else {
            ok &= EXPECT(0);
        }
        bgfetch_records_free(rs);
        ok &= bi_settle_and_release(out);
    } else {
        ok &= bi_fails(st, BGFETCH_E_INVALID_ARGUMENT, "fetch of a 1 MiB URL", NULL);
        ok &= EXPECT(out == NULL);
    }
    CHECK(ok, "a 1 MiB URL: request_new, match_url, get and set_title work; a fetch of it is "
              "refused or settles, never crashes");

    /* ids: 65536 bytes are fine, 65537 are not (bytes, not characters) */
    ok = 1;
    out = NULL;
    urls[0] = small.s;
    ok &= EXPECT_ST(bgfetch_fetch_urls(F_M, id64k, urls, 1, NULL, &out), BGFETCH_OK);
    if (out) {
        bgfetch_strings *ids = NULL;
        ok &= EXPECT(strcmp(bgfetch_registration_id(out), id64k) == 0);
        g = NULL;
        ok &= EXPECT_ST(bgfetch_get(F_M, id64k, &g), BGFETCH_OK);
        ok &= EXPECT(g != NULL && strcmp(bgfetch_registration_id(g), id64k) == 0);
        bgfetch_registration_free(g);
        ok &= EXPECT_ST(bgfetch_get_ids(F_M, &ids), BGFETCH_OK);
        ok &= EXPECT(h_strings_contains(ids, id64k));
        bgfetch_strings_free(ids);
        ok &= bi_settle_and_release(out);
    }
    out = NULL;
    ok &= EXPECT_ST(bgfetch_fetch_urls(F_M, id_utf8_ok, urls, 1, NULL, &out), BGFETCH_OK);
    if (out) ok &= bi_settle_and_release(out);
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_fetch_urls(F_M, id64k1, urls, 1, NULL, &out));
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_fetch(F_M, id64k1, F_REQS, 1, NULL, &out));
    ok &= EXPECT(out == NULL);
    out = (bgfetch_registration *)BI_SENTINEL;
    ok &= REFUSED(bgfetch_fetch_urls(F_M, id_utf8_bad, urls, 1, NULL, &out));
    ok &= EXPECT(out == NULL);
    if (strlen(bgfetch_last_error()) > 4096) {
        h_diag("the message for a 64 KiB id is %zu bytes long", strlen(bgfetch_last_error()));
        ok = 0;
    }
    g = (bgfetch_registration *)BI_SENTINEL;
    ok &= EXPECT_ST(bgfetch_get(F_M, id64k1, &g), BGFETCH_OK);
    ok &= EXPECT(g == NULL);
    ok &= EXPECT(bi_count_ids(F_M) == 1);
    CHECK(ok, "ids: 65536 bytes (also with a 2-byte character at the end) are accepted and "
              "found again; 65537 bytes are refused with a short message");

    bgfetch_options_free(o);
    free(url);
    free(title);
    free(id64k);
    free(id64k1);
    free(id_utf8_ok);
    free(id_utf8_bad);
}

/* ids that look like paths or hold control bytes */
static const char *const ODD_IDS[] = {
    "a/b", "/", "//", "..", ".", "../../escape-1", "../escape-2/..", "/tmp/escape-3",
    "a\\b", "\\..\\escape-4", "%2e%2e%2fescape-5", "fetches", "fetches/../LOCK", "LOCK",
    "../LOCK", "quarantine", "state.json", "trash-1", "x.part", "x.body", "x.req",
    "\x01", "x\x01y", "\x1f", "\x7f", "\t", " ", "sp ace", "\xc3\xa9/../\xc3\xbc",
    "\xc2\x80", "\xef\xbb\xbf", "CON", "nul", "*", "?", "id\"quote", "new\nline", "cr\rx",
};
#define N_ODD (sizeof ODD_IDS / sizeof ODD_IDS[0])

typedef struct {
    int bad_names;
    int escapes;
    char first[300];
} walk_ctx;

static void visit_store(const char *path, const char *name, int is_dir, void *vctx) {
    walk_ctx *c = (walk_ctx *)vctx;
    const unsigned char *p;
    (void)is_dir;
    if (strstr(name, "escape")) {
        c->escapes++;
        if (!c->first[0]) snprintf(c->first, sizeof c->first, "%s", path);
    }
    for (p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x21 || *p >= 0x7f || *p == '\\' || *p == '%') {
            c->bad_names++;
            if (!c->first[0]) snprintf(c->first, sizeof c->first, "%s", path);
            break;
        }
    }
}

static void t_odd_ids(void) {
    int ok = 1, ok2 = 1, ok3 = 1;
    size_t i;
    bgfetch_registration *regs[N_ODD];
    bgfetch_registration *d1 = NULL, *d2 = (bgfetch_registration *)BI_SENTINEL;
    bgfetch_manager *m = h_open("store-odd-ids");
    static const char dup_one[] = "dup\0one"; /* the library sees "dup" */
    static const char dup_two[] = "dup\0two";
    bgfetch_strings *ids = NULL;
    walk_ctx w;
    int tmp_escape_existed = access("/tmp/escape-3", F_OK) == 0;
    if (!CHECK(m != NULL, "odd ids: open a manager")) return;
    for (i = 0; i < N_ODD; i++) {
        h_str u = U("bytes/%zu?seed=%zu", 10 + i, i);
        const char *urls[1];
        urls[0] = u.s;
        regs[i] = NULL;
        if (!EXPECT_ST(bgfetch_fetch_urls(m, ODD_IDS[i], urls, 1, NULL, &regs[i]), BGFETCH_OK)) {
            h_diag("    id #%zu", i);
            ok = 0;
            continue;
        }
        ok &= EXPECT(regs[i] && strcmp(bgfetch_registration_id(regs[i]), ODD_IDS[i]) == 0);
    }
    {
        const char *urls[1];
        h_str u = U("bytes/5");
        urls[0] = u.s;
        ok &= EXPECT_ST(bgfetch_fetch_urls(m, dup_one, urls, 1, NULL, &d1), BGFETCH_OK);
        ok &= FAILS(bgfetch_fetch_urls(m, dup_two, urls, 1, NULL, &d2), BGFETCH_E_DUPLICATE_ID);
        ok &= EXPECT(d2 == NULL);
        ok &= EXPECT(d1 && strcmp(bgfetch_registration_id(d1), "dup") == 0);
        if (d1) ok &= EXPECT_ST(bgfetch_registration_wait(d1, H_WAIT_MS), BGFETCH_OK);
        bgfetch_registration_free(d1);
    }
    for (i = 0; i < N_ODD; i++) {
        if (!regs[i]) continue;
        ok &= EXPECT_ST(bgfetch_registration_wait(regs[i], H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(regs[i]), BGFETCH_RESULT_SUCCESS);
        bgfetch_registration_free(regs[i]);
    }
    ok &= EXPECT_ST(bgfetch_get_ids(m, &ids), BGFETCH_OK);
    for (i = 0; i < N_ODD; i++) {
        if (!h_strings_contains(ids, ODD_IDS[i])) {
            h_diag("get_ids lacks id #%zu", i);
            ok = 0;
        }
    }
    ok &= EXPECT_U64(bgfetch_strings_len(ids), N_ODD + 1);
    bgfetch_strings_free(ids);
    CHECK(ok, "ids with '/', '..', '\\\\', store file names, control and NUL-adjacent bytes are "
              "plain ids; \"dup\\\\0one\" and \"dup\\\\0two\" are both \"dup\" (DUPLICATE_ID)");

    /* after close + reopen: every id is found again, byte for byte, with its body */
    bgfetch_manager_close(m);
    m = h_open("store-odd-ids");
    ok2 &= EXPECT(m != NULL);
    for (i = 0; m && i < N_ODD; i++) {
        bgfetch_registration *g = NULL;
        size_t len = 0;
        uint8_t *body;
        h_str u = U("bytes/%zu?seed=%zu", 10 + i, i);
        if (bgfetch_get(m, ODD_IDS[i], &g) != BGFETCH_OK || !g) {
            h_diag("after reopening, id #%zu is not found", i);
            ok2 = 0;
            continue;
        }
        ok2 &= EXPECT(strcmp(bgfetch_registration_id(g), ODD_IDS[i]) == 0);
        body = h_body_of(g, u.s, &len);
        ok2 &= EXPECT(h_is_pattern(body, len, 10 + i, i));
        free(body);
        ok2 &= EXPECT_ST(bgfetch_registration_release(g), BGFETCH_OK);
        bgfetch_registration_free(g);
    }
    CHECK(ok2, "odd ids survive close + reopen byte for byte, with their bodies");

    /* no id became a path: nothing named "escape*" anywhere near, no odd byte in a name */
    memset(&w, 0, sizeof w);
    bi_walk(h_tmp, visit_store, &w);
    {
        char parent[sizeof h_tmp];
        char *slash;
        DIR *d;
        struct dirent *e;
        snprintf(parent, sizeof parent, "%s", h_tmp);
        slash = strrchr(parent, '/');
        if (slash && slash != parent) *slash = 0;
        d = opendir(parent);
        while (d && (e = readdir(d)) != NULL)
            if (strstr(e->d_name, "escape")) w.escapes++;
        if (d) closedir(d);
        if (!tmp_escape_existed && access("/tmp/escape-3", F_OK) == 0) w.escapes++;
    }
    ok3 &= EXPECT(w.escapes == 0);
    ok3 &= EXPECT(w.bad_names == 0);
    if (w.first[0]) h_diag("first suspicious entry: %s", w.first);
    CHECK(ok3, "no id became a file name: no \"escape\" entry in or next to the test directory, "
               "no control/space/non-ASCII byte in any store file name");
    if (m) {
        long left = bi_count_ids(m);
        if (left != 1) h_diag("%ld ids left (expected only \"dup\")", left);
        bgfetch_manager_close(m);
    }
}

/* ------------------------------------------------------------------------------------------ */

static void t_headers(void) {
    static const char *const bad_names[] = {
        "", " ", "X A", "X:A", "X-A:", ":authority", "(X)", "X\tA", "X\r", "X\n", "\x7f",
        "\xc3\xa9", "X@", "X\"", "[X]", "{X}", "X/A", "X=A", "X;A", "X,A", "X?A", "X\\A",
        "X\x01", "\r\nX",
    };
    static const char *const bad_values[] = {
        "a\rb", "a\nb", "\r\n", "x\r\nInjected: yes", "\n", "\r", "trailing\r\n", "\nInjected: 1",
    };
    static const char *const good_names[] = {
        "X-Ok", "x-lower", "!#$%&'*+-.^_`|~", "X1", "Accept-Language",
    };
    static const char *const good_values[] = {
        "", "a\tb", " padded ", "\xc3\xa9t\xc3\xa9", "x;y=\"z\"", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~",
    };
    static const char nul_value[] = "ok\0\r\nInjected: nul";
    static const char nul_name[] = "X-Nul\0\r\nInjected";
    int ok = 1, ok2 = 1;
    size_t i;
    bgfetch_request *r = NULL;
    bgfetch_registration *reg = NULL;
    h_str echo = U("echo");

    ok &= EXPECT_ST(bgfetch_request_new(echo.s, &r), BGFETCH_OK);
    if (!r) {
        CHECK(0, "header names/values with CR, LF and non-token bytes are refused");
        return;
    }
    for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        if (!bi_fails(bgfetch_request_add_header(r, bad_names[i], "v"),
                      BGFETCH_E_INVALID_ARGUMENT, "add_header(bad name)", NULL)) {
            h_diag("    bad name #%zu", i);
            ok = 0;
        }
    }
    for (i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        if (!bi_fails(bgfetch_request_add_header(r, "X-Bad", bad_values[i]),
                      BGFETCH_E_INVALID_ARGUMENT, "add_header(bad value)", NULL)) {
            h_diag("    bad value #%zu", i);
            ok = 0;
        }
    }
    CHECK(ok, "header names that are not tokens (CR, LF, space, ':', '@', non-ASCII, ...) and "
              "values with CR or LF are refused with a message");

    for (i = 0; i < sizeof good_names / sizeof good_names[0]; i++)
        ok2 &= EXPECT_ST(bgfetch_request_add_header(r, good_names[i], "v"), BGFETCH_OK);
    for (i = 0; i < sizeof good_values / sizeof good_values[0]; i++)
        ok2 &= EXPECT_ST(bgfetch_request_add_header(r, "X-Good", good_values[i]), BGFETCH_OK);
    ok2 &= EXPECT_ST(bgfetch_request_add_header(r, "X-Nul-Value", nul_value), BGFETCH_OK);
    ok2 &= EXPECT_ST(bgfetch_request_add_header(r, nul_name, "after-nul"), BGFETCH_OK);
    {
        const bgfetch_request *reqs[1];
        reqs[0] = r;
        ok2 &= EXPECT_ST(bgfetch_fetch(F_M, "headers", reqs, 1, NULL, &reg), BGFETCH_OK);
    }
    if (reg) {
        size_t len = 0, n;
        uint8_t *body;
        char *text;
        bgfetch_records *rs = NULL;
        ok2 &= EXPECT_ST(bgfetch_registration_wait(reg, H_WAIT_MS), BGFETCH_OK);
        ok2 &= EXPECT_U64(bgfetch_registration_result(reg), BGFETCH_RESULT_SUCCESS);
        body = h_body_of(reg, echo.s, &len);
        text = (char *)malloc(len + 1);
        if (body && text) {
            memcpy(text, body, len);
            text[len] = 0;
            ok2 &= EXPECT(!bi_icontains(text, "injected"));
            ok2 &= EXPECT(bi_icontains(text, "x-nul-value"));
            ok2 &= EXPECT(bi_icontains(text, "after-nul"));
            if (!ok2) h_diag("echo: %.600s", text);
        } else {
            ok2 = 0;
        }
        free(text);
        free(body);
        ok2 &= EXPECT_ST(bgfetch_registration_match_all(reg, NULL, 0, &rs), BGFETCH_OK);
        if (rs && bgfetch_records_len(rs) == 1) {
            const bgfetch_record *rec = bgfetch_records_get(rs, 0);
            n = bgfetch_record_header_count(rec);
            for (i = 0; i < n; i++) {
                const char *hn = NULL, *hv = NULL;
                ok2 &= EXPECT_ST(bgfetch_record_header_at(rec, i, &hn, &hv), BGFETCH_OK);
                if (hn && hv && (strpbrk(hn, "\r\n") || strpbrk(hv, "\r\n") ||
                                 bi_icontains(hn, "injected") || bi_icontains(hv, "injected"))) {
                    h_diag("record header %zu: \"%s\": \"%s\"", i, hn, hv);
                    ok2 = 0;
                }
            }
        }
        bgfetch_records_free(rs);
        ok2 &= EXPECT_ST(bgfetch_registration_release(reg), BGFETCH_OK);
        bgfetch_registration_free(reg);
    }
    bgfetch_request_free(r);
    CHECK(ok2, "token names and values with tabs/UTF-8 are accepted; nothing after a NUL and "
               "no refused header ever reaches the server or the record");
}

static void t_methods(void) {
    static const char *const not_tokens[] = {
        "", " ", "GET ", " GET", "G ET", "GET\r\n", "GET\n", "G\tT", "G\xc3\x89T", "(GET)",
        "GET/1.1", "@", "GE:T", "\x7f", "GET\x01", "<GET>", "GE,T", "GE;T", "GE=T", "GE\"T",
        "[GET]", "{GET}", "GE?T", "GE\\T",
    };
    static const char *const forbidden[] = {
        "CONNECT", "connect", "Connect", "TRACE", "trace", "tRaCe", "TRACK", "track", "Track",
    };
    static const char *const fine[] = {
        "GET", "get", "Post", "PATCH", "patch", "M-SEARCH", "PROPFIND", "X!#$%&'*+-.^_`|~9",
    };
    int ok = 1, ok2 = 1, ok3 = 1;
    size_t i;
    bgfetch_request *r = NULL, *r2 = NULL;
    bgfetch_registration *reg = NULL;
    ok &= EXPECT_ST(bgfetch_request_new(U("echo").s, &r), BGFETCH_OK);
    if (!r) {
        CHECK(0, "methods that are not tokens are refused");
        return;
    }
    for (i = 0; i < sizeof not_tokens / sizeof not_tokens[0]; i++) {
        if (!bi_fails(bgfetch_request_set_method(r, not_tokens[i]), BGFETCH_E_INVALID_ARGUMENT,
                      "set_method(not a token)", NULL)) {
            h_diag("    method #%zu", i);
            ok = 0;
        }
    }
    CHECK(ok, "methods that are not HTTP tokens are refused with a message");
    for (i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        if (!bi_fails(bgfetch_request_set_method(r, forbidden[i]), BGFETCH_E_INVALID_ARGUMENT,
                      "set_method(forbidden)", NULL)) {
            h_diag("    method \"%s\"", forbidden[i]);
            ok2 = 0;
        }
    }
    CHECK(ok2, "CONNECT, TRACE and TRACK (any case) are refused with a message, as Fetch does");

    /* after all those refusals the request is still a GET */
    {
        const bgfetch_request *reqs[1];
        reqs[0] = r;
        ok3 &= EXPECT_ST(bgfetch_fetch(F_M, "methods", reqs, 1, NULL, &reg), BGFETCH_OK);
        if (reg) {
            bgfetch_records *rs = NULL;
            ok3 &= EXPECT_ST(bgfetch_registration_match_all(reg, NULL, 0, &rs), BGFETCH_OK);
            ok3 &= EXPECT(rs && bgfetch_records_len(rs) == 1);
            if (rs && bgfetch_records_len(rs) == 1)
                ok3 &= EXPECT_STR(bgfetch_record_method(bgfetch_records_get(rs, 0)), "GET");
            bgfetch_records_free(rs);
            ok3 &= bi_settle_and_release(reg);
        }
    }
    ok3 &= EXPECT_ST(bgfetch_request_new(U("echo").s, &r2), BGFETCH_OK);
    for (i = 0; r2 && i < sizeof fine / sizeof fine[0]; i++)
        ok3 &= EXPECT_ST(bgfetch_request_set_method(r2, fine[i]), BGFETCH_OK);
    bgfetch_request_free(r2);
    bgfetch_request_free(r);
    CHECK(ok3, "a refused method leaves the request unchanged (still GET); token methods are "
               "accepted");
}

/* ------------------------------------------------------------------------------------------ */

#define SECRET "S3cr3tPassw0rd"

static int bi_no_secret(const char *what) {
    const char *e = bgfetch_last_error();
    if (e && strstr(e, SECRET)) {
        h_diag("%s: the password is in the message: \"%.300s\"", what, e);
        return 0;
    }
    return 1;
}

typedef struct {
    int files;
    int hits;
    char first[300];
} secret_scan;

static void visit_secret(const char *path, const char *name, int is_dir, void *vctx) {
    secret_scan *s = (secret_scan *)vctx;
    size_t len = 0;
    uint8_t *b;
    (void)name;
    if (is_dir) return;
    b = h_read_file(path, &len);
    if (!b) return;
    s->files++;
    if (bi_memfind((const char *)b, len, SECRET)) {
        s->hits++;
        if (!s->first[0]) snprintf(s->first, sizeof s->first, "%s", path);
    }
    free(b);
}

/* every byte as %XX, so that the password is not literally in the (host's own) request URL */
static void bi_percent_encode_all(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    out[o] = 0;
}

static void t_credentials(void) {
    int ok = 1, ok2 = 1, ok3 = 1;
    size_t i;
    const char *host = h_base + strlen("http://"); /* "127.0.0.1:PORT/" */
    h_str creds[7];
    char log_path[1024];
    int saved_stderr, log_fd;
    long before = bi_count_ids(F_M);
    bgfetch_config *c = bgfetch_config_new(P("store-cred-cfg").s);
    creds[0] = S("http://alice:" SECRET "@%sbytes/10", host);
    creds[1] = S("http://alice@%sbytes/10", host);
    creds[2] = S("http://:" SECRET "@%sbytes/10", host);
    creds[3] = S("https://alice:" SECRET "@example.com/x");
    creds[4] = S("http://alice:" SECRET "%%40x@%sbytes/10", host);
    creds[5] = S("//alice:" SECRET "@%sbytes/10", host); /* scheme-relative, via the base URL */
    creds[6] = S("HTTP://ALICE:" SECRET "@%sbytes/10", host);

    /* whatever the library might print goes to a file we read afterwards */
    snprintf(log_path, sizeof log_path, "%s", P("stderr-during-credentials.log").s);
    fflush(stderr);
    saved_stderr = dup(2);
    log_fd = open(log_path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (log_fd >= 0) dup2(log_fd, 2);

    for (i = 0; i < sizeof creds / sizeof creds[0]; i++) {
        const char *urls[1];
        bgfetch_registration *out = (bgfetch_registration *)BI_SENTINEL;
        bgfetch_record *rec = (bgfetch_record *)BI_SENTINEL;
        bgfetch_request *r = NULL;
        int one = 1;
        urls[0] = creds[i].s;
        one &= REFUSED(bgfetch_fetch_urls(F_M, "creds", urls, 1, NULL, &out));
        one &= bi_no_secret("fetch_urls");
        one &= EXPECT(out == NULL);
        one &= EXPECT_ST(bgfetch_request_new(creds[i].s, &r), BGFETCH_OK);
        if (r) {
            const bgfetch_request *reqs[1];
            reqs[0] = r;
            out = (bgfetch_registration *)BI_SENTINEL;
            one &= REFUSED(bgfetch_fetch(F_M, "creds", reqs, 1, NULL, &out));
            one &= bi_no_secret("fetch");
            one &= EXPECT(out == NULL);
            one &= REFUSED(bgfetch_registration_match(F_R, r, 0, &rec));
            one &= bi_no_secret("match");
            one &= EXPECT(rec == NULL);
            bgfetch_request_free(r);
        }
        rec = (bgfetch_record *)BI_SENTINEL;
        one &= REFUSED(bgfetch_registration_match_url(F_R, creds[i].s, 0, &rec));
        one &= bi_no_secret("match_url");
        one &= EXPECT(rec == NULL);
        if (i != 5) { /* an absolute URL */
            one &= REFUSED(bgfetch_config_set_base_url(c, creds[i].s));
            one &= bi_no_secret("set_base_url");
        }
        if (!one) h_diag("    URL #%zu", i);
        ok &= one;
    }
    ok &= EXPECT(bi_count_ids(F_M) == before);

    /* a redirect to a URL with credentials: a fetch-error whose message has no password */
    {
        char enc[900];
        h_str target = S("http://alice:" SECRET "@%sbytes/10", host);
        h_str u;
        bgfetch_registration *reg = NULL;
        bi_percent_encode_all(target.s, enc, sizeof enc);
        u = U("redirect?to=%s", enc);
        reg = h_fetch(F_M, "redirect-to-credentials", NULL, u.s, NULL);
        ok2 &= EXPECT(reg != NULL);
        if (reg) {
            bgfetch_record *rec = NULL;
            bgfetch_response *res = (bgfetch_response *)BI_SENTINEL;
            ok2 &= EXPECT_ST(bgfetch_registration_wait(reg, H_WAIT_MS), BGFETCH_OK);
            ok2 &= EXPECT_U64(bgfetch_registration_result(reg), BGFETCH_RESULT_FAILURE);
            ok2 &= EXPECT_U64(bgfetch_registration_failure_reason(reg),
                              BGFETCH_FAILURE_FETCH_ERROR);
            ok2 &= EXPECT_ST(bgfetch_registration_match_url(reg, u.s, 0, &rec), BGFETCH_OK);
            if (rec) {
                ok2 &= FAILS(bgfetch_record_response(rec, H_WAIT_MS, &res),
                             BGFETCH_E_FETCH_FAILED);
                ok2 &= bi_no_secret("record_response after a redirect to credentials");
                ok2 &= EXPECT(res == NULL);
                bgfetch_record_free(rec);
            }
            /* scan the store while the failed fetch is still there */
            {
                secret_scan s;
                memset(&s, 0, sizeof s);
                bi_walk(P("store-bad-input").s, visit_secret, &s);
                ok2 &= EXPECT(s.files > 0);
                ok2 &= EXPECT(s.hits == 0);
                if (s.hits) h_diag("the password is in %s", s.first);
            }
            ok2 &= EXPECT_ST(bgfetch_registration_release(reg), BGFETCH_OK);
            bgfetch_registration_free(reg);
        }
    }

    fflush(stderr);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
    }
    if (log_fd >= 0) close(log_fd);
    {
        size_t len = 0;
        uint8_t *b = h_read_file(log_path, &len);
        ok3 &= EXPECT(b != NULL);
        if (b && bi_memfind((const char *)b, len, SECRET)) {
            h_diag("the password was printed on stderr");
            ok3 = 0;
        }
        if (b && len) h_diag("stderr during the credentials checks: %.*s", (int)(len > 500 ? 500 : len), (const char *)b);
        free(b);
    }
    bgfetch_config_free(c);
    CHECK(ok, "URLs with a username and/or password are refused by fetch, fetch_urls, match, "
              "match_url and set_base_url; the password is never in the message");
    CHECK(ok2, "a redirect to a URL with credentials is a fetch-error; the password is in no "
               "message and in no file of the store");
    CHECK(ok3, "nothing with the password was printed on stderr");
}

/* ------------------------------------------------------------------------------------------ */

static void t_out_of_range(void) {
    int ok = 1;
    const char *a, *b, *c, *d;
    int k;
    for (k = 0; k < 3; k++) {
        /* the first index past the end, one far past it, and SIZE_MAX */
#define OOR(len) (k == 2 ? SIZE_MAX : (size_t)(len) + (k == 1 ? 1000000u : 0u))
        char *problem;
        ok &= EXPECT(bgfetch_strings_get(F_STRS, OOR(bgfetch_strings_len(F_STRS))) == NULL);
        ok &= EXPECT(bgfetch_records_get(F_RECS, OOR(bgfetch_records_len(F_RECS))) == NULL);
        a = b = (const char *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_record_header_at(F_REC, OOR(bgfetch_record_header_count(F_REC)), &a, &b));
        ok &= EXPECT(a == NULL && b == NULL);
        a = b = (const char *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_response_header_at(F_RES, OOR(bgfetch_response_header_count(F_RES)), &a, &b));
        ok &= EXPECT(a == NULL && b == NULL);
        a = b = c = d = (const char *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_icons_get(F_ICONS, OOR(bgfetch_icons_len(F_ICONS)), &a, &b, &c, &d));
        ok &= EXPECT(a == NULL && b == NULL && c == NULL && d == NULL);
        problem = bgfetch_manager_problem(F_M, OOR(bgfetch_manager_problem_count(F_M)));
        ok &= EXPECT(problem == NULL);
        bgfetch_string_free(problem);
#undef OOR
    }
    /* and the last valid index still works */
    ok &= EXPECT(bgfetch_strings_get(F_STRS, bgfetch_strings_len(F_STRS) - 1) != NULL);
    ok &= EXPECT(bgfetch_records_get(F_RECS, bgfetch_records_len(F_RECS) - 1) != NULL);
    CHECK(ok, "out-of-range indexes (len, len+10^6, SIZE_MAX): strings_get and records_get are "
              "NULL, manager_problem is NULL, header_at / icons_get are INVALID_ARGUMENT with "
              "their out-pointers NULL");
}

static void t_unknown_enums(void) {
    int ok = 1;
    static const uint32_t bad_flags[] = {0x80, 0x8, 0x10, 0x7 | 0x100, 0xffffffffu};
    static const uint32_t bad_modes[] = {7, 2, 0xffffffffu};
    size_t i;
    bgfetch_config *c = h_config("store-enum-cfg");
    for (i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++)
        ok &= REFUSED(bgfetch_config_set_dispatch(c, bad_modes[i]));
    for (i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        bgfetch_record *rec = (bgfetch_record *)BI_SENTINEL;
        bgfetch_records *rs = (bgfetch_records *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_registration_match(F_R, F_REQ, bad_flags[i], &rec));
        ok &= EXPECT(rec == NULL);
        rec = (bgfetch_record *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_registration_match_url(F_R, F_URL, bad_flags[i], &rec));
        ok &= EXPECT(rec == NULL);
        ok &= REFUSED(bgfetch_registration_match_all(F_R, NULL, bad_flags[i], &rs));
        ok &= EXPECT(rs == NULL);
    }
    ok &= EXPECT_STR(bgfetch_status_name(12345), "BGFETCH_E_UNKNOWN");
    ok &= EXPECT_STR(bgfetch_status_name(0xffffffffu), "BGFETCH_E_UNKNOWN");
    ok &= EXPECT_STR(bgfetch_status_name(11), "BGFETCH_E_UNKNOWN");
    ok &= EXPECT_STR(bgfetch_result_str(3), "");
    ok &= EXPECT_STR(bgfetch_result_str(12345), "");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(6), "");
    ok &= EXPECT_STR(bgfetch_failure_reason_str(0xffffffffu), "");
    /* the config is still usable, in THREAD mode */
    if (c) {
        bgfetch_manager *m = h_open_cfg(c);
        ok &= EXPECT(m != NULL);
        ok &= EXPECT(bgfetch_manager_event_fd(m) == -1);
        bgfetch_manager_close(m);
    }
    CHECK(ok, "unknown enum values: dispatch mode 7 / 2 / UINT32_MAX and query flags 0x80 ... "
              "are INVALID_ARGUMENT; status_name(12345) is BGFETCH_E_UNKNOWN, unknown "
              "result/failure strings are \"\"");
}

static void t_timeouts(void) {
    int ok = 1;
    static const int64_t bad[] = {-2, -3, -1000, INT64_MIN};
    size_t i;
    bgfetch_response *res;
    uint32_t n;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ok &= REFUSED(bgfetch_registration_wait(F_R, bad[i]));
        res = (bgfetch_response *)BI_SENTINEL;
        ok &= REFUSED(bgfetch_record_response(F_REC, bad[i], &res));
        ok &= EXPECT(res == NULL);
        ok &= REFUSED(bgfetch_response_wait(F_RES, bad[i]));
        n = 77;
        ok &= REFUSED(bgfetch_manager_dispatch(F_MM, bad[i], &n));
        ok &= EXPECT(n == 0);
    }
    /* -1 (forever) and large timeouts on settled things return at once */
    ok &= EXPECT_ST(bgfetch_registration_wait(F_R, -1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(F_R, INT64_MAX), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_response_wait(F_RES, -1), BGFETCH_OK);
    res = NULL;
    ok &= EXPECT_ST(bgfetch_record_response(F_REC, -1, &res), BGFETCH_OK);
    bgfetch_response_free(res);
    CHECK(ok, "timeouts below -1 (-2, -1000, INT64_MIN) are INVALID_ARGUMENT for wait, "
              "record_response, response_wait and dispatch; -1 and INT64_MAX are fine");
}

static void t_config_ranges(void) {
    int ok = 1;
    bgfetch_config *c = h_config("store-range-cfg");
    if (!c) {
        CHECK(0, "out-of-range settings are refused");
        return;
    }
    ok &= REFUSED(bgfetch_config_set_max_connections(c, 0));
    ok &= REFUSED(bgfetch_config_set_max_connections(c, 257));
    ok &= REFUSED(bgfetch_config_set_max_connections(c, 0xffffffffu));
    ok &= REFUSED(bgfetch_config_set_max_connections_per_fetch(c, 0));
    ok &= REFUSED(bgfetch_config_set_max_connections_per_fetch(c, 257));
    ok &= REFUSED(bgfetch_config_set_timeouts(c, 0, 1000));
    ok &= REFUSED(bgfetch_config_set_timeouts(c, 1000, 0));
    ok &= REFUSED(bgfetch_config_set_retries(c, 0, 0));
    ok &= REFUSED(bgfetch_config_set_retries(c, 101, 0));
    ok &= REFUSED(bgfetch_config_set_base_url(c, "ftp://127.0.0.1/"));
    ok &= REFUSED(bgfetch_config_set_base_url(c, "relative/path"));
    ok &= REFUSED(bgfetch_config_set_base_url(c, "http://127.0.0.1:25/"));
    ok &= REFUSED(bgfetch_config_set_user_agent(c, "ua\r\nInjected: 1"));
    ok &= EXPECT_ST(bgfetch_config_set_max_connections(c, 256), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_max_connections(c, 1), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_config_set_retries(c, 100, 0), BGFETCH_OK);
    bgfetch_config_free(c);
    CHECK(ok, "out-of-range settings (0 / 257 connections, 0 ms timeouts, 0 / 101 attempts, a "
              "non-http or blocked-port base URL, a user agent with CR LF) are refused");
}

/* ------------------------------------------------------------------------------------------ */
/* calls on surviving handles after bgfetch_manager_close                                       */

static void t_after_close(void) {
    int ok = 1, ok2 = 1, ok3 = 1;
    bgfetch_manager *m = h_open("store-closed");
    bgfetch_registration *done = NULL, *slow = NULL, *stalled = NULL;
    bgfetch_record *rec_done = NULL, *rec_slow = NULL, *rec_stalled = NULL;
    bgfetch_response *res_done = NULL, *res_slow = NULL;
    bgfetch_records *rs = NULL;
    bgfetch_icons *ic = NULL;
    bgfetch_options *o = bgfetch_options_new();
    bgfetch_request *q = NULL;
    h_str u_done = U("bytes/1000?seed=3");
    h_str u_slow = U("bytes/5000000?seed=4&rate=100000");
    h_str u_stalled = U("bytes/100?seed=5&stall_ms=30000");
    uint8_t buf[256];
    size_t n;
    bool aborted;
    int64_t t0;
    bgfetch_status st;

    if (!CHECK(m != NULL, "after close: open a manager")) {
        bgfetch_options_free(o);
        return;
    }
    ok &= EXPECT_ST(bgfetch_options_set_title(o, "new title"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_request_new(u_done.s, &q), BGFETCH_OK);
    done = h_fetch(m, "done", NULL, u_done.s, NULL);
    slow = h_fetch(m, "slow", NULL, u_slow.s, NULL);
    stalled = h_fetch(m, "stalled", NULL, u_stalled.s, NULL);
    ok &= EXPECT(done && slow && stalled);
    if (!ok) {
        bgfetch_registration_free(done);
        bgfetch_registration_free(slow);
        bgfetch_registration_free(stalled);
        bgfetch_manager_close(m);
        bgfetch_options_free(o);
        bgfetch_request_free(q);
        CHECK(0, "after close: setup");
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(done, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_url(done, u_done.s, 0, &rec_done), BGFETCH_OK);
    if (rec_done) ok &= EXPECT_ST(bgfetch_record_response(rec_done, H_WAIT_MS, &res_done), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_all(done, NULL, 0, &rs), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_icons(done, &ic), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_url(slow, u_slow.s, 0, &rec_slow), BGFETCH_OK);
    if (rec_slow) ok &= EXPECT_ST(bgfetch_record_response(rec_slow, H_WAIT_MS, &res_slow), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_match_url(stalled, u_stalled.s, 0, &rec_stalled), BGFETCH_OK);
    ok &= EXPECT(rec_done && res_done && rs && ic && rec_slow && res_slow && rec_stalled);
    CHECK(ok, "after close: setup (a settled fetch, a slow one with its head, one stalled before "
              "its head, records and responses of each)");
    if (!ok) goto cleanup;

    bgfetch_manager_close(m);
    m = NULL;

    /* what does not need the manager keeps its last values */
    ok2 &= EXPECT_STR(bgfetch_registration_id(done), "done");
    ok2 &= EXPECT_U64(bgfetch_registration_result(done), BGFETCH_RESULT_SUCCESS);
    ok2 &= EXPECT_U64(bgfetch_registration_failure_reason(done), BGFETCH_FAILURE_NONE);
    ok2 &= EXPECT_U64(bgfetch_registration_downloaded(done), 1000);
    ok2 &= EXPECT_U64(bgfetch_registration_upload_total(done), 0);
    ok2 &= EXPECT_U64(bgfetch_registration_uploaded(done), 0);
    ok2 &= EXPECT_U64(bgfetch_registration_download_total(done), 0);
    (void)bgfetch_registration_records_available(done);
    {
        char *t = bgfetch_registration_title(done);
        bgfetch_icons *ic2 = NULL;
        ok2 &= EXPECT_STR(t, "");
        bgfetch_string_free(t);
        st = bgfetch_registration_icons(done, &ic2);
        ok2 &= EXPECT(st == BGFETCH_OK || bi_fails(st, BGFETCH_E_CLOSED, "icons after close", NULL));
        bgfetch_icons_free(ic2);
    }
    ok2 &= EXPECT_STR(bgfetch_registration_id(slow), "slow");
    ok2 &= EXPECT_STR(bgfetch_record_url(rec_done), u_done.s);
    ok2 &= EXPECT_STR(bgfetch_record_method(rec_done), "GET");
    ok2 &= EXPECT_U64(bgfetch_records_len(rs), 1);
    ok2 &= EXPECT(bgfetch_records_get(rs, 0) != NULL);
    ok2 &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 0)), u_done.s);
    ok2 &= EXPECT_U64(bgfetch_response_status(res_done), 200);
    ok2 &= EXPECT(bgfetch_response_ok(res_done));
    ok2 &= EXPECT_STR(bgfetch_response_url(res_done), u_done.s);
    ok2 &= EXPECT_STR(bgfetch_response_header(res_done, "content-length"), "1000");
    ok2 &= EXPECT(bgfetch_response_header_count(res_done) >= 1);
    {
        const char *hn = NULL, *hv = NULL;
        ok2 &= EXPECT_ST(bgfetch_response_header_at(res_done, 0, &hn, &hv), BGFETCH_OK);
        ok2 &= EXPECT(hn && hv);
    }
    ok2 &= EXPECT(bgfetch_response_complete(res_done));
    ok2 &= EXPECT_U64(bgfetch_response_body_size(res_done), 1000);
    ok2 &= EXPECT(bgfetch_response_body_path(res_done) != NULL);
    ok2 &= EXPECT_U64(bgfetch_icons_len(ic), 0);
    CHECK(ok2, "after close: ids, counters, result, title, icons, records, response heads "
               "and their headers keep their last values");

    /* what needs the manager is BGFETCH_E_CLOSED, with a message, and never blocks */
    t0 = h_now_ms();
    ok3 &= FAILS(bgfetch_registration_wait(done, 0), BGFETCH_E_CLOSED);
    ok3 &= FAILS(bgfetch_registration_wait(slow, -1), BGFETCH_E_CLOSED);
    ok3 &= FAILS(bgfetch_registration_wait(stalled, H_WAIT_MS), BGFETCH_E_CLOSED);
    aborted = true;
    ok3 &= FAILS(bgfetch_registration_abort(slow, &aborted), BGFETCH_E_CLOSED);
    ok3 &= EXPECT(!aborted);
    ok3 &= FAILS(bgfetch_registration_release(done), BGFETCH_E_CLOSED);
    ok3 &= FAILS(bgfetch_registration_update_ui(done, o), BGFETCH_E_CLOSED);
    {
        bgfetch_record *r = (bgfetch_record *)BI_SENTINEL;
        bgfetch_records *l = (bgfetch_records *)BI_SENTINEL;
        ok3 &= FAILS(bgfetch_registration_match_url(done, u_done.s, 0, &r), BGFETCH_E_CLOSED);
        ok3 &= EXPECT(r == NULL);
        r = (bgfetch_record *)BI_SENTINEL;
        ok3 &= FAILS(bgfetch_registration_match(done, q, 0, &r), BGFETCH_E_CLOSED);
        ok3 &= EXPECT(r == NULL);
        ok3 &= FAILS(bgfetch_registration_match_all(done, NULL, 0, &l), BGFETCH_E_CLOSED);
        ok3 &= EXPECT(l == NULL);
    }
    {
        bgfetch_response *r = (bgfetch_response *)BI_SENTINEL;
        ok3 &= FAILS(bgfetch_record_response(rec_done, 0, &r), BGFETCH_E_CLOSED);
        ok3 &= EXPECT(r == NULL);
        r = (bgfetch_response *)BI_SENTINEL;
        ok3 &= FAILS(bgfetch_record_response(rec_stalled, -1, &r), BGFETCH_E_CLOSED);
        ok3 &= EXPECT(r == NULL);
    }
    ok3 &= FAILS(bgfetch_response_wait(res_done, 0), BGFETCH_E_CLOSED);
    ok3 &= FAILS(bgfetch_response_wait(res_slow, -1), BGFETCH_E_CLOSED);
    n = 99;
    ok3 &= FAILS(bgfetch_response_read(res_done, 0, buf, sizeof buf, -1, &n), BGFETCH_E_CLOSED);
    ok3 &= EXPECT(n == 0);
    n = 99;
    ok3 &= FAILS(bgfetch_response_read(res_slow, 4999999, buf, sizeof buf, -1, &n), BGFETCH_E_CLOSED);
    ok3 &= EXPECT(n == 0);
    ok3 &= FAILS(bgfetch_response_save(res_done, P("saved-after-close").s, -1), BGFETCH_E_CLOSED);
    ok3 &= EXPECT(access(P("saved-after-close").s, F_OK) != 0);
    /* setting a callback that can never run: either is fine, but not another status */
    st = bgfetch_registration_set_progress_callback(done, bi_noop_progress, NULL, NULL);
    h_diag("set_progress_callback after close: %s", h_stname(st));
    if (st != BGFETCH_OK) ok3 &= bi_fails(st, BGFETCH_E_CLOSED, "set_progress_callback after close", NULL);
    st = bgfetch_registration_set_progress_callback(done, NULL, NULL, NULL);
    if (st != BGFETCH_OK) ok3 &= bi_fails(st, BGFETCH_E_CLOSED, "clearing the progress callback after close", NULL);
    if (h_now_ms() - t0 > 10000) {
        h_diag("the calls after close took %" PRId64 " ms", h_now_ms() - t0);
        ok3 = 0;
    }
    CHECK(ok3, "after close: wait (even -1), abort, release, update_ui, match*, record_response "
               "(even of a pending head), response wait/read/save are BGFETCH_E_CLOSED with a "
               "message, at once");

cleanup:
    bgfetch_response_free(res_done);
    bgfetch_response_free(res_slow);
    bgfetch_record_free(rec_done);
    bgfetch_record_free(rec_slow);
    bgfetch_record_free(rec_stalled);
    bgfetch_records_free(rs);
    bgfetch_icons_free(ic);
    bgfetch_registration_free(done);
    bgfetch_registration_free(slow);
    bgfetch_registration_free(stalled);
    bgfetch_manager_close(m);
    bgfetch_options_free(o);
    bgfetch_request_free(q);
}

/* ------------------------------------------------------------------------------------------ */
/* freeing and releasing inside callbacks                                                      */

typedef struct {
    pthread_mutex_t mu;
    bgfetch_registration *self; /* the only handle; the callback was set on it */
    int armed;                  /* set once set_progress_callback has returned */
    const char *id;
    long calls;
    long calls_after_free;
    int freed;
    int errors;
    int final_seen;
    h_latch done;
} self_free;

static void on_progress_free_self(void *ud, bgfetch_registration *r) {
    self_free *s = (self_free *)ud;
    bgfetch_registration *mine = NULL;
    const char *id = bgfetch_registration_id(r);
    int is_final = bgfetch_registration_result(r) != BGFETCH_RESULT_NONE;
    int became_final = 0, errors = 0;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    if (s->freed) s->calls_after_free++;
    if (s->armed && !s->freed) {
        mine = s->self;
        s->self = NULL;
        s->freed = 1;
    }
    if (is_final && !s->final_seen) {
        s->final_seen = 1;
        became_final = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (!id || strcmp(id, s->id) != 0) errors++;
    if (mine) {
        /* the handle this callback was set on, freed inside the callback */
        bgfetch_registration_free(mine);
        /* the borrowed r is still usable */
        id = bgfetch_registration_id(r);
        if (!id || strcmp(id, s->id) != 0) errors++;
        (void)bgfetch_registration_downloaded(r);
    }
    if (errors) {
        pthread_mutex_lock(&s->mu);
        s->errors += errors;
        pthread_mutex_unlock(&s->mu);
    }
    (void)became_final;
    if (mine) h_latch_add(&s->done, 1);
}

static void t_free_handle_in_progress_callback(void) {
    int ok = 1;
    self_free s;
    bgfetch_registration *r, *g = NULL;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    h_latch_init(&s.done);
    s.id = "free-in-progress";
    r = h_fetch(F_M, s.id, NULL, U("bytes/600000?seed=9&rate=600000").s, NULL);
    ok &= EXPECT(r != NULL);
    if (r) {
        s.self = r;
        ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(r, on_progress_free_self, &s, NULL),
                        BGFETCH_OK);
        pthread_mutex_lock(&s.mu);
        s.armed = 1; /* from now on the callback owns (and frees) r */
        pthread_mutex_unlock(&s.mu);
        ok &= EXPECT(h_latch_wait(&s.done, 1, H_WAIT_MS));
        ok &= EXPECT_ST(bgfetch_get(F_M, s.id, &g), BGFETCH_OK);
        ok &= EXPECT(g != NULL);
        if (g) {
            ok &= EXPECT_ST(bgfetch_registration_set_progress_callback(g, NULL, NULL, NULL), BGFETCH_OK);
            ok &= EXPECT_ST(bgfetch_registration_wait(g, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_result(g), BGFETCH_RESULT_SUCCESS);
            ok &= EXPECT_U64(bgfetch_registration_downloaded(g), 600000);
            ok &= EXPECT_ST(bgfetch_registration_release(g), BGFETCH_OK);
            bgfetch_registration_free(g);
        }
        pthread_mutex_lock(&s.mu);
        ok &= EXPECT(s.freed);
        ok &= EXPECT(s.errors == 0);
        /* 0.2: the callback belonged to the freed handle: it never ran again */
        ok &= EXPECT(s.calls_after_free == 0);
        if (!s.freed) {
            /* never armed in time: free it here so nothing leaks */
            bgfetch_registration_free(s.self);
            s.self = NULL;
        }
        h_diag("progress calls: %ld (%ld after the handle was freed)", s.calls,
               s.calls_after_free);
        pthread_mutex_unlock(&s.mu);
    }
    h_latch_destroy(&s.done);
    pthread_mutex_destroy(&s.mu);
    CHECK(ok, "the progress callback frees the (only) handle it was set on: the callback is "
              "removed with it (never called again), the fetch completes, nothing crashes");
}

typedef struct {
    pthread_mutex_t mu;
    bgfetch_manager *m;
    int events;
    int errors;
    int first_error;
    h_latch done;
} releaser;

static void on_event_release(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    releaser *c = (releaser *)ud;
    const char *id = bgfetch_registration_id(reg);
    bgfetch_registration *g = NULL, *again = (bgfetch_registration *)BI_SENTINEL;
    bgfetch_records *rs = (bgfetch_records *)BI_SENTINEL;
    bgfetch_manager *m;
    int err = 0;
    pthread_mutex_lock(&c->mu);
    m = c->m;
    pthread_mutex_unlock(&c->mu);
    if (!id || strncmp(id, "release-in-event-", 17) != 0) return;
    if (type != BGFETCH_EVENT_SUCCESS) err |= 1;
    if (bgfetch_get(m, id, &g) != BGFETCH_OK || !g) err |= 2; /* a handle of our own */
    if (bgfetch_registration_release(reg) != BGFETCH_OK) err |= 4;
    if (bgfetch_registration_release(reg) != BGFETCH_OK) err |= 8; /* twice is fine */
    if (bgfetch_registration_records_available(reg)) err |= 16;
    if (g && bgfetch_registration_records_available(g)) err |= 32;
    if (bgfetch_registration_match_all(reg, NULL, 0, &rs) != BGFETCH_E_INVALID_STATE || rs)
        err |= 64;
    bgfetch_registration_free(g); /* freeing a handle inside the event callback */
    if (bgfetch_get(m, id, &again) != BGFETCH_OK || again) err |= 128;
    pthread_mutex_lock(&c->mu);
    c->events++;
    if (err) {
        if (!c->errors) c->first_error = err;
        c->errors++;
    }
    pthread_mutex_unlock(&c->mu);
    h_latch_add(&c->done, 1);
}

static void t_release_in_event_callback(void) {
    int ok = 1;
    releaser c;
    bgfetch_manager *m = h_open("store-release-in-event");
    bgfetch_registration *a, *b;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    h_latch_init(&c.done);
    if (!CHECK(m != NULL, "release in the event callback: open a manager")) {
        h_latch_destroy(&c.done);
        pthread_mutex_destroy(&c.mu);
        return;
    }
    pthread_mutex_lock(&c.mu);
    c.m = m;
    pthread_mutex_unlock(&c.mu);
    a = h_fetch(m, "release-in-event-1", NULL, U("bytes/2000?seed=11").s, NULL);
    b = h_fetch(m, "release-in-event-2", NULL, U("bytes/3000?seed=12&rate=30000").s, NULL);
    ok &= EXPECT(a && b);
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, on_event_release, &c, NULL), BGFETCH_OK);
    ok &= EXPECT(h_latch_wait(&c.done, 2, H_WAIT_MS));
    ok &= EXPECT_ST(bgfetch_manager_set_event_callback(m, NULL, NULL, NULL), BGFETCH_OK);
    pthread_mutex_lock(&c.mu);
    ok &= EXPECT(c.events == 2);
    ok &= EXPECT(c.errors == 0);
    if (c.errors) h_diag("first error bits: 0x%x", (unsigned)c.first_error);
    pthread_mutex_unlock(&c.mu);
    if (a) {
        ok &= EXPECT(!bgfetch_registration_records_available(a));
        ok &= EXPECT_ST(bgfetch_registration_release(a), BGFETCH_OK);
    }
    ok &= EXPECT(bi_count_ids(m) == 0);
    bgfetch_registration_free(a);
    bgfetch_registration_free(b);
    bgfetch_manager_close(m);
    h_latch_destroy(&c.done);
    pthread_mutex_destroy(&c.mu);
    CHECK(ok, "the event callback releases its borrowed registration (twice), gets and frees "
              "a handle of its own; afterwards the ids are gone and the records unavailable");
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    h_init(argc, argv);
    if (!CHECK(setup_fixtures(), "setup: managers, a settled fetch, its record, response, lists")) {
        h_diag("last_error: %s", bgfetch_last_error());
        return h_done();
    }
    gen_null_arguments();
    gen_invalid_utf8();
    t_refused_calls_register_nothing();
    t_empty_strings();
    t_huge_strings();
    t_odd_ids();
    t_headers();
    t_methods();
    t_credentials();
    t_out_of_range();
    t_unknown_enums();
    t_timeouts();
    t_config_ranges();
    t_after_close();
    t_free_handle_in_progress_callback();
    t_release_in_event_callback();
    teardown_fixtures();
    return h_done();
}
