//! One check's pass over the stages, hop by hop along redirects: DNS, TCP, TLS, the OAuth2
//! token step, HTTP, then the credentials, rate-limit and format analyses — one function each.

use std::net::IpAddr;

use tokio::net::TcpStream;
use tokio::time::Instant;
use url::{Host, Url};

use super::http::{self, Response};
use super::net::{self, BoxStream};
use super::{
    analyze, entries, format_time, oauth, redirects, Checker, Facts, Failure, Stage, StageResult,
    StageStatus, Verdict, BODY_CAP,
};
use crate::config::{Auth, Endpoint};
use crate::secrets::Redactor;

/// Everything one check carries from stage to stage.
pub(super) struct Pass<'a> {
    pub ep: &'a Endpoint,
    pub deadline: Instant,
    pub run: Run,
    pub redactor: Redactor,
    chain: Chain,
}

impl<'a> Pass<'a> {
    pub(super) fn new(ep: &'a Endpoint, deadline: Instant) -> Pass<'a> {
        Pass {
            ep,
            deadline,
            run: Run {
                stages: Vec::new(),
                facts: Facts::default(),
            },
            redactor: ep.redactor(),
            chain: Chain {
                visited: vec![ep.url.clone()],
                origin_private: None,
            },
        }
    }
}

/// Stages and facts gathered so far.
pub(super) struct Run {
    pub stages: Vec<StageResult>,
    pub facts: Facts,
}

/// The redirects of one check so far.
struct Chain {
    /// The configured URL and every redirect target followed.
    visited: Vec<Url>,
    /// Whether the configured URL is itself a private address (known after its DNS stage).
    origin_private: Option<bool>,
}

/// One request of a check: the configured one, or one along a redirect.
struct Hop {
    url: Url,
    /// Becomes GET after a 303 (or a 301/302 answering a POST).
    method: String,
    /// False once the method became GET: the configured body is not re-sent.
    with_body: bool,
}

/// A connection ready for the request, and where it goes.
struct Connected {
    stream: BoxStream,
    host: String,
    port: u16,
    /// Credentials go only to the configured origin, never along a redirect to another one.
    same_origin: bool,
}

/// What the HTTP stage leaves for the rest of the pass.
enum Answered {
    /// Follow this redirect (its status decides the next method).
    Redirect(Url, u16),
    /// The pass is over: a failure or a redirect that is reported, not followed.
    Stop,
    /// An answer for the analysis stages; `expected` when its status is configured as good.
    Response { resp: Response, expected: bool },
}

/// The OAuth2 token, and how long its request took (counted into the credentials stage).
type Obtained = Option<(oauth::Token, u64)>;

impl Checker {
    pub(super) async fn run(&self, pass: &mut Pass<'_>) {
        let ep = pass.ep;
        let mut hop = Hop {
            url: ep.url.clone(),
            method: ep.method.clone(),
            with_body: true,
        };
        let mut hops = 0u32;
        loop {
            // Each hop is a fresh check of its own URL; only the last one is reported.
            pass.run.stages.clear();
            pass.run.facts = Facts::default();
            let may_follow = hops < ep.follow_redirects;
            let Some((next, status)) = self.run_once(pass, &hop, may_follow).await else {
                break;
            };
            hops += 1;
            // RFC 9110 §15.4: 303 means "GET the other resource"; browsers and curl also turn
            // a POST into a GET on 301/302. 307/308 keep method and body.
            let to_get = (status == 303 && hop.method != "HEAD")
                || (matches!(status, 301 | 302) && hop.method == "POST");
            if to_get {
                hop.method = "GET".into();
                hop.with_body = false;
            }
            hop.url = next;
        }
        if hops > 0 {
            if let Some(h) = pass.run.stages.iter_mut().find(|s| s.stage == Stage::Http) {
                h.detail = format!(
                    "after {hops} redirect(s) to {}: {}",
                    crate::secrets::redact_url(&hop.url, &[]),
                    h.detail
                );
            }
        }
    }

    /// One pass over the stages for `hop`; returns a redirect target to follow and the
    /// redirect's status, if any (only when `may_follow`; otherwise the redirect is reported).
    async fn run_once(
        &self,
        pass: &mut Pass<'_>,
        hop: &Hop,
        may_follow: bool,
    ) -> Option<(Url, u16)> {
        let url = &hop.url;
        let host = url.host()?.to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs = self.dns_stage(pass, &host).await?;
        let tcp = tcp_stage(pass, &addrs, port).await?;
        let stream = self.tls_stage(pass, url, &host, tcp).await?;
        let same_origin = url.origin() == pass.ep.url.origin();
        let token = self.oauth_step(pass, same_origin).await?;
        let conn = Connected {
            stream,
            host: host.to_string(),
            port,
            same_origin,
        };
        let (resp, expected) = match self.http_stage(pass, hop, conn, &token, may_follow).await {
            Answered::Redirect(next, status) => return Some((next, status)),
            Answered::Stop => return None,
            Answered::Response { resp, expected } => (resp, expected),
        };
        self.analysis_stages(pass, &resp, token, expected);
        None
    }

    /// 1. DNS: the host's addresses (an IP literal needs no lookup).
    async fn dns_stage(&self, pass: &mut Pass<'_>, host: &Host<String>) -> Option<Vec<IpAddr>> {
        let t = Instant::now();
        let addrs = match self.addresses(pass.ep, host, pass.deadline).await {
            Ok(ips) => {
                let detail = match host {
                    Host::Domain(name) => {
                        let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
                        format!("{name} → {}", list.join(", "))
                    }
                    _ => format!("{} is an IP address: no lookup needed", net::tls_name(host)),
                };
                pass.run.ok(Stage::Dns, t, detail);
                ips
            }
            Err(f) => return pass.run.fail(Stage::Dns, t, f),
        };
        pass.run.facts.addresses = addrs.iter().map(ToString::to_string).collect();
        if pass.chain.origin_private.is_none() {
            pass.chain.origin_private = Some(redirects::origin_is_private(host, &addrs));
        }
        Some(addrs)
    }

    /// 3. TLS for https:// (with the certificate's dates as facts), skipped for http://.
    async fn tls_stage(
        &self,
        pass: &mut Pass<'_>,
        url: &Url,
        host: &Host<String>,
        tcp: TcpStream,
    ) -> Option<BoxStream> {
        let t = Instant::now();
        if url.scheme() != "https" {
            pass.run.push(
                Stage::Tls,
                StageStatus::Skipped,
                t,
                "plain http:// — no TLS".into(),
                None,
            );
            return Some(Box::new(tcp));
        }
        let ep = pass.ep;
        let cert_warn_days = ep.alert_policy(&self.config.alerts).cert_warn_days;
        let setup = net::TlsSetup::new(ep.tls_ca.as_ref(), self.clock.clone());
        let (result, cert) =
            net::tls(tcp, &net::tls_name(host), &setup, pass.deadline, ep.timeout).await;
        let run = &mut pass.run;
        if let Some(cert) = &cert {
            cert.fill(&mut run.facts, self.clock.now());
        }
        let (stream, info) = match result {
            Ok(ok) => ok,
            Err(f) => return run.fail(Stage::Tls, t, f),
        };
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
                    format!(
                        "{detail} — under the {cert_warn_days}-day warning threshold; renew it"
                    ),
                    Some(entries::TLS_CERTIFICATE_EXPIRED),
                ));
            }
        }
        match warn {
            Some(w) => run.warn(Stage::Tls, t, w),
            None => run.ok(Stage::Tls, t, detail),
        }
        Some(stream)
    }

    /// The OAuth2 token request, its own step before the request that needs the token.
    /// `None` when it failed (recorded as the credentials stage); `Some(None)` when there is
    /// no token to fetch.
    async fn oauth_step(&self, pass: &mut Pass<'_>, same_origin: bool) -> Option<Obtained> {
        let (Some(Auth::OAuth2ClientCredentials { .. }), true) = (&pass.ep.auth, same_origin)
        else {
            return Some(None);
        };
        let t = Instant::now();
        match oauth::fetch_token(self, pass.ep, pass.deadline, &mut pass.redactor).await {
            Ok(tok) => Some(Some((tok, t.elapsed().as_millis() as u64))),
            Err(f) => {
                pass.run.push(
                    Stage::Http,
                    StageStatus::Skipped,
                    t,
                    "not sent: the OAuth2 token request failed".into(),
                    None,
                );
                pass.run.fail(Stage::Credentials, t, f)
            }
        }
    }

    /// 4. HTTP: the request, its status against `expect_status`, redirects, latency.
    async fn http_stage(
        &self,
        pass: &mut Pass<'_>,
        hop: &Hop,
        conn: Connected,
        token: &Obtained,
        may_follow: bool,
    ) -> Answered {
        let t = Instant::now();
        let ep = pass.ep;
        let url = &hop.url;
        let request = http::build(
            ep,
            &http::Target {
                url,
                host: &conn.host,
                port: conn.port,
                method: &hop.method,
                same_origin: conn.same_origin,
                with_body: hop.with_body,
            },
            token.as_ref().map(|(t, _)| t.access_token.as_str()),
        );
        let resp = match http::send(conn.stream, request, pass.deadline, ep.timeout).await {
            Ok(r) => r,
            Err(f) => {
                pass.run.fail::<()>(Stage::Http, t, f);
                return Answered::Stop;
            }
        };
        let status = resp.status;
        let facts = &mut pass.run.facts;
        facts.status_code = Some(status);
        facts.ttfb_ms = Some(resp.ttfb.as_millis() as u64);
        facts.content_type = resp.header("content-type").map(str::to_string);
        facts.body_bytes = Some(resp.body.len() as u64);
        facts.body_truncated = resp.truncated;
        facts.rate_limit = analyze::rate_limit_facts(&resp, self.clock.now(), &pass.redactor);
        let mut summary = format!(
            "{} {} {} in {} ms (first byte {} ms)",
            hop.method,
            url.path(),
            http::status_text(status),
            t.elapsed().as_millis(),
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
            let at = Redirected {
                url,
                status,
                summary: &summary,
                t,
            };
            return self.redirect(pass, &resp, at, may_follow).await;
        }
        // 401/403 and 429 are the credentials and rate-limit stages' to explain.
        let auth_status = matches!(status, 401 | 403) && !expected;
        let limited = status == 429 && !expected;
        if !expected {
            pass.run.facts.body_first_line = analyze::first_line(&resp.body, &pass.redactor);
        }
        if !expected && !auth_status && !limited {
            pass.run.fail::<()>(
                Stage::Http,
                t,
                Failure::new(
                    format!("{summary}; expected {}", ep.expect_status),
                    http::entry_for_status(status),
                ),
            );
            return Answered::Stop;
        }
        match ep.max_latency {
            Some(max) if resp.total > max => pass.run.warn(
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
            _ => pass.run.ok(Stage::Http, t, summary),
        }
        Answered::Response { resp, expected }
    }

    /// A 3xx that is not an expected status: followed when allowed and safe, else reported.
    async fn redirect(
        &self,
        pass: &mut Pass<'_>,
        resp: &Response,
        at: Redirected<'_>,
        may_follow: bool,
    ) -> Answered {
        let Redirected {
            url,
            status,
            summary,
            t,
        } = at;
        let ep = pass.ep;
        // Missing, empty or non-UTF-8 is no target: joining "" would point at this URL.
        let next = resp
            .header("location")
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .and_then(|l| url.join(l).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if let Some(n) = &next {
            add_query_secrets(&mut pass.redactor, n);
        }
        pass.run.facts.redirect_to = next.as_ref().map(|u| crate::secrets::redact_url(u, &[]));
        let Some(next) = next else {
            pass.run.warn(
                Stage::Http,
                t,
                Failure::new(
                    format!("{summary}: redirect with no usable Location header (missing, empty, not UTF-8, or not an http(s) URL)"),
                    Some(entries::GENERAL_TROUBLESHOOTING),
                ),
            );
            return Answered::Stop;
        };
        let shown = pass.run.facts.redirect_to.clone().unwrap_or_default();
        let refused = if may_follow {
            self.refuse_redirect(pass, &next).await
        } else {
            None
        };
        if may_follow && refused.is_none() {
            pass.chain.visited.push(next.clone());
            return Answered::Redirect(next, status);
        }
        let why = if let Some(why) = refused {
            why
        } else if ep.follow_redirects == 0 {
            "not followed (set follow_redirects, or point `url` at the final address)".to_string()
        } else {
            format!(
                "not followed: more than follow_redirects = {} redirects",
                ep.follow_redirects
            )
        };
        pass.run.warn(
            Stage::Http,
            t,
            Failure::new(
                format!("{summary}: redirect to {shown} — {why}"),
                Some(entries::GENERAL_TROUBLESHOOTING),
            ),
        );
        Answered::Stop
    }

    /// 5–7. What the answer says about credentials, rate limits and format; each stage runs
    /// only if the one before did not fail.
    fn analysis_stages(
        &self,
        pass: &mut Pass<'_>,
        resp: &Response,
        token: Obtained,
        expected: bool,
    ) {
        let (ep, run, redactor) = (pass.ep, &mut pass.run, &mut pass.redactor);
        let (token, oauth_ms) = match token {
            Some((tok, ms)) => (Some(tok), ms),
            None => (None, 0),
        };
        let t = Instant::now();
        let cred = analyze::credentials(
            ep,
            resp,
            token.as_ref(),
            self.clock.now(),
            expected,
            redactor,
        );
        run.verdict(
            Stage::Credentials,
            oauth_ms + t.elapsed().as_millis() as u64,
            cred,
        );
        if run.failed() {
            return;
        }
        let t = Instant::now();
        let rl = analyze::rate_limit(&run.facts.rate_limit, resp.status, expected);
        run.verdict(Stage::RateLimit, t.elapsed().as_millis() as u64, rl);
        if run.failed() {
            return;
        }
        let t = Instant::now();
        let fmt = analyze::format(ep, resp, redactor);
        run.verdict(Stage::Format, t.elapsed().as_millis() as u64, fmt);
    }

    /// Why a redirect to `next` is not followed, if it is not: it goes back to a URL of this
    /// chain (a loop), or to a loopback/private/link-local/unique-local address while the
    /// configured URL is not one (a hostile upstream must not make medic fetch, and show a chat
    /// user, an internal service).
    async fn refuse_redirect(&self, pass: &Pass<'_>, next: &Url) -> Option<String> {
        let same = |a: &Url, b: &Url| {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.set_fragment(None);
            b.set_fragment(None);
            a == b
        };
        let chain = &pass.chain;
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
        if pass.ep.allow_private_redirects || chain.origin_private == Some(true) {
            return None;
        }
        // A name that does not resolve is followed: the next hop's DNS stage reports it.
        let addrs = self
            .addresses(pass.ep, &next.host()?.to_owned(), pass.deadline)
            .await
            .ok()?;
        let (ip, kind) = addrs
            .iter()
            .find_map(|ip| redirects::private_kind(*ip).map(|k| (ip, k)))?;
        Some(format!(
            "not followed: the target resolves to {ip}, a {kind} address, and the configured URL is not one (set `allow_private_redirects = true` if this endpoint may redirect there)"
        ))
    }
}

/// Where the HTTP stage met a redirect.
struct Redirected<'a> {
    url: &'a Url,
    status: u16,
    summary: &'a str,
    t: Instant,
}

/// 2. TCP: the first address that accepts.
async fn tcp_stage(pass: &mut Pass<'_>, addrs: &[IpAddr], port: u16) -> Option<TcpStream> {
    let t = Instant::now();
    match net::connect(&net::sockets(addrs, port), pass.deadline).await {
        Ok((stream, to)) => {
            pass.run.facts.connected_to = Some(to.to_string());
            pass.run.ok(Stage::Tcp, t, format!("connected to {to}"));
            Some(stream)
        }
        Err(f) => pass.run.fail(Stage::Tcp, t, f),
    }
}

/// Values of well-known secret query parameters (`token`, `api_key`, …) of a URL.
fn add_query_secrets(redactor: &mut Redactor, url: &Url) {
    for (k, v) in url.query_pairs() {
        if crate::secrets::is_secret_param(&k) {
            redactor.add(&v);
        }
    }
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
    fn fail<T>(&mut self, stage: Stage, t: Instant, f: Failure) -> Option<T> {
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
