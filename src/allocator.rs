//! The process's memory allocator: mimalloc instead of the C library's.
//!
//! The callback path makes many small, short-lived allocations on several
//! threads at once (hyper, reqwest, wasmtime's instances, the store's
//! threads, SQLite), and `perf` put glibc's malloc and free at about a
//! tenth of the gateway's CPU under load; with mimalloc the gateway spends
//! a fifth less CPU per callback (README, benchmark section).
//!
//! Built without transparent huge pages (`no_thp`): with them every 2 MiB
//! the allocator touches becomes resident, and the gateway's peak RSS
//! doubled. Two options keep the rest of its footprint where glibc's was;
//! they are set before anything else runs, as mimalloc reads them when it
//! frees memory.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t`: how long a freed
/// page stays resident before it is given back (mimalloc's default: 1 s).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// `mi_option_page_full_retain`: how many empty pages per size class a
/// thread keeps (default 2).
const PAGE_FULL_RETAIN: libmimalloc_sys::mi_option_t = 36;

/// Freed memory goes back to the system after 10 ms instead of a second,
/// and threads keep no spare empty pages: under load the pages are reused
/// long before either matters, and the peak stays that of the live data.
pub(crate) fn tune() {
    set(PURGE_DELAY, 10);
    set(PAGE_FULL_RETAIN, 0);
}

#[allow(unsafe_code)]
fn set(option: libmimalloc_sys::mi_option_t, value: std::ffi::c_long) {
    // SAFETY: mi_option_set takes any option number and value and only
    // stores the value; it allocates nothing and may run at any time.
    unsafe { libmimalloc_sys::mi_option_set(option, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn get(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
        // SAFETY: reads an option's value; allocates nothing.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    /// The numbers name the options meant: before `tune`, each reads back
    /// mimalloc 3's default for it (a renumbered enum after an upgrade of
    /// the crate fails here instead of tuning something else).
    #[test]
    fn option_numbers_are_the_options_meant() {
        assert_eq!(get(PURGE_DELAY), 1000, "mi_option_purge_delay moved");
        assert_eq!(get(PAGE_FULL_RETAIN), 2, "mi_option_page_full_retain moved");
        tune();
        assert_eq!(get(PURGE_DELAY), 10);
        assert_eq!(get(PAGE_FULL_RETAIN), 0);
    }
}
