//! A record: a request and its response; and the Cache API's matching rules.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::StoredRequest;

/// A response's status line and headers, as received (after redirects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Final URL, after redirects.
    pub url: String,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The complete length of the body, when the server said it.
    pub total_len: Option<u64>,
}

impl ResponseHead {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 200..=299.
    pub fn ok(&self) -> bool {
        (200..=299).contains(&self.status)
    }

    /// A strong ETag, usable for `If-Range`.
    pub fn strong_etag(&self) -> Option<&str> {
        self.header("etag").filter(|e| !e.starts_with("W/"))
    }
}

/// Where a record stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not finished yet (waiting, or being transferred).
    Pending,
    /// The whole response is stored.
    Done,
    /// The request failed (network error, integrity mismatch, or never made).
    Failed(String),
    /// The fetch stopped (abort, quota, download total) before this response was complete.
    Aborted,
}

/// A record's live state, kept inside its registration.
#[derive(Debug, Clone)]
pub struct RecordState {
    /// The request.
    pub request: Arc<StoredRequest>,
    /// The response head, once known (and, with integrity metadata, once the body is verified).
    pub head: Option<Arc<ResponseHead>>,
    /// Body bytes stored so far.
    pub stored: u64,
    /// How it stands.
    pub outcome: Outcome,
    /// Request body bytes sent in the current attempt.
    pub uploaded: u64,
    /// The body is complete and waits for the sync thread to make it durable.
    pub syncing: bool,
    /// Whether the head may be shown (false while integrity is unchecked, or after a failure).
    pub exposed: bool,
}

impl RecordState {
    /// A record whose request has not been made yet.
    pub fn new(request: Arc<StoredRequest>) -> RecordState {
        RecordState {
            exposed: request.integrity.is_none(),
            request,
            head: None,
            stored: 0,
            outcome: Outcome::Pending,
            uploaded: 0,
            syncing: false,
        }
    }
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
pub fn matches(query: &Query, record: &RecordState, opts: QueryOptions) -> bool {
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
    let Some(head) = record.head.as_ref().filter(|_| record.exposed) else {
        return true;
    };
    for vary in head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
    {
        for field in vary.1.split(',').map(str::trim).filter(|f| !f.is_empty()) {
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

    fn rec(url: &str, method: &str, headers: &[(&str, &str)], vary: Option<&str>) -> RecordState {
        let mut r = RecordState::new(Arc::new(StoredRequest {
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
            r.head = Some(Arc::new(ResponseHead {
                status: 200,
                url: url.into(),
                headers: vec![("Vary".into(), v.into())],
                total_len: None,
            }));
        }
        r
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
