//! The incident state machine: observations and the time in, alerts out. No I/O, no clock of its
//! own, so every rule (thresholds, reminders, acknowledgements, silences, warnings once per
//! incident) is tested by feeding it checks and times.
//!
//! The whole state of an endpoint is an [`EndpointState`], serializable so the store can keep it
//! and a restart can continue an open incident instead of announcing it again.

use std::collections::{BTreeSet, HashMap};

use super::{
    Ack, Alert, AlertKind, Cause, Change, EndpointState, Facts, GoodCheck, Incident, Millis,
    Observation, Policy, Silence,
};
use crate::checks::Overall;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    NoIncident,
    AlreadyAcknowledged(Ack),
    /// The alert belongs to an incident that is over; a newer one is open.
    DifferentIncident,
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::NoIncident => f.write_str("no open incident"),
            AckError::AlreadyAcknowledged(a) => write!(f, "already acknowledged by {}", a.by),
            AckError::DifferentIncident => f.write_str("this alert's incident is over"),
        }
    }
}

/// Incident state for every endpoint, plus the active silences.
#[derive(Debug, Default)]
pub struct Engine {
    states: HashMap<String, EndpointState>,
    silences: HashMap<String, Silence>,
    policies: HashMap<String, Policy>,
    default_policy: Policy,
    /// Endpoints whose state changed since the last [`Engine::take_dirty`].
    dirty: BTreeSet<String>,
    /// Silences that ended (expired or lifted) since the last [`Engine::take_ended_silences`].
    ended: Vec<(Silence, Millis)>,
    /// Ticks leave alone endpoints not checked since this time: after a restart, their stored
    /// state is stale, and their first check decides (no reminder or silence summary before it).
    fresh_from: Millis,
}

impl Engine {
    pub fn new(default_policy: Policy) -> Engine {
        Engine {
            default_policy,
            ..Engine::default()
        }
    }

    /// Continues from stored state (after a restart).
    pub fn restore(
        default_policy: Policy,
        states: impl IntoIterator<Item = (String, EndpointState)>,
        silences: impl IntoIterator<Item = Silence>,
    ) -> Engine {
        let mut engine = Engine::new(default_policy);
        engine.states = states.into_iter().collect();
        engine.silences = silences
            .into_iter()
            .map(|s| (s.endpoint.clone(), s))
            .collect();
        engine
    }

    /// Makes [`Engine::tick`] skip endpoints whose last check is older than `at` (the start of
    /// this process), until they are checked again.
    pub fn wait_for_checks_since(&mut self, at: Millis) {
        self.fresh_from = at;
    }

    /// Whether the stored state of `endpoint` is recent enough for a tick to act on.
    fn fresh(&self, endpoint: &str) -> bool {
        match self.states.get(endpoint) {
            Some(st) => st.last_check.is_some_and(|at| at >= self.fresh_from),
            // Nothing stored: nothing stale to announce.
            None => true,
        }
    }

    /// Takes an endpoint over from another instance: its state and silence as that one
    /// committed them.
    pub fn adopt(
        &mut self,
        endpoint: &str,
        state: Option<EndpointState>,
        silence: Option<Silence>,
    ) {
        self.put_state(endpoint, state);
        match silence {
            Some(s) => self.silences.insert(endpoint.to_string(), s),
            None => self.silences.remove(endpoint),
        };
        self.dirty.remove(endpoint);
    }

    /// Drops an endpoint another instance owns now (nothing of it is written from here).
    pub fn forget(&mut self, endpoint: &str) {
        self.states.remove(endpoint);
        self.silences.remove(endpoint);
        self.dirty.remove(endpoint);
        self.ended.retain(|(s, _)| s.endpoint != endpoint);
    }

    /// Puts back a state saved before a change that could not be stored.
    pub fn put_state(&mut self, endpoint: &str, state: Option<EndpointState>) {
        match state {
            Some(state) => self.states.insert(endpoint.to_string(), state),
            None => self.states.remove(endpoint),
        };
    }

    /// Marks endpoints whose state must still be saved (after a failed save).
    pub fn mark_dirty(&mut self, endpoints: impl IntoIterator<Item = String>) {
        self.dirty.extend(endpoints);
    }

    /// Silences whose end must still be saved (after a failed save).
    pub fn keep_ended_silences(&mut self, ended: Vec<(Silence, Millis)>) {
        let later = std::mem::replace(&mut self.ended, ended);
        self.ended.extend(later);
    }

    pub fn set_policy(&mut self, endpoint: &str, policy: Policy) {
        self.policies.insert(endpoint.to_string(), policy);
    }

    pub fn policy(&self, endpoint: &str) -> Policy {
        self.policies
            .get(endpoint)
            .copied()
            .unwrap_or(self.default_policy)
    }

    pub fn state(&self, endpoint: &str) -> Option<&EndpointState> {
        self.states.get(endpoint)
    }

    pub fn states(&self) -> impl Iterator<Item = (&String, &EndpointState)> {
        self.states.iter()
    }

    pub fn silence_of(&self, endpoint: &str) -> Option<&Silence> {
        self.silences.get(endpoint)
    }

    pub fn silences(&self) -> impl Iterator<Item = &Silence> {
        self.silences.values()
    }

    /// Endpoints whose state must be saved.
    pub fn take_dirty(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// Silences that ended, with the time they ended.
    pub fn take_ended_silences(&mut self) -> Vec<(Silence, Millis)> {
        std::mem::take(&mut self.ended)
    }

    fn silenced(&self, endpoint: &str, now: Millis) -> bool {
        self.silences.get(endpoint).is_some_and(|s| now < s.until)
    }

    /// Feeds one check result; returns the alerts to send (already held back if silenced).
    pub fn observe(&mut self, endpoint: &str, obs: &Observation) -> Vec<Alert> {
        let policy = self.policy(endpoint);
        let now = obs.at;
        // A silence that expired since the last tick ends here. Before a failure, so its summary
        // comes first; after a good check, so that a recovery is not preceded by a stale
        // "silence ended" DOWN.
        let expired = self.silences.get(endpoint).is_some_and(|s| now >= s.until);
        let mut alerts = if expired && !obs.health.is_up() {
            self.end_silence(endpoint, now)
        } else {
            Vec::new()
        };
        let silenced = self.silenced(endpoint, now);
        self.dirty.insert(endpoint.to_string());
        let st = self.states.entry(endpoint.to_string()).or_default();
        st.last_check = Some(now);
        st.last_health = Some(obs.health);

        if obs.health.is_up() {
            if st.consecutive_successes == 0 {
                st.up_since = Some(now);
            }
            st.consecutive_successes += 1;
            st.consecutive_failures = 0;
            st.failing_since = None;
            let close = st.incident.is_some()
                && st.consecutive_successes >= policy.success_threshold.max(1);
            if close {
                let incident = st.incident.take().expect("checked above");
                if incident.announced {
                    let mut a = Alert::new(AlertKind::Recovered, endpoint, now);
                    a.since = Some(incident.started_at);
                    a.failures = incident.failures;
                    // Down from the first failed check to the first good one of this streak.
                    let up = st.up_since.unwrap_or(now);
                    a.downtime_ms = Some((up - incident.started_at).max(0));
                    a.cause.stage = incident.cause.stage.clone();
                    a.cause.detail = incident.cause.detail.clone();
                    a.check = Some(obs.facts.clone());
                    a.check_at = Some(now);
                    if silenced {
                        st.held_recovery = Some(a);
                    } else {
                        alerts.push(a);
                    }
                }
            }
            if st.incident.is_none() {
                st.last_good = Some(GoodCheck {
                    at: now,
                    facts: obs.facts.clone(),
                });
            }
            // A good check without a warning clears it, so it can be raised again later.
            let current: BTreeSet<String> =
                warnings_of(obs, &policy).into_iter().map(|w| w.0).collect();
            st.warned.retain(|k| current.contains(k));
        } else {
            if st.consecutive_failures == 0 {
                st.failing_since = Some(now);
            }
            st.consecutive_failures += 1;
            st.consecutive_successes = 0;
            st.up_since = None;
            match &mut st.incident {
                Some(incident) => {
                    incident.failures += 1;
                    incident.cause = obs.cause.clone();
                }
                None if st.consecutive_failures >= policy.failure_threshold.max(1) => {
                    let started_at = st.failing_since.unwrap_or(now);
                    let mut incident = Incident {
                        started_at,
                        failures: st.consecutive_failures,
                        cause: obs.cause.clone(),
                        announced: false,
                        last_alert_at: None,
                        reminders: 0,
                        ack: None,
                    };
                    // A recovery still held by a silence is superseded by the new incident.
                    st.held_recovery = None;
                    if !silenced {
                        incident.announced = true;
                        incident.last_alert_at = Some(now);
                        alerts.push(down_alert(
                            endpoint,
                            &incident,
                            st.last_good.as_ref(),
                            obs,
                            None,
                        ));
                    }
                    st.incident = Some(incident);
                }
                None => {}
            }
        }

        // Warnings: once per incident (until a good check clears them), never while silenced.
        for (key, detail, entry) in warnings_of(obs, &policy) {
            // Not recorded while silenced, so that it is raised once the silence ends.
            if !silenced && st.warned.insert(key.clone()) {
                let mut a = Alert::new(AlertKind::Warning, endpoint, now);
                a.cause = Cause {
                    stage: Some(key),
                    detail: Some(detail),
                    entry,
                };
                a.check = Some(obs.facts.clone());
                a.check_at = Some(now);
                alerts.push(a);
            }
        }

        if expired && obs.health.is_up() {
            alerts.extend(self.end_silence(endpoint, now));
        }
        alerts.extend(self.due(endpoint, now));
        alerts
    }

    /// Time passing without checks: reminders that are due and silences that expired.
    pub fn tick(&mut self, now: Millis) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let expired: Vec<String> = self
            .silences
            .values()
            .filter(|s| now >= s.until && self.fresh(&s.endpoint))
            .map(|s| s.endpoint.clone())
            .collect();
        for endpoint in expired {
            alerts.extend(self.end_silence(&endpoint, now));
        }
        let mut names: Vec<String> = self
            .states
            .iter()
            .filter(|(n, s)| s.incident.is_some() && self.fresh(n))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        for endpoint in names {
            alerts.extend(self.due(&endpoint, now));
        }
        alerts
    }

    /// A reminder for `endpoint` if one is due now.
    fn due(&mut self, endpoint: &str, now: Millis) -> Vec<Alert> {
        let policy = self.policy(endpoint);
        if policy.remind_every.is_zero() || self.silenced(endpoint, now) {
            return Vec::new();
        }
        let every = policy.remind_every.as_millis() as Millis;
        let Some(st) = self.states.get_mut(endpoint) else {
            return Vec::new();
        };
        let Some(incident) = &mut st.incident else {
            return Vec::new();
        };
        if !incident.announced || incident.ack.is_some() {
            return Vec::new();
        }
        let last = incident.last_alert_at.unwrap_or(incident.started_at);
        if now - last < every {
            return Vec::new();
        }
        incident.reminders += 1;
        incident.last_alert_at = Some(now);
        self.dirty.insert(endpoint.to_string());
        let mut a = reminder_alert(endpoint, incident, now);
        a.reminder = incident.reminders;
        vec![a]
    }

    /// Stops reminders for the open incident of `endpoint`, if it is the one that started at
    /// `incident` (the `since` of the alert being acknowledged): an old alert's button must not
    /// acknowledge a newer incident.
    pub fn acknowledge(
        &mut self,
        endpoint: &str,
        incident: Millis,
        by: &str,
        now: Millis,
    ) -> Result<Ack, AckError> {
        let Some(open) = self
            .states
            .get_mut(endpoint)
            .and_then(|s| s.incident.as_mut())
        else {
            return Err(AckError::NoIncident);
        };
        if open.started_at != incident {
            return Err(AckError::DifferentIncident);
        }
        if let Some(ack) = &open.ack {
            return Err(AckError::AlreadyAcknowledged(ack.clone()));
        }
        let ack = Ack {
            by: by.to_string(),
            at: now,
        };
        open.ack = Some(ack.clone());
        self.dirty.insert(endpoint.to_string());
        Ok(ack)
    }

    /// Holds alerts for an endpoint until `silence.until`; replaces an existing silence. Returns
    /// the one it replaced.
    pub fn silence(&mut self, silence: Silence) -> Option<Silence> {
        self.dirty.insert(silence.endpoint.clone());
        self.silences.insert(silence.endpoint.clone(), silence)
    }

    /// Lifts a silence early; returns the alert that was held, if the endpoint needs one.
    pub fn unsilence(&mut self, endpoint: &str, now: Millis) -> Option<Vec<Alert>> {
        if !self.silences.contains_key(endpoint) {
            return None;
        }
        let mut alerts = self.end_silence(endpoint, now);
        alerts.extend(self.due(endpoint, now));
        Some(alerts)
    }

    /// At the end of a silence, one alert sums up what was held: DOWN if the incident was never
    /// announced, a REMINDER if it was and is still open, the held RECOVERED if it closed.
    fn end_silence(&mut self, endpoint: &str, now: Millis) -> Vec<Alert> {
        let Some(silence) = self.silences.remove(endpoint) else {
            return Vec::new();
        };
        self.ended.push((silence, now));
        self.dirty.insert(endpoint.to_string());
        let Some(st) = self.states.get_mut(endpoint) else {
            return Vec::new();
        };
        if let Some(incident) = &mut st.incident {
            incident.last_alert_at = Some(now);
            if !incident.announced {
                incident.announced = true;
                let last_good = st.last_good.clone();
                let obs = Observation {
                    at: now,
                    health: Overall::Fail,
                    cause: incident.cause.clone(),
                    warnings: Vec::new(),
                    facts: Facts::default(),
                };
                let mut a = down_alert(
                    endpoint,
                    incident,
                    last_good.as_ref(),
                    &obs,
                    Some("silence ended"),
                );
                a.check = None;
                a.check_at = None;
                a.changes.clear();
                return vec![a];
            }
            let mut a = reminder_alert(endpoint, incident, now);
            a.note = Some("silence ended; still down".to_string());
            return vec![a];
        }
        match st.held_recovery.take() {
            Some(mut a) => {
                a.note = Some("recovered during the silence".to_string());
                vec![a]
            }
            None => Vec::new(),
        }
    }
}

fn down_alert(
    endpoint: &str,
    incident: &Incident,
    last_good: Option<&GoodCheck>,
    obs: &Observation,
    note: Option<&str>,
) -> Alert {
    let mut a = Alert::new(AlertKind::Down, endpoint, obs.at);
    a.since = Some(incident.started_at);
    a.failures = incident.failures;
    a.cause = incident.cause.clone();
    a.check = Some(obs.facts.clone());
    a.check_at = Some(obs.at);
    a.note = note.map(str::to_string);
    if let Some(good) = last_good {
        a.changes = changes(&good.facts, &obs.facts);
    }
    a
}

fn reminder_alert(endpoint: &str, incident: &Incident, now: Millis) -> Alert {
    let mut a = Alert::new(AlertKind::Reminder, endpoint, now);
    a.since = Some(incident.started_at);
    a.failures = incident.failures;
    a.cause = incident.cause.clone();
    a.reminder = incident.reminders;
    a
}

/// The observation's warnings plus a certificate warning derived from the policy's
/// `cert_warn_days`, deduplicated by key.
fn warnings_of(obs: &Observation, policy: &Policy) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<(String, String, Option<String>)> = obs
        .warnings
        .iter()
        .map(|w| (w.key.clone(), w.detail.clone(), w.entry.clone()))
        .collect();
    if let Some(days) = obs.facts.cert_days_left {
        if (0..policy.cert_warn_days as i64).contains(&days) && !out.iter().any(|w| w.0 == "tls") {
            out.push((
                "tls".into(),
                format!("certificate expires in {days} days"),
                Some("tls-certificate-expired".into()),
            ));
        }
    }
    out
}

/// What differs between the last good check and this one.
pub fn changes(before: &Facts, after: &Facts) -> Vec<Change> {
    let mut out = Vec::new();
    if !after.addresses.is_empty() && before.addresses != after.addresses {
        out.push(Change::Addresses {
            before: before.addresses.clone(),
            after: after.addresses.clone(),
        });
    }
    if after.status_code.is_some() && before.status_code != after.status_code {
        out.push(Change::Status {
            before: before.status_code,
            after: after.status_code,
        });
    }
    if after.cert_fingerprint.is_some() && before.cert_fingerprint != after.cert_fingerprint {
        out.push(Change::Certificate {
            before: before.cert_fingerprint.clone(),
            after: after.cert_fingerprint.clone(),
        });
    }
    if let (Some(b), Some(a)) = (before.latency_ms, after.latency_ms) {
        // Only worth mentioning when it moved a lot.
        if a > b.saturating_mul(2) && a - b >= 100 {
            out.push(Change::Latency {
                before_ms: b,
                after_ms: a,
            });
        }
    }
    out
}
