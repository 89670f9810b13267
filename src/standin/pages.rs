//! The stand-in's HTML: a consent page that says plainly it is not Notion.

use crate::html::escape;

/// The banner on every stand-in page.
const BANNER: &str = "<div class=\"banner\">STAND-IN for Notion &mdash; a local test double run by \
    notion-oauth-gateway. This is not Notion, and no Notion account is used.</div>";

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#fbfbfa;color:#37352f;margin:0}\
.banner{background:#ffe08a;padding:.6rem 1rem;font-weight:600;text-align:center}\
main{max-width:30rem;margin:8vh auto;background:#fff;padding:2rem;border:1px solid #e9e9e7;border-radius:10px}\
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #ccc;cursor:pointer;margin-right:.5rem}\
button.allow{background:#2383e2;color:#fff;border-color:#2383e2}code{word-break:break-all}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} (stand-in)</title><style>{STYLE}</style></head>\
         <body>{BANNER}<main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The consent page: Allow or Cancel, posting back with the request's fields.
pub(crate) fn consent(client_id: &str, redirect_uri: &str, state: Option<&str>) -> String {
    let state_field = state
        .map(|s| {
            format!(
                "<input type=\"hidden\" name=\"state\" value=\"{}\">",
                escape(s)
            )
        })
        .unwrap_or_default();
    page(
        "Allow access",
        &format!(
            "<h1>Allow access to Stand-in Workspace?</h1>\
             <p>The integration <code>{client}</code> asks to read and edit the pages you choose.</p>\
             <p>After you decide, you go back to <code>{redirect}</code>.</p>\
             <form method=\"post\" action=\"/v1/oauth/authorize\">\
             <input type=\"hidden\" name=\"client_id\" value=\"{client}\">\
             <input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect}\">{state_field}\
             <button class=\"allow\" id=\"allow\" name=\"decision\" value=\"allow\">Allow access</button>\
             <button id=\"cancel\" name=\"decision\" value=\"cancel\">Cancel</button></form>",
            client = escape(client_id),
            redirect = escape(redirect_uri),
        ),
    )
}

/// Notion's own error page for a bad authorize request (it does not redirect).
pub(crate) fn authorize_error(what: &str) -> String {
    page(
        "Something went wrong",
        &format!("<h1>Something went wrong</h1><p>{}</p>", escape(what)),
    )
}

/// The stand-in's index.
pub(crate) fn index() -> String {
    page(
        "Notion stand-in",
        "<h1>Notion stand-in</h1><p>Serves <code>GET /v1/oauth/authorize</code> (a consent page) and \
         <code>POST /v1/oauth/token</code> (the code and refresh grants), in Notion's documented shapes.</p>",
    )
}
