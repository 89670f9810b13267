//! A local stand-in for Notion's OAuth endpoints: the consent page
//! (`/v1/oauth/authorize`), the token endpoint (`/v1/oauth/token`, code and refresh
//! grants) and revocation and introspection (`/v1/oauth/revoke`, `/introspect`).
//!
//! It is clearly marked as a stand-in on every page. It checks what Notion
//! checks (a known client, a registered redirect URI, HTTP Basic client
//! authentication, the `Notion-Version` header, single-use codes bound to
//! their redirect URI) and answers in Notion's documented shapes, so the whole
//! flow can run on 127.0.0.1: the `dev` demo, the integration tests and the
//! benchmark use it. Tests can queue faults for the token endpoint and read
//! what it received.

mod faults;
mod pages;
mod service;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use faults::{Fault, RecordedRequest};
pub use service::StandIn;

use crate::secret::ClientSecret;

/// Who the stand-in accepts as a client.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// The OAuth client id it accepts.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: ClientSecret,
    /// The redirect URIs registered for the client (matched exactly).
    pub redirect_uris: Vec<String>,
    /// Issue codes and tokens named `CANARY_CODE_…`, `CANARY_TOKEN_…` and
    /// `CANARY_REFRESH_…`, so a test can prove none of them leaks.
    pub canaries: bool,
    /// Redeem any code once, issued or not, for load tests that replay
    /// callbacks without going through the consent page (off by default).
    pub any_code: bool,
}

/// Binds the stand-in on `addr` and serves it in the background until the
/// process ends.
pub async fn spawn(
    config: StandInConfig,
    addr: SocketAddr,
) -> std::io::Result<(Arc<StandIn>, SocketAddr)> {
    start(config, addr, None).await
}

/// Like [`spawn`], but serves HTTPS with the certificate and key in `tls`
/// (for tests of how the gateway treats Notion's certificate).
pub async fn spawn_tls(
    config: StandInConfig,
    addr: SocketAddr,
    tls: &crate::config::TlsFiles,
) -> std::io::Result<(Arc<StandIn>, SocketAddr)> {
    let tls = crate::http::TlsServer::start(tls).map_err(std::io::Error::other)?;
    start(config, addr, Some(tls)).await
}

async fn start(
    config: StandInConfig,
    addr: SocketAddr,
    tls: Option<crate::http::TlsServer>,
) -> std::io::Result<(Arc<StandIn>, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let stand_in = Arc::new(StandIn::new(config));
    let serving = stand_in.clone();
    tokio::spawn(async move {
        if let Err(e) = serving
            .serve_with(listener, tls.as_ref(), std::future::pending())
            .await
        {
            tracing::error!(error = %e, "the Notion stand-in stopped");
        }
    });
    Ok((stand_in, local))
}
