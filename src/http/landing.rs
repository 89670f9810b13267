//! An optional page at the base path with a "Connect Notion" link, for demos
//! and for apps that have no page of their own to start the flow from.

use crate::config::Config;
use crate::html::escape;

/// Renders the landing page for `config`.
pub(crate) fn render(config: &Config) -> String {
    let docs: String = config
        .documents
        .iter()
        .map(|d| {
            let label = d.route.rsplit('/').next().unwrap_or(&d.route);
            format!(
                " · <a href=\"{}\">{}</a>",
                escape(&d.route),
                escape(&capitalise(label))
            )
        })
        .collect();
    let stand_in = if crate::config::is_loopback_url(&config.notion.authorize_url) {
        format!(
            "<p class=\"note\">Demo mode: Notion is replaced by a local <strong>stand-in</strong> at {}. \
             No real Notion account is involved.</p>",
            escape(
                config
                    .notion
                    .authorize_url
                    .origin()
                    .ascii_serialization()
                    .as_str()
            )
        )
    } else {
        String::new()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Connect Notion</title>\
         <style>body{{font-family:system-ui,sans-serif;background:#f7f6f3;color:#37352f}}\
         main{{max-width:32rem;margin:14vh auto;background:#fff;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}}\
         a.button{{display:inline-block;background:#2383e2;color:#fff;padding:.7rem 1.3rem;border-radius:8px;text-decoration:none;font-weight:600}}\
         .note{{background:#fdf5e6;padding:.6rem .8rem;border-radius:6px;font-size:.9rem}}.muted{{color:#787774;font-size:.9rem}}</style>\
         </head><body><main><h1>Connect your Notion workspace</h1>{stand_in}\
         <p><a class=\"button\" id=\"connect\" href=\"{start}\">Connect Notion</a></p>\
         <p class=\"muted\">notion-oauth-gateway{docs}</p></main></body></html>\n",
        start = escape(&config.routes.start),
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
