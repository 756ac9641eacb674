//! The search index built once per catalogue: vocabulary, phrases with their postings,
//! status codes, and the stemmed single-word evidence table.

use rustc_hash::{FxHashMap, FxHashSet};

use super::fuzzy::FuzzyIndex;
use super::text::{tokenize_into, Tokens};
use super::words::{fold_plural, is_common, is_content_word, Stemmer};
use super::ReasonKind;
use crate::knowledge::Knowledge;

pub(super) const W_CODE: f32 = 3.5;
pub(super) const W_CODE_MAX: f32 = 4.5;
pub(super) const W_TITLE: f32 = 4.0;
pub(super) const W_KEYWORD_WORD: f32 = 1.5;
pub(super) const W_KEYWORD_PHRASE: f32 = 2.0;
pub(super) const W_KEYWORD_LONG: f32 = 2.5;
/// Evidence from single content words shared with an entry, scaled by how rare the word is
/// in the catalogue: it lets "paginating" + "missing" find an entry no phrase matched.
pub(super) const W_WORD_MAX: f32 = 0.8;
/// Words only an entry's summary uses count this much of a keyword word: they describe the
/// problem, but loosely.
const PROSE_FACTOR: f32 = 0.5;
/// Words used by more entries than this carry no evidence (and would cost long walks); a
/// one-word keyword shared that widely would weigh under a sixth of a keyword word anyway.
pub(super) const MAX_WORD_ENTRIES: usize = 40;

#[derive(Debug, Clone, Copy)]
pub(super) struct Posting {
    pub entry: u32,
    pub kind: ReasonKind,
    pub weight: f32,
    /// Index into [`Index::terms`]: the code or keyword as the entry spells it.
    pub term: u32,
    /// How the message must write the words for `weight` and `kind` to apply.
    pub shape: Shape,
    /// The weight, as a keyword, when the message does not write them that way.
    pub plain: f32,
}

/// How a code is written, so plain English that happens to contain it ("I have not found the
/// time", "traffic tends to slow down") is not read as the error ("404 Not Found", "SlowDown").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Any spelling counts.
    Any,
    /// Every word starts with a capital, as servers print reason phrases ("Not Found").
    Capitals,
    /// One identifier, its words joined without spaces ("SlowDown", "Webhook-Signature").
    Glued,
}

/// A code's shape from its catalogue spelling.
fn code_shape(code: &str, words: usize) -> Shape {
    let alphabetic = code.chars().all(|c| c.is_alphabetic() || c.is_whitespace());
    if words == 1 {
        // "UNAVAILABLE", "ECONNREFUSED": as printed, in capitals; "unavailable" is English.
        let all_caps = alphabetic && code.chars().all(|c| c.is_uppercase());
        return if all_caps {
            Shape::Capitals
        } else {
            Shape::Any
        };
    }
    if !code.contains(char::is_whitespace) {
        // "SlowDown", "Webhook-Signature": one identifier, not words that happen to meet.
        return Shape::Glued;
    }
    if alphabetic
        && code
            .split_whitespace()
            .all(|w| w.starts_with(char::is_uppercase))
    {
        Shape::Capitals
    } else {
        Shape::Any
    }
}

/// A plain-English code written without its shape counts like a single shared word.
const W_SHAPELESS: f32 = 1.0;

#[derive(Debug, Clone)]
pub(super) struct Phrase {
    pub words: Box<[u32]>,
    pub postings: Vec<Posting>,
}

#[derive(Debug, Clone)]
pub(super) struct WordEvidence {
    pub weight: f32,
    pub entries: Vec<u32>,
    pub term: u32,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// Folded word → id; ids index `fuzzy` words and `common`.
    pub vocab: FxHashMap<Box<str>, u32>,
    pub common: Vec<bool>,
    pub fuzzy: FuzzyIndex,
    /// Phrase id by its word ids: a query looks up the words at each position instead of
    /// walking every phrase that starts there.
    pub phrase_ids: FxHashMap<Box<[u32]>, u32>,
    /// Per word id, bit `n - 1` set when a phrase of `n` words starts with it (bit 63: 64 or
    /// more), so a query only looks up lengths that exist.
    pub phrase_lens: Vec<u64>,
    /// Length of the longest phrase.
    pub longest: usize,
    pub phrases: Vec<Phrase>,
    /// HTTP status → entries carrying it as a code.
    pub statuses: FxHashMap<u16, Vec<Posting>>,
    /// Stem → index in `evidence`.
    pub stems: FxHashMap<Box<str>, u32>,
    pub evidence: Vec<WordEvidence>,
    /// First four bytes of every stem (and of the word it came from): a message word whose
    /// start matches none of them cannot stem to a known stem, so it skips the stemmer.
    pub stem_prefixes: FxHashSet<[u8; 4]>,
    /// The stem evidence of each vocabulary word, by word id.
    pub vocab_stems: Vec<Option<u32>>,
    pub terms: Vec<Box<str>>,
}

/// The key `stem_prefixes` uses for a word or stem: its first four bytes, zero-padded.
fn prefix_key(w: &str, len: usize) -> [u8; 4] {
    let mut key = [0u8; 4];
    for (k, b) in key.iter_mut().zip(w.bytes().take(len)) {
        *k = b;
    }
    key
}

impl Index {
    pub(super) fn build(knowledge: &Knowledge, stemmer: &Stemmer) -> Index {
        let mut b = Index::default();
        let mut stems = StemCache::new(stemmer);
        // One token buffer for every text of the catalogue; `ws` borrows its words.
        let mut toks = Tokens::default();
        // How many entries use each keyword word (plural-folded), so widely shared single
        // words weigh less: (entries, the last entry counted).
        let mut word_entries: FxHashMap<Box<str>, (u32, u32)> = FxHashMap::default();
        // Every keyword's words, tokenized once for both passes: the text, each word's range
        // in it, and each keyword's range of words (keywords in catalogue order).
        let mut kw_text = String::new();
        let mut kw_words: Vec<(u32, u32)> = Vec::new();
        let mut kw_ranges: Vec<(u32, u32)> = Vec::new();
        for (e, entry) in knowledge.entries().iter().enumerate() {
            let e = e as u32;
            for kw in &entry.keywords {
                tokenize_into(kw, &mut toks);
                let first = kw_words.len() as u32;
                for w in toks.texts() {
                    let at = kw_text.len() as u32;
                    kw_text.push_str(w);
                    kw_words.push((at, kw_text.len() as u32));
                    let w = fold_plural(w);
                    match word_entries.get_mut(w) {
                        Some((n, last)) if *last != e => {
                            *n += 1;
                            *last = e;
                        }
                        Some(_) => {}
                        None => {
                            word_entries.insert(w.into(), (1, e));
                        }
                    }
                }
                kw_ranges.push((first, kw_words.len() as u32));
            }
        }
        // Stem evidence from codes, keywords and titles, noted while they are tokenized here.
        let mut strong = StemTable::default();
        // At most one phrase per code, keyword and title: reserved once, not grown by doubling.
        let most: usize = knowledge
            .entries()
            .iter()
            .map(|e| e.codes.len() + e.keywords.len() + 1)
            .sum();
        b.phrases.reserve_exact(most);
        b.terms.reserve_exact(most);
        let mut keywords = kw_ranges.iter();
        for (e, entry) in knowledge.entries().iter().enumerate() {
            let e = e as u32;
            for code in &entry.codes {
                tokenize_into(code, &mut toks);
                strong.note(toks.texts(), e, &mut stems);
                let ws: Vec<&str> = toks.texts().collect();
                if let [only] = ws.as_slice() {
                    if only.len() == 3 {
                        if let Ok(status) = only.parse::<u16>() {
                            let term = b.term(code);
                            let p = Posting {
                                shape: Shape::Any,
                                plain: 0.0,
                                entry: e,
                                kind: ReasonKind::Code,
                                weight: 0.0,
                                term,
                            };
                            b.statuses.entry(status).or_default().push(p);
                            continue;
                        }
                    }
                }
                // A longer code is a more specific diagnosis ("certificate has expired"); a
                // code that is one plain word ("Conflict", "Gone") is no stronger than a keyword.
                let plain_word = ws.len() == 1
                    && code.chars().all(char::is_alphabetic)
                    && code.starts_with(char::is_uppercase)
                    && code.chars().skip(1).all(char::is_lowercase);
                let weight = if plain_word {
                    W_KEYWORD_WORD
                } else {
                    (W_CODE + 0.5 * (ws.len() as f32 - 1.0)).min(W_CODE_MAX)
                };
                // A plain word is matched like a keyword and does not count as a code read.
                let kind = if plain_word {
                    ReasonKind::Keyword
                } else {
                    ReasonKind::Code
                };
                let shape = code_shape(code, ws.len());
                b.add(&ws, e, (kind, weight, shape), code);
            }
            for kw in &entry.keywords {
                let &(a, z) = keywords.next().expect("one range per keyword");
                let ws: Vec<&str> = kw_words[a as usize..z as usize]
                    .iter()
                    .map(|&(a, z)| &kw_text[a as usize..z as usize])
                    .collect();
                strong.note(ws.iter().copied(), e, &mut stems);
                let weight = match ws.len() {
                    0 => continue,
                    1 => {
                        let shared = word_entries
                            .get(fold_plural(ws[0]))
                            .map_or(1, |&(n, _)| n)
                            .max(1);
                        if shared as usize > MAX_WORD_ENTRIES {
                            continue;
                        }
                        W_KEYWORD_WORD / (shared as f32).sqrt()
                    }
                    2 => W_KEYWORD_PHRASE,
                    _ => W_KEYWORD_LONG,
                };
                let spec = (ReasonKind::Keyword, weight, Shape::Any);
                b.add(&ws, e, spec, kw);
            }
            // The title without a leading status: "429 · Too Many Requests" → "too many requests".
            // Such a title is a reason phrase, with a reason phrase's shape ("Not Found");
            // lowercase forms people type count through the entry's keywords.
            tokenize_into(&entry.title, &mut toks);
            strong.note(toks.texts(), e, &mut stems);
            let mut tw: Vec<&str> = toks.texts().collect();
            let mut shape = Shape::Any;
            if tw
                .first()
                .is_some_and(|w| w.bytes().all(|c| c.is_ascii_digit()))
            {
                tw.remove(0);
                let reason = entry.title.split_once('·').map_or("", |(_, r)| r.trim());
                shape = code_shape(reason, tw.len());
            }
            if tw.len() >= 2 {
                let spec = (ReasonKind::Title, W_TITLE, shape);
                b.add(&tw, e, spec, &entry.title);
            }
        }
        // The keyword cache and word counts are done with: not held through the rest.
        drop((kw_text, kw_words, kw_ranges, word_entries));
        b.phrases.shrink_to_fit();
        b.phrase_lens = vec![0; b.vocab.len()];
        for phrase in &b.phrases {
            let len = phrase.words.len();
            b.phrase_lens[phrase.words[0] as usize] |= 1 << (len.min(64) - 1);
            b.longest = b.longest.max(len);
        }
        let mut by_id: Vec<(Box<str>, u32)> =
            b.vocab.iter().map(|(w, &id)| (w.clone(), id)).collect();
        by_id.sort_by_key(|&(_, id)| id);
        let words: Vec<Box<str>> = by_id.into_iter().map(|(w, _)| w).collect();
        b.common = words.iter().map(|w| is_common(w)).collect();
        b.build_stems(knowledge, &mut stems, &mut toks, strong);
        // Vocabulary words know their stem's evidence, so they never run the stemmer.
        b.vocab_stems = words
            .iter()
            .map(|w| b.stems.get(stems.stem(w)).copied())
            .collect();
        // The stem cache is done with before the fuzzy index's variants are laid out.
        drop(stems);
        b.fuzzy = FuzzyIndex::new(words);
        b
    }

    /// The entries carrying HTTP status `code` as a code, in entry order.
    pub(super) fn carriers(&self, code: u16) -> &[Posting] {
        self.statuses.get(&code).map_or(&[], Vec::as_slice)
    }

    /// The phrase whose words are `ids`, if any.
    pub(super) fn phrase(&self, ids: &[u32]) -> Option<u32> {
        self.phrase_ids.get(ids).copied()
    }

    fn term(&mut self, text: &str) -> u32 {
        self.terms.push(text.into());
        (self.terms.len() - 1) as u32
    }

    fn word(&mut self, w: &str) -> u32 {
        let w = fold_plural(w);
        if let Some(&id) = self.vocab.get(w) {
            return id;
        }
        let id = self.vocab.len() as u32;
        self.vocab.insert(w.into(), id);
        id
    }

    /// Adds `term` (tokenized as `ws`) of `entry` as a phrase with its kind, weight and shape.
    fn add(
        &mut self,
        ws: &[&str],
        entry: u32,
        (kind, weight, shape): (ReasonKind, f32, Shape),
        term: &str,
    ) {
        if ws.is_empty() {
            return;
        }
        let ids: Box<[u32]> = ws.iter().map(|w| self.word(w)).collect();
        let p = match self.phrase_ids.get(&ids) {
            Some(&p) => p,
            None => {
                let p = self.phrases.len() as u32;
                self.phrases.push(Phrase {
                    words: ids.clone(),
                    // Most phrases belong to one entry: no room reserved for more.
                    postings: Vec::with_capacity(1),
                });
                self.phrase_ids.insert(ids, p);
                p
            }
        };
        // Without its shape, a code counts like a shared word (one word: like a keyword word).
        let plain = match (shape, ws.len()) {
            (Shape::Any, _) => weight,
            (_, 1) => W_KEYWORD_WORD,
            _ => W_SHAPELESS,
        };
        let term = self.term(term);
        let postings = &mut self.phrases[p as usize].postings;
        match postings.iter_mut().find(|x| x.entry == entry) {
            // The same words as a code and a keyword of one entry: one posting, the stronger
            // weight when the shape is met, the stronger plain weight when it is not.
            Some(existing) => {
                if weight > existing.weight {
                    existing.kind = kind;
                    existing.weight = weight;
                    existing.term = term;
                    existing.shape = shape;
                }
                existing.plain = existing.plain.max(plain);
            }
            None => postings.push(Posting {
                entry,
                kind,
                weight,
                term,
                shape,
                plain,
            }),
        }
    }

    /// Stemmed content words of codes, keywords and titles (and, at a discount, summaries),
    /// weighted by inverse document frequency.
    fn build_stems(
        &mut self,
        knowledge: &Knowledge,
        stems: &mut StemCache,
        toks: &mut Tokens,
        strong: StemTable,
    ) {
        let mut prose = StemTable::default();
        for (e, entry) in knowledge.entries().iter().enumerate() {
            tokenize_into(&entry.summary, toks);
            prose.note(toks.texts(), e as u32, stems);
        }
        let (strong, prose) = (strong.0, prose.0);
        // Insertion in a fixed order (by stem id, the order stems were first met), so the
        // term ids do not depend on hash order.
        let mut strong: Vec<_> = strong.into_iter().collect();
        strong.sort_unstable_by_key(|&(id, _)| id);
        let mut prose: Vec<_> = prose.into_iter().collect();
        prose.sort_unstable_by_key(|&(id, _)| id);
        let strong = strong
            .into_iter()
            .map(|(id, v)| (Box::<str>::from(stems.text(id)), v));
        let prose = prose
            .into_iter()
            .map(|(id, v)| (Box::<str>::from(stems.text(id)), v));
        self.terms.reserve_exact(strong.len() + prose.len());
        let n = knowledge.len().max(2) as f32;
        let idf = |df: usize| (n / df as f32).ln() / n.ln();
        for (stem, (entries, word)) in strong {
            if entries.len() <= MAX_WORD_ENTRIES {
                self.insert_stem(stem, W_WORD_MAX * idf(entries.len()), entries, &word);
            }
        }
        for (stem, (entries, word)) in prose {
            if !self.stems.contains_key(&stem) && entries.len() <= MAX_WORD_ENTRIES / 2 {
                self.insert_stem(
                    stem,
                    W_WORD_MAX * PROSE_FACTOR * idf(entries.len()),
                    entries,
                    &word,
                );
            }
        }
    }

    fn insert_stem(&mut self, stem: Box<str>, weight: f32, mut entries: Vec<u32>, word: &str) {
        if weight <= 0.05 {
            return;
        }
        let term = self.term(word);
        self.stem_prefixes.insert(prefix_key(&stem, 4));
        self.stem_prefixes.insert(prefix_key(word, 4));
        self.stems.insert(stem, self.evidence.len() as u32);
        entries.shrink_to_fit();
        self.evidence.push(WordEvidence {
            weight,
            entries,
            term,
        });
    }

    /// Whether `word` may stem to a known stem (cheap: most message words cannot).
    pub(super) fn may_have_stem(&self, word: &str) -> bool {
        // Three-letter stems ("vpn") are keyed zero-padded; "vpns" must still reach them.
        self.stem_prefixes.contains(&prefix_key(word, 4))
            || self.stem_prefixes.contains(&prefix_key(word, 3))
    }
}

/// By stem id: the entries whose texts use it and the first word that stemmed to it.
#[derive(Default)]
struct StemTable(FxHashMap<u32, (Vec<u32>, Box<str>)>);

impl StemTable {
    /// Notes the content words of one text of entry `e` (entries come in order).
    fn note<'w>(&mut self, words: impl Iterator<Item = &'w str>, e: u32, stems: &mut StemCache) {
        for w in words {
            if !is_content_word(w) {
                continue;
            }
            let slot = self
                .0
                .entry(stems.stem_id(w))
                .or_insert_with(|| (Vec::new(), w.into()));
            // Entries are visited in order: the last one pushed is the only possible repeat.
            if slot.0.last() != Some(&e) {
                slot.0.push(e);
            }
        }
    }
}

/// Stems each distinct word once: a catalogue repeats its words many times, and the stemmer
/// is the costliest step of indexing.
struct StemCache<'a> {
    stemmer: &'a Stemmer,
    /// Word → stem id.
    ids: FxHashMap<Box<str>, u32>,
    /// Stem id → stem; one id per distinct stem.
    stems: Vec<Box<str>>,
    by_stem: FxHashMap<Box<str>, u32>,
}

impl<'a> StemCache<'a> {
    fn new(stemmer: &'a Stemmer) -> Self {
        StemCache {
            stemmer,
            ids: FxHashMap::default(),
            stems: Vec::new(),
            by_stem: FxHashMap::default(),
        }
    }

    fn stem_id(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let stem = self.stemmer.stem(word);
        let id = match self.by_stem.get(&*stem) {
            Some(&id) => id,
            None => {
                let id = self.stems.len() as u32;
                self.stems.push(stem.as_ref().into());
                self.by_stem.insert(stem.as_ref().into(), id);
                id
            }
        };
        self.ids.insert(word.into(), id);
        id
    }

    fn stem(&mut self, word: &str) -> &str {
        let id = self.stem_id(word);
        &self.stems[id as usize]
    }

    fn text(&self, id: u32) -> &str {
        &self.stems[id as usize]
    }
}
