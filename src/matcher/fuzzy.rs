//! Typo-tolerant word lookup: a symmetric-delete index over the catalogue's vocabulary,
//! confirmed with strsim's edit distance, so a query never compares against every word.

use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

/// Words shorter than this are only matched exactly: short typos are too ambiguous.
const MIN_FUZZY_LEN: usize = 5;
/// From this length on, two edits are tolerated.
const TWO_EDITS_LEN: usize = 9;

pub fn max_edits(len: usize) -> usize {
    if len >= TWO_EDITS_LEN {
        2
    } else if len >= MIN_FUZZY_LEN {
        1
    } else {
        0
    }
}

/// Hash of `word` with the chars at positions `skip` left out, computed without allocating.
fn hash_without(chars: &[char], skip: &[usize]) -> u64 {
    let mut h = FxHasher::default();
    for (i, c) in chars.iter().enumerate() {
        if !skip.contains(&i) {
            h.write_u32(*c as u32);
        }
    }
    h.write_u8(0xff);
    h.finish()
}

/// Calls `f` with the hash of every variant of `chars` with up to `edits` deletions.
fn for_each_delete(chars: &[char], edits: usize, f: &mut impl FnMut(u64)) {
    f(hash_without(chars, &[]));
    if edits >= 1 {
        for i in 0..chars.len() {
            f(hash_without(chars, &[i]));
            if edits >= 2 {
                for j in i + 1..chars.len() {
                    f(hash_without(chars, &[i, j]));
                }
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct FuzzyIndex {
    words: Vec<String>,
    deletes: FxHashMap<u64, Vec<u32>>,
}

impl FuzzyIndex {
    /// Indexes `words` (their position is their id) for fuzzy lookup.
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut index = FuzzyIndex::default();
        for (id, word) in words.into_iter().enumerate() {
            index.words.push(word.to_string());
            let chars: Vec<char> = word.chars().collect();
            // A vocabulary word one shorter than the fuzzy minimum can still be reached by
            // an insertion typo ("tokenn"); index words from MIN_FUZZY_LEN - 1 on.
            if chars.len() + 1 < MIN_FUZZY_LEN || word.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let edits = if chars.len() + 2 >= TWO_EDITS_LEN { 2 } else { 1 };
            for_each_delete(&chars, edits, &mut |h| {
                let ids = index.deletes.entry(h).or_default();
                if ids.last() != Some(&(id as u32)) {
                    ids.push(id as u32);
                }
            });
        }
        index
    }

    /// The closest vocabulary word within the edit budget for `query`'s length, if any.
    /// Ties go to the word seen first.
    pub fn lookup(&self, query: &str) -> Option<u32> {
        let chars: Vec<char> = query.chars().collect();
        let edits = max_edits(chars.len());
        if edits == 0 || query.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut best: Option<(usize, u32)> = None;
        for_each_delete(&chars, edits, &mut |h| {
            if let Some(ids) = self.deletes.get(&h) {
                for &id in ids {
                    if best.is_some_and(|(_, b)| b == id) {
                        continue;
                    }
                    let d = strsim::osa_distance(query, &self.words[id as usize]);
                    if d <= edits && best.is_none_or(|(bd, bid)| d < bd || (d == bd && id < bid)) {
                        best = Some((d, id));
                    }
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
    }

    #[test]
    fn rejects_distant_and_short_words() {
        let idx = FuzzyIndex::new(["limited", "token"]);
        assert_eq!(idx.lookup("lemonade"), None);
        assert_eq!(idx.lookup("tok"), None);
        assert_eq!(idx.lookup("taken"), Some(1));
        assert_eq!(idx.lookup("limits"), None);
    }
}
