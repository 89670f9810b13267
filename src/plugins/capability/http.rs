//! Outgoing HTTP for plugins (`wasi:http/outgoing-handler`): allowed only to
//! the hosts in the plugin's `[plugins.grants.<name>] http_hosts`, over https
//! (plain http only to loopback hosts), with a timeout and a cap on the
//! response body. Everything else is answered `http-request-denied`.
//! This file holds the grant, its check, the hooks that enforce it, and the
//! linking.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::{BodyExt, Limited};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::config::checker::Checker;

/// One entry of a plugin's HTTP allow-list: a host and, optionally, a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// The host name or IP address, lower case, without brackets.
    pub host: String,
    /// The only port allowed; none means the scheme's default port.
    pub port: Option<u16>,
}

/// As an allow-list entry is written: `host`, `host:port`, `[v6]:port`.
impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// `[plugins.grants.<name>]` `http_*`: outgoing HTTP through `wasi:http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    /// The hosts the plugin may call; every other request is denied.
    pub hosts: Vec<AllowedHost>,
    /// The most time one request may take, from connecting to the last byte.
    pub timeout: Duration,
    /// The largest response body the plugin may read.
    pub max_response_bytes: u64,
}

/// The `http_*` keys of a plugin's `[plugins.grants.<name>]`, as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpKeys<'a> {
    /// `http_hosts`
    pub(crate) hosts: Option<&'a [String]>,
    /// `http_timeout_ms`
    pub(crate) timeout_ms: Option<u64>,
    /// `http_max_response_kib`
    pub(crate) max_response_kib: Option<u64>,
}

/// Checks a plugin's `http_*` grant keys (`key` is its grants table);
/// `None` when outgoing HTTP is not granted.
pub(crate) fn check(c: &mut Checker<'_>, key: &str, raw: HttpKeys<'_>) -> Option<HttpGrant> {
    let http = raw.hosts.map(|hosts| {
        let hosts_key = format!("{key}.http_hosts");
        if hosts.is_empty() {
            c.warn(
                &hosts_key,
                "is empty, so every request is denied; list the hosts the plugin may call",
            );
        }
        let hosts = hosts
            .iter()
            .filter_map(|h| match allowed_host(h) {
                Ok(host) => Some(host),
                Err(why) => {
                    c.error(&hosts_key, format!("{h:?} {why}"));
                    None
                }
            })
            .collect();
        HttpGrant {
            hosts,
            timeout: c.duration_ms(
                &format!("{key}.http_timeout_ms"),
                raw.timeout_ms,
                10_000,
                60_000,
            ),
            max_response_bytes: c.kib(
                &format!("{key}.http_max_response_kib"),
                raw.max_response_kib,
                1024,
                64 * 1024,
            ),
        }
    });
    if http.is_none() && (raw.timeout_ms.is_some() || raw.max_response_kib.is_some()) {
        c.warn(
            &format!("{key}.http_timeout_ms"),
            "has no effect without http_hosts; HTTP is off for this plugin",
        );
    }
    http
}

/// Parses an allow-list entry: `host`, `host:port`, `[v6]` or `[v6]:port`.
/// Schemes, paths and wildcards are refused so the entry means one thing.
pub(crate) fn allowed_host(entry: &str) -> Result<AllowedHost, &'static str> {
    let entry = entry.trim();
    if entry.contains("://") || entry.contains('/') {
        return Err("must be a host or host:port, without a scheme or path");
    }
    if entry.contains('*') {
        return Err("may not hold a wildcard; list each host");
    }
    let url = url::Url::parse(&format!("http://{entry}/"))
        .map_err(|_| "is not a valid host or host:port")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("may not hold credentials");
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("has no host"),
    };
    // `Url` drops an explicit :80 for http; keep what the operator wrote.
    let port = match url.port() {
        Some(p) => Some(p),
        None if entry.ends_with(":80") => Some(80),
        None => None,
    };
    Ok(AllowedHost { host, port })
}

/// The most bytes one set of header fields may take in memory (about 16 KiB
/// on the wire, twice the common proxy limit).
const MAX_FIELDS_BYTES: usize = 32 * 1024;

/// Outgoing HTTP of one plugin call: wasi-http's context and the hooks
/// that hold every request to the grant.
pub(crate) struct PluginHttp {
    ctx: WasiHttpCtx,
    hooks: OutgoingHttp,
}

impl PluginHttp {
    /// Outgoing HTTP for one call of `plugin` (allowed by `grant`, if any),
    /// serving `request_id`.
    pub(crate) fn new(grant: Option<HttpGrant>, plugin: Arc<str>, request_id: Arc<str>) -> Self {
        let mut ctx = WasiHttpCtx::new();
        // Each set of header fields a call holds is bounded, as is how many
        // it holds (the call's resource table).
        ctx.set_field_size_limit(MAX_FIELDS_BYTES);
        Self {
            ctx,
            hooks: OutgoingHttp::new(grant, plugin, request_id),
        }
    }

    /// The view wasi-http works on, with the instance's resource `table`.
    pub(crate) fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView {
            ctx: &mut self.ctx,
            table,
            hooks: &mut self.hooks,
        }
    }
}

/// Links `wasi:http/outgoing-handler` and `wasi:http/types`.
pub(crate) fn add_to_linker<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

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

    #[test]
    fn allow_list_entries_mean_one_host() {
        assert_eq!(
            allowed_host("Hooks.Example.com").ok(),
            Some(AllowedHost {
                host: "hooks.example.com".into(),
                port: None
            })
        );
        assert_eq!(
            allowed_host("127.0.0.1:9000").ok(),
            Some(AllowedHost {
                host: "127.0.0.1".into(),
                port: Some(9000)
            })
        );
        assert_eq!(allowed_host("[::1]:80").ok().and_then(|h| h.port), Some(80));
        assert!(allowed_host("https://hooks.example.com").is_err());
        assert!(allowed_host("hooks.example.com/path").is_err());
        assert!(allowed_host("*.example.com").is_err());
        assert!(allowed_host("user@hooks.example.com").is_err());
        assert!(allowed_host("").is_err());
    }
}
