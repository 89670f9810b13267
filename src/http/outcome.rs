//! How every outcome is answered, in one place: a flow's error becomes a
//! status and the sentence the user reads, a flow's end becomes the view's
//! page or the gateway's own, a vault error becomes the token API's status
//! and stable code, and the gateway's own refusals (too many requests, too
//! slow, a page already fetched) get their pages here.

use http::StatusCode;
use http::header::LOCATION;

use super::headers::view_may_set;
use super::local_path::is_local_path;
use super::response::own_page;
use crate::notion::NotionErrorKind;
use crate::oauth::{FlowError, Outcome, Shown};
use crate::plugins::Page;
use crate::plugins::contract::{ErrorInfo, ErrorKind};
use crate::vault::VaultError;

/// What the view is told about a failed flow: its kind, the page's status
/// and one sentence for the user (what happened and what to do).
pub(super) fn error_info(error: &FlowError) -> ErrorInfo {
    let kind = error.kind();
    let message = match error {
        // The app's link is at fault, and the user must go back to the app.
        FlowError::AppData(refusal) => refusal.user_message(),
        _ => public_message(kind),
    };
    ErrorInfo {
        kind,
        status: flow_status(kind, error),
        message: message.to_string(),
    }
}

/// What the view is told for a failure of `kind` with nothing more known
/// (`plugin try` renders each): the status and sentence a real one gets.
pub(crate) fn error_info_of(kind: ErrorKind) -> ErrorInfo {
    ErrorInfo {
        kind,
        status: status_of(kind, false),
        message: public_message(kind).to_string(),
    }
}

fn flow_status(kind: ErrorKind, error: &FlowError) -> u16 {
    status_of(kind, error.is_unavailable())
}

fn status_of(kind: ErrorKind, unavailable: bool) -> u16 {
    match kind {
        ErrorKind::BadRequest
        | ErrorKind::InvalidState
        | ErrorKind::ExpiredState
        | ErrorKind::ReplayedState
        | ErrorKind::NotionRejected => 400,
        ErrorKind::BrowserMismatch => 403,
        ErrorKind::NotionUnavailable => 502,
        ErrorKind::NotionTimeout => 504,
        ErrorKind::ConsumerFailed | ErrorKind::Internal if unavailable => 503,
        ErrorKind::ConsumerFailed | ErrorKind::Internal => 500,
    }
}

fn public_message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadRequest => {
            "The link back from Notion is incomplete. Please start connecting Notion again."
        }
        ErrorKind::InvalidState => {
            "This sign-in link is not valid. Please start connecting Notion again."
        }
        ErrorKind::ExpiredState => {
            "This sign-in took too long and expired. Please start connecting Notion again."
        }
        ErrorKind::ReplayedState => {
            "This sign-in link was already used. Please start connecting Notion again."
        }
        ErrorKind::BrowserMismatch => {
            "This sign-in was started in another browser, or your browser blocked its cookie. Please start again in this browser with cookies enabled."
        }
        ErrorKind::NotionRejected => {
            "Notion did not accept the authorization (it may have expired). Please start connecting Notion again."
        }
        ErrorKind::NotionUnavailable => {
            "Notion could not complete the connection right now. Please try again in a moment."
        }
        ErrorKind::NotionTimeout => "Notion took too long to answer. Please try again in a moment.",
        ErrorKind::ConsumerFailed => {
            "The connection could not be saved. Please try again in a moment."
        }
        ErrorKind::Internal => "Something went wrong on our side. Please try again in a moment.",
    }
}

/// The page the browser gets for `shown`: the view's, unless the view failed
/// or asked to redirect the browser anywhere but a path on this site (no
/// open redirects); then the gateway's own page for the outcome.
pub(super) fn shown_page(shown: Shown, request_id: &str) -> Page {
    match shown.view {
        Some(page) if redirect_refusal(&page).is_some() => {
            tracing::warn!(
                request_id,
                "the view's {} page redirects off this site (or nowhere); the gateway's own page is shown instead",
                shown.outcome.page_name()
            );
            outcome_page(&shown.outcome)
        }
        Some(page) => page,
        None => outcome_page(&shown.outcome),
    }
}

/// Why the gateway would not send a redirecting (3xx) success or denial
/// page: its `Location` is missing or leaves this site.
fn redirect_refusal(page: &Page) -> Option<String> {
    if !(300..400).contains(&page.status) {
        return None;
    }
    let target = page
        .headers
        .iter()
        .find(|(name, _)| name == LOCATION)
        .map(|(_, value)| String::from_utf8_lossy(value.as_bytes()).into_owned());
    match target {
        Some(target) if is_local_path(&target) => None,
        Some(target) => Some(format!(
            "status {} redirects to {target:?}, which is not a path on this site (an open redirect); the gateway shows its own page instead",
            page.status
        )),
        None => Some(format!(
            "status {} is a redirect without a Location header; the gateway shows its own page instead",
            page.status
        )),
    }
}

/// Every way the gateway would change a view's page before a browser saw
/// it: headers it drops and, for a success or denial page
/// (`may_redirect`), a redirect it refuses. Empty when it goes out as the
/// view made it. `plugin try` fails a view on any of these.
pub(crate) fn page_changes(page: &Page, may_redirect: bool) -> Vec<String> {
    let mut changes: Vec<String> = page
        .headers
        .iter()
        .filter(|(name, value)| !view_may_set(name, value))
        // A refused redirect is said once, below.
        .filter(|(name, _)| !(may_redirect && name == LOCATION && (300..400).contains(&page.status)))
        .map(|(name, value)| {
            if name == LOCATION {
                format!(
                    "the gateway drops its Location header {:?}: a view may only send the browser to a path on this site",
                    String::from_utf8_lossy(value.as_bytes())
                )
            } else {
                format!(
                    "the gateway drops its header {name}: a view may set only content-type, content-language and a same-site location"
                )
            }
        })
        .collect();
    if may_redirect {
        changes.extend(redirect_refusal(page));
    }
    changes
}

/// The gateway's own page for an outcome.
fn outcome_page(outcome: &Outcome) -> Page {
    match outcome {
        Outcome::Connected => own_page(
            200,
            "Notion connected",
            "Your Notion workspace is connected. You can close this window.",
        ),
        Outcome::Received => own_page(
            202,
            "Connection received",
            "Notion sent your connection and it is safely stored. It is being completed in the background; you can close this window.",
        ),
        Outcome::Denied => own_page(
            403,
            "Notion was not connected",
            "The connection was cancelled or refused. You can start again at any time.",
        ),
        Outcome::Failed(info) => own_page(info.status, "Something went wrong", &info.message),
    }
}

/// The page for a client over its rate limit.
pub(super) fn too_many_requests() -> Page {
    own_page(
        429,
        "Too many requests",
        "Too many sign-in attempts came from your network. Please wait a moment and try again.",
    )
}

/// The page for a request that took longer than `server.request_timeout_ms`.
pub(super) fn too_slow() -> Page {
    own_page(
        503,
        "Please try again",
        "The request took too long. Please try again in a moment.",
    )
}

/// The page for a callback's clean URL once its page is gone.
pub(super) fn result_gone() -> Page {
    own_page(
        410,
        "This sign-in has finished",
        "This page was shown once and is gone. You can close this window, or start again to connect another workspace.",
    )
}

/// The token API's status and stable error code for a vault error.
pub(super) fn vault_error(e: &VaultError) -> (StatusCode, &'static str) {
    match e {
        VaultError::UnknownConnection(_) => (StatusCode::NOT_FOUND, "unknown_connection"),
        VaultError::Revoked(_) => (StatusCode::GONE, "revoked"),
        VaultError::NoRefreshToken(_) => (StatusCode::CONFLICT, "no_refresh_token"),
        VaultError::NotKept => (StatusCode::CONFLICT, "tokens_not_kept"),
        VaultError::LeaseTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "lease_timeout"),
        VaultError::Notion(n) => match n.kind() {
            NotionErrorKind::InvalidGrant => (StatusCode::CONFLICT, "refresh_rejected"),
            NotionErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "notion_timeout"),
            NotionErrorKind::Failed => (StatusCode::BAD_GATEWAY, "notion_failed"),
        },
        VaultError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        VaultError::Cipher(_) | VaultError::Keys { .. } | VaultError::Corrupt(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "vault_error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notion::NotionError;

    #[test]
    fn each_flow_error_gets_its_status() {
        let cases = [
            (FlowError::MissingState, 400),
            (FlowError::BrowserMismatch, 403),
            (
                FlowError::Notion(NotionError::Rejected {
                    status: 400,
                    code: "invalid_grant".into(),
                }),
                400,
            ),
            (
                FlowError::Notion(NotionError::Rejected {
                    status: 401,
                    code: "invalid_client".into(),
                }),
                502,
            ),
            (
                FlowError::Notion(NotionError::Timeout(std::time::Duration::from_secs(1))),
                504,
            ),
            (FlowError::Busy, 503),
            (FlowError::Store("down".into()), 503),
            (FlowError::Undelivered, 500),
            (FlowError::Internal("x".into()), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error_info(&error).status, status, "{error}");
        }
    }

    #[test]
    fn a_rejected_refresh_is_a_conflict_and_other_refusals_are_bad_gateways() {
        let rejected = |code: &str| {
            VaultError::Notion(NotionError::Rejected {
                status: 400,
                code: code.into(),
            })
        };
        assert_eq!(
            vault_error(&rejected("invalid_grant")),
            (StatusCode::CONFLICT, "refresh_rejected")
        );
        assert_eq!(
            vault_error(&rejected("invalid_client")),
            (StatusCode::BAD_GATEWAY, "notion_failed")
        );
    }
}
