//! Where the gateway's log lines go: standard error, in batches. A busy
//! gateway logs a few lines per flow, and a system call per line cost a few
//! percent of the callback path's CPU; here lines gather in a buffer that a
//! background thread writes out, in one call, at most [`GATHER`] after the
//! first of them. A warning or an error is written at once, together with
//! every line before it, so what an operator must see is never held back,
//! and lines keep their order. [`LogSink::finish`] writes what is left
//! before the process exits; a process killed outright loses at most the
//! info lines of its last [`GATHER`].
//!
//! It only moves bytes: tracing-subscriber formats each line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use crate::lock::lock;

/// How long a line may wait for company before it is written.
pub const GATHER: Duration = Duration::from_millis(10);

/// Past this many bytes waiting, the line that crosses it writes them all.
const MAX_WAITING: usize = 64 * 1024;

/// A writer for `tracing_subscriber::fmt` (cheap to clone).
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

struct Shared {
    /// Lines not yet written.
    waiting: Mutex<Vec<u8>>,
    /// Tells the background thread that lines are waiting.
    arrived: Condvar,
    /// Held while a batch is taken and written, so batches keep their order.
    output: Mutex<Vec<u8>>,
    /// Once set, every line is written at once (the process is ending).
    finished: AtomicBool,
}

impl LogSink {
    /// A sink with its background writer thread; if that thread cannot
    /// start, every line is written at once.
    pub fn start() -> Self {
        let shared = Arc::new(Shared::new());
        let background = shared.clone();
        let started = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || background.run());
        if started.is_err() {
            shared.finished.store(true, Ordering::Relaxed);
        }
        Self { shared }
    }

    /// Writes every waiting line now, and from now on each line as it comes.
    pub fn finish(&self) {
        self.shared.finished.store(true, Ordering::Relaxed);
        self.shared.write_waiting();
    }
}

impl Shared {
    fn new() -> Self {
        Self {
            waiting: Mutex::new(Vec::with_capacity(MAX_WAITING)),
            arrived: Condvar::new(),
            output: Mutex::new(Vec::with_capacity(MAX_WAITING)),
            finished: AtomicBool::new(false),
        }
    }

    /// The background thread: waits for a line, lets others gather for
    /// [`GATHER`], writes them all.
    fn run(&self) {
        loop {
            {
                let mut waiting = lock(&self.waiting);
                while waiting.is_empty() {
                    waiting = self
                        .arrived
                        .wait(waiting)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            std::thread::sleep(GATHER);
            self.write_waiting();
        }
    }

    fn add(&self, line: &[u8], urgent: bool) {
        let (first, full) = {
            let mut waiting = lock(&self.waiting);
            let first = waiting.is_empty();
            waiting.extend_from_slice(line);
            (first, waiting.len() >= MAX_WAITING)
        };
        if urgent || full || self.finished.load(Ordering::Relaxed) {
            self.write_waiting();
        } else if first {
            self.arrived.notify_one();
        }
    }

    /// Takes what is waiting and writes it in one call. Standard error has
    /// nowhere to report its own failure, so a failed write is dropped.
    fn write_waiting(&self) {
        let mut batch = lock(&self.output);
        std::mem::swap(&mut *batch, &mut *lock(&self.waiting));
        if !batch.is_empty() {
            let _ = std::io::stderr().lock().write_all(&batch);
            batch.clear();
        }
    }
}

/// One event's writer: the line goes to the sink when written.
pub struct LineWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.add(buf, self.urgent);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(sink: &LogSink) -> Vec<u8> {
        lock(&sink.shared.waiting).clone()
    }

    #[test]
    fn info_lines_wait_for_company_and_a_warning_takes_them_along() {
        // No background thread: only the lines' own writes empty the buffer.
        let sink = LogSink {
            shared: Arc::new(Shared::new()),
        };
        sink.shared.add(b"one\n", false);
        sink.shared.add(b"two\n", false);
        assert_eq!(waiting(&sink), b"one\ntwo\n", "info lines gather");
        sink.shared.add(b"careful\n", true);
        assert!(waiting(&sink).is_empty(), "a warning writes all before it");
        sink.shared.add(&vec![b'x'; MAX_WAITING], false);
        assert!(waiting(&sink).is_empty(), "a full buffer is written");
        sink.finish();
        sink.shared.add(b"late\n", false);
        assert!(waiting(&sink).is_empty(), "after finish, lines go at once");
    }
}
