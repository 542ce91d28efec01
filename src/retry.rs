//! The retry policy: whether a failed attempt of a request is tried again, after how long, and
//! when the request gives up.
//!
//! Everything here is pure: no thread, lock, file or sleep, and no clock is read. The caller
//! passes the time (`now`), the randomness of the jitter and the server's `Retry-After`, and
//! does the waiting itself. One [`RetryState`] follows one request through its attempts.
//!
//! The rules (API.md, "Network reality"): a transient failure is retried after an exponential
//! backoff with jitter; the request gives up only when BOTH `max_attempts` consecutive attempts
//! failed without progress AND there was no progress for `no_progress_timeout`. Progress means
//! the record's stored body grew past the most it ever held (the caller decides that and calls
//! [`RetryState::on_progress`]); any progress resets both. An attempt that made progress and
//! then failed is followed by the next at once, and is not counted. Malformed answers (not
//! well-formed HTTP) give up after `max_attempts` of them without progress, whatever the
//! no-progress timeout: the outage rule is for a network that cannot be reached, not for a
//! server that answers wrongly. Fatal failures give up at once. While offline
//! ([`RetryState::freeze`]) neither the attempt count nor the no-progress clock advances.

use std::time::{Duration, Instant, SystemTime};

/// Shortest delay a `Retry-After` may set.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest delay a `Retry-After` may set.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Highest power of two the backoff is multiplied by (the cap is reached long before).
const MAX_DOUBLINGS: u32 = 31;

/// How a manager retries failed requests. The same policy serves every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Consecutive failed attempts (without a new body byte) before a request may give up.
    pub max_attempts: u32,
    /// The delay after the first failure; doubled after each further consecutive failure.
    pub base_backoff: Duration,
    /// The longest computed delay between two attempts (jitter included).
    pub max_backoff: Duration,
    /// How long without a new body byte before a request may give up; `None` = never (transient
    /// failures are then retried forever).
    pub no_progress_timeout: Option<Duration>,
    /// Whether the statuses of `is_retryable_status` are transient failures. Off (the spec):
    /// every status is final.
    pub retry_statuses: bool,
    /// Whether `max_attempts` failures in a row are enough to give up, whatever the
    /// no-progress timeout (off by default: a background fetch outlives outages).
    pub fail_after_attempts: bool,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s base, 60 s cap, 10 min without progress, statuses final.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            no_progress_timeout: Some(Duration::from_secs(10 * 60)),
            retry_statuses: false,
            fail_after_attempts: false,
        }
    }
}

/// What went wrong in one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A network failure worth another try: connect, DNS, read or write errors, timeouts,
    /// resets, truncated bodies.
    Transient,
    /// An answer that is not well-formed HTTP: bad chunk framing, conflicting Content-Lengths,
    /// a head over the limit, a non-HTTP answer, TLS spoken to a plain port. Counted like a
    /// transient failure, but `max_attempts` of them without progress give up whatever the
    /// no-progress timeout.
    Malformed,
    /// The server answered with this status. Transient only when the policy's `retry_statuses`
    /// is on and [`is_retryable_status`] holds; any other status is a final response, which the
    /// caller stores as such without asking (asked anyway, the answer is [`Decision::GiveUp`]).
    Status(u16),
    /// Another try would fail the same way: TLS verification, redirect errors, integrity
    /// mismatch, disk full.
    Fatal,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again once `after` has passed.
    Retry {
        /// The delay before the next attempt.
        after: Duration,
    },
    /// Fail the request.
    GiveUp,
}

/// The retry bookkeeping of one request.
#[derive(Debug, Clone)]
pub struct RetryState {
    /// Attempts failed in a row since the last progress (or the start).
    failures: u32,
    /// Of those, the malformed answers.
    malformed: u32,
    /// The current attempt made progress (the failure that ends it is not counted).
    progressed: bool,
    /// The last progress (or the creation), shifted later by the time spent frozen.
    progress_at: Instant,
    /// When the state was frozen, while it is.
    frozen_at: Option<Instant>,
}

impl RetryState {
    /// The state of a request whose first attempt starts at `now`.
    pub fn new(now: Instant) -> RetryState {
        RetryState {
            failures: 0,
            malformed: 0,
            progressed: false,
            progress_at: now,
            frozen_at: None,
        }
    }

    /// An attempt starts: whether it makes progress is counted from here.
    pub fn begin_attempt(&mut self) {
        self.progressed = false;
    }

    /// The record's body grew past the most it ever held, at `now`: the failure counts and the
    /// no-progress clock restart, and the failure that may end this attempt is not counted.
    pub fn on_progress(&mut self, now: Instant) {
        self.failures = 0;
        self.malformed = 0;
        self.progressed = true;
        self.progress_at = now;
        if let Some(frozen_at) = &mut self.frozen_at {
            // The clock stays stopped, from this progress on.
            *frozen_at = (*frozen_at).max(now);
        }
    }

    /// An attempt failed at `now` with `kind`. `jitter` is a random number in `[0, 1)` (values
    /// outside are clamped); `retry_after` is the server's `Retry-After`, if it sent one (see
    /// `parse_retry_after`).
    ///
    /// Fatal failures and final statuses give up at once. A transient failure that ends an
    /// attempt which made progress is retried at once and not counted (unless the server sent a
    /// `retry_after`). Otherwise it counts as the next consecutive failure, and the request
    /// gives up when both `max_attempts` failures in a row and `no_progress_timeout` without
    /// progress are reached, or when `max_attempts` of them were malformed answers. Otherwise
    /// the delay is
    /// `base_backoff * 2^(n-1) * (1 + jitter/2)` for the n-th failure in a row, capped at
    /// `max_backoff`; once the attempts are used up it is also cut to the time left before the
    /// no-progress timeout, so that the failure after it is seen promptly. A `retry_after`
    /// replaces the computed delay, clamped to `[1 s, 24 h]` and not cut.
    ///
    /// While frozen a transient failure does not count and the answer is to retry with no delay:
    /// the caller holds the attempt until [`thaw`](Self::thaw), then tries at once.
    pub fn on_failure(
        &mut self,
        policy: &RetryPolicy,
        now: Instant,
        kind: FailureKind,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Decision {
        let transient = match kind {
            FailureKind::Transient | FailureKind::Malformed => true,
            FailureKind::Status(code) => policy.retry_statuses && is_retryable_status(code),
            FailureKind::Fatal => false,
        };
        if !transient {
            return Decision::GiveUp;
        }
        let progressed = std::mem::take(&mut self.progressed);
        if self.frozen_at.is_some() || (progressed && retry_after.is_none()) {
            return Decision::Retry {
                after: Duration::ZERO,
            };
        }
        self.failures = self.failures.saturating_add(1);
        if kind == FailureKind::Malformed {
            self.malformed = self.malformed.saturating_add(1);
            if self.malformed >= policy.max_attempts {
                return Decision::GiveUp;
            }
        }
        let attempts_used_up = self.failures >= policy.max_attempts;
        let time_left = policy
            .no_progress_timeout
            .map(|timeout| timeout.saturating_sub(self.since_progress(now)));
        if attempts_used_up && (policy.fail_after_attempts || time_left == Some(Duration::ZERO)) {
            return Decision::GiveUp;
        }
        let after = match retry_after {
            Some(d) => clamp_retry_after(d),
            None => {
                let backoff = backoff(policy, self.failures, jitter);
                match time_left {
                    Some(left) if attempts_used_up => backoff.min(left),
                    _ => backoff,
                }
            }
        };
        Decision::Retry { after }
    }

    /// The network went away at `now`: until [`thaw`](Self::thaw) the no-progress clock stands
    /// still and transient failures do not count. Freezing a frozen state changes nothing.
    pub fn freeze(&mut self, now: Instant) {
        if self.frozen_at.is_none() {
            self.frozen_at = Some(now);
        }
    }

    /// The network is back at `now`: the time since [`freeze`](Self::freeze) is left out of the
    /// no-progress clock. Thawing a state that is not frozen changes nothing.
    pub fn thaw(&mut self, now: Instant) {
        if let Some(frozen_at) = self.frozen_at.take() {
            self.progress_at += now.saturating_duration_since(frozen_at);
        }
    }

    /// Whether the state is frozen.
    #[cfg(test)]
    pub fn is_frozen(&self) -> bool {
        self.frozen_at.is_some()
    }

    /// Attempts failed in a row since the last progress (or the start).
    #[cfg(test)]
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Time without progress at `now`, the time spent frozen left out.
    pub fn since_progress(&self, now: Instant) -> Duration {
        let until = self.frozen_at.unwrap_or(now);
        until.saturating_duration_since(self.progress_at)
    }
}

/// `base_backoff * 2^(failures-1) * (1 + jitter/2)`, capped at `max_backoff`.
fn backoff(policy: &RetryPolicy, failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(MAX_DOUBLINGS);
    let doubled = policy
        .base_backoff
        .saturating_mul(1 << doublings)
        .min(policy.max_backoff);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    Duration::try_from_secs_f64(doubled.as_secs_f64() * (1.0 + jitter / 2.0))
        .map_or(policy.max_backoff, |d| d.min(policy.max_backoff))
}

/// Whether `code` is transient when the policy retries statuses: 408, 429, 500, 502, 503, 504.
pub fn is_retryable_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The delay a `Retry-After` header value asks for at `now`: delay-seconds (`120`) or an HTTP
/// date (IMF-fixdate, RFC 850 or asctime), clamped to `[1 s, 24 h]`; a date in the past gives
/// 1 s. `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a (very long) delay.
        value
            .parse::<u64>()
            .map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(clamp_retry_after(delay))
}

/// `d` clamped to `[MIN_RETRY_AFTER, MAX_RETRY_AFTER]`.
fn clamp_retry_after(d: Duration) -> Duration {
    d.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Retries a transient failure at `now` with no jitter and no Retry-After.
    fn fail(state: &mut RetryState, policy: &RetryPolicy, now: Instant) -> Decision {
        state.on_failure(policy, now, FailureKind::Transient, 0.0, None)
    }

    fn retry(after: Duration) -> Decision {
        Decision::Retry { after }
    }

    /// A policy that never gives up for lack of progress, to test the backoff alone.
    fn patient() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 100,
            no_progress_timeout: None,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn fail_after_attempts_gives_up_on_the_attempts_alone() {
        let policy = RetryPolicy {
            max_attempts: 2,
            fail_after_attempts: true,
            ..RetryPolicy::default()
        };
        let t0 = Instant::now();
        let mut st = RetryState::new(t0);
        assert!(matches!(
            st.on_failure(&policy, t0, FailureKind::Transient, 0.0, None),
            Decision::Retry { .. }
        ));
        assert_eq!(
            st.on_failure(&policy, t0, FailureKind::Transient, 0.0, None),
            Decision::GiveUp
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.base_backoff, secs(1));
        assert_eq!(p.max_backoff, secs(60));
        assert_eq!(p.no_progress_timeout, Some(secs(600)));
        assert!(!p.retry_statuses);
    }

    #[test]
    fn backoff_doubles_with_each_consecutive_failure() {
        let p = patient();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for (n, expected) in [1, 2, 4, 8, 16, 32].into_iter().enumerate() {
            assert_eq!(fail(&mut s, &p, t0 + secs(n as u64)), retry(secs(expected)));
        }
        assert_eq!(s.consecutive_failures(), 6);
    }

    #[test]
    fn jitter_multiplies_the_backoff_by_one_to_one_and_a_half() {
        let p = patient();
        let t0 = Instant::now();
        // The third failure: 4 s before jitter. Factors that are exact in binary.
        for (jitter, expected_ms) in [(0.0, 4000), (0.5, 5000), (0.75, 5500)] {
            let mut s = RetryState::new(t0);
            fail(&mut s, &p, t0);
            fail(&mut s, &p, t0);
            let d = s.on_failure(&p, t0, FailureKind::Transient, jitter, None);
            assert_eq!(d, retry(Duration::from_millis(expected_ms)), "{jitter}");
        }
        let mut s = RetryState::new(t0);
        fail(&mut s, &p, t0);
        fail(&mut s, &p, t0);
        let Decision::Retry { after } =
            s.on_failure(&p, t0, FailureKind::Transient, 0.999_999, None)
        else {
            panic!("a transient failure with a patient policy is retried");
        };
        assert!(after >= secs(4) && after < secs(6), "{after:?}");
    }

    #[test]
    fn jitter_outside_zero_to_one_is_clamped() {
        let p = patient();
        let t0 = Instant::now();
        for (jitter, expected_ms) in [(-3.0, 1000), (7.0, 1500), (f64::NAN, 1000)] {
            let mut s = RetryState::new(t0);
            let d = s.on_failure(&p, t0, FailureKind::Transient, jitter, None);
            assert_eq!(d, retry(Duration::from_millis(expected_ms)), "{jitter}");
        }
    }

    #[test]
    fn backoff_is_capped_at_max_backoff_jitter_included() {
        let p = RetryPolicy {
            max_backoff: secs(9),
            ..patient()
        };
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        let afters: Vec<Decision> = (0..5)
            .map(|_| s.on_failure(&p, t0, FailureKind::Transient, 0.5, None))
            .collect();
        // The 4th: 8 s is under the cap, but 8 s * 1.25 is not.
        let expected_ms = [1250, 2500, 5000, 9000, 9000];
        for (d, ms) in afters.into_iter().zip(expected_ms) {
            assert_eq!(d, retry(Duration::from_millis(ms)));
        }
        // Far past the point where 2^n overflows, still the cap.
        for _ in 0..200 {
            fail(&mut s, &p, t0);
        }
        assert_eq!(fail(&mut s, &p, t0), retry(secs(9)));
    }

    #[test]
    fn retry_after_replaces_the_computed_delay() {
        let p = patient();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        let d = s.on_failure(&p, t0, FailureKind::Transient, 0.5, Some(secs(120)));
        assert_eq!(
            d,
            retry(secs(120)),
            "longer than max_backoff: still honoured"
        );
        let d = s.on_failure(&p, t0, FailureKind::Transient, 0.5, Some(secs(3)));
        assert_eq!(d, retry(secs(3)), "shorter than the backoff: honoured too");
    }

    #[test]
    fn retry_after_is_clamped_to_one_second_and_one_day() {
        let p = patient();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        let short = s.on_failure(&p, t0, FailureKind::Transient, 0.0, Some(Duration::ZERO));
        assert_eq!(short, retry(secs(1)));
        let long = s.on_failure(&p, t0, FailureKind::Transient, 0.0, Some(secs(10 << 20)));
        assert_eq!(long, retry(secs(86_400)));
    }

    #[test]
    fn parse_retry_after_reads_delay_seconds_clamped() {
        let now = SystemTime::UNIX_EPOCH + secs(1_000_000_000);
        assert_eq!(parse_retry_after("120", now), Some(secs(120)));
        assert_eq!(parse_retry_after("  7 ", now), Some(secs(7)));
        assert_eq!(parse_retry_after("0", now), Some(secs(1)));
        assert_eq!(parse_retry_after("86401", now), Some(secs(86_400)));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(secs(86_400))
        );
    }

    #[test]
    fn parse_retry_after_reads_the_three_http_date_formats() {
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777.
        let now = SystemTime::UNIX_EPOCH + secs(784_111_777 - 90);
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(date, now), Some(secs(90)), "{date}");
        }
    }

    #[test]
    fn parse_retry_after_clamps_dates_and_a_past_date_is_one_second() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let at = SystemTime::UNIX_EPOCH + secs(784_111_777);
        assert_eq!(parse_retry_after(date, at + secs(3600)), Some(secs(1)));
        assert_eq!(parse_retry_after(date, at), Some(secs(1)));
        assert_eq!(
            parse_retry_after(date, at - secs(3 * 86_400)),
            Some(secs(86_400))
        );
    }

    #[test]
    fn parse_retry_after_rejects_anything_else() {
        let now = SystemTime::UNIX_EPOCH;
        for value in [
            "",
            " ",
            "-5",
            "1.5",
            "+3",
            "soon",
            "Sun, 06 Nov 1994",
            "１２",
        ] {
            assert_eq!(parse_retry_after(value, now), None, "{value:?}");
        }
    }

    #[test]
    fn progress_resets_the_failure_count_and_the_backoff() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        fail(&mut s, &p, t0 + secs(1));
        fail(&mut s, &p, t0 + secs(2));
        assert_eq!(s.consecutive_failures(), 2);
        s.on_progress(t0 + secs(3));
        assert_eq!(s.consecutive_failures(), 0);
        assert_eq!(s.since_progress(t0 + secs(5)), secs(2));
        // The next attempt makes none.
        s.begin_attempt();
        assert_eq!(fail(&mut s, &p, t0 + secs(5)), retry(secs(1)));
    }

    #[test]
    fn progress_restarts_the_no_progress_clock() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for _ in 0..4 {
            fail(&mut s, &p, t0 + secs(1));
        }
        s.on_progress(t0 + secs(500));
        s.begin_attempt();
        for _ in 0..4 {
            fail(&mut s, &p, t0 + secs(1000));
        }
        // 5 failures in a row, 600 s after the start but only 500 s after the progress.
        assert_ne!(fail(&mut s, &p, t0 + secs(1000)), Decision::GiveUp);
        assert_eq!(fail(&mut s, &p, t0 + secs(1100)), Decision::GiveUp);
    }

    #[test]
    fn attempts_used_up_before_the_timeout_still_retry() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for n in 1..=4 {
            fail(&mut s, &p, t0 + secs(n));
        }
        // The 5th and later failures: attempts used up, 600 s not passed.
        assert_eq!(fail(&mut s, &p, t0 + secs(5)), retry(secs(16)));
        assert_eq!(fail(&mut s, &p, t0 + secs(21)), retry(secs(32)));
        assert_eq!(fail(&mut s, &p, t0 + secs(53)), retry(secs(60)));
        assert_eq!(s.consecutive_failures(), 7);
    }

    #[test]
    fn the_timeout_passed_with_attempts_left_still_retries() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        let late = t0 + secs(3600);
        for expected in [1, 2, 4, 8] {
            assert_eq!(fail(&mut s, &p, late), retry(secs(expected)));
        }
    }

    #[test]
    fn attempts_used_up_and_the_timeout_passed_give_up() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for _ in 0..4 {
            fail(&mut s, &p, t0 + secs(600));
        }
        assert_eq!(fail(&mut s, &p, t0 + secs(600)), Decision::GiveUp);
    }

    #[test]
    fn with_attempts_used_up_the_next_try_is_never_later_than_the_timeout() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for _ in 0..4 {
            fail(&mut s, &p, t0 + secs(100));
        }
        // Backoff would be 16 s (or the 60 s cap later), but only 10 s are left: try at 600 s.
        assert_eq!(fail(&mut s, &p, t0 + secs(590)), retry(secs(10)));
        // That try fails: both hold, the request gives up.
        assert_eq!(fail(&mut s, &p, t0 + secs(600)), Decision::GiveUp);
    }

    #[test]
    fn without_a_no_progress_timeout_transient_failures_never_give_up() {
        let p = RetryPolicy {
            no_progress_timeout: None,
            ..RetryPolicy::default()
        };
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for n in 0..1000u64 {
            assert_ne!(fail(&mut s, &p, t0 + secs(n * 3600)), Decision::GiveUp);
        }
        assert_eq!(fail(&mut s, &p, t0 + secs(1 << 40)), retry(secs(60)));
    }

    #[test]
    fn fatal_failures_give_up_at_once() {
        let p = RetryPolicy {
            no_progress_timeout: None,
            ..RetryPolicy::default()
        };
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        assert_eq!(
            s.on_failure(&p, t0, FailureKind::Fatal, 0.0, Some(secs(5))),
            Decision::GiveUp
        );
        s.freeze(t0);
        assert_eq!(
            s.on_failure(&p, t0, FailureKind::Fatal, 0.0, None),
            Decision::GiveUp,
            "offline too"
        );
    }

    #[test]
    fn is_retryable_status_lists_the_six_transient_statuses() {
        let retryable: Vec<u16> = (100..=999).filter(|&c| is_retryable_status(c)).collect();
        assert_eq!(retryable, [408, 429, 500, 502, 503, 504]);
    }

    #[test]
    fn statuses_are_final_unless_retry_statuses_is_on() {
        let off = RetryPolicy::default();
        let on = RetryPolicy {
            retry_statuses: true,
            ..RetryPolicy::default()
        };
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for code in [503, 429, 404, 501, 200] {
            let d = s.on_failure(&off, t0, FailureKind::Status(code), 0.0, None);
            assert_eq!(d, Decision::GiveUp, "{code} with retry_statuses off");
        }
        for code in [404, 400, 501, 505, 301] {
            let d = s.on_failure(&on, t0, FailureKind::Status(code), 0.0, None);
            assert_eq!(d, Decision::GiveUp, "{code} is never transient");
        }
        assert_eq!(s.consecutive_failures(), 0);
        let d = s.on_failure(&on, t0, FailureKind::Status(503), 0.0, None);
        assert_eq!(d, retry(secs(1)));
        let d = s.on_failure(&on, t0, FailureKind::Status(429), 0.0, Some(secs(30)));
        assert_eq!(d, retry(secs(30)));
        assert_eq!(s.consecutive_failures(), 2);
    }

    #[test]
    fn time_frozen_is_left_out_of_the_no_progress_clock() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        s.freeze(t0 + secs(100));
        assert!(s.is_frozen());
        assert_eq!(s.since_progress(t0 + secs(5000)), secs(100), "stands still");
        s.thaw(t0 + secs(5000));
        assert!(!s.is_frozen());
        assert_eq!(s.since_progress(t0 + secs(5050)), secs(150));
        for _ in 0..4 {
            fail(&mut s, &p, t0 + secs(5050));
        }
        // 5 failures, 5550 s after the start but 550 s online: still retried.
        assert_ne!(fail(&mut s, &p, t0 + secs(5450)), Decision::GiveUp);
        assert_eq!(fail(&mut s, &p, t0 + secs(5500)), Decision::GiveUp);
    }

    #[test]
    fn failures_while_frozen_do_not_count_and_retry_at_thaw() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        fail(&mut s, &p, t0);
        s.freeze(t0 + secs(1));
        s.freeze(t0 + secs(2)); // a second freeze changes nothing
        for _ in 0..10 {
            assert_eq!(fail(&mut s, &p, t0 + secs(10_000)), retry(Duration::ZERO));
        }
        assert_eq!(s.consecutive_failures(), 1);
        s.thaw(t0 + secs(10_001));
        s.thaw(t0 + secs(10_002)); // neither does a second thaw
                                   // Online: [0 s, 1 s] and [10 001 s, 10 002 s].
        assert_eq!(s.since_progress(t0 + secs(10_002)), secs(2));
        assert_eq!(fail(&mut s, &p, t0 + secs(10_002)), retry(secs(2)));
    }

    #[test]
    fn progress_while_frozen_restarts_the_clock_at_that_moment() {
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        s.freeze(t0 + secs(10));
        s.on_progress(t0 + secs(20));
        assert_eq!(s.since_progress(t0 + secs(500)), Duration::ZERO);
        s.thaw(t0 + secs(500));
        assert_eq!(s.since_progress(t0 + secs(530)), secs(30));
    }

    #[test]
    fn malformed_answers_give_up_after_the_attempts_whatever_the_timeout() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for expected in [1, 2, 4, 8] {
            let d = s.on_failure(&p, t0, FailureKind::Malformed, 0.0, None);
            assert_eq!(d, retry(secs(expected)));
        }
        assert_eq!(
            s.on_failure(&p, t0, FailureKind::Malformed, 0.0, None),
            Decision::GiveUp,
            "600 s have not passed: a server that answers wrongly is not an outage"
        );
    }

    #[test]
    fn malformed_answers_count_since_the_last_progress_only() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        for _ in 0..4 {
            s.on_failure(&p, t0, FailureKind::Malformed, 0.0, None);
        }
        // Network failures in between do not end it, nor count as malformed.
        assert_ne!(fail(&mut s, &p, t0), Decision::GiveUp);
        s.on_progress(t0 + secs(1));
        s.begin_attempt();
        for _ in 0..4 {
            assert_ne!(
                s.on_failure(&p, t0 + secs(2), FailureKind::Malformed, 0.0, None),
                Decision::GiveUp
            );
        }
        assert_eq!(
            s.on_failure(&p, t0 + secs(2), FailureKind::Malformed, 0.0, None),
            Decision::GiveUp
        );
    }

    #[test]
    fn an_attempt_that_made_progress_is_followed_at_once_and_not_counted() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        fail(&mut s, &p, t0);
        fail(&mut s, &p, t0);
        s.begin_attempt();
        s.on_progress(t0 + secs(3));
        assert_eq!(fail(&mut s, &p, t0 + secs(4)), retry(Duration::ZERO));
        assert_eq!(s.consecutive_failures(), 0);
        // The next attempt made none: counted, the first backoff again.
        s.begin_attempt();
        assert_eq!(fail(&mut s, &p, t0 + secs(5)), retry(secs(1)));
        // A Retry-After is honoured even after progress.
        s.begin_attempt();
        s.on_progress(t0 + secs(6));
        let d = s.on_failure(&p, t0 + secs(6), FailureKind::Transient, 0.0, Some(secs(7)));
        assert_eq!(d, retry(secs(7)));
    }

    #[test]
    fn progress_in_an_earlier_attempt_does_not_make_the_next_failure_free() {
        let p = RetryPolicy::default();
        let t0 = Instant::now();
        let mut s = RetryState::new(t0);
        s.on_progress(t0);
        // The attempt was stopped (paused) without a failure; the next one makes no progress.
        s.begin_attempt();
        assert_eq!(fail(&mut s, &p, t0 + secs(1)), retry(secs(1)));
    }
}
