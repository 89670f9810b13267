//! The `[token_api]` table: the app's API for current tokens, off unless
//! enabled, and then only with a strong key.

use serde::Deserialize;

use super::EnvLookup;
use super::checker::Checker;
use crate::secret::ApiKey;

/// The shortest API key accepted.
const MIN_API_KEY: usize = 32;

/// `[token_api]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokenApi {
    pub(crate) enabled: Option<bool>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) api_key_file: Option<String>,
}

/// `[token_api]`
#[derive(Debug, Clone, Default)]
pub struct TokenApiConfig {
    /// The API key callers must send as `Authorization: Bearer …`; `None`
    /// leaves the API off.
    pub api_key: Option<ApiKey>,
}

/// Checks `[token_api]`: off unless enabled, and then only with a strong key.
pub(super) fn check(c: &mut Checker<'_>, t: &RawTokenApi, env: EnvLookup<'_>) -> TokenApiConfig {
    if !t.enabled.unwrap_or(false) {
        return TokenApiConfig::default();
    }
    if t.api_key_env.is_none() && t.api_key_file.is_none() {
        c.error(
            "token_api.enabled",
            "give exactly one of api_key_env and api_key_file",
        );
    }
    let key = c.strong_key(
        "token_api.api_key",
        (t.api_key_env.as_deref(), t.api_key_file.as_deref()),
        env,
        MIN_API_KEY,
        "the API key",
    );
    TokenApiConfig {
        api_key: key.map(|k| ApiKey::new(k.expose())),
    }
}
