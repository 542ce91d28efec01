/*
 * podcast.c - the Background Fetch "podcast" example from the web spec, in C.
 *
 *     podcast BASE_URL [STORE_DIR]
 *
 * Fetches episode 5 of a podcast (the audio and its artwork) in the background under the id
 * "my-fetch", relative to BASE_URL (e.g. "http://127.0.0.1:8000/"), into the store STORE_DIR
 * (default "./podcast-store"). It shows a live progress bar, waits for the result, then looks up
 * the audio with match("/ep-5.mp3") and prints the record's request and response, and finally
 * releases the fetch (its stored files are freed).
 *
 * The JavaScript it mirrors:
 *
 *     const bgFetch = await registration.backgroundFetch.fetch('my-fetch',
 *         ['/ep-5.mp3', 'ep-5-artwork.jpg'], {
 *           title: 'Episode 5: Interesting things.',
 *           icons: [{ sizes: '300x300', src: '/ep-5-icon.png', type: 'image/png' }],
 *           downloadTotal: 60 * 1024 * 1024,
 *         });
 *     bgFetch.addEventListener('progress', () => { ... bgFetch.downloaded / bgFetch.downloadTotal ... });
 *
 * If "my-fetch" already exists in the store (a previous run was interrupted), the example picks
 * it up: a fetch still running for the same URLs is resumed and waited for; anything else (a
 * finished fetch, or one for another server) is aborted if needed, released and fetched again.
 * So it can be run any number of times in a row.
 *
 * Exit status: 0 if the fetch succeeded and the record was printed, 1 on bad usage or any
 * error (the library's message is printed), 2 if the fetch finished with a failure.
 *
 * Build: see examples-c/README.md (`make -C examples-c`), or with an installed library:
 *     cc -std=c11 podcast.c $(pkg-config --cflags --libs bgfetch) -o podcast
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bgfetch.h"

#define FETCH_ID "my-fetch"
#define MIB (1024.0 * 1024.0)

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

/* Prints what failed with the status name and this thread's last error message. Returns
   false when `s` is not BGFETCH_OK, so that callers can write `if (!check(...)) goto out;`. */
static bool check(bgfetch_status s, const char *what) {
    if (s == BGFETCH_OK) return true;
    fprintf(stderr, "podcast: %s failed: %s: %s\n", what, bgfetch_status_name(s),
            bgfetch_last_error());
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Progress bar                                                                             */

/* State of the bar. The progress callback runs on the manager's event thread; the main
   thread only touches this after it has cleared the callback (which guarantees the callback
   is no longer running), so no lock is needed. */
struct progress {
    bool tty;              /* stdout is a terminal: redraw one line with '\r' */
    double start;          /* seconds, monotonic clock */
    double last_line;      /* when the last plain line was printed (non-TTY) */
    uint64_t last_bytes;   /* downloaded at the last plain line */
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Draws "downloaded / download_total" of `r`: on a terminal a bar redrawn in place, otherwise
   a plain line (at most about four a second, plus the final one). */
static void draw_progress(struct progress *p, const bgfetch_registration *r, bool final) {
    uint64_t done = bgfetch_registration_downloaded(r);
    uint64_t total = bgfetch_registration_download_total(r);
    double t = now_seconds();
    double elapsed = t - p->start;
    double rate = elapsed > 0.05 ? (double)done / elapsed / MIB : 0.0;
    double frac = total ? (double)done / (double)total : 0.0;
    if (frac > 1.0) frac = 1.0;

    if (p->tty) {
        enum { WIDTH = 30 };
        char bar[WIDTH + 1];
        int filled = (int)(frac * WIDTH + 0.5);
        for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '-';
        bar[WIDTH] = '\0';
        printf("\r[%s] %6.2f / %.2f MiB (%5.1f%%) %6.2f MiB/s ", bar, (double)done / MIB,
               (double)total / MIB, frac * 100.0, rate);
        if (final) printf("\n");
    } else {
        if (!final && t - p->last_line < 0.25 && done != 0) return;
        if (!final && done == p->last_bytes && p->last_line > 0) return;
        printf("progress: %6.2f / %.2f MiB (%4.1f%%)%s\n", (double)done / MIB,
               (double)total / MIB, frac * 100.0, final ? " - final" : "");
        p->last_line = t;
        p->last_bytes = done;
    }
    fflush(stdout);
}

/* The web's onprogress: runs on the manager's event thread. */
static void on_progress(void *userdata, bgfetch_registration *r) {
    draw_progress((struct progress *)userdata, r, false);
}

/* ---------------------------------------------------------------------------------------- */
/* Starting (or picking up) the fetch                                                       */

static bgfetch_status start_fetch(bgfetch_manager *m, bgfetch_registration **out) {
    const char *urls[] = {"/ep-5.mp3", "ep-5-artwork.jpg"};
    bgfetch_options *opts = bgfetch_options_new();
    bgfetch_status s = BGFETCH_E_INTERNAL;
    *out = NULL;
    if (!opts) {
        fprintf(stderr, "podcast: bgfetch_options_new failed: %s\n", bgfetch_last_error());
        return s;
    }
    if (check(s = bgfetch_options_set_title(opts, "Episode 5: Interesting things."),
              "bgfetch_options_set_title") &&
        check(s = bgfetch_options_add_icon(opts, "/ep-5-icon.png", "300x300", "image/png", NULL),
              "bgfetch_options_add_icon") &&
        check(s = bgfetch_options_set_download_total(opts, 60u * 1024u * 1024u),
              "bgfetch_options_set_download_total")) {
        s = bgfetch_fetch_urls(m, FETCH_ID, urls, sizeof urls / sizeof urls[0], opts, out);
        /* DUPLICATE_ID is handled by the caller: no message here. */
        if (s != BGFETCH_E_DUPLICATE_ID) check(s, "bgfetch_fetch_urls");
    }
    bgfetch_options_free(opts);
    return s;
}

/* "my-fetch" exists already (a previous run was interrupted). Keep it if it is still running
   for the URLs we want (the manager resumed it at open); otherwise abort it if needed, release
   it and fetch again. On success *out is the registration to follow. */
static bgfetch_status reuse_or_refetch(bgfetch_manager *m, bgfetch_registration **out) {
    bgfetch_registration *old = NULL;
    bgfetch_record *rec = NULL;
    bgfetch_status s;
    *out = NULL;

    if (!check(s = bgfetch_get(m, FETCH_ID, &old), "bgfetch_get")) return s;
    if (!old) {
        /* Released by someone else in between: just fetch. */
        return start_fetch(m, out);
    }
    if (bgfetch_registration_result(old) == BGFETCH_RESULT_NONE) {
        /* Same URLs? match() resolves "/ep-5.mp3" against today's base URL. */
        s = bgfetch_registration_match_url(old, "/ep-5.mp3", 0, &rec);
        if (s == BGFETCH_OK && rec) {
            bgfetch_record_free(rec);
            printf("'%s' from a previous run is still running: resuming it\n", FETCH_ID);
            *out = old;
            return BGFETCH_OK;
        }
        printf("'%s' from a previous run fetches other URLs: aborting it\n", FETCH_ID);
        if (!check(s = bgfetch_registration_abort(old, NULL), "bgfetch_registration_abort") ||
            !check(s = bgfetch_registration_wait(old, 10000), "bgfetch_registration_wait")) {
            bgfetch_registration_free(old);
            return s;
        }
    } else {
        printf("'%s' from a previous run has finished (%s): releasing it and fetching again\n",
               FETCH_ID, bgfetch_result_str(bgfetch_registration_result(old)));
    }
    s = bgfetch_registration_release(old);
    bgfetch_registration_free(old);
    if (!check(s, "bgfetch_registration_release")) return s;
    s = start_fetch(m, out);
    if (s == BGFETCH_E_DUPLICATE_ID) check(s, "bgfetch_fetch_urls");
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Printing the matched record                                                              */

static bool print_record(bgfetch_registration *reg) {
    bgfetch_record *rec = NULL;
    bgfetch_response *res = NULL;
    bool ok = false;

    printf("\nmatch(\"/ep-5.mp3\"):\n");
    if (!check(bgfetch_registration_match_url(reg, "/ep-5.mp3", 0, &rec),
               "bgfetch_registration_match_url"))
        return false;
    if (!rec) {
        printf("  no record matches\n");
        return false;
    }
    printf("  request:  %s %s\n", bgfetch_record_method(rec), bgfetch_record_url(rec));

    /* responseReady: the fetch has settled, so this does not wait long. */
    bgfetch_status s = bgfetch_record_response(rec, 5000, &res);
    if (s == BGFETCH_E_ABORTED || s == BGFETCH_E_FETCH_FAILED) {
        printf("  response: none (%s: %s)\n", bgfetch_status_name(s), bgfetch_last_error());
    } else if (check(s, "bgfetch_record_response")) {
        const char *type = bgfetch_response_header(res, "content-type");
        printf("  response: %u %s\n", (unsigned)bgfetch_response_status(res),
               bgfetch_response_url(res));
        printf("    content-type: %s\n", type ? type : "(none)");
        printf("    body size:    %" PRIu64 " bytes%s\n", bgfetch_response_body_size(res),
               bgfetch_response_complete(res) ? "" : " (incomplete)");
        printf("    body path:    %s\n", bgfetch_response_body_path(res));
        ok = bgfetch_response_ok(res) && bgfetch_response_complete(res);
    }
    bgfetch_response_free(res);
    bgfetch_record_free(rec);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr,
                "usage: %s BASE_URL [STORE_DIR]\n"
                "  Fetches /ep-5.mp3 and ep-5-artwork.jpg relative to BASE_URL\n"
                "  (e.g. http://127.0.0.1:8000/) into STORE_DIR (default ./podcast-store).\n",
                argv[0]);
        return 1;
    }
    const char *base_url = argv[1];
    const char *store_dir = argc > 2 ? argv[2] : "./podcast-store";

    int rc = 1;
    bgfetch_config *cfg = NULL;
    bgfetch_manager *m = NULL;
    bgfetch_registration *reg = NULL;
    struct progress prog = {.tty = isatty(STDOUT_FILENO) == 1, .start = now_seconds()};

    printf("libbgfetch %s, store %s, base URL %s\n", bgfetch_version(), store_dir, base_url);

    /* 1. The manager of the store (the service worker registration's backgroundFetch). */
    cfg = bgfetch_config_new(store_dir);
    if (!cfg) {
        fprintf(stderr, "podcast: bgfetch_config_new failed: %s\n", bgfetch_last_error());
        goto out;
    }
    if (!check(bgfetch_config_set_base_url(cfg, base_url), "bgfetch_config_set_base_url") ||
        !check(bgfetch_manager_open(cfg, &m), "bgfetch_manager_open"))
        goto out;
    bgfetch_config_free(cfg);
    cfg = NULL;

    /* 2. backgroundFetch.fetch('my-fetch', [...], {...}) */
    bgfetch_status s = start_fetch(m, &reg);
    if (s == BGFETCH_E_DUPLICATE_ID) s = reuse_or_refetch(m, &reg);
    if (s != BGFETCH_OK) goto out;

    char *title = bgfetch_registration_title(reg);
    printf("id: %s\ntitle: %s\n", bgfetch_registration_id(reg), title ? title : "");
    bgfetch_string_free(title);

    /* 3. onprogress: a live bar. Set after fetch() returned, so the first update may already
       be past; the final state is drawn below anyway. */
    prog.start = now_seconds();
    if (!check(bgfetch_registration_set_progress_callback(reg, on_progress, &prog, NULL),
               "bgfetch_registration_set_progress_callback"))
        goto out;

    /* 4. Wait for the result. */
    if (!check(bgfetch_registration_wait(reg, -1), "bgfetch_registration_wait")) goto out;
    /* Clearing the callback guarantees it is no longer running: the bar is ours again. */
    if (!check(bgfetch_registration_set_progress_callback(reg, NULL, NULL, NULL),
               "bgfetch_registration_set_progress_callback"))
        goto out;
    draw_progress(&prog, reg, true);

    bgfetch_result result = bgfetch_registration_result(reg);
    bgfetch_failure_reason reason = bgfetch_registration_failure_reason(reg);
    printf("result: %s", bgfetch_result_str(result));
    if (result == BGFETCH_RESULT_FAILURE)
        printf(" (failure reason: %s)", bgfetch_failure_reason_str(reason));
    printf("\ndownloaded: %" PRIu64 " bytes in %.1f s\n", bgfetch_registration_downloaded(reg),
           now_seconds() - prog.start);

    /* 5. match('/ep-5.mp3') and the record's request and response. */
    bool printed = print_record(reg);
    rc = result == BGFETCH_RESULT_SUCCESS && printed ? 0 : 2;

    /* 6. We have what we need: release the records and their files. */
    if (!check(bgfetch_registration_release(reg), "bgfetch_registration_release")) rc = 1;
    else printf("\nreleased '%s'\n", FETCH_ID);

out:
    bgfetch_registration_free(reg);
    bgfetch_manager_close(m);
    bgfetch_config_free(cfg);
    return rc;
}
