//! Watches the plugins folder while the gateway serves: a new or changed
//! `<name>.wasm` is compiled in the background, checked against the roles the
//! config gives it, and swapped in for new requests. A component that fails
//! any check is refused with a log line, and the build already loaded keeps
//! serving.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::PluginError;
use super::registry::{Plugins, SwapOutcome, component_name};

/// How long the folder must be quiet before changed files are loaded, so a
/// file still being copied is read once, whole.
const SETTLE: Duration = Duration::from_millis(300);

/// A running watch; dropping it stops watching.
pub struct PluginWatcher {
    _watcher: RecommendedWatcher,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PluginWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginWatcher").finish_non_exhaustive()
    }
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event can mean a component's content changed.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Starts watching the folder `plugins` were loaded from.
pub fn watch(plugins: Plugins) -> Result<PluginWatcher, PluginError> {
    let dir = plugins.loader().dir().to_path_buf();
    let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let Ok(event) = event else { return };
        if !is_change(&event.kind) {
            return;
        }
        for path in event.paths {
            if component_name(&path).is_some() {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| watch_error(&dir, &e))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| watch_error(&dir, &e))?;
    tracing::info!(dir = %dir.display(), "watching the plugins folder for new builds");
    let task = tokio::spawn(run(plugins, rx));
    Ok(PluginWatcher {
        _watcher: watcher,
        task,
    })
}

fn watch_error(dir: &Path, e: &notify::Error) -> PluginError {
    PluginError::Missing {
        name: "(plugins folder)".into(),
        path: dir.to_path_buf(),
        reason: format!(
            "cannot watch it for changes: {e}; set plugins.watch = false to run without reloading"
        ),
    }
}

async fn run(plugins: Plugins, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    while let Some(first) = rx.recv().await {
        let mut changed = BTreeSet::from([first]);
        loop {
            match tokio::time::timeout(SETTLE, rx.recv()).await {
                Ok(Some(path)) => {
                    changed.insert(path);
                }
                Ok(None) => return,
                Err(_) => break,
            }
        }
        for path in changed {
            reload(&plugins, &path).await;
        }
    }
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
        return;
    }
    match plugins.swap(&name).await {
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
        }
    }
}
