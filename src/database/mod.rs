//! The gateway's own database: an embedded SQLite file in the data folder,
//! opened in WAL mode with durable (FULL) syncs, or the PostgreSQL database
//! of `[store] url` ([`postgres`]), shared by every instance; either way
//! its schema is brought up to date by embedded migrations at start.
//!
//! It holds plugin key-value data ([`keyvalue`]) and the token vault's
//! tables (see `crate::vault`).

pub mod keyvalue;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// The database file's name inside the data folder.
pub const DATABASE_FILE: &str = "gateway.db";

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The file cannot be created or opened.
    #[error("cannot open the database {path}: {reason}; check that the data folder is writable")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The schema cannot be brought up to date.
    #[error("cannot update the database schema in {path}: {reason}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// PostgreSQL could not be used.
    #[error(transparent)]
    Postgres(#[from] postgres::PostgresError),
}

/// The connections plugin key-value data holds on PostgreSQL, beside the
/// vault's own pool.
const POSTGRES_KEYVALUE_POOL: u32 = 4;

/// An open database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
}

/// The pool of one backend.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    /// The embedded file.
    Sqlite(SqlitePool),
    /// The shared server.
    Postgres(PgPool),
}

impl Database {
    /// The database `[store]` names for plugin data: its PostgreSQL
    /// database when `url` is set (so every instance sees the same data),
    /// else `<data_dir>/gateway.db`.
    pub async fn open_for(
        backend: &crate::config::StoreBackend,
        data_dir: &Path,
    ) -> Result<Self, DatabaseError> {
        match backend {
            crate::config::StoreBackend::Postgres(pg) => Ok(Self {
                pool: Pool::Postgres(postgres::connect(pg, POSTGRES_KEYVALUE_POOL).await?),
            }),
            crate::config::StoreBackend::Sqlite(_) => Self::open_in(data_dir).await,
        }
    }

    /// Opens (creating if needed, mode 0600) `<data_dir>/gateway.db` and
    /// migrates it.
    pub async fn open_in(data_dir: &Path) -> Result<Self, DatabaseError> {
        Self::open_file(&data_dir.join(DATABASE_FILE)).await
    }

    /// Opens (creating if needed, mode 0600, with its folder) the database
    /// file at `path` and migrates it.
    pub async fn open_file(path: &Path) -> Result<Self, DatabaseError> {
        let path = path.to_path_buf();
        let data_dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let fail = |reason: String| DatabaseError::Open {
            path: path.clone(),
            reason,
        };
        crate::data_dir::create_private(data_dir).map_err(|e| fail(e.to_string()))?;
        create_private_file(&path).map_err(|e| fail(e.to_string()))?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| fail(e.to_string()))?;
        sqlx::migrate!("src/database/migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| DatabaseError::Migrate {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Creates `path` empty with mode 0600 if it does not exist, so the database
/// (and the WAL files SQLite gives the same mode) is private from the start.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    match crate::data_dir::create_new_private(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
