//! Where a view may send the browser after the flow: only to a path on the
//! gateway's own site, never to a URL taken from the request, so app data
//! such as `?data=/welcome` cannot turn the gateway into an open redirector
//! (RFC 9700 §4.11, RFC 6749 §10.15).

use url::Url;

/// The longest redirect target accepted.
const MAX_LEN: usize = 2048;

/// Whether `target` is a path on this site: `/` followed by printable ASCII,
/// no backslash, and resolving, by the URL rules browsers use, to this
/// origin with a path that does not start with `//`. The same must hold once
/// it is percent-decoded, and decoded again, since an app or a proxy may
/// decode a target before redirecting to it.
pub(crate) fn is_local_path(target: &str) -> bool {
    if target.len() > MAX_LEN {
        return false;
    }
    let mut current = target.as_bytes().to_vec();
    for _ in 0..3 {
        if !stays_here(&current) {
            return false;
        }
        let next = percent_encoding::percent_decode(&current).collect::<Vec<u8>>();
        if next == current {
            return true;
        }
        current = next;
    }
    false
}

/// One stage of [`is_local_path`], on the target as it stands.
fn stays_here(bytes: &[u8]) -> bool {
    // Browsers drop tabs and newlines inside URLs and read `\` as `/`, so
    // `/\t/evil` and `/\evil` are both `//evil` to them.
    if bytes.first() != Some(&b'/')
        || matches!(bytes.get(1), Some(b'/'))
        || !bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\')
    {
        return false;
    }
    let (Ok(text), Ok(base)) = (
        std::str::from_utf8(bytes),
        Url::parse("https://gateway.invalid/"),
    ) else {
        return false;
    };
    // A path that resolves to `//host` (`/..//evil`) would be read as
    // another host by the next hop that rebuilds a URL from it.
    base.join(text).is_ok_and(|u| {
        u.origin() == base.origin() && u.username().is_empty() && !u.path().starts_with("//")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row15_off_site_targets_are_refused() {
        // The full payload corpus (tests/fixtures/open-redirects.txt) runs
        // through the gateway in tests/checklist.rs; these are its shapes.
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/%2f%2fevil.example",
            "/%5cevil.example",
            "https://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "/\u{3002}/evil",
            "evil.example",
            "",
        ] {
            assert!(!is_local_path(evil), "{evil:?}");
        }
    }

    #[test]
    fn paths_on_this_site_are_accepted() {
        for ok in [
            "/",
            "/welcome",
            "/app/settings?tab=notion&ok=1",
            "/a/b/../c",
            "/%7Euser",
            "/done#top",
        ] {
            assert!(is_local_path(ok), "{ok}");
        }
        assert!(!is_local_path(&format!("/{}", "a".repeat(MAX_LEN))));
    }
}
