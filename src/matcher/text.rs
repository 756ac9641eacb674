//! Splits a message into lowercase word tokens, remembering the characters around each one.

/// Only this many bytes of a message are analysed: error lines come first, and it bounds
/// the work a 1 MB paste can cause.
pub const MAX_ANALYSED_BYTES: usize = 8 * 1024;
/// And at most this many tokens.
pub const MAX_TOKENS: usize = 1500;

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Lowercased text: letters, digits and `_`.
    pub text: String,
    /// The character just before the token in the original message, if any.
    pub before: Option<char>,
    /// The two characters just after it, if any.
    pub after: (Option<char>, Option<char>),
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

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Tokenizes the analysed prefix of a message.
pub fn tokenize(message: &str) -> Vec<Token> {
    let text = bounded_prefix(message, MAX_ANALYSED_BYTES);
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut prev: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        if !is_word_char(c) {
            prev = Some(c);
            continue;
        }
        let before = prev;
        let mut word = String::new();
        word.extend(c.to_lowercase());
        let mut last = c;
        while let Some(&(_, n)) = chars.peek() {
            if !is_word_char(n) {
                break;
            }
            word.extend(n.to_lowercase());
            last = n;
            chars.next();
        }
        let mut ahead = chars.clone().map(|(_, c)| c);
        let after = (ahead.next(), ahead.next());
        prev = Some(last);
        // Words made of thousands of letters are noise (base64, minified code): skip them.
        if word.len() <= 64 {
            tokens.push(Token {
                text: word,
                before,
                after,
            });
            if tokens.len() >= MAX_TOKENS {
                break;
            }
        }
    }
    tokens
}

/// Lowercase words of a phrase, tokenized exactly like messages.
pub fn words(phrase: &str) -> Vec<String> {
    tokenize(phrase).into_iter().map(|t| t.text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_punctuation_and_keeps_underscores() {
        assert_eq!(
            words("ERR_TLS_CERT_ALTNAME_INVALID: x-ratelimit-remaining: 0"),
            vec!["err_tls_cert_altname_invalid", "x", "ratelimit", "remaining", "0"]
        );
    }

    #[test]
    fn records_context_characters() {
        let t = tokenize("PR #401 looks");
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
    }
}
