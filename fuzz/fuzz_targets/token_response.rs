//! Notion's token response and error bodies (checklist rows 9 and 11): any
//! bytes are a token, a refusal or an error body, never a panic, and a
//! refusal's message never echoes the body (seed inputs carry `SECRET`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use notion_oauth_gateway::notion::{OAuthErrorBody, TokenResponse};

fuzz_target!(|data: &[u8]| {
    match TokenResponse::parse(data) {
        Ok(token) => assert!(!token.access_token.is_empty()),
        // Whatever the body holds (here: a marker standing for a token),
        // the message is made of the parser's own words.
        Err(message) => assert!(!message.contains("SECRET"), "{message}"),
    }
    let _ = OAuthErrorBody::parse(data).map(|b| b.code().len());
});
