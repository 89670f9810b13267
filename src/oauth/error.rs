//! Every way a flow can fail, with the status, the error kind the view gets,
//! and the sentence the user reads. The mapping lives here, in one place.

use crate::delivery::HandOffError;
use crate::notion::NotionError;
use crate::plugins::PluginError;
use crate::plugins::contract::ErrorKind;

/// A failed flow. `Display` is the log line's detail (never a secret); the
/// user sees [`FlowError::public_message`].
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The request is malformed (missing code, duplicate parameters, ...).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
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
    /// The kind the view is told.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FlowError::BadRequest(_) | FlowError::MissingState => ErrorKind::BadRequest,
            FlowError::InvalidState => ErrorKind::InvalidState,
            FlowError::ExpiredState => ErrorKind::ExpiredState,
            FlowError::ReplayedState => ErrorKind::ReplayedState,
            FlowError::BrowserMismatch => ErrorKind::BrowserMismatch,
            FlowError::Notion(NotionError::Rejected { code, .. }) if code == "invalid_grant" => {
                ErrorKind::NotionRejected
            }
            FlowError::Notion(NotionError::Timeout(_)) => ErrorKind::NotionTimeout,
            FlowError::Notion(_) => ErrorKind::NotionUnavailable,
            FlowError::Consumer(_) | FlowError::Undelivered => ErrorKind::ConsumerFailed,
            FlowError::Busy | FlowError::Store(_) | FlowError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The HTTP status of the error page.
    pub fn status(&self) -> u16 {
        match self.kind() {
            ErrorKind::BadRequest
            | ErrorKind::InvalidState
            | ErrorKind::ExpiredState
            | ErrorKind::ReplayedState
            | ErrorKind::NotionRejected => 400,
            ErrorKind::BrowserMismatch => 403,
            ErrorKind::NotionUnavailable => 502,
            ErrorKind::NotionTimeout => 504,
            ErrorKind::ConsumerFailed | ErrorKind::Internal => match self {
                FlowError::Busy | FlowError::Store(_) => 503,
                _ => 500,
            },
        }
    }

    /// One sentence for the user: what happened and what to do.
    pub fn public_message(&self) -> &'static str {
        match self.kind() {
            ErrorKind::BadRequest => {
                "The link back from Notion is incomplete. Please start connecting Notion again."
            }
            ErrorKind::InvalidState => {
                "This sign-in link is not valid. Please start connecting Notion again."
            }
            ErrorKind::ExpiredState => {
                "This sign-in took too long and expired. Please start connecting Notion again."
            }
            ErrorKind::ReplayedState => {
                "This sign-in link was already used. Please start connecting Notion again."
            }
            ErrorKind::BrowserMismatch => {
                "This sign-in was started in another browser, or your browser blocked its cookie. Please start again in this browser with cookies enabled."
            }
            ErrorKind::NotionRejected => {
                "Notion did not accept the authorization (it may have expired). Please start connecting Notion again."
            }
            ErrorKind::NotionUnavailable => {
                "Notion could not complete the connection right now. Please try again in a moment."
            }
            ErrorKind::NotionTimeout => {
                "Notion took too long to answer. Please try again in a moment."
            }
            ErrorKind::ConsumerFailed => {
                "The connection could not be saved. Please try again in a moment."
            }
            ErrorKind::Internal => {
                "Something went wrong on our side. Please try again in a moment."
            }
        }
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
