//! `heads.log`: the response heads of a fetch, one line `<n> <json>` each, the last error
//! of a record that waits to retry (`<n> {"last_error": "..."}`, so that a later session can
//! say why it waited), and the map of a body fetched in ranges (`<n> {"segments":
//! [[start, next, end], ...]}`: `[start, next)` of each range is stored; `{"segments": null}`
//! voids it; a head line starts a record afresh, without a map), and that a record's body is
//! complete (`<n> {"done":true}`, or `"done":true` in its head line when the head was written
//! with the complete body), appended (one `pwrite`, cut off again if it fails) and read back
//! at open (the last whole head line of a record wins, and its last error line; a line a
//! crash cut short is cut off; a bad line drops only its record's head).

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::files::{private_append, read_private};
use super::Store;
use crate::head::{HeadLine, ResponseHead};
use crate::segments::StoredRange;

/// Where a line's JSON is in a head log: `len` bytes at `at` (after `<n> `, before the
/// newline). Lines never move: the log is only appended to (and a torn last line cut off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineAt {
    pub(crate) at: u64,
    pub(crate) len: u32,
}

fn line_at(at: u64, len: usize) -> LineAt {
    LineAt {
        at,
        // A head line is far shorter than 4 GiB (the headers are bounded by the agent).
        len: u32::try_from(len).unwrap_or(u32::MAX),
    }
}

/// Adds the line `<n> <json>\n` to `lines`, its JSON written by `json`; returns where the JSON
/// is in `lines` (start, length).
fn push_line(
    lines: &mut Vec<u8>,
    n: usize,
    json: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> std::io::Result<(usize, usize)> {
    lines.extend_from_slice(n.to_string().as_bytes());
    lines.push(b' ');
    let at = lines.len();
    json(lines).map_err(std::io::Error::other)?;
    let len = lines.len() - at;
    lines.push(b'\n');
    Ok((at, len))
}

/// An open `heads.log` and its length (appends go there; a failed append is cut off).
pub(super) struct HeadLog {
    pub(super) file: File,
    pub(super) len: u64,
}

/// The name of a registration's head log.
pub const HEAD_LOG: &str = "heads.log";

/// Most head logs kept open at once (a registration's is closed when it settles, or to make
/// room; the next head reopens it). As many directory handles are kept.
pub(super) const MAX_OPEN_HEAD_LOGS: usize = 32;

/// What a head log holds for each record: its head and its last error.
#[derive(Debug, Default)]
pub(crate) struct RecordLog {
    /// The head of each record (the last head line of its number).
    pub(crate) heads: Vec<Option<ResponseHead>>,
    /// The last failed attempt's message of each record (its last error line).
    pub(crate) errors: Vec<Option<String>>,
    /// The map of each record's split body, since its last head line.
    pub(crate) segments: Vec<SegmentMark>,
    /// Whether each record's body is complete (a done line since its last head line, or a
    /// head line that says so).
    pub(crate) done: Vec<bool>,
    /// Where each record's head is in the log.
    pub(crate) head_lines: Vec<Option<LineAt>>,
}

/// What the head log says of a record's body being fetched in ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum SegmentMark {
    /// Nothing: the body file holds the body's first bytes, as many as it is long.
    #[default]
    None,
    /// The body is split; these ranges' stored parts are in place in the body file
    /// (preallocated to the body's length), whose other bytes mean nothing.
    Map(Vec<StoredRange>),
    /// The split was given up: the body file means nothing.
    Void,
}

impl RecordLog {
    /// The log of `count` records that have neither.
    pub(crate) fn empty(count: usize) -> RecordLog {
        RecordLog {
            heads: vec![None; count],
            errors: vec![None; count],
            segments: vec![SegmentMark::None; count],
            done: vec![false; count],
            head_lines: vec![None; count],
        }
    }
}

/// An error line's JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct ErrorLine<S> {
    last_error: S,
}

/// A map line's JSON (`segments: None`: the map is void).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentsLine<'a> {
    #[serde(borrow)]
    segments: Option<std::borrow::Cow<'a, [StoredRange]>>,
}

/// How a map line starts (a head line never does).
const SEGMENTS_PREFIX: &[u8] = b"{\"segments\":";

/// A done line's JSON: the record's body is complete.
const DONE_JSON: &[u8] = b"{\"done\":true}";

/// Parses the complete lines of a head log into the heads of `count` records (the last line
/// of a record wins; an unreadable line drops its record's head). Returns the heads and the
/// length of the complete lines: anything after it is a line a crash cut short.
pub fn parse_head_log(bytes: &[u8], count: usize) -> (Vec<Option<ResponseHead>>, usize) {
    let (log, complete) = parse_record_log(bytes, count);
    (log.heads, complete)
}

/// [`parse_head_log`], with each record's last error.
pub(crate) fn parse_record_log(bytes: &[u8], count: usize) -> (RecordLog, usize) {
    let mut log = RecordLog::empty(count);
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut next_at = 0;
    for line in bytes[..complete].split(|&b| b == b'\n') {
        let line_start = next_at;
        next_at += line.len() + 1;
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            continue;
        };
        let n = std::str::from_utf8(&line[..space])
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < count);
        let Some(n) = n else { continue };
        let json = &line[space + 1..];
        if json.starts_with(SEGMENTS_PREFIX) {
            log.segments[n] = match serde_json::from_slice::<SegmentsLine>(json) {
                Ok(SegmentsLine {
                    segments: Some(map),
                }) => SegmentMark::Map(map.into_owned()),
                _ => SegmentMark::Void,
            };
            continue;
        }
        if json == DONE_JSON {
            log.done[n] = true;
            continue;
        }
        match serde_json::from_slice::<ErrorLine<String>>(json) {
            Ok(e) => log.errors[n] = Some(e.last_error),
            Err(_) => {
                let (head, done) = HeadLine::parse(json).ok().unzip();
                log.head_lines[n] = head
                    .as_ref()
                    .map(|_| line_at((line_start + space + 1) as u64, json.len()));
                log.heads[n] = head;
                log.done[n] = done.unwrap_or(false);
                log.segments[n] = SegmentMark::None;
            }
        }
    }
    (log, complete)
}

impl Store {
    /// `heads.log`
    pub fn head_log_path(&self, key: &str) -> PathBuf {
        self.fetch_dir(key).join(HEAD_LOG)
    }

    /// Appends a response head to the registration's head log. The line is written whole or
    /// cut off again, so a failed append never garbles the next one. Heads are not fsynced:
    /// after a power loss a missing or torn head only means that its body is fetched again
    /// (recovery drops bodies without a readable head), and skipping fsyncs per request is what
    /// keeps many small responses fast on a real disk.
    /// Returns where the head is in the log.
    pub(crate) fn save_head(
        &self,
        key: &str,
        n: usize,
        head: &ResponseHead,
    ) -> std::io::Result<LineAt> {
        let mut line = Vec::with_capacity(512);
        let (json_at, json_len) = push_line(&mut line, n, |out| {
            HeadLine { head, done: false }.write_json(out)
        })?;
        let at = self.append_lines(key, &line)?;
        Ok(line_at(at + json_at as u64, json_len))
    }

    /// Reads the head whose JSON is at `line` in the head log of registration `key`.
    pub(crate) fn read_head_at(&self, key: &str, line: LineAt) -> std::io::Result<ResponseHead> {
        let f = super::open_read(&self.head_log_path(key))?;
        let mut json = vec![0; line.len as usize];
        f.read_exact_at(&mut json, line.at)?;
        let (head, _) = HeadLine::parse(&json).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a head line: {e}"))
        })?;
        Ok(head)
    }

    /// Records that the bodies of `complete` are complete, with one append to the head log:
    /// a done line each, or, for a record whose head is given (its head was not written yet:
    /// it came with the whole body), its head line saying so. Called only once their data is
    /// flushed. Not fsynced: a line lost to a power cut leaves a whole body that the next
    /// session takes for a partial one and confirms with one request.
    /// Returns where each given head is in the log.
    pub(crate) fn save_complete(
        &self,
        key: &str,
        complete: &[(usize, Option<&ResponseHead>)],
    ) -> std::io::Result<Vec<Option<LineAt>>> {
        // A head line is a few hundred bytes, a done line 17.
        let heads_given = complete.iter().filter(|(_, h)| h.is_some()).count();
        let mut lines = Vec::with_capacity(complete.len() * 24 + heads_given * 512);
        let mut heads = Vec::with_capacity(complete.len());
        for &(n, head) in complete {
            let json = push_line(&mut lines, n, |out| match head {
                Some(head) => HeadLine { head, done: true }.write_json(out),
                None => {
                    out.extend_from_slice(DONE_JSON);
                    Ok(())
                }
            })?;
            heads.push(head.map(|_| json));
        }
        let at = self.append_lines(key, &lines)?;
        Ok(heads
            .into_iter()
            .map(|h| h.map(|(json_at, len)| line_at(at + json_at as u64, len)))
            .collect())
    }

    /// Makes the head log of registration `key` durable (`fsync`): after the lines of a
    /// conversion, before the state file says they exist.
    pub(super) fn sync_head_log(&self, key: &str) -> std::io::Result<()> {
        let logs = self.head_logs.lock();
        match logs.get(key) {
            Some(log) => log.file.sync_data(),
            None => Ok(()),
        }
    }

    /// Appends record `n`'s last error to the head log (not fsynced either: it only tells a
    /// later session why the record waited).
    pub(crate) fn save_error(&self, key: &str, n: usize, error: &str) -> std::io::Result<()> {
        let mut line = Vec::new();
        push_line(&mut line, n, |out| {
            serde_json::to_writer(out, &ErrorLine { last_error: error })
        })?;
        self.append_lines(key, &line).map(drop)
    }

    /// Appends the map of record `n`'s split body (`None`: the map is void, the split given
    /// up). Not fsynced: the caller made the data it claims durable first, and a map lost to
    /// a power cut only makes those bytes be fetched again.
    pub(crate) fn save_segments(
        &self,
        key: &str,
        n: usize,
        map: Option<&[StoredRange]>,
    ) -> std::io::Result<()> {
        let json = SegmentsLine {
            segments: map.map(std::borrow::Cow::Borrowed),
        };
        let mut line = Vec::new();
        push_line(&mut line, n, |out| serde_json::to_writer(out, &json))?;
        self.append_lines(key, &line).map(drop)
    }

    /// Appends `lines` (whole lines) to the registration's head log, whole or not at all;
    /// returns where they start.
    fn append_lines(&self, key: &str, lines: &[u8]) -> std::io::Result<u64> {
        let mut logs = self.head_logs.lock();
        if !logs.contains_key(key) {
            if logs.len() >= MAX_OPEN_HEAD_LOGS {
                // Close one to make room; its next head reopens it.
                if let Some(other) = logs.keys().next().cloned() {
                    logs.remove(&other);
                }
            }
            let file = private_append().open(self.head_log_path(key))?;
            let len = file.metadata()?.len();
            logs.insert(key.to_string(), HeadLog { file, len });
        }
        let Some(log) = logs.get_mut(key) else {
            return Err(std::io::Error::other("the head log is not open"));
        };
        if let Err(e) = log.file.write_all_at(lines, log.len) {
            let _ = log.file.set_len(log.len);
            return Err(e);
        }
        let at = log.len;
        log.len += lines.len() as u64;
        Ok(at)
    }

    /// Reads the heads and last errors of a registration's `count` records from its head log,
    /// and cuts off a
    /// last line that a crash left incomplete (so the next append starts a line of its own).
    /// A head log that is not a plain file (a symlink planted in the store) is removed unread.
    pub(crate) fn load_record_log(&self, key: &str, count: usize) -> RecordLog {
        self.close_head_log(key);
        self.read_head_log(key, count)
            .unwrap_or_else(|| RecordLog::empty(count))
    }

    fn read_head_log(&self, key: &str, count: usize) -> Option<RecordLog> {
        let path = self.head_log_path(key);
        if !fs::symlink_metadata(&path).ok()?.is_file() {
            let _ = fs::remove_file(&path);
            return None;
        }
        let bytes = read_private(&path).ok()?;
        let (log, complete) = parse_record_log(&bytes, count);
        if complete < bytes.len() {
            let cut = private_append()
                .open(&path)
                .and_then(|f| f.set_len(complete as u64));
            if cut.is_err() {
                // Appending after a torn line would garble the next head: start afresh.
                let _ = fs::remove_file(&path);
                return None;
            }
        }
        Some(log)
    }

    /// Closes a registration's head log and its directory handle (when it settles, is
    /// released, created again or loaded; a later head or body reopens them).
    pub fn close_head_log(&self, key: &str) {
        self.head_logs.lock().remove(key);
        self.dirs.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize, status: u16) -> String {
        let head = ResponseHead::new(status, "http://127.0.0.1/a", &[("etag", "\"1\"")], Some(3));
        format!("{n} {}\n", serde_json::to_string(&head).unwrap())
    }

    #[test]
    fn error_lines_keep_the_last_error_and_never_drop_a_head() {
        let err = |n: usize, e: &str| {
            format!(
                "{n} {{\"last_error\":{}}}\n",
                serde_json::to_string(e).unwrap()
            )
        };
        let log = format!(
            "{}{}{}{}",
            line(0, 200),
            err(0, "refused"),
            err(1, "a"),
            err(1, "b")
        );
        let (log, _) = parse_record_log(log.as_bytes(), 2);
        assert_eq!(log.heads[0].as_ref().unwrap().status, 200);
        assert!(log.heads[1].is_none());
        assert_eq!(log.errors[0].as_deref(), Some("refused"));
        assert_eq!(log.errors[1].as_deref(), Some("b"));
    }

    #[test]
    fn a_map_line_belongs_to_the_head_before_it() {
        let map = "0 {\"segments\":[[0,5,10],[10,10,20]]}\n";
        let (log, _) = parse_record_log(format!("{}{map}", line(0, 200)).as_bytes(), 1);
        assert!(log.heads[0].is_some(), "a map line is not a head");
        assert_eq!(
            log.segments[0],
            SegmentMark::Map(vec![StoredRange(0, 5, 10), StoredRange(10, 10, 20)])
        );
        let again = format!("{}{map}{}", line(0, 200), line(0, 200));
        let (log, _) = parse_record_log(again.as_bytes(), 1);
        assert_eq!(
            log.segments[0],
            SegmentMark::None,
            "a new head starts afresh"
        );
        for void in ["0 {\"segments\":null}\n", "0 {\"segments\":[[1,2]]}\n"] {
            let (log, _) = parse_record_log(format!("{}{map}{void}", line(0, 200)).as_bytes(), 1);
            assert_eq!(log.segments[0], SegmentMark::Void, "{void}");
            assert!(log.heads[0].is_some());
        }
    }

    #[test]
    fn a_body_is_complete_by_a_done_line_or_its_head_line_until_a_new_head() {
        let head = ResponseHead::new(200, "http://127.0.0.1/a", &[("etag", "\"1\"")], Some(3));
        let with_done = format!(
            "1 {}\n",
            serde_json::to_string(&HeadLine {
                head: &head,
                done: true
            })
            .unwrap()
        );
        let log = format!("{}0 {{\"done\":true}}\n{with_done}", line(0, 200));
        let (log, _) = parse_record_log(log.as_bytes(), 3);
        assert_eq!(log.done, [true, true, false]);
        assert_eq!(
            log.heads[1].as_ref(),
            Some(&head),
            "the head of a head line with done"
        );
        assert!(log.heads[0].is_some(), "a done line is not a head");
        let again = format!("{}0 {{\"done\":true}}\n{}", line(0, 200), line(0, 206));
        let (log, _) = parse_record_log(again.as_bytes(), 1);
        assert_eq!(log.done, [false], "a new head starts a body afresh");
        assert_eq!(log.heads[0].as_ref().unwrap().status, 206);
    }

    #[test]
    fn a_map_line_round_trips() {
        let ranges = [StoredRange(0, 3, 7), StoredRange(7, 9, 9)];
        let mut line = b"2 ".to_vec();
        let json = SegmentsLine {
            segments: Some(std::borrow::Cow::Borrowed(&ranges[..])),
        };
        serde_json::to_writer(&mut line, &json).unwrap();
        line.push(b'\n');
        assert_eq!(line, b"2 {\"segments\":[[0,3,7],[7,9,9]]}\n");
        let (log, _) = parse_record_log(&line, 3);
        assert_eq!(log.segments[2], SegmentMark::Map(ranges.to_vec()));
    }

    #[test]
    fn the_last_whole_line_of_a_record_wins() {
        let log = format!("{}{}{}", line(0, 200), line(1, 404), line(0, 206));
        let (heads, complete) = parse_head_log(log.as_bytes(), 2);
        assert_eq!(complete, log.len());
        assert_eq!(heads[0].as_ref().unwrap().status, 206);
        assert_eq!(heads[1].as_ref().unwrap().status, 404);
    }

    #[test]
    fn a_torn_last_line_is_not_counted_and_not_used() {
        let whole = line(0, 200);
        let torn = &line(0, 500)[..20];
        let log = format!("{whole}{torn}");
        let (heads, complete) = parse_head_log(log.as_bytes(), 1);
        assert_eq!(complete, whole.len());
        assert_eq!(heads[0].as_ref().unwrap().status, 200);
    }

    #[test]
    fn a_bad_line_drops_its_own_head_only() {
        let log = format!("{}{}1 {{not json}}\n", line(0, 200), line(1, 200));
        let (heads, _) = parse_head_log(log.as_bytes(), 2);
        assert!(heads[0].is_some());
        assert!(heads[1].is_none());
    }

    #[test]
    fn lines_of_unknown_records_and_junk_are_ignored() {
        let log = format!("9 {}\n\0\0\0\nxyz\n{}", "{}", line(0, 200));
        let (heads, _) = parse_head_log(log.as_bytes(), 1);
        assert_eq!(heads.len(), 1);
        assert_eq!(heads[0].as_ref().unwrap().status, 200);
        assert_eq!(parse_head_log(b"", 3).0.len(), 3);
    }
}
