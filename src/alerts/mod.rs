//! Scheduled checks and alerts: when to tell people that an endpoint is down, and when not to.
//!
//! This module owns the decision, not the transport: [`engine::Engine`] is a pure state machine
//! (check observations and the current time in, [`Alert`]s out, no I/O), [`scheduler`] runs the
//! checks on their intervals, [`monitor`] glues engine, [`crate::store`] and the outbox together
//! so that state and alerts are committed in one transaction, and [`delivery`] drains the outbox
//! into a [`delivery::Sink`] that a surface provides. Nothing here knows a surface: no
//! rendering, no Discord, no terminal.

pub mod delivery;
pub mod engine;
pub mod monitor;
pub mod probe;
pub mod scheduler;
pub mod service;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use engine::{EndpointState, Engine, Incident};

/// A point in time as milliseconds since the Unix epoch: what the store keeps and clocks return.
pub type Millis = i64;

/// Where "now" comes from, so that tests decide what time it is.
pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

/// Wall-clock time that advances with tokio's clock, so `tokio::time::pause()` and
/// `advance()` move it too.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Millis,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `base` now; must be created inside a tokio runtime.
    pub fn starting_at(base: Millis) -> TokioClock {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Millis {
        self.base + self.start.elapsed().as_millis() as Millis
    }
}

/// A clock that only moves when told to: for tests of the state machine.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: Millis) -> ManualClock {
        ManualClock(AtomicI64::new(at))
    }
    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as Millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// When an endpoint's results turn into alerts; `[alerts]` in medic.toml, overridable per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Consecutive failed checks before an incident opens (and DOWN is sent).
    pub failure_threshold: u32,
    /// Consecutive good checks before an open incident closes (and RECOVERED is sent).
    pub success_threshold: u32,
    /// How often to remind while down and unacknowledged; zero means never.
    pub remind_every: Duration,
    /// A certificate expiring within this many days raises a WARNING.
    pub cert_warn_days: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            failure_threshold: 2,
            success_threshold: 1,
            remind_every: Duration::from_secs(3600),
            cert_warn_days: 14,
        }
    }
}

/// A check's overall outcome as the alerting cares about it: warnings do not make an endpoint down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Warn,
    Fail,
}

impl Health {
    pub fn is_up(self) -> bool {
        self != Health::Fail
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warn => "warn",
            Health::Fail => "fail",
        }
    }
}

/// What a check found out about an endpoint, compared between the last good check and a failure
/// to say "what changed".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<i64>,
    /// Total time of the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// Something worth one WARNING per incident (certificate expiring, quota nearly used).
/// `key` identifies the kind (usually the stage) so that it is raised once, not per check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub key: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// One check of one endpoint, as the scheduler hands it to the engine. Details are already
/// redacted by the checks module: nothing here may hold a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the check started.
    pub at: Millis,
    pub health: Health,
    /// The failing stage (or, for warnings, the stage that warned).
    pub stage: Option<String>,
    /// Redacted error text of that stage.
    pub detail: Option<String>,
    /// Knowledge entry whose steps apply.
    pub entry: Option<String>,
    pub warnings: Vec<Warning>,
    pub facts: Facts,
}

impl Observation {
    /// A good check with the given latency (handy for tests and fakes).
    pub fn ok(at: Millis, latency_ms: u64) -> Observation {
        Observation {
            at,
            health: Health::Ok,
            stage: None,
            detail: None,
            entry: None,
            warnings: Vec::new(),
            facts: Facts {
                latency_ms: Some(latency_ms),
                ..Facts::default()
            },
        }
    }

    /// A failed check at `stage` with a (redacted) error.
    pub fn fail(at: Millis, stage: &str, detail: &str) -> Observation {
        Observation {
            at,
            health: Health::Fail,
            stage: Some(stage.to_string()),
            detail: Some(detail.to_string()),
            entry: None,
            warnings: Vec::new(),
            facts: Facts::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    Down,
    Recovered,
    Reminder,
    Warning,
}

impl AlertKind {
    /// The word that starts an alert's first line, for people and `grep`.
    pub fn word(self) -> &'static str {
        match self {
            AlertKind::Down => "DOWN",
            AlertKind::Recovered => "RECOVERED",
            AlertKind::Reminder => "REMINDER",
            AlertKind::Warning => "WARNING",
        }
    }
}

/// One fact that differs between the last good check and the failing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub what: String,
    pub before: String,
    pub after: String,
}

/// Who acknowledged an incident, and when: stops its reminders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at: Millis,
}

/// Alerts for an endpoint are held until `until` (or until lifted); checks still run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Row id in the store (0 before it is stored).
    pub id: i64,
    pub endpoint: String,
    pub author: String,
    pub reason: String,
    pub from: Millis,
    pub until: Millis,
}

/// A message to people about one endpoint. Data only: renderers turn it into a terminal line or
/// a Discord embed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique id, also the Discord `nonce` (≤ 25 characters) that makes a re-send harmless.
    pub id: String,
    pub kind: AlertKind,
    pub endpoint: String,
    /// When the alert was raised.
    pub at: Millis,
    /// Start of the incident (first failed check of the streak) for DOWN, REMINDER, RECOVERED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// Failed checks in the incident so far.
    #[serde(default)]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The top steps of `entry`, filled in by the monitor from the knowledge catalogue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// RECOVERED: from the first failed check to the first good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<i64>,
    /// The check that caused the alert (for RECOVERED: the one that recovered it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Facts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_at: Option<Millis>,
    /// REMINDER: which one (1 = first).
    #[serde(default)]
    pub reminder: u32,
    /// A short remark such as "silence ended", shown under the headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Alert {
    pub(crate) fn new(kind: AlertKind, endpoint: &str, at: Millis) -> Alert {
        Alert {
            id: new_alert_id(),
            kind,
            endpoint: endpoint.to_string(),
            at,
            since: None,
            failures: 0,
            stage: None,
            detail: None,
            entry: None,
            steps: Vec::new(),
            changes: Vec::new(),
            downtime_ms: None,
            check: None,
            check_at: None,
            reminder: 0,
            note: None,
        }
    }
}

/// 20 random hex digits: unique in practice and within Discord's 25-character nonce limit.
fn new_alert_id() -> String {
    let n: u128 = rand::random();
    format!("{:020x}", n & ((1u128 << 80) - 1))
}
