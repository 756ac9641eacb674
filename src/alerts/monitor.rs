//! The monitor owns the [`Engine`] and writes every change it makes to the [`Store`] in one
//! transaction with the alerts it raised, then wakes the delivery loop.
//!
//! It runs as one task fed by [`Event`]s (check results from the scheduler, ticks, and commands
//! from chat surfaces), so the engine never needs a lock.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};

use super::engine::AckError;
use super::owned::Owned;
use super::{
    Ack, Alert, Clock, EndpointState, Engine, Incident, Millis, Observation, Policy, Silence,
};
use crate::knowledge::placeholders::Values;
use crate::knowledge::Knowledge;
use crate::store::model::{Request, RequestKind, RequestResult};
use crate::store::{Commit, History, SharedStore, Store};
use crate::{Error, Result};

/// How many steps of the knowledge entry an alert carries.
pub const TOP_STEPS: usize = 3;

/// How often reminders and silence expiries are looked at between checks.
pub const TICK: Duration = Duration::from_secs(5);
/// Check results arriving within this window are committed together.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
const MAX_BATCH: usize = 500;
/// How often old check results are pruned.
const PRUNE_EVERY: Millis = 3600 * 1000;
/// Check results kept in memory while the database refuses writes; older ones are dropped
/// (their alerts and state are kept: only history rows are lost).
const MAX_UNSAVED_CHECKS: usize = 50_000;

/// Something for the monitor to do.
#[derive(Debug)]
pub enum Event {
    Observed {
        endpoint: String,
        obs: Observation,
    },
    Acknowledge {
        endpoint: String,
        /// Start of the incident the acknowledged alert is about.
        incident: Millis,
        by: String,
        reply: oneshot::Sender<Result<Result<Ack, AckError>>>,
    },
    Silence {
        endpoint: String,
        author: String,
        reason: String,
        duration: Duration,
        reply: oneshot::Sender<Result<Silence>>,
    },
    Unsilence {
        endpoint: String,
        reply: oneshot::Sender<Result<Option<Silence>>>,
    },
}

/// One endpoint as `medic status` and `/endpoints` show it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    pub name: String,
    /// "up", "down", "failing" (below the threshold) or "unknown".
    pub state: &'static str,
    pub since: Option<Millis>,
    pub last_check: Option<Millis>,
    #[serde(flatten)]
    pub history: History,
    pub incident: Option<Incident>,
    pub silence: Option<Silence>,
}

/// The status of `names` (in that order) from what the store holds. Reads history per
/// endpoint: give it its own (read-only) connection, off the async workers.
pub fn status(store: &dyn Store, names: &[String], now: Millis) -> Result<Vec<EndpointStatus>> {
    let states: std::collections::HashMap<String, EndpointState> =
        store.load_states()?.into_iter().collect();
    let silences = store.open_silences()?;
    let mut out = Vec::new();
    for name in names {
        let state = states.get(name).cloned().unwrap_or_default();
        out.push(EndpointStatus {
            name: name.clone(),
            state: state.state_word(),
            since: state.since(),
            last_check: state.last_check,
            history: store.history(name, now)?,
            incident: state.incident.clone(),
            silence: silences
                .iter()
                .find(|s| &s.endpoint == name && s.until > now)
                .cloned(),
        });
    }
    Ok(out)
}

/// A WARNING about an endpoint's place in the configuration (stage `config`).
fn config_warning(endpoint: &str, now: Millis, detail: String) -> Alert {
    let mut a = Alert::new(super::AlertKind::Warning, endpoint, now);
    a.cause.stage = Some("config".into());
    a.cause.detail = Some(detail);
    a
}

/// Closes the open incidents of endpoints that are no longer in the configuration file at all
/// (`configured`: every name it holds, watched or not), with one WARNING each, in one
/// transaction. An endpoint that is only not configured right now (an unset secret) keeps its
/// incident.
pub fn close_removed(
    store: &SharedStore,
    now: Millis,
    configured: &HashSet<String>,
) -> Result<usize> {
    let removed: Vec<(String, EndpointState)> = lock(store)?
        .load_states()?
        .into_iter()
        .filter(|(n, s)| !configured.contains(n) && s.incident.is_some())
        .collect();
    let mut closed: Vec<(String, EndpointState)> = Vec::new();
    let mut alerts = Vec::new();
    for (name, mut state) in removed {
        let Some(incident) = state.incident.take() else {
            continue;
        };
        state.consecutive_failures = 0;
        state.failing_since = None;
        state.up_since = Some(now);
        state.held_recovery = None;
        alerts.push(config_warning(
            &name,
            now,
            format!(
                "removed from the configuration; its incident open since {} is closed",
                crate::clock::rfc3339_ms(incident.started_at)
            ),
        ));
        closed.push((name, state));
    }
    if closed.is_empty() {
        return Ok(0);
    }
    let states: Vec<(&str, &EndpointState)> = closed.iter().map(|(n, s)| (n.as_str(), s)).collect();
    lock(store)?.commit(&Commit {
        checks: Vec::new(),
        states,
        alerts: &alerts,
        ended_silences: &[],
    })?;
    Ok(closed.len())
}

/// Engine + store + knowledge: turns events into committed state and queued alerts.
pub struct Monitor {
    engine: Engine,
    store: SharedStore,
    clock: Arc<dyn Clock>,
    knowledge: Option<Arc<Knowledge>>,
    outbox: Arc<Notify>,
    retention: Duration,
    last_prune: Millis,
    endpoints: HashSet<String>,
    /// Checks and alerts the engine has taken into account but the store has not yet accepted
    /// (a failed commit): written with the next commit, so no alert is ever lost.
    unsaved_checks: Vec<(String, Observation)>,
    unsaved_alerts: Vec<Alert>,
    /// Another process holds the scheduler lease now: this monitor must stop writing.
    lease_lost: bool,
    /// Each endpoint's placeholder values: its masked URL (shown in DOWN and REMINDER) and
    /// what its alerts' steps are filled with.
    placeholders: std::collections::HashMap<String, Values>,
    /// The endpoints this monitor's engine holds and its scheduler checks: all of them, unless
    /// the store is shared by several schedulers (then the ones whose leases are ours).
    owned: Arc<Owned>,
    shared: bool,
}

impl Monitor {
    /// Continues from the store's state for the configured `endpoints` (name, policy).
    pub fn open(
        store: SharedStore,
        clock: Arc<dyn Clock>,
        endpoints: &[(String, Policy)],
        retention: Duration,
        knowledge: Option<Arc<Knowledge>>,
    ) -> Result<Monitor> {
        let names: HashSet<String> = endpoints.iter().map(|(n, _)| n.clone()).collect();
        let owned = Arc::new(Owned::default());
        let (states, silences, shared) = {
            let mut s = lock(&store)?;
            // One engine per SQLite file (a second `watch`/`serve` would double every alert);
            // on a shared store, one engine per endpoint lease.
            s.take_scheduler_lease(clock.now_ms())?;
            let shared = s.shared();
            if shared {
                let mut sorted: Vec<String> = names.iter().cloned().collect();
                sorted.sort();
                owned.set(
                    s.claim_endpoints(&sorted, clock.now_ms())?
                        .into_iter()
                        .collect(),
                );
            }
            (s.load_states()?, s.open_silences()?, shared)
        };
        // Endpoints removed from the config keep their history but raise nothing; those
        // another instance owns are its own.
        let ours = |n: &str| names.contains(n) && owned.owns(n);
        let states = states.into_iter().filter(|(n, _)| ours(n));
        let silences = silences.into_iter().filter(|s| ours(&s.endpoint));
        let mut engine = Engine::restore(Policy::default(), states, silences);
        for (name, policy) in endpoints {
            engine.set_policy(name, *policy);
        }
        // Stored state is from before this start: reminders and silence summaries wait for
        // each endpoint's first check.
        engine.wait_for_checks_since(clock.now_ms());
        Ok(Monitor {
            engine,
            store,
            clock,
            knowledge,
            outbox: Arc::new(Notify::new()),
            retention,
            last_prune: 0,
            endpoints: names,
            unsaved_checks: Vec::new(),
            unsaved_alerts: Vec::new(),
            lease_lost: false,
            placeholders: Default::default(),
            owned,
            shared,
        })
    }

    /// Each endpoint's placeholder values (see [`crate::checks::placeholders`]), for its alerts.
    pub fn with_placeholders(mut self, values: &[(String, Values)]) -> Monitor {
        self.placeholders = values.iter().cloned().collect();
        self
    }

    /// One WARNING per endpoint that is not configured (an unset secret, a bad value), so the
    /// people who get the alerts learn that it is not being watched.
    pub fn announce_not_configured(&mut self, list: &[(String, String)]) -> Result<Vec<Alert>> {
        let now = self.clock.now_ms();
        let alerts = list
            .iter()
            .map(|(name, reason)| {
                config_warning(
                    name,
                    now,
                    format!("not configured, so not watched: {reason}"),
                )
            })
            .collect();
        self.commit(Vec::new(), alerts)
    }

    /// Notified whenever alerts were queued; the delivery loop waits on it.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The endpoints this monitor checks (shared with its scheduler).
    pub fn owned(&self) -> Arc<Owned> {
        self.owned.clone()
    }

    /// On a shared store: renews this instance's leases, adopts the endpoints it gained (their
    /// state and silence as the previous owner committed them) and forgets the ones it lost.
    fn claim(&mut self) -> Result<()> {
        if !self.shared {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let mut names: Vec<String> = self.endpoints.iter().cloned().collect();
        names.sort();
        // Changes not yet written stay with this instance until they are.
        if !self.unsaved_alerts.is_empty() || !self.unsaved_checks.is_empty() {
            lock(&self.store)?.heartbeat(now)?;
            return Ok(());
        }
        let (now_owned, refused) = {
            let mut s = lock(&self.store)?;
            let refused = s.take_refused();
            (s.claim_endpoints(&names, now)?, refused)
        };
        let mut now_owned: HashSet<String> = now_owned.into_iter().collect();
        for r in &refused {
            now_owned.remove(r);
        }
        let before: HashSet<String> = names
            .iter()
            .filter(|n| self.owned.owns(n))
            .cloned()
            .collect();
        let gained: Vec<&String> = now_owned.difference(&before).collect();
        if !gained.is_empty() {
            let (states, silences) = {
                let s = lock(&self.store)?;
                (s.load_states()?, s.open_silences()?)
            };
            let gained: HashSet<&String> = gained.into_iter().collect();
            for name in &gained {
                let state = states
                    .iter()
                    .find(|(n, _)| n == *name)
                    .map(|(_, s)| s.clone());
                let silence = silences.iter().find(|s| &s.endpoint == *name).cloned();
                self.engine.adopt(name, state, silence);
            }
            tracing::info!(
                endpoints = gained.len(),
                "took over endpoints (free or from a stopped instance)"
            );
        }
        let lost: Vec<&String> = before.difference(&now_owned).collect();
        for name in &lost {
            self.engine.forget(name);
        }
        if !lost.is_empty() {
            tracing::info!(
                endpoints = lost.len(),
                "handed endpoints over to other instances"
            );
        }
        self.owned.set(now_owned);
        Ok(())
    }

    /// Whether an alert command about `endpoint` belongs to another instance (shared store).
    fn elsewhere(&self, endpoint: &str) -> bool {
        self.shared && self.endpoints.contains(endpoint) && !self.owned.owns(endpoint)
    }

    /// Queues a command for the instance that owns `endpoint` (it applies it at its next tick).
    fn forward(
        &self,
        kind: RequestKind,
        endpoint: &str,
        author: &str,
        reason: &str,
        duration: Duration,
    ) -> Result<()> {
        let request = Request {
            id: 0,
            kind,
            endpoint: endpoint.to_string(),
            author: author.to_string(),
            reason: reason.to_string(),
            duration_ms: duration.as_millis().min(i64::MAX as u128) as i64,
            created_at: self.clock.now_ms(),
        };
        lock(&self.store)?.add_request(&request)?;
        tracing::info!(
            kind = kind.word(),
            endpoint,
            "alert command forwarded to the instance that owns the endpoint"
        );
        Ok(())
    }

    /// Records a check and queues the alerts it raised. On an error the check and its alerts
    /// stay in memory and are written by the next successful commit.
    pub fn observe(&mut self, endpoint: &str, obs: &Observation) -> Result<Vec<Alert>> {
        if !self.owned.owns(endpoint) {
            return Ok(Vec::new());
        }
        let alerts = self.engine.observe(endpoint, obs);
        self.commit(vec![(endpoint.to_string(), obs.clone())], alerts)
    }

    /// Records several checks in one transaction (far less WAL traffic than one per check).
    pub fn observe_many(&mut self, mut batch: Vec<(String, Observation)>) -> Result<Vec<Alert>> {
        // A check that finished after its endpoint was handed over is the new owner's to make.
        batch.retain(|(endpoint, _)| self.owned.owns(endpoint));
        let mut alerts = Vec::new();
        for (endpoint, obs) in &batch {
            alerts.extend(self.engine.observe(endpoint, obs));
        }
        self.commit(batch, alerts)
    }

    /// Reminders and silence ends that are due (and anything a failed commit left unsaved);
    /// keeps the scheduler lease alive; prunes old history once an hour.
    pub fn tick(&mut self) -> Result<Vec<Alert>> {
        if let Err(e) = self.apply_requests() {
            tracing::warn!(error = %e, "alert commands from other processes could not be read");
        }
        let now = self.clock.now_ms();
        let alerts = self.engine.tick(now);
        let alerts = self.commit(Vec::new(), alerts)?;
        if self.shared {
            self.claim()?;
        } else if !lock(&self.store)?.heartbeat(now)? {
            self.lease_lost = true;
            return Err(Error::Store {
                path: lock(&self.store)?.path().to_string(),
                message: "another medic watch/serve took over this database while this one was \
                          stalled; stopping"
                    .into(),
            });
        }
        if now - self.last_prune >= PRUNE_EVERY {
            self.last_prune = now;
            let removed = lock(&self.store)?.prune(now, self.retention, &self.endpoints)?;
            if removed > 0 {
                tracing::info!(
                    removed,
                    "pruned check results older than the retention period"
                );
            }
        }
        Ok(alerts)
    }

    /// Acknowledges the incident of `endpoint` that started at `incident`. If it cannot be
    /// stored, the acknowledgement is undone, so the person sees an error and may try again.
    pub fn acknowledge(
        &mut self,
        endpoint: &str,
        incident: Millis,
        by: &str,
    ) -> Result<Result<Ack, AckError>> {
        let now = self.clock.now_ms();
        if self.elsewhere(endpoint) {
            self.forward(RequestKind::Ack, endpoint, by, "", Duration::ZERO)?;
            return Ok(Ok(Ack {
                by: by.to_string(),
                at: now,
            }));
        }
        let before = self.engine.state(endpoint).cloned();
        let ack = match self.engine.acknowledge(endpoint, incident, by, now) {
            Ok(ack) => ack,
            Err(e) => return Ok(Err(e)),
        };
        // The state write also records the acknowledgement (same transaction).
        if let Err(e) = self.commit(Vec::new(), Vec::new()) {
            self.engine.put_state(endpoint, before);
            return Err(e);
        }
        Ok(Ok(ack))
    }

    pub fn silence(
        &mut self,
        endpoint: &str,
        author: &str,
        reason: &str,
        duration: Duration,
    ) -> Result<Silence> {
        if !self.endpoints.contains(endpoint) {
            return Err(Error::Usage(format!(
                "no endpoint named {endpoint:?} is configured"
            )));
        }
        let now = self.clock.now_ms();
        let mut silence = Silence {
            id: 0,
            endpoint: endpoint.to_string(),
            author: author.to_string(),
            reason: reason.to_string(),
            from: now,
            until: now + duration.as_millis() as Millis,
        };
        if self.elsewhere(endpoint) {
            self.forward(RequestKind::Silence, endpoint, author, reason, duration)?;
            return Ok(silence);
        }
        silence.id = lock(&self.store)?.insert_silence(&silence)?;
        // The replaced silence (if any) was ended by insert_silence already.
        self.engine.silence(silence.clone());
        self.commit(Vec::new(), Vec::new())?;
        Ok(silence)
    }

    /// Lifts the silence on `endpoint`; returns it, or `None` if there was none.
    pub fn unsilence(&mut self, endpoint: &str) -> Result<Option<Silence>> {
        let now = self.clock.now_ms();
        if self.elsewhere(endpoint) {
            let open = lock(&self.store)?.open_silences()?;
            let Some(silence) = open
                .into_iter()
                .find(|s| s.endpoint == endpoint && s.until > now)
            else {
                return Ok(None);
            };
            self.forward(RequestKind::Unsilence, endpoint, "", "", Duration::ZERO)?;
            return Ok(Some(silence));
        }
        let silence = self.engine.silence_of(endpoint).cloned();
        let Some(alerts) = self.engine.unsilence(endpoint, now) else {
            return Ok(None);
        };
        self.commit(Vec::new(), alerts)?;
        Ok(silence)
    }

    pub fn status(&self) -> Result<Vec<EndpointStatus>> {
        let mut names: Vec<String> = self.endpoints.iter().cloned().collect();
        names.sort();
        status(&*lock(&self.store)?, &names, self.clock.now_ms())
    }

    /// Alerts raised but not yet stored (the database refused the last commit).
    pub fn unsaved_alerts(&self) -> &[Alert] {
        &self.unsaved_alerts
    }

    /// Writes the new checks, every changed state and the new alerts in one transaction,
    /// together with whatever an earlier failed commit left unsaved. Returns the new alerts.
    /// On failure nothing is forgotten: the engine has already moved on (its alerts must not
    /// be raised a second time), so its changes are kept and retried with the next commit.
    fn commit(
        &mut self,
        checks: Vec<(String, Observation)>,
        mut alerts: Vec<Alert>,
    ) -> Result<Vec<Alert>> {
        for a in &mut alerts {
            self.add_steps(a);
        }
        let new_alerts = alerts.len();
        self.unsaved_checks.extend(checks);
        self.unsaved_alerts.extend(alerts);
        let dirty = self.engine.take_dirty();
        let ended = self.engine.take_ended_silences();
        let result = {
            let states: Vec<(&str, &EndpointState)> = dirty
                .iter()
                .filter_map(|n| self.engine.state(n).map(|s| (n.as_str(), s)))
                .collect();
            let checks = self
                .unsaved_checks
                .iter()
                .map(|(e, o)| (e.as_str(), o))
                .collect();
            lock(&self.store).and_then(|mut store| {
                store.commit(&Commit {
                    checks,
                    states,
                    alerts: &self.unsaved_alerts,
                    ended_silences: &ended,
                })
            })
        };
        if let Err(e) = result {
            self.engine.mark_dirty(dirty);
            self.engine.keep_ended_silences(ended);
            if self.unsaved_checks.len() > MAX_UNSAVED_CHECKS {
                let excess = self.unsaved_checks.len() - MAX_UNSAVED_CHECKS;
                self.unsaved_checks.drain(..excess);
            }
            tracing::error!(
                unsaved_alerts = self.unsaved_alerts.len(),
                unsaved_checks = self.unsaved_checks.len(),
                "could not write to the state database, will retry with the next commit: {e}"
            );
            return Err(e);
        }
        self.unsaved_checks.clear();
        let written = std::mem::take(&mut self.unsaved_alerts);
        if !written.is_empty() {
            self.outbox.notify_one();
        }
        for a in &written {
            tracing::info!(kind = a.kind.word(), endpoint = %a.endpoint, id = %a.id, "alert queued");
        }
        let earlier = written.len() - new_alerts;
        Ok(written.into_iter().skip(earlier).collect())
    }

    /// Applies the alert commands other processes queued in the store (`medic ack`, `medic
    /// silence`, …), oldest first, recording each one's result for the process that waits.
    pub fn apply_requests(&mut self) -> Result<usize> {
        let mut pending = lock(&self.store)?.pending_requests()?;
        pending.retain(|r| !self.elsewhere(&r.endpoint));
        for r in &pending {
            let result = match self.apply(r) {
                Ok(message) => RequestResult { ok: true, message },
                Err(e) => RequestResult {
                    ok: false,
                    message: e.to_string(),
                },
            };
            tracing::info!(kind = r.kind.word(), endpoint = %r.endpoint, author = %r.author, ok = result.ok, "alert command applied");
            let now = self.clock.now_ms();
            lock(&self.store)?.finish_request(r.id, now, &result)?;
        }
        Ok(pending.len())
    }

    fn apply(&mut self, r: &Request) -> Result<String> {
        if !self.endpoints.contains(&r.endpoint) {
            return Err(Error::Usage(format!(
                "no watched endpoint is named `{}`",
                crate::text::printable(&r.endpoint)
            )));
        }
        match r.kind {
            RequestKind::Ack => {
                let incident = self
                    .engine
                    .state(&r.endpoint)
                    .and_then(|s| s.incident.as_ref())
                    .map(|i| i.started_at);
                let Some(incident) = incident else {
                    return Err(Error::Usage(format!(
                        "`{}` is not down: nothing to acknowledge",
                        r.endpoint
                    )));
                };
                match self.acknowledge(&r.endpoint, incident, &r.author)? {
                    Ok(_) => Ok(format!(
                        "acknowledged `{}` (down since {}); no more reminders for this incident",
                        r.endpoint,
                        crate::clock::rfc3339_ms(incident)
                    )),
                    Err(e) => Err(Error::Usage(format!("`{}`: {e}", r.endpoint))),
                }
            }
            RequestKind::Silence => {
                let duration = Duration::from_millis(r.duration_ms.max(0) as u64);
                let s = self.silence(&r.endpoint, &r.author, &r.reason, duration)?;
                Ok(format!(
                    "silenced `{}` until {} by {}{}",
                    s.endpoint,
                    crate::clock::rfc3339_ms(s.until),
                    s.author,
                    match s.reason.is_empty() {
                        true => String::new(),
                        false => format!(": {}", s.reason),
                    }
                ))
            }
            RequestKind::Unsilence => match self.unsilence(&r.endpoint)? {
                Some(_) => Ok(format!("lifted the silence on `{}`", r.endpoint)),
                None => Err(Error::Usage(format!("`{}` is not silenced", r.endpoint))),
            },
        }
    }

    /// Gives up the scheduler lease (clean shutdown).
    pub fn release(&self) -> Result<()> {
        lock(&self.store)?.release_scheduler_lease()
    }

    fn add_steps(&self, a: &mut Alert) {
        let values = self.placeholders.get(&a.endpoint);
        let down = matches!(a.kind, super::AlertKind::Down | super::AlertKind::Reminder);
        if down && a.url.is_none() {
            a.url = values.and_then(|v| v.get("url")).map(str::to_string);
        }
        let (Some(kb), Some(id)) = (&self.knowledge, &a.cause.entry) else {
            return;
        };
        if let Some(entry) = kb.get(id) {
            let default = Values::default();
            let values = values.unwrap_or(&default);
            a.steps = entry
                .steps
                .iter()
                .take(TOP_STEPS)
                .map(|s| values.fill(s).into_owned())
                .collect();
        }
    }

    /// Handles events until every sender is gone, ticking every [`TICK`].
    pub async fn run(self, events: mpsc::Receiver<Event>) -> Result<()> {
        self.run_until(events, std::future::pending()).await
    }

    /// Handles events until every sender is gone or `stop` resolves; then handles the events
    /// already queued (the scheduler's last results), writes anything unsaved and gives up the
    /// scheduler lease. An error if another process took the lease over: then it stops at once,
    /// and the checks stop with it (their results have nowhere to go).
    pub async fn run_until(
        mut self,
        mut events: mpsc::Receiver<Event>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(stop);
        let every = lock(&self.store)?
            .renew_every()
            .map_or(TICK, |r| r.min(TICK));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    let Event::Observed { endpoint, obs } = event else {
                        off_async(|| self.handle(event));
                        continue;
                    };
                    // Collect the checks that finish within a short window into one
                    // transaction; anything else ends the batch and is handled after it.
                    let mut batch = vec![(endpoint, obs)];
                    let mut next = None;
                    let window = tokio::time::Instant::now() + BATCH_WINDOW;
                    while batch.len() < MAX_BATCH {
                        match tokio::time::timeout_at(window, events.recv()).await {
                            Ok(Some(Event::Observed { endpoint, obs })) => batch.push((endpoint, obs)),
                            Ok(other) => {
                                next = other;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    // A failure is logged by commit, and retried with the next one.
                    let _ = off_async(|| self.observe_many(batch));
                    if let Some(event) = next {
                        off_async(|| self.handle(event));
                    }
                }
                _ = tick.tick() => {
                    match off_async(|| self.tick()) {
                        Err(e) if self.lease_lost => return Err(e),
                        Err(e) => tracing::error!("{e}"),
                        Ok(_) => {}
                    }
                }
                _ = &mut stop => break,
            }
        }
        let mut last = Vec::new();
        while let Ok(event) = events.try_recv() {
            match event {
                Event::Observed { endpoint, obs } => last.push((endpoint, obs)),
                other => self.handle(other),
            }
        }
        if !last.is_empty() || !self.unsaved_alerts.is_empty() || !self.unsaved_checks.is_empty() {
            let _ = self.observe_many(last);
        }
        if let Err(e) = self.release() {
            tracing::warn!("{e}");
        }
        Ok(())
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Observed { endpoint, obs } => {
                // A failure is logged by commit, and retried with the next one.
                let _ = self.observe(&endpoint, &obs);
            }
            Event::Acknowledge {
                endpoint,
                incident,
                by,
                reply,
            } => {
                let _ = reply.send(self.acknowledge(&endpoint, incident, &by));
            }
            Event::Silence {
                endpoint,
                author,
                reason,
                duration,
                reply,
            } => {
                let _ = reply.send(self.silence(&endpoint, &author, &reason, duration));
            }
            Event::Unsilence { endpoint, reply } => {
                let _ = reply.send(self.unsilence(&endpoint));
            }
        }
    }
}

/// Runs a store call without holding up the async workers: on a multi-thread runtime the worker
/// hands its other tasks (checks, deliveries, commands) to another thread while SQLite waits
/// on a lock held elsewhere; on a single-thread runtime (tests) it simply runs.
pub(crate) fn off_async<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

pub(crate) fn lock<'a>(
    store: &'a Mutex<dyn Store + 'static>,
) -> Result<std::sync::MutexGuard<'a, dyn Store + 'static>> {
    store.lock().map_err(|_| Error::StorePoisoned)
}
