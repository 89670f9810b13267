//! The probes a load balancer or an orchestrator asks: `/livez` (the
//! process answers), `/readyz` (it should get traffic: the store answers,
//! the configured plugins serve, and it is not draining). `/healthz`, older
//! than both, answers as `/livez` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::plugins::Plugins;
use crate::vault::Vault;

/// How long `/readyz` waits for the store before calling it unready.
const STORE_DEADLINE: Duration = Duration::from_secs(2);

/// Whether this instance is draining: set once on the first stop signal,
/// never cleared. Cheap to clone; every clone sees the same flag.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Marks the instance as draining.
    pub(crate) fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it is draining.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What `/readyz` looks at.
pub(crate) struct Probes {
    pub(crate) draining: Draining,
    pub(crate) vault: Arc<Vault>,
    pub(crate) plugins: Plugins,
    /// The configured consumer's and view's names.
    pub(crate) configured: [String; 2],
}

impl Probes {
    /// `Ok` when the instance should get traffic; otherwise the one-line
    /// reason it should not.
    pub(crate) async fn ready(&self) -> Result<(), String> {
        if self.draining.is_set() {
            return Err("draining: this instance is stopping".into());
        }
        let serving = [self.plugins.consumer(), self.plugins.view()];
        for (plugin, name) in serving.iter().zip(&self.configured) {
            if plugin.name() != name {
                return Err(format!("plugins: {name} is not loaded"));
            }
        }
        match tokio::time::timeout(STORE_DEADLINE, self.vault.store().ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("store: {}", one_line(&e.to_string()))),
            Err(_) => Err(format!(
                "store: no answer within {} s",
                STORE_DEADLINE.as_secs()
            )),
        }
    }
}

/// `text` on one line, at most 200 characters.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}
