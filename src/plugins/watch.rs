//! Watches the plugins folder while the gateway serves: a new or changed
//! `<name>.wasm` is compiled in the background, checked against the roles the
//! config gives it, and swapped in for new requests. A component that fails
//! any check is refused with a log line, and the build already loaded keeps
//! serving.

use std::path::Path;

use super::cache::sha256_hex;
use super::error::{PluginError, PluginFailure};
use super::registry::{Plugins, ReloadOutcome, SwapOutcome, component_name};
use crate::watch::{Depth, FolderWatch, watch_folders};

/// A running watch of the plugins folder; dropping it stops watching.
#[derive(Debug)]
pub struct PluginWatcher {
    _watch: FolderWatch,
}

/// Starts watching the folder `plugins` were loaded from.
pub fn watch(plugins: Plugins) -> Result<PluginWatcher, PluginError> {
    let dir = plugins.loader().dir().to_path_buf();
    let watch = watch_folders(
        std::slice::from_ref(&dir),
        Depth::Folder,
        |path| component_name(path).is_some(),
        move |changed| {
            let plugins = plugins.clone();
            async move {
                for path in changed {
                    reload(&plugins, &path).await;
                }
            }
        },
    )
    .map_err(|e| watch_error(&dir, &e))?;
    tracing::info!(dir = %dir.display(), "watching the plugins folder for new builds");
    Ok(PluginWatcher { _watch: watch })
}

fn watch_error(dir: &Path, e: &notify::Error) -> PluginError {
    PluginError::of(
        "(plugins folder)",
        PluginFailure::Missing {
            path: dir.to_path_buf(),
            reason: format!(
                "cannot watch it for changes: {e}; set plugins.watch = false to run without reloading"
            ),
        },
    )
}

async fn reload(plugins: &Plugins, path: &Path) {
    let Some(name) = component_name(path) else {
        return;
    };
    if !path.exists() {
        tracing::warn!(
            plugin = name,
            "{} was removed; the build already loaded keeps serving",
            path.display()
        );
        plugins.note_reload(&name, ReloadOutcome::Removed);
        return;
    }
    let swapped = plugins.swap(&name).await;
    let mut outcome = ReloadOutcome::from(&swapped);
    match swapped {
        Ok(SwapOutcome::Swapped { roles, sha256 }) => {
            let roles: Vec<_> = roles.iter().map(|r| r.name()).collect();
            tracing::info!(
                plugin = name,
                sha256 = &sha256[..12],
                roles = roles.join("+"),
                "plugin reloaded: new requests use the new build"
            );
        }
        Ok(SwapOutcome::Unchanged) => {
            tracing::debug!(plugin = name, "plugin file touched but unchanged");
        }
        Ok(SwapOutcome::NotConfigured { roles }) => {
            let roles: Vec<_> = roles.iter().map(|r| r.name()).collect();
            tracing::info!(
                plugin = name,
                roles = roles.join("+"),
                "component compiled and checked; the config does not use it"
            );
        }
        Err(e) => {
            tracing::error!(
                plugin = name,
                "new build refused, the previous one keeps serving: {e}"
            );
            if let ReloadOutcome::Refused { sha256, .. } = &mut outcome {
                *sha256 = tokio::fs::read(path).await.ok().map(|b| sha256_hex(&b));
            }
        }
    }
    plugins.note_reload(&name, outcome);
}
