//! [`Texts`]: an entry's list of short texts (codes, keywords, steps, related ids) in two
//! allocations instead of one per item, so a large team catalogue is not mostly headers.

use std::fmt;
use std::ops::Index;

use serde::{Serialize, Serializer};

/// Texts stored back to back; read-only once built (collect one from any strings).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Texts {
    text: Box<str>,
    /// End of each item in `text`.
    ends: Box<[u32]>,
}

impl Texts {
    pub fn new() -> Texts {
        Texts::default()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end])
    }

    pub fn first(&self) -> Option<&str> {
        self.get(0)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            texts: self,
            next: 0,
            end: self.len(),
        }
    }

    /// Whether an item is exactly `s`.
    pub fn contains(&self, s: &str) -> bool {
        self.iter().any(|t| t == s)
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl Texts {
    /// `items` laid out in allocations of exactly their size (no growing, no shrinking copy).
    pub fn of<S: AsRef<str>>(items: &[S]) -> Texts {
        let bytes = items.iter().map(|s| s.as_ref().len()).sum();
        let mut text = String::with_capacity(bytes);
        let mut ends = Vec::with_capacity(items.len());
        for s in items {
            text.push_str(s.as_ref());
            ends.push(end(&text));
        }
        Texts {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

fn end(text: &str) -> u32 {
    u32::try_from(text.len()).expect("an entry's texts fit in 4 GiB")
}

impl<S: AsRef<str>> FromIterator<S> for Texts {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Texts {
        Texts::of(&items.into_iter().collect::<Vec<S>>())
    }
}

impl From<Vec<String>> for Texts {
    fn from(items: Vec<String>) -> Texts {
        Texts::of(&items)
    }
}

impl Index<usize> for Texts {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(s) => s,
            None => panic!("index {i} out of range for {} texts", self.len()),
        }
    }
}

/// The items of a [`Texts`], in order.
#[derive(Clone)]
pub struct Iter<'a> {
    texts: &'a Texts,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.next == self.end {
            return None;
        }
        self.next += 1;
        self.texts.get(self.next - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.next == self.end {
            return None;
        }
        self.end -= 1;
        self.texts.get(self.end)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Texts {
    type Item = &'a str;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Texts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Texts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_in_order_including_empty_ones() {
        let t: Texts = ["429", "", "rate limited", "ümlaut"].into_iter().collect();
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["429", "", "rate limited", "ümlaut"]
        );
        assert_eq!(t.iter().next_back(), Some("ümlaut"));
        assert_eq!(&t[2], "rate limited");
        assert_eq!(t.get(4), None);
        assert!(t.contains("429") && !t.contains("42"));
        assert_eq!(format!("{t:?}"), r#"["429", "", "rate limited", "ümlaut"]"#);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"["429","","rate limited","ümlaut"]"#
        );
        assert!(Texts::new().is_empty() && Texts::new().first().is_none());
    }
}
