//! The signed `state` parameter: unguessable, tamper-proof, expiring, bound to
//! one browser and to this integration, carrying the app's opaque data.
//!
//! Layout before base64url: `version(1) nonce(16) issued_at(8, BE)
//! binding_tag(16) has_data(1) data(..) mac(32)`. The MAC is HMAC-SHA256 over
//! a domain label, the client id, the redirect URI and everything before it,
//! so a state minted for another integration (mix-up) does not verify here.
//! The binding tag is an HMAC of the browser's binding cookie.

use base64::Engine as _;
use hmac::Mac;

use crate::secret::SecretBytes;

use crate::keyed_mac::HmacSha256;

const VERSION: u8 = 1;
const NONCE: usize = 16;
const TAG: usize = 16;
const MAC: usize = 32;
/// version + nonce + issued_at + tag + has_data
const HEADER: usize = 1 + NONCE + 8 + TAG + 1;
/// The most bytes of app data a state may carry (it travels in URLs).
pub(crate) const MAX_APP_DATA: usize = 512;
/// The longest encoded state accepted before any work is done on it.
pub(crate) const MAX_STATE_LEN: usize = (HEADER + MAX_APP_DATA + MAC).div_ceil(3) * 4;
/// Clock skew tolerated for a state issued "in the future" (several gateways).
const SKEW_SECS: u64 = 60;
const DOMAIN: &[u8] = b"notion-oauth-gateway/state/v1";
const BINDING_DOMAIN: &[u8] = b"notion-oauth-gateway/binding/v1";

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not a state this gateway could have made (bad encoding, length, version, MAC).
    #[error("the state is not one this gateway issued")]
    Invalid,
    /// Issued longer ago than the state lifetime.
    #[error("the state has expired")]
    Expired,
    /// The browser has no binding cookie, or another one.
    #[error("the state belongs to another browser")]
    WrongBrowser,
}

/// A state that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedState {
    /// The random nonce, which makes the state single-use.
    pub nonce: [u8; NONCE],
    /// When it was issued (Unix seconds).
    pub issued_at: u64,
    /// When it stops being valid (Unix seconds).
    pub expires_at: u64,
    /// The app's data, verified.
    pub app_data: Option<String>,
}

/// Issues and verifies states for one integration.
pub struct StateCodec {
    key: SecretBytes,
    context: Vec<u8>,
    ttl_secs: u64,
}

impl std::fmt::Debug for StateCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCodec")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl StateCodec {
    /// A codec for the integration `client_id` at `redirect_uri`.
    pub fn new(key: SecretBytes, client_id: &str, redirect_uri: &str, ttl_secs: u64) -> Self {
        let mut context = Vec::with_capacity(client_id.len() + redirect_uri.len() + 2);
        context.extend_from_slice(client_id.as_bytes());
        context.push(0);
        context.extend_from_slice(redirect_uri.as_bytes());
        context.push(0);
        Self {
            key,
            context,
            ttl_secs,
        }
    }

    fn mac(&self) -> HmacSha256 {
        let mut mac = crate::keyed_mac::hmac_sha256(self.key.expose());
        mac.update(DOMAIN);
        mac.update(&[0]);
        mac.update(&self.context);
        mac
    }

    fn binding_mac(&self, binding: &str) -> HmacSha256 {
        let mut mac = crate::keyed_mac::hmac_sha256(self.key.expose());
        mac.update(BINDING_DOMAIN);
        mac.update(&[0]);
        mac.update(binding.as_bytes());
        mac
    }

    /// Makes a state for the browser holding `binding`, carrying `app_data`
    /// (at most [`MAX_APP_DATA`] bytes; the caller checks).
    pub fn issue(&self, binding: &str, app_data: Option<&str>, now: u64) -> String {
        let nonce: [u8; NONCE] = rand::random();
        let data = app_data.unwrap_or("").as_bytes();
        let mut out = Vec::with_capacity(HEADER + data.len() + MAC);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&now.to_be_bytes());
        out.extend_from_slice(&self.binding_mac(binding).finalize().into_bytes()[..TAG]);
        out.push(u8::from(app_data.is_some()));
        out.extend_from_slice(data);
        let mut mac = self.mac();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// Checks a state: authentic, unexpired, and issued to the browser that
    /// holds `binding`. Replay is the [`super::ReplayGuard`]'s job.
    pub fn verify(
        &self,
        state: &str,
        binding: Option<&str>,
        now: u64,
    ) -> Result<VerifiedState, StateError> {
        if state.len() > MAX_STATE_LEN {
            return Err(StateError::Invalid);
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(state)
            .map_err(|_| StateError::Invalid)?;
        if raw.len() < HEADER + MAC || raw[0] != VERSION {
            return Err(StateError::Invalid);
        }
        let (signed, tag) = raw.split_at(raw.len() - MAC);
        let mut mac = self.mac();
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| StateError::Invalid)?;

        let mut nonce = [0u8; NONCE];
        nonce.copy_from_slice(&signed[1..1 + NONCE]);
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&signed[1 + NONCE..1 + NONCE + 8]);
        let issued_at = u64::from_be_bytes(issued);
        let binding_tag = &signed[1 + NONCE + 8..1 + NONCE + 8 + TAG];
        let app_data = match signed[HEADER - 1] {
            0 => None,
            1 => Some(
                String::from_utf8(signed[HEADER..].to_vec()).map_err(|_| StateError::Invalid)?,
            ),
            _ => return Err(StateError::Invalid),
        };

        if issued_at > now.saturating_add(SKEW_SECS) {
            return Err(StateError::Invalid);
        }
        let expires_at = issued_at.saturating_add(self.ttl_secs);
        if now >= expires_at {
            return Err(StateError::Expired);
        }
        let binding = binding.ok_or(StateError::WrongBrowser)?;
        self.binding_mac(binding)
            .verify_truncated_left(binding_tag)
            .map_err(|_| StateError::WrongBrowser)?;
        Ok(VerifiedState {
            nonce,
            issued_at,
            expires_at,
            app_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> StateCodec {
        StateCodec::new(
            SecretBytes::new(vec![9; 32]),
            "client",
            "https://gw/cb",
            600,
        )
    }

    #[test]
    fn round_trips_with_app_data_and_without() {
        let c = codec();
        let s = c.issue("browser-a", Some("user 42 ✓"), 1_000);
        let v = c.verify(&s, Some("browser-a"), 1_010).expect("valid");
        assert_eq!(v.app_data.as_deref(), Some("user 42 ✓"));
        assert_eq!((v.issued_at, v.expires_at), (1_000, 1_600));
        let s = c.issue("browser-a", None, 1_000);
        assert_eq!(
            c.verify(&s, Some("browser-a"), 1_000)
                .expect("valid")
                .app_data,
            None
        );
        let s = c.issue("browser-a", Some(""), 1_000);
        assert_eq!(
            c.verify(&s, Some("browser-a"), 1_000)
                .expect("valid")
                .app_data
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn nonces_are_unique_and_states_unguessable() {
        let c = codec();
        let a = c
            .verify(&c.issue("b", None, 5), Some("b"), 5)
            .expect("valid");
        let b = c
            .verify(&c.issue("b", None, 5), Some("b"), 5)
            .expect("valid");
        assert_ne!(a.nonce, b.nonce);
        const { assert!(NONCE * 8 >= 128) };
    }

    #[test]
    fn row01_every_flipped_bit_is_refused() {
        let c = codec();
        let s = c.issue("b", Some("data"), 100);
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&s)
            .expect("b64");
        for i in 0..raw.len() * 8 {
            let mut bad = raw.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bad);
            assert!(
                c.verify(&enc, Some("b"), 100).is_err(),
                "bit {i} flipped still verified"
            );
        }
    }

    #[test]
    fn expiry_browser_and_integration_are_enforced() {
        let c = codec();
        let s = c.issue("b", None, 100);
        assert_eq!(c.verify(&s, Some("b"), 700), Err(StateError::Expired));
        assert_eq!(c.verify(&s, Some("b"), 699).map(|v| v.issued_at), Ok(100));
        assert_eq!(c.verify(&s, None, 100), Err(StateError::WrongBrowser));
        assert_eq!(
            c.verify(&s, Some("other"), 100),
            Err(StateError::WrongBrowser)
        );
        let other = StateCodec::new(
            SecretBytes::new(vec![9; 32]),
            "client-y",
            "https://gw/cb",
            600,
        );
        assert_eq!(other.verify(&s, Some("b"), 100), Err(StateError::Invalid));
        let future = c.issue("b", None, 10_000);
        assert_eq!(c.verify(&future, Some("b"), 100), Err(StateError::Invalid));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let c = codec();
        for s in [
            "",
            "a",
            "!!!!",
            &"A".repeat(MAX_STATE_LEN + 1),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(c.verify(s, Some("b"), 0), Err(StateError::Invalid));
        }
    }
}
