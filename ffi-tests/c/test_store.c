/* test_store.c - the store: lock (BUSY), close and reopen, persistence, handles after close */
#include "harness.h"

static void t_store_created_0700(void) {
    int ok = 1;
    bgfetch_manager *m = h_open("store-0700");
    struct stat sb;
    ok &= EXPECT(m != NULL);
    ok &= EXPECT(stat(P("store-0700").s, &sb) == 0);
    if (ok) {
        ok &= EXPECT((sb.st_mode & 0777) == 0700);
        if ((sb.st_mode & 0777) != 0700) h_diag("mode is %o", (unsigned)(sb.st_mode & 0777));
    }
    bgfetch_manager_close(m);
    CHECK(ok, "open creates a missing store directory with mode 0700");
}

static void t_store_parent_must_exist(void) {
    int ok = 1;
    bgfetch_config *c = h_config("nested/dir/store");
    bgfetch_manager *m = (bgfetch_manager *)&ok;
    struct stat sb;
    ok &= EXPECT_ST(bgfetch_manager_open(c, &m), BGFETCH_E_INVALID_ARGUMENT);
    ok &= EXPECT(m == NULL);
    ok &= EXPECT(strstr(bgfetch_last_error(), "does not exist") != NULL);
    if (!ok) h_diag("message: %s", bgfetch_last_error());
    ok &= EXPECT(stat(P("nested").s, &sb) != 0 && errno == ENOENT);
    bgfetch_config_free(c);
    CHECK(ok, "open creates only the store directory, not its missing parents (INVALID_ARGUMENT)");
}

static void t_busy(void) {
    int ok = 1;
    bgfetch_manager *m1 = h_open("store-busy"), *m2 = (bgfetch_manager *)&ok, *m3 = NULL;
    bgfetch_config *c = h_config("store-busy");
    ok &= EXPECT(m1 != NULL);
    ok &= EXPECT_ST(bgfetch_manager_open(c, &m2), BGFETCH_E_BUSY);
    ok &= EXPECT(m2 == NULL);
    ok &= EXPECT(bgfetch_last_error()[0] != '\0');
    CHECK(ok, "a second open of the same store -> BUSY");

    ok = 1;
    bgfetch_manager_close(m1);
    ok &= EXPECT_ST(bgfetch_manager_open(c, &m3), BGFETCH_OK);
    ok &= EXPECT(m3 != NULL);
    bgfetch_manager_close(m3);
    bgfetch_config_free(c);
    CHECK(ok, "after close the store can be opened again");
}

static const char *SELF; /* argv[0], to run this program again as a probe */

/* "test_store <base> <tmp> --open-probe <store path>": exit status = bgfetch_manager_open status */
static int open_probe(const char *store) {
    bgfetch_manager *m = NULL;
    bgfetch_config *c = bgfetch_config_new(store);
    bgfetch_status st = bgfetch_manager_open(c, &m);
    bgfetch_manager_close(m);
    bgfetch_config_free(c);
    return (int)st;
}

static void t_busy_other_process(void) {
    int ok = 1;
    bgfetch_manager *m1 = h_open("store-busy-proc");
    h_str store = P("store-busy-proc");
    pid_t pid;
    ok &= EXPECT(m1 != NULL);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char *args[6];
        args[0] = (char *)SELF;
        args[1] = h_base;
        args[2] = h_tmp;
        args[3] = (char *)"--open-probe";
        args[4] = store.s;
        args[5] = NULL;
        execv(SELF, args);
        _exit(127);
    } else if (pid > 0) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        ok &= EXPECT(WIFEXITED(status));
        if (WIFEXITED(status)) ok &= EXPECT_ST((bgfetch_status)WEXITSTATUS(status), BGFETCH_E_BUSY);
    } else {
        ok = 0;
    }
    bgfetch_manager_close(m1);
    CHECK(ok, "another process opening the same store -> BUSY");
}

static void t_two_stores(void) {
    int ok = 1;
    bgfetch_manager *a = h_open("store-a"), *b = h_open("store-b");
    ok &= EXPECT(a && b);
    if (a && b) {
        bgfetch_registration *ra = h_fetch(a, "same-id", NULL, U("bytes/10?seed=1").s, NULL);
        bgfetch_registration *rb = h_fetch(b, "same-id", NULL, U("bytes/20?seed=2").s, NULL);
        ok &= EXPECT(ra && rb);
        if (ra && rb) {
            ok &= EXPECT_ST(bgfetch_registration_wait(ra, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_ST(bgfetch_registration_wait(rb, H_WAIT_MS), BGFETCH_OK);
            ok &= EXPECT_U64(bgfetch_registration_downloaded(ra), 10);
            ok &= EXPECT_U64(bgfetch_registration_downloaded(rb), 20);
        }
        bgfetch_registration_free(ra);
        bgfetch_registration_free(rb);
    }
    bgfetch_manager_close(a);
    bgfetch_manager_close(b);
    CHECK(ok, "two managers on two stores in one process are independent (same id in both)");
}

static void t_persistence(void) {
    int ok = 1;
    bgfetch_manager *m = h_open("store-persist");
    bgfetch_registration *r = NULL, *bad = NULL, *rel = NULL;
    bgfetch_record *rec = NULL;
    bgfetch_response *res = NULL;
    bgfetch_options *o = bgfetch_options_new();
    h_str u1 = U("bytes/3000?seed=4"), u2 = U("bytes/10?seed=5&header=X-Extra:kept");
    h_str u404 = U("status/404");
    const char *urls[2];
    bool aborted = true;
    size_t len = 0;
    uint8_t *b;
    char *title;

    ok &= EXPECT(m != NULL);
    if (!m) {
        CHECK(0, "close and reopen: the settled fetch is still there with its records");
        bgfetch_options_free(o);
        return;
    }
    urls[0] = u1.s;
    urls[1] = u2.s;
    ok &= EXPECT_ST(bgfetch_options_set_title(o, "Persisted title"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_add_icon(o, "https://example.com/i.png", "16x16", "image/png", "icon"), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_options_set_download_total(o, 100000), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_fetch_urls(m, "persist", urls, 2, o, &r), BGFETCH_OK);
    bad = h_fetch(m, "persist-404", NULL, u404.s, NULL);
    rel = h_fetch(m, "persist-released", NULL, U("bytes/10").s, NULL);
    ok &= EXPECT(r && bad && rel);
    if (!(r && bad && rel)) {
        CHECK(0, "close and reopen: the settled fetch is still there with its records");
        bgfetch_options_free(o);
        return;
    }
    ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(bad, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_wait(rel, H_WAIT_MS), BGFETCH_OK);
    ok &= EXPECT_ST(bgfetch_registration_release(rel), BGFETCH_OK);
    ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
    ok &= EXPECT_ST(bgfetch_registration_match_url(r, u1.s, 0, &rec), BGFETCH_OK);
    if (rec) ok &= EXPECT_ST(bgfetch_record_response(rec, H_WAIT_MS, &res), BGFETCH_OK);
    bgfetch_registration_free(bad);
    bgfetch_registration_free(rel);

    /* close with handles still alive */
    bgfetch_manager_close(m);
    m = NULL;

    /* handles that survive close: getters give the last values; actions are CLOSED
       (abi notes: "abort, wait, match, record_response, response_read/wait/save, release,
       update_ui return BGFETCH_E_CLOSED") */
    {
        int ok2 = 1;
        bgfetch_record *rec2 = (bgfetch_record *)&ok2;
        bgfetch_records *rs = (bgfetch_records *)&ok2;
        bgfetch_response *res2 = (bgfetch_response *)&ok2;
        bgfetch_options *ui = bgfetch_options_new();
        bgfetch_request *q = NULL;
        uint8_t buf[8];
        size_t n = 9;
        char *t;
        ok2 &= EXPECT_STR(bgfetch_registration_id(r), "persist");
        ok2 &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok2 &= EXPECT_U64(bgfetch_registration_downloaded(r), 3010);
        ok2 &= EXPECT_U64(bgfetch_registration_download_total(r), 100000);
        t = bgfetch_registration_title(r);
        ok2 &= EXPECT_STR(t, "Persisted title");
        bgfetch_string_free(t);
        if (res) ok2 &= EXPECT_U64(bgfetch_response_status(res), 200);
        CHECK(ok2 && res, "handles surviving close: getters keep their last values");

        ok2 = 1;
        ok2 &= EXPECT_ST(bgfetch_registration_abort(r, &aborted), BGFETCH_E_CLOSED);
        ok2 &= EXPECT(aborted == false);
        ok2 &= EXPECT_ST(bgfetch_registration_match_url(r, u1.s, 0, &rec2), BGFETCH_E_CLOSED);
        ok2 &= EXPECT(rec2 == NULL);
        ok2 &= EXPECT_ST(bgfetch_request_new(u1.s, &q), BGFETCH_OK);
        rec2 = (bgfetch_record *)&ok2;
        ok2 &= EXPECT_ST(bgfetch_registration_match(r, q, 0, &rec2), BGFETCH_E_CLOSED);
        ok2 &= EXPECT(rec2 == NULL);
        bgfetch_request_free(q);
        ok2 &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_E_CLOSED);
        ok2 &= EXPECT(rs == NULL);
        if (rs && rs != (bgfetch_records *)&ok2) bgfetch_records_free(rs);
        CHECK(ok2, "handles surviving close: abort / match / match_url / match_all(NULL) -> CLOSED");

        ok2 = 1;
        ok2 &= EXPECT_ST(bgfetch_registration_release(r), BGFETCH_E_CLOSED);
        ok2 &= EXPECT_ST(bgfetch_options_set_title(ui, "x"), BGFETCH_OK);
        ok2 &= EXPECT_ST(bgfetch_registration_update_ui(r, ui), BGFETCH_E_CLOSED);
        CHECK(ok2, "handles surviving close: release / update_ui -> CLOSED");

        ok2 = 1;
        ok2 &= EXPECT_ST(bgfetch_registration_wait(r, 0), BGFETCH_E_CLOSED);
        CHECK(ok2, "handles surviving close: wait -> CLOSED (also for a fetch that had settled)");

        ok2 = 1;
        if (rec) {
            ok2 &= EXPECT_ST(bgfetch_record_response(rec, 0, &res2), BGFETCH_E_CLOSED);
            ok2 &= EXPECT(res2 == NULL);
            if (res2 && res2 != (bgfetch_response *)&ok2) bgfetch_response_free(res2);
        }
        if (res) {
            ok2 &= EXPECT_ST(bgfetch_response_read(res, 0, buf, sizeof buf, -1, &n), BGFETCH_E_CLOSED);
            ok2 &= EXPECT_U64(n, 0);
            ok2 &= EXPECT_ST(bgfetch_response_wait(res, 0), BGFETCH_E_CLOSED);
            ok2 &= EXPECT_ST(bgfetch_response_save(res, P("after-close.bin").s, -1), BGFETCH_E_CLOSED);
        }
        CHECK(ok2 && rec && res,
              "records / responses surviving close: record_response / response_read / response_wait / response_save -> CLOSED");
        bgfetch_options_free(ui);
    }
    bgfetch_response_free(res);
    bgfetch_record_free(rec);
    bgfetch_registration_free(r);
    r = NULL;

    /* reopen */
    m = h_open("store-persist");
    ok &= EXPECT(m != NULL);
    if (m) {
        bgfetch_strings *ids = NULL;
        ok &= EXPECT_ST(bgfetch_get_ids(m, &ids), BGFETCH_OK);
        ok &= EXPECT(h_strings_contains(ids, "persist"));
        ok &= EXPECT(h_strings_contains(ids, "persist-404"));
        ok &= EXPECT(!h_strings_contains(ids, "persist-released"));
        bgfetch_strings_free(ids);
        ok &= EXPECT_ST(bgfetch_get(m, "persist", &r), BGFETCH_OK);
        ok &= EXPECT(r != NULL);
    }
    if (r) {
        bgfetch_icons *ic = NULL;
        bgfetch_records *rs = NULL;
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_failure_reason(r), BGFETCH_FAILURE_NONE);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 3010);
        ok &= EXPECT_U64(bgfetch_registration_download_total(r), 100000);
        ok &= EXPECT(bgfetch_registration_records_available(r));
        title = bgfetch_registration_title(r);
        ok &= EXPECT_STR(title, "Persisted title");
        bgfetch_string_free(title);
        ok &= EXPECT_ST(bgfetch_registration_icons(r, &ic), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_icons_len(ic), 1);
        if (bgfetch_icons_len(ic) == 1) {
            const char *src = NULL, *sizes = NULL, *type = NULL, *label = NULL;
            ok &= EXPECT_ST(bgfetch_icons_get(ic, 0, &src, &sizes, &type, &label), BGFETCH_OK);
            ok &= EXPECT_STR(src, "https://example.com/i.png");
            ok &= EXPECT_STR(sizes, "16x16");
            ok &= EXPECT_STR(type, "image/png");
            ok &= EXPECT_STR(label, "icon");
        }
        bgfetch_icons_free(ic);
        ok &= EXPECT_ST(bgfetch_registration_match_all(r, NULL, 0, &rs), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_records_len(rs), 2);
        if (bgfetch_records_len(rs) == 2) {
            ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 0)), u1.s);
            ok &= EXPECT_STR(bgfetch_record_url(bgfetch_records_get(rs, 1)), u2.s);
        }
        bgfetch_records_free(rs);
        b = h_body_of(r, u1.s, &len);
        ok &= EXPECT(h_is_pattern(b, len, 3000, 4));
        free(b);
        res = h_response_of(r, u2.s);
        ok &= EXPECT(res != NULL);
        if (res) {
            ok &= EXPECT_U64(bgfetch_response_status(res), 200);
            ok &= EXPECT_STR(bgfetch_response_url(res), u2.s);
            ok &= EXPECT_STR(bgfetch_response_header(res, "content-type"), "application/octet-stream");
            ok &= EXPECT_STR(bgfetch_response_header(res, "x-extra"), "kept");
            ok &= EXPECT(bgfetch_response_complete(res));
            b = h_read_file(bgfetch_response_body_path(res), &len);
            ok &= EXPECT(h_is_pattern(b, len, 10, 5));
            free(b);
            bgfetch_response_free(res);
        }
    }
    CHECK(ok, "close and reopen: the settled fetch is still there with its title, icons, records and bodies");

    ok = 1;
    if (m) {
        bgfetch_registration *g = NULL;
        ok &= EXPECT_ST(bgfetch_get(m, "persist-404", &g), BGFETCH_OK);
        ok &= EXPECT(g != NULL);
        if (g) {
            ok &= EXPECT_U64(bgfetch_registration_result(g), BGFETCH_RESULT_FAILURE);
            ok &= EXPECT_U64(bgfetch_registration_failure_reason(g), BGFETCH_FAILURE_BAD_STATUS);
            res = h_response_of(g, u404.s);
            ok &= EXPECT(res != NULL);
            if (res) ok &= EXPECT_U64(bgfetch_response_status(res), 404);
            bgfetch_response_free(res);
            bgfetch_registration_free(g);
        }
    } else {
        ok = 0;
    }
    CHECK(ok, "close and reopen: a failed fetch keeps its failure reason and its bad-status response");

    ok = 1;
    if (m) {
        bgfetch_registration *g = (bgfetch_registration *)&ok;
        ok &= EXPECT_ST(bgfetch_get(m, "persist-released", &g), BGFETCH_OK);
        ok &= EXPECT(g == NULL);
        /* settled, unreleased ids are still in use after reopen */
        {
            const char *urls1[1];
            bgfetch_registration *out = (bgfetch_registration *)&ok;
            h_str uu = U("bytes/1");
            urls1[0] = uu.s;
            ok &= EXPECT_ST(bgfetch_fetch_urls(m, "persist", urls1, 1, NULL, &out), BGFETCH_E_DUPLICATE_ID);
            ok &= EXPECT(out == NULL);
        }
    } else {
        ok = 0;
    }
    CHECK(ok, "close and reopen: a released fetch stays gone; an unreleased id stays in use");

    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    bgfetch_options_free(o);
}

static void t_resume_after_close(void) {
    int ok = 1;
    bgfetch_manager *m = h_open("store-resume");
    h_str u = U("bytes/200000?seed=6&rate=200000");
    bgfetch_registration *r = m ? h_fetch(m, "resume", NULL, u.s, NULL) : NULL;
    int64_t t0;
    ok &= EXPECT(r != NULL);
    if (r) {
        /* wait for the transfer to have started */
        int64_t deadline = h_now_ms() + 5000;
        while (bgfetch_registration_downloaded(r) == 0 && h_now_ms() < deadline) h_sleep_ms(10);
        ok &= EXPECT(bgfetch_registration_downloaded(r) > 0);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE);
    }
    t0 = h_now_ms();
    bgfetch_manager_close(m);
    ok &= EXPECT(h_now_ms() - t0 < 2000);
    if (h_now_ms() - t0 >= 2000) h_diag("close took %" PRId64 " ms", h_now_ms() - t0);
    if (r) ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_NONE); /* not aborted by close */
    bgfetch_registration_free(r);
    r = NULL;
    CHECK(ok, "close mid-download is prompt (< 2 s) and does not settle the fetch");

    ok = 1;
    m = h_open("store-resume");
    ok &= EXPECT(m != NULL);
    if (m) {
        ok &= EXPECT_ST(bgfetch_get(m, "resume", &r), BGFETCH_OK);
        ok &= EXPECT(r != NULL);
    }
    if (r) {
        size_t len = 0;
        uint8_t *b;
        ok &= EXPECT_ST(bgfetch_registration_wait(r, H_WAIT_MS), BGFETCH_OK);
        ok &= EXPECT_U64(bgfetch_registration_result(r), BGFETCH_RESULT_SUCCESS);
        ok &= EXPECT_U64(bgfetch_registration_downloaded(r), 200000);
        b = h_body_of(r, u.s, &len);
        ok &= EXPECT(h_is_pattern(b, len, 200000, 6));
        free(b);
        bgfetch_registration_free(r);
    }
    bgfetch_manager_close(m);
    CHECK(ok, "an unfinished fetch resumes at the next open and completes byte-exact");
}

static void t_close_stalled(void) {
    int ok = 1;
    bgfetch_manager *m = h_open("store-close-stalled");
    bgfetch_registration *r = m ? h_fetch(m, "stalled", NULL, U("bytes/100?stall_ms=60000").s,
                                          U("bytes/10000?stall_at=100&stall_ms=60000").s, NULL)
                                : NULL;
    int64_t t0;
    ok &= EXPECT(r != NULL);
    h_sleep_ms(300); /* let both requests reach the server */
    t0 = h_now_ms();
    bgfetch_manager_close(m);
    ok &= EXPECT(h_now_ms() - t0 < 2000);
    if (h_now_ms() - t0 >= 2000) h_diag("close took %" PRId64 " ms", h_now_ms() - t0);
    bgfetch_registration_free(r);
    CHECK(ok, "close is prompt even while transfers stall on the server");
}

static void t_problems_quarantine(void) {
    int ok = 1;
    bgfetch_manager *m = h_open("store-problems");
    size_t i, n;
    ok &= EXPECT(m != NULL);
    if (m) {
        ok &= EXPECT_U64(bgfetch_manager_problem_count(m), 0);
        n = bgfetch_manager_problem_count(m);
        for (i = 0; i < n; i++) {
            char *p = bgfetch_manager_problem(m, i);
            h_diag("problem: %s", p ? p : "(NULL)");
            bgfetch_string_free(p);
        }
        bgfetch_manager_close(m);
    }
    CHECK(ok, "a fresh store reports no problems");
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[3], "--open-probe") == 0) return open_probe(argv[4]);
    SELF = argv[0];
    h_init(argc, argv);
    t_store_created_0700();
    t_store_parent_must_exist();
    t_busy();
    t_busy_other_process();
    t_two_stores();
    t_persistence();
    t_resume_after_close();
    t_close_stalled();
    t_problems_quarantine();
    return h_done();
}
