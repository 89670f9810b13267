//! Finds and loads the plugins the config names, checking each plays its role,
//! and lists every component in the plugins folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::CompileCache;
use super::component::{LoadedPlugin, Role};
use super::engine::PluginEngine;
use super::error::PluginError;
use crate::config::{Config, PluginsConfig};

/// The consumer and the view the gateway calls.
#[derive(Debug, Clone)]
pub struct Plugins {
    /// The consumer plugin.
    pub consumer: Arc<LoadedPlugin>,
    /// The view plugin.
    pub view: Arc<LoadedPlugin>,
}

/// The compile cache inside a data folder.
pub(crate) fn cache_in(data_dir: &Path) -> CompileCache {
    CompileCache::new(data_dir.join("plugin-cache"))
}

impl Plugins {
    /// Loads the consumer and view named in the config; every problem found
    /// is returned, not just the first.
    pub async fn load(config: &Config) -> Result<Self, Vec<PluginError>> {
        let engine = PluginEngine::new(&config.plugins).map_err(|e| vec![e])?;
        let cache = cache_in(&config.server.data_dir);
        let p = &config.plugins;
        let consumer = load_as(&engine, &cache, p, &p.consumer, Role::Consumer).await;
        let view = if p.view == p.consumer {
            match &consumer {
                Ok(plugin) => check_role(plugin.clone(), Role::View),
                Err(_) => load_as(&engine, &cache, p, &p.view, Role::View).await,
            }
        } else {
            load_as(&engine, &cache, p, &p.view, Role::View).await
        };
        match (consumer, view) {
            (Ok(consumer), Ok(view)) => Ok(Self { consumer, view }),
            (consumer, view) => Err([consumer.err(), view.err()].into_iter().flatten().collect()),
        }
    }
}

async fn load_as(
    engine: &PluginEngine,
    cache: &CompileCache,
    config: &PluginsConfig,
    name: &str,
    role: Role,
) -> Result<Arc<LoadedPlugin>, PluginError> {
    let plugin = LoadedPlugin::load(
        engine,
        cache,
        name,
        &config.path_of(name),
        config.limits_for(name),
        config.settings_for(name),
    )
    .await?;
    check_role(Arc::new(plugin), role)
}

fn check_role(plugin: Arc<LoadedPlugin>, role: Role) -> Result<Arc<LoadedPlugin>, PluginError> {
    if plugin.roles().contains(&role) {
        Ok(plugin)
    } else {
        Err(PluginError::Invalid {
            name: plugin.name().to_string(),
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
        })
    }
}

/// One component found in the plugins folder.
#[derive(Debug)]
pub struct ComponentReport {
    /// Its name (the file name without `.wasm`).
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The roles it implements, or why it cannot be loaded.
    pub roles: Result<Vec<Role>, PluginError>,
}

/// Loads every `*.wasm` in the config's plugins folder and reports what each implements.
pub async fn list_components(config: &Config) -> Result<Vec<ComponentReport>, PluginError> {
    let dir = &config.plugins.dir;
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| PluginError::Missing {
        name: "(plugins folder)".into(),
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push((stem.to_string(), path));
        }
    }
    names.sort();
    let engine = PluginEngine::new(&config.plugins)?;
    let cache = cache_in(&config.server.data_dir);
    let mut reports = Vec::new();
    for (name, path) in names {
        let loaded = LoadedPlugin::load(
            &engine,
            &cache,
            &name,
            &path,
            config.plugins.limits_for(&name),
            config.plugins.settings_for(&name),
        )
        .await;
        reports.push(ComponentReport {
            name,
            path,
            roles: loaded.map(|p| p.roles()),
        });
    }
    Ok(reports)
}
