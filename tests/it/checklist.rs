//! Rows of the OAuth client security checklist (`docs/security.md`) whose
//! proof needs the whole gateway and has no better home. Every test in the
//! suite that proves a row is named `rowNN_…`; `docs/security.md` maps each
//! row to its tests.

use std::time::Duration;

use crate::support::{Browser, Harness, Options, param, with_param};
use base64::Engine as _;
use proptest::prelude::*;

#[test]
fn row01_mutated_states_and_cookies_never_reach_notion() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let h = rt.block_on(Harness::start(Options::default().without_rate_limits()));
    let b = h.browser();
    let back = rt.block_on(b.approved("?data=prop"));
    let state = param(&back, "state").expect("state");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&state)
        .expect("b64");
    let len = raw.len();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..len * 8,
        0..len,
        prop::collection::vec(any::<u8>(), 0..64),
        0u8..4,
    );
    runner
        .run(&strategy, |(bit, cut, junk, how)| {
            let mutated = match how {
                // (c) one flipped bit in the state or its MAC
                0 => {
                    let mut r = raw.clone();
                    r[bit / 8] ^= 1 << (bit % 8);
                    r
                }
                // truncated
                1 => raw[..cut].to_vec(),
                // extended with junk
                2 => [raw.clone(), junk.clone()].concat(),
                // random bytes of any length
                _ => junk.clone(),
            };
            if mutated == raw {
                return Ok(()); // junk of length 0: not a mutation
            }
            let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mutated);
            let status = rt.block_on(async {
                b.get(&with_param(&back, "state", &forged))
                    .await
                    .status()
                    .as_u16()
            });
            prop_assert!((400..500).contains(&status), "status {status}");
            prop_assert_eq!(h.stand_in.token_requests(), 0);
            Ok(())
        })
        .expect("no mutated state is accepted");
    // (a) no cookie and (b) another browser's cookie, with the real state.
    rt.block_on(async {
        let stranger = h.browser();
        assert_eq!(stranger.get(&back).await.status(), 403);
        let _ = stranger.start("").await;
        assert_eq!(stranger.get(&back).await.status(), 403);
        assert_eq!(h.stand_in.token_requests(), 0);
        // The real one still works: refusals never burn the state.
        assert_eq!(b.get(&back).await.status(), 200);
    });
}

#[tokio::test]
async fn row01_row13_a_state_issued_for_another_integration_is_refused() {
    // Two integrations sharing one signing key and one browser (cookies are
    // per host, not per port, so the binding cookie travels too): only the
    // redirect URI bound into the MAC tells them apart.
    let a = Harness::start(Options::default()).await;
    let key = a.dir.path().join("data/state.key");
    let b =
        Harness::start(Options::default().set("notion.state_key_file", key.display().to_string()))
            .await;
    let browser = Browser::new(&a.gateway_url);
    let back_a = browser.approved("").await;
    let query = back_a.split_once('?').expect("query").1;
    let _ = browser.start_at("/auth/notion/start", "").await;
    let r = browser.get(&format!("{}?{query}", b.redirect_uri)).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("not valid"));
    assert_eq!(a.stand_in.token_requests() + b.stand_in.token_requests(), 0);
}

fn assert_callback_hygiene(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(h["cache-control"], "no-store", "{what}");
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
    assert!(
        !csp.contains("script-src"),
        "{what}: no script is ever allowed"
    );
    assert!(
        h.get("location").is_none(),
        "{what}: no redirect carries the query"
    );
}

/// Every `href`, `src` and `action` attribute of a page, and every `url(` of
/// its style sheets and `style` attributes: what a browser would load or follow.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut styles = String::new();
    let mut rest = html;
    while let Some(i) = rest.find("<style") {
        rest = &rest[i..];
        let end = rest.find("</style>").unwrap_or(rest.len());
        styles.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    for attr in after_each(html, "style=\"") {
        styles.push_str(&attr);
    }
    for marker in ["href=\"", "src=\"", "action=\""] {
        out.extend(after_each(html, marker));
    }
    out.extend(after_each(&styles, "url("));
    out
}

/// The text after each `marker`, up to the next quote or parenthesis.
fn after_each(text: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let end = rest.find(['"', ')']).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
    }
    out
}

#[tokio::test]
async fn row10_callback_pages_send_no_referrer_no_store_and_load_nothing_from_elsewhere() {
    let h = Harness::start(Options::default()).await;
    let b = h.browser();
    let back = b.approved("?data=https%3A%2F%2Fevil.example%2Fx.png").await;
    let outcomes = [
        ("success", b.get(&back).await),
        ("replayed", b.get(&back).await),
        (
            "denied",
            b.get(&b.consent(&b.start("").await, "deny").await).await,
        ),
        (
            "bad state",
            b.get(&format!("{}?code=c&state=bad", h.redirect_uri)).await,
        ),
        (
            "error param",
            b.get(&format!("{}?error=server_error&state=bad", h.redirect_uri))
                .await,
        ),
    ];
    for (what, r) in outcomes {
        assert_callback_hygiene(&r, what);
        let html = r.text().await.expect("body");
        for reference in references(&html) {
            assert!(
                !reference.contains("//"),
                "{what}: the page loads or links {reference:?}"
            );
        }
    }
}

#[tokio::test]
async fn row10_view_output_never_references_another_origin_whatever_the_app_data() {
    let h = Harness::start(
        Options::with_plugins("default-consumer", "echo-view").without_rate_limits(),
    )
    .await;
    let b = h.browser();
    for data in [
        "https://evil.example/x.png",
        "\"><img src=https://evil.example/x>",
        "<a href=//evil.example>x</a>",
        "');background:url(//evil.example)",
        "javascript:alert(1)",
    ] {
        let q: String = url::form_urlencoded::byte_serialize(data.as_bytes()).collect();
        let r = b.connect(&format!("?data={q}")).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.expect("body");
        for reference in references(&html) {
            assert!(
                !reference.contains("//") && !reference.contains("javascript:"),
                "{data:?} became a reference: {reference:?}"
            );
        }
    }
}

#[tokio::test]
async fn row11_hostile_callback_values_are_refused_or_escaped_never_panicked_on() {
    let h = Harness::start(Options::default().without_rate_limits()).await;
    let b = h.browser();
    let redirect = &h.redirect_uri;
    for query in [
        "error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x",
        "code=%3Cscript%3E&state=x",
        "code=caf%C3%A9&state=x",
        "code=%00&state=x",
        "code=a&code=b&state=x",
        "error=access_denied&code=a&state=x",
    ] {
        let r = b.get(&format!("{redirect}?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let html = r.text().await.expect("body");
        assert!(!html.contains("<script"), "{query}: {html}");
    }
    let long = format!("{redirect}?code={}&state=x", "c".repeat(2_000));
    assert_eq!(b.get(&long).await.status(), 400);
    // A real denial with a hostile description renders it escaped.
    let authorize = b.start("").await;
    let denied = b.consent(&authorize, "deny").await;
    let hostile = with_param(
        &denied,
        "error_description",
        "<script>alert(1)</script>\u{7}\u{202e}",
    );
    let r = b.get(&hostile).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.expect("body");
    assert!(!html.contains("<script>"), "{html}");
    assert_eq!(b.get(&h.url("/healthz")).await.status(), 200);
}

#[tokio::test]
async fn row15_every_open_redirect_payload_lands_on_the_default_page() {
    let o = Options::faulty("view", "redirect-to-data")
        .without_rate_limits()
        .set("notion.state_ttl_seconds", 600);
    let h = Harness::start(o).await;
    let b = h.browser();
    // A path on this site is followed: the view may send the browser on.
    let r = b.connect("?data=%2Fwelcome%3Ftab%3D1").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/welcome?tab=1");
    let corpus =
        std::fs::read_to_string(crate::support::repo().join("tests/fixtures/open-redirects.txt"))
            .expect("corpus");
    let mut n = 0;
    for line in corpus.lines().filter(|l| !l.starts_with('#')) {
        let payload = unescape(line);
        let q: String = url::form_urlencoded::byte_serialize(payload.as_bytes()).collect();
        let r = b.connect(&format!("?data={q}")).await;
        assert_eq!(
            r.status(),
            200,
            "{line:?} was not replaced by the default page"
        );
        assert!(r.headers().get("location").is_none(), "{line:?}");
        let html = r.text().await.expect("body");
        assert!(html.contains("Notion connected"), "{line:?}: {html}");
        n += 1;
    }
    assert!(n >= 70);
}

/// The corpus line with `\t`, `\r`, `\n`, `\0` and `\xNN` escapes undone.
fn unescape(line: &str) -> String {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let esc = |c: u8| match c {
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'n' => Some(b'\n'),
            b'0' => Some(0),
            _ => None,
        };
        if b[i] == b'\\' && i + 1 < b.len() {
            if let Some(byte) = esc(b[i + 1]) {
                out.push(byte);
                i += 2;
                continue;
            }
            if b[i + 1] == b'x'
                && i + 3 < b.len()
                && let Ok(byte) = u8::from_str_radix(&line[i + 2..i + 4], 16)
            {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn row17_a_burst_past_the_per_ip_limit_gets_429_with_retry_after() {
    let o = Options::default()
        .set("server.rate_limit.per_ip_per_minute", 6)
        .set("server.rate_limit.per_ip_burst", 5);
    let h = Harness::start(o).await;
    let b = Browser::new(&h.gateway_url);
    for i in 0..5 {
        let r = b.get(&h.url("/auth/notion/start")).await;
        assert_eq!(r.status(), 302, "request {i} is within the burst");
    }
    let r = b.get(&h.url("/auth/notion/start")).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    // The callback shares the budget; other routes are not limited.
    let r = b.get(&format!("{}?code=c&state=s", h.redirect_uri)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(b.get(&h.url("/healthz")).await.status(), 200);
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn row17_a_forged_x_forwarded_for_does_not_bypass_the_limit() {
    let limited = || {
        Options::default()
            .set("server.rate_limit.per_ip_per_minute", 6)
            .set("server.rate_limit.per_ip_burst", 3)
    };
    let o = limited();
    let h = Harness::start(o).await;
    let b = Browser::new(&h.gateway_url);
    let statuses = spoofed_burst(&b, &h).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );

    // Behind a trusted proxy the header is believed: each client has its own budget.
    let o = limited().set("server.trusted_proxies", vec!["127.0.0.1"]);
    let h = Harness::start(o).await;
    let b = Browser::new(&h.gateway_url);
    let statuses = spoofed_burst(&b, &h).await;
    assert!(statuses.iter().all(|s| *s == 302), "{statuses:?}");
}

/// Six starts, each claiming another client address.
async fn spoofed_burst(b: &Browser, h: &Harness) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = b
            .client
            .get(h.url("/auth/notion/start"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("start");
        statuses.push(r.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn result_page_and_secrets_another_browser_gets_the_410_page() {
    for passthrough in [false, true] {
        let mut o = Options::default();
        if passthrough {
            o = Options::with_plugins("default-consumer", "echo-view")
                .set("notion.state", "passthrough");
        }
        let h = Harness::start(o).await;
        let owner = h.browser();
        let query = if passthrough {
            "?state=the-apps-own"
        } else {
            ""
        };
        let back = owner.approved(query).await;
        let r = owner.get_once(&back).await;
        assert_eq!(r.status(), 303, "passthrough {passthrough}");
        let clean = h.url(&crate::support::location(&r));
        // Another browser, with a binding cookie of its own from its own flow.
        let stranger = h.browser();
        let theirs = stranger.approved(query).await;
        assert_eq!(stranger.get_once(&theirs).await.status(), 303);
        let stolen = stranger.get_once(&clean).await;
        assert_eq!(
            stolen.status(),
            410,
            "passthrough {passthrough}: another browser"
        );
        assert!(!stolen.text().await.expect("body").contains("Connected to"));
        let page = owner.get_once(&clean).await;
        assert_eq!(
            page.status(),
            200,
            "passthrough {passthrough}: still the owner's"
        );
    }
}

#[tokio::test]
async fn row09_the_callback_answers_303_to_a_clean_url_whose_page_is_fetched_once() {
    let h = Harness::start(Options::default()).await;
    let b = h.browser();
    let back = b.approved("").await;
    let r = b.get_once(&back).await;
    assert_eq!(r.status(), 303);
    let clean = crate::support::location(&r);
    let id = clean
        .strip_prefix("/auth/notion/redirect/")
        .expect("the clean URL is under the redirect route");
    assert!(
        id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "{clean}"
    );
    assert!(
        !clean.contains(['?', '#']),
        "no query, no fragment: {clean}"
    );
    let page = b.get_once(&h.url(&clean)).await;
    assert_eq!(page.status(), 200);
    assert_callback_hygiene(&page, "clean URL");
    assert!(page.text().await.expect("body").contains("Connected to"));
    // Shown once: a reload (or anyone else) gets a neutral page.
    let again = b.get_once(&h.url(&clean)).await;
    assert_eq!(again.status(), 410);
    assert!(!again.text().await.expect("body").contains("Connected to"));
    // A callback refused at the state check is answered in place: nothing
    // is stored for a request that is not part of a real flow.
    let forged = b.get_once(&with_param(&back, "state", "forged")).await;
    assert_eq!(forged.status(), 400);
    assert_eq!(h.stand_in.token_requests(), 1);

    let h = Harness::start(Options::default().set("server.clean_callback_url", false)).await;
    let b = h.browser();
    let back = b.approved("").await;
    assert_eq!(
        b.get_once(&back).await.status(),
        200,
        "off: answered in place"
    );
}
