//! The cookie that binds a state to the browser that started the flow.
//!
//! One random value per browser, reused by every flow that browser starts, so
//! two tabs logging in at once both succeed. `HttpOnly`, `SameSite=Lax` (the
//! return from Notion is a cross-site top-level GET, which `Strict` would
//! strip), `Secure` with the `__Host-` prefix when the redirect URI is https.

use base64::Engine as _;
use cookie::{Cookie, SameSite};

/// The binding value's length once encoded (16 random bytes, base64url).
const VALUE_LEN: usize = 22;

/// How the binding cookie is named and set.
#[derive(Debug, Clone)]
pub struct BindingCookie {
    name: &'static str,
    secure: bool,
    max_age_secs: i64,
}

impl BindingCookie {
    /// The cookie for a gateway whose redirect URI is (or is not) https.
    pub fn new(secure: bool, max_age_secs: u64) -> Self {
        Self {
            name: if secure {
                "__Host-nog_binding"
            } else {
                "nog_binding"
            },
            secure,
            max_age_secs: i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The binding value in a request's `Cookie` headers, if well-formed.
    pub fn read<'a>(&self, cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
        cookie_headers
            .into_iter()
            .flat_map(Cookie::split_parse)
            .flatten()
            .find(|c| c.name() == self.name)
            .map(|c| c.value().to_string())
            .filter(|v| {
                v.len() == VALUE_LEN
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    }

    /// A new random binding value.
    pub fn fresh_value() -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
    }

    /// The `Set-Cookie` header value that stores `value`.
    pub fn set_cookie(&self, value: &str) -> String {
        Cookie::build((self.name, value.to_string()))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(self.max_age_secs))
            .build()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row02_set_cookie_has_exact_attributes() {
        let secure = BindingCookie::new(true, 600).set_cookie("AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            secure,
            "__Host-nog_binding=AAAAAAAAAAAAAAAAAAAAAA; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=600"
        );
        let plain = BindingCookie::new(false, 60).set_cookie("AAAAAAAAAAAAAAAAAAAAAA");
        assert!(
            plain.starts_with("nog_binding=")
                && !plain.contains("Secure")
                && plain.contains("SameSite=Lax")
        );
    }

    #[test]
    fn reads_only_well_formed_values_of_its_own_cookie() {
        let c = BindingCookie::new(false, 60);
        let v = BindingCookie::fresh_value();
        assert_eq!(
            c.read([format!("a=b; nog_binding={v}").as_str()]),
            Some(v.clone())
        );
        assert_eq!(
            c.read(["other=x", format!("nog_binding={v}").as_str()]),
            Some(v)
        );
        assert_eq!(c.read(["nog_binding=short"]), None);
        assert_eq!(c.read(["nog_binding=AAAAAAAAAAAAAAAAAAAA;A"]), None);
        assert_eq!(c.read(Vec::<&str>::new()), None);
    }
}
