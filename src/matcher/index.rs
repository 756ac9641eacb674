//! The search index built once per catalogue: vocabulary, phrases with their postings,
//! status codes, and the stemmed single-word evidence table.

use rustc_hash::{FxHashMap, FxHashSet};

use super::arena::{hash_of, IdTable, StrMap, Strs};
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

/// Every phrase's word ids and postings, flat, behind a table from word ids to phrase id.
#[derive(Debug, Clone, Default)]
pub(super) struct Phrases {
    words: Vec<u32>,
    /// End of each phrase's words in `words`.
    word_ends: Vec<u32>,
    postings: Vec<Posting>,
    /// End of each phrase's postings in `postings`.
    posting_ends: Vec<u32>,
    table: IdTable,
}

impl Phrases {
    pub(super) fn len(&self) -> usize {
        self.word_ends.len()
    }

    pub(super) fn words(&self, p: u32) -> &[u32] {
        let p = p as usize;
        let start = if p == 0 { 0 } else { self.word_ends[p - 1] };
        &self.words[start as usize..self.word_ends[p] as usize]
    }

    pub(super) fn postings(&self, p: u32) -> &[Posting] {
        let p = p as usize;
        let start = if p == 0 { 0 } else { self.posting_ends[p - 1] };
        &self.postings[start as usize..self.posting_ends[p] as usize]
    }

    /// The phrase whose words are `ids`, if any.
    pub(super) fn find(&self, ids: &[u32]) -> Option<u32> {
        self.table.find(hash_of(ids), |p| self.words(p) == ids)
    }

    /// Phrases from `(words, postings)` in id order (the form [`Index::encode`] writes).
    pub(super) fn from_parts(parts: impl IntoIterator<Item = (Vec<u32>, Vec<Posting>)>) -> Phrases {
        let mut ps = Phrases::default();
        for (words, postings) in parts {
            ps.words.extend_from_slice(&words);
            ps.word_ends.push(ps.words.len() as u32);
            ps.postings.extend_from_slice(&postings);
            ps.posting_ends.push(ps.postings.len() as u32);
        }
        ps.shrink_and_index();
        ps
    }

    fn shrink_and_index(&mut self) {
        self.words.shrink_to_fit();
        self.word_ends.shrink_to_fit();
        self.postings.shrink_to_fit();
        self.posting_ends.shrink_to_fit();
        let table = IdTable::of(self.len(), |p| hash_of(self.words(p)));
        self.table = table;
    }
}

/// Phrases while the catalogue is indexed: postings arrive in any phrase order, chained per
/// phrase, and are laid out by phrase once at the end.
#[derive(Default)]
struct PhraseBuilder {
    words: Vec<u32>,
    word_ends: Vec<u32>,
    table: IdTable,
    /// Postings in arrival order, with their phrase.
    postings: Vec<(u32, Posting)>,
    /// Per phrase, its latest posting + 1 (0: none); per posting, the phrase's previous one.
    last: Vec<u32>,
    prev: Vec<u32>,
}

impl PhraseBuilder {
    fn with_capacity(phrases: usize) -> PhraseBuilder {
        // At most one posting per phrase added: reserved once, not grown by doubling.
        PhraseBuilder {
            table: IdTable::with_capacity(phrases),
            postings: Vec::with_capacity(phrases),
            prev: Vec::with_capacity(phrases),
            last: Vec::with_capacity(phrases),
            word_ends: Vec::with_capacity(phrases),
            ..PhraseBuilder::default()
        }
    }

    fn words(&self, p: u32) -> &[u32] {
        let p = p as usize;
        let start = if p == 0 { 0 } else { self.word_ends[p - 1] };
        &self.words[start as usize..self.word_ends[p] as usize]
    }

    /// The id of the phrase of `ids`, added when new.
    fn phrase(&mut self, ids: &[u32]) -> u32 {
        let hash = hash_of(ids);
        if let Some(p) = self.table.find(hash, |p| self.words(p) == ids) {
            return p;
        }
        let p = self.word_ends.len() as u32;
        self.words.extend_from_slice(ids);
        self.word_ends.push(self.words.len() as u32);
        self.last.push(0);
        let (words, ends) = (&self.words, &self.word_ends);
        self.table.insert(hash, p, |q| {
            let q = q as usize;
            let start = if q == 0 { 0 } else { ends[q - 1] };
            hash_of(&words[start as usize..ends[q] as usize])
        });
        p
    }

    /// Phrase `p`'s posting for `entry`, if it has one.
    fn posting_mut(&mut self, p: u32, entry: u32) -> Option<&mut Posting> {
        let mut at = self.last[p as usize];
        while at != 0 {
            if self.postings[at as usize - 1].1.entry == entry {
                return Some(&mut self.postings[at as usize - 1].1);
            }
            at = self.prev[at as usize - 1];
        }
        None
    }

    fn push(&mut self, p: u32, posting: Posting) {
        self.postings.push((p, posting));
        self.prev.push(self.last[p as usize]);
        self.last[p as usize] = self.postings.len() as u32;
    }

    /// The phrases, each with its postings in arrival order.
    fn finish(self) -> Phrases {
        let (mut postings, n) = (self.postings, self.word_ends.len());
        drop((self.last, self.prev, self.table));
        // Stable: a phrase's postings keep their arrival order.
        postings.sort_by_key(|&(p, _)| p);
        let mut posting_ends = vec![0u32; n];
        for &(p, _) in &postings {
            posting_ends[p as usize] += 1;
        }
        let mut total = 0;
        for end in &mut posting_ends {
            total += *end;
            *end = total;
        }
        let mut ps = Phrases {
            words: self.words,
            word_ends: self.word_ends,
            postings: postings.into_iter().map(|(_, p)| p).collect(),
            posting_ends,
            table: IdTable::default(),
        };
        ps.shrink_and_index();
        ps
    }
}

/// What only indexing needs: the vocabulary and terms as they grow, and the phrases being
/// gathered. Terms are interned: a catalogue repeats its codes and keywords across entries.
struct Building {
    vocab: StrMap,
    terms: StrMap,
    phrases: PhraseBuilder,
}

#[derive(Debug, Clone)]
pub(super) struct WordEvidence {
    pub weight: f32,
    pub entries: Vec<u32>,
    pub term: u32,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// Folded word → id over the `fuzzy` index's words; ids also index `common`.
    pub vocab: IdTable,
    pub common: Vec<bool>,
    pub fuzzy: FuzzyIndex,
    /// Per word id, bit `n - 1` set when a phrase of `n` words starts with it (bit 63: 64 or
    /// more), so a query only looks up lengths that exist.
    pub phrase_lens: Vec<u64>,
    /// Length of the longest phrase.
    pub longest: usize,
    /// Phrase id by its word ids: a query looks up the words at each position instead of
    /// walking every phrase that starts there.
    pub phrases: Phrases,
    /// HTTP status → entries carrying it as a code.
    pub statuses: FxHashMap<u16, Vec<Posting>>,
    /// Stem → index in `evidence` (ids are rows).
    pub stems: StrMap,
    pub evidence: Vec<WordEvidence>,
    /// First four bytes of every stem (and of the word it came from): a message word whose
    /// start matches none of them cannot stem to a known stem, so it skips the stemmer.
    pub stem_prefixes: FxHashSet<[u8; 4]>,
    /// The stem evidence of each vocabulary word, by word id.
    pub vocab_stems: Vec<Option<u32>>,
    /// Codes, keywords, titles and words as the entries spell them, by term id.
    pub terms: Strs,
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
        let mut shared_words = StrMap::default();
        let mut word_entries: Vec<(u32, u32)> = Vec::new();
        // Every keyword's words, tokenized once for both passes: the text, each word's range
        // in it, and each keyword's range of words (keywords in catalogue order).
        // Sized from the keywords' lengths up front: doubling would hold up to twice that.
        let (kw_count, kw_bytes) = knowledge
            .entries()
            .iter()
            .flat_map(|e| &e.keywords)
            .fold((0, 0), |(n, b), kw| (n + 1, b + kw.len()));
        let mut kw_text = String::with_capacity(kw_bytes);
        // Where each word ends in `kw_text` (it starts where the one before ended).
        let mut kw_ends: Vec<u32> = Vec::with_capacity(kw_count * 2);
        let mut kw_ranges: Vec<(u32, u32)> = Vec::with_capacity(kw_count);
        for (e, entry) in knowledge.entries().iter().enumerate() {
            let e = e as u32;
            for kw in &entry.keywords {
                tokenize_into(kw, &mut toks);
                let first = kw_ends.len() as u32;
                for w in toks.texts() {
                    kw_text.push_str(w);
                    kw_ends.push(kw_text.len() as u32);
                    let w = shared_words.intern(fold_plural(w)) as usize;
                    match word_entries.get_mut(w) {
                        Some((n, last)) if *last != e => {
                            *n += 1;
                            *last = e;
                        }
                        Some(_) => {}
                        None => word_entries.push((1, e)),
                    }
                }
                kw_ranges.push((first, kw_ends.len() as u32));
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
        let mut at = Building {
            vocab: StrMap::default(),
            terms: StrMap::with_capacity(most),
            phrases: PhraseBuilder::with_capacity(most),
        };
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
                            let term = at.terms.intern(code);
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
                b.add(&mut at, &ws, e, (kind, weight, shape), code);
            }
            for kw in &entry.keywords {
                let &(a, z) = keywords.next().expect("one range per keyword");
                let ws: Vec<&str> = (a as usize..z as usize)
                    .map(|i| {
                        let start = if i == 0 { 0 } else { kw_ends[i - 1] };
                        &kw_text[start as usize..kw_ends[i] as usize]
                    })
                    .collect();
                strong.note(ws.iter().copied(), e, &mut stems);
                let weight = match ws.len() {
                    0 => continue,
                    1 => {
                        let shared = shared_words
                            .get(fold_plural(ws[0]))
                            .map_or(1, |w| word_entries[w as usize].0)
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
                b.add(&mut at, &ws, e, spec, kw);
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
                b.add(&mut at, &tw, e, spec, &entry.title);
            }
        }
        // The keyword cache and word counts are done with: not held through the rest.
        drop((kw_text, kw_ends, kw_ranges, shared_words, word_entries));
        b.phrases = at.phrases.finish();
        b.terms = at.terms.into_parts().0;
        b.phrase_lens = vec![0; at.vocab.len()];
        for p in 0..b.phrases.len() as u32 {
            let words = b.phrases.words(p);
            b.phrase_lens[words[0] as usize] |= 1 << (words.len().min(64) - 1);
            b.longest = b.longest.max(words.len());
        }
        let (words, vocab) = at.vocab.into_parts();
        b.vocab = vocab;
        let mut words = words;
        words.shrink_to_fit();
        b.common = words.iter().map(is_common).collect();
        b.build_stems(knowledge, &mut stems, &mut toks, strong);
        // Vocabulary words know their stem's evidence, so they never run the stemmer.
        b.vocab_stems = words.iter().map(|w| b.stems.get(stems.stem(w))).collect();
        // The stem cache is done with before the fuzzy index's variants are laid out.
        drop(stems);
        b.fuzzy = FuzzyIndex::new(words);
        b
    }

    /// The id of a (plural-folded) vocabulary word.
    pub(super) fn word_id(&self, folded: &str) -> Option<u32> {
        self.vocab
            .find(hash_of(folded), |id| self.fuzzy.word(id) == folded)
    }

    /// The entries carrying HTTP status `code` as a code, in entry order.
    pub(super) fn carriers(&self, code: u16) -> &[Posting] {
        self.statuses.get(&code).map_or(&[], Vec::as_slice)
    }

    /// The phrase whose words are `ids`, if any.
    pub(super) fn phrase(&self, ids: &[u32]) -> Option<u32> {
        self.phrases.find(ids)
    }

    /// Adds `term` (tokenized as `ws`) of `entry` as a phrase with its kind, weight and shape.
    fn add(
        &mut self,
        at: &mut Building,
        ws: &[&str],
        entry: u32,
        (kind, weight, shape): (ReasonKind, f32, Shape),
        term: &str,
    ) {
        if ws.is_empty() {
            return;
        }
        let mut ids = [0u32; 16];
        let long: Vec<u32>;
        let ids: &[u32] = if ws.len() <= ids.len() {
            for (id, w) in ids.iter_mut().zip(ws) {
                *id = at.vocab.intern(fold_plural(w));
            }
            &ids[..ws.len()]
        } else {
            long = ws.iter().map(|w| at.vocab.intern(fold_plural(w))).collect();
            &long
        };
        let p = at.phrases.phrase(ids);
        // Without its shape, a code counts like a shared word (one word: like a keyword word).
        let plain = match (shape, ws.len()) {
            (Shape::Any, _) => weight,
            (_, 1) => W_KEYWORD_WORD,
            _ => W_SHAPELESS,
        };
        let term = at.terms.intern(term);
        match at.phrases.posting_mut(p, entry) {
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
            None => at.phrases.push(
                p,
                Posting {
                    entry,
                    kind,
                    weight,
                    term,
                    shape,
                    plain,
                },
            ),
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
        let by_id = |table: Vec<Option<(Vec<u32>, Box<str>)>>| {
            table
                .into_iter()
                .enumerate()
                .filter_map(|(id, v)| v.map(|v| (id as u32, v)))
                .collect::<Vec<_>>()
        };
        let (strong, prose) = (by_id(strong), by_id(prose));
        let strong = strong
            .into_iter()
            .map(|(id, v)| (Box::<str>::from(stems.text(id)), v));
        let prose = prose
            .into_iter()
            .map(|(id, v)| (Box::<str>::from(stems.text(id)), v));
        let n = knowledge.len().max(2) as f32;
        let idf = |df: usize| (n / df as f32).ln() / n.ln();
        for (stem, (entries, word)) in strong {
            if entries.len() <= MAX_WORD_ENTRIES {
                self.insert_stem(stem, W_WORD_MAX * idf(entries.len()), entries, &word);
            }
        }
        for (stem, (entries, word)) in prose {
            if self.stems.get(&stem).is_none() && entries.len() <= MAX_WORD_ENTRIES / 2 {
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
        let term = self.terms.push(word);
        self.stem_prefixes.insert(prefix_key(&stem, 4));
        self.stem_prefixes.insert(prefix_key(word, 4));
        let row = self.stems.intern(&stem);
        debug_assert_eq!(row as usize, self.evidence.len(), "one row per new stem");
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
/// Stem ids are dense (0, 1, … in the order stems were met): a vector, not a hash map.
struct StemTable(Vec<Option<(Vec<u32>, Box<str>)>>);

impl StemTable {
    /// Notes the content words of one text of entry `e` (entries come in order).
    fn note<'w>(&mut self, words: impl Iterator<Item = &'w str>, e: u32, stems: &mut StemCache) {
        for w in words {
            if !is_content_word(w) {
                continue;
            }
            let id = stems.stem_id(w) as usize;
            if self.0.len() <= id {
                self.0.resize_with(id + 1, || None);
            }
            let slot = self.0[id].get_or_insert_with(|| (Vec::new(), w.into()));
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
    /// Words met, and each one's stem id by word id.
    words: StrMap,
    ids: Vec<u32>,
    /// Stems by stem id; one id per distinct stem.
    stems: StrMap,
}

impl<'a> StemCache<'a> {
    fn new(stemmer: &'a Stemmer) -> Self {
        StemCache {
            stemmer,
            words: StrMap::default(),
            ids: Vec::new(),
            stems: StrMap::default(),
        }
    }

    fn stem_id(&mut self, word: &str) -> u32 {
        if let Some(w) = self.words.get(word) {
            return self.ids[w as usize];
        }
        let id = self.stems.intern(&self.stemmer.stem(word));
        self.words.intern(word);
        self.ids.push(id);
        id
    }

    fn stem(&mut self, word: &str) -> &str {
        let id = self.stem_id(word);
        self.stems.strs().get(id)
    }

    fn text(&self, id: u32) -> &str {
        self.stems.strs().get(id)
    }
}
