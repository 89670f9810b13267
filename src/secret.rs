//! Newtypes for secret strings, one per kind: the client secret,
//! authorization codes, access and refresh tokens, the API key, and other
//! secrets.
//!
//! Their `Debug` prints `[redacted]`, they have no `Display`, and their memory is
//! wiped when dropped, so a secret cannot reach a log line or an error page by
//! accident. The value is read only through `expose`, which makes every
//! use easy to find in review.

use std::fmt;

use zeroize::Zeroizing;

/// Defines a secret string type: wiped on drop, redacted in `Debug`, no
/// `Display`, read only through `expose`. Each kind of secret has its own
/// type, so one cannot be passed where another is meant (an access token
/// where Notion wants a refresh token, say).
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The secret value. Call it only where the value must leave
            /// the process (an HTTP request to Notion, a plugin call);
            /// never format it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// Whether the secret is the empty string.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl Exposed for $name {
            fn expose(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A secret string whose value some record must carry (see [`serialize_exposed`]).
pub trait Exposed {
    /// The secret value.
    fn expose(&self) -> &str;
}

secret_string!(
    /// A secret string of no more particular kind: a key as written, a
    /// database URL with its password, a plugin setting.
    Secret
);
secret_string!(
    /// The integration's OAuth client secret.
    ClientSecret
);
secret_string!(
    /// An authorization code from Notion's redirect, good for one exchange.
    AuthorizationCode
);
secret_string!(
    /// A bearer token for Notion's API.
    AccessToken
);
secret_string!(
    /// A refresh token, traded with Notion for a new pair (it rotates).
    RefreshToken
);
secret_string!(
    /// The token API's key, which callers send as a bearer token.
    ApiKey
);

/// A token Notion issued, access or refresh: revocation takes either
/// (RFC 7009).
pub trait IssuedToken: Exposed {}

impl IssuedToken for AccessToken {}
impl IssuedToken for RefreshToken {}

/// Serializes a secret's value, for `#[serde(serialize_with = ...)]` on the
/// few records whose purpose is to carry it (a token sealed into the vault, a
/// token handed to the app by the token API).
pub fn serialize_exposed<T: Exposed, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.expose())
}

/// [`serialize_exposed`] for an optional secret.
pub fn serialize_exposed_option<T: Exposed, S: serde::Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(v.expose()),
        None => s.serialize_none(),
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

    /// A key as people write it: base64 (standard, or URL-safe without
    /// padding) or hex; `None` when it is none of these.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine as _;
        let text = text.trim();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .or_else(|_| hex::decode(text))
            .ok()
            .map(Self::new)
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
        let t = AccessToken::new("CANARY_TOKEN");
        assert_eq!(format!("{t:?}"), "[redacted]");
    }
}
