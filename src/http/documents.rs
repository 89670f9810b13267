//! The static documents Notion asks public integrations for (Terms of Use,
//! Privacy Policy): Markdown rendered once at start into a clean page, HTML
//! and text served as they are.

use std::path::PathBuf;

use bytes::Bytes;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

use crate::config::DocumentConfig;

/// A document ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// The route it is served at.
    pub route: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The bytes sent.
    pub body: Bytes,
}

/// A document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("document {route}: cannot read {}: {reason}", path.display())]
pub struct DocumentError {
    /// The route.
    pub route: String,
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub reason: String,
}

/// Reads and renders every configured document.
pub(crate) fn load_documents(configs: &[DocumentConfig]) -> Result<Vec<Document>, DocumentError> {
    configs
        .iter()
        .map(|d| {
            let text = std::fs::read_to_string(&d.path).map_err(|e| DocumentError {
                route: d.route.clone(),
                path: d.path.clone(),
                reason: e.to_string(),
            })?;
            let ext = d.path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let (content_type, body) = match ext {
                "html" | "htm" => ("text/html; charset=utf-8", text),
                "txt" => ("text/plain; charset=utf-8", text),
                _ => ("text/html; charset=utf-8", render_markdown(&text)),
            };
            Ok(Document {
                route: d.route.clone(),
                content_type,
                body: Bytes::from(body),
            })
        })
        .collect()
}

/// Renders Markdown to a standalone page titled by its first heading.
pub(crate) fn render_markdown(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
    let mut title = String::new();
    let mut in_heading = false;
    let mut done = false;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::Heading { .. }) if !done => in_heading = true,
            Event::End(TagEnd::Heading(_)) if in_heading => {
                in_heading = false;
                done = true;
            }
            Event::Text(t) | Event::Code(t) if in_heading => title.push_str(&t),
            _ => {}
        }
    }
    let mut body = String::new();
    html::push_html(&mut body, Parser::new_ext(markdown, options));
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{}</style>\n</head>\n\
         <body>\n<main>\n{}</main>\n</body>\n</html>\n",
        crate::html::escape(if title.is_empty() { "Document" } else { &title }),
        STYLE,
        body
    )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#37352f;background:#fff;margin:0}\
main{max-width:44rem;margin:3rem auto;padding:0 1.5rem;line-height:1.6}h1{font-size:2rem}h2{margin-top:2rem}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3rem .6rem}code{background:#f4f4f2;padding:0 .2rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_a_titled_page() {
        let page = render_markdown("# Terms & \"Conditions\"\n\nHello *world*.\n");
        assert!(
            page.contains("<title>Terms &amp; &quot;Conditions&quot;</title>"),
            "{page}"
        );
        assert!(page.contains("<em>world</em>"));
    }
}
