//! Matches a free-text message against the knowledge catalogue and explains why.
//!
//! The [`Matcher`] is built once per catalogue: every code, keyword and title is tokenized into
//! word ids and phrase postings, so a query only tokenizes the message, maps words to ids
//! (exactly, by a plural, or within a small edit distance) and walks the phrases starting at
//! each word. Results are data ([`Diagnosis`]); renderers turn them into text.

mod fuzzy;
mod status;
pub mod text;

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::knowledge::{Entry, Knowledge};
use fuzzy::FuzzyIndex;
use text::{tokenize, words, Token};

/// Confidence an entry needs before it is shown at all; below it medic stays silent.
pub const MIN_CONFIDENCE: f32 = 0.40;
/// Entries far below the best one are noise even when they pass [`MIN_CONFIDENCE`].
const RELATIVE_CUTOFF: f32 = 0.35;
/// Raw score at which confidence reaches 1 − 1/e.
const SCORE_SCALE: f32 = 2.5;

const W_STATUS: f32 = 4.0;
const W_CODE: f32 = 3.0;
const W_TITLE: f32 = 2.5;
const W_KEYWORD_WORD: f32 = 1.5;
const W_KEYWORD_PHRASE: f32 = 2.0;
const W_KEYWORD_LONG: f32 = 2.5;
/// A typo-matched word counts a little less than an exact one.
const FUZZY_FACTOR: f32 = 0.8;

/// Common English words: never fuzzy-matched, so "taken" is not read as "token", and never
/// enough on their own to make a match.
const COMMON: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "but", "by", "can", "cannot", "could", "did",
    "do", "does", "doing", "done", "for", "from", "get", "gets", "getting", "got", "had", "has",
    "have", "having", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is",
    "it", "its", "just", "let", "like", "me", "more", "most", "my", "no", "not", "now", "of",
    "on", "once", "only", "or", "other", "our", "out", "over", "same", "she", "should", "so",
    "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "us", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your", "taken", "token", "today", "tomorrow", "yesterday", "thanks", "thank",
    "great", "good", "morning", "night", "lunch", "meeting", "friday", "monday", "tuesday",
    "wednesday", "thursday", "saturday", "sunday", "please", "there", "their", "these",
    "think", "thing", "things", "still", "since", "every", "never", "always", "again",
    "value", "values", "later", "right", "wrong", "there", "where", "which", "whose", "while",
    "first", "second", "third", "small", "large", "little", "light", "night", "sight", "times",
    "timed", "limit", "limits", "local", "issue", "issues", "event", "events", "there", "other",
    "start", "stopped", "working", "works", "worked", "data", "sync", "call", "calls",
];

/// Why an entry matched: one code, keyword or title phrase found in the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// The code or keyword as the entry spells it.
    pub term: String,
    /// The words of the message that matched, when they differ from `term` (typos).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonKind {
    Code,
    Keyword,
    Title,
}

/// One entry judged relevant to a message.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub id: String,
    pub title: String,
    /// Confidence in 0..1.
    pub score: f32,
    pub reasons: Vec<Reason>,
    #[serde(skip)]
    pub entry: Arc<Entry>,
}

/// The answer to one message: codes read from it and the entries worth showing, best first.
/// `matches` is empty when the message is not about an integration problem.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub query: String,
    pub codes: Vec<String>,
    pub matches: Vec<Match>,
    /// The best candidates below the confidence bar, for "closest entries" hints.
    #[serde(skip)]
    pub near_misses: Vec<Match>,
}

impl Diagnosis {
    pub fn best(&self) -> Option<&Match> {
        self.matches.first()
    }
}

#[derive(Debug, Clone)]
struct Posting {
    entry: u32,
    kind: ReasonKind,
    weight: f32,
    term: Arc<str>,
}

#[derive(Debug, Clone)]
struct Phrase {
    words: Vec<u32>,
    postings: Vec<Posting>,
}

/// A catalogue with its search index.
#[derive(Debug, Clone)]
pub struct Matcher {
    knowledge: Arc<Knowledge>,
    vocab: FxHashMap<String, u32>,
    common: Vec<bool>,
    fuzzy: FuzzyIndex,
    /// Phrases by their first word id.
    phrases_by_first: FxHashMap<u32, Vec<u32>>,
    phrases: Vec<Phrase>,
    /// Entries carrying each HTTP status code.
    statuses: FxHashMap<u16, Vec<(u32, Arc<str>)>>,
}

impl Matcher {
    pub fn new(knowledge: Arc<Knowledge>) -> Matcher {
        let mut b = Builder::default();
        // How many entries use each keyword word, so widely shared single words weigh less.
        let mut word_entries: FxHashMap<String, u32> = FxHashMap::default();
        for entry in knowledge.entries() {
            let mut seen: Vec<String> = Vec::new();
            for kw in &entry.keywords {
                for w in words(kw) {
                    if !seen.contains(&w) {
                        seen.push(w);
                    }
                }
            }
            for w in seen {
                *word_entries.entry(w).or_default() += 1;
            }
        }
        for (e, entry) in knowledge.entries().iter().enumerate() {
            let e = e as u32;
            for code in &entry.codes {
                let ws = words(code);
                if let [only] = ws.as_slice() {
                    if let Ok(n) = only.parse::<u16>() {
                        if only.len() == 3 {
                            b.statuses.entry(n).or_default().push((e, code.as_str().into()));
                            continue;
                        }
                    }
                }
                b.add(&ws, e, ReasonKind::Code, W_CODE, code);
            }
            for kw in &entry.keywords {
                let ws = words(kw);
                let weight = match ws.len() {
                    0 => continue,
                    1 => {
                        let shared = word_entries.get(&ws[0]).copied().unwrap_or(1).max(1);
                        W_KEYWORD_WORD / (shared as f32).sqrt()
                    }
                    2 => W_KEYWORD_PHRASE,
                    _ => W_KEYWORD_LONG,
                };
                b.add(&ws, e, ReasonKind::Keyword, weight, kw);
            }
            // The title without a leading status number: "429 · Too Many Requests" → "too many requests".
            let mut tw = words(&entry.title);
            if tw.first().is_some_and(|w| w.bytes().all(|c| c.is_ascii_digit())) {
                tw.remove(0);
            }
            if tw.len() >= 2 {
                b.add(&tw, e, ReasonKind::Title, W_TITLE, &entry.title);
            }
        }
        let mut vocab_list: Vec<(&String, &u32)> = b.vocab.iter().collect();
        vocab_list.sort_by_key(|(_, id)| **id);
        let fuzzy = FuzzyIndex::new(vocab_list.iter().map(|(w, _)| w.as_str()));
        let common = vocab_list
            .iter()
            .map(|(w, _)| COMMON.contains(&w.as_str()))
            .collect();
        Matcher {
            knowledge,
            vocab: b.vocab,
            common,
            fuzzy,
            phrases_by_first: b.by_first,
            phrases: b.phrases,
            statuses: b.statuses,
        }
    }

    pub fn knowledge(&self) -> &Arc<Knowledge> {
        &self.knowledge
    }

    /// Maps a message word to a vocabulary id: exactly, by dropping a plural, or by a typo.
    fn word_id(&self, word: &str) -> Option<(u32, bool)> {
        if let Some(&id) = self.vocab.get(word) {
            return Some((id, false));
        }
        for suffix in ["s", "es", "'s"] {
            if let Some(stem) = word.strip_suffix(suffix) {
                if let Some(&id) = self.vocab.get(stem) {
                    return Some((id, false));
                }
            }
        }
        if COMMON.contains(&word) {
            return None;
        }
        let id = self.fuzzy.lookup(word)?;
        // A typo of a common word is just as likely another ordinary word.
        (!self.common[id as usize]).then_some((id, true))
    }

    /// Diagnoses one message; at most `top` confident matches are returned.
    pub fn diagnose(&self, message: &str, top: usize) -> Diagnosis {
        let tokens = tokenize(message);
        let ids: Vec<Option<(u32, bool)>> = tokens.iter().map(|t| self.word_id(&t.text)).collect();
        let mut scores: FxHashMap<u32, (f32, Vec<Reason>)> = FxHashMap::default();
        let mut codes: Vec<String> = Vec::new();
        let mut add = |entry: u32, weight: f32, reason: Reason| {
            let slot = scores.entry(entry).or_insert_with(|| (0.0, Vec::new()));
            if slot.1.iter().any(|r| r.term == reason.term && r.kind == reason.kind) {
                return;
            }
            slot.0 += weight;
            slot.1.push(reason);
        };

        for found in status::find_statuses(&tokens) {
            codes.push(found.code.to_string());
            if let Some(entries) = self.statuses.get(&found.code) {
                for (e, term) in entries {
                    let reason = Reason {
                        kind: ReasonKind::Code,
                        term: term.to_string(),
                        matched: None,
                    };
                    add(*e, W_STATUS, reason);
                }
            }
        }

        for start in 0..tokens.len() {
            let Some((first, _)) = ids[start] else { continue };
            let Some(candidates) = self.phrases_by_first.get(&first) else {
                continue;
            };
            for &p in candidates {
                let phrase = &self.phrases[p as usize];
                let end = start + phrase.words.len();
                if end > tokens.len() {
                    continue;
                }
                let hit = phrase
                    .words
                    .iter()
                    .zip(&ids[start..end])
                    .all(|(w, got)| got.is_some_and(|(g, _)| g == *w));
                if !hit {
                    continue;
                }
                let fuzzy = ids[start..end].iter().any(|g| g.is_some_and(|(_, f)| f));
                let all_common = phrase.words.iter().all(|&w| self.common[w as usize]);
                if all_common && phrase.words.len() < 2 {
                    continue;
                }
                let matched = fuzzy.then(|| joined(&tokens[start..end]));
                for posting in &phrase.postings {
                    let mut weight = posting.weight;
                    if fuzzy {
                        weight *= FUZZY_FACTOR;
                    }
                    if posting.kind == ReasonKind::Code && !codes.iter().any(|c| **c == *posting.term) {
                        codes.push(posting.term.to_string());
                    }
                    let reason = Reason {
                        kind: posting.kind,
                        term: posting.term.to_string(),
                        matched: matched.clone(),
                    };
                    add(posting.entry, weight, reason);
                }
            }
        }

        let mut ranked: Vec<(u32, f32, Vec<Reason>)> =
            scores.into_iter().map(|(e, (s, r))| (e, s, r)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let best_raw = ranked.first().map_or(0.0, |r| r.1);
        let mut matches = Vec::new();
        let mut near_misses = Vec::new();
        for (e, raw, mut reasons) in ranked {
            let entry = &self.knowledge.entries()[e as usize];
            let confidence = confidence(raw);
            reasons.sort_by_key(|r| match r.kind {
                ReasonKind::Code => 0,
                ReasonKind::Title => 1,
                ReasonKind::Keyword => 2,
            });
            let m = Match {
                id: entry.id.clone(),
                title: entry.title.clone(),
                score: (confidence * 100.0).round() / 100.0,
                reasons,
                entry: entry.clone(),
            };
            if confidence >= MIN_CONFIDENCE && raw >= best_raw * RELATIVE_CUTOFF && matches.len() < top {
                matches.push(m);
            } else if near_misses.len() < 5 {
                near_misses.push(m);
            }
        }
        Diagnosis {
            query: message.to_string(),
            codes,
            matches,
            near_misses,
        }
    }
}

fn confidence(raw: f32) -> f32 {
    1.0 - (-raw / SCORE_SCALE).exp()
}

fn joined(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Builder {
    vocab: FxHashMap<String, u32>,
    by_first: FxHashMap<u32, Vec<u32>>,
    phrases: Vec<Phrase>,
    phrase_ids: FxHashMap<Vec<u32>, u32>,
    statuses: FxHashMap<u16, Vec<(u32, Arc<str>)>>,
}

impl Builder {
    fn word(&mut self, w: &str) -> u32 {
        let next = self.vocab.len() as u32;
        *self.vocab.entry(w.to_string()).or_insert(next)
    }

    fn add(&mut self, ws: &[String], entry: u32, kind: ReasonKind, weight: f32, term: &str) {
        if ws.is_empty() {
            return;
        }
        let ids: Vec<u32> = ws.iter().map(|w| self.word(w)).collect();
        let p = match self.phrase_ids.get(&ids) {
            Some(&p) => p,
            None => {
                let p = self.phrases.len() as u32;
                self.phrases.push(Phrase {
                    words: ids.clone(),
                    postings: Vec::new(),
                });
                self.by_first.entry(ids[0]).or_default().push(p);
                self.phrase_ids.insert(ids, p);
                p
            }
        };
        let postings = &mut self.phrases[p as usize].postings;
        match postings.iter_mut().find(|x| x.entry == entry) {
            // The same words as a code and a keyword of one entry: keep the stronger.
            Some(existing) if existing.weight >= weight => {}
            Some(existing) => {
                *existing = Posting { entry, kind, weight, term: term.into() };
            }
            None => postings.push(Posting { entry, kind, weight, term: term.into() }),
        }
    }
}
