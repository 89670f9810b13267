//! What a plugin instance can reach: its store's data, the WASI context (no
//! files, sockets, environment or arguments), its own settings through
//! `wasi:config`, and the gateway's log through `wasi:logging`.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};

use super::bindings::logging_import::{self, Level};

/// The most log lines one plugin call may write; the rest are counted and dropped.
const MAX_LOG_LINES: u32 = 200;
/// The longest log message kept; longer ones are cut.
const MAX_LOG_CHARS: usize = 4096;

/// The data of one plugin instance's store: created per call, dropped after it.
pub(crate) struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    settings: Arc<WasiConfigVariables>,
    /// The memory and instance caps, enforced by wasmtime.
    pub(crate) limits: StoreLimits,
    /// The plugin's name, for log lines.
    pub(crate) plugin: Arc<str>,
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
        plugin: Arc<str>,
        request_id: Arc<str>,
        settings: Arc<WasiConfigVariables>,
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
            table: ResourceTable::new(),
            settings,
            limits,
            plugin,
            request_id,
            deadline,
            log_lines: 0,
            _slot: slot,
        }
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

impl logging_import::Host for PluginState {
    fn log(&mut self, level: Level, context: String, message: String) {
        self.log_lines = self.log_lines.saturating_add(1);
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        let message = clean(&message);
        let context = clean(&context);
        let (plugin, request_id) = (&*self.plugin, &*self.request_id);
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

/// A linker with every import a plugin may use.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut PluginState| {
        WasiConfig::from(&*s.settings)
    })?;
    logging_import::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_cannot_forge_lines() {
        assert_eq!(clean("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(clean("héllo"), "héllo");
        assert!(clean(&"x".repeat(MAX_LOG_CHARS + 10)).ends_with('…'));
    }
}
