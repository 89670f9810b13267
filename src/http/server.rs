//! The accept loop: HTTP/1.1, over TLS when a certificate is configured, with
//! a timeout on the TLS handshake and on reading the request head
//! (slow-loris), a cap on the head's size, a cap on open connections, and a
//! graceful stop. Each request carries its peer's address ([`PeerAddr`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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

/// How long open connections get to finish after a stop is asked for.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `handler` on `listener` (over TLS when `tls` is given) until
/// `shutdown` completes, then lets open requests finish (up to 10 s).
pub(crate) async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    server: &ServerConfig,
    tls: Option<&TlsServer>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(server.max_connections));
    let graceful = GracefulShutdown::new();
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
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            handler: handler.clone(),
            builder: builder.clone(),
            watcher: graceful.watcher(),
            peer,
        };
        match tls {
            None => {
                tokio::spawn(async move {
                    connection.run(stream).await;
                    drop(permit);
                });
            }
            Some(tls) => {
                // The handshake is bounded like the request head (slow-loris).
                let accept = tls.acceptor().accept(stream);
                let timeout = server.header_read_timeout;
                tokio::spawn(async move {
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
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => tracing::warn!("stopped with connections still open after {DRAIN:?}"),
    }
    Ok(())
}

/// One accepted connection, to be served on its own task.
struct Connection<H> {
    handler: Arc<H>,
    builder: Builder,
    watcher: Watcher,
    peer: SocketAddr,
}

impl<H: Handler> Connection<H> {
    /// Serves HTTP/1.1 on the stream (plain or TLS) until it closes.
    async fn run<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service(self.handler, self.peer);
        let connection = self
            .watcher
            .watch(self.builder.serve_connection(TokioIo::new(io), service));
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// The hyper service for one connection: tags each request with its peer.
fn service<H: Handler>(
    handler: Arc<H>,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    service_fn(move |mut req: Request<Incoming>| {
        let handler = handler.clone();
        req.extensions_mut().insert(PeerAddr(peer));
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    })
}
