//! The `[store]` table: the token vault's database, keys, retention,
//! refresh and delivery.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::EnvLookup;
use super::checker::{Checker, Given, is_world_readable};
use crate::secret::Secret;

/// The vault's key file when none is configured.
pub(super) const GENERATED_KEY_FILE: &str = "vault.key";

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub(crate) url: Option<String>,
    pub(crate) url_env: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) key_env: Option<String>,
    pub(crate) key_file: Option<String>,
    pub(crate) keep_tokens: Option<bool>,
    pub(crate) refresh_after_seconds: Option<u64>,
    pub(crate) lease_seconds: Option<u64>,
    pub(crate) delivery_max_attempts: Option<u32>,
    pub(crate) delivery_initial_backoff_ms: Option<u64>,
    pub(crate) delivery_max_backoff_ms: Option<u64>,
}

/// Where the token vault keeps its rows.
#[derive(Clone)]
pub enum StoreBackend {
    /// The embedded default: a SQLite file (`<data_dir>/gateway.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, for production and several instances. The URL
    /// may hold a password, so it is kept as a secret.
    Postgres {
        /// `postgres://…`
        url: Secret,
        /// The schema the vault's tables live in (`public` unless set), so
        /// several gateways can share one database.
        schema: String,
    },
}

impl std::fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Self::Postgres { schema, .. } => write!(f, "Postgres(<url hidden>, schema {schema})"),
        }
    }
}

/// Where the vault's encryption keys come from (newest first).
#[derive(Debug, Clone)]
pub enum VaultKeySource {
    /// `key_env`: the variable's name and its value (comma-separated keys).
    Env {
        /// The variable's name, for messages.
        var: String,
        /// Its value.
        value: Secret,
    },
    /// `key_file`: one key per line, newest first; must exist.
    File(PathBuf),
    /// No key configured: `<data_dir>/vault.key`, created on first start.
    Generated(PathBuf),
}

/// How tokens are delivered to the consumer: retries and dead-lettering.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryConfig {
    /// Attempts before a delivery is parked as dead.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles per attempt (with jitter).
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

/// `[store]`
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database.
    pub backend: StoreBackend,
    /// The encryption keys.
    pub keys: VaultKeySource,
    /// Keep tokens after delivery (vault mode: refresh and the token API) or
    /// delete them once the consumer took them (pass-through mode).
    pub keep_tokens: bool,
    /// Refresh a kept token once it is this old (on use and on a schedule);
    /// `None` refreshes only on demand.
    pub refresh_after: Option<Duration>,
    /// How long a refresh or delivery lease lasts before it must be renewed.
    pub lease: Duration,
    /// Retries and dead-lettering of deliveries.
    pub delivery: DeliveryConfig,
}

/// Checks `[store]`, reporting problems to `c`.
pub(super) fn check(
    c: &mut Checker<'_>,
    s: &RawStore,
    data_dir: &Path,
    config_path: Option<&Path>,
    env: EnvLookup<'_>,
) -> StoreConfig {
    let url = match c.secret(
        "store.url",
        s.url_env.as_deref(),
        None,
        s.url.as_deref(),
        env,
        "set it to postgres://user@host/db",
    ) {
        Some(Given::Env { value, .. }) => Some(value.expose().to_string()),
        Some(Given::Inline(url)) => {
            let url = url.expose();
            if url.contains('@') && url.contains(':') && config_path.is_some_and(is_world_readable)
            {
                c.error(
                    "store.url",
                    "the URL holds credentials and anyone on this machine can read the config; move it to url_env or run `chmod o-rwx` on the file",
                );
            }
            Some(url.to_string())
        }
        Some(Given::File(_)) | None => None,
    };
    let backend = match url {
        None => StoreBackend::Sqlite(data_dir.join(crate::database::DATABASE_FILE)),
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
            StoreBackend::Sqlite(data_dir.join(crate::database::DATABASE_FILE))
        }
    };
    if s.schema.is_some() && !matches!(backend, StoreBackend::Postgres { .. }) {
        c.error(
            "store.schema",
            "applies to PostgreSQL only; set store.url too, or remove it",
        );
    }
    let keys = match c.secret(
        "store.key",
        s.key_env.as_deref(),
        s.key_file.as_deref(),
        None,
        env,
        "set it to one or more comma-separated 32-byte keys in base64, newest first",
    ) {
        Some(Given::Env { var, value }) => VaultKeySource::Env { var, value },
        Some(Given::File(path)) => {
            let file = path.display();
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
        Some(Given::Inline(_)) | None => {
            VaultKeySource::Generated(data_dir.join(GENERATED_KEY_FILE))
        }
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
