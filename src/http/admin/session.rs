//! The console's sign-in: a session is a cookie the gateway signs with a
//! key derived from the admin key (HMAC-SHA256), holding its expiry and a
//! random id; nothing is kept on the server, so a session works at every
//! instance that has the same admin key, and changing the key ends every
//! session. Each session's CSRF token is derived from its id, and every
//! form carries it.

use hmac::Mac;
use subtle::ConstantTimeEq;

use crate::secret::AdminKey;

/// How long a session lasts.
pub(crate) const SESSION_SECONDS: i64 = 12 * 3600;
/// The session cookie's name (`__Host-` when served over TLS).
pub(crate) const COOKIE: &str = "nog_admin";

/// Signs and checks sessions and CSRF tokens.
pub(crate) struct Sessions {
    /// HMAC-SHA256 key for sessions, derived from the admin key.
    key: [u8; 32],
    /// The admin key itself, to compare sign-ins with.
    admin_key: AdminKey,
}

/// A checked session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Its random id (hex).
    id: String,
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = crate::keyed_mac::hmac_sha256(key);
    for p in parts {
        m.update(p);
        m.update(b"\n");
    }
    m.finalize().into_bytes().into()
}

impl Sessions {
    /// Sessions under `admin_key`.
    pub(crate) fn new(admin_key: AdminKey) -> Self {
        let key = mac(
            admin_key.expose().as_bytes(),
            &[b"notion-oauth-gateway admin session v1"],
        );
        Self { key, admin_key }
    }

    /// Whether `given` is the admin key (constant time).
    pub(crate) fn is_admin_key(&self, given: &str) -> bool {
        let (a, b) = (
            mac(&self.key, &[b"compare", given.as_bytes()]),
            mac(&self.key, &[b"compare", self.admin_key.expose().as_bytes()]),
        );
        bool::from(a.ct_eq(&b))
    }

    /// A new session's cookie value, starting at `now` (Unix seconds).
    pub(crate) fn open(&self, now: i64) -> String {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let expires_at = now + SESSION_SECONDS;
        let sig = hex::encode(mac(
            &self.key,
            &[b"session", id.as_bytes(), expires_at.to_string().as_bytes()],
        ));
        format!("v1.{expires_at}.{id}.{sig}")
    }

    /// The session a cookie value names, if it is signed by this key and
    /// has not ended at `now`.
    pub(crate) fn check(&self, value: &str, now: i64) -> Option<Session> {
        let mut parts = value.split('.');
        let (Some("v1"), Some(exp), Some(id), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let expires_at: i64 = exp.parse().ok()?;
        let given = hex::decode(sig).ok()?;
        let want = mac(&self.key, &[b"session", id.as_bytes(), exp.as_bytes()]);
        if !bool::from(want.as_slice().ct_eq(&given)) || expires_at <= now {
            return None;
        }
        Some(Session { id: id.to_string() })
    }

    /// The CSRF token of `session`, for its forms.
    pub(crate) fn csrf(&self, session: &Session) -> String {
        hex::encode(mac(&self.key, &[b"csrf", session.id.as_bytes()]))
    }

    /// Whether `given` is `session`'s CSRF token (constant time).
    pub(crate) fn csrf_ok(&self, session: &Session, given: &str) -> bool {
        let want = self.csrf(session);
        bool::from(want.as_bytes().ct_eq(given.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(key: &str) -> Sessions {
        Sessions::new(AdminKey::new(key))
    }

    #[test]
    fn a_session_is_good_until_it_ends_and_only_under_its_key() {
        let s = sessions("k".repeat(32).as_str());
        let cookie = s.open(1000);
        assert!(
            s.check(&cookie, 1000 + SESSION_SECONDS - 1).is_some(),
            "fresh"
        );
        assert!(s.check(&cookie, 1000 + SESSION_SECONDS).is_none(), "ended");
        assert!(
            sessions(&"j".repeat(32)).check(&cookie, 1001).is_none(),
            "another key"
        );
        let forged = cookie.replacen("v1.", &format!("v1.{}", 9), 1);
        assert!(
            s.check(&forged, 1001).is_none(),
            "a longer expiry breaks the signature"
        );
        assert!(s.check("v1.x.y.z", 1001).is_none());
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let s = sessions(&"k".repeat(32));
        let a = s.check(&s.open(0), 1).expect("a");
        let b = s.check(&s.open(0), 1).expect("b");
        assert!(s.csrf_ok(&a, &s.csrf(&a)));
        assert!(!s.csrf_ok(&a, &s.csrf(&b)));
        assert!(!s.csrf_ok(&a, ""));
    }

    #[test]
    fn only_the_admin_key_signs_in() {
        let s = sessions(&"k".repeat(32));
        assert!(s.is_admin_key(&"k".repeat(32)));
        assert!(!s.is_admin_key(&"k".repeat(31)));
        assert!(!s.is_admin_key(""));
    }
}
