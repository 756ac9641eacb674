//! The library's typed errors and the one place they become process exit codes.

use crate::config::ConfigErrors;
use crate::knowledge::LoadErrors;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Broken knowledge files: every problem, each as `file:line: message`.
    #[error("{0}")]
    Knowledge(#[from] LoadErrors),
    /// A broken `medic.toml`: every problem, each as `file:line: message`.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// Checks found failing endpoints (the reports themselves were already printed).
    #[error("failing: {}", .endpoints.join(", "))]
    CheckFailed { endpoints: Vec<String> },
    /// `medic status` found endpoints down, failing or not configured (the table was printed).
    #[error("needs attention: {}", .endpoints.join(", "))]
    NeedsAttention { endpoints: Vec<String> },
    /// The user asked for something that cannot be done as asked (unknown id, bad flag).
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The Discord connection failed (gateway, REST, or an unreachable `DISCORD_API_BASE`).
    /// `detail` is redacted by [`Error::discord`]: serenity's own error text can quote the token.
    #[error("{context}{}", if .detail.is_empty() { String::new() } else { format!(": {}", .detail) })]
    Discord { context: String, detail: String },
    /// The state database (`MEDIC_DB`) cannot be used: corrupted, foreign, unwritable, locked.
    #[error("database {path}: {message}")]
    Store { path: String, message: String },
    /// The scheduled checks and alerts of `medic serve` stopped on their own (the bot was then
    /// shut down): nobody may silently stop getting alerts.
    #[error("scheduled checks and alerts stopped: {0}")]
    AlertsStopped(Box<Error>),
    /// A background task (scheduler, delivery, a status read) panicked or was cancelled.
    #[error("{task} failed: {source}")]
    TaskFailed {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// A thread panicked while it held the state database; nothing more can be trusted of it.
    #[error("the state database lock is poisoned (a thread panicked while writing)")]
    StorePoisoned,
    /// An alert command (silence, acknowledge, status) reached a scheduler that has stopped.
    #[error("the alert scheduler is not running")]
    AlertsNotRunning,
}

impl Error {
    /// A Discord failure. `detail` (serenity's error text, which can quote the request's
    /// `Authorization` header or an answer's body) passes the process-wide redaction gate, which
    /// knows `DISCORD_TOKEN`, so no caller can forget to.
    pub fn discord(context: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Discord {
            context: context.into(),
            detail: crate::redact::process().redact(&detail.into()),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// 2 for what the user can fix in their input or files, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Knowledge(_) | Error::Config(_) | Error::Usage(_) => 2,
            Error::Io { .. }
            | Error::CheckFailed { .. }
            | Error::NeedsAttention { .. }
            | Error::Discord { .. }
            | Error::Store { .. }
            | Error::AlertsStopped(_)
            | Error::TaskFailed { .. }
            | Error::StorePoisoned
            | Error::AlertsNotRunning => 1,
        }
    }
}
