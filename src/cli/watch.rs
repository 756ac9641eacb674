//! `medic watch`: the scheduled checks and alerts in the terminal, no Discord token needed.
//! Alerts go to stdout (one greppable first line each), logs to stderr; state lives in the
//! `MEDIC_DB` file, so stopping and starting again continues open incidents.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::runtime::{init_logging, shutdown_signal};
use crate::alerts::probe::Setup;
use crate::alerts::{service, SystemClock};
use crate::checks::Checker;
use crate::console::sink::ConsoleSink;
use crate::knowledge::Knowledge;
use crate::store::{self, SqliteStore};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database: check history, incidents, silences and the alert outbox.
    #[arg(long, env = "MEDIC_DB", value_name = "FILE", default_value = store::DEFAULT_PATH)]
    pub db: PathBuf,
    /// Refuse to start when any endpoint has a problem (an unset secret, a bad value) instead
    /// of watching the others and listing it as not configured.
    #[arg(long)]
    pub strict: bool,
}

pub(super) fn run(
    args: Args,
    config_path: Option<&Path>,
    knowledge_dir: Option<&Path>,
) -> Result<()> {
    let config = super::config::load_checked(config_path, args.strict)?;
    init_logging();
    let setup = Setup::from_config(&config);
    if setup.targets.is_empty() && setup.not_configured.is_empty() {
        return Err(Error::Usage(
            "no endpoints to watch: add [[endpoints]] with an `interval` to medic.toml (see medic.example.toml)".into(),
        ));
    }
    let kb = Arc::new(Knowledge::load(knowledge_dir)?);
    // Opened and checked before anything runs, so a corrupted or unwritable file stops medic at
    // once (the scheduler lease is taken by service::spawn).
    let store = SqliteStore::open(&args.db)?;
    store.check_integrity()?;
    let store = Arc::new(Mutex::new(store));
    let runtime = super::runtime::runtime(super::runtime::Threads::PerCore)?;
    runtime.block_on(async {
        let count = setup.targets.len();
        let checker = Arc::new(Checker::new(Arc::new(config)));
        let (_handle, task) =
            service::spawn(setup, checker, ConsoleSink, store, Arc::new(SystemClock), Some(kb), shutdown_signal())?;
        tracing::info!(endpoints = count, db = %args.db.display(), "watching; alerts on stdout, Ctrl-C to stop");
        task.await.map_err(|source| Error::TaskFailed { task: "the scheduler", source })?
    })
}
