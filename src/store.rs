//! The on-disk store: layout, atomic writes, the store lock, loading at open.
//!
//! ```text
//! store/
//!   LOCK                      flock'ed by the manager that owns the store
//!   fetches/<key>/state.json  the registration (requests, options, result)
//!   fetches/<key>/<n>.req     body of request n to upload
//!   fetches/<key>/<n>.head    response head of request n (status, headers, validators)
//!   fetches/<key>/<n>.part    body of response n while it downloads
//!   fetches/<key>/<n>.body    complete body of response n
//!   quarantine/               state files that could not be read
//! ```
//! `<key>` is a hash of the id: ids never become paths. Files are created 0600 without
//! following symlinks, directories 0700.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::record::ResponseHead;
use crate::request::Icon;

/// Version of the state file format.
pub const FORMAT_VERSION: u32 = 1;

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
    /// SRI metadata, if any.
    pub integrity: Option<String>,
}

/// How a record ended, as stored when the fetch settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredOutcome {
    /// The response is complete.
    Done,
    /// The request failed.
    Failed,
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
    /// The requests.
    pub requests: Vec<StoredRequest>,
    /// `""`, `"success"` or `"failure"`.
    pub result: String,
    /// The web's failure reason string.
    pub failure_reason: String,
    /// Per-record outcomes, once settled.
    pub outcomes: Vec<Option<StoredOutcome>>,
}

/// Parses and checks a state file: format version, a valid id, valid requests, consistent
/// outcomes. Never panics, whatever the bytes.
pub fn parse_state(bytes: &[u8]) -> std::result::Result<StoredState, String> {
    let s: StoredState = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if s.format != FORMAT_VERSION {
        return Err(format!("unknown format version {}", s.format));
    }
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
        if let Some(i) = &r.integrity {
            crate::integrity::Integrity::parse(i).map_err(|e| e.to_string())?;
        }
    }
    let result_ok = matches!(s.result.as_str(), "" | "success" | "failure");
    let reason_ok = matches!(
        s.failure_reason.as_str(),
        "" | "aborted"
            | "bad-status"
            | "fetch-error"
            | "quota-exceeded"
            | "download-total-exceeded"
    );
    if !result_ok || !reason_ok {
        return Err("bad result or failure reason".into());
    }
    Ok(s)
}

/// Removes the temp files a crash left in a registration's directory.
fn remove_temp_files(dir: &Path) {
    if let Ok(files) = fs::read_dir(dir) {
        for f in files.flatten() {
            let name = f.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") || name.ends_with(".head-tmp") {
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

/// Opens a store file for reading without following a symlink.
pub(crate) fn open_read(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(&format!("syncing {}", path.display()), e))
}

/// Writes `bytes` to `path` atomically: a temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_io(path, bytes).map_err(|e| Error::io(&format!("writing {}", path.display()), e))
}

/// [`write_atomic`], keeping the OS error.
pub fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = private_create().open(&tmp)?;
    f.write_all(bytes).and_then(|_| f.sync_all())?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir).and_then(|d| d.sync_all())
}

impl Store {
    /// Opens (creating, mode 0700) the store at `dir` and takes its lock.
    pub fn open(dir: &Path) -> Result<Store> {
        create_dir_private(dir)?;
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
        })
    }

    /// Releases the store lock (at close); the store must not be written afterwards.
    pub fn unlock(&self) {
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

    /// `<n>.head`
    pub fn head_path(&self, key: &str, n: usize) -> PathBuf {
        self.fetch_dir(key).join(format!("{n}.head"))
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
        let bytes = serde_json::to_vec(state)
            .map_err(|e| Error::Internal(format!("serializing state: {e}")))?;
        write_atomic(&self.fetch_dir(key).join("state.json"), &bytes)
    }

    /// Writes a response head: a temp file renamed into place, so a crash never leaves half a
    /// head. It is not fsynced: after a power loss a missing or torn head only means that its
    /// body is fetched again (recovery drops bodies without a readable head), and skipping two
    /// fsyncs per request is what keeps many small responses fast on a real disk.
    pub fn save_head(&self, key: &str, n: usize, head: &ResponseHead) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(head).map_err(std::io::Error::other)?;
        let path = self.head_path(key, n);
        let tmp = path.with_extension("head-tmp");
        let mut f = private_create().open(&tmp)?;
        f.write_all(&bytes)?;
        drop(f);
        fs::rename(&tmp, &path)
    }

    /// Reads a response head, if one was stored and is readable.
    pub fn load_head(&self, key: &str, n: usize) -> Option<ResponseHead> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut open_read(&self.head_path(key, n)).ok()?, &mut bytes)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Deletes a registration's directory: renamed away first, so that a crash never leaves
    /// half a registration under its key.
    pub fn remove_fetch(&self, key: &str) -> Result<()> {
        self.remove_dir(&self.fetch_dir(key))
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        let trash = self.root.join(format!(
            "trash-{}-{}",
            std::process::id(),
            crate::util::unique_suffix()
        ));
        fs::rename(dir, &trash).map_err(|e| Error::io("moving a released fetch away", e))?;
        sync_dir(&self.fetches)?;
        fs::remove_dir_all(&trash).map_err(|e| Error::io("deleting a released fetch", e))
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
            let parsed = open_read(&path)
                .and_then(|mut f| {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
                })
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
