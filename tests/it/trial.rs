//! `plugin try NAME`: a plugin's exports run against sample inputs from the
//! shell, judged as the gateway judges them, with the exit code a plugin's
//! own CI can rely on.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_notion-oauth-gateway");

/// Runs `plugin try` in `dir` (which has `plugins/`), with an inputs file
/// holding `inputs` when given.
fn try_plugin(dir: &Path, name: &str, inputs: Option<&str>) -> (i32, String, String) {
    let mut args = vec!["plugin", "try", name, "--data-dir", "data"];
    if let Some(json) = inputs {
        std::fs::write(dir.join("inputs.json"), json).expect("inputs");
        args.extend(["--inputs", "inputs.json"]);
    }
    let out: Output = Command::new(BIN)
        .args(&args)
        .current_dir(dir)
        .env_remove("NOG_LOG")
        .output()
        .expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn folder(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::plugins_dir_with(dir.path(), names);
    dir
}

#[test]
fn a_good_plugin_passes_every_call_and_its_pages_are_written() {
    let dir = folder(&["default-consumer", "default-view"]);
    let (code, out, err) = try_plugin(dir.path(), "default-consumer", None);
    assert_eq!(code, 0, "{out}\n{err}");
    for call in [
        "consume-token-info (new)",
        "consume-token-info (refreshed)",
        "consume-token-info (revoked)",
        "consume-redirect-error",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("ok   consumer") && l.contains(call)),
            "{call}: {out}"
        );
    }
    assert!(out.contains("all 4 calls passed"), "{out}");
    // The consumer's log lines are shown under its call; the token it was
    // handed is not.
    assert!(out.contains("       log info"), "{out}");
    assert!(!out.contains("ntn_try_sample"), "{out}");

    let (code, out, err) = try_plugin(
        dir.path(),
        "default-view",
        Some(
            r#"{"token": {"access_token": "ntn_x", "bot_id": "b-1", "workspace_id": "w-1",
                 "workspace_name": "Zeta Works", "owner": {"type": "workspace", "workspace": true}}}"#,
        ),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("all 12 calls passed"), "{out}");
    let pages = dir.path().join("data/default-view");
    let mut files: Vec<String> = std::fs::read_dir(&pages)
        .expect("pages folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 13, "{files:?}");
    for file in [
        "index.html",
        "success.html",
        "denied.html",
        "error-bad-request.html",
        "error-notion-timeout.html",
        "error-internal.html",
    ] {
        assert!(files.iter().any(|f| f == file), "{file}: {files:?}");
    }
    let success = std::fs::read_to_string(pages.join("success.html")).expect("success");
    assert!(success.contains("Zeta Works"), "{success}");
    let timeout = std::fs::read_to_string(pages.join("error-notion-timeout.html")).expect("page");
    assert!(timeout.contains("took too long"), "{timeout}");
    assert!(out.contains("504 ("), "{out}");
}

#[test]
fn a_misbehaving_plugin_fails_with_exit_1_saying_why() {
    let dir = folder(&["faulty"]);
    for (inputs, failing, says) in [
        (
            r#"{"settings": {"consumer": "trap"}}"#,
            "FAIL consumer consume-token-info (new)",
            "trapped",
        ),
        (
            r#"{"settings": {"view": "loop"}, "limits": {"deadline_ms": 100}}"#,
            "FAIL view     make-auth-response",
            "stopped after exceeding its deadline of 100ms",
        ),
        (
            r#"{"settings": {"view": "bad-status"}}"#,
            "FAIL view     make-error-response (internal)",
            "status 42 is not between 200 and 599",
        ),
        (
            r#"{"settings": {"view": "redirect-to-data"}, "state": {"app_data": "https://evil.example/x"}}"#,
            "FAIL view     make-auth-response",
            "an open redirect",
        ),
        (
            r#"{"settings": {"view": "hostile-headers"}}"#,
            "FAIL view     make-access-denied-response",
            "the gateway drops its header set-cookie",
        ),
    ] {
        let (code, out, err) = try_plugin(dir.path(), "faulty", Some(inputs));
        assert_eq!(code, 1, "{inputs}: {out}\n{err}");
        assert!(out.contains(failing), "{inputs}: {out}");
        assert!(out.contains(says), "{inputs}: {out}");
        assert!(
            out.contains("calls failed as the gateway would fail them"),
            "{out}"
        );
    }
    // A redirect to a path on the site is what the gateway allows.
    let (code, out, _) = try_plugin(
        dir.path(),
        "faulty",
        Some(r#"{"settings": {"view": "redirect-to-data"}, "state": {"app_data": "/welcome"}}"#),
    );
    assert_eq!(code, 0, "{out}");
    // A consumer's refusal is its answer, not a failure.
    let (code, out, _) = try_plugin(
        dir.path(),
        "faulty",
        Some(r#"{"settings": {"consumer": "error"}}"#),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("refused (retryable): the app's database is away"),
        "{out}"
    );
}

#[test]
fn what_stops_a_run_before_any_call_exits_2_with_what_to_do() {
    let dir = folder(&["webhook-consumer"]);
    let (code, _, err) = try_plugin(dir.path(), "missing", None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read plugins/missing.wasm"), "{err}");
    let (code, _, err) = try_plugin(dir.path(), "webhook-consumer", Some(r#"{"stat": {}}"#));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("inputs.json is not valid: unknown field `stat`"),
        "{err}"
    );
    let (code, _, err) = try_plugin(dir.path(), "webhook-consumer", None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("needs the setting `url`") && err.contains("--inputs FILE"),
        "{err}"
    );
}
