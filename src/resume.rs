//! What a record's next request asks for, and what the server's answer means for the body
//! already stored: the rules that keep a stored body the server's, byte for byte (API.md,
//! "Network reality").
//!
//! Pure: no I/O, no clock, no lock. The transfer asks [`plan`] what to send, [`judge`] what the
//! answer's head means once it arrives, and [`judge_end`] whether the body it streamed is
//! complete; it only carries out the answers.
//!
//! The rules:
//! - A body resumes (GET, a stored 200 or 206, a validator for `If-Range`) with ONE `Range`
//!   header: the stored record's own range narrowed by what is stored (`bytes=start+stored-end`
//!   for a 206, `bytes=stored-` for a 200). It replaces the host's `Range`, never adds to it.
//!   Anything else starts again from byte 0, with the host's headers as given.
//! - Only the answer to a request from byte 0 is the record's response. The length stored for
//!   it is its body's: a 206's Content-Length (or its Content-Range's span), never the
//!   Content-Range total.
//! - The answer to a resume continues the body only if it is a 206 that starts exactly at the
//!   stored end, inside the record's span, with the same validators and total. A 416 says the
//!   body was already complete when the stored length is the whole. A 200 is a new response
//!   (the representation changed) — unless it cannot be: an empty 200 with the same validators
//!   to a body that had bytes, or a 200 to the resume of a part (206), restart from zero. Any
//!   other status (408, 429, 5xx, 404, ...) refuses this resume for now: the stored bytes and
//!   head stay, and the attempt failed transiently.
//! - A body with a length is complete when that many bytes arrived; a body without one
//!   (close-delimited, or chunked) only at a clean end from the server: a reset, an error or a
//!   stop of ours cuts it.

use crate::head::ResponseHead;

/// What the next request of a record asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    /// How many stored body bytes the request continues after (0: from the start).
    pub offset: u64,
    /// The `Range` header sent in place of the host's own (`None`: the host's headers as they
    /// are).
    pub range: Option<String>,
    /// The `If-Range` validator sent with `range`.
    pub if_range: Option<String>,
}

impl Ask {
    /// A request from byte 0, as the host made it.
    pub(crate) fn from_start() -> Ask {
        Ask {
            offset: 0,
            range: None,
            if_range: None,
        }
    }
}

/// Where a record's body lies in the server's representation (what its stored head says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// The position of its first byte.
    start: u64,
    /// The position of its last byte, when known.
    last: Option<u64>,
    /// The representation's complete length, when known.
    complete: Option<u64>,
}

impl Span {
    /// The span of a stored head that a resume can continue: a 200 (the whole representation)
    /// or a 206 with a Content-Range.
    fn of(head: &ResponseHead) -> Option<Span> {
        match head.status {
            200 => Some(Span {
                start: 0,
                last: head.total_len.and_then(|t| t.checked_sub(1)),
                complete: head.total_len,
            }),
            206 => {
                let (start, last, complete) =
                    head.header("content-range").and_then(parse_content_range)?;
                Some(Span {
                    start,
                    last: Some(last),
                    complete,
                })
            }
            _ => None,
        }
    }
}

/// The value for `If-Range`: a strong ETag, else Last-Modified.
fn if_range_validator(head: &ResponseHead) -> Option<&str> {
    head.strong_etag().or_else(|| head.header("last-modified"))
}

/// What the next request of a record asks for: a resume after the `stored` bytes of the body
/// whose head is `head`, where the rules allow it; else a request from byte 0.
pub(crate) fn plan(method: &str, stored: u64, head: Option<&ResponseHead>) -> Ask {
    let Some(head) = head.filter(|_| stored > 0 && method == "GET") else {
        return Ask::from_start();
    };
    let (Some(span), Some(validator)) = (Span::of(head), if_range_validator(head)) else {
        return Ask::from_start();
    };
    let Some(from) = span.start.checked_add(stored) else {
        return Ask::from_start();
    };
    let range = match span.last {
        Some(last) if head.status == 206 => format!("bytes={from}-{last}"),
        _ => format!("bytes={from}-"),
    };
    Ask {
        offset: stored,
        range: Some(range),
        if_range: Some(validator.to_string()),
    }
}

/// Whether the body of `head` (a response to a GET from byte 0, with the host's
/// `request_headers`) may be fetched in ranges over several connections: a 200 with a length,
/// `Accept-Ranges: bytes`, a validator for `If-Range`, and no `Range` of the host's (whose
/// answer is the record's response as it is).
pub(crate) fn may_split(
    method: &str,
    request_headers: &[(String, String)],
    head: &ResponseHead,
) -> bool {
    let ranges_ok = head.header("accept-ranges").is_some_and(|v| {
        v.split(',')
            .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"))
    });
    let host_range = request_headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("range"));
    method == "GET"
        && head.status == 200
        && head.total_len.is_some()
        && ranges_ok
        && if_range_validator(head).is_some()
        && !host_range
}

/// The request for bytes `[start, end)` of the body of `head` (a range of a split body):
/// `Range: bytes=start-(end-1)` with `If-Range`, or `None` without a validator.
pub(crate) fn ask_range(head: &ResponseHead, start: u64, end: u64) -> Option<Ask> {
    let validator = if_range_validator(head)?;
    let last = end.checked_sub(1).filter(|&l| l >= start)?;
    Some(Ask {
        offset: start,
        range: Some(format!("bytes={start}-{last}")),
        if_range: Some(validator.to_string()),
    })
}

/// What the answer to the request of a range means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RangeVerdict {
    /// A 206 for the range, of the same body: its bytes go in place, up to `end` (before the
    /// range's end if the answer is short).
    Continue {
        /// Past the answer's last byte, counted in the body.
        end: u64,
    },
    /// The server refused the range for now (a status other than 200, 206 or 416): the range
    /// keeps its stored bytes; the attempt failed transiently.
    Refused {
        /// The answer's status.
        status: u16,
    },
    /// The answer does not fit the body (a 200: the body changed and `If-Range` failed, or
    /// the server ignores `Range`; a 206 of other validators, another length or another
    /// place; a 416): the split is given up and the body fetched again from zero.
    Abandon(&'static str),
}

/// What `answer` (with its Content-Length, if framed by one) means for the range `[start,
/// end)` of the body of `head`.
pub(crate) fn judge_range(
    head: &ResponseHead,
    (start, end): (u64, u64),
    answer: &ResponseHead,
    content_length: Option<u64>,
) -> RangeVerdict {
    match answer.status {
        206 => {
            let fits = answer
                .header("content-range")
                .and_then(parse_content_range)
                .filter(|&(first, last, total)| {
                    first == start
                        && last < end
                        && total.is_some()
                        && total == head.total_len
                        && content_length.is_none_or(|l| l == last - first + 1)
                        && same_validators(head, answer)
                });
            match fits {
                Some((_, last, _)) => RangeVerdict::Continue { end: last + 1 },
                None => RangeVerdict::Abandon(
                    "a range's answer did not fit the body (it changed on the server?)",
                ),
            }
        }
        200 => RangeVerdict::Abandon(
            "the server answered a range with a whole body (it changed, or ignores Range)",
        ),
        416 => RangeVerdict::Abandon("the server says a range is out of the body"),
        status => RangeVerdict::Refused { status },
    }
}

/// What an answer means for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The answer is the record's response: its head is stored (with `len` as its body's
    /// length, when known) and its body replaces anything stored.
    Response {
        /// The length of its body, when known (0 for a response without a body).
        len: Option<u64>,
    },
    /// The answer continues the stored body. Its bytes end the body at `end` (when known;
    /// a short 206 ends it before `complete`); the whole body is `complete` bytes long.
    Continue {
        /// Where this answer's bytes end, counted in the record's body.
        end: Option<u64>,
        /// The record's whole body length, when known.
        complete: Option<u64>,
    },
    /// The stored body was already complete (a 416 to a resume at its end).
    Complete,
    /// The server refused this resume for now (a status other than 200, 206 or 416): the
    /// stored bytes and head stay; the attempt failed transiently.
    Refused {
        /// The answer's status.
        status: u16,
    },
    /// The answer can neither continue nor replace the stored body: start again from zero
    /// (a failed attempt).
    Restart(&'static str),
}

/// What the head of an answer to `ask` means, for a record whose stored head is `prev` (the
/// head of the last response from byte 0, if any). `has_body`: whether the answer may carry a
/// body (not for HEAD, 1xx, 204, 304); `content_length`: its Content-Length, if framed by one.
pub(crate) fn judge(
    ask: &Ask,
    prev: Option<&ResponseHead>,
    answer: &ResponseHead,
    content_length: Option<u64>,
    has_body: bool,
) -> Verdict {
    let resumed = prev
        .filter(|_| ask.offset > 0)
        .and_then(|p| Some((p, Span::of(p)?)));
    let Some((prev, span)) = resumed else {
        return Verdict::Response {
            len: response_len(answer, content_length, has_body),
        };
    };
    match answer.status {
        206 => continue_206(ask.offset, prev, span, answer, content_length),
        416 if prev.total_len == Some(ask.offset) => Verdict::Complete,
        416 => Verdict::Restart("the server says the stored part is out of its range"),
        200 if prev.status == 206 => {
            Verdict::Restart("the server answered the resume of a part with a whole response")
        }
        200 if content_length == Some(0) && same_validators(prev, answer) => {
            Verdict::Restart("the server answered the resume of a body with an empty response")
        }
        200 => Verdict::Response {
            len: response_len(answer, content_length, has_body),
        },
        status => Verdict::Refused { status },
    }
}

/// The body length of a response from byte 0: 0 without a body; a 206's Content-Length or
/// Content-Range span (never its total); else the Content-Length.
fn response_len(answer: &ResponseHead, content_length: Option<u64>, has_body: bool) -> Option<u64> {
    if !has_body {
        return Some(0);
    }
    if answer.status == 206 && content_length.is_none() {
        let (start, last, _) = answer
            .header("content-range")
            .and_then(parse_content_range)?;
        return Some(last - start + 1);
    }
    content_length
}

/// A 206 to a resume after `offset` stored bytes of `prev`'s body (`span`).
fn continue_206(
    offset: u64,
    prev: &ResponseHead,
    span: Span,
    answer: &ResponseHead,
    content_length: Option<u64>,
) -> Verdict {
    const NO: Verdict = Verdict::Restart("a partial response that does not continue the body");
    let Some((start, last, complete)) =
        answer.header("content-range").and_then(parse_content_range)
    else {
        return NO;
    };
    let fits = Some(start) == span.start.checked_add(offset)
        && span.last.is_none_or(|l| last <= l)
        && (span.complete.is_none() || complete.is_none() || span.complete == complete)
        && content_length.is_none_or(|l| l == last - start + 1)
        && same_validators(prev, answer);
    if !fits {
        return NO;
    }
    let whole_last = span.last.or(complete.and_then(|c| c.checked_sub(1)));
    Verdict::Continue {
        end: Some(last - span.start + 1),
        complete: whole_last.map(|l| l - span.start + 1),
    }
}

/// Whether `answer` has the validators `prev` had (ETag and Last-Modified, where `prev` had
/// them).
fn same_validators(prev: &ResponseHead, answer: &ResponseHead) -> bool {
    ["etag", "last-modified"].iter().all(|v| {
        prev.header(v)
            .is_none_or(|old| answer.header(v) == Some(old))
    })
}

/// How the reading of a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The server ended it: its length was reached, its last chunk came, or (without either)
    /// it closed the connection cleanly.
    Clean,
    /// The connection was reset or failed after the last byte read.
    Cut,
}

/// What a streamed body amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// The record's body is complete.
    Complete,
    /// This answer ended before the body did (a short 206): the next attempt continues.
    Short,
    /// The body was cut: the attempt failed.
    Cut(String),
}

/// Whether the body is complete now that `written` bytes of it are stored and this answer's
/// reading ended as `ending`. `end`: where this answer's bytes end the body, if known;
/// `complete`: the whole body's length, if known.
pub(crate) fn judge_end(
    written: u64,
    end: Option<u64>,
    complete: Option<u64>,
    ending: Ending,
) -> BodyEnd {
    match end {
        Some(end) if written < end => {
            BodyEnd::Cut(format!("the body ended after {written} of {end} bytes"))
        }
        _ if ending == Ending::Cut && end.is_none() => BodyEnd::Cut(format!(
            "the connection was cut after {written} bytes of a body without a length"
        )),
        _ if complete.is_some_and(|c| written < c) => BodyEnd::Short,
        _ => BodyEnd::Complete,
    }
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`).
pub fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, end, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: (&str, &str) = ("ETag", "\"v1\"");

    fn head(status: u16, headers: &[(&str, &str)], total_len: Option<u64>) -> ResponseHead {
        ResponseHead::new(status, "http://127.0.0.1/x", headers, total_len)
    }

    fn ok(len: u64) -> ResponseHead {
        head(200, &[ETAG], Some(len))
    }

    fn part(cr: &str, len: u64) -> ResponseHead {
        head(206, &[ETAG, ("Content-Range", cr)], Some(len))
    }

    fn resume(offset: u64) -> Ask {
        Ask {
            offset,
            range: Some(format!("bytes={offset}-")),
            if_range: Some("\"v1\"".into()),
        }
    }

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 5-10/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }

    #[test]
    fn nothing_stored_asks_from_the_start_as_the_host_asked() {
        assert_eq!(plan("GET", 0, Some(&ok(10))), Ask::from_start());
        assert_eq!(plan("GET", 5, None), Ask::from_start());
    }

    #[test]
    fn a_200_resumes_from_its_stored_end() {
        assert_eq!(plan("GET", 400, Some(&ok(1000))), resume(400));
        // Last-Modified when there is no strong ETag.
        let lm = head(
            200,
            &[
                ("ETag", "W/\"weak\""),
                ("Last-Modified", "Wed, 21 Oct 2015"),
            ],
            Some(1000),
        );
        assert_eq!(
            plan("GET", 1, Some(&lm)).if_range.as_deref(),
            Some("Wed, 21 Oct 2015")
        );
    }

    #[test]
    fn a_part_resumes_by_narrowing_its_own_range() {
        let p = part("bytes 100-4099/10000", 4000);
        let ask = plan("GET", 1000, Some(&p));
        assert_eq!(ask.offset, 1000);
        assert_eq!(ask.range.as_deref(), Some("bytes=1100-4099"));
    }

    #[test]
    fn no_resume_without_a_validator_for_other_methods_or_statuses() {
        let bare = head(200, &[], Some(10));
        assert_eq!(plan("GET", 5, Some(&bare)), Ask::from_start());
        assert_eq!(plan("POST", 5, Some(&ok(10))), Ask::from_start());
        let not_found = head(404, &[ETAG], Some(10));
        assert_eq!(plan("GET", 5, Some(&not_found)), Ask::from_start());
        let part_without_range = head(206, &[ETAG], Some(10));
        assert_eq!(plan("GET", 5, Some(&part_without_range)), Ask::from_start());
    }

    #[test]
    fn the_answer_from_byte_0_is_the_response_with_its_body_length() {
        let start = Ask::from_start();
        let v = judge(&start, None, &ok(0), Some(10), true);
        assert_eq!(v, Verdict::Response { len: Some(10) });
        // A 206 is stored with its own length, not the Content-Range total.
        let p = head(206, &[("Content-Range", "bytes 100-4099/10000")], None);
        assert_eq!(
            judge(&start, None, &p, Some(4000), true),
            Verdict::Response { len: Some(4000) }
        );
        assert_eq!(
            judge(&start, None, &p, None, true),
            Verdict::Response { len: Some(4000) }
        );
        // No length (close-delimited or chunked), and no body.
        assert_eq!(
            judge(&start, None, &ok(0), None, true),
            Verdict::Response { len: None }
        );
        assert_eq!(
            judge(&start, None, &ok(0), Some(10), false),
            Verdict::Response { len: Some(0) }
        );
        // A transient status from byte 0 is the response (the retry policy decides before).
        let busy = head(503, &[], None);
        assert_eq!(
            judge(&start, Some(&ok(10)), &busy, Some(3), true),
            Verdict::Response { len: Some(3) }
        );
    }

    #[test]
    fn a_206_at_the_stored_end_continues() {
        let prev = ok(1000);
        let a = part("bytes 400-999/1000", 600);
        assert_eq!(
            judge(&resume(400), Some(&prev), &a, Some(600), true),
            Verdict::Continue {
                end: Some(1000),
                complete: Some(1000)
            }
        );
        // A short 206 ends before the body does.
        let short = part("bytes 400-499/1000", 100);
        assert_eq!(
            judge(&resume(400), Some(&prev), &short, Some(100), true),
            Verdict::Continue {
                end: Some(500),
                complete: Some(1000)
            }
        );
    }

    #[test]
    fn a_206_that_does_not_fit_restarts() {
        let prev = ok(1000);
        for (cr, len, etag) in [
            ("bytes 401-999/1000", 599, "\"v1\""), // not at the stored end
            ("bytes 400-999/2000", 600, "\"v1\""), // another total
            ("bytes 400-999/1000", 600, "\"v2\""), // other validators
            ("bytes 400-999/1000", 10, "\"v1\""),  // Content-Length and range disagree
        ] {
            let a = head(206, &[("ETag", etag), ("Content-Range", cr)], None);
            assert!(
                matches!(
                    judge(&resume(400), Some(&prev), &a, Some(len), true),
                    Verdict::Restart(_)
                ),
                "{cr} {etag}"
            );
        }
        let no_range = head(206, &[ETAG], None);
        assert!(matches!(
            judge(&resume(400), Some(&prev), &no_range, Some(600), true),
            Verdict::Restart(_)
        ));
    }

    #[test]
    fn a_part_continues_inside_its_own_span_only() {
        let prev = part("bytes 100-4099/10000", 4000);
        let ask = plan("GET", 1000, Some(&prev));
        let fits = part("bytes 1100-4099/10000", 3000);
        assert_eq!(
            judge(&ask, Some(&prev), &fits, Some(3000), true),
            Verdict::Continue {
                end: Some(4000),
                complete: Some(4000)
            }
        );
        let past = part("bytes 1100-5099/10000", 4000);
        assert!(matches!(
            judge(&ask, Some(&prev), &past, Some(4000), true),
            Verdict::Restart(_)
        ));
        // A 200 to the resume of a part is not what the host asked for.
        assert!(matches!(
            judge(&ask, Some(&prev), &ok(10000), Some(10000), true),
            Verdict::Restart(_)
        ));
    }

    #[test]
    fn a_416_completes_only_a_body_stored_whole() {
        let prev = ok(1000);
        let a = head(416, &[("Content-Range", "bytes */1000")], None);
        assert_eq!(
            judge(&resume(1000), Some(&prev), &a, Some(0), true),
            Verdict::Complete
        );
        assert!(matches!(
            judge(&resume(400), Some(&prev), &a, Some(0), true),
            Verdict::Restart(_)
        ));
    }

    #[test]
    fn a_200_to_a_resume_replaces_the_body_unless_it_is_an_empty_copy() {
        let prev = ok(1000);
        let changed = head(200, &[("ETag", "\"v2\"")], None);
        assert_eq!(
            judge(&resume(400), Some(&prev), &changed, Some(1200), true),
            Verdict::Response { len: Some(1200) }
        );
        assert_eq!(
            judge(&resume(400), Some(&prev), &changed, Some(0), true),
            Verdict::Response { len: Some(0) },
            "a new, empty representation"
        );
        assert!(matches!(
            judge(&resume(400), Some(&prev), &ok(0), Some(0), true),
            Verdict::Restart(_)
        ));
    }

    #[test]
    fn any_other_status_to_a_resume_keeps_the_body() {
        let prev = ok(1000);
        for status in [408, 429, 500, 502, 503, 504, 404, 403, 304, 301] {
            let a = head(status, &[], None);
            assert_eq!(
                judge(&resume(900), Some(&prev), &a, Some(20), true),
                Verdict::Refused { status },
                "{status}"
            );
        }
    }

    #[test]
    fn a_body_is_complete_at_its_length_or_at_a_clean_end() {
        use BodyEnd::*;
        assert_eq!(judge_end(10, Some(10), Some(10), Ending::Clean), Complete);
        assert_eq!(
            judge_end(10, Some(10), Some(10), Ending::Cut),
            Complete,
            "every byte came"
        );
        assert!(matches!(
            judge_end(9, Some(10), Some(10), Ending::Clean),
            Cut(_)
        ));
        // Without a length: only a clean end completes it.
        assert_eq!(judge_end(7, None, None, Ending::Clean), Complete);
        assert!(matches!(judge_end(7, None, None, Ending::Cut), Cut(_)));
        // A short 206: this answer is whole, the body is not.
        assert_eq!(judge_end(500, Some(500), Some(1000), Ending::Clean), Short);
    }

    #[test]
    fn a_body_is_split_only_when_its_response_allows_ranges() {
        let ranges = ("Accept-Ranges", "bytes");
        let splittable = head(200, &[ETAG, ranges], Some(100));
        assert!(may_split("GET", &[], &splittable));
        let lm = head(
            200,
            &[("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"), ranges],
            Some(9),
        );
        assert!(
            may_split("GET", &[], &lm),
            "Last-Modified is a validator for If-Range"
        );
        let list = head(200, &[ETAG, ("accept-ranges", "none, Bytes")], Some(100));
        assert!(may_split("GET", &[], &list));
        let host_range = [("range".to_string(), "bytes=0-9".to_string())];
        for (why, method, headers, h) in [
            (
                "no Accept-Ranges",
                "GET",
                &[][..],
                head(200, &[ETAG], Some(100)),
            ),
            (
                "Accept-Ranges: none",
                "GET",
                &[][..],
                head(200, &[ETAG, ("Accept-Ranges", "none")], Some(100)),
            ),
            (
                "no length",
                "GET",
                &[][..],
                head(200, &[ETAG, ranges], None),
            ),
            (
                "no validator",
                "GET",
                &[][..],
                head(200, &[ranges], Some(100)),
            ),
            (
                "a weak ETag only",
                "GET",
                &[][..],
                head(200, &[("ETag", "W/\"w\""), ranges], Some(100)),
            ),
            (
                "a 206",
                "GET",
                &[][..],
                head(206, &[ETAG, ranges], Some(100)),
            ),
            ("not a GET", "POST", &[][..], splittable.clone()),
            (
                "the host's Range",
                "GET",
                &host_range[..],
                splittable.clone(),
            ),
        ] {
            assert!(!may_split(method, headers, &h), "{why}");
        }
    }

    #[test]
    fn a_range_asks_for_its_bytes_if_the_body_is_the_same() {
        let ask = ask_range(&ok(100), 10, 50).unwrap();
        assert_eq!(ask.range.as_deref(), Some("bytes=10-49"));
        assert_eq!(ask.if_range.as_deref(), Some("\"v1\""));
        assert_eq!(ask.offset, 10);
        assert!(ask_range(&ok(100), 10, 10).is_none(), "an empty range");
        assert!(
            ask_range(&head(200, &[], Some(100)), 0, 10).is_none(),
            "no validator"
        );
    }

    #[test]
    fn a_range_continues_only_with_a_206_of_the_same_body_at_its_place() {
        let body = ok(100);
        let answer = |cr: &str, headers: &[(&str, &str)]| {
            let mut h: Vec<(&str, &str)> = vec![("Content-Range", cr)];
            h.extend_from_slice(headers);
            head(206, &h, None)
        };
        let fits = answer("bytes 10-49/100", &[ETAG]);
        assert_eq!(
            judge_range(&body, (10, 50), &fits, Some(40)),
            RangeVerdict::Continue { end: 50 }
        );
        // A short 206 continues up to where it ends.
        let short = answer("bytes 10-29/100", &[ETAG]);
        assert_eq!(
            judge_range(&body, (10, 50), &short, None),
            RangeVerdict::Continue { end: 30 }
        );
        for (why, a, cl) in [
            ("another place", answer("bytes 11-49/100", &[ETAG]), None),
            ("past the range", answer("bytes 10-50/100", &[ETAG]), None),
            ("another length", answer("bytes 10-49/101", &[ETAG]), None),
            ("an unknown length", answer("bytes 10-49/*", &[ETAG]), None),
            (
                "another ETag",
                answer("bytes 10-49/100", &[("ETag", "\"v2\"")]),
                None,
            ),
            ("no ETag", answer("bytes 10-49/100", &[]), None),
            (
                "a wrong Content-Length",
                answer("bytes 10-49/100", &[ETAG]),
                Some(39),
            ),
            ("a whole body", ok(100), Some(100)),
            ("a 416", head(416, &[ETAG], None), None),
        ] {
            assert!(
                matches!(
                    judge_range(&body, (10, 50), &a, cl),
                    RangeVerdict::Abandon(_)
                ),
                "{why}"
            );
        }
        for status in [408, 429, 500, 503, 404] {
            assert_eq!(
                judge_range(&body, (10, 50), &head(status, &[], None), None),
                RangeVerdict::Refused { status }
            );
        }
    }
}
