/* test_callbacks.cpp - the std::function callbacks of bgfetch.hpp: the progress callback of a
   registration and the event callback of a manager, in THREAD and MANUAL dispatch; what they
   captured is destroyed exactly once, when the library lets them go (replaced, cleared,
   handle destroyed, manager closed, failed setter). */
#include "cpp_harness.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

/* What a progress callback saw, under a mutex (it runs on the event thread). */
struct progress_log {
    std::mutex mu;
    long calls = 0;
    long after_final = 0;
    bool final_seen = false;
    std::uint64_t final_downloaded = 0;
    bool wrong_id = false;
    std::thread::id thread;
};

static bgfetch::progress_callback logging_callback(std::shared_ptr<progress_log> log,
                                                   std::shared_ptr<tracker> t,
                                                   std::string want_id) {
    return [log, t, want_id](bgfetch::registration_ref r) {
        std::lock_guard<std::mutex> lock(log->mu);
        log->calls++;
        log->thread = std::this_thread::get_id();
        if (r.id() != want_id) log->wrong_id = true;
        if (log->final_seen) {
            log->after_final++;
        } else if (r.result() != bgfetch::result::none) {
            log->final_seen = true;
            log->final_downloaded = r.downloaded();
        }
    };
}

static void t_progress_lifetime() {
    int ok = 1;
    latch destroyed;
    auto log = std::make_shared<progress_log>();
    bgfetch::manager m(test_config("progress"));
    {
        // started paused, so that the callback is set before any progress
        bgfetch::registration reg = m.fetch_urls("prog", {"bytes/200000?seed=1&rate=2000000"},
                                                 bgfetch::options().set_start_paused(true));
        reg.on_progress(logging_callback(log, std::make_shared<tracker>(destroyed), "prog"));
        ok &= EXPECT(destroyed.get() == 0); // the library holds the only copy
        reg.resume();
        reg.wait(H_WAIT); // THREAD dispatch: returns after the final progress callbacks
        {
            std::lock_guard<std::mutex> lock(log->mu);
            ok &= EXPECT(log->calls >= 1 && log->final_seen && !log->wrong_id);
            ok &= EXPECT(log->final_downloaded == 200000);
            ok &= EXPECT(log->thread != std::this_thread::get_id());
        }
        ok &= EXPECT(destroyed.get() == 0);
        // the end of the scope destroys the handle, and with it the callback
    }
    ok &= EXPECT(destroyed.get() == 1);
    {
        std::lock_guard<std::mutex> lock(log->mu);
        ok &= EXPECT(log->after_final == 0);
    }
    m.close();
    ok &= EXPECT(destroyed.get() == 1);
    CHECK(ok, "progress std::function: runs on the event thread, sees the final state, its "
              "captures are destroyed exactly once with the registration object");
}

static void t_progress_replace_clear() {
    int ok = 1;
    latch gone_a, gone_b, gone_c, gone_d;
    bgfetch::manager m(test_config("replace"));
    bgfetch::registration reg =
        m.fetch_urls("rep", {"bytes/1000"}, bgfetch::options().set_start_paused(true));
    auto a = std::make_shared<tracker>(gone_a);
    reg.on_progress([a](bgfetch::registration_ref) {});
    a.reset();
    ok &= EXPECT(gone_a.get() == 0);
    auto b = std::make_shared<tracker>(gone_b);
    reg.on_progress([b](bgfetch::registration_ref) {});
    b.reset();
    ok &= EXPECT(gone_a.get() == 1 && gone_b.get() == 0); // replaced: A destroyed on return
    reg.clear_progress();
    ok &= EXPECT(gone_b.get() == 1); // cleared: B destroyed on return
    reg.clear_progress();            // clearing nothing is fine
    reg.on_progress(nullptr);
    ok &= EXPECT(gone_a.get() == 1 && gone_b.get() == 1);

    // two handles of one registration each have their own callback
    std::optional<bgfetch::registration> second = m.get("rep");
    if (EXPECT(second.has_value())) {
        auto c = std::make_shared<tracker>(gone_c);
        auto d = std::make_shared<tracker>(gone_d);
        reg.on_progress([c](bgfetch::registration_ref) {});
        second->on_progress([d](bgfetch::registration_ref) {});
        c.reset();
        d.reset();
        second.reset(); // destroys D only
        ok &= EXPECT(gone_c.get() == 0 && gone_d.get() == 1);
    }
    // closing the manager lets C go although its handle lives on
    m.close();
    ok &= EXPECT(gone_c.get() == 1);
    reg.clear_progress();
    ok &= EXPECT(gone_c.get() == 1);

    // a failed setter (moved-from handle) destroys the std::function it was given, once
    latch gone_e;
    bgfetch::registration empty(std::move(reg));
    auto e = std::make_shared<tracker>(gone_e);
    ok &= EXPECT_THROWS(reg.on_progress([e](bgfetch::registration_ref) {}),
                        bgfetch::status::invalid_argument);
    e.reset();
    ok &= EXPECT(gone_e.get() == 1);
    CHECK(ok, "progress std::function destroyed exactly once: replaced, cleared, handle "
              "destroyed, manager closed, setter failed");
}

static void t_progress_abort_from_inside() {
    int ok = 1;
    latch gone, final_seen;
    bgfetch::manager m(test_config("inside"));
    // a slow body: the callback aborts the fetch from the event thread at the first bytes
    bgfetch::registration reg = m.fetch_urls("in", {"bytes/2000000?rate=200000"},
                                             bgfetch::options().set_start_paused(true));
    auto t = std::make_shared<tracker>(gone);
    auto result_at_final = std::make_shared<std::optional<bgfetch::failure_reason>>();
    reg.on_progress([t, &final_seen, result_at_final](bgfetch::registration_ref r) {
        if (r.result() != bgfetch::result::none) {
            *result_at_final = r.failure_reason();
            final_seen.add();
        } else if (r.downloaded() > 0) {
            r.abort(); // any call is allowed from inside, on this registration too
        }
    });
    t.reset();
    reg.resume();
    reg.wait(H_WAIT);
    ok &= EXPECT(final_seen.get() == 1);
    ok &= EXPECT(*result_at_final == bgfetch::failure_reason::aborted);
    ok &= EXPECT(reg.failure_reason() == bgfetch::failure_reason::aborted);
    ok &= EXPECT(gone.get() == 0);
    reg = bgfetch::registration(nullptr); // move-assigning destroys the old handle's callback
    ok &= EXPECT(gone.get() == 1);
    CHECK(ok, "a progress callback may abort its own registration; move-assignment frees it");
}

/* What an event callback saw. */
struct event_log {
    std::mutex mu;
    std::map<std::string, bgfetch::event_type> events;
    std::map<std::string, std::size_t> records;
    latch count;
};

static void t_events_thread() {
    int ok = 1;
    latch gone;
    auto log = std::make_shared<event_log>();
    {
        bgfetch::manager m(test_config("events"));
        auto t = std::make_shared<tracker>(gone);
        m.on_event([log, t](bgfetch::event_type type, bgfetch::registration_ref r) {
            std::size_t n = r.match_all().size(); // records are readable during the call
            {
                std::lock_guard<std::mutex> lock(log->mu);
                log->events[std::string(r.id())] = type;
                log->records[std::string(r.id())] = n;
            }
            log->count.add();
        });
        t.reset();
        bgfetch::registration ok_reg = m.fetch_urls("ev-ok", {"bytes/5000", "bytes/10"});
        bgfetch::registration bad = m.fetch_urls("ev-404", {"status/404"});
        bgfetch::registration ab =
            m.fetch_urls("ev-abort", {"bytes/10"}, bgfetch::options().set_start_paused(true));
        ok &= EXPECT(ab.abort());
        ok &= EXPECT(log->count.wait_for(3));
        {
            std::lock_guard<std::mutex> lock(log->mu);
            ok &= EXPECT(log->events.size() == 3);
            ok &= EXPECT(log->events["ev-ok"] == bgfetch::event_type::success);
            ok &= EXPECT(log->events["ev-404"] == bgfetch::event_type::fail);
            ok &= EXPECT(log->events["ev-abort"] == bgfetch::event_type::abort);
            ok &= EXPECT(log->records["ev-ok"] == 2 && log->records["ev-404"] == 1);
        }
        ok &= EXPECT(gone.get() == 0);
        // closing the manager (end of scope) destroys the event callback
    }
    ok &= EXPECT(gone.get() == 1);

    // At the next open, the events of the settled, unreleased fetches wait for a callback and
    // are delivered again once one is set. Replacing it destroys the old one on return.
    latch gone_a, gone_b;
    auto replayed = std::make_shared<latch>();
    {
        bgfetch::manager m(test_config("events"));
        auto b = std::make_shared<tracker>(gone_b);
        m.on_event([b, replayed](bgfetch::event_type, bgfetch::registration_ref) {
            replayed->add();
        });
        b.reset();
        ok &= EXPECT(replayed->wait_for(3));
        auto a = std::make_shared<tracker>(gone_a);
        m.on_event([a](bgfetch::event_type, bgfetch::registration_ref) {});
        a.reset();
        ok &= EXPECT(gone_b.get() == 1 && gone_a.get() == 0);
    }
    ok &= EXPECT(gone_a.get() == 1 && gone_b.get() == 1);
    ok &= EXPECT(replayed->get() == 3);
    CHECK(ok, "event std::function: success/fail/abort with readable records; destroyed "
              "exactly once when replaced, cleared or the manager is closed");
}

static void t_events_manual() {
    int ok = 1;
    latch gone;
    bgfetch::config c = test_config("manual");
    c.set_dispatch(bgfetch::dispatch_mode::manual);
    bgfetch::manager m(c);
    ok &= EXPECT(m.event_fd() >= 0);
    const std::thread::id me = std::this_thread::get_id();
    std::vector<bgfetch::event_type> events;
    long progress_calls = 0;
    bool progress_final = false, wrong_thread = false;
    auto t = std::make_shared<tracker>(gone);
    // no locks: in MANUAL mode the callbacks run inside dispatch(), on this thread
    m.on_event([&, t](bgfetch::event_type type, bgfetch::registration_ref r) {
        if (std::this_thread::get_id() != me) wrong_thread = true;
        if (r.id() == "man") events.push_back(type);
    });
    t.reset();
    bgfetch::registration reg =
        m.fetch_urls("man", {"bytes/50000?seed=7"}, bgfetch::options().set_start_paused(true));
    reg.on_progress([&](bgfetch::registration_ref r) {
        if (std::this_thread::get_id() != me) wrong_thread = true;
        progress_calls++;
        if (r.result() != bgfetch::result::none) progress_final = true;
    });
    // 0.3: setting the callback brings one call with the current values, through dispatch()
    for (int i = 0; i < 100 && progress_calls == 0; ++i) m.dispatch(H_WAIT);
    ok &= EXPECT(progress_calls == 1 && !progress_final);
    ok &= EXPECT(m.dispatch(0ms) == 0); // nothing more pending: the fetch is paused
    reg.resume();
    reg.wait(H_WAIT);
    // the final progress callback and then the event come through dispatch()
    for (int i = 0; i < 1000 && events.empty(); ++i) {
        if (m.dispatch(H_WAIT) == 0) break;
    }
    ok &= EXPECT(events.size() == 1 && events[0] == bgfetch::event_type::success);
    ok &= EXPECT(progress_final && progress_calls >= 1 && !wrong_thread);
    ok &= EXPECT(m.dispatch(0ms) == 0); // after the event, nothing more
    ok &= EXPECT(gone.get() == 0);
    m.clear_event();
    ok &= EXPECT(gone.get() == 1);
    reg.clear_progress();
    CHECK(ok, "MANUAL dispatch: callbacks run inside dispatch() on the caller's thread");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    guarded("progress lifetime", t_progress_lifetime);
    guarded("progress replace", t_progress_replace_clear);
    guarded("progress inside", t_progress_abort_from_inside);
    guarded("events thread", t_events_thread);
    guarded("events manual", t_events_manual);
    return h_done();
}
