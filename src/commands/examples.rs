//! A catalogue that tests itself: every entry's `examples` must be answered with that entry
//! first, and its `not_examples` must not get it at all, through the same path a chat message
//! takes ([`super::diagnose::run`]). `kb lint` reports each failure at its `file:line`.

use crate::located::Located;
use crate::matcher::Matcher;

use super::diagnose::{self, Outcome};

/// The ids a message is answered with, best first (empty when medic stays silent).
fn answered(matcher: &Matcher, text: &str) -> Vec<String> {
    match diagnose::run(matcher, text) {
        Outcome::Answer(d) => d.matches.iter().map(|m| m.id.clone()).collect(),
        Outcome::Entry(e) => vec![e.id.clone()],
        _ => Vec::new(),
    }
}

/// Every example that does not behave as written, of the entries `mine` selects (a user's
/// directory: their own entries, not the built-ins theirs are layered on).
pub fn failures(
    matcher: &Matcher,
    mine: impl Fn(&crate::knowledge::Entry) -> bool,
) -> Vec<Located> {
    let mut out = Vec::new();
    for entry in matcher.knowledge().entries().iter().filter(|e| mine(e)) {
        for ex in &entry.examples {
            let ids = answered(matcher, &ex.text);
            let shown = crate::text::truncate_chars(&ex.text, 80);
            let problem = match (ex.matches, ids.first()) {
                (true, Some(first)) if *first == entry.id => None,
                (true, Some(first)) => Some(format!(
                    "example {shown:?} is answered with `{first}` first, not `{}`",
                    entry.id
                )),
                (true, None) => Some(format!(
                    "example {shown:?} gets no confident answer (expected `{}`)",
                    entry.id
                )),
                (false, _) if ids.contains(&entry.id) => Some(format!(
                    "not_example {shown:?} is answered with `{}`",
                    entry.id
                )),
                (false, _) => None,
            };
            if let Some(message) = problem {
                out.push(Located {
                    file: entry.source.clone(),
                    line: ex.line,
                    column: None,
                    message,
                });
            }
        }
    }
    crate::located::sort(&mut out);
    out
}
