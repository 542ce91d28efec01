//! `heads.log`: the response heads of a fetch, one line `<n> <json>` each, appended (one
//! `pwrite`, cut off again if it fails) and read back at open (the last whole line of a record
//! wins; a line a crash cut short is cut off; a bad line drops only its record's head).

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::files::{private_append, read_private};
use super::Store;
use crate::head::ResponseHead;

/// An open `heads.log` and its length (appends go there; a failed append is cut off).
pub(super) struct HeadLog {
    pub(super) file: File,
    pub(super) len: u64,
}

/// The name of a registration's head log.
pub const HEAD_LOG: &str = "heads.log";

/// Most head logs kept open at once (a registration's is closed when it settles, or to make
/// room; the next head reopens it).
const MAX_OPEN_HEAD_LOGS: usize = 32;

/// Parses the complete lines of a head log into the heads of `count` records (the last line
/// of a record wins; an unreadable line drops its record's head). Returns the heads and the
/// length of the complete lines: anything after it is a line a crash cut short.
pub fn parse_head_log(bytes: &[u8], count: usize) -> (Vec<Option<ResponseHead>>, usize) {
    let mut heads = vec![None; count];
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for line in bytes[..complete].split(|&b| b == b'\n') {
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            continue;
        };
        let n = std::str::from_utf8(&line[..space])
            .ok()
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(slot) = n.and_then(|n| heads.get_mut(n)) {
            *slot = serde_json::from_slice(&line[space + 1..]).ok();
        }
    }
    (heads, complete)
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
    pub fn save_head(&self, key: &str, n: usize, head: &ResponseHead) -> std::io::Result<()> {
        let mut line = format!("{n} ").into_bytes();
        serde_json::to_writer(&mut line, head).map_err(std::io::Error::other)?;
        line.push(b'\n');
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
        if let Err(e) = log.file.write_all_at(&line, log.len) {
            let _ = log.file.set_len(log.len);
            return Err(e);
        }
        log.len += line.len() as u64;
        Ok(())
    }

    /// Reads the heads of a registration's `count` records from its head log, and cuts off a
    /// last line that a crash left incomplete (so the next append starts a line of its own).
    /// A head log that is not a plain file (a symlink planted in the store) is removed unread.
    pub fn load_heads(&self, key: &str, count: usize) -> Vec<Option<ResponseHead>> {
        self.close_head_log(key);
        self.read_head_log(key, count)
            .unwrap_or_else(|| vec![None; count])
    }

    fn read_head_log(&self, key: &str, count: usize) -> Option<Vec<Option<ResponseHead>>> {
        let path = self.head_log_path(key);
        if !fs::symlink_metadata(&path).ok()?.is_file() {
            let _ = fs::remove_file(&path);
            return None;
        }
        let bytes = read_private(&path).ok()?;
        let (heads, complete) = parse_head_log(&bytes, count);
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
        Some(heads)
    }

    /// Closes a registration's head log (when it settles, is released, created again or
    /// loaded; a later head reopens it).
    pub fn close_head_log(&self, key: &str) {
        self.head_logs.lock().remove(key);
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
