//! The start route's and the callback's query strings: attacker-controlled,
//! so every value is length-checked, duplicates are refused, and nothing is
//! echoed unchecked. Both are read by the same rules, here.

use super::state::{MAX_APP_DATA, MAX_STATE_LEN};
use crate::secret::AuthorizationCode;

/// The longest query string looked at.
pub(crate) const MAX_QUERY: usize = 8 * 1024;
/// The longest authorization code accepted.
const MAX_CODE: usize = 1024;
/// The longest passthrough state accepted.
pub(crate) const MAX_PASSTHROUGH_STATE: usize = 2048;
/// The longest error code accepted.
const MAX_ERROR: usize = 64;
/// The longest error description kept.
const MAX_DESCRIPTION: usize = 512;

/// The parameters Notion sends to the redirect URI.
#[derive(Debug, Default)]
pub struct CallbackParams {
    /// The authorization code (a secret until exchanged).
    pub code: Option<AuthorizationCode>,
    /// The state, as sent.
    pub state: Option<String>,
    /// The OAuth error code, e.g. `access_denied`.
    pub error: Option<String>,
    /// Its description, control characters removed.
    pub error_description: Option<String>,
}

/// The parameters of the start route.
#[derive(Debug, Default)]
pub(crate) struct StartParams {
    /// The app's data for the flow (signed state mode).
    pub(crate) data: Option<String>,
    /// The app's own state (passthrough state mode).
    pub(crate) state: Option<String>,
    /// A signed start link's expiry (Unix seconds, as sent).
    pub(crate) exp: Option<String>,
    /// A signed start link's signature (lowercase hex).
    pub(crate) sig: Option<String>,
    /// A connect session's id.
    pub(crate) session: Option<String>,
}

impl StartParams {
    /// Parses a query string; the error says which rule it broke (never a value).
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, &'static str> {
        let mut p = Self::default();
        for (name, value) in pairs(query)? {
            match &*name {
                "data" => {
                    once(&p.data, "`data` appears twice")?;
                    if value.len() > MAX_APP_DATA {
                        return Err("`data` is longer than 512 bytes");
                    }
                    p.data = Some(value.into_owned());
                }
                "state" => {
                    once(&p.state, "`state` appears twice")?;
                    if !no_control(&value, MAX_PASSTHROUGH_STATE) {
                        return Err("`state` is too long or has control characters");
                    }
                    p.state = Some(value.into_owned());
                }
                "exp" => {
                    once(&p.exp, "`exp` appears twice")?;
                    p.exp = Some(short(value, "`exp` is longer than 64 bytes")?);
                }
                "sig" => {
                    once(&p.sig, "`sig` appears twice")?;
                    p.sig = Some(short(value, "`sig` is longer than 64 bytes")?);
                }
                "session" => {
                    once(&p.session, "`session` appears twice")?;
                    p.session = Some(short(value, "`session` is longer than 64 bytes")?);
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

/// `value`, when it is at most 64 bytes (every signature, expiry and
/// session id is shorter); else `why`.
fn short(value: std::borrow::Cow<'_, str>, why: &'static str) -> Result<String, &'static str> {
    if value.len() > 64 {
        return Err(why);
    }
    Ok(value.into_owned())
}

impl CallbackParams {
    /// Parses a query string; the error says which rule it broke (never a value).
    pub fn parse(query: Option<&str>) -> Result<Self, &'static str> {
        let mut p = Self::default();
        for (name, value) in pairs(query)? {
            match &*name {
                "code" => {
                    once(&p.code, TWICE)?;
                    if value.is_empty()
                        || value.len() > MAX_CODE
                        || !value.bytes().all(|b| b.is_ascii_graphic())
                    {
                        return Err("the code is empty, too long or not printable ASCII");
                    }
                    p.code = Some(AuthorizationCode::new(value.into_owned()));
                }
                "state" => {
                    once(&p.state, TWICE)?;
                    if !no_control(&value, MAX_STATE_LEN.max(MAX_PASSTHROUGH_STATE)) {
                        return Err("the state is too long or has control characters");
                    }
                    p.state = Some(value.into_owned());
                }
                "error" => {
                    once(&p.error, TWICE)?;
                    if value.is_empty()
                        || value.len() > MAX_ERROR
                        || !value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    {
                        return Err("the error is not an OAuth error code");
                    }
                    p.error = Some(value.into_owned());
                }
                "error_description" => {
                    once(&p.error_description, TWICE)?;
                    p.error_description = Some(
                        value
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(MAX_DESCRIPTION)
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        if p.code.is_some() && p.error.is_some() {
            return Err("the callback has both a code and an error");
        }
        if p.code.is_none() && p.error.is_none() {
            return Err("the callback has neither a code nor an error");
        }
        Ok(p)
    }
}

/// The callback's answer to a repeated parameter.
const TWICE: &str = "a parameter appears twice";

/// The query's pairs, once it is known not to be too long to look at.
fn pairs(query: Option<&str>) -> Result<url::form_urlencoded::Parse<'_>, &'static str> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err("the query string is too long");
    }
    Ok(url::form_urlencoded::parse(query.as_bytes()))
}

/// `why` when `slot` already holds a value: a parameter may appear once.
fn once<T>(slot: &Option<T>, why: &'static str) -> Result<(), &'static str> {
    match slot {
        Some(_) => Err(why),
        None => Ok(()),
    }
}

/// Whether `value` is at most `max` bytes without control characters.
fn no_control(value: &str, max: usize) -> bool {
    value.len() <= max && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_code_and_state_and_errors() {
        let p = CallbackParams::parse(Some("code=abc-123&state=xyz&extra=1")).expect("ok");
        assert_eq!(
            p.code.as_ref().map(AuthorizationCode::expose),
            Some("abc-123")
        );
        assert_eq!(p.state.as_deref(), Some("xyz"));
        let p = CallbackParams::parse(Some("error=access_denied&state=")).expect("ok");
        assert_eq!(p.error.as_deref(), Some("access_denied"));
        assert_eq!(p.state.as_deref(), Some(""));
    }

    #[test]
    fn the_start_reads_data_and_state_once_each_within_their_limits() {
        let p = StartParams::parse(Some("data=user-42&state=&x=1")).expect("ok");
        assert_eq!(p.data.as_deref(), Some("user-42"));
        assert_eq!(p.state.as_deref(), Some(""));
        assert_eq!(
            StartParams::parse(Some("data=a&data=b")).err(),
            Some("`data` appears twice")
        );
        let long = format!("data={}", "d".repeat(513));
        assert_eq!(
            StartParams::parse(Some(&long)).err(),
            Some("`data` is longer than 512 bytes")
        );
        assert_eq!(
            StartParams::parse(Some("state=a%0Ab")).err(),
            Some("`state` is too long or has control characters")
        );
        assert!(StartParams::parse(None).is_ok_and(|p| p.data.is_none()));
    }

    #[test]
    fn refuses_hostile_queries() {
        for q in [
            "code=a&code=b&state=s",
            "code=a&error=access_denied",
            "state=s",
            "",
            "error=%3Cscript%3E",
            "code=%0Aa",
            "code=",
        ] {
            assert!(CallbackParams::parse(Some(q)).is_err(), "{q}");
        }
        let long = format!("code={}", "a".repeat(MAX_QUERY));
        assert!(CallbackParams::parse(Some(&long)).is_err());
        assert!(CallbackParams::parse(Some("code=%FF%FE")).is_err());
    }
}
