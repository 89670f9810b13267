//! The part of a callback that must finish even if the browser leaves: from
//! the exchange record to Notion's token, the outbox commit and the first
//! delivery. It runs as a task of its own, so a closed tab, a dropped
//! connection or the request timeout cannot cut it between Notion's answer
//! and the commit.

use std::sync::Arc;

use super::error::FlowError;
use crate::notion::NotionClient;
use crate::plugins::Plugins;
use crate::plugins::authorization_of;
use crate::plugins::contract::Authorization;
use crate::secret::Secret;
use crate::vault::delivery::Delivered;
use crate::vault::{StoredState, Vault};

/// How far a token got.
#[derive(Debug)]
pub(crate) enum HandedOff {
    /// The consumer accepted it: the success page, with what the view may see.
    Accepted(Box<Authorization>),
    /// It is stored and will be delivered in the background.
    Received,
}

/// What the hand-off needs, owned, so it can outlive the request.
pub(crate) struct HandOff {
    pub(crate) notion: NotionClient,
    pub(crate) vault: Arc<Vault>,
    pub(crate) plugins: Plugins,
    pub(crate) redirect_uri: String,
    pub(crate) request_id: String,
    pub(crate) exchange_id: String,
    pub(crate) state: StoredState,
}

impl HandOff {
    /// Runs the hand-off as its own task and waits for it.
    pub(crate) async fn run(self, code: Secret) -> Result<HandedOff, FlowError> {
        tokio::spawn(self.hand_off(code))
            .await
            .map_err(|e| FlowError::Internal(format!("the hand-off task failed: {e}")))?
    }

    async fn hand_off(self, code: Secret) -> Result<HandedOff, FlowError> {
        let request_id = self.request_id.as_str();
        // Evidence before the call: a crash once Notion has answered is then
        // counted as a possible loss, never silent. Without a store, Notion
        // is not called and the unused code costs the user nothing. The
        // record doubles as the replay guard across instances.
        let first = self
            .vault
            .begin_exchange(&self.exchange_id)
            .await
            .map_err(|e| FlowError::Store(e.to_string()))?;
        if !first {
            return Err(FlowError::ReplayedState);
        }
        let exchanged = self.notion.exchange_code(&code, &self.redirect_uri).await;
        drop(code);
        let token = match exchanged {
            Ok(token) => token,
            Err(e) => {
                if e.token_may_exist() {
                    self.vault
                        .lose_exchange(&self.exchange_id, &e.to_string())
                        .await;
                } else {
                    self.vault.fail_exchange(&self.exchange_id).await;
                }
                return Err(FlowError::Notion(e));
            }
        };
        tracing::info!(request_id, bot_id = %token.bot_id, workspace_id = %token.workspace_id, "Notion issued a token");
        fail::fail_point!("after_token_response");

        let answered = std::time::Instant::now();
        let authorization = authorization_of(&token);
        let row = match self
            .vault
            .commit_new(&token, &self.exchange_id, self.state.clone())
            .await
        {
            Ok(row) => {
                let window = answered.elapsed().as_secs_f64();
                self.vault.metrics().commit_seconds.observe(window);
                row
            }
            Err(e) => {
                tracing::error!(request_id, "cannot commit the token to the outbox: {e}");
                self.vault.rescue(token, &self.exchange_id, self.state);
                return Ok(HandedOff::Received);
            }
        };
        drop(token);
        match self.vault.deliver(&self.plugins, &row).await {
            Delivered::Accepted => Ok(HandedOff::Accepted(Box::new(authorization))),
            Delivered::WillRetry => Ok(HandedOff::Received),
            Delivered::Dead => Err(FlowError::Undelivered),
        }
    }
}
