//! Checks the `[plugins]` table: which components play which role, their
//! limits, settings, log levels and the capabilities granted to each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawGrants, RawLimits, RawPlugins};
use super::validate::{Checker, is_plugin_name, quote_key, setting_string};
use super::{
    AllowedHost, EnvLookup, HttpGrant, KeyValueGrant, PluginGrants, PluginLimits, PluginLogLevel,
    PluginsConfig,
};

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

    let default_limits = c.limits(
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
        limits.insert(name.clone(), c.limits(&key, raw_limits, default_limits));
    }

    let max_concurrent = p.max_concurrent.unwrap_or(64);
    if !(1..=10_000).contains(&max_concurrent) {
        c.error(
            "plugins.max_concurrent",
            format!("must be between 1 and 10000, got {max_concurrent}"),
        );
    }

    let mut settings = BTreeMap::new();
    for (name, table) in &p.settings {
        let key = format!("plugins.settings.{}", quote_key(name));
        configured(c, &key, name, "settings table");
        let mut values = BTreeMap::new();
        for (k, v) in table {
            let value = setting(c, &format!("{key}.{}", quote_key(k)), v, env);
            values.insert(k.clone(), value);
        }
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

fn level(c: &mut Checker<'_>, key: &str, text: &str) -> PluginLogLevel {
    PluginLogLevel::parse(text).unwrap_or_else(|| {
        c.error(
            key,
            format!("{text:?} is not a log level; use trace, debug, info, warn, error or off"),
        );
        PluginLogLevel::Info
    })
}

/// A setting's value: the value itself, or read from `{ env = "VAR" }` or
/// `{ file = "path" }` so that secrets (a webhook signing key, say) stay out
/// of the config file.
fn setting(c: &mut Checker<'_>, key: &str, value: &toml::Value, env: EnvLookup<'_>) -> String {
    let toml::Value::Table(table) = value else {
        return setting_string(value);
    };
    let source = (table.len() == 1)
        .then(|| table.iter().next())
        .flatten()
        .and_then(|(k, v)| Some((k.as_str(), v.as_str()?)));
    match source {
        Some(("env", var)) => match env(var).filter(|v| !v.trim().is_empty()) {
            Some(v) => v.trim().to_string(),
            None => {
                c.error(
                    key,
                    format!("the environment variable {var} is not set or empty; export it or give the value another way"),
                );
                String::new()
            }
        },
        Some(("file", file)) => match std::fs::read_to_string(file) {
            Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
            Ok(_) => {
                c.error(key, format!("the file {file} is empty"));
                String::new()
            }
            Err(e) => {
                c.error(key, format!("cannot read {file}: {e}"));
                String::new()
            }
        },
        _ => setting_string(value),
    }
}

fn grant(c: &mut Checker<'_>, key: &str, raw: &RawGrants) -> PluginGrants {
    let http = raw.http_hosts.as_ref().map(|hosts| {
        let hosts_key = format!("{key}.http_hosts");
        if hosts.is_empty() {
            c.warn(
                &hosts_key,
                "is empty, so every request is denied; list the hosts the plugin may call",
            );
        }
        let hosts = hosts
            .iter()
            .filter_map(|h| match allowed_host(h) {
                Ok(host) => Some(host),
                Err(why) => {
                    c.error(&hosts_key, format!("{h:?} {why}"));
                    None
                }
            })
            .collect();
        HttpGrant {
            hosts,
            timeout: c.duration_ms(
                &format!("{key}.http_timeout_ms"),
                raw.http_timeout_ms,
                10_000,
                60_000,
            ),
            max_response_bytes: kib(
                c,
                &format!("{key}.http_max_response_kib"),
                raw.http_max_response_kib,
                1024,
                64 * 1024,
            ),
        }
    });
    if http.is_none() && (raw.http_timeout_ms.is_some() || raw.http_max_response_kib.is_some()) {
        c.warn(
            &format!("{key}.http_timeout_ms"),
            "has no effect without http_hosts; HTTP is off for this plugin",
        );
    }
    let keyvalue = raw.keyvalue.unwrap_or(false).then(|| {
        let max_value = kib(
            c,
            &format!("{key}.keyvalue_max_value_kib"),
            raw.keyvalue_max_value_kib,
            64,
            1024,
        );
        let max_keys = raw.keyvalue_max_keys.unwrap_or(10_000);
        if !(1..=10_000_000).contains(&max_keys) {
            c.error(
                &format!("{key}.keyvalue_max_keys"),
                format!("must be between 1 and 10000000, got {max_keys}"),
            );
        }
        KeyValueGrant {
            max_value_bytes: usize::try_from(max_value).unwrap_or(usize::MAX),
            max_keys,
        }
    });
    PluginGrants { http, keyvalue }
}

/// A size in KiB within `1..=max`, returned in bytes.
fn kib(c: &mut Checker<'_>, key: &str, value: Option<u64>, default: u64, max: u64) -> u64 {
    let n = value.unwrap_or(default);
    if !(1..=max).contains(&n) {
        c.error(key, format!("must be between 1 and {max} KiB, got {n}"));
    }
    n.clamp(1, max) * 1024
}

/// Parses an allow-list entry: `host`, `host:port`, `[v6]` or `[v6]:port`.
/// Schemes, paths and wildcards are refused so the entry means one thing.
pub(crate) fn allowed_host(entry: &str) -> Result<AllowedHost, &'static str> {
    let entry = entry.trim();
    if entry.contains("://") || entry.contains('/') {
        return Err("must be a host or host:port, without a scheme or path");
    }
    if entry.contains('*') {
        return Err("may not hold a wildcard; list each host");
    }
    let url = url::Url::parse(&format!("http://{entry}/"))
        .map_err(|_| "is not a valid host or host:port")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("may not hold credentials");
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("has no host"),
    };
    // `Url` drops an explicit :80 for http; keep what the operator wrote.
    let port = match url.port() {
        Some(p) => Some(p),
        None if entry.ends_with(":80") => Some(80),
        None => None,
    };
    Ok(AllowedHost { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_entries_mean_one_host() {
        assert_eq!(
            allowed_host("Hooks.Example.com").ok(),
            Some(AllowedHost {
                host: "hooks.example.com".into(),
                port: None
            })
        );
        assert_eq!(
            allowed_host("127.0.0.1:9000").ok(),
            Some(AllowedHost {
                host: "127.0.0.1".into(),
                port: Some(9000)
            })
        );
        assert_eq!(allowed_host("[::1]:80").ok().and_then(|h| h.port), Some(80));
        assert!(allowed_host("https://hooks.example.com").is_err());
        assert!(allowed_host("hooks.example.com/path").is_err());
        assert!(allowed_host("*.example.com").is_err());
        assert!(allowed_host("user@hooks.example.com").is_err());
        assert!(allowed_host("").is_err());
    }
}
