//! Check reports as terminal text: one line per stage with ✔/⚠/✖ and timing, then the steps
//! of the knowledge entries that apply. The symbols and labels are reusable by other surfaces.

use std::fmt::Write;

use crate::checks::{CheckReport, Overall, StageResult, StageStatus};
use crate::knowledge::Knowledge;

pub fn stage_symbol(status: StageStatus) -> &'static str {
    let s = super::symbols();
    match status {
        StageStatus::Ok => s.ok,
        StageStatus::Warn => s.warn,
        StageStatus::Fail => s.fail,
        StageStatus::Skipped => s.skipped,
    }
}

pub fn overall_symbol(status: Overall) -> &'static str {
    let s = super::symbols();
    match status {
        Overall::Ok => s.ok,
        Overall::Warn => s.warn,
        Overall::Fail => s.fail,
    }
}

pub fn overall_label(status: Overall) -> &'static str {
    match status {
        Overall::Ok => "OK",
        Overall::Warn => "WARN",
        Overall::Fail => "FAIL",
    }
}

/// "✖ TLS      12 ms  certificate for api.example.com expired on 2026-01-01T00:00:00Z".
pub fn stage_line(s: &StageResult) -> String {
    let ms = if s.status == StageStatus::Skipped {
        "-".to_string()
    } else {
        format!("{} ms", s.ms)
    };
    format!(
        "{} {:<11} {:>7}  {}",
        stage_symbol(s.status),
        s.stage.label(),
        ms,
        s.detail
    )
}

/// A full report: header, stages, key facts, guidance.
pub fn report(r: &CheckReport, kb: &Knowledge) -> String {
    let mut out = header(r) + "\n";
    for s in &r.stages {
        let _ = writeln!(out, "  {}", stage_line(s));
    }
    let seen = observed(r);
    if !seen.is_empty() && r.status != Overall::Ok {
        let _ = writeln!(out, "  seen: {}", seen.join("; "));
    }
    let guidance = r.guidance(kb);
    for (stage, entry) in guidance {
        let _ = writeln!(out);
        // The situation first, then the entry that explains it.
        let title = match r.headline(&stage) {
            Some(h) => format!("{h} → {}", entry.title),
            None => entry.title.clone(),
        };
        let _ = writeln!(
            out,
            "{} {} — {}  [{}]",
            stage_symbol(stage.status),
            stage.stage.label(),
            title,
            entry.id
        );
        for (i, step) in entry.steps.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, r.placeholders.fill(step));
        }
    }
    // Entries named but missing from the catalogue are still worth a pointer.
    for s in &r.stages {
        if let Some(id) = &s.entry {
            if kb.get(id).is_none() && matches!(s.status, StageStatus::Warn | StageStatus::Fail) {
                let _ = writeln!(out, "\n(see knowledge entry `{id}`)");
            }
        }
    }
    out
}

/// What the check saw that the steps may need: Retry-After, rate-limit figures, certificate
/// dates, the first line of an error body.
pub fn observed(r: &CheckReport) -> Vec<String> {
    let f = &r.facts;
    let rl = &f.rate_limit;
    let mut out = Vec::new();
    if let Some(s) = rl.retry_after {
        out.push(format!("Retry-After {s} s"));
    }
    match (rl.remaining, rl.limit) {
        (Some(rem), Some(l)) => out.push(format!("{rem} of {l} requests left")),
        (Some(rem), None) => out.push(format!("{rem} requests left")),
        _ => {}
    }
    if let Some(s) = rl.reset {
        out.push(format!("window resets in {s} s"));
    }
    if let (Some(t), Some(d)) = (f.cert_not_after, f.cert_days_left) {
        out.push(format!(
            "certificate valid until {} ({d} days)",
            crate::checks::format_time(t)
        ));
    }
    if let Some(line) = &f.body_first_line {
        out.push(format!("body starts \"{line}\""));
    }
    out
}

/// `✖ payments-api  https://…  FAIL in 120 ms`: a report's first line.
fn header(r: &CheckReport) -> String {
    format!(
        "{} {}  {}  {} in {} ms",
        overall_symbol(r.status),
        r.endpoint,
        r.url,
        overall_label(r.status),
        r.total_ms
    )
}

/// One endpoint in one line, as `check --all` prints it when the endpoint is done:
/// `✖ payments-api  https://…  FAIL in 120 ms — HTTP: 503 Service Unavailable`.
pub fn one_line(r: &CheckReport) -> String {
    let mut line = header(r);
    let worst = r
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Fail)
        .or_else(|| r.stages.iter().find(|s| s.status == StageStatus::Warn));
    if let Some(s) = worst {
        let what = r
            .headline(s)
            .unwrap_or_else(|| crate::text::truncate_chars(&s.detail, 100));
        let _ = write!(line, " — {}: {what}", s.stage.label());
    }
    line + "\n"
}

/// The progress line of `check --all` on a terminal: `[3/10] checking a, b, c …`.
pub fn progress(done: usize, total: usize, running: &[&str]) -> String {
    let mut names = running
        .iter()
        .take(3)
        .map(|n| crate::text::printable(n))
        .collect::<Vec<_>>()
        .join(", ");
    if running.len() > 3 {
        names.push_str(&format!(" and {} more", running.len() - 3));
    }
    format!("[{done}/{total}] checking {names}…")
}

/// Endpoints that could not be checked because their configuration has problems.
pub fn not_configured(list: &[crate::config::NotConfigured]) -> String {
    let mut out = String::new();
    for n in list {
        let _ = writeln!(
            out,
            "\n{} {}  NOT CONFIGURED: {}",
            super::symbols().not_configured,
            n.name,
            n.reason()
        );
    }
    out
}

/// The last lines of `check --all`: counts and the failing names.
pub fn summary(reports: &[CheckReport]) -> String {
    let count = |o: Overall| reports.iter().filter(|r| r.status == o).count();
    let mut out = format!(
        "\n{} endpoints: {} ok, {} warning, {} failing\n",
        reports.len(),
        count(Overall::Ok),
        count(Overall::Warn),
        count(Overall::Fail)
    );
    let failing: Vec<&str> = reports
        .iter()
        .filter(|r| r.status == Overall::Fail)
        .map(|r| r.endpoint.as_str())
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "failing: {}", failing.join(", "));
    }
    out
}
