//! The callback's page, kept briefly so the browser can fetch it at a clean
//! URL: the callback answers `303 See Other` to `{redirect}/{id}`, and the
//! code and state leave the address bar and the history (RFC 9700 §4.3.2).
//!
//! Pages are kept in memory, fetched once, for at most [`TTL`]. A page that
//! is gone (fetched, expired, or on another instance without sticky
//! sessions) becomes a neutral "finished" page: the flow itself, and the
//! token's delivery, already happened.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    by_id: HashMap<String, (Page, Instant)>,
    order: VecDeque<(String, Instant)>,
}

impl std::fmt::Debug for ResultPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultPages").finish_non_exhaustive()
    }
}

impl ResultPages {
    /// Keeps `page`; the id to fetch it with (128 random bits, hex).
    pub(crate) fn put(&self, page: Page, now: Instant) -> String {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let mut kept = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((oldest, at)) = kept.order.front()
            && (kept.order.len() >= MAX_PAGES || now.duration_since(*at) >= TTL)
        {
            let oldest = oldest.clone();
            kept.by_id.remove(&oldest);
            kept.order.pop_front();
        }
        kept.by_id.insert(id.clone(), (page, now));
        kept.order.push_back((id.clone(), now));
        id
    }

    /// The page kept under `id`, once, if it has not expired.
    pub(crate) fn take(&self, id: &str, now: Instant) -> Option<Page> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut kept = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let (page, at) = kept.by_id.remove(id)?;
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
        let id = store.put(page(200), t0);
        assert_eq!(id.len(), 32);
        assert_eq!(store.take(&id, t0).map(|p| p.status), Some(200));
        assert!(store.take(&id, t0).is_none(), "single use");
        let id = store.put(page(400), t0);
        assert!(store.take(&id, t0 + TTL).is_none(), "expired");
        assert!(store.take("../../etc", t0).is_none());
    }

    #[test]
    fn the_store_is_bounded() {
        let store = ResultPages::default();
        let t0 = Instant::now();
        let first = store.put(page(200), t0);
        for i in 0..MAX_PAGES {
            store.put(page(200), t0 + Duration::from_millis(i as u64 + 1));
        }
        assert!(store.take(&first, t0).is_none(), "the oldest was dropped");
        let kept = store.pages.lock().expect("lock");
        assert!(kept.by_id.len() <= MAX_PAGES && kept.order.len() <= MAX_PAGES);
    }
}
