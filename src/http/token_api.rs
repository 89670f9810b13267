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
//! | POST | `{api}/connect-sessions` with `{"app_data": "..."}` | `{"url": "...", "expires_at": n}` |

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::outcome::vault_error;
use super::request_body::{BodyError, RequestBody, read_bounded};
use super::response::{Body, json, json_error};
use super::route::ApiRoute;
use crate::delivery::{Freshness, Keeper};
use crate::oauth::{ConnectSessionError, Flow};
use crate::secret::ApiKey;
use crate::vault::VaultError;

/// The largest request body read (a connect session's JSON).
const MAX_BODY: usize = 8 * 1024;

/// `POST {api}/connect-sessions`' body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConnectSession {
    app_data: String,
}

/// The token API, mounted under its prefix.
pub(crate) struct TokenApi {
    key_digest: [u8; 32],
    keeper: Arc<Keeper>,
}

impl std::fmt::Debug for TokenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenApi").finish_non_exhaustive()
    }
}

impl TokenApi {
    /// The API, accepting `key`; its routes are resolved in [`super::route`].
    pub(crate) fn new(key: &ApiKey, keeper: Arc<Keeper>) -> Self {
        Self {
            key_digest: Sha256::digest(key.expose().as_bytes()).into(),
            keeper,
        }
    }

    fn authorized(&self, req: &Parts) -> bool {
        let given = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        bool::from(digest.ct_eq(&self.key_digest))
    }

    /// Answers one API request, for its resolved `route`.
    pub(super) async fn handle<B: RequestBody>(
        &self,
        req: &Parts,
        body: B,
        route: ApiRoute<'_>,
        flow: &Flow,
        request_id: &str,
    ) -> Response<Body> {
        if !self.authorized(req) {
            let mut r = json_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <the [token_api] key>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        let result = match route {
            ApiRoute::Connections => self
                .keeper
                .store()
                .connections()
                .await
                .map_err(VaultError::from)
                .map(|c| json(StatusCode::OK, &serde_json::json!({ "connections": c }))),
            ApiRoute::Token(bot) => {
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
            ApiRoute::Refresh(bot) => self
                .keeper
                .current_token(bot, Freshness::refreshed_now())
                .await
                .map(|t| json(StatusCode::OK, &t)),
            ApiRoute::Introspect(bot) => self
                .keeper
                .introspect(bot)
                .await
                .map(|i| json(StatusCode::OK, &i)),
            ApiRoute::Revoke(bot) => self
                .keeper
                .revoke(bot)
                .await
                .map(|()| json(StatusCode::OK, &serde_json::json!({ "revoked": true }))),
            ApiRoute::ConnectSessions => {
                return connect_session(body, flow, request_id).await;
            }
            ApiRoute::WrongMethod(method) => {
                let message = format!("use {method}");
                return json_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    &message,
                );
            }
            ApiRoute::NotFound => {
                return json_error(StatusCode::NOT_FOUND, "not_found", "no such API route");
            }
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(request_id, "token API call failed: {e}");
            let (status, code) = vault_error(&e);
            json_error(status, code, &e.to_string())
        })
    }
}

/// `POST {api}/connect-sessions`: opens a session for the body's
/// `app_data` and answers with its start link.
async fn connect_session<B: RequestBody>(body: B, flow: &Flow, request_id: &str) -> Response<Body> {
    let bytes = match read_bounded(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e @ BodyError::TooLarge(_)) => {
            let message = format!("{e}; send {{\"app_data\": \"...\"}}");
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &message);
        }
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    let Ok(new) = serde_json::from_slice::<NewConnectSession>(&bytes) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send a JSON object {\"app_data\": \"...\"} (a string of at most 512 bytes)",
        );
    };
    match flow.open_connect_session(&new.app_data).await {
        Ok(link) => json(StatusCode::OK, &link),
        Err(e) => {
            tracing::warn!(request_id, "connect session refused: {e}");
            let (status, code) = match e {
                ConnectSessionError::BadAppData => (StatusCode::BAD_REQUEST, "bad_request"),
                ConnectSessionError::Passthrough => (StatusCode::CONFLICT, "passthrough_state"),
                ConnectSessionError::NoPublicUrl => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                ConnectSessionError::Store(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
                }
            };
            json_error(status, code, &e.to_string())
        }
    }
}
