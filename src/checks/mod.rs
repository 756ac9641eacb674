//! Checks an endpoint the way an expert would by hand: DNS, TCP, TLS, HTTP, then what the
//! answer says about credentials, rate limits and format — each stage a piece of data with its
//! own timing, and each warning or failure naming the knowledge entry whose steps apply.
//!
//! This module owns running checks ([`Checker`]) and their result ([`CheckReport`]). Stages are
//! explicit steps on one connection, so the failing stage is known, never guessed from an error
//! string (see `stages.rs`). Everything a report says passes through the endpoint's
//! [`Redactor`](crate::secrets::Redactor) first. It does not render (see `render::terminal` and
//! `render::discord`) and does not schedule (see `crate::alerts`).
//!
//! The chat surfaces check by configured name only ([`Checker::check_named`]); checking an
//! arbitrary URL is for the CLI, which builds a throwaway [`Endpoint`] with [`Endpoint::adhoc`].

mod analyze;
mod dns;
pub mod entries;
mod http;
mod net;
mod oauth;
mod redirects;
mod report;
mod stages;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use hickory_resolver::TokioAsyncResolver;
use tokio::time::Instant;
use url::Host;

use crate::config::{Auth, Config, Endpoint};
use crate::knowledge::placeholders::Values;

pub use report::{
    format_time, CheckReport, Facts, Overall, RateLimitFacts, Stage, StageResult, StageStatus,
};

/// The most of a response body medic reads; the rest is never downloaded.
pub const BODY_CAP: usize = 1024 * 1024;

pub use crate::clock::{Clock, FixedClock, SystemClock};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Chat surfaces may only check configured endpoints; this names the closest ones.
    /// `name` is what was asked for when it looks like a name, otherwise [`NOT_A_NAME`]: a URL
    /// or pasted text may carry a secret and is never echoed.
    #[error("{}{}", unknown(.name), suggest(.suggestions))]
    UnknownEndpoint {
        name: String,
        suggestions: Vec<String>,
    },
    /// The endpoint is in the configuration but its table has problems (an unset secret, a
    /// bad value): it cannot be checked until they are fixed. `reason` repeats no secret.
    #[error("endpoint `{name}` is not configured: {reason}")]
    NotConfigured { name: String, reason: String },
}

/// What an unknown endpoint is called when what was asked for is not fit to repeat.
pub const NOT_A_NAME: &str = "(not repeated: that is not a configured endpoint name)";

fn unknown(name: &str) -> String {
    if name == NOT_A_NAME {
        "that is not a configured endpoint name".into()
    } else {
        format!("no endpoint named `{name}`")
    }
}

/// Whether text asked for as an endpoint name may be repeated back: name-like characters
/// only, nothing that makes it a URL or userinfo (`://`, `@`, `?`).
fn echoable_name(text: &str) -> bool {
    !text.is_empty()
        && text.chars().count() <= 80
        && !text.contains("://")
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
}

fn suggest(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!(" (did you mean `{one}`?)"),
        many => format!(
            " (did you mean one of {}?)",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs checks for one configuration. Cheap to share behind an `Arc`; resolvers are built once
/// per DNS server and reused.
pub struct Checker {
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    resolvers: Mutex<HashMap<Option<SocketAddr>, TokioAsyncResolver>>,
}

impl fmt::Debug for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checker")
            .field("endpoints", &self.config.endpoints.len())
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// A stage that did not pass: what happened and which entry helps.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub detail: String,
    pub entry: Option<&'static str>,
}

impl Failure {
    pub(crate) fn new(detail: impl Into<String>, entry: Option<&'static str>) -> Failure {
        Failure {
            detail: detail.into(),
            entry,
        }
    }
}

impl Checker {
    /// A checker using the wall clock and the configuration's concurrency.
    pub fn new(config: Arc<Config>) -> Checker {
        let concurrency = config.checks.concurrency.max(1);
        Checker {
            config,
            clock: Arc::new(SystemClock),
            concurrency,
            resolvers: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the clock (certificate and token expiry, `started_at`, TLS validity).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Checker {
        self.clock = clock;
        self
    }

    /// How many endpoints [`Checker::check_all`] checks at once.
    pub fn with_concurrency(mut self, n: usize) -> Checker {
        self.concurrency = n.max(1);
        self
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn endpoint_names(&self) -> Vec<&str> {
        self.config
            .endpoints
            .iter()
            .map(|e| e.name.as_str())
            .collect()
    }

    /// Checks a configured endpoint by name: the only way chat surfaces start a check.
    pub async fn check_named(&self, name: &str) -> Result<CheckReport, CheckError> {
        let wanted = name.trim();
        if let Some(n) = self.config.not_configured.iter().find(|n| n.name == wanted) {
            if self.config.endpoint(wanted).is_none() {
                return Err(CheckError::NotConfigured {
                    name: n.name.clone(),
                    reason: n.reason(),
                });
            }
        }
        match self.config.endpoint(wanted) {
            Some(e) => Ok(self.check_endpoint(e).await),
            None => Err(CheckError::UnknownEndpoint {
                name: if echoable_name(wanted) {
                    wanted.to_string()
                } else {
                    NOT_A_NAME.to_string()
                },
                suggestions: close_names(wanted, self.endpoint_names()),
            }),
        }
    }

    /// Checks every configured endpoint, at most `concurrency` at once, in configuration order.
    pub async fn check_all(&self) -> Vec<CheckReport> {
        let mut done: Vec<(usize, CheckReport)> = self.check_all_as_done().collect().await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }

    /// Every configured endpoint's report as soon as it is done (with its index in the
    /// configuration), at most `concurrency` checks at once: `check --all` prints each line as
    /// it comes instead of waiting for the slowest endpoint.
    pub fn check_all_as_done(
        &self,
    ) -> impl futures::Stream<Item = (usize, CheckReport)> + Send + '_ {
        // By index: a closure over `&Endpoint` would make the future not `Send` (rust#89976).
        // Unordered, so one slow endpoint does not hold back the start of the others.
        futures::stream::iter(0..self.config.endpoints.len())
            .map(move |i| async move { (i, self.check_endpoint(&self.config.endpoints[i]).await) })
            .buffer_unordered(self.concurrency)
    }

    /// Checks one endpoint; never fails: every problem is a stage of the report.
    pub async fn check_endpoint(&self, ep: &Endpoint) -> CheckReport {
        let started_at = self.clock.now();
        let t0 = Instant::now();
        // `Endpoint` fields are public: a timeout past what `Instant` can hold is capped, not a
        // panic (the config parser already rejects more than `MAX_TIMEOUT`).
        let deadline = t0
            .checked_add(ep.timeout)
            .unwrap_or_else(|| t0 + crate::config::MAX_TIMEOUT);
        let mut pass = stages::Pass::new(ep, deadline);
        self.run(&mut pass).await;
        let stages::Pass {
            mut run, redactor, ..
        } = pass;

        // Stages that never ran are listed as skipped, with the reason.
        let reason = match run.stages.iter().find(|s| s.status == StageStatus::Fail) {
            Some(f) => format!("not run: {} failed", f.stage.label()),
            None => "not run".to_string(),
        };
        for stage in Stage::ALL {
            if run.stages.iter().all(|s| s.stage != stage) {
                run.stages.push(StageResult {
                    stage,
                    status: StageStatus::Skipped,
                    ms: 0,
                    detail: reason.clone(),
                    entry: None,
                });
            }
        }
        run.stages.sort_by_key(|s| s.stage);
        for s in &mut run.stages {
            s.detail = redactor.redact(&s.detail);
        }
        if let Some(r) = &run.facts.redirect_to {
            run.facts.redirect_to = Some(crate::secrets::redact_url_str(r, &redactor));
        }
        // Server-sent text kept as facts is masked like any detail.
        for text in [
            &mut run.facts.content_type,
            &mut run.facts.cert_subject,
            &mut run.facts.cert_issuer,
        ]
        .into_iter()
        .flatten()
        {
            *text = redactor.redact(text);
        }
        let mut report = CheckReport {
            endpoint: ep.name.clone(),
            url: redactor.redact(&ep.display_url()),
            status: Overall::Ok,
            started_at,
            total_ms: t0.elapsed().as_millis() as u64,
            stages: run.stages,
            facts: run.facts,
            placeholders: placeholders(ep),
        };
        report.settle();
        observed_placeholders(&mut report);
        let stages: Vec<(&'static str, &'static str, u64)> = report
            .stages
            .iter()
            .map(|s| (s.stage.key(), s.status.key(), s.ms))
            .collect();
        let result = match report.status {
            Overall::Ok => "ok",
            Overall::Warn => "warn",
            Overall::Fail => "fail",
        };
        crate::metrics::record_check(&report.endpoint, result, &stages);
        tracing::debug!(endpoint = %report.endpoint, status = ?report.status, ms = report.total_ms, "check finished");
        report
    }

    /// A host's addresses: an IP literal as it is, a name through the endpoint's resolver.
    pub(super) async fn addresses(
        &self,
        ep: &Endpoint,
        host: &Host<String>,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, Failure> {
        match host {
            Host::Ipv4(ip) => Ok(vec![IpAddr::V4(*ip)]),
            Host::Ipv6(ip) => Ok(vec![IpAddr::V6(*ip)]),
            Host::Domain(name) => {
                let resolver = self.resolver(ep.resolver);
                dns::resolve(&resolver, name, ep.resolver, deadline, ep.timeout).await
            }
        }
    }

    /// The resolver for a DNS server (`None`: the system's), built on first use.
    fn resolver(&self, server: Option<SocketAddr>) -> TokioAsyncResolver {
        let mut map = self.resolvers.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(server)
            .or_insert_with(|| dns::build_resolver(server))
            .clone()
    }
}

/// Configured names close to what was asked for, best first (at most three).
fn close_names(wanted: &str, names: Vec<&str>) -> Vec<String> {
    let w = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .into_iter()
        .map(|n| {
            let l = n.to_lowercase();
            let mut s = strsim::jaro_winkler(&w, &l);
            if !w.is_empty() && (l.contains(&w) || w.contains(&l)) {
                s = s.max(0.9);
            }
            // Short names: one typo is close even when Jaro-Winkler says otherwise.
            if strsim::levenshtein(&w, &l) <= (l.chars().count() / 4).max(1) {
                s = s.max(0.85);
            }
            (s, n)
        })
        .filter(|(s, _)| *s >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// What an analysis stage concluded.
pub(crate) enum Verdict {
    Ok(String),
    Warn(Failure),
    Fail(Failure),
    Skipped(String),
}

/// Time left before `deadline`, for messages ("no answer within 5s").
pub(crate) fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// What the knowledge placeholders stand for at `ep`: where it is and how it authenticates,
/// naming environment variables, never their values.
pub fn placeholders(ep: &Endpoint) -> Values {
    let mut v = Values::default();
    let host = ep.url.host_str().unwrap_or("").trim_matches(['[', ']']);
    v.set("host", host);
    if let Some(port) = ep.url.port_or_known_default() {
        v.set("port", port.to_string());
    }
    v.set("url", ep.display_url());
    v.set("method", ep.method.clone());
    v.set("path", ep.url.path());
    v.set("endpoint", ep.name.clone());
    let (header, env) = match &ep.auth {
        Some(Auth::Bearer { token_env, .. }) => {
            (format!("Authorization: Bearer ${token_env}"), token_env.clone())
        }
        Some(Auth::Basic {
            user_env,
            password_env,
            ..
        }) => (
            format!("Authorization: Basic $(printf '%s:%s' \"${user_env}\" \"${password_env}\" | base64)"),
            password_env.clone(),
        ),
        Some(Auth::Header {
            name, value_env, ..
        }) => (format!("{name}: ${value_env}"), value_env.clone()),
        Some(Auth::Query { value_env, .. }) => {
            ("Accept: */*".to_string(), value_env.clone())
        }
        Some(Auth::OAuth2ClientCredentials {
            client_secret_env, ..
        }) => (
            "Authorization: Bearer $ACCESS_TOKEN".to_string(),
            client_secret_env.clone(),
        ),
        None => ("Accept: */*".to_string(), "TOKEN".to_string()),
    };
    v.set("auth_header", header);
    v.set("secret_env", env);
    v
}

/// Adds what the check saw (status, Retry-After, certificate expiry) to its placeholders.
fn observed_placeholders(report: &mut CheckReport) {
    let f = &report.facts;
    let mut extra = Vec::new();
    if let Some(s) = f.status_code {
        extra.push(("status", s.to_string()));
    }
    if let Some(s) = f.rate_limit.retry_after {
        extra.push(("retry_after", s.to_string()));
    }
    if let Some(t) = f.cert_not_after {
        extra.push(("cert_not_after", format_time(t)));
    }
    for (k, v) in extra {
        report.placeholders.set(k, v);
    }
}
