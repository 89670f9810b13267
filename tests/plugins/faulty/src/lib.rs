//! A plugin (consumer and view in one component) that misbehaves on purpose,
//! as its settings say, so the tests can prove the gateway survives it.
//!
//! Settings (`[plugins.settings.faulty]`):
//! - `consumer`: `ok` (default) | `error` | `fatal` (a non-retryable error) | `trap` | `loop` | `oom` |
//!   `trap-before-N` (traps on delivery attempts before attempt N, then accepts)
//! - `consumer` also: `hoard` (holds 10,000 host resources), `quote-token` (the token in
//!   its error), `log-token` (the token in its log line, then accepts)
//! - `view`: `ok` (default) | `trap` | `loop` | `bad-status` | `hostile-headers` |
//!   `redirect-to-data` (success answers 303 to the app data, as a careless app would)

wit_bindgen::generate!({ path: "../../../wit", world: "plugin", generate_all });

use exports::notion::oauth::consumer::Guest as Consumer;
use exports::notion::oauth::view::Guest as View;
use notion::oauth::types::{
    Authorization, ConsumerError, ErrorInfo, HttpResponse, RedirectError, StateInfo, TokenInfo,
};
use wasi::config::store::get;
use wasi::logging::logging::{Level, log};

struct Faulty;

fn mode(key: &str) -> String {
    get(key).ok().flatten().unwrap_or_else(|| "ok".into())
}

/// Spins forever; only the host's deadline can stop it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Asks for 1 GiB; the host's memory cap must refuse it.
fn hog() -> usize {
    let v = vec![1u8; 1 << 30];
    std::hint::black_box(&v).len()
}

fn misbehave(key: &str) -> Result<(), ConsumerError> {
    match mode(key).as_str() {
        "error" => Err(ConsumerError {
            message: "the app's database is away".into(),
            retryable: true,
        }),
        "fatal" => Err(ConsumerError {
            message: "this workspace is not allowed".into(),
            retryable: false,
        }),
        "trap" => panic!("faulty plugin trapping on purpose"),
        "hoard" => {
            // Host resources the call never gives back: the host's table
            // must stop it long before this many.
            for _ in 0..10_000 {
                std::mem::forget(wasi::http::types::Fields::new());
            }
            Ok(())
        }
        "loop" => spin(),
        "oom" => {
            hog();
            Ok(())
        }
        _ => Ok(()),
    }
}

fn page(status: u16, text: String) -> HttpResponse {
    let headers = if mode("view") == "hostile-headers" {
        vec![
            ("content-type".into(), "text/html".into()),
            ("content-security-policy".into(), "default-src *".into()),
            ("set-cookie".into(), "stolen=1".into()),
            ("access-control-allow-origin".into(), "*".into()),
            ("location".into(), "//evil.example/".into()),
            ("x-faulty".into(), "dropped".into()),
            ("refresh".into(), "0;url=https://evil.example/".into()),
            ("link".into(), "<https://evil.example/>; rel=preload".into()),
            ("content-language".into(), "de".into()),
        ]
    } else {
        vec![("content-type".into(), "text/plain; charset=utf-8".into())]
    };
    HttpResponse {
        status,
        headers,
        body: text.into_bytes(),
    }
}

fn view(status: u16, text: String) -> HttpResponse {
    match mode("view").as_str() {
        "trap" => panic!("faulty view trapping on purpose"),
        "loop" => spin(),
        "bad-status" => page(42, text),
        _ => page(status, text),
    }
}

impl Consumer for Faulty {
    fn consume_token_info(token: TokenInfo, state: StateInfo) -> Result<(), ConsumerError> {
        log(
            Level::Info,
            "faulty",
            &format!(
                "consume-token-info bot {} key {}",
                token.authorization.bot_id, token.delivery.idempotency_key
            ),
        );
        let _ = state;
        if let Some(n) = mode("consumer").strip_prefix("trap-before-") {
            let n: u32 = n.parse().unwrap_or(1);
            if token.delivery.attempt < n {
                panic!(
                    "faulty plugin trapping on attempt {}",
                    token.delivery.attempt
                );
            }
            return Ok(());
        }
        if mode("consumer") == "log-token" {
            // What a careless consumer does: the token in its log line.
            log(
                Level::Info,
                "faulty",
                &format!(
                    "got {} (refresh {:?})",
                    token.access_token, token.refresh_token
                ),
            );
            return Ok(());
        }
        if mode("consumer") == "quote-token" {
            // What a careless consumer does: the token in its error message.
            return Err(ConsumerError {
                message: format!(
                    "cannot store {} (refresh {:?})",
                    token.access_token, token.refresh_token
                ),
                retryable: false,
            });
        }
        misbehave("consumer")
    }

    fn consume_redirect_error(
        error: RedirectError,
        _state: StateInfo,
    ) -> Result<(), ConsumerError> {
        log(
            Level::Info,
            "faulty",
            &format!("consume-redirect-error {}", error.error),
        );
        misbehave("consumer")
    }
}

impl View for Faulty {
    fn make_auth_response(authorization: Authorization, state: StateInfo) -> HttpResponse {
        if mode("view") == "redirect-to-data" {
            // What a careless app does with a `return_to` it put in the data.
            return HttpResponse {
                status: 303,
                headers: vec![(
                    "location".into(),
                    state.app_data.clone().unwrap_or_default(),
                )],
                body: Vec::new(),
            };
        }
        view(
            200,
            format!(
                "faulty success {} data={:?}",
                authorization.bot_id, state.app_data
            ),
        )
    }

    fn make_access_denied_response(error: RedirectError, _state: StateInfo) -> HttpResponse {
        view(403, format!("faulty denied {}", error.error))
    }

    fn make_error_response(error: ErrorInfo, _state: Option<StateInfo>) -> HttpResponse {
        view(
            200,
            format!("faulty error {:?} {}", error.kind, error.message),
        )
    }
}

export!(Faulty);
