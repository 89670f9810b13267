//! Calls into consumer and view plugins: one fresh instance per call, bounded
//! by the plugin's deadline, with failures classified for the log.

use std::future::Future;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::Instance;

use super::bindings::contract::{
    Authorization, ConsumerError, ErrorInfo, HttpResponse, RedirectError, StateInfo, TokenInfo,
};
use super::bindings::{ConsumerExports, ViewExports};
use super::component::{LoadedPlugin, Role, classify};
use super::error::{PluginError, PluginFailure};
use super::host::InstanceData;
use crate::secret::scrub;

/// Extra time past a plugin's deadline before the host gives up waiting on a
/// call that is stuck outside wasm (the epoch stops wasm itself).
const GRACE: Duration = Duration::from_millis(250);

/// The most headers a view may return.
const MAX_HEADERS: usize = 32;
/// The largest page a view may return.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// A view's response, checked: a valid status, valid and few headers, a bounded body.
#[derive(Debug, Clone)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The headers, valid for HTTP.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The body.
    pub body: Vec<u8>,
}

impl LoadedPlugin {
    /// Runs one call, giving up shortly after the deadline if it is stuck outside wasm.
    async fn bounded<R>(
        &self,
        call: impl Future<Output = Result<R, PluginError>>,
    ) -> Result<R, PluginError> {
        let result = match tokio::time::timeout(self.limits().deadline + GRACE, call).await {
            Ok(result) => result,
            Err(_) => Err(PluginError::of(
                self.name(),
                PluginFailure::Deadline {
                    deadline: self.limits().deadline,
                },
            )),
        };
        if let Err(e) = &result {
            self.recent().gateway("error", format!("call failed: {e}"));
        }
        result
    }

    fn consumer_exports(
        &self,
        store: &mut Store<InstanceData>,
        instance: &Instance,
    ) -> Result<ConsumerExports, PluginError> {
        let indices = self
            .consumer
            .as_ref()
            .ok_or_else(|| self.not_a(Role::Consumer))?;
        indices.load(store, instance).map_err(|e| classify(self, e))
    }

    fn view_exports(
        &self,
        store: &mut Store<InstanceData>,
        instance: &Instance,
    ) -> Result<ViewExports, PluginError> {
        let indices = self.view.as_ref().ok_or_else(|| self.not_a(Role::View))?;
        indices.load(store, instance).map_err(|e| classify(self, e))
    }

    fn not_a(&self, role: Role) -> PluginError {
        PluginError::of(
            self.name(),
            PluginFailure::Invalid {
                reason: format!(
                    "does not export {}, so it cannot be the {}",
                    role.interface(),
                    role.name()
                ),
            },
        )
    }

    /// The consumer's refusal, its message with the secrets it was handed
    /// (`known`) taken out before it is logged or stored, then cut short.
    fn refused(&self, e: ConsumerError, known: &[&str]) -> PluginError {
        PluginError::of(
            self.name(),
            PluginFailure::Refused {
                message: scrub(&e.message, known)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(500)
                    .collect(),
                retryable: e.retryable,
            },
        )
    }

    fn after_call(&self, store: &Store<InstanceData>) {
        let dropped = store.data().dropped_log_lines();
        if dropped > 0 {
            tracing::warn!(
                plugin = self.name(),
                dropped,
                "plugin wrote more log lines than one call may; the rest were dropped"
            );
        }
    }

    /// Hands a new token to the consumer.
    pub async fn consume_token_info(
        &self,
        request_id: &str,
        token: &TokenInfo,
        state: &StateInfo,
    ) -> Result<(), PluginError> {
        self.bounded(async {
            let known = [
                token.access_token.as_str(),
                token.refresh_token.as_deref().unwrap_or_default(),
            ];
            let (mut store, instance) = self.instantiate(request_id).await?;
            store.data_mut().hide_in_log(&known);
            let exports = self.consumer_exports(&mut store, &instance)?;
            let outcome = exports
                .call_consume_token_info(&mut store, token, state)
                .await;
            self.after_call(&store);
            outcome
                .map_err(|e| classify(self, e))?
                .map_err(|e| self.refused(e, &known))
        })
        .await
    }

    /// Tells the consumer that Notion redirected with an error.
    pub async fn consume_redirect_error(
        &self,
        request_id: &str,
        error: &RedirectError,
        state: &StateInfo,
    ) -> Result<(), PluginError> {
        self.bounded(async {
            let (mut store, instance) = self.instantiate(request_id).await?;
            let exports = self.consumer_exports(&mut store, &instance)?;
            let outcome = exports
                .call_consume_redirect_error(&mut store, error, state)
                .await;
            self.after_call(&store);
            outcome
                .map_err(|e| classify(self, e))?
                .map_err(|e| self.refused(e, &[]))
        })
        .await
    }

    /// Asks the view for the success page.
    pub async fn auth_page(
        &self,
        request_id: &str,
        authorization: &Authorization,
        state: &StateInfo,
    ) -> Result<Page, PluginError> {
        self.bounded(async {
            let (mut store, instance) = self.instantiate(request_id).await?;
            let exports = self.view_exports(&mut store, &instance)?;
            let outcome = exports
                .call_make_auth_response(&mut store, authorization, state)
                .await;
            self.after_call(&store);
            self.page(outcome.map_err(|e| classify(self, e))?)
        })
        .await
    }

    /// Asks the view for the access-denied page.
    pub async fn denied_page(
        &self,
        request_id: &str,
        error: &RedirectError,
        state: &StateInfo,
    ) -> Result<Page, PluginError> {
        self.bounded(async {
            let (mut store, instance) = self.instantiate(request_id).await?;
            let exports = self.view_exports(&mut store, &instance)?;
            let outcome = exports
                .call_make_access_denied_response(&mut store, error, state)
                .await;
            self.after_call(&store);
            self.page(outcome.map_err(|e| classify(self, e))?)
        })
        .await
    }

    /// Asks the view for an error page; the status is the host's, whatever the view says.
    pub async fn error_page(
        &self,
        request_id: &str,
        error: &ErrorInfo,
        state: Option<&StateInfo>,
    ) -> Result<Page, PluginError> {
        self.bounded(async {
            let (mut store, instance) = self.instantiate(request_id).await?;
            let exports = self.view_exports(&mut store, &instance)?;
            let outcome = exports
                .call_make_error_response(&mut store, error, state)
                .await;
            self.after_call(&store);
            let mut page = self.page(outcome.map_err(|e| classify(self, e))?)?;
            page.status = error.status;
            Ok(page)
        })
        .await
    }

    /// Checks a view's response.
    fn page(&self, response: HttpResponse) -> Result<Page, PluginError> {
        let bad =
            |reason: String| PluginError::of(self.name(), PluginFailure::BadResponse { reason });
        if !(200..=599).contains(&response.status) {
            return Err(bad(format!(
                "status {} is not between 200 and 599",
                response.status
            )));
        }
        if response.headers.len() > MAX_HEADERS {
            return Err(bad(format!(
                "{} headers (at most {MAX_HEADERS})",
                response.headers.len()
            )));
        }
        if response.body.len() > MAX_BODY {
            return Err(bad(format!(
                "a {} byte body (at most {MAX_BODY})",
                response.body.len()
            )));
        }
        let mut headers = Vec::with_capacity(response.headers.len());
        for (name, value) in response.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                bad(format!(
                    "{:?} is not a header name",
                    name.escape_debug().to_string()
                ))
            })?;
            let value = http::HeaderValue::from_str(&value).map_err(|_| {
                bad(format!(
                    "the value of header {name} is not valid header text"
                ))
            })?;
            headers.push((name, value));
        }
        Ok(Page {
            status: response.status,
            headers,
            body: response.body,
        })
    }
}
