/*
 * cpp_harness.hpp - C++ helpers for the tests of bgfetch.hpp, on top of ffi-tests/c/harness.h
 * (its TAP-like CHECK/EXPECT reporting, h_init's arguments and watchdog, U/P paths and the
 * test server's body pattern).
 *
 * Every program is run by tests/ffi_cpp.rs as
 *     test_x <server base URL "http://127.0.0.1:PORT/"> <fresh temporary directory>
 */
#ifndef BGFETCH_CPP_HARNESS_HPP
#define BGFETCH_CPP_HARNESS_HPP

#include "harness.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include "bgfetch.hpp"

using namespace std::chrono_literals;

/* The longest any wait of the tests may take (a hang ends as a failed check). */
constexpr std::chrono::milliseconds H_WAIT = std::chrono::milliseconds(H_WAIT_MS);

/* An absolute URL on the test server for `p` ("bytes/10?seed=1"; a leading '/' is fine). */
inline std::string url(const std::string &p) { return U("%s", p.c_str()).s; }

/* A path in the test's temporary directory, as std::string. */
inline std::string path(const std::string &name) { return P("%s", name.c_str()).s; }

/* The test server's body of `len` bytes with `seed`. */
inline std::vector<std::uint8_t> pattern(std::size_t len, std::uint64_t seed) {
    std::vector<std::uint8_t> v(len);
    for (std::size_t i = 0; i < len; ++i) v[i] = h_pattern_byte(i, seed);
    return v;
}

/* A file's bytes (empty if it cannot be read). */
inline std::vector<std::uint8_t> file_bytes(const std::string &p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f),
                                     std::istreambuf_iterator<char>());
}

/* `body` equals pattern(len, seed); prints the first difference. */
inline int is_pattern(const std::vector<std::uint8_t> &body, std::size_t len, std::uint64_t seed) {
    return h_is_pattern(body.data(), body.size(), len, seed);
}

/* The usual configuration: the test server as base URL, fail fast, frequent progress. */
inline bgfetch::config test_config(const std::string &store_name) {
    bgfetch::config c(path(store_name));
    c.set_base_url(h_base)
        .set_retries(1, 0ms)
        .set_fail_after_attempts(true)
        .set_progress_interval(20ms)
        .set_timeouts(5s, 30s);
    return c;
}

/* `f()` throws bgfetch::error with status `want` (prints what happened if not). */
template <class F>
inline int throws_status(F f, bgfetch::status want, const char *expr, const char *file, int line) {
    try {
        f();
        h_diag("%s  (%s:%d): no exception, expected %s", expr, file, line,
               std::string(bgfetch::to_string(want)).c_str());
        return 0;
    } catch (const bgfetch::error &e) {
        if (e.code() == want) return 1;
        h_diag("%s  (%s:%d): threw %s, expected %s", expr, file, line, e.what(),
               std::string(bgfetch::to_string(want)).c_str());
        return 0;
    } catch (const std::exception &e) {
        h_diag("%s  (%s:%d): threw a non-bgfetch exception: %s", expr, file, line, e.what());
        return 0;
    }
}
#define EXPECT_THROWS(stmt, want) throws_status([&]() { stmt; }, (want), #stmt, __FILE__, __LINE__)

/* Runs `f`, reporting an unexpected exception as a failed check instead of ending the program. */
template <class F>
inline void guarded(const char *name, F f) {
    try {
        f();
    } catch (const std::exception &e) {
        CHECK(0, "%s: unexpected exception: %s", name, e.what());
    }
}

/* A counter that threads can wait on. */
class latch {
public:
    void add(long d = 1) {
        std::lock_guard<std::mutex> lock(mu_);
        value_ += d;
        cv_.notify_all();
    }
    long get() {
        std::lock_guard<std::mutex> lock(mu_);
        return value_;
    }
    /* Waits until the value is at least `want` (at most H_WAIT); true if it is. */
    bool wait_for(long want) {
        std::unique_lock<std::mutex> lock(mu_);
        return cv_.wait_for(lock, H_WAIT, [&] { return value_ >= want; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    long value_ = 0;
};

/* An object whose destruction is counted: captured (through a shared_ptr) by a callback, it is
   destroyed exactly when the last copy of that callback is. */
struct tracker {
    explicit tracker(latch &destroyed) : destroyed_(destroyed) {}
    tracker(const tracker &) = delete;
    tracker &operator=(const tracker &) = delete;
    ~tracker() { destroyed_.add(1); }
    latch &destroyed_;
};

#endif /* BGFETCH_CPP_HARNESS_HPP */
