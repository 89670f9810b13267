//! The `[documents]` table: the pages Notion asks public integrations for
//! (Terms of Use, Privacy Policy), each a route and the file it serves.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Routes;
use super::checker::{Checker, quote_key};
use super::routes::with_base;

/// `[documents]` as written: route to file.
pub(crate) type RawDocuments = BTreeMap<String, String>;

/// One document route, such as the Terms of Use.
#[derive(Debug, Clone)]
pub struct DocumentConfig {
    /// The route (with the base path applied).
    pub route: String,
    /// The file to serve: Markdown is rendered, `.html` and `.txt` are sent as is.
    pub path: PathBuf,
}

/// Checks `[documents]`: each route free and each file one the gateway can serve.
pub(super) fn check(
    c: &mut Checker<'_>,
    raw: &RawDocuments,
    base_path: &str,
    routes: &Routes,
) -> Vec<DocumentConfig> {
    let mut documents = Vec::new();
    let reserved = [
        &routes.start,
        &routes.redirect,
        &routes.health,
        &routes.metrics,
    ];
    for (route, file) in raw {
        let key = format!("documents.{}", quote_key(route));
        c.route(&key, Some(route), "");
        let full = with_base(base_path, route);
        if reserved.contains(&&full) {
            c.error(
                &key,
                format!("the route {full} is already the gateway's own; pick another path"),
            );
        }
        let path = PathBuf::from(file);
        let known = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "markdown" | "html" | "htm" | "txt")
        );
        if !known {
            c.error(
                &key,
                format!(
                    "{file} must end in .md, .html or .txt so the gateway knows how to serve it"
                ),
            );
        } else if !path.is_file() {
            c.error(
                &key,
                format!("{file} does not exist (paths are relative to the working directory)"),
            );
        }
        documents.push(DocumentConfig { route: full, path });
    }
    documents
}
