/* test_states.cpp - what a fetch waits for (issue 19) through bgfetch.hpp: record_state,
   state(), attempts(), retry_in(), last_error() of a refused connection under the DEFAULT
   retry policy (test_config's one final attempt would fail it at once); expected_total() as a
   value and as std::nullopt; a progress callback set after the fetch settled; read() and
   save() with a std::chrono timeout on a paused body. Nothing sleeps to synchronise. */
#include "cpp_harness.hpp"

#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>

/* The default configuration but the store, the base URL, quick progress and no proxy. */
static bgfetch::config default_config(const std::string &store_name) {
    bgfetch::config c(path(store_name));
    c.set_base_url(h_base).set_progress_interval(10ms).set_proxy("");
    return c;
}

static std::string lower(std::string s) {
    for (char &ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

/* What the progress callback saw, under a mutex (it runs on the event thread). */
struct seen_states {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<bgfetch::record_state> states;
    bool captured = false;
    bgfetch::record_state rec_state = bgfetch::record_state::queued;
    std::uint32_t attempts = 0;
    std::optional<std::chrono::milliseconds> retry_in;
    std::string rec_error, reg_error;

    bool wait_for(bgfetch::record_state s) {
        std::unique_lock<std::mutex> lock(mu);
        return cv.wait_for(lock, H_WAIT, [&] {
            for (auto x : states)
                if (x == s) return true;
            return false;
        });
    }
};

static void t_refused_connection() {
    int ok = 1;
    auto seen = std::make_shared<seen_states>();
    bgfetch::manager m(default_config("refused"));
    std::string u = "http://127.0.0.1:" + std::to_string(h_closed_port()) + "/bytes/100";
    bgfetch::registration reg = m.fetch_urls("r", {u}, bgfetch::options().set_start_paused(true));
    std::optional<bgfetch::record> rec = reg.match(u);
    ok &= EXPECT(rec.has_value());
    if (!rec) {
        CHECK(0, "refused: no record");
        return;
    }
    ok &= EXPECT(reg.state() == bgfetch::record_state::paused);
    ok &= EXPECT(rec->state() == bgfetch::record_state::paused);
    ok &= EXPECT(bgfetch::to_string(rec->state()) == "paused");
    ok &= EXPECT(rec->attempts() == 0 && !rec->retry_in() && rec->last_error().empty());
    ok &= EXPECT(!reg.expected_total());

    reg.on_progress([seen](bgfetch::registration_ref r) {
        bgfetch::record_state st = r.state();
        std::lock_guard<std::mutex> lock(seen->mu);
        if (st == bgfetch::record_state::retry_wait && !seen->captured) {
            bgfetch::records all = r.match_all();
            if (!all.empty()) {
                seen->captured = true;
                seen->rec_state = all[0].state();
                seen->attempts = all[0].attempts();
                seen->retry_in = all[0].retry_in();
                seen->rec_error = all[0].last_error();
                seen->reg_error = r.last_error();
            }
        }
        seen->states.push_back(st);
        seen->cv.notify_all();
    });
    ok &= EXPECT(seen->wait_for(bgfetch::record_state::paused)); /* the call at once */
    reg.resume();
    ok &= EXPECT(seen->wait_for(bgfetch::record_state::retry_wait));
    {
        std::lock_guard<std::mutex> lock(seen->mu);
        ok &= EXPECT(seen->captured);
        ok &= EXPECT(seen->rec_state == bgfetch::record_state::retry_wait);
        ok &= EXPECT(seen->attempts == 1);
        ok &= EXPECT(seen->retry_in.has_value() && seen->retry_in->count() > 0);
        ok &= EXPECT_D(lower(seen->rec_error).find("refused") != std::string::npos,
                       "the record's last error: \"%s\"", seen->rec_error.c_str());
        /* the copied string holds the message and no trailing NUL */
        ok &= EXPECT(seen->rec_error.find('\0') == std::string::npos);
        ok &= EXPECT(!seen->reg_error.empty());
    }
    ok &= EXPECT(reg.result() == bgfetch::result::none);
    CHECK(ok, "C++: a refused connection (default policy): the progress callback sees "
              "record_state::retry_wait after 1 attempt, retry_in() > 0, last_error() names the "
              "refusal, the registration's last_error() is set; no result");

    ok = 1;
    m.set_offline(true);
    ok &= EXPECT(seen->wait_for(bgfetch::record_state::offline));
    ok &= EXPECT(reg.state() == bgfetch::record_state::offline);
    ok &= EXPECT(rec->state() == bgfetch::record_state::offline && !rec->retry_in());
    m.set_offline(false);
    ok &= EXPECT(reg.abort());
    reg.wait(H_WAIT);
    ok &= EXPECT(reg.state() == bgfetch::record_state::failed);
    ok &= EXPECT(rec->state() == bgfetch::record_state::failed);
    reg.clear_progress();
    CHECK(ok, "C++: offline reported by the callback (record_state::offline), then aborted: "
              "failed");
}

static void t_expected_total() {
    int ok = 1;
    bgfetch::manager m(default_config("total"));
    bgfetch::registration known =
        m.fetch_urls("known", {"bytes/1000?seed=2&t=cpp-total", "bytes/23456?seed=3&t=cpp-total"});
    known.wait(H_WAIT);
    ok &= EXPECT(known.result() == bgfetch::result::success);
    std::optional<std::uint64_t> total = known.expected_total();
    ok &= EXPECT(total.has_value() && *total == 1000 + 23456);
    ok &= EXPECT(known.state() == bgfetch::record_state::done);
    bgfetch::registration chunked =
        m.fetch_urls("chunked", {"bytes/1000?seed=2&t=cpp-total",
                                 "bytes/5000?seed=4&chunked=1&t=cpp-total"});
    chunked.wait(H_WAIT);
    ok &= EXPECT(chunked.result() == bgfetch::result::success && chunked.downloaded() == 6000);
    ok &= EXPECT(!chunked.expected_total().has_value());
    CHECK(ok, "C++: expected_total() is the sum of two Content-Lengths, std::nullopt with a "
              "chunked body");
}

struct late_calls {
    std::mutex mu;
    long calls = 0;
    bgfetch::result result = bgfetch::result::none;
    bgfetch::record_state state = bgfetch::record_state::queued;
    std::uint64_t downloaded = 0;
};

static void t_late_progress_callback() {
    int ok = 1;
    auto got = std::make_shared<late_calls>();
    latch called, barrier;
    bgfetch::manager m(default_config("late"));
    bgfetch::registration reg = m.fetch_urls("late", {"bytes/7000?seed=5&t=cpp-late"});
    reg.wait(H_WAIT);
    ok &= EXPECT(reg.result() == bgfetch::result::success);
    reg.on_progress([got, &called](bgfetch::registration_ref r) {
        {
            std::lock_guard<std::mutex> lock(got->mu);
            got->calls++;
            got->result = r.result();
            got->state = r.state();
            got->downloaded = r.downloaded();
        }
        called.add();
    });
    ok &= EXPECT(called.wait_for(1));
    /* a barrier on the event thread: the first call of a callback set later on another
       handle of the fetch; a second call of the first one would come before it */
    std::optional<bgfetch::registration> other = m.get("late");
    ok &= EXPECT(other.has_value());
    if (other) {
        other->on_progress([&barrier](bgfetch::registration_ref) { barrier.add(); });
        ok &= EXPECT(barrier.wait_for(1));
        other->clear_progress();
    }
    reg.clear_progress();
    {
        std::lock_guard<std::mutex> lock(got->mu);
        ok &= EXPECT(got->calls == 1);
        ok &= EXPECT(got->result == bgfetch::result::success);
        ok &= EXPECT(got->state == bgfetch::record_state::done);
        ok &= EXPECT(got->downloaded == 7000);
    }
    CHECK(ok, "C++: on_progress after the fetch settled is called once with the final values");
}

static void t_bounded_read_and_save() {
    int ok = 1;
    const std::uint64_t len = 200000;
    latch reached;
    bgfetch::manager m(default_config("bounded"));
    std::string u = url("bytes/200000?seed=6&rate=200000&t=cpp-bounded");
    bgfetch::registration reg = m.fetch_urls("b", {u});
    reg.on_progress([&reached](bgfetch::registration_ref r) {
        if (r.downloaded() >= 20000 && reached.get() == 0) reached.add();
    });
    ok &= EXPECT(reached.wait_for(1));
    reg.pause();
    reg.clear_progress();
    std::optional<bgfetch::record> rec = reg.match(u);
    ok &= EXPECT(rec.has_value());
    if (!rec) {
        CHECK(0, "bounded: no record");
        return;
    }
    bgfetch::response res = rec->response_ready(H_WAIT);
    ok &= EXPECT(res.body_size() < len - 10);
    std::uint8_t buf[16];
    ok &= EXPECT(res.read(0, buf, sizeof buf, 300ms) == sizeof buf);
    ok &= h_is_pattern(buf, sizeof buf, sizeof buf, 6);
    ok &= EXPECT_THROWS(res.read(len - 10, buf, 10, std::chrono::milliseconds(300)),
                        bgfetch::status::timeout);
    ok &= EXPECT_THROWS(res.read_all(200ms), bgfetch::status::timeout);
    std::string dest = path("saved.bin");
    ok &= EXPECT_THROWS(res.save(dest, 300ms), bgfetch::status::timeout);
    struct stat st;
    ok &= EXPECT(stat(dest.c_str(), &st) != 0);
    ok &= EXPECT(reg.result() == bgfetch::result::none);
    CHECK(ok, "C++: on a paused body read() and read_all() with a timeout throw "
              "error(timeout); save() with a timeout throws it and leaves no file");
    ok = 1;
    reg.resume();
    res.save(dest, H_WAIT);
    ok &= is_pattern(file_bytes(dest), len, 6);
    CHECK(ok, "C++: resumed, save() with a timeout completes byte-exact");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    guarded("refused", t_refused_connection);
    guarded("expected total", t_expected_total);
    guarded("late progress", t_late_progress_callback);
    guarded("bounded read", t_bounded_read_and_save);
    return h_done();
}
