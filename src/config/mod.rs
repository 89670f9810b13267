//! The gateway's configuration: a TOML file parsed into [`raw`] structs with
//! unknown keys refused, then checked and resolved by [`validate`] into a
//! [`Config`] before any port is bound or any plugin is run.
//!
//! Every problem names the file, line, column and key, and says what to do.
//! Relative paths (`data_dir`, `plugins.dir`, document files, secret files)
//! are resolved against the working directory, as the gateway's users run it
//! from their project folder.

mod plugins;
mod problem;
mod raw;
mod server;
mod store;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use problem::ConfigProblem;
use url::Url;
pub use validate::is_loopback as is_loopback_url;
pub(crate) use validate::is_plugin_name;

use crate::secret::Secret;

/// Where the state-signing key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Read from this environment variable's value (base64 or hex, >= 32 bytes).
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

/// `[server]`
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// A prefix for every route, such as `/oauth` (empty for none).
    pub base_path: String,
    /// Where the gateway keeps its state key and its compiled-plugin cache.
    pub data_dir: PathBuf,
    /// Whether to serve a small page at `{base_path}/` with a "Connect Notion" link.
    pub landing_page: bool,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long the gateway may take to answer one request.
    pub request_timeout: Duration,
    /// The largest request head (request line plus headers) accepted.
    pub max_header_bytes: usize,
    /// The most connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// The certificate and key to serve HTTPS with; plain HTTP when none.
    pub tls: Option<TlsFiles>,
    /// Proxies whose `X-Forwarded-For` is believed; every other peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How many flow requests one client, and everyone together, may make.
    pub rate_limit: RateLimitConfig,
    /// Whether the callback answers `303` to a clean URL where its page is
    /// fetched once, so the code and state leave the address bar.
    pub clean_callback_url: bool,
}

/// `[server] tls_cert` and `tls_key`: PEM files, reloaded when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[server.rate_limit]`: limits on the start and redirect routes, which are
/// the ones that cost work (a state, a call to Notion, plugin calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests one client IP may make per minute, sustained (0: no limit).
    pub per_ip_per_minute: u32,
    /// Requests one client IP may make at once before the per-minute rate applies.
    pub per_ip_burst: u32,
    /// Requests all clients together may make per second (0: no limit).
    pub global_per_second: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 120,
            per_ip_burst: 60,
            global_per_second: 500,
        }
    }
}

impl ServerConfig {
    /// The default server settings, listening on `listen`.
    pub fn defaults(listen: SocketAddr) -> Self {
        Self {
            listen,
            base_path: String::new(),
            data_dir: PathBuf::from("data"),
            landing_page: false,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            tls: None,
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            clean_callback_url: true,
        }
    }
}

/// `[notion]`
#[derive(Debug, Clone)]
pub struct NotionConfig {
    /// The integration's OAuth client id.
    pub client_id: String,
    /// The integration's OAuth client secret.
    pub client_secret: Secret,
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

/// The routes, with the base path already applied.
#[derive(Debug, Clone)]
pub struct Routes {
    /// Starts a flow: answers 302 to Notion's consent page.
    pub start: String,
    /// Notion's redirect back with `code` and `state` (or `error`).
    pub redirect: String,
    /// The health check.
    pub health: String,
    /// The landing page, when enabled.
    pub landing: String,
    /// The metrics, in the Prometheus text format.
    pub metrics: String,
    /// The token API's prefix (`{base}/api/v1`), when `[token_api]` is on.
    pub api: String,
}

/// Sandbox limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// The most linear memory one instance may have.
    pub memory_bytes: u64,
    /// The most wall time one call may take.
    pub deadline: Duration,
}

/// How severe a plugin's log line must be to be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PluginLogLevel {
    /// Everything.
    Trace,
    /// Debugging detail and up.
    Debug,
    /// Normal events and up (the default).
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    Off,
}

impl PluginLogLevel {
    /// Parses `trace`, `debug`, `info`, `warn`, `error` or `off`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" => Self::Error,
            "off" | "none" => Self::Off,
            _ => return None,
        })
    }
}

/// One entry of a plugin's HTTP allow-list: a host and, optionally, a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// The host name or IP address, lower case, without brackets.
    pub host: String,
    /// The only port allowed; none means the scheme's default port.
    pub port: Option<u16>,
}

/// `[plugins.grants.<name>]` `http_*`: outgoing HTTP through `wasi:http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    /// The hosts the plugin may call; every other request is denied.
    pub hosts: Vec<AllowedHost>,
    /// The most time one request may take, from connecting to the last byte.
    pub timeout: Duration,
    /// The largest response body the plugin may read.
    pub max_response_bytes: u64,
}

/// `[plugins.grants.<name>]` `keyvalue*`: storage through `wasi:keyvalue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyValueGrant {
    /// The largest value one key may hold.
    pub max_value_bytes: usize,
    /// The most keys the plugin may hold, over all its buckets.
    pub max_keys: u64,
}

/// The capabilities granted to one plugin; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginGrants {
    /// Outgoing HTTP, when granted.
    pub http: Option<HttpGrant>,
    /// Key-value storage, when granted.
    pub keyvalue: Option<KeyValueGrant>,
}

/// `[plugins]`
#[derive(Clone)]
pub struct PluginsConfig {
    /// The folder holding `<name>.wasm` components.
    pub dir: PathBuf,
    /// Where compiled components are cached (default `<data_dir>/plugin-cache`).
    pub cache_dir: PathBuf,
    /// Whether `serve` watches `dir` and swaps in changed components.
    pub watch: bool,
    /// The log level of plugins without their own entry in `log_levels`.
    pub log_level: PluginLogLevel,
    /// Per-plugin log levels.
    pub log_levels: BTreeMap<String, PluginLogLevel>,
    /// Per-plugin capabilities.
    pub grants: BTreeMap<String, PluginGrants>,
    /// The consumer component's name.
    pub consumer: String,
    /// The view component's name.
    pub view: String,
    /// Limits for plugins without their own `[plugins.limits.<name>]`.
    pub default_limits: PluginLimits,
    /// Per-plugin limits.
    pub limits: BTreeMap<String, PluginLimits>,
    /// The most plugin instances alive at once (the pooling allocator's size).
    pub max_concurrent: u32,
    /// Each plugin's settings, as strings (non-string TOML values as JSON).
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
}

/// Settings often hold secrets (a signing key read from the environment):
/// `Debug` shows their names only.
impl std::fmt::Debug for PluginsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings: BTreeMap<&String, Vec<&String>> = self
            .settings
            .iter()
            .map(|(plugin, values)| (plugin, values.keys().collect()))
            .collect();
        f.debug_struct("PluginsConfig")
            .field("dir", &self.dir)
            .field("cache_dir", &self.cache_dir)
            .field("watch", &self.watch)
            .field("log_level", &self.log_level)
            .field("log_levels", &self.log_levels)
            .field("grants", &self.grants)
            .field("consumer", &self.consumer)
            .field("view", &self.view)
            .field("default_limits", &self.default_limits)
            .field("limits", &self.limits)
            .field("max_concurrent", &self.max_concurrent)
            .field("settings (names only)", &settings)
            .finish()
    }
}

impl PluginsConfig {
    /// The limits that apply to the plugin `name`.
    pub fn limits_for(&self, name: &str) -> PluginLimits {
        self.limits
            .get(name)
            .copied()
            .unwrap_or(self.default_limits)
    }

    /// The settings of the plugin `name` (empty when it has none).
    pub fn settings_for(&self, name: &str) -> BTreeMap<String, String> {
        self.settings.get(name).cloned().unwrap_or_default()
    }

    /// The capabilities granted to the plugin `name` (none when it has no entry).
    pub fn grants_for(&self, name: &str) -> PluginGrants {
        self.grants.get(name).cloned().unwrap_or_default()
    }

    /// The log level of the plugin `name`.
    pub fn log_level_for(&self, name: &str) -> PluginLogLevel {
        self.log_levels.get(name).copied().unwrap_or(self.log_level)
    }

    /// Whether any plugin may use key-value storage.
    pub fn any_keyvalue(&self) -> bool {
        self.grants.values().any(|g| g.keyvalue.is_some())
    }

    /// The component file of the plugin `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }
}

/// One document route, such as the Terms of Use.
#[derive(Debug, Clone)]
pub struct DocumentConfig {
    /// The route (with the base path applied).
    pub route: String,
    /// The file to serve: Markdown is rendered, `.html` and `.txt` are sent as is.
    pub path: PathBuf,
}

/// Where the token vault keeps its rows.
#[derive(Clone)]
pub enum StoreBackend {
    /// The embedded default: a SQLite file (`<data_dir>/gateway.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, for production and several instances. The URL
    /// may hold a password, so it is kept as a secret.
    Postgres {
        /// `postgres://…`
        url: Secret,
        /// The schema the vault's tables live in (`public` unless set), so
        /// several gateways can share one database.
        schema: String,
    },
}

impl std::fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Self::Postgres { schema, .. } => write!(f, "Postgres(<url hidden>, schema {schema})"),
        }
    }
}

/// Where the vault's encryption keys come from (newest first).
#[derive(Debug, Clone)]
pub enum VaultKeySource {
    /// `key_env`: the variable's name and its value (comma-separated keys).
    Env {
        /// The variable's name, for messages.
        var: String,
        /// Its value.
        value: Secret,
    },
    /// `key_file`: one key per line, newest first; must exist.
    File(PathBuf),
    /// No key configured: `<data_dir>/vault.key`, created on first start.
    Generated(PathBuf),
}

/// How tokens are delivered to the consumer: retries and dead-lettering.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryConfig {
    /// Attempts before a delivery is parked as dead.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles per attempt (with jitter).
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

/// `[store]`
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database.
    pub backend: StoreBackend,
    /// The encryption keys.
    pub keys: VaultKeySource,
    /// Keep tokens after delivery (vault mode: refresh and the token API) or
    /// delete them once the consumer took them (pass-through mode).
    pub keep_tokens: bool,
    /// Refresh a kept token once it is this old (on use and on a schedule);
    /// `None` refreshes only on demand.
    pub refresh_after: Option<Duration>,
    /// How long a refresh or delivery lease lasts before it must be renewed.
    pub lease: Duration,
    /// Retries and dead-lettering of deliveries.
    pub delivery: DeliveryConfig,
}

/// `[token_api]`
#[derive(Debug, Clone, Default)]
pub struct TokenApiConfig {
    /// The API key callers must send as `Authorization: Bearer …`; `None`
    /// leaves the API off.
    pub api_key: Option<Secret>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (or a label such as `<dev>`).
    pub origin: String,
    /// `[server]`
    pub server: ServerConfig,
    /// `[notion]`
    pub notion: NotionConfig,
    /// `[routes]`, with the base path applied.
    pub routes: Routes,
    /// `[plugins]`
    pub plugins: PluginsConfig,
    /// `[documents]`
    pub documents: Vec<DocumentConfig>,
    /// `[store]`: the token vault's database, keys and delivery.
    pub store: StoreConfig,
    /// `[token_api]`: the app's API for current tokens (off by default).
    pub token_api: TokenApiConfig,
    /// Things that work but should be changed (an inline secret, say).
    pub warnings: Vec<ConfigProblem>,
}

/// A config that could not be loaded: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct ConfigError {
    /// The problems, each naming file, line, key and what to do.
    pub problems: Vec<ConfigProblem>,
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Looks up an environment variable; tests and the demo pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`EnvLookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![ConfigProblem {
                file: origin.clone(),
                position: None,
                key: "(file)".into(),
                message: format!(
                    "cannot read the config file: {e}; check the path given to --config"
                ),
            }],
        })?;
        validate::from_toml(&src, &origin, Some(path), env)
    }

    /// Parses and checks config text; `origin` names it in problems.
    pub fn from_toml(src: &str, origin: &str, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        validate::from_toml(src, origin, None, env)
    }
}

#[cfg(test)]
mod tests;
