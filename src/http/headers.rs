//! The headers every response carries, and the filter on headers a view may set.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The Content-Security-Policy of every page: no script at all, no framing,
/// styles inline only, images from this origin or https (workspace icons).
pub(crate) const CSP: &str = "default-src 'none'; img-src 'self' https: data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `Strict-Transport-Security`: one year, this host only (the operator's
/// other subdomains are not ours to commit to https).
const HSTS: &str = "max-age=31536000";

/// Adds the security headers (replacing any the handler set) and the request
/// id; `hsts` when browsers reach the gateway over https.
pub(crate) fn secure(headers: &mut HeaderMap, request_id: &str, no_store: bool, hsts: bool) {
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if no_store { "no-store" } else { "no-cache" }),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
}

/// Whether a view may set this header: an allow-list, so a header nobody
/// thought of (`Refresh`, `Link`, `Report-To`, ...) is dropped rather than
/// passed. A view says what its body is (`Content-Type`,
/// `Content-Language`) and where a redirect goes (`Location`), which must
/// stay on this site (a relative path), so a view cannot make the gateway
/// an open redirector. Security headers, cookies and caching are the
/// gateway's.
pub(crate) fn view_may_set(name: &HeaderName, value: &HeaderValue) -> bool {
    if name == header::LOCATION {
        return value.to_str().is_ok_and(super::local_path::is_local_path);
    }
    name == header::CONTENT_TYPE || name == header::CONTENT_LANGUAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_headers_only_those_on_the_allow_list_pass() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        for (name, value) in [
            ("refresh", "0;url=https://evil.example"),
            ("content-security-policy-report-only", "default-src *"),
            ("report-to", "{}"),
            ("reporting-endpoints", "a=\"https://evil.example\""),
            ("nel", "{}"),
            ("link", "<https://evil.example>; rel=preload"),
            ("alt-svc", "h3=\":443\""),
            ("clear-site-data", "\"*\""),
            ("x-anything-new", "1"),
        ] {
            assert!(
                !view_may_set(&HeaderName::from_static(name), &v(value)),
                "{name} must not pass"
            );
        }
    }

    #[test]
    fn views_cannot_weaken_security_or_redirect_off_site() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(view_may_set(&header::CONTENT_TYPE, &v("text/html")));
        assert!(!view_may_set(
            &header::CONTENT_SECURITY_POLICY,
            &v("default-src *")
        ));
        assert!(!view_may_set(&header::SET_COOKIE, &v("a=b")));
        assert!(!view_may_set(&header::ACCESS_CONTROL_ALLOW_ORIGIN, &v("*")));
        assert!(view_may_set(&header::CONTENT_LANGUAGE, &v("de")));
        assert!(view_may_set(&header::LOCATION, &v("/welcome")));
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "javascript:x",
        ] {
            assert!(
                !view_may_set(&header::LOCATION, &HeaderValue::from_static(evil)),
                "{evil}"
            );
        }
    }
}
