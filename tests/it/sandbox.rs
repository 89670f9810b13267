//! The sandbox holds for guests in every language: a consumer's error or trap
//! fails that delivery only (the token is kept and retried: 202), a view's
//! trap gives the host's own page, a guest asking for 1 GiB fails cleanly, an endless loop is stopped at its
//! deadline while other requests are served. (The Rust guest's cases are in
//! failures.rs; these are the Python and JavaScript twins.)

use std::time::{Duration, Instant};

use crate::support::{Harness, Options};

fn faulty(plugin: &str, role: &str, mode: &str) -> Options {
    let (consumer, view) = match role {
        "consumer" => (plugin, "default-view"),
        _ => ("default-consumer", plugin),
    };
    Options::with_plugins(consumer, view).set(&format!("plugins.settings.{plugin}.{role}"), mode)
}

async fn connect(h: &Harness) -> (u16, String) {
    let r = h.browser().connect("").await;
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn healthy(h: &Harness) {
    assert_eq!(h.browser().get(&h.url("/healthz")).await.status(), 200);
}

async fn consumer_error_keeps_the_token_for_a_retry(plugin: &str) {
    let h = Harness::start(faulty(plugin, "consumer", "error")).await;
    let (status, body) = connect(&h).await;
    assert_eq!(status, 202);
    assert!(body.contains("being completed"), "{body}");
    let d = h.deliveries(5).await;
    assert_eq!(
        (d[0].status.as_str(), d[0].attempts),
        ("pending", 1),
        "{d:?}"
    );
}

/// `status`: 202 where the guest's crash is a trap (kept, retried); 500 for
/// JavaScript, where componentize-js turns an uncaught exception into the
/// function's `err` with `retryable` unset, which the gateway takes at its word
/// (parked as dead, error page).
async fn trap_fails_only_that_call(plugin: &str, status: u16) {
    let h = Harness::start(faulty(plugin, "consumer", "trap")).await;
    for _ in 0..2 {
        assert_eq!(connect(&h).await.0, status);
    }
    healthy(&h).await;
    let h = Harness::start(faulty(plugin, "view", "trap")).await;
    let (status, body) = connect(&h).await;
    assert_eq!(status, 200, "the flow succeeded; the host's page stands in");
    assert!(body.contains("Notion connected"), "{body}");
}

async fn allocating_1_gib_fails_cleanly(plugin: &str) {
    let h = Harness::start(faulty(plugin, "consumer", "oom")).await;
    assert_eq!(connect(&h).await.0, 202);
    healthy(&h).await;
    // The next instance is fresh: a healthy flow through the same gateway
    // proves nothing of the failed one was kept.
    assert_eq!(
        h.browser().get(&h.url("/auth/notion/start")).await.status(),
        302
    );
}

async fn endless_loop_is_stopped_while_others_are_served(plugin: &str) {
    let o = faulty(plugin, "consumer", "loop").set("plugins.deadline_ms", 1500);
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
    assert_eq!(status, 202);
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(4000),
        "stopped after {took:?}"
    );
}

macro_rules! sandbox_tests {
    ($lang:ident, $plugin:literal, $trap_status:literal) => {
        mod $lang {
            #[tokio::test]
            async fn consumer_error_keeps_the_token_for_a_retry() {
                super::consumer_error_keeps_the_token_for_a_retry($plugin).await;
            }
            #[tokio::test]
            async fn trap_fails_only_that_call() {
                super::trap_fails_only_that_call($plugin, $trap_status).await;
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

sandbox_tests!(python, "faulty-py", 202);
sandbox_tests!(javascript, "faulty-js", 500);

/// `default-consumer` replaced by the component `wat` describes; the error
/// loading it gives, if any.
async fn load_as_consumer(wat: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        shared_cache: false,
        ..Options::default()
    }
    .set("plugins.deadline_ms", 500);
    let text = crate::support::config_text(&o, dir.path(), "127.0.0.1:9", "127.0.0.1:9");
    let bytes = wat::parse_str(wat).expect("a valid component");
    std::fs::write(dir.path().join("plugins/default-consumer.wasm"), bytes).expect("write");
    let config = crate::support::load_config(&text, "s", None).expect("config");
    notion_oauth_gateway::plugins::Plugins::load(&config)
        .await
        .map(drop)
        .map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
}

#[tokio::test]
async fn sandbox_a_component_declaring_more_memories_than_a_calls_share_is_refused_at_load() {
    let five = "(component
        (core module $m (memory 1))
        (core instance (instantiate $m)) (core instance (instantiate $m))
        (core instance (instantiate $m)) (core instance (instantiate $m))
        (core instance (instantiate $m)))";
    let err = load_as_consumer(five).await.expect_err("refused");
    assert!(err.contains("5 Wasm linear memories"), "{err}");
    assert!(err.contains("maximum of 4"), "{err}");
}

#[tokio::test]
async fn sandbox_a_start_that_waits_on_the_host_cannot_hang_the_load() {
    // A start function that blocks on a pollable for a minute.
    let waits = r#"(component
        (import "wasi:io/poll@0.2.0" (instance $poll
            (export "pollable" (type (sub resource)))
            (export "[method]pollable.block" (func (param "self" (borrow 0))))))
        (alias export $poll "pollable" (type $pollable))
        (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
            (alias outer 1 $pollable (type $p))
            (export "pollable" (type (eq $p)))
            (export "subscribe-duration" (func (param "when" u64) (result (own 0))))))
        (core func $subscribe (canon lower (func $clock "subscribe-duration")))
        (core func $block (canon lower (func $poll "[method]pollable.block")))
        (core module $m
            (import "host" "subscribe" (func $subscribe (param i64) (result i32)))
            (import "host" "block" (func $block (param i32)))
            (func $start (call $block (call $subscribe (i64.const 60000000000))))
            (func (export "noop"))
            (start $start))
        (core instance $host (export "subscribe" (func $subscribe)) (export "block" (func $block)))
        (core instance $i (instantiate $m (with "host" (instance $host))))
        (func $noop (canon lift (core func $i "noop")))
        (instance $consumer
            (export "consume-token-info" (func $noop))
            (export "consume-redirect-error" (func $noop)))
        (export "notion:oauth/consumer@0.1.0" (instance $consumer)))"#;
    let started = Instant::now();
    let err = load_as_consumer(waits).await.expect_err("refused");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("did not finish instantiating within its deadline"),
        "{err}"
    );
}

#[tokio::test]
async fn sandbox_a_call_holding_too_many_host_resources_is_stopped() {
    // The consumer makes 10,000 header-field resources and keeps them all:
    // past the call's share of host resources it traps, and the token is
    // kept for a retry.
    let h = Harness::start(faulty("faulty", "consumer", "hoard")).await;
    let (status, body) = connect(&h).await;
    assert_eq!(status, 202, "{body}");
    healthy(&h).await;
}
