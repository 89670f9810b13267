//! The app vouching for a flow's `data`: anyone can open the start route,
//! so `data` (the app's user id, say) reaches the consumer only when the
//! app chose it. Two ways, both checked here before Notion is involved:
//!
//! - a **signed start link**, `start?data=D&exp=T&sig=S`, that the app's
//!   backend computes without a round trip: `S` is the lowercase hex
//!   HMAC-SHA256, under the app key, of the bytes `T + "." + D`, and `T` a
//!   Unix time in seconds at most [`MAX_LINK_AHEAD_SECS`] ahead;
//! - a **connect session**, `start?session=ID`, that the app opened through
//!   the token API: single use, [`SESSION_SECS`] long, kept in the vault's
//!   store so any instance sharing it can take it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secret::AppKey;

/// How far ahead a signed start link's `exp` may be.
pub const MAX_LINK_AHEAD_SECS: u64 = 15 * 60;
/// How long a connect session stays open.
pub const SESSION_SECS: u64 = 10 * 60;

/// Why the start route refused a flow's app data. Each is a 400 page that
/// says which; the log line is the same sentence (it holds no value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppDataRefusal {
    /// `data` came with neither a signature nor a session, and
    /// `[app_data] unsigned` is `"refuse"`.
    #[error(
        "`data` is not signed: the app must sign its start links (`exp` and `sig`) or open a connect session"
    )]
    Unsigned,
    /// Only one of `exp` and `sig` came, or they came without `data`.
    #[error(
        "the start link's signature is missing: a signed link carries `data`, `exp` and `sig` together"
    )]
    MissingSignature,
    /// `exp` is not a Unix time in seconds.
    #[error("the start link's `exp` is not a Unix time in seconds")]
    BadExpiry,
    /// `exp` has passed.
    #[error("the start link has expired")]
    Expired,
    /// `exp` is further ahead than a link may live.
    #[error("the start link's `exp` is more than 15 minutes ahead")]
    TooFarAhead,
    /// `sig` is not the HMAC of this `exp` and `data` under the app key.
    #[error("the start link's signature is wrong")]
    WrongSignature,
    /// The link is signed but the gateway has no app key to check it with.
    #[error("the start link is signed, but [app_data] has no key_env or key_file to check it")]
    NoKey,
    /// The session id is unknown, already used, or expired.
    #[error("the connect session is unknown, already used or expired")]
    SessionGone,
    /// A session and `data` (or a signature) in one link.
    #[error("a start link carries either `session` or `data`, not both")]
    SessionAndData,
}

impl AppDataRefusal {
    /// The sentence the user reads on the 400 page.
    pub fn user_message(self) -> &'static str {
        match self {
            Self::Expired | Self::SessionGone => {
                "This link to connect Notion has expired or was already used. Please go back to the app and start again."
            }
            Self::WrongSignature => {
                "This link to connect Notion has a wrong signature, so it may have been altered. Please go back to the app and start again."
            }
            Self::Unsigned | Self::MissingSignature => {
                "This link to connect Notion is missing the app's signature. Please go back to the app and start again."
            }
            Self::BadExpiry | Self::TooFarAhead | Self::NoKey | Self::SessionAndData => {
                "This link to connect Notion is not valid. Please go back to the app and start again."
            }
        }
    }
}

/// The signature of a start link: lowercase hex HMAC-SHA256 under `key` of
/// `exp + "." + data`. What the app computes; here for tests, tools and
/// [`check_signed_link`].
pub fn sign_start_link(key: &AppKey, exp: u64, data: &str) -> String {
    hex::encode(mac(key, &exp.to_string(), data).finalize().into_bytes())
}

/// The MAC of `exp + "." + data`, with `exp` as the digits sent.
fn mac(key: &AppKey, exp: &str, data: &str) -> Hmac<Sha256> {
    let mut mac = crate::keyed_mac::hmac_sha256(key.expose().as_bytes());
    mac.update(exp.as_bytes());
    mac.update(b".");
    mac.update(data.as_bytes());
    mac
}

/// Checks a signed start link's `exp` and `sig` for `data` at `now` (Unix
/// seconds); the signature is compared in constant time.
pub fn check_signed_link(
    key: Option<&AppKey>,
    data: &str,
    exp: &str,
    sig: &str,
    now: u64,
) -> Result<(), AppDataRefusal> {
    let key = key.ok_or(AppDataRefusal::NoKey)?;
    if exp.is_empty() || exp.len() > 20 || !exp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppDataRefusal::BadExpiry);
    }
    let exp_secs: u64 = exp.parse().map_err(|_| AppDataRefusal::BadExpiry)?;
    if exp_secs <= now {
        return Err(AppDataRefusal::Expired);
    }
    if exp_secs > now.saturating_add(MAX_LINK_AHEAD_SECS) {
        return Err(AppDataRefusal::TooFarAhead);
    }
    // Only the lowercase hex the contract names; anything else cannot match.
    let sig_bytes = (sig.len() == 64 && !sig.bytes().any(|b| b.is_ascii_uppercase()))
        .then(|| hex::decode(sig).ok())
        .flatten()
        .ok_or(AppDataRefusal::WrongSignature)?;
    // `exp` is checked as the digits sent, so `0123` is not `123`.
    mac(key, exp, data)
        .verify_slice(&sig_bytes)
        .map_err(|_| AppDataRefusal::WrongSignature)
}

/// A fresh connect session id (256 random bits, hex) and the hash the store
/// keeps in its place.
pub fn new_session_id() -> (String, String) {
    let id = hex::encode(rand::random::<[u8; 32]>());
    let hash = session_hash(&id);
    (id, hash)
}

/// What the store keeps of a session id: its SHA-256, hex, so the store's
/// rows cannot be replayed as links.
pub fn session_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Whether `id` has the shape of a session id (and is worth a lookup).
pub fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AppKey {
        AppKey::new("k".repeat(32))
    }

    #[test]
    fn a_link_signed_with_the_key_passes_until_it_expires() {
        let sig = sign_start_link(&key(), 1_000_600, "user-42");
        assert_eq!(sig.len(), 64);
        let check =
            |data, exp, sig: &str, now| check_signed_link(Some(&key()), data, exp, sig, now);
        assert_eq!(check("user-42", "1000600", &sig, 1_000_000), Ok(()));
        assert_eq!(
            check("user-43", "1000600", &sig, 1_000_000),
            Err(AppDataRefusal::WrongSignature)
        );
        assert_eq!(
            check("user-42", "1000600", &sig.to_uppercase(), 1_000_000),
            Err(AppDataRefusal::WrongSignature)
        );
        assert_eq!(
            check("user-42", "1000600", &sig, 1_000_600),
            Err(AppDataRefusal::Expired)
        );
        assert_eq!(
            check(
                "user-42",
                "1000600",
                &sig,
                1_000_600 - MAX_LINK_AHEAD_SECS - 1
            ),
            Err(AppDataRefusal::TooFarAhead)
        );
        assert_eq!(
            check("user-42", "01000600", &sig, 1_000_000),
            Err(AppDataRefusal::WrongSignature)
        );
        assert_eq!(
            check("user-42", "-5", &sig, 1_000_000),
            Err(AppDataRefusal::BadExpiry)
        );
        assert_eq!(
            check_signed_link(None, "user-42", "1000600", &sig, 1_000_000),
            Err(AppDataRefusal::NoKey)
        );
    }

    #[test]
    fn the_signature_is_what_openssl_computes() {
        // printf '%s' '1700000000.user-42' | openssl dgst -sha256 -hmac kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
        assert_eq!(
            sign_start_link(&key(), 1_700_000_000, "user-42"),
            "7a129c85f578f2cd51a25cd5a914a9c60f090ef35f3af7d6fcc097bcf402425b"
        );
    }
}
