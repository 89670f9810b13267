//! The demo's stand-in for *your app*: a loopback endpoint that takes the
//! webhook a consumer such as `webhook-consumer` POSTs, checks its
//! signature the way docs/plugins.md tells an app to, and answers 204, so
//! a webhook plugin completes a flow in `dev` with no app of your own.
//!
//! A manifest asks for it per setting: `demo = "receiver-url"` gets this
//! endpoint's URL, `demo = "receiver-secret"` the secret it checks
//! signatures with (made fresh for each demo). It logs one line per
//! delivery (bot, reason, key), never the token.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hmac::Mac as _;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::http::{Body, Handler, serve};
use crate::keyed_mac::hmac_sha256;
use crate::secret::ClientSecret;

/// The path deliveries are POSTed to.
pub(crate) const HOOK_PATH: &str = "/hooks/notion";
/// How old a signature's time may be, as the docs tell an app.
const MAX_AGE_SECONDS: i64 = 300;
/// The largest delivery taken.
const MAX_BODY: usize = 256 * 1024;

/// The receiver, serving in the background.
#[derive(Debug)]
pub struct AppReceiver {
    /// Where it listens (loopback).
    pub addr: SocketAddr,
    /// Its hook URL.
    pub url: String,
    /// The secret it checks signatures with.
    pub secret: ClientSecret,
}

impl AppReceiver {
    /// Binds a loopback port beside `near` (the stand-in's address) and serves.
    pub(crate) async fn start(near: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(near.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        let secret = ClientSecret::new(hex::encode(rand::random::<[u8; 24]>()));
        let handler = Arc::new(Hooks {
            secret: secret.clone(),
        });
        tokio::spawn(async move {
            let config = ServerConfig::defaults(addr);
            if let Err(e) = serve(listener, handler, &config, None, std::future::pending()).await {
                tracing::error!(error = %e, "the demo's app receiver stopped");
            }
        });
        Ok(Self {
            addr,
            url: format!("http://127.0.0.1:{}{HOOK_PATH}", addr.port()),
            secret,
        })
    }
}

struct Hooks {
    secret: ClientSecret,
}

/// The parts of a delivery the receiver reports (never the token).
#[derive(Deserialize)]
struct Delivery {
    bot_id: String,
    reason: String,
    idempotency_key: String,
}

fn answer(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

impl Hooks {
    /// Whether `header` (`t=<unix>,v1=<hex>`) signs `body` under the secret,
    /// recently; what is wrong otherwise.
    fn check(&self, header: Option<&str>, body: &[u8]) -> Result<(), &'static str> {
        let header = header.ok_or("no x-notion-gateway-signature header")?;
        let mut t = None;
        let mut v1 = None;
        for part in header.split(',') {
            match part.split_once('=') {
                Some(("t", value)) => t = Some(value),
                Some(("v1", value)) => v1 = Some(value),
                _ => {}
            }
        }
        let (t, v1) = t.zip(v1).ok_or("the signature header lacks t= or v1=")?;
        let signed_at: i64 = t.parse().map_err(|_| "the signature's t is not a number")?;
        if (crate::clock::unix_ms() / 1000 - signed_at).abs() > MAX_AGE_SECONDS {
            return Err("the signature is older than five minutes");
        }
        let given = hex::decode(v1).map_err(|_| "the signature's v1 is not hex")?;
        let mut mac = hmac_sha256(self.secret.expose().as_bytes());
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&given)
            .map_err(|_| "the signature does not match the body under the shared secret")
    }
}

impl Handler for Hooks {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.uri().path() != HOOK_PATH || req.method() != Method::POST {
            return answer(
                StatusCode::NOT_FOUND,
                "the demo's app receiver takes POST /hooks/notion\n",
            );
        }
        let signature = req
            .headers()
            .get("x-notion-gateway-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
        };
        if let Err(why) = self.check(signature.as_deref(), &body) {
            tracing::warn!("demo app receiver: refused a delivery: {why}");
            return answer(StatusCode::UNAUTHORIZED, "bad signature\n");
        }
        match serde_json::from_slice::<Delivery>(&body) {
            Ok(d) => {
                tracing::info!(
                    bot_id = d.bot_id,
                    reason = d.reason,
                    idempotency_key = d.idempotency_key,
                    "demo app receiver: took a signed delivery, as your app would"
                );
                answer(StatusCode::NO_CONTENT, "")
            }
            Err(_) => {
                tracing::warn!(
                    "demo app receiver: a signed delivery is not the documented JSON (bot_id, reason, idempotency_key)"
                );
                answer(StatusCode::BAD_REQUEST, "not a delivery\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> Hooks {
        Hooks {
            secret: ClientSecret::new("shared"),
        }
    }

    fn signed(key: &str, t: i64, body: &[u8]) -> String {
        let mut mac = hmac_sha256(key.as_bytes());
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn takes_only_a_fresh_signature_of_this_body_under_the_shared_secret() {
        let now = crate::clock::unix_ms() / 1000;
        let body = br#"{"bot_id":"b"}"#;
        let h = hooks();
        assert_eq!(h.check(Some(&signed("shared", now, body)), body), Ok(()));
        for (header, body) in [
            (Some(signed("other", now, body)), &body[..]),
            (Some(signed("shared", now, body)), &br#"{"bot_id":"c"}"#[..]),
            (Some(signed("shared", now - 600, body)), &body[..]),
            (Some("t=1".to_string()), &body[..]),
            (None, &body[..]),
        ] {
            assert!(h.check(header.as_deref(), body).is_err(), "{header:?}");
        }
    }
}
