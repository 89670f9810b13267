//! A plugin's settings, read through `wasi:config/store`: the strings of its
//! `[plugins.settings.<name>]` table. A value may be read from
//! `{ env = "VAR" }` or `{ file = "path" }` so that secrets (a webhook
//! signing key, say) stay out of the config file.

use std::collections::BTreeMap;
use std::path::Path;

use wasmtime::component::Linker;
use wasmtime_wasi_config::WasiConfig;

use crate::config::checker::{Checker, EnvLookup, quote_key, setting_string};

/// Checks one plugin's settings table (`key` is its dotted path) and returns
/// each value as the plugin reads it. `readable_config` is the config file
/// when anyone on the machine can read it: a setting that looks like a
/// secret, written inline there, is an error.
pub(crate) fn check(
    c: &mut Checker<'_>,
    key: &str,
    table: &toml::Table,
    env: EnvLookup<'_>,
    readable_config: Option<&Path>,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (name, value) in table {
        let setting_key = format!("{key}.{}", quote_key(name));
        if let Some(path) = readable_config
            && value.is_str()
            && looks_secret(name)
        {
            c.error(
                &setting_key,
                format!(
                    "looks like a secret, and anyone on this machine can read {}; run `chmod o-rwx {}` or write it as {{ env = \"VAR\" }}",
                    path.display(),
                    path.display()
                ),
            );
        }
        values.insert(name.clone(), setting(c, &setting_key, value, env));
    }
    values
}

/// Whether a setting's name says it holds a secret.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "token", "password", "passwd", "key", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

/// A setting's value: the value itself, or read from its `env` or `file`.
fn setting(c: &mut Checker<'_>, key: &str, value: &toml::Value, env: EnvLookup<'_>) -> String {
    let toml::Value::Table(table) = value else {
        return setting_string(value);
    };
    let source = (table.len() == 1)
        .then(|| table.iter().next())
        .flatten()
        .and_then(|(k, v)| Some((k.as_str(), v.as_str()?)));
    let value = match source {
        Some(("env", var)) => c.env_value(key, var, env, "export it or give the value another way"),
        Some(("file", file)) => {
            c.read_secret(key, Path::new(file), "put the setting's value in it")
        }
        _ => return setting_string(value),
    };
    value.map(|v| v.expose().to_string()).unwrap_or_default()
}

/// Links `wasi:config/store`, serving the settings that `view` finds in
/// an instance's state.
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> WasiConfig<'_>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, view)
}
