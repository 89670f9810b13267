//! The `[log]` table: how the gateway writes its log lines (to stderr).

use serde::Deserialize;

use super::EnvLookup;
use super::checker::Checker;

/// The variable that overrides `[log] format` (for containers, where the
/// environment is easier to change than the file).
pub const LOG_FORMAT_ENV: &str = "NOG_LOG_FORMAT";

/// `[log]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) format: Option<String>,
}

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// For people: one readable line per event (the default).
    #[default]
    Text,
    /// For machines: one JSON object per line with `timestamp`, `level`,
    /// `target`, `message` and the event's fields at the top level.
    Json,
}

impl LogFormat {
    /// The format named `name` (`text` or `json`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The format `NOG_LOG_FORMAT` asks for, if it is set and valid.
    pub fn from_env(env: EnvLookup<'_>) -> Option<Self> {
        env(LOG_FORMAT_ENV).and_then(|v| Self::parse(&v))
    }
}

/// `[log]`
#[derive(Debug, Clone, Copy, Default)]
pub struct LogConfig {
    /// How each line is written; `NOG_LOG_FORMAT` wins over the file.
    pub format: LogFormat,
}

/// Checks `[log]`; `NOG_LOG_FORMAT`, when set, overrides `format`.
pub(super) fn check(c: &mut Checker<'_>, l: &RawLog, env: EnvLookup<'_>) -> LogConfig {
    if let Some(value) = env(LOG_FORMAT_ENV).filter(|v| !v.trim().is_empty()) {
        return match LogFormat::parse(&value) {
            Some(format) => LogConfig { format },
            None => {
                c.error(
                    "log.format",
                    format!(
                        "{LOG_FORMAT_ENV}={value:?} is not a log format; use \"text\" or \"json\""
                    ),
                );
                LogConfig::default()
            }
        };
    }
    let format = match l.format.as_deref() {
        None => LogFormat::Text,
        Some(name) => LogFormat::parse(name).unwrap_or_else(|| {
            c.error(
                "log.format",
                format!("{name:?} is not a log format; use \"text\" or \"json\""),
            );
            LogFormat::Text
        }),
    };
    LogConfig { format }
}
