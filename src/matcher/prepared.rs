//! The search index in the compact form `build.rs` embeds for the built-in catalogue, so a
//! start costs reading arrays instead of tokenizing, stemming and hashing every entry.
//!
//! The form is canonical: maps are written in id order (or sorted), never in hash order, so
//! an index built at run time encodes to exactly the embedded bytes (a test checks this).

use rustc_hash::{FxHashMap, FxHashSet};

use super::arena::{StrMap, Strs};
use super::fuzzy::FuzzyIndex;
use super::index::{Index, Phrases, Posting, Shape, WordEvidence};
use super::ReasonKind;
use crate::codec::{Reader, Writer};

/// Bumped whenever the layout below changes (a stale blob then reads as `None`).
const FORMAT: u32 = 1;

fn kind_byte(k: ReasonKind) -> u8 {
    match k {
        ReasonKind::Code => 0,
        ReasonKind::Keyword => 1,
        ReasonKind::Title => 2,
        ReasonKind::Word => 3,
    }
}

fn kind_of(b: u8) -> Option<ReasonKind> {
    Some(match b {
        0 => ReasonKind::Code,
        1 => ReasonKind::Keyword,
        2 => ReasonKind::Title,
        3 => ReasonKind::Word,
        _ => return None,
    })
}

fn shape_byte(s: Shape) -> u8 {
    match s {
        Shape::Any => 0,
        Shape::Capitals => 1,
        Shape::Glued => 2,
    }
}

fn shape_of(b: u8) -> Option<Shape> {
    Some(match b {
        0 => Shape::Any,
        1 => Shape::Capitals,
        2 => Shape::Glued,
        _ => return None,
    })
}

fn write_postings(w: &mut Writer, postings: &[Posting]) {
    w.count(postings.len());
    for p in postings {
        w.u32(p.entry);
        w.u8(kind_byte(p.kind));
        w.f32(p.weight);
        w.u32(p.term);
        w.u8(shape_byte(p.shape));
        w.f32(p.plain);
    }
}

fn read_postings(r: &mut Reader<'_>, entries: usize, terms: usize) -> Option<Vec<Posting>> {
    (0..r.count()?)
        .map(|_| {
            let p = Posting {
                entry: r.u32()?,
                kind: kind_of(r.u8()?)?,
                weight: r.f32()?,
                term: r.u32()?,
                shape: shape_of(r.u8()?)?,
                plain: r.f32()?,
            };
            ((p.entry as usize) < entries && (p.term as usize) < terms).then_some(p)
        })
        .collect()
}

/// Strings as [`Writer::strs`] writes them.
fn write_strs(w: &mut Writer, strs: &Strs) {
    w.count(strs.len());
    for s in strs.iter() {
        w.str(s);
    }
}

fn read_strs(r: &mut Reader<'_>) -> Option<Strs> {
    let n = r.count()?;
    let mut strs = Strs::with_capacity(n, 0);
    for _ in 0..n {
        strs.push(r.str()?);
    }
    strs.shrink_to_fit();
    Some(strs)
}

impl Index {
    /// The canonical bytes of this index.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(FORMAT);
        write_strs(&mut w, &self.terms);
        // The vocabulary in id order: the fuzzy index holds exactly that list.
        write_strs(&mut w, self.fuzzy.words());
        for &c in &self.common {
            w.u8(c as u8);
        }
        self.fuzzy.encode_variants(&mut w);
        w.count(self.phrase_lens.len());
        for &l in &self.phrase_lens {
            w.u64(l);
        }
        w.count(self.longest);
        w.count(self.phrases.len());
        for p in 0..self.phrases.len() as u32 {
            w.u32s(self.phrases.words(p));
            write_postings(&mut w, self.phrases.postings(p));
        }
        let mut statuses: Vec<_> = self.statuses.iter().collect();
        statuses.sort_unstable_by_key(|(code, _)| **code);
        w.count(statuses.len());
        for (code, postings) in statuses {
            w.u32(u32::from(*code));
            write_postings(&mut w, postings);
        }
        // Each evidence row has exactly one stem, its id the row.
        w.count(self.evidence.len());
        for (ev, stem) in self.evidence.iter().zip(self.stems.strs().iter()) {
            w.str(stem);
            w.f32(ev.weight);
            w.u32s(&ev.entries);
            w.u32(ev.term);
        }
        let mut prefixes: Vec<u32> = self
            .stem_prefixes
            .iter()
            .map(|p| u32::from_le_bytes(*p))
            .collect();
        prefixes.sort_unstable();
        w.u32s(&prefixes);
        for &s in &self.vocab_stems {
            w.opt_u32(s);
        }
        w.into_bytes()
    }

    /// The index [`Index::encode`] wrote for a catalogue of `entries` entries; `None` when
    /// the bytes are not such an index.
    pub(super) fn decode(bytes: &[u8], entries: usize) -> Option<Index> {
        let mut r = Reader::new(bytes);
        if r.u32()? != FORMAT {
            return None;
        }
        let terms = read_strs(&mut r)?;
        let words = read_strs(&mut r)?;
        let n = words.len();
        let (words, vocab) = StrMap::of(words).into_parts();
        let common = (0..n)
            .map(|_| r.u8().map(|b| b != 0))
            .collect::<Option<Vec<_>>>()?;
        let fuzzy = FuzzyIndex::decode(words, &mut r)?;
        let phrase_lens = (0..r.count()?)
            .map(|_| r.u64())
            .collect::<Option<Vec<_>>>()?;
        let longest = r.count()?;
        let phrase_count = r.count()?;
        let mut parts = Vec::with_capacity(phrase_count);
        for _ in 0..phrase_count {
            let ws = r.u32s()?;
            if ws.is_empty() || ws.iter().any(|&id| id as usize >= n) {
                return None;
            }
            parts.push((ws, read_postings(&mut r, entries, terms.len())?));
        }
        let phrases = Phrases::from_parts(parts);
        let mut statuses = FxHashMap::default();
        for _ in 0..r.count()? {
            let code = u16::try_from(r.u32()?).ok()?;
            statuses.insert(code, read_postings(&mut r, entries, terms.len())?);
        }
        let rows = r.count()?;
        let mut stems = Strs::default();
        let mut evidence = Vec::with_capacity(rows);
        for _ in 0..rows {
            stems.push(r.str()?);
            let row = WordEvidence {
                weight: r.f32()?,
                entries: r.u32s()?,
                term: r.u32()?,
            };
            if row.entries.iter().any(|&e| e as usize >= entries)
                || row.term as usize >= terms.len()
            {
                return None;
            }
            evidence.push(row);
        }
        let stems = StrMap::of(stems);
        let stem_prefixes: FxHashSet<[u8; 4]> =
            r.u32s()?.into_iter().map(u32::to_le_bytes).collect();
        let vocab_stems = (0..n).map(|_| r.opt_u32()).collect::<Option<Vec<_>>>()?;
        let consistent = r.is_done()
            && phrase_lens.len() == n
            && vocab_stems.iter().flatten().all(|&s| (s as usize) < rows);
        consistent.then_some(Index {
            vocab,
            common,
            fuzzy,
            phrase_lens,
            longest,
            phrases,
            statuses,
            stems,
            evidence,
            stem_prefixes,
            vocab_stems,
            terms,
        })
    }
}
