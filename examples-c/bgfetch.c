/*
 * bgfetch.c - a small command-line tool over one libbgfetch store.
 *
 *     bgfetch [-s DIR] [--base URL] [--limit-rate RATE] [--split N] [--proxy URL] [--cacert FILE]
 *             [--progress=bar|plain|none] COMMAND [ARGS...]
 *
 *     fetch ID URL... [--title T] [--download-total N]
 *                         start a background fetch and wait for it with a progress bar;
 *                         Ctrl-C leaves it in the store, to finish with `resume`
 *     ids                 the ids of every unreleased fetch, one per line
 *     status ID           id, title, icons, result, failure reason, state (what the fetch
 *                         waits for), progress, the expected total from the response heads,
 *                         and one line per record: its state, attempts, the time to its next
 *                         retry and its last error
 *     abort ID            abort a running fetch
 *     pause ID            pause a fetch; it stays paused in the store across runs
 *     unpause ID          resume a paused fetch and wait for it with a progress bar
 *     records ID          one line per record: METHOD URL STATUS SIZE (a failed record: its
 *                         message)
 *     save ID URL DEST    write the body of the record matching URL to DEST (atomically).
 *                         Without --base, a URL without a scheme names the record whose URL
 *                         has that path and query ("/ep-5.mp3"), or ends with "/URL" when URL
 *                         has no leading slash ("ep-5.mp3"); when several records match, they
 *                         are listed and nothing is saved (exit 1)
 *     release ID          forget a finished fetch and free its stored files
 *     resume              open the store, wait for every unfinished fetch that is not paused,
 *                         print the results
 *
 * Options (anywhere on the line; `--opt=value` works too; `--` ends the options):
 *     -s, --store DIR     the store directory (default ./bgfetch-store)
 *     --base URL          the base URL that relative URLs resolve against (fetch, save)
 *                         (save without it: see save)
 *     --limit-rate RATE   the bandwidth cap in bytes/s, with a suffix k, M or G (x1024) as
 *                         curl takes it; 0 = none
 *     --split N           fetch a large body over up to N connections at once, in ranges
 *                         written in place (1..16, as aria2's --split; default 1); also lets
 *                         a fetch use N connections
 *     --proxy URL         the proxy (http://host:port or socks5://host:port; "" = none even
 *                         if the environment names one); unset: the environment's
 *     --cacert FILE       a PEM file of the CA certificates to trust for https (replaces the
 *                         system's roots)
 *     --progress MODE     bar (redrawn in place), plain (a line every half second) or none;
 *                         default: bar on a terminal, plain otherwise
 *     --version           the library's version and the header's
 *     -h, --help          this help
 *
 * Progress goes to stderr: bytes, the percentage of the download total or else of the total
 * the response heads announce, and the rate; while the fetch waits, what for ("waiting to retry
 * in 3.2 s (attempt 4): <why>", "offline", "paused"). Everything else goes to stdout, including
 * a line when a body resumes at byte N of an earlier run, and when the progress shows a body
 * starting again from zero (the server could not resume it).
 *
 * Exit status (also in --help):
 *     0        success
 *     1        usage error (also: save's URL matches several records)
 *     2        a fetch finished with result "failure" (fetch, unpause, resume)
 *     3        no fetch with that ID, or no record matching URL
 *     130      interrupted by Ctrl-C (the fetch goes on at the next open of the store)
 *     10 + N   the library returned status N: 11 INVALID_ARGUMENT, 12 DUPLICATE_ID,
 *              13 QUOTA_EXCEEDED, 14 INVALID_STATE, 15 ABORTED, 16 FETCH_FAILED, 17 TIMEOUT,
 *              18 IO, 19 CLOSED, 20 BUSY, 109 INTERNAL; the library's message is printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bgfetch.h"

#define EXIT_USAGE 1
#define EXIT_FETCH_FAILED 2
#define EXIT_NOT_FOUND 3
#define EXIT_INTERRUPTED 130
#define EXIT_STATUS(s) (10 + (int)(s))

#define MIB (1024.0 * 1024.0)
#define POLL_MS 200 /* waits are sliced so that Ctrl-C is noticed */

static const char USAGE[] =
    "usage: bgfetch [-s DIR] [--base URL] [--limit-rate RATE] [--split N] [--proxy URL]\n"
    "               [--cacert FILE]\n"
    "               [--progress=bar|plain|none] COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  fetch ID URL... [--title T] [--download-total N]\n"
    "                      start a background fetch and wait for it with a progress bar;\n"
    "                      Ctrl-C leaves it in the store, to finish with 'resume'.\n"
    "                      N is bytes, or with a suffix K, M, G (KiB, MiB, GiB)\n"
    "  ids                 the ids of every unreleased fetch\n"
    "  status ID           title, icons, result, state, progress, expected total, and each\n"
    "                      record's state, attempts, next retry and last error\n"
    "  abort ID            abort a running fetch\n"
    "  pause ID            pause a fetch (it stays paused in the store across runs)\n"
    "  unpause ID          resume a paused fetch and wait for it with a progress bar\n"
    "  records ID          one line per record: METHOD URL STATUS SIZE\n"
    "  save ID URL DEST    save the body of the record matching URL to DEST. Without\n"
    "                      --base, a URL without a scheme names the record whose URL has\n"
    "                      that path (/ep-5.mp3), or ends with /URL (ep-5.mp3); if several\n"
    "                      match, they are listed and nothing is saved (exit 1)\n"
    "  release ID          forget a finished fetch and free its stored files\n"
    "  resume              wait for every unfinished fetch of the store that is not paused,\n"
    "                      print the results\n"
    "\n"
    "options:\n"
    "  -s, --store DIR     store directory (default ./bgfetch-store)\n"
    "  --base URL          base URL for relative URLs (fetch, save)\n"
    "  --limit-rate RATE   bandwidth cap in bytes/s; suffix k, M, G (x1024); 0 = none\n"
    "  --split N           fetch a large body over up to N connections at once (1..16)\n"
    "  --proxy URL         http://host:port or socks5://host:port (\"\" = none); unset:\n"
    "                      the environment's ALL_PROXY, HTTPS_PROXY, HTTP_PROXY, NO_PROXY\n"
    "  --cacert FILE       PEM file of the CA certificates to trust for https\n"
    "  --progress MODE     bar, plain or none (default: bar on a terminal, else plain)\n"
    "  --version           print the library's and the header's versions\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status:\n"
    "  0 success; 1 usage error (also: save's URL matches several records);\n"
    "  2 a fetch finished with result \"failure\";\n"
    "  3 no such fetch or no matching record; 130 interrupted (the fetch resumes at the next\n"
    "  open); 10+N the library returned status N (11 INVALID_ARGUMENT, 12 DUPLICATE_ID,\n"
    "  13 QUOTA_EXCEEDED, 14 INVALID_STATE, 15 ABORTED, 16 FETCH_FAILED, 17 TIMEOUT, 18 IO,\n"
    "  19 CLOSED, 20 BUSY, 109 INTERNAL).\n";

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

/* Reports a failed library call; returns its exit code (0 for BGFETCH_OK). */
static int fail(bgfetch_status s, const char *what) {
    if (s == BGFETCH_OK) return 0;
    fprintf(stderr, "bgfetch: %s: %s: %s\n", what, bgfetch_status_name(s), bgfetch_last_error());
    return EXIT_STATUS(s);
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "bgfetch: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(try 'bgfetch --help')\n");
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------------------------------- */
/* Ctrl-C                                                                                   */

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void catch_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Progress                                                                                 */

enum progress_mode { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_PLAIN, PROGRESS_NONE };
static enum progress_mode progress_mode = PROGRESS_AUTO;

/* One bar. Drawn from the progress callback (the manager's event thread) and, while the fetch
   waits (to retry, offline, paused: no progress comes then), from the main thread, under
   `lock`. */
struct bar {
    pthread_mutex_t lock;
    bgfetch_registration *reg;
    const char *id;
    bool redraw; /* a bar redrawn in place; else plain lines */
    bool quiet;  /* --progress=none */
    double start;
    double last_line;
    uint64_t start_bytes;
    uint64_t last_bytes;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What `r` waits for, in a few words ("" while it transfers): "paused", "offline", or
   "waiting to retry in 3.2 s (attempt 4): <why>" for the record whose next attempt comes
   first. */
static void describe_wait(bgfetch_registration *r, char *out, size_t cap) {
    out[0] = '\0';
    bgfetch_state state = bgfetch_registration_state(r);
    if (state == BGFETCH_RECORD_PAUSED || state == BGFETCH_RECORD_OFFLINE) {
        snprintf(out, cap, "%s", bgfetch_state_str(state));
        return;
    }
    if (state != BGFETCH_RECORD_RETRY_WAIT) return;
    bgfetch_records *rs = NULL;
    if (bgfetch_registration_match_all(r, NULL, 0, &rs) != BGFETCH_OK) return;
    const bgfetch_record *first = NULL;
    int64_t first_ms = -1;
    for (size_t i = 0; i < bgfetch_records_len(rs); i++) {
        const bgfetch_record *rec = bgfetch_records_get(rs, i);
        int64_t ms = bgfetch_record_retry_in_ms(rec);
        if (ms >= 0 && (first_ms < 0 || ms < first_ms)) {
            first = rec;
            first_ms = ms;
        }
    }
    if (first) {
        char why[256];
        bgfetch_record_last_error(first, why, sizeof why);
        snprintf(out, cap, "waiting to retry in %.1f s (attempt %u): %s", (double)first_ms / 1000.0,
                 bgfetch_record_attempts(first) + 1, why);
    }
    bgfetch_records_free(rs);
}

static void draw_bar_locked(struct bar *b, bool final) {
    bgfetch_registration *r = b->reg;
    uint64_t done = bgfetch_registration_downloaded(r);
    uint64_t total = bgfetch_registration_download_total(r);
    double t = now_seconds();
    if (done < b->last_bytes) {
        /* Fewer bytes than before: a body was dropped and starts again from zero (the server
           could not resume it). Seen only when a progress callback falls in between. */
        printf("%s: a body restarted from zero (the server could not resume it)\n", b->id);
        fflush(stdout);
    }
    b->last_bytes = done;
    if (done < b->start_bytes) {
        b->start_bytes = done;
        b->start = t;
    }
    if (b->quiet) return;
    /* Without a download total, the total the response heads announce, once all are known. */
    bool all_known = false;
    uint64_t expected = bgfetch_registration_expected_total(r, &all_known);
    bool from_heads = !total && all_known && expected > 0;
    if (from_heads) total = expected;
    double elapsed = t - b->start;
    double rate = elapsed > 0.05 && done > b->start_bytes
                      ? (double)(done - b->start_bytes) / elapsed / MIB
                      : 0.0;
    if (!b->redraw && !final && t - b->last_line < 0.5) return;
    b->last_line = t;
    char waiting[384];
    describe_wait(r, waiting, sizeof waiting);

    if (b->redraw) fputs("\r\033[K", stderr); /* back to column 0, clear the line */
    fprintf(stderr, "%s: ", b->id);
    if (total) {
        double frac = (double)done / (double)total;
        if (frac > 1.0) frac = 1.0;
        if (b->redraw) {
            enum { WIDTH = 30 };
            char cells[WIDTH + 1];
            int filled = (int)(frac * WIDTH + 0.5);
            for (int i = 0; i < WIDTH; i++) cells[i] = i < filled ? '#' : '-';
            cells[WIDTH] = '\0';
            fprintf(stderr, "[%s] ", cells);
        }
        fprintf(stderr, "%.2f / %.2f MiB (%.1f%%%s)", (double)done / MIB, (double)total / MIB,
                frac * 100.0, from_heads ? " of Content-Length" : "");
    } else {
        fprintf(stderr, "%.2f MiB", (double)done / MIB);
    }
    if (waiting[0])
        fprintf(stderr, "  %s", waiting);
    else
        fprintf(stderr, "  %.2f MiB/s", rate);
    if (final || !b->redraw) fputc('\n', stderr);
    fflush(stderr);
}

static void draw_bar(struct bar *b, bool final) {
    pthread_mutex_lock(&b->lock);
    draw_bar_locked(b, final);
    pthread_mutex_unlock(&b->lock);
}

static void on_progress(void *userdata, bgfetch_registration *r) {
    (void)r; /* the same registration as the bar's */
    draw_bar((struct bar *)userdata, false);
}

/* One line per body of `reg` that continues from bytes an earlier run stored: "ID: URL:
   resuming at byte N". Called while the manager is offline (main() opens it so), so that N
   is exactly where the next attempt starts (with Range; a server that cannot resume sends
   the body again from zero, and the progress shows that). */
static void print_resume_points(bgfetch_registration *reg) {
    bgfetch_records *rs = NULL;
    if (bgfetch_registration_match_all(reg, NULL, 0, &rs) != BGFETCH_OK) return;
    for (size_t i = 0; i < bgfetch_records_len(rs); i++) {
        const bgfetch_record *rec = bgfetch_records_get(rs, i);
        bgfetch_response *res = NULL;
        if (bgfetch_record_response(rec, 0, &res) != BGFETCH_OK) continue;
        if (!bgfetch_response_complete(res) && bgfetch_response_body_size(res) > 0)
            printf("%s: %s: resuming at byte %" PRIu64 "\n", bgfetch_registration_id(reg),
                   bgfetch_record_url(rec), bgfetch_response_body_size(res));
        bgfetch_response_free(res);
    }
    bgfetch_records_free(rs);
    fflush(stdout);
}

/* Waits for `reg` to settle with a progress bar. Returns 0 when it has settled,
   EXIT_INTERRUPTED on Ctrl-C, or a library error's exit code. */
static int wait_with_bar(bgfetch_registration *reg) {
    bool tty = isatty(STDERR_FILENO) == 1;
    struct bar b = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .reg = reg,
        .id = bgfetch_registration_id(reg),
        .redraw = progress_mode == PROGRESS_BAR || (progress_mode == PROGRESS_AUTO && tty),
        .quiet = progress_mode == PROGRESS_NONE,
        .start = now_seconds(),
        .start_bytes = bgfetch_registration_downloaded(reg),
        .last_bytes = bgfetch_registration_downloaded(reg),
    };
    int rc = fail(bgfetch_registration_set_progress_callback(reg, on_progress, &b, NULL),
                  "setting the progress callback");
    if (rc) return rc;
    bgfetch_status s;
    for (;;) {
        s = bgfetch_registration_wait(reg, POLL_MS);
        if (s != BGFETCH_E_TIMEOUT || interrupted) break;
        /* No progress comes while it waits: keep the countdown (or "offline") current. */
        bgfetch_state state = bgfetch_registration_state(reg);
        if (state == BGFETCH_RECORD_RETRY_WAIT || state == BGFETCH_RECORD_OFFLINE ||
            state == BGFETCH_RECORD_PAUSED)
            draw_bar(&b, false);
    }
    /* Clear the callback before `b` goes out of scope; after this it never runs again. */
    bgfetch_registration_set_progress_callback(reg, NULL, NULL, NULL);
    if (s == BGFETCH_E_TIMEOUT) { /* interrupted */
        if (b.redraw) fputc('\n', stderr);
        rc = EXIT_INTERRUPTED;
    } else {
        draw_bar(&b, true);
        rc = fail(s, "waiting for the fetch");
    }
    pthread_mutex_destroy(&b.lock);
    return rc;
}

/* "success", or "failure (reason)", or "running" / "paused". */
static void print_result(FILE *f, const bgfetch_registration *r) {
    bgfetch_result res = bgfetch_registration_result(r);
    if (res == BGFETCH_RESULT_NONE)
        fputs(bgfetch_registration_paused(r) ? "paused" : "running", f);
    else if (res == BGFETCH_RESULT_FAILURE)
        fprintf(f, "failure (%s)", bgfetch_failure_reason_str(bgfetch_registration_failure_reason(r)));
    else
        fputs(bgfetch_result_str(res), f);
}

/* One line per record of `r` whose request failed: "  failed: METHOD URL: message" (the
   library keeps the message with the record, also across a reopen of the store). */
static void print_failed_records(FILE *f, bgfetch_registration *r) {
    bgfetch_records *rs = NULL;
    if (bgfetch_registration_match_all(r, NULL, 0, &rs) != BGFETCH_OK) return;
    for (size_t i = 0; i < bgfetch_records_len(rs); i++) {
        const bgfetch_record *rec = bgfetch_records_get(rs, i);
        bgfetch_response *res = NULL;
        if (bgfetch_record_response(rec, 0, &res) == BGFETCH_E_FETCH_FAILED) {
            /* Copied first: the getters below clear this thread's last error. */
            char *why = strdup(bgfetch_last_error());
            fprintf(f, "  failed: %s %s: %s\n", bgfetch_record_method(rec), bgfetch_record_url(rec),
                    why ? why : "(out of memory)");
            free(why);
        }
        bgfetch_response_free(res);
    }
    bgfetch_records_free(rs);
}

/* After a fetch settled: "ID: RESULT, N bytes downloaded", and the failed records' messages.
   EXIT_FETCH_FAILED for a failure, else 0. */
static int report_settled(bgfetch_registration *reg) {
    printf("%s: ", bgfetch_registration_id(reg));
    print_result(stdout, reg);
    printf(", %" PRIu64 " bytes downloaded\n", bgfetch_registration_downloaded(reg));
    if (bgfetch_registration_result(reg) != BGFETCH_RESULT_FAILURE) return 0;
    print_failed_records(stdout, reg);
    return EXIT_FETCH_FAILED;
}

static void print_interrupted(const char *id, const char *store) {
    fprintf(stderr,
            "bgfetch: interrupted: '%s' stays in the store and continues at its next open\n"
            "         (run 'bgfetch -s %s resume' to finish it)\n",
            id, store);
}

/* ---------------------------------------------------------------------------------------- */
/* Commands                                                                                 */

struct args {
    const char *store;
    const char *base;
    const char *title;
    uint64_t download_total;
    bool have_download_total;
    uint64_t limit_rate;
    bool have_limit_rate;
    uint32_t split; /* 0 = not given */
    const char *proxy;
    const char *cacert;
    const char *command;
    char **pos; /* positional arguments after the command */
    int npos;
};

/* The registration `id`, or NULL with *rc set (not found, or a library error). */
static bgfetch_registration *get_or_report(bgfetch_manager *m, const char *id, int *rc) {
    bgfetch_registration *r = NULL;
    *rc = fail(bgfetch_get(m, id, &r), "bgfetch_get");
    if (!*rc && !r) {
        fprintf(stderr, "bgfetch: no fetch with id '%s'\n", id);
        *rc = EXIT_NOT_FOUND;
    }
    return r;
}

/* After DUPLICATE_ID: what to do with the fetch of that id already in the store (typically
   one that an interrupted `fetch` left to finish). */
static void print_duplicate_hint(bgfetch_manager *m, const char *id, const char *store) {
    bgfetch_registration *r = NULL;
    if (bgfetch_get(m, id, &r) != BGFETCH_OK || !r) return;
    bool paused = bgfetch_registration_paused(r);
    if (bgfetch_registration_result(r) == BGFETCH_RESULT_NONE)
        fprintf(stderr,
                "bgfetch: '%s' is already in the store, not finished (an earlier 'fetch' was\n"
                "         interrupted?): see it with 'bgfetch -s %s status %s', finish it with\n"
                "         'bgfetch -s %s %s%s'\n",
                id, store, id, store, paused ? "unpause " : "resume", paused ? id : "");
    else
        fprintf(stderr,
                "bgfetch: '%s' is already in the store, finished: see it with\n"
                "         'bgfetch -s %s status %s', then 'bgfetch -s %s release %s' before\n"
                "         fetching it again\n",
                id, store, id, store, id);
    bgfetch_registration_free(r);
}

static int cmd_fetch(bgfetch_manager *m, const struct args *a) {
    const char *id = a->pos[0];
    int rc = 0;
    bgfetch_registration *reg = NULL;
    bgfetch_options *opts = bgfetch_options_new();
    if (!opts) return fail(BGFETCH_E_INTERNAL, "bgfetch_options_new");
    if (a->title) rc = fail(bgfetch_options_set_title(opts, a->title), "setting the title");
    if (!rc && a->have_download_total)
        rc = fail(bgfetch_options_set_download_total(opts, a->download_total),
                  "setting the download total");
    bgfetch_status s = BGFETCH_OK;
    if (!rc) {
        s = bgfetch_fetch_urls(m, id, (const char *const *)(a->pos + 1), (size_t)(a->npos - 1),
                               opts, &reg);
        rc = fail(s, "bgfetch_fetch_urls");
    }
    bgfetch_options_free(opts);
    if (s == BGFETCH_E_DUPLICATE_ID) print_duplicate_hint(m, id, a->store);
    if (rc) return rc;

    printf("started '%s' (%d request%s)\n", id, a->npos - 1, a->npos == 2 ? "" : "s");
    fflush(stdout);
    rc = wait_with_bar(reg);
    if (rc == EXIT_INTERRUPTED)
        print_interrupted(id, a->store);
    else if (!rc)
        rc = report_settled(reg);
    bgfetch_registration_free(reg);
    return rc;
}

static int cmd_ids(bgfetch_manager *m) {
    bgfetch_strings *ids = NULL;
    int rc = fail(bgfetch_get_ids(m, &ids), "bgfetch_get_ids");
    if (rc) return rc;
    for (size_t i = 0; i < bgfetch_strings_len(ids); i++) printf("%s\n", bgfetch_strings_get(ids, i));
    bgfetch_strings_free(ids);
    return 0;
}

/* One line per record: "  METHOD URL: STATE[, N attempts][, next in S s][: last error]". */
static void print_record_states(bgfetch_registration *r) {
    bgfetch_records *rs = NULL;
    if (bgfetch_registration_match_all(r, NULL, 0, &rs) != BGFETCH_OK) return;
    printf("records:\n");
    for (size_t i = 0; i < bgfetch_records_len(rs); i++) {
        const bgfetch_record *rec = bgfetch_records_get(rs, i);
        uint32_t attempts = bgfetch_record_attempts(rec);
        printf("  %s %s: %s", bgfetch_record_method(rec), bgfetch_record_url(rec),
               bgfetch_state_str(bgfetch_record_state(rec)));
        /* Attempts count in this session: none yet for a record settled in an earlier one. */
        if (attempts) printf(", %u attempt%s", attempts, attempts == 1 ? "" : "s");
        int64_t in_ms = bgfetch_record_retry_in_ms(rec);
        if (in_ms >= 0) printf(", next in %.1f s", (double)in_ms / 1000.0);
        char why[512];
        if (bgfetch_record_last_error(rec, why, sizeof why) > 0) printf(": %s", why);
        putchar('\n');
    }
    bgfetch_records_free(rs);
}

static int cmd_status(bgfetch_manager *m, const char *id) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    char *title = bgfetch_registration_title(r);
    printf("id:                %s\n", bgfetch_registration_id(r));
    printf("title:             %s\n", title ? title : "");
    bgfetch_string_free(title);

    bgfetch_icons *icons = NULL;
    rc = fail(bgfetch_registration_icons(r, &icons), "bgfetch_registration_icons");
    for (size_t i = 0; !rc && i < bgfetch_icons_len(icons); i++) {
        const char *src, *sizes, *type, *label;
        rc = fail(bgfetch_icons_get(icons, i, &src, &sizes, &type, &label), "bgfetch_icons_get");
        if (!rc)
            printf("icon:              %s%s%s%s%s%s%s\n", src, *sizes ? " sizes=" : "", sizes,
                   *type ? " type=" : "", type, *label ? " label=" : "", label);
    }
    bgfetch_icons_free(icons);

    printf("result:            ");
    print_result(stdout, r);
    printf("\nstate:             %s\n", bgfetch_state_str(bgfetch_registration_state(r)));
    uint64_t done = bgfetch_registration_downloaded(r), total = bgfetch_registration_download_total(r);
    bool all_known = false;
    uint64_t expected = bgfetch_registration_expected_total(r, &all_known);
    if (total)
        printf("downloaded:        %" PRIu64 " / %" PRIu64 " bytes\n", done, total);
    else if (all_known)
        /* No download total: the total the response heads announce, once all are known. */
        printf("downloaded:        %" PRIu64 " / %" PRIu64 " bytes expected\n", done, expected);
    else
        printf("downloaded:        %" PRIu64 " bytes\n", done);
    printf("uploaded:          %" PRIu64 " / %" PRIu64 " bytes\n", bgfetch_registration_uploaded(r),
           bgfetch_registration_upload_total(r));
    printf("paused:            %s\n", bgfetch_registration_paused(r) ? "yes" : "no");
    printf("records available: %s\n", bgfetch_registration_records_available(r) ? "yes" : "no");
    print_record_states(r);
    bgfetch_registration_free(r);
    return rc;
}

static int cmd_abort(bgfetch_manager *m, const char *id) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    bool aborted = false;
    rc = fail(bgfetch_registration_abort(r, &aborted), "bgfetch_registration_abort");
    if (!rc && aborted) {
        printf("aborted '%s'\n", id);
    } else if (!rc) {
        printf("'%s' had already finished: ", id);
        print_result(stdout, r);
        printf("\n");
    }
    bgfetch_registration_free(r);
    return rc;
}

static int cmd_pause(bgfetch_manager *m, const char *id) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    rc = fail(bgfetch_registration_pause(r), "bgfetch_registration_pause");
    if (!rc) printf("paused '%s' (it stays paused until 'bgfetch unpause %s')\n", id, id);
    bgfetch_registration_free(r);
    return rc;
}

static int cmd_unpause(bgfetch_manager *m, const char *id, const char *store) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    rc = fail(bgfetch_registration_resume(r), "bgfetch_registration_resume");
    if (!rc) {
        printf("unpaused '%s'\n", id);
        print_resume_points(r); /* the manager is still offline: exact */
        rc = fail(bgfetch_manager_set_offline(m, false), "going online");
    }
    if (!rc) rc = wait_with_bar(r);
    if (rc == EXIT_INTERRUPTED)
        print_interrupted(id, store);
    else if (!rc)
        rc = report_settled(r);
    bgfetch_registration_free(r);
    return rc;
}

static int cmd_records(bgfetch_manager *m, const char *id) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    bgfetch_records *rs = NULL;
    rc = fail(bgfetch_registration_match_all(r, NULL, 0, &rs), "bgfetch_registration_match_all");
    for (size_t i = 0; !rc && i < bgfetch_records_len(rs); i++) {
        const bgfetch_record *rec = bgfetch_records_get(rs, i);
        bgfetch_response *res = NULL;
        printf("%s %s ", bgfetch_record_method(rec), bgfetch_record_url(rec));
        /* Poll: a record whose response has not started yet is "pending". */
        bgfetch_status s = bgfetch_record_response(rec, 0, &res);
        switch (s) {
        case BGFETCH_OK:
            printf("%u %" PRIu64 "%s\n", (unsigned)bgfetch_response_status(res),
                   bgfetch_response_body_size(res),
                   bgfetch_response_complete(res) ? "" : " (incomplete)");
            break;
        case BGFETCH_E_TIMEOUT: printf("pending -\n"); break;
        case BGFETCH_E_ABORTED: printf("aborted -\n"); break;
        case BGFETCH_E_FETCH_FAILED: printf("failed - (%s)\n", bgfetch_last_error()); break;
        default: printf("?\n"); rc = fail(s, "bgfetch_record_response"); break;
        }
        bgfetch_response_free(res);
    }
    bgfetch_records_free(rs);
    bgfetch_registration_free(r);
    return rc;
}

/* Whether `u` starts with a URL scheme ("http:", "https:"...): an absolute URL. */
static bool has_scheme(const char *u) {
    if (!isalpha((unsigned char)u[0])) return false;
    while (isalnum((unsigned char)*u) || *u == '+' || *u == '-' || *u == '.') u++;
    return *u == ':';
}

/* The path and query of an absolute URL: what follows its scheme and host ("/" if nothing). */
static const char *url_path(const char *url) {
    const char *p = strstr(url, "://");
    if (!p) return url;
    p = strchr(p + 3, '/');
    return p ? p : "/";
}

/* Whether the record URL `url` is one that `arg` (a URL without a scheme) names: its path
   (and query) is `arg` when `arg` starts with '/', else it ends with "/arg". */
static bool path_matches(const char *url, const char *arg) {
    const char *path = url_path(url);
    if (arg[0] == '/') return strcmp(path, arg) == 0;
    size_t lp = strlen(path), la = strlen(arg);
    return la > 0 && lp > la && path[lp - la - 1] == '/' && strcmp(path + lp - la, arg) == 0;
}

/* `save` without --base: the one record of `r` whose URL `arg` names (see path_matches). On a
   unique match *out is that record's absolute URL (free it); none: EXIT_NOT_FOUND; several:
   they are listed and the result is EXIT_USAGE (the argument must say which). */
static int find_by_path(bgfetch_registration *r, const char *id, const char *arg, char **out) {
    bgfetch_records *rs = NULL;
    *out = NULL;
    int rc = fail(bgfetch_registration_match_all(r, NULL, 0, &rs), "bgfetch_registration_match_all");
    if (rc) return rc;
    size_t n = 0;
    const char *first = NULL;
    for (size_t i = 0; i < bgfetch_records_len(rs); i++) {
        const char *u = bgfetch_record_url(bgfetch_records_get(rs, i));
        if (path_matches(u, arg) && n++ == 0) first = u;
    }
    if (n == 1) {
        *out = strdup(first);
        if (!*out) rc = usage_error("%s", "out of memory");
    } else if (n == 0) {
        fprintf(stderr,
                "bgfetch: no record of '%s' has a URL with the path %s\n"
                "         (without --base, a URL without a scheme is matched against the path of\n"
                "         each record's URL; 'bgfetch records %s' lists them)\n",
                id, arg, id);
        rc = EXIT_NOT_FOUND;
    } else {
        fprintf(stderr, "bgfetch: %s matches %zu records of '%s'; give the whole URL of one:\n", arg,
                n, id);
        for (size_t i = 0; i < bgfetch_records_len(rs); i++) {
            const char *u = bgfetch_record_url(bgfetch_records_get(rs, i));
            if (path_matches(u, arg)) fprintf(stderr, "  %s\n", u);
        }
        rc = EXIT_USAGE;
    }
    bgfetch_records_free(rs);
    return rc;
}

static int cmd_save(bgfetch_manager *m, const char *id, const char *url, const char *dest,
                    bool have_base) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    bgfetch_record *rec = NULL;
    bgfetch_response *res = NULL;
    bgfetch_status s = BGFETCH_OK;
    char *found = NULL; /* the absolute URL a path matched, without --base */
    if (!have_base && !has_scheme(url)) {
        rc = find_by_path(r, id, url, &found);
        if (rc) {
            bgfetch_registration_free(r);
            return rc;
        }
        url = found;
    }
    rc = fail(bgfetch_registration_match_url(r, url, 0, &rec), "bgfetch_registration_match_url");
    if (!rc && !rec) {
        fprintf(stderr, "bgfetch: no record of '%s' matches %s\n", id, url);
        rc = EXIT_NOT_FOUND;
    }
    /* responseReady, then the complete body, in slices so that Ctrl-C is noticed. */
    while (!rc && (s = bgfetch_record_response(rec, POLL_MS, &res)) == BGFETCH_E_TIMEOUT)
        if (interrupted) rc = EXIT_INTERRUPTED;
    if (!rc) rc = fail(s, "waiting for the response");
    while (!rc && (s = bgfetch_response_wait(res, POLL_MS)) == BGFETCH_E_TIMEOUT)
        if (interrupted) rc = EXIT_INTERRUPTED;
    if (!rc) rc = fail(s, "waiting for the body");
    if (!rc) rc = fail(bgfetch_response_save(res, dest, -1), "bgfetch_response_save");
    if (!rc) {
        printf("saved %" PRIu64 " bytes (status %u) to %s\n", bgfetch_response_body_size(res),
               (unsigned)bgfetch_response_status(res), dest);
        if (!bgfetch_response_ok(res))
            fprintf(stderr, "bgfetch: note: the response status is %u\n",
                    (unsigned)bgfetch_response_status(res));
    }
    bgfetch_response_free(res);
    bgfetch_record_free(rec);
    bgfetch_registration_free(r);
    free(found);
    return rc;
}

static int cmd_release(bgfetch_manager *m, const char *id, const char *store) {
    int rc;
    bgfetch_registration *r = get_or_report(m, id, &rc);
    if (!r) return rc;
    bgfetch_status s = bgfetch_registration_release(r);
    rc = fail(s, "bgfetch_registration_release");
    if (s == BGFETCH_E_INVALID_STATE && bgfetch_registration_result(r) == BGFETCH_RESULT_NONE) {
        bool paused = bgfetch_registration_paused(r);
        fprintf(stderr,
                "bgfetch: '%s' has not finished: abort it first (bgfetch -s %s abort %s),\n"
                "         or let it finish (bgfetch -s %s %s%s)\n",
                id, store, id, store, paused ? "unpause " : "resume", paused ? id : "");
    }
    if (!rc) printf("released '%s'\n", id);
    bgfetch_registration_free(r);
    return rc;
}

static int cmd_resume(bgfetch_manager *m, const char *store) {
    bgfetch_strings *ids = NULL;
    int rc = fail(bgfetch_get_ids(m, &ids), "bgfetch_get_ids");
    if (rc) return rc;
    size_t n = bgfetch_strings_len(ids);
    size_t running = 0;
    bool any_failed = false;

    /* The manager is still offline (main() opens it so): where each unfinished body resumes
       is exactly what the store holds now. */
    for (size_t i = 0; i < n && !rc; i++) {
        bgfetch_registration *r = NULL;
        rc = fail(bgfetch_get(m, bgfetch_strings_get(ids, i), &r), "bgfetch_get");
        if (rc || !r) continue;
        if (bgfetch_registration_result(r) == BGFETCH_RESULT_NONE && !bgfetch_registration_paused(r))
            print_resume_points(r);
        bgfetch_registration_free(r);
    }
    if (!rc) rc = fail(bgfetch_manager_set_offline(m, false), "going online");

    /* Unfinished fetches that are not paused all run at once. Follow them one after the
       other (those behind go on meanwhile). */
    for (size_t i = 0; i < n && !rc; i++) {
        bgfetch_registration *r = NULL;
        rc = fail(bgfetch_get(m, bgfetch_strings_get(ids, i), &r), "bgfetch_get");
        if (rc || !r) continue; /* released in between: nothing to wait for */
        if (bgfetch_registration_result(r) == BGFETCH_RESULT_NONE && bgfetch_registration_paused(r)) {
            printf("%s: paused (run 'bgfetch -s %s unpause %s' to finish it)\n",
                   bgfetch_registration_id(r), store, bgfetch_registration_id(r));
        } else if (bgfetch_registration_result(r) == BGFETCH_RESULT_NONE) {
            running++;
            rc = wait_with_bar(r);
            if (rc == EXIT_INTERRUPTED) print_interrupted(bgfetch_registration_id(r), store);
            if (!rc && bgfetch_registration_result(r) == BGFETCH_RESULT_FAILURE) any_failed = true;
        }
        bgfetch_registration_free(r);
    }
    if (!rc) {
        printf("%zu fetch%s resumed; results:\n", running, running == 1 ? "" : "es");
        for (size_t i = 0; i < n && !rc; i++) {
            bgfetch_registration *r = NULL;
            rc = fail(bgfetch_get(m, bgfetch_strings_get(ids, i), &r), "bgfetch_get");
            if (rc || !r) continue;
            printf("%s: ", bgfetch_registration_id(r));
            print_result(stdout, r);
            printf(", %" PRIu64 " bytes\n", bgfetch_registration_downloaded(r));
            if (bgfetch_registration_result(r) == BGFETCH_RESULT_FAILURE)
                print_failed_records(stdout, r);
            bgfetch_registration_free(r);
        }
    }
    bgfetch_strings_free(ids);
    if (!rc && any_failed) rc = EXIT_FETCH_FAILED;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Command line                                                                             */

/* "123", "60M", "1.5G", "100k" (binary units, as curl's --limit-rate) -> bytes. Plain
   decimal numbers only: no sign, exponent, hex, "inf"/"nan" or spaces. */
static bool parse_size(const char *s, uint64_t *out) {
    char *end = NULL;
    if (!((*s >= '0' && *s <= '9') || *s == '.')) return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || end != s + strspn(s, "0123456789.") || !isfinite(v) || v < 0)
        return false;
    double mult = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = MIB; end++; break;
    case 'g': case 'G': mult = MIB * 1024.0; end++; break;
    default: return false;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end != '\0' || v * mult > 1.8e19) return false;
    *out = (uint64_t)(v * mult);
    return v == 0 || *out > 0; /* "0.1" bytes is not a size */
}

/* If argv[*i] is option `name` ("--name VALUE" or "--name=VALUE"), stores VALUE. */
static int take_option(int argc, char **argv, int *i, const char *name, const char **value) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

static int parse_args(int argc, char **argv, struct args *a) {
    a->store = "./bgfetch-store";
    a->pos = calloc((size_t)argc, sizeof *a->pos);
    if (!a->pos) return usage_error("%s", "out of memory");
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *dt = NULL;
        int t;
        if (!options_done && argv[i][0] == '-' && argv[i][1] != '\0') {
            if (strcmp(argv[i], "--") == 0) {
                options_done = true;
            } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                fputs(USAGE, stdout);
                exit(0);
            } else if (strcmp(argv[i], "--version") == 0) {
                /* The library this program runs with, and the header it was compiled with. */
                printf("bgfetch (libbgfetch %s, bgfetch.h %d.%d.%d)\n", bgfetch_version(),
                       BGFETCH_VERSION_MAJOR, BGFETCH_VERSION_MINOR, BGFETCH_VERSION_PATCH);
                exit(0);
            } else if ((t = take_option(argc, argv, &i, "--limit-rate", &v))) {
                if (t < 0) return usage_error("%s needs a rate (bytes/s)", argv[i]);
                if (!parse_size(v, &a->limit_rate))
                    return usage_error("bad --limit-rate '%s' (bytes/s, e.g. 500k or 2M)", v);
                a->have_limit_rate = true;
            } else if ((t = take_option(argc, argv, &i, "--split", &v))) {
                if (t < 0) return usage_error("%s needs a number of connections", argv[i]);
                char *end = NULL;
                errno = 0;
                unsigned long n = strtoul(v, &end, 10);
                if (errno || end == v || *end || n < 1 || n > 16 || v[0] == '-')
                    return usage_error("bad --split '%s' (1..16 connections)", v);
                a->split = (uint32_t)n;
            } else if ((t = take_option(argc, argv, &i, "--proxy", &v))) {
                if (t < 0) return usage_error("%s needs a URL", argv[i]);
                a->proxy = v;
            } else if ((t = take_option(argc, argv, &i, "--cacert", &v))) {
                if (t < 0) return usage_error("%s needs a file", argv[i]);
                a->cacert = v;
            } else if ((t = take_option(argc, argv, &i, "--progress", &v))) {
                if (t < 0) return usage_error("%s needs bar, plain or none", argv[i]);
                if (strcmp(v, "bar") == 0) progress_mode = PROGRESS_BAR;
                else if (strcmp(v, "plain") == 0) progress_mode = PROGRESS_PLAIN;
                else if (strcmp(v, "none") == 0) progress_mode = PROGRESS_NONE;
                else return usage_error("bad --progress '%s' (bar, plain or none)", v);
            } else if ((t = take_option(argc, argv, &i, "-s", &v)) ||
                       (t = take_option(argc, argv, &i, "--store", &v))) {
                if (t < 0) return usage_error("%s needs a directory", argv[i]);
                a->store = v;
            } else if ((t = take_option(argc, argv, &i, "--base", &v))) {
                if (t < 0) return usage_error("%s needs a URL", argv[i]);
                a->base = v;
            } else if ((t = take_option(argc, argv, &i, "--title", &v))) {
                if (t < 0) return usage_error("%s needs a title", argv[i]);
                a->title = v;
            } else if ((t = take_option(argc, argv, &i, "--download-total", &dt))) {
                if (t < 0) return usage_error("%s needs a size", argv[i]);
                if (!parse_size(dt, &a->download_total))
                    return usage_error("bad --download-total '%s'", dt);
                a->have_download_total = true;
            } else {
                return usage_error("unknown option '%s'", argv[i]);
            }
        } else if (!a->command) {
            a->command = argv[i];
        } else {
            a->pos[a->npos++] = argv[i];
        }
    }
    if (!a->command) return usage_error("%s", "no command given");

    static const struct {
        const char *name;
        int min, max; /* positional arguments; max -1 = any */
        bool fetch_options;
    } commands[] = {
        {"fetch", 2, -1, true}, {"ids", 0, 0, false},     {"status", 1, 1, false},
        {"abort", 1, 1, false}, {"records", 1, 1, false}, {"save", 3, 3, false},
        {"release", 1, 1, false}, {"resume", 0, 0, false},   {"pause", 1, 1, false},
        {"unpause", 1, 1, false},
    };
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(a->command, commands[c].name) != 0) continue;
        if (a->npos < commands[c].min || (commands[c].max >= 0 && a->npos > commands[c].max))
            return usage_error("wrong number of arguments for '%s'", a->command);
        if (!commands[c].fetch_options && (a->title || a->have_download_total))
            return usage_error("--title and --download-total only go with 'fetch', not '%s'",
                               a->command);
        return 0;
    }
    return usage_error("unknown command '%s'", a->command);
}

int main(int argc, char **argv) {
    struct args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.pos);
        return rc;
    }
    catch_sigint();

    bgfetch_manager *m = NULL;
    bgfetch_config *cfg = bgfetch_config_new(a.store);
    if (!cfg) {
        fprintf(stderr, "bgfetch: bad store directory '%s': %s\n", a.store, bgfetch_last_error());
        free(a.pos);
        return EXIT_STATUS(BGFETCH_E_INVALID_ARGUMENT);
    }
    if (a.base) rc = fail(bgfetch_config_set_base_url(cfg, a.base), "--base");
    if (!rc && a.have_limit_rate)
        rc = fail(bgfetch_config_set_max_download_rate(cfg, a.limit_rate), "--limit-rate");
    if (!rc && a.split) {
        /* As aria2's -x N -s N: N connections for the body (the defaults are 8 in all, 4 a
           fetch). */
        rc = fail(bgfetch_config_set_max_segments(cfg, a.split), "--split");
        if (!rc && a.split > 4)
            rc = fail(bgfetch_config_set_max_connections_per_fetch(cfg, a.split), "--split");
        if (!rc && a.split > 8)
            rc = fail(bgfetch_config_set_max_connections(cfg, a.split), "--split");
    }
    if (!rc && a.proxy) rc = fail(bgfetch_config_set_proxy(cfg, a.proxy), "--proxy");
    if (!rc && a.cacert) rc = fail(bgfetch_config_set_ca_file(cfg, a.cacert), "--cacert");
    if (!rc) rc = fail(bgfetch_manager_open(cfg, &m), "opening the store");
    bgfetch_config_free(cfg);
    /* Offline at once (opening resumed the unfinished fetches): `resume` and `unpause` first
       note where each body resumes, then go online; `pause` pauses without running the fetch
       any further. Every other command runs online. */
    if (!rc) rc = fail(bgfetch_manager_set_offline(m, true), "bgfetch_manager_set_offline");
    if (!rc && strcmp(a.command, "resume") != 0 && strcmp(a.command, "unpause") != 0 &&
        strcmp(a.command, "pause") != 0)
        rc = fail(bgfetch_manager_set_offline(m, false), "bgfetch_manager_set_offline");

    if (!rc) {
        const char *cmd = a.command;
        if (strcmp(cmd, "fetch") == 0) rc = cmd_fetch(m, &a);
        else if (strcmp(cmd, "ids") == 0) rc = cmd_ids(m);
        else if (strcmp(cmd, "status") == 0) rc = cmd_status(m, a.pos[0]);
        else if (strcmp(cmd, "abort") == 0) rc = cmd_abort(m, a.pos[0]);
        else if (strcmp(cmd, "records") == 0) rc = cmd_records(m, a.pos[0]);
        else if (strcmp(cmd, "save") == 0)
            rc = cmd_save(m, a.pos[0], a.pos[1], a.pos[2], a.base != NULL);
        else if (strcmp(cmd, "release") == 0) rc = cmd_release(m, a.pos[0], a.store);
        else if (strcmp(cmd, "resume") == 0) rc = cmd_resume(m, a.store);
        else if (strcmp(cmd, "pause") == 0) rc = cmd_pause(m, a.pos[0]);
        else if (strcmp(cmd, "unpause") == 0) rc = cmd_unpause(m, a.pos[0], a.store);
    }
    /* Unfinished fetches are kept: they continue at the next open of the store. */
    bgfetch_manager_close(m);
    free(a.pos);
    return rc;
}
