//! `medic kb`: list, show, lint and export the knowledge catalogue.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::knowledge::{self, Knowledge, LoadErrors};
use crate::render::{json, terminal};
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// One line per entry: id and title.
    List,
    /// One entry in full.
    Show {
        /// The entry id, e.g. `http-429`.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a directory of entries (default: the built-in catalogue) and report every problem.
    Lint {
        /// Your entries, checked as they would load on top of the built-in catalogue.
        /// Without DIR, the catalogue built into this binary is checked.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Check DIR as a whole catalogue on its own (no built-ins; files named `<id>.toml`).
        #[arg(long)]
        standalone: bool,
    },
    /// For knowledge authors: the most frequent unanswered direct questions and the entries
    /// most often marked "Not this" on Discord, from the state database `medic serve` writes.
    Gaps {
        /// The state database (as `medic serve --db`).
        #[arg(long, env = "MEDIC_DB", value_name = "FILE|URL", default_value = crate::store::DEFAULT_PATH)]
        db: crate::store::Location,
        /// How far back to look, e.g. "7d", "30d".
        #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::config::parse_duration)]
        since: std::time::Duration,
        /// How many of each to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// All entries with all fields, as one JSON array.
    Export {
        /// JSON is the only export format; the flag is accepted for clarity.
        #[arg(long)]
        json: bool,
    },
}

/// Runs every entry's `examples` and `not_examples`; an error listing each failure.
fn examples(kb: Knowledge, only_from: Option<&Path>) -> Result<()> {
    let matcher = crate::matcher::Matcher::new(std::sync::Arc::new(kb));
    let prefix = only_from.map(|d| d.display().to_string());
    let failures = crate::commands::examples::failures(&matcher, |e| {
        prefix.as_deref().is_none_or(|p| e.source.starts_with(p))
    });
    match failures.is_empty() {
        true => Ok(()),
        false => Err(Error::Knowledge(LoadErrors(failures))),
    }
}

/// `medic kb gaps`.
fn gaps(db: &crate::store::Location, since: std::time::Duration, top: usize) -> Result<()> {
    let Some(store) = crate::store::open_for_reading(db)? else {
        return super::print(&format!(
            "No feedback recorded yet: there is no state database at {} (medic serve writes it; --db or MEDIC_DB).\n",
            db.shown()
        ));
    };
    let now = crate::clock::to_millis(std::time::SystemTime::now());
    let from = now - since.as_millis().min(i64::MAX as u128) as i64;
    let g = store.gaps(from, top.max(1))?;
    super::print(&terminal::gaps(&g, since))
}

pub(super) fn run(cmd: KbCommand, knowledge_dir: Option<&Path>) -> Result<()> {
    match cmd {
        KbCommand::Gaps { db, since, top } => gaps(&db, since, top),
        KbCommand::Lint { dir, standalone } => {
            let Some(dir) = dir else {
                // The catalogue this binary carries, whatever the current directory holds.
                let kb = Knowledge::builtin()?;
                let n = kb.len();
                examples(kb, None)?;
                return super::print(&format!("built-in catalogue: {n} entries, no problems\n"));
            };
            let problems = if standalone {
                knowledge::lint_catalogue(&dir)
            } else {
                knowledge::lint_dir(&dir)
            };
            if !problems.is_empty() {
                return Err(Error::Knowledge(LoadErrors(problems)));
            }
            // The catalogue as it loads, its examples run through the matcher.
            let (kb, only) = match standalone {
                true => (Knowledge::from_layers(&[knowledge::read_dir(&dir)?])?, None),
                false => (Knowledge::load(Some(&dir))?, Some(dir.as_path())),
            };
            examples(kb, only)?;
            let warnings = match standalone {
                true => Vec::new(),
                false => knowledge::replacement_warnings(&dir),
            };
            for w in &warnings {
                eprintln!("medic: warning: {w}");
            }
            let n = knowledge::read_dir(&dir).map(|f| f.len()).unwrap_or(0);
            let note = match warnings.len() {
                0 => String::new(),
                n => format!(" ({n} warning(s) on stderr)"),
            };
            super::print(&format!(
                "{}: {n} entries, no problems{note}\n",
                dir.display()
            ))
        }
        KbCommand::List => {
            let kb = Knowledge::load(knowledge_dir)?;
            super::print(&terminal::entry_list(&kb))
        }
        KbCommand::Show { id, json } => {
            let kb = Knowledge::load(knowledge_dir)?;
            let Some(entry) = kb.get(id.trim()) else {
                return Err(Error::Usage(format!(
                    "no knowledge entry with id `{}` (see `medic kb list`)",
                    id.chars().take(80).collect::<String>()
                )));
            };
            if json {
                super::print(&(json::pretty(&**entry) + "\n"))
            } else {
                let mut out = String::new();
                terminal::entry(&mut out, entry, &kb);
                super::print(&out)
            }
        }
        KbCommand::Export { json: _ } => {
            let kb = Knowledge::load(knowledge_dir)?;
            let all: Vec<&knowledge::Entry> = kb.entries().iter().map(|e| &**e).collect();
            super::print(&(json::pretty(&all) + "\n"))
        }
    }
}
