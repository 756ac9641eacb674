//! Matches a free-text message against the knowledge catalogue and explains why.
//!
//! The [`Matcher`] indexes a catalogue once ([`index`]): codes, keywords and titles become
//! phrases of word ids; content words become stemmed single-word evidence. A query tokenizes
//! the message, maps each word to a vocabulary id (exactly, plural-folded, or within a small
//! edit distance), reads HTTP statuses in context ([`status`]), walks the phrases starting at
//! each word, and adds rarity-weighted single-word evidence. Results are data ([`Diagnosis`]);
//! renderers turn them into text.

mod fuzzy;
mod index;
mod status;
pub mod text;
mod words;

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::knowledge::{Entry, Knowledge};
use index::{Index, Shape};
use text::{tokenize, Token};
use words::{fold_plural, is_common, is_content_word, is_problem_word, Stemmer};

/// Confidence an entry needs before it is shown at all; below it medic stays silent.
pub const MIN_CONFIDENCE: f32 = 0.40;
/// The confidence needed, from codes and phrases alone, when the message shows no code and
/// no problem word: people chatting about webhooks or certificates ask medic nothing.
const MIN_CONFIDENCE_WITHOUT_PROBLEM: f32 = 0.5;
/// Entries far below the best one are noise even when they pass [`MIN_CONFIDENCE`].
const RELATIVE_CUTOFF: f32 = 0.35;
/// Raw score at which confidence reaches 1 − 1/e.
const SCORE_SCALE: f32 = 2.5;
/// An HTTP status read from the message in an error context.
const W_STATUS: f32 = 4.0;
/// A typo-matched phrase counts a little less than an exact one…
const FUZZY_FACTOR: f32 = 0.8;
/// …and a typo-matched short single word much less: it is as likely another real word.
const FUZZY_WORD_FACTOR: f32 = 0.5;
const SHORT_WORD: usize = 8;
/// How many below-the-bar entries a diagnosis without a match describes.
const NEAR_MISSES: usize = 3;

/// Why an entry matched: one code, keyword, title phrase or word found in the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// The code or keyword as the entry spells it.
    pub term: String,
    /// The words of the message that matched, when they differ from `term` (typos, plurals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonKind {
    Code,
    Keyword,
    Title,
    /// A single word shared with the entry's codes, keywords, title or summary (stemmed).
    Word,
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
    /// When nothing matched: the best candidates below the bar, for "closest entries" hints.
    #[serde(skip)]
    pub near_misses: Vec<Match>,
}

impl Diagnosis {
    pub fn best(&self) -> Option<&Match> {
        self.matches.first()
    }
}

/// A catalogue with its search index.
#[derive(Debug)]
pub struct Matcher {
    knowledge: Arc<Knowledge>,
    index: Index,
    stemmer: Stemmer,
}

/// One piece of evidence for an entry, kept cheap until the entry is shown.
#[derive(Debug, Clone, Copy)]
struct Hit {
    kind: ReasonKind,
    term: u32,
    /// Message tokens that matched, for the `matched` field.
    tokens: (u32, u32),
    /// Whether the message spelled it differently (typo, plural, stem).
    differs: bool,
}

/// Per-query working sets, kept per thread so a query allocates almost nothing.
#[derive(Debug, Default)]
struct Scratch {
    /// Entry → (total score, the part from codes, keywords and titles).
    scores: FxHashMap<u32, (f32, f32)>,
    hits: Vec<(u32, Hit)>,
    /// (entry, kind, term) → (weight counted, index in `hits`): each counts once, at the
    /// strongest of its occurrences, whatever their order.
    seen: FxHashMap<(u32, ReasonKind, u32), (f32, usize)>,
    /// (entry, token) pairs that got code or phrase credit: no second credit for that token.
    credited: FxHashSet<(u32, u32)>,
    /// (entry, token) pairs inside a code read as plain words: no single-word credit.
    covered: FxHashSet<(u32, u32)>,
    /// (entry, stem evidence) pairs whose word already counts inside a phrase of that entry.
    blocked_stems: FxHashSet<(u32, u32)>,
    /// Per token, the stem evidence it carries.
    stems: Vec<(u32, u32)>,
}

impl Scratch {
    fn clear(&mut self) {
        self.scores.clear();
        self.hits.clear();
        self.seen.clear();
        self.credited.clear();
        self.covered.clear();
        self.blocked_stems.clear();
        self.stems.clear();
    }

    fn add(&mut self, entry: u32, kind: ReasonKind, weight: f32, hit: Hit) {
        let gain = match self.seen.get_mut(&(entry, kind, hit.term)) {
            Some((counted, _)) if *counted >= weight => return,
            Some((counted, at)) => {
                let gain = weight - *counted;
                *counted = weight;
                self.hits[*at].1 = hit;
                gain
            }
            None => {
                self.seen
                    .insert((entry, kind, hit.term), (weight, self.hits.len()));
                self.hits.push((entry, hit));
                weight
            }
        };
        let s = self.scores.entry(entry).or_default();
        s.0 += gain;
        if kind != ReasonKind::Word {
            s.1 += gain;
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Matcher {
    pub fn new(knowledge: Arc<Knowledge>) -> Matcher {
        let stemmer = Stemmer::new();
        let index = Index::build(&knowledge, &stemmer);
        Matcher {
            knowledge,
            index,
            stemmer,
        }
    }

    pub fn knowledge(&self) -> &Arc<Knowledge> {
        &self.knowledge
    }

    /// Maps a message word to a vocabulary id: exactly (plurals folded), or by a typo.
    fn word_id(&self, word: &str) -> Option<(u32, bool)> {
        let folded = fold_plural(word);
        if let Some(&id) = self.index.vocab.get(folded) {
            return Some((id, false));
        }
        if is_common(folded) || !word.chars().all(char::is_alphabetic) {
            return None;
        }
        let id = self
            .index
            .fuzzy
            .lookup(folded)
            // Most words have no plural to fold: look them up once.
            .or_else(|| {
                (folded != word)
                    .then(|| self.index.fuzzy.lookup(word))
                    .flatten()
            })?;
        // A typo of a common word is just as likely another ordinary word.
        (!self.index.common[id as usize]).then_some((id, true))
    }

    /// Diagnoses one message; at most `top` confident matches are returned.
    pub fn diagnose(&self, message: &str, top: usize) -> Diagnosis {
        let mut owned = tokenize(message);
        let implied = text::implied_words(message);
        for word in &implied {
            owned.push_word(word);
        }
        let implied = implied.len();
        let tokens = owned.list();
        let ids: Vec<Option<(u32, bool)>> = tokens.iter().map(|t| self.word_id(t.text)).collect();
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            self.score(message, top, (&tokens, implied), &ids, &mut scratch)
        })
    }

    fn score(
        &self,
        message: &str,
        top: usize,
        (tokens, implied): (&[Token], usize),
        ids: &[Option<(u32, bool)>],
        s: &mut Scratch,
    ) -> Diagnosis {
        let mut codes: Vec<String> = Vec::new();

        for found in status::find_statuses(tokens) {
            codes.push(found.code.to_string());
            let t = found.token as u32;
            for p in self.index.statuses.get(&found.code).into_iter().flatten() {
                s.credited.insert((p.entry, t));
                let hit = Hit {
                    kind: p.kind,
                    term: p.term,
                    tokens: (t, t + 1),
                    differs: false,
                };
                s.add(p.entry, p.kind, W_STATUS, hit);
            }
        }

        for start in 0..tokens.len() {
            let Some((first, _)) = ids[start] else {
                continue;
            };
            // Longest phrases first (the index keeps them so).
            for &p in self.index.by_first.get(&first).into_iter().flatten() {
                let phrase = &self.index.phrases[p as usize];
                let end = start + phrase.words.len();
                if end > tokens.len() {
                    continue;
                }
                let hit = phrase
                    .words
                    .iter()
                    .zip(&ids[start..end])
                    .all(|(w, got)| got.is_some_and(|(g, _)| g == *w));
                if !hit || (phrase.words.len() == 1 && self.index.common[first as usize]) {
                    continue;
                }
                let fuzzy = ids[start..end].iter().any(|g| g.is_some_and(|(_, f)| f));
                let span = &tokens[start..end];
                for posting in &phrase.postings {
                    // A token already credited to this entry (by a status or a longer phrase)
                    // is not counted again.
                    if (start..end).any(|i| s.credited.contains(&(posting.entry, i as u32))) {
                        continue;
                    }
                    let shaped = match posting.shape {
                        Shape::Any => true,
                        Shape::Capitals => span.iter().all(|t| t.capital),
                        Shape::Glued => span[1..]
                            .iter()
                            .all(|t| t.before.is_some_and(|c| !c.is_whitespace())),
                    };
                    let (kind, mut weight) = if shaped {
                        (posting.kind, posting.weight)
                    } else {
                        (ReasonKind::Keyword, posting.plain)
                    };
                    if fuzzy {
                        let short = phrase.words.len() == 1
                            && tokens[start].text.chars().count() < SHORT_WORD;
                        weight *= if short {
                            FUZZY_WORD_FACTOR
                        } else {
                            FUZZY_FACTOR
                        };
                    }
                    if kind == ReasonKind::Code {
                        let term = &self.index.terms[posting.term as usize];
                        if !codes.iter().any(|c| **c == **term) {
                            codes.push(term.to_string());
                        }
                    }
                    // A code read as plain words leaves its tokens to shorter keywords, but
                    // its words do not count again as single words.
                    let credit = if shaped {
                        &mut s.credited
                    } else {
                        &mut s.covered
                    };
                    credit.extend((start..end).map(|i| (posting.entry, i as u32)));
                    let hit = Hit {
                        kind,
                        term: posting.term,
                        tokens: (start as u32, end as u32),
                        differs: fuzzy,
                    };
                    s.add(posting.entry, kind, weight, hit);
                }
            }
        }

        // Single-word evidence: each distinct content word once per entry, weighted by rarity,
        // and not for an entry that already counts that word inside one of its phrases.
        for (i, (tok, id)) in tokens.iter().zip(ids).enumerate() {
            let evidence = match id {
                // A typo'd short word is too often another real word to count alone.
                Some((_, true)) if tok.text.chars().count() < SHORT_WORD - 1 => continue,
                Some((w, fuzzy)) => {
                    if !fuzzy && !is_content_word(tok.text) {
                        continue;
                    }
                    match self.index.vocab_stems[*w as usize] {
                        Some(ev) => ev,
                        None => continue,
                    }
                }
                None => {
                    let word = tok.text;
                    if !is_content_word(word) || !self.index.may_have_stem(word) {
                        continue;
                    }
                    match self.index.stems.get(&*self.stemmer.stem(word)) {
                        Some(&ev) => ev,
                        None => continue,
                    }
                }
            };
            s.stems.push((i as u32, evidence));
            for &entry in &self.index.evidence[evidence as usize].entries {
                let key = (entry, i as u32);
                if s.credited.contains(&key) || s.covered.contains(&key) {
                    s.blocked_stems.insert((entry, evidence));
                }
            }
        }
        for k in 0..s.stems.len() {
            let (i, ev) = s.stems[k];
            let evidence = &self.index.evidence[ev as usize];
            let tok = &tokens[i as usize];
            for &entry in &evidence.entries {
                if s.blocked_stems.contains(&(entry, ev)) {
                    continue;
                }
                let hit = Hit {
                    kind: ReasonKind::Word,
                    term: evidence.term,
                    tokens: (i, i + 1),
                    differs: *self.index.terms[evidence.term as usize] != *tok.text,
                };
                s.add(entry, ReasonKind::Word, evidence.weight, hit);
            }
        }

        // Only the message's own words open the gate: not implied ones, not short typos.
        let real = tokens.len() - implied;
        let problem_said = s.scores.is_empty()
            || !codes.is_empty()
            || asks(text::bounded_prefix(message, text::MAX_ANALYSED_BYTES))
            || tokens[..real].iter().zip(ids).any(|(t, id)| {
                is_problem_word(t.text)
                    || id.is_some_and(|(w, fuzzy)| {
                        (!fuzzy || t.text.chars().count() >= SHORT_WORD)
                            && is_problem_word(self.index.fuzzy.word(w))
                    })
            });
        let mut ranked: Vec<(u32, (f32, f32))> = s.scores.iter().map(|(&e, &v)| (e, v)).collect();
        ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        let best_raw = ranked.first().map_or(0.0, |r| r.1 .0);
        let mut matches = Vec::new();
        let mut near_misses = Vec::new();
        for (e, (total, phrases)) in ranked {
            // Without a code or a problem word, only codes and phrases count, and more is
            // needed: shared vocabulary alone ("we renewed the TLS certificates") asks nothing.
            let confident = if problem_said {
                confidence(total) >= MIN_CONFIDENCE
            } else {
                confidence(phrases) >= MIN_CONFIDENCE_WITHOUT_PROBLEM
            };
            let shown = confident && total >= best_raw * RELATIVE_CUTOFF && matches.len() < top;
            if shown {
                matches.push(self.to_match(e, total, &s.hits, tokens));
            } else if matches.len() >= top {
                break;
            } else if near_misses.len() < NEAR_MISSES {
                near_misses.push((e, total));
            }
        }
        // Near misses are only worth describing when nothing was confident enough.
        let near_misses = if matches.is_empty() {
            near_misses
                .into_iter()
                .map(|(e, total)| self.to_match(e, total, &s.hits, tokens))
                .collect()
        } else {
            Vec::new()
        };
        Diagnosis {
            query: message.to_string(),
            codes,
            matches,
            near_misses,
        }
    }

    fn to_match(&self, e: u32, total: f32, all_hits: &[(u32, Hit)], tokens: &[Token]) -> Match {
        let entry = &self.knowledge.entries()[e as usize];
        let confidence = confidence(total);
        let mut hits: Vec<Hit> = all_hits
            .iter()
            .filter(|(h, _)| *h == e)
            .map(|(_, h)| *h)
            .collect();
        hits.sort_by_key(|h| match h.kind {
            ReasonKind::Code => 0,
            ReasonKind::Title => 1,
            ReasonKind::Keyword => 2,
            ReasonKind::Word => 3,
        });
        let reasons = hits
            .iter()
            .map(|h| Reason {
                kind: h.kind,
                term: self.index.terms[h.term as usize].to_string(),
                matched: h
                    .differs
                    .then(|| joined(&tokens[h.tokens.0 as usize..h.tokens.1 as usize])),
            })
            .collect();
        Match {
            id: entry.id.clone(),
            title: entry.title.clone(),
            score: (confidence * 100.0).round() / 100.0,
            reasons,
            entry: entry.clone(),
        }
    }
}

/// Whether the text asks something: a '?' that is not part of "????" (mojibake, not a question).
fn asks(text: &str) -> bool {
    text.split("????").any(|part| part.contains('?'))
}

fn confidence(raw: f32) -> f32 {
    1.0 - (-raw / SCORE_SCALE).exp()
}

fn joined(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.text).collect::<Vec<_>>().join(" ")
}
