//! The `[plugins]` table: which components play which role, their
//! limits and log levels; each capability's own keys (settings, grants) are
//! checked by the capability ([`crate::plugins::capability`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The most plugin calls at once that `check` accepts. Each pool slot
/// reserves address space for four linear memories of about 4 GiB each
/// (that is what lets wasmtime drop bounds checks); 2048 slots take 32 TiB
/// of the 128 TiB a 64-bit process has.
pub(super) const MAX_CONCURRENT: u32 = 2048;

use super::checker::{Checker, is_plugin_name, quote_key};
use super::{EnvLookup, HttpGrant, KeyValueGrant};
use crate::plugins::capability::{self, http, keyvalue};

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

    /// The level as the config writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Off => "off",
        }
    }
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

/// The limits of a plugin call when the config sets none.
const BASE_LIMITS: PluginLimits = PluginLimits {
    memory_bytes: 64 * 1024 * 1024,
    deadline: Duration::from_millis(2_000),
};

/// Checks `[plugins]`, reporting problems to `c`.
pub(super) fn check(
    c: &mut Checker<'_>,
    p: &RawPlugins,
    data_dir: &Path,
    env: EnvLookup<'_>,
    readable_config: Option<&Path>,
) -> PluginsConfig {
    let consumer = c.plugin_name(
        "plugins.consumer",
        p.consumer.as_deref(),
        "default-consumer",
    );
    let view = c.plugin_name("plugins.view", p.view.as_deref(), "default-view");
    let configured = |c: &mut Checker<'_>, key: &str, name: &str, what: &str| {
        if !is_plugin_name(name) {
            c.error(key, format!("{name:?} is not a plugin name"));
        } else if name != consumer && name != view {
            c.warn(key, format!("no configured plugin is named {name:?} (consumer is {consumer:?}, view is {view:?}); this {what} is unused until one is"));
        }
    };

    let default_limits = plugin_limits(
        c,
        "plugins",
        &RawLimits {
            memory_limit_mib: p.memory_limit_mib,
            deadline_ms: p.deadline_ms,
        },
        BASE_LIMITS,
    );
    let mut limits = BTreeMap::new();
    for (name, raw_limits) in &p.limits {
        let key = format!("plugins.limits.{}", quote_key(name));
        if !is_plugin_name(name) {
            c.error(&key, format!("{name:?} is not a plugin name"));
        }
        limits.insert(
            name.clone(),
            plugin_limits(c, &key, raw_limits, default_limits),
        );
    }

    let max_concurrent = p.max_concurrent.unwrap_or(64);
    if !(1..=MAX_CONCURRENT).contains(&max_concurrent) {
        c.error(
            "plugins.max_concurrent",
            format!(
                "must be between 1 and {MAX_CONCURRENT} (each concurrent call reserves about 16 GiB of address space for its memories), got {max_concurrent}"
            ),
        );
    }

    let mut settings = BTreeMap::new();
    for (name, table) in &p.settings {
        let key = format!("plugins.settings.{}", quote_key(name));
        configured(c, &key, name, "settings table");
        let values = capability::config::check(c, &key, table, env, readable_config);
        settings.insert(name.clone(), values);
    }

    let log_level = level(
        c,
        "plugins.log_level",
        p.log_level.as_deref().unwrap_or("info"),
    );
    let mut log_levels = BTreeMap::new();
    for (name, text) in &p.log_levels {
        let key = format!("plugins.log_levels.{}", quote_key(name));
        configured(c, &key, name, "log level");
        log_levels.insert(name.clone(), level(c, &key, text));
    }

    let mut grants = BTreeMap::new();
    for (name, raw) in &p.grants {
        let key = format!("plugins.grants.{}", quote_key(name));
        configured(c, &key, name, "grant");
        grants.insert(name.clone(), grant(c, &key, raw));
    }

    PluginsConfig {
        dir: PathBuf::from(p.dir.as_deref().unwrap_or("plugins")),
        cache_dir: p
            .cache_dir
            .as_deref()
            .map_or_else(|| data_dir.join("plugin-cache"), PathBuf::from),
        watch: p.watch.unwrap_or(true),
        consumer,
        view,
        default_limits,
        limits,
        max_concurrent,
        settings,
        log_level,
        log_levels,
        grants,
    }
}

/// A plugin's limits from `raw`, each unset one taken from `base`.
fn plugin_limits(
    c: &mut Checker<'_>,
    key: &str,
    raw: &RawLimits,
    base: PluginLimits,
) -> PluginLimits {
    let memory_bytes = match raw.memory_limit_mib {
        Some(mib) if !(1..=4096).contains(&mib) => {
            c.error(
                &format!("{key}.memory_limit_mib"),
                format!("must be between 1 and 4096 MiB, got {mib}"),
            );
            base.memory_bytes
        }
        Some(mib) => mib * 1024 * 1024,
        None => base.memory_bytes,
    };
    let deadline = match raw.deadline_ms {
        Some(ms) => c.duration_ms(&format!("{key}.deadline_ms"), Some(ms), 0, 60_000),
        None => base.deadline,
    };
    PluginLimits {
        memory_bytes,
        deadline,
    }
}

fn level(c: &mut Checker<'_>, key: &str, text: &str) -> PluginLogLevel {
    PluginLogLevel::parse(text).unwrap_or_else(|| {
        c.error(
            key,
            format!("{text:?} is not a log level; use trace, debug, info, warn, error or off"),
        );
        PluginLogLevel::Info
    })
}

fn grant(c: &mut Checker<'_>, key: &str, raw: &RawGrants) -> PluginGrants {
    PluginGrants {
        http: http::check(
            c,
            key,
            http::HttpKeys {
                hosts: raw.http_hosts.as_deref(),
                timeout_ms: raw.http_timeout_ms,
                max_response_kib: raw.http_max_response_kib,
            },
        ),
        keyvalue: keyvalue::check(
            c,
            key,
            keyvalue::KeyValueKeys {
                enabled: raw.keyvalue,
                max_value_kib: raw.keyvalue_max_value_kib,
                max_keys: raw.keyvalue_max_keys,
            },
        ),
    }
}
