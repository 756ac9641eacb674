//! `medic status`: every configured endpoint's state, uptime and latency from the state
//! database, without checking anything.

use std::path::{Path, PathBuf};

use crate::alerts::{monitor, Clock, SystemClock};
use crate::render::json;
use crate::render::terminal::alert;
use crate::store::{self, SqliteStore, Store};
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database written by `medic watch` / `medic serve`.
    #[arg(long, env = "MEDIC_DB", value_name = "FILE", default_value = store::DEFAULT_PATH)]
    pub db: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, config_path: Option<&Path>) -> Result<()> {
    let config = super::config::load(config_path)?;
    let names: Vec<String> = config.endpoints.iter().map(|e| e.name.clone()).collect();
    // Only reads: no database is created, migrated or checked just to say what is known.
    let store = match args.db.exists() {
        true => Some(SqliteStore::open_read_only(&args.db)?),
        false => None,
    };
    let store = match store {
        Some(s) if !s.is_empty_schema()? => s,
        _ => SqliteStore::open_in_memory()?,
    };
    let now = SystemClock.now_ms();
    let statuses = monitor::status(&store, &names, now)?;
    let backlog = store.backlog()?;
    if backlog.pending > 0 {
        // On stderr, so that `--json` stays one document.
        eprintln!("{}", alert::backlog_line(&backlog, now));
    }
    if args.json {
        super::print(&(json::pretty(&statuses) + "\n"))
    } else {
        super::print(&alert::status_table(&statuses, now))
    }
}
