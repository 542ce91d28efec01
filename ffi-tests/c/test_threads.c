/* test_threads.c - 8 threads sharing one manager (and one registration handle) at once */
#include "harness.h"

#define N_THREADS 8
#define ROUNDS 4

static bgfetch_manager *M;
static bgfetch_registration *SHARED; /* one handle used by every thread */
static h_str SHARED_URL;
static pthread_barrier_t START;

typedef struct {
    int index;
    int errors;
    int fetched;
    char first_error[256];
} worker;

static void fail(worker *w, const char *what, bgfetch_status st) {
    if (!w->errors)
        snprintf(w->first_error, sizeof w->first_error, "%s: %s (%s)", what, h_stname(st), bgfetch_last_error());
    w->errors++;
}

static void *work(void *arg) {
    worker *w = (worker *)arg;
    int k;
    pthread_barrier_wait(&START);
    for (k = 0; k < ROUNDS; k++) {
        h_str id = S("thread-%d-round-%d", w->index, k);
        size_t n1 = 1000 + (size_t)w->index * 100 + (size_t)k, n2 = 5000 + (size_t)k;
        unsigned seed = (unsigned)(w->index * 10 + k);
        h_str u1 = U("bytes/%zu?seed=%u", n1, seed), u2 = U("bytes/%zu?seed=%u&t=%d", n2, seed, w->index);
        const char *urls[2];
        bgfetch_registration *r = NULL, *g = NULL;
        bgfetch_strings *ids = NULL;
        bgfetch_records *rs = NULL;
        bgfetch_status st;
        size_t len = 0;
        uint8_t *body;
        urls[0] = u1.s;
        urls[1] = u2.s;

        st = bgfetch_fetch_urls(M, id.s, urls, 2, NULL, &r);
        if (st != BGFETCH_OK || !r) {
            fail(w, "fetch_urls", st);
            continue;
        }
        w->fetched++;
        st = bgfetch_get(M, id.s, &g);
        if (st != BGFETCH_OK || !g) fail(w, "get", st);
        st = bgfetch_get_ids(M, &ids);
        if (st != BGFETCH_OK || !h_strings_contains(ids, id.s)) fail(w, "get_ids", st);
        bgfetch_strings_free(ids);

        /* the shared handle, from every thread at once */
        st = bgfetch_registration_wait(SHARED, H_WAIT_MS);
        if (st != BGFETCH_OK) fail(w, "wait(shared)", st);
        body = h_body_of(SHARED, SHARED_URL.s, &len);
        if (!body || len != 40000 || body[39999] != h_pattern_byte(39999, 99)) fail(w, "shared body", BGFETCH_OK);
        free(body);

        st = bgfetch_registration_wait(g ? g : r, H_WAIT_MS);
        if (st != BGFETCH_OK) fail(w, "wait", st);
        if (bgfetch_registration_result(r) != BGFETCH_RESULT_SUCCESS) fail(w, "result", st);
        if (bgfetch_registration_downloaded(r) != n1 + n2) fail(w, "downloaded", st);
        st = bgfetch_registration_match_all(r, NULL, 0, &rs);
        if (st != BGFETCH_OK || bgfetch_records_len(rs) != 2) fail(w, "match_all", st);
        bgfetch_records_free(rs);
        body = h_body_of(r, u1.s, &len);
        if (!body || len != n1) {
            fail(w, "body 1 length", BGFETCH_OK);
        } else {
            size_t i;
            for (i = 0; i < len; i++)
                if (body[i] != h_pattern_byte(i, seed)) {
                    fail(w, "body 1 bytes", BGFETCH_OK);
                    break;
                }
        }
        free(body);
        body = h_body_of(g ? g : r, u2.s, &len);
        if (!body || len != n2 || body[n2 - 1] != h_pattern_byte(n2 - 1, seed)) fail(w, "body 2", BGFETCH_OK);
        free(body);
        if (k % 2 == 0) {
            st = bgfetch_registration_release(r);
            if (st != BGFETCH_OK) fail(w, "release", st);
        }
        bgfetch_registration_free(g);
        bgfetch_registration_free(r);
    }
    return NULL;
}

/* all threads fetch the same id at the same moment: exactly one wins */
typedef struct {
    bgfetch_status st;
    bgfetch_registration *r;
} racer;

static void *race(void *arg) {
    racer *x = (racer *)arg;
    h_str u = U("bytes/10?seed=1");
    const char *urls[1];
    urls[0] = u.s;
    pthread_barrier_wait(&START);
    x->st = bgfetch_fetch_urls(M, "contended", urls, 1, NULL, &x->r);
    return NULL;
}

static void t_same_id_race(void) {
    pthread_t t[N_THREADS];
    racer x[N_THREADS];
    int i, ok = 1, winners = 0, dups = 0;
    pthread_barrier_init(&START, NULL, N_THREADS);
    for (i = 0; i < N_THREADS; i++) {
        x[i].st = BGFETCH_E_INTERNAL;
        x[i].r = NULL;
        pthread_create(&t[i], NULL, race, &x[i]);
    }
    for (i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&START);
    for (i = 0; i < N_THREADS; i++) {
        if (x[i].st == BGFETCH_OK && x[i].r) winners++;
        else if (x[i].st == BGFETCH_E_DUPLICATE_ID && !x[i].r) dups++;
        else h_diag("thread %d: %s", i, h_stname(x[i].st));
        if (x[i].r) {
            ok &= EXPECT_ST(bgfetch_registration_wait(x[i].r, H_WAIT_MS), BGFETCH_OK);
            bgfetch_registration_free(x[i].r);
        }
    }
    ok &= EXPECT(winners == 1);
    ok &= EXPECT(dups == N_THREADS - 1);
    CHECK(ok, "8 threads fetch the same id at once: exactly one OK, the others DUPLICATE_ID");
}

int main(int argc, char **argv) {
    bgfetch_config *c;
    pthread_t t[N_THREADS];
    worker w[N_THREADS];
    int i, ok;
    int64_t t0;
    h_init(argc, argv);
    c = h_config("store-threads");
    if (c) {
        bgfetch_config_set_max_connections(c, 8);
        bgfetch_config_set_max_connections_per_fetch(c, 2);
    }
    M = h_open_cfg(c);
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    SHARED_URL = U("bytes/40000?seed=99&rate=400000");
    SHARED = h_fetch(M, "shared", NULL, SHARED_URL.s, NULL);
    if (!CHECK(SHARED != NULL, "fetch the shared registration")) return h_done();

    pthread_barrier_init(&START, NULL, N_THREADS);
    t0 = h_now_ms();
    for (i = 0; i < N_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].index = i;
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);
    h_diag("8 threads x %d rounds took %" PRId64 " ms", ROUNDS, h_now_ms() - t0);
    pthread_barrier_destroy(&START);

    for (i = 0; i < N_THREADS; i++) {
        ok = w[i].errors == 0 && w[i].fetched == ROUNDS;
        if (!ok) h_diag("thread %d: %d errors, %d fetched; first: %s", i, w[i].errors, w[i].fetched, w[i].first_error);
        CHECK(ok, "thread %d: fetch/get/get_ids/wait/match/read/release concurrently, all succeed", i);
    }

    ok = 1;
    {
        bgfetch_strings *ids = NULL;
        ok &= EXPECT_ST(bgfetch_get_ids(M, &ids), BGFETCH_OK);
        /* rounds 0 and 2 were released, 1 and 3 not; plus "shared" */
        ok &= EXPECT_U64(bgfetch_strings_len(ids), N_THREADS * ROUNDS / 2 + 1); /* before the race */
        for (i = 0; i < N_THREADS; i++) {
            ok &= EXPECT(!h_strings_contains(ids, S("thread-%d-round-0", i).s));
            ok &= EXPECT(h_strings_contains(ids, S("thread-%d-round-1", i).s));
        }
        bgfetch_strings_free(ids);
    }
    CHECK(ok, "after the threads: get_ids lists exactly the unreleased fetches");
    t_same_id_race();

    bgfetch_registration_free(SHARED);
    bgfetch_manager_close(M);
    return h_done();
}
