//! What can go wrong in the vault. No variant ever carries a token.

use super::sealer::CipherError;
use super::store::StoreError;
use crate::notion::NotionError;

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The database could not be reached or refused a query.
    #[error("the token store failed: {0}")]
    Store(String),
    /// A key could not be loaded, or a stored value could not be opened.
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// The encryption keys could not be read or created.
    #[error("cannot load the vault's encryption keys from {source_name}: {reason}")]
    Keys {
        /// Where they were looked for (a variable's or a file's name).
        source_name: String,
        /// What went wrong.
        reason: String,
    },
    /// A stored value is not what the vault wrote.
    #[error("a stored token for {0} is unreadable; it was written by another version or altered")]
    Corrupt(String),
    /// No connection has this bot id.
    #[error("no connection has bot id {0}")]
    UnknownConnection(String),
    /// The connection was revoked; the user must connect again.
    #[error("the connection {0} was revoked; the user must connect again")]
    Revoked(String),
    /// The connection has no refresh token (an older Notion connection).
    #[error("the connection {0} has no refresh token; the user must connect again to get one")]
    NoRefreshToken(String),
    /// Tokens are not kept (`[store] keep_tokens = false`).
    #[error("tokens are not kept (keep_tokens = false), so there is nothing to refresh or show")]
    NotKept,
    /// Another refresh of this connection held the lease for too long.
    #[error(
        "timed out waiting for another refresh of {0} to finish (its lease was held); try again"
    )]
    LeaseTimeout(String),
    /// Notion refused or failed the call.
    #[error(transparent)]
    Notion(#[from] NotionError),
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}
