//! Scoring one message against the index, pass by pass: statuses, phrases, single words,
//! the "is this a problem at all" gate, and the ranking that picks what to show. Working
//! sets live per thread and are reused, so a query allocates little beyond its answer.

use std::cell::RefCell;

use rustc_hash::{FxHashMap, FxHashSet};

use super::index::{Posting, Shape, W_CODE};
use super::text::{self, Token, Tokens};
use super::words::{fold_plural, is_common, is_content_word, is_problem_word};
use super::{
    confidence, Diagnosis, Match, Matcher, ReasonKind, FUZZY_FACTOR, FUZZY_WORD_FACTOR,
    MIN_CONFIDENCE, MIN_CONFIDENCE_WITHOUT_PROBLEM, NEAR_MISSES, RELATIVE_CUTOFF, SHORT_WORD,
    W_STATUS,
};

/// A message's word ids (with whether each was matched exactly) beside its raw word ids.
type TokenView<'a> = (&'a [Option<(u32, bool)>], &'a [u32]);

/// Marks a token whose word is not in the vocabulary, so no phrase can contain it.
const NO_WORD: u32 = u32::MAX;

/// A status carried by more entries than this (a team catalogue where every tenth entry
/// lists 502) is credited only to the entries that are ranked, so a message's cost does not
/// grow with the catalogue. Results are the same as crediting every carrier.
const WIDE: usize = super::index::MAX_WORD_ENTRIES;

/// One piece of evidence for an entry, kept cheap until the entry is shown.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hit {
    pub kind: ReasonKind,
    pub term: u32,
    /// Message tokens that matched, for the `matched` field.
    pub tokens: (u32, u32),
    /// Whether the message spelled it differently (typo, plural, stem).
    pub differs: bool,
    /// Whether an HTTP status read in context gave it: shown before other codes.
    pub status: bool,
}

impl Hit {
    /// The credit a status read at token `t` gives the entry of posting `p`.
    fn status(p: &Posting, t: u32) -> Hit {
        Hit {
            kind: p.kind,
            term: p.term,
            tokens: (t, t + 1),
            differs: false,
            status: true,
        }
    }
}

/// Per-query working sets, kept per thread so a query allocates almost nothing.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Per token, its vocabulary id and whether it was reached by a typo.
    ids: Vec<Option<(u32, bool)>>,
    /// Per token, its vocabulary id or [`NO_WORD`]: the keys of phrase lookups.
    words: Vec<u32>,
    ev: Evidence,
}

/// What the passes found, per entry.
#[derive(Debug, Default)]
struct Evidence {
    /// Entry → index in `totals`, or `u32::MAX`; sized to the largest catalogue seen.
    slot: Vec<u32>,
    /// (entry, total score, the part from codes, keywords and titles), in first-hit order.
    totals: Vec<(u32, f32, f32)>,
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
    /// Entries worth ranking, reused across queries.
    ranked: Vec<(u32, f32, f32)>,
    /// Statuses carried by more than [`WIDE`] entries, with the token each was read at:
    /// credited lazily (see [`Matcher::settle_wide`]) instead of to every carrier up front.
    wide: Vec<(u16, u32)>,
    /// Per entry, how many wide statuses it carries (only while settling; zero otherwise).
    wide_count: Vec<u16>,
    wide_touched: Vec<u32>,
    /// When the whole message is a few words naming a problem ("timeout", "read timeout"):
    /// their number, so a phrase spelling exactly them counts as a code would.
    bare: usize,
    /// Token spans of long codes found as spelled, with the entry owning each: a shorter
    /// phrase inside one is part of that code's text, not evidence for another entry
    /// ("Timeout acquiring a connection. The pool is probably full" says nothing of a
    /// network timeout).
    claims: Vec<(u32, u32, u32)>,
}

impl Evidence {
    fn clear(&mut self, entries: usize) {
        for &(e, _, _) in &self.totals {
            self.slot[e as usize] = u32::MAX;
        }
        if self.slot.len() < entries {
            self.slot.resize(entries, u32::MAX);
        }
        self.totals.clear();
        self.hits.clear();
        self.seen.clear();
        self.credited.clear();
        self.covered.clear();
        self.claims.clear();
        self.blocked_stems.clear();
        self.stems.clear();
        self.ranked.clear();
        self.wide.clear();
        if self.wide_count.len() < entries {
            self.wide_count.resize(entries, 0);
        }
    }

    /// Whether `entry` has no evidence yet.
    fn unscored(&self, entry: u32) -> bool {
        self.slot[entry as usize] == u32::MAX
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
        let at = match self.slot[entry as usize] {
            u32::MAX => {
                self.slot[entry as usize] = self.totals.len() as u32;
                self.totals.push((entry, 0.0, 0.0));
                self.totals.len() - 1
            }
            at => at as usize,
        };
        let t = &mut self.totals[at];
        t.1 += gain;
        if kind != ReasonKind::Word {
            t.2 += gain;
        }
    }
}

/// Best first; ties go to the earlier entry, so results never depend on hash order.
fn by_rank(a: &(u32, f32, f32), b: &(u32, f32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

thread_local! {
    static SCRATCH: RefCell<(Tokens, Scratch)> = RefCell::default();
}

/// Runs `f` with this thread's token buffer and working sets.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Tokens, &mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (tokens, scratch) = &mut *guard;
        f(tokens, scratch)
    })
}

/// A message of at most this many words, one of them a problem word, that is exactly one
/// catalogue term is a lookup of that term.
const BARE_WORDS: usize = 3;

/// A code of at least this many words, found as spelled, owns the words inside it.
const CLAIM_WORDS: usize = 4;

/// A runner-up found by a code of its own leads a bare HTTP status when it scores at least
/// this fraction of the status's total.
const CAUSE_RATIO: f32 = 0.75;

/// Whether the text asks something: a '?' that is not part of "????" (mojibake, not a question).
fn asks(text: &str) -> bool {
    text.split("????").any(|part| part.contains('?'))
}

impl Matcher {
    /// Scores the tokens of `message` (the last `implied` of them are implied words) and
    /// ranks the entries.
    pub(super) fn diagnose_tokens(
        &self,
        message: &str,
        top: usize,
        (tokens, implied): (&[Token], usize),
        s: &mut Scratch,
    ) -> Diagnosis {
        self.look_up_words(tokens, s);
        let Scratch { ids, words, ev } = s;
        ev.clear(self.knowledge.len());
        let mut codes: Vec<String> = Vec::new();
        self.score_statuses(tokens, ev, &mut codes);
        let said = &tokens[..tokens.len() - implied];
        ev.bare = if said.len() <= BARE_WORDS && said.iter().any(|t| is_problem_word(t.text)) {
            said.len()
        } else {
            0
        };
        self.score_phrases(tokens, (ids, words), ev, &mut codes);
        self.score_words(tokens, ids, ev);
        self.settle_wide(top, ev);
        let problem_said = self.problem_said(message, &tokens[..tokens.len() - implied], ids, ev)
            || !codes.is_empty();
        let (mut matches, mut near_misses) = self.rank(top, problem_said, tokens, ev);
        if !matches.is_empty()
            && super::words::is_feature_talk(
                // Only what is analysed: a 1 MB paste costs what its first 8 KiB do.
                text::bounded_prefix(message, text::MAX_ANALYSED_BYTES),
                tokens[..tokens.len() - implied].iter().map(|t| t.text),
            )
        {
            // Feature talk stays silent; what it mentions is still the closest entries.
            matches.truncate(NEAR_MISSES);
            near_misses = std::mem::take(&mut matches);
        }
        Diagnosis {
            query: message.to_string(),
            codes,
            matches,
            near_misses,
        }
    }

    /// Maps every token to a vocabulary id (see [`Matcher::word_id`]).
    fn look_up_words(&self, tokens: &[Token], s: &mut Scratch) {
        s.ids.clear();
        s.ids.extend(tokens.iter().map(|t| self.word_id(t.text)));
        s.words.clear();
        s.words
            .extend(s.ids.iter().map(|id| id.map_or(NO_WORD, |(w, _)| w)));
    }

    /// Maps a message word to a vocabulary id: exactly (plurals folded), or by a typo.
    fn word_id(&self, word: &str) -> Option<(u32, bool)> {
        let folded = fold_plural(word);
        if let Some(id) = self.index.word_id(folded) {
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

    /// HTTP statuses read in an error context credit the entries carrying them as codes.
    fn score_statuses(&self, tokens: &[Token], ev: &mut Evidence, codes: &mut Vec<String>) {
        for found in super::status::find_statuses(tokens) {
            codes.push(found.code.to_string());
            let t = found.token as u32;
            let carriers = self.index.carriers(found.code);
            if carriers.len() > WIDE {
                ev.wide.push((found.code, t));
                continue;
            }
            for p in carriers {
                ev.credited.insert((p.entry, t));
                ev.add(p.entry, p.kind, W_STATUS, Hit::status(p, t));
            }
        }
    }

    /// Whether `token` already gave `entry` code or phrase credit (a wide status counts).
    fn credited(&self, ev: &Evidence, entry: u32, token: u32) -> bool {
        ev.credited.contains(&(entry, token))
            || ev
                .wide
                .iter()
                .any(|&(code, t)| t == token && self.carrier_postings(code, entry).next().is_some())
    }

    /// The postings of wide status `code` that belong to `entry` (postings are in entry order).
    fn carrier_postings(&self, code: u16, entry: u32) -> impl Iterator<Item = &Posting> {
        let carriers = self.index.carriers(code);
        let from = carriers.partition_point(|p| p.entry < entry);
        carriers[from..]
            .iter()
            .take_while(move |p| p.entry == entry)
    }

    /// Credits wide statuses where ranking can see them: to every entry with other evidence,
    /// and to the best-placed entries that have nothing else (most wide statuses, then the
    /// earliest), enough of them to fill `top` matches or the near misses. Every carrier
    /// left out scores no more than those credited and comes later, so it would not be shown.
    fn settle_wide(&self, top: usize, ev: &mut Evidence) {
        if ev.wide.is_empty() {
            return;
        }
        // A status read twice is credited once, at its first token (as crediting eagerly does).
        let mut seen = 0;
        for k in 0..ev.wide.len() {
            let code = ev.wide[k].0;
            if !ev.wide[..seen].iter().any(|&(c, _)| c == code) {
                ev.wide[seen] = ev.wide[k];
                seen += 1;
            }
        }
        ev.wide.truncate(seen);
        let want = top.max(NEAR_MISSES);
        let mut chosen: Vec<u32> = ev.totals.iter().map(|t| t.0).collect();
        if let [(code, _)] = ev.wide[..] {
            let carriers = self.index.carriers(code);
            let mut taken = 0;
            for p in carriers {
                if taken == want {
                    break;
                }
                if ev.unscored(p.entry) && chosen.last() != Some(&p.entry) {
                    chosen.push(p.entry);
                    taken += 1;
                }
            }
        } else {
            for &(code, _) in &ev.wide {
                for p in self.index.carriers(code) {
                    let e = p.entry as usize;
                    if ev.unscored(p.entry) {
                        if ev.wide_count[e] == 0 {
                            ev.wide_touched.push(p.entry);
                        }
                        ev.wide_count[e] += 1;
                    }
                }
            }
            let mut touched = std::mem::take(&mut ev.wide_touched);
            let count = |e: &u32| ev.wide_count[*e as usize];
            if touched.len() > want {
                touched.select_nth_unstable_by(want, |a, b| count(b).cmp(&count(a)).then(a.cmp(b)));
            }
            chosen.extend_from_slice(&touched[..want.min(touched.len())]);
            for &e in &touched {
                ev.wide_count[e as usize] = 0;
            }
            touched.clear();
            ev.wide_touched = touched;
        }
        for e in chosen {
            for k in 0..ev.wide.len() {
                let (code, t) = ev.wide[k];
                for p in self.carrier_postings(code, e) {
                    ev.add(e, p.kind, W_STATUS, Hit::status(p, t));
                }
            }
        }
    }

    /// Codes, keywords and titles found as word sequences, longest first at each position.
    fn score_phrases(
        &self,
        tokens: &[Token],
        (ids, words): TokenView<'_>,
        ev: &mut Evidence,
        codes: &mut Vec<String>,
    ) {
        for start in 0..tokens.len() {
            let first = words[start];
            if first == NO_WORD {
                continue;
            }
            let room = tokens.len() - start;
            let mut lens = self.index.phrase_lens[first as usize];
            while lens != 0 {
                let bit = 63 - lens.leading_zeros() as usize;
                lens &= !(1 << bit);
                if bit == 63 {
                    // 64 words or more: rare enough to try every such length.
                    for len in (64..=self.index.longest.min(room)).rev() {
                        self.score_phrase_at(tokens, (ids, words), (start, start + len), ev, codes);
                    }
                } else if bit < room {
                    self.score_phrase_at(tokens, (ids, words), (start, start + bit + 1), ev, codes);
                }
            }
        }
    }

    /// Credits the phrase spelled by tokens `start..end`, if the catalogue has one.
    fn score_phrase_at(
        &self,
        tokens: &[Token],
        (ids, words): TokenView<'_>,
        (start, end): (usize, usize),
        ev: &mut Evidence,
        codes: &mut Vec<String>,
    ) {
        let Some(p) = self.index.phrase(&words[start..end]) else {
            return;
        };
        let one_word = end - start == 1;
        if one_word && self.index.common[words[start] as usize] {
            return;
        }
        let fuzzy = ids[start..end].iter().any(|g| g.is_some_and(|(_, f)| f));
        let span = &tokens[start..end];
        let (s32, e32) = (start as u32, end as u32);
        let inside = |c: &&(u32, u32, u32)| c.0 <= s32 && e32 <= c.1 && e32 - s32 < c.1 - c.0;
        for posting in self.index.phrases.postings(p) {
            // A token already credited to this entry (by a status or a longer phrase)
            // is not counted again.
            if (start..end).any(|i| self.credited(ev, posting.entry, i as u32)) {
                continue;
            }
            let mut within = ev.claims.iter().filter(inside);
            if within.clone().next().is_some() && within.all(|c| c.2 != posting.entry) {
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
            // A message that is nothing but this term asks about it, like a bare code does.
            if shaped && start == 0 && end == ev.bare {
                weight = weight.max(W_CODE);
            }
            if fuzzy {
                let short = one_word && tokens[start].text.chars().count() < SHORT_WORD;
                weight *= if short {
                    FUZZY_WORD_FACTOR
                } else {
                    FUZZY_FACTOR
                };
            }
            if kind == ReasonKind::Code && shaped && end - start >= CLAIM_WORDS {
                ev.claims.push((s32, e32, posting.entry));
            }
            if kind == ReasonKind::Code {
                let term = self.index.terms.get(posting.term);
                if !codes.iter().any(|c| c == term) {
                    codes.push(term.to_string());
                }
            }
            // A code read as plain words leaves its tokens to shorter keywords, but
            // its words do not count again as single words.
            let credit = if shaped {
                &mut ev.credited
            } else {
                &mut ev.covered
            };
            credit.extend((start..end).map(|i| (posting.entry, i as u32)));
            let hit = Hit {
                kind,
                term: posting.term,
                tokens: (start as u32, end as u32),
                differs: fuzzy,
                status: false,
            };
            ev.add(posting.entry, kind, weight, hit);
        }
    }

    /// Single-word evidence: each distinct content word once per entry, weighted by rarity,
    /// and not for an entry that already counts that word inside one of its phrases.
    fn score_words(&self, tokens: &[Token], ids: &[Option<(u32, bool)>], ev: &mut Evidence) {
        for (i, (tok, id)) in tokens.iter().zip(ids).enumerate() {
            let Some(evidence) = self.word_evidence(tok, *id) else {
                continue;
            };
            ev.stems.push((i as u32, evidence));
            for &entry in &self.index.evidence[evidence as usize].entries {
                let key = (entry, i as u32);
                if self.credited(ev, entry, i as u32) || ev.covered.contains(&key) {
                    ev.blocked_stems.insert((entry, evidence));
                }
            }
        }
        for k in 0..ev.stems.len() {
            let (i, e) = ev.stems[k];
            let evidence = &self.index.evidence[e as usize];
            let tok = &tokens[i as usize];
            for &entry in &evidence.entries {
                if ev.blocked_stems.contains(&(entry, e)) {
                    continue;
                }
                let hit = Hit {
                    kind: ReasonKind::Word,
                    term: evidence.term,
                    tokens: (i, i + 1),
                    differs: self.index.terms.get(evidence.term) != tok.text,
                    status: false,
                };
                ev.add(entry, ReasonKind::Word, evidence.weight, hit);
            }
        }
    }

    /// The stem evidence a token carries, if any.
    fn word_evidence(&self, tok: &Token, id: Option<(u32, bool)>) -> Option<u32> {
        match id {
            // A typo'd short word is too often another real word to count alone.
            Some((_, true)) if tok.text.chars().count() < SHORT_WORD - 1 => None,
            Some((w, fuzzy)) => {
                if !fuzzy && !is_content_word(tok.text) {
                    return None;
                }
                self.index.vocab_stems[w as usize]
            }
            None => {
                let word = tok.text;
                if !is_content_word(word) || !self.index.may_have_stem(word) {
                    return None;
                }
                self.index.stems.get(&self.stemmer.stem(word))
            }
        }
    }

    /// Whether the message says it is about a problem (a code also does): only the
    /// message's own `words` open the gate, not implied ones, not short typos.
    fn problem_said(
        &self,
        message: &str,
        words: &[Token],
        ids: &[Option<(u32, bool)>],
        ev: &Evidence,
    ) -> bool {
        ev.totals.is_empty()
            || asks(text::bounded_prefix(message, text::MAX_ANALYSED_BYTES))
            || words.iter().zip(ids).any(|(t, id)| {
                is_problem_word(t.text)
                    || id.is_some_and(|(w, fuzzy)| {
                        (!fuzzy || t.text.chars().count() >= SHORT_WORD)
                            && is_problem_word(self.index.fuzzy.word(w))
                    })
            })
    }

    /// Whether `e` is an HTTP status entry (`http-403`): what a specific cause produces.
    fn is_status_entry(&self, e: u32) -> bool {
        let entry = &self.knowledge.entries()[e as usize];
        // One status: a family such as Cloudflare's 520–527 names its own cause.
        entry.category.as_deref() == Some("http")
            && entry
                .codes
                .iter()
                .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
                .count()
                == 1
    }

    /// Whether `e` is a cause a status can stand for: credentials, TLS, the network, webhooks.
    /// Parsing errors (`data`) are symptoms of the status's body instead ("invalid character
    /// 'T'" from a 429's "Too Many Requests").
    fn is_cause_entry(&self, e: u32) -> bool {
        let entry = &self.knowledge.entries()[e as usize];
        matches!(
            entry.category.as_deref(),
            Some("auth" | "tls" | "network" | "webhook")
        )
    }

    /// Whether status entry `e` was found by a code beyond its number and reason phrase
    /// (nginx's "upstream timed out" for 504): then it names the cause itself.
    fn has_own_cause(&self, e: u32, ev: &Evidence) -> bool {
        let title = self.knowledge.entries()[e as usize].title.to_lowercase();
        let in_title = |term: &str| {
            term.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .all(|w| {
                    let w = w.to_lowercase();
                    title.split(|c: char| !c.is_alphanumeric()).any(|t| t == w)
                })
        };
        ev.hits.iter().any(|(he, h)| {
            *he == e
                && h.kind == ReasonKind::Code
                && !h.status
                && !in_title(self.index.terms.get(h.term))
        })
    }

    /// A specific cause outranks the bare HTTP status it produced ("403 … ExpiredToken",
    /// "400 Bad Request … invalid_client_id"): when the best is a status entry and a close
    /// runner-up that is not one was found by a code of its own, the runner-up leads, with
    /// the status's score (the status explains no more than the cause does), and the status
    /// follows it.
    fn prefer_the_cause(&self, ev: &mut Evidence) {
        let Some(&(top, top_total, top_phrases)) = ev.ranked.first() else {
            return;
        };
        if !self.is_status_entry(top) || self.has_own_cause(top, ev) {
            return;
        }
        let cause = ev
            .ranked
            .iter()
            .enumerate()
            .skip(1)
            .take(3)
            .find(|&(_, &(e, total, _))| {
                total >= top_total * CAUSE_RATIO
                    && self.is_cause_entry(e)
                    && ev
                        .hits
                        .iter()
                        .any(|(he, h)| *he == e && h.kind == ReasonKind::Code && !h.status)
            });
        if let Some((i, _)) = cause {
            let (e, _, phrases) = ev.ranked.remove(i);
            ev.ranked
                .insert(0, (e, top_total, phrases.max(top_phrases)));
        }
    }

    /// The matches to show, best first, and (when there are none) the closest near misses.
    /// Only entries that can be shown are sorted: shown ones reach a fraction of the best
    /// score (and, with a problem said, the confidence bar), so the rest need no order.
    fn rank(
        &self,
        top: usize,
        problem_said: bool,
        tokens: &[Token],
        ev: &mut Evidence,
    ) -> (Vec<Match>, Vec<Match>) {
        let best_raw = ev.totals.iter().map(|t| t.1).fold(0.0f32, f32::max);
        let cutoff = best_raw * RELATIVE_CUTOFF;
        ev.ranked.extend(ev.totals.iter().filter(|&&(_, total, _)| {
            total >= cutoff && (!problem_said || confidence(total) >= MIN_CONFIDENCE)
        }));
        ev.ranked.sort_unstable_by(by_rank);
        self.prefer_the_cause(ev);
        let mut matches = Vec::new();
        for &(e, total, phrases) in &ev.ranked {
            if matches.len() >= top {
                break;
            }
            // Without a code or a problem word, only codes and phrases count, and more is
            // needed: shared vocabulary alone ("we renewed the TLS certificates") asks nothing.
            if problem_said || confidence(phrases) >= MIN_CONFIDENCE_WITHOUT_PROBLEM {
                matches.push(self.to_match(e, total, &ev.hits, tokens));
            }
        }
        // Near misses are only worth describing when nothing was confident enough.
        let mut near_misses = Vec::new();
        if matches.is_empty() {
            let mut closest: Vec<(u32, f32, f32)> = Vec::with_capacity(NEAR_MISSES + 1);
            for t in &ev.totals {
                let at = closest.partition_point(|c| by_rank(c, t).is_lt());
                if at < NEAR_MISSES {
                    closest.insert(at, *t);
                    closest.truncate(NEAR_MISSES);
                }
            }
            near_misses = closest
                .into_iter()
                .map(|(e, total, _)| self.to_match(e, total, &ev.hits, tokens))
                .collect();
        }
        (matches, near_misses)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::knowledge::{Knowledge, SourceFile};
    use crate::matcher::Matcher;

    /// `n` entries carrying 502 (every third also 504); entry `special` also has a keyword.
    fn catalogue(n: usize, special: usize) -> Matcher {
        let files = (0..n)
            .map(|i| {
                let codes = if i % 3 == 0 {
                    r#""502", "504""#
                } else {
                    r#""502""#
                };
                let kw = if i == special {
                    "flux capacitor"
                } else {
                    "plain entry"
                };
                SourceFile {
                    name: format!("c{i:03}.toml"),
                    text: format!(
                        "id = \"c{i:03}\"\ntitle = \"Carrier {i}\"\nsummary = \"A carrier.\"\n\
                         codes = [{codes}]\nkeywords = [\"{kw}\"]\nsteps = [\"Look.\"]\n"
                    ),
                }
            })
            .collect();
        Matcher::new(Arc::new(Knowledge::from_layers(&[files]).unwrap()))
    }

    use crate::matcher::top_ids as ids;

    /// A status carried by many entries is credited lazily; the ranking is the one crediting
    /// every carrier gives: more evidence first, then the earliest entry.
    #[test]
    fn wide_statuses_rank_as_if_every_carrier_were_credited() {
        for n in [30, 200] {
            let special = n - 2;
            let m = catalogue(n, special);
            assert_eq!(
                ids(&m, "the flux capacitor returns 502"),
                [format!("c{special:03}"), "c000".into(), "c001".into()],
                "{n} carriers"
            );
            // Two statuses: entries carrying both come first.
            assert_eq!(
                ids(&m, "we get 502 and then 504 from the proxy"),
                ["c000", "c003", "c006"],
                "{n} carriers"
            );
            let d = m.diagnose("we get 502 from the proxy, then 502 again", 3);
            assert_eq!(
                d.matches[0].reasons.len(),
                1,
                "a status read twice counts once"
            );
        }
    }
}
