//! A hostile upstream's repertoire: every form in which a server can echo a credential it was
//! sent, and an independent leak check (it does not use medic's redactor): no window of
//! [`WINDOW`] characters of the secret, of the echoed form or of a canonical re-encoding may
//! appear in an output, in any letter case.

use std::collections::HashMap;

use base64::Engine;

/// Runs of this many characters of a secret count as a leak (the gate's promise).
pub const WINDOW: usize = 8;

fn percent_all(s: &str, lower: bool) -> String {
    s.bytes()
        .map(|b| {
            if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every echoed form of `secret`, named. Deterministic: the same secret gives the same cases.
pub fn encodings(secret: &str) -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let swapcase: String = secret
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    // Every other byte encoded, alternating hex case: partial and mixed.
    let partial: String = secret
        .bytes()
        .enumerate()
        .map(|(i, b)| match i % 4 {
            0 => format!("%{b:02x}"),
            2 => format!("%{b:02X}"),
            _ => (b as char).to_string(),
        })
        .collect();
    let json: String = secret
        .chars()
        .enumerate()
        .map(|(i, c)| match c {
            '/' => "\\/".to_string(),
            '+' => "\\u002b".to_string(),
            c if i % 3 == 1 => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect();
    let html: String = secret
        .chars()
        .enumerate()
        .map(|(i, c)| match (c, i % 3) {
            ('+', _) => "&plus;".to_string(),
            ('/', _) => "&#x2F;".to_string(),
            (c, 0) => format!("&#{};", c as u32),
            (c, 1) => format!("&#x{:x};", c as u32),
            (c, _) => c.to_string(),
        })
        .collect();
    let cut_len = secret.chars().count().saturating_sub(3).max(WINDOW);
    let cut: String = secret.chars().take(cut_len).collect();
    vec![
        ("verbatim", secret.to_string()),
        ("upper", secret.to_uppercase()),
        ("lower", secret.to_lowercase()),
        ("swapcase", swapcase),
        ("percent-upper", percent_all(secret, false)),
        ("percent-lower", percent_all(secret, true)),
        ("percent-partial", partial),
        (
            "percent-double",
            percent_all(&percent_all(secret, false), false),
        ),
        ("form", form(secret)),
        ("json", json),
        ("html", html),
        ("base64", b64.encode(secret)),
        ("base64url", b64url.encode(secret)),
        ("cut", cut),
    ]
}

/// Windows of `n` characters of `text`, lower-cased.
fn windows(text: &str, n: usize) -> Vec<Vec<char>> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    chars.windows(n).map(<[char]>::to_vec).collect()
}

/// What must not appear in an output: pieces of secrets and of the forms they were echoed in.
#[derive(Default)]
pub struct Forbidden {
    /// Lower-cased pieces by length, each with the form it came from.
    pieces: HashMap<usize, HashMap<Vec<char>, String>>,
}

impl Forbidden {
    /// Pieces of `secret` and of `echoed` (how a server sent it back), plus its canonical
    /// percent-encodings. An encoding is longer than the secret, so its pieces are longer too:
    /// a masked neighbour of the secret is not mistaken for a piece of it.
    pub fn add(&mut self, secret: &str, echoed: &str) -> &mut Self {
        let len = secret.chars().count();
        let mut forms = vec![(secret.to_string(), WINDOW)];
        for e in [echoed.to_string(), form(secret), percent_all(secret, false)] {
            let n = WINDOW + e.chars().count().saturating_sub(len).min(WINDOW);
            forms.push((e, n));
        }
        for (f, n) in forms {
            let by_len = self.pieces.entry(n).or_default();
            for w in windows(&f, n) {
                by_len.entry(w).or_insert_with(|| f.clone());
            }
        }
        self
    }

    /// Panics when `out` holds a forbidden piece.
    #[track_caller]
    pub fn assert_absent(&self, what: &str, out: &str) {
        let chars: Vec<char> = out.to_lowercase().chars().collect();
        for (n, pieces) in &self.pieces {
            for w in chars.windows(*n) {
                if let Some(from) = pieces.get(w) {
                    let w: String = w.iter().collect();
                    panic!("{what}: `{w}` (from `{from}`) leaked:\n{out}");
                }
            }
        }
    }
}
