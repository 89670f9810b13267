//! The callback's page, kept briefly so the browser can fetch it at a clean
//! URL: the callback answers `303 See Other` to `{redirect}/{id}`, and the
//! code and state leave the address bar and the history (RFC 9700 §4.3.2).
//!
//! Pages are fetched once, for at most [`TTL`], and only by the browser that
//! made the callback: each page is bound to that browser's binding cookie
//! (kept as its SHA-256), so a leaked result URL shows nothing to anyone
//! else. A single instance keeps them in memory; on PostgreSQL they are
//! kept in the store, sealed like tokens (they can hold names and emails),
//! so the callback and the page's fetch may land on different instances. A
//! page that is gone (fetched, expired, asked for by another browser)
//! becomes a neutral "finished" page: the flow itself, and the token's
//! delivery, already happened.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::plugins::Page;
use crate::vault::{Row, Vault};

/// Where result pages are kept.
pub(crate) enum ResultPages {
    /// In this process (one instance).
    Memory(MemoryPages),
    /// In the vault's store, shared by every instance.
    Shared(Arc<Vault>),
}

impl std::fmt::Debug for ResultPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Memory(_) => "ResultPages::Memory",
            Self::Shared(_) => "ResultPages::Shared",
        })
    }
}

impl ResultPages {
    /// The pages for `vault`: in its store when that is PostgreSQL, else in
    /// memory.
    pub(crate) fn for_vault(vault: &Arc<Vault>) -> Self {
        if vault.store().is_postgres() {
            Self::Shared(vault.clone())
        } else {
            Self::Memory(MemoryPages::default())
        }
    }

    /// Keeps `page` for the browser whose binding cookie holds `binding`;
    /// the id to fetch it with (128 random bits, hex). `Err` gives the page
    /// back when it could not be kept, to be shown at once instead.
    pub(crate) async fn put(&self, page: Page, binding: &str) -> Result<String, Page> {
        match self {
            Self::Memory(memory) => Ok(memory.put(page, binding, Instant::now())),
            Self::Shared(vault) => {
                let id = new_id();
                let id_hash = hex::encode(Sha256::digest(id.as_bytes()));
                let Ok(plain) = serde_json::to_vec(&StoredPage::of(&page)) else {
                    return Err(page);
                };
                let sealed = match vault.sealer().seal_bytes(&plain, Row::ResultPage(&id_hash)) {
                    Ok(sealed) => sealed,
                    Err(e) => {
                        tracing::warn!("cannot seal a result page, showing it at once: {e}");
                        return Err(page);
                    }
                };
                let now = crate::clock::unix_ms();
                let expires_at = now + crate::vault::store::ms(TTL);
                let owner = hex::encode(owner(binding));
                match vault
                    .store()
                    .put_page(&id_hash, &owner, sealed, expires_at, now)
                    .await
                {
                    Ok(()) => Ok(id),
                    Err(e) => {
                        tracing::warn!("cannot keep a result page, showing it at once: {e}");
                        Err(page)
                    }
                }
            }
        }
    }

    /// The page kept under `id`, once, if it has not expired and `binding`
    /// (the asking browser's binding cookie) is its owner's.
    pub(crate) async fn take(&self, id: &str, binding: Option<&str>) -> Option<Page> {
        match self {
            Self::Memory(memory) => memory.take(id, binding, Instant::now()),
            Self::Shared(vault) => {
                if !is_id(id) {
                    return None;
                }
                let id_hash = hex::encode(Sha256::digest(id.as_bytes()));
                let owner = hex::encode(owner(binding?));
                let now = crate::clock::unix_ms();
                let sealed = match vault.store().take_page(&id_hash, &owner, now).await {
                    Ok(sealed) => sealed?,
                    Err(e) => {
                        tracing::warn!("cannot read a result page: {e}");
                        return None;
                    }
                };
                let plain = vault
                    .sealer()
                    .open_bytes(&sealed, Row::ResultPage(&id_hash))
                    .map_err(|e| tracing::warn!("cannot open a result page: {e}"))
                    .ok()?;
                let stored: StoredPage = serde_json::from_slice(plain.expose()).ok()?;
                stored.page()
            }
        }
    }
}

/// A page as the store keeps it (sealed): header values and the body in
/// base64, so any bytes survive.
#[derive(Serialize, Deserialize)]
struct StoredPage {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl StoredPage {
    fn of(page: &Page) -> Self {
        Self {
            status: page.status,
            headers: page
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), B64.encode(v.as_bytes())))
                .collect(),
            body: B64.encode(&page.body),
        }
    }

    fn page(self) -> Option<Page> {
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_bytes(&B64.decode(value).ok()?).ok()?;
            headers.push((name, value));
        }
        Some(Page {
            status: self.status,
            headers,
            body: B64.decode(self.body).ok()?,
        })
    }
}

/// A fresh page id: 128 random bits, hex.
fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `id` has the shape of a page id.
fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How long a page waits to be fetched.
pub(crate) const TTL: Duration = Duration::from_secs(120);
/// The most pages kept; past it the oldest is dropped.
const MAX_PAGES: usize = 10_000;
/// The most bytes of pages kept (bodies and headers); past it the oldest
/// are dropped. A browser fetches its page right after the callback, so
/// what waits is what nobody fetches: the default view's pages (under 2 KB)
/// fit more than 4,000 times, and a view's large pages cannot grow the
/// process without bound.
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Pages waiting for their browser, in this process.
#[derive(Default)]
pub(crate) struct MemoryPages {
    pages: Mutex<Kept>,
}

/// The pages by id, and their ids in the order they were kept (oldest
/// first; an id whose page was fetched stays until it reaches the front),
/// so expiring and dropping the oldest cost no scan.
#[derive(Default)]
struct Kept {
    by_id: HashMap<String, (Page, Owner, Instant)>,
    order: VecDeque<(String, Instant)>,
    /// The pages' [`size`]s, summed.
    bytes: usize,
}

/// What a kept page weighs: its body and its headers.
fn size(page: &Page) -> usize {
    let headers: usize = page
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    page.body.len() + headers
}

/// The browser a page belongs to: the SHA-256 of its binding cookie's value.
type Owner = [u8; 32];

/// The owner for a binding cookie's value.
fn owner(binding: &str) -> Owner {
    Sha256::digest(binding.as_bytes()).into()
}

impl MemoryPages {
    /// Keeps `page` for the browser whose binding cookie holds `binding`;
    /// the id to fetch it with (128 random bits, hex).
    fn put(&self, page: Page, binding: &str, now: Instant) -> String {
        let id = new_id();
        let weight = size(&page);
        let mut kept = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((oldest, at)) = kept.order.front()
            && (kept.order.len() >= MAX_PAGES
                || kept.bytes + weight > MAX_BYTES
                || now.duration_since(*at) >= TTL)
        {
            let oldest = oldest.clone();
            if let Some((dropped, _, _)) = kept.by_id.remove(&oldest) {
                kept.bytes -= size(&dropped);
            }
            kept.order.pop_front();
        }
        kept.bytes += weight;
        if let Some((replaced, _, _)) = kept.by_id.insert(id.clone(), (page, owner(binding), now)) {
            kept.bytes -= size(&replaced);
        }
        kept.order.push_back((id.clone(), now));
        id
    }

    /// The page kept under `id`, once, if it has not expired and `binding`
    /// (the asking browser's binding cookie) is its owner's. Another
    /// browser's asking leaves the page for its owner.
    fn take(&self, id: &str, binding: Option<&str>, now: Instant) -> Option<Page> {
        if !is_id(id) {
            return None;
        }
        let asker = owner(binding?);
        let mut kept = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let (_, owned_by, _) = kept.by_id.get(id)?;
        if !bool::from(owned_by.ct_eq(&asker)) {
            return None;
        }
        let (page, _, at) = kept.by_id.remove(id)?;
        kept.bytes -= size(&page);
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
        let store = MemoryPages::default();
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
        let store = MemoryPages::default();
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
        let store = MemoryPages::default();
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

    #[test]
    fn the_store_is_bounded_in_bytes_and_counts_what_it_keeps() {
        let store = MemoryPages::default();
        let t0 = Instant::now();
        let big = |n: u8| Page {
            status: 200,
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html"),
            )],
            body: vec![n; 1024 * 1024],
        };
        let first = store.put(big(0), "b", t0);
        let mut ids = Vec::new();
        for n in 1..=12 {
            ids.push(store.put(big(n), "b", t0 + Duration::from_millis(u64::from(n))));
        }
        assert!(
            store.take(&first, Some("b"), t0).is_none(),
            "the oldest was dropped to keep the bytes bounded"
        );
        {
            let kept = store.pages.lock().expect("lock");
            let weighed: usize = kept.by_id.values().map(|(p, _, _)| size(p)).sum();
            assert_eq!(kept.bytes, weighed, "the running sum is what is kept");
            assert!(kept.bytes <= MAX_BYTES, "{} bytes kept", kept.bytes);
        }
        // The newest is there, whole, and taking it gives back its bytes.
        let newest = ids.last().expect("pages");
        let page = store
            .take(newest, Some("b"), t0)
            .expect("the newest is kept");
        assert_eq!(page.body, vec![12; 1024 * 1024]);
        let kept = store.pages.lock().expect("lock");
        let weighed: usize = kept.by_id.values().map(|(p, _, _)| size(p)).sum();
        assert_eq!(kept.bytes, weighed);
    }
}
