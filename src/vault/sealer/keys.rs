//! The vault's encryption keys: read from the environment or a key file
//! (one base64 key per line, newest first), or, with none configured,
//! created in the data folder on first start. Rotation puts a new key first.

use std::path::Path;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::cipher::{KEY_BYTES, KeyRing};
use crate::config::VaultKeySource;
use crate::secret::SecretBytes;
use crate::vault::VaultError;

/// Loads the key ring `source` names (creating the generated file if needed).
pub fn load(source: &VaultKeySource) -> Result<KeyRing, VaultError> {
    let (name, keys) = match source {
        VaultKeySource::Env { var, value } => (var.clone(), parse(value.expose(), var)?),
        VaultKeySource::File(path) => (path.display().to_string(), read_file(path)?),
        VaultKeySource::Generated(path) => {
            if !path.exists() {
                write_keys(path, &[fresh_key()])?;
                tracing::warn!(
                    path = %path.display(),
                    "created a token encryption key in the data folder; production should set [store] key_env or key_file and keep the key apart from the database"
                );
            }
            (path.display().to_string(), read_file(path)?)
        }
    };
    KeyRing::new(&keys).map_err(|e| VaultError::Keys {
        source_name: name,
        reason: e.to_string(),
    })
}

/// Adds a fresh key in front of a key file (it becomes the one that seals),
/// creating the file if needed. Returns the new key's id.
pub fn add_key_to_file(path: &Path) -> Result<String, VaultError> {
    let mut keys = if path.exists() {
        read_file(path)?
    } else {
        Vec::new()
    };
    keys.insert(0, fresh_key());
    write_keys(path, &keys)?;
    let ring = KeyRing::new(&keys).map_err(|e| VaultError::Keys {
        source_name: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(ring.key_ids().remove(0))
}

fn fresh_key() -> SecretBytes {
    SecretBytes::new(rand::random::<[u8; KEY_BYTES]>().to_vec())
}

fn read_file(path: &Path) -> Result<Vec<SecretBytes>, VaultError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| VaultError::Keys {
        source_name: path.display().to_string(),
        reason: e.to_string(),
    })?);
    parse(&text, &path.display().to_string())
}

/// One key per line or comma-separated, base64 (or hex); `#` starts a comment.
fn parse(text: &str, source_name: &str) -> Result<Vec<SecretBytes>, VaultError> {
    let mut keys = Vec::new();
    for (i, item) in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        let key = SecretBytes::decode(item).ok_or_else(|| VaultError::Keys {
            source_name: source_name.to_string(),
            reason: format!(
                "key {} is neither hex digits only (`openssl rand -hex 32`) nor base64 (`openssl rand -base64 32`)",
                i + 1
            ),
        })?;
        if key.expose().len() != KEY_BYTES {
            return Err(VaultError::Keys {
                source_name: source_name.to_string(),
                reason: format!(
                    "key {} is {} bytes; each key must be 32 random bytes (`openssl rand -base64 32`)",
                    i + 1,
                    key.expose().len()
                ),
            });
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(VaultError::Keys {
            source_name: source_name.to_string(),
            reason: "it holds no key".into(),
        });
    }
    Ok(keys)
}

/// Writes the keys owner-only and atomically.
fn write_keys(path: &Path, keys: &[SecretBytes]) -> Result<(), VaultError> {
    let mut text = Zeroizing::new(String::from(
        "# notion-oauth-gateway token keys: base64, newest first (the first seals, all open)\n",
    ));
    for key in keys {
        text.push_str(&base64::engine::general_purpose::STANDARD.encode(key.expose()));
        text.push('\n');
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::data_dir::create_private(dir).map_err(|e| VaultError::Keys {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    crate::data_dir::write_atomic(path, text.as_bytes()).map_err(|e| VaultError::Keys {
        source_name: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row12_generated_key_file_is_private_and_rotation_puts_the_new_key_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data/vault.key");
        let ring = load(&VaultKeySource::Generated(path.clone())).expect("created");
        let first = ring.key_ids();
        assert_eq!(first.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must be owner-only");
        }
        let again = load(&VaultKeySource::Generated(path.clone())).expect("read");
        assert_eq!(again.key_ids(), first, "a second start reuses the key");
        let new_id = add_key_to_file(&path).expect("rotate");
        let rotated = load(&VaultKeySource::File(path)).expect("read");
        assert_eq!(rotated.key_ids(), vec![new_id, first[0].clone()]);
    }

    #[test]
    fn bad_keys_are_named_without_their_value() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let err = parse(&short, "K").expect_err("short");
        assert!(err.to_string().contains("key 1 is 16 bytes"), "{err}");
        assert!(!err.to_string().contains(&short));
        assert!(parse("   # only a comment\n", "K").is_err());
        let good = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
        assert_eq!(
            parse(&format!("{good}, {good}"), "K").expect("two").len(),
            2
        );
    }
}
