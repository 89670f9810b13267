//! The one way the gateway starts an HMAC-SHA256 under a key of its own
//! (state, start links, the compile cache's tags, admin sessions): HMAC
//! takes a key of any length, so this cannot fail.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A fresh HMAC-SHA256 under `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}
