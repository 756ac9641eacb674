//! medic helps teams fix broken system integrations from chat.
//!
//! # Layout
//! From the bottom up; a module imports only modules listed above it.
//! - Leaves: [`located`] (a problem at `file:line`), [`text`] (cutting text), [`codec`] (the
//!   byte form of data `build.rs` prepares), [`clock`] (one
//!   [`clock::Clock`] for checks, alerts and cooldowns), [`secrets`] (secret values, where they
//!   come from, which URL parts are secret), [`redact`] (the redaction gate every
//!   server-supplied or error string passes).
//! - [`knowledge`]: troubleshooting entries, embedded from `knowledge/` or loaded from a user
//!   directory, validated with `file:line` errors ([`knowledge::LoadErrors`]).
//! - [`config`]: `medic.toml` — endpoints to check, Discord settings, alert policy — validated
//!   with `file:line` errors ([`config::ConfigErrors`]); secrets resolved from the environment.
//! - [`matcher`]: reads error codes and symptoms from a message and ranks entries
//!   ([`matcher::Diagnosis`]).
//! - [`checks`]: checks an endpoint stage by stage (DNS, TCP, TLS, HTTP, credentials, rate
//!   limit, format) into a [`checks::CheckReport`] whose failing stage names a knowledge entry.
//! - [`error`]: the library's typed [`Error`], wrapping the lower modules' errors; its exit
//!   codes are decided in one place.
//! - [`store`]: the [`store::Store`] interface, the records it keeps ([`store::model`]) and the
//!   SQLite backend ([`store::SqliteStore`]).
//! - [`alerts`]: scheduled checks and the incident state machine — thresholds, reminders,
//!   acknowledgements, silences — producing [`alerts::Alert`]s, delivered through an outbox into
//!   a [`alerts::delivery::Sink`] that a surface provides. No surface code here.
//! - [`commands`]: the command logic every chat surface shares (`/diagnose`, `/check`, …),
//!   returning data; [`commands::conversation`] remembers each conversation's last answer
//!   for follow-ups.
//! - [`render`]: one renderer per surface — [`render::terminal`], [`render::discord`],
//!   [`render::json`] — the only code that turns results into text.
//! - Surfaces: [`discord`] (the poise/serenity bot, its alert sink, slash commands, buttons),
//!   [`console`] (`medic chat` and `medic watch`'s stdout sink).
//! - [`cli`]: the `medic` command line, wiring stores, sinks and surfaces together; `main.rs`
//!   only maps its result to an exit code.

#![warn(unreachable_pub)]

pub mod alerts;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod commands;
pub mod config;
pub mod console;
pub mod discord;
pub mod error;
pub mod knowledge;
pub mod located;
pub mod matcher;
pub mod metrics;
pub mod redact;
pub mod render;
pub mod secrets;
pub mod store;
pub mod text;

pub use error::{Error, Result};
