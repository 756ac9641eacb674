//! Splits a message into lowercase word tokens, remembering the characters around each one.

/// Only this many bytes of a message are analysed: error lines come first, and it bounds
/// the work a 1 MB paste can cause.
pub const MAX_ANALYSED_BYTES: usize = 8 * 1024;
/// And at most this many tokens.
pub const MAX_TOKENS: usize = 1500;

/// One word of a message, borrowed from its [`Tokens`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Token<'a> {
    /// Lowercased text: letters, digits and `_`.
    pub text: &'a str,
    /// The character just before the token in the original message, if any.
    pub before: Option<char>,
    /// The two characters just after it, if any.
    pub after: (Option<char>, Option<char>),
    /// Whether the message wrote it with a capital first letter ("Not Found", "ECONNREFUSED").
    pub capital: bool,
}

impl Token<'_> {
    /// Whether it continues the previous token without a separator (a CamelCase part).
    pub fn glued(&self) -> bool {
        self.before.is_some_and(|c| c.is_alphanumeric())
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    before: Option<char>,
    after: (Option<char>, Option<char>),
    capital: bool,
}

/// The words of a message: one lowercase buffer and spans into it (no allocation per word).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    buf: String,
    spans: Vec<Span>,
    /// The current word's characters and CamelCase cuts, kept between calls.
    run: Vec<char>,
    cuts: Vec<usize>,
}

impl Tokens {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The lowercase text of each token, without building [`Token`]s.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|s| &self.buf[s.start as usize..s.end as usize])
    }

    pub fn list(&self) -> Vec<Token<'_>> {
        self.spans
            .iter()
            .map(|s| Token {
                text: &self.buf[s.start as usize..s.end as usize],
                before: s.before,
                after: s.after,
                capital: s.capital,
            })
            .collect()
    }

    /// Appends a word that stands for something the message shows (see [`implied_words`]).
    pub fn push_word(&mut self, word: &str) {
        let start = self.buf.len() as u32;
        self.buf.push_str(word);
        self.spans.push(Span {
            start,
            end: self.buf.len() as u32,
            before: None,
            after: (None, None),
            capital: false,
        });
    }
}

/// The longest prefix of `text` that is at most `max` bytes and ends on a char boundary.
pub fn bounded_prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Characters that render as nothing: zero-width space / (non-)joiner, word joiner, BOM,
/// soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}'
    )
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        c.is_alphanumeric()
    }
}

/// Where a run of word characters splits at CamelCase boundaries ("ConnectionRefused",
/// "SSLHandshakeException"), so pasted exception names meet the phrases people type. Generic
/// over the character type, so the ASCII fast path splits bytes by the very same rule.
fn camel_breaks<C: Copy>(
    run: &[C],
    (upper, lower): (impl Fn(C) -> bool, impl Fn(C) -> bool),
    mut f: impl FnMut(usize),
) {
    // Most words are all lowercase: nothing to split.
    if !run.iter().any(|&c| upper(c)) {
        return;
    }
    for i in 1..run.len() {
        let (a, b) = (run[i - 1], run[i]);
        let lower_to_upper = lower(a) && upper(b);
        let acronym_end = upper(a) && upper(b) && run.get(i + 1).is_some_and(|&c| lower(c));
        if lower_to_upper || acronym_end {
            f(i);
        }
    }
}

/// Tokenizes the analysed prefix of a message.
pub fn tokenize(message: &str) -> Tokens {
    let mut out = Tokens::default();
    tokenize_into(message, &mut out);
    out
}

/// Tokenizes the analysed prefix of a message into `out`, reusing its buffers.
pub fn tokenize_into(message: &str, out: &mut Tokens) {
    let text = bounded_prefix(message, MAX_ANALYSED_BYTES);
    out.buf.clear();
    out.spans.clear();
    if text.is_ascii() {
        tokenize_ascii(text, out);
        return;
    }
    // The scratch buffers of earlier calls: a catalogue tokenizes tens of thousands of texts.
    let mut run = std::mem::take(&mut out.run);
    let mut cuts = std::mem::take(&mut out.cuts);
    let mut chars = text.char_indices().peekable();
    let mut prev: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        if !is_word_char(c) {
            prev = Some(c);
            continue;
        }
        run.clear();
        run.push(c);
        while let Some(&(_, n)) = chars.peek() {
            if is_invisible(n) {
                // Inside a word, zero-width characters and soft hyphens join, not split.
                let mut ahead = chars.clone();
                ahead.next();
                if ahead.peek().is_some_and(|&(_, m)| is_word_char(m)) {
                    chars.next();
                    continue;
                }
            }
            if !is_word_char(n) {
                break;
            }
            run.push(n);
            chars.next();
        }
        let mut ahead = chars.clone().map(|(_, c)| c);
        let after = (ahead.next(), ahead.next());
        let before = prev;
        prev = run.last().copied();
        // Words of hundreds of letters are noise (base64, minified code): skip them.
        if run.len() > 64 {
            continue;
        }
        cuts.clear();
        camel_breaks(&run, (char::is_uppercase, char::is_lowercase), |i| {
            cuts.push(i)
        });
        cuts.push(run.len());
        let mut from = 0;
        for &to in &cuts {
            let start = out.buf.len() as u32;
            for &ch in &run[from..to] {
                if ch.is_ascii() {
                    out.buf.push(ch.to_ascii_lowercase());
                } else {
                    // 'İ' lowercases to "i" + U+0307; the dot would keep Turkish-locale
                    // uppercase identifiers ("İNVALİD_GRANT") from matching.
                    out.buf
                        .extend(ch.to_lowercase().filter(|&c| c != '\u{307}'));
                }
            }
            out.spans.push(Span {
                start,
                end: out.buf.len() as u32,
                before: if from == 0 {
                    before
                } else {
                    Some(run[from - 1])
                },
                after: if to == run.len() {
                    after
                } else {
                    (Some(run[to]), run.get(to + 1).copied())
                },
                capital: run[from].is_uppercase(),
            });
            from = to;
        }
        if out.spans.len() >= MAX_TOKENS {
            out.spans.truncate(MAX_TOKENS);
            break;
        }
    }
    run.clear();
    cuts.clear();
    out.run = run;
    out.cuts = cuts;
}

/// [`tokenize_into`] for ASCII text, byte by byte: the same tokens (a test compares them),
/// without decoding characters, which is most of what indexing a large catalogue costs.
fn tokenize_ascii(text: &str, out: &mut Tokens) {
    /// Letters, digits and `_`, by byte.
    static WORD: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric() || c == b'_';
            b += 1;
        }
        t
    };
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).map(|&b| b as char);
    let mut i = 0;
    while i < bytes.len() {
        if !WORD[bytes[i] as usize] {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && WORD[bytes[i] as usize] {
            i += 1;
        }
        let run = &bytes[start..i];
        // Words of hundreds of letters are noise (base64, minified code): skip them.
        if run.len() > 64 {
            continue;
        }
        let before = start.checked_sub(1).and_then(at);
        let mut push = |from: usize, to: usize| {
            let begin = out.buf.len();
            out.buf.push_str(&text[start + from..start + to]);
            out.buf[begin..].make_ascii_lowercase();
            out.spans.push(Span {
                start: begin as u32,
                end: out.buf.len() as u32,
                before: if from == 0 {
                    before
                } else {
                    Some(run[from - 1] as char)
                },
                // Inside a word, what follows a part is only the rest of the word.
                after: if to == run.len() {
                    (at(start + to), at(start + to + 1))
                } else {
                    (Some(run[to] as char), run.get(to + 1).map(|&b| b as char))
                },
                capital: run[from].is_ascii_uppercase(),
            });
        };
        let mut from = 0;
        let ascii = (
            |b: u8| b.is_ascii_uppercase(),
            |b: u8| b.is_ascii_lowercase(),
        );
        camel_breaks(run, ascii, |k| {
            push(from, k);
            from = k;
        });
        push(from, run.len());
        if out.spans.len() >= MAX_TOKENS {
            out.spans.truncate(MAX_TOKENS);
            break;
        }
    }
}

/// Words for what the message shows but does not say: UTF-8 read as Latin-1 ("JosÃ©",
/// "â€™") or replacement characters are mojibake even when nobody calls it that.
pub fn implied_words(message: &str) -> Vec<&'static str> {
    let text = bounded_prefix(message, MAX_ANALYSED_BYTES);
    // All of the tell-tale sequences but "????" contain non-ASCII characters.
    let mojibake = text.contains("????")
        || (!text.is_ascii()
            && (text.contains('\u{FFFD}')
                || text.contains("â€")
                // "Ã©" and friends: U+00C3 or U+00C2 (UTF-8 C3 83 / C3 82) then U+0080..U+00BF.
                || text
                    .as_bytes()
                    .windows(3)
                    .any(|w| w[0] == 0xC3 && (w[1] == 0x83 || w[1] == 0x82) && w[2] == 0xC2)));
    if mojibake {
        vec!["mojibake"]
    } else {
        Vec::new()
    }
}

/// Lowercase words of a phrase, tokenized exactly like messages.
pub fn words(phrase: &str) -> Vec<String> {
    tokenize(phrase)
        .list()
        .into_iter()
        .map(|t| t.text.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast path gives exactly the general path's tokens: the general path is
    /// reached by adding one non-ASCII character at the end, which adds no token.
    #[test]
    fn ascii_fast_path_agrees_with_the_general_tokenizer() {
        let long = "x".repeat(70);
        let mut samples = vec![
            "ERR_TLS_CERT_ALTNAME_INVALID: x-ratelimit-remaining: 0".to_string(),
            "SSLHandshakeException at ConnectionRefused (HTTPServer500Error)".into(),
            "  leading, trailing.  ".into(),
            "a".into(),
            "AbcArchitectureException E45945 502 getX aB ABc".into(),
            format!("before {long} after"),
            String::new(),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"aZ_9 .-AbzQ\n:'";
        for _ in 0..500 {
            let n = (seed % 40) as usize;
            let mut s = String::new();
            for _ in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize] as char);
            }
            samples.push(s);
        }
        for s in samples {
            let fast = tokenize(&s);
            let general = tokenize(&format!("{s}\u{2014}"));
            let mut want = general.list();
            // The dash only changes what follows the last words.
            let dash = |c: &mut Option<char>| {
                if *c == Some('\u{2014}') {
                    *c = None;
                }
            };
            for t in &mut want {
                dash(&mut t.after.0);
                dash(&mut t.after.1);
            }
            assert_eq!(fast.list(), want, "{s:?}");
        }
    }

    #[test]
    fn splits_on_punctuation_and_keeps_underscores() {
        assert_eq!(
            words("ERR_TLS_CERT_ALTNAME_INVALID: x-ratelimit-remaining: 0"),
            vec![
                "err_tls_cert_altname_invalid",
                "x",
                "ratelimit",
                "remaining",
                "0"
            ]
        );
    }

    #[test]
    fn invisible_characters_inside_words_join() {
        assert_eq!(words("EC\u{200D}ONNREFUSED"), vec!["econnrefused"]);
        assert_eq!(
            words("cert\u{AD}ificate \u{FEFF}expired"),
            vec!["certificate", "expired"]
        );
        assert_eq!(words("İNVALİD_GRANT"), vec!["invalid_grant"]);
    }

    #[test]
    fn splits_camel_case_names() {
        assert_eq!(
            words("SSLHandshakeException"),
            vec!["ssl", "handshake", "exception"]
        );
        assert_eq!(
            words("kind: ConnectionRefused"),
            vec!["kind", "connection", "refused"]
        );
        assert_eq!(words("ECONNREFUSED x509"), vec!["econnrefused", "x509"]);
    }

    #[test]
    fn mojibake_is_implied() {
        assert_eq!(implied_words("José shows as JosÃ© now").len(), 1);
        assert_eq!(implied_words("donâ€™t").len(), 1);
        assert!(implied_words("José and Kraków are fine").is_empty());
        assert_eq!(implied_words("names arrive as Jos???? now").len(), 1);
    }

    #[test]
    fn records_context_characters() {
        let t = tokenize("PR #401 looks");
        let t = t.list();
        assert_eq!(t[1].text, "401");
        assert_eq!(t[1].before, Some('#'));
        assert_eq!(t[1].after, (Some(' '), Some('l')));
    }

    #[test]
    fn bounded_prefix_respects_char_boundaries() {
        let s = "é".repeat(10);
        assert_eq!(bounded_prefix(&s, 5), "éé");
    }

    #[test]
    fn huge_input_is_bounded() {
        let big = "word ".repeat(1_000_000);
        assert!(tokenize(&big).len() <= MAX_TOKENS);
        let long = "x".repeat(MAX_ANALYSED_BYTES * 4);
        assert!(tokenize(&long).is_empty());
    }
}
