//! Rust bindings generated from the WIT package in `wit/`.

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "wit",
        world: "notion:oauth/plugin",
        exports: { default: async },
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
/// The host side of `wasi:logging`.
pub(crate) use generated::wasi::logging::logging as logging_import;
