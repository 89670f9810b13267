//! The default view: small, clean HTML pages for success, denial and error.
//!
//! Settings (`[plugins.settings.default-view]`), all optional:
//! - `app_name`: how the pages name your app (default "the app").
//! - `continue_url`: a link shown on the success page, back to your app. It comes
//!   from the operator's config only, never from the request.

wit_bindgen::generate!({ path: "../../wit", world: "view-plugin", generate_all });

use exports::notion::oauth::view::Guest;
use notion::oauth::types::{Authorization, ErrorInfo, HttpResponse, RedirectError, StateInfo};
use view_kit::{escape, page, workspace_icon};
use wasi::config::store::get;

struct DefaultView;

fn setting(key: &str) -> Option<String> {
    get(key).ok().flatten().filter(|v| !v.trim().is_empty())
}

fn html(status: u16, title: &str, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: page(title, body).into_bytes(),
    }
}

impl Guest for DefaultView {
    fn make_auth_response(authorization: Authorization, _state: StateInfo) -> HttpResponse {
        let app = setting("app_name").unwrap_or_else(|| "the app".into());
        let workspace = authorization
            .workspace_name
            .as_deref()
            .unwrap_or("your workspace");
        let link = setting("continue_url")
            .filter(|u| u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
            .map(|u| {
                format!(
                    "<p><a href=\"{}\">Continue to {}</a></p>",
                    escape(&u),
                    escape(&app)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "{icon}<h1>Connected to {workspace}</h1>\n<p>You connected <strong>{workspace}</strong> to {app}. \
             It can now use the pages you shared. You can close this window.</p>\n{link}",
            icon = workspace_icon(authorization.workspace_icon.as_deref()),
            workspace = escape(workspace),
            app = escape(&app),
        );
        html(200, "Notion connected", &body)
    }

    fn make_access_denied_response(error: RedirectError, _state: StateInfo) -> HttpResponse {
        let app = setting("app_name").unwrap_or_else(|| "the app".into());
        let body = if error.error == "access_denied" {
            format!(
                "<h1>Notion was not connected</h1>\n<p>You cancelled the connection, so {} has no access \
                 to your workspace. You can start again at any time.</p>",
                escape(&app)
            )
        } else {
            format!(
                "<h1>Notion was not connected</h1>\n<p>Notion reported an error: <code>{}</code>. \
                 Please start again.</p>",
                escape(&error.error)
            )
        };
        html(403, "Notion not connected", &body)
    }

    fn make_error_response(error: ErrorInfo, state: Option<StateInfo>) -> HttpResponse {
        let reference = state
            .map(|s| {
                format!(
                    "<p class=\"muted\">Reference: {}</p>",
                    escape(&s.request_id)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<h1>Something went wrong</h1>\n<p>{}</p>\n{}",
            escape(&error.message),
            reference
        );
        html(error.status, "Connection failed", &body)
    }
}

export!(DefaultView);
