//! # notion-oauth-gateway
//!
//! Runs the OAuth 2 authorization-code flow of a Notion public integration and
//! hands the result to app logic written as WebAssembly components.
//!
//! A request travels one way through the modules: [`http`] accepts it and
//! routes it to [`oauth`], which checks the state, asks [`notion`] to exchange
//! the code, and calls the consumer and view components through [`plugins`].
//! [`standin`] is a local stand-in for Notion's OAuth endpoints, for the demo
//! and the tests; [`trial`] runs one plugin headless (`plugin try`). [`config`] turns the TOML file into a checked [`config::Config`]
//! before anything else starts.
//!
//! Embedding: build a [`Gateway`] from a config and serve it on a listener.

#![deny(unsafe_code)]

mod certificate;
pub mod clock;
pub mod config;
mod data_dir;
pub mod database;
pub mod delivery;
pub mod demo;
pub mod flow_figures;
mod gateway;
mod html;
mod http;
mod keyed_mac;
mod lock;
pub mod log_sink;
pub mod metrics;
pub mod notion;
pub mod oauth;
pub mod plugins;
pub mod scaffold;
pub mod secret;
pub mod standin;
pub mod trial;
pub mod vault;
mod watch;

pub use certificate::TlsError;
pub use gateway::{Gateway, GatewayError};
pub use http::{Body, Handler, PeerAddr, RequestBody, Surface};
