//! The manager's bandwidth cap: one token bucket shared by every running transfer.
//!
//! A transfer pays for the body bytes it has just read and is told how long to wait before it
//! reads more (the bucket may go into debt by one read). Every transfer pays for its own
//! reads, so the running transfers share the rate fairly, and the rate may change at any time.
//! No clock is read and nothing sleeps here: the caller passes the time and does the waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How many seconds of the rate the bucket holds when full (the largest burst).
const BURST_SECONDS: f64 = 0.05;
/// Reads while limited are at most this fraction of a second of the rate...
const READS_PER_SECOND: u64 = 20;
/// ...but never smaller than this.
const MIN_LIMITED_READ: usize = 1024;

/// A token bucket of body bytes per second; a rate of 0 is no limit.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: AtomicU64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimiter {
    /// A limiter of `bytes_per_s` (0 = none).
    pub(crate) fn new(bytes_per_s: u64) -> RateLimiter {
        RateLimiter {
            rate: AtomicU64::new(bytes_per_s),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                last: None,
            }),
        }
    }

    /// Changes the rate (0 = none); running transfers follow within one wait slice. The debt
    /// owed at the old rate is forgiven (it is not re-priced at the new one).
    pub(crate) fn set_rate(&self, bytes_per_s: u64) {
        let mut b = self.bucket.lock();
        self.rate.store(bytes_per_s, Ordering::Release);
        *b = Bucket {
            tokens: 0.0,
            last: None,
        };
    }

    /// The rate now (0 = none).
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(Ordering::Acquire)
    }

    /// The largest read a transfer should make now, out of `buf_len`: a small part of a
    /// second of the rate while limited (so that the rate holds over short times too).
    pub(crate) fn read_size(&self, buf_len: usize) -> usize {
        match self.rate() {
            0 => buf_len,
            rate => usize::try_from(rate / READS_PER_SECOND)
                .unwrap_or(usize::MAX)
                .clamp(MIN_LIMITED_READ, buf_len.max(MIN_LIMITED_READ))
                .min(buf_len),
        }
    }

    /// Pays for `n` bytes read at `now`; returns how long the transfer waits before it reads
    /// again (zero while the bucket has tokens, or without a limit). `pay(0, now)` asks how
    /// much of a wait is left.
    pub(crate) fn pay(&self, n: usize, now: Instant) -> Duration {
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        let rate = rate as f64;
        let mut b = self.bucket.lock();
        let elapsed = b
            .last
            .map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        b.last = Some(now);
        b.tokens = (b.tokens + elapsed * rate).min(rate * BURST_SECONDS);
        b.tokens -= n as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_never_waits_and_reads_whole_buffers() {
        let l = RateLimiter::new(0);
        let t0 = Instant::now();
        assert_eq!(l.pay(1 << 30, t0), Duration::ZERO);
        assert_eq!(l.read_size(256 * 1024), 256 * 1024);
    }

    #[test]
    fn the_waits_add_up_to_the_rate() {
        let l = RateLimiter::new(100_000);
        let t0 = Instant::now();
        // 1 MB in reads of 5000 bytes, each made when the previous wait ended.
        let mut now = t0;
        for _ in 0..200 {
            now += l.pay(5000, now);
        }
        let secs = (now - t0).as_secs_f64();
        assert!((9.9..=10.0).contains(&secs), "{secs}");
    }

    #[test]
    fn two_transfers_share_the_rate() {
        let l = RateLimiter::new(100_000);
        let t0 = Instant::now();
        let (mut a, mut b) = (t0, t0);
        let (mut got_a, mut got_b) = (0u64, 0u64);
        let end = t0 + Duration::from_secs(10);
        while a < end || b < end {
            if a <= b {
                a += l.pay(5000, a);
                got_a += 5000;
            } else {
                b += l.pay(5000, b);
                got_b += 5000;
            }
        }
        let total = (got_a + got_b) as f64;
        assert!((1_000_000.0..=1_020_000.0).contains(&total), "{total}");
        assert!(got_a.abs_diff(got_b) <= 10_000, "{got_a} {got_b}");
    }

    #[test]
    fn a_rate_change_applies_at_the_next_read_and_forgives_the_old_debt() {
        let l = RateLimiter::new(1_000_000);
        let t0 = Instant::now();
        // In debt by 50 kB at 1 MB/s: 50 ms to wait.
        let wait = l.pay(100_000, t0);
        assert!(wait >= Duration::from_millis(49), "{wait:?}");
        // At 10 kB/s that debt would be 5 s: it is forgiven, and the new rate applies.
        l.set_rate(10_000);
        let wait = l.pay(10_000, t0);
        assert!(wait <= Duration::from_millis(1000), "{wait:?}");
        assert!(wait >= Duration::from_millis(940), "{wait:?}");
        // Lifted: nothing to wait.
        l.set_rate(0);
        assert_eq!(l.pay(0, t0), Duration::ZERO);
    }

    #[test]
    fn reads_are_small_while_limited() {
        let l = RateLimiter::new(100_000);
        assert_eq!(l.read_size(256 * 1024), 5000);
        l.set_rate(1);
        assert_eq!(l.read_size(256 * 1024), MIN_LIMITED_READ);
        assert_eq!(l.read_size(100), 100);
    }
}
