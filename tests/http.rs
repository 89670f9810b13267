//! The HTTP surface: documents, health, unknown routes and methods, the
//! security headers on every response, base paths and size limits.

mod support;

use support::{Browser, Harness, Options};

fn with_documents(dir_note: &str) -> Options {
    let mut o = Options::default();
    let docs = support::repo().join("config");
    let txt = std::env::temp_dir().join(format!("nog-doc-{}-{dir_note}.txt", std::process::id()));
    std::fs::write(&txt, "plain <text>").expect("write txt");
    o.tail = format!(
        "[documents]\n\"/terms\" = {:?}\n\"/privacy\" = {:?}\n\"/notes\" = {:?}\n",
        docs.join("terms.md").display().to_string(),
        docs.join("privacy.md").display().to_string(),
        txt.display().to_string()
    );
    o
}

#[tokio::test]
async fn markdown_documents_render_to_html_and_text_is_served_as_text() {
    let h = Harness::start(with_documents("render")).await;
    let b = Browser::new(&h.gateway_url);
    let terms = b.get(&h.url("/terms")).await;
    assert_eq!(terms.status(), 200);
    assert_eq!(terms.headers()["content-type"], "text/html; charset=utf-8");
    let html = terms.text().await.expect("terms");
    assert!(
        html.contains("<title>Terms of Use</title>")
            && html.contains("<h2>1. What the Integration does</h2>"),
        "{html}"
    );
    let privacy = b
        .get(&h.url("/privacy"))
        .await
        .text()
        .await
        .expect("privacy");
    assert!(privacy.contains("<h1>Privacy Policy</h1>"));
    let notes = b.get(&h.url("/notes")).await;
    assert_eq!(notes.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(notes.text().await.expect("notes"), "plain <text>");
}

#[tokio::test]
async fn health_unknown_routes_and_methods() {
    let h = Harness::start(Options::default()).await;
    let b = Browser::new(&h.gateway_url);
    let health = b.get(&h.url("/healthz")).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok\n");
    assert_eq!(
        b.client
            .head(h.url("/healthz"))
            .send()
            .await
            .expect("head")
            .status(),
        200
    );
    assert_eq!(b.get(&h.url("/nope")).await.status(), 404);
    let post = b
        .client
        .post(h.url("/auth/notion/redirect"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
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
        server: vec!["landing_page = true".into()],
        ..Options::default()
    };
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
