//! Every failure gives the view's error page with a fitting status, and the
//! gateway keeps serving: Notion errors, timeouts and garbage; consumers that
//! refuse, trap, loop or exhaust memory; views that misbehave.

use std::time::{Duration, Instant};

use crate::support::{Harness, Options};
use notion_oauth_gateway::standin::Fault;

async fn callback_status_and_body(h: &Harness) -> (u16, String) {
    let r = h.browser().connect("").await;
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn notion_invalid_grant_gives_400_and_asks_to_start_again() {
    let h = Harness::start(Options::default()).await;
    h.stand_in.push_fault(Fault::notion_error(
        400,
        "invalid_grant",
        "Invalid code: this code has been revoked.",
    ));
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(status, 400);
    assert!(body.contains("start connecting Notion again"), "{body}");
}

#[tokio::test]
async fn notion_invalid_client_in_either_error_shape_gives_502() {
    let h = Harness::start(Options::default()).await;
    h.stand_in
        .push_fault(Fault::rfc_error(401, "invalid_client"));
    assert_eq!(callback_status_and_body(&h).await.0, 502);
    h.stand_in
        .push_fault(Fault::notion_error(401, "invalid_client", "bad client"));
    assert_eq!(callback_status_and_body(&h).await.0, 502);
}

#[tokio::test]
async fn wrong_client_secret_is_refused_by_notion_and_reported_as_502() {
    let o = Options {
        stand_in_secret: Some("the-secret-notion-knows".into()),
        ..Options::default()
    };
    let h = Harness::start(o).await;
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(status, 502);
    assert!(!body.contains("CANARY_SECRET"), "{body}");
    assert_eq!(h.stand_in.token_requests(), 1);
}

#[tokio::test]
async fn notion_500_gives_502() {
    let h = Harness::start(Options::default()).await;
    h.stand_in
        .push_fault(Fault::notion_error(500, "internal_server_error", "oops"));
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(status, 502);
    assert!(body.contains("try again"), "{body}");
}

#[tokio::test]
async fn row19_notion_timeout_gives_504_within_the_configured_timeout() {
    let o = Options::default().set("notion.timeout_ms", 400);
    let h = Harness::start(o).await;
    h.stand_in.push_fault(Fault::Delay(Duration::from_secs(5)));
    let browser = h.browser();
    let back = browser.approved("").await;
    let started = Instant::now();
    let r = browser.get(&back).await;
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn row09_malformed_token_responses_give_502_and_never_echo_the_body() {
    let h = Harness::start(Options::default()).await;
    for body in [
        "{\"access_token\": \"ntn_CANARY_TOKEN_1\", \"bot_id\": ",
        "<html>ntn_CANARY_TOKEN_2</html>",
        "{}",
        "{\"access_token\": \"ntn_CANARY_TOKEN_3\", \"bot_id\": \"b\", \"workspace_id\": \"w\", \"owner\": {\"type\": \"ntn_CANARY_TOKEN_3\"}}",
    ] {
        h.stand_in.push_fault(Fault::raw(200, body));
        let (status, page) = callback_status_and_body(&h).await;
        assert_eq!(status, 502, "{body}");
        assert!(!page.contains("CANARY"), "{page}");
    }
    h.stand_in.push_fault(Fault::raw(500, "not json at all"));
    assert_eq!(callback_status_and_body(&h).await.0, 502);
}

#[tokio::test]
async fn row08_a_redirect_from_notion_is_not_followed() {
    let h = Harness::start(Options::default()).await;
    h.stand_in.push_fault(Fault::Respond {
        status: 307,
        body: Vec::new(),
        headers: vec![(
            "location".into(),
            format!("{}/v1/oauth/token", h.stand_in_url),
        )],
    });
    assert_eq!(callback_status_and_body(&h).await.0, 502);
    assert_eq!(
        h.stand_in.token_requests(),
        1,
        "the code is sent once, not resent to the redirect target"
    );
}

#[tokio::test]
async fn unreachable_notion_gives_502() {
    // A port nobody listens on: bind, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let o = Options {
        api_base_url: Some(format!("http://127.0.0.1:{port}")),
        ..Options::default()
    };
    let h = Harness::start(o).await;
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(status, 502);
    assert!(body.contains("try again"), "{body}");
    assert_eq!(h.stand_in.token_requests(), 0);
}

#[tokio::test]
async fn consumer_error_keeps_the_token_and_says_it_is_being_completed() {
    let h = Harness::start(Options::faulty("consumer", "error")).await;
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(status, 202, "stored, not yet taken: not a success page");
    assert!(body.contains("being completed"), "{body}");
    assert_eq!(h.stand_in.token_requests(), 1);
    let d = h.deliveries(5).await;
    assert_eq!(
        (d[0].status.as_str(), d[0].attempts),
        ("pending", 1),
        "{d:?}"
    );
    assert!(
        d[0].last_error
            .as_deref()
            .unwrap_or("")
            .contains("database is away"),
        "{d:?}"
    );
}

#[tokio::test]
async fn trapping_consumer_keeps_the_token_and_the_gateway_keeps_serving() {
    let h = Harness::start(Options::faulty("consumer", "trap")).await;
    for _ in 0..3 {
        assert_eq!(callback_status_and_body(&h).await.0, 202);
    }
    assert_eq!(h.browser().get(&h.url("/healthz")).await.status(), 200);
}

#[tokio::test]
async fn consumer_exhausting_memory_fails_cleanly() {
    let o = Options::faulty("consumer", "oom").set("plugins.memory_limit_mib", 32);
    let h = Harness::start(o).await;
    assert_eq!(callback_status_and_body(&h).await.0, 202);
    assert_eq!(h.browser().get(&h.url("/healthz")).await.status(), 200);
}

#[tokio::test]
async fn endless_loop_is_stopped_by_its_deadline_while_others_are_served() {
    let o = Options::faulty("consumer", "loop").set("plugins.deadline_ms", 1500);
    let h = Harness::start(o).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    let looping = tokio::spawn({
        let browser = browser.clone();
        async move {
            let started = Instant::now();
            let r = browser.get(&back).await;
            (r.status().as_u16(), started.elapsed())
        }
    });
    // While the plugin spins, the gateway keeps answering others, promptly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let r = h.browser().get(&h.url("/healthz")).await;
        assert_eq!(r.status(), 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "health took {:?}",
            started.elapsed()
        );
        let start = h.browser().get(&h.url("/auth/notion/start")).await;
        assert_eq!(start.status(), 302);
    }
    let (status, took) = looping.await.expect("join");
    assert_eq!(status, 202, "stopped, and the token kept for a retry");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(3000),
        "stopped after {took:?}"
    );
}

#[tokio::test]
async fn looping_view_is_stopped_and_replaced_by_the_gateways_own_page() {
    let o = Options::faulty("view", "loop").set("plugins.deadline_ms", 300);
    let h = Harness::start(o).await;
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(
        status, 200,
        "the token was accepted, so the user is told so"
    );
    assert!(body.contains("Notion connected"), "{body}");
}

#[tokio::test]
async fn trapping_view_on_an_error_keeps_the_hosts_status() {
    let h = Harness::start(Options::faulty("view", "trap")).await;
    let r = h
        .browser()
        .get(&h.url("/auth/notion/redirect?code=x&state=forged"))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("not valid"));
}

#[tokio::test]
async fn a_view_cannot_weaken_security_headers_or_redirect_off_site() {
    let h = Harness::start(Options::faulty("view", "hostile-headers")).await;
    let r = h.browser().connect("").await;
    assert_eq!(r.status(), 200);
    let headers = r.headers();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
    assert!(headers.get("set-cookie").is_none());
    assert!(headers.get("access-control-allow-origin").is_none());
    assert!(headers.get("location").is_none());
    for dropped in ["x-faulty", "refresh", "link"] {
        assert!(
            headers.get(dropped).is_none(),
            "{dropped} is off the allow-list"
        );
    }
    assert_eq!(headers["content-language"], "de", "on the allow-list");
}

#[tokio::test]
async fn a_view_returning_an_invalid_status_is_replaced() {
    let h = Harness::start(Options::faulty("view", "bad-status")).await;
    let (status, body) = callback_status_and_body(&h).await;
    assert_eq!(status, 200);
    assert!(body.contains("Notion connected"));
}

#[tokio::test]
async fn a_consumer_plugin_that_is_only_a_view_is_refused_at_start() {
    let err = Harness::try_start(Options::with_plugins("default-view", "default-view"))
        .await
        .err()
        .expect("must not start");
    assert!(
        err.contains("does not export notion:oauth/consumer@0.1.x"),
        "{err}"
    );
}
