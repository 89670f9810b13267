//! The stand-in's HTTP service.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::StandInConfig;
use super::faults::{Fault, RecordedRequest, notion_error_body};
use super::pages;
use super::tokens::Tokens;
use crate::config::ServerConfig;
use crate::http::{Body, Handler, serve};
use crate::lock::lock;

/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;
/// How many token requests are kept for inspection.
const KEEP_REQUESTS: usize = 256;

/// The stand-in for Notion's OAuth endpoints.
pub struct StandIn {
    config: StandInConfig,
    tokens: Mutex<Tokens>,
    faults: Mutex<VecDeque<Fault>>,
    token_requests: AtomicUsize,
    refresh_requests: AtomicUsize,
    recorded: Mutex<VecDeque<RecordedRequest>>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn")
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
}

impl StandIn {
    /// A stand-in accepting the client in `config`.
    pub fn new(config: StandInConfig) -> Self {
        Self {
            tokens: Mutex::new(Tokens::new(config.canaries, config.any_code)),
            config,
            faults: Mutex::new(VecDeque::new()),
            token_requests: AtomicUsize::new(0),
            refresh_requests: AtomicUsize::new(0),
            recorded: Mutex::new(VecDeque::new()),
        }
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.serve_with(listener, None, shutdown).await
    }

    /// Serves until `shutdown` completes, over HTTPS when `tls` is given.
    pub async fn serve_with(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<&crate::http::TlsServer>,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let addr = listener
            .local_addr()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        // Like Notion's API, it serves one client (the gateway) on many
        // connections, and keeps idle ones longer than the gateway's pool does.
        let mut config = ServerConfig::defaults(addr);
        config.connections.per_ip = 0;
        config.connections.idle_timeout = std::time::Duration::from_secs(120);
        serve(listener, self, &config, tls, shutdown).await
    }

    /// Queues a fault for the next token request that has none.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.faults).push_back(fault);
    }

    /// How many token requests arrived (faulted ones included).
    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// How many of them were refresh grants.
    pub fn refresh_requests(&self) -> usize {
        self.refresh_requests.load(Ordering::SeqCst)
    }

    /// The bot id of every token issued for a code from [`StandIn::approve`]
    /// or the consent page, oldest first: each code gets a bot of its own,
    /// as each Notion workspace does.
    pub fn issued_bot_ids(&self) -> Vec<String> {
        lock(&self.tokens).issued_bots().to_vec()
    }

    /// The token requests received, oldest first (the last 256).
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.recorded).iter().cloned().collect()
    }

    /// Approves an authorization without a browser: the redirect URL the
    /// consent page's "Allow" would send the browser to. For tests and the benchmark.
    pub fn approve(&self, redirect_uri: &str, state: Option<&str>) -> Option<String> {
        self.config
            .redirect_uris
            .iter()
            .any(|u| u == redirect_uri)
            .then(|| {
                let code = lock(&self.tokens).issue_code(redirect_uri);
                back_to(redirect_uri, &[("code", Some(&code)), ("state", state)])
            })
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/v1/oauth/authorize") => {
                let query = req.uri().query().unwrap_or("").to_string();
                self.authorize(&query, false)
            }
            (Method::POST, "/v1/oauth/authorize") => match read_body(req).await {
                Ok(body) => self.authorize(&String::from_utf8_lossy(&body), true),
                Err(r) => r,
            },
            (Method::POST, "/v1/oauth/token") => self.token(req).await,
            (Method::POST, "/v1/oauth/revoke") => self.token_call(req, true).await,
            (Method::POST, "/v1/oauth/introspect") => self.token_call(req, false).await,
            (Method::GET, "/") => html(StatusCode::OK, pages::index()),
            _ => json(
                StatusCode::NOT_FOUND,
                &notion_error_body(404, "object_not_found", "No such endpoint on the stand-in."),
            ),
        }
    }

    /// The consent page (GET) and the decision (POST).
    fn authorize(&self, form: &str, decided: bool) -> Response<Body> {
        let mut client_id = None;
        let mut redirect_uri = None;
        let mut state = None;
        let mut decision = None;
        let mut response_type = None;
        let mut owner = None;
        for (k, v) in url::form_urlencoded::parse(form.as_bytes()) {
            let v = v.into_owned();
            match &*k {
                "client_id" => client_id = Some(v),
                "redirect_uri" => redirect_uri = Some(v),
                "state" => state = Some(v),
                "decision" => decision = Some(v),
                "response_type" => response_type = Some(v),
                "owner" => owner = Some(v),
                _ => {}
            }
        }
        let Some(redirect_uri) = redirect_uri.filter(|u| self.config.redirect_uris.contains(u))
        else {
            return html(
                StatusCode::BAD_REQUEST,
                pages::authorize_error("Missing or invalid redirect_uri."),
            );
        };
        if client_id.as_deref() != Some(self.config.client_id.as_str()) {
            return html(
                StatusCode::BAD_REQUEST,
                pages::authorize_error("Missing or invalid client_id."),
            );
        }
        if !decided {
            if response_type.as_deref() != Some("code") || owner.as_deref() != Some("user") {
                return html(
                    StatusCode::BAD_REQUEST,
                    pages::authorize_error("response_type must be code and owner must be user."),
                );
            }
            return html(
                StatusCode::OK,
                pages::consent(&self.config.client_id, &redirect_uri, state.as_deref()),
            );
        }
        let location = match decision.as_deref() {
            Some("allow") => {
                let code = lock(&self.tokens).issue_code(&redirect_uri);
                back_to(
                    &redirect_uri,
                    &[("code", Some(&code)), ("state", state.as_deref())],
                )
            }
            _ => back_to(
                &redirect_uri,
                &[
                    ("error", Some("access_denied")),
                    ("state", Some(state.as_deref().unwrap_or(""))),
                ],
            ),
        };
        let mut r = Response::new(Body::default());
        *r.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }

    /// `POST /v1/oauth/token`
    async fn token(&self, req: Request<Incoming>) -> Response<Body> {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let header_text = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut record = RecordedRequest {
            authorization: header_text("authorization"),
            notion_version: header_text("notion-version"),
            content_type: header_text("content-type"),
            query: req.uri().query().map(str::to_string),
            body: Vec::new(),
        };
        let body = match read_body(req).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        record.body = body.to_vec();
        {
            let mut recorded = lock(&self.recorded);
            if recorded.len() == KEEP_REQUESTS {
                recorded.pop_front();
            }
            recorded.push_back(record.clone());
        }
        let fault = lock(&self.faults).pop_front();
        match fault {
            Some(Fault::Respond {
                status,
                body,
                headers,
            }) => {
                let mut r = Response::new(Body::new(Bytes::from(body)));
                *r.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        header::HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(&v),
                    ) {
                        r.headers_mut().insert(k, v);
                    }
                }
                return r;
            }
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        if let Some(refused) = self.refusal(
            record.authorization.as_deref(),
            record.notion_version.is_some(),
        ) {
            return refused;
        }
        let Ok(grant) = serde_json::from_slice::<TokenRequest>(&body) else {
            return json(
                StatusCode::BAD_REQUEST,
                &notion_error_body(400, "invalid_request", "The body must be JSON."),
            );
        };
        if grant.grant_type.as_deref() == Some("refresh_token") {
            self.refresh_requests.fetch_add(1, Ordering::SeqCst);
        }
        let outcome = match grant.grant_type.as_deref() {
            Some("authorization_code") => match grant.code.as_deref() {
                Some(code) => lock(&self.tokens).redeem_code(code, grant.redirect_uri.as_deref()),
                None => Err(("invalid_request", "code is required.")),
            },
            Some("refresh_token") => match grant.refresh_token.as_deref() {
                Some(token) => lock(&self.tokens).refresh(token),
                None => Err(("invalid_request", "refresh_token is required.")),
            },
            _ => Err(("unsupported_grant_type", "Unsupported grant_type.")),
        };
        match outcome {
            Ok(token) => json(StatusCode::OK, &token),
            Err((code, message)) => json(
                StatusCode::BAD_REQUEST,
                &notion_error_body(400, code, message),
            ),
        }
    }

    /// `POST /v1/oauth/revoke` (`revoke`) or `/v1/oauth/introspect`, with
    /// `{"token": …}`: Basic auth and `Notion-Version` as for the token endpoint.
    async fn token_call(&self, req: Request<Incoming>, revoke: bool) -> Response<Body> {
        let refused = self.refusal(
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
            req.headers().contains_key("notion-version"),
        );
        let body = match read_body(req).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if let Some(refused) = refused {
            return refused;
        }
        #[derive(Deserialize)]
        struct TokenBody {
            token: String,
        }
        let Ok(call) = serde_json::from_slice::<TokenBody>(&body) else {
            return json(
                StatusCode::BAD_REQUEST,
                &notion_error_body(400, "invalid_request", "body.token should be a string."),
            );
        };
        let mut tokens = lock(&self.tokens);
        if revoke {
            tokens.revoke(&call.token);
            json(
                StatusCode::OK,
                &serde_json::json!({ "request_id": super::tokens::uuid() }),
            )
        } else {
            let active = tokens.active(&call.token);
            json(
                StatusCode::OK,
                &serde_json::json!({ "active": active, "request_id": super::tokens::uuid() }),
            )
        }
    }

    /// What every OAuth endpoint checks first: the client's Basic
    /// credentials (401 `invalid_client`) and the `Notion-Version` header
    /// (400 `missing_version`). Returns the refusal, if any.
    fn refusal(&self, authorization: Option<&str>, versioned: bool) -> Option<Response<Body>> {
        if !self.client_authenticated(authorization) {
            return Some(json(
                StatusCode::UNAUTHORIZED,
                &notion_error_body(401, "invalid_client", "Invalid client credentials."),
            ));
        }
        if !versioned {
            return Some(json(
                StatusCode::BAD_REQUEST,
                &notion_error_body(
                    400,
                    "missing_version",
                    "Notion-Version header failed validation.",
                ),
            ));
        }
        None
    }

    /// Checks `Basic base64(urlenc(id):urlenc(secret))` (RFC 6749 §2.3.1).
    fn client_authenticated(&self, authorization: Option<&str>) -> bool {
        let Some(encoded) = authorization.and_then(|a| a.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(pair) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((id, secret)) = pair.split_once(':') else {
            return false;
        };
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        dec(id) == self.config.client_id && dec(secret) == self.config.client_secret.expose()
    }
}

impl Handler for StandIn {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let mut r = self.route(req).await;
        r.headers_mut().insert(
            "x-stand-in",
            HeaderValue::from_static("notion-oauth-gateway stand-in; not Notion"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// `redirect_uri` with the given query parameters appended.
fn back_to(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{}", query.finish())
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &notion_error_body(413, "invalid_request", "Body too large."),
        )),
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(page)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
