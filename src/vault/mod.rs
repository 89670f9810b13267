//! The token vault (issue 5, in progress): how tokens are kept at rest.
//!
//! [`cipher`] seals tokens with AES-256-GCM under a ring of keys, each value
//! bound to its row. The store, the delivery outbox and refresh build on it.

pub mod cipher;

pub use cipher::{CipherError, KeyRing};
