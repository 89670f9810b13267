//! Compiles components once and keeps the native code on disk, keyed by the
//! component's SHA-256 and the engine's compatibility hash, so a restart (or
//! the second of two gateways sharing a data folder) skips compilation.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::data_dir;

/// Where compiled artifacts are kept, inside the data folder.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into SHA-256, for a key that is stable across runs.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The hex SHA-256 of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl CompileCache {
    /// A cache in `dir` (created, owner-only, on first write).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The component for `bytes`, from the cache when present, else compiled
    /// and stored. A cache that cannot be written only costs speed.
    pub(crate) fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        content_hash: &str,
    ) -> wasmtime::Result<(Component, bool)> {
        let path = self.path_for(engine, content_hash);
        if let Some(component) = cached(engine, &path) {
            return Ok((component, true));
        }
        // One compilation per artifact at a time in this process: whoever
        // waits finds the artifact on disk when the lock is theirs.
        let lock = compiling(&path);
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(component) = cached(engine, &path) {
            return Ok((component, true));
        }
        let artifact = engine.precompile_component(bytes)?;
        if let Err(e) = self.store(&path, &artifact) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled-plugin cache; restarts will recompile");
        }
        Ok((load_own_artifact(engine, &artifact)?, false))
    }

    fn path_for(&self, engine: &Engine, content_hash: &str) -> PathBuf {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        self.dir.join(format!("{content_hash}-{engine_key}.cwasm"))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        data_dir::create_private(&self.dir)?;
        data_dir::write_atomic(path, artifact)
    }
}

/// The cached artifact at `path`, when there is a valid one.
fn cached(engine: &Engine, path: &Path) -> Option<Component> {
    if path.is_file() {
        load_artifact(engine, path).ok()
    } else {
        None
    }
}

/// The lock held while the artifact at `path` is being compiled.
fn compiling(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut locks = LOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    locks.entry(path.to_path_buf()).or_default().clone()
}

/// Loads an artifact this process compiled a moment ago.
///
/// `unsafe` for the reason given at [`load_artifact`]; these bytes come
/// straight from `Engine::precompile_component` and never left memory.
#[allow(unsafe_code)]
fn load_own_artifact(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: the bytes are this engine's own compilation output.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Loads a precompiled artifact.
///
/// `unsafe` because wasmtime runs the native code in the file as it is. The
/// file is one this gateway wrote into its own owner-only data folder (and
/// wasmtime still checks its header against the engine); whoever can write
/// there could already replace the gateway binary.
#[allow(unsafe_code)]
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: see the function's doc comment: the artifact is our own output.
    unsafe { Component::deserialize_file(engine, path) }
}
