//! Checks the `[server]` table: where to listen, limits and timeouts, HTTPS,
//! which proxies to believe, and the rate limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::{RawRateLimit, RawServer};
use super::validate::{Checker, is_world_readable};
use super::{RateLimitConfig, ServerConfig, TlsFiles};

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
    if max_connections == 0 {
        c.error("server.max_connections", "must be at least 1");
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ServerConfig {
        listen,
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
    match crate::http::load_certified_key(&files) {
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
