//! PostgreSQL: the callback's ops of one batch as one statement. Every
//! callback makes four writes (its exchange record, its commit, its
//! acknowledgement, its result page); run one by one they cost a round trip
//! each, and a batch of them one per kind and table. Here they are one
//! statement of data-modifying `WITH` clauses, each fed by arrays (an empty
//! array makes its clause a no-op), so a batch costs one round trip whatever
//! its size and mix. Other ops (and refreshes, whose compare-and-set is per
//! row) run one by one.
//!
//! The clauses see one snapshot and cannot see each other's rows; none
//! needs to: a commit ends an exchange begun in an earlier batch, an
//! acknowledgement follows its commit's answer, and a page is taken after
//! it was put. The sweep of expired pages leaves alone the pages the batch
//! takes, so a take is answered by its own clause.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::StoreError;
use super::ops::{
    Done, Op, connection_insert, connection_replace, outbox_delivered, outbox_insert,
};
use super::records::{Commit, Committed};

/// Whether `op` is one the statement covers.
pub(crate) fn covers(op: &Op) -> bool {
    match op {
        Op::BeginExchange { .. }
        | Op::Acknowledge { .. }
        | Op::PutPage { .. }
        | Op::TakePage { .. } => true,
        Op::Commit(c) => is_new_token(c),
        _ => false,
    }
}

/// A commit of a new token (no compare-and-set, no refresh record).
fn is_new_token(c: &Commit) -> bool {
    c.refresh_id.is_none()
        && c.connection
            .as_ref()
            .is_none_or(|w| w.expect_version.is_none())
}

/// The statement; its parameters are bound in [`run`], in this order.
const STATEMENT: &str = concat!(
    "WITH began AS (",
    "INSERT INTO vault_exchange (exchange_id, started_at, status) \
     SELECT id, at, 'pending' FROM unnest($1::text[], $2::bigint[]) AS u(id, at) \
     ON CONFLICT (exchange_id) DO NOTHING RETURNING exchange_id), ",
    "kept AS (",
    connection_insert!(),
    "SELECT b, w, n, o, e, t, 1, at, at FROM unnest($3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::bytea[], $9::bigint[]) AS u(b, w, n, o, e, t, at)",
    connection_replace!(),
    "), outboxed AS (",
    outbox_insert!(),
    "SELECT id, b, r, t, s, 0, at, 'pending', at, lo, lu FROM unnest($10::text[], $11::text[], \
     $12::text[], $13::bytea[], $14::text[], $15::bigint[], $16::text[], $17::bigint[]) \
     AS u(id, b, r, t, s, at, lo, lu) ON CONFLICT (id) DO NOTHING), ",
    "ended AS (UPDATE vault_exchange SET status = 'committed', finished_at = u.at \
     FROM unnest($18::text[], $19::bigint[]) AS u(id, at) WHERE exchange_id = u.id), ",
    "acked AS (",
    outbox_delivered!(),
    "u.at FROM unnest($20::text[], $21::text[], $22::bigint[]) AS u(id, owner, at) \
     WHERE vault_outbox.id = u.id AND vault_outbox.lease_owner = u.owner \
     AND vault_outbox.status = 'pending' RETURNING vault_outbox.id), ",
    "swept AS (DELETE FROM vault_result_page WHERE expires_at <= $23::bigint \
     AND NOT (id_hash = ANY($28::text[]))), ",
    "put AS (INSERT INTO vault_result_page (id_hash, owner, page, expires_at) \
     SELECT * FROM unnest($24::text[], $25::text[], $26::bytea[], $27::bigint[])), ",
    "taken AS (DELETE FROM vault_result_page p USING unnest($28::text[], $29::text[]) AS u(id, owner) \
     WHERE p.id_hash = u.id AND p.owner = u.owner \
     RETURNING p.id_hash, p.owner, p.page, p.expires_at) ",
    "SELECT 'b'::text, exchange_id, NULL::text, NULL::bytea, NULL::bigint FROM began \
     UNION ALL SELECT 'a', id, NULL, NULL, NULL FROM acked \
     UNION ALL SELECT 't', id_hash, owner, page, expires_at FROM taken",
);

/// A row of the statement's answer: its clause, key, owner, page, expiry.
type Answer = (String, String, Option<String>, Option<Vec<u8>>, Option<i64>);

/// Runs `ops` (every one [`covers`]) as one statement; answers them in order.
pub(crate) async fn run(db: &mut PgConnection, ops: &[&Op]) -> Result<Vec<Done>, StoreError> {
    let mut began = (Vec::new(), Vec::new());
    let mut commits: Vec<&Commit> = Vec::new();
    let mut acks = (Vec::new(), Vec::new(), Vec::new());
    let mut puts = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut takes = (Vec::new(), Vec::new());
    let mut sweep_at: Option<i64> = None;
    for op in ops {
        match op {
            Op::BeginExchange { id, now } => {
                began.0.push(id.as_str());
                began.1.push(*now);
            }
            Op::Commit(c) => commits.push(c),
            Op::Acknowledge { id, owner, now } => {
                acks.0.push(id.as_str());
                acks.1.push(owner.as_str());
                acks.2.push(*now);
            }
            Op::PutPage {
                id_hash,
                owner,
                page,
                expires_at,
                now,
            } => {
                puts.0.push(id_hash.as_str());
                puts.1.push(owner.as_str());
                puts.2.push(page.as_slice());
                puts.3.push(*expires_at);
                sweep_at = Some(sweep_at.map_or(*now, |at| at.min(*now)));
            }
            Op::TakePage { id_hash, owner, .. } => {
                takes.0.push(id_hash.as_str());
                takes.1.push(owner.as_str());
            }
            _ => {
                return Err(StoreError::Shape(
                    "an op the grouped statement does not cover".into(),
                ));
            }
        }
    }
    let kept: Vec<_> = commits
        .iter()
        .filter_map(|c| c.connection.as_ref().map(|w| (c, w)))
        .collect();
    let ended: Vec<(&str, i64)> = commits
        .iter()
        .filter_map(|c| c.exchange_id.as_deref().map(|id| (id, c.now)))
        .collect();
    let answers: Vec<Answer> = sqlx::query_as(STATEMENT)
        .bind(&began.0)
        .bind(&began.1)
        .bind(
            kept.iter()
                .map(|(c, _)| c.bot_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            kept.iter()
                .map(|(_, w)| w.workspace_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            kept.iter()
                .map(|(_, w)| w.workspace_name.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            kept.iter()
                .map(|(_, w)| w.owner_user_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            kept.iter()
                .map(|(_, w)| w.owner_email.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            kept.iter()
                .map(|(_, w)| w.sealed.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind(kept.iter().map(|(c, _)| c.now).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.bot_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(commits.iter().map(|c| c.reason.name()).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.sealed.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind(commits.iter().map(|c| c.state.as_str()).collect::<Vec<_>>())
        .bind(commits.iter().map(|c| c.now).collect::<Vec<_>>())
        .bind(
            commits
                .iter()
                .map(|c| c.lease_owner.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(commits.iter().map(|c| c.lease_until).collect::<Vec<_>>())
        .bind(ended.iter().map(|e| e.0).collect::<Vec<_>>())
        .bind(ended.iter().map(|e| e.1).collect::<Vec<_>>())
        .bind(&acks.0)
        .bind(&acks.1)
        .bind(&acks.2)
        .bind(sweep_at)
        .bind(&puts.0)
        .bind(&puts.1)
        .bind(&puts.2)
        .bind(&puts.3)
        .bind(&takes.0)
        .bind(&takes.1)
        .fetch_all(&mut *db)
        .await
        .map_err(|e| StoreError::Db(e.to_string()))?;
    Ok(answer(ops, answers))
}

/// Each op's answer from the statement's rows.
fn answer(ops: &[&Op], answers: Vec<Answer>) -> Vec<Done> {
    let mut began = HashSet::new();
    let mut acked = HashSet::new();
    let mut taken = Vec::new();
    for (clause, key, owner, page, expires_at) in answers {
        match clause.as_str() {
            "b" => {
                began.insert(key);
            }
            "a" => {
                acked.insert(key);
            }
            _ => taken.push((key, owner, page, expires_at)),
        }
    }
    ops.iter()
        .map(|op| match op {
            // The same key twice in one batch: only the first changed it.
            Op::BeginExchange { id, .. } => Done::Changed(u64::from(began.remove(id))),
            Op::Acknowledge { id, .. } => Done::Changed(u64::from(acked.remove(id))),
            Op::TakePage {
                id_hash,
                owner,
                now,
            } => Done::Page(
                taken
                    .iter()
                    .position(|t| t.0 == *id_hash && t.1.as_deref() == Some(owner))
                    .map(|at| taken.swap_remove(at))
                    .filter(|t| t.3.is_some_and(|expires_at| expires_at > *now))
                    .and_then(|t| t.2),
            ),
            Op::PutPage { .. } => Done::Changed(1),
            _ => Done::Committed(Committed::Written),
        })
        .collect()
}
