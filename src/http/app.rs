//! The gateway's request handler: each request's route is resolved once
//! ([`super::route`]), its handler runs under the request timeout, and every
//! response leaves with the security headers and an access log line.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};

use super::admin::{self, Console};
use super::client_ip::client_ip;
use super::documents::Document;
use super::headers::secure;
use super::landing;
use super::outcome;
use super::probes::Probes;
use super::rate_limit::{Limits, retry_after_secs};
use super::request_body::RequestBody;
use super::response::{self, Body};
use super::result_pages::ResultPages;
use super::route::{Route, Routes, Surface};
use super::server::PeerAddr;
use super::token_api::TokenApi;
use crate::config::Config;
use crate::flow_figures::FlowFigures;
use crate::metrics::Metrics;
use crate::oauth::{BindingCookie, Callback, Flow, Outcome};
use crate::vault::store::FlowOutcome;

/// The gateway's request handler, shared by every connection.
pub(crate) struct App {
    config: Arc<Config>,
    routes: Routes,
    flow: Flow,
    landing: Option<Bytes>,
    limits: Limits,
    results: ResultPages,
    /// Whether browsers reach the gateway over https (served here or by a
    /// TLS proxy in front), so `Strict-Transport-Security` applies.
    hsts: bool,
    /// The token API, when `[token_api]` is on.
    token_api: Option<TokenApi>,
    /// The counters served at the metrics route.
    metrics: Arc<Metrics>,
    /// What the readiness probe looks at, and whether this instance drains.
    probes: Probes,
    /// How flows end, per minute, for the console.
    figures: Arc<FlowFigures>,
    /// The admin console, when `[admin]` is on.
    console: Option<Console>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

/// What the app answers with, built by the gateway from the config.
pub(crate) struct AppParts {
    /// The flow.
    pub(crate) flow: Flow,
    /// The configured documents.
    pub(crate) documents: Vec<Document>,
    /// The token API, when `[token_api]` is on.
    pub(crate) token_api: Option<TokenApi>,
    /// The counters served at the metrics route.
    pub(crate) metrics: Arc<Metrics>,
    /// What the readiness probe looks at.
    pub(crate) probes: Probes,
    /// How flows end, per minute.
    pub(crate) figures: Arc<FlowFigures>,
    /// The admin console, when `[admin]` is on.
    pub(crate) console: Option<Console>,
}

/// A fresh id for a request, for logs, pages and the `x-request-id` header.
fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// A handler's response, and whether it must not be cached.
type Answer = (Response<Body>, bool);

impl App {
    /// The handler for `config`'s routes, answering with `parts`.
    pub(crate) fn new(config: Arc<Config>, parts: AppParts) -> Self {
        let AppParts {
            flow,
            documents,
            token_api,
            metrics,
            probes,
            figures,
            console,
        } = parts;
        let landing = config
            .server
            .landing_page
            .then(|| Bytes::from(landing::render(&config)));
        let hsts = config.server.tls.is_some() || config.notion.redirect_is_https();
        Self {
            routes: Routes::new(&config, documents, token_api.is_some(), console.is_some()),
            limits: Limits::new(&config.server.rate_limit),
            results: ResultPages::for_vault(&probes.vault),
            hsts,
            landing,
            flow,
            token_api,
            metrics,
            probes,
            figures,
            console,
            config,
        }
    }

    /// Answers one request; never fails. Only the token API's connect
    /// sessions read a body (a small JSON object, bounded).
    pub(crate) async fn handle<B: RequestBody>(
        &self,
        req: Request<B>,
        surface: Surface,
    ) -> Response<Body> {
        let request_id = new_request_id();
        let started = Instant::now();
        let (req, body) = req.into_parts();
        let route = self.routes.resolve(&req.method, req.uri.path(), surface);
        let routed = tokio::time::timeout(
            self.config.server.request_timeout,
            self.route(&req, body, route, &request_id),
        )
        .await;
        let (mut response, no_store) = routed.unwrap_or_else(|_| {
            tracing::warn!(
                request_id,
                "request took longer than server.request_timeout_ms"
            );
            (response::page(outcome::too_slow()), true)
        });
        secure(response.headers_mut(), &request_id, no_store, self.hsts);
        if matches!(route, Route::Admin(_)) {
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(admin::CSP),
            );
        }
        if self.probes.draining.is_set() {
            // Kept-alive clients (a balancer's pool) move to another instance.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        // The path only: query strings carry codes and states.
        tracing::info!(
            target: "access",
            request_id,
            method = %req.method,
            route = route.name(),
            path = %req.uri.path(),
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        );
        response
    }

    /// Runs the handler of the request's route.
    async fn route<B: RequestBody>(
        &self,
        req: &Parts,
        body: B,
        route: Route<'_>,
        request_id: &str,
    ) -> Answer {
        if matches!(route, Route::Start | Route::Callback)
            && let Some(refused) = self.limited(req, request_id)
        {
            return refused;
        }
        match route {
            Route::Api(route) => match &self.token_api {
                Some(api) => (
                    api.handle(req, body, route, &self.flow, request_id).await,
                    true,
                ),
                None => not_found(),
            },
            Route::Admin(rest) => match &self.console {
                Some(console) => (console.handle(req, body, rest, request_id).await, true),
                None => not_found(),
            },
            Route::WrongMethod => wrong_method(),
            Route::Start => self.start(req, request_id).await,
            Route::Callback => self.callback(req, request_id).await,
            Route::ResultPage(id) => self.result_page(req, id).await,
            Route::Health => (response::text(StatusCode::OK, "ok\n"), true),
            Route::Ready => self.ready().await,
            Route::Metrics => self.metrics(),
            Route::Document(doc) => (document(doc), false),
            Route::Landing => self.landing(),
            Route::NotFound => not_found(),
        }
    }

    /// The 429 answer when the request's client is over its rate limit.
    fn limited(&self, req: &Parts, request_id: &str) -> Option<Answer> {
        let peer = req.extensions.get::<PeerAddr>().map(|p| p.0.ip());
        let client = client_ip(&req.headers, peer, &self.config.server.trusted_proxies);
        let wait = self.limits.check(client).err()?;
        tracing::debug!(request_id, client = ?client, "rate limited");
        let mut r = response::page(outcome::too_many_requests());
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(wait)),
        );
        Some((r, true))
    }

    /// `GET {start}`: the redirect to Notion, with the binding cookie.
    async fn start(&self, req: &Parts, request_id: &str) -> Answer {
        match self.flow.start(req.uri.query(), cookies(req)).await {
            Ok(redirect) => {
                let r = response::redirect(StatusCode::FOUND, &redirect.location);
                (
                    response::with_cookie(r, redirect.set_cookie.as_deref()),
                    true,
                )
            }
            Err(e) => {
                tracing::warn!(request_id, "start refused: {e}");
                let shown = self
                    .flow
                    .error_page(outcome::error_info(&e), None, request_id)
                    .await;
                (response::page(outcome::shown_page(shown, request_id)), true)
            }
        }
    }

    /// `GET {redirect}`: the flow's page, at a clean URL when it is about a
    /// real flow (the code and state leave the address bar; a view's own
    /// redirect already does).
    async fn callback(&self, req: &Parts, request_id: &str) -> Answer {
        let callback = self
            .flow
            .callback(req.uri.query(), cookies(req), request_id)
            .await;
        let (mut shown, real_flow) = match callback {
            Callback::Ended(shown) => {
                self.figures.record(match shown.outcome {
                    Outcome::Connected | Outcome::Received => FlowOutcome::Completed,
                    Outcome::Denied => FlowOutcome::Denied,
                    Outcome::Failed(_) => FlowOutcome::Failed,
                });
                (shown, true)
            }
            Callback::Failed { error, state } => {
                // Only a callback about a real flow (its state checked) counts.
                if state.is_some() {
                    self.figures.record(FlowOutcome::Failed);
                }
                let info = outcome::error_info(&error);
                tracing::warn!(request_id, kind = ?info.kind, status = info.status, "callback failed: {error}");
                let shown = self.flow.error_page(info, state.as_ref(), request_id).await;
                (shown, state.is_some())
            }
        };
        let acknowledging = std::mem::take(&mut shown.acknowledging);
        let page = outcome::shown_page(shown, request_id);
        if self.config.server.clean_callback_url && real_flow && !(300..400).contains(&page.status)
        {
            // The page is this browser's alone: bound to its binding cookie,
            // set here when the flow had none (passthrough state mode).
            let binding = self.flow.binding().read(cookies(req));
            let (binding, set_cookie) = match binding {
                Some(value) => (value, None),
                None => {
                    let value = BindingCookie::fresh_value();
                    let cookie = self.flow.binding().set_cookie(&value);
                    (value, Some(cookie))
                }
            };
            let kept = self.results.put(page, &binding).await;
            acknowledging.settled().await;
            return match kept {
                Ok(id) => {
                    let location = self.routes.result_page(&id);
                    let r = response::redirect(StatusCode::SEE_OTHER, &location);
                    (response::with_cookie(r, set_cookie.as_deref()), true)
                }
                // Not kept (the store failed): shown here, at the callback's URL.
                Err(page) => (response::page(page), true),
            };
        }
        acknowledging.settled().await;
        (response::page(page), true)
    }

    /// `GET {redirect}/{id}`: a callback's page, once, to the browser that
    /// made the callback.
    async fn result_page(&self, req: &Parts, id: &str) -> Answer {
        let binding = self.flow.binding().read(cookies(req));
        let page = self
            .results
            .take(id, binding.as_deref())
            .await
            .unwrap_or_else(outcome::result_gone);
        (response::page(page), true)
    }

    /// `GET {ready}`: 200 when this instance should get traffic, else 503
    /// with the one-line reason.
    async fn ready(&self) -> Answer {
        match self.probes.ready().await {
            Ok(()) => (response::text(StatusCode::OK, "ready\n"), true),
            Err(reason) => (
                response::with_type(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Bytes::from(format!("{reason}\n")),
                    "text/plain; charset=utf-8",
                ),
                true,
            ),
        }
    }

    /// Marks this instance as draining: `/readyz` answers 503 from now on
    /// and every response asks its client to close the connection.
    pub(crate) fn drain(&self) {
        self.probes.draining.start();
    }

    /// `GET {metrics}`: the counters in Prometheus' text format.
    fn metrics(&self) -> Answer {
        let r = response::with_type(
            StatusCode::OK,
            Bytes::from(self.metrics.render()),
            "text/plain; version=0.0.4; charset=utf-8",
        );
        (r, true)
    }

    /// The landing page.
    fn landing(&self) -> Answer {
        match &self.landing {
            Some(landing) => (
                response::with_type(StatusCode::OK, landing.clone(), "text/html; charset=utf-8"),
                true,
            ),
            None => not_found(),
        }
    }
}

/// The app as one listener serves it.
pub(crate) struct Listener {
    /// The app.
    pub(crate) app: Arc<App>,
    /// Which listener this is.
    pub(crate) surface: Surface,
}

impl super::server::Handler for Listener {
    fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        self.app.handle(req, self.surface)
    }
}

/// The request's `Cookie` header values.
pub(super) fn cookies(req: &Parts) -> impl Iterator<Item = &str> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// A configured document, cacheable.
fn document(doc: &Document) -> Response<Body> {
    response::with_type(StatusCode::OK, doc.body.clone(), doc.content_type)
}

fn wrong_method() -> Answer {
    let mut r = response::text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: use GET\n",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    (r, true)
}

fn not_found() -> Answer {
    (response::text(StatusCode::NOT_FOUND, "not found\n"), true)
}
