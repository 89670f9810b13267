//! The records the store reads and writes: what a kept connection, a
//! delivery and a commit are, as plain data (tokens only ever sealed).

use serde::Serialize;

/// Why a token is delivered to the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A new authorization (or a reconnect).
    New,
    /// A refreshed pair.
    Refreshed,
    /// The authorization was revoked.
    Revoked,
}

impl Reason {
    /// The reason as stored.
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Refreshed => "refreshed",
            Self::Revoked => "revoked",
        }
    }

    pub(crate) fn of(name: &str) -> Self {
        match name {
            "refreshed" => Self::Refreshed,
            "revoked" => Self::Revoked,
            _ => Self::New,
        }
    }
}

/// What the vault knows about one authorization, without its secrets (safe
/// to list and to print).
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    /// The authorization's id.
    pub bot_id: String,
    /// The workspace.
    pub workspace_id: String,
    /// The workspace's name.
    pub workspace_name: Option<String>,
    /// The user who authorized, when Notion said.
    pub owner_user_id: Option<String>,
    /// That user's email, when Notion said.
    pub owner_email: Option<String>,
    /// 1 for the first token, +1 for every new pair (refresh or reconnect).
    pub version: i64,
    /// When it was first connected (ms since the epoch).
    pub created_at: i64,
    /// When the current token arrived (ms since the epoch).
    pub updated_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// One delivery as the outbox records it (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// The idempotency key.
    pub id: String,
    /// The authorization it delivers.
    pub bot_id: String,
    /// `new`, `refreshed` or `revoked`.
    pub reason: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure, if any (scrubbed of secrets when it was recorded).
    pub last_error: Option<String>,
    /// When the next attempt is due (ms since the epoch; pending only).
    pub next_attempt_at: i64,
    /// When the token arrived (ms since the epoch).
    pub created_at: i64,
    /// When it was delivered or parked dead (ms since the epoch).
    pub finished_at: Option<i64>,
}

/// One record of evidence: a code exchange or a refresh and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRecord {
    /// The exchange's or refresh's id.
    pub id: String,
    /// `pending`, `committed`, `failed` or `lost`.
    pub status: String,
    /// When it began (ms since the epoch).
    pub started_at: i64,
    /// When it ended (ms since the epoch).
    pub finished_at: Option<i64>,
    /// Why it ended `failed` or `lost`, when that was recorded.
    pub why: Option<String>,
}

/// How a flow ended, as the console's figures count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowOutcome {
    /// The user connected: the success page.
    Completed,
    /// The user declined on Notion's consent page.
    Denied,
    /// Any other end: a bad or replayed callback, Notion refusing, a
    /// consumer that failed.
    Failed,
}

impl FlowOutcome {
    /// Every outcome, in the order figures show them.
    pub const ALL: [FlowOutcome; 3] = [Self::Completed, Self::Denied, Self::Failed];

    /// Its name in the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One page of connections matching a search.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPage {
    /// The connections on this page, newest first.
    pub connections: Vec<Connection>,
    /// How many match in all.
    pub total: i64,
}

/// One delivery claimed for an attempt, with its sealed token.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The idempotency key.
    pub id: String,
    /// The authorization.
    pub bot_id: String,
    /// Why it is delivered.
    pub reason: Reason,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The token, sealed for this outbox row (`None` if it is gone).
    pub sealed: Option<Vec<u8>>,
    /// The flow's facts for the consumer (JSON, no secrets).
    pub state: String,
}

/// A token to commit: its outbox row and, in vault mode, the connection's
/// current token, with the exchange or refresh it ends, in one transaction.
#[derive(Debug)]
pub struct Commit {
    /// The outbox row's id, the delivery's idempotency key.
    pub id: String,
    /// The authorization.
    pub bot_id: String,
    /// Why it is delivered.
    pub reason: Reason,
    /// The token sealed for the outbox row.
    pub sealed: Vec<u8>,
    /// The flow's facts for the consumer (JSON, no secrets).
    pub state: String,
    /// The process the row is leased to for its first attempt.
    pub lease_owner: String,
    /// Until when (ms since the epoch).
    pub lease_until: i64,
    /// The connection's new current token (vault mode).
    pub connection: Option<ConnectionWrite>,
    /// The code exchange this commit ends.
    pub exchange_id: Option<String>,
    /// The refresh this commit ends.
    pub refresh_id: Option<String>,
    /// The commit's time (ms since the epoch).
    pub now: i64,
}

/// The connection part of a [`Commit`].
#[derive(Debug)]
pub struct ConnectionWrite {
    /// The workspace.
    pub workspace_id: String,
    /// The workspace's name.
    pub workspace_name: Option<String>,
    /// The user who authorized.
    pub owner_user_id: Option<String>,
    /// That user's email.
    pub owner_email: Option<String>,
    /// The token sealed for the connection row.
    pub sealed: Vec<u8>,
    /// A refresh's compare-and-set: the version the new pair replaces.
    /// `None` inserts or replaces whatever is there (a new authorization).
    pub expect_version: Option<i64>,
}

/// How a [`Commit`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Every row was written.
    Written,
    /// The connection changed since `expect_version`: nothing was written.
    Conflict,
}

/// A table whose rows have a status, for counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Connections: active, revoked.
    Connection,
    /// Code exchanges: pending, committed, failed, lost.
    Exchange,
    /// Refreshes: pending, committed, failed, lost.
    Refresh,
    /// Deliveries: pending, delivered, dead.
    Outbox,
}

/// A table of evidence written before Notion is called, whose rows still
/// pending long after are swept as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Code exchanges.
    Exchange,
    /// Refreshes.
    Refresh,
}

impl Evidence {
    /// What a row swept as lost was: the process that called Notion
    /// stopped before the answer was kept.
    pub(crate) fn swept_why(self) -> &'static str {
        match self {
            Self::Exchange => {
                "still pending past Notion's timeout: the instance that sent the code to Notion stopped before the token reached the store"
            }
            Self::Refresh => {
                "still pending past Notion's timeout: the instance that called Notion to refresh stopped before the new pair reached the store"
            }
        }
    }
}

/// A table that holds sealed tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedTable {
    /// `vault_connection`, keyed by bot id.
    Connection,
    /// `vault_outbox`, keyed by idempotency key.
    Outbox,
}

/// The vault's figures, read from the store, so they cover every instance
/// sharing it (`vault status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Code exchanges by state.
    pub exchanges: ExchangeFigures,
    /// Deliveries to the consumer by state.
    pub deliveries: DeliveryFigures,
    /// Connections by state.
    pub connections: ConnectionFigures,
}

/// Code exchanges by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExchangeFigures {
    /// Recorded, Notion called, not yet committed or failed.
    pub pending: i64,
    /// The token is in the outbox.
    pub committed: i64,
    /// Notion refused; no token exists.
    pub failed: i64,
    /// Notion may have issued a token that was never committed.
    pub lost: i64,
}

/// Deliveries by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryFigures {
    /// Not yet accepted by the consumer; retried.
    pub pending: i64,
    /// Accepted by the consumer.
    pub delivered: i64,
    /// Given up on; parked for an operator.
    pub dead: i64,
}

/// Connections by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionFigures {
    /// Holding a token.
    pub active: i64,
    /// Revoked.
    pub revoked: i64,
}

impl Status {
    /// The figures from `(status, rows)` counts of each table.
    pub(crate) fn of(
        exchanges: &[(String, i64)],
        deliveries: &[(String, i64)],
        connections: &[(String, i64)],
    ) -> Self {
        let n = |counts: &[(String, i64)], status: &str| {
            counts
                .iter()
                .filter(|(s, _)| s == status)
                .map(|(_, n)| n)
                .sum()
        };
        Self {
            exchanges: ExchangeFigures {
                pending: n(exchanges, "pending"),
                committed: n(exchanges, "committed"),
                failed: n(exchanges, "failed"),
                lost: n(exchanges, "lost"),
            },
            deliveries: DeliveryFigures {
                pending: n(deliveries, "pending"),
                delivered: n(deliveries, "delivered"),
                dead: n(deliveries, "dead"),
            },
            connections: ConnectionFigures {
                active: n(connections, "active"),
                revoked: n(connections, "revoked"),
            },
        }
    }
}
