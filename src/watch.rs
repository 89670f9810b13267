//! Watches folders for changed files and reports them in settled batches:
//! the plugins folder (new builds) and the TLS files' folders (renewed
//! certificates) both use it.
//!
//! A batch is reported once the folders have been quiet for [`SETTLE`], so a
//! file still being copied is read once, whole. Folders rather than files are
//! watched because deployment tools replace files by renaming (or by swapping
//! a symlink), which a watch on the old file would miss.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the folders must be quiet before a batch of changes is reported.
pub(crate) const SETTLE: Duration = Duration::from_millis(300);

/// A running watch; dropping it stops watching.
pub(crate) struct FolderWatch {
    _watcher: RecommendedWatcher,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FolderWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatch").finish_non_exhaustive()
    }
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event can mean a file's content changed.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// How deep a watch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// The folder's own entries.
    Folder,
    /// Everything under the folder.
    Tree,
}

/// Watches `folders` (to `depth`) and calls `on_change` with each settled
/// batch of changed paths that `wanted` accepts; batches are handled one
/// at a time. Must be called inside a tokio runtime.
pub(crate) fn watch_folders<W, F, Fut>(
    folders: &[PathBuf],
    depth: Depth,
    wanted: W,
    mut on_change: F,
) -> notify::Result<FolderWatch>
where
    W: Fn(&Path) -> bool + Send + 'static,
    F: FnMut(BTreeSet<PathBuf>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let Ok(event) = event else { return };
        if !is_change(&event.kind) {
            return;
        }
        for path in event.paths {
            if wanted(&path) {
                let _ = tx.send(path);
            }
        }
    })?;
    let mut unique: Vec<&PathBuf> = folders.iter().collect();
    unique.sort();
    unique.dedup();
    for folder in unique {
        let mode = match depth {
            Depth::Folder => RecursiveMode::NonRecursive,
            Depth::Tree => RecursiveMode::Recursive,
        };
        watcher.watch(folder, mode)?;
    }
    let task = tokio::spawn(async move {
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
            on_change(changed).await;
        }
    });
    Ok(FolderWatch {
        _watcher: watcher,
        task,
    })
}
