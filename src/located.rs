//! A problem located in a file the user wrote (knowledge entry, `medic.toml`), and how a list of
//! them is printed. A leaf: `config` and `knowledge` build their error types from it.

use std::fmt;

/// A problem in a user's file, located as precisely as the parser allows; shown as
/// `file:line: message`.
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
