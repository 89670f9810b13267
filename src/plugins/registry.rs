//! Finds and loads the plugins the config names, checking each plays its role;
//! swaps in a new build of one while requests are being served, remembering
//! how each reload went; and lists every component in the plugins folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::cache::CompileCache;
use super::capability::keyvalue::KeyValueAccess;
use super::component::{LoadedPlugin, Role};
use super::engine::PluginEngine;
use super::error::{PluginError, PluginFailure};
use super::host::PluginContext;
use super::manifest::Manifest;
use super::needs::{self, Finding};
use super::recent_lines::RecentLines;
use crate::config::{Config, PluginsConfig};
use crate::database::Database;

/// Everything needed to load a plugin by name.
pub(crate) struct Loader {
    engine: PluginEngine,
    cache: CompileCache,
    config: PluginsConfig,
    database: Option<Database>,
    /// Each plugin's recent log lines, kept across its reloads.
    recent: Mutex<HashMap<String, Arc<RecentLines>>>,
}

impl Loader {
    /// A loader for the plugins of `config`; opens the database when a plugin
    /// is granted key-value storage.
    pub(crate) async fn new(config: &Config) -> Result<Self, PluginError> {
        let database = if config.plugins.any_keyvalue() {
            Some(
                Database::open_for(&config.store.backend, &config.server.data_dir)
                    .await
                    .map_err(|e| PluginError::Engine(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Self {
            engine: PluginEngine::new(&config.plugins)?,
            cache: CompileCache::new(config.plugins.cache_dir.clone(), &config.server.data_dir),
            config: config.plugins.clone(),
            database,
            recent: Mutex::default(),
        })
    }

    /// The recent log lines of `name`, the same for every build of it.
    fn recent_for(&self, name: &str) -> Arc<RecentLines> {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.entry(name.to_string()).or_default().clone()
    }

    /// The plugins folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// The plugins config.
    pub(crate) fn config(&self) -> &PluginsConfig {
        &self.config
    }

    /// Loads the component `<dir>/<name>.wasm` with the config's limits,
    /// settings and grants for `name`.
    pub(crate) async fn load(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_from(name, &self.config.path_of(name)).await
    }

    /// Loads the component at `path` as the plugin `name`, with its
    /// manifest's setting defaults under the config's settings, and checks
    /// its needs against its grants: a missing required setting refuses it,
    /// an ungranted capability is a warning it carries.
    async fn load_from(&self, name: &str, path: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        let invalid = |reason: String| PluginError::of(name, PluginFailure::Invalid { reason });
        let manifest = Manifest::read_beside(path).map_err(|e| invalid(e.to_string()))?;
        let mut settings = self.config.settings_for(name);
        for (key, default) in manifest.iter().flat_map(|m| m.defaults()) {
            settings
                .entry(key.clone())
                .or_insert_with(|| default.clone());
        }
        let grants = self.config.grants_for(name);
        let context = PluginContext {
            name: Arc::from(name),
            settings: settings.clone().into_iter().collect(),
            keyvalue: KeyValueAccess {
                granted: grants.keyvalue.zip(self.database.clone()),
            },
            grants: grants.clone(),
            log_level: self.config.log_level_for(name),
            recent: self.recent_for(name),
        };
        let plugin = LoadedPlugin::load(
            &self.engine,
            &self.cache,
            path,
            self.config.limits_for(name),
            Arc::new(context),
        )
        .await?;
        let findings = needs::compare(
            name,
            manifest.as_ref(),
            plugin.imports(),
            &grants,
            &settings,
        );
        let (errors, warnings): (Vec<_>, Vec<_>) = findings
            .into_iter()
            .partition(|f| matches!(f, Finding::Error(_)));
        let text = |f: Finding| match f {
            Finding::Error(t) | Finding::Warning(t) => t,
        };
        if !errors.is_empty() {
            let errors: Vec<String> = errors.into_iter().map(text).collect();
            return Err(invalid(errors.join("; ")));
        }
        Ok(Arc::new(
            plugin.with_warnings(warnings.into_iter().map(text).collect()),
        ))
    }

    /// Loads `name` and checks it can play `role`.
    async fn load_as(&self, name: &str, role: Role) -> Result<Arc<LoadedPlugin>, PluginError> {
        check_role(self.load(name).await?, role)
    }
}

/// The consumer and the view the gateway calls. Cloning shares them; a
/// [`Plugins::swap`] is seen by every clone, for new requests only: a request
/// already running keeps the instance it started with.
#[derive(Clone)]
pub struct Plugins {
    consumer: Arc<ArcSwap<LoadedPlugin>>,
    view: Arc<ArcSwap<LoadedPlugin>>,
    loader: Arc<Loader>,
    reloads: Arc<Mutex<BTreeMap<String, ReloadRecord>>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("consumer", &self.consumer())
            .field("view", &self.view())
            .finish()
    }
}

/// What [`Plugins::swap`] did with a changed component.
#[derive(Debug)]
pub enum SwapOutcome {
    /// The new build now serves new requests in these roles.
    Swapped {
        /// The roles it took over.
        roles: Vec<Role>,
        /// Its SHA-256, hex.
        sha256: String,
    },
    /// The file's content is what already serves.
    Unchanged,
    /// The component loads, but the config gives it no role.
    NotConfigured {
        /// The roles it could play.
        roles: Vec<Role>,
    },
}

/// How the last reload of one plugin went, for the admin console.
#[derive(Debug, Clone)]
pub struct ReloadRecord {
    /// When it was tried (ms since the epoch).
    pub at_ms: i64,
    /// What came of it.
    pub outcome: ReloadOutcome,
}

/// What came of reloading a changed component file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new build serves new requests.
    Swapped {
        /// Its SHA-256, hex.
        sha256: String,
    },
    /// The file changed on disk but holds the build already serving.
    Unchanged,
    /// The build loads, but the config gives it no role.
    NotConfigured,
    /// The build was refused; the previous one keeps serving.
    Refused {
        /// The refused file's SHA-256, hex, when it could be read.
        sha256: Option<String>,
        /// Why it was refused.
        reason: String,
    },
    /// The file was removed; the build already loaded keeps serving.
    Removed,
}

impl ReloadOutcome {
    /// The outcome in a few words, as the console and the log say it.
    pub fn summary(&self) -> String {
        match self {
            Self::Swapped { sha256 } => format!(
                "new build {} serving new requests",
                &sha256[..sha256.len().min(12)]
            ),
            Self::Unchanged => "file touched, build unchanged".into(),
            Self::NotConfigured => "compiled and checked; the config gives it no role".into(),
            Self::Refused { reason, .. } => {
                format!("new build refused, the previous one keeps serving: {reason}")
            }
            Self::Removed => "file removed; the build already loaded keeps serving".into(),
        }
    }
}

impl From<&Result<SwapOutcome, PluginError>> for ReloadOutcome {
    fn from(result: &Result<SwapOutcome, PluginError>) -> Self {
        match result {
            Ok(SwapOutcome::Swapped { sha256, .. }) => Self::Swapped {
                sha256: sha256.clone(),
            },
            Ok(SwapOutcome::Unchanged) => Self::Unchanged,
            Ok(SwapOutcome::NotConfigured { .. }) => Self::NotConfigured,
            Err(e) => Self::Refused {
                sha256: None,
                reason: e.to_string(),
            },
        }
    }
}

impl Plugins {
    /// Loads the consumer and view named in the config; every problem found
    /// is returned, not just the first.
    pub async fn load(config: &Config) -> Result<Self, Vec<PluginError>> {
        let loader = Loader::new(config).await.map_err(|e| vec![e])?;
        let p = &loader.config;
        let consumer = loader.load_as(&p.consumer, Role::Consumer).await;
        let view = if p.view == p.consumer {
            match &consumer {
                Ok(plugin) => check_role(plugin.clone(), Role::View),
                Err(_) => loader.load_as(&p.view, Role::View).await,
            }
        } else {
            loader.load_as(&p.view, Role::View).await
        };
        match (consumer, view) {
            (Ok(consumer), Ok(view)) => Ok(Self {
                consumer: Arc::new(ArcSwap::new(consumer)),
                view: Arc::new(ArcSwap::new(view)),
                loader: Arc::new(loader),
                reloads: Arc::default(),
            }),
            (consumer, view) => Err([consumer.err(), view.err()].into_iter().flatten().collect()),
        }
    }

    /// The consumer serving new requests.
    pub fn consumer(&self) -> Arc<LoadedPlugin> {
        self.consumer.load_full()
    }

    /// The view serving new requests.
    pub fn view(&self) -> Arc<LoadedPlugin> {
        self.view.load_full()
    }

    /// A place for one refused request's page among the quarter of plugin
    /// slots such pages may hold, if one is free now.
    pub fn refusal_share(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.loader.engine.refusal_share()
    }

    /// The recent log lines of the plugin `name` (served or not), newest first.
    pub fn recent_lines(&self, name: &str) -> Vec<super::LogLine> {
        self.loader.recent_for(name).newest_first()
    }

    /// Notes how reloading `name` went: kept for [`Plugins::reloads`] and
    /// among the plugin's recent lines.
    pub(crate) fn note_reload(&self, name: &str, outcome: ReloadOutcome) {
        let level = match outcome {
            ReloadOutcome::Refused { .. } => "error",
            ReloadOutcome::Removed => "warn",
            _ => "info",
        };
        self.loader
            .recent_for(name)
            .gateway(level, outcome.summary());
        let record = ReloadRecord {
            at_ms: crate::clock::unix_ms(),
            outcome,
        };
        let mut reloads = self.reloads.lock().unwrap_or_else(|e| e.into_inner());
        reloads.insert(name.to_string(), record);
    }

    /// The last reload of each plugin that was reloaded since start, by name.
    pub fn reloads(&self) -> BTreeMap<String, ReloadRecord> {
        self.reloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The loader these plugins came from.
    pub(crate) fn loader(&self) -> &Loader {
        &self.loader
    }

    /// Loads `<dir>/<name>.wasm` again and, when it is the consumer or the
    /// view and it checks out for every role it plays, makes it serve new
    /// requests. On any error nothing changes: the old build keeps serving.
    pub async fn swap(&self, name: &str) -> Result<SwapOutcome, PluginError> {
        let p = self.loader.config();
        let wanted: Vec<Role> = [(Role::Consumer, &p.consumer), (Role::View, &p.view)]
            .into_iter()
            .filter(|(_, n)| n.as_str() == name)
            .map(|(r, _)| r)
            .collect();
        let fresh = self.loader.load(name).await?;
        if wanted.is_empty() {
            return Ok(SwapOutcome::NotConfigured {
                roles: fresh.roles(),
            });
        }
        for role in &wanted {
            check_role(fresh.clone(), *role)?;
        }
        let current = match wanted[0] {
            Role::Consumer => self.consumer(),
            Role::View => self.view(),
        };
        if current.sha256() == fresh.sha256() {
            return Ok(SwapOutcome::Unchanged);
        }
        for role in &wanted {
            match role {
                Role::Consumer => self.consumer.store(fresh.clone()),
                Role::View => self.view.store(fresh.clone()),
            }
        }
        Ok(SwapOutcome::Swapped {
            roles: wanted,
            sha256: fresh.sha256().to_string(),
        })
    }
}

fn check_role(plugin: Arc<LoadedPlugin>, role: Role) -> Result<Arc<LoadedPlugin>, PluginError> {
    if plugin.roles().contains(&role) {
        Ok(plugin)
    } else {
        Err(PluginError::of(
            plugin.name(),
            PluginFailure::Invalid {
                reason: format!(
                    "is configured as plugins.{} but does not export {}; it implements: {}",
                    role.name(),
                    role.interface(),
                    plugin
                        .roles()
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        ))
    }
}

/// One component found in the plugins folder.
#[derive(Debug)]
pub struct ComponentReport {
    /// Its name (the file name without `.wasm`).
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The loaded plugin (its roles, hash, whether it came from the cache),
    /// or why it cannot be loaded.
    pub loaded: Result<Arc<LoadedPlugin>, PluginError>,
}

/// The `<name>.wasm` files of a plugins folder, sorted by name. Names that
/// cannot be plugin names are skipped.
pub(crate) fn component_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, PluginError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        PluginError::of(
            "(plugins folder)",
            PluginFailure::Missing {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            },
        )
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if let Some(name) = component_name(&path) {
            names.push((name, path));
        }
    }
    names.sort();
    Ok(names)
}

/// The plugin name of a component file, if `path` is one.
pub(crate) fn component_name(path: &Path) -> Option<String> {
    if path.extension().is_none_or(|e| e != "wasm") {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    crate::config::is_plugin_name(stem).then(|| stem.to_string())
}

/// Loads every `*.wasm` in the config's plugins folder and reports what each implements.
pub async fn list_components(config: &Config) -> Result<Vec<ComponentReport>, PluginError> {
    let loader = Loader::new(config).await?;
    let mut reports = Vec::new();
    for (name, path) in component_files(&config.plugins.dir)? {
        let loaded = loader.load_from(&name, &path).await;
        reports.push(ComponentReport { name, path, loaded });
    }
    Ok(reports)
}
