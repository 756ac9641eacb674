//! medic helps teams fix broken system integrations from chat.
//!
//! # Layout
//! - [`knowledge`]: troubleshooting entries, embedded from `knowledge/` or loaded from a user
//!   directory, validated with `file:line` errors.
//! - [`matcher`]: reads error codes and symptoms from a message and ranks entries
//!   ([`matcher::Diagnosis`]).
//! - [`config`]: `medic.toml` — endpoints to check, Discord settings, alert policy — validated
//!   with `file:line` errors; secrets resolved from the environment, never stored in the file.
//! - [`checks`]: checks an endpoint stage by stage (DNS, TCP, TLS, HTTP, credentials, rate
//!   limit, format) into a [`checks::CheckReport`] whose failing stage names a knowledge entry.
//! - [`secrets`]: secret values, where they come from, which URL parts are secret.
//! - [`redact`]: the redaction gate every server-supplied or error string passes.
//! - [`commands`]: the command logic every chat surface shares (`/diagnose`, `/help`, …),
//!   returning data.
//! - [`discord`]: the Discord bot (poise on serenity): slash commands, free-text answers,
//!   cooldowns; [`discord::run`] is handed its settings and shutdown signal.
//! - [`alerts`]: scheduled checks and the incident state machine — thresholds, reminders,
//!   acknowledgements, silences — producing [`alerts::Alert`]s, delivered through an outbox.
//! - [`store`]: the SQLite state file (`MEDIC_DB`): check history, incidents, silences, outbox.
//! - [`console`]: `medic chat`, the same commands on stdin/stdout without Discord.
//! - [`render`]: one renderer per surface (terminal text, JSON, Discord embed) for every result.
//! - [`cli`]: the `medic` command line; `main.rs` only maps its result to an exit code.
//! - [`error`]: the library's typed errors and their exit codes.

pub mod alerts;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod discord;
pub mod error;
pub mod knowledge;
pub mod located;
pub mod matcher;
pub mod redact;
pub mod render;
pub mod secrets;
pub mod store;
pub mod text;

pub use error::{Error, Result};
