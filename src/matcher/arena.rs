//! Flat storage for the index: strings back to back, and an open-addressing table of ids
//! whose keys live in those arrays, so a catalogue of 100,000 phrases costs a few large
//! allocations instead of several small ones per phrase (each with a 16-byte header).

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

/// Strings stored back to back; a string's id is its position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Strs {
    text: String,
    /// End of each string in `text`.
    ends: Vec<u32>,
}

impl Strs {
    pub(super) fn with_capacity(strings: usize, bytes: usize) -> Strs {
        Strs {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
        }
    }

    /// Appends `s`; returns its id.
    pub(super) fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }

    pub(super) fn get(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.text[start as usize..self.ends[id] as usize]
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len() as u32).map(|i| self.get(i))
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

impl<S: AsRef<str>> FromIterator<S> for Strs {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Strs {
        let mut strs = Strs::default();
        for s in items {
            strs.push(s.as_ref());
        }
        strs.shrink_to_fit();
        strs
    }
}

/// The hash [`IdTable`] keys are placed by.
pub(super) fn hash_of(key: &(impl Hash + ?Sized)) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    // Fx leaves the low bits weak; the table indexes by the top bits of this product.
    h.finish().wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Ids by key, with linear probing; the keys themselves live with the caller, who hashes them
/// with [`hash_of`] and says whether the key of an id is the one looked for.
#[derive(Debug, Clone, Default)]
pub(super) struct IdTable {
    /// `id + 1`, or 0 for an empty slot; the length is a power of two (or zero).
    slots: Vec<u32>,
    bits: u32,
    len: usize,
}

impl IdTable {
    /// A table sized for `n` ids without growing.
    pub(super) fn with_capacity(n: usize) -> IdTable {
        let mut t = IdTable::default();
        t.resize(n);
        t
    }

    fn resize(&mut self, n: usize) {
        // At most half full: probes stay short.
        self.bits = (usize::BITS - (n.max(4) * 2 - 1).leading_zeros()).min(31);
        self.slots = vec![0; 1 << self.bits];
    }

    fn start(&self, hash: u64) -> usize {
        (hash >> (64 - self.bits)) as usize
    }

    /// The id whose key `is_key` accepts, among those placed under `hash`.
    pub(super) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = self.start(hash);
        loop {
            match self.slots[at] {
                0 => return None,
                s if is_key(s - 1) => return Some(s - 1),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Places `id` under `hash` (not already present); `rehash` gives any placed id's hash
    /// when the table grows.
    pub(super) fn insert(&mut self, hash: u64, id: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            let ids: Vec<u32> = self
                .slots
                .iter()
                .filter(|&&s| s != 0)
                .map(|s| s - 1)
                .collect();
            self.resize((self.len + 1) * 2);
            for old in ids {
                self.place(rehash(old), old);
            }
        }
        self.place(hash, id);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, id: u32) {
        let mask = self.slots.len() - 1;
        let mut at = self.start(hash);
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = id + 1;
    }

    /// The table of `n` ids whose hashes `hash` gives.
    pub(super) fn of(n: usize, hash: impl Fn(u32) -> u64) -> IdTable {
        let mut t = IdTable::with_capacity(n);
        for id in 0..n as u32 {
            t.place(hash(id), id);
        }
        t.len = n;
        t
    }
}

/// Strings with an index from string to id.
#[derive(Debug, Clone, Default)]
pub(super) struct StrMap {
    strs: Strs,
    table: IdTable,
}

impl StrMap {
    /// A map sized for `n` strings without growing its table.
    pub(super) fn with_capacity(n: usize) -> StrMap {
        StrMap {
            strs: Strs::with_capacity(n, 0),
            table: IdTable::with_capacity(n),
        }
    }

    pub(super) fn get(&self, s: &str) -> Option<u32> {
        self.table.find(hash_of(s), |id| self.strs.get(id) == s)
    }

    /// The id of `s`, added when new.
    pub(super) fn intern(&mut self, s: &str) -> u32 {
        let hash = hash_of(s);
        if let Some(id) = self.table.find(hash, |id| self.strs.get(id) == s) {
            return id;
        }
        let id = self.strs.push(s);
        let strs = &self.strs;
        self.table.insert(hash, id, |i| hash_of(strs.get(i)));
        id
    }

    pub(super) fn strs(&self) -> &Strs {
        &self.strs
    }

    pub(super) fn len(&self) -> usize {
        self.strs.len()
    }

    /// The map over `strs` (distinct strings), ids unchanged.
    pub(super) fn of(strs: Strs) -> StrMap {
        let table = IdTable::of(strs.len(), |i| hash_of(strs.get(i)));
        StrMap { strs, table }
    }

    /// The strings and the table that finds them.
    pub(super) fn into_parts(self) -> (Strs, IdTable) {
        (self.strs, self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_by_id_and_by_value() {
        let mut m = StrMap::default();
        let words: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(m.intern(w), i as u32);
        }
        assert_eq!(m.intern("w7"), 7);
        assert_eq!(m.get(""), None);
        assert_eq!(m.intern(""), 1000);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(m.get(w), Some(i as u32));
            assert_eq!(m.strs().get(i as u32), w);
        }
        let rebuilt = StrMap::of(m.strs().clone());
        assert_eq!(rebuilt.get("w999"), Some(999));
        assert_eq!(rebuilt.get("w1000"), None);
        assert_eq!(rebuilt.get(""), Some(1000));
    }
}
