//! A problem located in a file the user wrote (knowledge entry, `medic.toml`), how a list of
//! them is printed, and the two things locating needs: byte offset to line ([`LineIndex`]) and
//! text that must be UTF-8 ([`utf8_text`]). A leaf: `config` and `knowledge` build their error
//! types from it.

use std::fmt;

/// A problem in a user's file, located as precisely as the parser allows; shown as
/// `file:line:column: message` (or `file:line:`, `file:` when less is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
}

impl Located {
    /// A problem somewhere in the file (no line known).
    pub fn in_file(file: impl Into<String>, message: impl Into<String>) -> Located {
        Located {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A problem at a line.
    pub fn at_line(file: impl Into<String>, line: usize, message: impl Into<String>) -> Located {
        Located {
            line: Some(line),
            ..Located::in_file(file, message)
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Sorts problems by where they are, unlocated ones first; stable, so problems at one place
/// keep the order they were found in.
pub(crate) fn sort(problems: &mut [Located]) {
    problems.sort_by_key(|p| (p.file.clone(), p.line, p.column));
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

/// Line numbers for byte offsets of one text, computed once: asking for the line of every
/// span by counting from the start would make parsing quadratic in the file's length.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Offset at which each line starts (the first is 0).
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The 1-based line and column (in characters) of byte `offset` of `text`, the text this
    /// index was built from.
    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts[line - 1];
        let end = offset.min(text.len());
        let column = text
            .get(start..end)
            .map_or(end.saturating_sub(start), |t| t.chars().count())
            + 1;
        (line, column)
    }
}

/// The file's bytes as text, or where (`file:line`) the first byte that is not UTF-8 sits.
pub fn utf8_text(file: &str, bytes: Vec<u8>) -> Result<String, Located> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - bytes[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        Located::at_line(
            file,
            line,
            format!("not valid UTF-8 (byte {column} of the line); save the file as UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_offsets() {
        let idx = LineIndex::new("a\nbc\n\nd");
        let lines: Vec<usize> = (0..8).map(|o| idx.line(o)).collect();
        assert_eq!(lines, [1, 1, 2, 2, 2, 3, 4, 4]);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = utf8_text("f.toml", b"ok\nstill ok\nbad \xff here".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml:3: not valid UTF-8 (byte 5 of the line); save the file as UTF-8"
        );
    }
}
