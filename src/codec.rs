//! A minimal binary format for data prepared at build time (the built-in catalogue and its
//! search index, see `build.rs`): little-endian integers and length-prefixed strings and
//! slices. A leaf module. Reading is checked: a short or malformed blob reads as `None`,
//! and the caller then builds the data at run time instead.

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }

    /// A length or count; the format caps them at `u32::MAX`.
    pub fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("prepared data larger than 4 GiB"));
    }

    pub fn str(&mut self, s: &str) {
        self.count(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    pub fn strs<S: AsRef<str>>(&mut self, items: &[S]) {
        self.count(items.len());
        for s in items {
            self.str(s.as_ref());
        }
    }

    pub fn u32s(&mut self, items: &[u32]) {
        self.count(items.len());
        for &v in items {
            self.u32(v);
        }
    }

    pub fn opt_u32(&mut self, v: Option<u32>) {
        self.u32(v.map_or(u32::MAX, |v| {
            assert!(v != u32::MAX, "u32::MAX stands for None");
            v
        }));
    }
}

/// Reads what a [`Writer`] wrote, in the same order.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Whether everything was read (a blob with bytes left over is not the one expected).
    pub fn is_done(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub fn f32(&mut self) -> Option<f32> {
        self.u32().map(f32::from_bits)
    }

    pub fn count(&mut self) -> Option<usize> {
        let n = self.u32()? as usize;
        // A count can never exceed the bytes left: no huge allocation from a bad blob.
        (n <= self.bytes.len()).then_some(n)
    }

    pub fn str(&mut self) -> Option<&'a str> {
        let n = self.count()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    pub fn strings(&mut self) -> Option<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| self.str().map(str::to_string)).collect()
    }

    pub fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = self.count()?;
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
        )
    }

    pub fn opt_u32(&mut self) -> Option<Option<u32>> {
        self.u32().map(|v| (v != u32::MAX).then_some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_was_written_and_refuses_short_input() {
        let mut w = Writer::new();
        w.u8(7);
        w.u32(0xdead_beef);
        w.u64(u64::MAX - 1);
        w.f32(0.8);
        w.str("déjà vu");
        w.strs(&["a", ""]);
        w.u32s(&[1, 2, 3]);
        w.opt_u32(None);
        w.opt_u32(Some(4));
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.u32(), Some(0xdead_beef));
        assert_eq!(r.u64(), Some(u64::MAX - 1));
        assert_eq!(r.f32(), Some(0.8));
        assert_eq!(r.str(), Some("déjà vu"));
        assert_eq!(r.strings(), Some(vec!["a".to_string(), String::new()]));
        assert_eq!(r.u32s(), Some(vec![1, 2, 3]));
        assert_eq!(r.opt_u32(), Some(None));
        assert_eq!(r.opt_u32(), Some(Some(4)));
        assert!(r.is_done());
        // Every truncation fails cleanly instead of panicking or reading garbage.
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let whole = (|| {
                r.u8()?;
                r.u32()?;
                r.u64()?;
                r.f32()?;
                r.str()?;
                r.strings()?;
                r.u32s()?;
                r.opt_u32()?;
                r.opt_u32()
            })();
            assert_eq!(whole, None, "cut at {cut}");
        }
        // A length larger than the input is refused before allocating.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(r.u32s(), None);
    }
}
