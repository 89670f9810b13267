//! The `[notion]` table: the integration's OAuth client, Notion's URLs and
//! API version, timeouts, and how the `state` parameter is made and checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::Routes;
use super::checker::{Checker, EnvLookup, Given, fallback_url, is_world_readable};
use crate::secret::{ClientSecret, Secret};

/// Notion's API, for the defaults.
const NOTION_API: &str = "https://api.notion.com";
/// Notion's consent page.
const NOTION_AUTHORIZE: &str = "https://api.notion.com/v1/oauth/authorize";
/// The `Notion-Version` sent when the config names none.
pub(crate) const DEFAULT_NOTION_VERSION: &str = "2026-03-11";
/// `[notion]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotion {
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) client_secret_env: Option<String>,
    pub(crate) client_secret_file: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) api_base_url: Option<String>,
    pub(crate) authorize_url: Option<String>,
    pub(crate) notion_version: Option<String>,
    pub(crate) extra_ca_file: Option<String>,
    pub(crate) connect_timeout_ms: Option<u64>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) state: Option<String>,
    pub(crate) state_ttl_seconds: Option<u64>,
    pub(crate) state_key_env: Option<String>,
    pub(crate) state_key_file: Option<String>,
}

/// `[notion]`
#[derive(Debug, Clone)]
pub struct NotionConfig {
    /// The integration's OAuth client id.
    pub client_id: String,
    /// The integration's OAuth client secret.
    pub client_secret: ClientSecret,
    /// The redirect URI registered with Notion, exactly as written in the
    /// config: sent byte-identical in the authorize URL and the token request.
    pub redirect_uri: String,
    /// Notion's API base (`https://api.notion.com`).
    pub api_base_url: Url,
    /// Notion's consent page.
    pub authorize_url: Url,
    /// The `Notion-Version` header value.
    pub notion_version: String,
    /// A PEM file of extra CA certificates to trust for the token endpoint.
    pub extra_ca_file: Option<PathBuf>,
    /// Connect timeout for calls to Notion.
    pub connect_timeout: Duration,
    /// Total timeout for one call to Notion.
    pub timeout: Duration,
    /// How the `state` parameter is made and checked.
    pub state_mode: StateMode,
    /// How long a signed state stays valid.
    pub state_ttl: Duration,
    /// Where the state-signing key comes from.
    pub state_key: KeySource,
}

impl NotionConfig {
    /// Whether browsers come back over https (the scheme compared without
    /// regard to case, as URLs' schemes are): the binding cookie is then
    /// `Secure` and `__Host-`, and HSTS applies.
    pub fn redirect_is_https(&self) -> bool {
        self.redirect_uri
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
    }

    /// The token endpoint, `{api_base_url}/v1/oauth/token`.
    pub fn token_url(&self) -> Url {
        self.api_url("v1/oauth/token")
    }

    /// `{api_base_url}/{path}`, whether or not the base ends with a slash.
    pub fn api_url(&self, path: &str) -> Url {
        join_api(&self.api_base_url, path)
    }
}

/// Appends `path` to a base URL whether or not the base ends with a slash.
fn join_api(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

/// Where the state-signing key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Read from this environment variable's value (hex or base64, >= 32 bytes).
    Given(Secret),
    /// Read from this file; created with a fresh random key if missing.
    File(PathBuf),
}

/// How the gateway treats the OAuth `state` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateMode {
    /// The gateway makes, signs, binds and checks the state (the default).
    Signed,
    /// The app makes its own state and checks it in its plugin; the gateway
    /// passes it through untouched.
    Passthrough,
}

/// Checks `[notion]`; `routes` are the gateway's (the redirect URI should
/// match its redirect route), `data_dir` holds the generated state key, and
/// `path` is the config file (a secret written in it must not be readable
/// by everyone).
pub(super) fn check(
    c: &mut Checker<'_>,
    n: &RawNotion,
    routes: &Routes,
    data_dir: &Path,
    path: Option<&Path>,
    env: EnvLookup<'_>,
) -> NotionConfig {
    if let Some(path) = path
        && n.client_secret.is_some()
        && is_world_readable(path)
    {
        c.error(
            "notion.client_secret",
            format!(
                "the config file holds a secret but anyone on this machine can read it; run `chmod o-rwx {}` or move the secret to client_secret_env",
                path.display()
            ),
        );
    }

    let client_id = n.client_id.clone().unwrap_or_default();
    if client_id.trim().is_empty() {
        c.error(
            "notion.client_id",
            "is missing; copy the OAuth client ID from the integration's Configuration tab",
        );
    } else if client_id.len() > 256 || client_id.chars().any(|ch| ch.is_control()) {
        c.error(
            "notion.client_id",
            "does not look like an OAuth client id (too long or has control characters)",
        );
    }
    let client_secret = client_secret(c, n, env);
    let redirect_url = match &n.redirect_uri {
        Some(u) => c.url("notion.redirect_uri", Some(u), ""),
        None => {
            c.error(
                "notion.redirect_uri",
                format!("is missing; give the redirect URI registered with Notion, e.g. https://your.host{}", routes.redirect),
            );
            fallback_url()
        }
    };
    if n.redirect_uri.is_some()
        && redirect_url.path() != routes.redirect
        && !c.has_error("notion.redirect_uri")
    {
        c.warn(
            "notion.redirect_uri",
            format!(
                "its path {} differs from the gateway's redirect route {}; that only works behind a proxy that rewrites paths",
                redirect_url.path(),
                routes.redirect
            ),
        );
    }
    let api_base_url = c.url("notion.api_base_url", n.api_base_url.as_deref(), NOTION_API);
    let authorize_url = c.url(
        "notion.authorize_url",
        n.authorize_url.as_deref(),
        NOTION_AUTHORIZE,
    );
    let notion_version = n
        .notion_version
        .clone()
        .unwrap_or_else(|| DEFAULT_NOTION_VERSION.to_string());
    if notion_version.is_empty()
        || !notion_version
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    {
        c.error(
            "notion.notion_version",
            format!(
                "{notion_version:?} is not a Notion API version such as {DEFAULT_NOTION_VERSION}"
            ),
        );
    }
    let extra_ca_file = n.extra_ca_file.as_ref().map(PathBuf::from);
    if let Some(ca) = &extra_ca_file
        && !ca.is_file()
    {
        c.error(
            "notion.extra_ca_file",
            format!(
                "{} does not exist or is not a file; give a PEM file of CA certificates",
                ca.display()
            ),
        );
    }
    let state_mode = match n.state.as_deref().unwrap_or("signed") {
        "signed" => StateMode::Signed,
        "passthrough" => StateMode::Passthrough,
        other => {
            c.error(
                "notion.state",
                format!("must be \"signed\" or \"passthrough\", got {other:?}"),
            );
            StateMode::Signed
        }
    };
    let ttl = n.state_ttl_seconds.unwrap_or(600);
    if !(1..=600).contains(&ttl) {
        c.error(
            "notion.state_ttl_seconds",
            format!(
                "must be between 1 and 600 seconds (an authorization code should live at most 10 minutes, RFC 6749 §4.1.2), got {ttl}"
            ),
        );
    }
    let state_key = match c.secret(
        "notion.state_key",
        n.state_key_env.as_deref(),
        n.state_key_file.as_deref(),
        None,
        env,
        "set it to 32+ random bytes in hex (`openssl rand -hex 32`) or base64 (`openssl rand -base64 32`)",
    ) {
        Some(Given::Env { value, .. }) => {
            if crate::secret::SecretBytes::decode(value.expose()).is_none_or(|k| k.expose().len() < 32) {
                c.error(
                    "notion.state_key_env",
                    "the state key must be 32+ random bytes, written as hex digits only (`openssl rand -hex 32`) or as base64 (`openssl rand -base64 32`); a key of hex digits only is read as hex",
                );
            }
            KeySource::Given(value)
        }
        Some(Given::File(path)) => KeySource::File(path),
        Some(Given::Inline(_)) | None => KeySource::File(data_dir.join("state.key")),
    };
    NotionConfig {
        client_id,
        client_secret,
        redirect_uri: n.redirect_uri.clone().unwrap_or_default(),
        api_base_url,
        authorize_url,
        notion_version,
        extra_ca_file,
        connect_timeout: c.duration_ms(
            "notion.connect_timeout_ms",
            n.connect_timeout_ms,
            5_000,
            60_000,
        ),
        timeout: c.duration_ms("notion.timeout_ms", n.timeout_ms, 15_000, 120_000),
        state_mode,
        state_ttl: Duration::from_secs(ttl),
        state_key,
    }
}

/// The client secret from exactly one of the three places it may be.
fn client_secret(c: &mut Checker<'_>, raw: &RawNotion, env: EnvLookup<'_>) -> ClientSecret {
    let given = c.secret(
        "notion.client_secret",
        raw.client_secret_env.as_deref(),
        raw.client_secret_file.as_deref(),
        raw.client_secret.as_deref(),
        env,
        "export it with the integration's OAuth client secret",
    );
    let secret = match given {
        Some(Given::Env { value, .. }) => Some(value),
        Some(Given::File(path)) => c.read_secret(
            "notion.client_secret_file",
            &path,
            "put the OAuth client secret in it",
        ),
        Some(Given::Inline(value)) => {
            c.warn(
                "notion.client_secret",
                "the client secret is written in the config file; prefer client_secret_env or client_secret_file so the file can be shared",
            );
            if value.is_empty() {
                c.error(
                    "notion.client_secret",
                    "is empty; give the integration's OAuth client secret",
                );
            }
            Some(value)
        }
        None => {
            if raw.client_secret_env.is_none() {
                c.error(
                    "notion.client_secret_env",
                    "no client secret configured; set client_secret_env = \"VAR\" (or client_secret_file) to the integration's OAuth client secret",
                );
            }
            None
        }
    };
    ClientSecret::new(secret.as_ref().map_or("", Secret::expose))
}
