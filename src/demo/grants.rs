//! What `dev` grants the demo's plugins: what their manifests ask for, and
//! what `--grant` adds, within the demo's bounds: key-value storage (in the
//! demo's data folder) and HTTP to loopback hosts only. Anything else is
//! refused with a line saying so. `serve` never does this: there, only the
//! operator's config grants.

use std::collections::BTreeMap;
use std::path::Path;

use crate::plugins::Manifest;
use crate::plugins::capability::http::{AllowedHost, allowed_host};

/// One `--grant NAME:WHAT` flag: `NAME:keyvalue` or `NAME:http=HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevGrant {
    /// The plugin.
    pub plugin: String,
    /// What it is granted.
    pub what: DevCapability,
}

/// A capability `dev` can grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevCapability {
    /// `wasi:keyvalue`.
    KeyValue,
    /// `wasi:http` to one host.
    Http(AllowedHost),
}

impl DevGrant {
    /// `--grant` flags, each noted as coming from the flag.
    pub(crate) fn from_flags(grants: &[DevGrant]) -> Vec<(DevGrant, String)> {
        grants
            .iter()
            .map(|g| (g.clone(), "--grant".to_string()))
            .collect()
    }
}

impl std::str::FromStr for DevGrant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = "write NAME:keyvalue or NAME:http=HOST[:PORT]";
        let (plugin, what) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        if !crate::config::is_plugin_name(plugin) {
            return Err(format!("{plugin:?} is not a plugin name; {usage}"));
        }
        let what = match what.split_once('=') {
            None if what == "keyvalue" => DevCapability::KeyValue,
            Some(("http", host)) => DevCapability::Http(
                allowed_host(host).map_err(|why| format!("{host:?} {why}; {usage}"))?,
            ),
            _ => return Err(format!("{what:?} is not a capability; {usage}")),
        };
        Ok(Self {
            plugin: plugin.to_string(),
            what,
        })
    }
}

/// What one plugin is granted in the demo.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Granted {
    keyvalue: bool,
    http_hosts: Vec<AllowedHost>,
}

/// The demo's grants for `plugins` (from their manifests in `dir`, then
/// `extra`, each with where it comes from), as `[plugins.grants.*]` TOML,
/// and a line for each grant made or refused, for the console.
pub(crate) fn demo_grants(
    dir: &Path,
    plugins: &[&str],
    extra: &[(DevGrant, String)],
) -> (String, Vec<String>) {
    let mut granted: BTreeMap<String, Granted> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut wanted: Vec<(String, DevCapability, String)> = Vec::new();
    for name in plugins {
        let component = dir.join(format!("{name}.wasm"));
        let Ok(Some(manifest)) = Manifest::read_beside(&component) else {
            continue;
        };
        let from = format!("its manifest {} asks", manifest.path.display());
        if manifest.keyvalue == Some(true) {
            wanted.push((name.to_string(), DevCapability::KeyValue, from.clone()));
        }
        for host in manifest.http_hosts.iter().flatten() {
            wanted.push((
                name.to_string(),
                DevCapability::Http(host.clone()),
                from.clone(),
            ));
        }
    }
    for (g, from) in extra {
        wanted.push((g.plugin.clone(), g.what.clone(), from.clone()));
    }
    for (name, what, from) in wanted {
        let entry = granted.entry(name.clone()).or_default();
        match what {
            DevCapability::KeyValue if !entry.keyvalue => {
                entry.keyvalue = true;
                notes.push(format!(
                    "granted {name} key-value storage, in the demo's data folder ({from})"
                ));
            }
            DevCapability::Http(host) if is_loopback_host(&host.host) => {
                if !entry.http_hosts.contains(&host) {
                    notes.push(format!("granted {name} HTTP to {host} ({from})"));
                    entry.http_hosts.push(host);
                }
            }
            DevCapability::Http(host) => notes.push(format!(
                "not granting {name} HTTP to {host} ({from}): the demo allows only loopback hosts; its calls there fail with access-denied"
            )),
            DevCapability::KeyValue => {}
        }
    }
    let mut toml = String::new();
    for (name, g) in granted {
        if !g.keyvalue && g.http_hosts.is_empty() {
            continue;
        }
        toml.push_str(&format!("\n[plugins.grants.{name}]\n"));
        if g.keyvalue {
            toml.push_str("keyvalue = true\n");
        }
        if !g.http_hosts.is_empty() {
            let hosts: Vec<String> = g
                .http_hosts
                .iter()
                .map(|h| format!("{:?}", h.to_string()))
                .collect();
            toml.push_str(&format!("http_hosts = [{}]\n", hosts.join(", ")));
        }
    }
    (toml, notes)
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_and_flags_are_granted_within_the_demo_and_the_rest_refused() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("app.toml"),
            "[needs]\nkeyvalue = true\nhttp_hosts = [\"api.example.com\", \"127.0.0.1:9000\"]\n",
        )
        .expect("write");
        let extra: Vec<(DevGrant, String)> = ["mine:keyvalue", "mine:http=localhost:7000"]
            .iter()
            .map(|g| (g.parse().expect("grant"), "--grant".to_string()))
            .collect();
        let (toml, notes) = demo_grants(dir.path(), &["app", "other"], &extra);
        assert!(
            toml.contains(
                "[plugins.grants.app]\nkeyvalue = true\nhttp_hosts = [\"127.0.0.1:9000\"]"
            ),
            "{toml}"
        );
        assert!(
            toml.contains(
                "[plugins.grants.mine]\nkeyvalue = true\nhttp_hosts = [\"localhost:7000\"]"
            ),
            "{toml}"
        );
        assert!(
            !toml.contains("other") && !toml.contains("api.example.com"),
            "{toml}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("not granting app HTTP to api.example.com")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_bad_grant_flag_says_how_to_write_one() {
        for bad in [
            "app",
            "app:files",
            "app:http=https://x",
            "Bad Name:keyvalue",
        ] {
            let e = bad.parse::<DevGrant>().expect_err(bad);
            assert!(
                e.contains("NAME:keyvalue or NAME:http=HOST[:PORT]"),
                "{bad}: {e}"
            );
        }
    }
}
