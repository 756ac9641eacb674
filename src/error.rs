//! The library's typed errors and the one place they become process exit codes.

use crate::knowledge::LoadErrors;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Broken knowledge files: every problem, each as `file:line: message`.
    #[error("{0}")]
    Knowledge(#[from] LoadErrors),
    /// The user asked for something that cannot be done as asked (unknown id, bad flag).
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
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
            Error::Knowledge(_) | Error::Usage(_) => 2,
            Error::Io { .. } | Error::Other(_) => 1,
        }
    }
}
