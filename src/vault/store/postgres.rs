//! The PostgreSQL backend, shared by every instance on one database. One
//! writer task takes whatever is queued and runs it as one transaction and
//! one commit, so the number of commits does not grow with the number of
//! flows; the callback's ops of a batch run as one statement per kind
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

/// Several ops in one transaction, the callbacks' as one statement per kind.
async fn together(
    conn: &mut PgConnection,
    jobs: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let durable = jobs.iter().any(|j| j.op.durable());
    let mut tx = conn.begin_with(begin(durable)).await.map_err(db_error)?;
    let ops: Vec<&Op> = jobs.iter().map(|j| &j.op).collect();
    let grouped = super::grouped::run(&mut tx, &ops).await?;
    let mut results = Vec::with_capacity(jobs.len());
    for (op, done) in ops.into_iter().zip(grouped) {
        let done = match done {
            Some(done) => done,
            None => apply(&mut *tx, op).await?,
        };
        results.push(Ok(done));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(results)
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
/// Its statements are planned for the rows they meet
/// (`plan_cache_mode` = `force_custom_plan`): a generic plan, cached by the
/// writer's connection while the tables were small, joins the batch's
/// arrays to a whole table by scanning it, and kept doing so as the table
/// grew (2.4 ms a batch at 20,000 exchanges, against 0.3 ms by the key).
///
/// A batch with no write that must be durable commits without waiting for
/// PostgreSQL's flush (`synchronous_commit` off for that transaction
/// alone): its rows are visible to every instance at once and reach the
/// disk with the next durable commit or PostgreSQL's WAL writer, as the
/// SQLite writer's unflushed batches ride in its WAL. A crash of the
/// gateway loses none of them; only a crash of the database server can.
fn begin(durable: bool) -> &'static str {
    if durable {
        "BEGIN; SET LOCAL plan_cache_mode TO force_custom_plan"
    } else {
        "BEGIN; SET LOCAL plan_cache_mode TO force_custom_plan; SET LOCAL synchronous_commit TO OFF"
    }
}

/// Runs a read on a pooled connection.
pub(crate) async fn read(pool: &PgPool, op: &Op) -> Result<Done, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    apply(&mut *conn, op).await
}
