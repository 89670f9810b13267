//! The HTTP side: the server loop with its limits and timeouts, the router,
//! the security headers every response carries, and the static documents.
//!
//! This is the only module that knows hyper; it maps the flow's outcomes to
//! responses in one place ([`router`]).

mod client_ip;
mod documents;
mod headers;
mod landing;
mod rate_limit;
mod result_pages;
mod router;
mod server;
mod tls;
mod token_api;

pub use documents::{Document, DocumentError, load_documents};
pub use router::{App, Body};
pub use server::{Handler, PeerAddr, serve};
pub use tls::{TlsError, TlsServer, load_certified_key};
pub use token_api::TokenApi;
