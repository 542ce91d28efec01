/* test_types.cpp - every RAII type of bgfetch.hpp against the test server: config, manager,
   request, options, registration, record(s), response, icons, strings; errors as
   bgfetch::error; move semantics; std::chrono timeouts; iterating records and ids. */
#include "cpp_harness.hpp"

#include <algorithm>
#include <optional>
#include <type_traits>
#include <utility>

// Every owning type is move-only; the views are copyable.
static_assert(!std::is_copy_constructible_v<bgfetch::config>);
static_assert(!std::is_copy_assignable_v<bgfetch::manager>);
static_assert(!std::is_copy_constructible_v<bgfetch::registration>);
static_assert(!std::is_copy_constructible_v<bgfetch::record>);
static_assert(!std::is_copy_constructible_v<bgfetch::records>);
static_assert(!std::is_copy_constructible_v<bgfetch::response>);
static_assert(!std::is_copy_constructible_v<bgfetch::request>);
static_assert(!std::is_copy_constructible_v<bgfetch::options>);
static_assert(!std::is_copy_constructible_v<bgfetch::strings>);
static_assert(!std::is_copy_constructible_v<bgfetch::icons>);
static_assert(std::is_nothrow_move_constructible_v<bgfetch::manager>);
static_assert(std::is_nothrow_move_assignable_v<bgfetch::registration>);
static_assert(std::is_copy_constructible_v<bgfetch::registration_ref>);
static_assert(std::is_copy_constructible_v<bgfetch::record_ref>);
static_assert(std::is_base_of_v<std::runtime_error, bgfetch::error>);

static void t_codes_and_version() {
    int ok = 1;
    std::string want = std::to_string(BGFETCH_VERSION_MAJOR) + "." +
                       std::to_string(BGFETCH_VERSION_MINOR) + "." +
                       std::to_string(BGFETCH_VERSION_PATCH);
    ok &= EXPECT(bgfetch::version() == want);
    ok &= EXPECT(bgfetch::to_string(bgfetch::status::timeout) == "BGFETCH_E_TIMEOUT");
    ok &= EXPECT(bgfetch::to_string(bgfetch::status::ok) == "BGFETCH_OK");
    ok &= EXPECT(bgfetch::to_string(bgfetch::result::success) == "success");
    ok &= EXPECT(bgfetch::to_string(bgfetch::result::none).empty());
    ok &= EXPECT(bgfetch::to_string(bgfetch::failure_reason::bad_status) == "bad-status");
    ok &= EXPECT((bgfetch::query::ignore_search | bgfetch::query::ignore_vary) ==
                 static_cast<bgfetch::query>(BGFETCH_QUERY_IGNORE_SEARCH |
                                             BGFETCH_QUERY_IGNORE_VARY));
    CHECK(ok, "version, status names, web strings, query flags");
}

static void t_config_errors() {
    int ok = 1;
    ok &= EXPECT_THROWS(bgfetch::config(""), bgfetch::status::invalid_argument);
    bgfetch::config c(path("cfg-store"));
    ok &= EXPECT_THROWS(c.set_base_url("not a url"), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(c.set_max_connections(0), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(c.set_max_segments(0), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(c.set_max_segments(17), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(c.set_timeouts(0ms, 1s), bgfetch::status::invalid_argument);
    // out of the C ABI's uint32_t milliseconds: refused on the C++ side
    ok &= EXPECT_THROWS(c.set_timeouts(std::chrono::hours(24 * 50), 1s),
                        bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(c.set_progress_interval(-1ms), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(c.set_user_agent(std::string("a\0b", 3)),
                        bgfetch::status::invalid_argument);
    // chaining, durations in seconds and milliseconds
    c.set_base_url(h_base)
        .set_timeouts(2s, 1500ms)
        .set_retries(2, 10ms)
        .set_max_backoff(1s)
        .set_no_progress_timeout(std::chrono::minutes(1))
        .set_progress_interval(50ms)
        .set_max_connections(4)
        .set_max_connections_per_fetch(2)
        .set_max_segments(2)
        .set_quota(0)
        .set_user_agent("bgfetch-cpp-test")
        .set_retry_statuses(false)
        .set_fail_after_attempts(true)
        .set_proxy("")
        .set_max_download_rate(0)
        .set_dispatch(bgfetch::dispatch_mode::thread)
        .set_allow_https_to_http(false);
    bool threw = false;
    try {
        c.set_base_url("ftp://x/");
    } catch (const bgfetch::error &e) {
        std::string what = e.what();
        ok &= EXPECT(e.code() == bgfetch::status::invalid_argument);
        ok &= EXPECT(what.rfind("BGFETCH_E_INVALID_ARGUMENT: ", 0) == 0);
        ok &= EXPECT(!e.message().empty());
        ok &= EXPECT(what.size() > e.message().size() &&
                     what.compare(what.size() - e.message().size(), std::string::npos,
                                  std::string(e.message())) == 0);
        threw = true;
    }
    ok &= EXPECT(threw);
    bgfetch::manager m(c);
    ok &= EXPECT(m.ids().empty());
    ok &= EXPECT(m.problems().empty());
    ok &= EXPECT(m.used_bytes() == 0);
    ok &= EXPECT(m.event_fd() == -1);
    ok &= EXPECT_THROWS(m.dispatch(0ms), bgfetch::status::invalid_state);
    // the store is locked by m
    ok &= EXPECT_THROWS(bgfetch::manager{c}, bgfetch::status::busy);
    CHECK(ok, "config: errors thrown with status and message, chained setters, manager open");
}

static void t_fetch_byte_exact() {
    int ok = 1;
    bgfetch::manager m(test_config("exact"));
    const std::string first = url("bytes/200000?seed=3");
    bgfetch::registration reg =
        m.fetch_urls("exact", {first, "bytes/70000?seed=4", "/bytes/1?seed=5"});
    ok &= EXPECT(reg.id() == "exact");
    reg.wait(H_WAIT);
    ok &= EXPECT(reg.result() == bgfetch::result::success);
    ok &= EXPECT(reg.failure_reason() == bgfetch::failure_reason::none);
    ok &= EXPECT(reg.downloaded() == 270001);
    ok &= EXPECT(reg.records_available());

    // iterating records: range-for, algorithms, indexing
    bgfetch::records all = reg.match_all();
    ok &= EXPECT(all.size() == 3 && !all.empty());
    std::vector<std::string> urls;
    for (bgfetch::record_ref r : all) urls.emplace_back(r.url());
    ok &= EXPECT(urls.size() == 3 && urls[0] == first && urls[1] == url("bytes/70000?seed=4") &&
                 urls[2] == url("bytes/1?seed=5"));
    ok &= EXPECT(std::all_of(all.begin(), all.end(),
                             [](bgfetch::record_ref r) { return r.method() == "GET"; }));
    ok &= EXPECT(std::distance(all.begin(), all.end()) == 3);
    ok &= EXPECT(all[1].url() == urls[1]);
    bool out_of_range = false;
    try {
        (void)all[3];
    } catch (const std::out_of_range &) {
        out_of_range = true;
    }
    ok &= EXPECT(out_of_range);

    std::size_t lens[] = {200000, 70000, 1};
    std::uint64_t seeds[] = {3, 4, 5};
    std::size_t i = 0;
    for (bgfetch::record_ref r : all) {
        ok &= EXPECT(r.body_size() == 0 && r.read_body().empty());
        bgfetch::response res = r.response_ready(H_WAIT);
        res.wait(H_WAIT);
        ok &= EXPECT(res.status() == 200 && res.ok() && res.complete());
        ok &= EXPECT(res.url() == urls[i]);
        ok &= EXPECT(res.body_size() == lens[i]);
        ok &= EXPECT(res.header("Content-Length") == std::to_string(lens[i]));
        ok &= EXPECT(!res.header("x-not-there").has_value());
        auto hs = res.headers();
        ok &= EXPECT(hs.size() == res.header_count() && !hs.empty());
        ok &= EXPECT(std::any_of(hs.begin(), hs.end(), [&](const bgfetch::header_field &h) {
            return h.name == "content-length" && h.value == std::to_string(lens[i]);
        }));
        ok &= EXPECT_THROWS(res.header_at(hs.size()), bgfetch::status::invalid_argument);
        ok &= is_pattern(res.read_all(), lens[i], seeds[i]);
        ok &= is_pattern(file_bytes(std::string(res.body_path())), lens[i], seeds[i]);
        std::string dest = path("saved-" + std::to_string(i));
        res.save(dest);
        ok &= is_pattern(file_bytes(dest), lens[i], seeds[i]);
        // a read at an offset
        std::uint8_t b[10];
        std::size_t n = res.read(lens[i] - 1, b, sizeof b);
        ok &= EXPECT(n == 1 && b[0] == h_pattern_byte(lens[i] - 1, seeds[i]));
        ok &= EXPECT(res.read(lens[i], b, sizeof b) == 0);
        ++i;
    }

    // match(): by URL (relative, query ignored), by request
    std::optional<bgfetch::record> rec = reg.match("bytes/70000?seed=4");
    ok &= EXPECT(rec && rec->url() == url("bytes/70000?seed=4"));
    ok &= EXPECT(!reg.match("bytes/70000"));
    ok &= EXPECT(reg.match("bytes/70000", bgfetch::query::ignore_search).has_value());
    bgfetch::request q("/bytes/1?seed=5");
    ok &= EXPECT(reg.match(q).has_value());
    ok &= EXPECT(reg.match_all(bgfetch::request("bytes/nope")).empty());
    ok &= EXPECT(reg.match_all(bgfetch::request("bytes/1"), bgfetch::query::ignore_search).size() ==
                 1);
    if (rec) {
        bgfetch::record_ref view = rec->ref();
        ok &= EXPECT(view.url() == rec->url());
        ok &= is_pattern(view.response_ready(H_WAIT).read_all(), 70000, 4);
    }

    // release: records unavailable, calls throw invalid_state, the id is free again
    reg.release();
    reg.release(); // twice is fine
    ok &= EXPECT(!reg.records_available());
    ok &= EXPECT_THROWS(reg.match_all(), bgfetch::status::invalid_state);
    ok &= EXPECT_THROWS(all[0].response_ready(0ms), bgfetch::status::invalid_state);
    ok &= EXPECT(!m.get("exact").has_value());
    CHECK(ok, "fetch_urls downloads byte-exact; records iterate; response read/save/headers");
}

static void t_requests_options_icons() {
    int ok = 1;
    bgfetch::manager m(test_config("requests"));
    std::vector<bgfetch::request> reqs;
    reqs.emplace_back(url("echo?x=1"));
    reqs.back().set_method("post").add_header("X-Test", "one").set_body(std::string_view("hello"));
    const std::vector<std::uint8_t> bytes = {0, 1, 2, 255};
    reqs.push_back(std::move(bgfetch::request("echo?x=2").set_method("PUT").set_body(bytes)));
    reqs.emplace_back("bytes/10?seed=9");
    bgfetch::options opts;
    opts.set_title("Title one")
        .add_icon("/i.png", "16x16", "image/png", "small")
        .add_icon(bgfetch::icon{"/j.png", "", "", ""})
        .set_download_total(1 << 20);
    bgfetch::registration reg = m.fetch("req", reqs, opts);
    ok &= EXPECT(reg.upload_total() == 9);
    ok &= EXPECT(reg.download_total() == (1 << 20));
    ok &= EXPECT(reg.title() == "Title one");
    bgfetch::icons ic = reg.icons();
    ok &= EXPECT(ic.size() == 2);
    std::vector<bgfetch::icon> list(ic.begin(), ic.end());
    ok &= EXPECT(list.size() == 2 && list[0].src == "/i.png" && list[0].sizes == "16x16" &&
                 list[0].type == "image/png" && list[0].label == "small");
    ok &= EXPECT(list.size() == 2 && list[1].src == "/j.png" && list[1].sizes.empty() &&
                 list[1].label.empty());
    ok &= EXPECT_THROWS(ic[2], bgfetch::status::invalid_argument);
    reg.update_ui(bgfetch::options().set_title("Title two"));
    ok &= EXPECT(reg.title() == "Title two" && reg.icons().size() == 2);

    reg.wait(H_WAIT);
    ok &= EXPECT(reg.result() == bgfetch::result::success);
    ok &= EXPECT(reg.uploaded() == 9);
    bgfetch::request probe(url("echo?x=1"));
    probe.set_method("POST");
    // the web's rule: a non-GET query matches nothing unless the method is ignored
    ok &= EXPECT(!reg.match(probe));
    std::optional<bgfetch::record> rec = reg.match(probe, bgfetch::query::ignore_method);
    ok &= EXPECT(rec.has_value());
    if (rec) {
        ok &= EXPECT(rec->method() == "POST");
        auto hs = rec->headers();
        ok &= EXPECT(std::any_of(hs.begin(), hs.end(), [](const bgfetch::header_field &h) {
            return (h.name == "X-Test" || h.name == "x-test") && h.value == "one";
        }));
        ok &= EXPECT_THROWS(rec->header_at(hs.size()), bgfetch::status::invalid_argument);
        auto body = rec->read_body();
        ok &= EXPECT(rec->body_size() == 5 && std::string(body.begin(), body.end()) == "hello");
        auto echo = rec->response_ready(H_WAIT).read_all();
        std::string text(echo.begin(), echo.end());
        ok &= EXPECT(text.find("\"method\":\"POST\"") != std::string::npos);
        ok &= EXPECT(text.find("\"length\":5") != std::string::npos);
    }
    // a GET query does not match the POST record unless the method is ignored
    ok &= EXPECT(!reg.match("echo?x=1"));
    ok &= EXPECT(reg.match("echo?x=1", bgfetch::query::ignore_method).has_value());
    ok &= EXPECT(reg.match_all(bgfetch::request("echo"), bgfetch::query::ignore_method |
                                                              bgfetch::query::ignore_search)
                     .size() == 2);
    std::optional<bgfetch::record> put = reg.match("echo?x=2", bgfetch::query::ignore_method);
    ok &= EXPECT(put && put->read_body() == bytes);

    ok &= EXPECT_THROWS(bgfetch::request("x").set_method("CONNECT"),
                        bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(bgfetch::request("x").add_header("bad name", "v"),
                        bgfetch::status::invalid_argument);
    reg.release();
    CHECK(ok, "request (method, header, body), options, icons, update_ui, match by request");
}

static void t_errors() {
    int ok = 1;
    bgfetch::manager m(test_config("errors"));
    ok &= EXPECT_THROWS(m.fetch_urls("", {"bytes/1"}), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(m.fetch_urls("none", {}), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(m.fetch("none", std::vector<bgfetch::request>()),
                        bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(m.fetch_urls("bad-url", {"http://["}), bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(m.fetch_urls("blocked", {"http://127.0.0.1:25/"}),
                        bgfetch::status::invalid_argument);
    ok &= EXPECT_THROWS(m.fetch_urls(std::string("nul\0id", 6), {"bytes/1"}),
                        bgfetch::status::invalid_argument);
    ok &= EXPECT(!m.get("unknown-id").has_value());
    ok &= EXPECT(m.ids().empty()); // nothing was registered by the failed calls

    bgfetch::registration held =
        m.fetch_urls("dup", {"bytes/10"}, bgfetch::options().set_start_paused(true));
    ok &= EXPECT_THROWS(m.fetch_urls("dup", {"bytes/10"}), bgfetch::status::duplicate_id);
    ok &= EXPECT_THROWS(held.release(), bgfetch::status::invalid_state);
    ok &= EXPECT(held.abort());
    held.wait(H_WAIT);
    ok &= EXPECT(!held.abort());
    ok &= EXPECT(held.failure_reason() == bgfetch::failure_reason::aborted);
    ok &= EXPECT_THROWS(held.pause(), bgfetch::status::invalid_state);
    ok &= EXPECT_THROWS(held.match_all()[0].response_ready(H_WAIT), bgfetch::status::aborted);
    held.release();

    // a bad status is a response; the fetch fails with bad-status
    bgfetch::registration bad = m.fetch_urls("404", {"status/404"});
    bad.wait(H_WAIT);
    ok &= EXPECT(bad.result() == bgfetch::result::failure);
    ok &= EXPECT(bad.failure_reason() == bgfetch::failure_reason::bad_status);
    std::optional<bgfetch::record> rec = bad.match("status/404");
    if (EXPECT(rec.has_value())) {
        bgfetch::response res = rec->response_ready(H_WAIT);
        ok &= EXPECT(res.status() == 404 && !res.ok());
    }
    // a connection refused: the request failed (fetch-error, FETCH_FAILED)
    std::string closed = "http://127.0.0.1:" + std::to_string(h_closed_port()) + "/x";
    bgfetch::registration refused = m.fetch_urls("refused", {closed});
    refused.wait(H_WAIT);
    ok &= EXPECT(refused.failure_reason() == bgfetch::failure_reason::fetch_error);
    ok &= EXPECT_THROWS(refused.match(closed)->response_ready(H_WAIT),
                        bgfetch::status::fetch_failed);
    CHECK(ok, "errors: bgfetch::error with the C status (invalid_argument, duplicate_id, "
              "invalid_state, aborted, fetch_failed); unknown id is nullopt");
}

static void t_ids() {
    int ok = 1;
    bgfetch::manager m(test_config("ids"));
    for (const char *id : {"b", "c", "a"}) {
        m.fetch_urls(id, {"bytes/10"}, bgfetch::options().set_start_paused(true));
    }
    bgfetch::strings ids = m.ids();
    ok &= EXPECT(ids.size() == 3);
    std::vector<std::string> seen;
    for (std::string_view id : ids) seen.emplace_back(id);
    ok &= EXPECT((seen == std::vector<std::string>{"a", "b", "c"}));
    ok &= EXPECT(ids.to_vector() == seen);
    ok &= EXPECT(std::find(ids.begin(), ids.end(), "b") != ids.end());
    ok &= EXPECT(ids[1] == "b" && ids[3].empty());
    std::optional<bgfetch::registration> b = m.get("b");
    if (EXPECT(b.has_value())) {
        b->abort();
        b->wait(H_WAIT);
        b->release();
    }
    bgfetch::strings after = m.ids();
    ok &= EXPECT((after.to_vector() == std::vector<std::string>{"a", "c"}));
    CHECK(ok, "ids: strings iterate sorted ids as string_view; release removes one");

    // the manager's other calls, and pausing a paused fetch
    ok = 1;
    ok &= EXPECT(!m.offline());
    m.set_offline(true);
    ok &= EXPECT(m.offline());
    m.set_offline(false);
    ok &= EXPECT(!m.offline());
    m.set_max_download_rate(1 << 20);
    m.set_max_download_rate(0);
    std::optional<bgfetch::registration> a = m.get("a");
    if (EXPECT(a.has_value())) {
        ok &= EXPECT(a->paused());
        a->pause();
        ok &= EXPECT(a->paused() && a->result() == bgfetch::result::none);
    }
    CHECK(ok, "manager offline and download rate; pause of a paused fetch");
}

static void t_timeouts() {
    int ok = 1;
    bgfetch::manager m(test_config("timeouts"));
    bgfetch::registration reg =
        m.fetch_urls("paused", {"bytes/5000?seed=2"}, bgfetch::options().set_start_paused(true));
    ok &= EXPECT(reg.paused());
    // a paused fetch never settles: every bounded wait times out
    ok &= EXPECT_THROWS(reg.wait(30ms), bgfetch::status::timeout);
    ok &= EXPECT_THROWS(reg.wait(std::chrono::seconds(0)), bgfetch::status::timeout);
    ok &= EXPECT(!reg.wait_for(0ms));
    ok &= EXPECT(!reg.wait_for(-5ms)); // negative polls
    ok &= EXPECT(!reg.wait_for(20ms));
    bgfetch::records rs = reg.match_all();
    ok &= EXPECT_THROWS(rs[0].response_ready(20ms), bgfetch::status::timeout);
    reg.resume();
    ok &= EXPECT(!reg.paused());
    ok &= EXPECT(reg.wait_for(H_WAIT));
    ok &= EXPECT(reg.wait_for(0ms));
    ok &= EXPECT(reg.result() == bgfetch::result::success);
    bgfetch::response res = rs[0].response_ready(0ms);
    ok &= EXPECT(res.wait_for(0ms));
    res.wait(0ms);

    // a body that stalls after 1000 bytes: the response is there, its body is not complete
    bgfetch::registration slow = m.fetch_urls("stall", {"bytes/5000?stall_at=1000&stall_ms=60000"});
    bgfetch::response part = slow.match_all()[0].response_ready(H_WAIT);
    ok &= EXPECT(part.status() == 200);
    std::uint8_t b[100];
    ok &= EXPECT(part.read(0, b, sizeof b) > 0); // the first bytes arrive
    ok &= EXPECT(!part.wait_for(20ms));
    ok &= EXPECT_THROWS(part.wait(10ms), bgfetch::status::timeout);
    ok &= EXPECT(!part.complete());
    ok &= EXPECT(slow.abort());
    ok &= EXPECT_THROWS(part.wait(H_WAIT), bgfetch::status::aborted);
    slow.wait(H_WAIT);
    CHECK(ok, "timeouts as std::chrono durations: wait/wait_for/response_ready/response wait");
}

static void t_moves_and_lifetimes() {
    int ok = 1;
    std::optional<bgfetch::registration> outlives;
    std::optional<bgfetch::response> res_outlives;
    {
        bgfetch::manager first(test_config("moves"));
        bgfetch::manager m(std::move(first));
        // moved-from manager: empty; calls throw invalid_argument or give zero values
        ok &= EXPECT(first.native_handle() == nullptr);
        ok &= EXPECT_THROWS(first.ids(), bgfetch::status::invalid_argument);
        ok &= EXPECT(first.used_bytes() == 0 && first.problems().empty());

        bgfetch::registration a = m.fetch_urls("mv", {"bytes/3000?seed=8"});
        bgfetch::registration b(std::move(a));
        ok &= EXPECT(a.native_handle() == nullptr && a.id().empty());
        ok &= EXPECT(a.downloaded() == 0 && a.result() == bgfetch::result::none);
        ok &= EXPECT_THROWS(a.wait(), bgfetch::status::invalid_argument);
        ok &= EXPECT_THROWS(a.on_progress([](bgfetch::registration_ref) {}),
                            bgfetch::status::invalid_argument);
        b.wait(H_WAIT);
        ok &= EXPECT(b.id() == "mv" && b.result() == bgfetch::result::success);
        // move-assignment frees the target's old handle; self-contained after
        std::optional<bgfetch::registration> other = m.get("mv");
        if (EXPECT(other.has_value())) {
            *other = std::move(b);
            ok &= EXPECT(other->id() == "mv");
            a = std::move(*other); // assign into the moved-from object
            ok &= EXPECT(a.id() == "mv" && other->native_handle() == nullptr);
        }

        bgfetch::records rs = a.match_all();
        bgfetch::records rs2(std::move(rs));
        ok &= EXPECT(rs.size() == 0 && rs.begin() == rs.end() && rs2.size() == 1);
        std::optional<bgfetch::record> r1 = a.match("bytes/3000?seed=8");
        if (EXPECT(r1.has_value())) {
            bgfetch::record r2(std::move(*r1));
            ok &= EXPECT(r1->url().empty() && r2.url() == url("bytes/3000?seed=8"));
            ok &= EXPECT_THROWS(r1->response_ready(0ms), bgfetch::status::invalid_argument);
            bgfetch::response res = r2.response_ready(H_WAIT);
            bgfetch::response res2(std::move(res));
            ok &= EXPECT(res.status() == 0 && res.url().empty() && !res.header("a"));
            ok &= EXPECT_THROWS(res.read_all(), bgfetch::status::invalid_argument);
            ok &= EXPECT(res2.status() == 200);
            res_outlives.emplace(std::move(res2));
        }
        bgfetch::strings s = m.ids();
        bgfetch::strings s2(std::move(s));
        ok &= EXPECT(s.size() == 0 && s2.size() == 1);
        bgfetch::icons ic = a.icons();
        bgfetch::icons ic2(std::move(ic));
        ok &= EXPECT(ic.empty() && ic2.empty());
        bgfetch::request rq("bytes/1");
        bgfetch::request rq2(std::move(rq));
        ok &= EXPECT_THROWS(rq.set_method("GET"), bgfetch::status::invalid_argument);
        rq2.set_method("GET");
        bgfetch::options o;
        bgfetch::options o2(std::move(o));
        ok &= EXPECT_THROWS(o.set_title("x"), bgfetch::status::invalid_argument);
        o2.set_title("x");
        bgfetch::config c("unused-store");
        bgfetch::config c2(std::move(c));
        ok &= EXPECT_THROWS(c.set_quota(1), bgfetch::status::invalid_argument);
        c2.set_quota(1);
        // a moved-from registration handed back to C is NULL
        ok &= EXPECT(other->release_handle() == nullptr);
        outlives.emplace(std::move(a));
        // every moved-from object above is destroyed here, then m closes
    }
    // the registration and the response outlive their manager
    ok &= EXPECT(outlives->id() == "mv");
    ok &= EXPECT(outlives->result() == bgfetch::result::success);
    ok &= EXPECT(outlives->downloaded() == 3000);
    ok &= EXPECT_THROWS(outlives->wait(0ms), bgfetch::status::closed);
    ok &= EXPECT(res_outlives->status() == 200 && res_outlives->url() == url("bytes/3000?seed=8"));
    ok &= EXPECT_THROWS(res_outlives->read_all(), bgfetch::status::closed);

    // the store keeps the fetch: a new manager finds it; adopt/release_handle round trip
    bgfetch::manager again(test_config("moves"));
    std::optional<bgfetch::registration> found = again.get("mv");
    if (EXPECT(found.has_value())) {
        bgfetch::registration adopted(found->release_handle());
        ok &= EXPECT(adopted.id() == "mv" && found->native_handle() == nullptr);
        std::optional<bgfetch::record> rec = adopted.match("bytes/3000?seed=8");
        if (EXPECT(rec.has_value()))
            ok &= is_pattern(rec->response_ready(H_WAIT).read_all(), 3000, 8);
        else
            ok = 0;
        adopted.release();
    }
    CHECK(ok, "move semantics: moved-from objects are empty and safe; handles outlive the manager");
}

int main(int argc, char **argv) {
    h_init(argc, argv);
    guarded("codes", t_codes_and_version);
    guarded("config", t_config_errors);
    guarded("fetch", t_fetch_byte_exact);
    guarded("requests", t_requests_options_icons);
    guarded("errors", t_errors);
    guarded("ids", t_ids);
    guarded("timeouts", t_timeouts);
    guarded("moves", t_moves_and_lifetimes);
    return h_done();
}
