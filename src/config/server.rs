//! The `[server]` table: where to listen, limits and timeouts, HTTPS,
//! which proxies to believe, and the rate limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::checker::{Checker, is_world_readable};
use crate::certificate::{CertificateFiles, load_certified_key};

/// The most connections served at once that `check` accepts: far beyond
/// one process's file descriptors, and far below what a semaphore holds.
pub(super) const MAX_CONNECTIONS: usize = 1_000_000;

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<String>,
    pub(crate) admin_listen: Option<String>,
    pub(crate) base_path: Option<String>,
    pub(crate) data_dir: Option<String>,
    pub(crate) landing_page: Option<bool>,
    pub(crate) header_read_timeout_ms: Option<u64>,
    pub(crate) request_timeout_ms: Option<u64>,
    pub(crate) max_header_bytes: Option<usize>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_ip: Option<usize>,
    pub(crate) idle_timeout_ms: Option<u64>,
    pub(crate) write_timeout_ms: Option<u64>,
    pub(crate) max_requests_per_connection: Option<u64>,
    pub(crate) max_connection_age_ms: Option<u64>,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) clean_callback_url: Option<bool>,
    pub(crate) drain_seconds: Option<u64>,
    pub(crate) rate_limit: Option<RawRateLimit>,
}

/// `[server.rate_limit]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub(crate) per_ip_per_minute: Option<u32>,
    pub(crate) per_ip_burst: Option<u32>,
    pub(crate) global_per_second: Option<u32>,
}

/// `[server]`
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Where `/metrics` and the token API are served instead of on
    /// `listen`, so they can stay off the public port (plain HTTP; keep it
    /// on loopback or a private network).
    pub admin_listen: Option<SocketAddr>,
    /// A prefix for every route, such as `/oauth` (empty for none).
    pub base_path: String,
    /// Where the gateway keeps its state key and its compiled-plugin cache.
    pub data_dir: PathBuf,
    /// Whether to serve a small page at `{base_path}/` with a "Connect Notion" link.
    pub landing_page: bool,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long the gateway may take to answer one request.
    pub request_timeout: Duration,
    /// The largest request head (request line plus headers) accepted.
    pub max_header_bytes: usize,
    /// The most connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How the connection slots are kept from being held by a few clients.
    pub connections: ConnectionLimits,
    /// The certificate and key to serve HTTPS with; plain HTTP when none.
    pub tls: Option<TlsFiles>,
    /// Proxies whose `X-Forwarded-For` is believed; every other peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How many flow requests one client, and everyone together, may make.
    pub rate_limit: RateLimitConfig,
    /// Whether the callback answers `303` to a clean URL where its page is
    /// fetched once, so the code and state leave the address bar.
    pub clean_callback_url: bool,
    /// How long the gateway keeps serving after SIGTERM with `/readyz`
    /// answering 503, so a load balancer stops sending it requests before it
    /// stops accepting them (`drain_seconds`).
    pub drain: Duration,
}

/// The longest `drain_seconds` accepted.
const MAX_DRAIN_SECONDS: u64 = 300;

/// How long and how much one connection may hold a slot, so that a few
/// clients cannot hold every one (`[server]` keys in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The most connections one client address (an IPv6 /64) holds at once;
    /// 0 for no cap. Trusted proxies are not capped (`max_connections_per_ip`).
    pub per_ip: usize,
    /// How long a kept-alive connection may wait for its next request (`idle_timeout_ms`).
    pub idle_timeout: Duration,
    /// How long one write to a client may wait for it to read (`write_timeout_ms`).
    pub write_timeout: Duration,
    /// The most requests one connection serves before it is closed (`max_requests_per_connection`).
    pub max_requests: u64,
    /// The longest one connection stays open (`max_connection_age_ms`).
    pub max_age: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            per_ip: 256,
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_requests: 1000,
            max_age: Duration::from_secs(600),
        }
    }
}

/// `[server] tls_cert` and `tls_key`: PEM files, reloaded when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[server.rate_limit]`: limits on the start and redirect routes, which are
/// the ones that cost work (a state, a call to Notion, plugin calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests one client IP may make per minute, sustained (0: no limit).
    pub per_ip_per_minute: u32,
    /// Requests one client IP may make at once before the per-minute rate applies.
    pub per_ip_burst: u32,
    /// Requests all clients together may make per second (0: no limit).
    pub global_per_second: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 120,
            per_ip_burst: 60,
            global_per_second: 500,
        }
    }
}

impl ServerConfig {
    /// The default server settings, listening on `listen`.
    pub fn defaults(listen: SocketAddr) -> Self {
        Self {
            listen,
            admin_listen: None,
            base_path: String::new(),
            data_dir: PathBuf::from("data"),
            landing_page: false,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            connections: ConnectionLimits::default(),
            tls: None,
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            clean_callback_url: true,
            drain: Duration::from_secs(5),
        }
    }
}

/// Checks `[server]`, reporting problems to `c`.
pub(super) fn check(c: &mut Checker<'_>, s: &RawServer) -> ServerConfig {
    let listen_text = s.listen.as_deref().unwrap_or("127.0.0.1:8000");
    let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
        c.error("server.listen", format!("{listen_text:?} is not an address; write it as IP:PORT, e.g. 127.0.0.1:8000 or 0.0.0.0:443"));
        SocketAddr::from(([127, 0, 0, 1], 8000))
    });
    let d = ServerConfig::defaults(listen);
    let base_path = s.base_path.clone().unwrap_or_default();
    if !base_path.is_empty() {
        c.route("server.base_path", Some(&base_path), "");
    }
    let base_path = base_path.trim_end_matches('/').to_string();
    let max_header_bytes = s.max_header_bytes.unwrap_or(d.max_header_bytes);
    if !(8192..=1024 * 1024).contains(&max_header_bytes) {
        c.error(
            "server.max_header_bytes",
            format!("must be between 8192 and 1048576, got {max_header_bytes}"),
        );
    }
    let max_connections = s.max_connections.unwrap_or(d.max_connections);
    if !(1..=MAX_CONNECTIONS).contains(&max_connections) {
        c.error(
            "server.max_connections",
            format!("must be between 1 and {MAX_CONNECTIONS} (each connection holds a file descriptor), got {max_connections}"),
        );
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let admin_listen = admin_listen(c, s, listen);
    let connections = connection_limits(c, s);
    ServerConfig {
        listen,
        admin_listen,
        connections,
        base_path,
        data_dir: s
            .data_dir
            .as_deref()
            .map_or(d.data_dir.clone(), PathBuf::from),
        landing_page: s.landing_page.unwrap_or(d.landing_page),
        header_read_timeout: c.duration_ms(
            "server.header_read_timeout_ms",
            s.header_read_timeout_ms,
            ms(d.header_read_timeout),
            300_000,
        ),
        request_timeout: c.duration_ms(
            "server.request_timeout_ms",
            s.request_timeout_ms,
            ms(d.request_timeout),
            300_000,
        ),
        max_header_bytes,
        max_connections,
        tls: tls(c, s),
        trusted_proxies: trusted_proxies(c, s.trusted_proxies.as_deref().unwrap_or(&[])),
        rate_limit: rate_limit(c, s.rate_limit.as_ref()),
        clean_callback_url: s.clean_callback_url.unwrap_or(d.clean_callback_url),
        drain: drain(c, s.drain_seconds, d.drain),
    }
}

/// `drain_seconds`: 0 (stop accepting at once) up to five minutes.
fn drain(c: &mut Checker<'_>, value: Option<u64>, default: Duration) -> Duration {
    match value {
        None => default,
        Some(secs) if secs <= MAX_DRAIN_SECONDS => Duration::from_secs(secs),
        Some(secs) => {
            c.error(
                "server.drain_seconds",
                format!("must be between 0 and {MAX_DRAIN_SECONDS} seconds, got {secs}"),
            );
            default
        }
    }
}

/// `admin_listen`: an address other than `listen`; a warning when it is not
/// loopback, since the admin listener speaks plain HTTP.
fn admin_listen(c: &mut Checker<'_>, s: &RawServer, listen: SocketAddr) -> Option<SocketAddr> {
    let text = s.admin_listen.as_deref()?;
    let Ok(addr) = text.parse::<SocketAddr>() else {
        c.error(
            "server.admin_listen",
            format!("{text:?} is not an address; write it as IP:PORT, e.g. 127.0.0.1:9100"),
        );
        return None;
    };
    if addr == listen {
        c.error(
            "server.admin_listen",
            "is the same address as server.listen; give the admin listener a port of its own",
        );
        return None;
    }
    if !addr.ip().is_loopback() {
        c.warn(
            "server.admin_listen",
            format!("{addr} is not a loopback address, and the admin listener speaks plain HTTP (token API keys and tokens cross it); keep it on a private network"),
        );
    }
    Some(addr)
}

/// The keys of [`ConnectionLimits`].
fn connection_limits(c: &mut Checker<'_>, s: &RawServer) -> ConnectionLimits {
    let d = ConnectionLimits::default();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let per_ip = s.max_connections_per_ip.unwrap_or(d.per_ip);
    if per_ip > MAX_CONNECTIONS {
        c.error(
            "server.max_connections_per_ip",
            format!("must be at most {MAX_CONNECTIONS} (0 for no cap), got {per_ip}"),
        );
    }
    let max_requests = s.max_requests_per_connection.unwrap_or(d.max_requests);
    if max_requests == 0 {
        c.error("server.max_requests_per_connection", "must be at least 1");
    }
    ConnectionLimits {
        per_ip,
        idle_timeout: c.duration_ms(
            "server.idle_timeout_ms",
            s.idle_timeout_ms,
            ms(d.idle_timeout),
            3_600_000,
        ),
        write_timeout: c.duration_ms(
            "server.write_timeout_ms",
            s.write_timeout_ms,
            ms(d.write_timeout),
            3_600_000,
        ),
        max_requests,
        max_age: c.duration_ms(
            "server.max_connection_age_ms",
            s.max_connection_age_ms,
            ms(d.max_age),
            86_400_000,
        ),
    }
}

/// `tls_cert` and `tls_key`: both or neither, readable, the key private, and
/// a certificate that matches the key.
fn tls(c: &mut Checker<'_>, s: &RawServer) -> Option<TlsFiles> {
    let (cert, key) = match (&s.tls_cert, &s.tls_key) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        (Some(_), None) => {
            c.error(
                "server.tls_cert",
                "is given without server.tls_key; give both PEM files to serve HTTPS, or neither",
            );
            return None;
        }
        (None, Some(_)) => {
            c.error(
                "server.tls_key",
                "is given without server.tls_cert; give both PEM files to serve HTTPS, or neither",
            );
            return None;
        }
    };
    if is_world_readable(&key) {
        c.error(
            "server.tls_key",
            format!(
                "anyone on this machine can read the private key {}; run `chmod o-rwx {}`",
                key.display(),
                key.display()
            ),
        );
        return None;
    }
    let files = TlsFiles { cert, key };
    let pem = CertificateFiles {
        cert: &files.cert,
        key: &files.key,
    };
    match load_certified_key(&pem) {
        Ok(_) => Some(files),
        Err(e) => {
            c.error(e.config_key(), e.to_string());
            None
        }
    }
}

/// Proxy addresses or networks (`10.0.0.0/8`, `127.0.0.1`).
fn trusted_proxies(c: &mut Checker<'_>, entries: &[String]) -> Vec<ipnet::IpNet> {
    let mut nets = Vec::new();
    for entry in entries {
        let parsed = entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => nets.push(net),
            Err(_) => c.error(
                "server.trusted_proxies",
                format!("{entry:?} is not an IP address or network; write e.g. \"10.0.0.5\" or \"10.0.0.0/8\""),
            ),
        }
    }
    nets
}

fn rate_limit(c: &mut Checker<'_>, r: Option<&RawRateLimit>) -> RateLimitConfig {
    let d = RateLimitConfig::default();
    let Some(r) = r else { return d };
    let limit = RateLimitConfig {
        per_ip_per_minute: r.per_ip_per_minute.unwrap_or(d.per_ip_per_minute),
        per_ip_burst: r.per_ip_burst.unwrap_or(d.per_ip_burst),
        global_per_second: r.global_per_second.unwrap_or(d.global_per_second),
    };
    if limit.per_ip_per_minute > 0 && limit.per_ip_burst == 0 {
        c.error(
            "server.rate_limit.per_ip_burst",
            "must be at least 1 while per_ip_per_minute is set (0 turns the per-IP limit off)",
        );
    }
    limit
}
