//! Routes a request to the flow, a document, the health check or the landing
//! page, and turns every outcome into a response with the security headers.
//! The mapping from outcomes to HTTP happens here and nowhere else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

use super::client_ip::client_ip;
use super::documents::Document;
use super::headers::{secure, view_may_set};
use super::landing;
use super::rate_limit::{Limits, retry_after_secs};
use super::result_pages::ResultPages;
use super::server::PeerAddr;
use super::token_api::TokenApi;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::{Flow, fallback_page};
use crate::plugins::Page;

/// The response body type.
pub type Body = Full<Bytes>;

/// The gateway's request handler, shared by every connection.
pub struct App {
    config: Arc<Config>,
    flow: Flow,
    documents: HashMap<String, Document>,
    landing: Option<Bytes>,
    limits: Limits,
    results: ResultPages,
    /// `{redirect}/`: where a callback's page is fetched from.
    result_prefix: String,
    /// Whether browsers reach the gateway over https (served here or by a
    /// TLS proxy in front), so `Strict-Transport-Security` applies.
    hsts: bool,
    /// The token API, when `[token_api]` is on.
    token_api: Option<TokenApi>,
    /// The counters served at the metrics route.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.config.routes)
            .finish_non_exhaustive()
    }
}

/// A fresh id for a request, for logs, pages and the `x-request-id` header.
fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

impl App {
    /// The handler for `config`'s routes.
    pub fn new(
        config: Arc<Config>,
        flow: Flow,
        documents: Vec<Document>,
        token_api: Option<TokenApi>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let landing = config
            .server
            .landing_page
            .then(|| Bytes::from(landing::render(&config)));
        let hsts = config.server.tls.is_some() || config.notion.redirect_uri.starts_with("https:");
        Self {
            limits: Limits::new(&config.server.rate_limit),
            results: ResultPages::default(),
            result_prefix: format!("{}/", config.routes.redirect),
            hsts,
            documents: documents
                .into_iter()
                .map(|d| (d.route.clone(), d))
                .collect(),
            landing,
            flow,
            token_api,
            metrics,
            config,
        }
    }

    /// Answers one request; never fails, never reads the request body.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body> {
        let request_id = new_request_id();
        let started = Instant::now();
        let routed = tokio::time::timeout(
            self.config.server.request_timeout,
            self.route(&req, &request_id),
        )
        .await;
        let (mut response, no_store) = routed.unwrap_or_else(|_| {
            tracing::warn!(
                request_id,
                "request took longer than server.request_timeout_ms"
            );
            let page = fallback_page(
                503,
                "Please try again",
                "The request took too long. Please try again in a moment.",
            );
            (page_response(page), true)
        });
        secure(response.headers_mut(), &request_id, no_store, self.hsts);
        // The path only: query strings carry codes and states.
        tracing::info!(
            target: "access",
            request_id,
            method = %req.method(),
            path = %req.uri().path(),
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
        );
        response
    }

    /// Picks the handler; returns the response and whether it must not be cached.
    async fn route<B>(&self, req: &Request<B>, request_id: &str) -> (Response<Body>, bool) {
        let routes = &self.config.routes;
        let path = req.uri().path();
        if let Some(api) = self.token_api.as_ref().filter(|a| a.owns(path)) {
            return (api.handle(req, request_id).await, true);
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: use GET\n",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return (r, true);
        }
        if path == routes.start || path == routes.redirect {
            let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
            let client = client_ip(req.headers(), peer, &self.config.server.trusted_proxies);
            if let Err(wait) = self.limits.check(client) {
                tracing::debug!(request_id, client = ?client, "rate limited");
                let mut r = page_response(fallback_page(
                    429,
                    "Too many requests",
                    "Too many sign-in attempts came from your network. Please wait a moment and try again.",
                ));
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(wait)),
                );
                return (r, true);
            }
        }
        let cookies = || {
            req.headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
        };
        if path == routes.start {
            return match self.flow.start(req.uri().query(), cookies()) {
                Ok(redirect) => {
                    let mut r = redirect_to(StatusCode::FOUND, &redirect.location);
                    if let Some(cookie) = redirect.set_cookie {
                        match HeaderValue::from_str(&cookie) {
                            Ok(value) => {
                                r.headers_mut().insert(header::SET_COOKIE, value);
                            }
                            Err(_) => r = internal(),
                        }
                    }
                    (r, true)
                }
                Err(e) => {
                    tracing::warn!(request_id, "start refused: {e}");
                    (
                        page_response(self.flow.error_page(&e, None, request_id).await),
                        true,
                    )
                }
            };
        }
        if path == routes.redirect {
            let answer = self
                .flow
                .callback(req.uri().query(), cookies(), request_id)
                .await;
            let page = answer.page;
            // A real flow's page is fetched at a clean URL, so the code and
            // state leave the address bar; a view's own redirect already does.
            if self.config.server.clean_callback_url
                && answer.past_state_check
                && !(300..400).contains(&page.status)
            {
                let id = self.results.put(page, Instant::now());
                let location = format!("{}{id}", self.result_prefix);
                return (redirect_to(StatusCode::SEE_OTHER, &location), true);
            }
            return (page_response(page), true);
        }
        if let Some(id) = path.strip_prefix(&self.result_prefix) {
            let page = self.results.take(id, Instant::now()).unwrap_or_else(|| {
                fallback_page(
                    410,
                    "This sign-in has finished",
                    "This page was shown once and is gone. You can close this window, or start again to connect another workspace.",
                )
            });
            return (page_response(page), true);
        }
        if path == routes.health {
            return (text(StatusCode::OK, "ok\n"), true);
        }
        if path == routes.metrics {
            let mut r = Response::new(Body::new(Bytes::from(self.metrics.render())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return (r, true);
        }
        if let Some(doc) = self.documents.get(path) {
            let r = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, doc.content_type)
                .body(Body::new(doc.body.clone()))
                .unwrap_or_else(|_| internal());
            return (r, false);
        }
        if let Some(landing) = &self.landing
            && (path == routes.landing
                || path == format!("{}/", routes.landing.trim_end_matches('/')))
        {
            let r = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .body(Body::new(landing.clone()))
                .unwrap_or_else(|_| internal());
            return (r, true);
        }
        (text(StatusCode::NOT_FOUND, "not found\n"), true)
    }
}

impl super::server::Handler for App {
    fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        App::handle(self, req)
    }
}

/// A view's page as a response, keeping only the headers a view may set.
fn page_response(page: Page) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::from(page.body)));
    *response.status_mut() =
        StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in page.headers {
        if view_may_set(&name, &value) {
            response.headers_mut().append(name, value);
        }
    }
    if !response.headers().contains_key(header::CONTENT_TYPE) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    response
}

/// An empty response sending the browser to `location`.
fn redirect_to(status: StatusCode, location: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::LOCATION, location)
        .body(Body::default())
        .unwrap_or_else(|_| internal())
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn internal() -> Response<Body> {
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}
