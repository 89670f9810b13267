//! The config loader: any text is a checked config or a list of problems
//! that each name a key, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notion_oauth_gateway::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "SECRET").then(|| "fuzz-secret".to_string());
    match Config::from_toml(text, "fuzz.toml", &env) {
        Ok(config) => assert!(!config.notion.client_id.is_empty()),
        Err(e) => assert!(e.problems.iter().all(|p| !p.key.is_empty())),
    }
});
