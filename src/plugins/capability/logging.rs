//! `wasi:logging/logging` for plugins: a plugin's lines go to the gateway's
//! log with the plugin's name and the request it serves, filtered by its
//! level (`[plugins] log_level`, `log_levels`), capped per call, cleaned
//! so that guest text cannot forge log lines, with the secrets the call was
//! handed taken out, and kept among the plugin's recent lines for the admin
//! console.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::config::PluginLogLevel;
use crate::plugins::bindings::logging_import::{self, Level};
use crate::plugins::recent_lines::{LogLine, RecentLines};
use crate::secret::{Secret, scrub};

/// The most log lines one plugin call may write; the rest are counted and dropped.
const MAX_LOG_LINES: u32 = 200;
/// The longest log message kept; longer ones are cut.
const MAX_LOG_CHARS: usize = 4096;

/// The log of one plugin call.
pub(crate) struct PluginLog {
    plugin: Arc<str>,
    request_id: Arc<str>,
    level: PluginLogLevel,
    lines: u32,
    recent: Arc<RecentLines>,
    hidden: Vec<Secret>,
}

impl PluginLog {
    /// The log of a call of `plugin` serving `request_id`, keeping lines at
    /// `level` or above.
    pub(crate) fn new(
        plugin: Arc<str>,
        request_id: Arc<str>,
        level: PluginLogLevel,
        recent: Arc<RecentLines>,
    ) -> Self {
        Self {
            plugin,
            request_id,
            level,
            lines: 0,
            recent,
            hidden: Vec::new(),
        }
    }

    /// Takes `secrets` out of every line this call logs from now on.
    pub(crate) fn hide(&mut self, secrets: &[&str]) {
        self.hidden.extend(secrets.iter().map(|s| Secret::new(*s)));
    }

    /// Log lines dropped because the call wrote more than its share.
    pub(crate) fn dropped_lines(&self) -> u32 {
        self.lines.saturating_sub(MAX_LOG_LINES)
    }
}

/// Links `wasi:logging/logging` to the log that `view` finds in an
/// instance's state.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> &mut PluginLog,
) -> wasmtime::Result<()> {
    logging_import::add_to_linker::<T, HasSelf<PluginLog>>(linker, view)
}

fn level_of(level: Level) -> PluginLogLevel {
    match level {
        Level::Trace => PluginLogLevel::Trace,
        Level::Debug => PluginLogLevel::Debug,
        Level::Info => PluginLogLevel::Info,
        Level::Warn => PluginLogLevel::Warn,
        Level::Error | Level::Critical => PluginLogLevel::Error,
    }
}

impl logging_import::Host for PluginLog {
    async fn log(
        &mut self,
        level: Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        if level_of(level) < self.level {
            return Ok(());
        }
        self.lines = self.lines.saturating_add(1);
        if self.lines > MAX_LOG_LINES {
            return Ok(());
        }
        let hidden: Vec<&str> = self.hidden.iter().map(|s| s.expose()).collect();
        let message = scrub(&clean(&message), &hidden);
        let context = scrub(&clean(&context), &hidden);
        let (plugin, request_id) = (&*self.plugin, &*self.request_id);
        self.recent.push(LogLine {
            at_ms: crate::clock::unix_ms(),
            level: level_of(level).name(),
            request_id: request_id.to_string(),
            source: "plugin",
            message: if context.is_empty() {
                message.clone()
            } else {
                format!("{context}: {message}")
            },
        });
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", plugin, request_id, context, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", plugin, request_id, context, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", plugin, request_id, context, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", plugin, request_id, context, "{message}")
            }
            Level::Error | Level::Critical => {
                tracing::error!(target: "plugin", plugin, request_id, context, "{message}")
            }
        }
        Ok(())
    }
}

/// Makes guest text safe for a log line: control characters escaped (no forged
/// lines), length capped.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LOG_CHARS));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_LOG_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test's subscriber logs into.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn plugin_lines_carry_name_and_request_and_obey_the_plugins_level() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut state = PluginLog::new(
            Arc::from("quiet-plugin"),
            Arc::from("req-123"),
            PluginLogLevel::Warn,
            Arc::default(),
        );
        for (level, text) in [
            (Level::Info, "chatty detail"),
            (Level::Warn, "worth a look"),
        ] {
            logging_import::Host::log(&mut state, level, "ctx".into(), text.into())
                .await
                .expect("log");
        }
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        assert!(
            !text.contains("chatty detail"),
            "below the plugin's level: {text}"
        );
        let line = text
            .lines()
            .find(|l| l.contains("worth a look"))
            .expect("the warning is kept");
        assert!(
            line.contains("plugin=\"quiet-plugin\"") || line.contains("plugin=quiet-plugin"),
            "{line}"
        );
        assert!(line.contains("req-123"), "{line}");
    }

    #[tokio::test]
    async fn a_secret_the_call_was_handed_is_taken_out_of_its_lines() {
        let recent = Arc::new(RecentLines::default());
        let mut state = PluginLog::new(
            Arc::from("careless"),
            Arc::from("req-9"),
            PluginLogLevel::Info,
            recent.clone(),
        );
        state.hide(&["secret_token_abcdef"]);
        logging_import::Host::log(
            &mut state,
            Level::Warn,
            "store".into(),
            "got secret_token_abcdef".into(),
        )
        .await
        .expect("log");
        let lines = recent.newest_first();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].message, "store: got [redacted]");
        assert_eq!((lines[0].level, lines[0].source), ("warn", "plugin"));
        assert_eq!(lines[0].request_id, "req-9");
    }

    #[test]
    fn log_text_cannot_forge_lines() {
        assert_eq!(clean("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(clean("héllo"), "héllo");
        assert!(clean(&"x".repeat(MAX_LOG_CHARS + 10)).ends_with('…'));
    }
}
