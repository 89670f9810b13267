//! Turns the raw TOML into a checked [`Config`], collecting every problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::{Host, Url};

use super::problem::Locator;
use super::raw::{RawConfig, RawLimits};
use super::{
    Config, ConfigError, ConfigProblem, DocumentConfig, EnvLookup, KeySource, NotionConfig,
    PluginLimits, Routes, StateMode,
};
use crate::secret::Secret;

/// Notion's API, for the defaults.
const NOTION_API: &str = "https://api.notion.com";
/// Notion's consent page.
const NOTION_AUTHORIZE: &str = "https://api.notion.com/v1/oauth/authorize";
/// The `Notion-Version` sent when the config names none.
pub(crate) const DEFAULT_NOTION_VERSION: &str = "2026-03-11";
/// The longest plugin name accepted.
pub(crate) const MAX_PLUGIN_NAME: usize = 64;

/// Collects problems while the config is checked.
pub(super) struct Checker<'a> {
    origin: &'a str,
    locator: Locator<'a>,
    problems: Vec<ConfigProblem>,
    warnings: Vec<ConfigProblem>,
}

impl Checker<'_> {
    pub(super) fn problem(&self, key: &str, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            file: self.origin.to_string(),
            position: self.locator.locate(key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn error(&mut self, key: &str, message: impl Into<String>) {
        let p = self.problem(key, message);
        self.problems.push(p);
    }

    pub(super) fn warn(&mut self, key: &str, message: impl Into<String>) {
        let p = self.problem(key, message);
        self.warnings.push(p);
    }

    /// A URL that must be https, or http on a loopback host.
    pub(super) fn url(&mut self, key: &str, value: Option<&str>, default: &str) -> Url {
        let text = value.unwrap_or(default);
        match Url::parse(text) {
            Ok(url) if url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url)) => {
                if url.query().is_some() || url.fragment().is_some() {
                    self.error(key, "must not have a query or fragment; give the bare URL");
                }
                url
            }
            Ok(url) => {
                self.error(
                    key,
                    format!(
                        "must be an https URL (http is allowed only for loopback hosts such as 127.0.0.1 or localhost), got scheme `{}`",
                        url.scheme()
                    ),
                );
                url
            }
            Err(e) => {
                self.error(
                    key,
                    format!("is not a valid URL ({e}); write it like `https://example.com/path`"),
                );
                fallback_url()
            }
        }
    }

    /// A route path: starts with `/`, no query, no whitespace.
    pub(super) fn route(&mut self, key: &str, value: Option<&str>, default: &str) -> String {
        let path = value.unwrap_or(default);
        if !path.starts_with('/') || path.contains(['?', '#', ' ', '\t']) || path.len() > 256 {
            self.error(
                key,
                format!(
                    "must be a path starting with `/`, without `?`, `#` or spaces, got {path:?}"
                ),
            );
        }
        path.to_string()
    }

    pub(super) fn duration_ms(
        &mut self,
        key: &str,
        value: Option<u64>,
        default: u64,
        max: u64,
    ) -> Duration {
        let ms = value.unwrap_or(default);
        if ms == 0 || ms > max {
            self.error(
                key,
                format!("must be between 1 and {max} milliseconds, got {ms}"),
            );
        }
        Duration::from_millis(ms)
    }

    pub(super) fn limits(
        &mut self,
        key: &str,
        raw: &RawLimits,
        base: PluginLimits,
    ) -> PluginLimits {
        let memory_bytes = match raw.memory_limit_mib {
            Some(mib) if !(1..=4096).contains(&mib) => {
                self.error(
                    &format!("{key}.memory_limit_mib"),
                    format!("must be between 1 and 4096 MiB, got {mib}"),
                );
                base.memory_bytes
            }
            Some(mib) => mib * 1024 * 1024,
            None => base.memory_bytes,
        };
        let deadline = match raw.deadline_ms {
            Some(ms) => self.duration_ms(&format!("{key}.deadline_ms"), Some(ms), 0, 60_000),
            None => base.deadline,
        };
        PluginLimits {
            memory_bytes,
            deadline,
        }
    }

    /// The client secret from exactly one of the three places it may be.
    fn client_secret(&mut self, raw: &super::raw::RawNotion, env: EnvLookup<'_>) -> Secret {
        let given = [
            raw.client_secret.is_some(),
            raw.client_secret_env.is_some(),
            raw.client_secret_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given > 1 {
            self.error(
                "notion.client_secret_env",
                "give the client secret in only one of client_secret_env, client_secret_file, client_secret",
            );
        }
        if let Some(var) = &raw.client_secret_env {
            return match env(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => Secret::new(v.trim().to_string()),
                None => {
                    self.error(
                        "notion.client_secret_env",
                        format!("the environment variable {var} is not set or empty; export it with the integration's OAuth client secret"),
                    );
                    Secret::new(String::new())
                }
            };
        }
        if let Some(file) = &raw.client_secret_file {
            return match std::fs::read_to_string(file) {
                Ok(v) if !v.trim().is_empty() => Secret::new(v.trim().to_string()),
                Ok(_) => {
                    self.error(
                        "notion.client_secret_file",
                        format!("the file {file} is empty; put the OAuth client secret in it"),
                    );
                    Secret::new(String::new())
                }
                Err(e) => {
                    self.error(
                        "notion.client_secret_file",
                        format!("cannot read {file}: {e}"),
                    );
                    Secret::new(String::new())
                }
            };
        }
        if let Some(inline) = &raw.client_secret {
            self.warn(
                "notion.client_secret",
                "the client secret is written in the config file; prefer client_secret_env or client_secret_file so the file can be shared",
            );
            if inline.trim().is_empty() {
                self.error(
                    "notion.client_secret",
                    "is empty; give the integration's OAuth client secret",
                );
            }
            return Secret::new(inline.trim().to_string());
        }
        self.error(
            "notion.client_secret_env",
            "no client secret configured; set client_secret_env = \"VAR\" (or client_secret_file) to the integration's OAuth client secret",
        );
        Secret::new(String::new())
    }

    pub(super) fn plugin_name(&mut self, key: &str, value: Option<&str>, default: &str) -> String {
        let name = value.unwrap_or(default).to_string();
        if !is_plugin_name(&name) {
            self.error(
                key,
                format!("{name:?} is not a plugin name: use letters, digits, `-` and `_` (the file is <dir>/<name>.wasm)"),
            );
        }
        name
    }
}

/// Whether `name` can name a component file without escaping the plugins folder.
pub(crate) fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PLUGIN_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn fallback_url() -> Url {
    Url::parse("https://invalid.invalid/").unwrap_or_else(|_| unreachable!("constant URL parses"))
}

/// Whether a URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Joins the base path and a route: `/oauth` + `/start` = `/oauth/start`.
fn with_base(base: &str, route: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), route)
}

/// Parses, checks and resolves `src`. `path` is the file it was read from, if any.
pub(super) fn from_toml(
    src: &str,
    origin: &str,
    path: Option<&Path>,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigError> {
    let mut c = Checker {
        origin,
        locator: Locator::new(src),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let raw: RawConfig = match toml::from_str(src) {
        Ok(raw) => raw,
        Err(e) => {
            let (position, key) = match e.span() {
                Some(span) => {
                    let table = c.locator.table_at(span.start);
                    let at = src.get(span.clone()).unwrap_or("").trim().trim_matches('"');
                    let key = match (table.is_empty(), at.is_empty()) {
                        (true, _) => at.to_string(),
                        (false, true) => table,
                        (false, false) => format!("{table}.{at}"),
                    };
                    (Some(c.locator.line_col(span.start)), key)
                }
                None => (None, String::new()),
            };
            let key = if key.is_empty() {
                "(syntax)".to_string()
            } else {
                key
            };
            return Err(ConfigError {
                problems: vec![ConfigProblem {
                    file: origin.to_string(),
                    position,
                    key,
                    message: format!(
                        "{}; see config/gateway.toml for every valid key",
                        e.message().trim_end()
                    ),
                }],
            });
        }
    };

    // [server]
    let server = super::server::check(&mut c, &raw.server);
    let base_path = server.base_path.clone();

    // [routes]
    let r = &raw.routes;
    let start = c.route("routes.start", r.start.as_deref(), "/auth/notion/start");
    let redirect = c.route(
        "routes.redirect",
        r.redirect.as_deref(),
        "/auth/notion/redirect",
    );
    if start == redirect {
        c.error("routes.redirect", "must differ from routes.start");
    }
    let routes = Routes {
        start: with_base(&base_path, &start),
        redirect: with_base(&base_path, &redirect),
        health: "/healthz".to_string(),
        metrics: with_base(&base_path, "/metrics"),
        api: with_base(&base_path, "/api/v1"),
        landing: if base_path.is_empty() {
            "/".to_string()
        } else {
            base_path.clone()
        },
    };

    // [notion]
    let n = &raw.notion;
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
    let client_secret = c.client_secret(n, env);
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
        && c.problems.iter().all(|p| p.key != "notion.redirect_uri")
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
    let state_key = match (&n.state_key_env, &n.state_key_file) {
        (Some(_), Some(_)) => {
            c.error(
                "notion.state_key_env",
                "give only one of state_key_env and state_key_file",
            );
            KeySource::File(server.data_dir.join("state.key"))
        }
        (Some(var), None) => match env(var).filter(|v| !v.trim().is_empty()) {
            Some(v) => KeySource::Given(Secret::new(v.trim().to_string())),
            None => {
                c.error("notion.state_key_env", format!("the environment variable {var} is not set or empty; set it to 32+ random bytes in base64"));
                KeySource::File(server.data_dir.join("state.key"))
            }
        },
        (None, Some(file)) => KeySource::File(PathBuf::from(file)),
        (None, None) => KeySource::File(server.data_dir.join("state.key")),
    };
    let notion = NotionConfig {
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
    };

    // [plugins]
    let plugins = super::plugins::check(&mut c, &raw.plugins, &server.data_dir, env);

    // [documents]
    let mut documents = Vec::new();
    let reserved = [
        &routes.start,
        &routes.redirect,
        &routes.health,
        &routes.metrics,
    ];
    for (route, file) in &raw.documents {
        let key = format!("documents.{}", quote_key(route));
        c.route(&key, Some(route), "");
        let full = with_base(&base_path, route);
        if reserved.contains(&&full) {
            c.error(
                &key,
                format!("the route {full} is already the gateway's own; pick another path"),
            );
        }
        let path = PathBuf::from(file);
        let known = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "markdown" | "html" | "htm" | "txt")
        );
        if !known {
            c.error(
                &key,
                format!(
                    "{file} must end in .md, .html or .txt so the gateway knows how to serve it"
                ),
            );
        } else if !path.is_file() {
            c.error(
                &key,
                format!("{file} does not exist (paths are relative to the working directory)"),
            );
        }
        documents.push(DocumentConfig { route: full, path });
    }

    // A secret written in the file must not be readable by everyone.
    if let Some(path) = path
        && (n.client_secret.is_some())
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

    // So must a plugin setting that looks like a secret, written inline.
    if let Some(path) = path
        && is_world_readable(path)
    {
        for (plugin, table) in &raw.plugins.settings {
            for (name, value) in table {
                if value.is_str() && looks_secret(name) {
                    c.error(
                        &format!("plugins.settings.{}.{}", quote_key(plugin), quote_key(name)),
                        format!(
                            "looks like a secret, and anyone on this machine can read {}; run `chmod o-rwx {}` or write it as {{ env = \"VAR\" }}",
                            path.display(),
                            path.display()
                        ),
                    );
                }
            }
        }
    }

    let store = super::store::check(&mut c, &raw.store, &server.data_dir, path, env);
    let token_api = super::store::token_api(&mut c, &raw.token_api, env);
    if token_api.api_key.is_some() && !store.keep_tokens {
        c.error(
            "token_api.enabled",
            "the token API needs kept tokens; set [store] keep_tokens = true or turn the API off",
        );
    }

    if !c.problems.is_empty() {
        return Err(ConfigError {
            problems: c.problems,
        });
    }
    Ok(Config {
        origin: origin.to_string(),
        server,
        notion,
        routes,
        plugins,
        documents,
        store,
        token_api,
        warnings: c.warnings,
    })
}

/// Whether a setting's name says it holds a secret.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "token", "password", "passwd", "key", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

/// Quotes a key part for a dotted path when it is not a bare TOML key.
pub(super) fn quote_key(part: &str) -> String {
    if !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        part.to_string()
    } else {
        format!("\"{part}\"")
    }
}

/// A setting as the plugin reads it: strings as they are, anything else as JSON.
pub(super) fn setting_string(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(unix)]
pub(super) fn is_world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(not(unix))]
pub(super) fn is_world_readable(_path: &Path) -> bool {
    false
}
