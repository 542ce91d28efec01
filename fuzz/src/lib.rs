//! What the fuzz targets check: each function feeds one input to a parser of
//! `bgfetch::fuzzing` and asserts its invariants. A panic is a finding.
//!
//! Shared by the cargo-fuzz targets (`fuzz_targets/`) and by the stable smoke run inside
//! `cargo test` (`tests/fuzz_smoke.rs` includes this file as a module), so it may use only
//! `bgfetch`, `serde_json` and `std`.

use bgfetch::fuzzing::{
    check_id, normalize_header, normalize_method, parse_content_range, resolve_url, Integrity,
};

/// Ports the Fetch standard blocks ("bad ports"), written out again from the standard so that
/// the check does not trust the library's own list.
pub const FETCH_BAD_PORTS: &[u16] = &[
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427,
    465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
    993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
    6668, 6669, 6679, 6697, 10080,
];

/// Headers a host may not set (dropped, not refused).
const LIBRARY_OWNED: &[&str] = &[
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// An HTTP token (RFC 9110 `tchar`s, at least one).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `Content-Range` values: a parsed range is ordered and inside the total, and prints back to
/// a value that parses to the same range.
pub fn content_range(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let Some((start, end, total)) = parse_content_range(&s) else {
        return;
    };
    assert!(start <= end, "{s:?}: start {start} > end {end}");
    if let Some(t) = total {
        assert!(end < t, "{s:?}: end {end} >= total {t}");
    }
    let total_s = total.map_or_else(|| "*".to_string(), |t| t.to_string());
    let canonical = format!("bytes {start}-{end}/{total_s}");
    assert_eq!(
        parse_content_range(&canonical),
        Some((start, end, total)),
        "{s:?}"
    );
}

/// Methods, headers, ids and URLs. The input is used whole as each of them, and split: at the
/// first `:` into a header name and value, at the first newline into a base URL and a URL.
pub fn validate(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    method(&s);
    id(&s);
    url(&s, None);
    let (name, value) = s.split_once(':').unwrap_or((&s, ""));
    header(name, value);
    header(&s, "v");
    if let Some((base, input)) = s.split_once('\n') {
        let base = url::Url::parse(base).ok();
        url(input, base.as_ref());
        url(
            input,
            Some(&url::Url::parse("http://127.0.0.1:8000/a/b?q#f").unwrap()),
        );
    }
}

/// `normalize_method`: refuses exactly the non-tokens and CONNECT/TRACE/TRACK; uppercases
/// exactly the six standard methods; is idempotent.
pub fn method(m: &str) {
    let upper = m.to_ascii_uppercase();
    let forbidden = matches!(upper.as_str(), "CONNECT" | "TRACE" | "TRACK");
    match normalize_method(m) {
        Ok(n) => {
            assert!(is_token(m) && !forbidden, "{m:?} accepted");
            assert!(is_token(&n), "{m:?} -> {n:?} is not a token");
            let standard = matches!(
                upper.as_str(),
                "DELETE" | "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT"
            );
            assert_eq!(n, if standard { upper.as_str() } else { m }, "{m:?}");
            assert_eq!(normalize_method(&n).ok().as_deref(), Some(n.as_str()));
        }
        Err(e) => {
            assert!(!is_token(m) || forbidden, "{m:?} refused: {e}");
            assert!(!e.message().is_empty());
        }
    }
}

/// `normalize_header`: a token name and a value without CR, LF or NUL; the value trimmed of
/// spaces and tabs; the library's own headers dropped.
pub fn header(name: &str, value: &str) {
    let bad_value = value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    match normalize_header(name, value) {
        Ok(Some((n, v))) => {
            assert!(is_token(name) && !bad_value, "{name:?}: {value:?} accepted");
            assert_eq!(n, name);
            assert_eq!(v, value.trim_matches(|c| c == ' ' || c == '\t'));
            assert!(!LIBRARY_OWNED.contains(&name.to_ascii_lowercase().as_str()));
            assert_eq!(
                normalize_header(&n, &v).ok(),
                Some(Some((n.clone(), v.clone())))
            );
        }
        Ok(None) => {
            assert!(is_token(name) && !bad_value);
            assert!(
                LIBRARY_OWNED.contains(&name.to_ascii_lowercase().as_str()),
                "{name:?} dropped"
            );
        }
        Err(e) => {
            assert!(
                !is_token(name) || bad_value,
                "{name:?}: {value:?} refused: {e}"
            );
        }
    }
}

/// `check_id`: exactly the non-empty ids of at most `MAX_ID_LEN` bytes without NUL.
pub fn id(id: &str) {
    let ok = !id.is_empty() && id.len() <= bgfetch::MAX_ID_LEN && !id.contains('\0');
    assert_eq!(check_id(id).is_ok(), ok, "{id:?}");
}

/// `resolve_url`: only absolute http(s) URLs with a host, no credentials, no bad port and no
/// fragment come out, and resolving one again gives it back.
pub fn url(input: &str, base: Option<&url::Url>) {
    let Ok(u) = resolve_url(input, base) else {
        return;
    };
    assert!(
        u.scheme() == "http" || u.scheme() == "https",
        "{input:?} -> {u}"
    );
    assert!(u.username().is_empty(), "{input:?}: credentials kept");
    assert!(u.password().is_none(), "{input:?}: credentials kept");
    assert!(u.host().is_some(), "{input:?}: no host");
    if let Some(p) = u.port() {
        assert!(!FETCH_BAD_PORTS.contains(&p), "{input:?}: bad port {p}");
    }
    assert!(u.fragment().is_none(), "{input:?}: fragment kept");
    let again = resolve_url(u.as_str(), None);
    assert_eq!(
        again.as_ref().ok(),
        Some(&u),
        "{input:?} -> {u} -> {again:?}"
    );
}

/// `Integrity::parse`: a parsed value keeps the trimmed metadata, parses again to itself and
/// names a usable algorithm; hashing with it works.
pub fn integrity(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let Ok(i) = Integrity::parse(&s) else {
        return;
    };
    assert_eq!(i.as_str(), s.trim());
    assert_eq!(Integrity::parse(i.as_str()).as_ref(), Ok(&i));
    let lower = s.to_ascii_lowercase();
    assert!(
        ["sha256-", "sha384-", "sha512-"]
            .iter()
            .any(|a| lower.contains(a)),
        "{s:?}"
    );
    let mut h = i.hasher();
    h.update(data);
    let _ = i.matches(h);
}

/// `parse_state`: whatever the bytes, no panic; an accepted state is consistent, and writing it
/// out again gives a state that is accepted and equal.
pub fn parse_state(data: &[u8]) {
    let Ok(s) = bgfetch::fuzzing::parse_state(data) else {
        return;
    };
    // Older formats are upgraded as they are read: an accepted state is of the current one.
    assert_eq!(s.format, bgfetch::fuzzing::FORMAT_VERSION);
    assert!(check_id(&s.id).is_ok());
    assert!(!s.requests.is_empty());
    assert!(s.outcomes.is_empty() || s.outcomes.len() == s.requests.len());
    assert!(matches!(s.result.as_str(), "" | "success" | "failure"));
    for r in &s.requests {
        let u = url::Url::parse(&r.url).expect("a stored URL parses");
        assert!(u.scheme() == "http" || u.scheme() == "https");
        assert!(u.username().is_empty() && u.password().is_none());
        if let Some(p) = u.port() {
            assert!(!FETCH_BAD_PORTS.contains(&p));
        }
        assert_eq!(normalize_method(&r.method).ok().as_ref(), Some(&r.method));
        for (n, v) in &r.headers {
            assert!(
                matches!(normalize_header(n, v), Ok(Some(_))),
                "{n:?}: {v:?}"
            );
        }
        if let Some(i) = &r.integrity {
            assert!(Integrity::parse(i.as_str()).is_ok());
        }
    }
    let bytes = serde_json::to_vec(&s).expect("a parsed state serializes");
    let again = bgfetch::fuzzing::parse_state(&bytes).expect("a serialized state parses again");
    assert_eq!(serde_json::to_vec(&again).unwrap(), bytes);
}

/// Head logs (`heads.log`): the first byte is the number of records (0..=15), the rest the log.
/// Whatever the bytes: one slot per record; the complete part ends at a newline (or is empty)
/// and nothing after it is a whole line; every head read is consistent and written back as a
/// log line reads back the same.
pub fn head_log(data: &[u8]) {
    let Some((&first, log)) = data.split_first() else {
        return;
    };
    let count = usize::from(first % 16);
    let (heads, complete) = bgfetch::fuzzing::parse_head_log(log, count);
    assert_eq!(heads.len(), count);
    assert!(complete <= log.len());
    assert!(complete == 0 || log[complete - 1] == b'\n');
    assert!(!log[complete..].contains(&b'\n'));
    let mut again = Vec::new();
    for (n, head) in heads.iter().enumerate() {
        let Some(h) = head else { continue };
        assert_eq!(h.headers().len(), h.header_count());
        for (i, (name, value)) in h.headers().enumerate() {
            assert_eq!(h.header_at(i), Some((name, value)));
        }
        assert_eq!(h.header_at(h.header_count()), None);
        again.extend_from_slice(format!("{n} ").as_bytes());
        serde_json::to_writer(&mut again, h).expect("a head serializes");
        again.push(b'\n');
    }
    let (reread, len) = bgfetch::fuzzing::parse_head_log(&again, count);
    assert_eq!(len, again.len());
    assert_eq!(reread, heads, "a head log written back reads back the same");
}
