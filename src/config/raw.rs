//! The config file exactly as written: every table and key the TOML may hold,
//! with unknown keys refused. [`super::validate`] turns it into a checked
//! [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: RawServer,
    #[serde(default)]
    pub(crate) notion: RawNotion,
    #[serde(default)]
    pub(crate) routes: RawRoutes,
    #[serde(default)]
    pub(crate) plugins: RawPlugins,
    #[serde(default)]
    pub(crate) documents: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) store: RawStore,
    #[serde(default)]
    pub(crate) token_api: RawTokenApi,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub(crate) url: Option<String>,
    pub(crate) url_env: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) key_env: Option<String>,
    pub(crate) key_file: Option<String>,
    pub(crate) keep_tokens: Option<bool>,
    pub(crate) refresh_after_seconds: Option<u64>,
    pub(crate) lease_seconds: Option<u64>,
    pub(crate) delivery_max_attempts: Option<u32>,
    pub(crate) delivery_initial_backoff_ms: Option<u64>,
    pub(crate) delivery_max_backoff_ms: Option<u64>,
}

/// `[token_api]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokenApi {
    pub(crate) enabled: Option<bool>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) api_key_file: Option<String>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<String>,
    pub(crate) base_path: Option<String>,
    pub(crate) data_dir: Option<String>,
    pub(crate) landing_page: Option<bool>,
    pub(crate) header_read_timeout_ms: Option<u64>,
    pub(crate) request_timeout_ms: Option<u64>,
    pub(crate) max_header_bytes: Option<usize>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) clean_callback_url: Option<bool>,
    pub(crate) rate_limit: Option<RawRateLimit>,
}

/// `[server.rate_limit]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub(crate) per_ip_per_minute: Option<u32>,
    pub(crate) per_ip_burst: Option<u32>,
    pub(crate) global_per_second: Option<u32>,
}

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

/// `[routes]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoutes {
    pub(crate) start: Option<String>,
    pub(crate) redirect: Option<String>,
}

/// `[plugins]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugins {
    pub(crate) dir: Option<String>,
    pub(crate) cache_dir: Option<String>,
    pub(crate) watch: Option<bool>,
    pub(crate) log_level: Option<String>,
    #[serde(default)]
    pub(crate) log_levels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) grants: BTreeMap<String, RawGrants>,
    pub(crate) consumer: Option<String>,
    pub(crate) view: Option<String>,
    pub(crate) memory_limit_mib: Option<u64>,
    pub(crate) deadline_ms: Option<u64>,
    pub(crate) max_concurrent: Option<u32>,
    #[serde(default)]
    pub(crate) limits: BTreeMap<String, RawLimits>,
    #[serde(default)]
    pub(crate) settings: BTreeMap<String, toml::Table>,
}

/// `[plugins.grants.<name>]`: the capabilities one plugin may use.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrants {
    pub(crate) http_hosts: Option<Vec<String>>,
    pub(crate) http_timeout_ms: Option<u64>,
    pub(crate) http_max_response_kib: Option<u64>,
    pub(crate) keyvalue: Option<bool>,
    pub(crate) keyvalue_max_value_kib: Option<u64>,
    pub(crate) keyvalue_max_keys: Option<u64>,
}

/// `[plugins.limits.<name>]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) memory_limit_mib: Option<u64>,
    pub(crate) deadline_ms: Option<u64>,
}
