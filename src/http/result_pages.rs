//! The callback's page, kept briefly so the browser can fetch it at a clean
//! URL: the callback answers `303 See Other` to `{redirect}/{id}`, and the
//! code and state leave the address bar and the history (RFC 9700 §4.3.2).
//!
//! Pages are kept in memory, fetched once, for at most [`TTL`], and only by
//! the browser that made the callback: each page is bound to that browser's
//! binding cookie (kept as its SHA-256), so a leaked result URL shows nothing
//! to anyone else. A page that is gone (fetched, expired, asked for by
//! another browser, or on another instance without sticky sessions) becomes
//! a neutral "finished" page: the flow itself, and the token's delivery,
//! already happened.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::plugins::Page;

/// How long a page waits to be fetched.
pub(crate) const TTL: Duration = Duration::from_secs(120);
/// The most pages kept; past it the oldest is dropped.
const MAX_PAGES: usize = 10_000;

/// Pages waiting for their browser.
#[derive(Default)]
pub(crate) struct ResultPages {
    pages: Mutex<Kept>,
}

/// The pages by id, and their ids in the order they were kept (oldest
/// first; an id whose page was fetched stays until it reaches the front),
/// so expiring and dropping the oldest cost no scan.
#[derive(Default)]
struct Kept {
    by_id: HashMap<String, (Page, Owner, Instant)>,
    order: VecDeque<(String, Instant)>,
}

impl std::fmt::Debug for ResultPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultPages").finish_non_exhaustive()
    }
}

/// The browser a page belongs to: the SHA-256 of its binding cookie's value.
type Owner = [u8; 32];

/// The owner for a binding cookie's value.
fn owner(binding: &str) -> Owner {
    Sha256::digest(binding.as_bytes()).into()
}

impl ResultPages {
    /// Keeps `page` for the browser whose binding cookie holds `binding`;
    /// the id to fetch it with (128 random bits, hex).
    pub(crate) fn put(&self, page: Page, binding: &str, now: Instant) -> String {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let mut kept = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((oldest, at)) = kept.order.front()
            && (kept.order.len() >= MAX_PAGES || now.duration_since(*at) >= TTL)
        {
            let oldest = oldest.clone();
            kept.by_id.remove(&oldest);
            kept.order.pop_front();
        }
        kept.by_id.insert(id.clone(), (page, owner(binding), now));
        kept.order.push_back((id.clone(), now));
        id
    }

    /// The page kept under `id`, once, if it has not expired and `binding`
    /// (the asking browser's binding cookie) is its owner's. Another
    /// browser's asking leaves the page for its owner.
    pub(crate) fn take(&self, id: &str, binding: Option<&str>, now: Instant) -> Option<Page> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let asker = owner(binding?);
        let mut kept = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let (_, owned_by, _) = kept.by_id.get(id)?;
        if !bool::from(owned_by.ct_eq(&asker)) {
            return None;
        }
        let (page, _, at) = kept.by_id.remove(id)?;
        (now.duration_since(at) < TTL).then_some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: u16) -> Page {
        Page {
            status,
            headers: Vec::new(),
            body: b"page".to_vec(),
        }
    }

    #[test]
    fn row09_a_page_is_fetched_once_and_only_before_it_expires() {
        let store = ResultPages::default();
        let t0 = Instant::now();
        let me = Some("browser-a");
        let id = store.put(page(200), "browser-a", t0);
        assert_eq!(id.len(), 32);
        assert_eq!(store.take(&id, me, t0).map(|p| p.status), Some(200));
        assert!(store.take(&id, me, t0).is_none(), "single use");
        let id = store.put(page(400), "browser-a", t0);
        assert!(store.take(&id, me, t0 + TTL).is_none(), "expired");
        assert!(store.take("../../etc", me, t0).is_none());
    }

    #[test]
    fn result_page_and_secrets_a_page_is_shown_only_to_the_browser_that_made_the_callback() {
        let store = ResultPages::default();
        let t0 = Instant::now();
        let id = store.put(page(200), "browser-a", t0);
        assert!(store.take(&id, Some("browser-b"), t0).is_none());
        assert!(store.take(&id, None, t0).is_none());
        assert_eq!(
            store.take(&id, Some("browser-a"), t0).map(|p| p.status),
            Some(200),
            "another browser's asking leaves the page for its owner"
        );
    }

    #[test]
    fn the_store_is_bounded() {
        let store = ResultPages::default();
        let t0 = Instant::now();
        let first = store.put(page(200), "b", t0);
        for i in 0..MAX_PAGES {
            store.put(page(200), "b", t0 + Duration::from_millis(i as u64 + 1));
        }
        assert!(
            store.take(&first, Some("b"), t0).is_none(),
            "the oldest was dropped"
        );
        let kept = store.pages.lock().expect("lock");
        assert!(kept.by_id.len() <= MAX_PAGES && kept.order.len() <= MAX_PAGES);
    }
}
