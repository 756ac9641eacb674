//! `medic watch`: the scheduled checks and alerts in the terminal, no Discord token needed.
//! Alerts go to stdout (one greppable first line each), logs to stderr; state lives in the
//! `MEDIC_DB` file, so stopping and starting again continues open incidents.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::runtime::{init_logging, shutdown_signal};
use crate::alerts::probe::Setup;
use crate::alerts::{service, SystemClock};
use crate::checks::Checker;
use crate::config::Config;
use crate::console::sink::ConsoleSink;
use crate::knowledge::Knowledge;
use crate::store::{self, SharedStore};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database: check history, incidents, silences and the alert outbox.
    /// A file path (SQLite) or a `postgres://` URL, shared by any number of instances.
    #[arg(long, env = "MEDIC_DB", value_name = "FILE|URL", default_value = store::DEFAULT_PATH)]
    pub db: store::Location,
    /// Refuse to start when any endpoint has a problem (an unset secret, a bad value) instead
    /// of watching the others and listing it as not configured.
    #[arg(long)]
    pub strict: bool,
    /// Serve /healthz, /readyz and /metrics (Prometheus) on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
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
    let store: SharedStore = store::open_shared(&args.db, store::lease_ttl_from_env()?)?;
    let http = args.http.map(super::runtime::bind_http).transpose()?;
    let runtime = super::runtime::runtime(super::runtime::Threads::PerCore)?;
    runtime.block_on(async {
        if let Some(listener) = http {
            let gauges = service::gauges(store.clone());
            tokio::spawn(crate::metrics::server::serve(
                listener,
                gauges,
                None,
                std::future::pending(),
            ));
            tracing::info!(addr = ?args.http, "serving /healthz, /readyz and /metrics");
        }
        let mut reload = Reload::new(config.source.clone(), knowledge_dir.map(Path::to_path_buf));
        let mut shutdown = std::pin::pin!(shutdown_signal());
        let (mut config, mut kb) = (config, kb);
        // Endpoints already announced as not configured: a reload does not repeat the notice.
        let mut announced: HashSet<String> = HashSet::new();
        loop {
            let mut setup = Setup::from_config(&config);
            setup.not_configured.retain(|(name, _)| announced.insert(name.clone()));
            let count = setup.targets.len();
            let checker = Arc::new(Checker::new(Arc::new(config.clone())));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (_handle, task) = service::spawn(
                setup,
                checker,
                ConsoleSink,
                store.clone(),
                Arc::new(SystemClock),
                Some(kb.clone()),
                async move {
                    let _ = stopped.await;
                },
            )?;
            let mut task = std::pin::pin!(task);
            tracing::info!(endpoints = count, db = %args.db.shown(), "watching; alerts on stdout, Ctrl-C to stop, SIGHUP (or saving medic.toml) reloads");
            let ended = |r: std::result::Result<Result<()>, tokio::task::JoinError>| {
                r.map_err(|source| Error::TaskFailed { task: "the scheduler", source })?
            };
            // Until the pipeline ends, the process is told to stop, or a good new config arrives.
            let next = loop {
                tokio::select! {
                    r = &mut task => return ended(r),
                    _ = &mut shutdown => {
                        let _ = stop.send(());
                        return ended(task.await);
                    }
                    _ = reload.changed() => {
                        match reloaded(config_path, knowledge_dir, args.strict) {
                            Ok(next) => break next,
                            // The running configuration stays; the errors say why.
                            Err(e) => eprintln!("medic: reload refused, still watching with the previous configuration:\n{e}"),
                        }
                    }
                }
            };
            // A clean stop (last results recorded, lease given back), then the new pipeline
            // continues from the same state: open incidents stay open, nothing is re-announced.
            let _ = stop.send(());
            ended(task.await)?;
            (config, kb) = next;
            tracing::info!("configuration reloaded");
        }
    })
}

/// The new configuration and catalogue, or why they are refused.
fn reloaded(
    config_path: Option<&Path>,
    knowledge_dir: Option<&Path>,
    strict: bool,
) -> Result<(Config, Arc<Knowledge>)> {
    let config = super::config::load_checked(config_path, strict)?;
    let kb = Arc::new(Knowledge::load(knowledge_dir)?);
    Ok((config, kb))
}

/// When to reload: SIGHUP, or the config file or knowledge directory changed on disk (looked
/// at every [`POLL`]; editors replace files, so the modification time is compared, not inodes).
pub(super) struct Reload {
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
    paths: Vec<PathBuf>,
    seen: Vec<Option<SystemTime>>,
}

/// How often the files are looked at.
const POLL: Duration = Duration::from_secs(2);

impl Reload {
    pub(super) fn new(config: Option<PathBuf>, knowledge: Option<PathBuf>) -> Reload {
        let paths: Vec<PathBuf> = config.into_iter().chain(knowledge).collect();
        let seen = paths.iter().map(|p| modified(p)).collect();
        Reload {
            #[cfg(unix)]
            hup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
            paths,
            seen,
        }
    }

    /// Resolves at the next SIGHUP or file change.
    pub(super) async fn changed(&mut self) {
        let mut tick = tokio::time::interval(POLL);
        tick.tick().await;
        loop {
            #[cfg(unix)]
            let hup = async {
                match self.hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            tokio::select! {
                _ = hup => {
                    self.seen = self.paths.iter().map(|p| modified(p)).collect();
                    return;
                }
                _ = tick.tick() => {
                    let now: Vec<Option<SystemTime>> = self.paths.iter().map(|p| modified(p)).collect();
                    if now != self.seen {
                        self.seen = now;
                        return;
                    }
                }
            }
        }
    }
}

/// A file's modification time; for a directory, the newest of its entries' and its own.
fn modified(path: &Path) -> Option<SystemTime> {
    let own = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let entries = std::fs::read_dir(path).ok().into_iter().flatten().flatten();
    entries
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
        .chain(own)
        .max()
}
