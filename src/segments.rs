//! A body fetched over several connections at once (a segmented download, as aria2's
//! `--split`): its ranges, how it is split when the first response arrives, how a connection
//! that finished its range takes over half of the largest range left (aria2's way: a slow
//! connection never holds the end back), and which bytes are stored.
//!
//! Pure: no I/O, no clock, no lock. Each range is `[start, end)` of the body, of which
//! `[start, next)` is stored and `[next, claimed)` is being written; a range has at most one
//! transfer at a time. The stored form is the list of `(start, next, end)`.

use serde::{Deserialize, Serialize};

/// The least a segment gets: a body is split only into ranges of at least this many bytes, and
/// a range is taken over only when both halves keep at least this many.
pub(crate) const MIN_SEGMENT: u64 = 1 << 20;

/// How many more bytes a split body stores between two writes of its map (each after its data
/// is made durable): what a crash may make it fetch again, besides the bytes in flight.
pub(crate) const CHECKPOINT: u64 = MIN_SEGMENT;

/// The most segments a body may have at once.
pub(crate) const MAX_SEGMENTS: u32 = 16;

/// One range as stored: `[start, next)` is on disk, `[next, end)` still to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRange(pub u64, pub u64, pub u64);

/// One range of the body and its transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    /// Its first byte.
    pub start: u64,
    /// The first byte not stored yet.
    pub next: u64,
    /// The first byte not claimed by a write under way (`next..claimed` is being written).
    pub claimed: u64,
    /// Past its last byte (it shrinks when another connection takes over its second half).
    pub end: u64,
}

impl Range {
    /// Bytes still to fetch, counting those being written as fetched.
    fn left(&self) -> u64 {
        self.end - self.claimed
    }

    /// Whether every byte of it is stored.
    pub(crate) fn done(&self) -> bool {
        self.next == self.end
    }
}

/// The ranges of one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segments {
    /// The body's length.
    pub len: u64,
    /// The ranges, in the order they were made (not by position); together they cover the
    /// body exactly once.
    pub ranges: Vec<Range>,
}

impl Segments {
    /// How many segments a body of `len` bytes is split into with at most `max`: one per
    /// [`MIN_SEGMENT`] at most; fewer than 2 means no split.
    pub(crate) fn count_for(len: u64, max: u32) -> usize {
        let max = u64::from(max.min(MAX_SEGMENTS));
        (len / MIN_SEGMENT).min(max) as usize
    }

    /// `[0, len)` in `count` ranges of (nearly) equal size.
    pub(crate) fn split(len: u64, count: usize) -> Segments {
        let count = count.max(1) as u64;
        let ranges = (0..count)
            .map(|k| {
                let (start, end) = (len * k / count, len * (k + 1) / count);
                Range {
                    start,
                    next: start,
                    claimed: start,
                    end,
                }
            })
            .collect();
        Segments { len, ranges }
    }

    /// The ranges as stored, or `None` if they do not cover `[0, len)` exactly once with
    /// `start <= next <= end` (a damaged map: the body is fetched again).
    pub(crate) fn restore(len: u64, stored: &[StoredRange]) -> Option<Segments> {
        let mut sorted: Vec<StoredRange> = stored.to_vec();
        sorted.sort_by_key(|r| r.0);
        let mut at = 0;
        for &StoredRange(start, next, end) in &sorted {
            if start != at || next < start || end < next || end == start {
                return None;
            }
            at = end;
        }
        if at != len || sorted.is_empty() {
            return None;
        }
        Some(Segments {
            len,
            ranges: stored
                .iter()
                .map(|&StoredRange(start, next, end)| Range {
                    start,
                    next,
                    claimed: next,
                    end,
                })
                .collect(),
        })
    }

    /// The stored form: what is on disk (a write under way is not).
    pub(crate) fn stored_form(&self) -> Vec<StoredRange> {
        self.ranges
            .iter()
            .map(|r| StoredRange(r.start, r.next, r.end))
            .collect()
    }

    /// Body bytes stored.
    pub(crate) fn stored(&self) -> u64 {
        self.ranges.iter().map(|r| r.next - r.start).sum()
    }

    /// Whether every range is stored whole.
    pub(crate) fn complete(&self) -> bool {
        self.ranges.iter().all(Range::done)
    }

    /// Claims up to `n` bytes of range `k` for a write at its claimed end: how many may be
    /// written there (0: the range is done, or was taken over up to here).
    pub(crate) fn claim(&mut self, k: usize, n: u64) -> u64 {
        let r = &mut self.ranges[k];
        let n = n.min(r.left());
        r.claimed += n;
        n
    }

    /// A claim of `n` bytes of range `k` was not written.
    pub(crate) fn unclaim(&mut self, k: usize, n: u64) {
        let r = &mut self.ranges[k];
        r.claimed -= n;
    }

    /// `n` claimed bytes of range `k` are stored.
    pub(crate) fn commit(&mut self, k: usize, n: u64) {
        let r = &mut self.ranges[k];
        r.next += n;
        debug_assert!(r.next <= r.claimed);
    }

    /// A connection is free (its range is done): it takes over the second half of the range
    /// with the most bytes left among those a transfer works on (`busy`; a range that waits
    /// for its turn is fetched whole by whoever takes it), if both halves keep at least
    /// [`MIN_SEGMENT`]. Returns the new range's index.
    pub(crate) fn take_over(&mut self, busy: impl Fn(usize) -> bool) -> Option<usize> {
        let (k, left) = self
            .ranges
            .iter()
            .enumerate()
            .filter(|(k, _)| busy(*k))
            .map(|(k, r)| (k, r.left()))
            .max_by_key(|&(_, left)| left)?;
        if left < 2 * MIN_SEGMENT {
            return None;
        }
        let r = &mut self.ranges[k];
        let mid = r.claimed + left / 2;
        let end = std::mem::replace(&mut r.end, mid);
        self.ranges.push(Range {
            start: mid,
            next: mid,
            claimed: mid,
            end,
        });
        Some(self.ranges.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = MIN_SEGMENT;

    fn covers(s: &Segments) -> bool {
        Segments::restore(s.len, &s.stored_form()).is_some()
    }

    #[test]
    fn a_body_gets_one_segment_per_mebibyte_at_most() {
        assert_eq!(Segments::count_for(M - 1, 8), 0);
        assert_eq!(Segments::count_for(3 * M + 5, 8), 3);
        assert_eq!(Segments::count_for(64 * M, 8), 8);
        assert_eq!(Segments::count_for(64 * M, 99), 16, "at most MAX_SEGMENTS");
    }

    #[test]
    fn a_split_covers_the_body_once_in_equal_ranges() {
        let s = Segments::split(10 * M + 3, 4);
        assert!(covers(&s));
        let lens: Vec<u64> = s.ranges.iter().map(|r| r.end - r.start).collect();
        assert!(
            lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1,
            "{lens:?}"
        );
        assert_eq!(s.stored(), 0);
        assert!(!s.complete());
    }

    #[test]
    fn claims_stop_at_the_range_end_and_only_commits_count() {
        let mut s = Segments::split(2 * M, 2);
        assert_eq!(s.claim(0, 300), 300);
        assert_eq!(s.stored(), 0, "being written is not stored");
        s.commit(0, 300);
        assert_eq!(s.stored(), 300);
        assert_eq!(s.claim(0, 2 * M), M - 300, "never past its end");
        // A write that failed gives its claim back; the bytes may be claimed again.
        s.unclaim(0, M - 300);
        assert_eq!(
            s.stored_form()[0],
            StoredRange(0, 300, M),
            "only commits are stored"
        );
        assert_eq!(s.claim(0, M - 300), M - 300);
        s.commit(0, M - 300);
        assert!(s.ranges[0].done());
        assert_eq!(s.claim(0, 1), 0);
        assert!(!s.complete());
        assert_eq!(s.claim(1, M), M);
        s.commit(1, M);
        assert!(s.complete());
        assert_eq!(s.stored(), 2 * M);
    }

    #[test]
    fn a_done_connection_takes_over_half_of_the_largest_range_left() {
        let mut s = Segments::split(8 * M, 2); // [0, 4M) and [4M, 8M)
        s.claim(0, 4 * M);
        s.commit(0, 4 * M);
        s.claim(1, M);
        s.commit(1, M);
        // Range 1 has 3 MiB left: the new range takes its second half.
        let k = s.take_over(|k| k == 1).expect("3 MiB left: a take-over");
        assert_eq!(s.ranges[1].end, 6 * M + M / 2);
        assert_eq!((s.ranges[k].start, s.ranges[k].end), (6 * M + M / 2, 8 * M));
        assert!(covers(&s));
        // The range taken from stops at its new end.
        assert_eq!(s.claim(1, 8 * M), M + M / 2);
        s.commit(1, M + M / 2);
        assert!(s.ranges[1].done());
        // A write under way is never split: the middle is past what is claimed.
        assert_eq!(s.claim(k, M / 4), M / 4);
        assert!(s.take_over(|j| j == k).is_none(), "less than 2 MiB left");
        s.commit(k, M / 4);
        assert_eq!(s.claim(k, 8 * M), M + M / 4);
        s.commit(k, M + M / 4);
        assert!(s.complete() && covers(&s));
    }

    #[test]
    fn a_take_over_never_cuts_into_claimed_bytes() {
        let mut s = Segments::split(8 * M, 1);
        assert_eq!(s.claim(0, 2 * M), 2 * M); // being written, not stored yet
        let k = s.take_over(|_| true).expect("6 MiB left");
        assert_eq!(
            s.ranges[k].start,
            5 * M,
            "half of what is left after the claim"
        );
        assert_eq!(s.ranges[0].end, 5 * M);
        s.commit(0, 2 * M);
        assert!(covers(&s));
    }

    #[test]
    fn only_a_busy_range_is_taken_from() {
        let mut s = Segments::split(8 * M, 2);
        assert!(
            s.take_over(|_| false).is_none(),
            "a range that waits is fetched whole"
        );
    }

    #[test]
    fn a_damaged_map_is_refused() {
        let ok = [StoredRange(0, 10, M), StoredRange(M, M, 2 * M)];
        assert!(Segments::restore(2 * M, &ok).is_some());
        for bad in [
            vec![StoredRange(0, 10, M)], // a gap at the end
            vec![StoredRange(0, 10, M), StoredRange(M - 1, M, 2 * M)], // an overlap
            vec![StoredRange(0, M + 1, M), StoredRange(M, M, 2 * M)], // next past end
            vec![],
        ] {
            assert!(Segments::restore(2 * M, &bad).is_none(), "{bad:?}");
        }
        let restored = Segments::restore(2 * M, &ok).unwrap();
        assert_eq!(restored.stored(), 10);
        assert_eq!(
            restored.ranges[0].claimed, 10,
            "nothing is being written after a restore"
        );
    }
}
