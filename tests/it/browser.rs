//! A real browser (Debian's headless Chromium, driven through ChromeDriver)
//! walks the `dev` demo: landing page → stand-in consent on another site
//! (`localhost` vs `127.0.0.1`) → callback → success page, and the cancel
//! path. It proves the binding cookie survives the cross-site return from
//! "Notion" (checklist row 2), and, as a negative control, that the same
//! cookie made `SameSite=Strict` does not.
//!
//! Screenshots of every page go to `target/browser-artifacts/`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::process::{Running, dev_demo};
use crate::support::repo;
use fantoccini::{Client, ClientBuilder, Locator};

const BIN: &str = env!("CARGO_BIN_EXE_notion-oauth-gateway");

pub(crate) fn artifacts() -> PathBuf {
    let dir = repo().join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn free_port() -> u16 {
    crate::support::gateway_process::free_port().port()
}

/// ChromeDriver and a headless Chromium session with a fresh profile.
pub(crate) async fn browser(profile: &std::path::Path) -> (Running, Client) {
    for tool in ["chromium", "chromedriver"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "{tool} is not installed; `make test-deps` (run by `make test`) installs Debian's chromium and chromium-driver"
        );
    }
    let port = free_port();
    let driver = Running(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--window-size=1000,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                assert!(Instant::now() < deadline, "no browser session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

pub(crate) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(artifacts().join(name), png).expect("write screenshot");
}

pub(crate) async fn text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .expect("body")
        .text()
        .await
        .expect("text")
}

/// Clicks what `target` finds, then waits for `next` on the page it leads to.
async fn click_then(c: &Client, target: Locator<'_>, next: Locator<'_>) {
    c.find(target)
        .await
        .expect("element to click")
        .click()
        .await
        .expect("click");
    c.wait().for_element(next).await.expect("the next page");
}

/// Clicks a button on the stand-in's consent page and waits until the
/// browser is back on the gateway's site (the consent page has an `h1` too).
async fn decide(c: &Client, button: &str) {
    c.find(Locator::Css(button))
        .await
        .expect("element to click")
        .click()
        .await
        .expect("click");
    let start = Instant::now();
    while c.current_url().await.expect("url").host_str() == Some("localhost") {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "still on the consent page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait()
        .for_element(Locator::Css("h1"))
        .await
        .expect("the next page");
}

/// From the landing page to the stand-in's consent page.
async fn to_consent(c: &Client, url: &str, prefix: &str) {
    c.goto(&format!("{url}/")).await.expect("landing");
    screenshot(c, &format!("{prefix}-1-landing.png")).await;
    click_then(
        c,
        Locator::LinkText("Connect Notion"),
        Locator::Css("#allow"),
    )
    .await;
    let consent = c.current_url().await.expect("url");
    assert_eq!(
        consent.host_str(),
        Some("localhost"),
        "the stand-in is on another site than the gateway (127.0.0.1)"
    );
    assert!(text(c).await.contains("STAND-IN"));
    screenshot(c, &format!("{prefix}-2-consent.png")).await;
}

#[tokio::test]
async fn row02_the_binding_cookie_survives_the_cross_site_return_in_chromium() {
    let data = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("profile");
    let (_demo, url) = dev_demo(BIN, data.path());
    let (_driver, c) = browser(profile.path()).await;

    // Allow: the success page, on the gateway's site.
    to_consent(&c, &url, "allow").await;
    decide(&c, "#allow").await;
    let done = c.current_url().await.expect("url");
    assert_eq!(done.host_str(), Some("127.0.0.1"));
    assert_eq!(
        done.query(),
        None,
        "the code and state left the address bar: {done}"
    );
    let page = text(&c).await;
    assert!(
        page.contains("Connected to Stand-in Workspace"),
        "the state cookie came back on the cross-site redirect: {page}"
    );
    screenshot(&c, "allow-3-success.png").await;

    // Cancel: the access-denied page.
    to_consent(&c, &url, "cancel").await;
    decide(&c, "#cancel").await;
    let page = text(&c).await;
    assert!(page.contains("not connected"), "{page}");
    screenshot(&c, "cancel-3-denied.png").await;

    // Negative control: the same cookie with SameSite=Strict is not sent on
    // the cross-site return, and the gateway refuses the state.
    to_consent(&c, &url, "strict").await;
    c.goto(&format!("{url}/healthz"))
        .await
        .expect("gateway site");
    let cookie = c
        .get_named_cookie("nog_binding")
        .await
        .expect("the binding cookie is set");
    let mut strict = cookie.clone();
    strict.set_same_site(Some(cookie::SameSite::Strict));
    c.delete_cookie("nog_binding").await.expect("delete");
    c.add_cookie(strict).await.expect("add strict cookie");
    c.back().await.expect("back to consent");
    c.wait()
        .for_element(Locator::Css("#allow"))
        .await
        .expect("consent page again");
    decide(&c, "#allow").await;
    let page = text(&c).await;
    assert!(
        page.contains("another browser") && !page.contains("Connected to"),
        "a Strict cookie must not survive the cross-site return: {page}"
    );
    screenshot(&c, "strict-3-refused.png").await;
    c.close().await.expect("close");
}
