//! Current tokens on demand, and revocation. A refresh runs as a task of
//! its own: once Notion is asked it rotates the pair, so the answer must be
//! kept whatever happens to the caller (a client that hangs up, a request
//! timeout, a long wait for the lease). It is recorded as pending before
//! Notion is called, so an interrupted refresh is counted, never silent;
//! a refreshed pair the store cannot take is held in memory and committed
//! again. One refresh per connection runs at a time in a process (a lock)
//! and across instances (a lease in the store); after taking both, the
//! stored token is read again, since someone may have refreshed it already.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::keeper::{CommitSpec, Keeper};
use super::lease::Lease;
use crate::notion::{Introspection, TokenResponse};
use crate::secret::AccessToken;
use crate::vault::store::{Committed, Reason, ms, now_ms};
use crate::vault::{Connection, Row, VaultError};

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
    pub access_token: AccessToken,
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

impl Keeper {
    /// A connection with its current token opened.
    pub(crate) async fn connection_with_token(
        &self,
        bot_id: &str,
    ) -> Result<(Connection, TokenResponse), VaultError> {
        if !self.config().keep_tokens {
            return Err(VaultError::NotKept);
        }
        let (connection, sealed) = self
            .store()
            .connection_sealed(bot_id)
            .await?
            .ok_or_else(|| VaultError::UnknownConnection(bot_id.to_string()))?;
        let sealed = sealed.ok_or_else(|| VaultError::Revoked(bot_id.to_string()))?;
        let token = self
            .vault()
            .sealer()
            .open(&sealed, Row::Connection(bot_id))?;
        Ok((connection, token))
    }

    /// One connection, without its token.
    pub async fn connection(&self, bot_id: &str) -> Result<Connection, VaultError> {
        self.store()
            .connection(bot_id)
            .await?
            .ok_or_else(|| VaultError::UnknownConnection(bot_id.to_string()))
    }

    /// The connection's access token, refreshed first unless it meets `want`.
    pub async fn current_token(
        self: &Arc<Self>,
        bot_id: &str,
        want: Freshness,
    ) -> Result<CurrentToken, VaultError> {
        let (connection, token) = self.connection_with_token(bot_id).await?;
        if want.satisfied_by(&connection) {
            return Ok(current(&connection, token));
        }
        let (keeper, bot_id) = (self.clone(), bot_id.to_string());
        self.spawn(async move { keeper.refresh(&bot_id, want).await })
            .await
            .map_err(|e| VaultError::Store(format!("the refresh task failed: {e}")))?
    }

    /// Refreshes under the connection's lock and lease (in its own task).
    async fn refresh(&self, bot_id: &str, want: Freshness) -> Result<CurrentToken, VaultError> {
        let held = self.exclusive(bot_id).await?;
        let outcome = self.refresh_leased(held.lease(), bot_id, want).await;
        self.end(held).await;
        outcome
    }

    /// The refresh itself, holding the lock and the lease.
    async fn refresh_leased(
        &self,
        lease: &Lease,
        bot_id: &str,
        want: Freshness,
    ) -> Result<CurrentToken, VaultError> {
        // Read again: a refresh may have finished while we waited.
        let (connection, token) = self.connection_with_token(bot_id).await?;
        if want.satisfied_by(&connection) {
            self.metrics().refresh("shared");
            return Ok(current(&connection, token));
        }
        let refresh_token = token
            .refresh_token
            .as_ref()
            .ok_or_else(|| VaultError::NoRefreshToken(bot_id.to_string()))?;
        let version = connection.version + 1;
        let id = format!("{bot_id}:refresh-{version}");
        self.store().begin_refresh(&id, bot_id).await?;
        let fresh = match self
            .renewing_lease(lease, self.notion().refresh(refresh_token))
            .await
        {
            Ok(fresh) => fresh,
            Err(e) => {
                self.metrics().refresh("failed");
                let may_exist = matches!(&e, VaultError::Notion(n) if n.token_may_exist());
                if may_exist {
                    self.refreshed_pair_lost(bot_id, &e.to_string());
                }
                let status = if may_exist { "lost" } else { "failed" };
                let _ = self
                    .store()
                    .finish_refresh(&id, status, &e.to_string())
                    .await;
                return Err(e);
            }
        };
        let spec = CommitSpec {
            id: id.clone(),
            reason: Reason::Refreshed,
            state: super::flow_facts::refresh_json(&format!("refresh-{version}")),
            exchange_id: None,
            refresh_id: Some(id.clone()),
            expect_version: Some(connection.version),
            outbox_only: false,
        };
        match self.commit(&fresh, &spec).await {
            Ok(Committed::Written) => {}
            Ok(Committed::Conflict) => {
                let why = "the connection changed while it was refreshed (a reconnect replaced it)";
                self.refreshed_pair_lost(bot_id, why);
                let _ = self.store().finish_refresh(&id, "lost", why).await;
                return Err(VaultError::Store(format!(
                    "the connection {bot_id} changed while it was refreshed"
                )));
            }
            Err(e) => {
                // Notion rotated the pair: the new one exists only
                // here now. Keep it, and hand it out meanwhile.
                tracing::error!(bot_id, "cannot commit a refreshed pair: {e}");
                let answer = CurrentToken {
                    access_token: fresh.access_token.clone(),
                    token_type: fresh.token_type.clone(),
                    bot_id: bot_id.to_string(),
                    workspace_id: connection.workspace_id.clone(),
                    version,
                    obtained_at: now_ms(),
                };
                self.hold(fresh, spec);
                self.metrics().refresh("refreshed");
                return Ok(answer);
            }
        }
        self.release(&id).await;
        self.metrics().refresh("refreshed");
        tracing::info!(bot_id, version, "refreshed a token");
        let (connection, token) = self.connection_with_token(bot_id).await?;
        Ok(current(&connection, token))
    }

    /// Revokes the connection's token at Notion, forgets it, and tells the
    /// consumer (reason `revoked`); in its own task, like a refresh.
    pub async fn revoke(self: &Arc<Self>, bot_id: &str) -> Result<(), VaultError> {
        let (keeper, bot_id) = (self.clone(), bot_id.to_string());
        self.spawn(async move { keeper.revoke_now(&bot_id).await })
            .await
            .map_err(|e| VaultError::Store(format!("the revoke task failed: {e}")))?
    }

    async fn revoke_now(&self, bot_id: &str) -> Result<(), VaultError> {
        let held = self.exclusive(bot_id).await?;
        let outcome = self.revoke_leased(held.lease(), bot_id).await;
        self.end(held).await;
        outcome
    }

    /// The revocation itself, holding the lock and the lease.
    async fn revoke_leased(&self, lease: &Lease, bot_id: &str) -> Result<(), VaultError> {
        let (connection, token) = self.connection_with_token(bot_id).await?;
        self.renewing_lease(lease, self.notion().revoke(&token.access_token))
            .await?;
        if let Some(refresh) = &token.refresh_token
            && let Err(e) = self
                .renewing_lease(lease, self.notion().revoke(refresh))
                .await
        {
            tracing::warn!(bot_id, "Notion did not revoke the refresh token: {e}");
        }
        let id = format!("{bot_id}:revoke-{}", connection.version);
        let spec = CommitSpec {
            id: id.clone(),
            reason: Reason::Revoked,
            state: super::flow_facts::refresh_json(&format!("revoke-{}", connection.version)),
            exchange_id: None,
            refresh_id: None,
            expect_version: None,
            outbox_only: false,
        };
        self.commit(&token, &spec).await?;
        self.store().mark_revoked(bot_id).await?;
        self.release(&id).await;
        tracing::info!(bot_id, "revoked a connection");
        Ok(())
    }

    /// Delivers the connection's current token to the consumer again, under
    /// a new idempotency key (the operator's *deliver again*: the app lost
    /// what it had). The token is not refreshed and the connection is not
    /// changed. Returns the delivery's idempotency key.
    pub async fn deliver_again(&self, bot_id: &str) -> Result<String, VaultError> {
        let (connection, token) = self.connection_with_token(bot_id).await?;
        let id = format!("{bot_id}:again-{}", hex::encode(rand::random::<[u8; 8]>()));
        let spec = CommitSpec {
            id: id.clone(),
            reason: Reason::New,
            state: super::flow_facts::refresh_json(&format!("again-{}", connection.version)),
            exchange_id: None,
            refresh_id: None,
            expect_version: None,
            outbox_only: true,
        };
        self.commit(&token, &spec).await?;
        self.release(&id).await;
        tracing::info!(bot_id, id, "delivering a connection's token again");
        Ok(id)
    }

    /// Asks Notion whether the connection's access token is active.
    pub async fn introspect(&self, bot_id: &str) -> Result<Introspection, VaultError> {
        let (_, token) = self.connection_with_token(bot_id).await?;
        Ok(self.notion().introspect(&token.access_token).await?)
    }

    /// Refreshes every kept token older than `age` (the schedule). Returns
    /// how many were refreshed; failures are logged and left for next time.
    pub async fn refresh_older_than(self: &Arc<Self>, age: Duration) -> usize {
        let Ok(connections) = self.store().connections().await else {
            return 0;
        };
        let mut refreshed = 0;
        for c in connections {
            if c.revoked_at.is_some() || now_ms() - c.updated_at < ms(age) {
                continue;
            }
            match self
                .current_token(&c.bot_id, Freshness::YoungerThan(age))
                .await
            {
                Ok(t) if t.version > c.version => refreshed += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(bot_id = %c.bot_id, "scheduled refresh failed: {e}"),
            }
        }
        refreshed
    }
}
