//! What `plugin try` hands the plugin: a sample token, state and redirect
//! error, each replaceable from a JSON file, and settings for the plugin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::notion::TokenResponse;
use crate::plugins::contract::{RedirectError, StateInfo};

/// The sample token: Notion's token response for a user who connected a
/// workspace, with values that are plainly not real.
const SAMPLE_TOKEN: &str = r#"{
  "access_token": "ntn_try_sample_access_token_not_real",
  "token_type": "bearer",
  "refresh_token": "nrt_try_sample_refresh_token_not_real",
  "bot_id": "7c0a9e54-5f3b-4a8e-9d1c-2b6f8e4a1d00",
  "workspace_id": "3f1b2c4d-8e9a-4b5c-a6d7-e8f9a0b1c2d3",
  "workspace_name": "Acme (sample)",
  "workspace_icon": "https://www.notion.so/images/page-cover/solid_blue.png",
  "owner": {"type": "user", "user": {"object": "user", "id": "5d2e6f70-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
    "name": "Ada Lovelace", "avatar_url": null, "type": "person",
    "person": {"email": "ada@example.com"}}},
  "duplicated_template_id": null,
  "request_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
}"#;

/// The inputs of one `plugin try` run.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The token the consumer is handed (its non-secret part is what the
    /// success page gets).
    pub token: TokenResponse,
    /// The state every call is handed (the request id is each call's own
    /// unless the file sets one).
    pub state: StateInfo,
    /// Whether the file set the request id.
    pub fixed_request_id: bool,
    /// The error Notion redirects with, for the denial calls.
    pub redirect_error: RedirectError,
    /// The plugin's settings, over its manifest's defaults.
    pub settings: BTreeMap<String, String>,
    /// Its limits, where they differ from the gateway's defaults, as
    /// `[plugins.limits.NAME]` takes them.
    pub limits: Limits,
}

/// A plugin's limits as `[plugins.limits.NAME]` takes them; `None` keeps
/// the gateway's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// `deadline_ms`.
    pub deadline_ms: Option<u64>,
    /// `memory_limit_mib`.
    pub memory_limit_mib: Option<u64>,
}

/// Why an inputs file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The file could not be read.
    #[error("cannot read the inputs file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not the JSON expected.
    #[error("the inputs file {} is not valid: {reason}; docs/plugins.md (\"plugin try\") shows its shape", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
}

/// The inputs file: every part optional, every key known.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputsFile {
    /// A whole Notion token response (as `POST /v1/oauth/token` answers).
    token: Option<serde_json::Value>,
    state: Option<StateFile>,
    redirect_error: Option<RedirectErrorFile>,
    settings: Option<BTreeMap<String, String>>,
    limits: Option<Limits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    request_id: Option<String>,
    #[serde(default, deserialize_with = "set_or_null")]
    app_data: Option<Option<String>>,
    #[serde(default, deserialize_with = "set_or_null")]
    started_at: Option<Option<u64>>,
    #[serde(default, deserialize_with = "set_or_null")]
    passthrough_state: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectErrorFile {
    error: Option<String>,
    #[serde(default, deserialize_with = "set_or_null")]
    error_description: Option<Option<String>>,
}

/// Tells a key given as `null` (`Some(None)`) from a key left out (`None`).
fn set_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl Inputs {
    /// The sample inputs, as of `now_unix` seconds.
    pub fn sample(now_unix: u64) -> Self {
        let token = match TokenResponse::parse(SAMPLE_TOKEN.as_bytes()) {
            Ok(token) => token,
            Err(e) => unreachable!("the sample token parses (tested): {e}"),
        };
        Self {
            token,
            state: StateInfo {
                request_id: "try".into(),
                app_data: Some("app-user-42".into()),
                started_at: Some(now_unix.saturating_sub(30)),
                passthrough_state: None,
            },
            fixed_request_id: false,
            redirect_error: RedirectError {
                error: "access_denied".into(),
                error_description: Some("The user cancelled the authorization.".into()),
            },
            settings: BTreeMap::new(),
            limits: Limits::default(),
        }
    }

    /// The sample inputs with what the JSON file at `path` replaces.
    pub fn from_file(path: &Path, now_unix: u64) -> Result<Self, InputsError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path, now_unix)
    }

    /// The sample inputs with what `text` (the file at `path`) replaces.
    pub fn from_json(text: &str, path: &Path, now_unix: u64) -> Result<Self, InputsError> {
        let invalid = |reason: String| InputsError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file: InputsFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut inputs = Self::sample(now_unix);
        if let Some(token) = file.token {
            let bytes = serde_json::to_vec(&token).map_err(|e| invalid(e.to_string()))?;
            inputs.token = TokenResponse::parse(&bytes).map_err(|why| {
                invalid(format!("\"token\" is not a Notion token response: {why}"))
            })?;
        }
        if let Some(state) = file.state {
            if let Some(id) = state.request_id {
                inputs.state.request_id = id;
                inputs.fixed_request_id = true;
            }
            if let Some(v) = state.app_data {
                inputs.state.app_data = v;
            }
            if let Some(v) = state.started_at {
                inputs.state.started_at = v;
            }
            if let Some(v) = state.passthrough_state {
                inputs.state.passthrough_state = v;
            }
        }
        if let Some(e) = file.redirect_error {
            if let Some(error) = e.error {
                inputs.redirect_error.error = error;
            }
            if let Some(v) = e.error_description {
                inputs.redirect_error.error_description = v;
            }
        }
        inputs.settings = file.settings.unwrap_or_default();
        inputs.limits = file.limits.unwrap_or_default();
        Ok(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_parses_and_a_file_replaces_only_what_it_names() {
        let sample = Inputs::sample(1_700_000_000);
        assert_eq!(
            sample.token.workspace_name.as_deref(),
            Some("Acme (sample)")
        );
        let inputs = Inputs::from_json(
            r#"{"state": {"app_data": null, "request_id": "r-1"},
                "redirect_error": {"error": "server_error"},
                "settings": {"mode": "loud"}}"#,
            Path::new("in.json"),
            1_700_000_000,
        )
        .expect("inputs");
        assert_eq!(inputs.state.app_data, None);
        assert_eq!(inputs.state.request_id, "r-1");
        assert!(inputs.fixed_request_id);
        assert_eq!(inputs.state.started_at, Some(1_699_999_970));
        assert_eq!(inputs.redirect_error.error, "server_error");
        assert!(inputs.redirect_error.error_description.is_some());
        assert_eq!(
            inputs.settings.get("mode").map(String::as_str),
            Some("loud")
        );
    }

    #[test]
    fn a_bad_file_says_what_and_where() {
        for (text, says) in [
            (r#"{"stat": {}}"#, "unknown field `stat`"),
            (r#"{"state": {"app_data": 7}}"#, "line 1"),
            (
                r#"{"token": {"access_token": "x"}}"#,
                "not a Notion token response",
            ),
        ] {
            let e = Inputs::from_json(text, Path::new("in.json"), 0)
                .expect_err(text)
                .to_string();
            assert!(e.contains("in.json") && e.contains(says), "{text}: {e}");
        }
    }
}
