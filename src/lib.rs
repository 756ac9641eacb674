//! medic helps teams fix broken system integrations from chat.
//!
//! # Layout
//! - [`knowledge`]: troubleshooting entries, embedded from `knowledge/` or loaded from a user
//!   directory, validated with `file:line` errors.
//! - [`matcher`]: reads error codes and symptoms from a message and ranks entries
//!   ([`matcher::Diagnosis`]).
//! - [`render`]: one renderer per surface (terminal text, JSON, Discord embed) for every result.
//! - [`cli`]: the `medic` command line; `main.rs` only maps its result to an exit code.
//! - [`error`]: the library's typed errors and their exit codes.

pub mod cli;
pub mod error;
pub mod knowledge;
pub mod matcher;
pub mod render;

pub use error::{Error, Result};
