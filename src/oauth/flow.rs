//! The start route and the callback, in order, with every check before any
//! call to Notion.

use std::sync::Arc;

use super::app_data::{
    AppDataRefusal, SESSION_SECS, check_signed_link, is_session_id, new_session_id, session_hash,
};
use super::binding::BindingCookie;
use super::error::FlowError;
use super::params::{CallbackParams, StartParams};
use super::replay::{Claim, ReplayGuard};
use super::state::{MAX_APP_DATA, StateCodec};
use crate::clock::SharedClock;
use crate::config::{Config, StateMode, UnsignedData};
use crate::delivery::{Acknowledging, DeliveryService, HandOff, HandedOff};
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

/// A connect session the app opened: the start link to send its user to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectLink {
    /// The start route with the session's id; it starts one flow.
    pub url: String,
    /// When the link stops working (Unix seconds).
    pub expires_at: u64,
}

/// Why a connect session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectSessionError {
    /// App data needs the gateway's signed state.
    #[error("connect sessions carry app data, which needs [notion] state = \"signed\"")]
    Passthrough,
    /// The app data is too long or has control characters.
    #[error("`app_data` must be at most 512 bytes without control characters")]
    BadAppData,
    /// The redirect URI, whose origin start links use, is not a URL.
    #[error("[notion] redirect_uri is not a URL, so no start link can be made")]
    NoPublicUrl,
    /// The store could not keep the session.
    #[error("the store could not keep the session: {0}")]
    Store(String),
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
    /// The delivery's acknowledgement, still being written: awaited before
    /// the page is sent.
    pub acknowledging: Acknowledging,
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
        let binding = BindingCookie::new(n.redirect_is_https(), n.state_ttl.as_secs());
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

    /// The cookie that binds flows (and their result pages) to a browser.
    pub fn binding(&self) -> &BindingCookie {
        &self.binding
    }

    /// `GET {start}`: builds Notion's authorize URL with a fresh state bound
    /// to this browser, carrying app data only when the app vouched for it.
    pub async fn start<'a>(
        &self,
        query: Option<&str>,
        cookies: impl IntoIterator<Item = &'a str>,
    ) -> Result<Redirect, FlowError> {
        let n = &self.config.notion;
        let params = StartParams::parse(query).map_err(FlowError::BadRequest)?;
        let (state, set_cookie) = match n.state_mode {
            StateMode::Signed => {
                if params.state.is_some() {
                    return Err(FlowError::BadRequest(
                        "`state` is set by the gateway in signed mode; pass app data as `data`",
                    ));
                }
                let data = self.vouched_data(&params).await?;
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
                if params.data.is_some() || params.session.is_some() {
                    return Err(FlowError::BadRequest(
                        "`data` needs signed state mode; in passthrough mode put it in your own `state`",
                    ));
                }
                (params.state, None)
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

    /// The start's app data, once the app has vouched for it: signed with
    /// the app key, or held by a connect session (taken here, once), or
    /// unsigned where `[app_data] unsigned = "allow"`.
    async fn vouched_data(&self, p: &StartParams) -> Result<Option<String>, FlowError> {
        use AppDataRefusal as R;
        let refuse = |r: AppDataRefusal| Err(FlowError::AppData(r));
        let a = &self.config.app_data;
        match (&p.session, &p.data, &p.exp, &p.sig) {
            (Some(_), Some(_), _, _) | (Some(_), _, Some(_), _) | (Some(_), _, _, Some(_)) => {
                refuse(R::SessionAndData)
            }
            (Some(id), None, None, None) => self.take_session(id).await.map(Some),
            (None, None, None, None) => Ok(None),
            (None, Some(data), Some(exp), Some(sig)) => {
                check_signed_link(a.key.as_ref(), data, exp, sig, self.clock.now_secs())
                    .map_err(FlowError::AppData)?;
                Ok(Some(data.clone()))
            }
            (None, Some(data), None, None) => match a.unsigned {
                UnsignedData::Allow => Ok(Some(data.clone())),
                UnsignedData::Refuse => refuse(R::Unsigned),
            },
            (None, _, _, _) => refuse(R::MissingSignature),
        }
    }

    /// The app data of the connect session `id`, which is taken (once).
    async fn take_session(&self, id: &str) -> Result<String, FlowError> {
        if !is_session_id(id) {
            return Err(FlowError::AppData(AppDataRefusal::SessionGone));
        }
        self.delivery
            .keeper()
            .store()
            .take_session(&session_hash(id), store_ms(self.clock.now_secs()))
            .await
            .map_err(|e| FlowError::Store(e.to_string()))?
            .ok_or(FlowError::AppData(AppDataRefusal::SessionGone))
    }

    /// Opens a connect session carrying `app_data`: the start link the app
    /// sends its user to, good for one flow within ten minutes, at any
    /// instance sharing the store.
    pub async fn open_connect_session(
        &self,
        app_data: &str,
    ) -> Result<ConnectLink, ConnectSessionError> {
        if self.config.notion.state_mode != StateMode::Signed {
            return Err(ConnectSessionError::Passthrough);
        }
        if app_data.len() > MAX_APP_DATA || app_data.chars().any(char::is_control) {
            return Err(ConnectSessionError::BadAppData);
        }
        let now = self.clock.now_secs();
        let expires_at = now + SESSION_SECS;
        let (id, hash) = new_session_id();
        self.delivery
            .keeper()
            .store()
            .open_session(&hash, app_data, store_ms(expires_at), store_ms(now))
            .await
            .map_err(|e| ConnectSessionError::Store(e.to_string()))?;
        let mut url = url::Url::parse(&self.config.notion.redirect_uri)
            .map_err(|_| ConnectSessionError::NoPublicUrl)?;
        url.set_path(&self.config.routes.start);
        url.set_query(None);
        url.set_fragment(None);
        url.query_pairs_mut().append_pair("session", &id);
        Ok(ConnectLink {
            url: url.into(),
            expires_at,
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
        let (authorization, acknowledging) = match handed.map_err(|e| fail(e.into()))? {
            HandedOff::Accepted(authorization, acknowledging) => (*authorization, acknowledging),
            HandedOff::Received => {
                return Ok(Shown {
                    outcome: Outcome::Received,
                    view: None,
                    acknowledging: Acknowledging::default(),
                });
            }
        };

        let page = self
            .plugins
            .view()
            .auth_page(request_id, &authorization, &state)
            .await;
        Ok(Shown {
            acknowledging,
            ..shown(Outcome::Connected, page, request_id)
        })
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
        // A request refused before its state was checked is anyone's to
        // send: its pages get a bounded share of the plugin slots, and past
        // it the gateway's own page answers.
        let _share = match state {
            Some(_) => None,
            None => match self.plugins.refusal_share() {
                Some(share) => Some(share),
                None => {
                    tracing::debug!(
                        request_id,
                        "refusal pages hold their share of plugin slots: the gateway's own page answers"
                    );
                    return Shown {
                        outcome: Outcome::Failed(info),
                        view: None,
                        acknowledging: Acknowledging::default(),
                    };
                }
            },
        };
        let page = self
            .plugins
            .view()
            .error_page(request_id, &info, state)
            .await;
        shown(Outcome::Failed(info), page, request_id)
    }
}

/// Unix seconds as the store's unit, milliseconds.
fn store_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
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
    Shown {
        outcome,
        view,
        acknowledging: Acknowledging::default(),
    }
}
