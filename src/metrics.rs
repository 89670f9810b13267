//! The gateway's metrics in the Prometheus text format, served at
//! `{base}/metrics`: token commits, deliveries, dead letters, possibly lost
//! tokens and refreshes, so an operator can alert on what the logs shout.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The counters, shared by the flow, the vault and the `/metrics` route.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Tokens committed to the vault's outbox.
    pub tokens_committed: Counter,
    /// Deliveries to the consumer, by outcome (`delivered`, `retry`, `dead`).
    pub deliveries: Family<Labels, Counter>,
    /// Exchanges that reached Notion but never reached the outbox (a crash
    /// or a store failure in the window): the user may have to reconnect.
    pub tokens_possibly_lost: Counter,
    /// Commits to the outbox that failed and were kept in memory for retry.
    pub outbox_commit_failures: Counter,
    /// Refreshes, by outcome (`refreshed`, `shared`, `failed`, `lease_timeout`).
    pub refreshes: Family<Labels, Counter>,
    /// Seconds from Notion's answer to the outbox commit: the window in
    /// which a crash could lose a token.
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("notion_gateway");
        let tokens_committed = Counter::default();
        let deliveries = Family::<Labels, Counter>::default();
        let tokens_possibly_lost = Counter::default();
        let outbox_commit_failures = Counter::default();
        let refreshes = Family::<Labels, Counter>::default();
        // 0.25 ms to ~4 s.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 15));
        registry.register(
            "outbox_commit_seconds",
            "Seconds from Notion's answer to the outbox commit",
            commit_seconds.clone(),
        );
        registry.register(
            "tokens_committed",
            "Tokens committed to the outbox",
            tokens_committed.clone(),
        );
        registry.register(
            "deliveries",
            "Deliveries to the consumer by outcome",
            deliveries.clone(),
        );
        registry.register(
            "tokens_possibly_lost",
            "Exchanges that reached Notion but not the outbox",
            tokens_possibly_lost.clone(),
        );
        registry.register(
            "outbox_commit_failures",
            "Outbox commits that failed and were retried from memory",
            outbox_commit_failures.clone(),
        );
        registry.register("refreshes", "Token refreshes by outcome", refreshes.clone());
        Self {
            registry,
            tokens_committed,
            deliveries,
            tokens_possibly_lost,
            outbox_commit_failures,
            refreshes,
            commit_seconds,
        }
    }
}

impl Metrics {
    /// Counts one delivery with `outcome`.
    pub fn delivery(&self, outcome: &str) {
        self.deliveries
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }

    /// Counts one refresh with `outcome`.
    pub fn refresh(&self, outcome: &str) {
        self.refreshes
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
