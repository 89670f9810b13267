//! The OAuth flow end to end over HTTP: the gateway, the stand-in for Notion,
//! and real compiled plugins.

use crate::support::{Browser, Harness, Options, param, with_param};
use base64::Engine as _;

#[tokio::test]
async fn happy_path_connects_and_shows_the_view_page() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let authorize = browser.start("?data=user-42").await;
    assert!(authorize.starts_with(&format!("{}/v1/oauth/authorize?", h.stand_in_url)));
    assert_eq!(
        param(&authorize, "client_id").as_deref(),
        Some("test-client")
    );
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&authorize, "owner").as_deref(), Some("user"));
    assert_eq!(
        param(&authorize, "redirect_uri").as_deref(),
        Some(h.redirect_uri.as_str())
    );
    let state = param(&authorize, "state").expect("state");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&state)
        .expect("base64url state");
    assert!(
        raw.len() >= 16 + 32,
        "state carries >= 128 random bits and a MAC"
    );

    let back = browser.consent(&authorize, "allow").await;
    assert!(back.starts_with(&h.redirect_uri));
    let page = browser.get(&back).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("body");
    assert!(html.contains("Connected to Stand-in Workspace"), "{html}");
    assert!(
        !html.contains("CANARY_TOKEN_") && !html.contains("CANARY_REFRESH_"),
        "no token reaches the browser"
    );
    assert_eq!(h.stand_in.token_requests(), 1);
}

#[tokio::test]
async fn row06_row07_token_request_has_basic_auth_and_the_byte_identical_redirect_uri() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let authorize = browser.start("").await;
    let back = browser.consent(&authorize, "allow").await;
    // Spoofed forwarding headers must not change the redirect_uri sent to Notion.
    let page = browser
        .client
        .get(&back)
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("callback");
    assert_eq!(page.status(), 303, "the page is fetched at a clean URL");
    let recorded = h.stand_in.recorded_requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.query, None, "nothing in the token request's URL");
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert!(r.notion_version.is_some());
    let secret = Options::default().client_secret;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!(
        "test-client:{}",
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
    ));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"].as_str(), param(&back, "code").as_deref());
    assert_eq!(
        body["redirect_uri"].as_str(),
        param(&authorize, "redirect_uri").as_deref(),
        "byte-identical redirect_uri"
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("CANARY_SECRET"));
}

#[tokio::test]
async fn app_data_and_every_authorization_field_reach_the_plugins() {
    let h = Harness::start(Options::with_plugins("default-consumer", "echo-view")).await;
    let page = h.browser().connect("?data=acct%3D42%20%26%20more").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    for expected in [
        "acct=42 &amp; more",
        "Stand-in Workspace",
        "Ada Stand-in",
        "ada@stand-in.invalid",
        "bearer",
        "owner.user.email_verified",
    ] {
        assert!(html.contains(expected), "{expected} missing from {html}");
    }
    assert!(
        !html.contains("CANARY_TOKEN_") && !html.contains("CANARY_REFRESH_"),
        "views never get the secrets"
    );
}

#[tokio::test]
async fn denial_calls_the_consumer_and_shows_the_access_denied_page() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let authorize = browser.start("").await;
    let back = browser.consent(&authorize, "cancel").await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let page = browser.get(&back).await;
    assert_eq!(page.status(), 403);
    assert!(page.text().await.expect("body").contains("You cancelled"));
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn two_parallel_logins_in_one_browser_both_succeed() {
    let h = Harness::start(Options::with_plugins("default-consumer", "echo-view")).await;
    let browser = h.browser();
    let first = browser.start("?data=tab-1").await;
    let second = browser.start("?data=tab-2").await;
    let back_second = browser.consent(&second, "allow").await;
    let back_first = browser.consent(&first, "allow").await;
    let a = browser.get(&back_first).await;
    let b = browser.get(&back_second).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert!(a.text().await.expect("a").contains("tab-1"));
    assert!(b.text().await.expect("b").contains("tab-2"));
    assert_eq!(h.stand_in.token_requests(), 2);
}

#[tokio::test]
async fn row01_missing_state_is_rejected_without_calling_notion() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    let code = param(&back, "code").expect("code");
    let r = browser
        .get(&format!("{}?code={code}", h.redirect_uri))
        .await;
    assert_eq!(r.status(), 400);
    let r = browser
        .get(&format!("{}?code={code}&state=", h.redirect_uri))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn row01_forged_state_is_rejected_without_calling_notion() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let back = browser.approved("?data=me").await;
    let state = param(&back, "state").expect("state");
    let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&state)
        .expect("b64");
    let last = raw.len() - 40;
    raw[last] ^= 0x01; // flip one bit of the app data
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
    let page = browser.get(&with_param(&back, "state", &forged)).await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.expect("body").contains("not valid"));
    let page = browser.get(&with_param(&back, "state", "made-up")).await;
    assert_eq!(page.status(), 400);
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn row01_row04_expired_state_is_rejected_without_calling_notion() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    h.clock.advance(601);
    let page = browser.get(&back).await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.expect("body").contains("expired"));
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn row03_row04_replayed_state_is_rejected_without_calling_notion_again() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    assert_eq!(browser.get(&back).await.status(), 200);
    let again = browser.get(&back).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.expect("body").contains("already used"));
    assert_eq!(h.stand_in.token_requests(), 1);
}

#[tokio::test]
async fn row03_row04_concurrent_replays_exchange_the_code_once() {
    let h = Harness::start(Options::default()).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    let (a, b) = tokio::join!(browser.get(&back), browser.get(&back));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    assert_eq!(h.stand_in.token_requests(), 1);
}

#[tokio::test]
async fn row01_state_from_another_browser_is_rejected_without_calling_notion() {
    let h = Harness::start(Options::default()).await;
    let victim = h.browser();
    let attacker = h.browser();
    let back = attacker.approved("").await;
    // The victim has no binding cookie at all.
    let r = victim.get(&back).await;
    assert_eq!(r.status(), 403);
    // The victim has a binding cookie of its own (it started a flow too).
    let _ = victim.start("").await;
    let r = victim.get(&back).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("another browser"));
    assert_eq!(h.stand_in.token_requests(), 0);
    // The attacker's own browser still completes: a refusal does not burn the state.
    assert_eq!(attacker.get(&back).await.status(), 200);
}

#[tokio::test]
async fn row02_start_sets_a_lax_httponly_binding_cookie() {
    let h = Harness::start(Options::default()).await;
    let r = Browser::new(&h.gateway_url)
        .get(&h.url("/auth/notion/start"))
        .await;
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("nog_binding="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn start_refuses_oversized_app_data() {
    let h = Harness::start(Options::default()).await;
    let data = "x".repeat(513);
    let r = Browser::new(&h.gateway_url)
        .get(&h.url(&format!("/auth/notion/start?data={data}")))
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn passthrough_mode_forwards_the_apps_own_state_untouched() {
    let o =
        Options::with_plugins("default-consumer", "echo-view").set("notion.state", "passthrough");
    let h = Harness::start(o).await;
    let browser = h.browser();
    let r = browser
        .get(&h.url("/auth/notion/start?state=app-made%20state"))
        .await;
    assert_eq!(r.status(), 302);
    assert!(r.headers().get("set-cookie").is_none());
    let authorize = crate::support::location(&r);
    assert_eq!(
        param(&authorize, "state").as_deref(),
        Some("app-made state")
    );
    let back = browser.consent(&authorize, "allow").await;
    let page = browser.get(&back).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains("app-made state"));
}
