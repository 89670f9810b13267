//! Which of the gateway's routes a request is for, decided once per request
//! from its method and path; [`super::app`] then runs that route's handler.

use std::collections::HashMap;

use http::Method;

use super::documents::Document;
use crate::config::Config;

/// One request's route.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route<'a> {
    /// `GET {start}`: a new flow.
    Start,
    /// `GET {redirect}`: Notion's redirect back.
    Callback,
    /// `GET {redirect}/{id}`: a callback's page at its clean URL.
    ResultPage(&'a str),
    /// `GET {health}` or `GET {live}`.
    Health,
    /// `GET {ready}`.
    Ready,
    /// `GET {metrics}`.
    Metrics,
    /// A configured document (Terms of Use, Privacy Policy, ...).
    Document(&'a Document),
    /// The landing page, when it is on.
    Landing,
    /// Under the token API's prefix, when the API is on.
    Api(ApiRoute<'a>),
    /// `/admin` and below (what follows `/admin`), when the console is on.
    Admin(&'a str),
    /// Any path outside the token API asked with a method other than GET
    /// or HEAD.
    WrongMethod,
    /// Nothing here.
    NotFound,
}

impl Route<'_> {
    /// The route's name in log lines (`route` field).
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Callback => "callback",
            Self::ResultPage(_) => "result_page",
            Self::Health => "health",
            Self::Ready => "ready",
            Self::Metrics => "metrics",
            Self::Document(_) => "document",
            Self::Landing => "landing",
            Self::Api(_) => "token_api",
            Self::Admin(_) => "admin",
            Self::WrongMethod => "wrong_method",
            Self::NotFound => "not_found",
        }
    }
}

/// A route of the token API (see [`super::token_api`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiRoute<'a> {
    /// `GET {api}/connections`
    Connections,
    /// `GET {api}/connections/{bot_id}/token`
    Token(&'a str),
    /// `POST {api}/connections/{bot_id}/refresh`
    Refresh(&'a str),
    /// `GET {api}/connections/{bot_id}/introspect`
    Introspect(&'a str),
    /// `POST {api}/connections/{bot_id}/revoke`
    Revoke(&'a str),
    /// `POST {api}/connect-sessions`
    ConnectSessions,
    /// A route of the API asked with the wrong method; the one to use.
    WrongMethod(&'static str),
    /// No such route in the API.
    NotFound,
}

/// Which listener a request came in on. With `[server] admin_listen` set,
/// `/metrics` and the token API are the admin listener's alone, and it
/// serves nothing of the flow; without it, the one listener serves all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `[server] listen`.
    Public,
    /// `[server] admin_listen`.
    Admin,
}

/// The gateway's routes, as configured, ready to resolve requests.
#[derive(Debug)]
pub(super) struct Routes {
    start: String,
    redirect: String,
    /// `{redirect}/`: where a callback's page is fetched from.
    result_prefix: String,
    health: String,
    live: String,
    ready: String,
    metrics: String,
    /// The landing page's path and its form with a trailing slash, when on.
    landing: Option<(String, String)>,
    documents: HashMap<String, Document>,
    /// The token API's prefix, when the API is on.
    api: Option<String>,
    /// Whether an admin listener of its own serves metrics and the API.
    admin_apart: bool,
    /// Whether the console is on (at `/admin`, on the admin listener).
    console: bool,
}

impl Routes {
    /// The routes of `config`, serving `documents`, with the token API
    /// mounted when `api` is true.
    pub(super) fn new(config: &Config, documents: Vec<Document>, api: bool, console: bool) -> Self {
        let r = &config.routes;
        Self {
            start: r.start.clone(),
            redirect: r.redirect.clone(),
            result_prefix: format!("{}/", r.redirect),
            health: r.health.clone(),
            live: r.live.clone(),
            ready: r.ready.clone(),
            metrics: r.metrics.clone(),
            landing: config.server.landing_page.then(|| {
                let slash = format!("{}/", r.landing.trim_end_matches('/'));
                (r.landing.clone(), slash)
            }),
            documents: documents
                .into_iter()
                .map(|d| (d.route.clone(), d))
                .collect(),
            api: api.then(|| r.api.clone()),
            admin_apart: config.server.admin_listen.is_some(),
            console,
        }
    }

    /// The path a callback's page is kept at, for the page `id`.
    pub(super) fn result_page(&self, id: &str) -> String {
        format!("{}{id}", self.result_prefix)
    }

    /// The route of a request for `path` with `method` that came in on
    /// `surface`.
    pub(super) fn resolve<'a>(
        &'a self,
        method: &Method,
        path: &'a str,
        surface: Surface,
    ) -> Route<'a> {
        let route = self.resolve_any(method, path);
        if !self.admin_apart {
            return route;
        }
        let admin_only = matches!(route, Route::Metrics | Route::Api(_) | Route::Admin(_));
        let both = matches!(route, Route::Health | Route::Ready);
        match surface {
            Surface::Public if admin_only => Route::NotFound,
            Surface::Admin if !admin_only && !both => Route::NotFound,
            _ => route,
        }
    }

    /// The route of a request for `path` with `method`, on any listener.
    fn resolve_any<'a>(&'a self, method: &Method, path: &'a str) -> Route<'a> {
        if let Some(rest) = self.api.as_deref().and_then(|p| under(path, p)) {
            return Route::Api(api_route(method, rest));
        }
        if self.console
            && let Some(rest) = under(path, "/admin")
        {
            return Route::Admin(rest);
        }
        if method != Method::GET && method != Method::HEAD {
            return Route::WrongMethod;
        }
        if path == self.start {
            Route::Start
        } else if path == self.redirect {
            Route::Callback
        } else if let Some(id) = path.strip_prefix(&self.result_prefix) {
            Route::ResultPage(id)
        } else if path == self.health || path == self.live {
            Route::Health
        } else if path == self.ready {
            Route::Ready
        } else if path == self.metrics {
            Route::Metrics
        } else if let Some(doc) = self.documents.get(path) {
            Route::Document(doc)
        } else if self
            .landing
            .as_ref()
            .is_some_and(|(bare, slash)| path == bare || path == slash)
        {
            Route::Landing
        } else {
            Route::NotFound
        }
    }
}

/// What follows `prefix` in `path`, when `path` is `prefix` or below it.
fn under<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The token API's route for `rest`, the path below its prefix.
fn api_route<'a>(method: &Method, rest: &'a str) -> ApiRoute<'a> {
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let parts = [parts.next(), parts.next(), parts.next(), parts.next()];
    let (get, post) = (method == Method::GET, method == Method::POST);
    match parts {
        [Some("connections"), None, ..] if get => ApiRoute::Connections,
        [Some("connections"), Some(bot), Some("token"), None] if get => ApiRoute::Token(bot),
        [Some("connections"), Some(bot), Some("introspect"), None] if get => {
            ApiRoute::Introspect(bot)
        }
        [Some("connections"), Some(bot), Some("refresh"), None] if post => ApiRoute::Refresh(bot),
        [Some("connections"), Some(bot), Some("revoke"), None] if post => ApiRoute::Revoke(bot),
        [Some("connect-sessions"), None, ..] if post => ApiRoute::ConnectSessions,
        [Some("connections"), None, ..]
        | [
            Some("connections"),
            Some(_),
            Some("token" | "introspect"),
            None,
        ] => ApiRoute::WrongMethod("GET"),
        [
            Some("connections"),
            Some(_),
            Some("refresh" | "revoke"),
            None,
        ]
        | [Some("connect-sessions"), None, ..] => ApiRoute::WrongMethod("POST"),
        _ => ApiRoute::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_resolve_by_method_and_shape() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(api_route(&get, "/connections"), ApiRoute::Connections);
        assert_eq!(api_route(&get, "/connections/"), ApiRoute::Connections);
        assert_eq!(
            api_route(&get, "/connections/b1/token"),
            ApiRoute::Token("b1")
        );
        assert_eq!(
            api_route(&post, "/connections/b1/refresh"),
            ApiRoute::Refresh("b1")
        );
        assert_eq!(
            api_route(&post, "/connections/b1/token"),
            ApiRoute::WrongMethod("GET")
        );
        assert_eq!(
            api_route(&get, "/connections/b1/revoke"),
            ApiRoute::WrongMethod("POST")
        );
        assert_eq!(
            api_route(&get, "/connections/b1/token/x"),
            ApiRoute::NotFound
        );
        assert_eq!(api_route(&get, ""), ApiRoute::NotFound);
        assert_eq!(
            api_route(&post, "/connect-sessions"),
            ApiRoute::ConnectSessions
        );
        assert_eq!(
            api_route(&get, "/connect-sessions"),
            ApiRoute::WrongMethod("POST")
        );
    }

    #[test]
    fn a_prefix_owns_only_itself_and_what_is_below_it() {
        assert_eq!(under("/api/v1", "/api/v1"), Some(""));
        assert_eq!(under("/api/v1/x", "/api/v1"), Some("/x"));
        assert_eq!(under("/api/v10", "/api/v1"), None);
    }
}
