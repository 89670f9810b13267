//! Every way a flow can fail, and the error kind the view gets. The status
//! and the sentence the user reads are [`crate::http`]'s to decide.

use super::app_data::AppDataRefusal;
use crate::delivery::HandOffError;
use crate::notion::{NotionError, NotionErrorKind};
use crate::plugins::PluginError;
use crate::plugins::contract::ErrorKind;

/// A failed flow. `Display` is the log line's detail (never a secret); the
/// user sees a sentence chosen by its [`FlowError::kind`].
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The request is malformed (missing code, duplicate parameters, ...).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The start's app data is not vouched for by the app.
    #[error("start refused: {0}")]
    AppData(AppDataRefusal),
    /// The callback has no state.
    #[error("the callback has no state")]
    MissingState,
    /// The state is not one this gateway issued.
    #[error("the state is forged, tampered with, or from another integration")]
    InvalidState,
    /// The state expired.
    #[error("the state expired")]
    ExpiredState,
    /// The state was used before.
    #[error("the state was already used (replay)")]
    ReplayedState,
    /// The state belongs to another browser.
    #[error("the state's binding cookie is missing or belongs to another browser")]
    BrowserMismatch,
    /// Too many flows in progress to track another.
    #[error("too many flows in progress to track another; try again shortly")]
    Busy,
    /// Notion failed.
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// The consumer failed.
    #[error("{0}")]
    Consumer(PluginError),
    /// The consumer refused the token for good (it is parked as dead).
    #[error("the consumer did not take the token; it is parked in the outbox")]
    Undelivered,
    /// The token store cannot record an exchange, so Notion was not called
    /// (the code is unused: starting again is safe).
    #[error("the token store is unavailable: {0}")]
    Store(String),
    /// Anything else.
    #[error("internal error: {0}")]
    Internal(String),
}

impl FlowError {
    /// The kind the view is told; how each kind is answered (status and the
    /// sentence the user reads) is decided in [`crate::http`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            FlowError::BadRequest(_) | FlowError::AppData(_) | FlowError::MissingState => {
                ErrorKind::BadRequest
            }
            FlowError::InvalidState => ErrorKind::InvalidState,
            FlowError::ExpiredState => ErrorKind::ExpiredState,
            FlowError::ReplayedState => ErrorKind::ReplayedState,
            FlowError::BrowserMismatch => ErrorKind::BrowserMismatch,
            FlowError::Notion(e) => match e.kind() {
                NotionErrorKind::InvalidGrant => ErrorKind::NotionRejected,
                NotionErrorKind::Timeout => ErrorKind::NotionTimeout,
                NotionErrorKind::Failed => ErrorKind::NotionUnavailable,
            },
            FlowError::Consumer(_) | FlowError::Undelivered => ErrorKind::ConsumerFailed,
            FlowError::Busy | FlowError::Store(_) | FlowError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether the failure is this gateway's being unable to take the flow
    /// right now (too busy, or its store is down), rather than a fault:
    /// trying again shortly can succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, FlowError::Busy | FlowError::Store(_))
    }
}

impl From<super::state::StateError> for FlowError {
    fn from(e: super::state::StateError) -> Self {
        match e {
            super::state::StateError::Invalid => FlowError::InvalidState,
            super::state::StateError::Expired => FlowError::ExpiredState,
            super::state::StateError::WrongBrowser => FlowError::BrowserMismatch,
        }
    }
}

impl From<HandOffError> for FlowError {
    fn from(e: HandOffError) -> Self {
        match e {
            HandOffError::Store(why) => Self::Store(why),
            HandOffError::Replayed => Self::ReplayedState,
            HandOffError::Notion(e) => Self::Notion(e),
            HandOffError::Undelivered => Self::Undelivered,
            HandOffError::Internal(why) => Self::Internal(why),
        }
    }
}
