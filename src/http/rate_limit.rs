//! Rate limits on the flow routes: per client IP (IPv6 by /64, which one
//! subscriber usually holds) and for everyone together. A refused request is
//! told when to come back (`Retry-After`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitConfig;

/// How many per-IP entries may pile up before idle ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// The limiters of one gateway.
pub(crate) struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    global: Option<DefaultDirectRateLimiter>,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("per_ip", &self.per_ip.is_some())
            .field("global", &self.global.is_some())
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// The limiters `config` asks for (a zero rate turns one off).
    pub(crate) fn new(config: &RateLimitConfig) -> Self {
        let per_ip = NonZeroU32::new(config.per_ip_per_minute).map(|rate| {
            let burst = NonZeroU32::new(config.per_ip_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        let global = NonZeroU32::new(config.global_per_second)
            .map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        Self {
            per_ip,
            global,
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request from `client`; `Err` holds how long it must wait.
    /// Without a client address only the global limit applies.
    pub(crate) fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        if let (Some(limiter), Some(ip)) = (&self.per_ip, client) {
            limiter
                .check_key(&key_of(ip))
                .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
            if self
                .checks
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(1024)
                && limiter.len() > PRUNE_ABOVE
            {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        if let Some(limiter) = &self.global {
            limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        }
        Ok(())
    }
}

/// The key an address is counted under: itself, or its /64 for IPv6. An
/// IPv4 peer of a dual-stack listener (`::ffff:a.b.c.d`) is its IPv4
/// address, not one /64 shared by every IPv4 client.
pub(crate) fn key_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        ip @ IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

/// `Retry-After` in whole seconds, never 0.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32, global: u32) -> Limits {
        Limits::new(&RateLimitConfig {
            per_ip_per_minute: per_minute,
            per_ip_burst: burst,
            global_per_second: global,
        })
    }

    #[test]
    fn a_burst_past_the_limit_is_refused_per_ip() {
        let l = limits(60, 3, 0);
        let a = Some("192.0.2.1".parse().expect("ip"));
        let b = Some("192.0.2.2".parse().expect("ip"));
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).expect_err("fourth is refused");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(l.check(b).is_ok(), "another client is not affected");
        assert!(l.check(None).is_ok(), "no address: only the global limit");
    }

    #[test]
    fn ipv6_counts_per_64_and_global_applies_to_all() {
        let l = limits(60, 1, 0);
        assert!(l.check(Some("2001:db8::1".parse().expect("ip"))).is_ok());
        assert!(l.check(Some("2001:db8::2".parse().expect("ip"))).is_err());
        let g = limits(0, 0, 2);
        assert!(g.check(None).is_ok() && g.check(None).is_ok());
        assert!(g.check(Some("192.0.2.9".parse().expect("ip"))).is_err());
    }

    #[test]
    fn dual_stack_ipv4_clients_each_get_their_own_budget() {
        let l = limits(60, 1, 0);
        assert!(
            l.check(Some("::ffff:192.0.2.1".parse().expect("ip")))
                .is_ok()
        );
        assert!(
            l.check(Some("::ffff:192.0.2.2".parse().expect("ip")))
                .is_ok(),
            "another IPv4 client is not in the first one's /64"
        );
        assert!(
            l.check(Some("192.0.2.1".parse().expect("ip"))).is_err(),
            "the same client"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
