//! The OAuth flow itself: the start route's redirect to Notion, and the
//! callback that checks the state, exchanges the code once, and calls the
//! consumer and the view.
//!
//! This module returns plain outcomes ([`Redirect`], [`Page`](crate::plugins::Page));
//! turning them into HTTP responses with security headers is [`crate::http`]'s job.

mod binding;
mod error;
mod fallback;
mod flow;
mod key;
mod params;
mod replay;
mod return_to;
mod state;

pub use binding::BindingCookie;
pub use error::FlowError;
pub use fallback::page as fallback_page;
pub use flow::{CallbackPage, Flow, Redirect};
pub use key::{KeyError, load_state_key};
pub use params::CallbackParams;
pub use replay::ReplayGuard;
pub use return_to::is_local_path;
pub use state::{StateCodec, VerifiedState};
