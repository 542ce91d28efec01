//! The on-disk store: layout, atomic writes, the store lock, loading at open.
//!
//! ```text
//! store/
//!   LOCK                      flock'ed by the manager that owns the store
//!   fetches/<key>/state.json  the registration (requests, options, result)
//!   fetches/<key>/<n>.req     body of request n to upload
//!   fetches/<key>/heads.log   response heads (status, headers, validators), one line each
//!   fetches/<key>/<n>.part    body of response n while it downloads
//!   fetches/<key>/<n>.body    complete body of response n
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

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::request::Icon;

/// Version of the state file format that this library writes. Older versions are upgraded when
/// read, one step at a time, by `MIGRATIONS`; a newer version is refused (quarantined).
///
/// - 1 (0.1.0): no `paused`; a failed record's outcome is a bare `"failed"`.
/// - 2 (0.2.0): `paused`; a failed record keeps its message (`{"failed": "..."}`); result,
///   failure reason and integrity checked as they are parsed.
pub const FORMAT_VERSION: u32 = 2;

/// `MIGRATIONS[v - 1]` upgrades a state file of format `v` to `v + 1`, on its JSON.
const MIGRATIONS: &[fn(&mut serde_json::Value)] = &[migrate_1_to_2];

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
    Ok(s)
}

/// Removes the temp files a crash left in a registration's directory.
fn remove_temp_files(dir: &Path) {
    if let Ok(files) = fs::read_dir(dir) {
        for f in files.flatten() {
            let name = f.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(f.path());
            }
        }
    }
}

/// One loaded registration directory.
pub struct LoadedFetch {
    /// Its key.
    pub key: String,
    /// Its state.
    pub state: StoredState,
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

/// An open `heads.log` and its length (appends go there; a failed append is cut off).
struct HeadLog {
    file: File,
    len: u64,
}

/// The name of a registration's head log.
pub const HEAD_LOG: &str = "heads.log";

/// Most head logs kept open at once (a registration's is closed when it settles, or to make
/// room; the next head reopens it). As many directory handles are kept.
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

/// The key of an id: a hash, so that no id ever names a path.
pub fn key_for_id(id: &str) -> String {
    let digest = sha2::Sha256::digest(id.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn create_dir_private(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(&format!("creating {}", path.display()), e))
}

/// Options for creating a new private file that never follows a symlink.
pub(crate) fn private_create() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW);
    o
}

/// Options for opening (creating if needed) a private file to write in place, without
/// following a symlink and without truncating it.
fn private_append() -> OpenOptions {
    let mut o = private_create();
    o.truncate(false);
    o
}

/// Makes the data of `files` (all in the store) durable: one `fdatasync` for one file, one
/// `syncfs` of the store's file system for several (group commit).
pub(crate) fn sync_files(files: &[&File]) -> std::io::Result<()> {
    match files {
        [] => Ok(()),
        [one] => one.sync_data(),
        [first, ..] => rustix::fs::syncfs(first).map_err(std::io::Error::from),
    }
}

/// Whether a file system type (`statfs`) is tmpfs or ramfs: nothing on it survives a power
/// loss, and its `fsync` does nothing.
#[allow(clippy::unnecessary_cast)] // the field's type depends on the target
fn is_memory_fs(f_type: rustix::fs::FsWord) -> bool {
    let t = f_type as i64;
    // 0x858458f6: RAMFS_MAGIC (linux/magic.h), which the libc crate does not name.
    t == libc::TMPFS_MAGIC as i64 || t == 0x8584_58f6
}

/// Opens a store file for reading without following a symlink, and only if it is a regular
/// file: the open never blocks (`O_NONBLOCK`, so a FIFO planted in the store cannot hang it)
/// and anything but a plain file is an error (`InvalidData`).
pub(crate) fn open_read(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(f)
}

/// Reads a whole store file without following a symlink.
fn read_private(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_read(path)?, &mut bytes)?;
    Ok(bytes)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(&format!("syncing {}", path.display()), e))
}

/// Writes a store file atomically from what `write` writes (buffered): a temp file (mode
/// 0600), fsync, rename, fsync of the directory.
fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_via(path, &path.with_extension("tmp"), &private_create(), write)
}

/// Writes `path` atomically through the temp file `tmp` (in the same directory, created with
/// `create`): what `write` writes (buffered), fsync, rename, fsync of the directory. On an
/// error the temp file is gone and `path` untouched.
fn write_atomic_via(
    path: &Path,
    tmp: &Path,
    create: &OpenOptions,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let written = (|| {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, create.open(tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(tmp, path)
    })();
    if let Err(e) = written {
        // Never leave a half-written temp file behind (on a full disk it holds the space).
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    File::open(dir).and_then(|d| d.sync_all())
}

/// Copies the file `from` to `dest` (a host's path, outside the store) atomically: a temp
/// file in `dest`'s directory (created new, with the umask's mode), synced, renamed over
/// `dest`, the directory synced. All or nothing.
fn copy_out_atomic(from: &Path, dest: &Path) -> Result<()> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::invalid("the destination has no file name"))?;
    let tmp = dest.with_file_name(format!(
        ".{}.bgfetch-{}",
        name.to_string_lossy(),
        crate::util::unique_suffix()
    ));
    let mut src = open_read(from).map_err(|e| Error::io("opening the body", e))?;
    let mut create = OpenOptions::new();
    create.write(true).create_new(true);
    write_atomic_via(dest, &tmp, &create, |w| {
        std::io::copy(&mut src, w).map(drop)
    })
    .map_err(|e| Error::io("writing the destination", e))
}

/// Creates the store directory itself (mode 0700) unless it exists, as `mkdir` without `-p`
/// does: its parent must exist (`InvalidArgument` otherwise), so a mistyped path never
/// silently becomes a tree of new directories.
fn create_store_dir(dir: &Path) -> Result<()> {
    let created = fs::DirBuilder::new().mode(0o700).create(dir);
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir.parent().unwrap_or(dir);
            Err(Error::invalid(format!(
                "cannot create the store directory {}: its parent {} does not exist (only the \
                 store directory itself is created, as mkdir without -p)",
                dir.display(),
                parent.display()
            )))
        }
        Err(e) => Err(Error::io(&format!("creating {}", dir.display()), e)),
    }
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

    /// `<n>.part`
    pub fn part_path(&self, key: &str, n: usize) -> PathBuf {
        self.fetch_dir(key).join(format!("{n}.part"))
    }

    /// `<n>.body`
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

    /// Opens (creating it) the `.part` file of record `n`; `fresh` truncates it to start a body
    /// from zero. Never through a symlink.
    pub fn open_part(&self, key: &str, n: usize, fresh: bool) -> std::io::Result<File> {
        let dir = self.dir_handle(key)?;
        let mut flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if fresh {
            flags |= OFlags::TRUNC;
        }
        let fd = rustix::fs::openat(&*dir, format!("{n}.part"), flags, Mode::RUSR | Mode::WUSR)?;
        Ok(File::from(fd))
    }

    /// Deletes the `.part` file of record `n` (a body that can never complete, or restarts);
    /// a missing one is fine.
    pub fn remove_part(&self, key: &str, n: usize) {
        let _ = std::fs::remove_file(self.part_path(key, n));
    }

    /// Makes the complete `.part` of record `n` its `.body` (after [`sync_files`]).
    pub fn promote_part(&self, key: &str, n: usize) -> std::io::Result<()> {
        let dir = self.dir_handle(key)?;
        Ok(rustix::fs::renameat(
            &*dir,
            format!("{n}.part"),
            &*dir,
            format!("{n}.body"),
        )?)
    }

    /// At open: the stored body of each record of fetch `key` as (length, complete), after
    /// recovery. A body without its head is deleted (it can be neither shown nor resumed); a
    /// complete body whose length is not the one its head announced (truncated or grown
    /// outside the library) is not complete: a shorter one becomes the partial body again (the
    /// fetch resumes it with `Range`, or, if the fetch settled, the record fails), a longer one
    /// is deleted.
    pub fn recover_bodies(
        &self,
        key: &str,
        requests: &[Arc<StoredRequest>],
        heads: &[Option<ResponseHead>],
    ) -> Vec<(u64, bool)> {
        let mut sizes = Vec::with_capacity(heads.len());
        for (i, (head, request)) in heads.iter().zip(requests).enumerate() {
            let body_path = self.body_path(key, i);
            let part_path = self.part_path(key, i);
            match head {
                None => {
                    let _ = std::fs::remove_file(&body_path);
                    let _ = std::fs::remove_file(&part_path);
                }
                Some(head) => Self::check_body_length(&body_path, &part_path, request, head),
            }
            let body = std::fs::symlink_metadata(&body_path);
            let part = std::fs::symlink_metadata(&part_path);
            sizes.push(match (body, part) {
                (Ok(b), _) if b.is_file() => (b.len(), true),
                (_, Ok(p)) if p.is_file() => (p.len(), false),
                _ => (0, false),
            });
        }
        sizes
    }

    fn check_body_length(
        body_path: &Path,
        part_path: &Path,
        request: &StoredRequest,
        head: &ResponseHead,
    ) {
        let has_body = request.method != "HEAD" && !matches!(head.status, 100..=199 | 204 | 304);
        let (Some(expected), true) = (head.total_len, has_body) else {
            return;
        };
        let Ok(meta) = std::fs::symlink_metadata(body_path) else {
            return;
        };
        if !meta.is_file() || meta.len() == expected {
            return;
        }
        if meta.len() > expected || std::fs::rename(body_path, part_path).is_err() {
            let _ = std::fs::remove_file(body_path);
        }
    }

    /// `heads.log`
    pub fn head_log_path(&self, key: &str) -> PathBuf {
        self.fetch_dir(key).join(HEAD_LOG)
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

    /// Closes a registration's head log and its directory handle (when it settles, is
    /// released, created again or loaded; a later head or body reopens them).
    pub fn close_head_log(&self, key: &str) {
        self.head_logs.lock().remove(key);
        self.dirs.lock().remove(key);
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
                .and_then(|bytes| parse_state(&bytes))
                .and_then(|s| {
                    if key_for_id(&s.id) != key {
                        Err("the id does not belong to this directory".into())
                    } else {
                        Ok(s)
                    }
                });
            match parsed {
                Ok(state) => {
                    remove_temp_files(&entry.path());
                    loaded.push(LoadedFetch { key, state })
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
