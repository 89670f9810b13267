//! Checks the `[store]` table (the token vault's database, keys, retention,
//! refresh and delivery) and the `[token_api]` table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawStore, RawTokenApi};
use super::validate::{Checker, is_world_readable};
use super::{DeliveryConfig, EnvLookup, StoreBackend, StoreConfig, TokenApiConfig, VaultKeySource};
use crate::secret::Secret;

/// The vault's key file when none is configured.
pub(super) const GENERATED_KEY_FILE: &str = "vault.key";
/// The shortest API key accepted.
const MIN_API_KEY: usize = 32;

/// Checks `[store]`, reporting problems to `c`.
pub(super) fn check(
    c: &mut Checker<'_>,
    s: &RawStore,
    data_dir: &Path,
    config_path: Option<&Path>,
    env: EnvLookup<'_>,
) -> StoreConfig {
    let url = match (&s.url, &s.url_env) {
        (Some(_), Some(_)) => {
            c.error("store.url", "give only one of url and url_env");
            None
        }
        (Some(url), None) => {
            if url.contains('@') && url.contains(':') && config_path.is_some_and(is_world_readable)
            {
                c.error(
                    "store.url",
                    "the URL holds credentials and anyone on this machine can read the config; move it to url_env or run `chmod o-rwx` on the file",
                );
            }
            Some(url.clone())
        }
        (None, Some(var)) => match env(var).filter(|v| !v.trim().is_empty()) {
            Some(url) => Some(url.trim().to_string()),
            None => {
                c.error(
                    "store.url_env",
                    format!("the environment variable {var} is not set or empty; set it to postgres://user@host/db"),
                );
                None
            }
        },
        (None, None) => None,
    };
    let backend = match url {
        None => StoreBackend::Sqlite(data_dir.join(crate::store::DATABASE_FILE)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let schema = s.schema.clone().unwrap_or_else(|| "public".into());
            let ok = !schema.is_empty()
                && schema.len() <= 63
                && schema.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
                && schema
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                c.error(
                    "store.schema",
                    format!("{schema:?} is not a plain schema name; use 1 to 63 of a-z, 0-9 and _"),
                );
            }
            StoreBackend::Postgres {
                url: Secret::new(url),
                schema,
            }
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            StoreBackend::Sqlite(PathBuf::from(path))
        }
        Some(_) => {
            c.error(
                "store.url",
                "must start with postgres:// (or sqlite: for a file); leave it out for the embedded SQLite database",
            );
            StoreBackend::Sqlite(data_dir.join(crate::store::DATABASE_FILE))
        }
    };
    if s.schema.is_some() && !matches!(backend, StoreBackend::Postgres { .. }) {
        c.error(
            "store.schema",
            "applies to PostgreSQL only; set store.url too, or remove it",
        );
    }
    let keys = match (&s.key_env, &s.key_file) {
        (Some(_), Some(_)) => {
            c.error("store.key_env", "give only one of key_env and key_file");
            VaultKeySource::Generated(data_dir.join(GENERATED_KEY_FILE))
        }
        (Some(var), None) => match env(var).filter(|v| !v.trim().is_empty()) {
            Some(value) => VaultKeySource::Env {
                var: var.clone(),
                value: Secret::new(value),
            },
            None => {
                c.error(
                    "store.key_env",
                    format!("the environment variable {var} is not set or empty; set it to one or more comma-separated 32-byte keys in base64, newest first"),
                );
                VaultKeySource::Generated(data_dir.join(GENERATED_KEY_FILE))
            }
        },
        (None, Some(file)) => {
            let path = PathBuf::from(file);
            if !path.is_file() {
                c.error(
                    "store.key_file",
                    format!("{file} does not exist; create it with `notion-oauth-gateway keys rotate` or write one base64 key per line"),
                );
            } else if is_world_readable(&path) {
                c.error(
                    "store.key_file",
                    format!("anyone on this machine can read {file}; run `chmod 600 {file}`"),
                );
            }
            VaultKeySource::File(path)
        }
        (None, None) => VaultKeySource::Generated(data_dir.join(GENERATED_KEY_FILE)),
    };
    let refresh_after = match s.refresh_after_seconds {
        Some(0) => None,
        Some(secs) if secs < 60 => {
            c.error(
                "store.refresh_after_seconds",
                format!("must be 0 (refresh on demand only) or at least 60, got {secs}"),
            );
            None
        }
        Some(secs) => Some(Duration::from_secs(secs)),
        None => Some(Duration::from_secs(24 * 3600)),
    };
    let lease_secs = s.lease_seconds.unwrap_or(30);
    if !(1..=600).contains(&lease_secs) {
        c.error(
            "store.lease_seconds",
            format!("must be between 1 and 600 seconds, got {lease_secs}"),
        );
    }
    let max_attempts = s.delivery_max_attempts.unwrap_or(10);
    if !(1..=1000).contains(&max_attempts) {
        c.error(
            "store.delivery_max_attempts",
            format!("must be between 1 and 1000, got {max_attempts}"),
        );
    }
    let initial_backoff = c.duration_ms(
        "store.delivery_initial_backoff_ms",
        s.delivery_initial_backoff_ms,
        1_000,
        3_600_000,
    );
    let max_backoff = c.duration_ms(
        "store.delivery_max_backoff_ms",
        s.delivery_max_backoff_ms,
        600_000,
        86_400_000,
    );
    if max_backoff < initial_backoff {
        c.error(
            "store.delivery_max_backoff_ms",
            "must not be shorter than delivery_initial_backoff_ms",
        );
    }
    StoreConfig {
        backend,
        keys,
        keep_tokens: s.keep_tokens.unwrap_or(true),
        refresh_after,
        lease: Duration::from_secs(lease_secs),
        delivery: DeliveryConfig {
            max_attempts,
            initial_backoff,
            max_backoff,
        },
    }
}

/// Checks `[token_api]`: off unless enabled, and then only with a strong key.
pub(super) fn token_api(
    c: &mut Checker<'_>,
    t: &RawTokenApi,
    env: EnvLookup<'_>,
) -> TokenApiConfig {
    if !t.enabled.unwrap_or(false) {
        return TokenApiConfig::default();
    }
    let key = match (&t.api_key_env, &t.api_key_file) {
        (Some(var), None) => env(var).map(|v| v.trim().to_string()).ok_or_else(|| {
            format!("the environment variable {var} is not set; set it to a random key of 32+ characters")
        }),
        (None, Some(file)) => {
            if is_world_readable(Path::new(file)) {
                c.error(
                    "token_api.api_key_file",
                    format!("anyone on this machine can read {file}; run `chmod 600 {file}`"),
                );
            }
            std::fs::read_to_string(file)
                .map(|v| v.trim().to_string())
                .map_err(|e| format!("cannot read {file}: {e}"))
        }
        _ => Err("give exactly one of api_key_env and api_key_file".to_string()),
    };
    match key {
        Ok(key) if key.len() >= MIN_API_KEY => TokenApiConfig {
            api_key: Some(Secret::new(key)),
        },
        Ok(_) => {
            c.error(
                "token_api.api_key_env",
                format!("the API key must be at least {MIN_API_KEY} characters; generate one with `openssl rand -base64 32`"),
            );
            TokenApiConfig::default()
        }
        Err(message) => {
            c.error("token_api.enabled", message);
            TokenApiConfig::default()
        }
    }
}
