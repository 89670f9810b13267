//! A debugging view: shows every field Notion returned about the authorization,
//! and the state info, as a table. It never receives the token's secrets (the
//! gateway gives views no access or refresh token), so it cannot show them.
//!
//! Do not use it in production: it shows user data such as the email address.

wit_bindgen::generate!({ path: "../../wit", world: "view-plugin", generate_all });

use exports::notion::oauth::view::Guest;
use notion::oauth::types::{
    Authorization, ErrorInfo, HttpResponse, Owner, RedirectError, StateInfo,
};
use view_kit::{escape, page};

struct EchoView;

fn rows(pairs: &[(&str, Option<String>)]) -> String {
    let mut out = String::from("<dl>\n");
    for (name, value) in pairs {
        let shown = value
            .as_deref()
            .map(escape)
            .unwrap_or_else(|| "<em>none</em>".into());
        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(name), shown));
    }
    out.push_str("</dl>");
    out
}

fn state_rows(state: &StateInfo) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("request id", Some(state.request_id.clone())),
        ("app data", state.app_data.clone()),
        ("started at", state.started_at.map(|t| t.to_string())),
        ("passthrough state", state.passthrough_state.clone()),
    ]
}

fn html(status: u16, title: &str, body: String) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: page(title, &format!("<h1>{}</h1>\n{body}", escape(title))).into_bytes(),
    }
}

impl Guest for EchoView {
    fn make_auth_response(a: Authorization, state: StateInfo) -> HttpResponse {
        let mut fields = vec![
            ("bot_id", Some(a.bot_id)),
            ("token_type", Some(a.token_type)),
            ("workspace_id", Some(a.workspace_id)),
            ("workspace_name", a.workspace_name),
            ("workspace_icon", a.workspace_icon),
            ("duplicated_template_id", a.duplicated_template_id),
            ("request_id", a.request_id),
        ];
        match a.owner {
            Owner::Workspace => fields.push(("owner", Some("workspace".into()))),
            Owner::User(u) => {
                fields.push(("owner", Some("user".into())));
                fields.push(("owner.user.id", Some(u.id)));
                fields.push(("owner.user.type", u.user_type));
                fields.push(("owner.user.name", u.name));
                fields.push(("owner.user.avatar_url", u.avatar_url));
                fields.push(("owner.user.email", u.email));
                fields.push((
                    "owner.user.email_verified",
                    u.email_verified.map(|v| v.to_string()),
                ));
            }
        }
        fields.extend(state_rows(&state));
        html(200, "Authorization received", rows(&fields))
    }

    fn make_access_denied_response(error: RedirectError, state: StateInfo) -> HttpResponse {
        let mut fields = vec![
            ("error", Some(error.error)),
            ("error_description", error.error_description),
        ];
        fields.extend(state_rows(&state));
        html(403, "Access denied", rows(&fields))
    }

    fn make_error_response(error: ErrorInfo, state: Option<StateInfo>) -> HttpResponse {
        let mut fields = vec![
            ("kind", Some(format!("{:?}", error.kind))),
            ("status", Some(error.status.to_string())),
            ("message", Some(error.message)),
        ];
        if let Some(state) = state {
            fields.extend(state_rows(&state));
        }
        html(error.status, "Error", rows(&fields))
    }
}

export!(EchoView);
