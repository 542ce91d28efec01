//! Validation of what a host hands in, as the Fetch standard's `Request` constructor does it.

use crate::error::{Error, Result};

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 64 * 1024;

/// Ports the Fetch standard blocks ("bad ports").
const BAD_PORTS: &[u16] = &[
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427,
    465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
    993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
    6668, 6669, 6679, 6697, 10080,
];

/// Request headers the host may not set: the library owns the framing and the connection.
/// As in the Fetch standard, they are dropped rather than refused.
const LIBRARY_OWNED_HEADERS: &[&str] = &[
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

/// Checks a fetch id: not empty, at most [`MAX_ID_LEN`] bytes, no NUL.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("the id is empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!(
            "the id is {} bytes long; at most {MAX_ID_LEN} are allowed",
            id.len()
        )));
    }
    if id.contains('\0') {
        return Err(Error::invalid("the id contains a NUL character"));
    }
    Ok(())
}

/// Resolves `input` against `base` (an empty input is the base itself) and checks the result.
pub fn resolve_url(input: &str, base: Option<&url::Url>) -> Result<url::Url> {
    check_dangling_markup(input)?;
    let parsed = match base {
        Some(b) => b.join(input),
        None => url::Url::parse(input),
    };
    let mut url = parsed.map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            Error::invalid("relative URL and no base URL is configured")
        }
        other => Error::invalid(format!("invalid URL: {other}")),
    })?;
    check_fetchable_url(&url)?;
    url.set_fragment(None);
    Ok(url)
}

/// Refuses a URL whose input holds a newline or tab (`\n`, `\r`, `\t`) and a `<`: the
/// "dangling markup" injection pattern that browsers block (the URL parser would silently drop
/// the whitespace and percent-encode the `<`; web-platform-tests
/// `background-fetch/dangling-markup.https.window.js`).
pub fn check_dangling_markup(input: &str) -> Result<()> {
    if input.contains(['\n', '\r', '\t']) && input.contains('<') {
        return Err(Error::invalid(
            "URL refused: it holds a newline or tab and a '<' (dangling markup)",
        ));
    }
    Ok(())
}

/// An absolute http(s) URL with a host, no credentials and no bad port.
pub fn check_fetchable_url(url: &url::Url) -> Result<()> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::invalid(format!(
            "URL scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "URL must not contain a username or password",
        ));
    }
    if url.host().is_none() {
        return Err(Error::invalid("URL has no host"));
    }
    if let Some(port) = url.port() {
        if BAD_PORTS.contains(&port) {
            return Err(Error::invalid(format!(
                "port {port} is on the Fetch standard's list of blocked ports"
            )));
        }
    }
    Ok(())
}

fn is_token_byte(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// An HTTP token (method, header name).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Validates and normalizes a method: a token, not CONNECT/TRACE/TRACK; the six standard ones
/// are uppercased as the Fetch standard does.
pub fn normalize_method(method: &str) -> Result<String> {
    if !is_token(method) {
        return Err(Error::invalid(format!(
            "method {method:?} is not an HTTP token"
        )));
    }
    let upper = method.to_ascii_uppercase();
    if matches!(upper.as_str(), "CONNECT" | "TRACE" | "TRACK") {
        return Err(Error::invalid(format!("method {upper} is forbidden")));
    }
    if matches!(
        upper.as_str(),
        "DELETE" | "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT"
    ) {
        Ok(upper)
    } else {
        Ok(method.to_string())
    }
}

/// A header value: no CR, LF or NUL.
pub fn check_header_value(value: &str) -> Result<()> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::invalid("header value contains CR, LF or NUL"));
    }
    Ok(())
}

/// Validates a header; returns the normalized pair, or `None` for a header the library owns.
pub fn normalize_header(name: &str, value: &str) -> Result<Option<(String, String)>> {
    if !is_token(name) {
        return Err(Error::invalid(format!(
            "header name {name:?} is not an HTTP token"
        )));
    }
    check_header_value(value)?;
    if LIBRARY_OWNED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    let trimmed = value.trim_matches(|c| c == ' ' || c == '\t');
    Ok(Some((name.to_string(), trimmed.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_base() {
        let base = url::Url::parse("http://127.0.0.1:8000/podcasts/").unwrap();
        let u = resolve_url("ep-5.mp3#t=3", Some(&base)).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8000/podcasts/ep-5.mp3");
        assert_eq!(resolve_url("", Some(&base)).unwrap(), base);
        assert!(resolve_url("/x", None).is_err());
    }

    #[test]
    fn refused_urls() {
        for bad in [
            "ftp://h/x",
            "http://user:pw@h/x",
            "http://user@h/x",
            "http://h:25/x",
            "http://h:587/",
            "data:text/plain,hi",
            "http://",
        ] {
            let e = resolve_url(bad, None).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}");
            assert!(!e.message().contains("pw"), "credentials echoed: {e}");
        }
    }

    #[test]
    fn methods() {
        assert_eq!(normalize_method("get").unwrap(), "GET");
        assert_eq!(normalize_method("patch").unwrap(), "patch");
        for bad in ["CONNECT", "trace", "Track", "", "GE T", "G\r\n"] {
            assert!(normalize_method(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers() {
        assert!(normalize_header("X-A", "b\r\nc").is_err());
        assert!(normalize_header("X A", "b").is_err());
        assert!(normalize_header("", "b").is_err());
        assert_eq!(normalize_header("Host", "evil").unwrap(), None);
        assert_eq!(
            normalize_header("X-A", " v ").unwrap(),
            Some(("X-A".into(), "v".into()))
        );
    }

    #[test]
    fn ids() {
        assert!(check_id("").is_err());
        assert!(check_id("../../etc/passwd").is_ok());
        assert!(check_id(&"x".repeat(MAX_ID_LEN)).is_ok());
        assert!(check_id(&"x".repeat(MAX_ID_LEN + 1)).is_err());
    }
}
