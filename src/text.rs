//! Plain-text helpers every layer may use: cutting text to a length, and making text fit for a
//! terminal or chat ([`printable`]). A leaf module.

/// `text` cut to at most `max` characters, ending in `…` when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Whether a character may reach a terminal or Discord: no C0/C1 control (they move the
/// cursor, retitle the window, erase what was printed) except newline and tab.
/// Whether `word` occurs in `text` with no word character (as `word_char` defines it) just
/// before or after it: "payments-api" in "payments-api is down", not in "old-payments-api-v0".
pub fn has_word(text: &str, word: &str, word_char: impl Fn(char) -> bool) -> bool {
    !word.is_empty()
        && text.match_indices(word).any(|(i, _)| {
            !text[..i].chars().next_back().is_some_and(&word_char)
                && !text[i + word.len()..]
                    .chars()
                    .next()
                    .is_some_and(&word_char)
        })
}

fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder what
/// follows, so a line can read as something else than it says.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What replaces a bidi control: visible, so the reader sees something was there.
pub const BIDI_REPLACEMENT: char = '\u{FFFD}';

/// `text` fit for a terminal or a chat message: control characters dropped (newline and tab
/// kept), bidi controls replaced by [`BIDI_REPLACEMENT`]. Borrowed when nothing changes.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_forbidden_control(c) || is_bidi_control(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .filter(|c| !is_forbidden_control(*c))
            .map(|c| {
                if is_bidi_control(c) {
                    BIDI_REPLACEMENT
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// The candidate at most `max` edits (Damerau–Levenshtein) from `word`: the nearest, and of
/// equally near ones the first in sort order. For "did you mean" hints on names people type.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_word_needs_a_boundary_on_both_sides() {
        let w = |c: char| c.is_alphanumeric() || c == '-';
        assert!(has_word("payments-api is down", "payments-api", w));
        assert!(has_word("is payments-api down?", "payments-api", w));
        assert!(!has_word("old-payments-api-v0 is down", "payments-api", w));
        assert!(!has_word("anything", "", w));
    }

    #[test]
    fn printable_drops_controls_and_neutralises_bidi() {
        assert_eq!(
            printable("ok\u{1b}]0;title\u{7}\u{8}\r\u{9b}31m\n\tx\u{202E}y\u{2066}"),
            "ok]0;title31m\n\tx\u{FFFD}y\u{FFFD}"
        );
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
