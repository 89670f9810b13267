//! Subcommands that work on the token vault: `tokens …`, `keys rotate` and
//! `vault status`.

pub(crate) mod keys;
pub(crate) mod tokens;
pub(crate) mod vault;
