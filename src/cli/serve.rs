//! `medic serve`: the Discord bot. Reads the token and options from the environment (and
//! `.env`), the `[discord]` section and endpoints from `medic.toml`, logs with `RUST_LOG`, and
//! stops cleanly on SIGINT/SIGTERM. The bot and the scheduled checks that post to
//! `alert_channel` run side by side; whichever stops first stops the other.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::runtime::{init_logging, shutdown_signal};
use crate::alerts::probe::Setup;
use crate::alerts::service::{self, Handle};
use crate::alerts::SystemClock;
use crate::checks::Checker;
use crate::commands::{LiveServices, Services};
use crate::discord::alerts::{DeliverySlot, DiscordSink};
use crate::discord::{self, Bot, Settings};
use crate::knowledge::Knowledge;
use crate::store;
use crate::{Error, Result};

/// How long the bot gets to close its gateway connections once told to stop.
const BOT_STOP: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database of the scheduled checks that post to `alert_channel`: check history,
    /// incidents, silences and the alert outbox.
    /// A file path (SQLite) or a `postgres://` URL, shared by any number of instances.
    #[arg(long, env = "MEDIC_DB", value_name = "FILE|URL", default_value = store::DEFAULT_PATH)]
    pub db: store::Location,
    /// Refuse to start when any endpoint has a problem (an unset secret, a bad value) instead
    /// of watching the others and listing it as not configured.
    #[arg(long)]
    pub strict: bool,
    /// Serve /healthz, /readyz and /metrics (Prometheus) on this address, e.g. 127.0.0.1:9464;
    /// with DISCORD_PUBLIC_KEY set, also Discord's interactions endpoint (POST /interactions).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Serve interactions over HTTP only (`--http`, DISCORD_PUBLIC_KEY): no gateway connection
    /// and no scheduled checks, so any number of replicas can run behind a load balancer.
    /// DISCORD_TOKEN is optional (interaction follow-ups need none).
    #[arg(long, requires = "http")]
    pub no_gateway: bool,
    /// Run only gateway shards A through B (e.g. `0-3`), with `--shard-total`; default:
    /// autosharding (Discord's recommended count, all in this process).
    #[arg(
        long,
        value_name = "A-B",
        requires = "shard_total",
        conflicts_with = "no_gateway"
    )]
    pub shards: Option<String>,
    /// The total number of shards across all processes, with `--shards`.
    #[arg(long, value_name = "N", requires = "shards")]
    pub shard_total: Option<u32>,
}

/// `DISCORD_PUBLIC_KEY`, if set.
fn public_key() -> Option<String> {
    std::env::var("DISCORD_PUBLIC_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// `--no-gateway`: the interactions endpoint and health/metrics, nothing else.
fn run_http_only(
    args: &Args,
    config: crate::config::Config,
    knowledge_dir: Option<&Path>,
) -> Result<()> {
    let Some(key) = public_key() else {
        return Err(Error::Usage(
            "--no-gateway serves Discord interactions over HTTP: set DISCORD_PUBLIC_KEY (developer portal → General Information → Public Key)".into(),
        ));
    };
    let token = match std::env::var("DISCORD_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(t) => Some(discord::Token::parse(&t)?),
        None => None,
    };
    let api_base = match std::env::var("DISCORD_API_BASE")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        Some(b) => Some(discord::parse_api_base(&b)?),
        None => None,
    };
    let check_roles = config.discord.check_roles.clone();
    let matcher = Arc::new(super::load_matcher(knowledge_dir)?);
    let checker = Arc::new(crate::checks::Checker::new(Arc::new(config)));
    let mut services = Services::new(matcher, Some(checker));
    // On a shared (Postgres) database a replica records feedback there and forwards /silence
    // to the instance that owns the endpoint; on a file it stays stateless.
    let shared = match &args.db {
        store::Location::Postgres(_) => {
            Some(store::open_shared(&args.db, store::lease_ttl_from_env()?)?)
        }
        store::Location::File(_) => None,
    };
    if let Some(s) = &shared {
        services = services.with_feedback(s.clone());
    }
    let listener = match args.http {
        Some(addr) => super::runtime::bind_http(addr)?,
        None => return Err(Error::Usage("--no-gateway needs --http ADDR".into())),
    };
    let runtime = super::runtime::runtime(super::runtime::Threads::PerCore)?;
    runtime.block_on(async {
        let rest = discord::rest_client(token.as_ref(), api_base.as_deref());
        let endpoint =
            discord::interactions::Endpoint::new(&key, services, &check_roles, Some(rest))?;
        let post = discord::interactions::post_handler(Arc::new(endpoint));
        let gauges = match shared {
            Some(s) => service::gauges(s),
            None => crate::metrics::server::no_store(),
        };
        tracing::info!(addr = ?args.http, "serving Discord interactions over HTTP (no gateway)");
        crate::metrics::server::serve(listener, gauges, Some(post), shutdown_signal()).await;
        Ok(())
    })
}

pub(super) fn run(args: Args, config: Option<&Path>, knowledge_dir: Option<&Path>) -> Result<()> {
    init_logging();
    // Loads .env too, so DISCORD_TOKEN may live there.
    let config_path = config;
    let config = super::config::load_checked(config_path, args.strict)?;
    if args.no_gateway {
        return run_http_only(&args, config, knowledge_dir);
    }
    let check_roles = config.discord.check_roles.clone();
    let mut settings = Settings::from_env(|k| std::env::var(k).ok())?;
    settings.listen_channels = config.discord.listen_channels.clone();
    settings.check_roles = config.discord.check_roles.clone();
    settings.message_content = config.discord.message_content;
    if let (Some(range), Some(total)) = (&args.shards, args.shard_total) {
        settings.shards = Some(discord::ShardRange::parse(range, total)?);
    }
    let matcher = Arc::new(super::load_matcher(knowledge_dir)?);
    let source = config.source.clone();
    let checker = Arc::new(crate::checks::Checker::new(Arc::new(config)));
    let http = args.http.map(super::runtime::bind_http).transpose()?;
    let runtime = super::runtime::runtime(super::runtime::Threads::PerCore)?;
    runtime.block_on(async {
        // One stop signal for both halves: SIGINT/SIGTERM, or either half ending.
        let (stop, _) = watch::channel(false);
        // Scheduled checks post to `alert_channel` through the bot's client once it exists.
        let slot = DeliverySlot::default();
        let mut reloader = Reloader {
            watch: super::watch::Reload::new(source, knowledge_dir.map(Path::to_path_buf)),
            config_path: config_path.map(Path::to_path_buf),
            knowledge_dir: knowledge_dir.map(Path::to_path_buf),
            strict: args.strict,
            db: args.db.clone(),
            slot: slot.clone(),
            live: None,
            pipeline_stop: None,
            announced: HashSet::new(),
        };
        let (alerts, pipeline) = reloader
            .start(checker.clone(), matcher.knowledge().clone(), &stop)?
            .unzip();
        // Feedback goes to the state database: the pipeline's, or one of its own.
        let feedback: crate::store::SharedStore = match &alerts {
            Some(handle) => handle.store().clone(),
            None => store::open_shared(&args.db, store::lease_ttl_from_env()?)?,
        };
        let live = LiveServices::new(
            Services::new(matcher, Some(checker))
                .with_alerts(alerts.clone())
                .with_feedback(feedback),
        );
        reloader.live = Some(live.clone());
        if let Some(listener) = http {
            // With the alert pipeline, its database decides readiness; without, there is no
            // state to be unready about. (A reload keeps the database, so the gauges stay.)
            let gauges: crate::metrics::server::GaugeSource = match &alerts {
                Some(handle) => service::gauges(handle.store().clone()),
                None => crate::metrics::server::no_store(),
            };
            let post = match public_key() {
                Some(key) => {
                    let rest = discord::rest_client(None, settings.api_base.as_deref());
                    let endpoint = discord::interactions::Endpoint::new(
                        &key,
                        live.clone(),
                        &check_roles,
                        Some(rest),
                    )?;
                    Some(discord::interactions::post_handler(Arc::new(endpoint)))
                }
                None => None,
            };
            tokio::spawn(crate::metrics::server::serve(
                listener,
                gauges,
                post,
                stopped(&stop),
            ));
        }
        let bot = tokio::spawn(discord::run(
            Bot::new(settings, live).alert_delivery(slot),
            stopped(&stop),
        ));
        supervise(bot, pipeline, shutdown_signal(), &stop, reloader).await
    })
}

/// Resolves once `stop` says so.
fn stopped(stop: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = stop.subscribe();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// `serve`'s reload, as `watch` does it: on SIGHUP or a change of medic.toml or the knowledge
/// directory, a configuration and catalogue that load replace the running ones — the alert
/// pipeline restarts on the same database (open incidents continue, nothing is re-announced)
/// and the bot answers with the new endpoints and entries from its next command. One that
/// does not load is refused with its errors, and everything keeps running. `[discord]`
/// settings the gateway connection was made with (listen channels, check roles, message
/// content) take effect at the next start.
struct Reloader {
    watch: super::watch::Reload,
    config_path: Option<PathBuf>,
    knowledge_dir: Option<PathBuf>,
    strict: bool,
    db: store::Location,
    slot: DeliverySlot,
    /// The bot's services (set once they exist).
    live: Option<LiveServices>,
    /// Stops the running pipeline (and only it).
    pipeline_stop: Option<oneshot::Sender<()>>,
    /// Endpoints already announced as not configured.
    announced: HashSet<String>,
}

/// Why a reload did not happen.
enum Refused {
    /// The new files do not load: nothing changed.
    Invalid(Error),
    /// Stopping the old pipeline or starting the new one failed: alerts are not running.
    Pipeline(Error),
}

impl Reloader {
    /// Starts the alert pipeline for `checker`'s configuration, stopped by `stop` or by the
    /// next reload.
    fn start(
        &mut self,
        checker: Arc<Checker>,
        knowledge: Arc<Knowledge>,
        stop: &watch::Sender<bool>,
    ) -> Result<Option<(Handle, JoinHandle<Result<()>>)>> {
        let (tx, rx) = oneshot::channel::<()>();
        let everything = stopped(stop);
        let shutdown = async move {
            tokio::select! {
                _ = everything => {}
                _ = rx => {}
            }
        };
        self.pipeline_stop = Some(tx);
        start_alerts(
            &self.db,
            checker,
            knowledge,
            self.slot.clone(),
            &mut self.announced,
            shutdown,
        )
    }

    /// Loads the files again and, if they load, puts them in force (see [`Reloader`]).
    async fn apply(
        &mut self,
        alerts: &mut Option<JoinHandle<Result<()>>>,
        stop: &watch::Sender<bool>,
    ) -> std::result::Result<(), Refused> {
        let config = super::config::load_checked(self.config_path.as_deref(), self.strict)
            .map_err(Refused::Invalid)?;
        let matcher =
            Arc::new(super::load_matcher(self.knowledge_dir.as_deref()).map_err(Refused::Invalid)?);
        // A clean stop of the old pipeline (last results recorded, lease given back) first.
        if let Some(tx) = self.pipeline_stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = alerts.take() {
            joined(task.await, PIPELINE).map_err(Refused::Pipeline)?;
        }
        let checker = Arc::new(Checker::new(Arc::new(config)));
        let (handle, task) = self
            .start(checker.clone(), matcher.knowledge().clone(), stop)
            .map_err(Refused::Pipeline)?
            .unzip();
        *alerts = task;
        if let Some(live) = &self.live {
            live.replace(live.get().reloaded(matcher, Some(checker), handle));
        }
        Ok(())
    }
}

/// Runs the scheduled checks of the checker's config and posts their alerts to its
/// `alert_channel` through the bot's client (delivered into `slot`), with state in `db`. `None`
/// when no `alert_channel` or no endpoint with an interval is configured.
///
/// Returns the pipeline's [`Handle`] and its task, as [`service::spawn`] does. The task ends
/// with an error if the pipeline stops on its own (lease lost, delivery failed): the bot keeps
/// answering commands meanwhile, so [`supervise`] watches the task and stops, because nobody
/// may silently stop getting alerts.
fn start_alerts(
    db: &store::Location,
    checker: Arc<Checker>,
    knowledge: Arc<Knowledge>,
    slot: DeliverySlot,
    announced: &mut HashSet<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<(Handle, JoinHandle<Result<()>>)>> {
    let config = checker.config();
    let Some(channel) = config.discord.alert_channel else {
        if !config.endpoints.is_empty() {
            tracing::info!("no alert_channel in [discord]: scheduled checks and alerts are off");
        }
        return Ok(None);
    };
    let mut setup = Setup::from_config(config);
    if setup.targets.is_empty() {
        return Ok(None);
    }
    // A reload does not repeat the notice about an endpoint that is still not configured.
    setup
        .not_configured
        .retain(|(name, _)| announced.insert(name.clone()));
    let store = store::open_shared(db, store::lease_ttl_from_env()?)?;
    let mut sink = DiscordSink::deferred(slot, channel, config.discord.mention_role);
    for ep in &config.endpoints {
        if let Some(role) = ep.alerts.mention_role {
            sink = sink.mention_for(&ep.name, role);
        }
    }
    let running = service::spawn(
        setup,
        checker,
        sink,
        store,
        Arc::new(SystemClock),
        Some(knowledge),
        shutdown,
    )?;
    Ok(Some(running))
}

/// Runs until `signal`, the bot ending, or the alert pipeline failing; then stops both (the bot
/// closes its gateway connections, the pipeline records the last results and gives up its
/// lease) and returns what stopped them: the bot's error, or the pipeline's as
/// [`Error::AlertsStopped`].
async fn supervise(
    mut bot: JoinHandle<Result<()>>,
    mut alerts: Option<JoinHandle<Result<()>>>,
    signal: impl Future<Output = ()>,
    stop: &watch::Sender<bool>,
    mut reloader: Reloader,
) -> Result<()> {
    tokio::pin!(signal);
    let mut bot_ended = None;
    let alerts_failed = loop {
        tokio::select! {
            _ = &mut signal => break None,
            ended = &mut bot => {
                bot_ended = Some(joined(ended, "the bot"));
                break None;
            }
            ended = async { alerts.as_mut().expect("checked").await }, if alerts.is_some() => {
                alerts = None;
                match joined(ended, PIPELINE) {
                    // Only a shutdown ends it without an error; the bot keeps serving meanwhile.
                    Ok(()) => continue,
                    Err(e) => break Some(e),
                }
            }
            _ = reloader.watch.changed() => {
                match reloader.apply(&mut alerts, stop).await {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(Refused::Invalid(e)) => eprintln!(
                        "medic: reload refused, still serving with the previous configuration:\n{e}"
                    ),
                    Err(Refused::Pipeline(e)) => break Some(e),
                }
            }
        }
    };
    stop.send_replace(true);
    let alerts_first = alerts_failed.is_some();
    if alerts_first {
        // The reason is the error `medic serve` ends with.
        tracing::warn!("scheduled checks and alerts stopped; stopping the bot");
    }
    let bot = match bot_ended {
        Some(ended) => ended,
        None => match tokio::time::timeout(BOT_STOP, &mut bot).await {
            Ok(ended) => joined(ended, "the bot"),
            Err(_) => {
                bot.abort();
                tracing::warn!("the bot did not stop within {BOT_STOP:?}; dropped it");
                Ok(())
            }
        },
    };
    let alerts = match (alerts_failed, alerts) {
        (Some(e), _) => Err(e),
        (None, Some(task)) => joined(task.await, PIPELINE),
        (None, None) => Ok(()),
    }
    .map_err(|e| Error::AlertsStopped(Box::new(e)));
    // Both failed: report what failed first, log the other.
    match (bot, alerts) {
        (Err(b), Err(a)) if alerts_first => {
            tracing::error!("{b}");
            Err(a)
        }
        (Err(b), Err(a)) => {
            tracing::error!("{a}");
            Err(b)
        }
        (bot, alerts) => bot.and(alerts),
    }
}

const PIPELINE: &str = "the alert pipeline";

/// The result of the task running `what`, a panic included.
fn joined(
    ended: std::result::Result<Result<()>, tokio::task::JoinError>,
    what: &'static str,
) -> Result<()> {
    ended.map_err(|source| Error::TaskFailed { task: what, source })?
}
