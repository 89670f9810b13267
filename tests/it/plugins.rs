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

#[tokio::test]
async fn cache_integrity_a_tampered_or_swapped_artifact_is_recompiled_never_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_in(dir.path());
    let cache = config.plugins.cache_dir.clone();
    let first = Plugins::load(&config).await.expect("load");
    assert!(!first.view().from_cache() && !first.consumer().from_cache());
    let hashes = (
        first.consumer().sha256().to_string(),
        first.view().sha256().to_string(),
    );
    drop(first);
    let artifact = |hash: &str| {
        std::fs::read_dir(&cache)
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(hash))
            })
            .expect("an artifact for the component")
    };
    let (consumer, view) = (artifact(&hashes.0), artifact(&hashes.1));
    let second = Plugins::load(&config).await.expect("load");
    assert!(second.view().from_cache(), "a good artifact is used");
    drop(second);

    // One plugin's artifact under the other's name: valid native code, but
    // not this component's.
    std::fs::copy(&consumer, &view).expect("swap");
    let swapped = Plugins::load(&config).await.expect("load");
    assert!(
        !swapped.view().from_cache(),
        "another component's artifact is not run"
    );
    assert!(swapped.consumer().from_cache());
    drop(swapped);
    assert!(
        Plugins::load(&config)
            .await
            .expect("load")
            .view()
            .from_cache(),
        "rewritten"
    );

    // One byte changed.
    let mut bytes = std::fs::read(&consumer).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&consumer, bytes).expect("tamper");
    let tampered = Plugins::load(&config).await.expect("load");
    assert!(
        !tampered.consumer().from_cache(),
        "a tampered artifact is recompiled"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn cache_integrity_a_cache_folder_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_in(dir.path());
    let cache = config.plugins.cache_dir.clone();
    drop(Plugins::load(&config).await.expect("load"));
    assert!(
        Plugins::load(&config)
            .await
            .expect("load")
            .view()
            .from_cache()
    );
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let shared = Plugins::load(&config).await.expect("load");
    assert!(!shared.view().from_cache() && !shared.consumer().from_cache());
}
