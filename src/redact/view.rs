//! Decoded views of a text for secret matching: each layer undoes one round of percent-encoding,
//! JSON/C escapes and HTML entities, and every byte of a view remembers which bytes of the
//! original text it came from, so a match in any view masks the right original span.

/// How many rounds of decoding are tried (`%252F` needs two).
const MAX_LAYERS: usize = 3;

/// One view of a text: bytes, each with the original byte range it stands for.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub bytes: Vec<u8>,
    pub spans: Vec<(usize, usize)>,
}

impl View {
    /// The text as it is, minus zero-width characters (which would split an echo into pieces
    /// that look whole on screen).
    fn raw(text: &str) -> View {
        if text.is_ascii() {
            return View {
                bytes: text.as_bytes().to_vec(),
                spans: (0..text.len()).map(|i| (i, i + 1)).collect(),
            };
        }
        let mut bytes = Vec::with_capacity(text.len());
        let mut spans = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            if is_invisible(c) {
                continue;
            }
            let mut buf = [0u8; 4];
            for (k, b) in c.encode_utf8(&mut buf).bytes().enumerate() {
                bytes.push(b);
                spans.push((i + k, i + k + 1));
            }
        }
        View { bytes, spans }
    }

    /// The raw text and every decoded layer that differs from the one before.
    pub(super) fn layers(text: &str) -> Vec<View> {
        let mut out = vec![View::raw(text)];
        for _ in 0..MAX_LAYERS {
            match out.last().and_then(View::decode_once) {
                Some(next) => out.push(next),
                None => break,
            }
        }
        out
    }

    /// One round of decoding, or `None` when nothing in this view is encoded.
    fn decode_once(&self) -> Option<View> {
        let b = &self.bytes;
        // Most texts hold no escape at all: no copy for them.
        if !b.iter().any(|c| matches!(c, b'%' | b'\\' | b'&')) {
            return None;
        }
        let mut bytes = Vec::with_capacity(b.len());
        let mut spans = Vec::with_capacity(b.len());
        let mut changed = false;
        let mut i = 0;
        while i < b.len() {
            match escape_at(b, i) {
                Some((decoded, len)) => {
                    let span = (self.spans[i].0, self.spans[i + len - 1].1);
                    for d in decoded {
                        bytes.push(d);
                        spans.push(span);
                    }
                    i += len;
                    changed = true;
                }
                None => {
                    bytes.push(b[i]);
                    spans.push(self.spans[i]);
                    i += 1;
                }
            }
        }
        changed.then_some(View { bytes, spans })
    }

    /// The original byte range covered by view bytes `from..to`.
    pub(super) fn original(&self, from: usize, to: usize) -> (usize, usize) {
        (self.spans[from].0, self.spans[to - 1].1)
    }
}

/// Characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// The comparison form of a byte: ASCII case folded, `+` as the space it encodes in forms.
pub(super) fn fold(b: u8) -> u8 {
    match b {
        b'+' => b' ',
        b => b.to_ascii_lowercase(),
    }
}

fn hex(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

fn utf8(c: u32) -> Option<Vec<u8>> {
    let c = char::from_u32(c)?;
    let mut buf = [0u8; 4];
    Some(c.encode_utf8(&mut buf).as_bytes().to_vec())
}

/// The escape starting at `i`, decoded, and how many bytes it spans.
fn escape_at(b: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let rest = &b[i..];
    match rest.first()? {
        b'%' => {
            let v = hex(rest.get(1..3)?)?;
            Some((vec![v as u8], 3))
        }
        b'\\' => match rest.get(1)? {
            b'u' => {
                let hi = hex(rest.get(2..6)?)?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A surrogate pair: `\uD83D\uDE00`.
                    let lo = rest
                        .get(6..8)
                        .filter(|p| *p == b"\\u")
                        .and_then(|_| hex(rest.get(8..12)?))
                        .filter(|lo| (0xDC00..0xE000).contains(lo))?;
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Some((utf8(c)?, 12));
                }
                Some((utf8(hi)?, 6))
            }
            b'x' => Some((vec![hex(rest.get(2..4)?)? as u8], 4)),
            b'/' => Some((vec![b'/'], 2)),
            b'\\' => Some((vec![b'\\'], 2)),
            b'"' => Some((vec![b'"'], 2)),
            b'\'' => Some((vec![b'\''], 2)),
            b'n' => Some((vec![b'\n'], 2)),
            b't' => Some((vec![b'\t'], 2)),
            b'r' => Some((vec![b'\r'], 2)),
            _ => None,
        },
        b'&' => entity(rest),
        _ => None,
    }
}

/// An HTML/XML character reference: `&#43;`, `&#x2B;`, `&plus;` (the `;` is optional for
/// numeric ones, as browsers accept).
fn entity(rest: &[u8]) -> Option<(Vec<u8>, usize)> {
    const MAX_NAME: usize = 10;
    if rest.get(1) == Some(&b'#') {
        let (radix_hex, start) = match rest.get(2) {
            Some(b'x' | b'X') => (true, 3),
            _ => (false, 2),
        };
        let digits = rest[start..]
            .iter()
            .take(8)
            .take_while(|c| {
                if radix_hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&rest[start..start + digits]).ok()?;
        let v = u32::from_str_radix(text, if radix_hex { 16 } else { 10 }).ok()?;
        let mut len = start + digits;
        if rest.get(len) == Some(&b';') {
            len += 1;
        }
        return Some((utf8(v)?, len));
    }
    let end = rest.iter().take(MAX_NAME + 2).position(|c| *c == b';')?;
    let name = std::str::from_utf8(&rest[1..end]).ok()?;
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "plus" => '+',
        "sol" => '/',
        "bsol" => '\\',
        "equals" => '=',
        "colon" => ':',
        "semi" => ';',
        "comma" => ',',
        "period" => '.',
        "lowbar" => '_',
        "hyphen" | "dash" => '-',
        "num" => '#',
        "percnt" => '%',
        "excl" => '!',
        "quest" => '?',
        "commat" => '@',
        "dollar" => '$',
        "ast" | "midast" => '*',
        "tilde" => '~',
        "nbsp" => ' ',
        _ => return None,
    };
    Some((c.to_string().into_bytes(), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(text: &str) -> String {
        String::from_utf8(View::layers(text).pop().unwrap().bytes).unwrap()
    }

    #[test]
    fn decodes_every_encoding_and_maps_back() {
        assert_eq!(last("a%2fb%2Fc%252F"), "a/b/c/");
        assert_eq!(last(r"x\/y\u002bz\uD83D\uDE00"), "x/y+z😀");
        assert_eq!(last("&#43;&#x2b;&plus;&amp;lt;"), "+++<");
        assert_eq!(last("t\u{200B}ok"), "tok");
        let layers = View::layers("ab%2Fcd");
        let v = layers.last().unwrap();
        assert_eq!(v.bytes, b"ab/cd");
        assert_eq!(v.original(1, 4), (1, 6));
    }
}
