//! A smoke run of the fuzz targets inside `cargo test`, on the stable toolchain and without
//! extra dependencies, in seconds: each target's checks (`fuzz/src/lib.rs`, shared with the
//! cargo-fuzz targets) on the committed seed and regression inputs, then on a few thousand
//! deterministic pseudo-random inputs, some mutated from the seeds and some generated from the
//! grammar of the input. The long run is cargo-fuzz's: see fuzz/README.md.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::PathBuf;

/// Mutated inputs per target.
const MUTATED: usize = 4000;
/// Generated inputs per target.
const GENERATED: usize = 2000;

/// xorshift64*: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let n = self.below(max_len + 1);
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }
}

/// The committed inputs of a target: `fuzz/seeds/<target>/*` and `fuzz/regressions/<target>/*`,
/// in name order.
fn committed(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert_ne!(kind, "seeds", "no seeds in {}", dir.display());
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            let bytes = std::fs::read(&p).unwrap();
            out.push((p, bytes));
        }
    }
    out
}

/// Runs `check` on `input`; a panic fails the test with the input shown for reproduction.
fn run_one(target: &str, origin: &str, check: fn(&[u8]), input: &[u8]) {
    let result = std::panic::catch_unwind(|| check(input));
    if result.is_err() {
        panic!(
            "target {target}: the input from {origin} fails its checks.\n\
             Bytes (escaped): \"{}\"\n\
             Save it under fuzz/regressions/{target}/ and reproduce with \
             `cargo fuzz run {target} fuzz/regressions/{target}/<file>`.",
            input.escape_ascii()
        );
    }
}

/// Byte strings that parsers treat specially.
const INTERESTING: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"18446744073709551615",
    b"18446744073709551616",
    b"4294967296",
    b"65535",
    b"65536",
    b"",
    b" ",
    b"\t",
    b"\r\n",
    b"\0",
    b"%",
    b"%00",
    b"%2e%2e",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b"\xff",
    b"\\",
    b"\"",
    b"@",
    b":",
    b"/",
    b"?",
    b"#",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"null",
];

/// One to four random edits of `input`: bit flips, byte sets, insertions of dictionary tokens
/// or interesting strings, deletions, duplications, truncation, splicing with another input.
fn mutate(rng: &mut Rng, input: &[u8], dict: &[&[u8]], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pos = rng.below(v.len() + 1);
        match rng.below(9) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 if !dict.is_empty() => {
                let t = rng.pick(dict);
                v.splice(pos..pos, t.iter().copied());
            }
            3 => {
                let t = rng.pick(INTERESTING);
                v.splice(pos..pos, t.iter().copied());
            }
            4 if !v.is_empty() => {
                let end = (pos + 1 + rng.below(16)).min(v.len());
                let start = pos.min(end);
                v.drain(start..end);
            }
            5 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(32)).min(v.len());
                let piece = v[start..end].to_vec();
                v.splice(pos..pos, piece);
            }
            6 => v.truncate(pos),
            7 if !others.is_empty() => {
                let o = rng.pick(others);
                let cut = rng.below(o.len() + 1);
                v.truncate(pos);
                v.extend_from_slice(&o[cut..]);
            }
            _ => {
                // A run of one random byte: long inputs, deep nesting.
                let b = rng.next() as u8;
                let n = rng.below(64);
                v.splice(pos..pos, std::iter::repeat_n(b, n));
            }
        }
    }
    v
}

/// The whole smoke run of one target.
fn smoke(
    target: &str,
    check: fn(&[u8]),
    dict: &[&[u8]],
    generate: fn(&mut Rng) -> Vec<u8>,
    seed: u64,
) {
    let files = committed(target);
    for (path, bytes) in &files {
        run_one(target, &path.display().to_string(), check, bytes);
    }
    let mut pool: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    let mut rng = Rng::new(seed);
    for i in 0..GENERATED {
        let input = generate(&mut rng);
        run_one(target, &format!("generated input {i}"), check, &input);
        if i % 50 == 0 {
            pool.push(input);
        }
    }
    for i in 0..MUTATED {
        let base = rng.pick(&pool).clone();
        let input = mutate(&mut rng, &base, dict, &pool);
        run_one(target, &format!("mutated input {i}"), check, &input);
    }
}

// ----- generators: inputs from each parser's grammar, valid and nearly valid -----

fn gen_content_range(rng: &mut Rng) -> Vec<u8> {
    let nums = [
        "0",
        "1",
        "9",
        "10",
        "+5",
        "-1",
        "18446744073709551615",
        "18446744073709551614",
        "18446744073709551616",
        "",
        "*",
    ];
    let num = |rng: &mut Rng| {
        if rng.chance(50) {
            rng.pick(&nums).to_string()
        } else {
            (rng.next() >> rng.below(64)).to_string()
        }
    };
    let sp = |rng: &mut Rng| rng.pick(&["", " ", "  ", "\t", "\u{3000}"]).to_string();
    let unit = rng
        .pick(&["bytes", "bytes", "Bytes", "items", "bytes="])
        .to_string();
    format!(
        "{}{unit}{}{}{}-{}{}/{}{}",
        sp(rng),
        sp(rng),
        num(rng),
        sp(rng),
        num(rng),
        sp(rng),
        num(rng),
        sp(rng)
    )
    .into_bytes()
}

fn gen_url(rng: &mut Rng) -> String {
    let scheme = rng.pick(&[
        "http://",
        "https://",
        "HTTP://",
        "hTTps://",
        "ftp://",
        "file://",
        "data:",
        "javascript:",
        "//",
        "",
        "http:",
        "http:/",
    ]);
    let user = rng.pick(&["", "", "", "u@", "u:p@", ":p@", "@", "%75:%70@"]);
    let host = rng.pick(&[
        "127.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "example.com",
        "EXAMPLE.com.",
        "xn--nxasmq6b.example",
        "0x7f.1",
        "%41.example",
        "",
        "h",
        "[",
        "a b",
    ]);
    let port = match rng.below(4) {
        0 => String::new(),
        1 => format!(":{}", rng.pick(checks::FETCH_BAD_PORTS)),
        2 => format!(":{}", rng.below(70_000)),
        _ => rng
            .pick(&[":80", ":443", ":", ":08080", ":99999999999"])
            .to_string(),
    };
    let path = rng.pick(&["", "/", "/a/b", "/a/../../b", "/%2e%2e/x", "/\\x", "/é"]);
    let query = rng.pick(&["", "?", "?a=1&b=/../", "?%00"]);
    let frag = rng.pick(&["", "#", "#f", "#../x"]);
    format!("{scheme}{user}{host}{port}{path}{query}{frag}")
}

fn gen_validate(rng: &mut Rng) -> Vec<u8> {
    let token: &[u8] = b"!#$%&'*+-.^_`|~0123456789abcXYZ";
    let any: &[u8] = b"aZ09 \t\r\n\0:/@\"(),;<=>?[\\]{}\x7f\xc3\xa9";
    match rng.below(5) {
        0 => gen_url(rng).into_bytes(),
        1 => format!("{}\n{}", gen_url(rng), gen_url(rng)).into_bytes(),
        2 => {
            let rel = rng.pick(&["", "x", "../y", "//h/p", "?q", "#f", "/abs", "\\\\h\\p"]);
            format!("{}\n{rel}", gen_url(rng)).into_bytes()
        }
        3 => {
            let m = rng.pick(&[
                "GET", "get", "Post", "PATCH", "connect", "TRACE", "track", "M-SEARCH", "",
            ]);
            if rng.chance(50) {
                m.as_bytes().to_vec()
            } else {
                let mut v = m.as_bytes().to_vec();
                let alphabet = if rng.chance(50) { token } else { any };
                v.extend(rng.bytes(alphabet, 6));
                v
            }
        }
        _ => {
            let name: Vec<u8> = if rng.chance(30) {
                rng.pick(&["Host", "content-length", "TE", "X-Custom", "Accept"])
                    .as_bytes()
                    .to_vec()
            } else {
                let alphabet = if rng.chance(70) { token } else { any };
                rng.bytes(alphabet, 12)
            };
            let mut v = name;
            v.push(b':');
            v.extend(rng.bytes(any, 20));
            v
        }
    }
}

fn b64(bytes: &[u8], url_safe: bool, pad: bool) -> String {
    let table: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn gen_integrity(rng: &mut Rng) -> Vec<u8> {
    let mut items = Vec::new();
    for _ in 0..rng.below(4) {
        let (alg, len) = *rng.pick(&[
            ("sha256", 32usize),
            ("sha384", 48),
            ("sha512", 64),
            ("SHA512", 64),
            ("md5", 16),
            ("sha1", 20),
        ]);
        let len = match rng.below(6) {
            0 => len.saturating_sub(1),
            1 => len + 1,
            2 => rng.below(70),
            _ => len,
        };
        let digest: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut item = format!("{alg}-{}", b64(&digest, rng.chance(20), rng.chance(90)));
        if rng.chance(20) {
            let option = rng.pick(&["?", "?opt", "?a?b", "!"]);
            item.push_str(option);
        }
        items.push(item);
    }
    let sep = rng.pick(&[" ", "  ", "\t", "\n", " \u{85} "]);
    items.join(sep).into_bytes()
}

/// A valid choice, or (in a wild state, three times in ten) an invalid one.
fn choose(
    rng: &mut Rng,
    wild: bool,
    valid: &[&'static str],
    invalid: &[&'static str],
) -> &'static str {
    if wild && rng.chance(30) {
        invalid[rng.below(invalid.len())]
    } else {
        valid[rng.below(valid.len())]
    }
}

fn gen_state(rng: &mut Rng) -> Vec<u8> {
    use serde_json::{json, Value};
    // Half of the states are valid throughout, so that the accepting path is reached; the
    // others pick each field from valid and invalid choices.
    let wild = rng.chance(50);
    let n = if wild && choose(rng, wild, &["1"], &["0"]) == "0" {
        0
    } else {
        1 + rng.below(3)
    };
    let mut requests = Vec::new();
    for _ in 0..n {
        let url = if wild && rng.chance(30) {
            gen_url(rng)
        } else {
            format!(
                "http://127.0.0.1:{}/bytes/{}",
                1024 + rng.below(60_000),
                rng.below(9)
            )
        };
        let method = choose(
            rng,
            wild,
            &["GET", "POST", "patch", "PUT"],
            &["get", "TRACE", "G T", ""],
        );
        let headers: Vec<Value> = match choose(rng, wild, &["none", "one"], &["owned", "crlf"]) {
            "one" => vec![json!(["X-A", "b"])],
            "owned" => vec![json!(["Host", "h"])],
            "crlf" => vec![json!(["X\nA", "b"]), json!(["X", "a\r\nb"])],
            _ => vec![],
        };
        let integrity = match choose(rng, wild, &["none", "sri"], &["short"]) {
            "sri" => json!(format!("sha256-{}", b64(&[7u8; 32], false, true))),
            "short" => json!("sha256-short"),
            _ => Value::Null,
        };
        let body_len = if rng.chance(30) {
            json!(rng.next() >> rng.below(64))
        } else {
            Value::Null
        };
        requests.push(json!({
            "url": url, "method": method, "headers": headers,
            "body_len": body_len, "integrity": integrity,
        }));
    }
    let result = choose(rng, wild, &["", "success", "failure"], &["done", "Success"]);
    let reason = choose(
        rng,
        wild,
        &["", "aborted", "fetch-error", "quota-exceeded"],
        &["nope", "Aborted"],
    );
    let outcomes: Vec<Value> = if result.is_empty() {
        vec![]
    } else {
        let extra = usize::from(choose(rng, wild, &["0"], &["1"]) == "1");
        (0..n + extra)
            .map(|_| {
                json!(choose(
                    rng,
                    wild,
                    &["done", "failed", "aborted"],
                    &["lost", "Done"]
                ))
            })
            .collect()
    };
    let id = choose(
        rng,
        wild,
        &["f", "../../x", "/etc/passwd", "a\\b", "é"],
        &["", "a\u{0}b"],
    );
    // Formats 1 (0.1.0) and 2 (0.2.0) are read; a newer one is refused.
    let format: u32 = choose(rng, wild, &["1", "2"], &["9"]).parse().unwrap();
    let state = json!({
        "format": format,
        "id": id,
        "title": if rng.chance(50) { json!("Title") } else { Value::Null },
        "icons": if rng.chance(30) {
            json!([{"src": "/i.png", "sizes": "1x1", "type": "image/png", "label": ""}])
        } else {
            json!([])
        },
        "download_total": rng.next() >> rng.below(64),
        "requests": requests,
        "result": result,
        "failure_reason": reason,
        "outcomes": outcomes,
    });
    serde_json::to_vec(&state).unwrap()
}

fn gen_head_log(rng: &mut Rng) -> Vec<u8> {
    // A record count, then lines: mostly whole heads of those records, some of records past
    // the count, garbled or cut short, and sometimes a torn last line.
    let mut out = vec![rng.below(16) as u8];
    let names = ["ETag", "content-length", "", "X-\\u00e9", "Vary"];
    let values = ["\"v1\"", "10", "", "a\\b", "\\u0000"];
    for _ in 0..rng.below(6) {
        let mut headers = Vec::new();
        for _ in 0..rng.below(4) {
            headers.push(format!(
                "[\"{}\",\"{}\"]",
                rng.pick(&names),
                rng.pick(&values)
            ));
        }
        let total = if rng.chance(50) {
            "null".to_string()
        } else {
            rng.below(1000).to_string()
        };
        let mut line = format!(
            "{} {{\"status\":{},\"url\":\"http://127.0.0.1/{}\",\"headers\":[{}],\"total_len\":{}}}\n",
            rng.below(20),
            *rng.pick(&[200, 206, 404, 70000]),
            rng.below(9),
            headers.join(","),
            total
        );
        if rng.chance(10) {
            line.truncate(rng.below(line.len()));
        }
        out.extend_from_slice(line.as_bytes());
    }
    out
}

// ----- the targets -----

#[test]
fn content_range_smoke() {
    smoke(
        "content_range",
        checks::content_range,
        &[b"bytes ", b"-", b"/", b"*", b"18446744073709551615"],
        gen_content_range,
        1,
    );
}

#[test]
fn validate_smoke() {
    smoke(
        "validate",
        checks::validate,
        &[
            b"http://",
            b"https://",
            b"@",
            b":",
            b"\n",
            b"//",
            b"[::1]",
            b":25",
        ],
        gen_validate,
        2,
    );
    // The parts on their own, with inputs that reach the accepting paths.
    let mut rng = Rng::new(22);
    let base = url::Url::parse("http://127.0.0.1:8000/a/").unwrap();
    let mut resolved = 0;
    for _ in 0..GENERATED {
        let u = gen_url(&mut rng);
        checks::url(&u, None);
        checks::url(&u, Some(&base));
        resolved += usize::from(bgfetch::fuzzing::resolve_url(&u, None).is_ok());
        let m = String::from_utf8_lossy(&gen_validate(&mut rng)).into_owned();
        checks::method(&m);
        checks::id(&m);
        checks::header(&m, " v\t");
    }
    assert!(resolved > GENERATED / 10, "only {resolved} URLs resolved");
}

#[test]
fn integrity_smoke() {
    smoke(
        "integrity",
        checks::integrity,
        &[b"sha256-", b"sha384-", b"sha512-", b"?", b"=", b" "],
        gen_integrity,
        3,
    );
}

#[test]
fn parse_state_smoke() {
    smoke(
        "parse_state",
        checks::parse_state,
        &[b"\"id\"", b"\"requests\"", b"null", b"{", b"[", b"\\u0000"],
        gen_state,
        4,
    );
    // The committed valid seeds are accepted (so that the mutations start deep in the parser),
    // and the generator reaches the accepting path too.
    for (path, bytes) in committed("parse_state") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("valid-") {
            let r = bgfetch::fuzzing::parse_state(&bytes);
            assert!(r.is_ok(), "{name}: {:?}", r.err());
        } else if name.starts_with("invalid-") {
            assert!(bgfetch::fuzzing::parse_state(&bytes).is_err(), "{name}");
        }
    }
    let mut rng = Rng::new(44);
    let accepted = (0..GENERATED)
        .filter(|_| bgfetch::fuzzing::parse_state(&gen_state(&mut rng)).is_ok())
        .count();
    assert!(accepted > GENERATED / 20, "only {accepted} states accepted");
}

#[test]
fn head_log_smoke() {
    smoke(
        "head_log",
        checks::head_log,
        &[b"\n", b" ", b"0 ", b"{", b"\"headers\"", b"\\u0000"],
        gen_head_log,
        5,
    );
    // The generator reaches the accepting path: some heads are read.
    let mut rng = Rng::new(55);
    let read = (0..GENERATED)
        .filter(|_| {
            let input = gen_head_log(&mut rng);
            let count = usize::from(input[0] % 16);
            let (heads, _) = bgfetch::fuzzing::parse_head_log(&input[1..], count);
            heads.iter().any(Option::is_some)
        })
        .count();
    assert!(read > GENERATED / 10, "only {read} logs had a head");
}

#[test]
fn the_shared_checks_catch_what_they_should() {
    // The checks themselves are right: each refuses a broken result when given one. These go
    // through the library, so they assert on known inputs rather than on broken outputs.
    assert_eq!(
        bgfetch::fuzzing::parse_content_range("bytes 0-9/10"),
        Some((0, 9, Some(10)))
    );
    assert!(checks::is_token("M-SEARCH"));
    assert!(!checks::is_token("G T"));
    assert!(!checks::is_token(""));
    assert!(checks::FETCH_BAD_PORTS.contains(&25));
    assert_eq!(b64(b"hello", false, true), "aGVsbG8=");
    assert_eq!(b64(&[0xfb, 0xff], true, false), "-_8");
}
