//! Alerts as text: the console line format (`medic watch`) and the data of a Discord embed.
//!
//! The first line of a console alert is `<timestamp> <symbol> <KIND> <endpoint> …`, so people and
//! scripts can `grep '^[^ ]* . DOWN'`; details and guidance follow, indented by four spaces.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::alerts::monitor::EndpointStatus;
use crate::alerts::{Alert, AlertKind, Millis};

/// How many steps of the knowledge entry an alert carries.
pub const TOP_STEPS: usize = 3;

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

fn symbol(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Down => "✖",
        AlertKind::Recovered => "✔",
        AlertKind::Reminder => "↻",
        AlertKind::Warning => "⚠",
    }
}

/// "http failed: 503 Service Unavailable".
fn failure(a: &Alert) -> Option<String> {
    match (&a.stage, &a.detail) {
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
        AlertKind::Warning => match (&a.stage, &a.detail) {
            (Some(s), Some(d)) => format!("{s}: {d}"),
            (_, Some(d)) => d.clone(),
            _ => "warning".into(),
        },
    }
}

/// Detail lines (without indentation), shared by the console and the embed.
fn details(a: &Alert) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(note) = &a.note {
        lines.push(note.clone());
    }
    match a.kind {
        AlertKind::Down | AlertKind::Reminder => {
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
            .map(|c| format!("{} {} → {}", c.what, c.before, c.after))
            .collect();
        lines.push(format!(
            "changed since the last good check: {}",
            changes.join("; ")
        ));
    }
    lines
}

fn guidance_title(a: &Alert) -> String {
    match &a.entry {
        Some(e) => format!("what to do ({e}):"),
        None => "what to do:".into(),
    }
}

/// The console format: a greppable first line, then indented details and steps.
pub fn terminal(a: &Alert) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {} {} — {}",
        timestamp(a.at),
        symbol(a.kind),
        a.kind.word(),
        a.endpoint,
        headline(a)
    );
    for line in details(a) {
        let _ = writeln!(out, "    {line}");
    }
    if !a.steps.is_empty() && a.kind != AlertKind::Recovered {
        let _ = writeln!(out, "    {}", guidance_title(a));
        for (i, step) in a.steps.iter().take(TOP_STEPS).enumerate() {
            let _ = writeln!(out, "      {}. {}", i + 1, step);
        }
    }
    out
}

pub const RED: u32 = 0xE7_4C_3C;
pub const GREEN: u32 = 0x2E_CC_71;
pub const ORANGE: u32 = 0xE6_7E_22;
pub const YELLOW: u32 = 0xF1_C4_0F;

/// A Discord embed as plain data, already within Discord's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    pub title: String,
    pub description: String,
    pub color: u32,
    pub fields: Vec<(String, String)>,
    pub footer: String,
    pub timestamp: Millis,
}

/// The embed of an alert: red DOWN, green RECOVERED, orange REMINDER, yellow WARNING.
pub fn embed(a: &Alert) -> Embed {
    let color = match a.kind {
        AlertKind::Down => RED,
        AlertKind::Recovered => GREEN,
        AlertKind::Reminder => ORANGE,
        AlertKind::Warning => YELLOW,
    };
    let title = cut(
        &format!("{} {} · {}", symbol(a.kind), a.kind.word(), a.endpoint),
        256,
    );
    let mut description = headline(a);
    for line in details(a) {
        description.push('\n');
        description.push_str(&line);
    }
    let mut fields = Vec::new();
    if !a.steps.is_empty() && a.kind != AlertKind::Recovered {
        let steps: Vec<String> = a
            .steps
            .iter()
            .take(TOP_STEPS)
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect();
        fields.push((cut(&guidance_title(a), 256), cut(&steps.join("\n"), 1024)));
    }
    Embed {
        title,
        description: cut(&description, 2000),
        color,
        fields,
        footer: format!("medic · alert {}", a.id),
        timestamp: a.at,
    }
}

/// Cuts at a character boundary, marking the cut with "…".
pub fn cut(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn percent(p: Option<f64>) -> String {
    match p {
        Some(p) if p >= 99.995 => "100%".into(),
        Some(p) => format!("{p:.2}%"),
        None => "-".into(),
    }
}

fn ms(v: Option<u64>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into())
}

/// One line per endpoint: state, since, uptime, latency, then incident and silence if any.
pub fn status_lines(s: &EndpointStatus, now: Millis) -> (Vec<String>, Vec<String>) {
    let since = s
        .since
        .map(|t| format!("{} ago", duration(now - t)))
        .unwrap_or_else(|| "-".into());
    let h = &s.history;
    let cols = vec![
        s.name.clone(),
        s.state.to_string(),
        since,
        percent(h.uptime_24h),
        percent(h.uptime_7d),
        ms(h.p50_ms),
        ms(h.p95_ms),
    ];
    let mut notes = Vec::new();
    if let Some(i) = &s.incident {
        let mut n = format!(
            "incident since {}, {} failed checks",
            timestamp(i.started_at),
            i.failures
        );
        if let (Some(stage), Some(detail)) = (&i.stage, &i.detail) {
            let _ = write!(n, ", {stage} failed: {detail}");
        }
        if let Some(ack) = &i.ack {
            let _ = write!(n, "; acknowledged by {} at {}", ack.by, timestamp(ack.at));
        }
        notes.push(n);
    }
    if let Some(sl) = &s.silence {
        notes.push(format!(
            "silenced by {} until {}: {}",
            sl.author,
            timestamp(sl.until),
            sl.reason
        ));
    }
    (cols, notes)
}

/// "3 alerts not delivered yet, the oldest from … ago (last error: …)": under `medic status`
/// when the sink has not taken alerts (Discord refusing the token, a network outage).
pub fn backlog_line(b: &crate::store::Backlog, now: Millis) -> String {
    let mut line = format!(
        "{} alert{} not delivered yet",
        b.pending,
        if b.pending == 1 { "" } else { "s" }
    );
    if let Some(oldest) = b.oldest {
        let _ = write!(line, ", the oldest raised {} ago", duration(now - oldest));
    }
    if let Some(e) = &b.last_error {
        let _ = write!(line, " (last error: {e})");
    }
    line
}

/// `medic status`: an aligned table, with incident and silence notes under their endpoint.
pub fn status_table(statuses: &[EndpointStatus], now: Millis) -> String {
    if statuses.is_empty() {
        return "No endpoints configured.\n".into();
    }
    let header: Vec<String> = [
        "ENDPOINT", "STATE", "SINCE", "UP 24H", "UP 7D", "P50", "P95",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<(Vec<String>, Vec<String>)> =
        statuses.iter().map(|s| status_lines(s, now)).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for (cols, _) in &rows {
        for (w, c) in widths.iter_mut().zip(cols) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let cells: Vec<String> = cols
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        cells.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&header);
    for (cols, notes) in &rows {
        out.push_str(&line(cols));
        for n in notes {
            let _ = writeln!(out, "    {n}");
        }
    }
    out
}
