//! The documentation says what the code does (issue 23): every C and C++ code block of
//! `README.md` compiles against the headers of this checkout, the version the READMEs' sample
//! output shows is this crate's, and the README's install table names every file `make
//! install` installs.
//!
//! Each fenced block whose info string is `c` or `cpp` is written to a file and compiled with
//! `cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I include` (`$CC`), or
//! `c++ -std=c++17 -Wall -Wextra -Werror -pedantic -fsyntax-only -I include` (`$CXX`), with
//! `#line` directives so that a diagnostic names the README's own line. A block that is not a
//! whole translation unit says how to wrap it in an HTML comment right before its fence (not
//! shown when the Markdown is rendered):
//!
//! ```text
//! <!-- snippet: MODE
//! optional prelude: lines put first, at file scope (includes, the variables the block uses)
//! -->
//! ```
//!
//! MODE is `file` (the block as it is: the same as no comment), `main` (the block is the body
//! of `int main`, which then returns 0) or `head+main` (the block's first paragraph, up to its
//! first blank line, stays at file scope, the rest is the body of `int main`). An unknown mode,
//! or a marker not followed by a C or C++ block, fails the test: no block goes unchecked.

mod common;
use common::ffi_runner::{cc, include_dir, manifest_dir, run_with_timeout, tmp_dir};

use std::process::Command;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    C,
    Cpp,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    File,
    Main,
    HeadMain,
}

#[derive(Debug)]
struct Snippet {
    /// The 1-based line of the block's first line of code in its document.
    line: usize,
    lang: Lang,
    mode: Mode,
    prelude: String,
    code: Vec<String>,
}

const MARKER: &str = "<!-- snippet:";

/// The marker (mode and prelude) whose comment ends on line `end` (0-based), if any.
fn marker_before(lines: &[&str], end: usize) -> Option<(usize, Mode, String)> {
    if !lines[end].trim_end().ends_with("-->") {
        return None;
    }
    let start = (0..=end)
        .rev()
        .find(|&i| lines[i].trim_start().starts_with("<!--"))?;
    let first = lines[start].trim_start().strip_prefix(MARKER)?;
    let first = first.trim_end().trim_end_matches("-->").trim();
    let mode = match first {
        "file" => Mode::File,
        "main" => Mode::Main,
        "head+main" => Mode::HeadMain,
        other => panic!("line {}: unknown snippet mode {other:?}", start + 1),
    };
    let mut prelude = String::new();
    if end > start {
        for l in &lines[start + 1..end] {
            prelude.push_str(l);
            prelude.push('\n');
        }
        let last = lines[end].trim_end().trim_end_matches("-->");
        if !last.trim().is_empty() {
            prelude.push_str(last);
            prelude.push('\n');
        }
    }
    Some((start, mode, prelude))
}

/// Every C and C++ block of a Markdown text. Panics on a malformed or stray marker.
fn snippets(markdown: &str) -> Vec<Snippet> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut used_markers = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let lang = match info.trim() {
            "c" => Some(Lang::C),
            "cpp" | "c++" => Some(Lang::Cpp),
            _ => None,
        };
        let open = i;
        let mut code = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            code.push(lines[i].to_owned());
            i += 1;
        }
        assert!(i < lines.len(), "line {}: unclosed code block", open + 1);
        i += 1;
        let Some(lang) = lang else { continue };
        let (mode, prelude) = match open.checked_sub(1).and_then(|e| marker_before(&lines, e)) {
            Some((at, mode, prelude)) => {
                used_markers.push(at);
                (mode, prelude)
            }
            None => (Mode::File, String::new()),
        };
        out.push(Snippet {
            line: open + 2,
            lang,
            mode,
            prelude,
            code,
        });
    }
    for (n, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with(MARKER) {
            assert!(
                used_markers.contains(&n),
                "line {}: a snippet marker not right before a C or C++ block",
                n + 1
            );
        }
    }
    out
}

/// The translation unit of a snippet of document `doc`.
fn source(s: &Snippet, doc: &str) -> String {
    let line = |n: usize| format!("#line {} \"{doc}\"\n", s.line + n);
    let lines = |from: usize, code: &[String]| -> String {
        let mut t = line(from);
        for l in code {
            t.push_str(l);
            t.push('\n');
        }
        t
    };
    let main = match s.lang {
        Lang::C => "int main(void) {\n",
        Lang::Cpp => "int main() {\n",
    };
    let mut src = s.prelude.clone();
    match s.mode {
        Mode::File => src.push_str(&lines(0, &s.code)),
        Mode::Main => {
            src.push_str(main);
            src.push_str(&lines(0, &s.code));
            src.push_str("return 0;\n}\n");
        }
        Mode::HeadMain => {
            let blank = s
                .code
                .iter()
                .position(|l| l.trim().is_empty())
                .unwrap_or_else(|| {
                    panic!(
                        "{doc}:{}: a head+main snippet without a blank line after its head",
                        s.line
                    )
                });
            src.push_str(&lines(0, &s.code[..blank]));
            src.push_str(main);
            src.push_str(&lines(blank + 1, &s.code[blank + 1..]));
            src.push_str("return 0;\n}\n");
        }
    }
    src
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned())
}

/// Compiles a snippet (syntax and warnings only); the compiler's complaint on failure.
fn compile(s: &Snippet, doc: &str, name: &str) -> Result<(), String> {
    let src = source(s, doc);
    let (compiler, ext, std) = match s.lang {
        Lang::C => (cc(), "c", "-std=c11"),
        Lang::Cpp => (cxx(), "cpp", "-std=c++17"),
    };
    let file = tmp_dir("readme_snippets").join(format!("{name}.{ext}"));
    std::fs::write(&file, &src).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    let mut cmd = Command::new(&compiler);
    cmd.args([
        std,
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-fsyntax-only",
    ])
    .arg("-I")
    .arg(include_dir())
    .arg(&file);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(120));
    if ok {
        return Ok(());
    }
    let numbered: String = src
        .lines()
        .enumerate()
        .map(|(n, l)| format!("{:4} {l}\n", n + 1))
        .collect();
    Err(format!(
        "{doc}:{}: the {:?} block does not compile with {compiler} ({how}):\n{text}\n\
         --- {} ---\n{numbered}",
        s.line,
        s.lang,
        file.display()
    ))
}

fn readme() -> String {
    let p = manifest_dir().join("README.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn every_c_and_cpp_block_of_the_readme_compiles() {
    let all = snippets(&readme());
    for lang in [Lang::C, Lang::Cpp] {
        assert!(
            all.iter().any(|s| s.lang == lang),
            "no {lang:?} block found in README.md"
        );
    }
    let failures: Vec<String> = all
        .iter()
        .enumerate()
        .filter_map(|(n, s)| compile(s, "README.md", &format!("readme_{n}")).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} README blocks do not compile:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
    println!("{} README blocks compile", all.len());
}

/// The check itself: a block with a mistake fails it (the two C++ mistakes the README once
/// taught), and the same block corrected passes, wrapped the same way.
#[test]
fn a_block_that_does_not_compile_fails_the_check() {
    let doc = |catch_line: &str, match_line: &str| {
        format!(
            "text\n\n<!-- snippet: head+main\n#include <iostream>\n-->\n```cpp\n\
             #include <bgfetch.hpp>\nusing namespace std::chrono_literals;\n\n\
             try {{\n    bgfetch::manager m(bgfetch::config(\"store\"));\n\
             \x20   bgfetch::registration reg = m.fetch_urls(\"id\", {{\"https://example.com/\"}});\n\
             \x20   {match_line}\n}} catch (const bgfetch::error &e) {{\n    {catch_line}\n}}\n```\n"
        )
    };
    let good_catch =
        "std::cerr << bgfetch::to_string(e.code()) << \": \" << e.message() << \"\\n\";";
    let good_match = "if (auto rec = reg.match(\"/\")) (void)rec->response_ready(5s).status();";
    let cases = [
        ("good", doc(good_catch, good_match), true),
        (
            "code_streamed",
            doc("std::cerr << e.code() << \"\\n\";", good_match),
            false,
        ),
        (
            "match_not_optional",
            doc(
                good_catch,
                "(void)reg.match(\"/\").response_ready(5s).status();",
            ),
            false,
        ),
        (
            "c_unused_variable",
            "<!-- snippet: main\n#include <bgfetch.h>\n-->\n```c\n\
             bgfetch_status s = BGFETCH_OK;\n```\n"
                .to_owned(),
            false,
        ),
    ];
    for (name, text, compiles) in cases {
        let s = snippets(&text);
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        let r = compile(&s[0], "test.md", &format!("selftest_{name}"));
        assert_eq!(r.is_ok(), compiles, "{name}: {r:?}");
        if let Err(e) = r {
            // The diagnostic names the document's own line.
            assert!(e.contains("test.md:"), "{name}: {e}");
        }
    }
}

#[test]
fn snippet_markers_are_checked() {
    let parse = |text: &'static str| std::panic::catch_unwind(|| snippets(text)).is_ok();
    assert!(parse("<!-- snippet: main -->\n```c\nint x;\n```\n"));
    assert!(!parse("<!-- snippet: mian -->\n```c\nint x;\n```\n"));
    assert!(!parse("<!-- snippet: main -->\n\n```c\nint x;\n```\n"));
    assert!(!parse("<!-- snippet: main -->\n```sh\nls\n```\n"));
    // Other HTML comments and other languages are left alone; an unmarked block is a file.
    let s = snippets("<!-- a note -->\n```c\nint x;\n```\n```python\nx = 1\n```\n");
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].mode, s[0].line), (Mode::File, 3));
}

/// Every "libbgfetch X.Y.Z" in the READMEs (sample output) is this crate's version.
#[test]
fn the_readmes_show_the_current_version() {
    let v = env!("CARGO_PKG_VERSION");
    let root = manifest_dir();
    let mut seen = 0;
    for doc in ["README.md", "examples-c/README.md", "python/README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for (at, _) in text.match_indices("libbgfetch ") {
            let rest = &text[at + "libbgfetch ".len()..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            if word.split('.').filter(|p| !p.is_empty()).count() == 3 {
                seen += 1;
                assert_eq!(
                    word.trim_end_matches('.'),
                    v,
                    "{doc} shows libbgfetch {word}"
                );
            }
        }
    }
    assert!(
        seen >= 2,
        "expected the podcast's and the CLI's sample output in examples-c/README.md"
    );
}

/// The README's table of installed files names every file the Makefile's `uninstall` removes
/// (the list of what `install` installs; the soname symlink is named by its pattern).
#[test]
fn the_install_table_lists_every_installed_file() {
    let root = manifest_dir();
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let recipe: String = makefile
        .split("\nuninstall:")
        .nth(1)
        .expect("an uninstall rule in the Makefile")
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('\t') || l.starts_with("    "))
        .collect::<Vec<_>>()
        .join(" ");
    let installed: Vec<String> = recipe
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("$(DESTDIR)$("))
        .filter_map(|w| {
            w.split_once(")/")
                .map(|(_, f)| f.replace("$(VERSION)", "VERSION"))
        })
        .filter(|f| !f.contains("$("))
        .collect();
    assert!(installed.len() >= 6, "{installed:?} from {recipe}");
    let readme = readme();
    let table: Vec<&str> = readme
        .split("## Install and linking")
        .nth(1)
        .expect("README section \"Install and linking\"")
        .lines()
        .skip_while(|l| !l.starts_with("| file |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let missing: Vec<&String> = installed
        .iter()
        .filter(|f| !table.iter().any(|row| row.contains(f.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's install table leaves out {missing:?}:\n{}",
        table.join("\n")
    );
}
