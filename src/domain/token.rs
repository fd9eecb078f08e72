//! One-time reset tokens: 256 bits from the OS RNG, URL-safe, stored only as
//! a SHA-256 hash.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// Length of 32 bytes in unpadded base64.
const TOKEN_CHARS: usize = 43;

/// The secret part of a reset link. Never logged: Debug prints stars.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetToken(String);

/// What the database keeps instead of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub String);

impl ResetToken {
    /// A fresh token from the operating system's RNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts a token taken from a URL; anything not shaped like one of ours
    /// is `None` and never reaches the database.
    pub fn from_url(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == TOKEN_CHARS
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(raw.to_owned()))
    }

    pub fn hash(&self) -> TokenHash {
        let digest = Sha256::digest(self.0.as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token itself, for building the link; the only way to see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let a = ResetToken::generate().unwrap();
        let b = ResetToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert_eq!(ResetToken::from_url(a.expose()), Some(a.clone()));
        assert_eq!(a.hash().0.len(), 64);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "ResetToken(***)");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for raw in ["", "short", &"a".repeat(44), &format!("{}/", "a".repeat(42))] {
            assert!(ResetToken::from_url(raw).is_none(), "{raw}");
        }
    }
}
