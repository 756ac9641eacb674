//! The records the store persists: check observations, endpoint state and incidents,
//! silences, acknowledgements and alerts. Plain data, defined here so that the store depends on
//! nothing above it; [`crate::alerts`] decides what they mean.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::checks::Overall;
pub use crate::clock::Millis;

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

/// Why a check failed or warned: the stage, its (redacted) error text, and the knowledge entry
/// whose steps apply. Carried unchanged from the observation to the incident and its alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The failing stage (or, for warnings, the key of what warned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Redacted error text of that stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Knowledge entry whose steps apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// One check of one endpoint, as the scheduler hands it to the engine. Details are already
/// redacted by the checks module: nothing here may hold a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the check started.
    pub at: Millis,
    pub health: Overall,
    /// Why it failed (or, for warnings, what warned).
    #[serde(flatten)]
    pub cause: Cause,
    pub warnings: Vec<Warning>,
    pub facts: Facts,
}

impl Observation {
    /// A good check with the given latency (handy for tests and fakes).
    pub fn ok(at: Millis, latency_ms: u64) -> Observation {
        Observation {
            at,
            health: Overall::Ok,
            cause: Cause::default(),
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
            health: Overall::Fail,
            cause: Cause {
                stage: Some(stage.to_string()),
                detail: Some(detail.to_string()),
                entry: None,
            },
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

/// One fact that differs between the last good check and the failing one, as values; the
/// renderers word it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "lowercase")]
pub enum Change {
    /// The addresses DNS answered.
    Addresses {
        before: Vec<String>,
        after: Vec<String>,
    },
    /// The HTTP status.
    Status {
        before: Option<u16>,
        after: Option<u16>,
    },
    /// The server certificate's SHA-256 fingerprint (hex).
    Certificate {
        before: Option<String>,
        after: Option<String>,
    },
    /// Total check time, when it moved a lot.
    Latency { before_ms: u64, after_ms: u64 },
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
    #[serde(flatten)]
    pub cause: Cause,
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
    /// The endpoint's URL, masked (userinfo and secret query values), for DOWN and REMINDER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Alert {
    pub fn new(kind: AlertKind, endpoint: &str, at: Millis) -> Alert {
        Alert {
            id: new_alert_id(),
            kind,
            endpoint: endpoint.to_string(),
            at,
            since: None,
            failures: 0,
            cause: Cause::default(),
            steps: Vec::new(),
            changes: Vec::new(),
            downtime_ms: None,
            check: None,
            check_at: None,
            reminder: 0,
            note: None,
            url: None,
        }
    }
}

/// 20 random hex digits: unique in practice and within Discord's 25-character nonce limit.
fn new_alert_id() -> String {
    let n: u128 = rand::random();
    format!("{:020x}", n & ((1u128 << 80) - 1))
}

/// An open incident: the endpoint failed `failure_threshold` checks in a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The first failed check of the streak that opened it.
    pub started_at: Millis,
    pub failures: u32,
    /// What the failing check said (the first failure's, updated as the incident goes on).
    #[serde(flatten)]
    pub cause: Cause,
    /// Whether DOWN went out; false while it is held by a silence.
    pub announced: bool,
    /// Last DOWN or REMINDER, for the reminder interval.
    pub last_alert_at: Option<Millis>,
    pub reminders: u32,
    pub ack: Option<Ack>,
}

/// The last good check, to say what changed when the endpoint fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoodCheck {
    pub at: Millis,
    pub facts: Facts,
}

/// Everything the engine remembers about one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointState {
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// First check of the current failure streak.
    pub failing_since: Option<Millis>,
    /// First check of the current success streak ("up since").
    pub up_since: Option<Millis>,
    pub last_check: Option<Millis>,
    pub last_health: Option<Overall>,
    pub last_good: Option<GoodCheck>,
    pub incident: Option<Incident>,
    /// Warning keys already announced; cleared when a good check no longer has them.
    #[serde(default)]
    pub warned: BTreeSet<String>,
    /// A RECOVERED for an announced incident that closed during a silence, posted when it ends.
    #[serde(default)]
    pub held_recovery: Option<Alert>,
}

impl EndpointState {
    /// "up", "down" (open incident), "failing" (below the threshold) or "unknown" (never checked).
    pub fn state_word(&self) -> &'static str {
        if self.incident.is_some() {
            "down"
        } else if self.consecutive_failures > 0 {
            "failing"
        } else if self.last_check.is_some() {
            "up"
        } else {
            "unknown"
        }
    }

    /// Since when the endpoint has been in its current state.
    pub fn since(&self) -> Option<Millis> {
        match &self.incident {
            Some(i) => Some(i.started_at),
            None if self.consecutive_failures > 0 => self.failing_since,
            None => self.up_since,
        }
    }
}

/// What an alert command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Ack,
    Silence,
    Unsilence,
}

impl RequestKind {
    pub fn word(self) -> &'static str {
        match self {
            RequestKind::Ack => "ack",
            RequestKind::Silence => "silence",
            RequestKind::Unsilence => "unsilence",
        }
    }

    pub fn from_word(word: &str) -> Option<RequestKind> {
        match word {
            "ack" => Some(RequestKind::Ack),
            "silence" => Some(RequestKind::Silence),
            "unsilence" => Some(RequestKind::Unsilence),
            _ => None,
        }
    }
}

/// An alert command (`medic ack`, `medic silence`, chat's `/unsilence`…) queued in the state
/// database for the scheduler that holds it: another process cannot change its memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Row id (0 before it is stored).
    pub id: i64,
    pub kind: RequestKind,
    pub endpoint: String,
    /// Who asked: an OS user (`alice (cli)`) or a Discord user.
    pub author: String,
    pub reason: String,
    /// How long a silence lasts.
    pub duration_ms: i64,
    pub created_at: Millis,
}

/// What became of a request: done (with what to tell the person) or refused (and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestResult {
    pub ok: bool,
    pub message: String,
}

/// What a person told medic about an answer, or a direct question medic could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackKind {
    Helpful,
    NotThis,
    /// A mention, DM or `/diagnose` that got no confident answer.
    Unanswered,
}

impl FeedbackKind {
    pub fn word(self) -> &'static str {
        match self {
            FeedbackKind::Helpful => "helpful",
            FeedbackKind::NotThis => "not_this",
            FeedbackKind::Unanswered => "unanswered",
        }
    }
}

/// One feedback row. `text` is already masked of secrets (the asker's words, for knowledge
/// authors reading `medic kb gaps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub at: Millis,
    pub kind: FeedbackKind,
    pub entry: Option<String>,
    pub text: Option<String>,
}

/// What `medic kb gaps` prints: the most frequent unanswered phrasings and the entries most
/// often marked "Not this" (with how often each was marked helpful).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    pub unanswered: Vec<(String, u64)>,
    /// (entry, not this, helpful)
    pub not_this: Vec<(String, u64, u64)>,
}
