//! medic's state: the [`Store`] interface the alerting writes through, the records it persists
//! ([`model`]), the embedded SQLite backend ([`SqliteStore`]: one file in WAL mode with
//! versioned migrations kept in code) and the Postgres one ([`PostgresStore`]: one database
//! shared by many instances, each owning some endpoints through lease rows). [`Location`] is
//! what `--db` / `MEDIC_DB` name, and [`open_shared`] opens either.
//!
//! It holds check results (raw for [`rollup::RAW_WINDOW`], then rolled up per endpoint and hour
//! until the retention period ends), per-endpoint incident state,
//! incident history, silences, acknowledgements and the alert outbox. Everything one event
//! changes — the check, the new state, the alerts it raised — is written in one transaction
//! ([`Store::commit`]), so a crash never leaves an alert without its state or the other way round.
//! On SQLite a lease row makes sure only one scheduler (`watch` or `serve`) writes a file at a
//! time; on Postgres every endpoint has its own lease, so any number of schedulers share them.
//! The store owns the records it persists ([`model`]) and knows nothing about when to alert
//! ([`crate::alerts`]) or how to send.

use std::time::Duration;

use serde::Serialize;

pub mod model;
mod postgres;
pub mod rollup;
mod sqlite;

pub use postgres::{PostgresStore, DEFAULT_LEASE_TTL};
pub use sqlite::SqliteStore;

use crate::Result;
use model::{Ack, Alert, EndpointState, Millis, Observation, Silence};

/// Default file name, relative to the working directory; `MEDIC_DB` overrides it.
pub const DEFAULT_PATH: &str = "medic.db";

/// A scheduler lease whose heartbeat is older than this is free, even if its pid seems alive.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// Where the state lives: what `--db` / `MEDIC_DB` say. A `postgres://` or `postgresql://` URL
/// is a Postgres database; anything else is a SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    pub fn parse(spec: &str) -> Location {
        match postgres::is_url(spec) {
            true => Location::Postgres(spec.to_string()),
            false => Location::File(spec.into()),
        }
    }

    /// The location fit for output (a URL's password masked).
    pub fn shown(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(url) => postgres::masked(url),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Location, Self::Err> {
        Ok(Location::parse(s))
    }
}

/// The lease TTL of shared (Postgres) stores: `MEDIC_LEASE_TTL` (e.g. `20s`), else
/// [`DEFAULT_LEASE_TTL`]. An unreadable value is a usage error, not a silent default.
pub fn lease_ttl_from_env() -> Result<Duration> {
    match std::env::var("MEDIC_LEASE_TTL") {
        Err(_) => Ok(DEFAULT_LEASE_TTL),
        Ok(v) => humantime::parse_duration(v.trim())
            .ok()
            .filter(|d| *d >= Duration::from_secs(1))
            .ok_or_else(|| {
                crate::Error::Usage(format!(
                    "MEDIC_LEASE_TTL={v:?} is not a duration of at least 1s (e.g. 15s)"
                ))
            }),
    }
}

/// Opens (creating or migrating) the store a scheduler writes, shared between the monitor, the
/// delivery loop and status readers. A SQLite file is checked for integrity first, so a damaged
/// file stops medic before any check runs.
pub fn open_shared(location: &Location, lease_ttl: Duration) -> Result<SharedStore> {
    Ok(match location {
        Location::File(path) => {
            let store = SqliteStore::open(path)?;
            store.check_integrity()?;
            std::sync::Arc::new(std::sync::Mutex::new(store))
        }
        Location::Postgres(url) => {
            std::sync::Arc::new(std::sync::Mutex::new(PostgresStore::open(url, lease_ttl)?))
        }
    })
}

/// Opens the store for a process that only reads it (`status`, `silences`, `kb gaps`):
/// `None` when a SQLite file does not exist yet or was never written by medic. Nothing is
/// created next to a file.
pub fn open_for_reading(location: &Location) -> Result<Option<Box<dyn Store>>> {
    Ok(match location {
        Location::File(path) if !path.is_file() => None,
        Location::File(path) => {
            let store = SqliteStore::open_for_reading(path)?;
            match store.is_empty_schema()? {
                true => None,
                false => Some(Box::new(store)),
            }
        }
        Location::Postgres(url) => Some(Box::new(PostgresStore::open(url, DEFAULT_LEASE_TTL)?)),
    })
}

/// The `p`th percentile of sorted values (nearest rank).
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1) - 1;
    Some(sorted[rank.min(sorted.len() - 1)])
}

/// Everything one event changed, written atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct Commit<'a> {
    /// Check results, in the order they were taken.
    pub checks: Vec<(&'a str, &'a Observation)>,
    pub states: Vec<(&'a str, &'a EndpointState)>,
    pub alerts: &'a [Alert],
    pub ended_silences: &'a [(Silence, Millis)],
}

/// An alert waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub seq: i64,
    pub alert: Alert,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub delivered_at: Option<Millis>,
    pub message_id: Option<String>,
    pub last_error: Option<String>,
    pub dead: bool,
}

/// Check history of one endpoint, for `medic status` and `/endpoints`: exact while raw checks
/// cover the window, then read from the hourly roll-ups ([`rollup::history`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct History {
    /// Share of good checks in the last 24 h / 7 d, in percent; `None` without checks.
    pub uptime_24h: Option<f64>,
    pub uptime_7d: Option<f64>,
    pub checks_24h: u64,
    /// Latency of good checks in the last 24 h.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

/// Alerts not delivered yet, for `medic status` and the bot's `/endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Backlog {
    pub pending: u64,
    /// When the oldest undelivered alert was raised.
    pub oldest: Option<Millis>,
    /// Why the oldest one has not gone out yet.
    pub last_error: Option<String>,
}

/// What the alerting needs from a state database. [`SqliteStore`] is the embedded one; another
/// backend is another implementation of this trait, not an edit across `alerts/`.
pub trait Store: Send {
    /// Claims the scheduler for this process: one `watch` or `serve` per file, or two engines
    /// would raise every alert twice and steal each other's outbox rows. The claim is free when
    /// nobody holds it, when the holder's heartbeat is older than [`LEASE_TTL`], or when the
    /// holder's pid no longer runs (after a crash or SIGKILL).
    fn take_scheduler_lease(&mut self, now: Millis) -> Result<()>;

    /// Keeps our scheduler lease alive. `false` if another process took it over (this one was
    /// stalled for longer than [`LEASE_TTL`]): this one must stop.
    fn heartbeat(&mut self, now: Millis) -> Result<bool>;

    /// Gives the scheduler lease up (clean shutdown), so the next start need not check the pid.
    fn release_scheduler_lease(&mut self) -> Result<()>;

    fn path(&self) -> &str;

    /// Whether several schedulers share this store, each owning the endpoints
    /// [`Store::claim_endpoints`] gives it (Postgres). `false`: the one lease holder owns all.
    fn shared(&self) -> bool {
        false
    }

    /// Renews this scheduler's endpoint leases and claims its share of the free ones among
    /// `names` (handing the excess over when another scheduler joined); returns the endpoints
    /// it owns now. Without sharing: all of them.
    fn claim_endpoints(&mut self, names: &[String], _now: Millis) -> Result<Vec<String>> {
        Ok(names.to_vec())
    }

    /// How many endpoint leases this scheduler holds on a shared store; `None` without sharing.
    fn endpoints_owned(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// How often a shared store's leases must be renewed (a fraction of their TTL), if that is
    /// more often than the monitor ticks anyway.
    fn renew_every(&self) -> Option<Duration> {
        None
    }

    /// Endpoints whose changes a [`Store::commit`] dropped since the last call because another
    /// scheduler owns them now (this one stalled past the lease TTL).
    fn take_refused(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Every endpoint's saved state.
    fn load_states(&self) -> Result<Vec<(String, EndpointState)>>;

    /// Silences not yet ended (including ones that expired while medic was not running, so
    /// their end is still handled).
    fn open_silences(&self) -> Result<Vec<Silence>>;

    /// Stores a new silence and returns its id. A silence it replaces is ended at `from`.
    fn insert_silence(&mut self, s: &Silence) -> Result<i64>;

    /// Writes one event's changes in a single transaction.
    fn commit(&mut self, c: &Commit<'_>) -> Result<()>;

    /// The oldest alert not yet delivered (and not given up on), whatever its retry time: alerts
    /// go out in order, so a failing one holds back the ones after it.
    fn next_pending(&self) -> Result<Option<OutboxItem>>;

    /// Every outbox row, oldest first (for tests and diagnostics).
    fn outbox(&self) -> Result<Vec<OutboxItem>>;

    /// An alert by its id (the id in a button's custom id).
    fn alert(&self, id: &str) -> Result<Option<Alert>>;

    fn mark_delivered(&mut self, seq: i64, at: Millis, message_id: Option<&str>) -> Result<()>;

    /// Records a failed attempt; `retry_at` `None` gives up on the alert (Discord rejected it).
    fn mark_failed(&mut self, seq: i64, error: &str, retry_at: Option<Millis>) -> Result<()>;

    /// Deletes what is older than `retention`: check results, delivered and given-up alerts,
    /// closed incidents with their acknowledgements, ended silences, and endpoints that are no
    /// longer in `configured` once none of their checks is left. Returns rows removed.
    fn prune(
        &mut self,
        now: Millis,
        retention: Duration,
        configured: &std::collections::HashSet<String>,
    ) -> Result<usize>;

    /// How many alerts wait for delivery, and why the oldest has not gone out.
    fn backlog(&self) -> Result<Backlog>;

    /// Copies the WAL into the main file (done at a clean shutdown, so the file alone is
    /// complete for backups).
    fn checkpoint(&self) -> Result<()>;

    /// Number of stored check results (for tests and the benchmark).
    fn check_count(&self) -> Result<u64>;

    /// Uptime over 24 h and 7 d and latency percentiles over 24 h.
    fn history(&self, endpoint: &str, now: Millis) -> Result<History>;

    /// Past and open incidents of an endpoint, newest first: (started_at, closed_at, failures).
    fn incidents(&self, endpoint: &str) -> Result<Vec<(Millis, Option<Millis>, u32)>>;

    /// Who acknowledged the incident that started at `started_at`.
    fn acks(&self, endpoint: &str, started_at: Millis) -> Result<Vec<Ack>>;

    /// Records feedback on an answer (or an unanswered direct question).
    fn add_feedback(&mut self, f: &model::Feedback) -> Result<()>;

    /// The feedback since `since`, summed up for knowledge authors, `limit` rows of each kind.
    fn gaps(&self, since: Millis, limit: usize) -> Result<model::Gaps>;

    /// Queues an alert command for the scheduler; returns its id.
    fn add_request(&mut self, r: &model::Request) -> Result<i64>;

    /// Alert commands not handled yet, oldest first.
    fn pending_requests(&self) -> Result<Vec<model::Request>>;

    /// Records what became of a request.
    fn finish_request(&mut self, id: i64, at: Millis, result: &model::RequestResult) -> Result<()>;

    /// What became of a request; `None` while it waits.
    fn request_result(&self, id: i64) -> Result<Option<model::RequestResult>>;

    /// Whether this store (this process) holds the scheduler lease.
    fn holds_lease(&self) -> bool;

    /// Whether a live `watch`/`serve` holds the scheduler lease now (it then applies requests).
    fn scheduler_running(&self, now: Millis) -> Result<bool>;

    /// A second, read-only connection for status readers, so they do not wait behind the
    /// writer; `None` when the database cannot be opened twice (in memory).
    fn reader(&self) -> Result<Option<Box<dyn Store>>>;
}

/// A store shared between the monitor, the delivery loop and status readers.
pub type SharedStore = std::sync::Arc<std::sync::Mutex<dyn Store>>;
