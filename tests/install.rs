//! `make check-install` (scripts/check-install.sh): `make install` into a temporary prefix
//! builds once (the LTO dist profile) and gives a working installation — pkg-config dynamic
//! (with the rpath) and static links, and the CMake package (`find_package(bgfetch CONFIG)`,
//! skipped with a notice where cmake is missing). Run by `cargo test` so that the README's one
//! test command covers the install too.

use std::process::Command;

#[test]
fn make_check_install_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    if Command::new("make").arg("--version").output().is_err() {
        eprintln!("NOTICE: make_check_install_passes skipped: no make");
        return;
    }
    let out = Command::new("make")
        .args(["-s", "check-install"])
        .current_dir(root)
        .output()
        .expect("run make check-install");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make check-install failed:\n{text}");
    eprintln!("{text}");
}
