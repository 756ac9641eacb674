//! Alerts and the endpoint status table as terminal text (`medic watch`, `medic status`).
//!
//! The first line of a console alert is `<timestamp> <symbol> <KIND> <endpoint> …`, so people and
//! scripts can `grep '^[^ ]* . DOWN'`; details and guidance follow, indented by four spaces.

use std::fmt::Write;

use crate::alerts::monitor::{EndpointStatus, TOP_STEPS};
use crate::alerts::{Alert, AlertKind, Millis};
use crate::render::text::{details, duration, guidance_title, headline, timestamp};

/// The console format: a greppable first line, then indented details and steps.
pub fn terminal(a: &Alert) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {} {} — {}",
        timestamp(a.at),
        kind_symbol(a.kind),
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

/// One character, Unicode or ASCII as the locale allows (see [`super::symbols`]).
fn kind_symbol(kind: AlertKind) -> &'static str {
    let s = super::symbols();
    match kind {
        AlertKind::Down => s.fail,
        AlertKind::Recovered => s.ok,
        AlertKind::Reminder => s.reminder,
        AlertKind::Warning => s.warn,
    }
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
        if let (Some(stage), Some(detail)) = (&i.cause.stage, &i.cause.detail) {
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
/// `medic silences`: one line per silence in force.
pub fn silences_table(silences: &[crate::alerts::Silence], now: Millis) -> String {
    if silences.is_empty() {
        return "No silences in force.\n".into();
    }
    let mut out = String::new();
    for s in silences {
        let _ = writeln!(
            out,
            "{}  until {} ({} left)  by {}{}",
            s.endpoint,
            crate::clock::rfc3339_ms(s.until),
            duration(s.until - now),
            s.author,
            match s.reason.is_empty() {
                true => String::new(),
                false => format!(": {}", s.reason),
            }
        );
    }
    out
}

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
