//! The host side of `wasi:keyvalue/store` and `wasi:keyvalue/atomics`: each
//! plugin reads and writes only its own namespace of the gateway's database,
//! and only when `[plugins.grants.<name>] keyvalue = true`.

use wasmtime::component::Resource;

use super::bindings::keyvalue_store::{Error, KeyResponse};
use super::bindings::{keyvalue_atomics, keyvalue_store};
use super::host::PluginState;
use crate::store::keyvalue::{Bucket, KeyValueError};

/// The host's value behind a guest's `bucket` handle.
#[allow(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct BucketHandle(Bucket);

fn guest_error(plugin: &str, e: KeyValueError) -> Error {
    match e {
        KeyValueError::Store(inner) => {
            tracing::error!(plugin, error = %inner, "plugin key-value storage failed");
            Error::Other("the gateway's storage failed; try again later".into())
        }
        other => Error::Other(other.to_string()),
    }
}

impl PluginState {
    fn bucket(&self, handle: &Resource<BucketHandle>) -> wasmtime::Result<Bucket> {
        Ok(self.table.get(handle)?.0.clone())
    }
}

impl keyvalue_store::Host for PluginState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<BucketHandle>, Error>> {
        let context = &self.context;
        let (Some(grant), Some(db)) = (context.grants.keyvalue, context.database.clone()) else {
            return Ok(Err(Error::AccessDenied));
        };
        let bucket = match Bucket::open(
            db,
            &context.name,
            &identifier,
            grant.max_value_bytes,
            grant.max_keys,
        ) {
            Ok(bucket) => bucket,
            Err(_) => return Ok(Err(Error::NoSuchStore)),
        };
        Ok(Ok(self.table.push(BucketHandle(bucket))?))
    }
}

impl keyvalue_store::HostBucket for PluginState {
    async fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.get(&key).await.map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
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
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.delete(&key)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.exists(&key)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<u64>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.list_keys(cursor.unwrap_or(0))
            .await
            .map(|(keys, cursor)| KeyResponse { keys, cursor })
            .map_err(|e| guest_error(self.plugin(), e)))
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl keyvalue_atomics::Host for PluginState {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let b = self.bucket(&bucket)?;
        Ok(b.increment(&key, delta)
            .await
            .map_err(|e| guest_error(self.plugin(), e)))
    }
}
