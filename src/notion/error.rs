//! What can go wrong when calling Notion, and Notion's two error body shapes.

use serde::Deserialize;

/// An OAuth error body. Notion's reference documents
/// `{"object":"error","status":400,"code":"invalid_grant","message":"..."}`,
/// its guide and integrators' logs show RFC 6749's `{"error":"invalid_client"}`:
/// both are read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct OAuthErrorBody {
    /// Notion's envelope code (`invalid_grant`, ...).
    #[serde(default)]
    pub code: Option<String>,
    /// RFC 6749 error code.
    #[serde(default)]
    pub error: Option<String>,
    /// Notion's human message.
    #[serde(default)]
    pub message: Option<String>,
    /// RFC 6749 error description.
    #[serde(default)]
    pub error_description: Option<String>,
}

impl OAuthErrorBody {
    /// Parses an error body; `None` when it is neither shape.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let parsed: Self = serde_json::from_slice(body).ok()?;
        (parsed.code.is_some() || parsed.error.is_some()).then_some(parsed)
    }

    /// The error code, from whichever shape carried it.
    pub fn code(&self) -> &str {
        self.code
            .as_deref()
            .or(self.error.as_deref())
            .unwrap_or("unknown")
    }
}

/// A failed call to Notion. Messages never contain a secret or a response body.
#[derive(Debug, thiserror::Error)]
pub enum NotionError {
    /// Notion answered 4xx with an OAuth error such as `invalid_grant`.
    #[error("Notion refused the request: HTTP {status}, error `{code}`")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The OAuth error code (sanitised: letters, digits, `_` only).
        code: String,
    },
    /// Notion answered 5xx, an unexpected status, or a body that could not be read.
    #[error("Notion failed: {0}")]
    Unavailable(String),
    /// Notion answered 200 with a body that is not a readable token: a
    /// token may exist that the gateway cannot see.
    #[error("Notion failed: {0}")]
    Unreadable(String),
    /// The connection broke after the request was sent (so Notion may have
    /// acted on it).
    #[error("Notion failed: {0}")]
    Interrupted(String),
    /// Notion (or the network) did not answer in time.
    #[error("Notion did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The request could not be sent (connection refused, TLS failure, DNS).
    #[error("could not reach Notion: {0}")]
    Connect(String),
    /// The HTTP client could not be built (a bad extra CA file, say).
    #[error("cannot set up the Notion client: {0}")]
    Setup(String),
}

/// What a failed call to Notion means for its caller, so that each layer
/// above matches Notion's codes through this and never by string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotionErrorKind {
    /// Notion refused the grant (`invalid_grant`): the code or refresh token
    /// is spent, expired or revoked; asking again with it cannot succeed.
    InvalidGrant,
    /// Notion did not answer in time.
    Timeout,
    /// Any other failure: Notion refused for another reason, failed, or
    /// could not be reached.
    Failed,
}

impl NotionError {
    /// What this failure means (see [`NotionErrorKind`]).
    pub fn kind(&self) -> NotionErrorKind {
        match self {
            Self::Rejected { code, .. } if code == "invalid_grant" => NotionErrorKind::InvalidGrant,
            Self::Timeout(_) => NotionErrorKind::Timeout,
            _ => NotionErrorKind::Failed,
        }
    }

    /// Whether Notion may have issued a token the gateway never received:
    /// the request was sent, and no answer that rules it out came back.
    /// A code exchange that fails this way is counted as possibly lost.
    pub fn token_may_exist(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::Unreadable(_) | Self::Interrupted(_)
        )
    }
}

/// Keeps an error code printable and short: codes are attacker-influenced when
/// a hostile server sits at the configured URL.
pub(crate) fn sanitize_code(code: &str) -> String {
    let clean: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_notion_envelope_and_rfc6749_shapes() {
        let notion = br#"{"object":"error","status":400,"code":"invalid_grant","message":"Invalid code: this code has been revoked.","additional_data":{}}"#;
        assert_eq!(
            OAuthErrorBody::parse(notion).map(|b| b.code().to_string()),
            Some("invalid_grant".into())
        );
        let rfc = br#"{"error":"invalid_client","error_description":"bad"}"#;
        assert_eq!(
            OAuthErrorBody::parse(rfc).map(|b| b.code().to_string()),
            Some("invalid_client".into())
        );
        assert_eq!(OAuthErrorBody::parse(b"{}"), None);
        assert_eq!(OAuthErrorBody::parse(b"<html>"), None);
    }

    #[test]
    fn codes_are_sanitised() {
        assert_eq!(sanitize_code("invalid_grant"), "invalid_grant");
        assert_eq!(sanitize_code("<script>x"), "scriptx");
        assert_eq!(sanitize_code(""), "unknown");
    }
}
