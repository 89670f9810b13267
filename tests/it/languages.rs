//! Plugins written in Python and JavaScript, run by the real gateway through
//! the whole flow, with key-value storage granted.

use crate::support::{Harness, Options};
use notion_oauth_gateway::database::Database;
use notion_oauth_gateway::database::keyvalue::Bucket;

fn example(name: &str, keyvalue: bool) -> Options {
    let o = Options::with_plugins(name, name)
        .set(&format!("plugins.settings.{name}.app_name"), "Acme Notes");
    if keyvalue {
        o.set(&format!("plugins.grants.{name}.keyvalue"), true)
    } else {
        o
    }
}

async fn bucket(h: &Harness, plugin: &str) -> Bucket {
    let db = Database::open_in(&h.dir.path().join("data"))
        .await
        .expect("database");
    Bucket::open(db, plugin, "connections", 65536, 100).expect("bucket")
}

#[tokio::test]
async fn python_consumer_stores_connections_and_python_view_counts_them() {
    let h = Harness::start(example("python-example", true)).await;
    let first = h.browser().connect("").await;
    assert_eq!(first.status(), 200);
    let html = first.text().await.expect("page");
    assert!(html.contains("Connected to Stand-in Workspace"), "{html}");
    assert!(
        html.contains("Acme Notes can now use"),
        "settings reach Python: {html}"
    );
    assert!(html.contains("Workspaces connected so far: 1"), "{html}");

    let second = h.browser().connect("").await.text().await.expect("page");
    assert!(
        second.contains("Workspaces connected so far: 2"),
        "{second}"
    );

    let stored = bucket(&h, "python-example").await;
    let (keys, _) = stored.list_keys(0).await.expect("keys");
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("bot:")).count(),
        2,
        "{keys:?}"
    );
    let record = stored.get(&keys[0]).await.expect("get").expect("a record");
    let text = String::from_utf8(record).expect("json");
    assert!(
        !text.contains("CANARY_TOKEN_"),
        "no token is stored by the example: {text}"
    );
}

#[tokio::test]
async fn python_denial_page_comes_from_python() {
    let h = Harness::start(example("python-example", true)).await;
    let browser = h.browser();
    let authorize = browser.start("").await;
    let back = browser.consent(&authorize, "deny").await;
    let r = browser.get(&back).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("You cancelled, so Acme Notes has no access"),
        "{html}"
    );
}

#[tokio::test]
async fn without_the_keyvalue_grant_storage_is_denied_and_the_flow_says_so() {
    let h = Harness::start(example("python-example", false)).await;
    let r = h.browser().connect("").await;
    assert_eq!(
        r.status(),
        202,
        "the consumer could not record the connection; the gateway keeps it for a retry"
    );
    let none = bucket(&h, "python-example").await;
    assert!(none.list_keys(0).await.expect("keys").0.is_empty());
}

#[tokio::test]
async fn javascript_consumer_and_view_run_the_flow_in_their_own_namespace() {
    let h = Harness::start(example("js-example", true)).await;
    let r = h.browser().connect("?data=team-7").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("Connected to Stand-in Workspace"), "{html}");
    assert!(html.contains("Acme Notes can now use"), "{html}");

    let recent = bucket(&h, "js-example")
        .await
        .get("recent")
        .await
        .expect("get")
        .expect("the JS consumer wrote its list");
    let list: serde_json::Value = serde_json::from_slice(&recent).expect("json");
    assert_eq!(list[0]["workspaceName"], "Stand-in Workspace");
    assert_eq!(list[0]["appData"], "team-7");
    assert!(
        bucket(&h, "python-example")
            .await
            .get("recent")
            .await
            .expect("get")
            .is_none(),
        "another plugin's namespace stays empty"
    );
}

#[tokio::test]
async fn javascript_denial_page_comes_from_javascript() {
    let h = Harness::start(example("js-example", true)).await;
    let browser = h.browser();
    let authorize = browser.start("").await;
    let r = browser
        .get(&browser.consent(&authorize, "deny").await)
        .await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Notion was not connected")
    );
}
