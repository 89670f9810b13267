//! The OAuth flow itself: the start route's redirect to Notion, and the
//! callback that checks the state, exchanges the code once, and calls the
//! consumer and the view.
//!
//! This module returns plain outcomes ([`Redirect`], [`Callback`], [`Shown`]):
//! choosing statuses, the gateway's own pages and responses with security
//! headers is [`crate::http`]'s job.

pub mod app_data;
mod binding;
mod error;
mod flow;
mod key;
mod params;
mod replay;
mod state;

pub use app_data::AppDataRefusal;
pub use binding::BindingCookie;
pub use error::FlowError;
pub use flow::{Callback, ConnectLink, ConnectSessionError, Flow, Outcome, Redirect, Shown};
pub use key::{KeyError, load_state_key};
pub use params::CallbackParams;
pub use replay::ReplayGuard;
pub use state::{StateCodec, VerifiedState};
