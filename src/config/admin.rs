//! The `[admin]` table: the operator's console in the browser, off unless
//! enabled, and then only behind a strong key, on the admin listener.

use std::net::SocketAddr;

use serde::Deserialize;

use super::EnvLookup;
use super::checker::Checker;
use crate::secret::AdminKey;

/// The shortest admin key accepted, in bytes.
pub const MIN_ADMIN_KEY: usize = 32;

/// Where the console (and with it `/metrics` and the token API) is served
/// when `[admin]` is on and `[server] admin_listen` is not set.
pub(super) const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9100);

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) enabled: Option<bool>,
    pub(crate) key_env: Option<String>,
    pub(crate) key_file: Option<String>,
}

/// `[admin]`
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// The key an operator signs in with; `None` leaves the console off.
    pub key: Option<AdminKey>,
}

/// Checks `[admin]`: off unless enabled, and then only with a strong key.
pub(super) fn check(c: &mut Checker<'_>, a: &RawAdmin, env: EnvLookup<'_>) -> AdminConfig {
    if !a.enabled.unwrap_or(false) {
        return AdminConfig::default();
    }
    if a.key_env.is_none() && a.key_file.is_none() {
        c.error("admin.enabled", "give exactly one of key_env and key_file");
    }
    let key = c.strong_key(
        "admin.key",
        (a.key_env.as_deref(), a.key_file.as_deref()),
        env,
        MIN_ADMIN_KEY,
        "the admin key",
    );
    AdminConfig {
        key: key.map(|k| AdminKey::new(k.expose())),
    }
}
