//! The admin console over HTTP: sign-in, sessions and CSRF, the CSP on
//! every page, and the pages and actions on a real flow's connection and a
//! delivery that died and is retried. (`console_browser` drives it in
//! Chromium.)

use std::time::{Duration, Instant};

use crate::support::config::ADMIN_KEY;
use crate::support::receiver::Receiver;
use crate::support::tcp_proxy::Proxy;
use crate::support::{Harness, Options, Store};
use notion_oauth_gateway::standin::Fault;
use notion_oauth_gateway::vault::store::Evidence;

/// The console's CSP, as every console page must carry it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Options with the console on (and so the admin listener).
pub(crate) fn console(o: Options) -> Options {
    let mut o = o
        .set("admin.enabled", true)
        .set("admin.key_env", "TEST_ADMIN_KEY");
    o.admin_listener = true;
    o
}

/// A browser-like client: cookies kept, redirects not followed.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn sign_in(c: &reqwest::Client, admin: &str, key: &str) -> reqwest::Response {
    c.post(format!("{admin}/admin/login"))
        .form(&[("key", key), ("next", "/admin")])
        .send()
        .await
        .expect("sign in")
}

/// The CSRF token in a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with its CSRF token")
        + 19;
    html[at..].split('"').next().expect("token").to_string()
}

async fn page(c: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = c.get(url).send().await.expect("page");
    let status = r.status().as_u16();
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, csp, r.text().await.expect("text"))
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_session_every_page_sends_to_the_sign_in_and_a_post_is_refused() {
    let h = Harness::start(console(Options::default())).await;
    let admin = h.admin_url.clone().expect("admin");
    let c = client();
    for path in [
        "/admin",
        "/admin/connections?q=x",
        "/admin/deliveries",
        "/admin/plugins",
        "/admin/connections/b1",
    ] {
        let r = c.get(format!("{admin}{path}")).send().await.expect("get");
        assert_eq!(r.status(), 303, "{path}");
        let to = crate::support::location(&r);
        assert!(
            to.starts_with("/admin/login?next=%2Fadmin"),
            "{path} -> {to}"
        );
        assert_eq!(r.headers()["content-security-policy"], CSP, "{path}");
    }
    let r = c
        .post(format!("{admin}/admin/deliveries/retry-dead"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    assert_eq!(
        c.get(h.url("/admin"))
            .send()
            .await
            .expect("public")
            .status(),
        404,
        "never on the public listener"
    );
    let (status, csp, login) = page(&c, &format!("{admin}/admin/login")).await;
    assert_eq!((status, csp.as_str()), (200, CSP));
    assert!(login.contains("type=\"password\""), "{login}");
    assert!(!login.contains("<script>"), "no inline script");
    let css = c
        .get(format!("{admin}/admin/assets/admin.css"))
        .send()
        .await
        .expect("css");
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_needs_the_key_sets_a_strict_cookie_and_is_rate_limited() {
    let h = Harness::start(console(Options::default())).await;
    let admin = h.admin_url.clone().expect("admin");
    let c = client();
    let wrong = sign_in(&c, &admin, "not-the-key").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = sign_in(&c, &admin, ADMIN_KEY).await;
    assert_eq!(right.status(), 303);
    let cookie = right.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let (status, csp, overview) = page(&c, &format!("{admin}/admin")).await;
    assert_eq!((status, csp.as_str()), (200, CSP));
    assert!(overview.contains("Flows completed"), "{overview}");
    assert!(overview.contains("<svg"), "the chart, drawn on the server");

    // A POST without the session's CSRF token is refused, and changes nothing.
    let r = c
        .post(format!("{admin}/admin/logout"))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    assert_eq!(
        page(&c, &format!("{admin}/admin")).await.0,
        200,
        "still signed in"
    );
    let csrf = csrf_of(&overview);
    let out = c
        .post(format!("{admin}/admin/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    assert_eq!(
        page(&c, &format!("{admin}/admin")).await.0,
        303,
        "signed out"
    );

    // Five attempts a minute per address; the sixth waits.
    let other = client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(sign_in(&other, &admin, "guess").await.status().as_u16());
    }
    let limited = sign_in(&other, &admin, ADMIN_KEY).await;
    assert_eq!(limited.status(), 429, "{statuses:?}");
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_connection_is_found_shown_without_its_token_and_refreshed_from_the_console() {
    for store in Store::BOTH {
        let h = Harness::start(console(Options::default().on(store))).await;
        let admin = h.admin_url.clone().expect("admin");
        assert_eq!(h.browser().connect("").await.status(), 200, "{store:?}");
        let c = client();
        assert_eq!(sign_in(&c, &admin, ADMIN_KEY).await.status(), 303);
        let (_, _, list) = page(&c, &format!("{admin}/admin/connections?q=ADA%40stand-in")).await;
        assert!(
            list.contains("Stand-in Workspace"),
            "{store:?} search by email:\n{list}"
        );
        assert!(list.contains("1 connection matching"), "{list}");
        let (_, _, none) = page(&c, &format!("{admin}/admin/connections?q=nobody-here")).await;
        assert!(none.contains("0 connections"), "{none}");
        let bot = h.gateway.vault().store().connections().await.expect("c")[0]
            .bot_id
            .clone();
        let (status, csp, detail) = page(&c, &format!("{admin}/admin/connections/{bot}")).await;
        assert_eq!((status, csp.as_str()), (200, CSP));
        assert!(
            detail.contains("ada@stand-in.invalid") && detail.contains("version 1"),
            "{detail}"
        );
        assert!(!detail.contains("CANARY_"), "never a token: {detail}");
        let csrf = csrf_of(&detail);
        let r = c
            .post(format!("{admin}/admin/connections/{bot}/refresh"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("refresh");
        assert_eq!(r.status(), 303, "{store:?}");
        assert!(crate::support::location(&r).ends_with("?done=refreshed"));
        assert_eq!(h.stand_in.refresh_requests(), 1);
        let (_, _, after) = page(
            &c,
            &format!("{admin}/admin/connections/{bot}?done=refreshed"),
        )
        .await;
        assert!(
            after.contains("version 2") && after.contains("Refreshed:"),
            "{after}"
        );
        assert!(
            after.contains(">ok<"),
            "the refresh listed with its outcome: {after}"
        );
        // Deliver again: a second delivery of the current token, under a
        // key of its own, the connection unchanged.
        let r = c
            .post(format!("{admin}/admin/connections/{bot}/deliver-again"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("deliver again");
        assert!(
            crate::support::location(&r).ends_with("?done=again"),
            "{store:?}"
        );
        let start = Instant::now();
        loop {
            let d = h
                .gateway
                .vault()
                .store()
                .deliveries_of(&bot, 10)
                .await
                .expect("d");
            let again: Vec<_> = d.iter().filter(|d| d.id.contains(":again-")).collect();
            if again.len() == 1 && again[0].status == "delivered" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{store:?}: {d:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let c2 = h
            .gateway
            .vault()
            .store()
            .connection(&bot)
            .await
            .expect("c")
            .expect("c");
        assert_eq!(c2.version, 2, "the connection is not changed by a delivery");
        // The overview counts the flow once its figures reach the store.
        h.gateway.flow_figures().flush().await;
        let (_, _, overview) = page(&c, &format!("{admin}/admin")).await;
        assert!(
            overview.contains("<th scope=\"row\">Flows completed</th><td>1</td><td>1</td>"),
            "{store:?}: {overview}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_delivery_is_retried_from_the_console_once_the_consumer_is_back() {
    for store in Store::BOTH {
        let receiver = Receiver::start(200, Duration::ZERO).await;
        let proxy = Proxy::start(receiver.addr).await;
        proxy.set_down(true);
        let o = Options::webhook_to(proxy.addr)
            .on(store)
            .set("store.delivery_max_attempts", 1);
        let h = Harness::start(console(o)).await;
        let admin = h.admin_url.clone().expect("admin");
        // One attempt, to a webhook that is down: the token is parked dead.
        assert_ne!(h.browser().connect("").await.status(), 200, "not delivered");
        let c = client();
        assert_eq!(sign_in(&c, &admin, ADMIN_KEY).await.status(), 303);
        let start = Instant::now();
        let deliveries = loop {
            let (_, _, html) = page(&c, &format!("{admin}/admin/deliveries")).await;
            if html.contains("Retry now") {
                break html;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{store:?}: never dead: {html}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(deliveries.contains("class=\"dead\""), "{deliveries}");
        let at = deliveries.find("/retry\"").expect("retry form");
        let action_start = deliveries[..at].rfind("action=\"").expect("action") + 8;
        let action = &deliveries[action_start..at + 6];
        proxy.set_down(false);
        let r = c
            .post(format!("{admin}{action}"))
            .form(&[("csrf", csrf_of(&deliveries).as_str())])
            .send()
            .await
            .expect("retry");
        assert_eq!(r.status(), 303, "{store:?} {action}");
        let start = Instant::now();
        while receiver.requests().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{store:?}: not retried"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let start = Instant::now();
        loop {
            let counts = h
                .gateway
                .vault()
                .store()
                .outbox_counts()
                .await
                .expect("counts");
            if counts == vec![("delivered".to_string(), 1)] {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{store:?}: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, _, after) = page(&c, &format!("{admin}/admin/deliveries")).await;
        assert!(after.contains("Nothing waiting"), "{after}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_exchange_is_listed_with_why_and_never_with_a_token() {
    for store in Store::BOTH {
        let o = Options::default().on(store).set("notion.timeout_ms", 500);
        let h = Harness::start(console(o)).await;
        let admin = h.admin_url.clone().expect("admin");
        // Notion answers 200 with a body cut short (a token may exist that
        // the gateway never read), then does not answer in time.
        h.stand_in.push_fault(Fault::Respond {
            status: 200,
            body: b"{\"access_token\": \"CANARY_TOKEN_lost\"".to_vec(),
            headers: vec![],
        });
        h.stand_in
            .push_fault(Fault::Delay(Duration::from_millis(1_500)));
        for _ in 0..2 {
            assert!(h.browser().connect("").await.status().as_u16() >= 400);
        }
        // And one whose instance stopped mid-exchange: swept by the worker.
        let vault_store = h.gateway.vault().store();
        assert!(
            vault_store
                .begin_exchange("stopped-mid-way")
                .await
                .expect("begin")
        );
        // Swept are rows older than the grace, to the millisecond.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let swept = vault_store
            .sweep_lost(Evidence::Exchange, Duration::ZERO)
            .await
            .expect("sweep");
        assert!(swept.contains(&"stopped-mid-way".to_string()), "{swept:?}");

        let c = client();
        assert_eq!(sign_in(&c, &admin, ADMIN_KEY).await.status(), 303);
        let (status, _, html) = page(&c, &format!("{admin}/admin/deliveries")).await;
        assert_eq!(status, 200);
        assert!(!html.contains("CANARY_TOKEN"), "{store:?}: {html}");
        let whys: Vec<&str> = html
            .split("<td class=\"why\">")
            .skip(1)
            .filter_map(|cell| cell.split("</td>").next())
            .collect();
        assert_eq!(whys.len(), 3, "{store:?}: {html}");
        assert!(
            whys.iter()
                .any(|w| w.contains("no readable answer came back")
                    && w.contains("did not answer within")),
            "{store:?}: {whys:?}"
        );
        assert!(
            whys.iter()
                .filter(|w| w.contains("no readable answer came back"))
                .count()
                == 2,
            "{store:?}: {whys:?}"
        );
        assert!(
            whys.iter()
                .any(|w| w.contains("stopped before the token reached the store")),
            "{store:?}: {whys:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plugins_page_shows_each_build_its_log_lines_and_a_refused_reload() {
    let mut o = console(Options::default());
    o.watch = true;
    let h = Harness::start(o).await;
    let admin = h.admin_url.clone().expect("admin");
    assert_eq!(h.browser().connect("").await.status(), 200);
    let c = client();
    assert_eq!(sign_in(&c, &admin, ADMIN_KEY).await.status(), 303);
    let url = format!("{admin}/admin/plugins");
    let (status, csp, html) = page(&c, &url).await;
    assert_eq!((status, csp.as_str()), (200, CSP));
    for fact in [
        "notion:oauth/consumer@0.1.",
        "notion:oauth/view@0.1.",
        "Loaded</dt><dd><time datetime=\"20",
        "none since start",
        // The default consumer's line about the flow just made.
        "new authorization: workspace Stand-in Workspace",
    ] {
        assert!(html.contains(fact), "{fact}: {html}");
    }
    assert!(
        !html.contains("CANARY") && !html.contains("secret_"),
        "{html}"
    );

    // A broken build of the consumer: refused, and said so, with its hash.
    let plugins = h.dir.path().join("plugins");
    let broken = b"\0asm\x0d\0\x01\0 not a component".to_vec();
    std::fs::write(plugins.join("default-consumer.wasm.tmp"), &broken).expect("write");
    std::fs::rename(
        plugins.join("default-consumer.wasm.tmp"),
        plugins.join("default-consumer.wasm"),
    )
    .expect("rename");
    let start = Instant::now();
    let html = loop {
        let (_, _, html) = page(&c, &url).await;
        if html.contains("new build refused") {
            break html;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the refusal never showed: {html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&broken))
    };
    assert!(html.contains(&hash), "the refused file's hash: {html}");
    assert!(html.contains("the previous one keeps serving"), "{html}");
    assert!(
        html.contains("level-error\">error <span class=\"muted\">(gateway)</span>"),
        "the refusal is among the consumer's recent lines: {html}"
    );
    assert_eq!(
        h.browser().connect("").await.status(),
        200,
        "the old build serves"
    );
}
