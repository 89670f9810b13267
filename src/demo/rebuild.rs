//! `dev --watch`: rebuilds a demo plugin when its source folder changes, by
//! running the `make` in that folder. The gateway's own watch of the
//! plugins folder then swaps the new component in, or refuses it and keeps
//! the build already loaded, as it does in `serve`.
//!
//! A plugin has a source folder when `<plugins>/<name>/` has a `Makefile`:
//! every `plugin new` scaffold and the Python and JavaScript examples. What
//! a build writes inside the folder (`target/`, `node_modules/`, ...) and
//! editors' scratch files do not count as changes (a C plugin's `bindings/`
//! and `build/` are written by its `make`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::watch::{Depth, FolderWatch, watch_folders};

/// Folders inside a plugin's source that builds and tools write, never sources.
const NOT_SOURCES: &[&str] = &[
    "target",
    "node_modules",
    ".venv",
    "__pycache__",
    "wit_world",
    "bindings",
    "build",
    "try-data",
    ".git",
];

/// One run of a plugin's `make`.
#[derive(Debug, Clone)]
pub struct Build {
    /// The plugin.
    pub plugin: String,
    /// Its source folder.
    pub folder: PathBuf,
    /// Whether `make` exited 0.
    pub succeeded: bool,
    /// What `make` printed (stdout and stderr, interleaved).
    pub output: String,
    /// How long it took.
    pub took: Duration,
}

/// Running watches of the plugins' source folders; dropping it stops them.
#[derive(Debug)]
pub struct SourceWatch {
    _watches: Vec<FolderWatch>,
}

/// A plugin's source folder: `<plugins_dir>/<name>/`, when it has a Makefile.
pub fn source_folder(plugins_dir: &Path, name: &str) -> Option<PathBuf> {
    let folder = plugins_dir.join(name);
    folder.join("Makefile").is_file().then_some(folder)
}

/// Whether a change at `path` (under a source folder) is a source's.
fn is_source_change(folder: &Path, path: &Path) -> bool {
    let Ok(inside) = path.strip_prefix(folder) else {
        return false;
    };
    let scratch = |name: &str| {
        name.starts_with('.')
            || name.ends_with('~')
            || name.ends_with(".swp")
            || name.ends_with(".tmp")
            || name == "Cargo.lock"
            // vim's probe file when it checks that a folder is writable
            || name == "4913"
    };
    inside.components().all(|c| {
        let name = c.as_os_str().to_string_lossy();
        !NOT_SOURCES.contains(&name.as_ref()) && !scratch(&name)
    })
}

/// Runs `make -C folder` and reports it.
pub async fn build(plugin: &str, folder: &Path) -> Build {
    let started = Instant::now();
    // Through `sh` so make's stdout and stderr arrive interleaved as a
    // terminal shows them; the folder is an argument, never shell text.
    let run = tokio::process::Command::new("sh")
        .args(["-c", "exec make -C \"$1\" 2>&1", "sh"])
        .arg(folder)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let (succeeded, output) = match run {
        Ok(out) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
        Err(e) => (false, format!("cannot run make: {e}; install make")),
    };
    Build {
        plugin: plugin.to_string(),
        folder: folder.to_path_buf(),
        succeeded,
        output,
        took: started.elapsed(),
    }
}

/// Watches the source folders of `plugins` (each once) and rebuilds one
/// whenever its sources change, handing each build to `on_build`. Also a
/// line for each plugin saying whether it is watched, and why not.
pub fn watch_sources(
    plugins_dir: &Path,
    plugins: &[&str],
    on_build: impl Fn(Build) + Send + Sync + 'static,
) -> (SourceWatch, Vec<String>) {
    let on_build = Arc::new(on_build);
    let mut watches = Vec::new();
    let mut notes = Vec::new();
    let names: BTreeSet<&str> = plugins.iter().copied().collect();
    for name in names {
        let Some(folder) = source_folder(plugins_dir, name) else {
            notes.push(format!(
                "not watching {name}: {} has no Makefile (--watch rebuilds plugins made by `plugin new`, and the Python and JavaScript examples)",
                plugins_dir.join(name).display()
            ));
            continue;
        };
        // Events name absolute paths; a relative folder would match none.
        let root = std::fs::canonicalize(&folder).unwrap_or_else(|_| folder.clone());
        let (plugin, on_build) = (name.to_string(), on_build.clone());
        let watched = watch_folders(
            std::slice::from_ref(&root),
            Depth::Tree,
            {
                let root = root.clone();
                move |path| is_source_change(&root, path)
            },
            {
                let folder = folder.clone();
                move |_changed: BTreeSet<PathBuf>| {
                    let (plugin, folder, on_build) =
                        (plugin.clone(), folder.clone(), on_build.clone());
                    async move { on_build(build(&plugin, &folder).await) }
                }
            },
        );
        match watched {
            Ok(watch) => {
                notes.push(format!(
                    "watching {}: a change there runs `make -C {}` and the demo swaps the new build in",
                    folder.display(),
                    folder.display()
                ));
                watches.push(watch);
            }
            Err(e) => notes.push(format!(
                "not watching {name}: cannot watch {}: {e}",
                folder.display()
            )),
        }
    }
    (SourceWatch { _watches: watches }, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_count_and_build_output_and_scratch_files_do_not() {
        let folder = Path::new("/p/app");
        for source in ["/p/app/app.py", "/p/app/src/lib.rs", "/p/app/wit/types.wit"] {
            assert!(is_source_change(folder, Path::new(source)), "{source}");
        }
        for not in [
            "/p/app/target/release/x.wasm",
            "/p/app/node_modules/a/b.js",
            "/p/app/__pycache__/app.pyc",
            "/p/app/.app.py.swp",
            "/p/app/app.py~",
            "/p/app/4913",
            "/p/app/Cargo.lock",
            "/p/app/try-data/app/success.html",
            "/p/app/bindings/plugin.h",
            "/p/app/build/core.wasm",
            "/p/app.wasm",
        ] {
            assert!(!is_source_change(folder, Path::new(not)), "{not}");
        }
    }
}
