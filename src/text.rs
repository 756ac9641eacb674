//! Plain-text helpers every layer may use: cutting text to a length. A leaf module.

/// `text` cut to at most `max` characters, ending in `…` when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
