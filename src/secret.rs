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
secret_string!(
    /// The key the app signs start links with (HMAC-SHA256 over its bytes).
    AppKey
);
secret_string!(
    /// The key an operator signs in to the admin console with.
    AdminKey
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

/// `text` with every value of `secrets` in it replaced by `[redacted]`: for
/// text a plugin wrote (an error message) that the host logs and stores, and
/// that may quote a token the host handed it. Values shorter than 8 bytes
/// are left alone (they cannot be secrets, and would redact ordinary words).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        if text.contains(secret) {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}

/// Secret bytes (keys), wiped on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(value: Vec<u8>) -> Self {
        Self(Zeroizing::new(value))
    }

    /// A key as people write it: hex when it is hex digits only
    /// (`openssl rand -hex 32`), else base64 (standard, or URL-safe without
    /// padding; `openssl rand -base64 32`); `None` when it is neither.
    ///
    /// The rule is unambiguous on purpose: 64 hex digits are also valid
    /// base64 (of 48 other bytes), and reading them so would refuse a good
    /// key or silently use another one.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine as _;
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return hex::decode(text).ok().map(Self::new);
        }
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
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
    fn config_edges_a_64_hex_digit_key_is_read_as_hex_not_as_base64() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = SecretBytes::decode(hex_key).expect("hex");
        assert_eq!(key.expose().len(), 32);
        assert_eq!(key.expose()[..2], [0x00, 0x11]);
        let b64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
        assert_eq!(
            SecretBytes::decode(b64).expect("base64").expose(),
            key.expose()
        );
        let url_safe = "ABEiM0RVZneImaq7zN3u_wARIjNEVWZ3iJmqu8zd7v8";
        assert_eq!(
            SecretBytes::decode(url_safe).expect("url-safe").expose(),
            key.expose()
        );
        assert!(SecretBytes::decode("abc").is_none(), "odd hex is not a key");
        assert!(SecretBytes::decode("not a key!").is_none());
    }

    #[test]
    fn result_page_and_secrets_scrub_takes_known_tokens_out_of_a_message() {
        let said = "refused CANARY_TOKEN_abc123 (refresh CANARY_REFRESH_x9) for ok";
        let scrubbed = scrub(
            said,
            &["CANARY_TOKEN_abc123", "CANARY_REFRESH_x9", "", "ok"],
        );
        assert_eq!(scrubbed, "refused [redacted] (refresh [redacted]) for ok");
    }

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
