/*
 * podcast.cpp - the Background Fetch "podcast" example from the web spec, in C++17 with
 * bgfetch.hpp. The same program as podcast.c (read that file's comment for the JavaScript it
 * mirrors), written with the header's RAII types, exceptions and std::function callbacks.
 *
 *     podcast_cpp BASE_URL [STORE_DIR]
 *
 * Fetches episode 5 of a podcast (the audio and its artwork) in the background under the id
 * "my-fetch", relative to BASE_URL (e.g. "http://127.0.0.1:8000/"), into the store STORE_DIR
 * (default "./podcast-store"). It shows a live progress bar, waits for the result, then looks up
 * the audio with match("/ep-5.mp3") and prints the record's request and response, and finally
 * releases the fetch (its stored files are freed). A "my-fetch" left by an interrupted run is
 * picked up as podcast.c does: resumed if it still runs for the same URLs, else aborted if
 * needed, released and fetched again.
 *
 * Exit status: 0 if the fetch succeeded and the record was printed, 1 on bad usage or any
 * error (the library's status and message are printed), 2 if the fetch finished with a
 * failure.
 *
 * Build: see examples-c/README.md (`make -C examples-c`), or with an installed library:
 *     c++ -std=c++17 podcast.cpp $(pkg-config --cflags --libs bgfetch) -o podcast_cpp
 */
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>

#include "bgfetch.hpp"

using namespace std::chrono_literals;

namespace {

const char *const FETCH_ID = "my-fetch";
constexpr double MIB = 1024.0 * 1024.0;

// ---------------------------------------------------------------------------------------------
// Progress bar

/* The progress callback runs on the manager's event thread while the main thread waits; the
   main thread draws the final line after clearing the callback. The mutex makes the bar safe
   to share without relying on that order. */
class progress_bar {
public:
    progress_bar() : tty_(isatty(STDOUT_FILENO) == 1), start_(clock::now()) {}

    void restart() {
        std::lock_guard<std::mutex> lock(mu_);
        start_ = clock::now();
    }

    double elapsed() const {
        std::lock_guard<std::mutex> lock(mu_);
        return std::chrono::duration<double>(clock::now() - start_).count();
    }

    /* Draws "downloaded / download_total": on a terminal a bar redrawn in place, otherwise a
       plain line (at most about four a second, plus the final one). */
    template <class Registration>
    void draw(const Registration &r, bool final) {
        std::lock_guard<std::mutex> lock(mu_);
        const std::uint64_t done = r.downloaded();
        const std::uint64_t total = r.download_total();
        const auto now = clock::now();
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const double rate = elapsed > 0.05 ? static_cast<double>(done) / elapsed / MIB : 0.0;
        const double frac =
            total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;

        if (tty_) {
            constexpr int width = 30;
            const int filled = static_cast<int>(frac * width + 0.5);
            std::string bar(width, '-');
            std::fill_n(bar.begin(), filled, '#');
            std::printf("\r[%s] %6.2f / %.2f MiB (%5.1f%%) %6.2f MiB/s ", bar.c_str(),
                        static_cast<double>(done) / MIB, static_cast<double>(total) / MIB,
                        frac * 100.0, rate);
            if (final) std::printf("\n");
        } else {
            if (!final && last_line_ && now - *last_line_ < 250ms && done != 0) return;
            if (!final && last_line_ && done == last_bytes_) return;
            std::printf("progress: %6.2f / %.2f MiB (%4.1f%%)%s\n", static_cast<double>(done) / MIB,
                        static_cast<double>(total) / MIB, frac * 100.0, final ? " - final" : "");
            last_line_ = now;
            last_bytes_ = done;
        }
        std::fflush(stdout);
    }

private:
    using clock = std::chrono::steady_clock;
    mutable std::mutex mu_;
    bool tty_;
    clock::time_point start_;
    std::optional<clock::time_point> last_line_; // when the last plain line was printed
    std::uint64_t last_bytes_ = 0;               // downloaded at the last plain line
};

// ---------------------------------------------------------------------------------------------
// Starting (or picking up) the fetch

bgfetch::registration start_fetch(bgfetch::manager &m) {
    bgfetch::options opts;
    opts.set_title("Episode 5: Interesting things.")
        .add_icon("/ep-5-icon.png", "300x300", "image/png")
        .set_download_total(60u * 1024u * 1024u);
    return m.fetch_urls(FETCH_ID, {"/ep-5.mp3", "ep-5-artwork.jpg"}, opts);
}

/* "my-fetch" exists already (a previous run was interrupted). Keep it if it is still running
   for the URLs we want (the manager resumed it at open); otherwise abort it if needed, release
   it and fetch again. */
bgfetch::registration reuse_or_refetch(bgfetch::manager &m) {
    std::optional<bgfetch::registration> old = m.get(FETCH_ID);
    if (!old) return start_fetch(m); // released by someone else in between
    if (old->result() == bgfetch::result::none) {
        // Same URLs? match() resolves "/ep-5.mp3" against today's base URL.
        if (old->match("/ep-5.mp3")) {
            std::cout << "'" << FETCH_ID << "' from a previous run is still running: resuming it\n";
            return std::move(*old);
        }
        std::cout << "'" << FETCH_ID << "' from a previous run fetches other URLs: aborting it\n";
        old->abort();
        old->wait(10s);
    } else {
        std::cout << "'" << FETCH_ID << "' from a previous run has finished ("
                  << bgfetch::to_string(old->result()) << "): releasing it and fetching again\n";
    }
    old->release();
    return start_fetch(m);
}

// ---------------------------------------------------------------------------------------------
// Printing the matched record

bool print_record(const bgfetch::registration &reg) {
    std::cout << "\nmatch(\"/ep-5.mp3\"):\n";
    std::optional<bgfetch::record> rec = reg.match("/ep-5.mp3");
    if (!rec) {
        std::cout << "  no record matches\n";
        return false;
    }
    std::cout << "  request:  " << rec->method() << " " << rec->url() << "\n";
    try {
        // responseReady: the fetch has settled, so this does not wait long.
        bgfetch::response res = rec->response_ready(5s);
        std::cout << "  response: " << res.status() << " " << res.url() << "\n";
        std::cout << "    content-type: " << res.header("content-type").value_or("(none)") << "\n";
        std::cout << "    body size:    " << res.body_size() << " bytes"
                  << (res.complete() ? "" : " (incomplete)") << "\n";
        std::cout << "    body path:    " << res.body_path() << "\n";
        return res.ok() && res.complete();
    } catch (const bgfetch::error &e) {
        if (e.code() != bgfetch::status::aborted && e.code() != bgfetch::status::fetch_failed)
            throw;
        std::cout << "  response: none (" << e.what() << ")\n";
        return false;
    }
}

int run(const std::string &base_url, const std::string &store_dir) {
    progress_bar bar;
    std::cout << "libbgfetch " << bgfetch::version() << ", store " << store_dir << ", base URL "
              << base_url << std::endl;

    // 1. The manager of the store (the service worker registration's backgroundFetch).
    bgfetch::manager m(bgfetch::config(store_dir).set_base_url(base_url));

    // 2. backgroundFetch.fetch('my-fetch', [...], {...})
    std::optional<bgfetch::registration> started;
    try {
        started.emplace(start_fetch(m));
    } catch (const bgfetch::error &e) {
        if (e.code() != bgfetch::status::duplicate_id) throw;
        started.emplace(reuse_or_refetch(m));
    }
    bgfetch::registration reg = std::move(*started);
    std::cout << "id: " << reg.id() << "\ntitle: " << reg.title() << std::endl;

    // 3. onprogress: a live bar. Set after fetch() returned, so the first update may already
    //    be past; the final state is drawn below anyway. The lambda captures the bar by
    //    reference: it is cleared below, and in any case destroyed with `reg`, before `bar`.
    bar.restart();
    reg.on_progress([&bar](bgfetch::registration_ref r) { bar.draw(r, false); });

    // 4. Wait for the result. Clearing the callback guarantees that it no longer runs.
    reg.wait();
    reg.clear_progress();
    bar.draw(reg, true);

    const bgfetch::result result = reg.result();
    std::cout << "result: " << bgfetch::to_string(result);
    if (result == bgfetch::result::failure)
        std::cout << " (failure reason: " << bgfetch::to_string(reg.failure_reason()) << ")";
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", bar.elapsed());
    std::cout << "\ndownloaded: " << reg.downloaded() << " bytes in " << took << " s\n";

    // 5. match('/ep-5.mp3') and the record's request and response.
    const bool printed = print_record(reg);
    const int rc = result == bgfetch::result::success && printed ? 0 : 2;

    // 6. We have what we need: release the records and their files.
    reg.release();
    std::cout << "\nreleased '" << FETCH_ID << "'" << std::endl;
    return rc;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || std::strcmp(argv[1], "-h") == 0 ||
        std::strcmp(argv[1], "--help") == 0) {
        std::cerr << "usage: " << argv[0] << " BASE_URL [STORE_DIR]\n"
                  << "  Fetches /ep-5.mp3 and ep-5-artwork.jpg relative to BASE_URL\n"
                  << "  (e.g. http://127.0.0.1:8000/) into STORE_DIR (default ./podcast-store).\n";
        return 1;
    }
    try {
        return run(argv[1], argc > 2 ? argv[2] : "./podcast-store");
    } catch (const bgfetch::error &e) {
        std::cout.flush();
        std::cerr << "podcast: " << e.what() << "\n";
        return 1;
    }
}
