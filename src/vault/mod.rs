//! The token vault: tokens sealed at rest, in a store shared by every
//! instance on one database.
//!
//! Two parts, each knowing nothing of the other's work: the [`store`] (all
//! SQL, one writer with group commit per backend) and the [`sealer`] (the
//! key ring that seals every token to the row that holds it). What is done
//! with tokens (the hand-off, deliveries, refreshes) lives above them in
//! `crate::delivery`: the vault knows no plugins and never calls Notion.

mod error;
pub mod sealer;
pub mod store;

pub use error::VaultError;
pub use sealer::{CipherError, KeyRing, Row, Sealer, keys};
pub use store::{Connection, DeliveryRecord, SealedTable, Store, StoreError};

use crate::config::StoreConfig;

/// The store and the sealer of one process, with the `[store]` settings.
#[derive(Debug)]
pub struct Vault {
    store: Store,
    sealer: Sealer,
    config: StoreConfig,
}

impl Vault {
    /// Loads the keys and opens the database.
    pub async fn open(config: &StoreConfig) -> Result<Self, VaultError> {
        let sealer = Sealer::load(&config.keys)?;
        let store = Store::open(&config.backend).await?;
        Ok(Self {
            store,
            sealer,
            config: config.clone(),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The sealer.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The `[store]` settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The ids of the configured keys, newest first (safe to show).
    pub fn key_ids(&self) -> Vec<String> {
        self.sealer.key_ids()
    }

    /// Every sealed value in the vault, re-sealed with the newest key.
    /// Returns how many were re-sealed (those already current are skipped).
    pub async fn reseal_all(&self) -> Result<u64, VaultError> {
        let ring = self.sealer.ring();
        let mut count = 0;
        for table in [SealedTable::Connection, SealedTable::Outbox] {
            for (key, sealed) in self.store.sealed(table).await? {
                if ring.is_current(&sealed) {
                    continue;
                }
                let aad = match table {
                    SealedTable::Connection => Row::Connection(&key),
                    SealedTable::Outbox => Row::Outbox(&key),
                }
                .aad();
                let plain = ring.open(&sealed, aad.as_bytes())?;
                let resealed = ring.seal(plain.expose(), aad.as_bytes())?;
                if self.store.reseal(table, &key, sealed, resealed).await? {
                    count += 1;
                }
            }
        }
        Ok(count)
    }
}
