//! The callback's query string (checklist row 11): any bytes parse to a
//! result or a refusal, never a panic, and what is accepted obeys the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notion_oauth_gateway::oauth::CallbackParams;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = CallbackParams::parse(Some(query)) {
        assert!(p.code.is_some() != p.error.is_some());
        if let Some(code) = &p.code {
            assert!(code.expose().bytes().all(|b| b.is_ascii_graphic()));
        }
        if let Some(d) = &p.error_description {
            assert!(!d.chars().any(char::is_control));
        }
    }
});
