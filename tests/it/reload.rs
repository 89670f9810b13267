//! The plugins folder is watched: a changed component is compiled, checked
//! and swapped in for new requests; a broken one is refused and the old build
//! keeps serving; the contract's first release keeps loading.

use std::path::Path;
use std::time::Duration;

use crate::support::{Harness, Options, component};

/// Puts `source` in place as `<dir>/<name>.wasm` the way a deploy should:
/// written beside it, then renamed over it.
fn deploy(source: &Path, dir: &Path, name: &str) {
    let tmp = dir.join(format!("{name}.wasm.tmp"));
    std::fs::copy(source, &tmp).expect("copy");
    std::fs::rename(&tmp, dir.join(format!("{name}.wasm"))).expect("rename");
}

async fn success_page(h: &Harness) -> String {
    let r = h.browser().connect("").await;
    assert_eq!(r.status(), 200);
    r.text().await.expect("page")
}

/// Waits (bounded) until a new flow's success page contains `needle`.
async fn until_page_has(h: &Harness, needle: &str) -> bool {
    for _ in 0..40 {
        if success_page(h).await.contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

fn watched() -> Options {
    Options {
        watch: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn a_new_build_of_the_view_serves_new_requests() {
    let h = Harness::start(watched()).await;
    let plugins = h.dir.path().join("plugins");
    assert!(
        success_page(&h)
            .await
            .contains("Connected to Stand-in Workspace")
    );
    deploy(&component("echo-view"), &plugins, "default-view");
    assert!(
        until_page_has(&h, "bot_id").await,
        "the echo view took over without a restart"
    );
}

#[tokio::test]
async fn a_broken_or_wrong_build_is_refused_and_the_old_one_keeps_serving() {
    let h = Harness::start(watched()).await;
    let plugins = h.dir.path().join("plugins");
    let garbage = h.dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm not really").expect("write");
    deploy(&garbage, &plugins, "default-view");
    // A consumer-only component cannot be the view either.
    tokio::time::sleep(Duration::from_millis(800)).await;
    deploy(&component("default-consumer"), &plugins, "default-view");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        assert!(
            success_page(&h)
                .await
                .contains("Connected to Stand-in Workspace")
        );
    }
    // A good build after the bad ones is still picked up.
    deploy(&component("echo-view"), &plugins, "default-view");
    assert!(until_page_has(&h, "bot_id").await);
}

#[tokio::test]
async fn a_new_unconfigured_component_is_compiled_ahead() {
    let o = Options {
        shared_cache: false,
        ..watched()
    };
    let h = Harness::start(o).await;
    let cache = h.dir.path().join("data/plugin-cache");
    let before = std::fs::read_dir(&cache).expect("cache").count();
    deploy(
        &component("echo-view"),
        &h.dir.path().join("plugins"),
        "echo-view",
    );
    let mut after = before;
    // Up to 30 s: on a shared machine under load the compile can take long.
    for _ in 0..120 {
        after = std::fs::read_dir(&cache).expect("cache").count();
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        after,
        before + 1,
        "its compiled code is cached, ready for a config change"
    );
    assert!(
        success_page(&h).await.contains("Connected to"),
        "the view is unchanged"
    );
}

#[tokio::test]
async fn a_plugin_built_from_the_first_released_wit_keeps_loading_and_serving() {
    let o = Options::with_plugins("wit-0-1-0", "wit-0-1-0")
        .set("plugins.settings.wit-0-1-0.greeting", "hello");
    let h = Harness::start(o).await;
    let r = h.browser().connect("?data=v1").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.starts_with("wit 0.1.0 plugin: connected Stand-in Workspace")
            && page.contains("hello app_data=v1"),
        "{page}"
    );
}
