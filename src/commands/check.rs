//! `/check NAME`: runs the checks engine on a configured endpoint and remembers the verdict for
//! `/endpoints`.

use crate::checks::{CheckError, CheckReport, Checker};

use super::endpoints::StatusBoard;

/// What `/check` produced.
#[derive(Debug, Clone)]
pub enum Outcome {
    Report(Box<CheckReport>),
    /// No endpoint by that name; the closest configured names.
    Unknown {
        name: String,
        suggestions: Vec<String>,
    },
    /// No `medic.toml` with endpoints: explain how to add one.
    NotConfigured,
    /// The endpoint's table has problems; what they are (no secret in them).
    Unusable {
        name: String,
        reason: String,
    },
}

/// Checks `name` and records its status on `board`.
pub async fn run(checker: Option<&Checker>, board: &StatusBoard, name: &str) -> Outcome {
    let Some(checker) =
        checker.filter(|c| !c.endpoint_names().is_empty() || !c.config().not_configured.is_empty())
    else {
        return Outcome::NotConfigured;
    };
    let name = super::clean_input(name);
    match checker.check_named(&name).await {
        Ok(report) => {
            board.record(&report);
            Outcome::Report(Box::new(report))
        }
        Err(CheckError::UnknownEndpoint { name, suggestions }) => {
            Outcome::Unknown { name, suggestions }
        }
        Err(CheckError::NotConfigured { name, reason }) => Outcome::Unusable { name, reason },
    }
}

/// Configured endpoint names for what the user typed: prefix matches first, then substrings.
pub fn suggest(checker: Option<&Checker>, partial: &str) -> Vec<String> {
    let Some(checker) = checker else {
        return Vec::new();
    };
    let typed = super::clean_input(partial).to_lowercase();
    let mut names: Vec<(u8, &str)> = checker
        .endpoint_names()
        .into_iter()
        .filter_map(|n| {
            let l = n.to_lowercase();
            if l.starts_with(&typed) {
                Some((0, n))
            } else if l.contains(&typed) {
                Some((1, n))
            } else {
                None
            }
        })
        .collect();
    names.sort();
    // A cut name would match no endpoint when submitted; the configuration refuses longer
    // names, so this only guards against a configuration built another way.
    names
        .into_iter()
        .filter(|(_, n)| n.chars().count() <= super::diagnose::MAX_CHOICE_CHARS)
        .map(|(_, n)| n.to_string())
        .take(super::diagnose::MAX_SUGGESTIONS)
        .collect()
}

/// How to add an endpoint, for surfaces running without one.
pub const HOW_TO_CONFIGURE: &str = "No endpoints are configured, so there is nothing to check. \
Add one to medic.toml (medic reads ./medic.toml, or the file named by --config / MEDIC_CONFIG; \
see medic.example.toml):\n\n[[endpoints]]\nname = \"billing\"\nurl = \"https://api.example.com/health\"";
