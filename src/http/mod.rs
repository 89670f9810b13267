//! The HTTP side: the server loop with its limits and timeouts, the routes
//! and their handlers, the security headers every response carries, and the
//! static documents.
//!
//! This is the only module that speaks HTTP. Requests are resolved to a
//! route once ([`route`]), handled in [`app`] and [`token_api`], and every
//! outcome below (a flow's end or error, a vault error, the gateway's own
//! refusals) is answered in one place ([`outcome`]) with the responses built
//! in [`response`].

mod admin;
mod app;
mod client_ip;
mod connection;
mod documents;
mod headers;
mod landing;
mod local_path;
mod outcome;
mod per_ip;
mod probes;
mod rate_limit;
mod request_body;
mod response;
mod result_pages;
mod route;
mod server;
mod tls;
mod token_api;

pub(crate) use admin::Console;
pub(crate) use app::{App, AppParts, Listener};
pub(crate) use documents::{DocumentError, load_documents};
pub(crate) use outcome::{error_info_of, page_changes};
pub(crate) use probes::Draining;
pub(crate) use probes::Probes;
pub use request_body::RequestBody;
pub use response::Body;
pub use route::Surface;
pub(crate) use server::serve;
pub use server::{Handler, PeerAddr};
pub(crate) use tls::TlsServer;
pub(crate) use token_api::TokenApi;
