//! The last lines each plugin wrote to the log, with the host's own lines
//! about it (a call that failed, a build refused), kept in memory per
//! instance so the admin console can show them beside the plugin. The log
//! itself stays the record: these are lost on restart.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many lines are kept per plugin; older ones are dropped.
pub const KEPT_LINES: usize = 50;

/// One line, as it went to the log (already cleaned of control characters,
/// capped, and with the secrets the call was handed taken out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When it was written (ms since the epoch).
    pub at_ms: i64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The request the call served; empty for the host's own lines.
    pub request_id: String,
    /// Who wrote it: `plugin`, or `gateway` for the host's lines about it.
    pub source: &'static str,
    /// The message.
    pub message: String,
}

/// One plugin's recent lines, shared by every build of it loaded in this
/// process, so a reload does not wipe them.
#[derive(Debug, Default)]
pub struct RecentLines {
    lines: Mutex<VecDeque<LogLine>>,
}

impl RecentLines {
    /// Keeps `line`, dropping the oldest past [`KEPT_LINES`].
    pub(crate) fn push(&self, line: LogLine) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Keeps a line the host writes about the plugin.
    pub(crate) fn gateway(&self, level: &'static str, message: String) {
        self.push(LogLine {
            at_ms: crate::clock::unix_ms(),
            level,
            request_id: String::new(),
            source: "gateway",
            message,
        });
    }

    /// The lines kept, newest first.
    pub fn newest_first(&self) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_newest_first() {
        let recent = RecentLines::default();
        for i in 0..KEPT_LINES + 5 {
            recent.gateway("info", format!("line {i}"));
        }
        let lines = recent.newest_first();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[0].message, format!("line {}", KEPT_LINES + 4));
        assert_eq!(lines[KEPT_LINES - 1].message, "line 5");
    }
}
