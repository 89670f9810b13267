//! The token vault: no token is lost, tokens are sealed at rest, refreshed
//! and revocable.
//!
//! A code exchange is recorded before Notion is called ([`exchange`]); the
//! token Notion returns is sealed and committed to an outbox at once
//! ([`outbox`]), then delivered to the consumer at least once with retries
//! and a dead-letter state ([`delivery`]). In vault mode the current token
//! of each authorization is kept ([`connections`]) and refreshed under a
//! single-flight lock and a store lease ([`refresh`]). [`cipher`] seals with
//! AES-256-GCM under a ring of keys ([`keys`]); [`db`] is SQLite or PostgreSQL.

pub mod cipher;
pub mod connections;
pub mod db;
pub mod delivery;
mod error;
pub mod exchange;
pub mod keys;
pub mod outbox;
pub mod refresh;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

pub use cipher::{CipherError, KeyRing};
pub use connections::Connection;
pub use db::VaultDb;
pub use error::VaultError;
pub use outbox::{Delivery, OutboxRow, StoredState};
pub use refresh::{CurrentToken, Freshness};

use crate::config::{StoreConfig, VaultKeySource};
use crate::metrics::Metrics;
use crate::notion::TokenResponse;
use crate::secret::SecretBytes;

/// The vault of one gateway process (shared; cheap to clone behind an `Arc`).
pub struct Vault {
    db: VaultDb,
    keys: ArcSwap<KeyRing>,
    key_source: VaultKeySource,
    config: StoreConfig,
    metrics: Arc<Metrics>,
    /// This process's name in leases.
    owner: String,
    /// Wakes the delivery worker when a row becomes due.
    wake: Notify,
    /// Per-connection locks, so one process runs one refresh of a token at a time.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Tokens whose outbox commit failed, kept in memory and committed again.
    rescued: Mutex<Vec<outbox::Rescued>>,
    /// How many tokens are held in memory (listed in `rescued` or being committed).
    held: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("backend", &self.config.backend)
            .field("keys", &self.keys.load().key_ids())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the database and loads the keys.
    pub async fn open(config: &StoreConfig, metrics: Arc<Metrics>) -> Result<Self, VaultError> {
        let keys = keys::load(&config.keys)?;
        let db = VaultDb::open(&config.backend).await?;
        Ok(Self {
            db,
            keys: ArcSwap::from_pointee(keys),
            key_source: config.keys.clone(),
            config: config.clone(),
            metrics,
            owner: format!(
                "{}-{}",
                std::process::id(),
                hex::encode(rand::random::<[u8; 6]>())
            ),
            wake: Notify::new(),
            flights: Mutex::new(HashMap::new()),
            rescued: Mutex::new(Vec::new()),
            held: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The `[store]` settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The metrics it counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The database.
    pub fn db(&self) -> &VaultDb {
        &self.db
    }

    /// The ids of the configured keys, newest first (safe to show).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.load().key_ids()
    }

    fn seal_token(&self, token: &TokenResponse, row: &str) -> Result<Vec<u8>, VaultError> {
        Ok(self
            .keys
            .load()
            .seal(&token.to_sealable(), row.as_bytes())?)
    }

    /// Opens a sealed token; on an unknown key, reads the keys again once
    /// (another process may have rotated them).
    fn open_token(&self, sealed: &[u8], row: &str) -> Result<TokenResponse, VaultError> {
        let plain: SecretBytes = match self.keys.load().open(sealed, row.as_bytes()) {
            Err(CipherError::UnknownKey(_)) => {
                self.keys.store(Arc::new(keys::load(&self.key_source)?));
                self.keys.load().open(sealed, row.as_bytes())?
            }
            other => other?,
        };
        TokenResponse::parse(plain.expose()).map_err(|_| VaultError::Corrupt(row.to_string()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The associated data that binds a sealed token to its outbox row.
fn outbox_row(id: &str) -> String {
    format!("outbox/{id}")
}

/// The associated data that binds a sealed token to its connection row.
fn connection_row(bot_id: &str) -> String {
    format!("connection/{bot_id}")
}
