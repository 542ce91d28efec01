//! What a host asks for: requests and the options of a fetch.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::integrity::Integrity;
use crate::validate;

/// One request of a fetch, as the host builds it. The URL is resolved and checked by
/// `Manager::fetch`, against the manager's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) url: String,
    pub(crate) method: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) integrity: Option<Integrity>,
}

impl Request {
    /// A GET of `url` (absolute, or relative to the manager's base URL).
    pub fn new(url: &str) -> Request {
        Request {
            url: url.to_string(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            integrity: None,
        }
    }

    /// Sets the method (a token; CONNECT, TRACE and TRACK are refused).
    pub fn set_method(&mut self, method: &str) -> Result<()> {
        self.method = validate::normalize_method(method)?;
        Ok(())
    }

    /// Adds a header. Headers the library owns (Host, Content-Length, ...) are silently dropped.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<()> {
        if let Some(pair) = validate::normalize_header(name, value)? {
            self.headers.push(pair);
        }
        Ok(())
    }

    /// Sets the body to upload.
    pub fn set_body(&mut self, body: &[u8]) {
        self.body = Some(body.to_vec());
    }

    /// Sets Subresource-Integrity metadata the response body must match.
    pub fn set_integrity(&mut self, sri: &str) -> Result<()> {
        self.integrity = Some(Integrity::parse(sri)?);
        Ok(())
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The headers, in the order added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

/// An image resource of the fetch's UI, as the web's `ImageResource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Icon {
    /// The icon's URL, as given.
    pub src: String,
    /// Its sizes, e.g. "300x300"; empty when not given.
    pub sizes: String,
    /// Its MIME type; empty when not given.
    #[serde(rename = "type")]
    pub type_: String,
    /// Its accessible label; empty when not given.
    pub label: String,
}

/// The options of a fetch: its UI and an optional download total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// The title, if any.
    pub title: Option<String>,
    /// The icons.
    pub icons: Vec<Icon>,
    /// The most bytes the responses may hold in all; 0 for no limit.
    pub download_total: u64,
    /// Whether the fetch starts paused (it is stored, and runs once resumed).
    pub start_paused: bool,
}

impl FetchOptions {
    /// Checks the options: icons need a `src`.
    pub fn check(&self) -> Result<()> {
        if self.icons.iter().any(|i| i.src.is_empty()) {
            return Err(Error::invalid("an icon has an empty src"));
        }
        Ok(())
    }
}
