//! What a `plugin try` run found: each call's outcome, time, log lines and
//! page, as the text the command prints and as an index of the pages.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::TrialError;
use crate::html::escape;
use crate::plugins::{LogLine, Role};

/// One call into the plugin.
#[derive(Debug, Clone)]
pub struct Call {
    /// The role the call was made in.
    pub role: Role,
    /// The export called, with what it was handed: `consume-token-info (new)`.
    pub name: String,
    /// How long it took.
    pub took: Duration,
    /// What it returned: `ok`, `refused (...)`, a page's status and size, or `FAILED`.
    pub outcome: String,
    /// Why the gateway would fail the call or change its page; empty when it passed.
    pub problems: Vec<String>,
    /// The plugin's log lines during the call.
    pub lines: Vec<LogLine>,
    /// How many more lines it wrote than were kept.
    pub lines_dropped: u64,
    /// Where its page was written (views).
    pub page: Option<PathBuf>,
}

impl Call {
    /// Whether the gateway would accept what the call did.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plugin.
    pub plugin: String,
    /// Its component file.
    pub path: PathBuf,
    /// The roles it exports.
    pub roles: Vec<Role>,
    /// What it was granted, or refused, a line each.
    pub grant_notes: Vec<String>,
    /// Its needs the grants do not meet.
    pub warnings: Vec<String>,
    /// Where the pages are.
    pub out_dir: PathBuf,
    /// Every call, in order.
    pub calls: Vec<Call>,
}

impl Report {
    /// The calls that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter().filter(|c| !c.passed())
    }

    /// Writes `index.html` into the pages folder: a link to each page with
    /// its call and verdict.
    pub(super) fn write_index(&self) -> Result<(), TrialError> {
        let mut rows = String::new();
        for call in self.calls.iter().filter(|c| c.page.is_some()) {
            let file = call
                .page
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let verdict = if call.passed() {
                "passed".to_string()
            } else {
                call.problems.join("; ")
            };
            rows.push_str(&format!(
                "<tr><td><a href=\"{f}\">{f}</a></td><td>{n}</td><td>{o}</td><td>{v}</td></tr>\n",
                f = escape(&file),
                n = escape(&call.name),
                o = escape(&call.outcome),
                v = escape(&verdict),
            ));
        }
        let text = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>plugin try {p}</title></head>\
             <body style=\"font-family:sans-serif;margin:2rem\"><h1>plugin try {p}</h1>\
             <p>The pages the view rendered for sample inputs. A page a browser would not see as shown is marked.</p>\
             <table cellpadding=\"6\"><tr><th>page</th><th>call</th><th>answer</th><th>verdict</th></tr>\n{rows}</table></body></html>\n",
            p = escape(&self.plugin),
        );
        let path = self.out_dir.join("index.html");
        std::fs::write(&path, text).map_err(|source| TrialError::Write { path, source })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self.roles.iter().map(|r| r.name()).collect();
        writeln!(
            f,
            "plugin try {} ({}, {})",
            self.plugin,
            self.path.display(),
            roles.join(" and ")
        )?;
        for note in &self.grant_notes {
            writeln!(f, "  {note}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        writeln!(f)?;
        for call in &self.calls {
            let mark = if call.passed() { "ok  " } else { "FAIL" };
            write!(
                f,
                "{mark} {:<8} {:<42} {:>8.1} ms  {}",
                call.role.name(),
                call.name,
                call.took.as_secs_f64() * 1000.0,
                call.outcome
            )?;
            if let Some(page) = &call.page {
                write!(f, " -> {}", page.display())?;
            }
            writeln!(f)?;
            for line in &call.lines {
                writeln!(f, "       log {:<5} {}", line.level, line.message)?;
            }
            if call.lines_dropped > 0 {
                writeln!(f, "       ({} more log lines not kept)", call.lines_dropped)?;
            }
            for problem in &call.problems {
                writeln!(f, "       problem: {problem}")?;
            }
        }
        let failed = self.failed().count();
        writeln!(f)?;
        if failed == 0 {
            write!(
                f,
                "all {} calls passed; pages in {}",
                self.calls.len(),
                self.out_dir.join("index.html").display()
            )
        } else {
            write!(
                f,
                "{failed} of {} calls failed as the gateway would fail them; pages in {}",
                self.calls.len(),
                self.out_dir.join("index.html").display()
            )
        }
    }
}
