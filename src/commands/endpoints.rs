//! `/endpoints`: the configured endpoints with the last status medic saw for each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::checks::{CheckReport, Checker, Overall};

/// The last verdict for an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub status: Overall,
    pub at: SystemTime,
    /// "TLS: certificate expired" for the first failing (or warning) stage, if any.
    pub problem: Option<String>,
}

/// Last known status per endpoint name, updated by every check medic runs.
#[derive(Debug, Default)]
pub struct StatusBoard {
    last: Mutex<HashMap<String, Known>>,
}

impl StatusBoard {
    pub fn record(&self, report: &CheckReport) {
        let problem = report
            .stages
            .iter()
            .find(|s| s.status == crate::checks::StageStatus::Fail)
            .or_else(|| {
                report
                    .stages
                    .iter()
                    .find(|s| s.status == crate::checks::StageStatus::Warn)
            })
            .map(|s| format!("{}: {}", s.stage.label(), s.detail));
        let known = Known {
            status: report.status,
            at: report.started_at,
            problem,
        };
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(report.endpoint.clone(), known);
    }

    pub fn get(&self, name: &str) -> Option<Known> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

/// One configured endpoint as `/endpoints` lists it.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    /// The URL with credentials masked.
    pub url: String,
    pub last: Option<Known>,
    /// Why the endpoint cannot be checked, when its configuration has problems.
    pub not_configured: Option<String>,
}

/// Every configured endpoint in configuration order; empty when none are configured.
pub fn run(checker: Option<&Checker>, board: &StatusBoard) -> Vec<Line> {
    let Some(checker) = checker else {
        return Vec::new();
    };
    let config = checker.config();
    let configured = config.endpoints.iter().map(|e| Line {
        name: e.name.clone(),
        url: e.display_url(),
        last: board.get(&e.name),
        not_configured: None,
    });
    let left_out = config.not_configured.iter().map(|n| Line {
        name: n.name.clone(),
        url: String::new(),
        last: None,
        not_configured: Some(n.reason()),
    });
    configured.chain(left_out).collect()
}

/// Fills in what the state database knows (`medic watch` / `serve` wrote it) where it is newer
/// than what this process saw itself: a chat started beside a running `watch` shows its 90
/// stored results, not "not checked yet".
pub fn add_stored(lines: &mut [Line], stored: &[crate::alerts::monitor::EndpointStatus]) {
    for line in lines.iter_mut().filter(|l| l.not_configured.is_none()) {
        let Some(s) = stored.iter().find(|s| s.name == line.name) else {
            continue;
        };
        let Some(at) = s.last_check else { continue };
        let at = crate::clock::from_millis(at);
        if line.last.as_ref().is_some_and(|k| k.at >= at) {
            continue;
        }
        let status = match s.state {
            "up" => Overall::Ok,
            "down" | "failing" => Overall::Fail,
            _ => continue,
        };
        let problem = s.incident.as_ref().map(|i| {
            let stage = i.cause.stage.as_deref().unwrap_or("check");
            match &i.cause.detail {
                Some(d) => format!("{stage}: {d} (from the state database)"),
                None => format!("{stage} failed (from the state database)"),
            }
        });
        line.last = Some(Known {
            status,
            at,
            problem,
        });
    }
}

/// The configured endpoint a message names ("payments-api is failing again"), as a whole word,
/// ignoring case; the longest name wins when several match.
pub fn named_in(checker: Option<&Checker>, board: &StatusBoard, text: &str) -> Option<Line> {
    let lower = text.to_lowercase();
    let word_char = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    run(checker, board)
        .into_iter()
        .filter(|l| l.not_configured.is_none())
        .filter(|l| crate::text::has_word(&lower, &l.name.to_lowercase(), word_char))
        .max_by_key(|l| l.name.len())
}
