//! What a plugin instance may reach beyond its own exports, one capability
//! per file. Each holds its grant (the checked form of its config keys, and
//! the check that makes it), its host side on a small view of the instance's
//! state, and its linking; [`super::host`] only lists them.
//!
//! | capability | WIT | config |
//! |---|---|---|
//! | [`logging`] | `wasi:logging/logging` | `[plugins] log_level`, `log_levels` |
//! | [`config`] | `wasi:config/store` | `[plugins.settings.<name>]` |
//! | [`http`] | `wasi:http/outgoing-handler` | `[plugins.grants.<name>] http_*` |
//! | [`keyvalue`] | `wasi:keyvalue/store`, `atomics` | `[plugins.grants.<name>] keyvalue*` |

pub(crate) mod config;
pub(crate) mod http;
pub(crate) mod keyvalue;
pub(crate) mod logging;
