//! The gateway assembled from a config: state key, Notion client, plugins,
//! documents and routes, ready to serve or to embed.

use std::future::Future;
use std::sync::Arc;

use http::{Request, Response};
use tokio::net::TcpListener;

use crate::certificate::TlsError;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::delivery::{DeliveryService, Keeper};
use crate::flow_figures::FlowFigures;
use crate::http::{
    App, AppParts, Body, Console, DocumentError, Draining, Listener, Probes, Surface, TlsServer,
    TokenApi, load_documents, serve,
};
use crate::metrics::Metrics;
use crate::notion::{NotionClient, NotionError};
use crate::oauth::{Flow, KeyError, load_state_key};
use crate::plugins::{PluginError, PluginWatcher, Plugins};
use crate::vault::{Vault, VaultError};

/// Why the gateway could not be built from a checked config.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The state key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The Notion client could not be set up.
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// One or more plugins could not be loaded.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Plugins(Vec<PluginError>),
    /// A document could not be read.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token vault could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A ready gateway.
#[derive(Clone)]
pub struct Gateway {
    app: Arc<App>,
    config: Arc<Config>,
    plugins: Plugins,
    tls: Option<Arc<TlsServer>>,
    keeper: Arc<Keeper>,
    worker: Arc<Worker>,
    figures: Arc<FlowFigures>,
    _watcher: Option<Arc<PluginWatcher>>,
}

/// The vault's delivery worker; told to stop when the last gateway handle
/// drops (it finishes its pass and reports tokens it still holds).
struct Worker {
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("origin", &self.config.origin)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway on the system clock.
    pub async fn build(config: Config) -> Result<Self, GatewayError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the gateway on a given clock (tests move time with it).
    pub async fn build_with_clock(
        config: Config,
        clock: SharedClock,
    ) -> Result<Self, GatewayError> {
        let config = Arc::new(config);
        let key = load_state_key(&config.notion.state_key)?;
        let notion = NotionClient::new(&config.notion)?;
        let metrics = Arc::new(Metrics::default());
        let vault = Arc::new(Vault::open(&config.store).await?);
        let plugins = Plugins::load(&config)
            .await
            .map_err(GatewayError::Plugins)?;
        let (consumer, view) = (plugins.consumer(), plugins.view());
        let one = Arc::ptr_eq(&consumer, &view);
        for (plugin, roles) in [(&consumer, "consumer"), (&view, "view")] {
            if one && roles == "view" {
                break;
            }
            tracing::info!(
                plugin = plugin.name(),
                roles = if one { "consumer+view" } else { roles },
                sha256 = &plugin.sha256()[..12],
                cached = plugin.from_cache(),
                "plugin loaded"
            );
            for warning in plugin.warnings() {
                tracing::warn!(plugin = plugin.name(), "{warning}");
            }
        }
        let documents = load_documents(&config.documents)?;
        let tls = match &config.server.tls {
            Some(files) => Some(Arc::new(TlsServer::start(files)?)),
            None => None,
        };
        let watcher = if config.plugins.watch {
            Some(Arc::new(
                crate::plugins::watch(plugins.clone())
                    .map_err(|e| GatewayError::Plugins(vec![e]))?,
            ))
        } else {
            None
        };
        let probes = Probes {
            draining: Draining::default(),
            vault: vault.clone(),
            plugins: plugins.clone(),
            configured: [config.plugins.consumer.clone(), config.plugins.view.clone()],
        };
        let figures = FlowFigures::start(vault.clone());
        let keeper = Arc::new(Keeper::new(vault, notion, metrics.clone()));
        let delivery = Arc::new(DeliveryService::new(
            keeper.clone(),
            plugins.clone(),
            config.notion.redirect_uri.clone(),
        ));
        let stop = Arc::new(tokio::sync::Notify::new());
        delivery.spawn_worker(stop.clone());
        let token_api = config
            .token_api
            .api_key
            .as_ref()
            .map(|key| TokenApi::new(key, keeper.clone()));
        let console = config.admin.key.as_ref().map(|key| {
            Console::new(
                key,
                keeper.clone(),
                plugins.clone(),
                config.server.trusted_proxies.clone(),
            )
        });
        let flow = Flow::new(config.clone(), key, plugins.clone(), delivery, clock);
        let app = Arc::new(App::new(
            config.clone(),
            AppParts {
                flow,
                documents,
                token_api,
                metrics,
                probes,
                figures: figures.clone(),
                console,
            },
        ));
        Ok(Self {
            app,
            config,
            plugins,
            tls,
            keeper,
            worker: Arc::new(Worker { stop }),
            figures,
            _watcher: watcher,
        })
    }

    /// Answers one request as the public listener would (for embedding in
    /// another server, and for tests).
    pub async fn handle<B: crate::http::RequestBody>(&self, req: Request<B>) -> Response<Body> {
        self.app.handle(req, Surface::Public).await
    }

    /// Answers one request as the listener `surface` would.
    pub async fn handle_on<B: crate::http::RequestBody>(
        &self,
        req: Request<B>,
        surface: Surface,
    ) -> Response<Body> {
        self.app.handle(req, surface).await
    }

    /// Serves the public routes on `listener` (HTTPS when the config names
    /// a certificate) until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let public = Arc::new(Listener {
            app: self.app.clone(),
            surface: Surface::Public,
        });
        serve(
            listener,
            public,
            &self.config.server,
            self.tls.as_deref(),
            shutdown,
        )
        .await
    }

    /// Serves `/metrics`, the token API and `/healthz` on `listener`, the
    /// one bound to `[server] admin_listen` (plain HTTP), until `shutdown`
    /// completes.
    pub async fn serve_admin(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let admin = Arc::new(Listener {
            app: self.app.clone(),
            surface: Surface::Admin,
        });
        serve(listener, admin, &self.config.server, None, shutdown).await
    }

    /// Loads the TLS certificate and key again now (they are also reloaded
    /// when the files change); `Ok` without TLS.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        self.tls.as_ref().map_or(Ok(()), |t| t.reload())
    }

    /// The plugins serving new requests (swapped when the folder changes).
    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// The token vault (its store: counts, connections, deliveries).
    pub fn vault(&self) -> &Arc<Vault> {
        self.keeper.vault()
    }

    /// The keeper of tokens: refresh, revoke, tokens held in memory.
    pub fn keeper(&self) -> &Arc<Keeper> {
        &self.keeper
    }

    /// Starts draining: `/readyz` answers 503 from now on, so a load
    /// balancer stops sending requests here, while every route keeps
    /// serving until the listeners are stopped.
    pub fn drain(&self) {
        self.app.drain();
    }

    /// Stops the delivery worker and waits for work that must finish once
    /// started: in-flight hand-offs, refreshes, revocations and the
    /// worker's last pass (which commits tokens held in memory, if it can).
    pub async fn shutdown(&self) {
        self.worker.stop.notify_one();
        self.keeper.finish().await;
        self.figures.flush().await;
    }

    /// How flows end, per minute (added to the store every few seconds).
    pub fn flow_figures(&self) -> &Arc<FlowFigures> {
        &self.figures
    }

    /// The config it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
