//! The gateway's configuration: a TOML file read table by table, each
//! table's file holding what may be written there (unknown keys refused),
//! its checked form, and its check, before any port is bound or any plugin
//! is run. [`checker`] holds what the tables' checks share.
//!
//! Every problem names the file, line, column and key, and says what to do.
//! Relative paths (`data_dir`, `plugins.dir`, document files, secret files)
//! are resolved against the working directory, as the gateway's users run it
//! from their project folder.

mod admin;
mod app_data;
pub(crate) mod checker;
mod documents;
mod log;
mod notion;
mod plugins;
mod problem;
mod routes;
mod server;
mod store;
mod token_api;

use std::path::Path;

use serde::Deserialize;

pub use admin::{AdminConfig, MIN_ADMIN_KEY};
pub use app_data::{AppDataConfig, MIN_APP_KEY, UnsignedData};
pub(crate) use checker::is_plugin_name;
use checker::{Checker, is_world_readable};
pub use checker::{EnvLookup, is_loopback as is_loopback_url};
pub use documents::DocumentConfig;
pub use log::{LOG_FORMAT_ENV, LogConfig, LogFormat};
pub use notion::{KeySource, NotionConfig, StateMode};
pub use plugins::{PluginGrants, PluginLimits, PluginLogLevel, PluginsConfig};
pub use problem::ConfigProblem;
pub use routes::Routes;
pub use server::{ConnectionLimits, RateLimitConfig, ServerConfig, TlsFiles};
pub use store::{
    DatabaseTls, DeliveryConfig, PostgresConfig, StoreBackend, StoreConfig, VaultKeySource,
};
pub use token_api::TokenApiConfig;

pub use crate::plugins::capability::http::{AllowedHost, HttpGrant};
pub use crate::plugins::capability::keyvalue::KeyValueGrant;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: server::RawServer,
    #[serde(default)]
    pub(crate) notion: notion::RawNotion,
    #[serde(default)]
    pub(crate) routes: routes::RawRoutes,
    #[serde(default)]
    pub(crate) plugins: plugins::RawPlugins,
    #[serde(default)]
    pub(crate) documents: documents::RawDocuments,
    #[serde(default)]
    pub(crate) store: store::RawStore,
    #[serde(default)]
    pub(crate) token_api: token_api::RawTokenApi,
    #[serde(default)]
    pub(crate) app_data: app_data::RawAppData,
    #[serde(default)]
    pub(crate) log: log::RawLog,
    #[serde(default)]
    pub(crate) admin: admin::RawAdmin,
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
    /// `[app_data]`: how the app vouches for a flow's `data`.
    pub app_data: AppDataConfig,
    /// `[log]`: how log lines are written.
    pub log: LogConfig,
    /// `[admin]`: the operator's console (off by default).
    pub admin: AdminConfig,
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
        check(&src, &origin, Some(path), env)
    }

    /// Parses and checks config text; `origin` names it in problems.
    pub fn from_toml(src: &str, origin: &str, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        check(src, origin, None, env)
    }
}

/// Parses and checks `src`, table by table; `path` is the file it was read
/// from, if any.
fn check(
    src: &str,
    origin: &str,
    path: Option<&Path>,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigError> {
    let mut c = Checker::new(origin, src);
    let raw: RawConfig = toml::from_str(src).map_err(|e| ConfigError {
        problems: vec![c.syntax(&e)],
    })?;
    let mut server = server::check(&mut c, &raw.server);
    let routes = routes::check(&mut c, &raw.routes, &server.base_path);
    let notion = notion::check(&mut c, &raw.notion, &routes, &server.data_dir, path, env);
    // A plugin setting that looks like a secret must not be written inline
    // in a file everyone can read.
    let readable = path.filter(|p| is_world_readable(p));
    let plugins = plugins::check(&mut c, &raw.plugins, &server.data_dir, env, readable);
    let documents = documents::check(&mut c, &raw.documents, &server.base_path, &routes);
    let store = store::check(&mut c, &raw.store, &server.data_dir, path, env);
    let token_api = token_api::check(&mut c, &raw.token_api, env);
    if token_api.api_key.is_some() && !store.keep_tokens {
        c.error(
            "token_api.enabled",
            "the token API needs kept tokens; set [store] keep_tokens = true or turn the API off",
        );
    }
    let app_data = app_data::check(&mut c, &raw.app_data, env);
    let log = log::check(&mut c, &raw.log, env);
    let admin = admin::check(&mut c, &raw.admin, env);
    if admin.key.is_some() && server.admin_listen.is_none() {
        let at = admin::DEFAULT_ADMIN_LISTEN;
        if server.listen == at {
            c.error(
                "admin.enabled",
                format!("the console needs [server] admin_listen, an address other than server.listen ({at}); set it, e.g. 127.0.0.1:9101"),
            );
        } else {
            server.admin_listen = Some(at);
        }
    }
    let warnings = c.finish().map_err(|problems| ConfigError { problems })?;
    Ok(Config {
        origin: origin.to_string(),
        server,
        notion,
        routes,
        plugins,
        documents,
        store,
        token_api,
        app_data,
        log,
        admin,
        warnings,
    })
}

#[cfg(test)]
mod tests;
