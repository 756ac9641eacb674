//! Checks an endpoint the way an expert would by hand: DNS, TCP, TLS, HTTP, then what the
//! answer says about credentials, rate limits and format — each stage a piece of data with its
//! own timing, and each warning or failure naming the knowledge entry whose steps apply.
//!
//! This module owns running checks ([`Checker`]) and their result ([`CheckReport`]). Stages are
//! explicit steps on one connection, so the failing stage is known, never guessed from an error
//! string. Everything a report says passes through the endpoint's [`Redactor`] first. It does
//! not render (see `render::check`) and does not schedule (see `crate::alerts`).
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

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use hickory_resolver::TokioAsyncResolver;
use tokio::time::Instant;
use url::{Host, Url};

use crate::config::{Auth, Config, Endpoint};
use crate::secrets::Redactor;

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
    pub fn new(detail: impl Into<String>, entry: Option<&'static str>) -> Failure {
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
        // By index: a closure over `&Endpoint` would make the future not `Send` (rust#89976).
        // Unordered, so one slow endpoint does not hold back the start of the others.
        let mut done: Vec<(usize, CheckReport)> =
            futures::stream::iter(0..self.config.endpoints.len())
                .map(|i| async move { (i, self.check_endpoint(&self.config.endpoints[i]).await) })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
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
        let mut redactor = ep.redactor();
        let mut run = Run {
            stages: Vec::new(),
            facts: Facts::default(),
        };
        self.run(ep, deadline, &mut run, &mut redactor).await;

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
        };
        report.settle();
        tracing::debug!(endpoint = %report.endpoint, status = ?report.status, ms = report.total_ms, "check finished");
        report
    }

    /// The resolver for a DNS server (`None`: the system's), built on first use.
    fn resolver(&self, server: Option<SocketAddr>) -> TokioAsyncResolver {
        let mut map = self.resolvers.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(server)
            .or_insert_with(|| dns::build_resolver(server))
            .clone()
    }

    async fn run(&self, ep: &Endpoint, deadline: Instant, run: &mut Run, redactor: &mut Redactor) {
        let mut hop = Hop {
            url: ep.url.clone(),
            method: ep.method.clone(),
            with_body: true,
        };
        let mut hops = 0u32;
        let mut chain = Chain {
            visited: vec![ep.url.clone()],
            origin_private: None,
        };
        loop {
            // Each hop is a fresh check of its own URL; only the last one is reported.
            run.stages.clear();
            run.facts = Facts::default();
            let may_follow = hops < ep.follow_redirects;
            let outcome = self
                .run_once(ep, &hop, may_follow, &mut chain, deadline, run, redactor)
                .await;
            match outcome {
                Some((next, status)) => {
                    hops += 1;
                    // RFC 9110 §15.4: 303 means "GET the other resource"; browsers and curl
                    // also turn a POST into a GET on 301/302. 307/308 keep method and body.
                    let to_get = (status == 303 && hop.method != "HEAD")
                        || (matches!(status, 301 | 302) && hop.method == "POST");
                    if to_get {
                        hop.method = "GET".into();
                        hop.with_body = false;
                    }
                    hop.url = next;
                }
                _ => break,
            }
        }
        let url = hop.url;
        if hops > 0 {
            if let Some(h) = run.stages.iter_mut().find(|s| s.stage == Stage::Http) {
                h.detail = format!(
                    "after {hops} redirect(s) to {}: {}",
                    crate::secrets::redact_url(&url, &[]),
                    h.detail
                );
            }
        }
    }

    /// One pass over the stages for `hop`; returns a redirect target to follow and the
    /// redirect's status, if any (only when `may_follow`; otherwise the redirect is reported).
    // Eight parameters until it is cut into one function per stage (see the closing note).
    #[allow(clippy::too_many_arguments)]
    async fn run_once(
        &self,
        ep: &Endpoint,
        hop: &Hop,
        may_follow: bool,
        chain: &mut Chain,
        deadline: Instant,
        run: &mut Run,
        redactor: &mut Redactor,
    ) -> Option<(Url, u16)> {
        let url = &hop.url;
        let host = url.host()?.to_owned();
        let port = url.port_or_known_default().unwrap_or(80);

        // 1. DNS
        let t = Instant::now();
        let addrs: Vec<IpAddr> = match &host {
            Host::Ipv4(ip) => {
                run.ok(
                    Stage::Dns,
                    t,
                    format!("{ip} is an IP address: no lookup needed"),
                );
                vec![IpAddr::V4(*ip)]
            }
            Host::Ipv6(ip) => {
                run.ok(
                    Stage::Dns,
                    t,
                    format!("{ip} is an IP address: no lookup needed"),
                );
                vec![IpAddr::V6(*ip)]
            }
            Host::Domain(name) => {
                let resolver = self.resolver(ep.resolver);
                match dns::resolve(&resolver, name, ep.resolver, deadline, ep.timeout).await {
                    Ok(ips) => {
                        let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
                        run.ok(Stage::Dns, t, format!("{name} → {}", list.join(", ")));
                        ips
                    }
                    Err(f) => return run.fail(Stage::Dns, t, f),
                }
            }
        };
        run.facts.addresses = addrs.iter().map(ToString::to_string).collect();
        if chain.origin_private.is_none() {
            chain.origin_private = Some(redirects::origin_is_private(&host, &addrs));
        }

        // 2. TCP
        let t = Instant::now();
        let sockets: Vec<SocketAddr> = addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        let tcp = match net::connect(&sockets, deadline).await {
            Ok((stream, to)) => {
                run.facts.connected_to = Some(to.to_string());
                run.ok(Stage::Tcp, t, format!("connected to {to}"));
                stream
            }
            Err(f) => return run.fail(Stage::Tcp, t, f),
        };

        // 3. TLS
        let t = Instant::now();
        let host_str = host.to_string();
        let host_name = match &host {
            Host::Domain(d) => d.to_string(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        let cert_warn_days = ep.alert_policy(&self.config.alerts).cert_warn_days;
        let stream: net::BoxStream = if url.scheme() == "https" {
            let setup = net::TlsSetup::new(ep.tls_ca.as_ref(), self.clock.clone());
            let (result, cert) = net::tls(tcp, &host_name, &setup, deadline, ep.timeout).await;
            let now = self.clock.now();
            if let Some(cert) = &cert {
                cert.fill(&mut run.facts, now);
            }
            match result {
                Ok((stream, info)) => {
                    run.facts.tls_version = Some(info.version.clone());
                    run.facts.cipher = Some(info.cipher.clone());
                    let mut detail = format!("{}, {}", info.version, info.cipher);
                    let mut warn = None;
                    if let (Some(cert), Some(days)) = (&cert, run.facts.cert_days_left) {
                        detail.push_str(&format!(
                            "; certificate for {} expires {} ({days} days)",
                            cert.names_or_subject(),
                            run.facts
                                .cert_not_after
                                .map(format_time)
                                .unwrap_or_default()
                        ));
                        if days < i64::from(cert_warn_days) {
                            warn = Some(Failure::new(
                                format!("{detail} — under the {cert_warn_days}-day warning threshold; renew it"),
                                Some(entries::TLS_CERTIFICATE_EXPIRED),
                            ));
                        }
                    }
                    match warn {
                        Some(w) => run.warn(Stage::Tls, t, w),
                        None => run.ok(Stage::Tls, t, detail),
                    }
                    stream
                }
                Err(f) => return run.fail(Stage::Tls, t, f),
            }
        } else {
            run.push(
                Stage::Tls,
                StageStatus::Skipped,
                t,
                "plain http:// — no TLS".into(),
                None,
            );
            Box::new(tcp)
        };

        // The OAuth2 token request is its own step, before the request that needs the token.
        let mut oauth_token: Option<oauth::Token> = None;
        let mut oauth_ms = 0;
        // Credentials go only to the configured origin, never along a redirect to another one.
        let same_origin = url.origin() == ep.url.origin();
        if let (Some(Auth::OAuth2ClientCredentials { .. }), true) = (&ep.auth, same_origin) {
            let t = Instant::now();
            match oauth::fetch_token(self, ep, deadline, redactor).await {
                Ok(tok) => {
                    oauth_ms = t.elapsed().as_millis() as u64;
                    oauth_token = Some(tok);
                }
                Err(f) => {
                    run.push(
                        Stage::Http,
                        StageStatus::Skipped,
                        t,
                        "not sent: the OAuth2 token request failed".into(),
                        None,
                    );
                    return run.fail(Stage::Credentials, t, f);
                }
            }
        }

        // 4. HTTP
        let t = Instant::now();
        let request = http::build(
            ep,
            &http::Target {
                url,
                host: &host_str,
                port,
                method: &hop.method,
                same_origin,
                with_body: hop.with_body,
            },
            oauth_token.as_ref().map(|t| t.access_token.as_str()),
        );
        let resp = match http::send(stream, request, deadline, ep.timeout).await {
            Ok(r) => r,
            Err(f) => return run.fail(Stage::Http, t, f),
        };
        let status = resp.status;
        run.facts.status_code = Some(status);
        run.facts.ttfb_ms = Some(resp.ttfb.as_millis() as u64);
        run.facts.content_type = resp.header("content-type").map(str::to_string);
        run.facts.body_bytes = Some(resp.body.len() as u64);
        run.facts.body_truncated = resp.truncated;
        run.facts.rate_limit = analyze::rate_limit_facts(&resp, self.clock.now(), redactor);
        let http_ms = t.elapsed().as_millis() as u64;
        let mut summary = format!(
            "{} {} {} in {} ms (first byte {} ms)",
            hop.method,
            url.path(),
            http::status_text(status),
            http_ms,
            resp.ttfb.as_millis()
        );
        if resp.truncated {
            summary.push_str(&format!(
                "; body cut at the {} KiB read cap",
                BODY_CAP / 1024
            ));
        }
        let expected = ep.expect_status.contains(status);
        if (300..400).contains(&status) && !expected {
            // Missing, empty or non-UTF-8 is no target: joining "" would point at this URL.
            let location = resp
                .header("location")
                .map(str::trim)
                .filter(|l| !l.is_empty());
            let next = location
                .and_then(|l| url.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if let Some(n) = &next {
                add_query_secrets(redactor, n);
            }
            run.facts.redirect_to = next.as_ref().map(|u| crate::secrets::redact_url(u, &[]));
            let Some(next) = next else {
                run.warn(
                    Stage::Http,
                    t,
                    Failure::new(
                        format!("{summary}: redirect with no usable Location header (missing, empty, not UTF-8, or not an http(s) URL)"),
                        Some(entries::GENERAL_TROUBLESHOOTING),
                    ),
                );
                return None;
            };
            let shown = run.facts.redirect_to.clone().unwrap_or_default();
            let refused = if may_follow {
                self.refuse_redirect(ep, &next, chain, deadline).await
            } else {
                None
            };
            if may_follow && refused.is_none() {
                chain.visited.push(next.clone());
                return Some((next, status));
            }
            let why = if let Some(why) = refused {
                why
            } else if ep.follow_redirects == 0 {
                "not followed (set follow_redirects, or point `url` at the final address)"
                    .to_string()
            } else {
                format!(
                    "not followed: more than follow_redirects = {} redirects",
                    ep.follow_redirects
                )
            };
            run.warn(
                Stage::Http,
                t,
                Failure::new(
                    format!("{summary}: redirect to {shown} — {why}"),
                    Some(entries::GENERAL_TROUBLESHOOTING),
                ),
            );
            return None;
        }
        let auth_status = matches!(status, 401 | 403) && !expected;
        let limited = status == 429 && !expected;
        if !expected && !auth_status && !limited {
            return run.fail(
                Stage::Http,
                t,
                Failure::new(
                    format!("{summary}; expected {}", ep.expect_status),
                    http::entry_for_status(status),
                ),
            );
        }
        match ep.max_latency {
            Some(max) if resp.total > max => run.warn(
                Stage::Http,
                t,
                Failure::new(
                    format!(
                        "{summary} — slower than max_latency {}",
                        humantime::format_duration(max)
                    ),
                    Some(entries::NETWORK_TIMEOUT),
                ),
            ),
            _ => run.ok(Stage::Http, t, summary),
        }

        // 5. Credentials
        let t = Instant::now();
        let cred = analyze::credentials(
            ep,
            &resp,
            oauth_token.as_ref(),
            self.clock.now(),
            expected,
            redactor,
        );
        let cred_ms = oauth_ms + t.elapsed().as_millis() as u64;
        run.verdict(Stage::Credentials, cred_ms, cred);
        if run.failed() {
            return None;
        }

        // 6. Rate limit
        let t = Instant::now();
        let rl = analyze::rate_limit(&run.facts.rate_limit, status, expected);
        run.verdict(Stage::RateLimit, t.elapsed().as_millis() as u64, rl);
        if run.failed() {
            return None;
        }

        // 7. Format
        let t = Instant::now();
        let fmt = analyze::format(ep, &resp, redactor);
        run.verdict(Stage::Format, t.elapsed().as_millis() as u64, fmt);
        None
    }
}

impl Checker {
    /// Why a redirect to `next` is not followed, if it is not: it goes back to a URL of this
    /// chain (a loop), or to a loopback/private/link-local/unique-local address while the
    /// configured URL is not one (a hostile upstream must not make medic fetch, and show a chat
    /// user, an internal service).
    async fn refuse_redirect(
        &self,
        ep: &Endpoint,
        next: &Url,
        chain: &Chain,
        deadline: Instant,
    ) -> Option<String> {
        let same = |a: &Url, b: &Url| {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.set_fragment(None);
            b.set_fragment(None);
            a == b
        };
        if chain.visited.iter().any(|u| same(u, next)) {
            let path: Vec<String> = chain
                .visited
                .iter()
                .chain(std::iter::once(next))
                .map(|u| crate::secrets::redact_url(u, &[]))
                .collect();
            return Some(format!(
                "not followed: redirect loop ({}); fix the server's redirect rules or point `url` at the final address",
                path.join(" → ")
            ));
        }
        if ep.allow_private_redirects || chain.origin_private == Some(true) {
            return None;
        }
        let addrs: Vec<IpAddr> = match next.host()? {
            Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            // A name that does not resolve is followed: the next hop's DNS stage reports it.
            Host::Domain(name) => {
                let resolver = self.resolver(ep.resolver);
                dns::resolve(&resolver, name, ep.resolver, deadline, ep.timeout)
                    .await
                    .ok()?
            }
        };
        let (ip, kind) = addrs
            .iter()
            .find_map(|ip| redirects::private_kind(*ip).map(|k| (ip, k)))?;
        Some(format!(
            "not followed: the target resolves to {ip}, a {kind} address, and the configured URL is not one (set `allow_private_redirects = true` if this endpoint may redirect there)"
        ))
    }
}

/// The redirects of one check so far.
struct Chain {
    /// The configured URL and every redirect target followed.
    visited: Vec<Url>,
    /// Whether the configured URL is itself a private address (known after its DNS stage).
    origin_private: Option<bool>,
}

/// Values of well-known secret query parameters (`token`, `api_key`, …) of a URL.
fn add_query_secrets(redactor: &mut Redactor, url: &Url) {
    for (k, v) in url.query_pairs() {
        if crate::secrets::is_secret_param(&k) {
            redactor.add(&v);
        }
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

/// One request of a check: the configured one, or one along a redirect.
struct Hop {
    url: Url,
    /// Becomes GET after a 303 (or a 301/302 answering a POST).
    method: String,
    /// False once the method became GET: the configured body is not re-sent.
    with_body: bool,
}

/// Stages and facts gathered so far.
struct Run {
    stages: Vec<StageResult>,
    facts: Facts,
}

/// What an analysis stage concluded.
pub(crate) enum Verdict {
    Ok(String),
    Warn(Failure),
    Fail(Failure),
    Skipped(String),
}

impl Run {
    fn push(
        &mut self,
        stage: Stage,
        status: StageStatus,
        t: Instant,
        detail: String,
        entry: Option<&'static str>,
    ) {
        self.record(stage, t.elapsed().as_millis() as u64, status, detail, entry);
    }

    fn ok(&mut self, stage: Stage, t: Instant, detail: String) {
        self.push(stage, StageStatus::Ok, t, detail, None);
    }

    fn warn(&mut self, stage: Stage, t: Instant, f: Failure) {
        self.push(stage, StageStatus::Warn, t, f.detail, f.entry);
    }

    /// Records a failure; returns `None` so stages can `return run.fail(..)`.
    fn fail(&mut self, stage: Stage, t: Instant, f: Failure) -> Option<(Url, u16)> {
        self.push(stage, StageStatus::Fail, t, f.detail, f.entry);
        None
    }

    fn verdict(&mut self, stage: Stage, ms: u64, v: Verdict) {
        let (status, detail, entry) = match v {
            Verdict::Ok(d) => (StageStatus::Ok, d, None),
            Verdict::Skipped(d) => (StageStatus::Skipped, d, None),
            Verdict::Warn(f) => (StageStatus::Warn, f.detail, f.entry),
            Verdict::Fail(f) => (StageStatus::Fail, f.detail, f.entry),
        };
        self.record(stage, ms, status, detail, entry);
    }

    /// Every warning and failure names an entry, so a surface always has steps to show.
    fn record(
        &mut self,
        stage: Stage,
        ms: u64,
        status: StageStatus,
        detail: String,
        entry: Option<&'static str>,
    ) {
        let entry = match status {
            StageStatus::Warn | StageStatus::Fail => {
                Some(entry.unwrap_or(entries::GENERAL_TROUBLESHOOTING))
            }
            StageStatus::Ok | StageStatus::Skipped => None,
        };
        self.stages.push(StageResult {
            stage,
            status,
            ms,
            detail,
            entry: entry.map(str::to_string),
        });
    }

    fn failed(&self) -> bool {
        self.stages.iter().any(|s| s.status == StageStatus::Fail)
    }
}

/// Time left before `deadline`, for messages ("no answer within 5s").
pub(crate) fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}
