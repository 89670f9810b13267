//! What a plugin instance can reach: the WASI context (no files, sockets,
//! environment or arguments) and the capabilities of [`super::capability`]:
//! its own settings, the gateway's log, and, only when the config grants
//! them, outgoing HTTP and key-value storage. This file holds an instance's
//! state and lists what is linked; each capability lives in its own file.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Engine;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use super::capability::http::PluginHttp;
use super::capability::keyvalue::{KeyValueAccess, KeyValueView};
use super::capability::logging::PluginLog;
use super::capability::{config, http, keyvalue, logging};
use super::limiter::CallLimiter;
use super::recent_lines::RecentLines;
use crate::config::{PluginGrants, PluginLogLevel};

/// The most host resources (streams, fields, requests, pollables, ...) one
/// call may hold at once: far more than a plugin needs, and a bound on
/// what a misbehaving one makes the host keep.
pub(crate) const MAX_HOST_RESOURCES: usize = 4096;

/// A call's resource table, bounded.
fn bounded_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HOST_RESOURCES);
    table
}

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
    /// What it may store.
    pub(crate) keyvalue: KeyValueAccess,
    /// Its last log lines, for the admin console.
    pub(crate) recent: Arc<RecentLines>,
}

/// The data of one plugin instance's store: created per call, dropped after it.
pub(crate) struct InstanceData {
    wasi: WasiCtx,
    http: PluginHttp,
    log: PluginLog,
    table: ResourceTable,
    /// The plugin this instance belongs to.
    context: Arc<PluginContext>,
    /// The call's memory, table and instance caps, enforced by wasmtime.
    pub(crate) limits: CallLimiter,
    /// When the call must be over.
    pub(crate) deadline: Instant,
    _slot: Option<OwnedSemaphorePermit>,
}

impl InstanceData {
    /// A fresh state for one call.
    pub(crate) fn new(
        context: Arc<PluginContext>,
        request_id: Arc<str>,
        limits: CallLimiter,
        deadline: Instant,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            http: PluginHttp::new(
                context.grants.http.clone(),
                context.name.clone(),
                request_id.clone(),
            ),
            log: PluginLog::new(
                context.name.clone(),
                request_id,
                context.log_level,
                context.recent.clone(),
            ),
            table: bounded_table(),
            context,
            limits,
            deadline,
            _slot: slot,
        }
    }

    /// Log lines dropped because the call wrote more than its share.
    pub(crate) fn dropped_log_lines(&self) -> u32 {
        self.log.dropped_lines()
    }

    /// Takes the secrets this call was handed out of every line it logs.
    pub(crate) fn hide_in_log(&mut self, secrets: &[&str]) {
        self.log.hide(secrets);
    }
}

impl WasiView for InstanceData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.http.view(&mut self.table)
    }
}

/// A linker with every import a plugin may use. Every capability links for
/// every plugin, so a component that imports one it is not granted still
/// loads; using it then fails with a "denied" error.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<InstanceData>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    http::add_to_linker(&mut linker)?;
    config::add_to_linker(&mut linker, |s: &mut InstanceData| {
        WasiConfig::from(&s.context.settings)
    })?;
    logging::add_to_linker(&mut linker, |s: &mut InstanceData| &mut s.log)?;
    keyvalue::add_to_linker(&mut linker, |s: &mut InstanceData| KeyValueView {
        table: &mut s.table,
        plugin: &s.context.name,
        access: &s.context.keyvalue,
    })?;
    Ok(linker)
}
