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
    lines: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    lines: VecDeque<LogLine>,
    /// How many lines were ever pushed, so a caller can ask for the ones
    /// written since it looked ([`RecentLines::since`]).
    pushed: u64,
}

impl RecentLines {
    /// Keeps `line`, dropping the oldest past [`KEPT_LINES`].
    pub(crate) fn push(&self, line: LogLine) {
        let mut kept = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if kept.lines.len() == KEPT_LINES {
            kept.lines.pop_front();
        }
        kept.lines.push_back(line);
        kept.pushed += 1;
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
        let kept = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        kept.lines.iter().rev().cloned().collect()
    }

    /// A mark to pass to [`since`](Self::since) later.
    pub fn mark(&self) -> u64 {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).pushed
    }

    /// The lines pushed after `mark` that are still kept, oldest first, and
    /// how many of those were already dropped.
    pub fn since(&self, mark: u64) -> (Vec<LogLine>, u64) {
        let kept = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let new = kept.pushed.saturating_sub(mark);
        let shown = new.min(kept.lines.len() as u64);
        let skip = kept.lines.len() - shown as usize;
        (kept.lines.iter().skip(skip).cloned().collect(), new - shown)
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

    #[test]
    fn since_a_mark_gives_the_new_lines_and_counts_those_dropped() {
        let recent = RecentLines::default();
        recent.gateway("info", "before".into());
        let mark = recent.mark();
        let (lines, dropped) = recent.since(mark);
        assert!(lines.is_empty() && dropped == 0);
        recent.gateway("info", "a".into());
        recent.gateway("info", "b".into());
        let (lines, dropped) = recent.since(mark);
        let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!((messages, dropped), (vec!["a", "b"], 0));
        for i in 0..KEPT_LINES + 3 {
            recent.gateway("info", format!("more {i}"));
        }
        let (lines, dropped) = recent.since(mark);
        assert_eq!((lines.len(), dropped), (KEPT_LINES, 5));
        assert_eq!(lines[0].message, "more 3");
    }
}
