//! Notion's token response (one schema for the code and refresh grants).

use serde::{Deserialize, Serialize};

use crate::secret::{AccessToken, RefreshToken};

/// A successful token response, every documented field typed.
///
/// Unknown fields are ignored so Notion can add fields without breaking us;
/// fields Notion marks nullable are `Option`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenResponse {
    /// The bearer token for Notion's API.
    #[serde(
        deserialize_with = "secret",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub access_token: AccessToken,
    /// Always `bearer`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// The refresh token (rotates on every refresh); null for older connections.
    #[serde(
        default,
        deserialize_with = "optional_secret",
        serialize_with = "crate::secret::serialize_exposed_option"
    )]
    pub refresh_token: Option<RefreshToken>,
    /// The authorization's identity.
    pub bot_id: String,
    /// The workspace's id (not unique per token: many users may connect one workspace).
    pub workspace_id: String,
    /// The workspace's name.
    #[serde(default)]
    pub workspace_name: Option<String>,
    /// The workspace's icon (URL or emoji).
    #[serde(default)]
    pub workspace_icon: Option<String>,
    /// Who authorized.
    pub owner: Owner,
    /// The duplicated template page, if any.
    #[serde(default)]
    pub duplicated_template_id: Option<String>,
    /// Notion's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

fn bearer() -> String {
    "bearer".to_string()
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AccessToken, D::Error> {
    let value = String::deserialize(d)?;
    if value.is_empty() {
        return Err(serde::de::Error::custom("access_token is empty"));
    }
    Ok(AccessToken::new(value))
}

fn optional_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<RefreshToken>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|v| !v.is_empty())
        .map(RefreshToken::new))
}

/// The `owner` of an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Owner {
    /// A user (the normal case).
    User {
        /// The user.
        user: User,
    },
    /// The legacy workspace owner (`{"type":"workspace","workspace":true}`).
    Workspace,
}

/// A Notion user as it appears in `owner.user`: a full person or a partial user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// `person` or `bot`.
    #[serde(default, rename = "type")]
    pub user_type: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Person details, for people.
    #[serde(default)]
    pub person: Option<Person>,
}

/// `owner.user.person`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Person {
    /// Email, with the user-information capability.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether Notion verified the email.
    #[serde(default)]
    pub email_verified: Option<bool>,
}

impl TokenResponse {
    /// The whole response as JSON, secrets included, for sealing into the
    /// vault (the caller encrypts it at once; the buffer is wiped on drop).
    pub fn to_sealable(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses a 200 body. The error names the first problem but never echoes
    /// the body (it may hold a token).
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| describe_json_error(&e))
    }
}

/// Describes a JSON error by its category and position, never by content.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not valid JSON",
        Category::Eof => "truncated JSON",
        Category::Data => "JSON of the wrong shape",
    };
    // serde's data messages name fields ("missing field `bot_id`"), never values.
    match e.classify() {
        Category::Data => format!("{what}: {}", field_only(&e.to_string())),
        _ => format!("{what} at line {} column {}", e.line(), e.column()),
    }
}

/// Keeps serde's message only when it names a field and not a value.
fn field_only(message: &str) -> String {
    let msg = message.split(" at line ").next().unwrap_or(message);
    // Only these messages are safe: they quote field names. "unknown variant"
    // and "invalid type" quote the offending value, which may be a token.
    if msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        msg.to_string()
    } else if msg.starts_with("invalid type") {
        "a field has the wrong type".to_string()
    } else {
        "a field has an unexpected value".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{
      "access_token": "ntn_CANARY", "token_type": "bearer", "refresh_token": "nrt_CANARY",
      "bot_id": "b1", "workspace_id": "w1", "workspace_name": "Acme", "workspace_icon": null,
      "owner": {"type": "user", "user": {"object": "user", "id": "u1", "type": "person",
        "name": "Ada", "avatar_url": null, "person": {"email": "ada@example.com", "email_verified": true}}},
      "duplicated_template_id": null, "request_id": "r1", "something_new": [1, 2]
    }"#;

    #[test]
    fn parses_every_documented_field_and_ignores_new_ones() {
        let t = TokenResponse::parse(FULL.as_bytes()).expect("parses");
        assert_eq!(t.access_token.expose(), "ntn_CANARY");
        assert_eq!(
            t.refresh_token.as_ref().map(RefreshToken::expose),
            Some("nrt_CANARY")
        );
        assert_eq!(t.workspace_name.as_deref(), Some("Acme"));
        assert_eq!(t.request_id.as_deref(), Some("r1"));
        match t.owner {
            Owner::User { user } => {
                assert_eq!(user.id, "u1");
                assert_eq!(user.person.and_then(|p| p.email_verified), Some(true));
            }
            Owner::Workspace => panic!("expected a user owner"),
        }
    }

    #[test]
    fn accepts_partial_user_legacy_owner_and_missing_optional_fields() {
        let partial = r#"{"access_token":"a","bot_id":"b","workspace_id":"w",
            "owner":{"type":"user","user":{"object":"user","id":"u"}}}"#;
        let t = TokenResponse::parse(partial.as_bytes()).expect("partial user");
        assert!(
            t.refresh_token.is_none()
                && t.request_id.is_none()
                && t.duplicated_template_id.is_none()
        );
        assert_eq!(t.token_type, "bearer");
        let legacy = r#"{"access_token":"a","refresh_token":null,"bot_id":"b","workspace_id":"w",
            "owner":{"type":"workspace","workspace":true}}"#;
        let t = TokenResponse::parse(legacy.as_bytes()).expect("workspace owner");
        assert_eq!(t.owner, Owner::Workspace);
    }

    #[test]
    fn row09_errors_never_echo_the_body() {
        let cases = [
            r#"{"access_token": "ntn_CANARY", "bot_id": 7}"#,
            r#"{"access_token": "ntn_CANARY""#,
            r#"<html>ntn_CANARY</html>"#,
            r#"{"access_token": "ntn_CANARY", "bot_id": "b", "workspace_id": "w", "owner": {"type": "ntn_CANARY"}}"#,
            "{}",
            r#"{"access_token": "", "bot_id": "b", "workspace_id": "w", "owner": {"type": "workspace"}}"#,
        ];
        for body in cases {
            let err = TokenResponse::parse(body.as_bytes()).expect_err(body);
            assert!(!err.contains("CANARY"), "leaked in {err:?}");
        }
    }
}
