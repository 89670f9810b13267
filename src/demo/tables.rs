//! The per-plugin tables (`[plugins.settings.NAME]`, `[plugins.limits.NAME]`)
//! that `dev` and `plugin try` write into the configs they make, in the
//! same TOML a user writes, with every key and value quoted by `toml`.

/// `[plugins.SECTION.PLUGIN]` with `entries`, or nothing when there are none.
pub(crate) fn plugin_table(
    section: &str,
    plugin: &str,
    entries: &[(String, toml::Value)],
) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut table = format!("\n[plugins.{section}.{plugin}]\n");
    for (key, value) in entries {
        table.push_str(&format!("{} = {value}\n", toml::Value::String(key.clone())));
    }
    table
}

/// `{ env = "VAR" }`: a secret setting read from the environment.
pub(crate) fn from_env(var: &str) -> toml::Value {
    toml::Value::Table(toml::map::Map::from_iter([(
        "env".to_string(),
        toml::Value::String(var.to_string()),
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_quotes_what_it_writes_and_reads_back_as_written() {
        let text = plugin_table(
            "settings",
            "my-app",
            &[
                (
                    "app \"name\"".to_string(),
                    toml::Value::String("a\nb".into()),
                ),
                ("secret".to_string(), from_env("VAR")),
                ("deadline_ms".to_string(), toml::Value::Integer(250)),
            ],
        );
        let parsed: toml::Table = text.parse().expect("valid TOML");
        let table = &parsed["plugins"]["settings"]["my-app"];
        assert_eq!(table["app \"name\""].as_str(), Some("a\nb"));
        assert_eq!(table["secret"]["env"].as_str(), Some("VAR"));
        assert_eq!(table["deadline_ms"].as_integer(), Some(250));
        assert_eq!(plugin_table("limits", "x", &[]), "");
    }
}
