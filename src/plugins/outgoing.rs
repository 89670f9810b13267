//! Outgoing HTTP for plugins (`wasi:http/outgoing-handler`): allowed only to
//! the hosts in the plugin's `[plugins.grants.<name>] http_hosts`, over https
//! (plain http only to loopback hosts), with a timeout and a cap on the
//! response body. Everything else is answered `http-request-denied`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::{BodyExt, Limited};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::config::HttpGrant;

/// The `wasi:http` hooks of one plugin call.
pub(crate) struct OutgoingHttp {
    grant: Option<HttpGrant>,
    plugin: Arc<str>,
    request_id: Arc<str>,
}

/// A request's destination, as the allow-list sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    host: String,
    port: u16,
    https: bool,
}

impl Destination {
    /// The destination of `uri`, or none when it has no host or scheme.
    pub(crate) fn of(uri: &http::Uri) -> Option<Self> {
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return None,
        };
        let host = uri
            .host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Self { host, port, https })
    }

    fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether `grant` allows this destination.
    pub(crate) fn allowed_by(&self, grant: &HttpGrant) -> bool {
        if !self.https && !self.is_loopback() {
            return false;
        }
        let default_port = if self.https { 443 } else { 80 };
        grant
            .hosts
            .iter()
            .any(|h| h.host == self.host && h.port.unwrap_or(default_port) == self.port)
    }
}

impl OutgoingHttp {
    /// The hooks for one call of `plugin`, serving `request_id`.
    pub(crate) fn new(grant: Option<HttpGrant>, plugin: Arc<str>, request_id: Arc<str>) -> Self {
        Self {
            grant,
            plugin,
            request_id,
        }
    }

    /// The grant that allows `uri`, or why not.
    fn check(&self, uri: &http::Uri) -> Result<(HttpGrant, Destination), &'static str> {
        let grant = self
            .grant
            .as_ref()
            .ok_or("outgoing HTTP is not granted to this plugin")?;
        let destination = Destination::of(uri).ok_or("the URL has no http(s) scheme or host")?;
        if !destination.allowed_by(grant) {
            return Err(if destination.https || destination.is_loopback() {
                "the host is not in the plugin's http_hosts"
            } else {
                "plain http is allowed only to loopback hosts; use https"
            });
        }
        Ok((grant.clone(), destination))
    }
}

/// The guest's timeouts, each no longer than the grant's.
fn bounded(options: Option<RequestOptions>, limit: Duration) -> RequestOptions {
    let cap = |d: Option<Duration>| Some(d.map_or(limit, |d| d.min(limit)));
    let o = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: cap(o.connect_timeout),
        first_byte_timeout: cap(o.first_byte_timeout),
        between_bytes_timeout: cap(o.between_bytes_timeout),
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let plugin = self.plugin.clone();
        let request_id = self.request_id.clone();
        let checked = self.check(request.uri());
        Box::new(async move {
            let (grant, destination) = match checked {
                Ok(ok) => ok,
                Err(why) => {
                    // The host only: a path or query may carry a secret.
                    let host = request.uri().host().unwrap_or("").to_string();
                    tracing::warn!(target: "plugin", plugin = &*plugin, request_id = &*request_id, host, "outgoing request denied: {why}");
                    return Err(Error::HttpRequestDenied);
                }
            };
            let method = request.method().clone();
            let options = bounded(options, grant.timeout);
            let sent = tokio::time::timeout(
                grant.timeout,
                wasmtime_wasi_http::default_send_request(request, Some(options)),
            )
            .await;
            let (response, io) = match sent {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    tracing::info!(target: "plugin", plugin = &*plugin, request_id = &*request_id, host = destination.host, "outgoing {method} failed: {e}");
                    return Err(e);
                }
                Err(_) => {
                    tracing::info!(target: "plugin", plugin = &*plugin, request_id = &*request_id, host = destination.host, "outgoing {method} timed out after {:?}", grant.timeout);
                    return Err(Error::HttpResponseTimeout);
                }
            };
            tracing::debug!(target: "plugin", plugin = &*plugin, request_id = &*request_id, host = destination.host, status = response.status().as_u16(), "outgoing {method}");
            let cap = grant.max_response_bytes;
            let limit = usize::try_from(cap).unwrap_or(usize::MAX);
            let response = response.map(move |body| {
                Limited::new(body, limit)
                    .map_err(move |e| match e.downcast::<Error>() {
                        Ok(inner) => *inner,
                        Err(_) => Error::HttpResponseBodySize(Some(cap)),
                    })
                    .boxed_unsync()
            });
            Ok((
                response,
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowedHost;

    fn grant(hosts: &[(&str, Option<u16>)]) -> HttpGrant {
        HttpGrant {
            hosts: hosts
                .iter()
                .map(|(h, p)| AllowedHost {
                    host: (*h).into(),
                    port: *p,
                })
                .collect(),
            timeout: Duration::from_secs(1),
            max_response_bytes: 1024,
        }
    }

    fn allowed(uri: &str, g: &HttpGrant) -> bool {
        Destination::of(&uri.parse().expect("uri")).is_some_and(|d| d.allowed_by(g))
    }

    #[test]
    fn only_listed_hosts_and_ports_over_https_or_loopback() {
        let g = grant(&[("hooks.example.com", None), ("127.0.0.1", Some(9000))]);
        assert!(allowed("https://hooks.example.com/notion", &g));
        assert!(allowed("https://HOOKS.example.com:443/x", &g));
        assert!(
            !allowed("http://hooks.example.com/notion", &g),
            "plain http off loopback"
        );
        assert!(
            !allowed("https://hooks.example.com:8443/", &g),
            "other port"
        );
        assert!(!allowed("https://evil.example.com/", &g));
        assert!(!allowed("https://hooks.example.com.evil.net/", &g));
        assert!(allowed("http://127.0.0.1:9000/hook", &g));
        assert!(!allowed("http://127.0.0.1:9001/hook", &g));
        assert!(!allowed("ftp://hooks.example.com/", &g));
        assert!(allowed("http://[::1]/", &grant(&[("::1", None)])));
    }

    /// A server on 127.0.0.1 that answers every connection with a 200 and
    /// `size` bytes of body.
    async fn big_answer(size: usize) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&vec![b'x'; size]).await;
            }
        });
        addr
    }

    async fn fetch(hooks: &mut OutgoingHttp, url: &str) -> Result<usize, Error> {
        let body = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get(url).body(body).expect("request");
        let (response, _io) =
            Box::into_pin(hooks.send_request(request, None, Box::new(async { Ok(()) }))).await?;
        let body = response.into_body().collect().await?;
        Ok(body.to_bytes().len())
    }

    #[tokio::test]
    async fn response_bodies_are_capped_and_ungranted_calls_denied() {
        let addr = big_answer(4096).await;
        let url = format!("http://{addr}/");
        let mut g = grant(&[("127.0.0.1", Some(addr.port()))]);
        g.max_response_bytes = 1024;
        let mut capped = OutgoingHttp::new(Some(g.clone()), Arc::from("p"), Arc::from("r"));
        assert!(matches!(
            fetch(&mut capped, &url).await,
            Err(Error::HttpResponseBodySize(Some(1024)))
        ));
        g.max_response_bytes = 8192;
        let mut roomy = OutgoingHttp::new(Some(g), Arc::from("p"), Arc::from("r"));
        assert_eq!(fetch(&mut roomy, &url).await.ok(), Some(4096));
        let mut none = OutgoingHttp::new(None, Arc::from("p"), Arc::from("r"));
        assert!(matches!(
            fetch(&mut none, &url).await,
            Err(Error::HttpRequestDenied)
        ));
    }

    #[test]
    fn guest_timeouts_never_exceed_the_grant() {
        let o = bounded(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(60)),
                first_byte_timeout: Some(Duration::from_millis(10)),
                between_bytes_timeout: None,
            }),
            Duration::from_secs(1),
        );
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(o.first_byte_timeout, Some(Duration::from_millis(10)));
        assert_eq!(o.between_bytes_timeout, Some(Duration::from_secs(1)));
    }
}
