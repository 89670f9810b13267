//! Which client a request comes from, for rate limiting and logs.
//!
//! The TCP peer is the client unless it is a configured trusted proxy; only
//! then is `X-Forwarded-For` read, right to left, skipping trusted hops. A
//! client cannot forge its way past the limits with the header, because an
//! untrusted peer's header is never read.
//!
//! Addresses are canonical before they are compared or keyed: an IPv4 peer
//! of a dual-stack listener arrives as `::ffff:a.b.c.d` and is taken as
//! `a.b.c.d`, so IPv4 `trusted_proxies` match it. A hop may carry a port
//! (`1.2.3.4:5678`, `[2001:db8::1]:443`), as some proxies write it.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The client's address, or `None` when the request carries no peer address
/// (the gateway embedded in another server that did not say).
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop_address(hop) {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return Some(ip),
            // A hop the trusted proxy could not vouch for: stop at the last good one.
            None => break,
        }
    }
    Some(client)
}

/// A forwarded hop's address, with or without a port, canonical.
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let h = headers(&["1.2.3.4"]);
        assert_eq!(client_ip(&h, Some(ip("9.9.9.9")), &[]), Some(ip("9.9.9.9")));
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        assert_eq!(
            client_ip(&h, Some(ip("9.9.9.9")), &trusted),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(client_ip(&h, None, &trusted), None);
    }

    #[test]
    fn dual_stack_ipv4_peers_are_canonical_and_forwarded_hops_may_carry_ports() {
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        let h = headers(&["1.2.3.4:5678"]);
        assert_eq!(
            client_ip(&h, Some(ip("::ffff:10.0.0.1")), &trusted),
            Some(ip("1.2.3.4")),
            "a mapped IPv4 proxy is trusted, and the hop's port is dropped"
        );
        assert_eq!(
            client_ip(&headers(&[]), Some(ip("::ffff:9.9.9.9")), &[]),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            client_ip(
                &headers(&["[2001:db8::1]:443"]),
                Some(ip("10.0.0.1")),
                &trusted
            ),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_ip(
                &headers(&["::ffff:1.2.3.4"]),
                Some(ip("10.0.0.1")),
                &trusted
            ),
            Some(ip("1.2.3.4"))
        );
    }

    #[test]
    fn trusted_proxies_are_skipped_right_to_left() {
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        // The client forged the first entry; the proxy appended the real one.
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.0.0.7"]);
        assert_eq!(
            client_ip(&h, Some(ip("10.0.0.1")), &trusted),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_ip(&headers(&[]), Some(ip("10.0.0.1")), &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(
                &headers(&["garbage, 10.0.0.9"]),
                Some(ip("10.0.0.1")),
                &trusted
            ),
            Some(ip("10.0.0.9"))
        );
    }
}
