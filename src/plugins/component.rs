//! One loaded plugin: its compiled, pre-linked component, the roles it can
//! play, its limits and settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, UpdateDeadline};

use super::limiter::CallLimiter;
use super::recent_lines::RecentLines;

use super::bindings::{ConsumerIndices, ViewIndices};
use super::cache::{CompileCache, sha256_hex};
use super::engine::PluginEngine;
use super::error::{PluginError, PluginFailure};
use super::host::{InstanceData, PluginContext, linker};
use crate::config::PluginLimits;

/// The error the epoch callback raises when a call's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the plugin's deadline passed")]
pub(crate) struct DeadlineExceeded;

/// Maps a wasmtime error to a [`PluginError`] that says what happened.
pub(crate) fn classify(plugin: &LoadedPlugin, e: wasmtime::Error) -> PluginError {
    if e.downcast_ref::<DeadlineExceeded>().is_some() {
        return PluginError::of(
            plugin.name(),
            PluginFailure::Deadline {
                deadline: plugin.limits().deadline,
            },
        );
    }
    let reason = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{e:#}"),
    };
    PluginError::of(
        plugin.name(),
        PluginFailure::Trap {
            reason: reason.chars().take(500).collect(),
        },
    )
}

/// Why `bytes` cannot be a component, when it is plainly something else: a
/// core module (what a compiler makes before `wasm-tools component new`),
/// or not WebAssembly at all. `None` leaves the verdict to the compiler.
fn not_a_component(path: &Path, bytes: &[u8]) -> Option<String> {
    let path = path.display();
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Some(format!(
            "{path} is a core WebAssembly module, not a component; make it one with `wasm-tools component new {path} -o {path}` (with `--adapt wasi_snapshot_preview1.reactor.wasm` if it imports WASI preview 1), as the templates' Makefiles do"
        ));
    }
    if !bytes.starts_with(b"\0asm") {
        return Some(format!(
            "{path} is not WebAssembly (it does not start with the \\0asm header); build the plugin (`make -C` its folder) and copy its .wasm here"
        ));
    }
    None
}

/// A role a component can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Exports `notion:oauth/consumer`.
    Consumer,
    /// Exports `notion:oauth/view`.
    View,
}

impl Role {
    /// The WIT interface a component must export to play this role.
    pub fn interface(self) -> &'static str {
        match self {
            Role::Consumer => "notion:oauth/consumer@0.1.x",
            Role::View => "notion:oauth/view@0.1.x",
        }
    }

    /// The role's short name, as the config says it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Consumer => "consumer",
            Role::View => "view",
        }
    }
}

/// A compiled, checked, pre-linked plugin, ready for a fresh instance per call.
pub struct LoadedPlugin {
    context: Arc<PluginContext>,
    path: PathBuf,
    sha256: String,
    from_cache: bool,
    loaded_at_ms: i64,
    load_took: Duration,
    exports: Vec<String>,
    imports: Vec<String>,
    warnings: Vec<String>,
    pre: InstancePre<InstanceData>,
    pub(crate) consumer: Option<ConsumerIndices>,
    pub(crate) view: Option<ViewIndices>,
    limits: PluginLimits,
    engine: PluginEngine,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.context.name)
            .field("roles", &self.roles())
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Reads, compiles (or takes from the cache), links and checks the
    /// component at `path`. One probe instance is made to check that each
    /// exported interface has the exact types of this gateway's WIT.
    pub(crate) async fn load(
        engine: &PluginEngine,
        cache: &CompileCache,
        path: &Path,
        limits: PluginLimits,
        context: Arc<PluginContext>,
    ) -> Result<Self, PluginError> {
        let started = Instant::now();
        let name = &*context.name.clone();
        let invalid =
            |reason: String| PluginError::of(name.to_string(), PluginFailure::Invalid { reason });
        let bytes = tokio::fs::read(path).await.map_err(|e| {
            PluginError::of(
                name,
                PluginFailure::Missing {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                },
            )
        })?;
        if let Some(reason) = not_a_component(path, &bytes) {
            return Err(invalid(reason));
        }
        let sha256 = sha256_hex(&bytes);
        let wasm = engine.engine().clone();
        let cache = cache.clone();
        let hash = sha256.clone();
        let (component, from_cache) =
            tokio::task::spawn_blocking(move || cache.component(&wasm, &bytes, &hash))
                .await
                .map_err(|e| invalid(format!("compilation stopped: {e}")))?
                .map_err(|e| {
                    invalid(format!(
                        "{} is not a valid WebAssembly component: {e:#}",
                        path.display()
                    ))
                })?;
        let kind = component.component_type();
        let exports = kind
            .exports(engine.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        let imports = kind
            .imports(engine.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        let linker = linker(engine.engine()).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            invalid(format!(
                "imports something the gateway does not provide ({e:#}); plugins may import only WASI 0.2, wasi:http, wasi:keyvalue, wasi:logging and wasi:config"
            ))
        })?;
        let mut plugin = Self {
            context,
            path: path.to_path_buf(),
            sha256,
            from_cache,
            loaded_at_ms: 0,
            load_took: Duration::ZERO,
            exports,
            imports,
            warnings: Vec::new(),
            consumer: ConsumerIndices::new(&pre).ok(),
            view: ViewIndices::new(&pre).ok(),
            pre,
            limits,
            engine: engine.clone(),
        };
        if plugin.consumer.is_none() && plugin.view.is_none() {
            return Err(invalid(format!(
                "exports neither {} nor {}; build it against the WIT in this gateway's wit/ folder",
                Role::Consumer.interface(),
                Role::View.interface()
            )));
        }
        plugin.probe().await?;
        plugin.loaded_at_ms = crate::clock::unix_ms();
        plugin.load_took = started.elapsed();
        Ok(plugin)
    }

    /// Instantiates once and resolves every export with its types, so a
    /// component built against another WIT fails now, not on a user's request.
    async fn probe(&mut self) -> Result<(), PluginError> {
        // Instantiation runs the component's start code, which the epoch
        // deadline stops only while it computes: one waiting on a host
        // future would hang the start-up or the reload watcher unbounded.
        let deadline = self.limits.deadline;
        let instantiated = tokio::time::timeout(deadline, self.instantiate("load-check")).await;
        let Ok(instantiated) = instantiated else {
            return Err(PluginError::of(
                &*self.context.name,
                PluginFailure::Invalid {
                    reason: format!(
                        "did not finish instantiating within its deadline ({} ms) at load; its start code must not wait",
                        deadline.as_millis()
                    ),
                },
            ));
        };
        let (mut store, instance) = instantiated?;
        let mismatch = |role: Role, e: wasmtime::Error| {
            PluginError::of(
                &*self.context.name,
                PluginFailure::Invalid {
                    reason: format!(
                        "exports {} with types that differ from this gateway's ({e:#}); rebuild it against this gateway's wit/",
                        role.interface()
                    ),
                },
            )
        };
        if let Some(indices) = &self.consumer {
            indices
                .load(&mut store, &instance)
                .map_err(|e| mismatch(Role::Consumer, e))?;
        }
        if let Some(indices) = &self.view {
            indices
                .load(&mut store, &instance)
                .map_err(|e| mismatch(Role::View, e))?;
        }
        Ok(())
    }

    /// A fresh store and instance for one call, with this plugin's memory cap
    /// and a deadline enforced by epoch interruption.
    pub(crate) async fn instantiate(
        &self,
        request_id: &str,
    ) -> Result<(Store<InstanceData>, Instance), PluginError> {
        let limits =
            CallLimiter::new(usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX));
        let slot = self.engine.slot().await;
        let deadline = Instant::now() + self.limits.deadline;
        let state = InstanceData::new(
            self.context.clone(),
            Arc::from(request_id),
            limits,
            deadline,
            slot,
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                // `yield_now` lets the runtime poll its I/O driver before this
                // task runs again, so a spinning guest cannot starve sockets.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(self, e))?;
        Ok((store, instance))
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.context.name
    }

    /// The component file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SHA-256 of the component file, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// When this build finished loading (ms since the epoch).
    pub fn loaded_at_ms(&self) -> i64 {
        self.loaded_at_ms
    }

    /// How long reading, compiling (or taking from the cache), linking and
    /// checking it took.
    pub fn load_took(&self) -> Duration {
        self.load_took
    }

    /// The interfaces it exports, as the component names them
    /// (`notion:oauth/consumer@0.1.0`).
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// The interfaces it imports, as the component names them.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// What it needs that the config does not grant (each names the key to add).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub(crate) fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// The versions of this gateway's WIT package the component was built
    /// against, one per role it plays (`consumer@0.1.0`).
    pub fn wit_versions(&self) -> Vec<String> {
        self.exports
            .iter()
            .filter_map(|e| e.strip_prefix("notion:oauth/"))
            .map(str::to_string)
            .collect()
    }

    /// Its recent log lines, shared by every build of it.
    pub fn recent(&self) -> &Arc<RecentLines> {
        &self.context.recent
    }

    /// The roles this component can play.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = Vec::new();
        if self.consumer.is_some() {
            roles.push(Role::Consumer);
        }
        if self.view.is_some() {
            roles.push(Role::View);
        }
        roles
    }

    /// What the config grants this plugin, in a few words for `check` and
    /// `plugins list`.
    pub fn grants_summary(&self) -> String {
        let g = &self.context.grants;
        let mut parts = Vec::new();
        if let Some(http) = &g.http {
            let hosts: Vec<String> = http.hosts.iter().map(ToString::to_string).collect();
            parts.push(format!("http to [{}]", hosts.join(", ")));
        }
        if g.keyvalue.is_some() {
            parts.push("keyvalue".to_string());
        }
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// This plugin's sandbox limits.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }
}
