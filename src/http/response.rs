//! The kinds of response the gateway sends, built in one place: a page
//! (the view's or the gateway's own), a redirect, plain text, and JSON.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::headers::view_may_set;
use crate::html::escape;
use crate::plugins::Page;

/// The response body type.
pub type Body = Full<Bytes>;

/// A page as a response, keeping only the headers a view may set.
pub(super) fn page(page: Page) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::from(page.body)));
    *response.status_mut() =
        StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in page.headers {
        if view_may_set(&name, &value) {
            response.headers_mut().append(name, value);
        }
    }
    if !response.headers().contains_key(header::CONTENT_TYPE) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    response
}

/// The gateway's own minimal page: `status`, a heading and one sentence
/// (both plain text). Used where no view has a say, or the view failed.
pub(super) fn own_page(status: u16, heading: &str, sentence: &str) -> Page {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{h}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:10vh auto\"><h1>{h}</h1><p>{s}</p></body></html>\n",
        h = escape(heading),
        s = escape(sentence)
    );
    Page {
        status,
        headers: Vec::new(),
        body: body.into_bytes(),
    }
}

/// An empty response sending the browser to `location`.
pub(super) fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::LOCATION, location)
        .body(Body::default())
        .unwrap_or_else(|_| internal())
}

/// A plain-text response.
pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    with_type(
        status,
        Bytes::from_static(body.as_bytes()),
        "text/plain; charset=utf-8",
    )
}

/// A body served as is, with its content type.
pub(super) fn with_type(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
) -> Response<Body> {
    let mut r = Response::new(Body::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The answer when building a response itself failed.
pub(super) fn internal() -> Response<Body> {
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

/// `r` setting `cookie` (a `Set-Cookie` value), when there is one; the
/// internal-error answer if it cannot be a header value.
pub(super) fn with_cookie(mut r: Response<Body>, cookie: Option<&str>) -> Response<Body> {
    let Some(cookie) = cookie else { return r };
    match HeaderValue::from_str(cookie) {
        Ok(value) => {
            r.headers_mut().insert(header::SET_COOKIE, value);
            r
        }
        Err(_) => internal(),
    }
}

/// A JSON response.
pub(super) fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    with_type(status, Bytes::from(body), "application/json")
}

/// A JSON error: `{"error": code, "message": message}`.
pub(super) fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}
