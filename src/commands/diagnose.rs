//! `/diagnose`: a message in, the entry to follow (or the closest candidates) out; plus the
//! suggestions shown while the user types and the lookup behind "open a related entry".

use std::sync::Arc;

use crate::knowledge::Entry;
use crate::matcher::{Diagnosis, Matcher};

/// How many matches a diagnosis keeps: the best in full, the others as "also possible".
pub const TOP: usize = 3;
/// Discord shows at most 25 autocomplete choices.
pub const MAX_SUGGESTIONS: usize = 25;
/// Discord's limit for an autocomplete choice's name and value.
pub const MAX_CHOICE_CHARS: usize = 100;

/// What `/diagnose` found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A confident match: show the best entry.
    Answer(Diagnosis),
    /// The user picked an entry by id (from autocomplete or a button).
    Entry(Arc<Entry>),
    /// Nothing confident: show the closest entries and how to ask better.
    NoMatch(Diagnosis),
    /// A follow-up said the last answer did not help: the other causes to rule out.
    Others(Others),
    /// A clear complaint too vague to match ("it's broken again, nothing works"): the
    /// questions whose answers would match it.
    Ask(&'static [&'static str]),
    /// The query was empty once cleaned.
    Empty,
}

/// What a vague complaint is asked, in this order.
pub const QUESTIONS: &[&str] = &[
    "What error or HTTP status do you see? Paste the exact line (e.g. `429`, `ECONNREFUSED`, `certificate has expired`).",
    "Which endpoint or integration is it? (`/endpoints` lists the configured ones; `/check NAME` tests one stage by stage.)",
    "Since when, and did anything change then: a deploy, a rotated key, a renewed certificate, a new network path?",
];

/// Words of a complaint that something is wrong, without saying what.
const COMPLAINT: &[&str] = &[
    "broken",
    "broke",
    "not working",
    "doesn't work",
    "doesnt work",
    "does not work",
    "stopped working",
    "isn't working",
    "isnt working",
    "nothing works",
    "failing",
    "fails",
    "failed",
    "is down",
    "went down",
    "keeps failing",
    "not responding",
    "acting up",
    "dead",
    "no longer works",
    "stopped syncing",
    "sync stopped",
    "won't work",
    "wont work",
];

/// Whether an unmatched message is a short complaint that something is wrong. Longer
/// messages carry details medic did not recognise: those get the closest entries instead.
fn vague_complaint(query: &str, d: &Diagnosis) -> bool {
    let lower = query.to_lowercase();
    d.codes.is_empty()
        && lower.split_whitespace().count() <= 14
        && COMPLAINT
            .iter()
            .any(|c| crate::text::has_word(&lower, c, char::is_alphanumeric))
}

/// Entries to rule out after an answer that did not help (a follow-up's "still failing").
#[derive(Debug, Clone)]
pub struct Others {
    /// The title of the answer that did not help.
    pub after: String,
    /// The next candidates, then the first answer's related entries, without repeats.
    pub entries: Vec<Arc<Entry>>,
}

/// Diagnoses a query. A query that is exactly an entry id (what autocomplete submits) opens
/// that entry.
pub fn run(matcher: &Matcher, raw_query: &str) -> Outcome {
    let query = super::clean_input(raw_query);
    if query.is_empty() {
        return Outcome::Empty;
    }
    if let Some(entry) = matcher.knowledge().get(&query) {
        return Outcome::Entry(entry.clone());
    }
    let diagnosis = matcher.diagnose(&query, TOP);
    if diagnosis.matches.is_empty() && vague_complaint(&query, &diagnosis) {
        Outcome::Ask(QUESTIONS)
    } else if diagnosis.matches.is_empty() {
        Outcome::NoMatch(diagnosis)
    } else {
        Outcome::Answer(diagnosis)
    }
}

/// The entry behind an id, for "open related entry" buttons.
pub fn entry(matcher: &Matcher, id: &str) -> Option<Arc<Entry>> {
    matcher.knowledge().get(id).cloned()
}

/// One autocomplete choice: what the user sees, and the entry id that is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub label: String,
    pub id: String,
}

/// Entries for what the user has typed so far, most relevant first, at most 25.
///
/// Ranking: an exact code, then a code or title starting with the input, then a word of the
/// title starting with it, then the input anywhere in the title, codes or id; when none of
/// these hit (a whole error message pasted), the matcher's own ranking.
pub fn suggest(matcher: &Matcher, partial: &str) -> Vec<Suggestion> {
    let typed = super::clean_input(partial).to_lowercase();
    let entries = matcher.knowledge().entries();
    let mut ranked: Vec<(u8, &Arc<Entry>)> = Vec::new();
    for entry in entries {
        let title = entry.title.to_lowercase();
        let codes: Vec<String> = entry.codes.iter().map(|c| c.to_lowercase()).collect();
        let rank = if typed.is_empty() {
            Some(5)
        } else if codes.contains(&typed) || entry.id == typed {
            Some(0)
        } else if title.starts_with(&typed) || codes.iter().any(|c| c.starts_with(&typed)) {
            Some(1)
        } else if title.split_whitespace().any(|w| w.starts_with(&typed)) {
            Some(2)
        } else if title.contains(&typed)
            || entry.id.contains(&typed)
            || codes.iter().any(|c| c.contains(&typed))
        {
            Some(3)
        } else {
            None
        };
        if let Some(rank) = rank {
            ranked.push((rank, entry));
        }
    }
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.title.cmp(&b.1.title)));
    let mut out: Vec<Suggestion> = ranked.iter().filter_map(|(_, e)| suggestion(e)).collect();
    if out.is_empty() && !typed.is_empty() {
        let d = matcher.diagnose(&typed, MAX_SUGGESTIONS);
        out = d
            .matches
            .iter()
            .chain(&d.near_misses)
            .filter_map(|m| suggestion(&m.entry))
            .collect();
    }
    out.truncate(MAX_SUGGESTIONS);
    out
}

/// The choice for an entry; `None` when its id is too long to submit whole (a cut id opens
/// nothing). The label may be cut: it is only shown.
fn suggestion(entry: &Entry) -> Option<Suggestion> {
    (entry.id.chars().count() <= MAX_CHOICE_CHARS).then(|| Suggestion {
        label: crate::text::truncate_chars(&entry.title, MAX_CHOICE_CHARS),
        id: entry.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Knowledge;

    fn matcher() -> Matcher {
        Matcher::new(Arc::new(Knowledge::builtin().unwrap()))
    }

    #[test]
    fn exact_code_is_suggested_first_and_lists_are_capped() {
        let m = matcher();
        let s = suggest(&m, "429");
        assert_eq!(s[0].id, "http-429");
        assert!(suggest(&m, "").len() <= MAX_SUGGESTIONS);
        assert!(suggest(&m, "e").len() <= MAX_SUGGESTIONS);
    }

    #[test]
    fn an_id_too_long_for_a_choice_is_never_offered_cut() {
        let kb = Knowledge::builtin().unwrap();
        let mut entry = (**kb.get("http-429").unwrap()).clone();
        entry.title = "T".repeat(150);
        assert_eq!(suggestion(&entry).unwrap().label.chars().count(), 100);
        entry.id = "x".repeat(101);
        assert_eq!(suggestion(&entry), None);
    }

    #[test]
    fn pasted_error_falls_back_to_the_matcher() {
        let m = matcher();
        let s = suggest(&m, "upstream said ECONNREFUSED on connect");
        assert!(s.iter().any(|s| s.id == "connection-refused"), "{s:?}");
    }

    #[test]
    fn a_vague_complaint_gets_questions() {
        let m = matcher();
        for vague in [
            "it's broken again, nothing works",
            "the crm sync is failing",
            "the export is acting up again",
        ] {
            assert!(
                matches!(run(&m, vague), Outcome::Ask(q) if q.len() == 3),
                "{vague}"
            );
        }
        // Chit-chat and specific problems are not asked about.
        assert!(matches!(run(&m, "lunch at noon?"), Outcome::NoMatch(_)));
        assert!(matches!(
            run(&m, "the coffee machine is broken"),
            Outcome::Ask(_) | Outcome::NoMatch(_)
        ));
        assert!(matches!(
            run(&m, "webhooks failing with 401"),
            Outcome::Answer(_)
        ));
        assert!(!matches!(
            run(&m, "I failed my driving test, how about you"),
            Outcome::Answer(_)
        ));
    }

    #[test]
    fn an_entry_id_opens_that_entry_and_junk_is_no_match() {
        let m = matcher();
        assert!(matches!(run(&m, "http-429"), Outcome::Entry(e) if e.id == "http-429"));
        assert!(matches!(run(&m, "  \u{0}\u{1} "), Outcome::Empty));
        assert!(matches!(run(&m, "lunch at noon?"), Outcome::NoMatch(_)));
        assert!(matches!(
            run(&m, "we get 429 from the API"),
            Outcome::Answer(_)
        ));
    }
}
