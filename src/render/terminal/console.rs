//! The console's own text (`medic chat`): answers to `/check` and `/endpoints`, usage hints.

use crate::commands::{check, endpoints};
use crate::knowledge::Knowledge;
use crate::render::terminal::check::{overall_label, overall_symbol};

pub fn check_usage() -> String {
    "Usage: /check NAME (see /endpoints for the names).\n".to_string()
}

pub fn check_outcome(outcome: &check::Outcome, kb: &Knowledge) -> String {
    match outcome {
        check::Outcome::NotConfigured => format!("{}\n", check::HOW_TO_CONFIGURE),
        check::Outcome::Unknown { name, suggestions } => {
            let mut s = format!("No endpoint named `{name}`.");
            if !suggestions.is_empty() {
                s.push_str(&format!(" Did you mean {}?", suggestions.join(", ")));
            }
            s + " /endpoints lists them all.\n"
        }
        check::Outcome::Unusable { name, reason } => format!(
            "`{name}` is not configured, so it cannot be checked: {reason}. Fix it in medic.toml (`medic config check` lists every problem).\n"
        ),
        check::Outcome::Report(report) => super::check::report(report, kb),
    }
}

/// A message that names a configured endpoint without a recognisable error: its last known
/// state and the command that checks it now.
pub fn named_endpoint(line: &endpoints::Line) -> String {
    format!(
        "{}Run `/check {}` to check it now, stage by stage, or paste the error you see.\n",
        endpoints(std::slice::from_ref(line)),
        line.name
    )
}

/// `/endpoints`: each configured endpoint with its masked URL and last known state.
pub fn endpoints(lines: &[endpoints::Line]) -> String {
    if lines.is_empty() {
        return format!("{}\n", check::HOW_TO_CONFIGURE);
    }
    let mut out = String::new();
    for l in lines {
        if let Some(why) = &l.not_configured {
            out.push_str(&format!("{}  not configured: {why}\n", l.name));
            continue;
        }
        let last = match &l.last {
            None => "not checked yet".to_string(),
            Some(k) => {
                let mut s = format!(
                    "{} {} at {}",
                    overall_symbol(k.status),
                    overall_label(k.status),
                    crate::checks::format_time(k.at)
                );
                if let Some(p) = &k.problem {
                    s.push_str(&format!(" — {p}"));
                }
                s
            }
        };
        out.push_str(&format!("{}  {}  {}\n", l.name, l.url, last));
    }
    out
}

pub fn unknown_command(command: &str) -> String {
    format!(
        "Unknown command /{}. Try /help.\n",
        crate::text::truncate_chars(command, 40)
    )
}
