//! The key that signs states: given in the environment, or kept in a file
//! that the gateway creates (owner-only) on first start.

use crate::config::KeySource;
use crate::secret::{Secret, SecretBytes};

/// The fewest key bytes accepted (HMAC-SHA256 wants 32).
const MIN_KEY_BYTES: usize = 32;

/// Why the state key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is not hex or base64, or too short.
    #[error(
        "the state key from {0} must be at least 32 bytes, written as hex digits only (`openssl rand -hex 32`) or as base64 (`openssl rand -base64 32`)"
    )]
    Malformed(String),
    /// The key file could not be read or created.
    #[error("cannot read or create the state key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

/// Loads (or, for a missing file, creates) the state-signing key.
pub fn load_state_key(source: &KeySource) -> Result<SecretBytes, KeyError> {
    match source {
        KeySource::Given(text) => {
            decode(text).ok_or_else(|| KeyError::Malformed("notion.state_key_env".into()))
        }
        KeySource::File(path) => {
            let (text, created) =
                crate::data_dir::read_or_create(path, crate::data_dir::new_key_text).map_err(
                    |e| KeyError::File {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    },
                )?;
            if created {
                tracing::info!(path = %path.display(), "created a new state-signing key");
            }
            decode(&Secret::new(text.trim().to_string()))
                .ok_or_else(|| KeyError::Malformed(path.display().to_string()))
        }
    }
}

fn decode(text: &Secret) -> Option<SecretBytes> {
    SecretBytes::decode(text.expose()).filter(|key| key.expose().len() >= MIN_KEY_BYTES)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn creates_a_private_key_once_and_reads_it_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/state.key");
        let first = load_state_key(&KeySource::File(path.clone())).expect("created");
        let second = load_state_key(&KeySource::File(path.clone())).expect("read");
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must be owner-only");
        }
    }

    #[test]
    fn short_or_garbled_keys_are_refused() {
        assert!(load_state_key(&KeySource::Given(Secret::new("c2hvcnQ="))).is_err());
        assert!(load_state_key(&KeySource::Given(Secret::new("not base64 !!"))).is_err());
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(load_state_key(&KeySource::Given(Secret::new(long))).is_ok());
    }
}
