//! Typo-tolerant word lookup: a symmetric-delete index over the catalogue's vocabulary,
//! confirmed with strsim's edit distance, so a query never compares against every word.
//!
//! Every vocabulary word is stored under the hashes of its variants with one (or, for long
//! words, two) characters deleted; a query generates its own deletion variants and only words
//! sharing a variant are compared. Variant hashes are polynomial, so each one costs O(1) from
//! prefix sums instead of building a string.

use rustc_hash::FxHashMap;

/// Words shorter than this are only matched exactly: short typos are too ambiguous.
const MIN_FUZZY_LEN: usize = 5;
/// From this length on, two edits are tolerated.
const TWO_EDITS_LEN: usize = 9;
const BASE: u64 = 0x100_0000_01b3;

pub fn max_edits(len: usize) -> usize {
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

#[derive(Debug, Default, Clone)]
pub struct FuzzyIndex {
    words: Vec<Box<str>>,
    /// Variant hash → range in `ids`.
    slots: FxHashMap<u64, (u32, u32)>,
    ids: Vec<u32>,
}

impl FuzzyIndex {
    /// Indexes `words` (their position is their id) for fuzzy lookup.
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        let mut list = Vec::new();
        for (id, word) in words.into_iter().enumerate() {
            list.push(Box::from(word));
            let chars: Vec<u32> = word.chars().map(|c| c as u32).collect();
            // A vocabulary word one shorter than the fuzzy minimum can still be reached by an
            // insertion typo; words with digits are identifiers and only match exactly.
            if chars.len() + 1 < MIN_FUZZY_LEN || word.bytes().any(|b| b.is_ascii_digit()) {
                continue;
            }
            // Two-deletion variants are only needed where a query of the same length may carry
            // two substitutions; shorter words meet two-edit queries through the query's own
            // deletions (a budget of 2 on a longer query implies an insertion).
            let edits = if chars.len() >= TWO_EDITS_LEN { 2 } else { 1 };
            for_each_variant(&chars, edits, &mut |h| pairs.push((h, id as u32)));
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut slots: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        slots.reserve(pairs.len());
        let mut start = 0;
        while start < pairs.len() {
            let h = pairs[start].0;
            let mut end = start + 1;
            while end < pairs.len() && pairs[end].0 == h {
                end += 1;
            }
            slots.insert(h, (start as u32, end as u32));
            start = end;
        }
        let ids = pairs.into_iter().map(|(_, id)| id).collect();
        FuzzyIndex {
            words: list,
            slots,
            ids,
        }
    }

    /// The word with this id.
    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize]
    }

    /// The closest vocabulary word within the edit budget for `query`'s length, if any.
    /// Ties go to the word with the lower id.
    pub fn lookup(&self, query: &str) -> Option<u32> {
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
        for_each_variant(chars, edits, &mut |h| {
            let Some(&(a, b)) = self.slots.get(&h) else {
                return;
            };
            for &id in &self.ids[a as usize..b as usize] {
                if best.is_some_and(|(_, b)| b == id) {
                    continue;
                }
                let d = strsim::osa_distance(query, &self.words[id as usize]);
                if d <= edits && best.is_none_or(|(bd, bid)| d < bd || (d == bd && id < bid)) {
                    best = Some((d, id));
                }
            }
        });
        best.map(|(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_within_budget() {
        let idx = FuzzyIndex::new(["limited", "unauthorized", "certificate", "token"]);
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
        let idx = FuzzyIndex::new(["limited", "token", "x509"]);
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
}
