//! The admin console in headless Chromium: sign in, find the connection a
//! real flow made through the stand-in, open it, see its delivery dead
//! (the consumer's webhook was down), retry it from the console once the
//! webhook is back, and see it delivered. Every page is saved as a
//! screenshot at 1280×800 and at 390×844 under `target/browser-artifacts/`
//! (`console-*.png`).

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::admin::console;
use crate::browser::{browser, screenshot};
use crate::support::config::ADMIN_KEY;
use crate::support::receiver::Receiver;
use crate::support::tcp_proxy::Proxy;
use crate::support::{Harness, Options};

/// Both sizes of one page.
async fn shots(c: &Client, name: &str) {
    c.set_window_size(1280, 800).await.expect("desktop size");
    screenshot(c, &format!("console-{name}-1280x800.png")).await;
    c.set_window_size(390, 844).await.expect("phone size");
    screenshot(c, &format!("console-{name}-390x844.png")).await;
    c.set_window_size(1280, 800).await.expect("desktop size");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

/// The page's text; empty while the browser is between pages.
async fn text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_for_text(c: &Client, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let body = text(c).await;
        if body.contains(needle) {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {needle:?} on the page:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_signs_in_finds_the_connection_and_retries_its_dead_delivery() {
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let proxy = Proxy::start(receiver.addr).await;
    proxy.set_down(true);
    let o = Options::webhook_to(proxy.addr).set("store.delivery_max_attempts", 1);
    let h = Harness::start(console(o)).await;
    let admin = h.admin_url.clone().expect("admin");
    assert_ne!(
        h.browser().connect("").await.status(),
        200,
        "the webhook is down"
    );
    h.gateway.flow_figures().flush().await;

    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = browser(profile.path()).await;
    c.goto(&format!("{admin}/admin/deliveries"))
        .await
        .expect("console");
    c.wait()
        .for_element(Locator::Css("input[name=key]"))
        .await
        .expect("the sign-in page");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/admin/login")
    );
    shots(&c, "1-sign-in").await;
    c.find(Locator::Css("input[name=key]"))
        .await
        .expect("key field")
        .send_keys(ADMIN_KEY)
        .await
        .expect("type the key");
    click(&c, "form[action='/admin/login'] button").await;
    let deliveries = wait_for_text(&c, "Retry now").await;
    assert!(
        deliveries.contains("dead"),
        "back where the operator was going: {deliveries}"
    );
    shots(&c, "4-deliveries-dead").await;

    c.goto(&format!("{admin}/admin")).await.expect("overview");
    let overview = wait_for_text(&c, "Flows per minute").await;
    assert!(overview.contains("Flows failed") && overview.contains("Flows completed"));
    // Times are shown in the viewer's zone by the console's own script,
    // which the CSP lets run (the HTML says UTC, `…Z`).
    let shown = c
        .find(Locator::Css("main time"))
        .await
        .expect("a time")
        .text()
        .await
        .expect("text");
    assert!(
        !shown.ends_with('Z') && !shown.is_empty(),
        "localised: {shown:?}"
    );
    shots(&c, "2-overview").await;

    click(&c, "nav a[href='/admin/connections']").await;
    let list = wait_for_text(&c, "Stand-in Workspace").await;
    assert!(list.contains("ada@stand-in.invalid"), "{list}");
    shots(&c, "3-connections").await;
    click(&c, "table a").await;
    let detail = wait_for_text(&c, "Bot id").await;
    assert!(
        detail.contains("version 1") && detail.contains("dead"),
        "{detail}"
    );
    assert!(!detail.contains("CANARY_"), "never a token");
    shots(&c, "3-connection").await;
    c.back().await.expect("back");
    wait_for_text(&c, "Search bot id").await;
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/admin/connections"),
        "the back button works"
    );

    // The webhook is back: retry from the console, after its confirmation.
    proxy.set_down(false);
    click(&c, "nav a[href='/admin/deliveries']").await;
    wait_for_text(&c, "Retry now").await;
    click(&c, "td form button").await;
    c.accept_alert().await.expect("the confirmation");
    wait_for_text(&c, "Made due again").await;
    let start = Instant::now();
    while receiver.requests().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "not retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let start = Instant::now();
    loop {
        c.refresh().await.expect("reload");
        if text(&c).await.contains("Nothing waiting") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "not delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shots(&c, "5-deliveries-delivered").await;
    click(&c, "nav a[href='/admin/plugins']").await;
    let plugins = wait_for_text(&c, "webhook-consumer").await;
    assert!(
        plugins.contains("default-view") && plugins.contains("SHA-256"),
        "{plugins}"
    );
    shots(&c, "6-plugins").await;
    c.close().await.expect("close");
}
