//! The bridge from the configuration and the real [`Checker`] to the scheduler: which endpoints
//! to watch with which policy, and a [`CheckReport`] boiled down to an [`Observation`].

use std::time::Duration;

use super::scheduler::{Probe, Target};
use super::{Cause, Facts, Observation, Policy, Warning};
use crate::checks::{CheckReport, Checker, Stage, StageStatus};
use crate::config::Config;

/// What the alerting needs from `medic.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub targets: Vec<Target>,
    pub policies: Vec<(String, Policy)>,
    pub retention: Duration,
    pub concurrency: usize,
    /// Each endpoint's facts for its alerts: the masked URL and what the knowledge steps'
    /// placeholders stand for.
    pub placeholders: Vec<(String, crate::knowledge::placeholders::Values)>,
    /// Endpoints left out of the configuration and why: announced once when watching starts.
    pub not_configured: Vec<(String, String)>,
    /// Every endpoint name in the configuration file, watched or not; when not empty, open
    /// incidents of endpoints missing from it are closed at start ("removed from the
    /// configuration").
    pub configured: Vec<String>,
}

impl Setup {
    /// Every endpoint with a non-zero interval whose alerts are not disabled
    /// (`alerts = { enabled = false }`), with the `[alerts]` policy and its overrides.
    pub fn from_config(config: &Config) -> Setup {
        let mut targets = Vec::new();
        let mut policies = Vec::new();
        let mut placeholders = Vec::new();
        for ep in config
            .endpoints
            .iter()
            .filter(|e| e.alerts.enabled && !e.interval.is_zero())
        {
            let p = ep.alert_policy(&config.alerts);
            targets.push(Target {
                name: ep.name.clone(),
                interval: ep.interval,
                timeout: ep.timeout,
            });
            policies.push((ep.name.clone(), p));
            placeholders.push((ep.name.clone(), crate::checks::placeholders(ep)));
        }
        Setup {
            targets,
            policies,
            retention: config.alerts.retention,
            concurrency: config.checks.concurrency.max(1),
            placeholders,
            configured: config
                .endpoints
                .iter()
                .map(|e| e.name.clone())
                .chain(config.not_configured.iter().map(|n| n.name.clone()))
                .collect(),
            not_configured: config
                .not_configured
                .iter()
                .map(|n| (n.name.clone(), n.reason()))
                .collect(),
        }
    }
}

impl Probe for Checker {
    async fn probe(&self, target: &Target) -> Observation {
        match self.config().endpoint(&target.name) {
            Some(ep) => observation(&self.check_endpoint(ep).await),
            None => Observation::fail(0, "config", "endpoint is no longer configured"),
        }
    }
}

/// The stage's name as a stable key ("tls", "rate_limit").
fn stage_key(stage: Stage) -> &'static str {
    stage.key()
}

/// A report as the alerting sees it; its texts are already redacted by the checks module.
pub fn observation(report: &CheckReport) -> Observation {
    let health = report.status;
    let failing = report.failing_stage();
    let warnings = report
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Warn)
        .map(|s| Warning {
            key: stage_key(s.stage).to_string(),
            detail: s.detail.clone(),
            entry: s.entry.clone(),
        })
        .collect();
    let f = &report.facts;
    Observation {
        at: 0,
        health,
        cause: Cause {
            stage: failing.map(|s| s.stage.label().to_string()),
            detail: failing.map(|s| s.detail.clone()),
            entry: failing.and_then(|s| s.entry.clone()),
        },
        warnings,
        facts: Facts {
            addresses: f.addresses.clone(),
            status_code: f.status_code,
            cert_fingerprint: f.cert_fingerprint_sha256.clone(),
            cert_days_left: f.cert_days_left,
            latency_ms: Some(report.total_ms),
        },
    }
}
