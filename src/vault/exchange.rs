//! The record of each code exchange, written before Notion is called. An
//! exchange that never reaches `committed` or `failed` is the one case where
//! a token may be lost (a crash between Notion's answer and the outbox
//! commit); the sweep counts it, so no loss is silent.

use std::time::Duration;

use sqlx::Row as _;

use super::db::{ms, now_ms};
use super::{Vault, VaultError};

impl Vault {
    /// Records that the exchange `exchange_id` is about to call Notion.
    /// Returns false when it was recorded before: the state was already used
    /// (perhaps at another instance sharing the store), so its code must not
    /// be sent again.
    pub async fn begin_exchange(&self, exchange_id: &str) -> Result<bool, VaultError> {
        let insert = sqlx::query(
            "INSERT INTO vault_exchange (exchange_id, started_at, status) VALUES ($1, $2, 'pending') \
             ON CONFLICT (exchange_id) DO NOTHING",
        )
        .bind(exchange_id)
        .bind(now_ms());
        let inserted = self.db.execute_relaxed(insert).await?.rows_affected();
        Ok(inserted == 1)
    }

    /// Records that Notion issued no token for the exchange (so nothing can be lost).
    pub async fn fail_exchange(&self, exchange_id: &str) {
        self.finish_exchange(exchange_id, "failed").await;
    }

    /// Records that Notion may have issued a token the gateway never saw (a
    /// timeout, a broken connection, an unreadable answer): counted, loudly.
    pub async fn lose_exchange(&self, exchange_id: &str, why: &str) {
        self.finish_exchange(exchange_id, "lost").await;
        self.metrics.tokens_possibly_lost.inc();
        tracing::error!(
            exchange_id,
            "TOKEN POSSIBLY LOST: the code was sent to Notion but no readable answer came back ({why}); the user must connect again"
        );
    }

    async fn finish_exchange(&self, exchange_id: &str, status: &str) {
        let update = sqlx::query(
            "UPDATE vault_exchange SET status = $1, finished_at = $2 \
             WHERE exchange_id = $3 AND status = 'pending'",
        )
        .bind(status)
        .bind(now_ms())
        .bind(exchange_id);
        let done = self.db.execute_relaxed(update).await;
        if let Err(e) = done {
            tracing::warn!(exchange_id, "cannot record how an exchange ended: {e}");
        }
    }

    /// Marks exchanges pending for longer than `older_than` as lost, counts
    /// them in `tokens_possibly_lost` and logs each loudly. Returns how many.
    pub async fn sweep_lost_exchanges(&self, older_than: Duration) -> Result<u64, VaultError> {
        let rows = sqlx::query(
            "UPDATE vault_exchange SET status = 'lost', finished_at = $1 \
             WHERE status = 'pending' AND started_at < $2 RETURNING exchange_id",
        )
        .bind(now_ms())
        .bind(now_ms() - ms(older_than))
        .fetch_all(self.db.pool())
        .await?;
        for row in &rows {
            let id: String = row.try_get("exchange_id")?;
            tracing::error!(
                exchange_id = %id,
                "TOKEN POSSIBLY LOST: an exchange reached Notion but its token never reached the outbox (the process stopped in between); the user may have to connect again"
            );
            self.metrics.tokens_possibly_lost.inc();
        }
        Ok(rows.len() as u64)
    }

    /// How many exchanges are in each status (for tests and `tokens list`).
    pub async fn exchange_counts(&self) -> Result<Vec<(String, i64)>, VaultError> {
        self.counts_by_status("vault_exchange").await
    }

    /// `(status, rows)` of one of the vault's tables, by status.
    pub(crate) async fn counts_by_status(
        &self,
        table: &str,
    ) -> Result<Vec<(String, i64)>, VaultError> {
        let rows = sqlx::query(&format!(
            "SELECT status, COUNT(*) AS n FROM {table} GROUP BY status ORDER BY status"
        ))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}
