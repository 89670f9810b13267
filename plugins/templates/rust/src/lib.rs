//! {{name}}: a notion-oauth-gateway plugin. Build it with `make` in this
//! folder; the component lands in ../{{name}}.wasm. See docs/plugins.md.

wit_bindgen::generate!({ path: "wit", world: "{{rust_world}}", generate_all });

use notion::oauth::types::*;
use wasi::config::store::get;
#[allow(unused_imports)]
use wasi::logging::logging::{Level, log};

struct Plugin;

/// A setting from `[plugins.settings.{{name}}]`, if set.
#[allow(dead_code)]
fn setting(key: &str) -> Option<String> {
    get(key).ok().flatten()
}

// <consumer>
impl exports::notion::oauth::consumer::Guest for Plugin {
    fn consume_token_info(token: TokenInfo, state: StateInfo) -> Result<(), ConsumerError> {
        // Store the token (token.access_token, token.refresh_token) where your
        // app can use it. Return Err(ConsumerError { retryable: true, .. })
        // when the failure is temporary. Never log the token itself.
        log(
            Level::Info,
            "{{name}}",
            &format!(
                "workspace {} connected (bot {}, request {})",
                token.authorization.workspace_id, token.authorization.bot_id, state.request_id
            ),
        );
        Ok(())
    }

    fn consume_redirect_error(error: RedirectError, _state: StateInfo) -> Result<(), ConsumerError> {
        log(Level::Info, "{{name}}", &format!("not connected: {}", error.error));
        Ok(())
    }
}
// </consumer>

// <view>
fn page(status: u16, title: &str, text: &str) -> HttpResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: html.into_bytes(),
    }
}

impl exports::notion::oauth::view::Guest for Plugin {
    fn make_auth_response(authorization: Authorization, _state: StateInfo) -> HttpResponse {
        let app = setting("app_name").unwrap_or_else(|| "the app".into());
        let workspace = authorization.workspace_name.unwrap_or_else(|| "your workspace".into());
        page(200, "Notion connected", &format!("{app} is now connected to {workspace}."))
    }

    fn make_access_denied_response(error: RedirectError, _state: StateInfo) -> HttpResponse {
        page(403, "Notion not connected", &format!("Notion said: {}", error.error))
    }

    fn make_error_response(error: ErrorInfo, _state: Option<StateInfo>) -> HttpResponse {
        page(error.status, "Something went wrong", &error.message)
    }
}
// </view>

export!(Plugin);
