//! Subresource-Integrity metadata: parsing, and a hasher fed while the body streams.

use base64::Engine;
use sha2::Digest;

use crate::error::{Error, Result};

/// A hash algorithm of SRI, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// sha256
    Sha256,
    /// sha384
    Sha384,
    /// sha512
    Sha512,
}

/// Parsed SRI metadata: the digests of the strongest algorithm present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integrity {
    raw: String,
    algorithm: Algorithm,
    digests: Vec<Vec<u8>>,
}

/// Stored as its metadata string, parsed (and so checked) when read.
impl serde::Serialize for Integrity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Integrity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Integrity::parse(&s).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

impl Integrity {
    /// Parses `sha256-<base64>` items separated by whitespace; unknown algorithms are ignored
    /// as SRI requires, but at least one usable item must be present. The strongest algorithm
    /// wins; the body matches if it matches any digest of that algorithm.
    pub fn parse(metadata: &str) -> Result<Integrity> {
        let mut items: Vec<(Algorithm, Vec<u8>)> = Vec::new();
        for token in metadata.split_ascii_whitespace() {
            let token = token.split('?').next().unwrap_or("");
            let Some((alg, b64)) = token.split_once('-') else {
                continue;
            };
            let algorithm = match alg.to_ascii_lowercase().as_str() {
                "sha256" => Algorithm::Sha256,
                "sha384" => Algorithm::Sha384,
                "sha512" => Algorithm::Sha512,
                _ => continue,
            };
            let digest = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(b64))
                .map_err(|_| Error::invalid("integrity metadata has invalid base64"))?;
            if digest.len() != algorithm.digest_len() {
                return Err(Error::invalid(format!(
                    "integrity digest for {alg} has {} bytes, not {}",
                    digest.len(),
                    algorithm.digest_len()
                )));
            }
            items.push((algorithm, digest));
        }
        let Some(strongest) = items.iter().map(|(a, _)| *a).max() else {
            return Err(Error::invalid(
                "integrity metadata has no sha256-, sha384- or sha512- item",
            ));
        };
        Ok(Integrity {
            raw: metadata.trim().to_string(),
            algorithm: strongest,
            digests: items
                .into_iter()
                .filter(|(a, _)| *a == strongest)
                .map(|(_, d)| d)
                .collect(),
        })
    }

    /// The metadata as the host gave it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// A fresh hasher for this metadata's algorithm.
    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }

    /// Whether a finished hasher's digest matches.
    pub fn matches(&self, hasher: Hasher) -> bool {
        let digest = hasher.finish();
        self.digests.contains(&digest)
    }
}

impl Algorithm {
    fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }
}

/// A running hash of a body.
#[derive(Clone)]
pub enum Hasher {
    /// sha256
    Sha256(sha2::Sha256),
    /// sha384
    Sha384(sha2::Sha384),
    /// sha512
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sri(alg: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(alg);
        h.update(data);
        let name = match alg {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        };
        format!(
            "{name}-{}",
            base64::engine::general_purpose::STANDARD.encode(h.finish())
        )
    }

    #[test]
    fn strongest_algorithm_wins() {
        let good512 = sri(Algorithm::Sha512, b"hello");
        let bad256 = sri(Algorithm::Sha256, b"other");
        let i = Integrity::parse(&format!("{bad256} {good512}")).unwrap();
        let mut h = i.hasher();
        h.update(b"hel");
        h.update(b"lo");
        assert!(i.matches(h));
        let i = Integrity::parse(&sri(Algorithm::Sha384, b"hello")).unwrap();
        let mut h = i.hasher();
        h.update(b"hellO");
        assert!(!i.matches(h));
    }

    #[test]
    fn bad_metadata_is_refused() {
        assert!(Integrity::parse("").is_err());
        assert!(Integrity::parse("md5-abc").is_err());
        assert!(Integrity::parse("sha256-!!!").is_err());
        assert!(Integrity::parse("sha256-aGVsbG8=").is_err());
    }
}
