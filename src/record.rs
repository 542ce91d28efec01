//! A record: a request and its response; and the Cache API's matching rules.

use std::sync::Arc;

use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::store::{LineAt, StoredRequest};

/// A record's live state, kept inside its registration.
#[derive(Debug, Clone)]
pub struct LiveRecord {
    /// The request.
    pub request: Arc<StoredRequest>,
    /// The response head, once known (and, with integrity metadata, once the body is verified),
    /// while it is kept in memory: a complete record's head is dropped once its line is in the
    /// head log (`head_line`), and read from there when asked for.
    pub head: Option<Arc<ResponseHead>>,
    /// Where the head's line is in the head log, once written, and what the record's state
    /// needs of the head when it is no longer in memory.
    pub(crate) head_line: Option<HeadLineAt>,
    /// Body bytes stored so far.
    pub stored: u64,
    /// The most body bytes stored in this session (a body restarted from zero makes progress
    /// only past this mark).
    pub high_water: u64,
    /// Body bytes received and counted (reserved) but not yet stored: they are being written.
    pub reserved: u64,
    /// How it stands.
    pub outcome: Outcome,
    /// Request body bytes sent in the current attempt.
    pub uploaded: u64,
    /// The body is complete and waits for the sync thread to make it durable.
    pub syncing: bool,
    /// The transfer of the whole record (its request from byte 0, or a single-stream resume).
    pub(crate) whole: Turn,
    /// Attempts made for it in this session.
    pub attempts: u32,
    /// The last failed attempt's message.
    pub last_error: Option<String>,
    /// When that failure came, in its fetch's order of failures; 0 once the record made
    /// progress after it (the fetch's last error is the latest of its records' current ones).
    pub error_seq: u64,
    /// Whether the head may be shown (false while integrity is unchecked, or after a failure).
    pub exposed: bool,
    /// Its body's ranges and their transfers, when it is fetched over several connections
    /// (boxed: most records never are, and a fetch may hold many thousands of records).
    pub(crate) split: Option<Box<Split>>,
    /// Its body is not split again in this session (a split was given up: the server did not
    /// answer a range as it had promised).
    pub(crate) no_split: bool,
}

/// Where a head's line is in its registration's head log (its JSON: `len` bytes at `at`), and
/// what a record needs of the head while the head is not in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadLineAt {
    pub(crate) line: LineAt,
    pub(crate) status: u16,
    pub(crate) total_len: Option<u64>,
}

impl HeadLineAt {
    /// `head`'s line, at `line`.
    pub(crate) fn of(head: &ResponseHead, line: LineAt) -> HeadLineAt {
        HeadLineAt {
            line,
            status: head.status,
            total_len: head.total_len,
        }
    }
}

/// The turn of one transfer (a whole record's, or one range's): whether a worker runs it, and
/// its retries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Turn {
    /// A worker transfers it now.
    pub(crate) busy: bool,
    /// It waits in the delay queue for its next attempt.
    pub(crate) waiting: bool,
    /// Its last attempt failed (the next one counts as another attempt of the record).
    pub(crate) failed: bool,
    /// Where its retries stand (from its first attempt on).
    pub(crate) retry: Option<crate::retry::RetryState>,
    /// When its next attempt is due, while it waits for it.
    pub(crate) retry_due: Option<std::time::Instant>,
}

/// A body fetched over several connections: its ranges ([`crate::segments::Segments`]), the
/// turn of each, and how far its stored form (the map in the head log) has come.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    /// The ranges.
    pub(crate) segments: crate::segments::Segments,
    /// The turn of each range, by the same index.
    pub(crate) turns: Vec<Turn>,
    /// Stored bytes at the last map snapshot taken for a checkpoint.
    pub(crate) snapshot: u64,
    /// Stored bytes the last map written claims.
    pub(crate) mapped: u64,
    /// The split was given up (a range's answer did not fit the body): the ranges stop, and
    /// once the last of them ended the body starts again from zero over one connection.
    pub(crate) abandoned: bool,
    /// Every range is stored and one transfer completes the body.
    pub(crate) completing: bool,
}

impl Split {
    /// The ranges of `segments`, none transferred yet.
    pub(crate) fn new(segments: crate::segments::Segments) -> Split {
        let turns = vec![Turn::default(); segments.ranges.len()];
        let stored = segments.stored();
        Split {
            segments,
            turns,
            snapshot: stored,
            mapped: stored,
            abandoned: false,
            completing: false,
        }
    }

    /// Whether a transfer works on one of its ranges.
    pub(crate) fn busy(&self) -> bool {
        self.turns.iter().any(|t| t.busy)
    }

    /// Whether it only waits for retries: no range is transferred or queued, and one waits
    /// for its next attempt.
    fn waits(&self) -> bool {
        let mut any = false;
        for (turn, range) in self.turns.iter().zip(&self.segments.ranges) {
            if turn.busy || (!range.done() && !turn.waiting) {
                return false;
            }
            any |= turn.waiting;
        }
        any
    }

    /// The ranges a restored split still fetches; when every range is stored, range 0 (its
    /// transfer completes the body).
    pub(crate) fn ranges_to_fetch(&self) -> impl Iterator<Item = usize> + '_ {
        let all_done = self.segments.complete();
        let ranges = self.segments.ranges.iter().enumerate();
        ranges
            .filter(move |(k, r)| !r.done() || (all_done && *k == 0))
            .map(|(k, _)| k)
    }

    /// Body bytes readable at `offset`: up to the end of the stored part of the range it is in.
    fn readable_at(&self, offset: u64) -> u64 {
        self.segments
            .ranges
            .iter()
            .find(|r| r.start <= offset && offset < r.next)
            .map_or(0, |r| r.next - offset)
    }
}

impl LiveRecord {
    /// Whether a transfer works on it (the record's, or one of its ranges').
    pub(crate) fn transferring(&self) -> bool {
        self.whole.busy || self.split.as_deref().is_some_and(Split::busy)
    }

    /// Whether it waits for its next attempt (the record, or its ranges while none of them is
    /// transferred or queued).
    pub(crate) fn waits(&self) -> bool {
        self.whole.waiting || self.split.as_deref().is_some_and(Split::waits)
    }

    /// When its next attempt is due, while it waits (its earliest range's, when split).
    pub(crate) fn retry_due(&self) -> Option<std::time::Instant> {
        self.turns().filter_map(|t| t.retry_due).min()
    }

    /// Its turns: the whole record's and its ranges'.
    pub(crate) fn turns(&self) -> impl Iterator<Item = &Turn> {
        std::iter::once(&self.whole).chain(self.split.iter().flat_map(|s| s.turns.iter()))
    }

    /// Its turns, to change.
    pub(crate) fn turns_mut(&mut self) -> impl Iterator<Item = &mut Turn> {
        std::iter::once(&mut self.whole)
            .chain(self.split.iter_mut().flat_map(|s| s.turns.iter_mut()))
    }

    /// The turn of the whole record (`None`) or of range `k`, if it has that range.
    pub(crate) fn turn_mut(&mut self, range: Option<usize>) -> Option<&mut Turn> {
        match range {
            None => Some(&mut self.whole),
            Some(k) => self.split.as_mut()?.turns.get_mut(k),
        }
    }

    /// Body bytes a reader finds stored at `offset`, one after the other.
    pub(crate) fn readable_at(&self, offset: u64) -> u64 {
        match &self.split {
            Some(split) => split.readable_at(offset),
            None => self.stored.saturating_sub(offset),
        }
    }

    /// Whether every byte of the response body has arrived (the head announced a length and
    /// that many bytes are stored or being written: the host may have seen them counted).
    pub fn all_bytes_arrived(&self) -> bool {
        let arrived = self.stored + self.reserved;
        self.total_len().is_some_and(|t| t > 0 && t == arrived)
    }

    /// Whether its response head says 200..=299 (false without a head).
    pub fn head_ok(&self) -> bool {
        match (&self.head, &self.head_line) {
            (Some(h), _) => h.ok(),
            (None, Some(line)) => (200..=299).contains(&line.status),
            (None, None) => false,
        }
    }

    /// The body length its response head announced.
    pub fn total_len(&self) -> Option<u64> {
        match (&self.head, &self.head_line) {
            (Some(h), _) => h.total_len,
            (None, Some(line)) => line.total_len,
            (None, None) => None,
        }
    }

    /// Its head's line was written to the head log at `at`: noted, so that the head can leave
    /// memory once the record is complete.
    pub(crate) fn head_written(&mut self, at: HeadLineAt) {
        if self.head.is_some() {
            self.head_line = Some(at);
        }
    }

    /// Drops the head from memory if the record is complete and the head is in the head log
    /// (a fetch of many small bodies held a few hundred bytes of headers per record). A head
    /// with `Vary` stays: matching (`matches`) reads it under the registration's lock.
    pub(crate) fn shelve_head(&mut self) {
        let keep = self.outcome != Outcome::Done
            || self.head_line.is_none()
            || self
                .head
                .as_ref()
                .is_some_and(|h| h.headers().any(|(n, _)| n.eq_ignore_ascii_case("vary")));
        if !keep {
            self.head = None;
        }
    }

    /// A record whose request has not been made yet.
    pub fn new(request: Arc<StoredRequest>) -> LiveRecord {
        LiveRecord {
            exposed: request.integrity.is_none(),
            request,
            head: None,
            head_line: None,
            stored: 0,
            high_water: 0,
            reserved: 0,
            outcome: Outcome::Pending,
            uploaded: 0,
            syncing: false,
            whole: Turn::default(),
            attempts: 0,
            last_error: None,
            error_seq: 0,
            split: None,
            no_split: false,
        }
    }
}

/// A record's request as the host sees it (the stored request: URL resolved, method and
/// headers normalized); its body is read with [`crate::Registration::read_request_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRequest {
    /// Absolute URL, without fragment.
    pub url: String,
    /// Method.
    pub method: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Length of the request body, 0 for none.
    pub body_len: u64,
}

/// The Cache API's query options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Ignore the query string of both URLs.
    pub ignore_search: bool,
    /// Match records of any method, with a query of any method.
    pub ignore_method: bool,
    /// Do not compare the headers named by the response's `Vary`.
    pub ignore_vary: bool,
}

/// A query: what a host matches records against.
#[derive(Debug, Clone)]
pub struct Query {
    /// Absolute URL, fragment removed.
    pub url: url::Url,
    /// Method.
    pub method: String,
    /// Headers (for `Vary`).
    pub headers: Vec<(String, String)>,
}

fn is_get_or_head(m: &str) -> bool {
    m == "GET" || m == "HEAD"
}

fn url_key(url: &url::Url, ignore_search: bool) -> url::Url {
    let mut u = url.clone();
    u.set_fragment(None);
    if ignore_search {
        u.set_query(None);
    }
    u
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a record matches a query, by the Cache API's "request matches cached item".
pub fn matches(query: &Query, record: &LiveRecord, opts: QueryOptions) -> bool {
    if !opts.ignore_method
        && (!is_get_or_head(&query.method) || !is_get_or_head(&record.request.method))
    {
        return false;
    }
    let Ok(rec_url) = url::Url::parse(&record.request.url) else {
        return false;
    };
    if url_key(&query.url, opts.ignore_search) != url_key(&rec_url, opts.ignore_search) {
        return false;
    }
    if opts.ignore_vary {
        return true;
    }
    // A head that left memory has no `Vary` (`LiveRecord::shelve_head` keeps those).
    let Some(head) = record.head.as_ref().filter(|_| record.exposed) else {
        return true;
    };
    for (_, vary) in head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
    {
        for field in vary.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if field == "*" {
                return false;
            }
            if header_of(&query.headers, field) != header_of(&record.request.headers, field) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(url: &str, method: &str, headers: &[(&str, &str)], vary: Option<&str>) -> LiveRecord {
        let mut r = LiveRecord::new(Arc::new(StoredRequest {
            url: url.into(),
            method: method.into(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body_len: None,
            integrity: None,
        }));
        if let Some(v) = vary {
            r.head = Some(Arc::new(ResponseHead::new(200, url, &[("Vary", v)], None)));
        }
        r
    }

    #[test]
    fn a_complete_record_s_head_leaves_memory_once_logged_unless_it_varies() {
        let line = LineAt { at: 10, len: 20 };
        let shelved = |outcome: Outcome, vary: Option<&str>, logged: bool| {
            let mut r = rec("http://a/x", "GET", &[], vary);
            if vary.is_none() {
                let head = ResponseHead::new(404, "http://a/x", &[("etag", "\"1\"")], Some(7));
                r.head = Some(Arc::new(head));
            }
            let head = r.head.clone().unwrap();
            if logged {
                r.head_written(HeadLineAt::of(&head, line));
            }
            r.outcome = outcome;
            r.shelve_head();
            r
        };
        let r = shelved(Outcome::Done, None, true);
        assert!(r.head.is_none(), "dropped");
        assert_eq!(
            (r.head_ok(), r.total_len()),
            (false, Some(7)),
            "still known"
        );
        assert_eq!(r.head_line.unwrap().line, line);
        assert!(
            shelved(Outcome::Pending, None, true).head.is_some(),
            "not complete"
        );
        assert!(
            shelved(Outcome::Done, None, false).head.is_some(),
            "not logged"
        );
        let varies = shelved(Outcome::Done, Some("accept"), true);
        assert!(varies.head.is_some(), "matching reads it");
    }

    fn q(url: &str, method: &str, headers: &[(&str, &str)]) -> Query {
        Query {
            url: url::Url::parse(url).unwrap(),
            method: method.into(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_head_keeps_url_and_headers_in_order_and_round_trips_the_stored_form() {
        let h = ResponseHead::new(
            206,
            "http://h/final",
            &[
                ("ETag", "\"x\""),
                ("", ""),
                ("set-cookie", "a"),
                ("Set-Cookie", "b"),
            ],
            Some(9),
        );
        assert_eq!(h.url(), "http://h/final");
        assert_eq!(h.header_count(), 4);
        assert_eq!(h.header_at(1), Some(("", "")));
        assert_eq!(h.header_at(4), None);
        assert_eq!(h.header("set-cookie"), Some("a"));
        assert_eq!(h.strong_etag(), Some("\"x\""));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            json,
            r#"{"status":206,"url":"http://h/final","headers":[["ETag","\"x\""],["",""],["set-cookie","a"],["Set-Cookie","b"]],"total_len":9}"#
        );
        assert_eq!(serde_json::from_str::<ResponseHead>(&json).unwrap(), h);
        let none = ResponseHead::new::<&str, &str>(200, "", &[], None);
        assert_eq!((none.url(), none.header_count()), ("", 0));
    }

    #[test]
    fn url_fragment_ignored_and_search_optional() {
        let r = rec("http://h/a?x=1", "GET", &[], None);
        let o = QueryOptions::default();
        assert!(matches(&q("http://h/a?x=1#f", "GET", &[]), &r, o));
        assert!(!matches(&q("http://h/a?x=2", "GET", &[]), &r, o));
        let o = QueryOptions {
            ignore_search: true,
            ..o
        };
        assert!(matches(&q("http://h/a?x=2", "GET", &[]), &r, o));
    }

    #[test]
    fn non_get_matches_only_with_ignore_method() {
        let r = rec("http://h/a", "POST", &[], None);
        assert!(!matches(
            &q("http://h/a", "GET", &[]),
            &r,
            QueryOptions::default()
        ));
        assert!(!matches(
            &q("http://h/a", "POST", &[]),
            &r,
            QueryOptions::default()
        ));
        let o = QueryOptions {
            ignore_method: true,
            ..Default::default()
        };
        assert!(matches(&q("http://h/a", "GET", &[]), &r, o));
    }

    #[test]
    fn vary_compares_named_headers() {
        let r = rec(
            "http://h/a",
            "GET",
            &[("Accept-Language", "de")],
            Some("accept-language"),
        );
        let o = QueryOptions::default();
        assert!(matches(
            &q("http://h/a", "GET", &[("accept-language", "de")]),
            &r,
            o
        ));
        assert!(!matches(
            &q("http://h/a", "GET", &[("accept-language", "fr")]),
            &r,
            o
        ));
        assert!(!matches(&q("http://h/a", "GET", &[]), &r, o));
        let iv = QueryOptions {
            ignore_vary: true,
            ..o
        };
        assert!(matches(&q("http://h/a", "GET", &[]), &r, iv));
        let star = rec("http://h/a", "GET", &[], Some("*"));
        assert!(!matches(&q("http://h/a", "GET", &[]), &star, o));
        assert!(matches(&q("http://h/a", "GET", &[]), &star, iv));
    }
}
