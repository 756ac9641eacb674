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
    /// Check a directory of entries (default `knowledge/`) and report every problem.
    Lint {
        /// Your entries, checked as they would load on top of the built-in catalogue.
        /// Without DIR, `knowledge/` is checked as the built-in catalogue itself.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Check DIR as a whole catalogue on its own (no built-ins; files named `<id>.toml`).
        #[arg(long)]
        standalone: bool,
    },
    /// All entries with all fields, as one JSON array.
    Export {
        /// JSON is the only export format; the flag is accepted for clarity.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(cmd: KbCommand, knowledge_dir: Option<&Path>) -> Result<()> {
    match cmd {
        KbCommand::Lint { dir, standalone } => {
            let standalone = standalone || dir.is_none();
            let dir = dir.unwrap_or_else(|| PathBuf::from("knowledge"));
            let problems = if standalone {
                knowledge::lint_catalogue(&dir)
            } else {
                knowledge::lint_dir(&dir)
            };
            if problems.is_empty() {
                let n = knowledge::read_dir(&dir).map(|f| f.len()).unwrap_or(0);
                super::print(&format!("{}: {n} entries, no problems\n", dir.display()))
            } else {
                Err(Error::Knowledge(LoadErrors(problems)))
            }
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
