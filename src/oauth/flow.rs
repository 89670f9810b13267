//! The start route and the callback, in order, with every check before any
//! call to Notion.

use std::sync::Arc;

use super::binding::BindingCookie;
use super::error::FlowError;
use super::params::{CallbackParams, StartParams};
use super::replay::{Claim, ReplayGuard};
use super::state::StateCodec;
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

/// What the browser is to be shown for one outcome of the flow: the outcome
/// itself, and the view's page for it when the view gave one. The gateway
/// answers with its own page for the outcome when the view's is missing or
/// unusable (see [`crate::http`]).
#[derive(Debug)]
pub struct Shown {
    /// What happened.
    pub outcome: Outcome,
    /// The view's page; `None` when the view failed (already logged) or
    /// has no say (a token received but not yet delivered).
    pub view: Option<Page>,
}

/// How a flow ended, as far as the browser is concerned.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The token was delivered: the success page.
    Connected,
    /// The token is durably stored but the consumer has not taken it yet:
    /// the truth, without claiming success.
    Received,
    /// Notion redirected with an error (the user cancelled or refused).
    Denied,
    /// The flow failed; the view is told this.
    Failed(ErrorInfo),
}

impl Outcome {
    /// The page's name in logs.
    pub fn page_name(&self) -> &'static str {
        match self {
            Outcome::Connected => "success",
            Outcome::Received => "received",
            Outcome::Denied => "access-denied",
            Outcome::Failed(_) => "error",
        }
    }
}

/// The callback's answer.
#[derive(Debug)]
pub enum Callback {
    /// The flow got past the state check and ran to its end: the page is
    /// about a real flow (worth keeping for the browser at a clean URL).
    Ended(Shown),
    /// The flow failed; `state` is the flow's when it got past the state
    /// check. The error page is asked for with [`Flow::error_page`] once
    /// the error's status and sentence are chosen.
    Failed {
        /// What went wrong.
        error: FlowError,
        /// The verified state, if the callback got that far.
        state: Option<StateInfo>,
    },
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
        let StartParams {
            data,
            state: own_state,
        } = StartParams::parse(query).map_err(FlowError::BadRequest)?;
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

    /// `GET {redirect}`: checks, exchanges, delivers and asks the view for its page.
    pub async fn callback<'a>(
        &self,
        query: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
        request_id: &str,
    ) -> Callback {
        match self.run_callback(query, cookies, request_id).await {
            Ok(shown) => Callback::Ended(shown),
            Err((error, state)) => Callback::Failed { error, state },
        }
    }

    async fn run_callback<'a>(
        &self,
        query: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
        request_id: &str,
    ) -> Result<Shown, (FlowError, Option<StateInfo>)> {
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
            return Ok(shown(Outcome::Denied, page, request_id));
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
            HandedOff::Received => {
                return Ok(Shown {
                    outcome: Outcome::Received,
                    view: None,
                });
            }
        };

        let page = self
            .plugins
            .view()
            .auth_page(request_id, &authorization, &state)
            .await;
        Ok(shown(Outcome::Connected, page, request_id))
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

    /// The view's page for a failed flow, told `info` (the error's kind,
    /// status and the sentence for the user).
    pub async fn error_page(
        &self,
        info: ErrorInfo,
        state: Option<&StateInfo>,
        request_id: &str,
    ) -> Shown {
        let page = self
            .plugins
            .view()
            .error_page(request_id, &info, state)
            .await;
        shown(Outcome::Failed(info), page, request_id)
    }
}

/// The outcome with the view's page for it, or none when the view failed.
fn shown(outcome: Outcome, page: Result<Page, PluginError>, request_id: &str) -> Shown {
    let view = page
        .inspect_err(|e| {
            tracing::error!(
                request_id,
                "view failed on the {} page: {e}",
                outcome.page_name()
            );
        })
        .ok();
    Shown { outcome, view }
}
