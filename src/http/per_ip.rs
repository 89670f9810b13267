//! The connections each client address holds, capped so that one address
//! cannot take every connection slot (an IPv6 client is counted by its /64,
//! as for rate limits). Trusted proxies carry many clients' connections and
//! are not capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use super::rate_limit::key_of;

/// The live connection count of every address that has one.
#[derive(Debug)]
pub(crate) struct PerIp {
    cap: usize,
    trusted: Vec<IpNet>,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in its address's count, given back on drop.
#[derive(Debug)]
pub(crate) struct Held {
    key: Option<IpAddr>,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    /// At most `cap` connections per address (0: no cap), `trusted` exempt.
    pub(crate) fn new(cap: usize, trusted: &[IpNet]) -> Self {
        Self {
            cap,
            trusted: trusted.to_vec(),
            held: Arc::default(),
        }
    }

    /// A place for a new connection from `peer`, or `None` when its address
    /// already holds its share.
    pub(crate) fn hold(&self, peer: IpAddr) -> Option<Held> {
        let peer = peer.to_canonical();
        if self.cap == 0 || self.trusted.iter().any(|net| net.contains(&peer)) {
            return Some(Held {
                key: None,
                held: self.held.clone(),
            });
        }
        let key = key_of(peer);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Held {
            key: Some(key),
            held: self.held.clone(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn slots_one_address_holds_at_most_its_cap_and_gets_them_back() {
        let trusted = ["10.0.0.0/8".parse().expect("net")];
        let per_ip = PerIp::new(2, &trusted);
        let a = per_ip.hold(ip("192.0.2.1")).expect("first");
        let _b = per_ip
            .hold(ip("::ffff:192.0.2.1"))
            .expect("second, the same address");
        assert!(per_ip.hold(ip("192.0.2.1")).is_none(), "over the cap");
        assert!(per_ip.hold(ip("192.0.2.2")).is_some(), "another address");
        let _a6 = per_ip.hold(ip("2001:db8::1")).expect("a /64, first");
        let _c = per_ip
            .hold(ip("2001:db8::2"))
            .expect("the same /64, second");
        assert!(
            per_ip.hold(ip("2001:db8::3")).is_none(),
            "a /64 is one client"
        );
        let proxied: Vec<_> = (0..5).map(|_| per_ip.hold(ip("10.0.0.1"))).collect();
        assert!(
            proxied.iter().all(Option::is_some),
            "trusted proxies are not capped"
        );
        drop(a);
        assert!(
            per_ip.hold(ip("192.0.2.1")).is_some(),
            "a closed connection's place is free"
        );
        drop(proxied);
        let held = per_ip.held.lock().expect("lock");
        assert!(!held.contains_key(&ip("10.0.0.1")));
    }
}
