//! The sandbox holds for guests in every language: a trap is an error page, a
//! guest asking for 1 GiB fails cleanly, an endless loop is stopped at its
//! deadline while other requests are served. (The Rust guest's cases are in
//! failures.rs; these are the Python and JavaScript twins.)

mod support;

use std::time::{Duration, Instant};

use support::{Harness, Options};

fn faulty(plugin: &str, role: &str, mode: &str) -> Options {
    let (consumer, view) = match role {
        "consumer" => (plugin, "default-view"),
        _ => ("default-consumer", plugin),
    };
    Options {
        tail: format!("[plugins.settings.{plugin}]\n{role} = \"{mode}\"\n"),
        ..Options::with_plugins(consumer, view)
    }
}

async fn connect(h: &Harness) -> (u16, String) {
    let r = h.browser().connect("").await;
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn healthy(h: &Harness) {
    assert_eq!(h.browser().get(&h.url("/healthz")).await.status(), 200);
}

async fn consumer_error_is_the_error_page(plugin: &str) {
    let h = Harness::start(faulty(plugin, "consumer", "error")).await;
    let (status, body) = connect(&h).await;
    assert_eq!(status, 500);
    assert!(body.contains("could not be saved"), "{body}");
}

async fn trap_is_an_error_page(plugin: &str) {
    let h = Harness::start(faulty(plugin, "consumer", "trap")).await;
    for _ in 0..2 {
        assert_eq!(connect(&h).await.0, 500);
    }
    healthy(&h).await;
    let h = Harness::start(faulty(plugin, "view", "trap")).await;
    let (status, body) = connect(&h).await;
    assert_eq!(status, 200, "the flow succeeded; the host's page stands in");
    assert!(body.contains("Notion connected"), "{body}");
}

async fn allocating_1_gib_fails_cleanly(plugin: &str) {
    let h = Harness::start(faulty(plugin, "consumer", "oom")).await;
    assert_eq!(connect(&h).await.0, 500);
    healthy(&h).await;
    // The next instance is fresh: a healthy flow through the same gateway
    // proves nothing of the failed one was kept.
    assert_eq!(
        h.browser().get(&h.url("/auth/notion/start")).await.status(),
        302
    );
}

async fn endless_loop_is_stopped_while_others_are_served(plugin: &str) {
    let mut o = faulty(plugin, "consumer", "loop");
    o.plugins.push("deadline_ms = 1500".into());
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let started = Instant::now();
        healthy(&h).await;
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "health took {:?}",
            started.elapsed()
        );
    }
    let (status, took) = looping.await.expect("join");
    assert_eq!(status, 500);
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(4000),
        "stopped after {took:?}"
    );
}

macro_rules! sandbox_tests {
    ($lang:ident, $plugin:literal) => {
        mod $lang {
            #[tokio::test]
            async fn consumer_error_is_the_error_page() {
                super::consumer_error_is_the_error_page($plugin).await;
            }
            #[tokio::test]
            async fn trap_is_an_error_page() {
                super::trap_is_an_error_page($plugin).await;
            }
            #[tokio::test]
            async fn allocating_1_gib_fails_cleanly() {
                super::allocating_1_gib_fails_cleanly($plugin).await;
            }
            #[tokio::test]
            async fn endless_loop_is_stopped_while_others_are_served() {
                super::endless_loop_is_stopped_while_others_are_served($plugin).await;
            }
        }
    };
}

sandbox_tests!(python, "faulty-py");
sandbox_tests!(javascript, "faulty-js");
