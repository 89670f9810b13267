//! The integration tests, as one test binary (one link of wasmtime and the
//! gateway instead of one per file). Each module is one area; `support` is
//! the shared harness: the gateway and the Notion stand-in on loopback
//! ports of their own, a cookie-keeping browser, and the real binary.

mod support;

mod admin;
mod app_data;
mod balanced;
mod browser;
mod canary;
mod capabilities;
mod checklist;
mod cli;
mod console_browser;
mod deploy;
mod failures;
mod flow;
mod handoff;
mod hostile;
mod http;
mod instances;
mod languages;
mod plugins;
mod postgres;
mod reload;
mod sandbox;
mod scaffold;
mod tls;
mod trial;
mod vault;
