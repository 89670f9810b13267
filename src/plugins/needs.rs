//! Compares what a plugin needs with what the config gives it: the
//! capabilities its manifest asks for (or, without one, that it imports)
//! against `[plugins.grants.<name>]`, and the settings it requires against
//! `[plugins.settings.<name>]`. A capability not granted is a warning that
//! names the key to add (the plugin still loads; each use fails with
//! access-denied); a required setting that is missing is an error.

use std::collections::BTreeMap;

use super::manifest::Manifest;
use crate::config::PluginGrants;

/// One thing `check`, `plugins list` and `serve` say about a plugin's needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// It asks for something the config does not grant.
    Warning(String),
    /// It cannot work as configured.
    Error(String),
}

/// What the plugin `name` needs that `grants` and `settings` do not give.
pub(crate) fn compare(
    name: &str,
    manifest: Option<&Manifest>,
    imports: &[String],
    grants: &PluginGrants,
    settings: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let imports_any = |prefix: &str| imports.iter().any(|i| i.starts_with(prefix));
    let declared = |m: &Manifest| format!("its manifest {} asks for", m.path.display());
    let mut findings = Vec::new();

    let keyvalue = match manifest.and_then(|m| m.keyvalue.map(|kv| (m, kv))) {
        Some((m, true)) => Some(declared(m)),
        Some((_, false)) => None,
        None => imports_any("wasi:keyvalue/").then(|| {
            "it imports wasi:keyvalue (and no manifest says it does not use it), so it may need"
                .to_string()
        }),
    };
    if let (Some(why), None) = (keyvalue, &grants.keyvalue) {
        findings.push(Finding::Warning(format!(
            "{why} key-value storage, which the config does not grant; add `[plugins.grants.{name}] keyvalue = true` (until then each use fails with access-denied)"
        )));
    }

    let granted = grants
        .http
        .as_ref()
        .map(|h| h.hosts.as_slice())
        .unwrap_or_default();
    match manifest.and_then(|m| m.http_hosts.as_ref().map(|h| (m, h))) {
        Some((m, wanted)) => {
            let missing: Vec<String> = wanted
                .iter()
                .filter(|w| !granted.contains(w))
                .map(ToString::to_string)
                .collect();
            if !missing.is_empty() {
                let all: Vec<String> = granted
                    .iter()
                    .chain(wanted.iter().filter(|w| !granted.contains(w)))
                    .map(|h| format!("{:?}", h.to_string()))
                    .collect();
                findings.push(Finding::Warning(format!(
                    "{} HTTP to {}, which the config does not allow; add `[plugins.grants.{name}] http_hosts = [{}]`",
                    declared(m),
                    missing.join(", "),
                    all.join(", ")
                )));
            }
        }
        None if granted.is_empty() && imports_any("wasi:http/outgoing-handler") => {
            findings.push(Finding::Warning(format!(
                "it imports wasi:http/outgoing-handler (and no manifest lists the hosts it calls), but the config allows no host; list them in `[plugins.grants.{name}] http_hosts = [\"host\"]`, or say `http_hosts = []` in its manifest if it calls none"
            )));
        }
        None => {}
    }

    if let Some(m) = manifest {
        for (setting, spec) in &m.settings {
            if spec.required && spec.default.is_none() && !settings.contains_key(setting) {
                let what = spec
                    .description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                let value = if spec.secret {
                    "{ env = \"VAR\" }"
                } else {
                    "\"…\""
                };
                findings.push(Finding::Error(format!(
                    "needs the setting `{setting}`{what}, which the config does not set ({} says it is required); add `[plugins.settings.{name}] {setting} = {value}`",
                    m.path.display()
                )));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text, Path::new("plugins/x.toml")).expect("manifest")
    }

    #[test]
    fn an_ungranted_capability_names_the_key_to_add() {
        let m = manifest("[needs]\nkeyvalue = true\nhttp_hosts = [\"api.example.com\"]\n");
        let found = compare(
            "x",
            Some(&m),
            &[],
            &PluginGrants::default(),
            &BTreeMap::new(),
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            matches!(&found[0], Finding::Warning(w) if w.contains("`[plugins.grants.x] keyvalue = true`"))
        );
        assert!(
            matches!(&found[1], Finding::Warning(w) if w.contains("http_hosts = [\"api.example.com\"]"))
        );
    }

    #[test]
    fn imports_speak_only_when_no_manifest_does() {
        let imports = vec!["wasi:keyvalue/store@0.2.0-draft".to_string()];
        let none = PluginGrants::default();
        let found = compare("x", None, &imports, &none, &BTreeMap::new());
        assert!(matches!(&found[..], [Finding::Warning(w)] if w.contains("imports wasi:keyvalue")));
        let quiet = manifest("[needs]\nkeyvalue = false\n");
        assert!(compare("x", Some(&quiet), &imports, &none, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_missing_required_setting_is_an_error_a_default_is_not() {
        let m = manifest(
            "[settings.url]\nrequired = true\n[settings.key]\nrequired = true\nsecret = true\n[settings.name]\nrequired = true\ndefault = \"n\"\n",
        );
        let mut settings = BTreeMap::new();
        settings.insert("url".to_string(), "https://app".to_string());
        let found = compare("x", Some(&m), &[], &PluginGrants::default(), &settings);
        assert!(
            matches!(&found[..], [Finding::Error(e)] if e.contains("`key`") && e.contains("key = { env = \"VAR\" }")),
            "{found:?}"
        );
    }
}
