//! Plugin key-value data: each plugin has its own namespace, holding any
//! number of named buckets of byte values. The plugin name comes from the
//! host, never from the guest, so one plugin cannot read another's keys.

use super::{Database, DatabaseError, Pool};

/// The longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The longest bucket name accepted.
pub const MAX_BUCKET_CHARS: usize = 64;
/// Writes one value, replacing any value the key had.
const UPSERT: &str = "INSERT INTO plugin_kv (plugin, bucket, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (plugin, bucket, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// Keys per `list-keys` page.
pub const PAGE: u32 = 100;

/// Why a key-value operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyValueError {
    /// The bucket name is not acceptable.
    #[error("bucket names are 1 to 64 characters of letters, digits, '-', '_' and '.'")]
    BadBucket,
    /// The key is empty or too long.
    #[error("keys are 1 to {MAX_KEY_BYTES} bytes")]
    BadKey,
    /// The value is over the plugin's cap.
    #[error("the value is {size} bytes; this plugin may store at most {max} bytes per key")]
    TooLarge {
        /// The value's size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// The plugin already holds its most keys.
    #[error("this plugin already holds its maximum of {max} keys; delete some first")]
    Full {
        /// The cap.
        max: u64,
    },
    /// `increment` on a value that is not a decimal counter.
    #[error("the value at this key is not a counter (decimal digits)")]
    NotACounter,
    /// The counter would pass `u64::MAX`.
    #[error("the counter would overflow")]
    Overflow,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl From<sqlx::Error> for KeyValueError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(DatabaseError::Query(e))
    }
}

/// Checks a bucket name.
pub fn check_bucket(name: &str) -> Result<(), KeyValueError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_BUCKET_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(KeyValueError::BadBucket)
    }
}

fn check_key(key: &str) -> Result<(), KeyValueError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        Err(KeyValueError::BadKey)
    } else {
        Ok(())
    }
}

fn now() -> i64 {
    crate::clock::unix_ms() / 1000
}

/// Runs `$body` with `$pool` bound to the database's pool, whichever
/// backend it is: the statements are written once (`$n` parameters, which
/// both read) and compiled for each.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a transaction `$tx` that holds the plugin's keys still:
/// SQLite's `BEGIN IMMEDIATE`, or on PostgreSQL a transaction-scoped
/// advisory lock on the plugin, so the key count and a counter's value
/// cannot change under it at another instance.
macro_rules! in_transaction {
    ($bucket:expr, $tx:ident => $body:expr) => {
        match $bucket.db.pool() {
            Pool::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind($bucket.lock_id())
                    .execute(&mut *$tx)
                    .await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Whether `$key` has a value, in `$tx`.
macro_rules! key_exists {
    ($bucket:expr, $tx:expr, $key:expr) => {
        sqlx::query(EXISTS)
            .bind(&$bucket.plugin)
            .bind(&$bucket.bucket)
            .bind($key)
            .fetch_optional(&mut *$tx)
            .await?
            .is_some()
    };
}

/// Refuses a new key once the plugin holds its most keys (in `$tx`).
macro_rules! make_room {
    ($bucket:expr, $tx:expr, $key:expr) => {
        if !key_exists!($bucket, $tx, $key) {
            let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugin_kv WHERE plugin = $1")
                .bind(&$bucket.plugin)
                .fetch_one(&mut *$tx)
                .await?;
            if u64::try_from(held).unwrap_or(0) >= $bucket.max_keys {
                return Err(KeyValueError::Full {
                    max: $bucket.max_keys,
                });
            }
        }
    };
}

/// Writes `$value` at `$key` (in `$tx`).
macro_rules! upsert {
    ($bucket:expr, $tx:expr, $key:expr, $value:expr) => {
        sqlx::query(UPSERT)
            .bind(&$bucket.plugin)
            .bind(&$bucket.bucket)
            .bind($key)
            .bind($value)
            .bind(now())
            .execute(&mut *$tx)
            .await?
    };
}

/// Whether a key has a value.
const EXISTS: &str = "SELECT 1 FROM plugin_kv WHERE plugin = $1 AND bucket = $2 AND key = $3";
/// A key's value.
const GET: &str = "SELECT value FROM plugin_kv WHERE plugin = $1 AND bucket = $2 AND key = $3";

/// One plugin's bucket: every operation is scoped to `(plugin, bucket)`.
#[derive(Debug, Clone)]
pub struct Bucket {
    db: Database,
    plugin: String,
    bucket: String,
    max_value_bytes: usize,
    max_keys: u64,
}

impl Bucket {
    /// The bucket `bucket` of `plugin`, with that plugin's caps.
    pub fn open(
        db: Database,
        plugin: &str,
        bucket: &str,
        max_value_bytes: usize,
        max_keys: u64,
    ) -> Result<Self, KeyValueError> {
        check_bucket(bucket)?;
        Ok(Self {
            db,
            plugin: plugin.to_string(),
            bucket: bucket.to_string(),
            max_value_bytes,
            max_keys,
        })
    }

    /// The advisory lock of this bucket's plugin on PostgreSQL: the first
    /// eight bytes of a SHA-256 of its name.
    fn lock_id(&self) -> i64 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("nog-plugin-kv/{}", self.plugin).as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }

    /// The value of `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KeyValueError> {
        check_key(key)?;
        let value: Option<Vec<u8>> = on_pool!(self.db, pool => sqlx::query_scalar(GET)
            .bind(&self.plugin)
            .bind(&self.bucket)
            .bind(key)
            .fetch_optional(pool)
            .await?);
        Ok(value)
    }

    /// Whether `key` has a value.
    pub async fn exists(&self, key: &str) -> Result<bool, KeyValueError> {
        check_key(key)?;
        let found = on_pool!(self.db, pool => sqlx::query(EXISTS)
            .bind(&self.plugin)
            .bind(&self.bucket)
            .bind(key)
            .fetch_optional(pool)
            .await?
            .is_some());
        Ok(found)
    }

    /// Sets `key` to `value`, within the plugin's value and key caps.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), KeyValueError> {
        check_key(key)?;
        if value.len() > self.max_value_bytes {
            return Err(KeyValueError::TooLarge {
                size: value.len(),
                max: self.max_value_bytes,
            });
        }
        in_transaction!(self, tx => {
            make_room!(self, tx, key);
            upsert!(self, tx, key, value);
        });
        Ok(())
    }

    /// Removes `key`; a missing key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), KeyValueError> {
        check_key(key)?;
        on_pool!(self.db, pool => sqlx::query(
            "DELETE FROM plugin_kv WHERE plugin = $1 AND bucket = $2 AND key = $3",
        )
        .bind(&self.plugin)
        .bind(&self.bucket)
        .bind(key)
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    /// One page of keys in key order, starting `cursor` keys in, and the
    /// cursor of the next page when there is one.
    pub async fn list_keys(
        &self,
        cursor: u64,
    ) -> Result<(Vec<String>, Option<u64>), KeyValueError> {
        let offset = i64::try_from(cursor).unwrap_or(i64::MAX);
        let mut keys: Vec<String> = on_pool!(self.db, pool => sqlx::query_scalar(
            "SELECT key FROM plugin_kv WHERE plugin = $1 AND bucket = $2 ORDER BY key LIMIT $3 OFFSET $4",
        )
        .bind(&self.plugin)
        .bind(&self.bucket)
        .bind(i64::from(PAGE) + 1)
        .bind(offset)
        .fetch_all(pool)
        .await?);
        let next = if keys.len() > PAGE as usize {
            keys.truncate(PAGE as usize);
            Some(cursor.saturating_add(u64::from(PAGE)))
        } else {
            None
        };
        Ok((keys, next))
    }

    /// Adds `delta` to the decimal counter at `key` (missing counts as 0) in
    /// one transaction, and returns the new value.
    pub async fn increment(&self, key: &str, delta: u64) -> Result<u64, KeyValueError> {
        check_key(key)?;
        let next = in_transaction!(self, tx => {
            let current: Option<Vec<u8>> = sqlx::query_scalar(GET)
                .bind(&self.plugin)
                .bind(&self.bucket)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            let base = match current {
                None => {
                    make_room!(self, tx, key);
                    0
                }
                Some(bytes) => counter(&bytes)?,
            };
            let next = base.checked_add(delta).ok_or(KeyValueError::Overflow)?;
            upsert!(self, tx, key, next.to_string().into_bytes());
            next
        });
        Ok(next)
    }
}

/// A counter's value: decimal digits only.
fn counter(bytes: &[u8]) -> Result<u64, KeyValueError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(KeyValueError::NotACounter)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bucket(db: &Database, plugin: &str, name: &str) -> Bucket {
        Bucket::open(db.clone(), plugin, name, 16, 3).expect("bucket name is valid")
    }

    #[tokio::test]
    async fn namespaces_caps_and_counters() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::open_in(dir.path()).await.expect("database opens");
        let a = bucket(&db, "plugin-a", "main").await;
        let b = bucket(&db, "plugin-b", "main").await;

        a.set("k", b"one").await.expect("set");
        assert_eq!(a.get("k").await.expect("get"), Some(b"one".to_vec()));
        assert_eq!(
            b.get("k").await.expect("get"),
            None,
            "another plugin's namespace"
        );
        assert!(a.exists("k").await.expect("exists"));

        let too_big = vec![0u8; 17];
        assert!(matches!(
            a.set("big", &too_big).await,
            Err(KeyValueError::TooLarge { size: 17, max: 16 })
        ));
        assert_eq!(
            a.get("big").await.expect("get"),
            None,
            "nothing half-written"
        );

        assert_eq!(a.increment("n", 2).await.expect("increment"), 2);
        assert_eq!(a.increment("n", 3).await.expect("increment"), 5);
        assert_eq!(a.get("n").await.expect("get"), Some(b"5".to_vec()));
        assert!(matches!(
            a.increment("k", 1).await,
            Err(KeyValueError::NotACounter)
        ));

        a.set("z", b"").await.expect("third key");
        assert!(matches!(
            a.set("fourth", b"x").await,
            Err(KeyValueError::Full { max: 3 })
        ));
        a.set("k", b"replaced")
            .await
            .expect("replacing a key needs no room");

        let (keys, next) = a.list_keys(0).await.expect("list");
        assert_eq!(keys, vec!["k", "n", "z"]);
        assert_eq!(next, None);

        a.delete("k").await.expect("delete");
        a.delete("k").await.expect("deleting a missing key is fine");
        assert_eq!(a.get("k").await.expect("get"), None);

        assert!(matches!(
            Bucket::open(db.clone(), "p", "../x", 1, 1),
            Err(KeyValueError::BadBucket)
        ));
        assert!(matches!(a.get("").await, Err(KeyValueError::BadKey)));
    }

    #[tokio::test]
    async fn the_database_file_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        Database::open_in(dir.path()).await.expect("database opens");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(super::super::DATABASE_FILE))
                .expect("file exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        }
    }
}
