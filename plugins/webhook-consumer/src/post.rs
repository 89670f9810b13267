//! One blocking HTTPS POST through `wasi:http/outgoing-handler`: the host
//! decides whether the destination is allowed and bounds the time it takes.

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// Why a POST did not get an answer.
#[derive(Debug)]
pub(crate) enum PostError {
    /// The URL setting is not an http(s) URL.
    BadUrl,
    /// The request could not be built.
    Build(&'static str),
    /// The host or the network refused or failed the request.
    Http(ErrorCode),
}

impl PostError {
    /// Whether trying again later may succeed.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            PostError::BadUrl | PostError::Build(_) => false,
            PostError::Http(code) => !matches!(
                code,
                ErrorCode::HttpRequestDenied
                    | ErrorCode::HttpRequestUriInvalid
                    | ErrorCode::HttpRequestMethodInvalid
            ),
        }
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::BadUrl => f.write_str("the url setting must be an https:// (or loopback http://) URL"),
            PostError::Build(what) => write!(f, "cannot build the request: {what}"),
            PostError::Http(ErrorCode::HttpRequestDenied) => f.write_str(
                "the gateway denied the request: add the URL's host to http_hosts in [plugins.grants.webhook-consumer]",
            ),
            PostError::Http(code) => write!(f, "the request failed: {code:?}"),
        }
    }
}

/// The parts of a URL the request needs.
struct Target<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_and_query: &'a str,
}

fn split(url: &str) -> Option<Target<'_>> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let tail = tail.split('#').next().unwrap_or("");
    let path_and_query = if tail.is_empty() { "/" } else { tail };
    Some(Target {
        scheme,
        authority,
        path_and_query,
    })
}

/// POSTs `body` with `headers` to `url` and returns the response status.
pub(crate) fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, PostError> {
    let target = split(url).ok_or(PostError::BadUrl)?;
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields).map_err(|_| PostError::Build("a header is invalid"))?;
    let request = OutgoingRequest::new(fields);
    let ok = request.set_method(&Method::Post).is_ok()
        && request.set_scheme(Some(&target.scheme)).is_ok()
        && request.set_authority(Some(target.authority)).is_ok()
        && request
            .set_path_with_query(Some(target.path_and_query))
            .is_ok();
    if !ok {
        return Err(PostError::BadUrl);
    }
    let outgoing = request
        .body()
        .map_err(|_| PostError::Build("no request body"))?;
    // Hand the request over first: the host streams the body as it is written.
    let response = outgoing_handler::handle(request, None).map_err(PostError::Http)?;
    {
        let stream = outgoing
            .write()
            .map_err(|_| PostError::Build("no body stream"))?;
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break; // the request failed; its error comes from `response`
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
    response.subscribe().block();
    match response.get() {
        Some(Ok(Ok(resp))) => Ok(resp.status()),
        Some(Ok(Err(code))) => Err(PostError::Http(code)),
        Some(Err(())) | None => Err(PostError::Build("the response was already taken")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_request_parts() {
        let t = split("https://hooks.example.com:8443/notion?x=1#frag").expect("valid");
        assert!(matches!(t.scheme, Scheme::Https));
        assert_eq!(t.authority, "hooks.example.com:8443");
        assert_eq!(t.path_and_query, "/notion?x=1");
        assert_eq!(
            split("http://127.0.0.1:9").expect("valid").path_and_query,
            "/"
        );
        assert!(split("ftp://x/").is_none());
        assert!(split("https://user@x/").is_none());
        assert!(split("https:///path").is_none());
    }
}
