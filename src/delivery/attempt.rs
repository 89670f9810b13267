//! One delivery attempt, the same for the first (the token in memory, right
//! after its commit) and for every retry (the token opened from the outbox):
//! the consumer gets the token with its idempotency key and attempt number
//! while the delivery's lease is renewed; what the attempt records at its
//! end is fenced by that lease, so a late failure here can never undo a
//! delivery another instance made. A failure is retried with exponential
//! backoff and jitter, and after the last attempt the row is parked as dead.

use std::time::Duration;

use super::DeliveryService;
use super::lease::renewing;
use crate::notion::TokenResponse;
use crate::plugins::contract::{DeliveryReason, StateInfo};
use crate::plugins::{PluginError, PluginFailure, token_info_of};
use crate::vault::VaultError;
use crate::vault::store::{Reason, ms, now_ms};

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

/// The record of an accepted delivery, written while the browser's page is
/// made (and, on PostgreSQL, kept) so the two share the store's writer
/// pass. Whoever answers the browser awaits it first, so the success page
/// still follows the acknowledgement; it runs as a tracked task, so a
/// browser that leaves cannot cut it and shutdown waits for it.
#[derive(Debug, Default)]
#[must_use = "await `settled` before answering, so the page follows the acknowledgement"]
pub struct Acknowledging(Option<tokio::task::JoinHandle<()>>);

impl Acknowledging {
    /// Waits until the acknowledgement is recorded, or its failure logged.
    pub async fn settled(self) {
        if let Some(task) = self.0 {
            let _ = task.await;
        }
    }
}

/// One delivery to attempt.
pub(crate) struct Attempt {
    /// The idempotency key.
    pub(crate) id: String,
    /// The authorization.
    pub(crate) bot_id: String,
    /// Why it is delivered.
    pub(crate) reason: Reason,
    /// Attempts made before this one.
    pub(crate) before: u32,
    /// The flow's facts.
    pub(crate) state: StateInfo,
    /// The token, or why it could not be opened.
    pub(crate) token: Result<TokenResponse, VaultError>,
}

fn contract_reason(r: Reason) -> DeliveryReason {
    match r {
        Reason::New => DeliveryReason::New,
        Reason::Refreshed => DeliveryReason::Refreshed,
        Reason::Revoked => DeliveryReason::Revoked,
    }
}

impl DeliveryService {
    /// Makes one attempt of a delivery this process holds the lease of; an
    /// accepted one is acknowledged by the [`Acknowledging`] it returns.
    pub(crate) async fn attempt(&self, a: Attempt) -> (Delivered, Acknowledging) {
        let attempt = a.before + 1;
        let keeper = &self.keeper;
        let outcome = match a.token {
            Ok(token) => {
                let info = token_info_of(&token, a.id.clone(), contract_reason(a.reason), attempt);
                drop(token);
                tracing::debug!(id = %a.id, attempt, "delivering to the consumer");
                fail::fail_point!("in_consumer_call");
                let term = keeper.config().lease;
                let renew = || keeper.store().renew_delivery(&a.id, keeper.owner(), term);
                let consumer = self.plugins.consumer();
                let call = consumer.consume_token_info(&a.state.request_id, &info, &a.state);
                let result = renewing(term / 3, "a delivery", call, renew).await;
                tracing::debug!(id = %a.id, ok = result.is_ok(), "the consumer answered");
                fail::fail_point!("after_consumer_before_ack");
                result
            }
            Err(e) => Err(PluginError::of(
                "vault",
                PluginFailure::Refused {
                    message: e.to_string(),
                    retryable: false,
                },
            )),
        };
        let store = keeper.store();
        match outcome {
            Ok(()) => {
                let (keeper, id) = (self.keeper.clone(), a.id);
                let acknowledged = self.keeper.spawn(async move {
                    fail::fail_point!("before_acknowledge");
                    match keeper.store().acknowledge(&id, keeper.owner()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(id = %id, "the consumer accepted the token, but this instance no longer held the delivery; another instance has or had it (same idempotency key)")
                        }
                        // Delivered but not recorded: the lease runs out and the
                        // idempotency key lets the consumer ignore the repeat.
                        Err(e) => {
                            tracing::warn!(id = %id, "the consumer accepted the token but the store did not record it: {e}")
                        }
                    }
                    keeper.metrics().delivery("delivered");
                    tracing::info!(id = %id, attempt, "the consumer accepted the token");
                });
                (Delivered::Accepted, Acknowledging(Some(acknowledged)))
            }
            Err(e) => {
                let futile = matches!(
                    e.failure(),
                    Some(PluginFailure::Refused {
                        retryable: false,
                        ..
                    })
                );
                let max = keeper.config().delivery.max_attempts;
                let next = (!futile && attempt < max).then(|| now_ms() + ms(self.backoff(attempt)));
                match store
                    .reschedule(&a.id, keeper.owner(), &e.to_string(), next)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(id = %a.id, attempt, "delivery to the consumer failed, but another instance holds or delivered it now, so this failure changes nothing: {e}");
                        return (Delivered::WillRetry, Acknowledging::default());
                    }
                    Err(store) => {
                        tracing::warn!(id = %a.id, "cannot record a failed delivery (the lease runs out and it is retried): {store}")
                    }
                }
                if next.is_some() {
                    keeper.metrics().delivery("retry");
                    tracing::warn!(id = %a.id, attempt, "delivery to the consumer failed, will retry: {e}");
                    keeper.wake.notify_one();
                    (Delivered::WillRetry, Acknowledging::default())
                } else {
                    keeper.metrics().delivery("dead");
                    tracing::error!(
                        id = %a.id,
                        bot_id = %a.bot_id,
                        attempt,
                        "DEAD LETTER: the consumer did not take the token after {attempt} attempt(s); it stays sealed in the outbox (status dead) for an operator: {e}"
                    );
                    (Delivered::Dead, Acknowledging::default())
                }
            }
        }
    }

    /// The wait after failed attempt `attempt`: exponential, capped, with
    /// full jitter in its upper half so retries of many rows spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let d = &self.keeper.config().delivery;
        let exp = d
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)))
            .min(d.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}
