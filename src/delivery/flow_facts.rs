//! The flow's facts kept with a delivery, so a retry hands the consumer
//! what the first attempt had (they hold no secret). The first attempt
//! passes them in memory; only the stored copy is JSON.

use serde::{Deserialize, Serialize};

use crate::plugins::contract::StateInfo;

/// The stored form, borrowed for writing.
#[derive(Serialize)]
struct Stored<'a> {
    request_id: &'a str,
    app_data: Option<&'a str>,
    started_at: Option<u64>,
    passthrough_state: Option<&'a str>,
}

/// The stored form, owned for reading (missing fields read as absent).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Read {
    request_id: String,
    app_data: Option<String>,
    started_at: Option<u64>,
    passthrough_state: Option<String>,
}

/// The facts as stored.
pub(crate) fn to_json(s: &StateInfo) -> String {
    serde_json::to_string(&Stored {
        request_id: &s.request_id,
        app_data: s.app_data.as_deref(),
        started_at: s.started_at,
        passthrough_state: s.passthrough_state.as_deref(),
    })
    .unwrap_or_else(|_| "{}".into())
}

/// The facts of a delivery that no flow started (a refresh, a revoke).
pub(crate) fn refresh_json(request_id: &str) -> String {
    to_json(&StateInfo {
        request_id: request_id.to_string(),
        app_data: None,
        started_at: None,
        passthrough_state: None,
    })
}

/// The facts read back (an unreadable copy gives empty facts, never an error:
/// the token still reaches the consumer).
pub(crate) fn from_json(json: &str) -> StateInfo {
    let r: Read = serde_json::from_str(json).unwrap_or_default();
    StateInfo {
        request_id: r.request_id,
        app_data: r.app_data,
        started_at: r.started_at,
        passthrough_state: r.passthrough_state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_survive_the_round_trip() {
        let s = StateInfo {
            request_id: "r-1".into(),
            app_data: Some("user \"7\"".into()),
            started_at: Some(42),
            passthrough_state: None,
        };
        let back = from_json(&to_json(&s));
        assert_eq!(back.request_id, "r-1");
        assert_eq!(back.app_data.as_deref(), Some("user \"7\""));
        assert_eq!(back.started_at, Some(42));
        assert_eq!(from_json("not json").request_id, "");
    }
}
