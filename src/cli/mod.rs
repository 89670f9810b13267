//! Subcommands that work on the token vault: `tokens …` and `keys rotate`.

pub(crate) mod keys;
pub(crate) mod tokens;
