//! Leases in the store: a connection's lease lets one instance at a time
//! refresh or revoke its token; a delivery's lease lets one instance at a
//! time attempt it. A lease is renewed while the work it covers runs, so
//! slow work keeps it, and what the work records at its end is fenced by
//! the lease's owner.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::keeper::Keeper;
use crate::lock::lock;
use crate::vault::{StoreError, VaultError};

/// A held lease on one connection; give it back with [`Keeper::release_lease`].
#[derive(Debug)]
pub(crate) struct Lease {
    bot_id: String,
}

/// A connection held exclusively: its lock in this process and its lease
/// in the store. End it with [`Keeper::end`].
pub(crate) struct Exclusive {
    here: OwnedMutexGuard<()>,
    flight: Arc<Mutex<()>>,
    lease: Lease,
}

impl Exclusive {
    /// The store lease.
    pub(crate) fn lease(&self) -> &Lease {
        &self.lease
    }
}

/// Awaits `work`, calling `renew` every `period` meanwhile; a renewal that
/// fails is logged as `what`.
pub(crate) async fn renewing<T, R>(
    period: Duration,
    what: &str,
    work: impl Future<Output = T>,
    renew: impl Fn() -> R,
) -> T
where
    R: Future<Output = Result<bool, StoreError>>,
{
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            () = tokio::time::sleep(period) => {
                if !renew().await.unwrap_or(false) {
                    tracing::warn!("{what}: its lease could not be renewed (the store may be away, or another instance took it)");
                }
            }
        }
    }
}

impl Keeper {
    /// Takes the connection's lease, waiting up to `wait` for another holder.
    pub(crate) async fn acquire_lease(
        &self,
        bot_id: &str,
        wait: Duration,
    ) -> Result<Lease, VaultError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(20);
        loop {
            let lease = self.config().lease;
            if self
                .store()
                .acquire_lease(bot_id, self.owner(), lease)
                .await?
            {
                return Ok(Lease {
                    bot_id: bot_id.to_string(),
                });
            }
            // Tell "no such connection" from "held by someone else".
            if self.store().connection(bot_id).await?.is_none() {
                return Err(VaultError::UnknownConnection(bot_id.to_string()));
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(VaultError::LeaseTimeout(bot_id.to_string()));
            }
            let jitter = Duration::from_millis(rand::random_range(0..20));
            tokio::time::sleep(pause + jitter).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Awaits `call` while renewing the connection's `lease`.
    pub(crate) async fn renewing_lease<T>(
        &self,
        lease: &Lease,
        call: impl Future<Output = Result<T, crate::notion::NotionError>>,
    ) -> Result<T, VaultError> {
        let term = self.config().lease;
        let renew = || self.store().renew_lease(&lease.bot_id, self.owner(), term);
        Ok(renewing(term / 3, "a refresh", call, renew).await?)
    }

    /// Gives a lease back.
    pub(crate) async fn release_lease(&self, lease: Lease) {
        if let Err(e) = self
            .store()
            .release_lease(&lease.bot_id, self.owner())
            .await
        {
            tracing::warn!(bot_id = %lease.bot_id, "cannot release a lease (it expires by itself): {e}");
        }
    }

    /// Holds a connection exclusively: one refresh or revoke of it at a
    /// time in this process (a lock) and across instances (the lease).
    pub(crate) async fn exclusive(&self, bot_id: &str) -> Result<Exclusive, VaultError> {
        let flight = lock(&self.flights)
            .entry(bot_id.to_string())
            .or_default()
            .clone();
        let here = flight.clone().lock_owned().await;
        match self.take_lease(bot_id).await {
            Ok(lease) => Ok(Exclusive {
                here,
                flight,
                lease,
            }),
            Err(e) => {
                drop(here);
                self.land(bot_id, flight);
                Err(e)
            }
        }
    }

    /// Gives back what [`Keeper::exclusive`] took.
    pub(crate) async fn end(&self, held: Exclusive) {
        let Exclusive {
            here,
            flight,
            lease,
        } = held;
        let bot_id = lease.bot_id.clone();
        self.release_lease(lease).await;
        drop(here);
        self.land(&bot_id, flight);
    }

    /// Drops the connection's lock from the map once nobody waits on it.
    fn land(&self, bot_id: &str, flight: Arc<Mutex<()>>) {
        let mut flights = lock(&self.flights);
        drop(flight);
        if flights
            .get(bot_id)
            .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            flights.remove(bot_id);
        }
    }

    /// Takes the connection's store lease for a refresh or a revoke,
    /// waiting long enough for another holder's whole call to Notion.
    pub(crate) async fn take_lease(&self, bot_id: &str) -> Result<Lease, VaultError> {
        let wait = self.notion().timeout() * 2 + self.config().lease;
        self.acquire_lease(bot_id, wait).await.inspect_err(|e| {
            if matches!(e, VaultError::LeaseTimeout(_)) {
                self.metrics().refresh("lease_timeout");
            }
        })
    }
}
