//! The token API for the app (off by default): the current access token of
//! an authorization (refreshed when due or when asked), the list of
//! connections (no secrets), introspection and revocation. Every call needs
//! `Authorization: Bearer <[token_api] key>`; answers are JSON, never cached.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `{api}/connections` | `{"connections": [...]}` |
//! | GET | `{api}/connections/{bot_id}/token` | the current token |
//! | POST | `{api}/connections/{bot_id}/refresh` | a token newer than the call |
//! | GET | `{api}/connections/{bot_id}/introspect` | Notion's `{active, scope, iat}` |
//! | POST | `{api}/connections/{bot_id}/revoke` | `{"revoked": true}` |

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::router::Body;
use crate::delivery::{Freshness, Keeper};
use crate::notion::NotionError;
use crate::secret::Secret;
use crate::vault::VaultError;

/// The token API, mounted under its prefix.
pub struct TokenApi {
    prefix: String,
    key_digest: [u8; 32],
    keeper: Arc<Keeper>,
}

impl std::fmt::Debug for TokenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenApi")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TokenApi {
    /// The API at `prefix`, accepting `key`.
    pub fn new(prefix: String, key: &Secret, keeper: Arc<Keeper>) -> Self {
        Self {
            prefix,
            key_digest: Sha256::digest(key.expose().as_bytes()).into(),
            keeper,
        }
    }

    /// Whether `path` belongs to the API.
    pub fn owns(&self, path: &str) -> bool {
        path == self.prefix || path.starts_with(&format!("{}/", self.prefix))
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        bool::from(digest.ct_eq(&self.key_digest))
    }

    /// Answers one API request.
    pub async fn handle<B>(&self, req: &Request<B>, request_id: &str) -> Response<Body> {
        if !self.authorized(req) {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <the [token_api] key>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        let rest = req.uri().path()[self.prefix.len()..].trim_end_matches('/');
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let method = req.method();
        let result = match (method, parts.as_slice()) {
            (&Method::GET, ["connections"]) => self
                .keeper
                .store()
                .connections()
                .await
                .map_err(VaultError::from)
                .map(|c| json(StatusCode::OK, &serde_json::json!({ "connections": c }))),
            (&Method::GET, ["connections", bot, "token"]) => {
                let want = self
                    .keeper
                    .config()
                    .refresh_after
                    .map_or(Freshness::Stored, Freshness::YoungerThan);
                self.keeper
                    .current_token(bot, want)
                    .await
                    .map(|t| json(StatusCode::OK, &t))
            }
            (&Method::POST, ["connections", bot, "refresh"]) => self
                .keeper
                .current_token(bot, Freshness::refreshed_now())
                .await
                .map(|t| json(StatusCode::OK, &t)),
            (&Method::GET, ["connections", bot, "introspect"]) => self
                .keeper
                .introspect(bot)
                .await
                .map(|i| json(StatusCode::OK, &i)),
            (&Method::POST, ["connections", bot, "revoke"]) => self
                .keeper
                .revoke(bot)
                .await
                .map(|()| json(StatusCode::OK, &serde_json::json!({ "revoked": true }))),
            (_, ["connections"] | ["connections", _, "token" | "introspect"]) => {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "use GET",
                );
            }
            (_, ["connections", _, "refresh" | "revoke"]) => {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "use POST",
                );
            }
            _ => {
                return error(StatusCode::NOT_FOUND, "not_found", "no such API route");
            }
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(request_id, "token API call failed: {e}");
            vault_error(&e)
        })
    }
}

/// Maps a vault error to a status and a stable code.
fn vault_error(e: &VaultError) -> Response<Body> {
    let (status, code) = match e {
        VaultError::UnknownConnection(_) => (StatusCode::NOT_FOUND, "unknown_connection"),
        VaultError::Revoked(_) => (StatusCode::GONE, "revoked"),
        VaultError::NoRefreshToken(_) => (StatusCode::CONFLICT, "no_refresh_token"),
        VaultError::NotKept => (StatusCode::CONFLICT, "tokens_not_kept"),
        VaultError::LeaseTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "lease_timeout"),
        VaultError::Notion(NotionError::Rejected { code, .. }) if code == "invalid_grant" => {
            (StatusCode::CONFLICT, "refresh_rejected")
        }
        VaultError::Notion(NotionError::Timeout(_)) => {
            (StatusCode::GATEWAY_TIMEOUT, "notion_timeout")
        }
        VaultError::Notion(_) => (StatusCode::BAD_GATEWAY, "notion_failed"),
        VaultError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        VaultError::Cipher(_) | VaultError::Keys { .. } | VaultError::Corrupt(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "vault_error")
        }
    };
    error(status, code, &e.to_string())
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(Body::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}
