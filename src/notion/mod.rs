//! The client for Notion's OAuth endpoints and the shapes of what they answer.
//!
//! This module knows HTTP and JSON; it knows nothing of browsers, state or
//! plugins. Every call has a connect and a total timeout, follows no
//! redirect (a 307 would resend the code), and reads a bounded body.

mod client;
mod error;
mod token;

pub use client::{Introspection, NotionClient};
pub use error::{NotionError, NotionErrorKind, OAuthErrorBody};
pub use token::{Owner, TokenResponse, User};
