//! Child processes in tests: killed when dropped, and read line by line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills a child process when dropped, so a failing test leaves nothing behind.
pub(crate) struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout lines until one contains `marker`, within 30 s.
pub(crate) fn wait_for_line(child: &mut Child, marker: &'static str) -> String {
    let lines = read_until(child, marker);
    lines.lines().last().unwrap_or_default().to_string()
}

/// A child's stdout up to and including the first line that contains
/// `marker`, within 30 s.
pub(crate) fn read_until(child: &mut Child, marker: &'static str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        // Keep reading after the marker, as a terminal would.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(marker) {
                let _ = tx.send(std::mem::take(&mut seen));
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no line with {marker:?} within 30 s"))
}

/// Starts `notion-oauth-gateway dev` (binary `bin`) with its data in `data`;
/// the running demo and its landing page URL.
pub(crate) fn dev_demo(bin: &str, data: &Path) -> (Running, String) {
    dev_demo_with(bin, data, &[]).0
}

/// [`dev_demo`] with more arguments (`--consumer X`, say); also the lines
/// `dev` printed before its URL.
pub(crate) fn dev_demo_with(bin: &str, data: &Path, args: &[&str]) -> ((Running, String), String) {
    let mut child = Running(
        Command::new(bin)
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--stand-in-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data)
            .args(args)
            .current_dir(super::repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dev"),
    );
    let printed = read_until(&mut child.0, "Open http://");
    let line = printed
        .lines()
        .find(|l| l.contains("Open http://"))
        .expect("the URL line")
        .to_string();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .trim_end_matches('/')
        .to_string();
    ((child, url), printed)
}

/// Runs the gateway's binary with `args` and `--config config`, the test
/// secrets in its environment (`TEST_SECRET` is `secret`); its output, once
/// it has exited 0.
pub(crate) fn run_binary(config: &Path, args: &[&str], secret: &str) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_notion-oauth-gateway"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("TEST_SECRET", secret)
        .env("TEST_API_KEY", super::API_KEY)
        .env("TEST_APP_KEY", super::config::APP_KEY)
        .output()
        .expect("run the gateway's binary");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
