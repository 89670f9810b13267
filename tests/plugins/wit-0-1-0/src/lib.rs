//! A plugin built from `tests/fixtures/wit-0.1.0`, a frozen copy of the WIT
//! as first released (`notion:oauth@0.1.0`). Never rebuild it against the
//! current `wit/`: its job is to prove that every later change to the contract
//! keeps components built for 0.1.0 loading and serving.

wit_bindgen::generate!({ path: "../../fixtures/wit-0.1.0", world: "plugin", generate_all });

use exports::notion::oauth::consumer::Guest as Consumer;
use exports::notion::oauth::view::Guest as View;
use notion::oauth::types::{
    Authorization, ConsumerError, ErrorInfo, HttpResponse, RedirectError, StateInfo, TokenInfo,
};
use wasi::config::store::get;
use wasi::logging::logging::{Level, log};

struct Fixture;

fn page(status: u16, text: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: text.as_bytes().to_vec(),
    }
}

impl Consumer for Fixture {
    fn consume_token_info(token: TokenInfo, _state: StateInfo) -> Result<(), ConsumerError> {
        log(
            Level::Info,
            "wit-0.1.0",
            &format!("took bot {}", token.authorization.bot_id),
        );
        Ok(())
    }

    fn consume_redirect_error(_e: RedirectError, _s: StateInfo) -> Result<(), ConsumerError> {
        Ok(())
    }
}

impl View for Fixture {
    fn make_auth_response(authorization: Authorization, state: StateInfo) -> HttpResponse {
        let greeting = get("greeting").ok().flatten().unwrap_or_default();
        page(
            200,
            &format!(
                "wit 0.1.0 plugin: connected {} ({}) {greeting} app_data={}",
                authorization.workspace_name.unwrap_or_default(),
                authorization.bot_id,
                state.app_data.unwrap_or_default()
            ),
        )
    }

    fn make_access_denied_response(error: RedirectError, _state: StateInfo) -> HttpResponse {
        page(403, &format!("wit 0.1.0 plugin: denied ({})", error.error))
    }

    fn make_error_response(error: ErrorInfo, _state: Option<StateInfo>) -> HttpResponse {
        page(
            error.status,
            &format!("wit 0.1.0 plugin: {}", error.message),
        )
    }
}

export!(Fixture);
