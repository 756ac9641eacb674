//! Plain-text rendering for the terminal and the console chat mode: diagnoses here, check
//! reports in [`check`], alerts and the status table in [`alert`].

pub mod alert;
pub mod check;
pub mod console;

use std::fmt::Write;

use once_cell::sync::Lazy;

use crate::knowledge::{Entry, Knowledge};
use crate::matcher::{Diagnosis, Match, Reason, ReasonKind};

/// Whether terminal output is coloured; decided once per process by [`set_color`].
static COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Auto: stdout is a terminal, `NO_COLOR` is unset or empty (no-color.org) and `TERM` is
    /// not `dumb`.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>, stdout_is_tty: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stdout_is_tty
                    && env("NO_COLOR").is_none_or(|v| v.is_empty())
                    && env("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// Turns colour on or off for every later terminal write.
pub fn set_color(on: bool) {
    COLOR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Status symbols and alert words in their colours (green good, red bad, yellow warning).
pub fn colourize(text: &str) -> String {
    use anstyle::{AnsiColor, Style};
    let paint = |style: Style, s: &str| format!("{}{s}{}", style.render(), style.render_reset());
    let green = AnsiColor::Green.on_default();
    let red = AnsiColor::Red.on_default().bold();
    let yellow = AnsiColor::Yellow.on_default();
    let mut out = String::with_capacity(text.len() + 32);
    for ch in text.chars() {
        match ch {
            '✔' => out.push_str(&paint(green, "✔")),
            '✖' => out.push_str(&paint(red, "✖")),
            '⚠' | '↻' => out.push_str(&paint(yellow, &ch.to_string())),
            _ => out.push(ch),
        }
    }
    for (word, style) in [
        (" DOWN ", red),
        (" RECOVERED ", green),
        ("NOT CONFIGURED", yellow),
        (" FAIL in ", red),
    ] {
        out = out.replace(word, &paint(style, word));
    }
    out
}

/// `medic kb gaps`: what people asked that medic could not answer, and what they rejected.
pub fn gaps(g: &crate::store::model::Gaps, since: std::time::Duration) -> String {
    let mut out = String::new();
    let span = humantime::format_duration(since);
    let _ = writeln!(out, "Unanswered direct questions (last {span}):");
    if g.unanswered.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (text, n) in &g.unanswered {
        let _ = writeln!(
            out,
            "  {n:>4}  \"{}\"",
            crate::text::truncate_chars(text, 120)
        );
    }
    let _ = writeln!(
        out,
        "\nEntries most often marked \"Not this\" (last {span}):"
    );
    if g.not_this.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (entry, no, yes) in &g.not_this {
        let _ = writeln!(out, "  {no:>4}  {entry} ({yes} helpful)");
    }
    out
}

/// The status symbols of terminal output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbols {
    pub ok: &'static str,
    pub warn: &'static str,
    pub fail: &'static str,
    pub skipped: &'static str,
    pub not_configured: &'static str,
    pub reminder: &'static str,
}

const UNICODE: Symbols = Symbols {
    ok: "✔",
    warn: "⚠",
    fail: "✖",
    skipped: "·",
    not_configured: "?",
    reminder: "↻",
};

const ASCII: Symbols = Symbols {
    ok: "+",
    warn: "!",
    fail: "x",
    skipped: "-",
    not_configured: "?",
    reminder: "~",
};

/// Unicode symbols, or ASCII ones when the locale says the terminal is not UTF-8 (`LC_ALL=C`).
pub fn symbols() -> Symbols {
    static CHOSEN: Lazy<Symbols> = Lazy::new(|| symbols_for(|k| std::env::var(k).ok()));
    *CHOSEN
}

/// The symbols for a locale read through `env`: the first of `LC_ALL`, `LC_CTYPE`, `LANG` that
/// is set decides; none set (a bare container, a CI job) keeps Unicode.
pub fn symbols_for(env: impl Fn(&str) -> Option<String>) -> Symbols {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .into_iter()
        .find_map(|k| env(k).filter(|v| !v.trim().is_empty()));
    match locale {
        Some(l) => {
            let l = l.to_ascii_lowercase();
            if l.contains("utf-8") || l.contains("utf8") {
                UNICODE
            } else {
                ASCII
            }
        }
        None => UNICODE,
    }
}

/// "code 429; keyword "rate limit" (you wrote "rate limted")".
pub fn reasons(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| {
            let kind = match r.kind {
                ReasonKind::Code => "code",
                ReasonKind::Keyword => "keyword",
                ReasonKind::Title => "title",
                ReasonKind::Word => "word",
            };
            match &r.matched {
                Some(m) => format!("{kind} \"{}\" (you wrote \"{m}\")", r.term),
                None => format!("{kind} \"{}\"", r.term),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An entry in full: title, summary, numbered steps, related entries.
pub fn entry(out: &mut String, entry: &Entry, kb: &Knowledge) {
    let _ = writeln!(out, "{}  [{}]", entry.title, entry.id);
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", entry.summary);
    let _ = writeln!(out);
    let _ = writeln!(out, "Steps:");
    for (i, step) in entry.steps.iter().enumerate() {
        let step = crate::knowledge::placeholders::with_defaults(step);
        let _ = writeln!(out, "  {}. {}", i + 1, step);
    }
    if !entry.related.is_empty() {
        let related: Vec<String> = entry
            .related
            .iter()
            .map(|id| match kb.get(id) {
                Some(e) => format!("{} ({})", e.title, id),
                None => id.to_string(),
            })
            .collect();
        let _ = writeln!(out);
        let _ = writeln!(out, "Related: {}", related.join(", "));
    }
}

fn short(m: &Match) -> String {
    format!("{} [{}] ({:.2})", m.title, m.id, m.score)
}

/// The answer to a message: the best entry in full, why it matched, and the runners-up.
pub fn diagnosis(d: &Diagnosis, kb: &Knowledge) -> String {
    answer(d, kb, "run `medic kb list`")
}

/// [`diagnosis`] with the last resort a no-answer suggests: a shell command on the command
/// line, a chat command in `medic chat`.
fn answer(d: &Diagnosis, kb: &Knowledge, last_resort: &str) -> String {
    let mut out = String::new();
    let Some(best) = d.best() else {
        out.push_str(
            "No confident answer: this does not look like an integration problem I know.\n",
        );
        if !d.near_misses.is_empty() {
            let near: Vec<String> = d.near_misses.iter().take(3).map(short).collect();
            let _ = writeln!(out, "Closest entries: {}", near.join(", "));
        }
        let _ = writeln!(out, "Tip: paste the exact error line or the HTTP status (e.g. \"429\", \"ECONNREFUSED\"), or {last_resort}.");
        return out;
    };
    entry(&mut out, &best.entry, kb);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Why: {} (confidence {:.2})",
        reasons(&best.reasons),
        best.score
    );
    if d.matches.len() > 1 {
        let others: Vec<String> = d.matches[1..].iter().map(short).collect();
        let _ = writeln!(out, "Also possible: {}", others.join(", "));
    }
    out
}

/// `medic kb list`: one line per entry.
pub fn entry_list(kb: &Knowledge) -> String {
    let width = kb.entries().iter().map(|e| e.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for e in kb.entries() {
        let _ = writeln!(out, "{:width$}  {}", e.id, e.title);
    }
    out
}

/// A `/diagnose` outcome in the console chat; unlike the `diagnose` command, a picked entry id
/// opens that entry.
pub fn outcome(o: &crate::commands::diagnose::Outcome, kb: &Knowledge) -> String {
    use crate::commands::diagnose::Outcome;
    match o {
        Outcome::Answer(d) | Outcome::NoMatch(d) => {
            answer(d, kb, "type `/help`; an entry id (e.g. `http-429`) opens that entry")
        }
        Outcome::Entry(e) => {
            let mut out = String::new();
            entry(&mut out, e, kb);
            out
        }
        Outcome::Others(o) => others(o, kb),
        Outcome::Ask(questions) => {
            let mut out = format!("{}\n", super::text::ASK_INTRO);
            for (i, q) in questions.iter().enumerate() {
                let _ = writeln!(out, "  {}. {q}", i + 1);
            }
            out
        }
        Outcome::Empty => "Tell me what is failing: paste the error line or the HTTP status, e.g. `/diagnose 429`.\n".to_string(),
    }
}

/// A follow-up's "didn't help": the next candidate in full, the others to rule out listed.
pub fn others(o: &crate::commands::diagnose::Others, kb: &Knowledge) -> String {
    let mut out = String::new();
    let Some((first, rest)) = o.entries.split_first() else {
        out.push_str("I have nothing else to suggest for that one.\n");
        return out;
    };
    let _ = writeln!(out, "{}:", super::text::others_heading(&o.after));
    let _ = writeln!(out);
    entry(&mut out, first, kb);
    if !rest.is_empty() {
        let list: Vec<String> = rest
            .iter()
            .map(|e| format!("{} [{}]", e.title, e.id))
            .collect();
        let _ = writeln!(out);
        let _ = writeln!(out, "Also rule out: {}", list.join(", "));
    }
    out
}

/// `/help` in the console chat.
pub fn help(h: &crate::commands::help::Help) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", h.intro);
    let _ = writeln!(out);
    let width = h.commands.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    for c in &h.commands {
        let _ = writeln!(out, "  {:width$}  {}", c.usage, c.what);
    }
    let _ = writeln!(out);
    for tip in &h.how_to_ask {
        let _ = writeln!(out, "- {tip}");
    }
    let _ = writeln!(out, "({} knowledge entries loaded)", h.entries);
    out
}

/// Whether the reader of stdout is still there after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The pipe was closed (`medic … | head -1`): a normal end for a command-line tool.
    Closed,
}

/// Writes `text` to `out` and flushes it; a closed pipe is [`Written::Closed`], not an error.
/// Every surface that prints to a terminal writes through this, so no control character (a
/// server's ESC sequence, a user's backspaces) and no bidi override reaches the terminal.
pub fn write_out(out: &mut impl std::io::Write, text: &str) -> std::io::Result<Written> {
    let text = crate::text::printable(text);
    // Colour is added after the control characters are gone: only medic's own sequences
    // reach the terminal.
    // JSON documents are never painted: their strings must stay what the data says.
    let json = text.trim_start().starts_with(['{', '[']);
    let text = match COLOR.load(std::sync::atomic::Ordering::Relaxed) && !json {
        true => std::borrow::Cow::Owned(colourize(&text)),
        false => text,
    };
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(Written::Done),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Written::Closed),
        Err(e) => Err(e),
    }
}

/// [`write_out`] to this process's stdout.
pub fn write_stdout(text: &str) -> std::io::Result<Written> {
    write_out(&mut std::io::stdout().lock(), text)
}

#[cfg(test)]
mod colour_tests {
    use super::*;

    #[test]
    fn colour_choice_follows_no_color_term_and_the_terminal() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(ColorChoice::Auto.resolve(env(&[]), true));
        assert!(!ColorChoice::Auto.resolve(env(&[]), false));
        assert!(!ColorChoice::Auto.resolve(env(&[("NO_COLOR", "1")]), true));
        assert!(ColorChoice::Auto.resolve(env(&[("NO_COLOR", "")]), true));
        assert!(!ColorChoice::Auto.resolve(env(&[("TERM", "dumb")]), true));
        assert!(ColorChoice::Always.resolve(env(&[("NO_COLOR", "1")]), false));
        assert!(!ColorChoice::Never.resolve(env(&[]), true));
    }

    #[test]
    fn colourize_paints_symbols_and_alert_words_only() {
        let c = colourize("2026 ✖ DOWN api — x\n✔ ok\n");
        assert!(c.contains("\u{1b}[") && c.contains("DOWN"), "{c:?}");
        assert_eq!(colourize("plain text"), "plain text");
        assert_eq!(symbols_for(|k| (k == "LC_ALL").then(|| "C".into())), ASCII);
        assert_eq!(
            symbols_for(|k| (k == "LANG").then(|| "de_DE.UTF-8".into())),
            UNICODE
        );
        assert_eq!(symbols_for(|_| None), UNICODE);
    }
}
