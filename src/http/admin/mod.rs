//! The admin console: server-rendered pages at `/admin` on the admin
//! listener, for an operator with the admin key. Sign-in and sessions are
//! [`session`]'s; the pages' figures come from the store, so they cover
//! every instance; the templates are askama's, checked at compile time and
//! escaped by default; the one stylesheet and the one script are served
//! from here, so the console's Content-Security-Policy allows nothing from
//! anywhere else and no inline script.

mod chart;
mod pages;
mod session;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use cookie::{Cookie, SameSite};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};

use super::app::cookies;
use super::client_ip::client_ip;
use super::request_body::{RequestBody, read_bounded};
use super::response::{self, Body};
use super::server::PeerAddr;
use crate::delivery::{Freshness, Keeper};
use crate::plugins::Plugins;
use crate::secret::AdminKey;
use pages::{Layout, Page};
use session::{COOKIE, SESSION_SECONDS, Session, Sessions};

/// The console's Content-Security-Policy: its own stylesheet and script,
/// nothing inline, nothing from another origin, no framing.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest form the console reads.
const MAX_FORM: usize = 4096;
/// Sign-in attempts one client address may make per minute.
const SIGN_INS_PER_MINUTE: u32 = 5;
/// Connections per page.
const PER_PAGE: i64 = 25;

/// The console of one gateway.
pub(crate) struct Console {
    sessions: Sessions,
    keeper: Arc<Keeper>,
    plugins: Plugins,
    trusted_proxies: Vec<ipnet::IpNet>,
    sign_ins: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

/// What a POST asks for, read from its form.
type Form = Vec<(String, String)>;

fn field<'a>(form: &'a Form, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn now_s() -> i64 {
    crate::clock::unix_ms() / 1000
}

/// A `303 See Other` to `location` (a path of the console).
fn see_other(location: &str) -> Response<Body> {
    response::redirect(StatusCode::SEE_OTHER, location)
}

/// Where a sign-in may send the browser afterwards: a console path, else
/// the overview.
fn next_path(next: &str) -> &str {
    let local = next.starts_with("/admin")
        && !next.starts_with("//")
        && !next.contains(['\\', '\r', '\n'])
        && next.chars().all(|c| c.is_ascii_graphic());
    if local { next } else { "/admin" }
}

impl Console {
    /// The console signing in with `key`, acting through `keeper`.
    pub(crate) fn new(
        key: &AdminKey,
        keeper: Arc<Keeper>,
        plugins: Plugins,
        trusted_proxies: Vec<ipnet::IpNet>,
    ) -> Self {
        let rate = NonZeroU32::new(SIGN_INS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            sessions: Sessions::new(key.clone()),
            keeper,
            plugins,
            trusted_proxies,
            sign_ins: RateLimiter::keyed(Quota::per_minute(rate)),
        }
    }

    /// Answers a request for `/admin{rest}`.
    pub(crate) async fn handle<B: RequestBody>(
        &self,
        req: &Parts,
        body: B,
        rest: &str,
        request_id: &str,
    ) -> Response<Body> {
        let method = &req.method;
        if let Some(asset) = rest.strip_prefix("/assets/") {
            return match (method, asset) {
                (&Method::GET | &Method::HEAD, "admin.css") => {
                    asset_response(include_str!("assets/admin.css"), "text/css; charset=utf-8")
                }
                (&Method::GET | &Method::HEAD, "admin.js") => asset_response(
                    include_str!("assets/admin.js"),
                    "text/javascript; charset=utf-8",
                ),
                _ => response::text(StatusCode::NOT_FOUND, "not found\n"),
            };
        }
        let session = self.session(req);
        let post = method == Method::POST;
        if !post && method != Method::GET && method != Method::HEAD {
            return response::text(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n");
        }
        if rest == "/login" {
            return if post {
                self.sign_in(req, body, request_id).await
            } else if session.is_some() {
                see_other("/admin")
            } else {
                let next = query_param(req, "next").unwrap_or_default();
                self.login_page(StatusCode::OK, "", next_path(&next))
            };
        }
        let Some(session) = session else {
            if post {
                return response::text(StatusCode::UNAUTHORIZED, "sign in first\n");
            }
            let here = req
                .uri
                .path_and_query()
                .map_or("/admin", |p| p.as_str())
                .to_string();
            let location = format!(
                "/admin/login?next={}",
                percent_encoding::utf8_percent_encode(&here, percent_encoding::NON_ALPHANUMERIC)
            );
            return see_other(&location);
        };
        let layout = Layout {
            csrf: self.sessions.csrf(&session),
            notice: query_param(req, "done")
                .map(|d| pages::notice(&d).to_string())
                .unwrap_or_default(),
        };
        if post {
            let form = match read_bounded(body, MAX_FORM).await {
                Ok(bytes) => url::form_urlencoded::parse(&bytes)
                    .into_owned()
                    .collect::<Form>(),
                Err(_) => {
                    return response::text(
                        StatusCode::BAD_REQUEST,
                        "the form could not be read (at most 4 KiB)\n",
                    );
                }
            };
            if !self.sessions.csrf_ok(&session, field(&form, "csrf")) {
                tracing::warn!(
                    request_id,
                    "admin: a POST without its CSRF token was refused"
                );
                return response::text(
                    StatusCode::FORBIDDEN,
                    "refused: this form's CSRF token is missing or wrong; reload the page and try again\n",
                );
            }
            return self.act(rest, request_id).await;
        }
        let page = match rest {
            "" | "/" => pages::overview(self.keeper.store(), layout).await,
            "/connections" => {
                let query = query_param(req, "q").unwrap_or_default();
                let page = query_param(req, "page")
                    .and_then(|p| p.parse::<i64>().ok())
                    .unwrap_or(1)
                    .max(1);
                pages::connections(self.keeper.store(), layout, query.trim(), page, PER_PAGE).await
            }
            "/deliveries" => pages::deliveries(self.keeper.store(), layout).await,
            "/plugins" => Ok(pages::plugins(&self.plugins, layout)),
            other => match other.strip_prefix("/connections/") {
                Some(bot) if !bot.contains('/') => {
                    pages::connection(self.keeper.store(), layout, &percent_decode(bot)).await
                }
                _ => Ok(Page::not_found(layout)),
            },
        };
        render(page.unwrap_or_else(|e| {
            tracing::warn!(request_id, "admin: the store could not answer: {e}");
            Page::store_error()
        }))
    }

    /// The session the request's cookie holds, if any.
    fn session(&self, req: &Parts) -> Option<Session> {
        cookies(req)
            .flat_map(Cookie::split_parse)
            .flatten()
            .filter(|c| c.name() == COOKIE)
            .find_map(|c| self.sessions.check(c.value(), now_s()))
    }

    fn login_page(&self, status: StatusCode, error: &str, next: &str) -> Response<Body> {
        let mut r = render(pages::login(error, next));
        *r.status_mut() = status;
        r
    }

    /// `POST /admin/login`: the key compared in constant time, attempts
    /// rate limited per client address and logged without the key.
    async fn sign_in<B: RequestBody>(
        &self,
        req: &Parts,
        body: B,
        request_id: &str,
    ) -> Response<Body> {
        let peer = req.extensions.get::<PeerAddr>().map(|p| p.0.ip());
        let client = client_ip(&req.headers, peer, &self.trusted_proxies);
        if let Some(ip) = client
            && self.sign_ins.check_key(&ip).is_err()
        {
            tracing::warn!(request_id, client = %ip, "admin: sign-in refused: too many attempts from this address");
            let mut r = self.login_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts from this address; wait a minute and try again.",
                "/admin",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
        let form = match read_bounded(body, MAX_FORM).await {
            Ok(bytes) => url::form_urlencoded::parse(&bytes)
                .into_owned()
                .collect::<Form>(),
            Err(_) => Form::new(),
        };
        let next = next_path(field(&form, "next")).to_string();
        if !self.sessions.is_admin_key(field(&form, "key")) {
            tracing::warn!(request_id, client = ?client, "admin: a sign-in with a wrong key was refused");
            return self.login_page(
                StatusCode::UNAUTHORIZED,
                "That is not the admin key.",
                &next,
            );
        }
        tracing::info!(request_id, client = ?client, "admin: signed in");
        let cookie = session_cookie(self.sessions.open(now_s()), SESSION_SECONDS);
        response::with_cookie(see_other(&next), Some(&cookie))
    }

    /// A POST's action, its CSRF token checked; answers with a redirect to
    /// the page to see its result on.
    async fn act(&self, rest: &str, request_id: &str) -> Response<Body> {
        if rest == "/logout" {
            let cookie = session_cookie(String::new(), 0);
            return response::with_cookie(see_other("/admin/login"), Some(&cookie));
        }
        if rest == "/deliveries/retry-dead" {
            return match self.keeper.store().retry_dead(None).await {
                Ok(n) => {
                    tracing::info!(
                        request_id,
                        retried = n,
                        "admin: every dead delivery made due again"
                    );
                    self.keeper.wake();
                    see_other("/admin/deliveries?done=retried")
                }
                Err(e) => self.failed(
                    request_id,
                    "retry the dead deliveries",
                    &e.to_string(),
                    "/admin/deliveries",
                ),
            };
        }
        if let Some(id) = rest
            .strip_prefix("/deliveries/")
            .and_then(|r| r.strip_suffix("/retry"))
        {
            let id = percent_decode(id);
            return match self.keeper.store().retry_dead(Some(&id)).await {
                Ok(_) => {
                    tracing::info!(request_id, delivery = %id, "admin: a dead delivery made due again");
                    self.keeper.wake();
                    see_other("/admin/deliveries?done=retried")
                }
                Err(e) => self.failed(
                    request_id,
                    "retry the delivery",
                    &e.to_string(),
                    "/admin/deliveries",
                ),
            };
        }
        let Some((bot, action)) = rest
            .strip_prefix("/connections/")
            .and_then(|r| r.rsplit_once('/'))
        else {
            return response::text(StatusCode::NOT_FOUND, "not found\n");
        };
        let bot_id = percent_decode(bot);
        let back = format!("/admin/connections/{bot}");
        match action {
            "refresh" => match self
                .keeper
                .current_token(&bot_id, Freshness::refreshed_now())
                .await
            {
                Ok(_) => {
                    tracing::info!(request_id, bot_id, "admin: refreshed");
                    see_other(&format!("{back}?done=refreshed"))
                }
                Err(e) => self.failed(request_id, "refresh", &e.to_string(), &back),
            },
            "deliver-again" => match self.keeper.deliver_again(&bot_id).await {
                Ok(id) => {
                    tracing::info!(request_id, bot_id, delivery = %id, "admin: delivering again");
                    see_other(&format!("{back}?done=again"))
                }
                Err(e) => self.failed(request_id, "deliver again", &e.to_string(), &back),
            },
            "revoke" => match self.keeper.revoke(&bot_id).await {
                Ok(()) => {
                    tracing::info!(request_id, bot_id, "admin: revoked");
                    see_other(&format!("{back}?done=revoked"))
                }
                Err(e) => self.failed(request_id, "revoke", &e.to_string(), &back),
            },
            _ => response::text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The page saying an action failed and why (the error names no secret).
    fn failed(&self, request_id: &str, what: &str, why: &str, back: &str) -> Response<Body> {
        tracing::warn!(request_id, "admin: could not {what}: {why}");
        let mut r = render(pages::message(&format!("Could not {what}"), why, back));
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        r
    }
}

/// The `Set-Cookie` value of a session cookie holding `value` for
/// `max_age` seconds (0 ends it).
fn session_cookie(value: String, max_age: i64) -> String {
    Cookie::build((COOKIE, value))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// A static asset, cacheable.
fn asset_response(body: &'static str, content_type: &'static str) -> Response<Body> {
    response::with_type(
        StatusCode::OK,
        Bytes::from_static(body.as_bytes()),
        content_type,
    )
}

/// A rendered page as a response.
fn render(page: Page) -> Response<Body> {
    match page.html() {
        Ok(html) => {
            let mut r =
                response::with_type(page.status, Bytes::from(html), "text/html; charset=utf-8");
            *r.status_mut() = page.status;
            r
        }
        Err(_) => response::internal(),
    }
}

/// A query parameter, decoded.
fn query_param(req: &Parts, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
