//! Tokens held in memory because their commit failed (the store was away):
//! a new token from Notion, or a refreshed pair Notion has already rotated.
//! Either exists nowhere else, so it is kept and committed again until the
//! store takes it; a shutdown with tokens still held counts them as lost.

use std::sync::atomic::Ordering;

use super::keeper::{CommitSpec, Held, Keeper};
use crate::lock::lock;
use crate::notion::TokenResponse;
use crate::vault::store::Committed;

impl Keeper {
    /// Keeps a token whose commit failed in memory; the worker commits it
    /// when the store is back.
    pub(crate) fn hold(&self, token: TokenResponse, spec: CommitSpec) {
        self.metrics().outbox_commit_failures.inc();
        tracing::error!(
            bot_id = %token.bot_id,
            id = %spec.id,
            "OUTBOX COMMIT FAILED: the token is held in memory and will be committed when the store is back; a restart now would lose it"
        );
        lock(&self.held).push(Held { token, spec });
        self.held_count.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Commits the held tokens; those that fail again stay. Returns how
    /// many are still held.
    pub async fn commit_held(&self) -> usize {
        let held: Vec<Held> = std::mem::take(&mut *lock(&self.held));
        let mut still = Vec::new();
        for h in held {
            match self.commit(&h.token, &h.spec).await {
                Ok(Committed::Written) => {
                    tracing::info!(bot_id = %h.token.bot_id, id = %h.spec.id, "a held token reached the store");
                    self.held_count.fetch_sub(1, Ordering::SeqCst);
                    self.release(&h.spec.id).await;
                }
                Ok(Committed::Conflict) => {
                    // A reconnect replaced the connection meanwhile: this
                    // refreshed pair lost the race and cannot be kept.
                    self.held_count.fetch_sub(1, Ordering::SeqCst);
                    let why =
                        "the connection changed while the refreshed pair waited for the store";
                    self.refreshed_pair_lost(&h.token.bot_id, why);
                    if let Some(id) = &h.spec.refresh_id {
                        let _ = self.store().finish_refresh(id, "lost", why).await;
                    }
                }
                Err(_) => still.push(h),
            }
        }
        lock(&self.held).extend(still);
        self.held_count()
    }

    /// How many tokens are held in memory for lack of a store (those being
    /// committed again included).
    pub fn held_count(&self) -> usize {
        self.held_count.load(Ordering::SeqCst)
    }

    /// Counts the tokens still held at shutdown as lost, loudly.
    pub(crate) fn count_held_as_lost(&self) {
        let held = self.held_count();
        if held > 0 {
            tracing::error!(
                held,
                "TOKENS LOST AT SHUTDOWN: the store never came back for tokens held in memory"
            );
            self.metrics().tokens_possibly_lost.inc_by(held as u64);
        }
    }

    /// Counts a refreshed pair that could not be kept (Notion rotated it, so
    /// the old refresh token is dead).
    pub(crate) fn refreshed_pair_lost(&self, bot_id: &str, why: &str) {
        self.metrics().tokens_possibly_lost.inc();
        tracing::error!(
            bot_id,
            "REFRESHED TOKEN NOT STORED: Notion issued a new pair but it could not be kept ({why}); the connection may need the user to connect again"
        );
    }
}
