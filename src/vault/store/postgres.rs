//! The PostgreSQL backend, shared by every instance on one database. One
//! writer task takes whatever is queued and runs it as one transaction and
//! one commit, so the number of commits does not grow with the number of
//! flows; the callbacks' ops of a batch run as one statement
//! ([`super::grouped`]). A batch with nothing that must be durable commits
//! without waiting for the server's flush. If any op of a batch fails, the
//! batch is rolled back and each op runs again in a transaction of its
//! own, so one failing op fails alone. The writer keeps one connection
//! while it works; reads run on the rest of the pool.

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, Connection as _, PgConnection, PgPool, Postgres, Row as _, TypeInfo as _};
use tokio::sync::mpsc;

use super::ops::{Done, Op, apply};
use super::sql::{Cell, Param, Row, Sql};
use super::{Job, MAX_BATCH, StoreError};
use crate::config::PostgresConfig;

impl Sql for PgConnection {
    async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        let result = bind(sqlx::query(sql), params)
            .execute(&mut *self)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }

    async fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let rows = bind(sqlx::query(sql), params)
            .fetch_all(&mut *self)
            .await
            .map_err(db_error)?;
        rows.iter().map(row_of).collect()
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind<'q>(mut q: Query<'q>, params: &[Param<'q>]) -> Query<'q> {
    for p in params {
        q = match *p {
            Param::Int(v) => q.bind(v),
            Param::Text(v) => q.bind(v),
            Param::Blob(v) => q.bind(v),
        };
    }
    q
}

fn row_of(r: &PgRow) -> Result<Row, StoreError> {
    let mut cells = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let cell = match column.type_info().name() {
            "INT8" => r.try_get::<Option<i64>, _>(i).map(|v| v.map(Cell::Int)),
            "INT4" => r
                .try_get::<Option<i32>, _>(i)
                .map(|v| v.map(|v| Cell::Int(v.into()))),
            "BYTEA" => r
                .try_get::<Option<Vec<u8>>, _>(i)
                .map(|v| v.map(Cell::Blob)),
            _ => r.try_get::<Option<String>, _>(i).map(|v| v.map(Cell::Text)),
        }
        .map_err(db_error)?;
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(cells))
}

fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Connects, creates the schema if needed, migrates it, and starts the
/// writer; returns its queue and the pool for reads.
pub(crate) async fn start(
    pg: &PostgresConfig,
) -> Result<(mpsc::UnboundedSender<Job>, PgPool), StoreError> {
    let pool = crate::database::postgres::connect(pg, pg.pool_size)
        .await
        .map_err(|e| StoreError::Db(e.to_string()))?;
    let (writer, writes) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(pool.clone(), writes));
    Ok((writer, pool))
}

/// Group commit: every queued write in one transaction and one commit.
async fn write_loop(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // The writer keeps its connection between batches while they succeed:
    // the pool pings a connection at every acquire, a round trip per batch.
    let mut kept = None;
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let results = match batch(&pool, &mut kept, &jobs).await {
            Ok(results) => results,
            // Something failed: each op again on its own, so it fails alone.
            Err(_) => {
                let mut results = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    results.push(single(&pool, job).await);
                }
                results
            }
        };
        for (job, result) in jobs.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Runs a batch on the kept connection (or a fresh one); keeps it only if
/// everything succeeded, so a broken connection goes back to the pool,
/// which checks it.
async fn batch(
    pool: &PgPool,
    kept: &mut Option<PoolConnection<Postgres>>,
    jobs: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let mut conn = match kept.take() {
        Some(conn) => conn,
        None => pool.acquire().await.map_err(db_error)?,
    };
    let results = match jobs {
        [job] => vec![one(&mut conn, &job.op).await],
        _ => together(&mut conn, jobs).await?,
    };
    if results.iter().all(Result::is_ok) {
        *kept = Some(conn);
    }
    Ok(results)
}

/// An op of a batch and its place in it.
type Indexed<'a> = (usize, &'a Op);

/// Several ops as one commit. The callbacks' ops are one statement
/// ([`super::grouped`]); a batch of nothing else that must be durable is
/// that statement alone, its own transaction, one round trip. Otherwise
/// the batch is a transaction: the statement, then the other ops one by one.
async fn together(
    conn: &mut PgConnection,
    jobs: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let durable = jobs.iter().any(|j| j.op.durable());
    let (covered, rest): (Vec<Indexed<'_>>, Vec<Indexed<'_>>) = jobs
        .iter()
        .map(|j| &j.op)
        .enumerate()
        .partition(|(_, op)| super::grouped::covers(op));
    let covered_ops: Vec<&Op> = covered.iter().map(|(_, op)| *op).collect();
    if durable && rest.is_empty() {
        let done = super::grouped::run(conn, &covered_ops).await?;
        return Ok(done.into_iter().map(Ok).collect());
    }
    let mut tx = conn.begin_with(begin(durable)).await.map_err(db_error)?;
    let mut results: Vec<Option<Done>> = jobs.iter().map(|_| None).collect();
    if !covered_ops.is_empty() {
        let done = super::grouped::run(&mut tx, &covered_ops).await?;
        for ((i, _), done) in covered.iter().zip(done) {
            results[*i] = Some(done);
        }
    }
    for (i, op) in rest {
        results[i] = Some(apply(&mut *tx, op).await?);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(results
        .into_iter()
        .map(|done| {
            done.ok_or_else(|| StoreError::Shape("an op of a batch went unanswered".into()))
        })
        .collect())
}

/// One op on a connection of its own from the pool.
async fn single(pool: &PgPool, job: &Job) -> Result<Done, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    one(&mut conn, &job.op).await
}

/// One op in a transaction of its own.
async fn one(conn: &mut PgConnection, op: &Op) -> Result<Done, StoreError> {
    let durable = op.durable();
    if durable && !matches!(op, Op::Commit(_)) {
        // One statement: its own transaction already.
        return apply(&mut *conn, op).await;
    }
    let mut tx = conn.begin_with(begin(durable)).await.map_err(db_error)?;
    let done = apply(&mut *tx, op).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(done)
}

/// The statement that opens a batch's transaction.
///
/// A batch with no write that must be durable commits without waiting for
/// PostgreSQL's flush (`synchronous_commit` off for that transaction
/// alone): its rows are visible to every instance at once and reach the
/// disk with the next durable commit or PostgreSQL's WAL writer, as the
/// SQLite writer's unflushed batches ride in its WAL. A crash of the
/// gateway loses none of them; only a crash of the database server can.
fn begin(durable: bool) -> &'static str {
    if durable {
        "BEGIN"
    } else {
        "BEGIN; SET LOCAL synchronous_commit TO OFF"
    }
}

/// Runs a read on a pooled connection.
pub(crate) async fn read(pool: &PgPool, op: &Op) -> Result<Done, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    apply(&mut *conn, op).await
}
