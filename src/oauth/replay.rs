//! Single use of states: the first callback with a given state claims it;
//! later ones are replays. Claims are forgotten once the state has expired
//! anyway, so memory is bounded by the flows started within one state lifetime.

use std::collections::HashMap;
use std::sync::Mutex;

/// The most live claims kept; past it the guard refuses (fails closed).
const MAX_CLAIMS: usize = 1_000_000;

/// Outcome of trying to claim a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First use: go on.
    Fresh,
    /// Seen before: refuse.
    Replayed,
    /// Too many live claims to track another: refuse.
    Full,
}

/// Remembers the nonces of states already used, until they expire.
///
/// In memory, so it covers one gateway process: a state replayed to another
/// instance (or after a restart) would reach Notion, which refuses the code
/// it carries because codes are single-use.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    claims: Mutex<HashMap<[u8; 16], u64>>,
}

impl ReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Claims `nonce` (valid until `expires_at`) at time `now`.
    pub fn claim(&self, nonce: [u8; 16], expires_at: u64, now: u64) -> Claim {
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if claims.len() >= MAX_CLAIMS / 2 {
            claims.retain(|_, expiry| *expiry > now);
        }
        if claims.contains_key(&nonce) {
            return Claim::Replayed;
        }
        if claims.len() >= MAX_CLAIMS {
            return Claim::Full;
        }
        claims.insert(nonce, expires_at);
        Claim::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_is_a_replay() {
        let g = ReplayGuard::new();
        assert_eq!(g.claim([1; 16], 100, 10), Claim::Fresh);
        assert_eq!(g.claim([1; 16], 100, 11), Claim::Replayed);
        assert_eq!(g.claim([2; 16], 100, 11), Claim::Fresh);
    }
}
