//! The HTTP surface: documents, health, unknown routes and methods, the
//! security headers on every response, base paths and size limits.

use http::Method;

use crate::support::offline::Offline;
use crate::support::{Browser, Harness, Options};

fn with_documents(dir_note: &str) -> Options {
    let docs = crate::support::repo().join("config");
    let txt = std::env::temp_dir().join(format!("nog-doc-{}-{dir_note}.txt", std::process::id()));
    std::fs::write(&txt, "plain <text>").expect("write txt");
    let mut documents = toml::Table::new();
    for (route, file) in [
        ("/terms", docs.join("terms.md")),
        ("/privacy", docs.join("privacy.md")),
        ("/notes", txt),
    ] {
        documents.insert(route.into(), file.display().to_string().into());
    }
    Options::default().set("documents", documents)
}

#[tokio::test]
async fn markdown_documents_render_to_html_and_text_is_served_as_text() {
    let g = Offline::start(with_documents("render")).await;
    let terms = g.get("/terms").await;
    assert_eq!(terms.status, 200);
    assert_eq!(terms.header("content-type"), "text/html; charset=utf-8");
    let html = terms.text();
    assert!(
        html.contains("<title>Terms of Use</title>")
            && html.contains("<h2>1. What the Integration does</h2>"),
        "{html}"
    );
    assert!(
        g.get("/privacy")
            .await
            .text()
            .contains("<h1>Privacy Policy</h1>")
    );
    let notes = g.get("/notes").await;
    assert_eq!(notes.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(notes.text(), "plain <text>");
}

#[tokio::test]
async fn health_unknown_routes_and_methods() {
    let g = Offline::start(Options::default()).await;
    let health = g.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok\n");
    assert_eq!(g.send(Method::HEAD, "/healthz", &[]).await.status, 200);
    assert_eq!(g.get("/nope").await.status, 404);
    let post = g.send(Method::POST, "/auth/notion/redirect", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), "GET, HEAD");
}

#[tokio::test]
async fn each_outcome_gets_its_status_and_page_through_the_route_table() {
    let g = Offline::start(Options::default()).await;
    let no_state = g.get("/auth/notion/redirect?code=c").await;
    assert_eq!(no_state.status, 400, "{}", no_state.text());
    assert_eq!(no_state.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(no_state.header("cache-control"), "no-store");
    let twice = g.get("/auth/notion/start?data=a&data=b").await;
    assert_eq!(twice.status, 400, "{}", twice.text());
    let gone = g.get("/auth/notion/redirect/0123456789abcdef").await;
    assert_eq!(gone.status, 410);
    assert!(
        gone.text().contains("This sign-in has finished"),
        "{}",
        gone.text()
    );
    let off = g.get("/api/v1/connections").await;
    assert_eq!(off.status, 404, "the token API is off unless enabled");

    let key = "k".repeat(40);
    let g = Offline::start(Options {
        api_key: Some(key.clone()),
        ..Options::default()
    })
    .await;
    let bearer = format!("Bearer {key}");
    let auth = [("authorization", bearer.as_str())];
    let anonymous = g.get("/api/v1/connections").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");
    let listed = g.send(Method::GET, "/api/v1/connections", &auth).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.text(), r#"{"connections":[]}"#);
    let wrong = g
        .send(Method::POST, "/api/v1/connections/b1/token", &auth)
        .await;
    assert_eq!(wrong.status, 405);
    assert!(
        wrong.text().contains(r#""message":"use GET""#),
        "{}",
        wrong.text()
    );
    let unknown = g
        .send(Method::GET, "/api/v1/connections/b1/token", &auth)
        .await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.text().contains("unknown_connection"),
        "{}",
        unknown.text()
    );
    let nothing = g.send(Method::GET, "/api/v1/other", &auth).await;
    assert_eq!(nothing.status, 404);
    assert!(nothing.text().contains("not_found"), "{}", nothing.text());
}

#[tokio::test]
async fn row16_row20_every_response_carries_anti_framing_and_security_headers_and_no_cors() {
    let h = Harness::start(with_documents("headers")).await;
    let b = h.browser();
    let back = b.approved("").await;
    let mut responses = vec![
        b.get(&h.url("/auth/notion/start")).await,
        b.get(&back).await,
        b.get(&back).await, // replay: an error page
        b.get(&h.url("/auth/notion/redirect?error=access_denied&state=x"))
            .await,
        b.get(&h.url("/terms")).await,
        b.get(&h.url("/healthz")).await,
        b.get(&h.url("/missing")).await,
    ];
    responses.push(
        b.client
            .delete(h.url("/healthz"))
            .send()
            .await
            .expect("delete"),
    );
    let mut ids = std::collections::HashSet::new();
    for r in &responses {
        let hd = r.headers();
        let what = format!("{} {}", r.status(), r.url().path());
        assert!(
            hd["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("frame-ancestors 'none'"),
            "{what}"
        );
        assert!(
            hd["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'"),
            "{what}"
        );
        assert_eq!(hd["x-frame-options"], "DENY", "{what}");
        assert_eq!(hd["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(hd["referrer-policy"], "no-referrer", "{what}");
        assert!(hd.get("access-control-allow-origin").is_none(), "{what}");
        assert!(
            ids.insert(hd["x-request-id"].to_str().expect("id").to_string()),
            "request ids are unique"
        );
    }
}

#[tokio::test]
async fn base_path_prefixes_every_route_and_the_landing_page_links_the_start() {
    let o = Options {
        base_path: "/oauth".into(),
        ..Options::default()
    }
    .set("server.landing_page", true);
    let h = Harness::start(o).await;
    let b = h.browser();
    assert_eq!(b.get(&h.url("/auth/notion/start")).await.status(), 404);
    let landing = b.get(&h.url("/oauth")).await;
    assert_eq!(landing.status(), 200);
    let html = landing.text().await.expect("landing");
    assert!(html.contains("href=\"/oauth/auth/notion/start\""), "{html}");
    assert!(
        html.contains("stand-in"),
        "a loopback authorize URL is flagged as the stand-in: {html}"
    );
    let authorize = b.start_at("/oauth/auth/notion/start", "").await;
    let back = b.consent(&authorize, "allow").await;
    assert!(back.starts_with(&format!("{}/oauth/auth/notion/redirect?", h.gateway_url)));
    assert_eq!(b.get(&back).await.status(), 200);
}

#[tokio::test]
async fn row18_oversized_headers_and_queries_are_refused_and_the_gateway_stays_up() {
    let h = Harness::start(Options::default()).await;
    let b = Browser::new(&h.gateway_url);
    let big = "a".repeat(64 * 1024);
    let r = b
        .client
        .get(h.url("/healthz"))
        .header("x-big", &big)
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    let r = b
        .get(&h.url(&format!(
            "/auth/notion/redirect?code={}&state=x",
            "c".repeat(10 * 1024)
        )))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(b.get(&h.url("/healthz")).await.status(), 200);
}

#[tokio::test]
async fn result_page_and_secrets_metrics_and_the_token_api_can_live_on_the_admin_listener_only() {
    let o = Options {
        api_key: Some(crate::support::API_KEY.into()),
        admin_listener: true,
        ..Options::default()
    };
    let h = crate::support::Harness::start(o).await;
    let admin = h.admin_url.clone().expect("admin listener");
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(crate::support::API_KEY)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(h.url("/metrics")).await, 404, "off the public port");
    assert_eq!(
        get(h.url("/api/v1/connections")).await,
        404,
        "off the public port"
    );
    assert_eq!(get(h.url("/healthz")).await, 200);
    assert_eq!(get(format!("{admin}/metrics")).await, 200);
    assert_eq!(get(format!("{admin}/api/v1/connections")).await, 200);
    assert_eq!(get(format!("{admin}/healthz")).await, 200);
    assert_eq!(
        get(format!("{admin}/auth/notion/start")).await,
        404,
        "the flow is the public port's"
    );
    assert_eq!(
        h.browser().connect("").await.status(),
        200,
        "the flow still works"
    );
}
