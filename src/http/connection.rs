//! One accepted connection's life: HTTP/1.1 on its stream, each request
//! tagged with its peer ([`PeerAddr`]), and closed (gracefully: a request in
//! flight finishes first) when it has waited too long for its next request,
//! served its share of requests, lived its longest, or the server stops. A
//! client that does not read what it is sent is cut off by a write timeout.
//! Together with the cap per address, these keep a few clients from
//! holding every connection slot.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::header::{CONNECTION, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;

use super::per_ip::Held;
use super::response::Body;
use super::server::{Handler, PeerAddr};
use crate::config::ConnectionLimits;

/// How often a connection looks at its clock (at most; less for short idle
/// timeouts).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// One accepted connection, to be served on its own task.
pub(super) struct Connection<H> {
    pub(super) handler: Arc<H>,
    pub(super) builder: Builder,
    pub(super) peer: SocketAddr,
    pub(super) limits: ConnectionLimits,
    /// Cancelled when the server stops.
    pub(super) stop: CancellationToken,
    /// Its place in its address's count, given back when it closes.
    pub(super) _held: Held,
}

/// What a connection has done, for deciding when to close it.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    served: AtomicU64,
    /// Milliseconds after `opened` when the last request ended.
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    fn since_opened_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Why the connection should close now, if it should.
    fn should_close(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        if self.opened.elapsed() >= limits.max_age {
            return Some("it reached server.max_connection_age_ms");
        }
        if self.served.load(Ordering::Relaxed) >= limits.max_requests {
            return Some("it served server.max_requests_per_connection");
        }
        let idle_ms = self
            .since_opened_ms()
            .saturating_sub(self.last_end_ms.load(Ordering::Relaxed));
        let idle_limit = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        (self.in_flight.load(Ordering::Relaxed) == 0 && idle_ms >= idle_limit)
            .then_some("it waited server.idle_timeout_ms for a request")
    }
}

/// A request in flight on a connection; its end is recorded on drop.
struct InFlight(Arc<Activity>);

impl InFlight {
    /// A request begins; the count of requests this connection has served
    /// with it.
    fn begin(activity: &Arc<Activity>) -> (Self, u64) {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        let served = activity.served.fetch_add(1, Ordering::Relaxed) + 1;
        (Self(activity.clone()), served)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .last_end_ms
            .store(self.0.since_opened_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<H: Handler> Connection<H> {
    /// Serves HTTP/1.1 on the stream (plain or TLS) until it closes.
    pub(super) async fn run<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut io = TimeoutStream::new(io);
        io.set_write_timeout(Some(self.limits.write_timeout));
        let activity = Arc::new(Activity::new());
        let service = service(
            self.handler,
            self.peer,
            activity.clone(),
            self.limits.max_requests,
        );
        let connection = self
            .builder
            .serve_connection(TokioIo::new(Box::pin(io)), service);
        tokio::pin!(connection);
        let mut clock = tokio::time::interval(CHECK_EVERY.min(self.limits.idle_timeout / 2));
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = self.stop.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = clock.tick(), if !closing => {
                    if let Some(why) = activity.should_close(&self.limits) {
                        tracing::debug!(peer = %self.peer, "closing a connection: {why}");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// The hyper service for one connection: tags each request with its peer
/// and counts it; the connection's last allowed request is answered with
/// `Connection: close`.
fn service<H: Handler>(
    handler: Arc<H>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    max_requests: u64,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    service_fn(move |mut req: Request<Incoming>| {
        let handler = handler.clone();
        let (in_flight, served) = InFlight::begin(&activity);
        req.extensions_mut().insert(PeerAddr(peer));
        async move {
            let mut response = handler.handle(req).await;
            if served >= max_requests {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            drop(in_flight);
            Ok::<_, Infallible>(response)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_a_connection_closes_when_idle_used_up_or_old() {
        let limits = ConnectionLimits {
            per_ip: 0,
            idle_timeout: Duration::from_millis(50),
            write_timeout: Duration::from_secs(1),
            max_requests: 2,
            max_age: Duration::from_secs(60),
        };
        let activity = Arc::new(Activity::new());
        assert_eq!(activity.should_close(&limits), None, "just opened");
        let (first, _) = InFlight::begin(&activity);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(activity.should_close(&limits), None, "busy is not idle");
        drop(first);
        assert_eq!(activity.should_close(&limits), None, "a request just ended");
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            activity
                .should_close(&limits)
                .is_some_and(|w| w.contains("idle"))
        );
        drop(InFlight::begin(&activity).0);
        assert!(
            activity
                .should_close(&limits)
                .is_some_and(|w| w.contains("max_requests"))
        );
        let old = ConnectionLimits {
            max_age: Duration::ZERO,
            ..limits
        };
        assert!(
            Activity::new()
                .should_close(&old)
                .is_some_and(|w| w.contains("age"))
        );
    }
}
