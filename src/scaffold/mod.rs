//! `notion-oauth-gateway plugin new`: writes a plugin from the template of a
//! language into `<plugins dir>/<name>/`, with its own copy of this gateway's
//! WIT, ready to build with `make -C <plugins dir>/<name>`.
//!
//! The templates are the files under `plugins/templates/`, built into the
//! binary, so scaffolding works wherever the gateway is installed.

mod templates;

use std::path::{Path, PathBuf};

pub use templates::{Language, World};

/// Why a plugin could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name a component file.
    #[error("{0:?} is not a plugin name: use letters, digits, `-` and `_` (at most 64)")]
    BadName(String),
    /// Something is already there.
    #[error("{} already exists; pick another name or remove it first", .0.display())]
    Exists(PathBuf),
    /// A file could not be written.
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Writes the plugin `name` into `<plugins_dir>/<name>/` and returns the
/// files written. Nothing is overwritten: an existing folder is an error,
/// and a partly written plugin is removed again.
pub fn new_plugin(
    plugins_dir: &Path,
    name: &str,
    language: Language,
    world: World,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !crate::config::is_plugin_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let root = plugins_dir.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let mut files: Vec<(PathBuf, String)> = templates::files(language)
        .iter()
        .chain([&templates::MANIFEST])
        .map(|(path, text)| {
            (
                root.join(path),
                templates::render(text, name, language, world),
            )
        })
        .collect();
    files.extend(
        templates::WIT
            .iter()
            .map(|(path, text)| (root.join("wit").join(path), (*text).to_string())),
    );
    // The shared toolchain rules, when this plugins folder has none yet.
    for (path, text) in templates::toolchain(language)
        .iter()
        .chain(templates::SHARED_TOOLCHAIN)
    {
        let path = plugins_dir.join("toolchains").join(path);
        if !path.exists() {
            files.push((path, (*text).to_string()));
        }
    }
    let written = write_all(&files);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&root);
    }
    written?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

fn write_all(files: &[(PathBuf, String)]) -> Result<(), ScaffoldError> {
    for (path, text) in files {
        let fail = |e: std::io::Error| ScaffoldError::Write {
            path: path.clone(),
            reason: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        std::fs::write(path, text).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_plugin_with_its_wit_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files =
            new_plugin(dir.path(), "my-view", Language::Python, World::View).expect("scaffolded");
        let app = std::fs::read_to_string(dir.path().join("my-view/app.py")).expect("app.py");
        assert!(
            app.contains("class View") && !app.contains("class Consumer"),
            "{app}"
        );
        assert!(!app.contains("{{"), "every placeholder filled");
        let make = std::fs::read_to_string(dir.path().join("my-view/Makefile")).expect("Makefile");
        assert!(make.contains("WORLD := notion:oauth/view-plugin"), "{make}");
        assert!(dir.path().join("my-view/wit/worlds.wit").is_file());
        assert!(dir.path().join("my-view/wit/deps/http/http.wit").is_file());
        assert!(dir.path().join("toolchains/python/plugin.mk").is_file());
        assert!(files.len() > 10);
        assert!(matches!(
            new_plugin(dir.path(), "my-view", Language::Rust, World::Both),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            new_plugin(dir.path(), "../escape", Language::Rust, World::Both),
            Err(ScaffoldError::BadName(_))
        ));
    }

    #[test]
    fn the_world_picks_the_exports() {
        let dir = tempfile::tempdir().expect("temp dir");
        new_plugin(dir.path(), "c", Language::Rust, World::Consumer).expect("rust");
        let lib = std::fs::read_to_string(dir.path().join("c/src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("world: \"consumer-plugin\""));
        assert!(lib.contains("consumer::Guest") && !lib.contains("view::Guest"));
        new_plugin(dir.path(), "b", Language::Js, World::Both).expect("js");
        let js = std::fs::read_to_string(dir.path().join("b/app.js")).expect("app.js");
        assert!(js.contains("export const consumer") && js.contains("export const view"));
        assert!(!js.contains("// <view>"), "markers are removed");
    }
}
