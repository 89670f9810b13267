//! Delivery to the consumer, at least once: each attempt hands the consumer
//! the token with its idempotency key and attempt number; a failure is
//! retried with exponential backoff and full jitter, and after the last
//! attempt the row is parked as dead with a loud log line and a metric. A
//! worker delivers what is due (on start: whatever a previous run left),
//! commits tokens held in memory, counts lost exchanges and, in vault mode,
//! refreshes aging tokens.

use std::sync::Arc;
use std::time::Duration;

use super::db::{ms, now_ms};
use super::{OutboxRow, Vault};
use crate::notion::NotionClient;
use crate::plugins::{PluginError, Plugins, token_info_of};

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The consumer accepted the token.
    Accepted,
    /// It failed; another attempt is scheduled.
    WillRetry,
    /// It failed for the last time, or the consumer said retrying is futile.
    Dead,
}

/// How often the worker looks for due work when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);
/// How often lost exchanges are counted and aging tokens refreshed.
const SWEEP: Duration = Duration::from_secs(30);

impl Vault {
    /// Makes one delivery attempt of a claimed row.
    pub async fn deliver(&self, plugins: &Plugins, row: &OutboxRow) -> Delivered {
        let attempt = row.attempts + 1;
        let outcome = match self.token_of(row) {
            Ok(token) => {
                let info = token_info_of(&token, row.id.clone(), row.reason, attempt);
                let state = Self::state_of(row);
                tracing::debug!(id = %row.id, attempt, "delivering to the consumer");
                fail::fail_point!("in_consumer_call");
                let result = plugins
                    .consumer()
                    .consume_token_info(&state.request_id, &info, &state)
                    .await;
                tracing::debug!(id = %row.id, ok = result.is_ok(), "the consumer answered");
                fail::fail_point!("after_consumer_before_ack");
                result
            }
            Err(e) => Err(PluginError::Refused {
                name: "vault".into(),
                message: e.to_string(),
                retryable: false,
            }),
        };
        match outcome {
            Ok(()) => match self.acknowledge(row).await {
                Ok(()) => {
                    self.metrics.delivery("delivered");
                    tracing::info!(id = %row.id, attempt, "the consumer accepted the token");
                    Delivered::Accepted
                }
                Err(e) => {
                    // Delivered but not recorded: the lease runs out and the
                    // idempotency key lets the consumer ignore the repeat.
                    tracing::warn!(id = %row.id, "the consumer accepted the token but the store did not record it: {e}");
                    Delivered::Accepted
                }
            },
            Err(e) => {
                let futile = matches!(
                    e,
                    PluginError::Refused {
                        retryable: false,
                        ..
                    }
                );
                let max = self.config.delivery.max_attempts;
                let next = (!futile && attempt < max).then(|| now_ms() + ms(self.backoff(attempt)));
                if let Err(store) = self.reschedule(row, &e.to_string(), next).await {
                    tracing::warn!(id = %row.id, "cannot record a failed delivery (the lease runs out and it is retried): {store}");
                }
                if next.is_some() {
                    self.metrics.delivery("retry");
                    tracing::warn!(id = %row.id, attempt, "delivery to the consumer failed, will retry: {e}");
                    self.wake.notify_one();
                    Delivered::WillRetry
                } else {
                    self.metrics.delivery("dead");
                    tracing::error!(
                        id = %row.id,
                        bot_id = %row.bot_id,
                        attempt,
                        "DEAD LETTER: the consumer did not take the token after {attempt} attempt(s); it stays sealed in the outbox (status dead) for an operator: {e}"
                    );
                    Delivered::Dead
                }
            }
        }
    }

    /// The wait after failed attempt `attempt`: exponential, capped, with
    /// full jitter in its upper half so retries of many rows spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let d = &self.config.delivery;
        let exp = d
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)))
            .min(d.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Delivers every due row once (claimed in batches); returns how many
    /// were attempted.
    pub async fn deliver_due(self: &Arc<Self>, plugins: &Plugins) -> usize {
        let mut attempted = 0;
        loop {
            let rows = match self.claim_due(16).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!("cannot read the outbox (will try again): {e}");
                    return attempted;
                }
            };
            if rows.is_empty() {
                return attempted;
            }
            attempted += rows.len();
            let mut set = tokio::task::JoinSet::new();
            for row in rows {
                let (vault, plugins) = (self.clone(), plugins.clone());
                set.spawn(async move { vault.deliver(&plugins, &row).await });
            }
            while set.join_next().await.is_some() {}
        }
    }

    /// Starts the worker; it runs until `shutdown` is notified.
    pub fn spawn_worker(
        self: &Arc<Self>,
        plugins: Plugins,
        notion: NotionClient,
        shutdown: Arc<tokio::sync::Notify>,
    ) -> tokio::task::JoinHandle<()> {
        let vault = self.clone();
        tokio::spawn(async move {
            let mut last_sweep: Option<tokio::time::Instant> = None;
            loop {
                if vault.rescued_count() > 0 {
                    vault.commit_rescued().await;
                }
                vault.deliver_due(&plugins).await;
                if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP) {
                    last_sweep = Some(tokio::time::Instant::now());
                    vault.sweep(&notion).await;
                }
                tokio::select! {
                    () = shutdown.notified() => break,
                    () = vault.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            let held = vault.rescued_count();
            if held > 0 {
                tracing::error!(
                    held,
                    "TOKENS LOST AT SHUTDOWN: the store never came back for tokens held in memory"
                );
                vault.metrics.tokens_possibly_lost.inc_by(held as u64);
            }
        })
    }

    /// Counts lost exchanges and refreshes aging tokens.
    async fn sweep(&self, notion: &NotionClient) {
        // An exchange still pending after Notion's whole timeout (and a
        // margin for the commit) will never commit: its process stopped.
        let grace = notion.timeout() + Duration::from_secs(2);
        if let Err(e) = self.sweep_lost_exchanges(grace).await {
            tracing::warn!("cannot check for lost exchanges: {e}");
        }
        if let (true, Some(age)) = (self.config.keep_tokens, self.config.refresh_after) {
            let n = self.refresh_older_than(notion, age).await;
            if n > 0 {
                tracing::info!(refreshed = n, "refreshed aging tokens");
            }
        }
    }
}
