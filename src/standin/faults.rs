//! Faults a test can queue for the stand-in's token endpoint, and the record
//! of what the endpoint received.

use std::time::Duration;

/// What the token endpoint does instead of (or before) answering normally.
/// Each queued fault applies to one token request, in order.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body instead.
    Respond {
        /// HTTP status.
        status: u16,
        /// Body bytes (JSON or not).
        body: Vec<u8>,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
}

impl Fault {
    /// A Notion-shaped OAuth error: `{"object":"error","status":..,"code":..,"message":..}`.
    pub fn notion_error(status: u16, code: &str, message: &str) -> Self {
        Fault::Respond {
            status,
            body: notion_error_body(status, code, message)
                .to_string()
                .into_bytes(),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }

    /// An RFC 6749-shaped error: `{"error": ..}`.
    pub fn rfc_error(status: u16, error: &str) -> Self {
        Fault::Respond {
            status,
            body: serde_json::json!({ "error": error })
                .to_string()
                .into_bytes(),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }

    /// A raw answer (malformed JSON, HTML, ...).
    pub fn raw(status: u16, body: &str) -> Self {
        Fault::Respond {
            status,
            body: body.as_bytes().to_vec(),
            headers: vec![("content-type".into(), "application/json".into())],
        }
    }
}

/// Notion's error envelope, as the token endpoint answers it.
pub(crate) fn notion_error_body(status: u16, code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "object": "error", "status": status, "code": code, "message": message, "additional_data": {}
    })
}

/// One request the token endpoint received, for assertions.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Notion-Version` header.
    pub notion_version: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The request's query string (should be none).
    pub query: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}
