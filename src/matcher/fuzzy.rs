//! Typo-tolerant word lookup: a symmetric-delete index over the catalogue's vocabulary,
//! confirmed with strsim's edit distance, so a query never compares against every word.
//!
//! Every vocabulary word is stored under the hashes of its variants with one (or, for long
//! words, two) characters deleted; a query generates its own deletion variants and only words
//! sharing a variant are compared. Variant hashes are polynomial, so each one costs O(1) from
//! prefix sums instead of building a string.

use super::arena::Strs;
use crate::codec::{Reader, Writer};

/// Words shorter than this are only matched exactly: short typos are too ambiguous.
const MIN_FUZZY_LEN: usize = 5;
/// From this length on, two edits are tolerated.
const TWO_EDITS_LEN: usize = 9;
const BASE: u64 = 0x100_0000_01b3;

pub(super) fn max_edits(len: usize) -> usize {
    if len >= TWO_EDITS_LEN {
        2
    } else if len >= MIN_FUZZY_LEN {
        1
    } else {
        0
    }
}

/// Longest word the index handles (the tokenizer drops longer runs).
const MAX_WORD: usize = 64;

/// Hashes of `chars` and of all its variants with up to `edits` (≤ 2) deletions.
fn for_each_variant(chars: &[u32], edits: usize, f: &mut impl FnMut(u64)) {
    let n = chars.len().min(MAX_WORD);
    let chars = &chars[..n];
    // prefix[i] = Horner hash of chars[..i]; pow[k] = BASE^k. On the stack: this runs per word.
    let mut prefix = [0u64; MAX_WORD + 1];
    let mut pow = [1u64; MAX_WORD + 1];
    for (i, &c) in chars.iter().enumerate() {
        prefix[i + 1] = prefix[i].wrapping_mul(BASE).wrapping_add(c as u64 + 1);
        pow[i + 1] = pow[i].wrapping_mul(BASE);
    }
    // Hash of chars[a..b] by Horner's rule.
    let range = |a: usize, b: usize| prefix[b].wrapping_sub(prefix[a].wrapping_mul(pow[b - a]));
    let finish =
        |h: u64, len: usize| (h ^ ((len as u64) << 58)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    f(finish(prefix[n], n));
    if edits == 0 {
        return;
    }
    for i in 0..n {
        // chars without position i.
        let h = range(0, i)
            .wrapping_mul(pow[n - i - 1])
            .wrapping_add(range(i + 1, n));
        f(finish(h, n - 1));
        if edits >= 2 {
            for j in i + 1..n {
                // chars without positions i and j.
                let h = range(0, i)
                    .wrapping_mul(pow[n - i - 2])
                    .wrapping_add(range(i + 1, j).wrapping_mul(pow[n - j - 1]))
                    .wrapping_add(range(j + 1, n));
                f(finish(h, n - 2));
            }
        }
    }
}

/// From this length on, a vocabulary word is indexed by the 0/1-deletion variants of its two
/// halves instead of its two-deletion variants: n + 2 variants instead of ~n²/2, which is what
/// long identifiers (`err_tls_cert_altname_invalid`) cost. Complete all the same: when two
/// words are within two edits, one of the halves is within one edit of the matching part
/// of the query (a transposition across the middle counts as one edit on each side).
const HALVES_LEN: usize = 13;

/// Which half of a long word a variant hash stands for, and that word's length.
fn half_tag(suffix: bool, word_len: usize) -> u64 {
    ((word_len as u64) << 1 | suffix as u64).wrapping_mul(0xa076_1d64_78bd_642f)
}

/// Variant hashes with their word ids, sorted, behind a directory of their top bits: 8 bytes
/// per variant and no hash map (the variants of a large catalogue run into millions).
#[derive(Debug, Default, Clone)]
struct VariantTable {
    /// `dir[b]..dir[b + 1]` is the range of bucket `b` (the top `bits` of the hash).
    dir: Vec<u32>,
    bits: u32,
    /// Low 32 bits of each variant hash; a collision only adds a candidate that the edit
    /// distance then rejects.
    keys: Vec<u32>,
    ids: Vec<u32>,
}

impl VariantTable {
    /// Lays out the `count` variants `each` yields, calling it twice (once to size the
    /// buckets, once to place): hashing a variant again is cheaper than holding every
    /// (hash, id) pair of a large vocabulary at once, which was the peak of building it.
    fn build(count: usize, each: impl Fn(&mut dyn FnMut(u64, u32))) -> VariantTable {
        // About two variants per bucket.
        let bits = (usize::BITS - (count / 2).max(1).leading_zeros()).clamp(1, 30);
        let bucket = |h: u64| (h >> (64 - bits)) as usize;
        let mut dir = vec![0u32; (1usize << bits) + 1];
        each(&mut |h, _| dir[bucket(h) + 1] += 1);
        for b in 1..dir.len() {
            dir[b] += dir[b - 1];
        }
        let total = *dir.last().expect("at least two slots") as usize;
        let mut next: Vec<u32> = dir[..dir.len() - 1].to_vec();
        let (mut keys, mut ids) = (vec![0u32; total], vec![0u32; total]);
        each(&mut |h, id| {
            let at = &mut next[bucket(h)];
            keys[*at as usize] = h as u32;
            ids[*at as usize] = id;
            *at += 1;
        });
        drop(next);
        // Each bucket sorted on its own and deduplicated in place, so the table does not
        // depend on the order the words came in.
        let mut slot: Vec<(u32, u32)> = Vec::new();
        let mut kept = 0;
        let mut from = 0;
        for b in 0..dir.len() - 1 {
            let to = dir[b + 1] as usize;
            slot.clear();
            slot.extend((from..to).map(|k| (keys[k], ids[k])));
            slot.sort_unstable();
            dir[b] = kept as u32;
            let mut last = None;
            for &(k, id) in &slot {
                if last != Some((k, id)) {
                    keys[kept] = k;
                    ids[kept] = id;
                    kept += 1;
                    last = Some((k, id));
                }
            }
            from = to;
        }
        *dir.last_mut().expect("at least two slots") = kept as u32;
        keys.truncate(kept);
        ids.truncate(kept);
        keys.shrink_to_fit();
        ids.shrink_to_fit();
        VariantTable {
            dir,
            bits,
            keys,
            ids,
        }
    }

    /// Word ids stored under `h` (and, rarely, under a hash sharing its bucket and low bits).
    fn get(&self, h: u64, mut f: impl FnMut(u32)) {
        if self.keys.is_empty() {
            return;
        }
        let b = (h >> (64 - self.bits)) as usize;
        let (a, z) = (self.dir[b] as usize, self.dir[b + 1] as usize);
        for k in a..z {
            if self.keys[k] == h as u32 {
                f(self.ids[k]);
            }
        }
    }
}

/// How a vocabulary word of `n` characters is stored in the variant table.
#[derive(Clone, Copy)]
enum Indexed {
    /// Only matched exactly: too short even for an insertion typo, too long, or with digits
    /// (identifiers).
    Not,
    /// By the 0/1-deletion variants of its two halves ([`HALVES_LEN`]).
    Halves,
    /// By its variants with up to this many deletions.
    Whole(usize),
}

fn indexed_as(word: &str, n: usize) -> Indexed {
    // A vocabulary word one shorter than the fuzzy minimum can still be reached by an
    // insertion typo; words with digits are identifiers and only match exactly.
    if n + 1 < MIN_FUZZY_LEN || n > MAX_WORD || word.bytes().any(|b| b.is_ascii_digit()) {
        Indexed::Not
    } else if n >= HALVES_LEN {
        Indexed::Halves
    } else if n >= TWO_EDITS_LEN {
        // Two-deletion variants are only needed where a query of the same length may carry
        // two substitutions; shorter words meet two-edit queries through the query's own
        // deletions (a budget of 2 on a longer query implies an insertion).
        Indexed::Whole(2)
    } else {
        Indexed::Whole(1)
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct FuzzyIndex {
    words: Strs,
    variants: VariantTable,
    /// Bit `n` set when a word of `n` characters (≥ [`HALVES_LEN`]) is indexed by halves.
    half_lens: u128,
}

impl FuzzyIndex {
    /// Indexes `words` (their position is their id) for fuzzy lookup.
    pub(super) fn new(list: Strs) -> Self {
        let mut half_lens = 0u128;
        let mut count = 0;
        for word in list.iter() {
            let n = word.chars().count();
            count += match indexed_as(word, n) {
                Indexed::Not => 0,
                Indexed::Halves => {
                    half_lens |= 1 << n;
                    n + 2
                }
                Indexed::Whole(1) => n + 1,
                Indexed::Whole(_) => 1 + n + n * (n - 1) / 2,
            };
        }
        let variants = VariantTable::build(count, |f| {
            let mut chars: Vec<u32> = Vec::with_capacity(MAX_WORD);
            for (id, word) in list.iter().enumerate() {
                chars.clear();
                chars.extend(word.chars().map(|c| c as u32));
                let (id, n) = (id as u32, chars.len());
                match indexed_as(word, n) {
                    Indexed::Not => {}
                    Indexed::Halves => {
                        let h = n / 2;
                        for (suffix, part) in [(false, &chars[..h]), (true, &chars[h..])] {
                            let tag = half_tag(suffix, n);
                            for_each_variant(part, 1, &mut |v| f(v ^ tag, id));
                        }
                    }
                    Indexed::Whole(edits) => for_each_variant(&chars, edits, &mut |h| f(h, id)),
                }
            }
        });
        FuzzyIndex {
            words: list,
            variants,
            half_lens,
        }
    }

    /// The indexed words, by id.
    pub(super) fn words(&self) -> &Strs {
        &self.words
    }

    /// Writes the variant table (not the words: the caller writes those once).
    pub(super) fn encode_variants(&self, w: &mut Writer) {
        let t = &self.variants;
        w.u32s(&t.dir);
        w.u32(t.bits);
        w.u32s(&t.keys);
        w.u32s(&t.ids);
        w.u64(self.half_lens as u64);
        w.u64((self.half_lens >> 64) as u64);
    }

    /// The index over `words` whose variant table [`FuzzyIndex::encode_variants`] wrote.
    pub(super) fn decode(words: Strs, r: &mut Reader<'_>) -> Option<FuzzyIndex> {
        let variants = VariantTable {
            dir: r.u32s()?,
            bits: r.u32()?,
            keys: r.u32s()?,
            ids: r.u32s()?,
        };
        let half_lens = r.u64()? as u128 | (r.u64()? as u128) << 64;
        let t = &variants;
        let consistent = t.keys.len() == t.ids.len()
            && (1..=30).contains(&t.bits)
            && t.dir.len() == (1usize << t.bits) + 1
            && t.dir.last().is_some_and(|&z| z as usize == t.keys.len())
            && t.dir.windows(2).all(|d| d[0] <= d[1])
            && t.ids.iter().all(|&id| (id as usize) < words.len());
        consistent.then_some(FuzzyIndex {
            words,
            variants,
            half_lens,
        })
    }

    /// The word with this id.
    pub(super) fn word(&self, id: u32) -> &str {
        self.words.get(id)
    }

    /// The closest vocabulary word within the edit budget for `query`'s length, if any.
    /// Ties go to the word with the lower id.
    pub(super) fn lookup(&self, query: &str) -> Option<u32> {
        let mut buf = [0u32; MAX_WORD];
        let mut n = 0;
        for c in query.chars() {
            if n == MAX_WORD {
                return None;
            }
            buf[n] = c as u32;
            n += 1;
        }
        let chars = &buf[..n];
        let edits = max_edits(chars.len());
        if edits == 0 || query.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut best: Option<(usize, u32)> = None;
        let mut consider = |id: u32| {
            if best.is_some_and(|(_, b)| b == id) {
                return;
            }
            let d = strsim::osa_distance(query, self.words.get(id));
            if d <= edits && best.is_none_or(|(bd, bid)| d < bd || (d == bd && id < bid)) {
                best = Some((d, id));
            }
        };
        // Words shorter than HALVES_LEN: symmetric deletion. Only words within `edits` of the
        // query's length can match.
        if n < HALVES_LEN + edits {
            for_each_variant(chars, edits, &mut |h| self.variants.get(h, &mut consider));
        }
        // Longer words, by halves: the part of the query matching a half is within one edit
        // of it, so it is one character longer or shorter at most.
        for len in n.saturating_sub(edits).max(HALVES_LEN)..=n + edits {
            if len > MAX_WORD || self.half_lens & (1 << len) == 0 {
                continue;
            }
            let h = len / 2;
            for p in h.saturating_sub(1)..=h + 1 {
                if p == 0 || p > n {
                    continue;
                }
                let tag = half_tag(false, len);
                for_each_variant(&chars[..p], 1, &mut |v| {
                    self.variants.get(v ^ tag, &mut consider)
                });
            }
            let rest = len - h;
            for s in rest.saturating_sub(1)..=rest + 1 {
                if s == 0 || s > n {
                    continue;
                }
                let tag = half_tag(true, len);
                for_each_variant(&chars[n - s..], 1, &mut |v| {
                    self.variants.get(v ^ tag, &mut consider)
                });
            }
        }
        best.map(|(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_within_budget() {
        let idx = FuzzyIndex::new(Strs::from_iter([
            "limited",
            "unauthorized",
            "certificate",
            "token",
        ]));
        assert_eq!(idx.lookup("limted"), Some(0));
        assert_eq!(idx.lookup("unauthorised"), Some(1));
        assert_eq!(idx.lookup("certifcate"), Some(2));
        assert_eq!(idx.lookup("cretificat"), Some(2));
        assert_eq!(idx.lookup("tokne"), Some(3));
        assert_eq!(idx.lookup("tokenn"), Some(3));
        // Two edits on long words: two substitutions, substitution + insertion, two insertions.
        assert_eq!(idx.lookup("sertifikate"), Some(2));
        assert_eq!(idx.lookup("unauthorizzed"), Some(1));
        assert_eq!(idx.lookup("limitedxy"), Some(0));
    }

    #[test]
    fn rejects_distant_short_and_numeric_words() {
        let idx = FuzzyIndex::new(Strs::from_iter(["limited", "token", "x509"]));
        assert_eq!(idx.lookup("lemonade"), None);
        assert_eq!(idx.lookup("tok"), None);
        assert_eq!(idx.lookup("limits"), None);
        assert_eq!(idx.lookup("x5099"), None);
    }

    #[test]
    fn variant_hashes_agree_with_the_strings_they_stand_for() {
        let hash_of = |s: &str| {
            let chars: Vec<u32> = s.chars().map(|c| c as u32).collect();
            let mut first = None;
            for_each_variant(&chars, 0, &mut |h| first = Some(h));
            first.unwrap()
        };
        let chars: Vec<u32> = "abcde".chars().map(|c| c as u32).collect();
        let mut got = Vec::new();
        for_each_variant(&chars, 2, &mut |h| got.push(h));
        for s in [
            "abcde", "bcde", "acde", "abde", "abce", "abcd", "cde", "bde", "abc", "ace",
        ] {
            assert!(got.contains(&hash_of(s)), "{s}");
        }
        assert_eq!(got.len(), 1 + 5 + 10);
    }

    #[test]
    fn long_words_are_found_by_their_halves() {
        let idx = FuzzyIndex::new(Strs::from_iter([
            "authentication",
            "err_tls_cert_altname_invalid",
        ]));
        // Two substitutions, one in each half; a transposition across the middle; two
        // insertions; a deletion and a substitution in one half.
        assert_eq!(idx.lookup("awtentikation"), None); // three edits
        assert_eq!(idx.lookup("authentikatoin"), Some(0));
        assert_eq!(idx.lookup("authenitcation"), Some(0));
        assert_eq!(idx.lookup("authentticationn"), Some(0));
        assert_eq!(idx.lookup("athentcation"), Some(0));
        assert_eq!(idx.lookup("auhtentcation"), Some(0));
    }

    /// The index finds exactly what comparing the query with every word finds.
    #[test]
    fn lookup_agrees_with_a_full_scan() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let letter = |i: u64| (b'a' + i as u8) as char;
        let mut vocab: Vec<String> = Vec::new();
        for _ in 0..400 {
            let len = 4 + next(24) as usize;
            vocab.push((0..len).map(|_| letter(next(4))).collect());
        }
        let idx = FuzzyIndex::new(vocab.iter().collect());
        for round in 0..3000 {
            let mut q: Vec<char> = vocab[next(vocab.len() as u64) as usize].chars().collect();
            for _ in 0..next(4) {
                let at = next(q.len() as u64 + 1) as usize;
                match next(4) {
                    0 if at < q.len() => {
                        q.remove(at);
                    }
                    1 if at < q.len() => q[at] = letter(next(4)),
                    2 if at + 1 < q.len() => q.swap(at, at + 1),
                    _ => q.insert(at, letter(next(4))),
                }
            }
            let q: String = q.into_iter().collect();
            let edits = max_edits(q.chars().count());
            let expected = (edits > 0)
                .then(|| {
                    vocab
                        .iter()
                        .enumerate()
                        .map(|(id, w)| (strsim::osa_distance(&q, w), id as u32))
                        .filter(|&(d, _)| d <= edits)
                        .min()
                        .map(|(_, id)| id)
                })
                .flatten();
            assert_eq!(idx.lookup(&q), expected, "round {round}: {q}");
        }
    }
}
