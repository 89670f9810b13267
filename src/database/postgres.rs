//! Connecting to PostgreSQL, shared by the vault's store and plugin
//! key-value data: TLS as `[store] sslmode` asks (through rustls), the
//! schema created and put on the search path, a statement timeout on every
//! connection, the migrations run, and a start-up error that says what the
//! server refused (login, TLS, a missing database) without the URL, which
//! may hold a password.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection as _, Executor as _, PgConnection};

use crate::config::{DatabaseTls, PostgresConfig};

/// How long a pool waits for a free connection (or a new one) before the
/// caller hears the database is unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why PostgreSQL could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PostgresError {
    /// The server could not be reached or refused the connection.
    #[error("{0}")]
    Connect(String),
    /// The schema could not be created or brought up to date.
    #[error("cannot prepare schema {schema:?} in PostgreSQL: {reason}")]
    Schema {
        /// The schema.
        schema: String,
        /// What the server said.
        reason: String,
    },
}

/// The connect options `pg` asks for: URL, TLS, search path (the schema
/// name is checked to be plain: `a-z`, `0-9`, `_`), statement timeout and
/// custom plans.
pub(crate) fn connect_options(pg: &PostgresConfig) -> Result<PgConnectOptions, PostgresError> {
    let options: PgConnectOptions = pg.url.expose().parse().map_err(|_| {
        PostgresError::Connect(
            "[store] url is not a PostgreSQL URL; write it as postgres://user:password@host:5432/database".into(),
        )
    })?;
    let options = match &pg.tls {
        None => options,
        Some(DatabaseTls::Disable) => options.ssl_mode(PgSslMode::Disable),
        Some(DatabaseTls::Prefer) => options.ssl_mode(PgSslMode::Prefer),
        Some(DatabaseTls::Require) => options.ssl_mode(PgSslMode::Require),
        Some(DatabaseTls::VerifyCa { ca_file }) => {
            with_ca(options.ssl_mode(PgSslMode::VerifyCa), ca_file.as_deref())
        }
        Some(DatabaseTls::VerifyFull { ca_file }) => {
            with_ca(options.ssl_mode(PgSslMode::VerifyFull), ca_file.as_deref())
        }
    };
    let timeout = pg.statement_timeout.as_millis().to_string();
    // Statements are planned for the rows they meet: a generic plan,
    // cached by a connection while the tables were small, joins a batch's
    // arrays to a whole table by scanning it, and kept doing so as the
    // table grew (2.4 ms a batch at 20,000 exchanges, against 0.3 ms by the
    // key).
    Ok(options.options([
        ("search_path", pg.schema.clone()),
        ("statement_timeout", timeout),
        ("plan_cache_mode", "force_custom_plan".into()),
    ]))
}

fn with_ca(options: PgConnectOptions, ca_file: Option<&std::path::Path>) -> PgConnectOptions {
    match ca_file {
        Some(path) => options.ssl_root_cert(path),
        None => options,
    }
}

/// Connects with at most `max_connections`, creating the schema if needed
/// and migrating it.
pub async fn connect(pg: &PostgresConfig, max_connections: u32) -> Result<PgPool, PostgresError> {
    let options = connect_options(pg)?;
    let mut setup = PgConnection::connect_with(&options)
        .await
        .map_err(|e| PostgresError::Connect(describe(&e, &options)))?;
    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", pg.schema);
    let schema_error = |e: sqlx::Error| PostgresError::Schema {
        schema: pg.schema.clone(),
        reason: e.to_string(),
    };
    // Two instances starting at once may race to create it; once more settles it.
    if setup.execute(create.as_str()).await.is_err() {
        setup.execute(create.as_str()).await.map_err(schema_error)?;
    }
    let _ = setup.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await
        .map_err(|e| PostgresError::Connect(describe(&e, &options)))?;
    sqlx::migrate!("src/database/migrations/postgres")
        .run(&pool)
        .await
        .map_err(|e| PostgresError::Schema {
            schema: pg.schema.clone(),
            reason: e.to_string(),
        })?;
    Ok(pool)
}

/// What went wrong connecting, naming the host, port, user and database
/// (never the password or the URL) and what to do.
fn describe(e: &sqlx::Error, options: &PgConnectOptions) -> String {
    let at = format!(
        "PostgreSQL at {}:{} (user {:?}, database {:?})",
        options.get_host(),
        options.get_port(),
        options.get_username(),
        options.get_database().unwrap_or(options.get_username()),
    );
    if let Some(db) = e.as_database_error() {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        return match code.as_str() {
            "28P01" | "28000" => format!(
                "{at} refused the login ({}); check the user and password in [store] url",
                db.message()
            ),
            "3D000" => format!(
                "{at}: the database does not exist; create it (createdb) or fix its name in [store] url"
            ),
            "42501" => format!(
                "{at}: permission denied ({}); grant the user CREATE on the database or on [store] schema",
                db.message()
            ),
            _ => format!("{at} refused: {} (SQLSTATE {code})", db.message()),
        };
    }
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if matches!(e, sqlx::Error::Tls(_))
        || lower.contains("tls")
        || lower.contains("ssl")
        || lower.contains("certificate")
    {
        return format!(
            "TLS to {at} failed: {}; check [store] sslmode and ssl_root_cert (the CA that signed the server's certificate) and the server's ssl setting",
            scrub(&text)
        );
    }
    match e {
        sqlx::Error::Io(io) => format!(
            "cannot reach {at}: {io}; check that the server runs and the host and port in [store] url"
        ),
        sqlx::Error::PoolTimedOut => {
            format!("{at} did not answer within {} s", ACQUIRE_TIMEOUT.as_secs())
        }
        _ => format!("cannot connect to {at}: {}", scrub(&text)),
    }
}

/// `text` without anything that looks like a URL (it may hold a password).
fn scrub(text: &str) -> String {
    text.split_whitespace()
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}
