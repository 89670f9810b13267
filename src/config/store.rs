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
    pub(crate) pool_size: Option<u32>,
    pub(crate) statement_timeout_ms: Option<u64>,
    pub(crate) sslmode: Option<String>,
    pub(crate) ssl_root_cert: Option<String>,
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
    /// A PostgreSQL database, for production and several instances.
    Postgres(PostgresConfig),
}

impl std::fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Self::Postgres(pg) => write!(f, "Postgres(<url hidden>, schema {})", pg.schema),
        }
    }
}

/// How the gateway reaches PostgreSQL (`[store]` keys in brackets).
#[derive(Clone)]
pub struct PostgresConfig {
    /// `postgres://…` (`url`, `url_env`); it may hold a password, so it is
    /// kept as a secret.
    pub url: Secret,
    /// The schema the gateway's tables live in (`schema`, `public` unless
    /// set), so several gateways can share one database.
    pub schema: String,
    /// The most connections one instance opens (`pool_size`).
    pub pool_size: u32,
    /// How long one statement may run before the server cancels it
    /// (`statement_timeout_ms`).
    pub statement_timeout: Duration,
    /// TLS to the server (`sslmode`, `ssl_root_cert`); `None` keeps what the
    /// URL says (`?sslmode=…`), which is `prefer` when it says nothing.
    pub tls: Option<DatabaseTls>,
}

/// `[store] sslmode`, PostgreSQL's own names for how TLS is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTls {
    /// `disable`: never.
    Disable,
    /// `prefer`: when the server offers it, unverified.
    Prefer,
    /// `require`: always, without checking the certificate.
    Require,
    /// `verify-ca`: always, the certificate signed by the CA in `ca_file`
    /// (or a public root when none is given).
    VerifyCa {
        /// `ssl_root_cert`: PEM file of the CA.
        ca_file: Option<PathBuf>,
    },
    /// `verify-full`: as `verify-ca`, and the certificate names the host.
    VerifyFull {
        /// `ssl_root_cert`: PEM file of the CA.
        ca_file: Option<PathBuf>,
    },
}

/// The default and the bounds of `[store] pool_size`.
const POOL_SIZE: (u32, u32, u32) = (8, 2, 100);

/// The default and the most of `[store] statement_timeout_ms`.
const STATEMENT_TIMEOUT_MS: (u64, u64) = (10_000, 600_000);

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

/// `pool_size`: room for the writer and at least one reader.
fn pool_size(c: &mut Checker<'_>, value: Option<u32>) -> u32 {
    let (default, min, max) = POOL_SIZE;
    let n = value.unwrap_or(default);
    if !(min..=max).contains(&n) {
        c.error(
            "store.pool_size",
            format!(
                "must be between {min} and {max} connections (one writes, the rest read), got {n}"
            ),
        );
    }
    n.clamp(min, max)
}

/// `sslmode` and `ssl_root_cert`.
fn database_tls(c: &mut Checker<'_>, s: &RawStore) -> Option<DatabaseTls> {
    let ca_file = s.ssl_root_cert.as_deref().map(PathBuf::from);
    if let Some(path) = &ca_file
        && !path.is_file()
    {
        c.error(
            "store.ssl_root_cert",
            format!("{} does not exist; give the PEM file of the CA that signed the server's certificate", path.display()),
        );
    }
    let Some(mode) = s.sslmode.as_deref() else {
        if ca_file.is_some() {
            c.error(
                "store.ssl_root_cert",
                "is used with sslmode = \"verify-full\" or \"verify-ca\"; set store.sslmode too",
            );
        }
        return None;
    };
    let tls = match mode {
        "disable" => DatabaseTls::Disable,
        "prefer" => DatabaseTls::Prefer,
        "require" => DatabaseTls::Require,
        "verify-ca" => {
            return Some(DatabaseTls::VerifyCa { ca_file });
        }
        "verify-full" => {
            return Some(DatabaseTls::VerifyFull { ca_file });
        }
        other => {
            c.error(
                "store.sslmode",
                format!("{other:?} is not an sslmode; use \"disable\", \"prefer\", \"require\", \"verify-ca\" or \"verify-full\""),
            );
            return None;
        }
    };
    if ca_file.is_some() {
        c.error(
            "store.ssl_root_cert",
            format!("is only checked with sslmode = \"verify-full\" or \"verify-ca\", not {mode:?}; change the mode or remove the file"),
        );
    }
    Some(tls)
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
            StoreBackend::Postgres(PostgresConfig {
                url: Secret::new(url),
                schema,
                pool_size: pool_size(c, s.pool_size),
                statement_timeout: c.duration_ms(
                    "store.statement_timeout_ms",
                    s.statement_timeout_ms,
                    STATEMENT_TIMEOUT_MS.0,
                    STATEMENT_TIMEOUT_MS.1,
                ),
                tls: database_tls(c, s),
            })
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
    if !matches!(backend, StoreBackend::Postgres(_)) {
        let postgres_only = [
            ("store.schema", s.schema.is_some()),
            ("store.pool_size", s.pool_size.is_some()),
            (
                "store.statement_timeout_ms",
                s.statement_timeout_ms.is_some(),
            ),
            ("store.sslmode", s.sslmode.is_some()),
            ("store.ssl_root_cert", s.ssl_root_cert.is_some()),
        ];
        for (key, _) in postgres_only.into_iter().filter(|(_, given)| *given) {
            c.error(
                key,
                "applies to PostgreSQL only; set store.url too, or remove it",
            );
        }
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
