//! The `[routes]` table: where the flow's two routes live, and every route
//! the gateway serves with the base path applied.

use serde::Deserialize;

use super::checker::Checker;

/// `[routes]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoutes {
    pub(crate) start: Option<String>,
    pub(crate) redirect: Option<String>,
}

/// The routes, with the base path already applied.
#[derive(Debug, Clone)]
pub struct Routes {
    /// Starts a flow: answers 302 to Notion's consent page.
    pub start: String,
    /// Notion's redirect back with `code` and `state` (or `error`).
    pub redirect: String,
    /// The health check (answers as `live` does).
    pub health: String,
    /// The liveness probe: the process answers.
    pub live: String,
    /// The readiness probe: the instance should get traffic.
    pub ready: String,
    /// The landing page, when enabled.
    pub landing: String,
    /// The metrics, in the Prometheus text format.
    pub metrics: String,
    /// The token API's prefix (`{base}/api/v1`), when `[token_api]` is on.
    pub api: String,
}

/// Checks `[routes]` and applies `base_path` to every route.
pub(super) fn check(c: &mut Checker<'_>, r: &RawRoutes, base_path: &str) -> Routes {
    let start = c.route("routes.start", r.start.as_deref(), "/auth/notion/start");
    let redirect = c.route(
        "routes.redirect",
        r.redirect.as_deref(),
        "/auth/notion/redirect",
    );
    if start == redirect {
        c.error("routes.redirect", "must differ from routes.start");
    }
    Routes {
        start: with_base(base_path, &start),
        redirect: with_base(base_path, &redirect),
        health: "/healthz".to_string(),
        live: "/livez".to_string(),
        ready: "/readyz".to_string(),
        metrics: with_base(base_path, "/metrics"),
        api: with_base(base_path, "/api/v1"),
        landing: if base_path.is_empty() {
            "/".to_string()
        } else {
            base_path.to_string()
        },
    }
}

/// Joins the base path and a route: `/oauth` + `/start` = `/oauth/start`.
pub(super) fn with_base(base: &str, route: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), route)
}
