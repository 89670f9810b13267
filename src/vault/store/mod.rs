//! The vault's store: all of its SQL, nothing else. Every write goes to one
//! writer per backend that gathers whatever is queued into one transaction
//! and one flush (group commit) and answers each caller after the flush
//! that covers its write; concurrent callers share flushes, and a lone one
//! is not kept waiting for company. Reads run on connections of their own.
//!
//! [`ops`] holds the statements (one dialect for both backends, through
//! [`sql`]); [`sqlite`] and [`postgres`] run them. Tokens arrive sealed:
//! the store never sees a secret in the clear.

mod grouped;
mod ops;
mod postgres;
pub mod records;
mod sql;
mod sqlite;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use ops::{Done, Op};
pub use records::{
    Claimed, Commit, Committed, Connection, ConnectionFigures, ConnectionPage, ConnectionWrite,
    DeliveryFigures, DeliveryRecord, Evidence, EvidenceRecord, ExchangeFigures, FlowOutcome,
    Reason, SealedTable, Status, Table,
};

use crate::config::StoreBackend;

/// The most ops one batch gathers.
const MAX_BATCH: usize = 256;

/// Why the store could not do something.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("{0}")]
    Db(String),
    /// A row is not what the vault wrote.
    #[error("an unexpected row: {0}")]
    Shape(String),
    /// The writer or reader has stopped.
    #[error("the store has stopped")]
    Closed,
}

/// One op and where its answer goes.
pub(crate) struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// Milliseconds since the Unix epoch, the vault's time unit (the one wall
/// clock, [`crate::clock::unix_ms`]).
pub use crate::clock::unix_ms as now_ms;

/// A duration as milliseconds for arithmetic with [`now_ms`].
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

enum Backend {
    Sqlite {
        writer: mpsc::UnboundedSender<Job>,
        reader: mpsc::UnboundedSender<Job>,
    },
    Postgres {
        writer: mpsc::UnboundedSender<Job>,
        pool: sqlx::PgPool,
    },
}

/// An open store (cheap to share behind an `Arc`).
pub struct Store {
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("postgres", &self.is_postgres())
            .finish_non_exhaustive()
    }
}

/// What a typed call expected back but did not get (a bug, never input).
fn unexpected(done: &Done) -> StoreError {
    StoreError::Shape(format!(
        "the store answered with {:?}",
        std::mem::discriminant(done)
    ))
}

macro_rules! expect {
    ($done:expr, $variant:ident) => {
        match $done {
            Done::$variant(v) => Ok(v),
            other => Err(unexpected(&other)),
        }
    };
}

impl Store {
    /// Opens the database, brings its schema up to date and starts the
    /// writer and readers.
    pub async fn open(backend: &StoreBackend) -> Result<Self, StoreError> {
        let backend = match backend {
            StoreBackend::Sqlite(path) => {
                // Creates the file private, in WAL mode, and runs the migrations.
                crate::database::Database::open_file(path)
                    .await
                    .map_err(|e| StoreError::Db(e.to_string()))?;
                let (writer, reader) = sqlite::start(path)?;
                Backend::Sqlite { writer, reader }
            }
            StoreBackend::Postgres(pg) => {
                let (writer, pool) = postgres::start(pg).await?;
                Backend::Postgres { writer, pool }
            }
        };
        Ok(Self { backend })
    }

    /// Whether this is PostgreSQL (shared by several instances).
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    async fn run(&self, op: Op) -> Result<Done, StoreError> {
        let queue = match &self.backend {
            Backend::Sqlite { reader, .. } if op.is_read() => reader,
            Backend::Postgres { pool, .. } if op.is_read() => {
                return postgres::read(pool, &op).await;
            }
            Backend::Sqlite { writer, .. } | Backend::Postgres { writer, .. } => writer,
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job { op, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn changed(&self, op: Op) -> Result<u64, StoreError> {
        expect!(self.run(op).await?, Changed)
    }

    /// Opens a connect session whose id hashes to `id_hash`, carrying
    /// `app_data`, open until `expires_at` (Unix ms); `now` is the caller's
    /// clock, which also forgets sessions that have expired.
    pub async fn open_session(
        &self,
        id_hash: &str,
        app_data: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let op = Op::OpenSession {
            id_hash: id_hash.to_string(),
            app_data: app_data.to_string(),
            expires_at,
            now,
        };
        self.changed(op).await.map(drop)
    }

    /// Takes the connect session whose id hashes to `id_hash`: its app data
    /// when it was open at `now`, once (every instance sharing the store
    /// sees it taken).
    pub async fn take_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let op = Op::TakeSession {
            id_hash: id_hash.to_string(),
            now,
        };
        expect!(self.run(op).await?, AppData)
    }

    /// Keeps a sealed result page under `id_hash` for the browser `owner`
    /// until `expires_at` (Unix ms); `now` also forgets pages that expired.
    pub async fn put_page(
        &self,
        id_hash: &str,
        owner: &str,
        page: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let op = Op::PutPage {
            id_hash: id_hash.to_string(),
            owner: owner.to_string(),
            page,
            expires_at,
            now,
        };
        self.changed(op).await.map(drop)
    }

    /// Takes the sealed result page under `id_hash` if `owner` owns it and
    /// it had not expired at `now`: once, at whichever instance asks first.
    /// Another owner's asking leaves it.
    pub async fn take_page(
        &self,
        id_hash: &str,
        owner: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let op = Op::TakePage {
            id_hash: id_hash.to_string(),
            owner: owner.to_string(),
            now,
        };
        expect!(self.run(op).await?, Page)
    }

    /// Records that the exchange `id` is about to call Notion. False when it
    /// was recorded before: the state was already used (perhaps at another
    /// instance sharing the store), so its code must not be sent again.
    pub async fn begin_exchange(&self, id: &str) -> Result<bool, StoreError> {
        let op = Op::BeginExchange {
            id: id.to_string(),
            now: now_ms(),
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Ends a pending exchange as `failed` or `lost`; `why` is kept for the
    /// console (at most 500 characters; never a secret).
    pub async fn finish_exchange(
        &self,
        id: &str,
        status: &'static str,
        why: &str,
    ) -> Result<(), StoreError> {
        let op = Op::FinishExchange {
            id: id.to_string(),
            status,
            why: why.chars().take(500).collect(),
            now: now_ms(),
        };
        self.changed(op).await.map(drop)
    }

    /// Records that the refresh `id` of `bot_id` is about to call Notion.
    pub async fn begin_refresh(&self, id: &str, bot_id: &str) -> Result<(), StoreError> {
        let op = Op::BeginRefresh {
            id: id.to_string(),
            bot_id: bot_id.to_string(),
            now: now_ms(),
        };
        self.changed(op).await.map(drop)
    }

    /// Ends a pending refresh as `failed` or `lost`; `why` is kept for the
    /// console (at most 500 characters; never a secret).
    pub async fn finish_refresh(
        &self,
        id: &str,
        status: &'static str,
        why: &str,
    ) -> Result<(), StoreError> {
        let op = Op::FinishRefresh {
            id: id.to_string(),
            status,
            why: why.chars().take(500).collect(),
            now: now_ms(),
        };
        self.changed(op).await.map(drop)
    }

    /// Marks exchanges or refreshes pending for longer than `older_than` as
    /// lost; returns their ids.
    pub async fn sweep_lost(
        &self,
        table: Evidence,
        older_than: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        let op = Op::SweepLost {
            table,
            before: now - ms(older_than),
            now,
        };
        expect!(self.run(op).await?, Ids)
    }

    /// Commits a token: its outbox row and, in vault mode, the connection's
    /// current token, ending its exchange or refresh, in one transaction
    /// that is flushed before this returns.
    pub async fn commit(&self, commit: Commit) -> Result<Committed, StoreError> {
        fail::fail_point!("outbox_commit", |_| Err(StoreError::Db(
            "failpoint outbox_commit".into()
        )));
        expect!(self.run(Op::Commit(Box::new(commit))).await?, Committed)
    }

    /// Claims up to `limit` due deliveries for `owner`, for `lease`.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = now_ms();
        let op = Op::Claim {
            owner: owner.to_string(),
            now,
            until: now + ms(lease),
            limit,
        };
        expect!(self.run(op).await?, Claimed)
    }

    /// Extends a delivery's lease; false when `owner` no longer holds it.
    pub async fn renew_delivery(
        &self,
        id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let op = Op::RenewDelivery {
            id: id.to_string(),
            owner: owner.to_string(),
            until: now_ms() + ms(lease),
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Lets a claimed delivery go without an attempt.
    pub async fn release_delivery(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        let op = Op::ReleaseDelivery {
            id: id.to_string(),
            owner: owner.to_string(),
        };
        self.changed(op).await.map(drop)
    }

    /// Records a delivery the consumer accepted (its sealed copy is
    /// deleted); false when `owner` no longer held it, so nothing changed.
    pub async fn acknowledge(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let op = Op::Acknowledge {
            id: id.to_string(),
            owner: owner.to_string(),
            now: now_ms(),
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Records a failed attempt: due again at `next_at`, or dead. False when
    /// `owner` no longer held the delivery (another instance has it, or
    /// delivered it), so nothing changed.
    pub async fn reschedule(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        next_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let op = Op::Reschedule {
            id: id.to_string(),
            owner: owner.to_string(),
            error: error.chars().take(500).collect(),
            next_at,
            now: now_ms(),
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Takes a connection's lease for `lease` unless another owner holds it.
    pub async fn acquire_lease(
        &self,
        bot_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let op = Op::AcquireLease {
            bot_id: bot_id.to_string(),
            owner: owner.to_string(),
            now,
            until: now + ms(lease),
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Extends a connection's lease; false when `owner` no longer holds it.
    pub async fn renew_lease(
        &self,
        bot_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let op = Op::RenewLease {
            bot_id: bot_id.to_string(),
            owner: owner.to_string(),
            until: now_ms() + ms(lease),
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Gives a connection's lease back.
    pub async fn release_lease(&self, bot_id: &str, owner: &str) -> Result<(), StoreError> {
        let op = Op::ReleaseLease {
            bot_id: bot_id.to_string(),
            owner: owner.to_string(),
        };
        self.changed(op).await.map(drop)
    }

    /// Marks a connection revoked and deletes its sealed token.
    pub async fn mark_revoked(&self, bot_id: &str) -> Result<(), StoreError> {
        let op = Op::MarkRevoked {
            bot_id: bot_id.to_string(),
            now: now_ms(),
        };
        self.changed(op).await.map(drop)
    }

    /// Replaces one sealed value if it is still `old`; false otherwise.
    pub async fn reseal(
        &self,
        table: SealedTable,
        key: &str,
        old: Vec<u8>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let op = Op::Reseal {
            table,
            key: key.to_string(),
            old,
            new,
        };
        Ok(self.changed(op).await? == 1)
    }

    /// Every connection, newest first.
    pub async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        expect!(self.run(Op::Connections).await?, Connections)
    }

    /// One connection, if it exists.
    pub async fn connection(&self, bot_id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self.connection_sealed(bot_id).await?.map(|(c, _)| c))
    }

    /// One connection with its sealed current token (`None` once revoked).
    pub async fn connection_sealed(
        &self,
        bot_id: &str,
    ) -> Result<Option<(Connection, Option<Vec<u8>>)>, StoreError> {
        let op = Op::Connection {
            bot_id: bot_id.to_string(),
        };
        expect!(self.run(op).await?, Connection)
    }

    /// `(status, rows)` of a table, by status.
    pub async fn counts(&self, table: Table) -> Result<Vec<(String, i64)>, StoreError> {
        expect!(self.run(Op::Counts { table }).await?, Counts)
    }

    /// The outbox's rows by status.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.counts(Table::Outbox).await
    }

    /// The vault's figures: exchanges, deliveries and connections by state,
    /// across every instance sharing the store.
    pub async fn status(&self) -> Result<Status, StoreError> {
        let exchanges = self.counts(Table::Exchange).await?;
        let deliveries = self.counts(Table::Outbox).await?;
        let connections = self.counts(Table::Connection).await?;
        Ok(Status::of(&exchanges, &deliveries, &connections))
    }

    /// The exchanges by status.
    pub async fn exchange_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.counts(Table::Exchange).await
    }

    /// The latest deliveries, newest first (no secrets).
    pub async fn deliveries(&self, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        expect!(self.run(Op::Deliveries { limit }).await?, Deliveries)
    }

    /// Adds flow counts, `(minute start in ms, outcome, count)`, to the
    /// store's per-minute figures, and forgets minutes older than two days.
    pub async fn add_flow_counts(
        &self,
        counts: Vec<(i64, FlowOutcome, i64)>,
        now: i64,
    ) -> Result<(), StoreError> {
        let op = Op::AddFlowCounts {
            counts: counts
                .into_iter()
                .map(|(m, o, n)| (m, o.name(), n))
                .collect(),
            forget_before: now - 2 * 24 * 3600 * 1000,
        };
        self.changed(op).await.map(drop)
    }

    /// Flows by outcome per minute since `since` (ms): `(minute, outcome,
    /// count)`, oldest first.
    pub async fn flow_minutes(&self, since: i64) -> Result<Vec<(i64, String, i64)>, StoreError> {
        expect!(self.run(Op::FlowMinutes { since }).await?, FlowMinutes)
    }

    /// Exchanges or refreshes that ended since `since` (ms), by status.
    pub async fn ended_since(
        &self,
        table: Evidence,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        expect!(self.run(Op::EndedSince { table, since }).await?, Counts)
    }

    /// One page of the connections whose bot id, workspace id or name, or
    /// owner email contains `query` (case-insensitive; all when `None`).
    pub async fn search_connections(
        &self,
        query: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<ConnectionPage, StoreError> {
        let op = Op::SearchConnections {
            query: query.map(str::to_string),
            limit,
            offset,
        };
        expect!(self.run(op).await?, ConnectionPage)
    }

    /// One connection's latest deliveries, newest first.
    pub async fn deliveries_of(
        &self,
        bot_id: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let op = Op::DeliveriesOf {
            bot_id: bot_id.to_string(),
            limit,
        };
        expect!(self.run(op).await?, Deliveries)
    }

    /// One connection's latest refreshes, newest first.
    pub async fn refreshes_of(
        &self,
        bot_id: &str,
        limit: i64,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        let op = Op::RefreshesOf {
            bot_id: bot_id.to_string(),
            limit,
        };
        expect!(self.run(op).await?, Evidence)
    }

    /// Deliveries pending or dead, oldest first.
    pub async fn undelivered(&self, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        expect!(self.run(Op::Undelivered { limit }).await?, Deliveries)
    }

    /// Exchanges counted lost, newest first.
    pub async fn lost_exchanges(&self, limit: i64) -> Result<Vec<EvidenceRecord>, StoreError> {
        expect!(self.run(Op::LostExchanges { limit }).await?, Evidence)
    }

    /// Makes the dead delivery `id` (or every dead delivery, with `None`)
    /// due again now; how many were. A delivery whose token is gone cannot
    /// be retried.
    pub async fn retry_dead(&self, id: Option<&str>) -> Result<u64, StoreError> {
        let op = Op::RetryDead {
            id: id.map(str::to_string),
            now: now_ms(),
        };
        self.changed(op).await
    }

    /// Whether the database answers: one trivial query, on the readers
    /// (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(Op::Ping).await.map(drop)
    }

    /// Every sealed value of `table`, with its row's key.
    pub async fn sealed(&self, table: SealedTable) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        expect!(self.run(Op::Sealed { table }).await?, Sealed)
    }
}
