//! What can go wrong when loading or calling a plugin.

use std::path::PathBuf;
use std::time::Duration;

/// A plugin failure. Messages name the plugin and what happened, never the
/// data passed to it.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin named failed.
    #[error("plugin {plugin}: {failure}")]
    Failed {
        /// The plugin's name.
        plugin: String,
        /// What happened.
        failure: PluginFailure,
    },
    /// The engine could not be set up.
    #[error("plugin engine: {0}")]
    Engine(String),
}

impl PluginError {
    /// `plugin` failed with `failure`.
    pub fn of(plugin: impl Into<String>, failure: PluginFailure) -> Self {
        Self::Failed {
            plugin: plugin.into(),
            failure,
        }
    }

    /// The plugin that failed, unless the engine did.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Self::Failed { plugin, .. } => Some(plugin),
            Self::Engine(_) => None,
        }
    }

    /// What happened, unless the engine failed.
    pub fn failure(&self) -> Option<&PluginFailure> {
        match self {
            Self::Failed { failure, .. } => Some(failure),
            Self::Engine(_) => None,
        }
    }
}

/// What went wrong with one plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginFailure {
    /// The component file is missing or unreadable.
    #[error("cannot read {}: {reason}; build it (`make build`) or fix `plugins.dir`", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not a valid component, or does not fit the role it is used in.
    #[error("{reason}")]
    Invalid {
        /// What is wrong and what to do.
        reason: String,
    },
    /// The call did not finish within the plugin's deadline.
    #[error("stopped after exceeding its deadline of {deadline:?}")]
    Deadline {
        /// Its deadline.
        deadline: Duration,
    },
    /// The plugin trapped (a panic, `unreachable`, out of memory, ...).
    #[error("trapped: {reason}")]
    Trap {
        /// The trap, as wasmtime describes it.
        reason: String,
    },
    /// The consumer returned an error.
    #[error("refused: {message}")]
    Refused {
        /// The consumer's own message (sanitised).
        message: String,
        /// Whether the consumer thinks a retry could work.
        retryable: bool,
    },
    /// The view returned something that is not a valid HTTP response.
    #[error("returned an invalid response: {reason}")]
    BadResponse {
        /// What is wrong with it.
        reason: String,
    },
}
