//! `plugin new` scaffolds a plugin in each language (Rust, Python,
//! JavaScript, C) that builds with one command, passes `make try`, and
//! loads into the gateway in the role its world says.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_notion-oauth-gateway");

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn scaffold_and_build(dir: &Path, name: &str, lang: &str, world: &str) {
    let said = run(Command::new(BIN)
        .args([
            "plugin", "new", name, "--lang", lang, "--world", world, "--dir",
        ])
        .arg(dir));
    let folder = dir.join(name);
    assert!(
        said.contains(&format!("make -C {}", folder.display())),
        "{said}"
    );
    run(Command::new("make").arg("-C").arg(&folder).env(
        "CARGO_TARGET_DIR",
        crate::support::repo().join("target/wasm"),
    ));
    assert!(dir.join(format!("{name}.wasm")).is_file());
    // `make try` runs every export headless, and a fresh scaffold passes.
    let tried = run(Command::new("make")
        .arg("-C")
        .arg(&folder)
        .arg("try")
        .arg(format!("GATEWAY={BIN}"))
        .env(
            "CARGO_TARGET_DIR",
            crate::support::repo().join("target/wasm"),
        ));
    assert!(tried.contains("calls passed"), "{tried}");
    assert!(folder.join(format!("try-data/{name}/index.html")).is_file());
}

/// A `plugins/` folder in `dir` that shares the repository's installed
/// toolchains instead of installing them anew.
fn plugins_sharing_toolchains(dir: &Path) -> std::path::PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        crate::support::repo().join("plugins/toolchains"),
        plugins.join("toolchains"),
    )
    .expect("link toolchains");
    plugins
}

#[test]
fn scaffolds_in_every_language_build_and_load_in_their_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = plugins_sharing_toolchains(dir.path());

    scaffold_and_build(&plugins, "rusty", "rust", "consumer");
    scaffold_and_build(&plugins, "snake", "python", "view");
    scaffold_and_build(&plugins, "scripty", "js", "both");
    scaffold_and_build(&plugins, "cee", "c", "view");

    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {data:?}\n[notion]\nclient_id = \"c\"\nclient_secret_env = \"SCAFFOLD_SECRET\"\n\
             redirect_uri = \"http://127.0.0.1:8000/auth/notion/redirect\"\n\
             [plugins]\ndir = {plugins:?}\ncache_dir = {cache:?}\nconsumer = \"rusty\"\nview = \"snake\"\n",
            data = dir.path().join("data").display().to_string(),
            plugins = plugins.display().to_string(),
            cache = crate::support::shared_cache_dir().display().to_string(),
        ),
    )
    .expect("config");
    let listed = run(Command::new(BIN)
        .args(["plugins", "list", "--config"])
        .arg(&config)
        .env("SCAFFOLD_SECRET", "s"));
    let role = |name: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("missing")
            .to_string()
    };
    assert_eq!(role("rusty"), "consumer", "{listed}");
    assert_eq!(role("snake"), "view", "{listed}");
    assert_eq!(role("scripty"), "consumer+view", "{listed}");
    assert_eq!(role("cee"), "view", "{listed}");
    let checked = run(Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .env("SCAFFOLD_SECRET", "s"));
    assert!(checked.contains("is valid"), "{checked}");
}

/// A flow through the demo at `url`; the success page's text.
async fn success_page(url: &str) -> String {
    let page = crate::support::Browser::new(url).connect("").await;
    assert_eq!(page.status(), 200);
    page.text().await.expect("page")
}

/// Runs flows until the success page contains `text`, for up to a minute.
async fn until_success_page_has(url: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let page = success_page(url).await;
        if page.contains(text) || std::time::Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_c_scaffold_is_consumer_and_view_of_a_whole_flow_in_the_demo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = plugins_sharing_toolchains(dir.path());
    scaffold_and_build(&plugins, "cee", "c", "both");
    let built = std::fs::metadata(plugins.join("cee.wasm")).expect("component");
    assert!(
        built.len() < 200_000,
        "a small component: {} bytes",
        built.len()
    );

    let (_demo, url, _printed, _lines) = crate::support::process::dev_demo_streaming(
        BIN,
        &dir.path().join("data"),
        &[
            "--plugins-dir",
            &plugins.display().to_string(),
            "--consumer",
            "cee",
            "--view",
            "cee",
        ],
        &[],
    );
    // 200 with the C view's page: the C consumer took the token first.
    let page = success_page(&url).await;
    assert!(page.contains("<h1>Notion connected</h1>"), "{page}");
    assert!(page.contains("is now connected to"), "{page}");
}

#[tokio::test]
async fn dev_watch_rebuilds_a_changed_template_and_the_demo_serves_the_new_page() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    run(Command::new(BIN)
        .args(["plugin", "new", "watched", "--lang", "rust", "--dir"])
        .arg(&plugins));
    let target = crate::support::repo().join("target/wasm");
    // Relative, as a user types it (`dev` runs in the repository): the
    // folder is reached through `..` from there.
    let up = "../".repeat(crate::support::repo().components().count() - 1);
    let plugins_arg = format!(
        "{up}{}",
        plugins.display().to_string().trim_start_matches('/')
    );
    // Not built yet: `--watch` builds it before the demo starts.
    let (_demo, url, printed, lines) = crate::support::process::dev_demo_streaming(
        BIN,
        &dir.path().join("data"),
        &[
            "--watch",
            "--plugins-dir",
            &plugins_arg,
            "--consumer",
            "watched",
            "--view",
            "watched",
        ],
        &[("CARGO_TARGET_DIR", &target)],
    );
    assert!(printed.contains("built watched in"), "{printed}");
    assert!(
        printed.contains(&format!("watching {plugins_arg}/watched")),
        "{printed}"
    );
    let page = success_page(&url).await;
    assert!(page.contains("is now connected to"), "{page}");

    // An edit to the source: rebuilt, swapped in, the new page served.
    let source = plugins.join("watched/src/lib.rs");
    let text = std::fs::read_to_string(&source).expect("source");
    std::fs::write(
        &source,
        text.replace("is now connected to", "is now wired up to"),
    )
    .expect("edit");
    let built = lines.until("built watched in", Duration::from_secs(60));
    assert!(built.contains("| "), "make's output is shown: {built}");
    let page = until_success_page_has(&url, "is now wired up to").await;
    assert!(page.contains("is now wired up to"), "{page}");

    // A broken edit: the build fails, says so, and the last good one serves.
    std::fs::write(&source, "this is not rust").expect("break");
    let failed = lines.until("BUILD FAILED for watched", Duration::from_secs(60));
    assert!(
        failed.contains("the build already loaded keeps serving"),
        "{failed}"
    );
    assert!(
        failed.contains("| ") && failed.contains("error"),
        "{failed}"
    );
    let page = success_page(&url).await;
    assert!(page.contains("is now wired up to"), "{page}");
}

#[test]
fn make_build_skips_a_python_or_js_plugin_whose_toolchain_is_missing_saying_what_to_install() {
    let make = |folder: &str, args: &[&str]| {
        Command::new("make")
            .arg("-C")
            .arg(crate::support::repo().join(folder))
            .args(args)
            .output()
            .expect("make runs")
    };
    let out = make(
        "plugins/python-example",
        &["PYTHON=/nonexistent/python3", "SKIP_UNAVAILABLE=1"],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("skipping python-example: Python plugins need python3 with venv to build (Debian: apt-get install python3-venv)"),
        "{said}"
    );
    // Without the skip (what `make test` does), the build stops and says why.
    let out = make("plugins/python-example", &["PYTHON=/nonexistent/python3"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("apt-get install python3-venv"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing on PATH: no node, no npm (make is run by its full path).
    let empty = tempfile::tempdir().expect("empty PATH");
    let out = Command::new(which_make())
        .arg("-C")
        .arg(crate::support::repo().join("plugins/js-example"))
        .arg("SKIP_UNAVAILABLE=1")
        .env("PATH", empty.path())
        .output()
        .expect("make runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("skipping js-example: JavaScript plugins need node and npm"),
        "{said}"
    );
}

#[test]
fn a_c_plugin_without_its_compiler_is_skipped_or_stops_naming_the_debian_packages() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(Command::new(BIN)
        .args(["plugin", "new", "cee", "--lang", "c", "--dir"])
        .arg(dir.path()));
    let make = |args: &[&str]| {
        Command::new("make")
            .arg("-C")
            .arg(dir.path().join("cee"))
            .arg("CLANG=/nonexistent/clang-19")
            .args(args)
            .output()
            .expect("make runs")
    };
    let packages = "apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32";
    let out = make(&["SKIP_UNAVAILABLE=1"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("skipping cee: C plugins need /nonexistent/clang-19 with wasm-ld")
            && said.contains(packages),
        "{said}"
    );
    assert!(!dir.path().join("cee.wasm").exists());
    let out = make(&[]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(packages), "{said}");
}

fn which_make() -> std::path::PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v make"])
        .output()
        .expect("sh");
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
