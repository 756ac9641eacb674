//! The Postgres backend of [`Store`]: state shared by any number of `watch`/`serve` instances.
//!
//! Each instance registers a row in `instances` and renews its heartbeat every tick; an
//! endpoint is owned through its row in `endpoint_leases`, claimed with `FOR UPDATE SKIP
//! LOCKED` and valid while its owner's heartbeat is younger than the lease TTL, so a killed
//! instance's endpoints are free one TTL after its last heartbeat. Every commit re-checks (and
//! locks) the lease of each endpoint it writes in the same transaction, so a stalled instance
//! whose endpoints were taken over cannot write a stale state or raise an alert a second time.
//! Alert delivery claims outbox rows the same way (`claimed_by`), the oldest undelivered alert
//! of each endpoint only, so each endpoint's alerts still go out in order.
//!
//! The client is the synchronous `postgres` crate on a thread of its own: the [`Store`] trait is
//! synchronous and called from async code (under `block_in_place`) and from plain threads, and
//! the crate's own runtime must not be entered from inside another one.

use std::collections::{BTreeSet, HashSet};
use std::sync::mpsc;
use std::time::Duration;

use postgres::{Client, NoTls};

use super::model::{
    Ack, Alert, AlertKind, EndpointState, Feedback, Gaps, Incident, Millis, Request, RequestKind,
    RequestResult, Silence,
};
use super::{rollup, Backlog, Commit, History, OutboxItem, Store};
use crate::checks::Overall;
use crate::{Error, Result};

/// Default lease TTL: three missed heartbeats (one per monitor tick of 5 s).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// Statements and lock waits that take longer than this fail (and are retried by the caller's
/// own policy) instead of stalling the monitor.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The database's own clock in milliseconds: leases are compared on one clock, whichever
/// machines the instances run on.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Serialises migrations of concurrent first starts (`pg_advisory_xact_lock` key).
const MIGRATION_LOCK: i64 = 0x6d65_6469_6301;

/// Schema migrations, applied in order; `medic_schema.version` is the number applied so far.
/// Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE endpoints (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE checks (
        endpoint_id BIGINT NOT NULL,
        at BIGINT NOT NULL,
        health SMALLINT NOT NULL,
        latency_ms BIGINT,
        stage TEXT,
        detail TEXT,
        PRIMARY KEY (endpoint_id, at)
    );
    CREATE TABLE incidents (
        id BIGSERIAL PRIMARY KEY,
        endpoint TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        closed_at BIGINT,
        failures BIGINT NOT NULL,
        stage TEXT,
        detail TEXT,
        announced BOOLEAN NOT NULL,
        UNIQUE (endpoint, started_at)
    );
    CREATE TABLE acknowledgements (
        incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
        by_user TEXT NOT NULL,
        at BIGINT NOT NULL
    );
    CREATE TABLE silences (
        id BIGSERIAL PRIMARY KEY,
        endpoint TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        from_at BIGINT NOT NULL,
        until BIGINT NOT NULL,
        ended_at BIGINT
    );
    CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        endpoint TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        alert TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        delivered_at BIGINT,
        message_id TEXT,
        last_error TEXT,
        dead BOOLEAN NOT NULL DEFAULT false,
        claimed_by TEXT
    );
    CREATE INDEX outbox_pending ON outbox (endpoint, seq) WHERE delivered_at IS NULL AND NOT dead;
    CREATE TABLE requests (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        duration_ms BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        done_at BIGINT,
        ok BOOLEAN,
        result TEXT
    );
    CREATE INDEX requests_pending ON requests (id) WHERE done_at IS NULL;
    CREATE TABLE feedback (
        id BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        entry TEXT,
        text TEXT
    );
    CREATE INDEX feedback_at ON feedback (at);
    CREATE TABLE instances (
        token TEXT PRIMARY KEY,
        pid BIGINT NOT NULL,
        host TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat BIGINT NOT NULL
    );
    -- owner NULL: free. A lease whose owner's heartbeat is older than the TTL is free too.
    CREATE TABLE endpoint_leases (
        endpoint TEXT PRIMARY KEY,
        owner TEXT,
        since BIGINT NOT NULL
    );",
    // 2: check results older than the raw window, rolled up per endpoint and hour.
    "CREATE TABLE rollups (
        endpoint_id BIGINT NOT NULL,
        hour BIGINT NOT NULL,
        checks BIGINT NOT NULL,
        good BIGINT NOT NULL,
        latency TEXT NOT NULL,
        PRIMARY KEY (endpoint_id, hour)
    );",
];

/// Why a call failed, before it is turned into an [`Error`] naming the database.
enum Failure {
    Pg(postgres::Error),
    Other(String),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Failure {
        Failure::Pg(e)
    }
}

type Job = Box<dyn FnOnce(&mut Option<Client>) + Send>;

/// A Postgres database shared by several medic instances.
pub struct PostgresStore {
    /// The URL with its password masked: what errors and logs show.
    shown: String,
    config: postgres::Config,
    jobs: mpsc::Sender<Job>,
    /// This instance's token in `instances`: pid and a random part.
    me: String,
    ttl_ms: i64,
    registered: bool,
    /// Endpoints a commit found owned by another instance, for the next claim to drop.
    refused: Vec<String>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.shown)
            .finish()
    }
}

/// Whether `spec` names a Postgres database rather than a SQLite file.
pub(super) fn is_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// `url` fit for output: the password masked, the URL's password remembered by the redaction
/// gate so that no error or log repeats it.
pub(super) fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if let Some(p) = u.password().filter(|p| !p.is_empty()) {
                crate::redact::remember(&percent_decoded(p));
                crate::redact::remember(p);
                let _ = u.set_password(Some(crate::redact::MASK));
            }
            u.to_string()
        }
        // Unparseable: say so without repeating it (it may hold a password).
        Err(_) => "postgres://(unparseable URL)".into(),
    }
}

/// The password as the server sees it (the URL holds it percent-encoded).
fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The thread that owns the connection; it ends when the returned sender is dropped.
fn spawn_client_thread(shown: &str) -> Result<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("medic-postgres".into())
        .spawn(move || {
            let mut client = None;
            while let Ok(job) = queue.recv() {
                job(&mut client);
            }
        })
        .map_err(|e| store_error(shown, &format!("cannot start its client thread: {e}")))?;
    Ok(jobs)
}

impl PostgresStore {
    /// Connects, creates or migrates the schema. `lease_ttl`: how long an instance's endpoints
    /// stay its own after its last heartbeat.
    pub fn open(url: &str, lease_ttl: Duration) -> Result<PostgresStore> {
        let shown = masked(url);
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            store_error(&shown, &format!("is not a usable Postgres URL: {e}"))
        })?;
        config
            .connect_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .options(&format!(
                "-c statement_timeout={ms} -c lock_timeout={ms}",
                ms = STATEMENT_TIMEOUT.as_millis()
            ));
        if config.get_application_name().is_none() {
            config.application_name("medic");
        }
        let jobs = spawn_client_thread(&shown)?;
        let store = PostgresStore {
            shown,
            config,
            jobs,
            me: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            ttl_ms: lease_ttl.as_millis().max(1000) as i64,
            registered: false,
            refused: Vec::new(),
        };
        store.call(migrate)?;
        Ok(store)
    }

    /// Runs `f` on the client thread (connecting first when there is no open connection) and
    /// waits for its answer.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> std::result::Result<R, Failure> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        let config = self.config.clone();
        let job: Job = Box::new(move |slot: &mut Option<Client>| {
            if slot.as_ref().is_none_or(Client::is_closed) {
                *slot = None;
                match config.connect(NoTls) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => {
                        let _ = tx.send(Err(Failure::Pg(e)));
                        return;
                    }
                }
            }
            let Some(client) = slot.as_mut() else { return };
            let result = f(client);
            let _ = tx.send(result);
        });
        let gone = || store_error(&self.shown, "its client thread stopped");
        self.jobs.send(job).map_err(|_| gone())?;
        match rx.recv().map_err(|_| gone())? {
            Ok(r) => Ok(r),
            Err(Failure::Pg(e)) => Err(pg_error(&self.shown, &e)),
            Err(Failure::Other(m)) => Err(store_error(&self.shown, &m)),
        }
    }

    /// The endpoints this instance owns among `names` now (for tests and diagnostics).
    pub fn owned(&self, names: &[String]) -> Result<Vec<String>> {
        let (me, names) = (self.me.clone(), names.to_vec());
        self.call(move |c| {
            let rows = c.query(
                "SELECT endpoint FROM endpoint_leases WHERE owner = $1 AND endpoint = ANY($2) ORDER BY endpoint",
                &[&me, &names],
            )?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}

fn migrate(c: &mut Client) -> std::result::Result<(), Failure> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS medic_schema (version BIGINT NOT NULL)")?;
    let version: i64 = match tx.query_opt("SELECT version FROM medic_schema", &[])? {
        Some(r) => r.get(0),
        None => {
            tx.execute("INSERT INTO medic_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if version as usize > MIGRATIONS.len() {
        return Err(Failure::Other(format!(
            "schema version {version} is newer than this medic understands ({}); upgrade medic",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.batch_execute(sql)?;
    }
    tx.execute(
        "UPDATE medic_schema SET version = $1",
        &[&(MIGRATIONS.len() as i64)],
    )?;
    tx.commit()?;
    Ok(())
}

/// One check row: endpoint, at, health, latency, stage, detail.
type CheckRow = (
    String,
    Millis,
    i16,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// The owned form of one [`Commit`], sent to the client thread.
struct Rows {
    checks: Vec<CheckRow>,
    states: Vec<(String, String, EndpointState)>,
    alerts: Vec<(Alert, String)>,
    ended: Vec<(i64, Millis)>,
}

impl Rows {
    fn of(c: &Commit<'_>) -> Result<Rows> {
        let json = |e: serde_json::Error| Error::Store {
            path: String::new(),
            message: format!("cannot encode a record: {e}"),
        };
        let checks = c
            .checks
            .iter()
            .map(|(name, obs)| {
                let health = match obs.health {
                    Overall::Ok => 0,
                    Overall::Warn => 1,
                    Overall::Fail => 2,
                };
                let (stage, detail) = match obs.health {
                    Overall::Ok => (None, None),
                    _ => (obs.cause.stage.clone(), obs.cause.detail.clone()),
                };
                let latency = obs.facts.latency_ms.map(|l| l as i64);
                (name.to_string(), obs.at, health, latency, stage, detail)
            })
            .collect();
        let states = c
            .states
            .iter()
            .map(|(n, s)| {
                Ok((
                    n.to_string(),
                    serde_json::to_string(s).map_err(json)?,
                    (*s).clone(),
                ))
            })
            .collect::<Result<_>>()?;
        let alerts = c
            .alerts
            .iter()
            .map(|a| Ok((a.clone(), serde_json::to_string(a).map_err(json)?)))
            .collect::<Result<_>>()?;
        let ended = c.ended_silences.iter().map(|(s, at)| (s.id, *at)).collect();
        Ok(Rows {
            checks,
            states,
            alerts,
            ended,
        })
    }

    fn endpoints(&self) -> BTreeSet<String> {
        let checks = self.checks.iter().map(|c| &c.0);
        let states = self.states.iter().map(|s| &s.0);
        let alerts = self.alerts.iter().map(|a| &a.0.endpoint);
        checks.chain(states).chain(alerts).cloned().collect()
    }
}

/// Claims (or keeps) the lease of `endpoint` for `me` inside `tx` and locks its row until the
/// transaction ends; `false` if a live instance holds it.
fn fence(
    tx: &mut postgres::Transaction<'_>,
    me: &str,
    ttl: i64,
    endpoint: &str,
) -> std::result::Result<bool, Failure> {
    tx.execute(
        &format!("INSERT INTO endpoint_leases (endpoint, owner, since) VALUES ($1, NULL, {NOW_MS}) ON CONFLICT DO NOTHING"),
        &[&endpoint],
    )?;
    let n = tx.execute(
        &format!(
            "UPDATE endpoint_leases l SET owner = $2, since = CASE WHEN l.owner = $2 THEN l.since ELSE {NOW_MS} END
             WHERE l.endpoint = $1 AND (l.owner IS NULL OR l.owner = $2 OR NOT EXISTS
               (SELECT 1 FROM instances i WHERE i.token = l.owner AND i.heartbeat > {NOW_MS} - $3::bigint))"
        ),
        &[&endpoint, &me, &ttl],
    )?;
    Ok(n > 0)
}

fn endpoint_id(
    tx: &mut postgres::Transaction<'_>,
    name: &str,
) -> std::result::Result<i64, Failure> {
    let row = tx.query_one(
        "INSERT INTO endpoints (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        &[&name],
    )?;
    Ok(row.get(0))
}

fn write_incident(
    tx: &mut postgres::Transaction<'_>,
    name: &str,
    state: &EndpointState,
) -> std::result::Result<(), Failure> {
    let open_start = state.incident.as_ref().map(|i| i.started_at);
    let closed_at = state.up_since.or(state.last_check);
    tx.execute(
        "UPDATE incidents SET closed_at = $3 WHERE endpoint = $1 AND closed_at IS NULL AND started_at IS DISTINCT FROM $2",
        &[&name, &open_start, &closed_at],
    )?;
    if let Some(Incident {
        started_at,
        failures,
        cause,
        announced,
        ack,
        ..
    }) = &state.incident
    {
        tx.execute(
            "INSERT INTO incidents (endpoint, started_at, failures, stage, detail, announced) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (endpoint, started_at) DO UPDATE SET failures = $3, stage = $4, detail = $5, announced = $6",
            &[&name, started_at, &i64::from(*failures), &cause.stage, &cause.detail, announced],
        )?;
        if let Some(ack) = ack {
            tx.execute(
                "INSERT INTO acknowledgements (incident_id, by_user, at)
                 SELECT i.id, $3, $4 FROM incidents i WHERE i.endpoint = $1 AND i.started_at = $2
                 AND NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.incident_id = i.id)",
                &[&name, started_at, &ack.by, &ack.at],
            )?;
        }
    }
    Ok(())
}

/// The incident row an alert speaks of, written with it (see the SQLite backend's twin).
fn write_incident_event(
    tx: &mut postgres::Transaction<'_>,
    a: &Alert,
) -> std::result::Result<(), Failure> {
    let Some(since) = a.since else { return Ok(()) };
    if !matches!(a.kind, AlertKind::Down | AlertKind::Recovered) {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO incidents (endpoint, started_at, failures, stage, detail, announced) VALUES ($1, $2, $3, $4, $5, true)
         ON CONFLICT (endpoint, started_at) DO NOTHING",
        &[&a.endpoint, &since, &i64::from(a.failures), &a.cause.stage, &a.cause.detail],
    )?;
    if a.kind == AlertKind::Recovered {
        let closed_at = since + a.downtime_ms.unwrap_or(0);
        tx.execute(
            "UPDATE incidents SET closed_at = $3 WHERE endpoint = $1 AND started_at = $2 AND closed_at IS NULL",
            &[&a.endpoint, &since, &closed_at],
        )?;
    }
    Ok(())
}

/// [`SqliteStore`](super::SqliteStore)'s roll-up, on Postgres: the checks of endpoint `id`
/// from `cutoff` to `raw_cutoff` become hourly rows, then raw checks before the later of the
/// two and roll-ups older than the retention go, in one transaction.
fn roll_up(
    c: &mut Client,
    id: i64,
    cutoff: Millis,
    raw_cutoff: Millis,
) -> std::result::Result<usize, Failure> {
    let mut tx = c.transaction()?;
    if raw_cutoff > cutoff {
        let raw: Vec<(Millis, bool, Option<u64>)> = tx
            .query(
                "SELECT at, health < 2, latency_ms FROM checks WHERE endpoint_id = $1 AND at >= $2 AND at < $3",
                &[&id, &cutoff, &raw_cutoff],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, Option<i64>>(2).map(|l| l.max(0) as u64)))
            .collect();
        for mut r in rollup::roll_up(raw) {
            let old = tx.query_opt(
                "SELECT checks, good, latency FROM rollups WHERE endpoint_id = $1 AND hour = $2 FOR UPDATE",
                &[&id, &r.hour],
            )?;
            if let Some(old) = old {
                r.checks += old.get::<_, i64>(0).max(0) as u64;
                r.good += old.get::<_, i64>(1).max(0) as u64;
                r.latency.merge(&rollup::Histogram::decode(old.get(2)));
            }
            tx.execute(
                "INSERT INTO rollups (endpoint_id, hour, checks, good, latency) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (endpoint_id, hour) DO UPDATE SET checks = $3, good = $4, latency = $5",
                &[&id, &r.hour, &(r.checks as i64), &(r.good as i64), &r.latency.encode()],
            )?;
        }
    }
    let removed = tx.execute(
        "DELETE FROM checks WHERE endpoint_id = $1 AND at < $2",
        &[&id, &raw_cutoff.max(cutoff)],
    )? as usize;
    tx.execute(
        "DELETE FROM rollups WHERE endpoint_id = $1 AND hour < $2",
        &[&id, &(cutoff - rollup::HOUR_MS)],
    )?;
    tx.commit()?;
    Ok(removed)
}

const OUTBOX_COLUMNS: &str =
    "seq, alert, attempts, next_attempt_at, delivered_at, message_id, last_error, dead";

fn outbox_item(r: &postgres::Row) -> std::result::Result<OutboxItem, Failure> {
    let seq: i64 = r.get(0);
    let json: String = r.get(1);
    let alert = serde_json::from_str(&json)
        .map_err(|e| Failure::Other(format!("outbox entry {seq} is unreadable: {e}")))?;
    Ok(OutboxItem {
        seq,
        alert,
        attempts: r.get::<_, i64>(2).clamp(0, u32::MAX as i64) as u32,
        next_attempt_at: r.get(3),
        delivered_at: r.get(4),
        message_id: r.get(5),
        last_error: r.get(6),
        dead: r.get(7),
    })
}

impl Store for PostgresStore {
    fn take_scheduler_lease(&mut self, _now: Millis) -> Result<()> {
        let (me, ttl) = (self.me.clone(), self.ttl_ms);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        self.call(move |c| {
            let pid = i64::from(std::process::id());
            c.execute(
                &format!(
                    "INSERT INTO instances (token, pid, host, started_at, heartbeat) VALUES ($1, $2, $3, {NOW_MS}, {NOW_MS})
                     ON CONFLICT (token) DO UPDATE SET heartbeat = {NOW_MS}"
                ),
                &[&me, &pid, &host],
            )?;
            // Instances dead for many TTLs are only clutter: their leases and claims are free.
            c.execute(
                &format!("DELETE FROM instances WHERE heartbeat < {NOW_MS} - 100 * $1::bigint"),
                &[&ttl],
            )?;
            Ok(())
        })?;
        self.registered = true;
        Ok(())
    }

    fn heartbeat(&mut self, now: Millis) -> Result<bool> {
        if !self.registered {
            return Ok(true);
        }
        // Ownership is per endpoint here: a lapsed heartbeat loses endpoints (dropped by the
        // next claim), never the whole scheduler, so this re-registers if needed.
        self.take_scheduler_lease(now)?;
        Ok(true)
    }

    fn release_scheduler_lease(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.registered) {
            return Ok(());
        }
        let me = self.me.clone();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE endpoint_leases SET owner = NULL WHERE owner = $1",
                &[&me],
            )?;
            tx.execute(
                "UPDATE outbox SET claimed_by = NULL WHERE claimed_by = $1",
                &[&me],
            )?;
            tx.execute("DELETE FROM instances WHERE token = $1", &[&me])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn path(&self) -> &str {
        &self.shown
    }

    fn shared(&self) -> bool {
        true
    }

    fn claim_endpoints(&mut self, names: &[String], now: Millis) -> Result<Vec<String>> {
        self.heartbeat(now)?;
        self.refused.clear();
        let (me, ttl, names) = (self.me.clone(), self.ttl_ms, names.to_vec());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let live: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM instances WHERE heartbeat > {NOW_MS} - $1::bigint"),
                    &[&ttl],
                )?
                .get(0);
            let share = names.len().div_ceil(live.max(1) as usize) as i64;
            tx.execute(
                &format!(
                    "INSERT INTO endpoint_leases (endpoint, owner, since)
                     SELECT n, NULL, {NOW_MS} FROM unnest($1::text[]) n ON CONFLICT DO NOTHING"
                ),
                &[&names],
            )?;
            let mut owned: Vec<String> = tx
                .query(
                    "SELECT endpoint FROM endpoint_leases WHERE owner = $1 AND endpoint = ANY($2) ORDER BY endpoint",
                    &[&me, &names],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let have = owned.len() as i64;
            if have > share && live > 1 {
                // Another instance joined: hand the excess over (it claims them at its tick).
                let excess: Vec<String> = owned.split_off(share as usize);
                tx.execute(
                    "UPDATE endpoint_leases SET owner = NULL WHERE owner = $1 AND endpoint = ANY($2)",
                    &[&me, &excess],
                )?;
            } else if have < share {
                let rows = tx.query(
                    &format!(
                        "UPDATE endpoint_leases SET owner = $1, since = {NOW_MS} WHERE endpoint IN (
                           SELECT l.endpoint FROM endpoint_leases l
                           WHERE l.endpoint = ANY($2) AND (l.owner IS NULL OR NOT EXISTS
                             (SELECT 1 FROM instances i WHERE i.token = l.owner AND i.heartbeat > {NOW_MS} - $3::bigint))
                           ORDER BY l.endpoint LIMIT $4 FOR UPDATE SKIP LOCKED)
                         RETURNING endpoint"
                    ),
                    &[&me, &names, &ttl, &(share - have)],
                )?;
                owned.extend(rows.iter().map(|r| r.get::<_, String>(0)));
                owned.sort();
            }
            tx.commit()?;
            Ok(owned)
        })
    }

    fn endpoints_owned(&self) -> Result<Option<u64>> {
        let me = self.me.clone();
        self.call(move |c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM endpoint_leases WHERE owner = $1",
                    &[&me],
                )?
                .get(0);
            Ok(Some(n as u64))
        })
    }

    fn renew_every(&self) -> Option<Duration> {
        // Five renewals per TTL: a lapse needs several missed ones, and a stopped instance's
        // endpoints are claimed at most a fifth of the TTL after they fall free.
        Some(Duration::from_millis(self.ttl_ms as u64 / 5))
    }

    fn take_refused(&mut self) -> Vec<String> {
        std::mem::take(&mut self.refused)
    }

    fn load_states(&self) -> Result<Vec<(String, EndpointState)>> {
        self.call(|c| {
            let rows = c.query("SELECT name, state FROM endpoints ORDER BY name", &[])?;
            rows.iter()
                .map(|r| {
                    let (name, json): (String, String) = (r.get(0), r.get(1));
                    let state = serde_json::from_str(&json).map_err(|e| {
                        Failure::Other(format!("state of endpoint {name:?} is unreadable: {e}"))
                    })?;
                    Ok((name, state))
                })
                .collect()
        })
    }

    fn open_silences(&self) -> Result<Vec<Silence>> {
        self.call(|c| {
            let rows = c.query(
                "SELECT id, endpoint, author, reason, from_at, until FROM silences WHERE ended_at IS NULL ORDER BY id",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| Silence {
                    id: r.get(0),
                    endpoint: r.get(1),
                    author: r.get(2),
                    reason: r.get(3),
                    from: r.get(4),
                    until: r.get(5),
                })
                .collect())
        })
    }

    fn insert_silence(&mut self, s: &Silence) -> Result<i64> {
        let s = s.clone();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE silences SET ended_at = $2 WHERE endpoint = $1 AND ended_at IS NULL",
                &[&s.endpoint, &s.from],
            )?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO silences (endpoint, author, reason, from_at, until) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&s.endpoint, &s.author, &s.reason, &s.from, &s.until],
                )?
                .get(0);
            tx.commit()?;
            Ok(id)
        })
    }

    fn commit(&mut self, c: &Commit<'_>) -> Result<()> {
        let rows = Rows::of(c)?;
        let (me, ttl) = (self.me.clone(), self.ttl_ms);
        let refused = self.call(move |c| {
            let mut tx = c.transaction()?;
            let mut refused = HashSet::new();
            // In name order, so two instances fencing overlapping sets cannot deadlock.
            for name in rows.endpoints() {
                if !fence(&mut tx, &me, ttl, &name)? {
                    refused.insert(name);
                }
            }
            let ours = |n: &str| !refused.contains(n);
            for (name, at, health, latency, stage, detail) in &rows.checks {
                if !ours(name) {
                    continue;
                }
                let id = endpoint_id(&mut tx, name)?;
                tx.execute(
                    "INSERT INTO checks (endpoint_id, at, health, latency_ms, stage, detail) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (endpoint_id, at) DO UPDATE SET health = $3, latency_ms = $4, stage = $5, detail = $6",
                    &[&id, at, health, latency, stage, detail],
                )?;
            }
            for (name, json, state) in &rows.states {
                if !ours(name) {
                    continue;
                }
                let id = endpoint_id(&mut tx, name)?;
                tx.execute("UPDATE endpoints SET state = $2 WHERE id = $1", &[&id, json])?;
                write_incident(&mut tx, name, state)?;
            }
            for (a, json) in &rows.alerts {
                if !ours(&a.endpoint) {
                    continue;
                }
                tx.execute(
                    "INSERT INTO outbox (id, endpoint, kind, created_at, alert, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $4)
                     ON CONFLICT (id) DO NOTHING",
                    &[&a.id, &a.endpoint, &a.kind.word(), &a.at, json],
                )?;
                write_incident_event(&mut tx, a)?;
            }
            for (id, at) in &rows.ended {
                tx.execute(
                    "UPDATE silences SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
                    &[id, at],
                )?;
            }
            tx.commit()?;
            Ok(refused)
        })?;
        if !refused.is_empty() {
            tracing::warn!(endpoints = ?refused, "another instance owns these endpoints now; this one's results for them were dropped");
        }
        self.refused.extend(refused);
        Ok(())
    }

    fn next_pending(&self) -> Result<Option<OutboxItem>> {
        let (me, ttl) = (self.me.clone(), self.ttl_ms);
        self.call(move |c| {
            let row = c.query_opt(
                &format!(
                    "UPDATE outbox SET claimed_by = $1 WHERE seq = (
                       SELECT o.seq FROM outbox o
                       WHERE o.delivered_at IS NULL AND NOT o.dead
                         AND (o.claimed_by IS NULL OR o.claimed_by = $1 OR NOT EXISTS
                           (SELECT 1 FROM instances i WHERE i.token = o.claimed_by AND i.heartbeat > {NOW_MS} - $2::bigint))
                         AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.endpoint = o.endpoint AND p.seq < o.seq
                           AND p.delivered_at IS NULL AND NOT p.dead)
                       ORDER BY (o.claimed_by IS NOT DISTINCT FROM $1) DESC, o.seq
                       LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING {OUTBOX_COLUMNS}"
                ),
                &[&me, &ttl],
            )?;
            row.as_ref().map(outbox_item).transpose()
        })
    }

    fn outbox(&self) -> Result<Vec<OutboxItem>> {
        self.call(|c| {
            let rows = c.query(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY seq"),
                &[],
            )?;
            rows.iter().map(outbox_item).collect()
        })
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>> {
        let id = id.to_string();
        self.call(move |c| {
            let row = c.query_opt("SELECT alert FROM outbox WHERE id = $1", &[&id])?;
            Ok(row.and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok()))
        })
    }

    fn mark_delivered(&mut self, seq: i64, at: Millis, message_id: Option<&str>) -> Result<()> {
        let message_id = message_id.map(str::to_string);
        self.call(move |c| {
            c.execute(
                "UPDATE outbox SET delivered_at = $2, message_id = $3, attempts = attempts + 1 WHERE seq = $1",
                &[&seq, &at, &message_id],
            )?;
            Ok(())
        })
    }

    fn mark_failed(&mut self, seq: i64, error: &str, retry_at: Option<Millis>) -> Result<()> {
        let error = error.to_string();
        self.call(move |c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                 next_attempt_at = COALESCE($3, next_attempt_at), dead = ($3::bigint IS NULL) WHERE seq = $1",
                &[&seq, &error, &retry_at],
            )?;
            Ok(())
        })
    }

    fn prune(
        &mut self,
        now: Millis,
        retention: Duration,
        configured: &HashSet<String>,
    ) -> Result<usize> {
        let retention = retention.max(Duration::from_secs(3600));
        let cutoff = now - retention.as_millis() as Millis;
        let configured: Vec<String> = configured.iter().cloned().collect();
        self.call(move |c| {
            let raw_cutoff = rollup::raw_cutoff(now);
            let mut removed = 0;
            let ids: Vec<i64> = c.query("SELECT id FROM endpoints", &[])?.iter().map(|r| r.get(0)).collect();
            for id in ids {
                removed += roll_up(c, id, cutoff, raw_cutoff)?;
            }
            let mut tx = c.transaction()?;
            for sql in [
                "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < $1)
                 OR (dead AND created_at < $1)",
                "DELETE FROM incidents WHERE closed_at IS NOT NULL AND closed_at < $1",
                "DELETE FROM silences WHERE ended_at IS NOT NULL AND ended_at < $1",
                "DELETE FROM requests WHERE done_at IS NOT NULL AND done_at < $1",
                "DELETE FROM feedback WHERE at < $1",
            ] {
                removed += tx.execute(sql, &[&cutoff])? as usize;
            }
            // Endpoints gone from the configuration, once their last check is pruned.
            let gone: Vec<String> = tx
                .query(
                    "DELETE FROM endpoints e WHERE NOT (name = ANY($1))
                     AND NOT EXISTS (SELECT 1 FROM checks c WHERE c.endpoint_id = e.id)
                     AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.endpoint_id = e.id) RETURNING name",
                    &[&configured],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            removed += gone.len();
            for sql in [
                "DELETE FROM incidents WHERE endpoint = ANY($1)",
                "DELETE FROM silences WHERE endpoint = ANY($1)",
                "DELETE FROM endpoint_leases WHERE endpoint = ANY($1)",
            ] {
                removed += tx.execute(sql, &[&gone])? as usize;
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    fn backlog(&self) -> Result<Backlog> {
        self.call(|c| {
            let r = c.query_one(
                "SELECT count(*), min(created_at) FROM outbox WHERE delivered_at IS NULL AND NOT dead",
                &[],
            )?;
            let last_error = c
                .query_opt(
                    "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND NOT dead ORDER BY seq LIMIT 1",
                    &[],
                )?
                .and_then(|r| r.get::<_, Option<String>>(0));
            Ok(Backlog {
                pending: r.get::<_, i64>(0) as u64,
                oldest: r.get(1),
                last_error,
            })
        })
    }

    fn checkpoint(&self) -> Result<()> {
        // Postgres makes its own checkpoints; a clean stop needs none.
        Ok(())
    }

    fn check_count(&self) -> Result<u64> {
        self.call(|c| {
            Ok(c.query_one("SELECT count(*) FROM checks", &[])?
                .get::<_, i64>(0) as u64)
        })
    }

    fn history(&self, endpoint: &str, now: Millis) -> Result<History> {
        let endpoint = endpoint.to_string();
        self.call(move |c| {
            let Some(id) = c
                .query_opt("SELECT id FROM endpoints WHERE name = $1", &[&endpoint])?
                .map(|r| r.get::<_, i64>(0))
            else {
                return Ok(History::default());
            };
            let week = now - 7 * 24 * rollup::HOUR_MS;
            let raw: Vec<(Millis, bool, Option<u64>)> = c
                .query(
                    "SELECT at, health < 2, latency_ms FROM checks WHERE endpoint_id = $1 AND at >= $2",
                    &[&id, &week],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get::<_, Option<i64>>(2).map(|l| l.max(0) as u64)))
                .collect();
            let rollups: Vec<rollup::Rollup> = c
                .query(
                    "SELECT hour, checks, good, latency FROM rollups WHERE endpoint_id = $1 AND hour > $2",
                    &[&id, &(week - rollup::HOUR_MS)],
                )?
                .iter()
                .map(|r| rollup::Rollup {
                    hour: r.get(0),
                    checks: r.get::<_, i64>(1).max(0) as u64,
                    good: r.get::<_, i64>(2).max(0) as u64,
                    latency: rollup::Histogram::decode(r.get(3)),
                })
                .collect();
            Ok(rollup::history(now, &raw, &rollups))
        })
    }

    fn incidents(&self, endpoint: &str) -> Result<Vec<(Millis, Option<Millis>, u32)>> {
        let endpoint = endpoint.to_string();
        self.call(move |c| {
            let rows = c.query(
                "SELECT started_at, closed_at, failures FROM incidents WHERE endpoint = $1 ORDER BY started_at DESC",
                &[&endpoint],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2).clamp(0, u32::MAX as i64) as u32))
                .collect())
        })
    }

    fn acks(&self, endpoint: &str, started_at: Millis) -> Result<Vec<Ack>> {
        let endpoint = endpoint.to_string();
        self.call(move |c| {
            let rows = c.query(
                "SELECT a.by_user, a.at FROM acknowledgements a JOIN incidents i ON i.id = a.incident_id
                 WHERE i.endpoint = $1 AND i.started_at = $2 ORDER BY a.at",
                &[&endpoint, &started_at],
            )?;
            Ok(rows.iter().map(|r| Ack { by: r.get(0), at: r.get(1) }).collect())
        })
    }

    fn add_feedback(&mut self, f: &Feedback) -> Result<()> {
        let f = f.clone();
        self.call(move |c| {
            c.execute(
                "INSERT INTO feedback (at, kind, entry, text) VALUES ($1, $2, $3, $4)",
                &[&f.at, &f.kind.word(), &f.entry, &f.text],
            )?;
            Ok(())
        })
    }

    fn gaps(&self, since: Millis, limit: usize) -> Result<Gaps> {
        let limit = limit as i64;
        self.call(move |c| {
            let unanswered = c
                .query(
                    "SELECT lower(trim(text)) AS t, count(*) AS n FROM feedback
                     WHERE kind = 'unanswered' AND at >= $1 AND text IS NOT NULL
                     GROUP BY t ORDER BY n DESC, t LIMIT $2",
                    &[&since, &limit],
                )?
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
                .collect();
            let not_this = c
                .query(
                    "SELECT entry, count(*) FILTER (WHERE kind = 'not_this') AS no,
                            count(*) FILTER (WHERE kind = 'helpful') AS yes FROM feedback
                     WHERE kind IN ('not_this', 'helpful') AND at >= $1 AND entry IS NOT NULL
                     GROUP BY entry HAVING count(*) FILTER (WHERE kind = 'not_this') > 0
                     ORDER BY no DESC, entry LIMIT $2",
                    &[&since, &limit],
                )?
                .iter()
                .map(|r| {
                    (
                        r.get(0),
                        r.get::<_, i64>(1) as u64,
                        r.get::<_, i64>(2) as u64,
                    )
                })
                .collect();
            Ok(Gaps {
                unanswered,
                not_this,
            })
        })
    }

    fn add_request(&mut self, r: &Request) -> Result<i64> {
        let r = r.clone();
        self.call(move |c| {
            Ok(c.query_one(
                "INSERT INTO requests (kind, endpoint, author, reason, duration_ms, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &r.kind.word(),
                    &r.endpoint,
                    &r.author,
                    &r.reason,
                    &r.duration_ms,
                    &r.created_at,
                ],
            )?
            .get(0))
        })
    }

    fn pending_requests(&self) -> Result<Vec<Request>> {
        self.call(|c| {
            let rows = c.query(
                "SELECT id, kind, endpoint, author, reason, duration_ms, created_at
                 FROM requests WHERE done_at IS NULL ORDER BY id",
                &[],
            )?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    // A kind this version does not know (written by a newer medic) waits for it.
                    let kind = RequestKind::from_word(r.get(1))?;
                    Some(Request {
                        id: r.get(0),
                        kind,
                        endpoint: r.get(2),
                        author: r.get(3),
                        reason: r.get(4),
                        duration_ms: r.get(5),
                        created_at: r.get(6),
                    })
                })
                .collect())
        })
    }

    fn finish_request(&mut self, id: i64, at: Millis, result: &RequestResult) -> Result<()> {
        let result = result.clone();
        self.call(move |c| {
            // Only the first instance to finish it records its result.
            c.execute(
                "UPDATE requests SET done_at = $2, ok = $3, result = $4 WHERE id = $1 AND done_at IS NULL",
                &[&id, &at, &result.ok, &result.message],
            )?;
            Ok(())
        })
    }

    fn request_result(&self, id: i64) -> Result<Option<RequestResult>> {
        self.call(move |c| {
            let row = c.query_opt(
                "SELECT ok, result FROM requests WHERE id = $1 AND done_at IS NOT NULL",
                &[&id],
            )?;
            Ok(row.map(|r| RequestResult {
                ok: r.get::<_, Option<bool>>(0).unwrap_or(false),
                message: r.get::<_, Option<String>>(1).unwrap_or_default(),
            }))
        })
    }

    fn holds_lease(&self) -> bool {
        self.registered
    }

    fn scheduler_running(&self, _now: Millis) -> Result<bool> {
        let ttl = self.ttl_ms;
        self.call(move |c| {
            let n: i64 = c
                .query_one(
                    &format!(
                        "SELECT count(*) FROM instances WHERE heartbeat > {NOW_MS} - $1::bigint"
                    ),
                    &[&ttl],
                )?
                .get(0);
            Ok(n > 0)
        })
    }

    fn reader(&self) -> Result<Option<Box<dyn Store>>> {
        let jobs = spawn_client_thread(&self.shown)?;
        Ok(Some(Box::new(PostgresStore {
            shown: self.shown.clone(),
            config: self.config.clone(),
            jobs,
            me: self.me.clone(),
            ttl_ms: self.ttl_ms,
            registered: false,
            refused: Vec::new(),
        })))
    }
}

fn store_error(path: &str, message: &str) -> Error {
    Error::Store {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// Postgres errors as messages that say what to do; the server's text passes the redaction
/// gate (it can quote a connection parameter).
fn pg_error(path: &str, e: &postgres::Error) -> Error {
    let message = if e.is_closed() {
        "the connection was closed; medic reconnects on its next use".to_string()
    } else if let Some(db) = e.as_db_error() {
        format!("{} ({})", db.message(), db.code().code())
    } else {
        match std::error::Error::source(e) {
            Some(inner) => format!("{e}: {inner}"),
            None => e.to_string(),
        }
    };
    store_error(path, &crate::redact::process().redact(&message))
}
