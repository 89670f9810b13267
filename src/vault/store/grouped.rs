//! PostgreSQL: the callback's ops of one batch as one statement per kind.
//! Every callback makes three writes (its exchange record, its commit, its
//! acknowledgement); run one by one they cost five round trips per flow on
//! the writer's one connection. Here a batch's exchange records become one
//! `INSERT … unnest`, its new-token commits three statements, its
//! acknowledgements one `UPDATE … unnest`, and its result pages one sweep
//! and one `INSERT` (kept) or one `DELETE … RETURNING` (taken), whatever the
//! batch's size. Other ops (and refreshes, whose compare-and-set is per
//! row) run one by one.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::StoreError;
use super::ops::{
    Done, Op, connection_insert, connection_replace, outbox_delivered, outbox_insert,
};
use super::records::{Commit, Committed, ConnectionWrite};

/// Answers for the ops of `ops` it ran (by index); `None` for the rest.
pub(crate) async fn run(
    db: &mut PgConnection,
    ops: &[&Op],
) -> Result<Vec<Option<Done>>, StoreError> {
    let mut done: Vec<Option<Done>> = ops.iter().map(|_| None).collect();
    begin_exchanges(db, ops, &mut done).await?;
    commits(db, ops, &mut done).await?;
    acknowledgements(db, ops, &mut done).await?;
    put_pages(db, ops, &mut done).await?;
    take_pages(db, ops, &mut done).await?;
    Ok(done)
}

fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

async fn begin_exchanges(
    db: &mut PgConnection,
    ops: &[&Op],
    done: &mut [Option<Done>],
) -> Result<(), StoreError> {
    let mine: Vec<(usize, &str, i64)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::BeginExchange { id, now } => Some((i, id.as_str(), *now)),
            _ => None,
        })
        .collect();
    if mine.len() < 2 {
        return Ok(());
    }
    let ids: Vec<&str> = mine.iter().map(|m| m.1).collect();
    let at: Vec<i64> = mine.iter().map(|m| m.2).collect();
    let inserted: Vec<(String,)> = sqlx::query_as(
        "INSERT INTO vault_exchange (exchange_id, started_at, status) \
         SELECT id, at, 'pending' FROM unnest($1::text[], $2::bigint[]) AS u(id, at) \
         ON CONFLICT (exchange_id) DO NOTHING RETURNING exchange_id",
    )
    .bind(&ids)
    .bind(&at)
    .fetch_all(&mut *db)
    .await
    .map_err(db_error)?;
    let mut fresh: HashSet<String> = inserted.into_iter().map(|(id,)| id).collect();
    // The same state twice in one batch: only the first is the first.
    for (i, id, _) in mine {
        done[i] = Some(Done::Changed(u64::from(fresh.remove(id))));
    }
    Ok(())
}

/// A commit of a new token (no compare-and-set, no refresh record).
fn is_new_token(c: &Commit) -> bool {
    c.refresh_id.is_none()
        && c.connection
            .as_ref()
            .is_none_or(|w| w.expect_version.is_none())
}

async fn commits(
    db: &mut PgConnection,
    ops: &[&Op],
    done: &mut [Option<Done>],
) -> Result<(), StoreError> {
    let mine: Vec<(usize, &Commit)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Commit(c) if is_new_token(c) => Some((i, &**c)),
            _ => None,
        })
        .collect();
    if mine.len() < 2 {
        return Ok(());
    }
    let kept: Vec<(&Commit, &ConnectionWrite)> = mine
        .iter()
        .filter_map(|m| m.1.connection.as_ref().map(|w| (m.1, w)))
        .collect();
    if !kept.is_empty() {
        sqlx::query(
            concat!(
                connection_insert!(),
                "SELECT b, w, n, o, e, t, 1, at, at \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[]) AS u(b, w, n, o, e, t, at)",
                connection_replace!()
            ),
        )
        .bind(kept.iter().map(|(c, _)| c.bot_id.as_str()).collect::<Vec<_>>())
        .bind(kept.iter().map(|(_, w)| w.workspace_id.as_str()).collect::<Vec<_>>())
        .bind(kept.iter().map(|(_, w)| w.workspace_name.as_deref()).collect::<Vec<_>>())
        .bind(kept.iter().map(|(_, w)| w.owner_user_id.as_deref()).collect::<Vec<_>>())
        .bind(kept.iter().map(|(_, w)| w.owner_email.as_deref()).collect::<Vec<_>>())
        .bind(kept.iter().map(|(_, w)| w.sealed.as_slice()).collect::<Vec<_>>())
        .bind(kept.iter().map(|(c, _)| c.now).collect::<Vec<_>>())
        .execute(&mut *db)
        .await
        .map_err(db_error)?;
    }
    let all: Vec<&Commit> = mine.iter().map(|m| m.1).collect();
    sqlx::query(
        concat!(
            outbox_insert!(),
            "SELECT id, b, r, t, s, 0, at, 'pending', at, lo, lu \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::bigint[], $7::text[], $8::bigint[]) \
           AS u(id, b, r, t, s, at, lo, lu) \
         ON CONFLICT (id) DO NOTHING"
        ),
    )
    .bind(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.bot_id.as_str()).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.reason.name()).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.sealed.as_slice()).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.state.as_str()).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.now).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.lease_owner.as_str()).collect::<Vec<_>>())
    .bind(all.iter().map(|c| c.lease_until).collect::<Vec<_>>())
    .execute(&mut *db)
    .await
    .map_err(db_error)?;
    let ended: Vec<(&str, i64)> = all
        .iter()
        .filter_map(|c| c.exchange_id.as_deref().map(|id| (id, c.now)))
        .collect();
    if !ended.is_empty() {
        sqlx::query(
            "UPDATE vault_exchange SET status = 'committed', finished_at = u.at \
             FROM unnest($1::text[], $2::bigint[]) AS u(id, at) WHERE exchange_id = u.id",
        )
        .bind(ended.iter().map(|e| e.0).collect::<Vec<_>>())
        .bind(ended.iter().map(|e| e.1).collect::<Vec<_>>())
        .execute(&mut *db)
        .await
        .map_err(db_error)?;
    }
    for (i, _) in mine {
        done[i] = Some(Done::Committed(Committed::Written));
    }
    Ok(())
}

async fn acknowledgements(
    db: &mut PgConnection,
    ops: &[&Op],
    done: &mut [Option<Done>],
) -> Result<(), StoreError> {
    let mine: Vec<(usize, &str, &str, i64)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Acknowledge { id, owner, now } => Some((i, id.as_str(), owner.as_str(), *now)),
            _ => None,
        })
        .collect();
    if mine.len() < 2 {
        return Ok(());
    }
    let acked: Vec<(String,)> = sqlx::query_as(
        concat!(
            outbox_delivered!(),
            "u.at FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, owner, at) \
         WHERE vault_outbox.id = u.id AND vault_outbox.lease_owner = u.owner AND vault_outbox.status = 'pending' \
         RETURNING vault_outbox.id"
        ),
    )
    .bind(mine.iter().map(|m| m.1).collect::<Vec<_>>())
    .bind(mine.iter().map(|m| m.2).collect::<Vec<_>>())
    .bind(mine.iter().map(|m| m.3).collect::<Vec<_>>())
    .fetch_all(&mut *db)
    .await
    .map_err(db_error)?;
    let mut acked: HashSet<String> = acked.into_iter().map(|(id,)| id).collect();
    for (i, id, _, _) in mine {
        done[i] = Some(Done::Changed(u64::from(acked.remove(id))));
    }
    Ok(())
}

/// A kept page of a batch: its op's index, id hash, owner, sealed page,
/// expiry and clock.
type PageRow<'a> = (usize, &'a str, &'a str, &'a [u8], i64, i64);

async fn put_pages(
    db: &mut PgConnection,
    ops: &[&Op],
    done: &mut [Option<Done>],
) -> Result<(), StoreError> {
    let mine: Vec<PageRow<'_>> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::PutPage {
                id_hash,
                owner,
                page,
                expires_at,
                now,
            } => Some((
                i,
                id_hash.as_str(),
                owner.as_str(),
                page.as_slice(),
                *expires_at,
                *now,
            )),
            _ => None,
        })
        .collect();
    if mine.len() < 2 {
        return Ok(());
    }
    let now = mine.iter().map(|m| m.5).min().unwrap_or(0);
    sqlx::query("DELETE FROM vault_result_page WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *db)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO vault_result_page (id_hash, owner, page, expires_at) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[])",
    )
    .bind(mine.iter().map(|m| m.1).collect::<Vec<_>>())
    .bind(mine.iter().map(|m| m.2).collect::<Vec<_>>())
    .bind(mine.iter().map(|m| m.3).collect::<Vec<_>>())
    .bind(mine.iter().map(|m| m.4).collect::<Vec<_>>())
    .execute(&mut *db)
    .await
    .map_err(db_error)?;
    for m in mine {
        done[m.0] = Some(Done::Changed(1));
    }
    Ok(())
}

async fn take_pages(
    db: &mut PgConnection,
    ops: &[&Op],
    done: &mut [Option<Done>],
) -> Result<(), StoreError> {
    let mine: Vec<(usize, &str, &str, i64)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::TakePage {
                id_hash,
                owner,
                now,
            } => Some((i, id_hash.as_str(), owner.as_str(), *now)),
            _ => None,
        })
        .collect();
    if mine.len() < 2 {
        return Ok(());
    }
    let mut taken: Vec<(String, String, Vec<u8>, i64)> = sqlx::query_as(
        "DELETE FROM vault_result_page p USING unnest($1::text[], $2::text[]) AS u(id, owner) \
         WHERE p.id_hash = u.id AND p.owner = u.owner RETURNING p.id_hash, p.owner, p.page, p.expires_at",
    )
    .bind(mine.iter().map(|m| m.1).collect::<Vec<_>>())
    .bind(mine.iter().map(|m| m.2).collect::<Vec<_>>())
    .fetch_all(&mut *db)
    .await
    .map_err(db_error)?;
    // Two takes of one page in one batch: the deleted row is given once.
    for (i, id_hash, owner, now) in mine {
        let page = taken
            .iter()
            .position(|t| t.0 == id_hash && t.1 == owner)
            .map(|at| taken.swap_remove(at))
            .filter(|t| t.3 > now)
            .map(|t| t.2);
        done[i] = Some(Done::Page(page));
    }
    Ok(())
}
