//! Capabilities a plugin is granted: outgoing HTTP to allow-listed hosts only
//! (proved with the shipped `webhook-consumer`), and nothing without a grant.

use std::time::{Duration, Instant};

use crate::support::receiver::Receiver;
use crate::support::{Harness, Options};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SIGNING_SECRET: &str = "whsec_test_3f9a";

fn webhook(url: &str, grant: Option<&str>) -> Options {
    let o = Options::with_plugins("webhook-consumer", "default-view")
        .set("plugins.settings.webhook-consumer.url", url)
        .set(
            "plugins.settings.webhook-consumer.signing_secret",
            SIGNING_SECRET,
        );
    match grant {
        Some(host) => o.set("plugins.grants.webhook-consumer.http_hosts", vec![host]),
        None => o,
    }
}

fn verify(signature: &str, body: &[u8]) -> bool {
    let mut parts = signature.split(',');
    let t = parts
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .unwrap_or("");
    let v1 = parts
        .next()
        .and_then(|p| p.strip_prefix("v1="))
        .unwrap_or("");
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[tokio::test]
async fn webhook_consumer_posts_the_signed_authorization_to_an_allowed_host() {
    let app = Receiver::start(200, Duration::ZERO).await;
    let url = format!("http://{}/hooks/notion?source=gateway", app.addr);
    let h = Harness::start(webhook(&url, Some(&app.addr.to_string()))).await;
    let r = h.browser().connect("?data=acct-42").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    let got = app.requests();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks/notion?source=gateway");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let signature = req.header("x-notion-gateway-signature").expect("signed");
    assert!(
        verify(signature, &req.body),
        "the HMAC verifies: {signature}"
    );
    assert!(
        !verify(signature, b"{\"tampered\":true}"),
        "and fails on other bodies"
    );

    let json: serde_json::Value = serde_json::from_slice(&req.body).expect("json body");
    assert_eq!(json["type"], "notion.authorization");
    assert_eq!(json["reason"], "new");
    assert!(
        json["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("CANARY_TOKEN_"))
    );
    assert!(
        json["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("CANARY_REFRESH_"))
    );
    assert_eq!(json["workspace_name"], "Stand-in Workspace");
    assert_eq!(json["owner"]["type"], "user");
    assert_eq!(json["app_data"], "acct-42");
    let key = json["idempotency_key"].as_str().expect("key");
    assert_eq!(req.header("idempotency-key"), Some(key));
    assert!(key.starts_with(json["bot_id"].as_str().expect("bot id")));
}

#[tokio::test]
async fn outgoing_http_is_denied_without_a_grant() {
    let app = Receiver::start(200, Duration::ZERO).await;
    let h = Harness::start(webhook(&format!("http://{}/hook", app.addr), None)).await;
    assert_eq!(h.browser().connect("").await.status(), 500);
    assert!(app.requests().is_empty(), "nothing left the sandbox");
}

#[tokio::test]
async fn outgoing_http_is_denied_to_hosts_off_the_allow_list() {
    let app = Receiver::start(200, Duration::ZERO).await;
    // The grant names another port of the same host.
    let other = format!("127.0.0.1:{}", app.addr.port().wrapping_add(1));
    let h = Harness::start(webhook(&format!("http://{}/hook", app.addr), Some(&other))).await;
    assert_eq!(h.browser().connect("").await.status(), 500);
    assert!(app.requests().is_empty());
    // Plain http to a non-loopback host is refused even when listed.
    let h = Harness::start(webhook(
        "http://hooks.example.com/hook",
        Some("hooks.example.com"),
    ))
    .await;
    assert_eq!(h.browser().connect("").await.status(), 500);
}

#[tokio::test]
async fn an_app_error_fails_the_delivery() {
    let app = Receiver::start(503, Duration::ZERO).await;
    let h = Harness::start(webhook(
        &format!("http://{}/hook", app.addr),
        Some(&app.addr.to_string()),
    ))
    .await;
    let r = h.browser().connect("").await;
    assert_eq!(r.status(), 202, "kept and retried later");
    assert_eq!(app.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_app_is_cut_off_at_the_grants_timeout() {
    let app = Receiver::start(200, Duration::from_secs(5)).await;
    let o = webhook(
        &format!("http://{}/hook", app.addr),
        Some(&app.addr.to_string()),
    )
    .set("plugins.grants.webhook-consumer.http_timeout_ms", 300);
    let h = Harness::start(o).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    let started = Instant::now();
    let r = browser.get(&back).await;
    assert_eq!(r.status(), 202);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
