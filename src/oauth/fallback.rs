//! The gateway's own pages, used only when the view plugin itself fails, so
//! the browser always gets an answer with the right status.

use crate::html::escape;
use crate::plugins::Page;

/// A minimal page with `status`, a heading and one sentence (both plain text).
pub fn page(status: u16, heading: &str, sentence: &str) -> Page {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{h}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:10vh auto\"><h1>{h}</h1><p>{s}</p></body></html>\n",
        h = escape(heading),
        s = escape(sentence)
    );
    Page {
        status,
        headers: vec![(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body: body.into_bytes(),
    }
}
