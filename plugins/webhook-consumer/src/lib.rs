//! The webhook consumer: POSTs each new authorization, token included, as
//! JSON to the app's URL, signed so the app can tell it came from this
//! gateway. This is how most apps take tokens in.
//!
//! Settings (`[plugins.settings.webhook-consumer]`):
//! - `url` (required): where to POST, `https://...` (plain `http://` only to
//!   a loopback host).
//! - `signing_secret` (required): the HMAC key shared with the app; give it as
//!   `signing_secret = { env = "VAR" }` to keep it out of the config file.
//!
//! Grants (`[plugins.grants.webhook-consumer]`): `http_hosts` must list the
//! URL's host (and port, when it is not the scheme's default).
//!
//! Each request carries:
//! - `content-type: application/json`, body as documented in docs/plugins.md;
//! - `idempotency-key`: the delivery's key (bot id and exchange id), the same
//!   on every retry of one delivery, so the app can ignore repeats;
//! - `x-notion-gateway-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//!   "<t>.<body>" under the signing secret>`. The app recomputes it, compares
//!   in constant time, and refuses a `t` older than a few minutes.
//!
//! A 2xx answer accepts the token. 408, 429, 5xx and network failures are
//! reported as retryable; other statuses as not retryable.

wit_bindgen::generate!({ path: "../../wit", world: "consumer-plugin", generate_all });

mod post;
mod signature;

use exports::notion::oauth::consumer::Guest;
use notion::oauth::types::{
    ConsumerError, DeliveryReason, Owner, RedirectError, StateInfo, TokenInfo,
};
use serde::Serialize;
use wasi::config::store::get;
use wasi::logging::logging::{Level, log};

struct WebhookConsumer;

/// The JSON body of a delivery.
#[derive(Serialize)]
struct Payload<'a> {
    r#type: &'static str,
    reason: &'static str,
    idempotency_key: &'a str,
    attempt: u32,
    access_token: &'a str,
    refresh_token: Option<&'a str>,
    token_type: &'a str,
    bot_id: &'a str,
    workspace_id: &'a str,
    workspace_name: Option<&'a str>,
    workspace_icon: Option<&'a str>,
    owner: OwnerJson<'a>,
    duplicated_template_id: Option<&'a str>,
    app_data: Option<&'a str>,
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OwnerJson<'a> {
    User {
        id: &'a str,
        name: Option<&'a str>,
        email: Option<&'a str>,
    },
    Workspace,
}

fn setting(key: &str) -> Result<String, ConsumerError> {
    get(key)
        .ok()
        .flatten()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConsumerError {
            message: format!(
                "webhook-consumer: the setting {key} is missing; set it in [plugins.settings.webhook-consumer]"
            ),
            retryable: false,
        })
}

fn reason(r: DeliveryReason) -> &'static str {
    match r {
        DeliveryReason::New => "new",
        DeliveryReason::Refreshed => "refreshed",
        DeliveryReason::Revoked => "revoked",
    }
}

impl Guest for WebhookConsumer {
    fn consume_token_info(token: TokenInfo, state: StateInfo) -> Result<(), ConsumerError> {
        let url = setting("url")?;
        let secret = setting("signing_secret")?;
        let auth = &token.authorization;
        let payload = Payload {
            r#type: "notion.authorization",
            reason: reason(token.delivery.reason),
            idempotency_key: &token.delivery.idempotency_key,
            attempt: token.delivery.attempt,
            access_token: &token.access_token,
            refresh_token: token.refresh_token.as_deref(),
            token_type: &auth.token_type,
            bot_id: &auth.bot_id,
            workspace_id: &auth.workspace_id,
            workspace_name: auth.workspace_name.as_deref(),
            workspace_icon: auth.workspace_icon.as_deref(),
            owner: match &auth.owner {
                Owner::User(u) => OwnerJson::User {
                    id: &u.id,
                    name: u.name.as_deref(),
                    email: u.email.as_deref(),
                },
                Owner::Workspace => OwnerJson::Workspace,
            },
            duplicated_template_id: auth.duplicated_template_id.as_deref(),
            app_data: state.app_data.as_deref(),
            request_id: &state.request_id,
        };
        let body = serde_json::to_vec(&payload).map_err(|e| ConsumerError {
            message: format!("webhook-consumer: cannot encode the delivery: {e}"),
            retryable: false,
        })?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = signature::header(secret.as_bytes(), now, &body);
        let headers = [
            ("content-type", "application/json".to_string()),
            ("idempotency-key", token.delivery.idempotency_key.clone()),
            ("x-notion-gateway-signature", signature),
            ("user-agent", "notion-oauth-gateway-webhook/0.1".to_string()),
        ];
        let status = post::post(&url, &headers, &body).map_err(|e| ConsumerError {
            retryable: e.retryable(),
            message: format!("webhook-consumer: {e}"),
        })?;
        if (200..300).contains(&status) {
            log(
                Level::Info,
                "webhook",
                &format!("delivered bot {} to the app ({status})", auth.bot_id),
            );
            Ok(())
        } else {
            Err(ConsumerError {
                message: format!("webhook-consumer: the app answered {status}"),
                retryable: status == 408 || status == 429 || status >= 500,
            })
        }
    }

    fn consume_redirect_error(
        error: RedirectError,
        _state: StateInfo,
    ) -> Result<(), ConsumerError> {
        log(
            Level::Info,
            "webhook",
            &format!("authorization not granted: {}", error.error.escape_debug()),
        );
        Ok(())
    }
}

export!(WebhookConsumer);
