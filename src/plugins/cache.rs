//! Compiles components once and keeps the native code on disk, keyed by the
//! component's SHA-256 and the engine's compatibility hash, so a restart (or
//! the second of two gateways sharing a data folder) skips compilation.
//!
//! An artifact is native code that runs with the gateway's secrets, so the
//! cache never runs what it merely finds: each file carries an HMAC-SHA256,
//! under a key kept in the data folder (`cache.key`, owner-only), over the
//! hash of the component it was compiled from and the artifact's bytes. A
//! file whose tag does not match (tampered, or another component's artifact
//! under this one's name) is recompiled from the component, never loaded;
//! and a cache folder that others can write is not used at all.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::data_dir;
use crate::secret::SecretBytes;

/// The first bytes of an artifact file: the format, then the tag.
const MAGIC: &[u8; 8] = b"NOGCWSM1";
/// The key file, in the data folder.
pub(crate) const KEY_FILE: &str = "cache.key";

/// Where compiled artifacts are kept, inside the data folder.
#[derive(Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    /// The key artifacts are authenticated with; `None` when it could not
    /// be had (the cache is then not used).
    key: Option<Arc<SecretBytes>>,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
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
    /// A cache in `dir` (created, owner-only, on first write), its
    /// artifacts authenticated under the key in `data_dir` (created on
    /// first use). Without a key the cache is not used: that costs speed only.
    pub(crate) fn new(dir: PathBuf, data_dir: &Path) -> Self {
        let key_path = data_dir.join(KEY_FILE);
        let key = data_dir::read_or_create(&key_path, data_dir::new_key_text)
            .map_err(|e| e.to_string())
            .and_then(|(text, _)| {
                SecretBytes::decode(&text)
                    .filter(|k| k.expose().len() >= 32)
                    .ok_or_else(|| "it does not hold a 32-byte base64 key".to_string())
            });
        let key = match key {
            Ok(key) => Some(Arc::new(key)),
            Err(e) => {
                tracing::warn!(path = %key_path.display(), "cannot use the compiled-plugin cache's key ({e}); plugins are compiled at every start");
                None
            }
        };
        Self { dir, key }
    }

    /// The key, when the cache may be used now: it has one, and its folder
    /// is not writable by others.
    fn usable(&self) -> Option<&SecretBytes> {
        let key = self.key.as_deref()?;
        match shared_writable(&self.dir) {
            Some(why) => {
                tracing::warn!(dir = %self.dir.display(), "not using the compiled-plugin cache: {why}; run `chmod 700` on it");
                None
            }
            None => Some(key),
        }
    }

    /// The component for `bytes`, from the cache when present, else compiled
    /// and stored. A cache that cannot be written only costs speed.
    pub(crate) fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        content_hash: &str,
    ) -> wasmtime::Result<(Component, bool)> {
        let Some(key) = self.usable() else {
            let artifact = engine.precompile_component(bytes)?;
            return Ok((load_own_artifact(engine, &artifact)?, false));
        };
        let path = self.path_for(engine, content_hash);
        if let Some(component) = cached(engine, key, &path, content_hash) {
            return Ok((component, true));
        }
        // One compilation per artifact at a time in this process: whoever
        // waits finds the artifact on disk when the lock is theirs.
        let lock = compiling(&path);
        let _guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(component) = cached(engine, key, &path, content_hash) {
            return Ok((component, true));
        }
        let artifact = engine.precompile_component(bytes)?;
        if let Err(e) = self.store(&path, &sealed(key, content_hash, &artifact)) {
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

/// Why others could write into `dir` (a symlink, or a folder whose group
/// or others may write), if they could; `None` for a private folder or
/// one not made yet.
fn shared_writable(dir: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    if !meta.is_dir() {
        return Some("it is not a folder (or is a symbolic link)".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            return Some(format!("others can write to it (mode {:o})", mode & 0o777));
        }
    }
    None
}

/// The tag of `artifact`, compiled from the component hashed `content_hash`.
fn tag(key: &SecretBytes, content_hash: &str, artifact: &[u8]) -> Hmac<Sha256> {
    let mut mac = crate::keyed_mac::hmac_sha256(key.expose());
    mac.update(MAGIC);
    mac.update(content_hash.as_bytes());
    mac.update(b"\n");
    mac.update(artifact);
    mac
}

/// The file for `artifact`: the format, its tag, then the artifact.
fn sealed(key: &SecretBytes, content_hash: &str, artifact: &[u8]) -> Vec<u8> {
    let tag = tag(key, content_hash, artifact).finalize().into_bytes();
    [MAGIC.as_slice(), tag.as_slice(), artifact].concat()
}

/// The cached artifact at `path`, when there is one whose tag proves this
/// gateway wrote it for the component hashed `content_hash`.
fn cached(
    engine: &Engine,
    key: &SecretBytes,
    path: &Path,
    content_hash: &str,
) -> Option<Component> {
    let file = std::fs::read(path).ok()?;
    let rest = file.strip_prefix(MAGIC.as_slice())?;
    let (given, artifact) = rest.split_at_checked(32)?;
    if tag(key, content_hash, artifact)
        .verify_slice(given)
        .is_err()
    {
        tracing::warn!(path = %path.display(), "a compiled-plugin cache file does not carry this gateway's tag for its component; recompiling it, not running it");
        return None;
    }
    load_authenticated(engine, artifact).ok()
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

/// Loads an artifact read from the cache.
///
/// `unsafe` because wasmtime runs the native code as it is. The bytes carry
/// this gateway's HMAC over them and the component's hash, checked before
/// this is called, so they are this gateway's own compilation of that
/// component (and wasmtime still checks their header against the engine).
#[allow(unsafe_code)]
fn load_authenticated(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the function's doc comment: the artifact is our own output.
    unsafe { Component::deserialize(engine, artifact) }
}
