//! Newtypes for secret strings: the client secret, authorization codes, tokens
//! and keys.
//!
//! Their `Debug` prints `[redacted]`, they have no `Display`, and their memory is
//! wiped when dropped, so a secret cannot reach a log line or an error page by
//! accident. The value is read only through [`Secret::expose`], which makes every
//! use easy to find in review.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string, wiped on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value. Call it only where the value must leave the process
    /// (an HTTP request to Notion, a plugin call); never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Serializes a secret's value, for `#[serde(serialize_with = ...)]` on the
/// few records whose purpose is to carry it (a token sealed into the vault, a
/// token handed to the app by the token API).
pub fn serialize_exposed<S: serde::Serializer>(value: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.expose())
}

/// [`serialize_exposed`] for an optional secret.
pub fn serialize_exposed_option<S: serde::Serializer>(
    value: &Option<Secret>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(v.expose()),
        None => s.serialize_none(),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// Secret bytes (keys), wiped on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(value: Vec<u8>) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret bytes; never format them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row09_secret_debug_never_shows_the_value() {
        let s = Secret::new("CANARY_SECRET_1");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        let b = SecretBytes::new(b"CANARY_KEY".to_vec());
        assert_eq!(format!("{b:?}"), "[redacted]");
        assert_eq!(s.expose(), "CANARY_SECRET_1");
    }
}
