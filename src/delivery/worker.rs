//! The worker: delivers what is due (on start, whatever a previous run
//! left), commits tokens held in memory, counts exchanges and refreshes that
//! were cut off as lost, and, in vault mode, refreshes aging tokens. Every
//! retry goes through the same attempt as the first delivery.

use std::sync::Arc;
use std::time::Duration;

use super::DeliveryService;
use super::attempt::Attempt;
use crate::vault::Row;
use crate::vault::store::{Claimed, Evidence};

/// How often the worker looks for due work when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);
/// How often lost exchanges are counted and aging tokens refreshed.
const SWEEP: Duration = Duration::from_secs(30);
/// How many due deliveries one pass claims at a time.
const CLAIM: i64 = 16;

impl DeliveryService {
    /// Delivers every due row once (claimed in batches); returns how many
    /// were attempted.
    pub async fn deliver_due(self: &Arc<Self>) -> usize {
        let keeper = &self.keeper;
        let mut attempted = 0;
        loop {
            let lease = keeper.config().lease;
            let rows = match keeper.store().claim_due(keeper.owner(), lease, CLAIM).await {
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
                let (service, attempt) = (self.clone(), self.retry_of(row));
                set.spawn(async move {
                    let (delivered, acknowledging) = service.attempt(attempt).await;
                    acknowledging.settled().await;
                    delivered
                });
            }
            while set.join_next().await.is_some() {}
        }
    }

    /// A claimed row as an attempt, its token opened.
    fn retry_of(&self, row: Claimed) -> Attempt {
        let token = match &row.sealed {
            Some(sealed) => self
                .keeper
                .vault()
                .sealer()
                .open(sealed, Row::Outbox(&row.id)),
            None => Err(crate::vault::VaultError::Corrupt(row.id.clone())),
        };
        Attempt {
            state: super::flow_facts::from_json(&row.state),
            id: row.id,
            bot_id: row.bot_id,
            reason: row.reason,
            before: row.attempts,
            token,
        }
    }

    /// Starts the worker as a tracked task; it runs until `stop` is notified.
    pub fn spawn_worker(self: &Arc<Self>, stop: Arc<tokio::sync::Notify>) {
        let service = self.clone();
        self.keeper.spawn(async move {
            let keeper = service.keeper.clone();
            let mut last_sweep: Option<tokio::time::Instant> = None;
            loop {
                if keeper.held_count() > 0 {
                    keeper.commit_held().await;
                }
                service.deliver_due().await;
                if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP) {
                    last_sweep = Some(tokio::time::Instant::now());
                    service.sweep().await;
                }
                tokio::select! {
                    () = stop.notified() => break,
                    () = keeper.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            if keeper.held_count() > 0 {
                keeper.commit_held().await;
            }
            keeper.count_held_as_lost();
        });
    }

    /// Counts lost exchanges and refreshes, and refreshes aging tokens.
    async fn sweep(&self) {
        let keeper = &self.keeper;
        // Pending after Notion's whole timeout (and a margin for the commit)
        // means it will never commit: its process stopped.
        let grace = keeper.notion().timeout() + Duration::from_secs(2);
        match keeper.store().sweep_lost(Evidence::Exchange, grace).await {
            Ok(ids) => {
                for id in ids {
                    tracing::error!(
                        exchange_id = %id,
                        "TOKEN POSSIBLY LOST: an exchange reached Notion but its token never reached the outbox (the process stopped in between); the user may have to connect again"
                    );
                    keeper.metrics().tokens_possibly_lost.inc();
                }
            }
            Err(e) => tracing::warn!("cannot check for lost exchanges: {e}"),
        }
        match keeper.store().sweep_lost(Evidence::Refresh, grace).await {
            Ok(ids) => {
                for id in ids {
                    keeper.refreshed_pair_lost(&id, "the refresh was cut off before its commit");
                }
            }
            Err(e) => tracing::warn!("cannot check for lost refreshes: {e}"),
        }
        if let (true, Some(age)) = (keeper.config().keep_tokens, keeper.config().refresh_after) {
            let n = keeper.refresh_older_than(age).await;
            if n > 0 {
                tracing::info!(refreshed = n, "refreshed aging tokens");
            }
        }
    }
}
