//! The file operations of the store: private files and directories (0600/0700, never through a
//! symlink, never blocking on a planted FIFO), atomic writes (temp file, fsync, rename, fsync of
//! the directory), group commit (`sync_files`), and cleaning what a crash left.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

pub(super) fn create_dir_private(path: &Path) -> Result<()> {
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
pub(super) fn private_append() -> OpenOptions {
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
pub(super) fn is_memory_fs(f_type: rustix::fs::FsWord) -> bool {
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
pub(super) fn read_private(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_read(path)?, &mut bytes)?;
    Ok(bytes)
}

pub(super) fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(&format!("syncing {}", path.display()), e))
}

/// Writes a store file atomically from what `write` writes (buffered): a temp file (mode
/// 0600), fsync, rename, fsync of the directory.
pub(super) fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_via(path, &path.with_extension("tmp"), &private_create(), write)
}

/// Writes `path` atomically through the temp file `tmp` (in the same directory, created with
/// `create`): what `write` writes (buffered), fsync, rename, fsync of the directory. On an
/// error the temp file is gone and `path` untouched.
pub(super) fn write_atomic_via(
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
pub(super) fn copy_out_atomic(from: &Path, dest: &Path) -> Result<()> {
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
pub(super) fn create_store_dir(dir: &Path) -> Result<()> {
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

/// Removes the temp files a crash left in a registration's directory.
pub(super) fn remove_temp_files(dir: &Path) {
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
