//! The result of a check as plain data: stages with their status, timing and knowledge entry,
//! plus the facts learned along the way. Renderers (`render::check`, the Discord embed) turn it
//! into text; nothing here formats for a surface.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize, Serializer};

use crate::knowledge::{Entry, Knowledge};

/// The steps of a check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Dns,
    Tcp,
    Tls,
    Http,
    Credentials,
    RateLimit,
    Format,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Dns,
        Stage::Tcp,
        Stage::Tls,
        Stage::Http,
        Stage::Credentials,
        Stage::RateLimit,
        Stage::Format,
    ];

    /// Machine name, as in JSON and metrics labels: "dns", "rate_limit".
    pub fn key(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Http => "http",
            Stage::Credentials => "credentials",
            Stage::RateLimit => "rate_limit",
            Stage::Format => "format",
        }
    }

    /// Short human name, e.g. "DNS", "rate limit".
    pub fn label(self) -> &'static str {
        match self {
            Stage::Dns => "DNS",
            Stage::Tcp => "TCP",
            Stage::Tls => "TLS",
            Stage::Http => "HTTP",
            Stage::Credentials => "credentials",
            Stage::RateLimit => "rate limit",
            Stage::Format => "format",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Ok,
    Warn,
    Fail,
    /// Not run: an earlier stage failed, or the stage does not apply (TLS for `http://`).
    Skipped,
}

impl StageStatus {
    /// As in JSON: "ok", "warn", "fail", "skipped".
    pub fn key(self) -> &'static str {
        match self {
            StageStatus::Ok => "ok",
            StageStatus::Warn => "warn",
            StageStatus::Fail => "fail",
            StageStatus::Skipped => "skipped",
        }
    }
}

/// The verdict on a whole check: the worst of its stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Ok,
    Warn,
    Fail,
}

impl Overall {
    /// Warnings do not make an endpoint down.
    pub fn is_up(self) -> bool {
        self != Overall::Fail
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Ok => "ok",
            Overall::Warn => "warn",
            Overall::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageResult {
    pub stage: Stage,
    pub status: StageStatus,
    /// Time spent in this stage.
    pub ms: u64,
    /// What happened, for a human; secrets are already redacted.
    pub detail: String,
    /// Id of the knowledge entry whose steps apply, for a warning or failure.
    pub entry: Option<String>,
}

/// The rate-limit figures an answer carried, whichever header family they came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RateLimitFacts {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Seconds until the window resets.
    pub reset: Option<u64>,
    /// Seconds the server asked us to wait (`Retry-After`).
    pub retry_after: Option<u64>,
    /// `RateLimit-Policy`, verbatim (e.g. `100;w=60`).
    pub policy: Option<String>,
}

impl RateLimitFacts {
    pub fn is_empty(&self) -> bool {
        *self == RateLimitFacts::default()
    }
}

/// Everything measured, for the JSON report and for alerts (e.g. certificate expiry).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    pub addresses: Vec<String>,
    /// The address the TCP connection was made to.
    pub connected_to: Option<String>,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    pub cert_subject: Option<String>,
    pub cert_issuer: Option<String>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub cert_not_after: Option<SystemTime>,
    pub cert_days_left: Option<i64>,
    pub cert_fingerprint_sha256: Option<String>,
    pub status_code: Option<u16>,
    pub ttfb_ms: Option<u64>,
    pub content_type: Option<String>,
    pub body_bytes: Option<u64>,
    /// The body was longer than the read cap and was cut.
    pub body_truncated: bool,
    /// `Location` of a redirect that was reported, not followed (redacted).
    pub redirect_to: Option<String>,
    /// First line of the body of an answer with an unexpected status (masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_first_line: Option<String>,
    #[serde(skip_serializing_if = "RateLimitFacts::is_empty")]
    pub rate_limit: RateLimitFacts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub endpoint: String,
    /// The URL checked, with userinfo and secret query values masked.
    pub url: String,
    pub status: Overall,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    pub total_ms: u64,
    pub stages: Vec<StageResult>,
    pub facts: Facts,
    /// What the knowledge steps' placeholders (`{host}`, `{port}`, …) stand for here: this
    /// endpoint's facts, masked.
    #[serde(skip)]
    pub placeholders: crate::knowledge::placeholders::Values,
}

impl CheckReport {
    /// The first failing stage, if any.
    pub fn failing_stage(&self) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.status == StageStatus::Fail)
    }

    pub fn stage(&self, stage: Stage) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// Warnings and failures paired with the knowledge entry whose steps apply, failure first.
    /// Entries missing from `kb` are left out; each entry appears once.
    pub fn guidance(&self, kb: &Knowledge) -> Vec<(StageResult, Arc<Entry>)> {
        let mut out: Vec<(StageResult, Arc<Entry>)> = Vec::new();
        let mut ordered: Vec<&StageResult> = self
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::Fail)
            .collect();
        ordered.extend(self.stages.iter().filter(|s| s.status == StageStatus::Warn));
        for s in ordered {
            let Some(id) = &s.entry else { continue };
            let Some(entry) = kb.get(id) else { continue };
            if out.iter().any(|(_, e)| e.id == entry.id) {
                continue;
            }
            out.push((s.clone(), entry.clone()));
        }
        out
    }

    /// The situation a warning or failure is, in a few words, where the entry's title alone
    /// would overstate it ("TLS certificate expired" for one that expires in 4 days) or say
    /// less than the check saw (the Retry-After of a 503).
    pub fn headline(&self, s: &StageResult) -> Option<String> {
        let f = &self.facts;
        let rl = &f.rate_limit;
        let days = |n: i64| {
            if n.abs() == 1 {
                "1 day".to_string()
            } else {
                format!("{} days", n.abs())
            }
        };
        let resets = rl
            .reset
            .map(|r| {
                format!(
                    ", resets in {}",
                    humantime::format_duration(std::time::Duration::from_secs(r))
                )
            })
            .unwrap_or_default();
        let retry = rl
            .retry_after
            .map(|r| format!(", Retry-After {r} s"))
            .unwrap_or_default();
        match (s.stage, s.status) {
            (Stage::Tls, StageStatus::Warn) => f
                .cert_days_left
                .filter(|d| *d >= 0)
                .map(|d| format!("certificate expires in {} (warning)", days(d))),
            (Stage::Tls, StageStatus::Fail) => f
                .cert_days_left
                .filter(|d| *d < 0)
                .map(|d| format!("certificate expired {} ago", days(d))),
            (Stage::RateLimit, StageStatus::Warn) => match (rl.remaining, rl.limit) {
                (Some(r), Some(l)) => Some(format!("quota low: {r} of {l} left{resets}")),
                _ => None,
            },
            (Stage::RateLimit, StageStatus::Fail) => {
                let what = if s.entry.as_deref() == Some(super::entries::API_QUOTA_EXCEEDED) {
                    "quota exceeded"
                } else {
                    "rate limited (429)"
                };
                Some(format!("{what}{retry}{resets}"))
            }
            (Stage::Format, StageStatus::Fail)
                if s.detail.starts_with("expected JSON, got HTML") =>
            {
                Some("HTML where JSON was expected".into())
            }
            (Stage::Http, StageStatus::Fail) => f
                .status_code
                .map(|c| format!("{}{retry}", super::http::status_text(c))),
            _ => None,
        }
    }

    /// Recomputes [`CheckReport::status`] from the stages.
    pub(crate) fn settle(&mut self) {
        self.status = self
            .stages
            .iter()
            .map(|s| match s.status {
                StageStatus::Fail => Overall::Fail,
                StageStatus::Warn => Overall::Warn,
                _ => Overall::Ok,
            })
            .max()
            .unwrap_or(Overall::Ok);
    }
}

/// `2026-11-26T15:00:00Z`.
pub fn format_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

fn rfc3339_opt<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(*t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(format_time(t), "2026-11-18T11:06:40Z");
        assert_eq!(format_time(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
