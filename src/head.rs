//! A response head: status line and headers as received, compact, and its stored form.

use serde::{Deserialize, Serialize};

/// A response's status line and headers, as received (after redirects).
///
/// Kept compact, since a registration holds one per record: the final URL and every header
/// name and value live in one string, with a table of where each ends.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// The complete length of the body, when the server said it.
    pub total_len: Option<u64>,
    /// The URL, then each header's name and value.
    text: Box<str>,
    /// Where the URL ends in `text`, then where each name and each value ends.
    ends: Box<[u32]>,
}

/// Whether the answer to a `method` request with `status` has a body (HEAD, 1xx, 204 and 304
/// have none, whatever their `Content-Length` says).
pub(crate) fn has_body(method: &str, status: u16) -> bool {
    method != "HEAD" && !matches!(status, 100..=199 | 204 | 304)
}

impl ResponseHead {
    /// A head of `status` for the final `url`, with `headers` in order (names as received).
    /// Headers past 4 GiB of text in all (more than any server sends) are left out.
    pub fn new<N, V>(
        status: u16,
        url: &str,
        headers: &[(N, V)],
        total_len: Option<u64>,
    ) -> ResponseHead
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        // Exact sizes (a registration keeps one head per record): the headers that fit.
        let fits = |len: usize| u32::try_from(len).is_ok();
        let url = if fits(url.len()) { url } else { "" };
        let mut text_len = url.len();
        let mut count = 0;
        for (n, v) in headers {
            let len = text_len + n.as_ref().len() + v.as_ref().len();
            if !fits(len) {
                break;
            }
            (text_len, count) = (len, count + 1);
        }
        let mut text = String::with_capacity(text_len);
        let mut ends = Vec::with_capacity(1 + 2 * count);
        text.push_str(url);
        ends.push(text.len() as u32);
        for (n, v) in &headers[..count] {
            text.push_str(n.as_ref());
            ends.push(text.len() as u32);
            text.push_str(v.as_ref());
            ends.push(text.len() as u32);
        }
        ResponseHead {
            status,
            total_len,
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// The same head with another complete length.
    pub fn with_total_len(self, total_len: Option<u64>) -> ResponseHead {
        ResponseHead { total_len, ..self }
    }

    /// Final URL, after redirects.
    pub fn url(&self) -> &str {
        &self.text[..self.ends[0] as usize]
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.ends.len() / 2
    }

    /// Header `i` (name, value), in the order received.
    pub fn header_at(&self, i: usize) -> Option<(&str, &str)> {
        let at = 1 + 2 * i;
        let (start, mid, end) = (
            *self.ends.get(at - 1)? as usize,
            *self.ends.get(at)? as usize,
            *self.ends.get(at + 1)? as usize,
        );
        Some((&self.text[start..mid], &self.text[mid..end]))
    }

    /// The headers (name, value), in the order received.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        (0..self.header_count()).map(|i| self.header_at(i).unwrap_or_default())
    }

    /// The first header of that name (case-insensitive): for the protocol's own headers
    /// (Content-Range, ETag, ...). A host asks [`ResponseHead::get`].
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of the header `name` as Fetch's `Headers.get` answers (case-insensitive):
    /// every value of that name, in order, joined with `", "`; `None` if there is none.
    pub fn get(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        let mut values = self
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let first = values.next()?;
        match values.next() {
            None => Some(std::borrow::Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first}, {second}");
                for v in values {
                    joined.push_str(", ");
                    joined.push_str(v);
                }
                Some(std::borrow::Cow::Owned(joined))
            }
        }
    }

    /// Whether the status is 200..=299.
    pub fn ok(&self) -> bool {
        (200..=299).contains(&self.status)
    }

    /// A strong ETag, usable for `If-Range`.
    pub fn strong_etag(&self) -> Option<&str> {
        self.header("etag").filter(|e| !e.starts_with("W/"))
    }
}

impl std::fmt::Debug for ResponseHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseHead")
            .field("status", &self.status)
            .field("url", &self.url())
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("total_len", &self.total_len)
            .finish()
    }
}

/// The stored form: `{"status", "url", "headers": [[name, value], ...], "total_len"}`, and
/// in a head log `"done": true` when the body it heads was stored complete with it.
#[derive(Serialize, Deserialize)]
struct StoredHead<U, H> {
    status: u16,
    url: U,
    headers: H,
    total_len: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    done: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A head as a head log stores it: `done` says that its body is complete (the line is then
/// written after the body was flushed).
pub(crate) struct HeadLine<'a> {
    /// The head.
    pub(crate) head: &'a ResponseHead,
    /// Its body is complete.
    pub(crate) done: bool,
}

impl Serialize for HeadLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let head = self.head;
        StoredHead {
            status: head.status,
            url: head.url(),
            headers: HeaderPairs(head),
            total_len: head.total_len,
            done: self.done,
        }
        .serialize(s)
    }
}

impl HeadLine<'_> {
    /// Appends the line's JSON to `out`: what `serde_json` writes for it, byte for byte, but
    /// a string that needs no escape (a head's strings almost never do) is copied whole
    /// instead of going through serde_json's escaping byte by byte, which was 9 % of a
    /// worker's instructions on many small responses. A string that needs escaping is
    /// written by serde_json.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        use std::io::Write;
        let head = self.head;
        write!(out, "{{\"status\":{},\"url\":", head.status).map_err(serde_json::Error::io)?;
        json_str(out, head.url())?;
        out.extend_from_slice(b",\"headers\":[");
        for (i, (name, value)) in head.headers().enumerate() {
            out.extend_from_slice(if i == 0 { b"[" } else { b",[" });
            json_str(out, name)?;
            out.push(b',');
            json_str(out, value)?;
            out.push(b']');
        }
        out.extend_from_slice(b"],\"total_len\":");
        match head.total_len {
            Some(len) => write!(out, "{len}").map_err(serde_json::Error::io)?,
            None => out.extend_from_slice(b"null"),
        }
        if self.done {
            out.extend_from_slice(b",\"done\":true");
        }
        out.push(b'}');
        Ok(())
    }

    /// Parses a head log's head line: the head, and whether its body is complete.
    pub(crate) fn parse(json: &[u8]) -> serde_json::Result<(ResponseHead, bool)> {
        let h: StoredHead<String, Vec<(String, String)>> = serde_json::from_slice(json)?;
        let head = ResponseHead::new(h.status, &h.url, &h.headers, h.total_len);
        Ok((head, h.done))
    }
}

/// Appends `s` as a JSON string, as serde_json writes it.
fn json_str(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    // Not short-circuiting: the compiler scans whole vectors of bytes at a time.
    let (controls, quotes) = s.bytes().fold((false, false), |(c, q), b| {
        (c | (b < 0x20), q | (b == b'"') | (b == b'\\'))
    });
    if controls {
        return serde_json::to_writer(out, s);
    }
    out.push(b'"');
    if quotes {
        // An ETag's quotes: `\"` and `\\`, as serde_json writes them.
        for b in s.bytes() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
    } else {
        out.extend_from_slice(s.as_bytes());
    }
    out.push(b'"');
    Ok(())
}

/// Serializes the headers as a sequence of `[name, value]` pairs, without copying them.
struct HeaderPairs<'a>(&'a ResponseHead);

impl Serialize for HeaderPairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.headers())
    }
}

impl Serialize for ResponseHead {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HeadLine {
            head: self,
            done: false,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ResponseHead {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let h = StoredHead::<String, Vec<(String, String)>>::deserialize(d)?;
        Ok(ResponseHead::new(h.status, &h.url, &h.headers, h.total_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_line_is_written_as_serde_json_writes_it() {
        let heads = [
            ResponseHead::new(200, "http://a/x", &[("etag", "\"1\""), ("a", "b")], Some(3)),
            ResponseHead::new(404, "http://a/y?q=1", &[] as &[(&str, &str)], None),
            ResponseHead::new(
                206,
                "http://a/%C3%A9",
                &[("x-c", "tab\there"), ("x-u", "é ü \u{7f} \\ end"), ("", "")],
                Some(u64::MAX),
            ),
        ];
        for head in &heads {
            for done in [false, true] {
                let line = HeadLine { head, done };
                let mut fast = Vec::new();
                line.write_json(&mut fast).unwrap();
                let serde = serde_json::to_vec(&line).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&serde)
                );
                let (parsed, parsed_done) = HeadLine::parse(&fast).unwrap();
                assert_eq!((&parsed, parsed_done), (head, done));
            }
        }
    }
}
