//! What can go wrong when loading or calling a plugin.

use std::path::PathBuf;
use std::time::Duration;

/// A plugin failure. Messages name the plugin and what happened, never the
/// data passed to it.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The component file is missing or unreadable.
    #[error("plugin {name}: cannot read {}: {reason}; build it (`make build`) or fix `plugins.dir`", path.display())]
    Missing {
        /// The plugin's name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not a valid component, or does not fit the role it is used in.
    #[error("plugin {name}: {reason}")]
    Invalid {
        /// The plugin's name.
        name: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The call did not finish within the plugin's deadline.
    #[error("plugin {name}: stopped after exceeding its deadline of {deadline:?}")]
    Deadline {
        /// The plugin's name.
        name: String,
        /// Its deadline.
        deadline: Duration,
    },
    /// The plugin trapped (a panic, `unreachable`, out of memory, ...).
    #[error("plugin {name}: trapped: {reason}")]
    Trap {
        /// The plugin's name.
        name: String,
        /// The trap, as wasmtime describes it.
        reason: String,
    },
    /// The consumer returned an error.
    #[error("plugin {name}: refused: {message}")]
    Refused {
        /// The plugin's name.
        name: String,
        /// The consumer's own message (sanitised).
        message: String,
        /// Whether the consumer thinks a retry could work.
        retryable: bool,
    },
    /// The view returned something that is not a valid HTTP response.
    #[error("plugin {name}: returned an invalid response: {reason}")]
    BadResponse {
        /// The plugin's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The engine could not be set up.
    #[error("plugin engine: {0}")]
    Engine(String),
}
