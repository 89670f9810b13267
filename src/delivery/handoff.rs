//! The part of a callback that must finish even if the browser leaves: from
//! the exchange record to Notion's token, the commit and the first
//! delivery. It runs as a task of its own, so a closed tab, a dropped
//! connection or the request timeout cannot cut it between Notion's answer
//! and the commit.

use std::sync::Arc;

use super::DeliveryService;
use super::attempt::{Acknowledging, Attempt, Delivered};
use super::keeper::CommitSpec;
use crate::notion::NotionError;
use crate::plugins::authorization_of;
use crate::plugins::contract::{Authorization, StateInfo};
use crate::secret::AuthorizationCode;
use crate::vault::store::{Committed, Reason};

/// A verified callback, ready to exchange its code.
#[derive(Debug)]
pub struct HandOff {
    /// The callback's request id.
    pub request_id: String,
    /// The exchange's id (the state's nonce): recorded once, so it is also
    /// the replay guard across instances.
    pub exchange_id: String,
    /// The flow's facts for the consumer.
    pub state: StateInfo,
}

/// How far a token got.
#[derive(Debug)]
pub enum HandedOff {
    /// The consumer accepted it: the success page, with what the view may
    /// see, once the acknowledgement has settled.
    Accepted(Box<Authorization>, Acknowledging),
    /// It is stored (or held) and will be delivered in the background.
    Received,
}

/// Why a hand-off gave no token to anyone.
#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    /// The exchange could not be recorded, so Notion was not called.
    #[error("the token store failed: {0}")]
    Store(String),
    /// The exchange was recorded before: the state was already used.
    #[error("the state was already used")]
    Replayed,
    /// Notion refused or failed the exchange.
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// The consumer refused the token for good (it is parked as dead).
    #[error("the consumer refused the token")]
    Undelivered,
    /// The hand-off's task died.
    #[error("the hand-off task failed: {0}")]
    Internal(String),
}

impl DeliveryService {
    /// Runs the hand-off as its own task and waits for it.
    pub async fn hand_off(
        self: &Arc<Self>,
        handoff: HandOff,
        code: AuthorizationCode,
    ) -> Result<HandedOff, HandOffError> {
        let service = self.clone();
        self.keeper
            .spawn(async move { service.run_hand_off(handoff, code).await })
            .await
            .map_err(|e| HandOffError::Internal(e.to_string()))?
    }

    async fn run_hand_off(
        &self,
        h: HandOff,
        code: AuthorizationCode,
    ) -> Result<HandedOff, HandOffError> {
        let keeper = &self.keeper;
        let store = keeper.store();
        // Evidence before the call: a crash once Notion has answered is then
        // counted as a possible loss, never silent. Without a store, Notion
        // is not called and the unused code costs the user nothing.
        let first = store
            .begin_exchange(&h.exchange_id)
            .await
            .map_err(|e| HandOffError::Store(e.to_string()))?;
        if !first {
            return Err(HandOffError::Replayed);
        }
        let exchanged = keeper
            .notion()
            .exchange_code(&code, &self.redirect_uri)
            .await;
        drop(code);
        let token = match exchanged {
            Ok(token) => token,
            Err(e) => {
                let (status, why) = if e.token_may_exist() {
                    keeper.metrics().tokens_possibly_lost.inc();
                    tracing::error!(
                        exchange_id = %h.exchange_id,
                        "TOKEN POSSIBLY LOST: the code was sent to Notion but no readable answer came back ({e}); the user must connect again"
                    );
                    let why =
                        format!("the code reached Notion but no readable answer came back ({e})");
                    ("lost", why)
                } else {
                    ("failed", e.to_string())
                };
                if let Err(store) = store.finish_exchange(&h.exchange_id, status, &why).await {
                    tracing::warn!(exchange_id = %h.exchange_id, "cannot record how an exchange ended: {store}");
                }
                return Err(HandOffError::Notion(e));
            }
        };
        tracing::info!(request_id = %h.request_id, bot_id = %token.bot_id, workspace_id = %token.workspace_id, "Notion issued a token");
        fail::fail_point!("after_token_response");

        let answered = std::time::Instant::now();
        let spec = CommitSpec {
            id: format!("{}:{}", token.bot_id, h.exchange_id),
            reason: Reason::New,
            state: super::flow_facts::to_json(&h.state),
            exchange_id: Some(h.exchange_id),
            refresh_id: None,
            expect_version: None,
            outbox_only: false,
        };
        match keeper.commit(&token, &spec).await {
            Ok(Committed::Written) => {
                let window = answered.elapsed().as_secs_f64();
                keeper.metrics().commit_seconds.observe(window);
                tracing::debug!(id = %spec.id, "token committed to the outbox");
                fail::fail_point!("after_outbox_commit");
            }
            Ok(Committed::Conflict) => {
                return Err(HandOffError::Internal(
                    "a new connection cannot conflict".into(),
                ));
            }
            Err(e) => {
                tracing::error!(request_id = %h.request_id, "cannot commit the token to the outbox: {e}");
                keeper.hold(token, spec);
                return Ok(HandedOff::Received);
            }
        }
        let authorization = authorization_of(&token);
        let attempt = Attempt {
            id: spec.id,
            bot_id: token.bot_id.clone(),
            reason: Reason::New,
            before: 0,
            state: h.state,
            token: Ok(token),
        };
        match self.attempt(attempt).await {
            (Delivered::Accepted, acknowledging) => {
                Ok(HandedOff::Accepted(Box::new(authorization), acknowledging))
            }
            (Delivered::WillRetry, _) => Ok(HandedOff::Received),
            (Delivered::Dead, _) => Err(HandOffError::Undelivered),
        }
    }
}
