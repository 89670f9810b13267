//! The accept loop: HTTP/1.1, over TLS when a certificate is configured, with
//! a timeout on the TLS handshake and on reading the request head
//! (slow-loris), a cap on the head's size, a cap on open connections and on
//! those of one address, and a graceful stop. How long each connection may
//! hold its slot is [`super::connection`]'s.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::Connection;
use super::per_ip::PerIp;
use super::response::Body;
use super::tls::TlsServer;
use crate::config::ServerConfig;

/// Something that answers HTTP requests: the gateway's router, the stand-in.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request; never fails (errors are responses).
    fn handle(&self, req: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// The address of the TCP peer a request came from, in the request's
/// extensions. Behind a proxy it is the proxy's; see
/// [`crate::config::ServerConfig::trusted_proxies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How much longer than a request may take open connections get to finish
/// after a stop is asked for (writing the last response out).
const FINISH_MARGIN: Duration = Duration::from_secs(2);

/// Serves `handler` on `listener` (over TLS when `tls` is given) until
/// `shutdown` completes, then stops accepting and lets requests in flight
/// finish (each is already bounded by `server.request_timeout_ms`).
pub(crate) async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    server: &ServerConfig,
    tls: Option<&TlsServer>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(server.max_connections));
    let per_ip = PerIp::new(server.connections.per_ip, &server.trusted_proxies);
    let stop = CancellationToken::new();
    let open = TaskTracker::new();
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .max_buf_size(server.max_header_bytes)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Over its address's share: closed at once, the slot kept for others.
        let Some(held) = per_ip.hold(peer.ip()) else {
            tracing::debug!(peer = %peer.ip(), "refused a connection: its address holds server.max_connections_per_ip");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            handler: handler.clone(),
            builder: builder.clone(),
            peer,
            limits: server.connections,
            stop: stop.clone(),
            _held: held,
        };
        match tls {
            None => {
                open.spawn(async move {
                    connection.run(stream).await;
                    drop(permit);
                });
            }
            Some(tls) => {
                // The handshake is bounded like the request head (slow-loris).
                let accept = tls.acceptor().accept(stream);
                let timeout = server.header_read_timeout;
                open.spawn(async move {
                    match tokio::time::timeout(timeout, accept).await {
                        Ok(Ok(stream)) => connection.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    stop.cancel();
    open.close();
    let finish = server.request_timeout + FINISH_MARGIN;
    tokio::select! {
        () = open.wait() => {}
        () = tokio::time::sleep(finish) => tracing::warn!("stopped with connections still open after {finish:?}"),
    }
    Ok(())
}
