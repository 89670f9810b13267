//! One thing wrong with a config file, with where it is and what to do.

use std::fmt;

/// A config problem (or warning) that names the file, the line and column when
/// known, the dotted key, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The config file's path as the user gave it (or a label such as `<dev>`).
    pub file: String,
    /// 1-based line and column of the key, when the key is in the file.
    pub position: Option<(usize, usize)>,
    /// The dotted key, e.g. `notion.redirect_uri`.
    pub key: String,
    /// What is wrong and what to do, in one sentence.
    pub message: String,
}

impl ConfigProblem {
    /// A problem with `key` in the config source `src` read from `file`.
    pub fn at(file: &str, src: &str, key: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            position: Locator::new(src).locate(key),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Finds where a dotted key stands in TOML source, to point the user at it.
pub(crate) struct Locator<'a> {
    src: &'a str,
    doc: Option<toml_edit::Document<&'a str>>,
}

impl<'a> Locator<'a> {
    /// Parses `src` for spans; a source that does not parse locates nothing.
    pub(crate) fn new(src: &'a str) -> Self {
        Self {
            src,
            doc: toml_edit::Document::parse(src).ok(),
        }
    }

    /// The 1-based line and column of `key` (its deepest part present in the file).
    pub(crate) fn locate(&self, key: &str) -> Option<(usize, usize)> {
        let doc = self.doc.as_ref()?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut found = None;
        for part in split_key(key) {
            let Some((k, item)) = table.get_key_value(&part) else {
                break;
            };
            found = k.span().or_else(|| item.span()).or(found);
            match item.as_table_like() {
                Some(t) => table = t,
                None => break,
            }
        }
        found.map(|span| self.line_col(span.start))
    }

    /// The 1-based line and column of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The dotted name of the table header above a byte offset, e.g. `notion`
    /// (empty at the top level).
    pub(crate) fn table_at(&self, offset: usize) -> String {
        let before = &self.src[..offset.min(self.src.len())];
        before
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
            .unwrap_or_default()
    }
}

/// Splits `a.b."c.d"` into its parts, honouring quotes (document routes such as
/// `documents."/terms"` contain no dots, but plugin names may be quoted).
fn split_key(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_and_quoted_parts() {
        let src = "[server]\nlisten = \"x\"\n\n[documents]\n\"/terms\" = \"t.md\"\n";
        let l = Locator::new(src);
        assert_eq!(l.locate("server.listen"), Some((2, 1)));
        assert_eq!(l.locate("documents.\"/terms\""), Some((5, 1)));
        assert_eq!(l.locate("server"), Some((1, 2)));
        assert_eq!(l.locate("notion.client_id"), None);
        assert_eq!(l.table_at(src.len()), "documents");
    }
}
