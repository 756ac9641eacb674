//! Splits a `medic.toml` at its `[[endpoints]]` headers, so that each endpoint table is read by
//! itself: parsing stays linear in the file and never holds the whole document's tree at once
//! (50,000 endpoints: one tree of ~350 MB before, one endpoint's at a time now).
//!
//! The split is found with the TOML parser's own event stream (strings and comments are never
//! mistaken for headers). Everything outside endpoint tables is read as one document with the
//! endpoint tables blanked out, byte for byte, so its offsets (and so its line numbers) are the
//! file's own. Any syntax error, or a header this split does not read plainly (quoted keys),
//! makes the caller read the whole file at once instead, for the parser's own message.

use std::ops::Range;

use toml_parser::parser::{parse_document, EventReceiver};
use toml_parser::{ErrorSink, ParseError, Source, Span};

/// A file cut into endpoint tables and the rest.
#[derive(Debug)]
pub(super) struct Split {
    /// The file with every endpoint table replaced by spaces (newlines kept), up to the last
    /// byte outside them: offsets into it are offsets into the file.
    pub(super) rest: String,
    /// Byte ranges of the endpoint tables, in file order; each starts at its `[[endpoints]]`.
    pub(super) endpoints: Vec<Range<usize>>,
}

#[derive(Default)]
struct Headers {
    /// (start of the header, whether it is an array-of-tables header)
    opens: Vec<(usize, bool)>,
}

impl EventReceiver for Headers {
    fn std_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.opens.push((span.start(), false));
    }
    fn array_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.opens.push((span.start(), true));
    }
}

/// What a header names, as far as the split cares.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// `[[endpoints]]`: a new endpoint table.
    Endpoint,
    /// `[endpoints.alerts]` and the like: part of the endpoint table before it.
    InEndpoint,
    Other,
}

/// The split, or `None` when the file should be read whole.
pub(super) fn split(text: &str) -> Option<Split> {
    let source = Source::new(text);
    let tokens = source.lex().into_vec();
    let mut headers = Headers::default();
    let mut errors: Vec<ParseError> = Vec::new();
    parse_document(&tokens, &mut headers, &mut errors);
    if !errors.is_empty() {
        return None;
    }
    let mut endpoints: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    for &(start, array) in &headers.opens {
        match classify(&text[start..], array)? {
            Header::Endpoint => {
                if let Some(s) = open.replace(start) {
                    endpoints.push(s..start);
                }
            }
            Header::InEndpoint => {}
            Header::Other => {
                if let Some(s) = open.take() {
                    endpoints.push(s..start);
                }
            }
        }
    }
    if let Some(s) = open {
        endpoints.push(s..text.len());
    }
    // Endpoint tables that end the file are cut off rather than blanked: usually that is all
    // of them, and the rest is a few lines.
    let mut keep = text.len();
    for r in endpoints.iter().rev() {
        if r.end == keep {
            keep = r.start;
        }
    }
    let mut rest = text.as_bytes()[..keep].to_vec();
    for r in endpoints.iter().filter(|r| r.end <= keep) {
        for b in &mut rest[r.clone()] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Only whole bytes were replaced, each by an ASCII space: still UTF-8.
    let rest = String::from_utf8(rest).ok()?;
    Some(Split { rest, endpoints })
}

/// Reads the header at the start of `at`; `None` for one with quoted keys (read whole).
fn classify(at: &str, array: bool) -> Option<Header> {
    let open = if array { "[[" } else { "[" };
    let inner = at.strip_prefix(open)?;
    let end = inner.find(']')?;
    let key = &inner[..end];
    if key.contains(['"', '\'']) {
        return None;
    }
    let mut parts = key.split('.').map(str::trim);
    let first = parts.next()?;
    let more = parts.next().is_some();
    Some(match (first == "endpoints", more, array) {
        (true, false, true) => Header::Endpoint,
        (true, true, _) => Header::InEndpoint,
        // `[endpoints]` as a plain table: the whole-file reader reports the type error.
        (true, false, false) => return None,
        _ => Header::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_tables_are_cut_out_and_the_rest_keeps_its_offsets() {
        let text = "[alerts]\nremind_every = \"1h\"\n\n[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\n[endpoints.alerts]\nfailure_threshold = 2\n\n[checks]\nconcurrency = 4\n[[endpoints]]\nname = \"b # [[endpoints]]\"\nurl = \"https://b.example\"\n";
        let s = split(text).unwrap();
        assert_eq!(s.endpoints.len(), 2);
        assert!(text[s.endpoints[0].clone()].contains("failure_threshold = 2"));
        assert!(!text[s.endpoints[0].clone()].contains("[checks]"));
        assert!(text[s.endpoints[1].clone()].contains("b # [[endpoints]]"));
        // The last endpoint table ends the file: the rest stops where it starts.
        assert_eq!(s.rest.len(), s.endpoints[1].start);
        assert_eq!(
            s.rest.matches('\n').count(),
            text[..s.endpoints[1].start].matches('\n').count()
        );
        assert!(s.rest.contains("[checks]") && s.rest.contains("[alerts]"));
        assert!(!s.rest.contains("name"));
    }

    #[test]
    fn syntax_errors_and_quoted_headers_are_read_whole() {
        assert!(split("[[endpoints]\nname = \"a\"\n").is_none());
        assert!(split("[[\"endpoints\"]]\nname = \"a\"\n").is_none());
        assert!(split("[endpoints]\nname = \"a\"\n").is_none());
    }
}
