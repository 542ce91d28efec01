//! The core modules form layers: a module imports only modules of lower layers (ARCHITECTURE.md,
//! "Modules"). This reads `src/*.rs` and fails on an import that goes up or sideways, naming
//! it, and on a module missing from the table (a new module must be given its layer).

use std::collections::BTreeMap;
use std::path::Path;

/// Each layer, highest first. A module may import any module of a later line.
const LAYERS: &[&[&str]] = &[
    &["manager"],
    &["scheduler", "syncer"],
    &["events", "transfer"],
    &["registration"],
    &["fetch_state"],
    &["record"],
    &["store", "net"],
    &["config", "request"],
    &["validate", "integrity", "resume", "gate", "segments"],
    &[
        "error", "cancel", "delivery", "gate", "head", "outcome", "panic", "retry", "throttle",
        "util", "web_enum",
    ],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The crate modules `text` refers to (`crate::x`, `use crate::{x, y::z}`), comments left out.
fn imports(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    found.push(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

#[test]
fn core_modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("read src/") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "lib" || name == "ffi" {
            continue;
        }
        if path.is_dir() {
            // A module with submodules (`src/name/mod.rs`, `src/name/part.rs`): one module.
            let mut text = String::new();
            for part in std::fs::read_dir(&path).expect("read a module directory") {
                let part = part.expect("entry").path();
                if part.extension().and_then(|e| e.to_str()) == Some("rs") {
                    text.push_str(&std::fs::read_to_string(&part).expect("read a submodule"));
                    text.push('\n');
                }
            }
            modules.insert(name, text);
        } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
            modules.insert(name, std::fs::read_to_string(&path).expect("read module"));
        }
    }
    assert!(modules.contains_key("registration"), "src/ not found whole");
    let mut wrong = Vec::new();
    for (name, text) in &modules {
        let Some(own) = layer_of(name) else {
            wrong.push(format!("src/{name} has no layer in tests/layers.rs"));
            continue;
        };
        for dep in imports(text) {
            if dep == *name || !modules.contains_key(&dep) {
                continue; // itself, `ffi`, or a name that is not a module
            }
            match layer_of(&dep) {
                Some(l) if l > own => {}
                _ => wrong.push(format!("{name} imports {dep}, which is not below it")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_import_reader_sees_both_forms() {
    let text =
        "use crate::{manager::Shared, store};\n// crate::events\nfn f() { crate::net::x(); }";
    assert_eq!(imports(text), ["manager", "store", "net"]);
}
