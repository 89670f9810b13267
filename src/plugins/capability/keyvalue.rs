//! Key-value storage for plugins (`wasi:keyvalue/store` and `atomics`):
//! each plugin reads and writes only its own namespace of the gateway's
//! database, and only when `[plugins.grants.<name>] keyvalue = true`. This
//! file holds the grant, its check, the host side and the linking; the
//! storage itself is [`crate::database::keyvalue`].

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::config::checker::Checker;
use crate::database::Database;
use crate::database::keyvalue::{Bucket, KeyValueError};
use crate::plugins::bindings::keyvalue_store::{Error, KeyResponse};
use crate::plugins::bindings::{keyvalue_atomics, keyvalue_store};

/// `[plugins.grants.<name>]` `keyvalue*`: storage through `wasi:keyvalue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyValueGrant {
    /// The largest value one key may hold.
    pub max_value_bytes: usize,
    /// The most keys the plugin may hold, over all its buckets.
    pub max_keys: u64,
}

/// The `keyvalue*` keys of a plugin's `[plugins.grants.<name>]`, as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyValueKeys {
    /// `keyvalue`
    pub(crate) enabled: Option<bool>,
    /// `keyvalue_max_value_kib`
    pub(crate) max_value_kib: Option<u64>,
    /// `keyvalue_max_keys`
    pub(crate) max_keys: Option<u64>,
}

/// Checks a plugin's `keyvalue*` grant keys (`key` is its grants table);
/// `None` when storage is not granted.
pub(crate) fn check(c: &mut Checker<'_>, key: &str, raw: KeyValueKeys) -> Option<KeyValueGrant> {
    raw.enabled.unwrap_or(false).then(|| {
        let max_value = c.kib(
            &format!("{key}.keyvalue_max_value_kib"),
            raw.max_value_kib,
            64,
            1024,
        );
        let max_keys = raw.max_keys.unwrap_or(10_000);
        if !(1..=10_000_000).contains(&max_keys) {
            c.error(
                &format!("{key}.keyvalue_max_keys"),
                format!("must be between 1 and 10000000, got {max_keys}"),
            );
        }
        KeyValueGrant {
            max_value_bytes: usize::try_from(max_value).unwrap_or(usize::MAX),
            max_keys,
        }
    })
}

/// What one plugin's instances may store, shared by its calls.
#[derive(Debug, Clone)]
pub(crate) struct KeyValueAccess {
    /// The grant and the database, when storage is granted.
    pub(crate) granted: Option<(KeyValueGrant, Database)>,
}

/// The view of an instance's state that the key-value host works on.
pub(crate) struct KeyValueView<'a> {
    /// The instance's resources, where bucket handles live.
    pub(crate) table: &'a mut ResourceTable,
    /// The plugin, whose namespace the buckets are in.
    pub(crate) plugin: &'a str,
    /// What the plugin may store.
    pub(crate) access: &'a KeyValueAccess,
}

/// The key-value capability, for linking.
struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Links `wasi:keyvalue/store` and `atomics` to the view that `view`
/// makes of an instance's state.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    keyvalue_store::add_to_linker::<T, KeyValue>(linker, view)?;
    keyvalue_atomics::add_to_linker::<T, KeyValue>(linker, view)
}

fn guest_error(plugin: &str, e: KeyValueError) -> Error {
    match e {
        KeyValueError::Database(inner) => {
            tracing::error!(plugin, error = %inner, "plugin key-value storage failed");
            Error::Other("the gateway's storage failed; try again later".into())
        }
        other => Error::Other(other.to_string()),
    }
}

impl KeyValueView<'_> {
    fn bucket(&self, handle: &Resource<Bucket>) -> wasmtime::Result<Bucket> {
        Ok(self.table.get(handle)?.clone())
    }

    fn plugin(&self) -> &str {
        self.plugin
    }
}

impl keyvalue_store::Host for KeyValueView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        let Some((grant, db)) = self.access.granted.clone() else {
            return Ok(Err(Error::AccessDenied));
        };
        let bucket = match Bucket::open(
            db,
            self.plugin,
            &identifier,
            grant.max_value_bytes,
            grant.max_keys,
        ) {
            Ok(bucket) => bucket,
            Err(_) => return Ok(Err(Error::NoSuchStore)),
        };
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl keyvalue_store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.get(&key).await.map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.set(&key, &value)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.delete(&key)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.exists(&key)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.list_keys(cursor.unwrap_or(0))
            .await
            .map(|(keys, cursor)| KeyResponse { keys, cursor })
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl keyvalue_atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.increment(&key, delta)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }
}
