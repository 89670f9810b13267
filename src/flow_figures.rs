//! How flows end, counted per minute and added to the store every few
//! seconds, so the admin console's overview and chart cover every instance
//! and survive restarts. Counting costs a map update per flow, never a
//! write on the flow's path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::vault::Vault;
use crate::vault::store::FlowOutcome;

/// How often counts are added to the store.
const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// A minute, in the store's milliseconds.
const MINUTE_MS: i64 = 60_000;

/// Counts not yet in the store, by minute and outcome.
type Pending = HashMap<(i64, FlowOutcome), i64>;

/// The flow counter of one process.
pub struct FlowFigures {
    vault: Arc<Vault>,
    pending: Mutex<Pending>,
}

impl std::fmt::Debug for FlowFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowFigures").finish_non_exhaustive()
    }
}

impl FlowFigures {
    /// A counter adding to `vault`'s store; its flusher runs until the
    /// last handle drops (then it adds what is left).
    pub fn start(vault: Arc<Vault>) -> Arc<Self> {
        let figures = Arc::new(Self {
            vault,
            pending: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&figures);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(figures) = weak.upgrade() else {
                    break;
                };
                figures.flush().await;
            }
        });
        figures
    }

    /// Counts one flow that ended with `outcome` now.
    pub fn record(&self, outcome: FlowOutcome) {
        let minute = crate::clock::unix_ms() / MINUTE_MS * MINUTE_MS;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *pending.entry((minute, outcome)).or_default() += 1;
    }

    /// Adds the counts so far to the store; on failure they are kept for
    /// the next try.
    pub async fn flush(&self) {
        let taken: Pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return;
        }
        let counts: Vec<(i64, FlowOutcome, i64)> =
            taken.iter().map(|(&(m, o), &n)| (m, o, n)).collect();
        let now = crate::clock::unix_ms();
        if let Err(e) = self.vault.store().add_flow_counts(counts, now).await {
            tracing::warn!("cannot add the flow figures to the store (kept for the next try): {e}");
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (key, n) in taken {
                *pending.entry(key).or_default() += n;
            }
        }
    }
}
