//! The bare forwarder for `make bench`: the least a callback handler can do.
//! For each `GET ...?code=C` it makes the same token POST the gateway makes
//! (HTTP Basic, JSON body, Notion-Version), parses the JSON answer, and
//! answers 200; nothing is checked, stored or rendered. The bench measures
//! the gateway against it in the same run, as a ratio.
//!
//! Run: cargo run --release --example forwarder -- --listen ADDR --token-url URL --client-id ID --secret S --redirect-uri URI

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

struct Forwarder {
    client: reqwest::Client,
    token_url: String,
    client_id: String,
    secret: String,
    redirect_uri: String,
}

impl Forwarder {
    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let code = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let answer = self
            .client
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(&self.secret))
            .header("Notion-Version", "2026-03-11")
            .json(&serde_json::json!({
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
            }))
            .send()
            .await;
        let ok = match answer {
            Ok(r) if r.status().is_success() => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|v| v.get("access_token").is_some()),
            _ => false,
        };
        let mut response = Response::new(Full::new(Bytes::from_static(if ok {
            b"connected"
        } else {
            b"failed"
        })));
        if !ok {
            *response.status_mut() = StatusCode::BAD_GATEWAY;
        }
        response
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut listen = String::new();
    let mut f = Forwarder {
        client: reqwest::Client::new(),
        token_url: String::new(),
        client_id: String::new(),
        secret: String::new(),
        redirect_uri: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--token-url" => f.token_url = value,
            "--client-id" => f.client_id = value,
            "--secret" => f.secret = value,
            "--redirect-uri" => f.redirect_uri = value,
            _ => bail!("unknown flag {flag}"),
        }
    }
    if listen.is_empty() || f.token_url.is_empty() {
        bail!(
            "usage: forwarder --listen ADDR --token-url URL --client-id ID --secret S --redirect-uri URI"
        );
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let f = Arc::new(f);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let f = f.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let f = f.clone();
                async move { Ok::<_, Infallible>(f.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
