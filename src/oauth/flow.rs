//! The start route and the callback, in order, with every check before any
//! call to Notion.

use std::sync::Arc;

use super::binding::BindingCookie;
use super::error::FlowError;
use super::fallback;
use super::params::{CallbackParams, MAX_PASSTHROUGH_STATE};
use super::replay::{Claim, ReplayGuard};
use super::return_to::is_local_path;
use super::state::{MAX_APP_DATA, StateCodec};
use crate::clock::SharedClock;
use crate::config::{Config, StateMode};
use crate::delivery::{DeliveryService, HandOff, HandedOff};
use crate::plugins::contract::{ErrorInfo, RedirectError, StateInfo};
use crate::plugins::{Page, PluginError, Plugins};
use crate::secret::SecretBytes;

/// The start route's answer: where to send the browser, and the binding cookie to set.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// Notion's authorize URL with every parameter.
    pub location: String,
    /// A `Set-Cookie` value, when the browser needs its binding cookie (re)set.
    pub set_cookie: Option<String>,
}

/// The callback's answer.
#[derive(Debug)]
pub struct CallbackPage {
    /// What the browser sees.
    pub page: Page,
    /// Whether the callback got past the state check, so the page is about a
    /// real flow (and worth keeping for the browser to fetch at a clean URL).
    pub past_state_check: bool,
}

/// The OAuth flow of one integration.
pub struct Flow {
    config: Arc<Config>,
    codec: StateCodec,
    replay: ReplayGuard,
    binding: BindingCookie,
    plugins: Plugins,
    delivery: Arc<DeliveryService>,
    clock: SharedClock,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("client_id", &self.config.notion.client_id)
            .finish_non_exhaustive()
    }
}

impl Flow {
    /// Wires the flow from its parts.
    pub fn new(
        config: Arc<Config>,
        state_key: SecretBytes,
        plugins: Plugins,
        delivery: Arc<DeliveryService>,
        clock: SharedClock,
    ) -> Self {
        let n = &config.notion;
        let codec = StateCodec::new(
            state_key,
            &n.client_id,
            &n.redirect_uri,
            n.state_ttl.as_secs(),
        );
        let binding =
            BindingCookie::new(n.redirect_uri.starts_with("https:"), n.state_ttl.as_secs());
        Self {
            codec,
            replay: ReplayGuard::new(),
            binding,
            plugins,
            delivery,
            clock,
            config,
        }
    }

    /// `GET {start}`: builds Notion's authorize URL with a fresh state bound to this browser.
    pub fn start<'a>(
        &self,
        query: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
    ) -> Result<Redirect, FlowError> {
        let n = &self.config.notion;
        let mut data = None;
        let mut own_state = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "data" if data.is_some() => {
                    return Err(FlowError::BadRequest("`data` appears twice"));
                }
                "data" if value.len() > MAX_APP_DATA => {
                    return Err(FlowError::BadRequest("`data` is longer than 512 bytes"));
                }
                "data" => data = Some(value.into_owned()),
                "state" if own_state.is_some() => {
                    return Err(FlowError::BadRequest("`state` appears twice"));
                }
                "state"
                    if value.len() > MAX_PASSTHROUGH_STATE
                        || value.chars().any(char::is_control) =>
                {
                    return Err(FlowError::BadRequest(
                        "`state` is too long or has control characters",
                    ));
                }
                "state" => own_state = Some(value.into_owned()),
                _ => {}
            }
        }
        let (state, set_cookie) = match n.state_mode {
            StateMode::Signed => {
                if own_state.is_some() {
                    return Err(FlowError::BadRequest(
                        "`state` is set by the gateway in signed mode; pass app data as `data`",
                    ));
                }
                // Reuse the browser's binding so parallel flows all stay valid;
                // re-set it either way so it outlives this flow's state.
                let value = self
                    .binding
                    .read(cookies)
                    .unwrap_or_else(BindingCookie::fresh_value);
                let state = self
                    .codec
                    .issue(&value, data.as_deref(), self.clock.now_secs());
                (Some(state), Some(self.binding.set_cookie(&value)))
            }
            StateMode::Passthrough => {
                if data.is_some() {
                    return Err(FlowError::BadRequest(
                        "`data` needs signed state mode; in passthrough mode put it in your own `state`",
                    ));
                }
                (own_state, None)
            }
        };
        let mut url = n.authorize_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &n.client_id)
                .append_pair("response_type", "code")
                .append_pair("owner", "user")
                .append_pair("redirect_uri", &n.redirect_uri);
            if let Some(state) = &state {
                q.append_pair("state", state);
            }
        }
        Ok(Redirect {
            location: url.into(),
            set_cookie,
        })
    }

    /// `GET {redirect}`: checks, exchanges, delivers and renders. Always a page.
    pub async fn callback<'a>(
        &self,
        query: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
        request_id: &str,
    ) -> CallbackPage {
        match self.run_callback(query, cookies, request_id).await {
            Ok(page) => CallbackPage {
                page,
                past_state_check: true,
            },
            Err((error, state)) => {
                tracing::warn!(request_id, kind = ?error.kind(), status = error.status(), "callback failed: {error}");
                CallbackPage {
                    page: self.error_page(&error, state.as_ref(), request_id).await,
                    past_state_check: state.is_some(),
                }
            }
        }
    }

    async fn run_callback<'a>(
        &self,
        query: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
        request_id: &str,
    ) -> Result<Page, (FlowError, Option<StateInfo>)> {
        let params =
            CallbackParams::parse(query).map_err(|why| (FlowError::BadRequest(why), None))?;
        let (state, exchange_id) = self
            .check_state(params.state.as_deref(), cookies, request_id)
            .map_err(|e| (e, None))?;
        let fail = |e: FlowError| (e, Some(state.clone()));

        if let Some(error) = params.error {
            let error = RedirectError {
                error,
                error_description: params.error_description,
            };
            tracing::info!(request_id, error = %error.error, "Notion redirected with an error");
            self.delivery
                .redirect_error(request_id, &error, &state)
                .await
                .map_err(|e| fail(FlowError::Consumer(e)))?;
            let page = self
                .plugins
                .view()
                .denied_page(request_id, &error, &state)
                .await;
            return Ok(vetted(page, request_id, "access-denied", denied_fallback));
        }

        let code = params
            .code
            .ok_or_else(|| fail(FlowError::BadRequest("the code is missing")))?;
        let handoff = HandOff {
            request_id: request_id.to_string(),
            exchange_id,
            state: state.clone(),
        };
        let handed = self.delivery.hand_off(handoff, code).await;
        let authorization = match handed.map_err(|e| fail(e.into()))? {
            HandedOff::Accepted(authorization) => *authorization,
            HandedOff::Received => return Ok(received_page()),
        };

        let page = self
            .plugins
            .view()
            .auth_page(request_id, &authorization, &state)
            .await;
        Ok(vetted(page, request_id, "success", success_fallback))
    }

    /// Checks the state (signed mode) and claims it; returns the state info
    /// and an id for this exchange.
    fn check_state<'a>(
        &self,
        state: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
        request_id: &str,
    ) -> Result<(StateInfo, String), FlowError> {
        match self.config.notion.state_mode {
            StateMode::Passthrough => Ok((
                StateInfo {
                    request_id: request_id.to_string(),
                    app_data: None,
                    started_at: None,
                    passthrough_state: state.map(str::to_string),
                },
                request_id.to_string(),
            )),
            StateMode::Signed => {
                let state = state
                    .filter(|s| !s.is_empty())
                    .ok_or(FlowError::MissingState)?;
                let now = self.clock.now_secs();
                let verified =
                    self.codec
                        .verify(state, self.binding.read(cookies).as_deref(), now)?;
                match self.replay.claim(verified.nonce, verified.expires_at, now) {
                    Claim::Fresh => {}
                    Claim::Replayed => return Err(FlowError::ReplayedState),
                    Claim::Full => return Err(FlowError::Busy),
                }
                Ok((
                    StateInfo {
                        request_id: request_id.to_string(),
                        app_data: verified.app_data,
                        started_at: Some(verified.issued_at),
                        passthrough_state: None,
                    },
                    hex::encode(verified.nonce),
                ))
            }
        }
    }

    /// The view's error page for `error`, or the gateway's own if the view fails.
    pub async fn error_page(
        &self,
        error: &FlowError,
        state: Option<&StateInfo>,
        request_id: &str,
    ) -> Page {
        let info = ErrorInfo {
            kind: error.kind(),
            status: error.status(),
            message: error.public_message().to_string(),
        };
        let page = self
            .plugins
            .view()
            .error_page(request_id, &info, state)
            .await;
        vetted(page, request_id, "error", || {
            fallback::page(info.status, "Something went wrong", &info.message)
        })
    }
}

/// The gateway's own success page, when the view cannot give one.
fn success_fallback() -> Page {
    fallback::page(
        200,
        "Notion connected",
        "Your Notion workspace is connected. You can close this window.",
    )
}

/// The page for a token that is safely stored but not yet taken by the
/// consumer: the truth, without claiming success.
fn received_page() -> Page {
    fallback::page(
        202,
        "Connection received",
        "Notion sent your connection and it is safely stored. It is being completed in the background; you can close this window.",
    )
}

/// The gateway's own access-denied page, when the view cannot give one.
fn denied_fallback() -> Page {
    fallback::page(
        403,
        "Notion was not connected",
        "The connection was cancelled or refused. You can start again at any time.",
    )
}

/// The view's page, or `fallback` when the view failed or asked to redirect
/// the browser anywhere but a path on this site (no open redirects).
fn vetted(
    page: Result<Page, PluginError>,
    request_id: &str,
    which: &str,
    fallback: impl FnOnce() -> Page,
) -> Page {
    match page {
        Ok(page) if (300..400).contains(&page.status) => {
            let target = page
                .headers
                .iter()
                .find(|(name, _)| name == http::header::LOCATION)
                .and_then(|(_, value)| value.to_str().ok());
            if target.is_some_and(is_local_path) {
                page
            } else {
                tracing::warn!(
                    request_id,
                    "the view's {which} page redirects off this site (or nowhere); the gateway's own page is shown instead"
                );
                fallback()
            }
        }
        Ok(page) => page,
        Err(e) => {
            tracing::error!(request_id, "view failed on the {which} page: {e}");
            fallback()
        }
    }
}
