//! The integration tests, compiled as one binary (ripgrep's layout: `autotests = false` and
//! one `[[test]]`), so the local servers and the fake Discord are built once and shared.
//!
//! Every server a test talks to runs on 127.0.0.1 (or ::1) and is started by the test itself:
//! `support` (HTTP/HTTPS, DNS, PKI, hostile echoes, a switchable endpoint, `medic watch` as a
//! child) and `fake_discord` (REST + gateway for the real serenity client).

mod fake_discord;
mod support;

mod alerts;
mod checks;
mod cli;
mod discord;
mod interactions;
mod knowledge;
mod operator;
mod shared_store;
