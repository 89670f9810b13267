//! A gateway driven without a socket: each request goes straight through
//! [`Gateway::handle`], as axum's tests use `oneshot`. For routing, header
//! and error-page tests; the real flow, TLS, the browser and the fault tests
//! keep their sockets.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use notion_oauth_gateway::Gateway;

use super::{Options, config_text, load_config};

/// A gateway built from `Options`, with no listener and no Notion: its
/// `api_base_url` and authorize URL point at a closed loopback port, so a
/// test that reaches Notion fails loudly.
pub(crate) struct Offline {
    gateway: Gateway,
    _dir: tempfile::TempDir,
}

/// One answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text ("" when absent).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Offline {
    /// Builds the gateway `o` describes.
    pub(crate) async fn start(o: Options) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config_text(&o, dir.path(), "127.0.0.1:9", "127.0.0.1:9");
        let config = load_config(&text, &o.client_secret, o.api_key.as_deref())
            .unwrap_or_else(|e| panic!("config: {e}"));
        let gateway = Gateway::build(config)
            .await
            .unwrap_or_else(|e| panic!("gateway did not build: {e}"));
        Self { gateway, _dir: dir }
    }

    /// The gateway.
    pub(crate) fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// `GET uri`.
    pub(crate) async fn get(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, &[]).await
    }

    /// A request with `method`, `uri` (path and query) and `headers`.
    pub(crate) async fn send(&self, method: Method, uri: &str, headers: &[(&str, &str)]) -> Answer {
        self.send_body(method, uri, headers, "").await
    }

    /// A request with `method`, `uri`, `headers` and `body`.
    pub(crate) async fn send_body(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = http_body_util::Full::new(Bytes::from(body.to_string()));
        let request = request.body(body).expect("request");
        let response = self.gateway.handle(request).await;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}
