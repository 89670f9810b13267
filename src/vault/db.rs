//! The vault's database connection: the embedded SQLite file (durable,
//! WAL) or PostgreSQL in a schema of its own, with migrations run at start.
//! One SQL dialect serves both (`$n` parameters, `ON CONFLICT`, `RETURNING`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyQueryResult, install_default_drivers};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor as _};

use super::error::VaultError;
use crate::config::StoreBackend;
use crate::store::Database;

/// An open vault database.
#[derive(Debug, Clone)]
pub struct VaultDb {
    pool: AnyPool,
    postgres: bool,
}

/// Milliseconds since the Unix epoch, the vault's time unit.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration as milliseconds for arithmetic with [`now_ms`].
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl VaultDb {
    /// Connects and brings the schema up to date.
    pub async fn open(backend: &StoreBackend) -> Result<Self, VaultError> {
        install_default_drivers();
        match backend {
            StoreBackend::Sqlite(path) => {
                // Creates the file private, in WAL mode, and runs the migrations.
                Database::open_file(path)
                    .await
                    .map_err(|e| VaultError::Store(e.to_string()))?;
                let url = format!("sqlite:{}", path.display());
                // SQLite writes one transaction at a time: one connection
                // queues them fairly, where several would contend for the
                // file lock in SQLite's sleeping busy handler (long tails).
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                Ok(Self {
                    pool,
                    postgres: false,
                })
            }
            StoreBackend::Postgres { url, schema } => {
                let setup = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url.expose())
                    .await
                    .map_err(|e| VaultError::Store(describe_connect(&e)))?;
                let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
                // Two instances starting at once may race to create it; once more settles it.
                if setup.execute(create.as_str()).await.is_err() {
                    setup.execute(create.as_str()).await?;
                }
                setup.close().await;
                let search_path = format!("SET search_path TO \"{schema}\"");
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(move |conn, _| {
                        let search_path = search_path.clone();
                        Box::pin(async move {
                            conn.execute(search_path.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect(url.expose())
                    .await
                    .map_err(|e| VaultError::Store(describe_connect(&e)))?;
                sqlx::migrate!("src/store/migrations/postgres")
                    .run(&pool)
                    .await
                    .map_err(|e| VaultError::Store(format!("cannot migrate the schema: {e}")))?;
                Ok(Self {
                    pool,
                    postgres: true,
                })
            }
        }
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs one write that needs no flush of its own: in SQLite with
    /// `synchronous = NORMAL`, so it survives a process crash (it is in the
    /// WAL) and the next durable commit flushes it to disk. For writes whose
    /// loss on a power cut is harmless: the exchange record (evidence only),
    /// an acknowledgement (the delivery is repeated under the same key).
    pub(crate) async fn execute_relaxed<'q>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<AnyQueryResult, sqlx::Error> {
        if self.postgres {
            return query.execute(&self.pool).await;
        }
        let mut conn = self.pool.acquire().await?;
        conn.execute("PRAGMA synchronous = NORMAL").await?;
        let result = query.execute(&mut *conn).await;
        if conn.execute("PRAGMA synchronous = FULL").await.is_err() {
            // Never hand a relaxed connection back to the pool.
            drop(conn.detach());
        }
        result
    }

    /// Whether this is PostgreSQL (shared by several instances).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }
}

/// A connection error without the URL (it may hold a password).
fn describe_connect(e: &sqlx::Error) -> String {
    let text = e.to_string();
    if text.contains("://") {
        "cannot connect to PostgreSQL; check [store] url and that the server runs".into()
    } else {
        format!("cannot connect to PostgreSQL: {text}")
    }
}
