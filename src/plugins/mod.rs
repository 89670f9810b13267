//! The WebAssembly side of the gateway: the wasmtime engine, loading and
//! checking components, and calling consumer and view plugins in a sandbox.
//!
//! A plugin is a component file `<dir>/<name>.wasm` that exports the
//! `notion:oauth/consumer` interface, the `notion:oauth/view` interface, or
//! both. Each component is compiled once (and cached on disk), checked against
//! the interface it is used as, and pre-linked; every call then gets a fresh,
//! isolated instance with a memory cap and a wall-clock deadline.
//!
//! Plugins import only `wasi:logging` and `wasi:config` (their own settings)
//! beyond a WASI context with no files, no sockets, no environment and no
//! arguments.

mod bindings;
mod cache;
mod call;
mod component;
mod convert;
mod engine;
mod error;
mod host;
mod registry;

pub use bindings::contract;
pub use call::Page;
pub use component::{LoadedPlugin, Role};
pub use convert::{authorization_of, token_info_of};
pub use engine::PluginEngine;
pub use error::PluginError;
pub use registry::{ComponentReport, Plugins, list_components};
