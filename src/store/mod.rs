//! The on-disk store: layout, atomic writes, the store lock, loading at open.
//!
//! ```text
//! store/
//!   LOCK                      flock'ed by the manager that owns the store
//!   fetches/<key>/state.json  the registration (requests, options, result)
//!   fetches/<key>/<n>.req     body of request n to upload
//!   fetches/<key>/heads.log   response heads (status, headers, validators), one line each,
//!                             and which bodies are complete
//!   fetches/<key>/<n>.body    body of response n: complete once heads.log says so, until
//!                             then the bytes stored so far
//!   quarantine/               state files that could not be read
//! ```
//! `<key>` is a hash of the id: ids never become paths. Files are created 0600 without
//! following symlinks, directories 0700.
//!
//! `heads.log` is append-only: one line `<n> <json>\n` per response head, the last line of an
//! `<n>` wins. Appending a line costs one `pwrite` where a file per head cost a create and a
//! rename (a fifth of the CPU time of many small responses). A line a crash cut short is cut
//! off at the next open; a line that does not parse drops the head of its record (its body is
//! fetched again), never a neighbour's.
//!
//! A body is written under its final name from its first byte. It is complete when a line of
//! the head log says so (`<n> {"done":true}`, or its head line with `"done":true` when the
//! head and the whole body came in one go), appended only after the body's data was flushed:
//! one `pwrite` where renaming a `<n>.part` to `<n>.body` cost a tenth of the CPU time of
//! many small responses (format 3). A body whose line a crash lost is a partial body of its
//! whole length: the next session confirms it with one `Range` request and an empty answer.
//! Stores of format 2 and older (a complete `<n>.body`, a partial `<n>.part`) are converted
//! when they are loaded ([`Store::convert_bodies`]).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::head::ResponseHead;

mod files;
mod heads;
mod state;

/// What a body file of `file_len` bytes holds for its record, by its head, its map and whether
/// the log says it is complete: (stored bytes, complete), or `None` if the file means nothing
/// (longer than its head announced, or a split body's file that its map does not fit).
fn stored_of(
    request: &StoredRequest,
    head: &ResponseHead,
    mark: &SegmentMark,
    done: bool,
    file_len: u64,
) -> Option<(u64, bool)> {
    let expected = head
        .total_len
        .filter(|_| crate::head::has_body(&request.method, head.status));
    if expected.is_some_and(|e| file_len > e && *mark == SegmentMark::None) {
        return None;
    }
    if done && expected.is_none_or(|e| e == file_len) {
        return Some((file_len, true));
    }
    Some((split_stored(mark, head.total_len, file_len)?, false))
}

/// The bytes a partial body file of `file_len` bytes holds for its record, by the record's map
/// (`mark`) and its head's body length (`len`); `None` if the file means nothing (a void map,
/// or a map that does not fit the file: it must be deleted).
fn split_stored(mark: &SegmentMark, len: Option<u64>, file_len: u64) -> Option<u64> {
    match mark {
        SegmentMark::None => Some(file_len),
        SegmentMark::Void => None,
        SegmentMark::Map(ranges) => {
            let len = len.filter(|&l| l == file_len)?;
            Some(crate::segments::Segments::restore(len, ranges)?.stored())
        }
    }
}

use files::{
    copy_out_atomic, create_dir_private, create_store_dir, is_memory_fs, read_private,
    remove_temp_files, sync_dir, write_atomic_with,
};
pub(crate) use files::{open_read, private_create, sync_files};
pub use heads::parse_head_log;
use heads::{HeadLog, MAX_OPEN_HEAD_LOGS};
pub(crate) use heads::{LineAt, RecordLog, SegmentMark};
use state::parse_state_of_format;
pub use state::{parse_state, StoredRequest, StoredState, FORMAT_VERSION};

/// One loaded registration directory.
pub struct LoadedFetch {
    /// Its key.
    pub key: String,
    /// Its state.
    pub state: StoredState,
    /// The format its state file was stored in (older than [`FORMAT_VERSION`]: its bodies
    /// need [`Store::convert_bodies`]).
    pub format: u32,
}

/// The store of one manager. Holds the lock for as long as it lives.
pub struct Store {
    root: PathBuf,
    fetches: PathBuf,
    lock: parking_lot::Mutex<Option<File>>,
    /// The open head logs, by registration key.
    head_logs: parking_lot::Mutex<HashMap<String, HeadLog>>,
    /// Handles of registration directories, by key: a body's file is created and renamed by
    /// its name in the directory, not by its absolute path (whose walk was a quarter of the
    /// time of a rename). Dropped with the head log (`close_head_log`): when a registration
    /// settles, is created again, loaded or detached.
    dirs: parking_lot::Mutex<HashMap<String, Arc<OwnedFd>>>,
    /// The store is on a file system that keeps nothing across a power loss (tmpfs, ramfs),
    /// where a flush is free.
    flushes_are_free: bool,
}

/// The key of an id: a hash, so that no id ever names a path.
pub fn key_for_id(id: &str) -> String {
    let digest = sha2::Sha256::digest(id.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Opens the store at `dir` and takes its lock. The directory is resolved once, here, to
    /// an absolute path (against the current directory, symlinks kept), so that every path
    /// the store hands out (`body_path`) is absolute; it is created (mode 0700) if missing,
    /// but not its parents (see `create_store_dir`).
    pub fn open(dir: &Path) -> Result<Store> {
        let dir = &std::path::absolute(dir)
            .map_err(|e| Error::io(&format!("resolving {}", dir.display()), e))?;
        create_store_dir(dir)?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| Error::io("opening the store lock", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Busy(format!(
                    "the store {} is in use by another manager",
                    dir.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("locking the store", e)),
        }
        let fetches = dir.join("fetches");
        for sub in [&fetches, &dir.join("quarantine")] {
            create_dir_private(sub)?;
            let meta = fs::symlink_metadata(sub)
                .map_err(|e| Error::io(&format!("inspecting {}", sub.display()), e))?;
            if !meta.is_dir() {
                return Err(Error::Io(format!(
                    "{} is not a directory (a symlink is never followed out of the store)",
                    sub.display()
                )));
            }
        }
        Ok(Store {
            root: dir.to_path_buf(),
            fetches,
            lock: parking_lot::Mutex::new(Some(lock)),
            head_logs: parking_lot::Mutex::new(HashMap::new()),
            dirs: parking_lot::Mutex::new(HashMap::new()),
            flushes_are_free: rustix::fs::statfs(dir).is_ok_and(|s| is_memory_fs(s.f_type)),
        })
    }

    /// Whether the store is on a file system whose flushes cost nothing (tmpfs, ramfs): it
    /// keeps nothing across a power loss, and `fdatasync` returns at once.
    pub(crate) fn flushes_are_free(&self) -> bool {
        self.flushes_are_free
    }

    /// Releases the store lock (at close); the store must not be written afterwards.
    pub fn unlock(&self) {
        self.head_logs.lock().clear();
        self.dirs.lock().clear();
        if let Some(f) = self.lock.lock().take() {
            let _ = f.unlock();
        }
    }

    /// The directory of a registration.
    pub fn fetch_dir(&self, key: &str) -> PathBuf {
        self.fetches.join(key)
    }

    /// `<n>.req`
    pub fn req_path(&self, key: &str, n: usize) -> PathBuf {
        self.fetch_dir(key).join(format!("{n}.req"))
    }

    /// `<n>.part`: a partial body of format 2 and older (see [`Store::convert_bodies`]).
    fn legacy_part_path(&self, key: &str, n: usize) -> PathBuf {
        self.fetch_dir(key).join(format!("{n}.part"))
    }

    /// `<n>.body`: the body of record `n`, complete or not (the head log says which).
    pub fn body_path(&self, key: &str, n: usize) -> PathBuf {
        self.fetch_dir(key).join(format!("{n}.body"))
    }

    /// Copies the complete body of record `n` to `dest` atomically (see `copy_out_atomic`).
    pub(crate) fn copy_body_to(&self, key: &str, n: usize, dest: &Path) -> Result<()> {
        copy_out_atomic(&self.body_path(key, n), dest)
    }

    /// A handle of the directory of registration `key` (kept open, see `dirs`).
    fn dir_handle(&self, key: &str) -> std::io::Result<Arc<OwnedFd>> {
        let mut dirs = self.dirs.lock();
        if let Some(d) = dirs.get(key) {
            return Ok(d.clone());
        }
        if dirs.len() >= MAX_OPEN_HEAD_LOGS {
            if let Some(other) = dirs.keys().next().cloned() {
                dirs.remove(&other);
            }
        }
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = Arc::new(rustix::fs::open(self.fetch_dir(key), flags, Mode::empty())?);
        dirs.insert(key.to_string(), dir.clone());
        Ok(dir)
    }

    /// Opens the body file of record `n` with `flags` (read and write, never through a
    /// symlink), by its name in the registration's directory.
    fn open_body_with(&self, key: &str, n: usize, flags: OFlags) -> std::io::Result<File> {
        let dir = self.dir_handle(key)?;
        let flags = flags | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&*dir, format!("{n}.body"), flags, Mode::RUSR | Mode::WUSR)?;
        Ok(File::from(fd))
    }

    /// Opens (creating it) the body file of record `n` to write its body; `fresh` truncates it
    /// to start the body from zero. Never through a symlink.
    pub fn open_body(&self, key: &str, n: usize, fresh: bool) -> std::io::Result<File> {
        let mut flags = OFlags::CREATE;
        if fresh {
            flags |= OFlags::TRUNC;
        }
        self.open_body_with(key, n, flags)
    }

    /// Opens the existing body file of record `n` to write a range of a split body in place
    /// (neither created nor truncated: a missing file is an error). Never through a symlink.
    pub(crate) fn open_body_in_place(&self, key: &str, n: usize) -> std::io::Result<File> {
        self.open_body_with(key, n, OFlags::empty())
    }

    /// Deletes the body file of record `n` (a body that can never complete, or restarts); a
    /// missing one is fine. Never for a complete body.
    pub fn remove_body(&self, key: &str, n: usize) {
        let _ = std::fs::remove_file(self.body_path(key, n));
    }

    /// At open, for a registration stored in format 2 or older (a complete body was
    /// `<n>.body`, a partial one `<n>.part`): says in the head log that each `<n>.body` with a
    /// head is complete, and makes the log durable. The caller then stores the state in the
    /// current format, and [`Store::recover_bodies`] moves each `<n>.part` to `<n>.body`. A
    /// crash before the state is stored does this again (the lines are the same); one after it
    /// leaves `<n>.part` files that `recover_bodies` moves as well.
    pub(crate) fn convert_bodies(&self, key: &str, log: &mut RecordLog) -> Result<()> {
        let mut complete = Vec::new();
        for (i, head) in log.heads.iter().enumerate() {
            let is_file =
                std::fs::symlink_metadata(self.body_path(key, i)).is_ok_and(|m| m.is_file());
            if head.is_some() && is_file && !log.done[i] {
                complete.push((i, None));
            }
        }
        if complete.is_empty() {
            return Ok(());
        }
        self.save_complete(key, &complete)
            .and_then(|_| self.sync_head_log(key))
            .map_err(|e| Error::io("converting the stored bodies", e))?;
        for (i, _) in complete {
            log.done[i] = true;
        }
        Ok(())
    }

    /// At open: the stored body of each record of fetch `key` as (stored bytes, complete),
    /// after recovery, with `log` (its heads and maps) made to agree with the files. A body
    /// is complete when the log says so and it has the length its head announced; a body
    /// without its head is deleted (it can be neither shown nor resumed); one longer than its
    /// head announced (grown outside the library) is deleted; a shorter one is a partial body
    /// (the fetch resumes it with `Range`, or, if the fetch settled, the record fails). A
    /// split body's file counts only the bytes its map claims, and only if the file has the
    /// body's length and the map covers the body; otherwise (or with a void map) it is
    /// deleted. A partial `<n>.part` of format 2 becomes the body file.
    pub fn recover_bodies(
        &self,
        key: &str,
        requests: &[Arc<StoredRequest>],
        log: &mut RecordLog,
    ) -> Vec<(u64, bool)> {
        let mut sizes = Vec::with_capacity(log.heads.len());
        for (i, request) in requests.iter().enumerate().take(log.heads.len()) {
            let body_path = self.body_path(key, i);
            self.take_legacy_part(key, i, log.done[i]);
            let size = match &log.heads[i] {
                None => {
                    let _ = std::fs::remove_file(&body_path);
                    (0, false)
                }
                Some(head) => match std::fs::symlink_metadata(&body_path) {
                    Ok(m) if m.is_file() => {
                        let kept = stored_of(request, head, &log.segments[i], log.done[i], m.len());
                        if kept.is_none() {
                            let _ = std::fs::remove_file(&body_path);
                        }
                        kept.unwrap_or((0, false))
                    }
                    _ => (0, false),
                },
            };
            if size.1 || size.0 == 0 {
                log.segments[i] = SegmentMark::None;
            }
            log.done[i] = size.1;
            sizes.push(size);
        }
        sizes
    }

    /// A partial body of format 2 (`<n>.part`) left by a conversion: it becomes the body file,
    /// unless the body is complete (then it is a stale one, deleted).
    fn take_legacy_part(&self, key: &str, n: usize, done: bool) {
        let part = self.legacy_part_path(key, n);
        if !std::fs::symlink_metadata(&part).is_ok_and(|m| m.is_file()) {
            return;
        }
        if done || std::fs::rename(&part, self.body_path(key, n)).is_err() {
            let _ = std::fs::remove_file(&part);
        }
    }

    /// Creates a registration: its directory, request bodies (synced), then its state file
    /// atomically. Nothing is left behind on failure.
    pub fn create_fetch(
        &self,
        key: &str,
        state: &StoredState,
        bodies: &[(usize, &[u8])],
    ) -> Result<()> {
        let dir = self.fetch_dir(key);
        self.close_head_log(key);
        if dir.exists() {
            // Left over from a release that a crash interrupted.
            self.remove_dir(&dir)?;
        }
        create_dir_private(&dir)?;
        let res = (|| {
            for (n, body) in bodies {
                let path = self.req_path(key, *n);
                let mut f = private_create()
                    .open(&path)
                    .map_err(|e| Error::io("creating a request body file", e))?;
                f.write_all(body)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| Error::io("writing a request body file", e))?;
            }
            self.save_state(key, state)?;
            sync_dir(&self.fetches)
        })();
        if res.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        res
    }

    /// Replaces a registration's state file atomically.
    pub fn save_state(&self, key: &str, state: &StoredState) -> Result<()> {
        // Serialized straight into the file: the state of 10 000 requests is megabytes.
        let path = self.fetch_dir(key).join("state.json");
        write_atomic_with(&path, |w| {
            serde_json::to_writer(w, state).map_err(std::io::Error::other)
        })
        .map_err(|e| Error::io(&format!("writing {}", path.display()), e))
    }

    /// Moves a registration's directory out of `fetches/` in one rename (durable once this
    /// returns), so that its key is free at once and a crash never leaves half a registration
    /// under it. Returns where it went: delete it with [`Store::delete_detached`] (the next
    /// open deletes it if a crash comes first).
    pub fn detach_fetch(&self, key: &str) -> Result<PathBuf> {
        self.close_head_log(key);
        let trash = self.root.join(format!(
            "trash-{}-{}",
            std::process::id(),
            crate::util::unique_suffix()
        ));
        fs::rename(self.fetch_dir(key), &trash)
            .map_err(|e| Error::io("moving a released fetch away", e))?;
        sync_dir(&self.fetches)?;
        Ok(trash)
    }

    /// Deletes a directory [`Store::detach_fetch`] moved away.
    pub fn delete_detached(&self, trash: &Path) -> Result<()> {
        fs::remove_dir_all(trash).map_err(|e| Error::io("deleting a released fetch", e))
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        let key = dir.file_name().map(|k| k.to_string_lossy().into_owned());
        let trash = self.detach_fetch(&key.unwrap_or_default())?;
        self.delete_detached(&trash)
    }

    /// Loads every registration. A state file that cannot be read is moved to `quarantine/`
    /// and reported in the returned messages; it never stops the others from loading.
    pub fn load_all(&self) -> (Vec<LoadedFetch>, Vec<String>) {
        let mut loaded = Vec::new();
        let mut problems = Vec::new();
        // Finish releases that a crash interrupted.
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("trash-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let entries = match fs::read_dir(&self.fetches) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("cannot list the store: {e}"));
                return (loaded, problems);
            }
        };
        for entry in entries.flatten() {
            let key = entry.file_name().to_string_lossy().into_owned();
            let Ok(ft) = entry.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let path = entry.path().join("state.json");
            if matches!(fs::symlink_metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
            {
                // A registration whose `fetch` never returned: it never existed for the host.
                let _ = fs::remove_dir_all(entry.path());
                continue;
            }
            let parsed = read_private(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| parse_state_of_format(&bytes))
                .and_then(|s| {
                    if key_for_id(&s.0.id) != key {
                        Err("the id does not belong to this directory".into())
                    } else {
                        Ok(s)
                    }
                });
            match parsed {
                Ok((state, format)) => {
                    remove_temp_files(&entry.path());
                    loaded.push(LoadedFetch { key, state, format })
                }
                Err(why) => {
                    let dest = self
                        .root
                        .join("quarantine")
                        .join(format!("{key}-{}", crate::util::unique_suffix()));
                    let _ = fs::rename(entry.path(), &dest);
                    problems.push(format!(
                        "fetch directory {key} could not be loaded ({why}); moved to {}",
                        dest.display()
                    ));
                }
            }
        }
        (loaded, problems)
    }

    /// Bytes held by the files of registrations (request bodies and responses).
    pub fn usage(&self) -> u64 {
        let mut total = 0;
        if let Ok(dirs) = fs::read_dir(&self.fetches) {
            for d in dirs.flatten() {
                if let Ok(files) = fs::read_dir(d.path()) {
                    for f in files.flatten() {
                        let name = f.file_name();
                        let name = name.to_string_lossy();
                        if name.ends_with(".req")
                            || name.ends_with(".part")
                            || name.ends_with(".body")
                        {
                            total += f.metadata().map(|m| m.len()).unwrap_or(0);
                        }
                    }
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::StoredRange;

    #[test]
    fn a_part_file_counts_what_its_map_claims_and_only_if_they_fit() {
        let map = SegmentMark::Map(vec![StoredRange(0, 4, 10), StoredRange(10, 12, 20)]);
        assert_eq!(
            split_stored(&SegmentMark::None, Some(20), 7),
            Some(7),
            "no map: its length"
        );
        assert_eq!(split_stored(&map, Some(20), 20), Some(6));
        assert_eq!(
            split_stored(&map, Some(20), 19),
            None,
            "not the body's length"
        );
        assert_eq!(split_stored(&map, None, 20), None, "no length in the head");
        assert_eq!(
            split_stored(&map, Some(30), 30),
            None,
            "the map does not cover the body"
        );
        assert_eq!(split_stored(&SegmentMark::Void, Some(20), 20), None);
    }
}
