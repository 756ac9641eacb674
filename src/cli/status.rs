//! `medic status`: every configured endpoint's state, uptime and latency from the state
//! database, without checking anything.

use std::path::{Path, PathBuf};

use crate::alerts::{monitor, Clock, SystemClock};
use crate::render::json;
use crate::render::terminal::alert;
use crate::store::{self, SqliteStore, Store};
use crate::{Error, Result};

/// Exit status: 0 when every configured endpoint is up (or not checked yet), 1 when any is down,
/// failing or not configured, 2 on a usage or configuration error.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every configured endpoint is up or not checked yet; 1 when any is down, failing or not configured; 2 on a usage or configuration error."
)]
pub struct Args {
    /// The state database written by `medic watch` / `medic serve` (default: `medic.db`).
    /// Given explicitly, it must exist: a mistyped path is an error, not "nothing known".
    /// A `postgres://` URL reads the database several instances share.
    #[arg(long, env = "MEDIC_DB", value_name = "FILE|URL")]
    pub db: Option<store::Location>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(args: Args, config_path: Option<&Path>) -> Result<()> {
    let config = super::config::load_lenient(config_path)?;
    let names: Vec<String> = config.endpoints.iter().map(|e| e.name.clone()).collect();
    // Only reads: no database is created, migrated or checked just to say what is known.
    let location = match &args.db {
        Some(store::Location::File(p)) if !p.exists() => {
            return Err(Error::Usage(format!(
                "database {} does not exist; give the file `medic watch` or `medic serve` writes (--db or MEDIC_DB)",
                p.display()
            )))
        }
        Some(l) => l.clone(),
        None => store::Location::File(PathBuf::from(store::DEFAULT_PATH)),
    };
    let store: Box<dyn Store> = match store::open_for_reading(&location)? {
        Some(s) => s,
        None => Box::new(SqliteStore::open_in_memory()?),
    };
    let now = SystemClock.now_ms();
    let statuses = monitor::status(&*store, &names, now)?;
    let backlog = store.backlog()?;
    if backlog.pending > 0 {
        // On stderr, so that `--json` stays one document.
        eprintln!("{}", alert::backlog_line(&backlog, now));
    }
    if args.json {
        super::print(&(json::status_document(&statuses, &config.not_configured) + "\n"))?;
    } else {
        if !statuses.is_empty() || config.not_configured.is_empty() {
            super::print(&alert::status_table(&statuses, now))?;
        }
        super::print(&crate::render::terminal::check::not_configured(
            &config.not_configured,
        ))?;
    }
    // Exit 1 when anything needs attention, for scripts and health checks.
    let attention: Vec<String> = statuses
        .iter()
        .filter(|s| matches!(s.state, "down" | "failing"))
        .map(|s| s.name.clone())
        .chain(config.not_configured.iter().map(|n| n.name.clone()))
        .collect();
    match attention.is_empty() {
        true => Ok(()),
        false => Err(Error::NeedsAttention {
            endpoints: attention,
        }),
    }
}
