//! `plugin new` scaffolds a plugin in each language that builds with one
//! command, passes `make try`, and loads into the gateway in the role its
//! world says.

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

#[test]
fn scaffolds_in_every_language_build_and_load_in_their_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    // Share the repository's installed toolchains instead of installing anew.
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        crate::support::repo().join("plugins/toolchains"),
        plugins.join("toolchains"),
    )
    .expect("link toolchains");

    scaffold_and_build(&plugins, "rusty", "rust", "consumer");
    scaffold_and_build(&plugins, "snake", "python", "view");
    scaffold_and_build(&plugins, "scripty", "js", "both");

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
    let checked = run(Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .env("SCAFFOLD_SECRET", "s"));
    assert!(checked.contains("is valid"), "{checked}");
}
