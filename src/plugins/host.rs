//! What a plugin instance can reach: its store's data, the WASI context (no
//! files, sockets, environment or arguments), its own settings through
//! `wasi:config`, the gateway's log through `wasi:logging`, and, only when the
//! config grants them, outgoing HTTP ([`super::outgoing`]) and key-value
//! storage ([`super::keyvalue`]).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::logging_import::{self, Level};
use super::bindings::{keyvalue_atomics, keyvalue_store};
use super::outgoing::OutgoingHttp;
use crate::config::{PluginGrants, PluginLogLevel};
use crate::store::Database;

/// The most log lines one plugin call may write; the rest are counted and dropped.
const MAX_LOG_LINES: u32 = 200;
/// The longest log message kept; longer ones are cut.
const MAX_LOG_CHARS: usize = 4096;

/// What every instance of one plugin shares: its identity, settings, grants
/// and log level, and the services its grants open.
pub(crate) struct PluginContext {
    /// The plugin's name, for log lines and its storage namespace.
    pub(crate) name: Arc<str>,
    /// Its `[plugins.settings.<name>]`.
    pub(crate) settings: WasiConfigVariables,
    /// What it may use beyond settings and logging.
    pub(crate) grants: PluginGrants,
    /// The least severe log line kept.
    pub(crate) log_level: PluginLogLevel,
    /// The database, when the plugin may use key-value storage.
    pub(crate) database: Option<Database>,
}

/// The data of one plugin instance's store: created per call, dropped after it.
pub(crate) struct PluginState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outgoing: OutgoingHttp,
    pub(crate) table: ResourceTable,
    /// The plugin this instance belongs to.
    pub(crate) context: Arc<PluginContext>,
    /// The memory and instance caps, enforced by wasmtime.
    pub(crate) limits: StoreLimits,
    /// The request this call serves, for log lines.
    pub(crate) request_id: Arc<str>,
    /// When the call must be over.
    pub(crate) deadline: Instant,
    log_lines: u32,
    _slot: Option<OwnedSemaphorePermit>,
}

impl PluginState {
    /// A fresh state for one call.
    pub(crate) fn new(
        context: Arc<PluginContext>,
        request_id: Arc<str>,
        limits: StoreLimits,
        deadline: Instant,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outgoing: OutgoingHttp::new(
                context.grants.http.clone(),
                context.name.clone(),
                request_id.clone(),
            ),
            table: ResourceTable::new(),
            context,
            limits,
            request_id,
            deadline,
            log_lines: 0,
            _slot: slot,
        }
    }

    /// The plugin's name.
    pub(crate) fn plugin(&self) -> &str {
        &self.context.name
    }

    /// Log lines dropped because the call wrote more than its share.
    pub(crate) fn dropped_log_lines(&self) -> u32 {
        self.log_lines.saturating_sub(MAX_LOG_LINES)
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
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

impl logging_import::Host for PluginState {
    async fn log(
        &mut self,
        level: Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        if level_of(level) < self.context.log_level {
            return Ok(());
        }
        self.log_lines = self.log_lines.saturating_add(1);
        if self.log_lines > MAX_LOG_LINES {
            return Ok(());
        }
        let message = clean(&message);
        let context = clean(&context);
        let (plugin, request_id) = (&*self.context.name, &*self.request_id);
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

/// A linker with every import a plugin may use. Every capability links for
/// every plugin, so a component that imports one it is not granted still
/// loads; using it then fails with a "denied" error.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut PluginState| {
        WasiConfig::from(&s.context.settings)
    })?;
    logging_import::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
    keyvalue_store::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
    keyvalue_atomics::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
    Ok(linker)
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
        let context = Arc::new(PluginContext {
            name: Arc::from("quiet-plugin"),
            settings: WasiConfigVariables::new(),
            grants: PluginGrants::default(),
            log_level: PluginLogLevel::Warn,
            database: None,
        });
        let mut state = PluginState::new(
            context,
            Arc::from("req-123"),
            StoreLimits::default(),
            Instant::now(),
            None,
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

    #[test]
    fn log_text_cannot_forge_lines() {
        assert_eq!(clean("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(clean("héllo"), "héllo");
        assert!(clean(&"x".repeat(MAX_LOG_CHARS + 10)).ends_with('…'));
    }
}
