//! Sealing secrets for storage: AES-256-GCM under a ring of keys, with the
//! row's identity bound in as associated data, so a ciphertext moved to
//! another row, altered, or opened with the wrong keys fails cleanly.
//!
//! Sealed layout: `version(1) key_id(4) nonce(12) ciphertext+tag`. The key
//! id is the first four bytes of SHA-256 over the key, so the config needs no
//! ids and a ciphertext names the key that opens it. The newest key seals;
//! every key in the ring opens (rotation without downtime).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use sha2::{Digest, Sha256};

use crate::secret::SecretBytes;

const VERSION: u8 = 1;
const KEY_ID: usize = 4;
const NONCE: usize = 12;
/// The length of an AES-256 key.
pub const KEY_BYTES: usize = 32;

/// Why a secret could not be sealed or opened. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// A key is not 32 bytes.
    #[error("an encryption key must be 32 bytes (AES-256), got {0}")]
    KeyLength(usize),
    /// The ring has no key.
    #[error("no encryption key is configured")]
    NoKey,
    /// The ciphertext is too short or of an unknown version.
    #[error("the stored value is not a sealed secret of a known version")]
    Malformed,
    /// None of the configured keys is the one that sealed it.
    #[error(
        "the stored value was sealed with key {0}, which is not configured; add it back to the keys"
    )]
    UnknownKey(String),
    /// The key is right but the value was altered or belongs to another row.
    #[error("the stored value failed authentication (altered, or moved from another row)")]
    Tampered,
}

struct Key {
    id: [u8; KEY_ID],
    cipher: Aes256Gcm,
}

/// The keys secrets are sealed with: the first seals, all open.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl KeyRing {
    /// A ring of `keys`, newest first.
    pub fn new(keys: &[SecretBytes]) -> Result<Self, CipherError> {
        if keys.is_empty() {
            return Err(CipherError::NoKey);
        }
        let keys = keys
            .iter()
            .map(|k| {
                let bytes = k.expose();
                if bytes.len() != KEY_BYTES {
                    return Err(CipherError::KeyLength(bytes.len()));
                }
                let cipher = Aes256Gcm::new_from_slice(bytes)
                    .map_err(|_| CipherError::KeyLength(bytes.len()))?;
                let digest = Sha256::digest(bytes);
                let mut id = [0u8; KEY_ID];
                id.copy_from_slice(&digest[..KEY_ID]);
                Ok(Key { id, cipher })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// The ids of the keys, newest first (hex; safe to log).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex::encode(k.id)).collect()
    }

    /// The id of the key a sealed value names (hex), if it is well-formed.
    pub fn sealed_with(sealed: &[u8]) -> Option<String> {
        (sealed.len() > 1 + KEY_ID + NONCE && sealed[0] == VERSION)
            .then(|| hex::encode(&sealed[1..1 + KEY_ID]))
    }

    /// Seals `plaintext` with the newest key, bound to `row` (the row's identity).
    pub fn seal(&self, plaintext: &[u8], row: &[u8]) -> Result<Vec<u8>, CipherError> {
        let key = self.keys.first().ok_or(CipherError::NoKey)?;
        let nonce: [u8; NONCE] = rand::random();
        let sealed = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: row,
                },
            )
            .map_err(|_| CipherError::Malformed)?;
        let mut out = Vec::with_capacity(1 + KEY_ID + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed for `row` with any key of the ring.
    pub fn open(&self, sealed: &[u8], row: &[u8]) -> Result<SecretBytes, CipherError> {
        if sealed.len() < 1 + KEY_ID + NONCE + 16 || sealed[0] != VERSION {
            return Err(CipherError::Malformed);
        }
        let id = &sealed[1..1 + KEY_ID];
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CipherError::UnknownKey(hex::encode(id)))?;
        let nonce = &sealed[1 + KEY_ID..1 + KEY_ID + NONCE];
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &sealed[1 + KEY_ID + NONCE..],
                    aad: row,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| CipherError::Tampered)
    }

    /// Whether `sealed` was sealed with the newest key (rotation is done for it).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        self.keys
            .first()
            .is_some_and(|k| sealed.len() > 1 + KEY_ID && sealed[1..1 + KEY_ID] == k.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretBytes {
        SecretBytes::new(vec![byte; KEY_BYTES])
    }

    #[test]
    fn row12_round_trips_with_a_fresh_nonce_each_time() {
        let ring = KeyRing::new(&[key(1)]).expect("ring");
        let a = ring.seal(b"CANARY_TOKEN_x", b"bot-1").expect("seal");
        let b = ring.seal(b"CANARY_TOKEN_x", b"bot-1").expect("seal");
        assert_ne!(a, b, "the same plaintext seals differently (unique nonce)");
        assert!(!a.windows(6).any(|w| w == b"CANARY"), "no plaintext");
        assert_eq!(
            ring.open(&a, b"bot-1").expect("open").expose(),
            b"CANARY_TOKEN_x"
        );
    }

    #[test]
    fn row12_a_value_moved_to_another_row_or_altered_fails() {
        let ring = KeyRing::new(&[key(1)]).expect("ring");
        let sealed = ring.seal(b"token", b"bot-1").expect("seal");
        assert_eq!(ring.open(&sealed, b"bot-2"), Err(CipherError::Tampered));
        for i in 1 + KEY_ID..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                ring.open(&bad, b"bot-1"),
                Err(CipherError::Tampered),
                "byte {i}"
            );
        }
        assert_eq!(
            ring.open(&sealed[..10], b"bot-1"),
            Err(CipherError::Malformed)
        );
    }

    #[test]
    fn row12_rotation_new_key_seals_old_keys_still_open() {
        let old = KeyRing::new(&[key(1)]).expect("ring");
        let sealed_old = old.seal(b"token", b"row").expect("seal");
        let rotated = KeyRing::new(&[key(2), key(1)]).expect("ring");
        assert_eq!(
            rotated.open(&sealed_old, b"row").expect("open").expose(),
            b"token"
        );
        assert!(!rotated.is_current(&sealed_old));
        let sealed_new = rotated.seal(b"token", b"row").expect("seal");
        assert!(rotated.is_current(&sealed_new));
        assert_eq!(
            KeyRing::sealed_with(&sealed_new),
            Some(rotated.key_ids()[0].clone())
        );
    }

    #[test]
    fn row12_a_wrong_key_is_a_clean_error_never_garbage() {
        let sealed = KeyRing::new(&[key(1)])
            .expect("ring")
            .seal(b"t", b"r")
            .expect("seal");
        let other = KeyRing::new(&[key(3)]).expect("ring");
        assert!(matches!(
            other.open(&sealed, b"r"),
            Err(CipherError::UnknownKey(_))
        ));
        assert_eq!(
            KeyRing::new(&[SecretBytes::new(vec![0; 16])]).map(|_| ()),
            Err(CipherError::KeyLength(16))
        );
        assert_eq!(KeyRing::new(&[]).map(|_| ()), Err(CipherError::NoKey));
        assert!(!format!("{other:?}").contains("3, 3"), "keys never printed");
    }
}
