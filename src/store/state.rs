//! The state file's format: what `state.json` holds ([`StoredState`]: the requests, options,
//! result and per-record outcomes), its versions and the migrations of older ones, how an
//! outcome is stored and what it restores to at open, and parsing it without ever panicking.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::request::Icon;

/// Version of the state file format that this library writes. Older versions are upgraded when
/// read, one step at a time, by `MIGRATIONS`; a newer version is refused (quarantined).
///
/// - 1 (0.1.0): no `paused`; a failed record's outcome is a bare `"failed"`.
/// - 2 (0.2.0): `paused`; a failed record keeps its message (`{"failed": "..."}`); result,
///   failure reason and integrity checked as they are parsed.
/// - 3 (0.3.0): the state file is the same; the bodies beside it are not: a body is written
///   as `<n>.body` from its first byte and the head log says when it is complete (in 2, a
///   partial body was `<n>.part` and `<n>.body` was complete). `Store::convert_bodies`
///   converts the files of a registration of format 2 or older when it is loaded.
pub const FORMAT_VERSION: u32 = 3;

/// `MIGRATIONS[v - 1]` upgrades a state file of format `v` to `v + 1`, on its JSON.
const MIGRATIONS: &[fn(&mut serde_json::Value)] = &[migrate_1_to_2, migrate_2_to_3];

/// 2 → 3: nothing in the state file (the bodies' files are converted by the store).
fn migrate_2_to_3(_state: &mut serde_json::Value) {}

/// 1 → 2: a fetch of 0.1 was never paused; its failed records did not keep their message.
fn migrate_1_to_2(state: &mut serde_json::Value) {
    if let Some(obj) = state.as_object_mut() {
        obj.insert("paused".into(), serde_json::Value::Bool(false));
        if let Some(outcomes) = obj.get_mut("outcomes").and_then(|o| o.as_array_mut()) {
            for o in outcomes.iter_mut().filter(|o| o.as_str() == Some("failed")) {
                *o = serde_json::json!({ "failed": "the request failed" });
            }
        }
    }
}

/// A request as stored: URL resolved, method and headers normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// Absolute URL, without fragment.
    pub url: String,
    /// Method.
    pub method: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Length of the body in `<n>.req`, if the request has one.
    pub body_len: Option<u64>,
    /// SRI metadata, if any (stored as its string, checked when read).
    pub integrity: Option<crate::integrity::Integrity>,
}

/// How a record ended, as stored when the fetch settles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredOutcome {
    /// The response is complete.
    Done,
    /// The request failed, and why (`{"failed": "message"}`; format 1 stored a bare
    /// `"failed"`).
    Failed(String),
    /// The fetch stopped before this response was complete.
    Aborted,
}

/// The contents of `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredState {
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// The fetch id.
    pub id: String,
    /// UI title.
    pub title: Option<String>,
    /// UI icons.
    pub icons: Vec<Icon>,
    /// Download total, 0 for none.
    pub download_total: u64,
    /// The requests (shared with the live records: saving the state copies none of them).
    pub requests: Vec<Arc<StoredRequest>>,
    /// The result (stored as the web's string).
    pub result: crate::web_enum::FetchResult,
    /// The failure reason (stored as the web's string).
    pub failure_reason: crate::web_enum::FailureReason,
    /// Per-record outcomes, once settled.
    pub outcomes: Vec<Option<StoredOutcome>>,
    /// Whether the fetch is paused.
    pub paused: bool,
}

#[cfg(test)]
impl StoredState {
    /// A running fetch `"f"` of `n` GET requests to `http://127.0.0.1/<i>` with `download_total`
    /// (for unit tests).
    pub(crate) fn of_gets(n: usize, download_total: u64) -> StoredState {
        StoredState {
            format: FORMAT_VERSION,
            id: "f".into(),
            title: None,
            icons: Vec::new(),
            download_total,
            requests: (0..n)
                .map(|i| {
                    Arc::new(StoredRequest {
                        url: format!("http://127.0.0.1/{i}"),
                        method: "GET".into(),
                        headers: Vec::new(),
                        body_len: None,
                        integrity: None,
                    })
                })
                .collect(),
            result: crate::web_enum::FetchResult::None,
            failure_reason: crate::web_enum::FailureReason::None,
            paused: false,
            outcomes: Vec::new(),
        }
    }
}

impl StoredState {
    /// The per-record outcomes to store for records in `outcomes`' order: none while the
    /// fetch runs (at open its complete bodies are found on disk and the others run again),
    /// each record's once it settled (a record that never ended is stored as none, and
    /// restored as aborted).
    pub(crate) fn outcomes_of<'a>(
        settled: bool,
        outcomes: impl Iterator<Item = &'a Outcome>,
    ) -> Vec<Option<StoredOutcome>> {
        if !settled {
            return Vec::new();
        }
        outcomes
            .map(|o| match o {
                Outcome::Done => Some(StoredOutcome::Done),
                Outcome::Failed(why) => Some(StoredOutcome::Failed(why.clone())),
                Outcome::Aborted => Some(StoredOutcome::Aborted),
                Outcome::Pending => None,
            })
            .collect()
    }

    /// Record `index`'s outcome at open, given whether its head was found and whether its
    /// body is complete on disk. A running fetch's complete bodies are done and the others
    /// pending (they run again). A settled fetch's records are as stored, except that a done
    /// record whose head or body was lost fails, and one stored without an outcome is
    /// aborted.
    pub(crate) fn restored_outcome(&self, index: usize, has_head: bool, complete: bool) -> Outcome {
        if self.result == crate::web_enum::FetchResult::None {
            return if complete {
                Outcome::Done
            } else {
                Outcome::Pending
            };
        }
        match self.outcomes.get(index).cloned().flatten() {
            Some(StoredOutcome::Done) if has_head && complete => Outcome::Done,
            Some(StoredOutcome::Done) => Outcome::Failed("the stored response was lost".into()),
            Some(StoredOutcome::Failed(why)) => Outcome::Failed(why),
            Some(StoredOutcome::Aborted) | None => Outcome::Aborted,
        }
    }
}

/// Parses and checks a state file: format version, a valid id, valid requests, consistent
/// outcomes. Never panics, whatever the bytes.
pub fn parse_state(bytes: &[u8]) -> std::result::Result<StoredState, String> {
    parse_state_of_format(bytes).map(|(state, _)| state)
}

/// [`parse_state`], with the format version the bytes were stored in.
pub(crate) fn parse_state_of_format(
    bytes: &[u8],
) -> std::result::Result<(StoredState, u32), String> {
    let mut json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let format = json
        .get("format")
        .and_then(serde_json::Value::as_u64)
        .ok_or("no format version")?;
    if format == 0 || format > u64::from(FORMAT_VERSION) {
        return Err(format!("unknown format version {format}"));
    }
    for migrate in &MIGRATIONS[format as usize - 1..] {
        migrate(&mut json);
    }
    json["format"] = FORMAT_VERSION.into();
    let s: StoredState = serde_json::from_value(json).map_err(|e| e.to_string())?;
    crate::validate::check_id(&s.id).map_err(|e| e.to_string())?;
    if s.requests.is_empty() {
        return Err("no requests".into());
    }
    if !s.outcomes.is_empty() && s.outcomes.len() != s.requests.len() {
        return Err("outcomes do not match requests".into());
    }
    for r in &s.requests {
        let url = url::Url::parse(&r.url).map_err(|e| format!("bad request URL: {e}"))?;
        if url.as_str() != r.url {
            // Requests are sent with their URL as stored.
            return Err("request URL not normalized".into());
        }
        crate::validate::check_fetchable_url(&url).map_err(|e| e.to_string())?;
        let method = crate::validate::normalize_method(&r.method).map_err(|e| e.to_string())?;
        if method != r.method {
            return Err("method not normalized".into());
        }
        for (n, v) in &r.headers {
            if crate::validate::normalize_header(n, v)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err("a header the library owns".into());
            }
        }
    }
    Ok((s, format as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(
        outcomes: Vec<Option<StoredOutcome>>,
        result: crate::web_enum::FetchResult,
    ) -> StoredState {
        let request = Arc::new(StoredRequest {
            url: "http://127.0.0.1/a".into(),
            method: "GET".into(),
            headers: Vec::new(),
            body_len: None,
            integrity: None,
        });
        StoredState {
            format: FORMAT_VERSION,
            id: "f".into(),
            title: None,
            icons: Vec::new(),
            download_total: 0,
            requests: vec![request; 4],
            result,
            failure_reason: crate::web_enum::FailureReason::None,
            outcomes,
            paused: false,
        }
    }

    #[test]
    fn a_request_url_must_be_stored_normalized() {
        let s = state(Vec::new(), crate::web_enum::FetchResult::None);
        let json = serde_json::to_string(&s).unwrap();
        assert!(parse_state(json.as_bytes()).is_ok());
        for other in [
            "http://127.0.0.1",
            "HTTP://127.0.0.1/a",
            "http://127.0.0.1:80/a",
        ] {
            let changed = json.replace("\"http://127.0.0.1/a\"", &format!("{other:?}"));
            assert_eq!(
                parse_state(changed.as_bytes()).err().as_deref(),
                Some("request URL not normalized"),
                "{other}"
            );
        }
    }

    #[test]
    fn a_running_fetch_stores_no_outcome_and_restores_by_its_bodies() {
        let done = [Outcome::Done, Outcome::Pending];
        assert!(StoredState::outcomes_of(false, done.iter()).is_empty());
        let s = state(Vec::new(), crate::web_enum::FetchResult::None);
        assert_eq!(s.restored_outcome(0, true, true), Outcome::Done);
        assert_eq!(s.restored_outcome(1, true, false), Outcome::Pending);
        assert_eq!(s.restored_outcome(2, false, false), Outcome::Pending);
    }

    #[test]
    fn a_settled_fetch_restores_its_outcomes_and_fails_a_lost_response() {
        let live = [
            Outcome::Done,
            Outcome::Failed("refused".into()),
            Outcome::Aborted,
            Outcome::Pending,
        ];
        let outcomes = StoredState::outcomes_of(true, live.iter());
        assert_eq!(
            outcomes,
            [
                Some(StoredOutcome::Done),
                Some(StoredOutcome::Failed("refused".into())),
                Some(StoredOutcome::Aborted),
                None
            ]
        );
        let s = state(outcomes, crate::web_enum::FetchResult::Failure);
        assert_eq!(s.restored_outcome(0, true, true), Outcome::Done);
        assert_eq!(
            s.restored_outcome(1, true, true),
            Outcome::Failed("refused".into())
        );
        assert_eq!(s.restored_outcome(2, true, false), Outcome::Aborted);
        assert_eq!(s.restored_outcome(3, false, false), Outcome::Aborted);
        let lost = Outcome::Failed("the stored response was lost".into());
        assert_eq!(s.restored_outcome(0, false, true), lost);
        assert_eq!(s.restored_outcome(0, true, false), lost);
    }
}
