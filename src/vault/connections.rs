//! The authorizations the vault keeps (vault mode): their non-secret facts,
//! their sealed current token, and the lease that lets one instance at a
//! time refresh or revoke a token.

use std::time::Duration;

use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::db::{ms, now_ms};
use super::{Vault, VaultError, connection_row};
use crate::notion::TokenResponse;

/// What the vault knows about one authorization, without its secrets (safe
/// to list and to print).
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    /// The authorization's id.
    pub bot_id: String,
    /// The workspace.
    pub workspace_id: String,
    /// The workspace's name.
    pub workspace_name: Option<String>,
    /// The user who authorized, when Notion said.
    pub owner_user_id: Option<String>,
    /// 1 for the first token, +1 for every new pair (refresh or reconnect).
    pub version: i64,
    /// When it was first connected (ms since the epoch).
    pub created_at: i64,
    /// When the current token arrived (ms since the epoch).
    pub updated_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "bot_id, workspace_id, workspace_name, owner_user_id, version, created_at, updated_at, revoked_at";

fn connection_of(r: &AnyRow) -> Result<Connection, VaultError> {
    Ok(Connection {
        bot_id: r.try_get("bot_id")?,
        workspace_id: r.try_get("workspace_id")?,
        workspace_name: r.try_get("workspace_name")?,
        owner_user_id: r.try_get("owner_user_id")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// A held lease on one connection; release it with [`Vault::release_lease`].
#[derive(Debug)]
pub struct Lease {
    bot_id: String,
}

impl Vault {
    /// Every connection, newest first.
    pub async fn connections(&self) -> Result<Vec<Connection>, VaultError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM vault_connection ORDER BY created_at DESC, bot_id"
        ))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(connection_of).collect()
    }

    /// One connection.
    pub async fn connection(&self, bot_id: &str) -> Result<Connection, VaultError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM vault_connection WHERE bot_id = $1"
        ))
        .bind(bot_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| VaultError::UnknownConnection(bot_id.to_string()))?;
        connection_of(&row)
    }

    /// A connection with its current token opened.
    pub(crate) async fn connection_with_token(
        &self,
        bot_id: &str,
    ) -> Result<(Connection, TokenResponse), VaultError> {
        if !self.config.keep_tokens {
            return Err(VaultError::NotKept);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, token FROM vault_connection WHERE bot_id = $1"
        ))
        .bind(bot_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| VaultError::UnknownConnection(bot_id.to_string()))?;
        let connection = connection_of(&row)?;
        let sealed: Option<Vec<u8>> = row.try_get("token")?;
        let Some(sealed) = sealed else {
            return Err(VaultError::Revoked(bot_id.to_string()));
        };
        let token = self.open_token(&sealed, &connection_row(bot_id))?;
        Ok((connection, token))
    }

    /// Takes the connection's lease, waiting up to `wait` for another holder.
    pub(crate) async fn acquire_lease(
        &self,
        bot_id: &str,
        wait: Duration,
    ) -> Result<Lease, VaultError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(20);
        loop {
            let now = now_ms();
            let taken = sqlx::query(
                "UPDATE vault_connection SET lease_owner = $1, lease_until = $2 WHERE bot_id = $3 \
                 AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $1)",
            )
            .bind(&self.owner)
            .bind(now + ms(self.config.lease))
            .bind(bot_id)
            .bind(now)
            .execute(self.db.pool())
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(Lease {
                    bot_id: bot_id.to_string(),
                });
            }
            // Tell "no such connection" from "held by someone else".
            self.connection(bot_id).await?;
            if tokio::time::Instant::now() + pause > deadline {
                return Err(VaultError::LeaseTimeout(bot_id.to_string()));
            }
            let jitter = Duration::from_millis(rand::random_range(0..20));
            tokio::time::sleep(pause + jitter).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Extends a held lease (called while a slow refresh runs).
    pub(crate) async fn renew_lease(&self, lease: &Lease) -> Result<bool, VaultError> {
        let renewed = sqlx::query(
            "UPDATE vault_connection SET lease_until = $1 WHERE bot_id = $2 AND lease_owner = $3",
        )
        .bind(now_ms() + ms(self.config.lease))
        .bind(&lease.bot_id)
        .bind(&self.owner)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Gives a lease back.
    pub(crate) async fn release_lease(&self, lease: Lease) {
        let released = sqlx::query(
            "UPDATE vault_connection SET lease_owner = NULL, lease_until = NULL WHERE bot_id = $1 AND lease_owner = $2",
        )
        .bind(&lease.bot_id)
        .bind(&self.owner)
        .execute(self.db.pool())
        .await;
        if let Err(e) = released {
            tracing::warn!(bot_id = %lease.bot_id, "cannot release a lease (it expires by itself): {e}");
        }
    }

    /// Marks a connection revoked and deletes its sealed token.
    pub(crate) async fn mark_revoked(&self, bot_id: &str) -> Result<(), VaultError> {
        sqlx::query(
            "UPDATE vault_connection SET token = NULL, revoked_at = $1, version = version + 1 WHERE bot_id = $2",
        )
        .bind(now_ms())
        .bind(bot_id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Every sealed value in the vault, re-sealed with the newest key.
    /// Returns how many were re-sealed (those already current are skipped).
    pub async fn reseal_all(&self) -> Result<u64, VaultError> {
        let mut count = 0;
        let ring = self.keys.load_full();
        for (table, key_column, row_of) in [
            (
                "vault_connection",
                "bot_id",
                connection_row as fn(&str) -> String,
            ),
            (
                "vault_outbox",
                "id",
                super::outbox_row as fn(&str) -> String,
            ),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT {key_column} AS k, token FROM {table} WHERE token IS NOT NULL"
            ))
            .fetch_all(self.db.pool())
            .await?;
            for r in rows {
                let key: String = r.try_get("k")?;
                let sealed: Vec<u8> = r.try_get("token")?;
                if ring.is_current(&sealed) {
                    continue;
                }
                let aad = row_of(&key);
                let plain = ring.open(&sealed, aad.as_bytes())?;
                let resealed = ring.seal(plain.expose(), aad.as_bytes())?;
                sqlx::query(&format!(
                    "UPDATE {table} SET token = $1 WHERE {key_column} = $2 AND token = $3"
                ))
                .bind(resealed)
                .bind(&key)
                .bind(sealed)
                .execute(self.db.pool())
                .await?;
                count += 1;
            }
        }
        Ok(count)
    }
}
