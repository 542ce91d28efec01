//! The store directory at open (issue 23): its path is made absolute once, so every body path
//! the library hands out is absolute, also for a store given as a relative path; and only the
//! store directory itself is created, as `mkdir` without `-p`: a missing parent is
//! `InvalidArgument`, and nothing is created.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use bgfetch::{Config, Error, Manager};

/// `target` written relative to the current directory (`..` up to the root, then down), so
/// that the test works wherever the target directory is.
fn relative_to_cwd(target: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("the current directory");
    let mut rel = PathBuf::new();
    for c in cwd.components() {
        if matches!(c, Component::Normal(_)) {
            rel.push("..");
        }
    }
    rel.join(target.strip_prefix("/").expect("an absolute target"))
}

#[test]
fn a_relative_store_path_gives_absolute_body_paths() {
    let server = TestServer::start();
    let store = temp_store("relative-store");
    let rel = relative_to_cwd(&store);
    assert!(rel.is_relative());
    let mut cfg = Config::new(&rel);
    cfg.set_base_url(&server.base()).unwrap();
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/1000?seed=5"]);
    reg.wait(WAIT).unwrap();
    let path = reg.body_path(0).expect("a body path");
    assert!(path.is_absolute(), "{}", path.display());
    let expected_dir = std::path::absolute(&rel).unwrap();
    assert!(
        path.starts_with(&expected_dir),
        "{} is not in {}",
        path.display(),
        expected_dir.display()
    );
    assert_eq!(std::fs::read(&path).unwrap(), pattern(1000, 5));
    m.close();
}

#[test]
fn open_creates_the_store_directory_but_not_its_parents() {
    let base = temp_store("no-parents");
    let store = base.join("a").join("store");
    let e = Manager::open(Config::new(&store))
        .err()
        .expect("a store whose parent is missing was opened");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("does not exist") && msg.contains(&*store.to_string_lossy()),
        "{msg}"
    );
    assert!(!base.exists(), "open created {}", base.display());

    // With its parent there, the store directory itself is created, mode 0700, and an
    // existing store opens again.
    std::fs::create_dir_all(base.join("a")).unwrap();
    let m = Manager::open(Config::new(&store)).unwrap();
    let mode = std::fs::metadata(&store).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "mode {mode:o}");
    m.close();
    Manager::open(Config::new(&store)).unwrap().close();

    // A file where the store should be is not a store.
    let file = base.join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = Manager::open(Config::new(&file))
        .err()
        .expect("a file was opened as a store");
    assert!(matches!(e, Error::Io(_)), "{e:?}");
}
