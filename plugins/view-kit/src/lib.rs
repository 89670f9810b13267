//! HTML helpers shared by the view plugins shipped with the gateway.
//!
//! Everything a view shows may come from an attacker (an `error` query value) or
//! from a user (a workspace name), so every text goes through [`escape`]. The
//! layout uses no script and no third-party resource: the gateway's
//! Content-Security-Policy forbids both.

/// Escapes text for use in HTML element content and in double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Wraps already-escaped `body_html` in a small, self-contained page titled `title` (plain text).
pub fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body_html}\n</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

/// The one stylesheet of every page, inline so the page needs nothing else.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f7f6f3;color:#37352f;margin:0}\
main{max-width:34rem;margin:12vh auto;padding:2rem 2.5rem;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{font-size:1.5rem;margin:0 0 1rem}p{line-height:1.5}.icon{font-size:2.5rem}img.icon{width:48px;height:48px;border-radius:8px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem}dt{font-weight:600}dd{margin:0;word-break:break-all}\
.muted{color:#787774;font-size:.9rem}";

/// Renders a workspace icon: an emoji as text, an `https:` image URL as an `<img>`, anything else not at all.
pub fn workspace_icon(icon: Option<&str>) -> String {
    match icon {
        Some(url) if url.starts_with("https://") => format!(
            "<img class=\"icon\" src=\"{}\" alt=\"\" referrerpolicy=\"no-referrer\">",
            escape(url)
        ),
        Some(text) if !text.is_empty() && text.chars().count() <= 8 && !text.contains(':') => {
            format!(
                "<div class=\"icon\" aria-hidden=\"true\">{}</div>",
                escape(text)
            )
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn icons_other_than_https_urls_and_short_text_are_dropped() {
        assert_eq!(workspace_icon(Some("javascript:alert(1)")), "");
        assert_eq!(workspace_icon(Some("http://plain.example/icon.png")), "");
        assert!(workspace_icon(Some("https://s3.example/i.png")).starts_with("<img"));
        assert!(workspace_icon(Some("🚀")).contains("🚀"));
        assert_eq!(workspace_icon(None), "");
    }
}
