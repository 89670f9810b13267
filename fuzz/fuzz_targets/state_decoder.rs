//! The signed state (checklist rows 1 and 11): arbitrary input never panics
//! and never verifies; a state the codec issued always does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notion_oauth_gateway::oauth::StateCodec;
use notion_oauth_gateway::secret::SecretBytes;

fuzz_target!(|data: &[u8]| {
    let codec = StateCodec::new(
        SecretBytes::new(vec![7; 32]),
        "fuzz-client",
        "https://gateway.example/cb",
        600,
    );
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(codec.verify(text, Some("binding"), 1_000).is_err());
        let app_data = text.get(..text.len().min(512));
        let issued = codec.issue("binding", app_data, 1_000);
        let verified = codec
            .verify(&issued, Some("binding"), 1_001)
            .expect("an issued state verifies");
        assert_eq!(verified.app_data.as_deref(), app_data);
    }
});
