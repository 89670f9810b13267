//! The local demo behind `notion-oauth-gateway dev`: the gateway on embedded
//! defaults plus the Notion stand-in on another loopback origin, wired to
//! each other, so the whole flow can be clicked through on one machine.
//!
//! The demo's plugins get what their manifests ask for, within the demo's
//! bounds ([`grants`]); with `--watch`, a plugin is rebuilt when its
//! source folder changes ([`rebuild`]).
//!
//! The gateway runs at `http://127.0.0.1:PORT` and the stand-in at
//! `http://localhost:PORT`: two different sites, as Notion and a real gateway
//! are, so the state cookie's cross-site return is exercised for real.

mod app_receiver;
mod grants;
mod rebuild;
mod tables;

pub use app_receiver::AppReceiver;
pub(crate) use grants::demo_grants;
pub use grants::{DevCapability, DevGrant};
pub use rebuild::{Build, SourceWatch, build, source_folder, watch_sources};
pub(crate) use tables::plugin_table;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::gateway::{Gateway, GatewayError};
use crate::plugins::capability::http::allowed_host;
use crate::plugins::{DemoValue, Manifest};
use crate::secret::ClientSecret;
use crate::standin::{self, StandIn, StandInConfig};

/// The OAuth client id the demo's stand-in accepts.
pub const DEMO_CLIENT_ID: &str = "stand-in-client";
/// The environment name the demo's config reads its generated secret from.
const SECRET_VAR: &str = "NOG_DEMO_CLIENT_SECRET";
/// The environment name the demo's config reads its app receiver's secret from.
const RECEIVER_SECRET_VAR: &str = "NOG_DEMO_RECEIVER_SECRET";

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The gateway's address (loopback).
    pub listen: SocketAddr,
    /// The stand-in's address (loopback).
    pub stand_in_listen: SocketAddr,
    /// The plugins folder.
    pub plugins_dir: PathBuf,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The consumer plugin.
    pub consumer: String,
    /// The view plugin.
    pub view: String,
    /// Folder with `terms.md` and `privacy.md`, served when present.
    pub documents_dir: PathBuf,
    /// Grants beyond what the plugins' manifests ask for (`--grant`).
    pub grants: Vec<DevGrant>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            stand_in_listen: SocketAddr::from(([127, 0, 0, 1], 8001)),
            plugins_dir: PathBuf::from("plugins"),
            data_dir: PathBuf::from("data/dev"),
            consumer: "default-consumer".into(),
            view: "default-view".into(),
            documents_dir: PathBuf::from("config"),
            grants: Vec::new(),
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A port could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; pass another address (--listen / --stand-in-listen)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The demo's generated config did not check out (a bad option).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The gateway could not be built (plugins not built, say).
    #[error("{0}")]
    Gateway(#[from] GatewayError),
}

/// A started demo: both servers bound, the stand-in serving.
pub struct Demo {
    /// The gateway, ready to serve.
    pub gateway: Gateway,
    /// The stand-in, serving in the background.
    pub stand_in: Arc<StandIn>,
    /// Where the gateway listens.
    pub gateway_addr: SocketAddr,
    /// Where the stand-in listens.
    pub stand_in_addr: SocketAddr,
    /// What the demo granted its plugins, and refused them, a line each.
    pub grant_notes: Vec<String>,
    /// The demo's app receiver, when a plugin's manifest asks for it.
    pub receiver: Option<AppReceiver>,
    listener: TcpListener,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("gateway_addr", &self.gateway_addr)
            .finish_non_exhaustive()
    }
}

/// The demo's plugins' settings that ask for the app receiver
/// (`demo = ...` in their manifests): plugin, key, what.
fn receiver_settings(options: &DemoOptions) -> Vec<(String, String, DemoValue)> {
    let mut asked = Vec::new();
    let mut names = vec![options.consumer.as_str()];
    if options.view != options.consumer {
        names.push(options.view.as_str());
    }
    for name in names {
        let component = options.plugins_dir.join(format!("{name}.wasm"));
        let Ok(Some(manifest)) = Manifest::read_beside(&component) else {
            continue;
        };
        for (key, spec) in &manifest.settings {
            if let Some(what) = spec.demo {
                asked.push((name.to_string(), key.clone(), what));
            }
        }
    }
    asked
}

/// The demo's config, in the same TOML a user writes, and a line for each
/// grant it made or refused and each setting it filled in. `receiver` is
/// the demo's app receiver, when a plugin asks for it.
pub fn demo_config_text(
    options: &DemoOptions,
    gateway: SocketAddr,
    stand_in: SocketAddr,
    receiver: Option<&AppReceiver>,
) -> (String, Vec<String>) {
    let mut extra = DevGrant::from_flags(&options.grants);
    let mut settings = String::new();
    let mut setting_notes = Vec::new();
    if let Some(receiver) = receiver {
        let asked = receiver_settings(options);
        let receiver_host = allowed_host(&receiver.addr.to_string()).ok();
        let mut plugins: Vec<&String> = asked.iter().map(|(plugin, _, _)| plugin).collect();
        plugins.dedup();
        for plugin in plugins {
            if let Some(host) = &receiver_host {
                extra.push((
                    DevGrant {
                        plugin: plugin.clone(),
                        what: DevCapability::Http(host.clone()),
                    },
                    "it posts to the demo's app receiver".to_string(),
                ));
            }
            let mut entries = Vec::new();
            for (_, key, what) in asked.iter().filter(|(p, _, _)| p == plugin) {
                let (value, note) = match what {
                    DemoValue::ReceiverUrl => (
                        toml::Value::String(receiver.url.clone()),
                        format!(
                            "set {plugin}'s {key} to the demo's app receiver {}, which checks each delivery's signature as your app would",
                            receiver.url
                        ),
                    ),
                    DemoValue::ReceiverSecret => (
                        tables::from_env(RECEIVER_SECRET_VAR),
                        format!(
                            "set {plugin}'s {key} to the secret the demo's app receiver checks signatures with (made for this run)"
                        ),
                    ),
                };
                entries.push((key.clone(), value));
                setting_notes.push(note);
            }
            settings.push_str(&plugin_table("settings", plugin, &entries));
        }
    }
    let (grants, mut notes) = grants::demo_grants(
        &options.plugins_dir,
        &[options.consumer.as_str(), options.view.as_str()],
        &extra,
    );
    notes.extend(setting_notes);
    let mut documents = String::new();
    for name in ["terms", "privacy"] {
        let path = options.documents_dir.join(format!("{name}.md"));
        if path.is_file() {
            documents.push_str(&format!("\"/{name}\" = {:?}\n", path.display().to_string()));
        }
    }
    let text = format!(
        r#"# Generated by `notion-oauth-gateway dev`: the gateway wired to the local Notion stand-in.
[server]
listen = "{gateway}"
data_dir = {data:?}
landing_page = true

[notion]
client_id = "{DEMO_CLIENT_ID}"
client_secret_env = "{SECRET_VAR}"
redirect_uri = "http://{gateway}/auth/notion/redirect"
api_base_url = "http://localhost:{port}"
authorize_url = "http://localhost:{port}/v1/oauth/authorize"

[plugins]
dir = {plugins:?}
consumer = "{consumer}"
view = "{view}"
{grants}{settings}
[documents]
{documents}"#,
        data = options.data_dir.display().to_string(),
        port = stand_in.port(),
        plugins = options.plugins_dir.display().to_string(),
        consumer = options.consumer,
        view = options.view,
    );
    (text, notes)
}

impl Demo {
    /// Binds both ports, starts the stand-in and builds the gateway.
    pub async fn start(options: &DemoOptions) -> Result<Self, DemoError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| DemoError::Bind { addr, source })
        };
        let listener = bind(options.listen).await?;
        let gateway_addr = listener.local_addr().map_err(|source| DemoError::Bind {
            addr: options.listen,
            source,
        })?;
        let secret = ClientSecret::new(hex::encode(rand::random::<[u8; 24]>()));
        let redirect_uri = format!("http://{gateway_addr}/auth/notion/redirect");
        let stand_in_config = StandInConfig {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: secret.clone(),
            redirect_uris: vec![redirect_uri],
            canaries: false,
            any_code: false,
        };
        let (stand_in, stand_in_addr) = standin::spawn(stand_in_config, options.stand_in_listen)
            .await
            .map_err(|source| DemoError::Bind {
                addr: options.stand_in_listen,
                source,
            })?;
        let receiver = if receiver_settings(options).is_empty() {
            None
        } else {
            Some(
                AppReceiver::start(stand_in_addr)
                    .await
                    .map_err(|source| DemoError::Bind {
                        addr: SocketAddr::new(stand_in_addr.ip(), 0),
                        source,
                    })?,
            )
        };
        let (text, grant_notes) =
            demo_config_text(options, gateway_addr, stand_in_addr, receiver.as_ref());
        let receiver_secret = receiver.as_ref().map(|r| r.secret.expose().to_string());
        let env = |name: &str| match name {
            SECRET_VAR => Some(secret.expose().to_string()),
            RECEIVER_SECRET_VAR => receiver_secret.clone(),
            _ => None,
        };
        let config = Config::from_toml(&text, "<dev>", &env)?;
        let gateway = Gateway::build(config).await?;
        Ok(Self {
            gateway,
            stand_in,
            gateway_addr,
            stand_in_addr,
            grant_notes,
            receiver,
            listener,
        })
    }

    /// The page to open in a browser.
    pub fn url(&self) -> String {
        format!("http://{}/", self.gateway_addr)
    }

    /// Serves the gateway until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        self.gateway.serve(self.listener, shutdown).await?;
        self.gateway.shutdown().await;
        Ok(())
    }
}
