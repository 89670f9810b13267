//! The `[app_data]` table: how the app vouches for the `data` a flow
//! carries to its consumer, so that nobody else can start a flow in a
//! user's name (account-linking CSRF).

use serde::Deserialize;

use super::EnvLookup;
use super::checker::Checker;
use crate::secret::AppKey;

/// The shortest app key accepted, in bytes.
pub const MIN_APP_KEY: usize = 32;

/// `[app_data]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAppData {
    pub(crate) key_env: Option<String>,
    pub(crate) key_file: Option<String>,
    pub(crate) unsigned: Option<String>,
}

/// What the start route does with `data` that no signature or connect
/// session vouches for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnsignedData {
    /// Refuse it with a 400 page (the default).
    #[default]
    Refuse,
    /// Pass it on, unvouched for (demos; the consumer must not trust it).
    Allow,
}

/// `[app_data]`
#[derive(Debug, Clone, Default)]
pub struct AppDataConfig {
    /// The key the app signs start links with; `None` when signed links
    /// are not used (connect sessions still are).
    pub key: Option<AppKey>,
    /// What happens to unsigned `data`.
    pub unsigned: UnsignedData,
}

/// Checks `[app_data]`.
pub(super) fn check(c: &mut Checker<'_>, t: &RawAppData, env: EnvLookup<'_>) -> AppDataConfig {
    let unsigned = match t.unsigned.as_deref() {
        None | Some("refuse") => UnsignedData::Refuse,
        Some("allow") => UnsignedData::Allow,
        Some(other) => {
            c.error(
                "app_data.unsigned",
                format!(
                    "{other:?} is not a choice; use \"refuse\" (the default) or \"allow\" (demos only: the data is then not vouched for)"
                ),
            );
            UnsignedData::Refuse
        }
    };
    let key = c
        .strong_key(
            "app_data.key",
            (t.key_env.as_deref(), t.key_file.as_deref()),
            env,
            MIN_APP_KEY,
            "the app key",
        )
        .map(|k| AppKey::new(k.expose()));
    AppDataConfig { key, unsigned }
}
