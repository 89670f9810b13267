//! The outbox: every token the consumer must hear about, sealed, until the
//! consumer accepts it. The row's id is the delivery's idempotency key
//! (`bot_id:exchange_id`, or `bot_id:refresh-N` / `bot_id:revoke-N`), so a
//! token is stored once however often a step is retried.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::db::{ms, now_ms};
use super::{Vault, VaultError, connection_row, outbox_row};
use crate::notion::TokenResponse;
use crate::plugins::contract::{DeliveryReason, StateInfo};

/// The flow's state info, kept with a delivery so a retry hands the consumer
/// the same facts (it holds no secret).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredState {
    /// The callback's request id (or the refresh's id).
    pub request_id: String,
    /// The app's data from the start route.
    pub app_data: Option<String>,
    /// When the flow started.
    pub started_at: Option<u64>,
    /// The raw state in passthrough mode.
    pub passthrough_state: Option<String>,
}

impl From<&StateInfo> for StoredState {
    fn from(s: &StateInfo) -> Self {
        Self {
            request_id: s.request_id.clone(),
            app_data: s.app_data.clone(),
            started_at: s.started_at,
            passthrough_state: s.passthrough_state.clone(),
        }
    }
}

impl From<StoredState> for StateInfo {
    fn from(s: StoredState) -> Self {
        Self {
            request_id: s.request_id,
            app_data: s.app_data,
            started_at: s.started_at,
            passthrough_state: s.passthrough_state,
        }
    }
}

/// One delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The idempotency key.
    pub id: String,
    /// The authorization.
    pub bot_id: String,
    /// Why it is delivered.
    pub reason: DeliveryReason,
    /// Attempts made before this one.
    pub attempts: u32,
    sealed: Option<Vec<u8>>,
    state: String,
}

/// A token whose commit failed, kept in memory until the store is back.
pub(crate) struct Rescued {
    token: TokenResponse,
    exchange_id: String,
    state: StoredState,
}

/// A reason as stored.
pub(crate) fn reason_name(r: DeliveryReason) -> &'static str {
    match r {
        DeliveryReason::New => "new",
        DeliveryReason::Refreshed => "refreshed",
        DeliveryReason::Revoked => "revoked",
    }
}

fn reason_of(name: &str) -> DeliveryReason {
    match name {
        "refreshed" => DeliveryReason::Refreshed,
        "revoked" => DeliveryReason::Revoked,
        _ => DeliveryReason::New,
    }
}

/// Columns of a claimed row.
const ROW: &str = "id, bot_id, reason, token, state, attempts";

impl Vault {
    /// Seals `token` and commits it to the outbox (and, in vault mode, as the
    /// connection's current token) in one transaction, claimed by this
    /// process for an immediate delivery. Returns the claimed row.
    pub async fn commit_new(
        &self,
        token: &TokenResponse,
        exchange_id: &str,
        state: StoredState,
    ) -> Result<OutboxRow, VaultError> {
        let id = format!("{}:{}", token.bot_id, exchange_id);
        let row = self
            .commit(
                token,
                &id,
                DeliveryReason::New,
                &state,
                Some(exchange_id),
                None,
            )
            .await?;
        tracing::debug!(id = %row.id, "token committed to the outbox");
        fail::fail_point!("after_outbox_commit");
        Ok(row)
    }

    /// The commit behind every delivery: outbox row, then (vault mode) the
    /// connection, then the exchange's record, atomically. `expect_version`
    /// makes the connection update conditional (a refresh's compare-and-set).
    pub(crate) async fn commit(
        &self,
        token: &TokenResponse,
        id: &str,
        reason: DeliveryReason,
        state: &StoredState,
        exchange_id: Option<&str>,
        expect_version: Option<i64>,
    ) -> Result<OutboxRow, VaultError> {
        fail::fail_point!("outbox_commit", |_| Err(VaultError::Store(
            "failpoint outbox_commit".into()
        )));
        let sealed = self.seal_token(token, &outbox_row(id))?;
        let state_json = serde_json::to_string(state).unwrap_or_else(|_| "{}".into());
        let now = now_ms();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO vault_outbox (id, bot_id, reason, token, state, attempts, next_attempt_at, status, created_at, lease_owner, lease_until) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, 'pending', $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(&token.bot_id)
        .bind(reason_name(reason))
        .bind(sealed.clone())
        .bind(&state_json)
        .bind(now)
        .bind(&self.owner)
        .bind(now + ms(self.config.lease))
        .execute(&mut *tx)
        .await?;
        if self.config.keep_tokens && reason != DeliveryReason::Revoked {
            let current = self.seal_token(token, &connection_row(&token.bot_id))?;
            let owner_id = match &token.owner {
                crate::notion::Owner::User { user } => Some(user.id.clone()),
                crate::notion::Owner::Workspace => None,
            };
            let changed = match expect_version {
                None => sqlx::query(
                    "INSERT INTO vault_connection (bot_id, workspace_id, workspace_name, owner_user_id, token, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $6) \
                     ON CONFLICT (bot_id) DO UPDATE SET workspace_id = excluded.workspace_id, \
                     workspace_name = excluded.workspace_name, owner_user_id = excluded.owner_user_id, \
                     token = excluded.token, version = vault_connection.version + 1, \
                     updated_at = excluded.updated_at, revoked_at = NULL",
                )
                .bind(&token.bot_id)
                .bind(&token.workspace_id)
                .bind(&token.workspace_name)
                .bind(owner_id)
                .bind(current)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                Some(version) => sqlx::query(
                    "UPDATE vault_connection SET token = $1, version = version + 1, updated_at = $2 \
                     WHERE bot_id = $3 AND version = $4",
                )
                .bind(current)
                .bind(now)
                .bind(&token.bot_id)
                .bind(version)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            };
            if changed != 1 {
                return Err(VaultError::Store(format!(
                    "the connection {} changed while it was refreshed",
                    token.bot_id
                )));
            }
        }
        if let Some(exchange_id) = exchange_id {
            sqlx::query(
                "UPDATE vault_exchange SET status = 'committed', finished_at = $1 WHERE exchange_id = $2",
            )
            .bind(now)
            .bind(exchange_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.metrics.tokens_committed.inc();
        Ok(OutboxRow {
            id: id.to_string(),
            bot_id: token.bot_id.clone(),
            reason,
            attempts: 0,
            sealed: Some(sealed),
            state: state_json,
        })
    }

    /// Keeps a token whose commit failed in memory; the worker commits it
    /// when the store is back.
    pub fn rescue(&self, token: TokenResponse, exchange_id: &str, state: StoredState) {
        self.metrics.outbox_commit_failures.inc();
        tracing::error!(
            bot_id = %token.bot_id,
            exchange_id,
            "OUTBOX COMMIT FAILED: the token is held in memory and will be committed when the store is back; a restart now would lose it"
        );
        super::lock(&self.rescued).push(Rescued {
            token,
            exchange_id: exchange_id.to_string(),
            state,
        });
        self.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Commits the rescued tokens; those that fail again stay. Returns how
    /// many are still held.
    pub async fn commit_rescued(&self) -> usize {
        let held: Vec<Rescued> = std::mem::take(&mut *super::lock(&self.rescued));
        let mut still = Vec::new();
        for r in held {
            match self
                .commit_new(&r.token, &r.exchange_id, r.state.clone())
                .await
            {
                Ok(row) => {
                    tracing::info!(bot_id = %r.token.bot_id, "a rescued token reached the outbox");
                    self.held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    self.release(&row.id).await;
                }
                Err(_) => still.push(r),
            }
        }
        super::lock(&self.rescued).extend(still);
        self.rescued_count()
    }

    /// How many tokens are held in memory for lack of a store (those being
    /// committed again included).
    pub fn rescued_count(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Claims up to `limit` due deliveries for this process.
    pub async fn claim_due(&self, limit: i64) -> Result<Vec<OutboxRow>, VaultError> {
        let now = now_ms();
        let rows = sqlx::query(&format!(
            "UPDATE vault_outbox SET lease_owner = $1, lease_until = $2 \
             WHERE id IN (SELECT id FROM vault_outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3) RETURNING {ROW}"
        ))
        .bind(&self.owner)
        .bind(now + ms(self.config.lease))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(row_of).collect()
    }

    /// Lets a claimed row go without an attempt (another pass picks it up).
    pub(crate) async fn release(&self, id: &str) {
        let _ = sqlx::query(
            "UPDATE vault_outbox SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(&self.owner)
        .execute(self.db.pool())
        .await;
        self.wake.notify_one();
    }

    /// The token a row carries.
    pub(crate) fn token_of(&self, row: &OutboxRow) -> Result<TokenResponse, VaultError> {
        let sealed = row
            .sealed
            .as_deref()
            .ok_or_else(|| VaultError::Corrupt(row.id.clone()))?;
        self.open_token(sealed, &outbox_row(&row.id))
    }

    /// The state info a row carries.
    pub(crate) fn state_of(row: &OutboxRow) -> StateInfo {
        serde_json::from_str::<StoredState>(&row.state)
            .unwrap_or_default()
            .into()
    }

    /// Records a delivery the consumer accepted: the sealed copy is deleted.
    pub(crate) async fn acknowledge(&self, row: &OutboxRow) -> Result<(), VaultError> {
        let update = sqlx::query(
            "UPDATE vault_outbox SET status = 'delivered', token = NULL, attempts = attempts + 1, \
             finished_at = $1, lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(now_ms())
        .bind(&row.id);
        self.db.execute_relaxed(update).await?;
        Ok(())
    }

    /// Records a failed attempt: due again at `next_at`, or dead.
    pub(crate) async fn reschedule(
        &self,
        row: &OutboxRow,
        error: &str,
        next_at: Option<i64>,
    ) -> Result<(), VaultError> {
        let error: String = error.chars().take(500).collect();
        sqlx::query(
            "UPDATE vault_outbox SET attempts = attempts + 1, last_error = $1, \
             status = $2, next_attempt_at = $3, finished_at = $4, lease_owner = NULL, lease_until = NULL \
             WHERE id = $5",
        )
        .bind(error)
        .bind(if next_at.is_some() { "pending" } else { "dead" })
        .bind(next_at.unwrap_or(0))
        .bind(if next_at.is_some() { None } else { Some(now_ms()) })
        .bind(&row.id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The outbox's rows by status, for tests and the CLI.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, VaultError> {
        self.counts_by_status("vault_outbox").await
    }

    /// The latest deliveries, newest first (no secrets), for tests and the CLI.
    pub async fn deliveries(&self, limit: i64) -> Result<Vec<Delivery>, VaultError> {
        let rows = sqlx::query(
            "SELECT id, reason, status, attempts, last_error FROM vault_outbox \
             ORDER BY created_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    reason: r.try_get("reason")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }
}

/// One delivery as the outbox records it (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The idempotency key.
    pub id: String,
    /// `new`, `refreshed` or `revoked`.
    pub reason: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

fn row_of(r: &AnyRow) -> Result<OutboxRow, VaultError> {
    let reason: String = r.try_get("reason")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(OutboxRow {
        id: r.try_get("id")?,
        bot_id: r.try_get("bot_id")?,
        reason: reason_of(&reason),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        sealed: r.try_get("token")?,
        state: r.try_get("state")?,
    })
}
