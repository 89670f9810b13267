//! The stand-in's memory: codes it issued, and the refresh tokens of the
//! authorizations it granted, with Notion's rules (codes single-use, expiring
//! after 10 minutes, bound to their redirect URI; refresh tokens rotate).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a code stays valid.
const CODE_TTL: Duration = Duration::from_secs(600);

/// A random UUID (version 4) as Notion writes ids.
pub(crate) fn uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 20]>()))
}

struct IssuedCode {
    redirect_uri: String,
    issued: Instant,
    used: bool,
}

/// Why a grant was refused: an OAuth error code and Notion's message.
pub(crate) type GrantError = (&'static str, &'static str);

/// How the stand-in names what it issues.
struct Prefixes {
    code: &'static str,
    access: &'static str,
    refresh: &'static str,
}

/// Notion-like names.
const NOTION: Prefixes = Prefixes {
    code: "stand-in-code-",
    access: "ntn_",
    refresh: "nrt_",
};

/// Names a leak test can search every output for.
const CANARIES: Prefixes = Prefixes {
    code: "CANARY_CODE_",
    access: "CANARY_TOKEN_",
    refresh: "CANARY_REFRESH_",
};

/// Codes and refresh tokens.
pub(crate) struct Tokens {
    prefixes: Prefixes,
    workspace_id: String,
    codes: HashMap<String, IssuedCode>,
    /// The codes of `codes` in the order they were issued, so codes long
    /// expired are forgotten from the front.
    issued_order: VecDeque<String>,
    /// refresh token -> bot id
    refresh: HashMap<String, String>,
    /// access tokens that work -> bot id
    access: HashMap<String, String>,
    /// Redeem codes it never issued (load tests).
    any_code: bool,
    /// Codes it never issued that were redeemed (`any_code` mode).
    unseen_used: HashSet<String>,
    /// The bot id of every token it issued for a code it issued, in order.
    issued_bots: Vec<String>,
}

impl Tokens {
    /// An empty store; `canaries` names codes and tokens `CANARY_…`;
    /// `any_code` redeems codes it never issued (once each).
    pub(crate) fn new(canaries: bool, any_code: bool) -> Self {
        Self {
            prefixes: if canaries { CANARIES } else { NOTION },
            workspace_id: uuid(),
            codes: HashMap::new(),
            issued_order: VecDeque::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            any_code,
            unseen_used: HashSet::new(),
            issued_bots: Vec::new(),
        }
    }

    /// The bot id of every token issued for a code it issued, oldest first.
    pub(crate) fn issued_bots(&self) -> &[String] {
        &self.issued_bots
    }

    /// Issues a code for a redirect URI.
    pub(crate) fn issue_code(&mut self, redirect_uri: &str) -> String {
        let now = Instant::now();
        if let Some(cutoff) = now.checked_sub(CODE_TTL * 2) {
            self.forget_codes_issued_before(cutoff);
        }
        let code = format!(
            "{}{}",
            self.prefixes.code,
            hex::encode(rand::random::<[u8; 16]>())
        );
        self.codes.insert(
            code.clone(),
            IssuedCode {
                redirect_uri: redirect_uri.to_string(),
                issued: now,
                used: false,
            },
        );
        self.issued_order.push_back(code.clone());
        code
    }

    /// Forgets the codes issued before `cutoff`. Oldest first, so an issue
    /// pays for the codes that aged out since the last one, not for every
    /// code kept: a scan of them all on each issue made the stand-in
    /// slower with every code it had issued in the last 20 minutes.
    fn forget_codes_issued_before(&mut self, cutoff: Instant) {
        while let Some(code) = self.issued_order.front()
            && self.codes.get(code).is_none_or(|c| c.issued < cutoff)
        {
            if let Some(code) = self.issued_order.pop_front() {
                self.codes.remove(&code);
            }
        }
    }

    /// Redeems a code: once, in time, with the same redirect URI.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
    ) -> Result<Value, GrantError> {
        if self.any_code && !self.codes.contains_key(code) {
            // Never issued: once each, without joining the issued codes
            // (which every issue sweeps).
            return if self.unseen_used.insert(code.to_string()) {
                Ok(self.grant(uuid()))
            } else {
                Err(("invalid_grant", "Invalid code: this code has been revoked."))
            };
        }
        let issued = self
            .codes
            .get_mut(code)
            .ok_or(("invalid_grant", "Invalid code: this code is not valid."))?;
        if issued.used {
            return Err(("invalid_grant", "Invalid code: this code has been revoked."));
        }
        issued.used = true;
        if issued.issued.elapsed() > CODE_TTL {
            return Err(("invalid_grant", "Invalid code: this code has expired."));
        }
        if redirect_uri != Some(issued.redirect_uri.as_str()) {
            return Err((
                "invalid_grant",
                "Invalid redirect_uri: it does not match the authorization request.",
            ));
        }
        let bot_id = uuid();
        self.issued_bots.push(bot_id.clone());
        Ok(self.grant(bot_id))
    }

    /// Rotates a refresh token: the old one stops working.
    pub(crate) fn refresh(&mut self, refresh_token: &str) -> Result<Value, GrantError> {
        let bot_id = self
            .refresh
            .remove(refresh_token)
            .ok_or(("invalid_grant", "Invalid refresh token."))?;
        Ok(self.grant(bot_id))
    }

    /// Revokes an access or refresh token; whether it was known.
    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        self.access.remove(token).is_some() | self.refresh.remove(token).is_some()
    }

    /// Whether a token (access or refresh) works.
    pub(crate) fn active(&self, token: &str) -> bool {
        self.access.contains_key(token) || self.refresh.contains_key(token)
    }

    fn grant(&mut self, bot_id: String) -> Value {
        let refresh_token = random_token(self.prefixes.refresh);
        self.refresh.insert(refresh_token.clone(), bot_id.clone());
        let access_token = random_token(self.prefixes.access);
        self.access.insert(access_token.clone(), bot_id.clone());
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "bot_id": bot_id,
            "workspace_id": self.workspace_id,
            "workspace_name": "Stand-in Workspace",
            "workspace_icon": "🧪",
            "owner": {
                "type": "user",
                "user": {
                    "object": "user",
                    "id": "00000000-0000-4000-8000-00000000a0a0",
                    "type": "person",
                    "name": "Ada Stand-in",
                    "avatar_url": null,
                    "person": { "email": "ada@stand-in.invalid", "email_verified": true }
                }
            },
            "duplicated_template_id": null,
            "request_id": uuid(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_single_use_and_bound_to_their_redirect_uri() {
        let mut t = Tokens::new(false, false);
        let code = t.issue_code("http://127.0.0.1/cb");
        assert!(t.redeem_code(&code, Some("http://127.0.0.1/cb")).is_ok());
        assert_eq!(
            t.redeem_code(&code, Some("http://127.0.0.1/cb"))
                .map(|_| ())
                .unwrap_err()
                .0,
            "invalid_grant"
        );
        let code = t.issue_code("http://127.0.0.1/cb");
        assert!(
            t.redeem_code(&code, Some("http://127.0.0.1/other"))
                .is_err()
        );
        assert!(t.redeem_code("nope", None).is_err());
    }

    #[test]
    fn codes_issued_before_the_cutoff_are_forgotten_and_later_ones_kept() {
        let mut t = Tokens::new(false, false);
        let old = [t.issue_code("https://a/cb"), t.issue_code("https://a/cb")];
        std::thread::sleep(Duration::from_millis(2));
        let cutoff = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let fresh = t.issue_code("https://a/cb");
        t.forget_codes_issued_before(cutoff);
        assert_eq!(
            t.codes.len(),
            1,
            "only the code issued after the cutoff is kept"
        );
        assert_eq!(t.issued_order.len(), 1);
        for code in old {
            assert!(t.redeem_code(&code, Some("https://a/cb")).is_err());
        }
        assert!(t.redeem_code(&fresh, Some("https://a/cb")).is_ok());
    }

    #[test]
    fn any_code_mode_redeems_unseen_codes_once_and_only_in_that_mode() {
        let mut strict = Tokens::new(false, false);
        assert!(strict.redeem_code("made-up", Some("https://a/cb")).is_err());
        let mut any = Tokens::new(false, true);
        let first = any
            .redeem_code("made-up", Some("https://a/cb"))
            .expect("redeemed");
        let second = any
            .redeem_code("other", Some("https://a/cb"))
            .expect("redeemed");
        assert_ne!(first["bot_id"], second["bot_id"], "each its own bot_id");
        assert!(
            any.redeem_code("made-up", Some("https://a/cb")).is_err(),
            "once"
        );
    }

    #[test]
    fn refresh_tokens_rotate() {
        let mut t = Tokens::new(false, false);
        let code = t.issue_code("u");
        let first = t.redeem_code(&code, Some("u")).expect("granted");
        let old = first["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string();
        let second = t.refresh(&old).expect("refreshed");
        assert_eq!(first["bot_id"], second["bot_id"]);
        assert!(
            t.refresh(&old).is_err(),
            "old refresh token must stop working"
        );
        assert_eq!(uuid().len(), 36);
    }
}
