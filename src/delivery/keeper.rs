//! The keeper: what every token path shares below the consumer. It seals
//! and commits tokens, holds in memory those whose commit failed until the
//! store is back ([`super::held`]), refreshes and revokes kept tokens
//! ([`super::refresh`]) under leases ([`super::lease`]), and runs work that
//! must finish once started as tracked tasks, so a closed tab or a request
//! timeout cannot cut it and shutdown can wait for it. It needs no plugins,
//! so the CLI uses it as the gateway does.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::config::StoreConfig;
use crate::metrics::Metrics;
use crate::notion::{NotionClient, Owner, TokenResponse};
use crate::vault::store::{Commit, Committed, ConnectionWrite, Reason, now_ms};
use crate::vault::{Row, Store, Vault, VaultError};

/// One token whose commit failed, held in memory until the store takes
/// it (see [`super::held`]).
pub(crate) struct Held {
    pub(super) token: TokenResponse,
    pub(super) spec: CommitSpec,
}

/// What a commit is for, besides the token itself.
#[derive(Debug, Clone)]
pub(crate) struct CommitSpec {
    /// The outbox row's id, the delivery's idempotency key.
    pub(crate) id: String,
    /// Why the consumer hears of it.
    pub(crate) reason: Reason,
    /// The flow's facts for the consumer (JSON, no secrets).
    pub(crate) state: String,
    /// The code exchange it ends.
    pub(crate) exchange_id: Option<String>,
    /// The refresh it ends.
    pub(crate) refresh_id: Option<String>,
    /// A refresh's compare-and-set on the connection's version.
    pub(crate) expect_version: Option<i64>,
    /// Write the outbox row only, leaving the connection's token as it is
    /// (a delivery of the token it already holds).
    pub(crate) outbox_only: bool,
}

/// Tokens below the consumer, for one process.
pub struct Keeper {
    vault: Arc<Vault>,
    notion: NotionClient,
    metrics: Arc<Metrics>,
    /// This process's name in leases.
    owner: String,
    /// Wakes the delivery worker when a row becomes due.
    pub(crate) wake: Notify,
    /// Per-connection locks, so one process runs one refresh of a token at a time.
    pub(crate) flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Tokens whose commit failed, kept in memory and committed again.
    pub(crate) held: Mutex<Vec<Held>>,
    /// How many tokens are held in memory (listed in `held` or being committed).
    pub(crate) held_count: AtomicUsize,
    /// Work that must finish once started: hand-offs, refreshes, the worker.
    tasks: TaskTracker,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Keeper {
    /// A keeper over `vault`, calling Notion through `notion`.
    pub fn new(vault: Arc<Vault>, notion: NotionClient, metrics: Arc<Metrics>) -> Self {
        Self {
            vault,
            notion,
            metrics,
            owner: format!(
                "{}-{}",
                std::process::id(),
                hex::encode(rand::random::<[u8; 6]>())
            ),
            wake: Notify::new(),
            flights: Mutex::new(HashMap::new()),
            held: Mutex::new(Vec::new()),
            held_count: AtomicUsize::new(0),
            tasks: TaskTracker::new(),
        }
    }

    /// The vault.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.vault.store()
    }

    /// The `[store]` settings.
    pub fn config(&self) -> &StoreConfig {
        self.vault.config()
    }

    /// The metrics it counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Notion client.
    pub fn notion(&self) -> &NotionClient {
        &self.notion
    }

    /// This process's name in leases.
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs `work` as a tracked task of its own: it finishes even if the
    /// caller stops waiting, and [`Keeper::finish`] waits for it.
    pub(crate) fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(work)
    }

    /// Waits for every tracked task (in-flight hand-offs, refreshes and the
    /// worker) to end; new ones can still start meanwhile.
    pub async fn finish(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Seals `token` and commits it as `spec` says, flushed before this
    /// returns. The outbox row is leased to this process for an immediate
    /// attempt.
    pub(crate) async fn commit(
        &self,
        token: &TokenResponse,
        spec: &CommitSpec,
    ) -> Result<Committed, VaultError> {
        let sealer = self.vault.sealer();
        let config = self.vault.config();
        let keep = config.keep_tokens && spec.reason != Reason::Revoked && !spec.outbox_only;
        let (outbox, current) = if keep {
            let [outbox, current] = sealer.seal_each(
                token,
                [Row::Outbox(&spec.id), Row::Connection(&token.bot_id)],
            )?;
            (outbox, Some(current))
        } else {
            (sealer.seal(token, Row::Outbox(&spec.id))?, None)
        };
        let connection = current.map(|sealed| ConnectionWrite {
            workspace_id: token.workspace_id.clone(),
            workspace_name: token.workspace_name.clone(),
            owner_user_id: match &token.owner {
                Owner::User { user } => Some(user.id.clone()),
                Owner::Workspace => None,
            },
            owner_email: match &token.owner {
                Owner::User { user } => user.person.as_ref().and_then(|p| p.email.clone()),
                Owner::Workspace => None,
            },
            sealed,
            expect_version: spec.expect_version,
        });
        let now = now_ms();
        let commit = Commit {
            id: spec.id.clone(),
            bot_id: token.bot_id.clone(),
            reason: spec.reason,
            sealed: outbox,
            state: spec.state.clone(),
            lease_owner: self.owner.clone(),
            lease_until: now + crate::vault::store::ms(config.lease),
            connection,
            exchange_id: spec.exchange_id.clone(),
            refresh_id: spec.refresh_id.clone(),
            now,
        };
        let committed = self.store().commit(commit).await?;
        if committed == Committed::Written {
            self.metrics.tokens_committed.inc();
        }
        Ok(committed)
    }

    /// Tells the delivery worker to look for due deliveries now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Lets a committed row go to the worker (its first attempt is not ours).
    pub(crate) async fn release(&self, id: &str) {
        let _ = self.store().release_delivery(id, &self.owner).await;
        self.wake.notify_one();
    }
}
