//! `medic status`: every configured endpoint's state, uptime and latency from the state
//! database, without checking anything.

use std::path::{Path, PathBuf};

use crate::alerts::{monitor, Clock, SystemClock};
use crate::render::{alert, json};
use crate::store::{self, Store};
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
    // Do not create a database just to say that nothing is known yet.
    let store = if args.db.exists() {
        Store::open(&args.db)?
    } else {
        Store::open_in_memory()?
    };
    let now = SystemClock.now();
    let statuses = monitor::status(&store, &names, now)?;
    if args.json {
        super::print(&(json::pretty(&statuses) + "\n"))
    } else {
        super::print(&alert::status_table(&statuses, now))
    }
}
