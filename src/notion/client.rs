//! Calls Notion's OAuth endpoints with HTTP Basic client authentication.

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use url::Url;

use super::error::{NotionError, OAuthErrorBody, sanitize_code};
use super::token::TokenResponse;
use crate::config::NotionConfig;
use crate::secret::{
    AccessToken, AuthorizationCode, ClientSecret, IssuedToken, RefreshToken, Secret,
};

/// The most bytes read from one Notion response; a token response is ~1 KB.
const MAX_BODY: usize = 256 * 1024;

/// A configured client for Notion's OAuth endpoints, built once and shared.
#[derive(Clone)]
pub struct NotionClient {
    http: reqwest::Client,
    token_url: Url,
    revoke_url: Url,
    introspect_url: Url,
    basic: Secret,
    notion_version: String,
    timeout: Duration,
}

impl std::fmt::Debug for NotionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotionClient")
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct RefreshGrant<'a> {
    grant_type: &'static str,
    refresh_token: &'a str,
}

#[derive(Serialize)]
struct TokenBody<'a> {
    token: &'a str,
}

/// Notion's introspection answer: whether a token is active, and its facts.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct Introspection {
    /// Whether the token works.
    pub active: bool,
    /// Its scope, when Notion says.
    #[serde(default)]
    pub scope: Option<String>,
    /// When it was issued (seconds since the epoch), when Notion says.
    #[serde(default)]
    pub iat: Option<i64>,
}

#[derive(Serialize)]
struct CodeGrant<'a> {
    grant_type: &'static str,
    code: &'a str,
    redirect_uri: &'a str,
}

impl NotionClient {
    /// Builds the client: rustls with the platform's web roots (plus the
    /// config's extra CA), no redirects, connect and total timeouts.
    pub fn new(config: &NotionConfig) -> Result<Self, NotionError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("notion-oauth-gateway/", env!("CARGO_PKG_VERSION")))
            .https_only(config.api_base_url.scheme() == "https")
            .min_tls_version(reqwest::tls::Version::TLS_1_2);
        if let Some(ca) = &config.extra_ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                NotionError::Setup(format!("cannot read extra_ca_file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                NotionError::Setup(format!("extra_ca_file {} is not PEM: {e}", ca.display()))
            })?;
            if certs.is_empty() {
                return Err(NotionError::Setup(format!(
                    "extra_ca_file {} holds no PEM certificate; give the CA's certificate(s) in PEM form",
                    ca.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| NotionError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            token_url: config.token_url(),
            revoke_url: config.api_url("v1/oauth/revoke"),
            introspect_url: config.api_url("v1/oauth/introspect"),
            basic: basic_credentials(&config.client_id, &config.client_secret),
            notion_version: config.notion_version.clone(),
            timeout: config.timeout,
        })
    }

    /// The total timeout of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Exchanges an authorization code for a token. Called at most once per code.
    pub async fn exchange_code(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> Result<TokenResponse, NotionError> {
        let grant = CodeGrant {
            grant_type: "authorization_code",
            code: code.expose(),
            redirect_uri,
        };
        let (status, body) = self.post(&self.token_url, &grant).await?;
        match status {
            200 => TokenResponse::parse(&body)
                .map_err(|what| NotionError::Unreadable(format!("the token response was {what}"))),
            _ => Err(status_error(status, &body)),
        }
    }

    /// Trades a refresh token for a new pair (the old refresh token stops working).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, NotionError> {
        let grant = RefreshGrant {
            grant_type: "refresh_token",
            refresh_token: refresh_token.expose(),
        };
        let (status, body) = self.post(&self.token_url, &grant).await?;
        match status {
            200 => TokenResponse::parse(&body)
                .map_err(|what| NotionError::Unreadable(format!("the token response was {what}"))),
            _ => Err(status_error(status, &body)),
        }
    }

    /// Revokes a token at Notion (`/v1/oauth/revoke`).
    pub async fn revoke(&self, token: &impl IssuedToken) -> Result<(), NotionError> {
        let body = TokenBody {
            token: token.expose(),
        };
        let (status, body) = self.post(&self.revoke_url, &body).await?;
        match status {
            200 => Ok(()),
            _ => Err(status_error(status, &body)),
        }
    }

    /// Asks Notion whether a token is active (`/v1/oauth/introspect`).
    pub async fn introspect(&self, token: &AccessToken) -> Result<Introspection, NotionError> {
        let body = TokenBody {
            token: token.expose(),
        };
        let (status, body) = self.post(&self.introspect_url, &body).await?;
        match status {
            200 => serde_json::from_slice(&body).map_err(|e| {
                NotionError::Unavailable(format!(
                    "the introspection answer was {}",
                    super::token::describe_json_error(&e)
                ))
            }),
            _ => Err(status_error(status, &body)),
        }
    }

    /// POSTs JSON with Basic auth and `Notion-Version`; returns status and a bounded body.
    async fn post(&self, url: &Url, body: &impl Serialize) -> Result<(u16, Vec<u8>), NotionError> {
        let json = serde_json::to_vec(body).map_err(|e| NotionError::Setup(e.to_string()))?;
        let mut authorization = HeaderValue::from_str(&format!("Basic {}", self.basic.expose()))
            .map_err(|_| {
                NotionError::Setup("the client credentials are not valid header text".into())
            })?;
        authorization.set_sensitive(true);
        let send = self
            .http
            .post(url.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header("Notion-Version", &self.notion_version)
            .body(json)
            .send();
        let mut response = send.await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(NotionError::Unreadable(format!(
                    "the response body exceeded {MAX_BODY} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    /// Classifies a transport error without its URL or body.
    fn transport_error(&self, e: &reqwest::Error) -> NotionError {
        // A refused or failed connection never reached Notion, even when it
        // timed out; anything after that may have.
        if e.is_connect() {
            NotionError::Connect(root_cause(e))
        } else if e.is_timeout() {
            NotionError::Timeout(self.timeout)
        } else {
            NotionError::Interrupted(format!("transport error: {}", root_cause(e)))
        }
    }
}

/// `base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 says.
fn basic_credentials(client_id: &str, secret: &ClientSecret) -> Secret {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = zeroize::Zeroizing::new(format!("{}:{}", enc(client_id), enc(secret.expose())));
    Secret::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()))
}

/// Maps a non-200 answer to an error, reading either error shape.
fn status_error(status: u16, body: &[u8]) -> NotionError {
    match status {
        400..=499 if status != 429 => {
            let code = OAuthErrorBody::parse(body)
                .map_or_else(|| "unknown".to_string(), |b| sanitize_code(b.code()));
            NotionError::Rejected { status, code }
        }
        429 => NotionError::Unavailable("rate limited (HTTP 429)".into()),
        300..=399 => NotionError::Unavailable(format!(
            "unexpected redirect (HTTP {status}); redirects are not followed"
        )),
        _ => {
            let detail = OAuthErrorBody::parse(body)
                .map(|b| format!(", error `{}`", sanitize_code(b.code())))
                .unwrap_or_default();
            NotionError::Unavailable(format!("HTTP {status}{detail}"))
        }
    }
}

/// The innermost cause of an error, which says what happened (refused, TLS...)
/// without the request URL that reqwest's own message adds.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row07_basic_credentials_urlencode_before_base64() {
        let b = basic_credentials("id", &ClientSecret::new("se:c%ret"));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.expose())
            .expect("base64");
        assert_eq!(decoded, b"id:se%3Ac%25ret");
        let plain = basic_credentials("abc", &ClientSecret::new("secret_x"));
        assert_eq!(
            plain.expose(),
            base64::engine::general_purpose::STANDARD.encode("abc:secret_x")
        );
    }

    #[test]
    fn an_extra_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").expect("write");
        let src = format!(
            "[notion]\nclient_id = \"a\"\nclient_secret = \"s\"\nredirect_uri = \"https://x.example/cb\"\nextra_ca_file = {:?}\n",
            ca.display().to_string()
        );
        let config = crate::config::Config::from_toml(&src, "t", &|_| None).expect("config");
        let err = NotionClient::new(&config.notion).expect_err("must refuse");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn statuses_map_to_errors() {
        let e = status_error(
            400,
            br#"{"object":"error","status":400,"code":"invalid_grant","message":"m"}"#,
        );
        assert!(
            matches!(e, NotionError::Rejected { status: 400, ref code } if code == "invalid_grant")
        );
        let e = status_error(401, br#"{"error":"invalid_client"}"#);
        assert!(
            matches!(e, NotionError::Rejected { status: 401, ref code } if code == "invalid_client")
        );
        assert!(matches!(
            status_error(500, b"oops"),
            NotionError::Unavailable(_)
        ));
        assert!(matches!(
            status_error(307, b""),
            NotionError::Unavailable(_)
        ));
        assert!(matches!(
            status_error(429, b""),
            NotionError::Unavailable(_)
        ));
    }
}
