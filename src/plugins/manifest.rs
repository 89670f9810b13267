//! A plugin's manifest: `<dir>/<name>.toml` beside its component, written
//! by the plugin's author, saying what it needs: the capabilities it asks
//! for and the settings it reads, with their defaults. A manifest grants
//! nothing: the operator grants in the gateway config, and `check`,
//! `plugins list` and `serve` say what a plugin asks for that the config
//! does not give (see [`super::needs`]). Only `dev` grants what the demo's
//! plugins ask for, within the demo's bounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::capability::http::{AllowedHost, allowed_host};

/// What a plugin says it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// Whether it uses `wasi:keyvalue`: `Some(false)` says it imports it
    /// but never calls it (componentize-py and jco import the whole world).
    pub keyvalue: Option<bool>,
    /// The hosts it calls through `wasi:http`: `Some(empty)` says none.
    pub http_hosts: Option<Vec<AllowedHost>>,
    /// The settings it reads, by name.
    pub settings: BTreeMap<String, SettingSpec>,
}

/// One setting a plugin reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    /// The value it gets when the config sets none.
    pub default: Option<String>,
    /// Whether the plugin cannot work without it (a default makes this moot).
    #[serde(default)]
    pub required: bool,
    /// Whether it is a secret, to be given as `{ env = "VAR" }` rather
    /// than written in the config.
    #[serde(default)]
    pub secret: bool,
    /// What it is for, in a few words.
    pub description: Option<String>,
    /// What `dev` sets it to (the demo's own app receiver), when the
    /// config does not set it.
    pub demo: Option<DemoValue>,
}

/// A value the demo provides for a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemoValue {
    /// The URL of the demo's app receiver, which takes signed webhooks.
    ReceiverUrl,
    /// The secret the receiver checks their signatures with.
    ReceiverSecret,
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but cannot be read.
    #[error("cannot read its manifest {}: {reason}", path.display())]
    Read {
        /// The manifest file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not a manifest.
    #[error("its manifest {} is not valid: {reason}; see docs/plugins.md, \"Manifests\"", path.display())]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, with the line.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    needs: RawNeeds,
    #[serde(default)]
    settings: BTreeMap<String, SettingSpec>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeeds {
    keyvalue: Option<bool>,
    http_hosts: Option<Vec<String>>,
}

impl Manifest {
    /// The manifest file of the component at `component`.
    pub fn path_beside(component: &Path) -> PathBuf {
        component.with_extension("toml")
    }

    /// Reads the manifest beside `component`; `None` when there is none.
    pub fn read_beside(component: &Path) -> Result<Option<Self>, ManifestError> {
        let path = Self::path_beside(component);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ManifestError::Read {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Parses a manifest's text; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let invalid = |reason: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().replace('\n', " ")))?;
        let http_hosts = match raw.needs.http_hosts {
            None => None,
            Some(entries) => Some(
                entries
                    .iter()
                    .map(|e| {
                        allowed_host(e)
                            .map_err(|why| invalid(format!("needs.http_hosts: {e:?} {why}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        for (name, spec) in &raw.settings {
            if spec.secret && spec.default.is_some() {
                return Err(invalid(format!(
                    "settings.{name}: a secret cannot have a default; leave it out and say required = true"
                )));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            keyvalue: raw.needs.keyvalue,
            http_hosts,
            settings: raw.settings,
        })
    }

    /// The defaults of the settings it reads, for those that have one.
    pub fn defaults(&self) -> impl Iterator<Item = (&String, &String)> {
        self.settings
            .iter()
            .filter_map(|(name, spec)| spec.default.as_ref().map(|d| (name, d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_says_needs_and_settings() {
        let m = Manifest::parse(
            "[needs]\nkeyvalue = true\nhttp_hosts = [\"api.example.com\", \"127.0.0.1:9000\"]\n\
             [settings.app_name]\ndefault = \"the app\"\n[settings.key]\nrequired = true\nsecret = true\n",
            Path::new("p.toml"),
        )
        .expect("manifest");
        assert_eq!(m.keyvalue, Some(true));
        let hosts = m.http_hosts.clone().expect("hosts");
        assert_eq!(hosts[1].port, Some(9000));
        assert_eq!(m.defaults().count(), 1);
        assert!(m.settings["key"].required && m.settings["key"].secret);
    }

    #[test]
    fn a_bad_manifest_says_where_and_what() {
        let e = Manifest::parse("[needs]\nkeyvalu = true\n", Path::new("plugins/x.toml"))
            .expect_err("typo");
        let text = e.to_string();
        assert!(
            text.contains("plugins/x.toml") && text.contains("keyvalu"),
            "{text}"
        );
        assert!(text.contains("line 2"), "{text}");
        let e = Manifest::parse(
            "[needs]\nhttp_hosts = [\"https://x\"]\n",
            Path::new("m.toml"),
        )
        .expect_err("scheme");
        assert!(e.to_string().contains("without a scheme"), "{e}");
        let e = Manifest::parse(
            "[settings.key]\nsecret = true\ndefault = \"x\"\n",
            Path::new("m.toml"),
        )
        .expect_err("secret default");
        assert!(e.to_string().contains("cannot have a default"), "{e}");
    }
}
