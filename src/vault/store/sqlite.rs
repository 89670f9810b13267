//! The embedded SQLite backend. One writer thread owns the only writing
//! connection: it takes whatever is queued and runs it as one transaction
//! (if an op fails, each runs again on its own, so one failing op fails
//! alone), then answers each caller. The writer never waits for the disk: a
//! batch with writes that must be durable hands their answers to the
//! flusher thread, which syncs the write-ahead log and then answers them.
//! One sync covers every commit before it, so while one runs the next
//! batches gather for the next, and writes that need no flush (exchange
//! records, leases, acknowledgements) are not held up behind one. A reader thread reads on
//! its own connection; WAL lets it read while the writer writes.
//! Statements are prepared once per connection and cached.
//!
//! Checkpoints (copying the log's pages back into the database file) run
//! on a checkpointer thread of their own, at most every
//! [`CHECKPOINT_INTERVAL`], so the writer does not stop for them; and over
//! a window that long, a page written many times is copied once. The
//! writer still checkpoints once the log holds [`WRITER_CHECKPOINT_FRAMES`]
//! (by then little is left to copy): only a checkpoint the writer makes
//! between its own transactions can let the log start over, so under
//! constant writes the log stays bounded.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio::sync::{mpsc, oneshot};

use super::ops::{Done, Op, apply};
use super::sql::{Cell, Param, Row, Sql};
use super::{Job, MAX_BATCH, StoreError};

/// The most statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 64;

/// How often, at most, the checkpointer copies the log into the database
/// file while there are writes.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// The log's length (in pages) at which the writer checkpoints itself.
/// SQLite's default is 1,000; the checkpointer keeps the log well below
/// this, so it is a bound, not the usual path.
const WRITER_CHECKPOINT_FRAMES: i64 = 10_000;

/// A connection with the store's statements translated to SQLite's dialect.
struct Db {
    conn: rusqlite::Connection,
    /// `$n` → `?n`, once per statement text.
    dialect: HashMap<usize, String>,
}

impl Db {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(db_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            conn,
            dialect: HashMap::new(),
        })
    }

    fn statement(
        &mut self,
        sql: &'static str,
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let text = self
            .dialect
            .entry(sql.as_ptr() as usize)
            .or_insert_with(|| sql.replace('$', "?"));
        self.conn.prepare_cached(text).map_err(db_error)
    }

    fn run(&self, sql: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(db_error)
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Int(Some(v)) => ValueRef::Integer(v),
            Param::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Param::Blob(Some(v)) => ValueRef::Blob(v),
            Param::Int(None) | Param::Text(None) | Param::Blob(None) => ValueRef::Null,
        }))
    }
}

impl Sql for Db {
    async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, StoreError> {
        let mut statement = self.statement(sql)?;
        let n = statement
            .execute(rusqlite::params_from_iter(params))
            .map_err(db_error)?;
        Ok(n as u64)
    }

    async fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.statement(sql)?;
        let width = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db_error)? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(match r.get_ref(i).map_err(db_error)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                    ValueRef::Real(_) => {
                        return Err(StoreError::Shape(format!("column {i} is a float")));
                    }
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Starts the writer, its flusher and the reader on the database file at
/// `path` (which exists and is migrated); returns the writer's and the
/// reader's queues.
pub(crate) fn start(
    path: &Path,
) -> Result<(mpsc::UnboundedSender<Job>, mpsc::UnboundedSender<Job>), StoreError> {
    let runtime = tokio::runtime::Handle::current();
    let (writer, writes) = mpsc::unbounded_channel();
    let (reader, reads) = mpsc::unbounded_channel();
    let db = Db::open(path)?;
    // The writer's commits only write the log; the flusher syncs it.
    db.conn
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(db_error)?;
    db.conn
        .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_FRAMES)
        .map_err(db_error)?;
    let wal = open_wal(path)?;
    let (flushes, flush_queue) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("vault-flusher".into())
        .spawn(move || flush_loop(&wal, &flush_queue))
        .map_err(|e| StoreError::Db(format!("cannot start the store's flusher: {e}")))?;
    let checkpointer = Db::open(path)?;
    let (written, writes_seen) = std_mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("vault-checkpointer".into())
        .spawn(move || checkpoint_loop(&checkpointer, &writes_seen))
        .map_err(|e| StoreError::Db(format!("cannot start the store's checkpointer: {e}")))?;
    let rt = runtime.clone();
    std::thread::Builder::new()
        .name("vault-writer".into())
        .spawn(move || rt.block_on(write_loop(db, writes, flushes, written)))
        .map_err(|e| StoreError::Db(format!("cannot start the store's writer: {e}")))?;
    let db = Db::open(path)?;
    std::thread::Builder::new()
        .name("vault-reader".into())
        .spawn(move || runtime.block_on(read_loop(db, reads)))
        .map_err(|e| StoreError::Db(format!("cannot start the store's reader: {e}")))?;
    Ok((writer, reader))
}

/// The database's write-ahead log (`<file>-wal`), opened to sync it. The
/// writer's connection stays open as long as the process, so SQLite keeps
/// this file (it resets and reuses it, never replaces it). Created here if
/// SQLite has not yet, readable by the owner only, as the database is.
fn open_wal(path: &Path) -> Result<File, StoreError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(&wal).map_err(|e| {
        StoreError::Db(format!(
            "cannot open the store's write-ahead log {}: {e}",
            Path::new(&wal).display()
        ))
    })
}

/// Answers that wait for the log that holds their writes to reach the disk.
type Unflushed = Vec<(oneshot::Sender<Result<Done, StoreError>>, Done)>;

/// Group commit: every queued write in one transaction; durable answers
/// go to the flusher, the rest are sent at once.
async fn write_loop(
    mut db: Db,
    mut queue: mpsc::UnboundedReceiver<Job>,
    flusher: std_mpsc::Sender<Unflushed>,
    written: std_mpsc::SyncSender<()>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let results = batch(&mut db, &jobs).await;
        // Full means the checkpointer has yet to see an earlier batch.
        let _ = written.try_send(());
        let mut unflushed = Vec::new();
        for (job, result) in jobs.drain(..).zip(results) {
            match result {
                Ok(done) if job.op.durable() => unflushed.push((job.reply, done)),
                result => {
                    let _ = job.reply.send(result);
                }
            }
        }
        if !unflushed.is_empty()
            && let Err(std_mpsc::SendError(lost)) = flusher.send(unflushed)
        {
            for (reply, _) in lost {
                let _ = reply.send(Err(StoreError::Db("the store's flusher stopped".into())));
            }
        }
    }
}

/// Syncs the log for whatever answers are waiting (all that queued up
/// during the last sync at once), then sends them.
fn flush_loop(wal: &File, queue: &std_mpsc::Receiver<Unflushed>) {
    while let Ok(mut waiting) = queue.recv() {
        waiting.extend(queue.try_iter().flatten());
        let synced = sync(wal);
        for (reply, done) in waiting {
            let _ = reply.send(synced.clone().map(|()| done));
        }
    }
}

/// Copies the log into the database file after writes, at most once per
/// [`CHECKPOINT_INTERVAL`] (passive: it never waits for the writer or
/// readers), until the writer stops.
fn checkpoint_loop(db: &Db, writes: &std_mpsc::Receiver<()>) {
    while writes.recv().is_ok() {
        let passive = db
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = passive {
            // The writer's own checkpoint still bounds the log.
            tracing::warn!("the store could not copy its log into the database file: {e}");
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}

fn sync(wal: &File) -> Result<(), StoreError> {
    fail::fail_point!("store_flush", |_| Err(StoreError::Db(
        "failpoint store_flush".into()
    )));
    wal.sync_data().map_err(|e| {
        StoreError::Db(format!(
            "the store wrote the change but could not flush it to disk: {e}"
        ))
    })
}

/// Runs a batch as one transaction. If any op fails, it is rolled back and
/// each op runs again in a transaction of its own, so one failing op fails
/// alone (savepoints per op would copy every page an op touches). If the
/// transaction cannot begin (the file is locked past the busy timeout),
/// every op gets that error at once.
async fn batch(db: &mut Db, jobs: &[Job]) -> Vec<Result<Done, StoreError>> {
    if jobs.len() > 1 {
        match together(db, jobs).await {
            Ok(Some(done)) => return done.into_iter().map(Ok).collect(),
            Ok(None) => {}
            Err(e) => return jobs.iter().map(|_| Err(e.clone())).collect(),
        }
    }
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(alone(db, &job.op).await);
    }
    results
}

/// Every op of `jobs` in one transaction; `None`, with nothing written, if
/// an op or the commit failed.
async fn together(db: &mut Db, jobs: &[Job]) -> Result<Option<Vec<Done>>, StoreError> {
    db.run("BEGIN IMMEDIATE")?;
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs {
        match apply(db, &job.op).await {
            Ok(d) => done.push(d),
            Err(_) => break,
        }
    }
    if done.len() == jobs.len() && db.run("COMMIT").is_ok() {
        return Ok(Some(done));
    }
    let _ = db.run("ROLLBACK");
    Ok(None)
}

/// One op in a transaction of its own.
async fn alone(db: &mut Db, op: &Op) -> Result<Done, StoreError> {
    db.run("BEGIN IMMEDIATE")?;
    let result = match apply(db, op).await {
        Ok(done) => db.run("COMMIT").map(|()| done),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = db.run("ROLLBACK");
    }
    result
}

async fn read_loop(mut db: Db, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = queue.recv().await {
        let result = apply(&mut db, &job.op).await;
        let _ = job.reply.send(result);
    }
}
