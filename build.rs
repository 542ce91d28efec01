//! Generates include/bgfetch.h from the Rust sources with cbindgen, adding the version macros.
//! The header is committed; it is rewritten only when its content changes.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");

    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = std::env::var("CARGO_PKG_VERSION_PATCH").unwrap();
    // The version macros, then what cbindgen.toml puts after the includes.
    let rest = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(format!(
        "\n/** The version of this header; equal to bgfetch_version() of the matching library. */\n\
         #define BGFETCH_VERSION_MAJOR {major}\n\
         #define BGFETCH_VERSION_MINOR {minor}\n\
         #define BGFETCH_VERSION_PATCH {patch}\n{rest}"
    ));
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => panic!("cbindgen failed: {e}"),
    };
    let out = crate_dir.join("include").join("bgfetch.h");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    if std::fs::read(&out).ok().as_deref() != Some(generated.as_slice()) {
        std::fs::create_dir_all(out.parent().unwrap()).expect("include dir");
        std::fs::write(&out, &generated).expect("writing include/bgfetch.h");
    }
}
