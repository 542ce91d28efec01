/* test_stress.c - 4 threads for N seconds on one manager (issue 11, item 17): fetch, get,
 * release, match, read, abort, wait, update_ui and callback changes on 6 overlapping ids, with
 * a progress callback and an event callback that read bodies.
 *
 * N is $BGFETCH_STRESS_SECONDS (default 30; tests/sanitizers.rs sets it lower for the slow
 * runs). Every status is checked against the set the call may legitimately return (listed at
 * each call below); anything else (BGFETCH_E_IO, _INTERNAL, _CLOSED before close,
 * _INVALID_ARGUMENT, ...) fails the test, naming the call. Every body byte read is checked
 * against what the server sent. A watchdog thread ends the program (exit 4, with a message)
 * when a worker, or the final close, makes no progress for 20 s: a hang fails, it does not
 * block CI. Shared state between callbacks and threads goes through atomics or mutexes only.
 */
#include "harness.h"

#include <stdatomic.h>

#define N_WORKERS 4
#define N_IDS 6
#define HANG_MS_DEFAULT 20000
static int HANG_MS = HANG_MS_DEFAULT; /* $BGFETCH_STRESS_HANG_S overrides it (for debugging) */
#define SLOTS 2 /* handles a worker keeps between operations */

static bgfetch_manager *M;
static const char *const IDS[N_IDS] = {"s0", "s1", "s2", "s3", "s4", "s5"};
static int64_t END_MS;

/* ---------------------------------------------------------------------------------------- */
/* statuses                                                                                 */

#define B(st) (1u << (st))
/* the allowed sets, one per kind of call (see the calls) */
#define ALLOW_OK B(BGFETCH_OK)
#define ALLOW_FETCH (B(BGFETCH_OK) | B(BGFETCH_E_DUPLICATE_ID))
#define ALLOW_RELEASE (B(BGFETCH_OK) | B(BGFETCH_E_INVALID_STATE))
#define ALLOW_WAIT (B(BGFETCH_OK) | B(BGFETCH_E_TIMEOUT))
#define ALLOW_RECORDS (B(BGFETCH_OK) | B(BGFETCH_E_INVALID_STATE))
#define ALLOW_RESPONSE                                                                       \
    (B(BGFETCH_OK) | B(BGFETCH_E_TIMEOUT) | B(BGFETCH_E_ABORTED) | B(BGFETCH_E_FETCH_FAILED) | \
     B(BGFETCH_E_INVALID_STATE))
#define ALLOW_RESPONSE_SETTLED \
    (B(BGFETCH_OK) | B(BGFETCH_E_ABORTED) | B(BGFETCH_E_FETCH_FAILED) | B(BGFETCH_E_INVALID_STATE))
#define ALLOW_READ \
    (B(BGFETCH_OK) | B(BGFETCH_E_ABORTED) | B(BGFETCH_E_FETCH_FAILED) | B(BGFETCH_E_INVALID_STATE))

static atomic_long unexpected, mismatches;
static atomic_int printed;

static atomic_int main_op; /* 0 running the workers, 1 closing, 2 done */

/* 1 if st is in mask, or is BGFETCH_E_CLOSED once the close has begun (a callback still
   running then gets it from a call that would block: see bgfetch_manager_close); else counts
   it and prints it (the first 30 times), naming the call */
static int allowed(bgfetch_status st, unsigned mask, const char *call) {
    if (st < 32 && (mask & B(st))) return 1;
    if (st == BGFETCH_E_CLOSED && atomic_load(&main_op) >= 1) return 1;
    atomic_fetch_add(&unexpected, 1);
    if (atomic_fetch_add(&printed, 1) < 30) {
        char msg[300];
        const char *e = bgfetch_last_error(); /* copied before the next bgfetch_ call */
        snprintf(msg, sizeof msg, "%s", e ? e : "(NULL)");
        h_diag("unexpected %s (%u) from %s: %s", h_stname(st), (unsigned)st, call, msg);
    }
    return 0;
}

static void mismatch(const char *what, const char *url, uint64_t off) {
    atomic_fetch_add(&mismatches, 1);
    if (atomic_fetch_add(&printed, 1) < 30) h_diag("%s: %s at offset %" PRIu64, what, url ? url : "(NULL)", off);
}

/* ---------------------------------------------------------------------------------------- */
/* counters (for the summary; a few also for the checks)                                    */

enum {
    C_OPS,
    C_FETCH_OK,
    C_FETCH_DUP,
    C_GET_FOUND,
    C_RELEASE_OK,
    C_RELEASE_RUNNING,
    C_ABORT,
    C_ABORTED,
    C_WAIT_OK,
    C_WAIT_TIMEOUT,
    C_RECORDS_RELEASED,
    C_BODIES_WHOLE,
    C_BODIES_STOPPED,
    C_BYTES,
    C_UI,
    C_CB_SET,
    C_CB_FIN,
    C_PROGRESS,
    C_PROGRESS_ABORTS,
    C_EVENTS,
    C_EVENT_RELEASES,
    C_HANDLE_FREES_WITH_CB,
    N_COUNTERS
};
static atomic_long cnt[N_COUNTERS];
#define COUNT(k) atomic_fetch_add(&cnt[k], 1)
#define GET(k) atomic_load(&cnt[k])

/* ---------------------------------------------------------------------------------------- */
/* what the server sends for a URL                                                          */

typedef struct {
    int known;
    uint64_t size;
    unsigned seed;
    char text[32]; /* the body of /status/N */
} expected_body;

static expected_body expected_of(const char *url) {
    expected_body e;
    const char *p;
    memset(&e, 0, sizeof e);
    if (!url) return e;
    if ((p = strstr(url, "/bytes/")) != NULL) {
        const char *s = strstr(p, "seed=");
        e.known = 1;
        e.size = strtoull(p + 7, NULL, 10);
        e.seed = s ? (unsigned)strtoul(s + 5, NULL, 10) : 0;
    } else if ((p = strstr(url, "/status/")) != NULL) {
        e.known = 2;
        snprintf(e.text, sizeof e.text, "status %d\n", atoi(p + 8));
        e.size = strlen(e.text);
    }
    return e;
}

static int byte_ok(const expected_body *e, uint64_t off, uint8_t b) {
    if (e->known == 1) return off < e->size && b == h_pattern_byte(off, e->seed);
    if (e->known == 2) return off < e->size && b == (uint8_t)e->text[off];
    return 1;
}

enum { READ_ALL, READ_STORED, READ_SETTLED };

/* Reads the body of a record through bgfetch_record_response(timeout 0) and
   bgfetch_response_read, checking every byte.
   READ_ALL (a worker): to the end, blocking while it arrives.
   READ_STORED (a progress callback): only the bytes stored so far (never blocks).
   READ_SETTLED (an event callback): to the end; the fetch has settled. */
static void read_record(const bgfetch_record *rec, int mode, const char *who) {
    bgfetch_response *res = NULL;
    bgfetch_status st;
    expected_body e = expected_of(bgfetch_record_url(rec));
    const char *url = bgfetch_record_url(rec);
    char call[96];
    uint64_t off = 0, limit = UINT64_MAX;
    uint8_t buf[8192];
    int rounds = 0;
    snprintf(call, sizeof call, "bgfetch_record_response(timeout 0) in %s", who);
    st = bgfetch_record_response(rec, 0, &res);
    /* OK; TIMEOUT: no head yet (a running fetch only); ABORTED / FETCH_FAILED: the request was
       aborted, failed or never made; INVALID_STATE: released meanwhile */
    if (!allowed(st, mode == READ_SETTLED ? ALLOW_RESPONSE_SETTLED : ALLOW_RESPONSE, call) || !res) return;
    if (mode == READ_STORED) limit = bgfetch_response_body_size(res);
    snprintf(call, sizeof call, "bgfetch_response_read in %s", who);
    while (off < limit && rounds++ < 100000) {
        size_t n = 0, k, cap = sizeof buf;
        if (limit - off < cap) cap = (size_t)(limit - off);
        st = bgfetch_response_read(res, off, buf, cap, -1, &n);
        /* OK; ABORTED / FETCH_FAILED: the body stops short of off; INVALID_STATE: released */
        if (!allowed(st, ALLOW_READ, call)) break;
        if (st == BGFETCH_E_INVALID_STATE) {
            COUNT(C_RECORDS_RELEASED);
            break;
        }
        if (st != BGFETCH_OK) {
            COUNT(C_BODIES_STOPPED);
            break;
        }
        if (n == 0) { /* the end of a complete body */
            if (e.known && off != e.size) mismatch("a complete body of the wrong length", url, off);
            COUNT(C_BODIES_WHOLE);
            break;
        }
        for (k = 0; k < n; k++)
            if (!byte_ok(&e, off + k, buf[k])) {
                mismatch("a wrong body byte", url, off + k);
                break;
            }
        atomic_fetch_add(&cnt[C_BYTES], (long)n);
        off += n;
        if (k < n) break;
    }
    bgfetch_response_free(res);
}

/* match_all (OK, or INVALID_STATE once released) and read every record */
static void read_all_records(bgfetch_registration *r, int mode, const char *who) {
    bgfetch_records *rs = NULL;
    char call[96];
    bgfetch_status st;
    size_t i;
    snprintf(call, sizeof call, "bgfetch_registration_match_all in %s", who);
    st = bgfetch_registration_match_all(r, NULL, 0, &rs);
    if (!allowed(st, ALLOW_RECORDS, call)) return;
    if (st == BGFETCH_E_INVALID_STATE) COUNT(C_RECORDS_RELEASED);
    for (i = 0; i < bgfetch_records_len(rs); i++) read_record(bgfetch_records_get(rs, i), mode, who);
    bgfetch_records_free(rs);
}

/* ---------------------------------------------------------------------------------------- */
/* callbacks                                                                                */

/* Userdata of a progress callback: on the heap, freed by its finalizer (a call after that is a
   use-after-free for ASan/valgrind, and a bad magic in a plain build). */
#define UD_MAGIC 0x57e55u
typedef struct {
    unsigned magic;
    unsigned rng;
} progress_ud;

static atomic_long bad_userdata;

static void on_progress(void *ud, bgfetch_registration *r) {
    progress_ud *p = (progress_ud *)ud;
    COUNT(C_PROGRESS);
    if (p->magic != UD_MAGIC) {
        atomic_fetch_add(&bad_userdata, 1);
        return;
    }
    read_all_records(r, READ_STORED, "the progress callback");
    /* now and then abort from inside the callback (allowed; OK whatever the state) */
    p->rng = p->rng * 1103515245u + 12345u;
    if ((p->rng >> 16) % 64 == 0) {
        bool did = false;
        if (allowed(bgfetch_registration_abort(r, &did), ALLOW_OK, "bgfetch_registration_abort in the progress callback") && did)
            COUNT(C_PROGRESS_ABORTS);
    }
}

static void free_progress_ud(void *ud) {
    progress_ud *p = (progress_ud *)ud;
    if (p->magic != UD_MAGIC) atomic_fetch_add(&bad_userdata, 1);
    p->magic = 0;
    free(p);
    COUNT(C_CB_FIN);
}

/* Sets a fresh progress callback on h (OK: any handle, running or settled, released or not). */
static void set_callback(bgfetch_registration *h, unsigned seed) {
    progress_ud *p = (progress_ud *)malloc(sizeof *p);
    p->magic = UD_MAGIC;
    p->rng = seed;
    COUNT(C_CB_SET); /* its finalizer must run exactly once, whatever the setter answers */
    allowed(bgfetch_registration_set_progress_callback(h, on_progress, p, free_progress_ud), ALLOW_OK,
            "bgfetch_registration_set_progress_callback");
}

typedef struct {
    atomic_long fin;
    atomic_long bad_type;
    atomic_uint n;
} event_ud;

static void on_event(void *ud, bgfetch_event_type type, bgfetch_registration *reg) {
    event_ud *e = (event_ud *)ud;
    unsigned n = atomic_fetch_add(&e->n, 1);
    COUNT(C_EVENTS);
    if (type != BGFETCH_EVENT_SUCCESS && type != BGFETCH_EVENT_FAIL && type != BGFETCH_EVENT_ABORT)
        atomic_fetch_add(&e->bad_type, 1);
    read_all_records(reg, READ_SETTLED, "the event callback");
    if (n % 3 == 0) {
        /* release from inside the event (allowed): the fetch has settled, so OK (also when
           released already) */
        if (allowed(bgfetch_registration_release(reg), ALLOW_OK, "bgfetch_registration_release in the event callback"))
            COUNT(C_EVENT_RELEASES);
    }
}

static void free_event_ud(void *ud) {
    event_ud *e = (event_ud *)ud;
    atomic_fetch_add(&e->fin, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* workers                                                                                  */

static const char *const OP_NAMES[] = {"idle",   "fetch",     "get+read", "release", "abort", "wait",
                                       "update_ui", "get_ids", "slot",     "match",   "done"};
enum { OP_IDLE, OP_FETCH, OP_READ, OP_RELEASE, OP_ABORT, OP_WAIT, OP_UI, OP_IDS, OP_SLOT, OP_MATCH, OP_DONE };

typedef struct {
    int index;
    unsigned rng;
    atomic_llong beat; /* h_now_ms() after the last operation */
    atomic_int op;     /* the operation under way */
    long ops;
    long fetches;
    bgfetch_registration *slot[SLOTS];
    int slot_cb[SLOTS];
} worker;

static worker W[N_WORKERS];
static atomic_llong main_beat;

static unsigned rnd(worker *w) {
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 17;
    w->rng ^= w->rng << 5;
    return w->rng;
}

/* one or two URLs of the server: mostly quick bodies, some slow, stalled, chunked or failing */
static h_str pick_url(worker *w, int j) {
    unsigned k = rnd(w) % 10, size = rnd(w) % 40000, seed = rnd(w) % 250;
    switch (k) {
    case 5: return U("bytes/%u?seed=%u&rate=200000&j=%d", size, seed, j);
    case 6: return U("bytes/%u?seed=%u&stall_ms=300&j=%d", size, seed, j);
    case 7: return U("bytes/%u?seed=%u&chunked=1&j=%d", size, seed, j);
    case 8: return U("status/404?j=%d", j);
    case 9: return U("bytes/%u?seed=%u&stall_at=%u&stall_ms=300&j=%d", size, seed, size / 2, j);
    default: return U("bytes/%u?seed=%u&j=%d", size, seed, j);
    }
}

/* a handle of a random id, or NULL (get: OK always, also when nothing has the id) */
static bgfetch_registration *get_any(worker *w) {
    bgfetch_registration *g = NULL;
    allowed(bgfetch_get(M, IDS[rnd(w) % N_IDS], &g), ALLOW_OK, "bgfetch_get");
    if (g) COUNT(C_GET_FOUND);
    return g;
}

static void free_slot(worker *w, int i) {
    if (!w->slot[i]) return;
    if (w->slot_cb[i]) COUNT(C_HANDLE_FREES_WITH_CB);
    bgfetch_registration_free(w->slot[i]); /* removes its callback; the finalizer runs now */
    w->slot[i] = NULL;
    w->slot_cb[i] = 0;
}

static void op_fetch(worker *w) {
    h_str u1 = pick_url(w, 1), u2 = pick_url(w, 2);
    const char *urls[2];
    size_t n = 1 + rnd(w) % 2;
    bgfetch_registration *r = NULL;
    bgfetch_status st;
    urls[0] = u1.s;
    urls[1] = u2.s;
    st = bgfetch_fetch_urls(M, IDS[rnd(w) % N_IDS], urls, n, NULL, &r);
    /* OK, or DUPLICATE_ID: an unreleased fetch has the id (no bad input, no quota here) */
    if (!allowed(st, ALLOW_FETCH, "bgfetch_fetch_urls")) return;
    if (st == BGFETCH_E_DUPLICATE_ID) {
        COUNT(C_FETCH_DUP);
        return;
    }
    COUNT(C_FETCH_OK);
    w->fetches++;
    {
        int i = (int)(rnd(w) % SLOTS), with_cb = (int)(rnd(w) % 2);
        if (with_cb) set_callback(r, rnd(w));
        if (rnd(w) % 3 == 0) {
            /* free at once: the callback (if any) may be about to fire */
            if (with_cb) COUNT(C_HANDLE_FREES_WITH_CB);
            bgfetch_registration_free(r);
            return;
        }
        free_slot(w, i);
        w->slot[i] = r;
        w->slot_cb[i] = with_cb;
    }
}

static void op_read(worker *w) {
    bgfetch_registration *g = get_any(w);
    if (g) read_all_records(g, READ_ALL, "a worker");
    bgfetch_registration_free(g);
}

static void op_release(worker *w) {
    bgfetch_registration *g = get_any(w);
    if (g) {
        bgfetch_status st = bgfetch_registration_release(g);
        /* OK (also when released already), INVALID_STATE while it runs */
        if (allowed(st, ALLOW_RELEASE, "bgfetch_registration_release"))
            COUNT(st == BGFETCH_OK ? C_RELEASE_OK : C_RELEASE_RUNNING);
    }
    bgfetch_registration_free(g);
}

static void op_abort(worker *w) {
    bgfetch_registration *g = get_any(w);
    if (g) {
        bool did = false;
        /* OK always: *did says whether it was still running */
        if (allowed(bgfetch_registration_abort(g, &did), ALLOW_OK, "bgfetch_registration_abort")) {
            COUNT(C_ABORT);
            if (did) COUNT(C_ABORTED);
        }
    }
    bgfetch_registration_free(g);
}

static void op_wait(worker *w) {
    bgfetch_registration *g = get_any(w);
    if (g) {
        bgfetch_status st = bgfetch_registration_wait(g, 200);
        /* OK once settled, TIMEOUT before */
        if (allowed(st, ALLOW_WAIT, "bgfetch_registration_wait(200 ms)"))
            COUNT(st == BGFETCH_OK ? C_WAIT_OK : C_WAIT_TIMEOUT);
    }
    bgfetch_registration_free(g);
}

static void op_update_ui(worker *w) {
    bgfetch_registration *g = get_any(w);
    if (g) {
        bgfetch_options *o = bgfetch_options_new();
        h_str t = S("title %u", rnd(w));
        allowed(bgfetch_options_set_title(o, t.s), ALLOW_OK, "bgfetch_options_set_title");
        /* OK, or INVALID_STATE: released, or the fetch's completion event is running and
           updateUI was already called during it (the event is active for every caller) */
        if (allowed(bgfetch_registration_update_ui(g, o), ALLOW_RECORDS, "bgfetch_registration_update_ui"))
            COUNT(C_UI);
        bgfetch_options_free(o);
    }
    bgfetch_registration_free(g);
}

static void op_ids(worker *w) {
    bgfetch_strings *s = NULL;
    (void)w;
    allowed(bgfetch_get_ids(M, &s), ALLOW_OK, "bgfetch_get_ids"); /* OK always */
    bgfetch_strings_free(s);
}

/* on a kept handle: set, replace or clear its callback, read through it, or free it */
static void op_slot(worker *w) {
    int i = (int)(rnd(w) % SLOTS);
    bgfetch_registration *h = w->slot[i];
    if (!h) return;
    switch (rnd(w) % 4) {
    case 0:
        set_callback(h, rnd(w)); /* replaces: the old finalizer runs now */
        w->slot_cb[i] = 1;
        break;
    case 1:
        /* clearing: OK */
        allowed(bgfetch_registration_set_progress_callback(h, NULL, NULL, NULL), ALLOW_OK,
                "bgfetch_registration_set_progress_callback(NULL)");
        w->slot_cb[i] = 0;
        break;
    case 2: read_all_records(h, READ_ALL, "a worker (kept handle)"); break;
    default: free_slot(w, i); break;
    }
}

static void op_match(worker *w) {
    bgfetch_registration *g = get_any(w);
    bgfetch_records *rs = NULL;
    if (g && allowed(bgfetch_registration_match_all(g, NULL, 0, &rs), ALLOW_RECORDS, "bgfetch_registration_match_all") &&
        bgfetch_records_len(rs) > 0) {
        const bgfetch_record *first = bgfetch_records_get(rs, 0);
        const char *url = bgfetch_record_url(first);
        bgfetch_record *rec = NULL;
        uint8_t b[16];
        size_t n = 0;
        /* match_url and read_body: OK, or INVALID_STATE once released */
        if (url && allowed(bgfetch_registration_match_url(g, url, BGFETCH_QUERY_IGNORE_SEARCH, &rec), ALLOW_RECORDS,
                           "bgfetch_registration_match_url") &&
            rec)
            read_record(rec, READ_STORED, "a worker (match_url)");
        bgfetch_record_free(rec);
        allowed(bgfetch_record_read_body(first, 0, b, sizeof b, &n), ALLOW_RECORDS, "bgfetch_record_read_body");
        if (n != 0) mismatch("a GET record with a request body", url, 0);
    }
    bgfetch_records_free(rs);
    bgfetch_registration_free(g);
}

static void *work(void *arg) {
    worker *w = (worker *)arg;
    long i;
    int s;
    for (i = 0; h_now_ms() < END_MS && i < 100000000; i++) {
        unsigned k = rnd(w) % 100;
        int op = k < 22 ? OP_FETCH
                 : k < 38 ? OP_READ
                 : k < 48 ? OP_RELEASE
                 : k < 56 ? OP_ABORT
                 : k < 64 ? OP_WAIT
                 : k < 70 ? OP_UI
                 : k < 76 ? OP_IDS
                 : k < 90 ? OP_SLOT
                          : OP_MATCH;
        atomic_store(&w->op, op);
        switch (op) {
        case OP_FETCH: op_fetch(w); break;
        case OP_READ: op_read(w); break;
        case OP_RELEASE: op_release(w); break;
        case OP_ABORT: op_abort(w); break;
        case OP_WAIT: op_wait(w); break;
        case OP_UI: op_update_ui(w); break;
        case OP_IDS: op_ids(w); break;
        case OP_SLOT: op_slot(w); break;
        default: op_match(w); break;
        }
        w->ops++;
        COUNT(C_OPS);
        atomic_store(&w->beat, h_now_ms());
    }
    atomic_store(&w->op, OP_DONE);
    for (s = 0; s < SLOTS; s++) free_slot(w, s);
    atomic_store(&w->beat, h_now_ms());
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* the watchdog                                                                             */

static h_latch wd_stop;

static void *watchdog(void *arg) {
    (void)arg;
    while (!h_latch_wait(&wd_stop, 1, 500)) {
        int64_t now = h_now_ms();
        int i;
        for (i = 0; i < N_WORKERS; i++) {
            int op = atomic_load(&W[i].op);
            if (op != OP_DONE && now - atomic_load(&W[i].beat) > HANG_MS) {
                h_diag("watchdog: worker %d made no progress for %d s (in \"%s\")", i, HANG_MS / 1000,
                       OP_NAMES[op]);
                printf("not ok - watchdog: a worker hung\n");
                fflush(stdout);
                _exit(4);
            }
        }
        if (atomic_load(&main_op) == 1 && now - atomic_load(&main_beat) > HANG_MS) {
            h_diag("watchdog: closing (or reopening) the manager has not returned after %d s", HANG_MS / 1000);
            printf("not ok - watchdog: close hung\n");
            fflush(stdout);
            _exit(4);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t t[N_WORKERS], wd;
    event_ud ev;
    bgfetch_config *c;
    const char *env = getenv("BGFETCH_STRESS_SECONDS");
    int seconds = env && atoi(env) > 0 ? atoi(env) : 30;
    int i, ok;
    int64_t t0;
    h_init(argc, argv);
    if (getenv("BGFETCH_STRESS_HANG_S") && atoi(getenv("BGFETCH_STRESS_HANG_S")) > 0)
        HANG_MS = atoi(getenv("BGFETCH_STRESS_HANG_S")) * 1000;
    h_latch_init(&wd_stop);
    atomic_init(&ev.fin, 0);
    atomic_init(&ev.bad_type, 0);
    atomic_init(&ev.n, 0);
    for (i = 0; i < N_COUNTERS; i++) atomic_init(&cnt[i], 0);

    c = h_config("store-stress");
    if (c) {
        bgfetch_config_set_progress_interval(c, 20);
        bgfetch_config_set_max_connections(c, 8);
    }
    M = h_open_cfg(c);
    if (!CHECK(M != NULL, "open a manager")) return h_done();
    if (!CHECK(bgfetch_manager_set_event_callback(M, on_event, &ev, free_event_ud) == BGFETCH_OK,
               "set the event callback"))
        return h_done();

    t0 = h_now_ms();
    END_MS = t0 + (int64_t)seconds * 1000;
    atomic_store(&main_beat, t0);
    atomic_store(&main_op, 0);
    for (i = 0; i < N_WORKERS; i++) {
        memset(&W[i], 0, sizeof W[i]);
        W[i].index = i;
        W[i].rng = 0x9e3779b9u * (unsigned)(i + 1);
        atomic_init(&W[i].beat, t0);
        atomic_init(&W[i].op, OP_IDLE);
    }
    pthread_create(&wd, NULL, watchdog, NULL);
    for (i = 0; i < N_WORKERS; i++) pthread_create(&t[i], NULL, work, &W[i]);
    for (i = 0; i < N_WORKERS; i++) pthread_join(t[i], NULL);

    /* every handle is freed: close (watched) */
    atomic_store(&main_beat, h_now_ms());
    atomic_store(&main_op, 1);
    bgfetch_manager_close(M);
    M = NULL;

    h_diag("stress: %d s, %d threads, %ld ops: fetch %ld ok / %ld duplicate; get found %ld; release %ld ok / "
           "%ld running; abort %ld (%ld running), %ld from progress callbacks; wait %ld ok / %ld timeout; "
           "update_ui %ld; bodies %ld whole / %ld stopped, %ld bytes checked; records released under a "
           "reader %ld; progress calls %ld; events %ld (%ld released inside); callbacks set %ld, finalized "
           "%ld, handles freed with a callback %ld",
           seconds, N_WORKERS, GET(C_OPS), GET(C_FETCH_OK), GET(C_FETCH_DUP), GET(C_GET_FOUND),
           GET(C_RELEASE_OK), GET(C_RELEASE_RUNNING), GET(C_ABORT), GET(C_ABORTED), GET(C_PROGRESS_ABORTS),
           GET(C_WAIT_OK), GET(C_WAIT_TIMEOUT), GET(C_UI), GET(C_BODIES_WHOLE), GET(C_BODIES_STOPPED),
           GET(C_BYTES), GET(C_RECORDS_RELEASED), GET(C_PROGRESS), GET(C_EVENTS), GET(C_EVENT_RELEASES),
           GET(C_CB_SET), GET(C_CB_FIN), GET(C_HANDLE_FREES_WITH_CB));

    CHECK(atomic_load(&unexpected) == 0, "every status was one its call may return (%ld were not)",
          atomic_load(&unexpected));
    CHECK(atomic_load(&mismatches) == 0, "every body byte read was the server's (%ld mismatches)",
          atomic_load(&mismatches));
    ok = 1;
    for (i = 0; i < N_WORKERS; i++) {
        if (W[i].ops == 0 || W[i].fetches == 0) {
            h_diag("worker %d: %ld operations, %ld fetches", i, W[i].ops, W[i].fetches);
            ok = 0;
        }
    }
    ok &= EXPECT(GET(C_EVENTS) > 0);
    ok &= EXPECT(GET(C_PROGRESS) > 0);
    CHECK(ok, "every worker fetched and made progress; callbacks ran");
    ok = 1;
    ok &= EXPECT_U64(atomic_load(&ev.fin), 1);
    ok &= EXPECT_U64(GET(C_CB_FIN), GET(C_CB_SET));
    ok &= EXPECT_U64(atomic_load(&bad_userdata), 0);
    ok &= EXPECT_U64(atomic_load(&ev.bad_type), 0);
    CHECK(ok, "bgfetch_manager_close returned; every finalizer ran exactly once, no callback after its finalizer");

    /* the store reopens cleanly (and closes again: still watched) */
    ok = 1;
    atomic_store(&main_beat, h_now_ms());
    M = h_open("store-stress");
    ok &= EXPECT(M != NULL);
    if (M) {
        ok &= EXPECT_U64(bgfetch_manager_problem_count(M), 0);
        bgfetch_manager_close(M);
    }
    CHECK(ok, "after the stress the store reopens without problems");
    atomic_store(&main_op, 2);
    h_latch_add(&wd_stop, 1);
    pthread_join(wd, NULL);
    h_latch_destroy(&wd_stop);
    return h_done();
}
