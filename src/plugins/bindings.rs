//! Rust bindings generated from the WIT package in `wit/`.

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "wit",
        world: "notion:oauth/plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:keyvalue/store.bucket": crate::database::keyvalue::Bucket,
        },
    });
}

/// The records of the `notion:oauth/types` interface: the contract between the
/// gateway and its plugins.
pub mod contract {
    pub use super::generated::notion::oauth::types::*;
}

/// The consumer interface's export accessors.
pub(crate) use generated::exports::notion::oauth::consumer::{
    Guest as ConsumerExports, GuestIndices as ConsumerIndices,
};
/// The view interface's export accessors.
pub(crate) use generated::exports::notion::oauth::view::{
    Guest as ViewExports, GuestIndices as ViewIndices,
};
/// The host side of `wasi:keyvalue`.
pub(crate) use generated::wasi::keyvalue::{atomics as keyvalue_atomics, store as keyvalue_store};
/// The host side of `wasi:logging`.
pub(crate) use generated::wasi::logging::logging as logging_import;
