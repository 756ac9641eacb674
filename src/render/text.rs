//! Wording every surface shares: times, durations, and what an alert says (headline, detail
//! lines, guidance title). The terminal and Discord renderers put it in their own frames.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::alerts::{Alert, AlertKind, Change, Millis};

/// What a vague complaint's questions are introduced with.
pub const ASK_INTRO: &str = "I can help with that; tell me a bit more:";

/// The heading of a follow-up's "didn't help" answer.
pub fn others_heading(after: &str) -> String {
    format!("Other causes to rule out after \"{after}\"")
}

/// RFC 3339, whole seconds, UTC.
pub fn timestamp(at: Millis) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(at.max(0) as u64))
        .to_string()
}

/// "5m 3s": whole seconds, or "0s".
pub fn duration(ms: i64) -> String {
    humantime::format_duration(Duration::from_secs(
        (ms.max(0) as u64)
            .div_ceil(1000)
            .max(if ms > 0 { 1 } else { 0 }),
    ))
    .to_string()
}

pub fn symbol(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Down => "✖",
        AlertKind::Recovered => "✔",
        AlertKind::Reminder => "↻",
        AlertKind::Warning => "⚠",
    }
}

/// "http failed: 503 Service Unavailable".
fn failure(a: &Alert) -> Option<String> {
    match (&a.cause.stage, &a.cause.detail) {
        (Some(s), Some(d)) => Some(format!("{s} failed: {d}")),
        (Some(s), None) => Some(format!("{s} failed")),
        (None, Some(d)) => Some(d.clone()),
        (None, None) => None,
    }
}

/// The one-line summary after the endpoint name.
pub fn headline(a: &Alert) -> String {
    match a.kind {
        AlertKind::Down => failure(a).unwrap_or_else(|| "is down".into()),
        AlertKind::Recovered => format!(
            "is up again after {} down",
            duration(a.downtime_ms.unwrap_or(0))
        ),
        AlertKind::Reminder => match failure(a) {
            Some(f) => format!("still down: {f}"),
            None => "still down".into(),
        },
        AlertKind::Warning => match (&a.cause.stage, &a.cause.detail) {
            (Some(s), Some(d)) => format!("{s}: {d}"),
            (_, Some(d)) => d.clone(),
            _ => "warning".into(),
        },
    }
}

/// Detail lines (without indentation), shared by the console and the embed.
pub fn details(a: &Alert) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(note) = &a.note {
        lines.push(note.clone());
    }
    match a.kind {
        AlertKind::Down | AlertKind::Reminder => {
            if let Some(url) = &a.url {
                lines.push(format!("url: {url}"));
            }
            if let Some(since) = a.since {
                let for_how_long = duration(a.at - since);
                lines.push(format!(
                    "down since {} ({for_how_long}), {} failed check{}",
                    timestamp(since),
                    a.failures,
                    if a.failures == 1 { "" } else { "s" }
                ));
            }
            if a.kind == AlertKind::Reminder && a.reminder > 0 {
                lines.push(format!(
                    "reminder {} — acknowledge to stop reminders",
                    a.reminder
                ));
            }
        }
        AlertKind::Recovered => {
            if let Some(since) = a.since {
                lines.push(format!(
                    "down from {} ({} failed checks)",
                    timestamp(since),
                    a.failures
                ));
            }
            let mut by = String::from("recovered by the check");
            if let Some(at) = a.check_at {
                let _ = write!(by, " at {}", timestamp(at));
            }
            if let Some(c) = &a.check {
                let mut parts = Vec::new();
                if let Some(s) = c.status_code {
                    parts.push(format!("status {s}"));
                }
                if let Some(l) = c.latency_ms {
                    parts.push(format!("{l} ms"));
                }
                if !parts.is_empty() {
                    let _ = write!(by, " ({})", parts.join(", "));
                }
            }
            lines.push(by);
            if let Some(d) = failure(a) {
                lines.push(format!("last error was {d}"));
            }
        }
        AlertKind::Warning => {}
    }
    if !a.changes.is_empty() {
        let changes: Vec<String> = a
            .changes
            .iter()
            .map(|c| {
                let (what, before, after) = change_parts(c);
                format!("{what} {before} → {after}")
            })
            .collect();
        lines.push(format!(
            "changed since the last good check: {}",
            changes.join("; ")
        ));
    }
    lines
}

pub fn guidance_title(a: &Alert) -> String {
    match &a.cause.entry {
        Some(e) => format!("what to do ({e}):"),
        None => "what to do:".into(),
    }
}

/// A change as (what, before, after) words: "status", "200", "503".
pub fn change_parts(c: &Change) -> (&'static str, String, String) {
    fn list_or_none(v: &[String]) -> String {
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }
    fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into())
    }
    // A fingerprint's first 16 hex digits tell two certificates apart at a glance.
    let short = |f: &Option<String>| {
        f.as_deref()
            .map(|f| f.chars().take(16).collect())
            .unwrap_or_else(|| "none".to_string())
    };
    match c {
        Change::Addresses { before, after } => {
            ("addresses", list_or_none(before), list_or_none(after))
        }
        Change::Status { before, after } => ("status", opt(before), opt(after)),
        Change::Certificate { before, after } => ("certificate", short(before), short(after)),
        Change::Latency {
            before_ms,
            after_ms,
        } => (
            "latency",
            format!("{before_ms} ms"),
            format!("{after_ms} ms"),
        ),
    }
}
