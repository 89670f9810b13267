//! Plugin hosting: the compile cache, settings through wasi:config, and
//! sandbox isolation between requests.

use crate::support::{Harness, Options, config_text};
use notion_oauth_gateway::config::Config;
use notion_oauth_gateway::plugins::Plugins;

fn config_in(dir: &std::path::Path) -> Config {
    let o = Options {
        shared_cache: false,
        ..Options::default()
    };
    let text = config_text(&o, dir, "127.0.0.1:9", "127.0.0.1:9");
    crate::support::load_config(&text, "s", None).expect("config")
}

#[tokio::test]
async fn compiled_components_are_cached_and_reused_on_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_in(dir.path());
    let first = Plugins::load(&config).await.expect("first load");
    assert!(!first.consumer().from_cache() && !first.view().from_cache());
    let cache = dir.path().join("data/plugin-cache");
    let entries = std::fs::read_dir(&cache).expect("cache dir").count();
    assert_eq!(entries, 2, "one artifact per component");
    let second = Plugins::load(&config).await.expect("second load");
    assert!(second.consumer().from_cache() && second.view().from_cache());
    assert_eq!(first.consumer().sha256(), second.consumer().sha256());
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_in(dir.path());
    Plugins::load(&config).await.expect("first load");
    for entry in std::fs::read_dir(dir.path().join("data/plugin-cache")).expect("cache") {
        std::fs::write(entry.expect("entry").path(), b"garbage").expect("corrupt");
    }
    let again = Plugins::load(&config).await.expect("recompiled");
    assert!(!again.consumer().from_cache());
    let third = Plugins::load(&config).await.expect("cached again");
    assert!(
        third.consumer().from_cache(),
        "the recompiled artifact replaced the corrupt one"
    );
}

#[tokio::test]
async fn settings_reach_the_plugin_through_wasi_config() {
    let o = Options::default()
        .set("plugins.settings.default-view.app_name", "Acme <Notes>")
        .set(
            "plugins.settings.default-view.continue_url",
            "https://app.example.com/done",
        );
    let h = Harness::start(o).await;
    let html = h.browser().connect("").await.text().await.expect("page");
    assert!(html.contains("Acme &lt;Notes&gt;"), "{html}");
    assert!(
        html.contains("href=\"https://app.example.com/done\""),
        "{html}"
    );
}

#[tokio::test]
async fn trapped_instances_return_their_pool_slots() {
    // A pool of two instance slots and ten calls that each exhaust memory and
    // trap: every call must fail the same clean way, which it can only do if
    // each trapped instance is dropped and its slot and memory returned.
    let o = Options::faulty("consumer", "oom")
        .set("plugins.max_concurrent", 2)
        .set("plugins.memory_limit_mib", 16);
    let h = Harness::start(o).await;
    for _ in 0..10 {
        assert_eq!(h.browser().connect("").await.status(), 202);
    }
    assert_eq!(h.browser().get(&h.url("/healthz")).await.status(), 200);
}
