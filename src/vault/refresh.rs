//! Current tokens on demand: refresh under a single-flight lock per
//! connection (one refresh per process) and a lease in the store (one
//! refresh across instances), renewed while the call to Notion runs; after
//! taking both, the stored token is read again, since another process may
//! have refreshed it meanwhile. Revocation takes the same path.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::connections::Lease;
use super::db::{ms, now_ms};
use super::outbox::StoredState;
use super::{Connection, Vault, VaultError};
use crate::notion::{Introspection, NotionClient, TokenResponse};
use crate::plugins::contract::DeliveryReason;
use crate::secret::Secret;

/// When a stored token is fresh enough.
#[derive(Debug, Clone, Copy)]
pub enum Freshness {
    /// Any stored token.
    Stored,
    /// A token obtained at or after this time (ms since the epoch): the
    /// caller's previous token failed, so refresh unless someone already did.
    NewerThan(i64),
    /// A token younger than this; older ones are refreshed.
    YoungerThan(Duration),
}

impl Freshness {
    /// "Newer than now": a forced refresh that concurrent callers share.
    pub fn refreshed_now() -> Self {
        Self::NewerThan(now_ms())
    }

    fn satisfied_by(self, c: &Connection) -> bool {
        match self {
            Self::Stored => true,
            Self::NewerThan(t) => c.updated_at >= t,
            Self::YoungerThan(age) => now_ms() - c.updated_at < ms(age),
        }
    }
}

/// A current access token, for the app.
#[derive(Debug, Serialize)]
pub struct CurrentToken {
    /// The bearer token.
    #[serde(serialize_with = "crate::secret::serialize_exposed")]
    pub access_token: Secret,
    /// Always `bearer`.
    pub token_type: String,
    /// The authorization.
    pub bot_id: String,
    /// The workspace.
    pub workspace_id: String,
    /// The token pair's number (grows with every refresh).
    pub version: i64,
    /// When it was obtained (ms since the epoch).
    pub obtained_at: i64,
}

fn current(c: &Connection, t: TokenResponse) -> CurrentToken {
    CurrentToken {
        access_token: t.access_token,
        token_type: t.token_type,
        bot_id: c.bot_id.clone(),
        workspace_id: c.workspace_id.clone(),
        version: c.version,
        obtained_at: c.updated_at,
    }
}

impl Vault {
    /// The connection's access token, refreshed first unless it meets `want`.
    pub async fn current_token(
        &self,
        notion: &NotionClient,
        bot_id: &str,
        want: Freshness,
    ) -> Result<CurrentToken, VaultError> {
        let (connection, token) = self.connection_with_token(bot_id).await?;
        if want.satisfied_by(&connection) {
            return Ok(current(&connection, token));
        }
        let flight = self.flight(bot_id);
        let _one_here = flight.lock().await;
        let outcome = self
            .with_lease(bot_id, notion, async |lease| {
                // Read again: a refresh may have finished while we waited.
                let (connection, token) = self.connection_with_token(bot_id).await?;
                if want.satisfied_by(&connection) {
                    self.metrics.refresh("shared");
                    return Ok(current(&connection, token));
                }
                let refresh_token = token
                    .refresh_token
                    .as_ref()
                    .ok_or_else(|| VaultError::NoRefreshToken(bot_id.to_string()))?;
                let fresh = self
                    .renewing(lease, notion.refresh(refresh_token))
                    .await
                    .inspect_err(|_| self.metrics.refresh("failed"))?;
                let id = format!("{bot_id}:refresh-{}", connection.version + 1);
                let state = StoredState {
                    request_id: format!("refresh-{}", connection.version + 1),
                    ..StoredState::default()
                };
                let row = self
                    .commit(
                        &fresh,
                        &id,
                        DeliveryReason::Refreshed,
                        &state,
                        None,
                        Some(connection.version),
                    )
                    .await
                    .inspect_err(|e| {
                        // Notion rotated the pair; the old refresh token is dead.
                        self.metrics.tokens_possibly_lost.inc();
                        tracing::error!(
                            bot_id,
                            "REFRESHED TOKEN NOT STORED: Notion issued a new pair but the store refused it ({e}); the connection may need the user to connect again"
                        );
                    })?;
                self.release(&row.id).await;
                self.metrics.refresh("refreshed");
                tracing::info!(
                    bot_id,
                    version = connection.version + 1,
                    "refreshed a token"
                );
                let (connection, token) = self.connection_with_token(bot_id).await?;
                Ok(current(&connection, token))
            })
            .await;
        drop(_one_here);
        self.land(bot_id, flight);
        outcome
    }

    /// Revokes the connection's token at Notion, forgets it, and tells the
    /// consumer (reason `revoked`).
    pub async fn revoke(&self, notion: &NotionClient, bot_id: &str) -> Result<(), VaultError> {
        let flight = self.flight(bot_id);
        let _one_here = flight.lock().await;
        let outcome = self
            .with_lease(bot_id, notion, async |lease| {
                let (connection, token) = self.connection_with_token(bot_id).await?;
                self.renewing(lease, notion.revoke(&token.access_token))
                    .await?;
                if let Some(refresh) = &token.refresh_token
                    && let Err(e) = self.renewing(lease, notion.revoke(refresh)).await
                {
                    tracing::warn!(bot_id, "Notion did not revoke the refresh token: {e}");
                }
                let id = format!("{bot_id}:revoke-{}", connection.version);
                let state = StoredState {
                    request_id: format!("revoke-{}", connection.version),
                    ..StoredState::default()
                };
                let row = self
                    .commit(&token, &id, DeliveryReason::Revoked, &state, None, None)
                    .await?;
                self.mark_revoked(bot_id).await?;
                self.release(&row.id).await;
                tracing::info!(bot_id, "revoked a connection");
                Ok(())
            })
            .await;
        drop(_one_here);
        self.land(bot_id, flight);
        outcome
    }

    /// Asks Notion whether the connection's access token is active.
    pub async fn introspect(
        &self,
        notion: &NotionClient,
        bot_id: &str,
    ) -> Result<Introspection, VaultError> {
        let (_, token) = self.connection_with_token(bot_id).await?;
        Ok(notion.introspect(&token.access_token).await?)
    }

    /// Refreshes every kept token older than `age` (the schedule). Returns
    /// how many were refreshed; failures are logged and left for next time.
    pub async fn refresh_older_than(&self, notion: &NotionClient, age: Duration) -> usize {
        let Ok(connections) = self.connections().await else {
            return 0;
        };
        let mut refreshed = 0;
        for c in connections {
            if c.revoked_at.is_some() || now_ms() - c.updated_at < ms(age) {
                continue;
            }
            match self
                .current_token(notion, &c.bot_id, Freshness::YoungerThan(age))
                .await
            {
                Ok(t) if t.version > c.version => refreshed += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(bot_id = %c.bot_id, "scheduled refresh failed: {e}"),
            }
        }
        refreshed
    }

    /// Runs `work` holding the connection's store lease.
    async fn with_lease<T>(
        &self,
        bot_id: &str,
        notion: &NotionClient,
        work: impl AsyncFnOnce(&Lease) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        // Long enough for another holder's whole call to Notion, then some.
        let wait = notion.timeout() * 2 + self.config.lease;
        let lease = self.acquire_lease(bot_id, wait).await.inspect_err(|e| {
            if matches!(e, VaultError::LeaseTimeout(_)) {
                self.metrics.refresh("lease_timeout");
            }
        })?;
        let result = work(&lease).await;
        self.release_lease(lease).await;
        result
    }

    /// Awaits `call`, renewing `lease` every third of its term meanwhile.
    async fn renewing<T>(
        &self,
        lease: &Lease,
        call: impl Future<Output = Result<T, crate::notion::NotionError>>,
    ) -> Result<T, VaultError> {
        let mut call = std::pin::pin!(call);
        let mut tick = tokio::time::interval(self.config.lease / 3);
        tick.tick().await;
        loop {
            tokio::select! {
                result = &mut call => return Ok(result?),
                _ = tick.tick() => {
                    if !self.renew_lease(lease).await.unwrap_or(false) {
                        tracing::warn!("a refresh lease could not be renewed; the store may be away");
                    }
                }
            }
        }
    }

    fn flight(&self, bot_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        super::lock(&self.flights)
            .entry(bot_id.to_string())
            .or_default()
            .clone()
    }

    /// Drops the connection's lock from the map once nobody waits on it.
    fn land(&self, bot_id: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = super::lock(&self.flights);
        drop(flight);
        if flights
            .get(bot_id)
            .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            flights.remove(bot_id);
        }
    }
}
