//! The checks every table of the config shares, and the [`Checker`] that
//! collects their problems with the file position of each key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::{Host, Url};

use super::ConfigProblem;
use super::problem::Locator;
use crate::secret::Secret;

/// Looks up an environment variable; tests and the demo pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How a secret was given (see [`Checker::secret`]).
#[derive(Debug)]
pub(crate) enum Given {
    /// By `{key}_env`: the variable's name and its value, trimmed.
    Env {
        /// The variable's name, for messages.
        var: String,
        /// Its value.
        value: Secret,
    },
    /// By `{key}_file`: the file's path, not yet read.
    File(PathBuf),
    /// By `{key}` itself, written in the config file.
    Inline(Secret),
}

/// The longest plugin name accepted.
pub(crate) const MAX_PLUGIN_NAME: usize = 64;

/// Collects problems while the config is checked.
pub(crate) struct Checker<'a> {
    origin: &'a str,
    src: &'a str,
    locator: Locator<'a>,
    problems: Vec<ConfigProblem>,
    warnings: Vec<ConfigProblem>,
}

impl<'a> Checker<'a> {
    /// A checker for the config text `src`, named `origin` in problems.
    pub(super) fn new(origin: &'a str, src: &'a str) -> Self {
        Self {
            origin,
            src,
            locator: Locator::new(src),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The problem for text that is not TOML, or holds a key no table has.
    pub(super) fn syntax(&self, e: &toml::de::Error) -> ConfigProblem {
        let (position, key) = match e.span() {
            Some(span) => {
                let table = self.locator.table_at(span.start);
                let at = self
                    .src
                    .get(span.clone())
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"');
                let key = match (table.is_empty(), at.is_empty()) {
                    (true, _) => at.to_string(),
                    (false, true) => table,
                    (false, false) => format!("{table}.{at}"),
                };
                (Some(self.locator.line_col(span.start)), key)
            }
            None => (None, String::new()),
        };
        ConfigProblem {
            file: self.origin.to_string(),
            position,
            key: if key.is_empty() {
                "(syntax)".to_string()
            } else {
                key
            },
            message: format!(
                "{}; see config/gateway.toml for every valid key",
                e.message().trim_end()
            ),
        }
    }

    /// Whether `key` already has an error.
    pub(crate) fn has_error(&self, key: &str) -> bool {
        self.problems.iter().any(|p| p.key == key)
    }

    /// The warnings, or every error when there is one.
    pub(super) fn finish(self) -> Result<Vec<ConfigProblem>, Vec<ConfigProblem>> {
        if self.problems.is_empty() {
            Ok(self.warnings)
        } else {
            Err(self.problems)
        }
    }
}

impl Checker<'_> {
    pub(crate) fn problem(&self, key: &str, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            file: self.origin.to_string(),
            position: self.locator.locate(key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn error(&mut self, key: &str, message: impl Into<String>) {
        let p = self.problem(key, message);
        self.problems.push(p);
    }

    pub(crate) fn warn(&mut self, key: &str, message: impl Into<String>) {
        let p = self.problem(key, message);
        self.warnings.push(p);
    }

    /// A URL that must be https, or http on a loopback host.
    pub(crate) fn url(&mut self, key: &str, value: Option<&str>, default: &str) -> Url {
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
    pub(crate) fn route(&mut self, key: &str, value: Option<&str>, default: &str) -> String {
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

    pub(crate) fn duration_ms(
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

    /// A size in KiB within `1..=max` (`default` when unset), in bytes.
    pub(crate) fn kib(&mut self, key: &str, value: Option<u64>, default: u64, max: u64) -> u64 {
        let n = value.unwrap_or(default);
        if !(1..=max).contains(&n) {
            self.error(key, format!("must be between 1 and {max} KiB, got {n}"));
        }
        n.clamp(1, max) * 1024
    }

    /// A secret that may be given by `{key}_env` (an environment
    /// variable's name), `{key}_file` (a file's path) or `{key}` itself
    /// (written inline): `env`, `file` and `inline` are what the config
    /// holds at those keys (`None` where the table has no such key or it is
    /// unset). More than one given is an error (the first of env, file,
    /// inline is kept, so checking goes on); an unset or empty variable is
    /// an error ending with `hint`, how to set it. `None` when none is
    /// given or the variable is unusable.
    pub(crate) fn secret(
        &mut self,
        key: &str,
        env: Option<&str>,
        file: Option<&str>,
        inline: Option<&str>,
        lookup: EnvLookup<'_>,
        hint: &str,
    ) -> Option<Given> {
        let name = key.rsplit('.').next().unwrap_or(key);
        let offered: Vec<String> = [
            env.map(|_| format!("{name}_env")),
            file.map(|_| format!("{name}_file")),
            inline.map(|_| name.to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if offered.len() > 1 {
            let first = format!("{}{}", &key[..key.len() - name.len()], offered[0]);
            let (last, rest) = offered.split_last().unwrap_or((&offered[0], &[]));
            self.error(
                &first,
                format!("give only one of {} and {last}", rest.join(", ")),
            );
        }
        if let Some(var) = env {
            let value = self.env_value(&format!("{key}_env"), var, lookup, hint)?;
            return Some(Given::Env {
                var: var.to_string(),
                value,
            });
        }
        if let Some(file) = file {
            return Some(Given::File(PathBuf::from(file)));
        }
        inline.map(|v| Given::Inline(Secret::new(v.trim().to_string())))
    }

    /// A key the operator gives as `{key}_env` or `{key}_file` (only one,
    /// the file private to its owner); `what` says what belongs there, for
    /// the messages. `None` when neither is given (the caller says whether
    /// that is wrong) or the one given is unusable (the error recorded).
    pub(crate) fn key(
        &mut self,
        key: &str,
        env: Option<&str>,
        file: Option<&str>,
        lookup: EnvLookup<'_>,
        what: &str,
    ) -> Option<Secret> {
        match self.secret(key, env, file, None, lookup, &format!("set it to {what}")) {
            Some(Given::Env { value, .. }) => Some(value),
            Some(Given::File(path)) => {
                if is_world_readable(&path) {
                    let file = path.display();
                    self.error(
                        &format!("{key}_file"),
                        format!("anyone on this machine can read {file}; run `chmod 600 {file}`"),
                    );
                }
                self.read_secret(&format!("{key}_file"), &path, &format!("put {what} in it"))
            }
            Some(Given::Inline(_)) | None => None,
        }
    }

    /// A key of at least `min` bytes the operator gives as `{key}_env` or
    /// `{key}_file` (see [`Checker::key`]); `name` names it in the message
    /// when it is shorter ("the API key"). `None` when neither is given or
    /// the one given is unusable (the error recorded).
    pub(crate) fn strong_key(
        &mut self,
        key: &str,
        (env, file): (Option<&str>, Option<&str>),
        lookup: EnvLookup<'_>,
        min: usize,
        name: &str,
    ) -> Option<Secret> {
        let what = format!("a random key of {min}+ bytes (`openssl rand -hex 32`)");
        let secret = self.key(key, env, file, lookup, &what)?;
        if secret.expose().len() >= min {
            return Some(secret);
        }
        let at = if env.is_some() {
            format!("{key}_env")
        } else {
            format!("{key}_file")
        };
        self.error(
            &at,
            format!(
                "{name} must be at least {min} bytes; generate one with `openssl rand -hex 32`"
            ),
        );
        None
    }

    /// The trimmed value of the environment variable `var`, named at `key`;
    /// an error ending with `hint` (how to set it) when it is unset or empty.
    pub(crate) fn env_value(
        &mut self,
        key: &str,
        var: &str,
        lookup: EnvLookup<'_>,
        hint: &str,
    ) -> Option<Secret> {
        match lookup(var).filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(Secret::new(v.trim().to_string())),
            None => {
                self.error(
                    key,
                    format!("the environment variable {var} is not set or empty; {hint}"),
                );
                None
            }
        }
    }

    /// The trimmed contents of a secret file given at `key`; an error when
    /// it cannot be read or is empty (`hint` says what belongs in it).
    pub(crate) fn read_secret(&mut self, key: &str, path: &Path, hint: &str) -> Option<Secret> {
        match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_string())),
            Ok(_) => {
                self.error(key, format!("the file {} is empty; {hint}", path.display()));
                None
            }
            Err(e) => {
                self.error(key, format!("cannot read {}: {e}", path.display()));
                None
            }
        }
    }

    pub(crate) fn plugin_name(&mut self, key: &str, value: Option<&str>, default: &str) -> String {
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

pub(crate) fn fallback_url() -> Url {
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

/// Quotes a key part for a dotted path when it is not a bare TOML key.
pub(crate) fn quote_key(part: &str) -> String {
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
pub(crate) fn setting_string(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(unix)]
pub(crate) fn is_world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(not(unix))]
pub(crate) fn is_world_readable(_path: &Path) -> bool {
    false
}
