//! The sealer: every token the vault keeps is sealed with AES-256-GCM under
//! the newest key of a ring ([`cipher`]) read from the configured source
//! ([`keys`]), and bound to the row that holds it, so a sealed value moved to
//! another row does not open. It knows nothing of SQL or of plugins.

pub mod cipher;
pub mod keys;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use cipher::{CipherError, KeyRing};

use super::VaultError;
use crate::config::VaultKeySource;
use crate::notion::TokenResponse;
use crate::secret::SecretBytes;

/// Where a sealed token lives; its name is the associated data of the seal.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// An outbox row, by its idempotency key.
    Outbox(&'a str),
    /// A kept connection, by its bot id.
    Connection(&'a str),
    /// A callback's result page, by the hash of its id.
    ResultPage(&'a str),
}

impl Row<'_> {
    /// The associated data that binds a sealed value to this row.
    pub fn aad(&self) -> String {
        match self {
            Self::Outbox(id) => format!("outbox/{id}"),
            Self::Connection(bot_id) => format!("connection/{bot_id}"),
            Self::ResultPage(id_hash) => format!("result-page/{id_hash}"),
        }
    }
}

/// The key ring of one process, read again when a value sealed under an
/// unknown key turns up (another process rotated the keys).
pub struct Sealer {
    keys: ArcSwap<KeyRing>,
    source: VaultKeySource,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Loads the keys `source` names (creating the generated key file if needed).
    pub fn load(source: &VaultKeySource) -> Result<Self, VaultError> {
        Ok(Self {
            keys: ArcSwap::from_pointee(keys::load(source)?),
            source: source.clone(),
        })
    }

    /// The ids of the keys, newest first (safe to show).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.load().key_ids()
    }

    /// The ring as it is now.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.keys.load_full()
    }

    /// Seals a token for `row`.
    pub fn seal(&self, token: &TokenResponse, row: Row<'_>) -> Result<Vec<u8>, VaultError> {
        self.seal_each(token, [row]).map(|[sealed]| sealed)
    }

    /// Seals one token for each of `rows` (serialized once).
    pub fn seal_each<const N: usize>(
        &self,
        token: &TokenResponse,
        rows: [Row<'_>; N],
    ) -> Result<[Vec<u8>; N], VaultError> {
        let plain = token.to_sealable();
        let ring = self.keys.load();
        let mut sealed: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
        for (out, row) in sealed.iter_mut().zip(rows) {
            *out = ring.seal(&plain, row.aad().as_bytes())?;
        }
        Ok(sealed)
    }

    /// Opens a token sealed for `row`; on an unknown key, reads the keys
    /// again once.
    pub fn open(&self, sealed: &[u8], row: Row<'_>) -> Result<TokenResponse, VaultError> {
        let plain = self.open_bytes(sealed, row)?;
        TokenResponse::parse(plain.expose()).map_err(|_| VaultError::Corrupt(row.aad()))
    }

    /// Seals bytes that are not a token (a result page) for `row`.
    pub fn seal_bytes(&self, plain: &[u8], row: Row<'_>) -> Result<Vec<u8>, VaultError> {
        Ok(self.keys.load().seal(plain, row.aad().as_bytes())?)
    }

    /// Opens bytes sealed for `row`; on an unknown key, reads the keys
    /// again once.
    pub fn open_bytes(&self, sealed: &[u8], row: Row<'_>) -> Result<SecretBytes, VaultError> {
        let aad = row.aad();
        Ok(match self.keys.load().open(sealed, aad.as_bytes()) {
            Err(CipherError::UnknownKey(_)) => {
                self.keys.store(Arc::new(keys::load(&self.source)?));
                self.keys.load().open(sealed, aad.as_bytes())?
            }
            other => other?,
        })
    }
}
