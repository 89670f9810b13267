//! The WebAssembly side of the gateway: the wasmtime engine, loading and
//! checking components, calling consumer and view plugins in a sandbox, the
//! capabilities a plugin can be granted, and reloading changed builds.
//!
//! A plugin is a component file `<dir>/<name>.wasm` that exports the
//! `notion:oauth/consumer` interface, the `notion:oauth/view` interface, or
//! both. Each component is compiled once (and cached on disk), checked against
//! the interface it is used as, and pre-linked; every call then gets a fresh,
//! isolated instance with a memory cap and a wall-clock deadline.
//!
//! Plugins import `wasi:logging` and `wasi:config` (their own settings), and
//! may use `wasi:http` (outgoing, to allow-listed hosts) and `wasi:keyvalue`
//! (their own namespace) when the config grants them; the WASI context has no
//! files, no sockets, no environment and no arguments.

mod bindings;
mod cache;
mod call;
pub(crate) mod capability;
mod component;
mod convert;
mod engine;
mod error;
mod host;
mod limiter;
mod manifest;
mod needs;
mod recent_lines;
mod registry;
mod watch;

pub use bindings::contract;
pub use call::Page;
pub use component::{LoadedPlugin, Role};
pub use convert::{authorization_of, token_info_of};
pub use engine::PluginEngine;
pub use error::{PluginError, PluginFailure};
pub use manifest::{DemoValue, Manifest, ManifestError, SettingSpec};
pub use needs::Finding;
pub use recent_lines::{KEPT_LINES, LogLine, RecentLines};
pub(crate) use registry::Loader;
pub use registry::{
    ComponentReport, Plugins, ReloadOutcome, ReloadRecord, SwapOutcome, list_components,
};
pub use watch::{PluginWatcher, watch};
