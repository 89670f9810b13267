//! Request bodies: what a body must be for the gateway to read it, and the
//! one bounded read. Only the token API's connect sessions read a body; every
//! other route answers without looking at it.

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// A body the gateway can read: hyper's `Incoming`, or any body a caller
/// of [`crate::Gateway::handle`] builds (`Full<Bytes>`, `Empty<Bytes>`).
pub trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static> + Send
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static> + Send
{
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Longer than the route takes.
    #[error("the body is longer than {0} bytes")]
    TooLarge(usize),
    /// The client stopped sending, or sent something broken.
    #[error("the body could not be read")]
    Unreadable,
}

/// The whole of `body`, when it is at most `max` bytes.
pub(crate) async fn read_bounded<B: RequestBody>(body: B, max: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge(max)),
        Err(_) => Err(BodyError::Unreadable),
    }
}
