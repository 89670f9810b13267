//! Delivery: what is done with tokens, above the vault. The callback's
//! hand-off ([`handoff`]) exchanges the code and commits the token, then
//! makes the first delivery attempt with the token it has in memory;
//! every retry takes the same attempt ([`attempt`]) from the outbox, run by
//! the worker ([`worker`]). The [`Keeper`] below them seals and commits,
//! holds what the store could not take ([`held`]), and refreshes and
//! revokes kept tokens ([`refresh`]) under leases ([`lease`]); work that must
//! finish once started runs as tracked tasks. Every call into the consumer
//! starts here (a token, or Notion's redirect error).

mod attempt;
mod flow_facts;
mod handoff;
mod held;
mod keeper;
mod lease;
mod refresh;
mod worker;

use std::sync::Arc;

pub use attempt::{Acknowledging, Delivered};
pub use handoff::{HandOff, HandOffError, HandedOff};
pub use keeper::Keeper;
pub use refresh::{CurrentToken, Freshness};

use crate::plugins::contract::{RedirectError, StateInfo};
use crate::plugins::{PluginError, Plugins};

/// Hands tokens to the consumer: the keeper's tokens, the gateway's plugins.
pub struct DeliveryService {
    keeper: Arc<Keeper>,
    plugins: Plugins,
    /// The redirect URI the code was issued for (sent again with it).
    redirect_uri: String,
}

impl std::fmt::Debug for DeliveryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryService")
            .field("keeper", &self.keeper)
            .finish_non_exhaustive()
    }
}

impl DeliveryService {
    /// Delivers through `plugins`' consumer.
    pub fn new(keeper: Arc<Keeper>, plugins: Plugins, redirect_uri: String) -> Self {
        Self {
            keeper,
            plugins,
            redirect_uri,
        }
    }

    /// The keeper below it.
    pub fn keeper(&self) -> &Arc<Keeper> {
        &self.keeper
    }

    /// Tells the consumer that Notion redirected with an error (no token
    /// exists, so nothing is stored or retried): the one other way the
    /// consumer is entered, kept here so every consumer call is delivery's.
    pub async fn redirect_error(
        &self,
        request_id: &str,
        error: &RedirectError,
        state: &StateInfo,
    ) -> Result<(), PluginError> {
        self.plugins
            .consumer()
            .consume_redirect_error(request_id, error, state)
            .await
    }
}
