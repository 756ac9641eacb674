//! The library's typed errors and the one place they become process exit codes.

use std::fmt;

use crate::config::ConfigErrors;
use crate::knowledge::LoadErrors;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A problem in a file the user wrote (knowledge entry, `medic.toml`), located as precisely as
/// the parser allows; shown as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for Located {}

/// Writes every problem on a line of its own.
pub(crate) fn write_lines(f: &mut fmt::Formatter<'_>, problems: &[Located]) -> fmt::Result {
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{p}")?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Broken knowledge files: every problem, each as `file:line: message`.
    #[error("{0}")]
    Knowledge(#[from] LoadErrors),
    /// A broken `medic.toml`: every problem, each as `file:line: message`.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A check found a failing endpoint (the report itself was already printed).
    #[error("{0}")]
    CheckFailed(String),
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
    #[error("{0}")]
    Discord(String),
    /// The state database (`MEDIC_DB`) cannot be used: corrupted, foreign, unwritable, locked.
    #[error("database {path}: {message}")]
    Store { path: String, message: String },
    /// The scheduled checks and alerts of `medic serve` stopped on their own (the bot was then
    /// shut down): nobody may silently stop getting alerts.
    #[error("scheduled checks and alerts stopped: {0}")]
    AlertsStopped(Box<Error>),
    #[error("{0}")]
    Other(String),
}

impl Error {
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
            | Error::CheckFailed(_)
            | Error::Discord(_)
            | Error::Store { .. }
            | Error::AlertsStopped(_)
            | Error::Other(_) => 1,
        }
    }
}
