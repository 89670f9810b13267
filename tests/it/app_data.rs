//! The app vouching for a flow's `data` (the audit's account-linking CSRF):
//! signed start links, connect sessions, and unsigned data refused by
//! default, each refusal a 400 that says which without Notion involved.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::config::APP_KEY;
use crate::support::{API_KEY, Harness, Options, POSTGRES_URL, fresh_schema};

/// The gateway's default, unsigned `data` refused, with a view that shows
/// the data it was given.
fn refusing() -> Options {
    Options::with_plugins("default-consumer", "echo-view").set("app_data.unsigned", "refuse")
}

/// What the app's backend computes: lowercase hex HMAC-SHA256 of `exp.data`.
fn sign(exp: u64, data: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(APP_KEY.as_bytes()).expect("key");
    mac.update(format!("{exp}.{data}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

/// A signed start query for `data`, expiring `ahead` seconds from now (a
/// harness's clock starts at the system clock).
fn signed_query(data: &str, ahead: i64) -> String {
    let exp = now().saturating_add_signed(ahead);
    format!("?data={data}&exp={exp}&sig={}", sign(exp, data))
}

async fn start_status_and_page(h: &Harness, query: &str) -> (u16, String) {
    let r = h
        .browser()
        .get_once(&h.url(&format!("/auth/notion/start{query}")))
        .await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn app_data_unsigned_is_refused_by_default_and_a_start_without_data_works() {
    let h = Harness::start(refusing()).await;
    let (status, page) = start_status_and_page(&h, "?data=victim-user").await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("missing the app"), "{page}");
    assert!(!page.contains("victim-user"), "{page}");
    let (status, _) = start_status_and_page(&h, "").await;
    assert_eq!(status, 302, "a start with no data works as before");
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn app_data_signed_start_links_carry_the_apps_data_to_the_flow() {
    let h = Harness::start(refusing()).await;
    let r = h.browser().connect(&signed_query("user-7", 300)).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("user-7"),
        "the view sees the vouched data: {page}"
    );
}

#[tokio::test]
async fn app_data_expired_missing_or_wrong_signatures_get_a_400_that_says_which() {
    let h = Harness::start(refusing()).await;
    let good = signed_query("user-7", 300);
    let exp = crate::support::param(&format!("http://x/{good}"), "exp").expect("exp");
    let sig = sign(exp.parse().expect("exp"), "user-7");
    let expired = signed_query("user-7", -1);
    let cases = [
        (expired, "has expired"),
        (format!("?data=user-7&exp={exp}"), "missing the app"),
        (format!("?data=user-7&sig={sig}"), "missing the app"),
        (
            format!("?data=user-8&exp={exp}&sig={sig}"),
            "wrong signature",
        ),
        (signed_query("user-7", 3_600), "not valid"),
    ];
    for (query, says) in cases {
        let (status, page) = start_status_and_page(&h, &query).await;
        assert_eq!(status, 400, "{query}: {page}");
        assert!(page.contains(says), "{query} should say {says:?}: {page}");
    }
    assert_eq!(h.stand_in.token_requests(), 0, "Notion is never involved");
}

/// `POST /api/v1/connect-sessions` on `h`.
async fn open_session(h: &Harness, body: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(h.url("/api/v1/connect-sessions"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("api call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn app_data_connect_sessions_start_one_flow_once_within_ten_minutes() {
    let mut o = refusing();
    o.api_key = Some(API_KEY.into());
    let h = Harness::start(o).await;
    let (status, link) = open_session(&h, r#"{"app_data": "user-9"}"#).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&h.url("/auth/notion/start?session=")),
        "{url}"
    );
    let expires_at = link["expires_at"].as_u64().expect("expires_at");
    let now = now();
    assert!(
        (now + 590..=now + 610).contains(&expires_at),
        "{expires_at}"
    );

    let browser = h.browser();
    let r = browser
        .connect(
            url.strip_prefix(&h.url("/auth/notion/start"))
                .expect("query"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("user-9"));
    let (status, page) = start_status_and_page(&h, &url[h.url("/auth/notion/start").len()..]).await;
    assert_eq!(status, 400, "single use: {page}");
    assert!(page.contains("expired or was already used"), "{page}");

    // Ten minutes later a session no longer starts anything.
    let (_, link) = open_session(&h, r#"{"app_data": "user-10"}"#).await;
    let url = link["url"].as_str().expect("url").to_string();
    h.clock.advance(601);
    let (status, _) = start_status_and_page(&h, &url[h.url("/auth/notion/start").len()..]).await;
    assert_eq!(status, 400, "expired");

    // Bad requests say what to send; no key, no session.
    for body in [
        "",
        "{}",
        r#"{"app_data": 5}"#,
        &format!(r#"{{"app_data": "{}"}}"#, "x".repeat(513)),
    ] {
        let (status, answer) = open_session(&h, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("app_data")),
            "{answer}"
        );
    }
    let r = reqwest::Client::new()
        .post(h.url("/api/v1/connect-sessions"))
        .body(r#"{"app_data": "x"}"#)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), 401);
    assert_eq!(h.stand_in.token_requests(), 1, "one flow reached Notion");
}

#[tokio::test]
async fn app_data_connect_sessions_work_across_instances_on_postgres() {
    let schema = fresh_schema();
    let on_shared = || {
        let mut o = refusing()
            .set("store.url", POSTGRES_URL)
            .set("store.schema", schema.clone());
        o.api_key = Some(API_KEY.into());
        o
    };
    let a = Harness::start(on_shared()).await;
    let b = Harness::start(on_shared()).await;
    let (status, link) = open_session(&a, r#"{"app_data": "user-11"}"#).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().expect("url");
    let query = &url[url.find('?').expect("query")..];
    let r = b.browser().connect(query).await;
    assert_eq!(r.status(), 200, "instance b takes a's session");
    assert!(r.text().await.expect("page").contains("user-11"));
    let (status, _) = start_status_and_page(&a, query).await;
    assert_eq!(status, 400, "and it is gone for a too");
}
