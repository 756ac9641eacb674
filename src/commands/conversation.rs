//! Short memory per conversation, so that follow-ups are understood: after `/diagnose 429`,
//! "what about 503?" answers 503, and "still failing" / "didn't help" / "not that" answers with
//! the next candidates and the related entries instead of the same miss.
//!
//! A conversation is a place (a Discord channel or thread, or one `medic chat` session) and a
//! user. Memory is bounded (least recently used turns are forgotten first), expires after
//! [`FRESH_FOR`], and is never persisted: it holds entry ids and the cleaned question only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::diagnose::{self, Others, Outcome};
use crate::knowledge::Entry;
use crate::matcher::Matcher;

/// How long a previous answer is what a follow-up refers to.
pub const FRESH_FOR: Duration = Duration::from_secs(10 * 60);
/// Conversations remembered at once; the least recently used is forgotten first.
pub const MAX_CONVERSATIONS: usize = 4096;
/// Candidates a "didn't help" offers.
const NEXT: usize = 3;

/// Who is talking where: a channel or thread id and a user id (0, 0 for the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub place: u64,
    pub user: u64,
}

/// What was last answered in a conversation.
#[derive(Debug, Clone)]
struct Turn {
    at: Instant,
    /// The question that produced the answer, to look further down its candidates.
    query: String,
    /// Entry ids already shown, best first.
    shown: Vec<String>,
}

/// The memory of every conversation, shared by a surface's handlers.
#[derive(Debug, Default)]
pub struct Conversations {
    turns: Mutex<HashMap<Key, Turn>>,
}

/// What a message means given the conversation before it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent<'a> {
    /// "still failing", "didn't help", "not that": the last answer was not it.
    NotThat,
    /// "what about 503?", "and 502?", "how about TLS": answer the named thing.
    About(&'a str),
    /// Anything else: a new question.
    New,
}

impl Conversations {
    pub fn new() -> Conversations {
        Conversations::default()
    }

    /// Diagnoses `raw` as the next message of conversation `key` at `now`.
    pub fn diagnose(&self, matcher: &Matcher, key: Key, now: Instant, raw: &str) -> Outcome {
        let query = super::clean_input(raw);
        let last = self.fresh(key, now);
        let outcome = match (intent(&query), &last) {
            (Intent::NotThat, Some(turn)) => {
                let own = diagnose::run(matcher, &query);
                // "still failing with 503": new information wins over "other causes".
                let new = matches!(&own, Outcome::Answer(d)
                    if d.best().is_some_and(|m| !turn.shown.contains(&m.id)));
                match others(matcher, turn).filter(|_| !new) {
                    Some(o) => {
                        let mut next = turn.clone();
                        next.shown.extend(o.entries.iter().map(|e| e.id.clone()));
                        next.at = now;
                        self.remember(key, next);
                        return Outcome::Others(o);
                    }
                    None => own,
                }
            }
            (Intent::About(rest), _) => match diagnose::run(matcher, rest) {
                // "what about TLS?" with nothing matching the short form: the whole message.
                Outcome::NoMatch(_) | Outcome::Ask(_) | Outcome::Empty => {
                    diagnose::run(matcher, &query)
                }
                found => found,
            },
            _ => diagnose::run(matcher, &query),
        };
        crate::metrics::record_answer(matches!(outcome, Outcome::Answer(_) | Outcome::Entry(_)));
        match &outcome {
            Outcome::Answer(d) => self.remember(
                key,
                Turn {
                    at: now,
                    query: d.query.clone(),
                    shown: d.matches.iter().map(|m| m.id.clone()).collect(),
                },
            ),
            Outcome::Entry(e) => self.remember(
                key,
                Turn {
                    at: now,
                    query: e.title.clone(),
                    shown: vec![e.id.clone()],
                },
            ),
            _ => {}
        }
        outcome
    }

    /// Records that `entry` was shown in `key` (a button or an opened related entry).
    pub fn shown(&self, key: Key, now: Instant, entry: &Entry) {
        self.remember(
            key,
            Turn {
                at: now,
                query: entry.title.clone(),
                shown: vec![entry.id.clone()],
            },
        );
    }

    /// A "Not this" click on the answer `entry_id`: the next candidates of the question that
    /// produced it when this conversation remembers it, else of the entry itself (its title's
    /// neighbours and its related entries).
    pub fn not_this(
        &self,
        matcher: &Matcher,
        key: Key,
        now: Instant,
        entry_id: &str,
    ) -> Option<Others> {
        let entry = matcher.knowledge().get(entry_id)?;
        let turn = self
            .fresh(key, now)
            .filter(|t| t.shown.first().is_some_and(|s| s == entry_id))
            .unwrap_or_else(|| Turn {
                at: now,
                query: entry.title.clone(),
                shown: vec![entry_id.to_string()],
            });
        let o = others(matcher, &turn)?;
        let mut next = turn;
        next.shown.extend(o.entries.iter().map(|e| e.id.clone()));
        next.at = now;
        self.remember(key, next);
        Some(o)
    }

    fn fresh(&self, key: Key, now: Instant) -> Option<Turn> {
        let turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        turns
            .get(&key)
            .filter(|t| now.saturating_duration_since(t.at) <= FRESH_FOR)
            .cloned()
    }

    fn remember(&self, key: Key, turn: Turn) {
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if turns.len() >= MAX_CONVERSATIONS && !turns.contains_key(&key) {
            // Forget the least recently used; a linear scan only when full.
            if let Some(oldest) = turns.iter().min_by_key(|(_, t)| t.at).map(|(k, _)| *k) {
                turns.remove(&oldest);
            }
        }
        turns.insert(key, turn);
    }

    /// How many conversations are remembered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.turns.lock().map(|t| t.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The next candidates for the turn's question, then the related entries of what was shown.
fn others(matcher: &Matcher, turn: &Turn) -> Option<Others> {
    let kb = matcher.knowledge();
    let first = turn.shown.first().and_then(|id| kb.get(id))?;
    let d = matcher.diagnose(&turn.query, diagnose::TOP + NEXT + 3);
    let mut entries: Vec<Arc<Entry>> = Vec::new();
    let fresh = |id: &str, entries: &[Arc<Entry>]| {
        !turn.shown.iter().any(|s| s == id) && !entries.iter().any(|e| e.id == id)
    };
    for m in d.matches.iter().chain(&d.near_misses) {
        if entries.len() >= NEXT {
            break;
        }
        if fresh(&m.id, &entries) {
            entries.push(m.entry.clone());
        }
    }
    for id in turn
        .shown
        .iter()
        .flat_map(|s| kb.get(s))
        .flat_map(|e| e.related.to_vec())
    {
        if entries.len() >= NEXT + 2 {
            break;
        }
        if fresh(&id, &entries) {
            if let Some(e) = kb.get(&id) {
                entries.push(e.clone());
            }
        }
    }
    (!entries.is_empty()).then(|| Others {
        after: first.title.clone(),
        entries,
    })
}

/// Phrases that say the last answer did not help. Matched on the whole (short) message.
const NOT_THAT: &[&str] = &[
    "still failing",
    "still fails",
    "still broken",
    "still not working",
    "still doesnt work",
    "still doesn't work",
    "still the same",
    "still getting it",
    "still happening",
    "still erroring",
    "same error",
    "same thing",
    "didnt help",
    "didn't help",
    "did not help",
    "doesnt help",
    "doesn't help",
    "does not help",
    "that didnt work",
    "that didn't work",
    "that did not work",
    "didnt work",
    "didn't work",
    "did not work",
    "not that",
    "not it",
    "thats not it",
    "that's not it",
    "that is not it",
    "wrong answer",
    "no luck",
    "nope",
    "not helpful",
    "other causes",
    "what else",
    "anything else",
    "something else",
];

/// Openers of a follow-up that names its subject: "what about 503?", "and 502?".
const ABOUT: &[&str] = &[
    "what about ",
    "how about ",
    "and what about ",
    "what if it's ",
    "what if its ",
    "what if it is ",
    "and if it's ",
    "and ",
    "also ",
    "or ",
];

fn intent(query: &str) -> Intent<'_> {
    let lower = query.to_lowercase();
    let words = lower.split_whitespace().count();
    let bare: String = lower
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Short messages only: "still failing with a TLS error on the new cert" is a new question.
    if words <= 6
        && NOT_THAT
            .iter()
            .any(|p| crate::text::has_word(&bare, p, |c| c != ' '))
    {
        return Intent::NotThat;
    }
    if words <= 8 {
        for opener in ABOUT {
            if lower.starts_with(opener) {
                // Openers are ASCII, so the byte offset is a char boundary of `query` too.
                let rest =
                    query[opener.len()..].trim_matches(|c: char| c == '?' || c.is_whitespace());
                if !rest.is_empty() {
                    return Intent::About(rest);
                }
            }
        }
    }
    Intent::New
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Knowledge;

    fn matcher() -> Matcher {
        Matcher::new(Arc::new(Knowledge::builtin().unwrap()))
    }

    const ME: Key = Key { place: 1, user: 2 };

    fn best(o: &Outcome) -> Option<&str> {
        match o {
            Outcome::Answer(d) => d.best().map(|m| m.id.as_str()),
            Outcome::Entry(e) => Some(e.id.as_str()),
            _ => None,
        }
    }

    #[test]
    fn intents() {
        assert_eq!(intent("still failing"), Intent::NotThat);
        assert_eq!(intent("Didn't help."), Intent::NotThat);
        assert_eq!(intent("nope, not that"), Intent::NotThat);
        assert_eq!(intent("what about 503?"), Intent::About("503"));
        assert_eq!(intent("and 502?"), Intent::About("502"));
        assert_eq!(
            intent("still failing with a TLS error after we rotated the cert"),
            Intent::New
        );
        assert_eq!(intent("we get 429 from the API"), Intent::New);
    }

    #[test]
    fn a_follow_up_names_another_code() {
        let m = matcher();
        let c = Conversations::new();
        let t = Instant::now();
        assert_eq!(best(&c.diagnose(&m, ME, t, "429")), Some("http-429"));
        let o = c.diagnose(&m, ME, t + Duration::from_secs(30), "what about 503?");
        assert_eq!(best(&o), Some("http-503"));
        let o = c.diagnose(&m, ME, t + Duration::from_secs(40), "and 502?");
        assert_eq!(best(&o), Some("http-502"));
    }

    #[test]
    fn didnt_help_offers_other_causes_once_each() {
        let m = matcher();
        let c = Conversations::new();
        let t = Instant::now();
        let first = c.diagnose(&m, ME, t, "connection refused when calling the partner api");
        let first = best(&first).unwrap().to_string();
        let Outcome::Others(o) = c.diagnose(&m, ME, t + Duration::from_secs(60), "still failing")
        else {
            panic!("a follow-up after an answer offers other causes");
        };
        assert!(!o.entries.is_empty());
        assert!(o.entries.iter().all(|e| e.id != first), "{o:?}");
        let Outcome::Others(again) = c.diagnose(&m, ME, t + Duration::from_secs(90), "didn't help")
        else {
            panic!("a second follow-up goes further down the list");
        };
        assert!(
            again
                .entries
                .iter()
                .all(|e| o.entries.iter().all(|seen| seen.id != e.id)),
            "nothing is offered twice: {again:?} after {o:?}"
        );
    }

    #[test]
    fn a_follow_up_with_new_information_answers_it() {
        let m = matcher();
        let c = Conversations::new();
        let t = Instant::now();
        best(&c.diagnose(&m, ME, t, "ECONNREFUSED")).unwrap();
        let o = c.diagnose(&m, ME, t, "still failing with a 503 now");
        assert_eq!(best(&o), Some("http-503"));
    }

    #[test]
    fn memory_is_per_conversation_and_expires() {
        let m = matcher();
        let c = Conversations::new();
        let t = Instant::now();
        best(&c.diagnose(&m, ME, t, "ECONNREFUSED")).unwrap();
        let other = Key { place: 1, user: 3 };
        assert!(!matches!(
            c.diagnose(&m, other, t, "still failing"),
            Outcome::Others(_)
        ));
        assert!(!matches!(
            c.diagnose(
                &m,
                ME,
                t + FRESH_FOR + Duration::from_secs(1),
                "still failing"
            ),
            Outcome::Others(_)
        ));
    }

    #[test]
    fn memory_is_bounded() {
        let m = matcher();
        let c = Conversations::new();
        let t = Instant::now();
        for i in 0..(MAX_CONVERSATIONS as u64 + 50) {
            let key = Key { place: i, user: i };
            c.diagnose(&m, key, t + Duration::from_millis(i), "429");
        }
        assert_eq!(c.len(), MAX_CONVERSATIONS);
        // The newest is kept, the oldest forgotten.
        let newest = Key {
            place: MAX_CONVERSATIONS as u64 + 49,
            user: MAX_CONVERSATIONS as u64 + 49,
        };
        assert!(c.fresh(newest, t + Duration::from_secs(5)).is_some());
        assert!(c.fresh(Key { place: 0, user: 0 }, t).is_none());
    }
}
