//! Everything the store does, as data ([`Op`]) and as SQL ([`apply`]): the
//! only place in the gateway that knows the vault's tables. An op runs on
//! whatever [`Sql`] a backend hands it: inside the writer's batch
//! transaction for writes, on a reader connection for reads.

use super::StoreError;
use super::records::{
    Claimed, Commit, Committed, Connection, ConnectionPage, DeliveryRecord, Evidence,
    EvidenceRecord, Reason, SealedTable, Table,
};
use super::sql::{Param, Row, Sql};

// Statement parts the one-by-one ops here and the grouped ops of
// `grouped.rs` share, so the two forms of one write cannot drift apart.

/// The columns of a new connection row.
macro_rules! connection_insert {
    () => {
        "INSERT INTO vault_connection (bot_id, workspace_id, workspace_name, owner_user_id, owner_email, token, version, created_at, updated_at) "
    };
}

/// A reconnect replaces the kept token and bumps the version.
macro_rules! connection_replace {
    () => {
        " ON CONFLICT (bot_id) DO UPDATE SET workspace_id = excluded.workspace_id, \
         workspace_name = excluded.workspace_name, owner_user_id = excluded.owner_user_id, \
         owner_email = excluded.owner_email, \
         token = excluded.token, version = vault_connection.version + 1, \
         updated_at = excluded.updated_at, revoked_at = NULL"
    };
}

/// The columns of a new outbox row.
macro_rules! outbox_insert {
    () => {
        "INSERT INTO vault_outbox (id, bot_id, reason, token, state, attempts, next_attempt_at, status, created_at, lease_owner, lease_until) "
    };
}

/// A delivered row: its sealed copy deleted, its lease let go; the
/// statement goes on with `finished_at`'s value.
macro_rules! outbox_delivered {
    () => {
        "UPDATE vault_outbox SET status = 'delivered', token = NULL, attempts = attempts + 1, \
         lease_owner = NULL, lease_until = NULL, last_error = NULL, finished_at = "
    };
}

pub(super) use {connection_insert, connection_replace, outbox_delivered, outbox_insert};

/// One thing to do in the store.
#[derive(Debug)]
pub(crate) enum Op {
    // Writes.
    /// Records a code exchange about to call Notion (once per state).
    BeginExchange { id: String, now: i64 },
    /// Ends a pending exchange (`failed` or `lost`), saying why.
    FinishExchange {
        id: String,
        status: &'static str,
        why: String,
        now: i64,
    },
    /// Records a refresh about to call Notion.
    BeginRefresh {
        id: String,
        bot_id: String,
        now: i64,
    },
    /// Ends a pending refresh (`failed` or `lost`), saying why.
    FinishRefresh {
        id: String,
        status: &'static str,
        why: String,
        now: i64,
    },
    /// Marks exchanges or refreshes pending since before `before` as lost.
    SweepLost {
        table: Evidence,
        before: i64,
        now: i64,
    },
    /// Commits a token (outbox, connection, exchange or refresh) atomically.
    Commit(Box<Commit>),
    /// Claims due deliveries.
    Claim {
        owner: String,
        now: i64,
        until: i64,
        limit: i64,
    },
    /// Extends a delivery's lease held by `owner`.
    RenewDelivery {
        id: String,
        owner: String,
        until: i64,
    },
    /// Lets a claimed delivery go without an attempt.
    ReleaseDelivery { id: String, owner: String },
    /// Records a delivery the consumer accepted, if `owner` still holds it.
    Acknowledge { id: String, owner: String, now: i64 },
    /// Records a failed attempt, if `owner` still holds it: due again at
    /// `next_at`, or dead.
    Reschedule {
        id: String,
        owner: String,
        error: String,
        next_at: Option<i64>,
        now: i64,
    },
    /// Takes a connection's lease unless another owner holds it.
    AcquireLease {
        bot_id: String,
        owner: String,
        now: i64,
        until: i64,
    },
    /// Extends a connection's lease held by `owner`.
    RenewLease {
        bot_id: String,
        owner: String,
        until: i64,
    },
    /// Gives a connection's lease back.
    ReleaseLease { bot_id: String, owner: String },
    /// Marks a connection revoked and deletes its sealed token.
    MarkRevoked { bot_id: String, now: i64 },
    /// Replaces one sealed value, if it is still `old`.
    Reseal {
        table: SealedTable,
        key: String,
        old: Vec<u8>,
        new: Vec<u8>,
    },
    /// Opens a connect session (and forgets the expired ones).
    OpenSession {
        id_hash: String,
        app_data: String,
        expires_at: i64,
        now: i64,
    },
    /// Takes a connect session: deletes it, giving its app data if it had
    /// not expired by `now`.
    TakeSession { id_hash: String, now: i64 },
    /// Keeps a sealed result page for its owner (and forgets expired ones).
    PutPage {
        id_hash: String,
        owner: String,
        page: Vec<u8>,
        expires_at: i64,
        now: i64,
    },
    /// Takes a result page, if `owner` owns it: deletes it, giving it back
    /// if it had not expired by `now`.
    TakePage {
        id_hash: String,
        owner: String,
        now: i64,
    },
    // Reads.
    /// Every connection, newest first.
    Connections,
    /// One connection and its sealed current token.
    Connection { bot_id: String },
    /// Rows by status.
    Counts { table: Table },
    /// The latest deliveries, newest first.
    Deliveries { limit: i64 },
    /// Every sealed value of a table, with its row's key.
    Sealed { table: SealedTable },
    /// Asks the database for nothing, to see that it answers.
    Ping,
    /// Flows by outcome per minute since `since` (ms).
    FlowMinutes { since: i64 },
    /// Exchanges or refreshes that ended since `since`, by status.
    EndedSince { table: Evidence, since: i64 },
    /// Connections matching `query` (bot id, workspace name or id, owner
    /// email; any when `None`), newest first.
    SearchConnections {
        query: Option<String>,
        limit: i64,
        offset: i64,
    },
    /// One connection's deliveries, newest first.
    DeliveriesOf { bot_id: String, limit: i64 },
    /// One connection's refreshes, newest first.
    RefreshesOf { bot_id: String, limit: i64 },
    /// Deliveries not delivered (pending or dead), oldest first.
    Undelivered { limit: i64 },
    /// Exchanges counted lost, newest first.
    LostExchanges { limit: i64 },
    // Writes the console makes.
    /// Adds flow counts per minute (and forgets minutes before `forget_before`).
    AddFlowCounts {
        counts: Vec<(i64, &'static str, i64)>,
        forget_before: i64,
    },
    /// Makes a dead delivery (or, with `id` `None`, every dead delivery
    /// that still holds its token) due again now.
    RetryDead { id: Option<String>, now: i64 },
}

/// What an op gave back.
#[derive(Debug)]
pub(crate) enum Done {
    /// How many rows a write changed.
    Changed(u64),
    /// How a commit went.
    Committed(Committed),
    /// Ids a sweep marked.
    Ids(Vec<String>),
    /// Claimed deliveries.
    Claimed(Vec<Claimed>),
    /// Connections.
    Connections(Vec<Connection>),
    /// One connection and its sealed token, if it exists.
    Connection(Option<(Connection, Option<Vec<u8>>)>),
    /// `(status, rows)` pairs.
    Counts(Vec<(String, i64)>),
    /// Delivery records.
    Deliveries(Vec<DeliveryRecord>),
    /// `(key, sealed)` pairs.
    Sealed(Vec<(String, Vec<u8>)>),
    /// A connect session's app data, if it was open.
    AppData(Option<String>),
    /// A sealed result page, if it was there for its owner.
    Page(Option<Vec<u8>>),
    /// `(minute, outcome, count)` rows.
    FlowMinutes(Vec<(i64, String, i64)>),
    /// A page of connections.
    ConnectionPage(ConnectionPage),
    /// Exchange or refresh records.
    Evidence(Vec<EvidenceRecord>),
}

impl Op {
    /// Whether the op's write must be flushed to disk before its caller
    /// hears back. Evidence (exchange and refresh records), leases and
    /// acknowledgements need not: they survive a process crash in the
    /// write-ahead log, a power cut at worst repeats a delivery under the
    /// same idempotency key, and the next durable commit flushes them.
    pub(crate) fn durable(&self) -> bool {
        matches!(
            self,
            Self::Commit(_)
                | Self::RetryDead { .. }
                | Self::OpenSession { .. }
                | Self::Reschedule { .. }
                | Self::MarkRevoked { .. }
                | Self::Reseal { .. }
        )
    }

    /// Whether the op only reads.
    pub(crate) fn is_read(&self) -> bool {
        matches!(
            self,
            Self::Connections
                | Self::Connection { .. }
                | Self::Counts { .. }
                | Self::Deliveries { .. }
                | Self::Sealed { .. }
                | Self::Ping
                | Self::FlowMinutes { .. }
                | Self::EndedSince { .. }
                | Self::SearchConnections { .. }
                | Self::DeliveriesOf { .. }
                | Self::RefreshesOf { .. }
                | Self::Undelivered { .. }
                | Self::LostExchanges { .. }
        )
    }
}

/// The search of [`Op::SearchConnections`]: `$1` a lowercase `LIKE`
/// pattern, or `NULL` for every connection.
macro_rules! connection_filter {
    () => {
        " WHERE ($1 IS NULL OR LOWER(bot_id) LIKE $1 ESCAPE '\\' OR LOWER(workspace_id) LIKE $1 ESCAPE '\\' \
         OR LOWER(COALESCE(workspace_name, '')) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(owner_email, '')) LIKE $1 ESCAPE '\\')"
    };
}

/// The columns [`connection_of`] reads, in its order.
macro_rules! connection_columns {
    () => {
        "bot_id, workspace_id, workspace_name, owner_user_id, version, created_at, updated_at, revoked_at, owner_email"
    };
}

fn connection_of(r: &mut Row) -> Result<Connection, StoreError> {
    Ok(Connection {
        bot_id: r.text(0)?,
        workspace_id: r.text(1)?,
        workspace_name: r.opt_text(2)?,
        owner_user_id: r.opt_text(3)?,
        version: r.int(4)?,
        created_at: r.int(5)?,
        updated_at: r.int(6)?,
        revoked_at: r.opt_int(7)?,
        owner_email: r.opt_text(8)?,
    })
}

/// The columns [`deliveries_of`] reads, in its order.
macro_rules! delivery_columns {
    () => {
        "id, bot_id, reason, status, attempts, last_error, next_attempt_at, created_at, finished_at"
    };
}

fn deliveries_of(rows: Vec<Row>) -> Result<Vec<DeliveryRecord>, StoreError> {
    rows.into_iter()
        .map(|mut r| {
            Ok(DeliveryRecord {
                id: r.text(0)?,
                bot_id: r.text(1)?,
                reason: r.text(2)?,
                status: r.text(3)?,
                attempts: r.int(4)?,
                last_error: r.opt_text(5)?,
                next_attempt_at: r.int(6)?,
                created_at: r.int(7)?,
                finished_at: r.opt_int(8)?,
            })
        })
        .collect()
}

fn evidence_of(rows: Vec<Row>) -> Result<Vec<EvidenceRecord>, StoreError> {
    rows.into_iter()
        .map(|mut r| {
            Ok(EvidenceRecord {
                id: r.text(0)?,
                status: r.text(1)?,
                started_at: r.int(2)?,
                finished_at: r.opt_int(3)?,
                why: r.opt_text(4)?,
            })
        })
        .collect()
}

/// `text` as a `LIKE` pattern that matches it anywhere, its own `%`, `_`
/// and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn claimed_of(r: &mut Row) -> Result<Claimed, StoreError> {
    Ok(Claimed {
        id: r.text(0)?,
        bot_id: r.text(1)?,
        reason: Reason::of(&r.text(2)?),
        sealed: r.opt_blob(3)?,
        state: r.text(4)?,
        attempts: u32::try_from(r.int(5)?).unwrap_or(u32::MAX),
    })
}

fn counts_of(rows: Vec<Row>) -> Result<Vec<(String, i64)>, StoreError> {
    rows.into_iter()
        .map(|mut r| Ok((r.text(0)?, r.int(1)?)))
        .collect()
}

/// Runs `op` on `db`.
pub(crate) async fn apply<S: Sql>(db: &mut S, op: &Op) -> Result<Done, StoreError> {
    use Param::Int;
    let changed = |n: u64| Ok(Done::Changed(n));
    match op {
        Op::BeginExchange { id, now } => changed(
            db.execute(
                "INSERT INTO vault_exchange (exchange_id, started_at, status) VALUES ($1, $2, 'pending') \
                 ON CONFLICT (exchange_id) DO NOTHING",
                &[id.into(), (*now).into()],
            )
            .await?,
        ),
        Op::FinishExchange {
            id,
            status,
            why,
            now,
        } => changed(
            db.execute(
                "UPDATE vault_exchange SET status = $1, finished_at = $2, reason = $3 \
                 WHERE exchange_id = $4 AND status = 'pending'",
                &[(*status).into(), (*now).into(), why.into(), id.into()],
            )
            .await?,
        ),
        Op::BeginRefresh { id, bot_id, now } => changed(
            db.execute(
                "INSERT INTO vault_refresh (id, bot_id, started_at, status) VALUES ($1, $2, $3, 'pending') \
                 ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, status = 'pending', finished_at = NULL",
                &[id.into(), bot_id.into(), (*now).into()],
            )
            .await?,
        ),
        Op::FinishRefresh {
            id,
            status,
            why,
            now,
        } => changed(
            db.execute(
                "UPDATE vault_refresh SET status = $1, finished_at = $2, reason = $3 \
                 WHERE id = $4 AND status = 'pending'",
                &[(*status).into(), (*now).into(), why.into(), id.into()],
            )
            .await?,
        ),
        Op::SweepLost { table, before, now } => {
            let sql = match table {
                Evidence::Exchange => {
                    "UPDATE vault_exchange SET status = 'lost', finished_at = $1, reason = $3 \
                     WHERE status = 'pending' AND started_at < $2 RETURNING exchange_id"
                }
                Evidence::Refresh => {
                    "UPDATE vault_refresh SET status = 'lost', finished_at = $1, reason = $3 \
                     WHERE status = 'pending' AND started_at < $2 RETURNING id"
                }
            };
            let why = table.swept_why();
            let rows = db
                .query(sql, &[(*now).into(), (*before).into(), why.into()])
                .await?;
            let ids = rows.into_iter().map(|mut r| r.text(0));
            Ok(Done::Ids(ids.collect::<Result<_, _>>()?))
        }
        Op::Commit(c) => commit(db, c).await,
        Op::Claim {
            owner,
            now,
            until,
            limit,
        } => {
            let rows = db
                .query(
                    "UPDATE vault_outbox SET lease_owner = $1, lease_until = $2 \
                     WHERE id IN (SELECT id FROM vault_outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
                       AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4) \
                     AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
                     RETURNING id, bot_id, reason, token, state, attempts",
                    &[owner.into(), (*until).into(), (*now).into(), (*limit).into()],
                )
                .await?;
            let claimed = rows.into_iter().map(|mut r| claimed_of(&mut r));
            Ok(Done::Claimed(claimed.collect::<Result<_, _>>()?))
        }
        Op::RenewDelivery { id, owner, until } => changed(
            db.execute(
                "UPDATE vault_outbox SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
                &[(*until).into(), id.into(), owner.into()],
            )
            .await?,
        ),
        Op::ReleaseDelivery { id, owner } => changed(
            db.execute(
                "UPDATE vault_outbox SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
                &[id.into(), owner.into()],
            )
            .await?,
        ),
        Op::Acknowledge { id, owner, now } => changed(
            db.execute(
                concat!(
                    outbox_delivered!(),
                    "$1 WHERE id = $2 AND lease_owner = $3 AND status = 'pending'"
                ),
                &[(*now).into(), id.into(), owner.into()],
            )
            .await?,
        ),
        Op::Reschedule {
            id,
            owner,
            error,
            next_at,
            now,
        } => changed(
            db.execute(
                "UPDATE vault_outbox SET attempts = attempts + 1, last_error = $1, \
                 status = $2, next_attempt_at = $3, finished_at = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $5 AND lease_owner = $6 AND status = 'pending'",
                &[
                    error.into(),
                    if next_at.is_some() { "pending" } else { "dead" }.into(),
                    next_at.unwrap_or(0).into(),
                    Int(if next_at.is_some() { None } else { Some(*now) }),
                    id.into(),
                    owner.into(),
                ],
            )
            .await?,
        ),
        Op::AcquireLease {
            bot_id,
            owner,
            now,
            until,
        } => changed(
            db.execute(
                "UPDATE vault_connection SET lease_owner = $1, lease_until = $2 WHERE bot_id = $3 \
                 AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $1)",
                &[owner.into(), (*until).into(), bot_id.into(), (*now).into()],
            )
            .await?,
        ),
        Op::RenewLease {
            bot_id,
            owner,
            until,
        } => changed(
            db.execute(
                "UPDATE vault_connection SET lease_until = $1 WHERE bot_id = $2 AND lease_owner = $3",
                &[(*until).into(), bot_id.into(), owner.into()],
            )
            .await?,
        ),
        Op::ReleaseLease { bot_id, owner } => changed(
            db.execute(
                "UPDATE vault_connection SET lease_owner = NULL, lease_until = NULL WHERE bot_id = $1 AND lease_owner = $2",
                &[bot_id.into(), owner.into()],
            )
            .await?,
        ),
        Op::OpenSession {
            id_hash,
            app_data,
            expires_at,
            now,
        } => {
            db.execute(
                "DELETE FROM vault_connect_session WHERE expires_at <= $1",
                &[(*now).into()],
            )
            .await?;
            changed(
                db.execute(
                    "INSERT INTO vault_connect_session (id_hash, app_data, expires_at) VALUES ($1, $2, $3)",
                    &[id_hash.into(), app_data.into(), (*expires_at).into()],
                )
                .await?,
            )
        }
        Op::TakeSession { id_hash, now } => {
            let rows = db
                .query(
                    "DELETE FROM vault_connect_session WHERE id_hash = $1 RETURNING app_data, expires_at",
                    &[id_hash.into()],
                )
                .await?;
            let mut open = None;
            for mut r in rows {
                let (app_data, expires_at) = (r.text(0)?, r.int(1)?);
                if expires_at > *now {
                    open = Some(app_data);
                }
            }
            Ok(Done::AppData(open))
        }
        Op::PutPage {
            id_hash,
            owner,
            page,
            expires_at,
            now,
        } => {
            db.execute(
                "DELETE FROM vault_result_page WHERE expires_at <= $1",
                &[(*now).into()],
            )
            .await?;
            changed(
                db.execute(
                    "INSERT INTO vault_result_page (id_hash, owner, page, expires_at) VALUES ($1, $2, $3, $4)",
                    &[id_hash.into(), owner.into(), page.as_slice().into(), (*expires_at).into()],
                )
                .await?,
            )
        }
        Op::TakePage {
            id_hash,
            owner,
            now,
        } => {
            let rows = db
                .query(
                    "DELETE FROM vault_result_page WHERE id_hash = $1 AND owner = $2 RETURNING page, expires_at",
                    &[id_hash.into(), owner.into()],
                )
                .await?;
            let mut page = None;
            for mut r in rows {
                let (sealed, expires_at) = (r.opt_blob(0)?, r.int(1)?);
                if expires_at > *now {
                    page = sealed;
                }
            }
            Ok(Done::Page(page))
        }
        Op::MarkRevoked { bot_id, now } => changed(
            db.execute(
                "UPDATE vault_connection SET token = NULL, revoked_at = $1, version = version + 1 WHERE bot_id = $2",
                &[(*now).into(), bot_id.into()],
            )
            .await?,
        ),
        Op::Reseal {
            table,
            key,
            old,
            new,
        } => {
            let sql = match table {
                SealedTable::Connection => {
                    "UPDATE vault_connection SET token = $1 WHERE bot_id = $2 AND token = $3"
                }
                SealedTable::Outbox => {
                    "UPDATE vault_outbox SET token = $1 WHERE id = $2 AND token = $3"
                }
            };
            changed(
                db.execute(sql, &[new.as_slice().into(), key.into(), old.as_slice().into()])
                    .await?,
            )
        }
        Op::Connections => {
            let rows = db
                .query(
                    concat!(
                        "SELECT ",
                        connection_columns!(),
                        " FROM vault_connection ORDER BY created_at DESC, bot_id"
                    ),
                    &[],
                )
                .await?;
            let all = rows.into_iter().map(|mut r| connection_of(&mut r));
            Ok(Done::Connections(all.collect::<Result<_, _>>()?))
        }
        Op::Connection { bot_id } => {
            let mut rows = db
                .query(
                    concat!(
                        "SELECT ",
                        connection_columns!(),
                        ", token FROM vault_connection WHERE bot_id = $1"
                    ),
                    &[bot_id.into()],
                )
                .await?;
            match rows.pop() {
                None => Ok(Done::Connection(None)),
                Some(mut r) => {
                    let c = connection_of(&mut r)?;
                    let sealed = r.opt_blob(9)?;
                    Ok(Done::Connection(Some((c, sealed))))
                }
            }
        }
        Op::Counts { table } => {
            let sql = match table {
                Table::Connection => {
                    "SELECT CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END AS state, COUNT(*) \
                     FROM vault_connection GROUP BY 1 ORDER BY 1"
                }
                Table::Exchange => {
                    "SELECT status, COUNT(*) FROM vault_exchange GROUP BY status ORDER BY status"
                }
                Table::Refresh => {
                    "SELECT status, COUNT(*) FROM vault_refresh GROUP BY status ORDER BY status"
                }
                Table::Outbox => {
                    "SELECT status, COUNT(*) FROM vault_outbox GROUP BY status ORDER BY status"
                }
            };
            Ok(Done::Counts(counts_of(db.query(sql, &[]).await?)?))
        }
        Op::Deliveries { limit } => {
            let rows = db
                .query(
                    concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM vault_outbox ORDER BY created_at DESC, id LIMIT $1"
                    ),
                    &[(*limit).into()],
                )
                .await?;
            Ok(Done::Deliveries(deliveries_of(rows)?))
        }
        Op::Sealed { table } => {
            let sql = match table {
                SealedTable::Connection => {
                    "SELECT bot_id, token FROM vault_connection WHERE token IS NOT NULL"
                }
                SealedTable::Outbox => "SELECT id, token FROM vault_outbox WHERE token IS NOT NULL",
            };
            let rows = db.query(sql, &[]).await?;
            let sealed = rows
                .into_iter()
                .filter_map(|mut r| match (r.text(0), r.opt_blob(1)) {
                    (Ok(k), Ok(Some(t))) => Some(Ok((k, t))),
                    (Err(e), _) | (_, Err(e)) => Some(Err(e)),
                    (Ok(_), Ok(None)) => None,
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(Done::Sealed(sealed))
        }
        Op::Ping => {
            db.query("SELECT 1", &[]).await?;
            Ok(Done::Changed(0))
        }
        Op::FlowMinutes { since } => {
            let rows = db
                .query(
                    "SELECT minute, outcome, count FROM vault_flow_minute WHERE minute >= $1 ORDER BY minute, outcome",
                    &[(*since).into()],
                )
                .await?;
            let minutes = rows
                .into_iter()
                .map(|mut r| Ok((r.int(0)?, r.text(1)?, r.int(2)?)))
                .collect::<Result<_, StoreError>>()?;
            Ok(Done::FlowMinutes(minutes))
        }
        Op::EndedSince { table, since } => {
            let sql = match table {
                Evidence::Exchange => {
                    "SELECT status, COUNT(*) FROM vault_exchange WHERE finished_at >= $1 GROUP BY status ORDER BY status"
                }
                Evidence::Refresh => {
                    "SELECT status, COUNT(*) FROM vault_refresh WHERE finished_at >= $1 GROUP BY status ORDER BY status"
                }
            };
            Ok(Done::Counts(counts_of(db.query(sql, &[(*since).into()]).await?)?))
        }
        Op::SearchConnections {
            query,
            limit,
            offset,
        } => {
            let pattern = query.as_deref().map(contains_pattern);
            let rows = db
                .query(
                    concat!(
                        "SELECT ",
                        connection_columns!(),
                        " FROM vault_connection",
                        connection_filter!(),
                        " ORDER BY created_at DESC, bot_id LIMIT $2 OFFSET $3"
                    ),
                    &[pattern.as_deref().into(), (*limit).into(), (*offset).into()],
                )
                .await?;
            let connections = rows
                .into_iter()
                .map(|mut r| connection_of(&mut r))
                .collect::<Result<_, _>>()?;
            let mut total = db
                .query(
                    concat!("SELECT COUNT(*) FROM vault_connection", connection_filter!()),
                    &[pattern.as_deref().into()],
                )
                .await?;
            let total = match total.pop() {
                Some(mut r) => r.int(0)?,
                None => 0,
            };
            Ok(Done::ConnectionPage(ConnectionPage { connections, total }))
        }
        Op::DeliveriesOf { bot_id, limit } => {
            let rows = db
                .query(
                    concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM vault_outbox WHERE bot_id = $1 ORDER BY created_at DESC, id LIMIT $2"
                    ),
                    &[bot_id.into(), (*limit).into()],
                )
                .await?;
            Ok(Done::Deliveries(deliveries_of(rows)?))
        }
        Op::RefreshesOf { bot_id, limit } => {
            let rows = db
                .query(
                    "SELECT id, status, started_at, finished_at, reason FROM vault_refresh WHERE bot_id = $1 \
                     ORDER BY started_at DESC, id LIMIT $2",
                    &[bot_id.into(), (*limit).into()],
                )
                .await?;
            Ok(Done::Evidence(evidence_of(rows)?))
        }
        Op::Undelivered { limit } => {
            let rows = db
                .query(
                    concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM vault_outbox WHERE status <> 'delivered' ORDER BY created_at, id LIMIT $1"
                    ),
                    &[(*limit).into()],
                )
                .await?;
            Ok(Done::Deliveries(deliveries_of(rows)?))
        }
        Op::LostExchanges { limit } => {
            let rows = db
                .query(
                    "SELECT exchange_id, status, started_at, finished_at, reason FROM vault_exchange WHERE status = 'lost' \
                     ORDER BY started_at DESC, exchange_id LIMIT $1",
                    &[(*limit).into()],
                )
                .await?;
            Ok(Done::Evidence(evidence_of(rows)?))
        }
        Op::AddFlowCounts {
            counts,
            forget_before,
        } => {
            db.execute(
                "DELETE FROM vault_flow_minute WHERE minute < $1",
                &[(*forget_before).into()],
            )
            .await?;
            let mut changed = 0;
            for (minute, outcome, n) in counts {
                changed += db
                    .execute(
                        "INSERT INTO vault_flow_minute (minute, outcome, count) VALUES ($1, $2, $3) \
                         ON CONFLICT (minute, outcome) DO UPDATE SET count = vault_flow_minute.count + excluded.count",
                        &[(*minute).into(), (*outcome).into(), (*n).into()],
                    )
                    .await?;
            }
            Ok(Done::Changed(changed))
        }
        Op::RetryDead { id, now } => changed(
            db.execute(
                "UPDATE vault_outbox SET status = 'pending', next_attempt_at = $1, finished_at = NULL \
                 WHERE status = 'dead' AND token IS NOT NULL AND ($2 IS NULL OR id = $2)",
                &[(*now).into(), id.as_deref().into()],
            )
            .await?,
        ),
    }
}

/// The commit behind every delivery. The connection's compare-and-set runs
/// first, so a conflict writes nothing at all.
async fn commit<S: Sql>(db: &mut S, c: &Commit) -> Result<Done, StoreError> {
    if let Some(w) = &c.connection {
        let changed = match w.expect_version {
            None => {
                db.execute(
                    concat!(
                        connection_insert!(),
                        "VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
                        connection_replace!()
                    ),
                    &[
                        (&c.bot_id).into(),
                        (&w.workspace_id).into(),
                        w.workspace_name.as_deref().into(),
                        w.owner_user_id.as_deref().into(),
                        w.owner_email.as_deref().into(),
                        w.sealed.as_slice().into(),
                        c.now.into(),
                    ],
                )
                .await?
            }
            Some(version) => {
                db.execute(
                    "UPDATE vault_connection SET token = $1, version = version + 1, updated_at = $2 \
                     WHERE bot_id = $3 AND version = $4",
                    &[
                        w.sealed.as_slice().into(),
                        c.now.into(),
                        (&c.bot_id).into(),
                        version.into(),
                    ],
                )
                .await?
            }
        };
        if changed != 1 {
            return Ok(Done::Committed(Committed::Conflict));
        }
    }
    db.execute(
        concat!(
            outbox_insert!(),
            "VALUES ($1, $2, $3, $4, $5, 0, $6, 'pending', $6, $7, $8) ON CONFLICT (id) DO NOTHING"
        ),
        &[
            (&c.id).into(),
            (&c.bot_id).into(),
            c.reason.name().into(),
            c.sealed.as_slice().into(),
            (&c.state).into(),
            c.now.into(),
            (&c.lease_owner).into(),
            c.lease_until.into(),
        ],
    )
    .await?;
    if let Some(exchange_id) = &c.exchange_id {
        db.execute(
            "UPDATE vault_exchange SET status = 'committed', finished_at = $1 WHERE exchange_id = $2",
            &[c.now.into(), exchange_id.into()],
        )
        .await?;
    }
    if let Some(refresh_id) = &c.refresh_id {
        db.execute(
            "UPDATE vault_refresh SET status = 'committed', finished_at = $1 WHERE id = $2",
            &[c.now.into(), refresh_id.into()],
        )
        .await?;
    }
    Ok(Done::Committed(Committed::Written))
}
