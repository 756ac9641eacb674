//! Endpoint checks against real local servers (127.0.0.1, port 0): every stage's failure modes,
//! the knowledge entry each one names, secret redaction for every auth kind, and the CLI.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use medic::checks::{CheckError, CheckReport, Checker, FixedClock, Overall, Stage, StageStatus};
use medic::config::{Config, Endpoint};
use medic::knowledge::Knowledge;
use support::{
    closed_port, jwt, oauth_token_route, silent_listener, DnsAnswer, DnsServer, HttpServer, Pki,
    Reply,
};

fn config_in(dir: &Path, toml: &str, env: &[(&str, &str)]) -> Arc<Config> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match Config::parse("medic.toml", toml, dir, &env) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("config does not load:\n{e}\n---\n{toml}"),
    }
}

/// Checks the only endpoint of a one-endpoint configuration. Every report it returns is also
/// held to the rule that each warning and failure names an existing knowledge entry.
async fn check_one(toml: &str, env: &[(&str, &str)]) -> CheckReport {
    check_one_with(Checker::new(config_in(Path::new("."), toml, env))).await
}

/// [`check_one`] with a fixed "now" (token and certificate expiry).
async fn check_one_at(toml: &str, env: &[(&str, &str)], now: SystemTime) -> CheckReport {
    let checker =
        Checker::new(config_in(Path::new("."), toml, env)).with_clock(Arc::new(FixedClock(now)));
    check_one_with(checker).await
}

async fn check_one_with(checker: Checker) -> CheckReport {
    let name = checker.config().endpoints[0].name.clone();
    let r = checker.check_named(&name).await.unwrap();
    assert_entries_known(&r);
    r
}

/// The ids of the built-in knowledge entries: the file stems in `knowledge/`.
fn knowledge_ids() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect()
}

/// Every warning and failure names an entry, and that entry exists.
#[track_caller]
fn assert_entries_known(r: &CheckReport) {
    let ids = knowledge_ids();
    for s in &r.stages {
        match s.status {
            StageStatus::Warn | StageStatus::Fail => {
                let entry = s.entry.as_deref().unwrap_or("(none)");
                assert!(
                    ids.iter().any(|id| id == entry),
                    "{:?} {:?} names entry `{entry}`, which is not in knowledge/: {s:#?}",
                    s.stage,
                    s.status
                );
            }
            StageStatus::Ok | StageStatus::Skipped => {}
        }
    }
}

fn endpoint(url: &str, extra: &str) -> String {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    format!("[[endpoints]]\nname = \"t\"\nurl = \"{url}\"\n{timeout}{extra}\n")
}

#[track_caller]
fn expect(r: &CheckReport, stage: Stage, status: StageStatus, entry: Option<&str>) {
    let s = r.stage(stage).unwrap();
    assert_eq!(
        (s.status, s.entry.as_deref()),
        (status, entry),
        "stage {stage:?}: {s:#?}\nreport: {r:#?}"
    );
    if status == StageStatus::Fail {
        assert_eq!(r.status, Overall::Fail);
        // After a failure every later stage is skipped.
        for later in r.stages.iter().filter(|x| x.stage > stage) {
            assert_eq!(later.status, StageStatus::Skipped, "{later:?}");
        }
    }
}

fn detail(r: &CheckReport, stage: Stage) -> &str {
    &r.stage(stage).unwrap().detail
}

// ---------------------------------------------------------------- HTTP statuses

#[tokio::test]
async fn ok_endpoint_passes_every_stage_with_timings_and_facts() {
    let s = HttpServer::start().await;
    s.route(
        "/health",
        Reply::json(200, r#"{"status":"ok","data":{"db":"up"}}"#),
    );
    let r = check_one(
        &endpoint(&s.url("/health"), "expect_content_type = \"application/json\"\nexpect_json_pointers = [\"/data/db\"]\nbody_contains = \"ok\""),
        &[],
    )
    .await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    let stages: Vec<Stage> = r.stages.iter().map(|s| s.stage).collect();
    assert_eq!(stages, Stage::ALL.to_vec());
    expect(&r, Stage::Dns, StageStatus::Ok, None);
    expect(&r, Stage::Tls, StageStatus::Skipped, None);
    expect(&r, Stage::Format, StageStatus::Ok, None);
    assert_eq!(r.facts.status_code, Some(200));
    assert_eq!(r.facts.addresses, vec!["127.0.0.1"]);
    assert!(r.facts.ttfb_ms.is_some());
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["stages"][3]["stage"], "http");
    assert!(json["stages"][3]["ms"].is_u64());
    assert_eq!(
        s.requests()[0]
            .header("user-agent")
            .map(|u| u.starts_with("medic/")),
        Some(true)
    );
}

#[tokio::test]
async fn unexpected_statuses_fail_http_with_their_entry() {
    let s = HttpServer::start().await;
    for code in [404u16, 500, 502, 503, 504] {
        s.route(&format!("/s{code}"), Reply::status(code));
    }
    for (code, entry) in [
        (404, "http-404"),
        (500, "http-500"),
        (502, "http-502"),
        (503, "http-503"),
        (504, "http-504"),
    ] {
        let r = check_one(&endpoint(&s.url(&format!("/s{code}")), ""), &[]).await;
        expect(&r, Stage::Http, StageStatus::Fail, Some(entry));
        assert!(
            detail(&r, Stage::Http).contains(&code.to_string()),
            "{r:#?}"
        );
        assert_eq!(r.facts.status_code, Some(code));
    }
    // A failing status still yields its rate-limit facts.
    s.route(
        "/busy",
        Reply::status(503).with_header("retry-after", "120"),
    );
    let r = check_one(&endpoint(&s.url("/busy"), ""), &[]).await;
    expect(&r, Stage::Http, StageStatus::Fail, Some("http-503"));
    assert_eq!(r.facts.rate_limit.retry_after, Some(120));
    // Other client errors fall back to the 400 entry.
    s.route("/gone", Reply::status(410));
    let r = check_one(&endpoint(&s.url("/gone"), ""), &[]).await;
    expect(&r, Stage::Http, StageStatus::Fail, Some("http-400"));
    // An expected non-2xx status is fine.
    let r = check_one(&endpoint(&s.url("/s404"), "expect_status = 404"), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
}

#[tokio::test]
async fn unauthorized_reads_www_authenticate_and_tells_401_from_403() {
    let s = HttpServer::start().await;
    s.route(
        "/401",
        Reply::json(401, r#"{"error":"unauthorized"}"#)
            .with_header("www-authenticate", r#"Bearer realm="api", error="invalid_token", error_description="The access token is invalid""#),
    );
    s.route(
        "/403",
        Reply::json(403, r#"{"error":"forbidden"}"#).with_header(
            "www-authenticate",
            r#"Bearer error="insufficient_scope", scope="payments:write""#,
        ),
    );
    s.route("/403plain", Reply::status(403));
    s.route("/401bare", Reply::status(401));
    let bearer = "auth = { kind = \"bearer\", token_env = \"TOKEN\" }";
    let env = [("TOKEN", "opaque-token-value")];

    let r = check_one(&endpoint(&s.url("/401"), bearer), &env).await;
    expect(&r, Stage::Http, StageStatus::Ok, None);
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("invalid-api-key"),
    );
    assert!(
        detail(&r, Stage::Credentials).contains("error=\"invalid_token\""),
        "{r:#?}"
    );
    assert!(
        detail(&r, Stage::Credentials).contains("TOKEN"),
        "names the env var: {r:#?}"
    );

    let r = check_one(&endpoint(&s.url("/403"), bearer), &env).await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("insufficient-permissions"),
    );
    let r = check_one(&endpoint(&s.url("/403plain"), bearer), &env).await;
    expect(&r, Stage::Credentials, StageStatus::Fail, Some("http-403"));
    let r = check_one(&endpoint(&s.url("/401bare"), ""), &[]).await;
    expect(&r, Stage::Credentials, StageStatus::Fail, Some("http-401"));
    assert!(
        detail(&r, Stage::Credentials).contains("add an `auth` table"),
        "{r:#?}"
    );
}

#[tokio::test]
async fn jwt_expiry_and_clock_skew_are_named() {
    let s = HttpServer::start().await;
    s.route(
        "/401",
        Reply::status(401).with_header("www-authenticate", r#"Bearer error="invalid_token""#),
    );
    // The injected clock: the wall clock ticking between minting and judging made "1h ago"
    // read "1h 1s ago" on a slow run.
    let now: i64 = 1_800_000_000;
    let at = UNIX_EPOCH + Duration::from_secs(now as u64);
    let bearer = "auth = { kind = \"bearer\", token_env = \"TOKEN\" }";

    let expired = jwt(Some(now - 3600), None, Some(now - 7200));
    let r = check_one_at(
        &endpoint(&s.url("/401"), bearer),
        &[("TOKEN", &expired)],
        at,
    )
    .await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("expired-token"),
    );
    assert!(
        detail(&r, Stage::Credentials).contains("expired 1h ago"),
        "{r:#?}"
    );

    let future = jwt(Some(now + 7200), Some(now + 3600), Some(now + 3600));
    let r = check_one_at(&endpoint(&s.url("/401"), bearer), &[("TOKEN", &future)], at).await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("clock-skew"),
    );

    // Accepted, but about to expire: a warning, not a failure.
    let soon = jwt(Some(now + 120), None, Some(now - 60));
    let r = check_one_at(&endpoint(&s.url("/ok"), bearer), &[("TOKEN", &soon)], at).await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Warn,
        Some("expired-token"),
    );
    assert_eq!(r.status, Overall::Warn);
}

#[tokio::test]
async fn rate_limits_are_read_from_every_header_family() {
    let s = HttpServer::start().await;
    s.route(
        "/429",
        Reply::json(429, r#"{"error":"slow down"}"#)
            .with_header("retry-after", "30")
            .with_header("x-ratelimit-limit", "100")
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "30"),
    );
    let r = check_one(&endpoint(&s.url("/429"), ""), &[]).await;
    expect(&r, Stage::RateLimit, StageStatus::Fail, Some("http-429"));
    let rl = &r.facts.rate_limit;
    assert_eq!(
        (rl.limit, rl.remaining, rl.reset, rl.retry_after),
        (Some(100), Some(0), Some(30), Some(30))
    );
    assert!(
        detail(&r, Stage::RateLimit).contains("Retry-After 30 s"),
        "{r:#?}"
    );

    // IETF fields and an HTTP-date Retry-After; under 10% left is a warning.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    s.route(
        "/low",
        Reply::json(200, "{}")
            .with_header("ratelimit-limit", "1000")
            .with_header("ratelimit-remaining", "42")
            .with_header("ratelimit-reset", "60")
            .with_header("ratelimit-policy", "1000;w=60")
            .with_header("retry-after", &date),
    );
    let r = check_one(&endpoint(&s.url("/low"), ""), &[]).await;
    expect(&r, Stage::RateLimit, StageStatus::Warn, Some("http-429"));
    let rl = &r.facts.rate_limit;
    assert_eq!(
        (rl.limit, rl.remaining, rl.policy.as_deref()),
        (Some(1000), Some(42), Some("1000;w=60"))
    );
    assert!(
        rl.retry_after.is_some_and(|s| (100..=121).contains(&s)),
        "{rl:?}"
    );
    let text = medic::render::terminal::check::report(&r, &Knowledge::builtin().unwrap());
    assert!(
        text.contains("rate limit — quota low: 42 of 1000 left, resets in 1m → "),
        "{text}"
    );
    assert!(text.contains("seen: Retry-After"), "{text}");

    // A daily quota running out is a quota problem.
    s.route(
        "/quota",
        Reply::json(429, "{}")
            .with_header("ratelimit-policy", "10000;w=86400")
            .with_header("ratelimit-remaining", "0"),
    );
    let r = check_one(&endpoint(&s.url("/quota"), ""), &[]).await;
    expect(
        &r,
        Stage::RateLimit,
        StageStatus::Fail,
        Some("api-quota-exceeded"),
    );
}

#[tokio::test]
async fn format_stage_names_content_type_json_and_schema_problems() {
    let s = HttpServer::start().await;
    s.route(
        "/html",
        Reply::html(200, "<!DOCTYPE html><html><body>Login</body></html>"),
    );
    s.route("/broken", Reply::json(200, r#"{"status": "ok""#));
    s.route("/partial", Reply::json(200, r#"{"status":"ok"}"#));
    let r = check_one(
        &endpoint(
            &s.url("/html"),
            "expect_content_type = \"application/json\"",
        ),
        &[],
    )
    .await;
    expect(
        &r,
        Stage::Format,
        StageStatus::Fail,
        Some("content-type-mismatch"),
    );
    assert!(detail(&r, Stage::Format).contains("text/html"), "{r:#?}");
    // HTML where JSON was expected is the wrong kind of answer, not broken JSON.
    let r = check_one(&endpoint(&s.url("/html"), "expect_json = true"), &[]).await;
    expect(
        &r,
        Stage::Format,
        StageStatus::Fail,
        Some("content-type-mismatch"),
    );
    let text = medic::render::terminal::check::report(&r, &Knowledge::builtin().unwrap());
    assert!(
        text.contains("format — HTML where JSON was expected → "),
        "{text}"
    );
    let r = check_one(&endpoint(&s.url("/broken"), ""), &[]).await;
    expect(&r, Stage::Format, StageStatus::Fail, Some("malformed-json"));
    let r = check_one(
        &endpoint(
            &s.url("/partial"),
            "expect_json_pointers = [\"/status\", \"/data/db\"]",
        ),
        &[],
    )
    .await;
    expect(
        &r,
        Stage::Format,
        StageStatus::Fail,
        Some("schema-mismatch"),
    );
    assert!(detail(&r, Stage::Format).contains("/data/db"), "{r:#?}");
    let r = check_one(
        &endpoint(&s.url("/partial"), "body_contains = \"healthy\""),
        &[],
    )
    .await;
    expect(
        &r,
        Stage::Format,
        StageStatus::Fail,
        Some("schema-mismatch"),
    );
}

#[tokio::test]
async fn huge_body_is_capped() {
    let s = HttpServer::start().await;
    s.route(
        "/big",
        Reply::body(200, "application/octet-stream", vec![b'x'; 3 * 1024 * 1024]),
    );
    let r = check_one(&endpoint(&s.url("/big"), ""), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    assert!(r.facts.body_truncated);
    assert_eq!(r.facts.body_bytes, Some(1024 * 1024));
}

#[tokio::test]
async fn slow_stalled_and_reset_responses() {
    let s = HttpServer::start().await;
    s.route(
        "/slow",
        Reply::json(200, "{}").slow(Duration::from_millis(400)),
    );
    s.route("/stall", Reply::Stall);
    s.route(
        "/reset",
        Reply::ResetMidBody {
            status: 200,
            body_len: 4096,
        },
    );

    let r = check_one(&endpoint(&s.url("/slow"), "max_latency = \"100ms\""), &[]).await;
    expect(&r, Stage::Http, StageStatus::Warn, Some("network-timeout"));
    assert_eq!(r.status, Overall::Warn);

    let t = Instant::now();
    let r = check_one(&endpoint(&s.url("/stall"), "timeout = \"700ms\""), &[]).await;
    let took = t.elapsed();
    expect(&r, Stage::Http, StageStatus::Fail, Some("network-timeout"));
    assert!(
        // Generous: a loaded 2-core CI box is slow; what matters is that the stall is cut.
        took >= Duration::from_millis(650) && took < Duration::from_secs(15),
        "{took:?}"
    );

    let r = check_one(&endpoint(&s.url("/reset"), ""), &[]).await;
    expect(&r, Stage::Http, StageStatus::Fail, Some("connection-reset"));
    assert!(detail(&r, Stage::Http).contains("body"), "{r:#?}");
}

#[tokio::test]
async fn redirects_are_reported_or_followed() {
    let s = HttpServer::start().await;
    s.route(
        "/old",
        Reply::status(301).with_header("location", "/new?token=abc123"),
    );
    s.route("/new", Reply::json(200, "{}"));
    let r = check_one(&endpoint(&s.url("/old"), ""), &[]).await;
    expect(
        &r,
        Stage::Http,
        StageStatus::Warn,
        Some("general-troubleshooting"),
    );
    let to = r.facts.redirect_to.as_deref().unwrap();
    assert!(
        to.ends_with("/new?token=***"),
        "secret query values are masked: {to}"
    );
    assert!(!serde_json::to_string(&r).unwrap().contains("abc123"));

    let r = check_one(&endpoint(&s.url("/old"), "follow_redirects = 3"), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    assert!(
        detail(&r, Stage::Http).contains("after 1 redirect"),
        "{r:#?}"
    );

    // A chain longer than the limit stops there and is reported (a loop is named: see
    // `redirect_loops_and_oversized_headers_are_named`).
    for i in 1..=3 {
        s.route(
            &format!("/hop{i}"),
            Reply::status(302).with_header("location", &format!("/hop{}", i + 1)),
        );
    }
    let r = check_one(&endpoint(&s.url("/hop1"), "follow_redirects = 2"), &[]).await;
    expect(
        &r,
        Stage::Http,
        StageStatus::Warn,
        Some("general-troubleshooting"),
    );
    assert!(
        detail(&r, Stage::Http).contains("more than follow_redirects = 2"),
        "{r:#?}"
    );

    // Credentials follow a redirect only within the configured origin.
    let other = HttpServer::start().await;
    s.route(
        "/away",
        Reply::status(302).with_header("location", &other.url("/landing")),
    );
    let r = check_one(
        &endpoint(
            &s.url("/away"),
            "follow_redirects = 1\nauth = { kind = \"bearer\", token_env = \"T\" }",
        ),
        &[("T", "tok-redirect")],
    )
    .await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    assert_eq!(
        s.requests().last().unwrap().header("authorization"),
        Some("Bearer tok-redirect")
    );
    assert_eq!(other.requests()[0].header("authorization"), None);
}

// ---------------------------------------------------------------- TCP and DNS

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let closed = closed_port().await;
    let port = closed.port;
    let r = check_one(&endpoint(&format!("http://127.0.0.1:{port}/"), ""), &[]).await;
    expect(
        &r,
        Stage::Tcp,
        StageStatus::Fail,
        Some("connection-refused"),
    );
    assert!(
        detail(&r, Stage::Tcp).contains("connection refused"),
        "{r:#?}"
    );
    expect(&r, Stage::Dns, StageStatus::Ok, None);
}

#[tokio::test]
async fn dns_answers_are_told_apart() {
    let http = HttpServer::start().await;
    let dns = DnsServer::start(&[
        (
            "api.medic.test",
            DnsAnswer::A(std::net::Ipv4Addr::LOCALHOST),
        ),
        ("broken.medic.test", DnsAnswer::ServFail),
        ("silent.medic.test", DnsAnswer::Silent),
        ("empty.medic.test", DnsAnswer::Empty),
    ])
    .await;
    let url = |host: &str| format!("http://{host}:{}/health", http.port());
    let extra = format!("resolver = \"{}\"\ntimeout = \"1s\"", dns.addr);
    let toml = |host: &str| {
        format!(
            "[[endpoints]]\nname = \"t\"\nurl = \"{}\"\n{extra}\n",
            url(host)
        )
    };

    let r = check_one(&toml("api.medic.test"), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    assert_eq!(r.facts.addresses, vec!["127.0.0.1"]);
    assert!(
        detail(&r, Stage::Dns).contains("api.medic.test → 127.0.0.1"),
        "{r:#?}"
    );

    let r = check_one(&toml("missing.medic.test"), &[]).await;
    expect(
        &r,
        Stage::Dns,
        StageStatus::Fail,
        Some("dns-resolution-failure"),
    );
    assert!(detail(&r, Stage::Dns).starts_with("NXDOMAIN"), "{r:#?}");

    let r = check_one(&toml("broken.medic.test"), &[]).await;
    expect(
        &r,
        Stage::Dns,
        StageStatus::Fail,
        Some("dns-resolution-failure"),
    );
    assert!(detail(&r, Stage::Dns).starts_with("SERVFAIL"), "{r:#?}");

    let r = check_one(&toml("empty.medic.test"), &[]).await;
    expect(
        &r,
        Stage::Dns,
        StageStatus::Fail,
        Some("dns-resolution-failure"),
    );
    assert!(
        detail(&r, Stage::Dns).contains("no A/AAAA records"),
        "{r:#?}"
    );

    let t = Instant::now();
    let r = check_one(&toml("silent.medic.test"), &[]).await;
    expect(
        &r,
        Stage::Dns,
        StageStatus::Fail,
        Some("dns-resolution-failure"),
    );
    assert!(detail(&r, Stage::Dns).contains("no answer"), "{r:#?}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

// ---------------------------------------------------------------- TLS

struct TlsFixture {
    _dir: tempfile::TempDir,
    ca_path: String,
    dns: DnsServer,
}

async fn tls_fixture(pki: &Pki) -> TlsFixture {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = pki.write_ca(dir.path()).display().to_string();
    let dns = DnsServer::start(&[(
        "api.medic.test",
        DnsAnswer::A(std::net::Ipv4Addr::LOCALHOST),
    )])
    .await;
    TlsFixture {
        _dir: dir,
        ca_path,
        dns,
    }
}

fn tls_endpoint(f: &TlsFixture, port: u16) -> String {
    format!(
        "[[endpoints]]\nname = \"t\"\nurl = \"https://api.medic.test:{port}/health\"\ntimeout = \"2s\"\nresolver = \"{}\"\ntls_ca = \"{}\"\n",
        f.dns.addr, f.ca_path
    )
}

#[tokio::test]
async fn tls_valid_certificate_reports_version_cipher_and_expiry() {
    let pki = Pki::new();
    let f = tls_fixture(&pki).await;
    let leaf = pki.leaf(&["api.medic.test"], (2020, 1, 1), (2090, 1, 1));
    let s = HttpServer::start_tls(leaf.chain, leaf.key).await;
    let r = check_one(&tls_endpoint(&f, s.port()), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    expect(&r, Stage::Tls, StageStatus::Ok, None);
    assert!(
        r.facts
            .tls_version
            .as_deref()
            .is_some_and(|v| v.starts_with("TLS 1.")),
        "{r:#?}"
    );
    assert!(r.facts.cipher.is_some());
    assert!(r.facts.cert_days_left.unwrap() > 20_000);
    assert_eq!(
        r.facts.cert_fingerprint_sha256.as_ref().unwrap().len(),
        32 * 3 - 1
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(
        json["facts"]["cert_not_after"]
            .as_str()
            .unwrap()
            .starts_with("2090-01-01"),
        "{json}"
    );
}

#[tokio::test]
async fn tls_certificate_near_expiry_warns_by_the_injected_clock() {
    let pki = Pki::new();
    let f = tls_fixture(&pki).await;
    let leaf = pki.leaf(&["api.medic.test"], (2020, 1, 1), (2030, 1, 1));
    let s = HttpServer::start_tls(leaf.chain, leaf.key).await;
    let config = config_in(Path::new("."), &tls_endpoint(&f, s.port()), &[]);
    let clock = FixedClock(UNIX_EPOCH + Duration::from_secs(1_893_456_000 - 5 * 86_400)); // 2029-12-27
    let r = Checker::new(config)
        .with_clock(Arc::new(clock))
        .check_named("t")
        .await
        .unwrap();
    expect(
        &r,
        Stage::Tls,
        StageStatus::Warn,
        Some("tls-certificate-expired"),
    );
    assert_eq!(r.facts.cert_days_left, Some(5));
    assert_eq!(r.status, Overall::Warn);
    // The headline says what is true: it expires soon, it has not expired.
    let text = medic::render::terminal::check::report(&r, &Knowledge::builtin().unwrap());
    assert!(
        text.contains("TLS — certificate expires in 5 days (warning) → "),
        "{text}"
    );
}

#[tokio::test]
async fn tls_failures_are_named() {
    let pki = Pki::new();
    let f = tls_fixture(&pki).await;

    let expired = pki.leaf(&["api.medic.test"], (2019, 1, 1), (2021, 1, 1));
    let s = HttpServer::start_tls(expired.chain, expired.key).await;
    let r = check_one(&tls_endpoint(&f, s.port()), &[]).await;
    expect(
        &r,
        Stage::Tls,
        StageStatus::Fail,
        Some("tls-certificate-expired"),
    );
    assert!(
        detail(&r, Stage::Tls).contains("expired on 2021-01-01"),
        "{r:#?}"
    );
    assert!(
        r.facts.cert_days_left.unwrap() < 0,
        "facts survive the failure: {r:#?}"
    );

    let self_signed = Pki::self_signed(&["api.medic.test"]);
    let s = HttpServer::start_tls(self_signed.chain, self_signed.key).await;
    let r = check_one(&tls_endpoint(&f, s.port()), &[]).await;
    expect(
        &r,
        Stage::Tls,
        StageStatus::Fail,
        Some("tls-untrusted-certificate"),
    );
    assert!(detail(&r, Stage::Tls).contains("self-signed"), "{r:#?}");
    // The steps are about this endpoint: its host and port, ready to paste.
    let kb = Knowledge::builtin().unwrap();
    let text = medic::render::terminal::check::report(&r, &kb);
    let target = format!(
        "openssl s_client -connect api.medic.test:{} -servername api.medic.test",
        s.port()
    );
    assert!(text.contains(&target), "{text}");
    assert!(
        !text.contains("api.partner.com") && !text.contains("{host}"),
        "{text}"
    );
    // /diagnose has no endpoint: the documented defaults.
    let entry = kb.get("tls-untrusted-certificate").unwrap();
    let mut shown = String::new();
    medic::render::terminal::entry(&mut shown, entry, &kb);
    assert!(
        shown.contains("openssl s_client -connect api.partner.com:443"),
        "{shown}"
    );

    let other_ca = Pki::new().leaf(&["api.medic.test"], (2020, 1, 1), (2090, 1, 1));
    let s = HttpServer::start_tls(other_ca.chain, other_ca.key).await;
    let r = check_one(&tls_endpoint(&f, s.port()), &[]).await;
    expect(
        &r,
        Stage::Tls,
        StageStatus::Fail,
        Some("tls-untrusted-certificate"),
    );
    assert!(detail(&r, Stage::Tls).contains("unknown CA"), "{r:#?}");

    let future = pki.leaf(&["api.medic.test"], (2090, 1, 1), (2099, 1, 1));
    let s = HttpServer::start_tls(future.chain, future.key).await;
    let r = check_one(&tls_endpoint(&f, s.port()), &[]).await;
    expect(
        &r,
        Stage::Tls,
        StageStatus::Fail,
        Some("tls-certificate-expired"),
    );
    assert!(
        detail(&r, Stage::Tls).contains("not valid yet (valid from 2090-01-01"),
        "{r:#?}"
    );

    let wrong = pki.leaf(&["other.medic.test"], (2020, 1, 1), (2090, 1, 1));
    let s = HttpServer::start_tls(wrong.chain, wrong.key).await;
    let r = check_one(&tls_endpoint(&f, s.port()), &[]).await;
    expect(
        &r,
        Stage::Tls,
        StageStatus::Fail,
        Some("tls-hostname-mismatch"),
    );
    assert!(
        detail(&r, Stage::Tls).contains("other.medic.test, not api.medic.test"),
        "{r:#?}"
    );

    // https:// to a plain HTTP server, and to one that never speaks.
    let plain = HttpServer::start().await;
    let r = check_one(
        &endpoint(&format!("https://127.0.0.1:{}/", plain.port()), ""),
        &[],
    )
    .await;
    expect(
        &r,
        Stage::Tls,
        StageStatus::Fail,
        Some("tls-handshake-failure"),
    );
    let (addr, _task) = silent_listener().await;
    let r = check_one(
        &endpoint(&format!("https://{addr}/"), "timeout = \"500ms\""),
        &[],
    )
    .await;
    expect(&r, Stage::Tls, StageStatus::Fail, Some("network-timeout"));
}

// ---------------------------------------------------------------- OAuth2

#[tokio::test]
async fn oauth2_token_request_is_its_own_step() {
    let auth = HttpServer::start().await;
    let api = HttpServer::start().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = jwt(Some(now + 3600), None, Some(now));
    oauth_token_route(&auth, "/oauth/token", "client-1", "s3cret-client", &token);
    let expected = format!("Bearer {token}");
    api.route(
        "/v1/items",
        Reply::handler(move |req| {
            if req.header("authorization") == Some(expected.as_str()) {
                Reply::json(200, "[]")
            } else {
                Reply::status(401)
            }
        }),
    );
    let toml = endpoint(
        &api.url("/v1/items"),
        &format!(
            "auth = {{ kind = \"oauth2_client_credentials\", token_url = \"{}\", client_id_env = \"CID\", client_secret_env = \"CSECRET\", scopes = [\"read\"] }}",
            auth.url("/oauth/token")
        ),
    );
    let r = check_one(&toml, &[("CID", "client-1"), ("CSECRET", "s3cret-client")]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    assert!(
        detail(&r, Stage::Credentials).contains("token request 200 OK"),
        "{r:#?}"
    );
    assert!(
        detail(&r, Stage::Credentials).contains("JWT expires in"),
        "{r:#?}"
    );
    let body = String::from_utf8(auth.requests()[0].body.clone()).unwrap();
    assert!(
        body.contains("grant_type=client_credentials") && body.contains("scope=read"),
        "{body}"
    );
    assert!(
        !serde_json::to_string(&r).unwrap().contains(&token),
        "the issued token is redacted"
    );

    let r = check_one(&toml, &[("CID", "client-1"), ("CSECRET", "wrong-secret")]).await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("oauth-invalid-client"),
    );
    assert!(
        detail(&r, Stage::Credentials).contains("invalid_client"),
        "{r:#?}"
    );
    assert_eq!(r.stage(Stage::Http).unwrap().status, StageStatus::Skipped);
    assert_eq!(api.hits(), 1, "the API is not called without a token");

    auth.route(
        "/oauth/token",
        Reply::json(
            400,
            r#"{"error":"invalid_grant","error_description":"grant revoked"}"#,
        ),
    );
    let r = check_one(&toml, &[("CID", "client-1"), ("CSECRET", "s3cret-client")]).await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("oauth-invalid-grant"),
    );
}

// ---------------------------------------------------------------- redaction

/// A server that echoes every secret it was sent back in a 401 (body, challenge, and a redirect).
fn echo_secrets(server: &HttpServer) {
    server.set_default(Reply::handler(|req| {
        let mut echoed = format!("{} {:?}", req.target, req.headers);
        echoed.push_str(&String::from_utf8_lossy(&req.body));
        let safe = echoed.replace(['"', '\\'], "'");
        Reply::json(401, &format!("{{\"error\":\"bad credentials: {safe}\"}}")).with_header(
            "www-authenticate",
            &format!(
                "Bearer error=\"invalid_token\", error_description=\"rejected {}\"",
                safe.chars().take(300).collect::<String>()
            ),
        )
    }));
}

fn assert_redacted(r: &CheckReport, kb: &Knowledge, secrets: &[&str]) {
    let json = serde_json::to_string(r).unwrap();
    let text = medic::render::terminal::check::report(r, kb);
    let debug = format!("{r:?}");
    for s in secrets {
        for (what, out) in [("json", &json), ("text", &text), ("debug", &debug)] {
            assert!(!out.contains(s), "secret `{s}` leaked into {what}:\n{out}");
        }
    }
}

#[tokio::test]
async fn secrets_are_redacted_for_every_auth_kind_on_failing_requests() {
    let kb = Knowledge::builtin().unwrap();
    let server = HttpServer::start().await;
    echo_secrets(&server);
    let token_server = HttpServer::start().await;
    token_server.set_default(Reply::handler(|req| {
        let echoed = format!("{:?} {}", req.headers, String::from_utf8_lossy(&req.body))
            .replace(['"', '\\'], "'");
        Reply::json(
            401,
            &format!("{{\"error\":\"invalid_client\",\"error_description\":\"{echoed}\"}}"),
        )
    }));
    let closed = closed_port().await;
    let refused = closed.port;
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, String, Env)> = vec![
        ("bearer", "{ kind = \"bearer\", token_env = \"T\" }".into(), vec![("T", "tok-AAAA-1111")]),
        ("basic", "{ kind = \"basic\", user_env = \"U\", password_env = \"P\" }".into(), vec![("U", "user-BBBB"), ("P", "pw-CCCC-2222")]),
        ("header", "{ kind = \"header\", name = \"X-Api-Key\", value_env = \"K\" }".into(), vec![("K", "key-DDDD-3333")]),
        ("query", "{ kind = \"query\", param = \"api_token\", value_env = \"Q\" }".into(), vec![("Q", "q-EEEE/4444+=")]),
        (
            "oauth2",
            format!("{{ kind = \"oauth2_client_credentials\", token_url = \"{}\", client_id_env = \"CI\", client_secret_env = \"CS\" }}", token_server.url("/token")),
            vec![("CI", "cid-FFFF"), ("CS", "csec-GGGG-5555")],
        ),
    ];
    for (kind, auth, env) in &cases {
        let secrets: Vec<&str> = env.iter().map(|(_, v)| *v).collect();
        for url in [
            server.url("/v1/x?page=1"),
            format!("http://127.0.0.1:{refused}/v1/x"),
        ] {
            let toml = endpoint(&url, &format!("auth = {auth}"));
            let config = config_in(Path::new("."), &toml, env);
            assert!(
                !format!("{config:?}").contains(secrets[0]),
                "{kind}: Config's Debug shows a secret"
            );
            let r = Checker::new(config).check_named("t").await.unwrap();
            assert_eq!(r.status, Overall::Fail, "{kind}: {r:#?}");
            assert_redacted(&r, &kb, &secrets);
            if url.contains("page=1") && *kind != "oauth2" {
                // The secret did reach the server, and the server did echo it.
                let sent = format!("{:?}", server.requests().last().unwrap());
                let b64 = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    "user-BBBB:pw-CCCC-2222",
                );
                assert!(
                    secrets.iter().any(|s| sent.contains(s))
                        || sent.contains(&b64)
                        || sent.contains("q-EEEE%2F4444%2B%3D"),
                    "{kind}: {sent}"
                );
                assert!(
                    r.stage(Stage::Credentials).unwrap().detail.contains("***"),
                    "{kind}: {r:#?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn adhoc_url_userinfo_and_secret_query_are_redacted() {
    let kb = Knowledge::builtin().unwrap();
    let server = HttpServer::start().await;
    echo_secrets(&server);
    let url = format!(
        "http://alice:pa55-HHHH@127.0.0.1:{}/x?access_token=at-IIII&page=2",
        server.port()
    );
    let ep = Endpoint::adhoc(&url).unwrap();
    let r = Checker::new(Arc::new(Config::default()))
        .check_endpoint(&ep)
        .await;
    assert_eq!(r.status, Overall::Fail);
    assert!(
        r.url.contains("access_token=***") && r.url.contains("page=2"),
        "{}",
        r.url
    );
    assert_redacted(&r, &kb, &["pa55-HHHH", "at-IIII", "alice"]);
    let req = &server.requests()[0];
    assert!(
        req.header("authorization")
            .is_some_and(|a| a.starts_with("Basic ")),
        "userinfo is sent as basic auth"
    );
}

// ---------------------------------------------------------------- the Checker API

#[tokio::test]
async fn unknown_names_suggest_close_ones() {
    let s = HttpServer::start().await;
    let toml = format!(
        "[[endpoints]]\nname = \"payments-api\"\nurl = \"{}\"\n[[endpoints]]\nname = \"search\"\nurl = \"{}\"\n",
        s.url("/"),
        s.url("/")
    );
    let checker = Checker::new(config_in(Path::new("."), &toml, &[]));
    assert_eq!(checker.endpoint_names(), vec!["payments-api", "search"]);
    let err = checker.check_named("payment-api").await.unwrap_err();
    let CheckError::UnknownEndpoint { suggestions, .. } = &err else {
        panic!()
    };
    assert_eq!(suggestions, &vec!["payments-api".to_string()]);
    assert!(
        err.to_string().contains("did you mean `payments-api`"),
        "{err}"
    );
    // A URL is not a name: chat surfaces cannot check arbitrary URLs, and what was typed is
    // not repeated (it may carry a key).
    for typed in [
        format!("{}?api_key=ak-LLLL-9999", s.url("/")),
        "HTTPS://bob:pw-MMMM@api.example.com/".to_string(),
        "x@pw-NNNN".to_string(),
        "what?pw-OOOO".to_string(),
    ] {
        let err = checker.check_named(&typed).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a configured endpoint name"), "{text}");
        for secret in ["ak-LLLL", "pw-MMMM", "pw-NNNN", "pw-OOOO", "bob"] {
            assert!(!text.contains(secret), "{text}");
        }
        let CheckError::UnknownEndpoint { name, .. } = err else {
            panic!()
        };
        assert_eq!(name, medic::checks::NOT_A_NAME);
    }
}

#[test]
fn checker_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let checker = Checker::new(Arc::new(Config::default()));
    is_send(&checker.check_named("x"));
    is_send(&checker.check_all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_all_runs_concurrently_and_keeps_order() {
    let (addr, _task) = silent_listener().await;
    let mut toml = String::new();
    for i in 0..200 {
        toml.push_str(&format!(
            "[[endpoints]]\nname = \"e{i}\"\nurl = \"http://{addr}/\"\ntimeout = \"1s\"\n"
        ));
    }
    let config = config_in(Path::new("."), &toml, &[]);
    let t = Instant::now();
    let reports = Checker::new(config.clone())
        .with_concurrency(200)
        .check_all()
        .await;
    let took = t.elapsed();
    assert_eq!(reports.len(), 200);
    assert!(reports
        .iter()
        .enumerate()
        .all(|(i, r)| r.endpoint == format!("e{i}")));
    // Mostly HTTP stalls; a connect the backlog dropped times out in TCP: same entry.
    assert!(reports
        .iter()
        .all(|r| r.failing_stage().unwrap().entry.as_deref() == Some("network-timeout")));
    // Serially this would take 200 s; concurrently about one timeout. The bound is loose so a
    // loaded CI box does not flake, and still far from serial.
    assert!(
        took < Duration::from_secs(30),
        "200 stalls took {took:?}, not about one timeout"
    );

    // The default bound (32) holds 64 stalls to two rounds.
    let small = config_in(
        Path::new("."),
        &toml
            .split("[[endpoints]]")
            .take(65)
            .collect::<Vec<_>>()
            .join("[[endpoints]]"),
        &[],
    );
    assert_eq!(small.endpoints.len(), 64);
    let t = Instant::now();
    Checker::new(small).check_all().await;
    let took = t.elapsed();
    // At least two rounds of 1 s (the bound holds); far less than 64 s (still concurrent).
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(30),
        "{took:?}"
    );
}

#[tokio::test]
async fn guidance_pairs_failures_with_entry_steps() {
    let kb = Knowledge::builtin().unwrap();
    let s = HttpServer::start().await;
    s.route("/429", Reply::status(429).with_header("retry-after", "5"));
    let r = check_one(&endpoint(&s.url("/429"), ""), &[]).await;
    let g = r.guidance(&kb);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].1.id, "http-429");
    let text = medic::render::terminal::check::report(&r, &kb);
    assert!(text.contains("✖ rate limit"), "{text}");
    assert!(text.contains("1. "), "steps are printed: {text}");
}

// ---------------------------------------------------------------- configuration errors

#[test]
fn config_errors_point_at_file_and_line() {
    let toml = "[alerts]\nremind_every = \"soon\"\n\n[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nauth = { kind = \"bearer\", token_env = \"NOT_SET_ANYWHERE\" }\n\n[[endpoints]]\nname = \"a\"\nurl = \"ftp://a.example\"\n";
    let err = Config::parse("medic.toml", toml, Path::new("."), &HashMap::new())
        .unwrap_err()
        .to_string();
    for want in [
        "medic.toml:2:16: remind_every: `soon` is not a duration",
        "medic.toml:7:39: token_env: environment variable `NOT_SET_ANYWHERE` (for endpoint `a`) is not set",
        "medic.toml:10:8: duplicate endpoint name `a` (first defined on line 5)",
        "medic.toml:11:7: url: scheme `ftp` is not supported",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    let err = Config::parse(
        "medic.toml",
        "[discord]\nalert_chanel = 1\n",
        Path::new("."),
        &HashMap::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("medic.toml:2:1: unknown field `alert_chanel` in `discord`; did you mean `discord.alert_channel`?"),
        "{err}"
    );
}

#[test]
fn discord_and_alert_sections_load() {
    let toml = "[discord]\nlisten_channels = [123, \"456\"]\ncheck_roles = [7]\nalert_channel = \"1180000000000000000\"\nmention_role = 9\n\n[alerts]\nfailure_threshold = 3\nremind_every = \"never\"\nretention = \"30d\"\n\n[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ninterval = \"5m\"\nalerts = { cert_warn_days = 30, enabled = false }\n";
    let c = Config::parse("medic.toml", toml, Path::new("."), &HashMap::new()).unwrap();
    assert_eq!(c.discord.listen_channels, vec![123, 456]);
    assert_eq!(c.discord.alert_channel, Some(1_180_000_000_000_000_000));
    assert_eq!(c.alerts.failure_threshold, 3);
    assert_eq!(c.alerts.remind_every, Duration::ZERO);
    assert_eq!(c.alerts.retention, Duration::from_secs(30 * 86_400));
    let e = &c.endpoints[0];
    assert_eq!(e.interval, Duration::from_secs(300));
    assert!(!e.alerts.enabled);
    assert_eq!(e.alert_policy(&c.alerts).cert_warn_days, 30);
    assert_eq!(Config::default().endpoints.len(), 0);
}

#[test]
fn example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("medic.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| Some(format!("value-of-{name}"));
    let c = Config::parse("medic.example.toml", &text, Path::new("."), &env).unwrap();
    assert_eq!(c.endpoints.len(), 6);
    let kinds: Vec<&str> = c
        .endpoints
        .iter()
        .filter_map(|e| e.auth.as_ref().map(|a| a.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            "bearer",
            "basic",
            "header",
            "query",
            "oauth2_client_credentials"
        ]
    );
    // Without the environment, every named variable is reported, with its line.
    let err =
        Config::parse("medic.example.toml", &text, Path::new("."), &HashMap::new()).unwrap_err();
    assert_eq!(err.0.len(), 7, "{err}");
}

// ---------------------------------------------------------------- review fixes: secrets

/// No run of `n` characters of `secret` appears in `out`: a cut secret leaves no fragment.
#[track_caller]
fn assert_no_fragment(out: &str, secret: &str, n: usize) {
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(n) {
        let frag: String = w.iter().collect();
        assert!(
            !out.contains(&frag),
            "fragment `{frag}` of a secret leaked:\n{out}"
        );
    }
}

#[tokio::test]
async fn secrets_straddling_a_cut_are_masked_whole() {
    let kb = Knowledge::builtin().unwrap();
    let secret = "tok-STRADDLE-0123456789";
    let s = HttpServer::start().await;
    // `error_description` is quoted up to 200 characters: the secret starts 10 before the cut.
    let description = format!("{}{secret} tail", "d".repeat(190));
    s.route(
        "/401",
        Reply::status(401).with_header(
            "www-authenticate",
            &format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
        ),
    );
    // A body is quoted up to 60 characters, whitespace squeezed: the secret starts at 50.
    s.route(
        "/html",
        Reply::html(200, &format!("{}{secret}", "b ".repeat(25))),
    );
    // `RateLimit-Policy` is kept up to 200 characters.
    s.route(
        "/policy",
        Reply::json(200, "{}")
            .with_header("ratelimit-policy", &format!("{}{secret}", "p".repeat(195))),
    );
    let bearer = "auth = { kind = \"bearer\", token_env = \"T\" }";
    for (path, extra) in [
        ("/401", bearer.to_string()),
        (
            "/html",
            format!("{bearer}\nexpect_content_type = \"application/json\""),
        ),
        ("/policy", bearer.to_string()),
    ] {
        let r = check_one(&endpoint(&s.url(path), &extra), &[("T", secret)]).await;
        let out = format!(
            "{}\n{}",
            serde_json::to_string(&r).unwrap(),
            medic::render::terminal::check::report(&r, &kb)
        );
        assert!(
            out.contains("***"),
            "{path}: the secret was quoted, masked: {out}"
        );
        assert_no_fragment(&out, secret, 5);
    }

    // The OAuth2 token endpoint's `error_description`, cut at 200 characters.
    let token_server = HttpServer::start().await;
    let client_secret = "csec-STRADDLE-9876543210";
    token_server.set_default(Reply::json(
        401,
        &format!(
            r#"{{"error":"invalid_client","error_description":"{}{client_secret} tail"}}"#,
            "o".repeat(192)
        ),
    ));
    let toml = endpoint(
        &s.url("/ok"),
        &format!("auth = {{ kind = \"oauth2_client_credentials\", token_url = \"{}\", client_id_env = \"CI\", client_secret_env = \"CS\" }}", token_server.url("/token")),
    );
    let r = check_one(&toml, &[("CI", "client-1"), ("CS", client_secret)]).await;
    expect(
        &r,
        Stage::Credentials,
        StageStatus::Fail,
        Some("oauth-invalid-client"),
    );
    let out = serde_json::to_string(&r).unwrap();
    assert!(out.contains("***"), "{out}");
    assert_no_fragment(&out, client_secret, 5);
}

#[test]
fn pasted_secrets_in_env_keys_are_never_echoed() {
    for pasted in [
        "sk_live_51HxQ2eLkdIwHu7ixWq",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "AKIAIOSFODNN7EXAMPLE",
        "SK_LIVE_51HXQ2ELKDIWHU7IX",
        "xoxb-1234-5678-abcdef",
    ] {
        let toml = format!("[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nauth = {{ kind = \"bearer\", token_env = \"{pasted}\" }}\n");
        let err = Config::parse("medic.toml", &toml, Path::new("."), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(!err.contains(pasted), "{err}");
        assert!(
            err.contains("medic.toml:4:") && err.contains("did you paste the secret?"),
            "{err}"
        );
    }
    // A real variable name that is not set is named, so it can be fixed.
    let toml = "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nauth = { kind = \"bearer\", token_env = \"PAYMENTS_API_TOKEN_2\" }\n";
    let err = Config::parse("medic.toml", toml, Path::new("."), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("environment variable `PAYMENTS_API_TOKEN_2`"),
        "{err}"
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let toml = "[[endpoints]]\nname = \"a\"\nurl = \"https://api.example.com/x?api_key=qk-PPPP&page=2\"\nheaders = { \"X-Request-Source\" = \"hdr-QQQQ\" }\nbody = \"body-RRRR\"\nauth = { kind = \"oauth2_client_credentials\", token_url = \"https://auth.example.com/token?client_secret=ts-SSSS\", client_id_env = \"CI\", client_secret_env = \"CS\" }\n\n[[endpoints]]\nname = \"b\"\nurl = \"https://api.example.com/\"\nauth = { kind = \"basic\", user_env = \"U\", password_env = \"P\" }\n";
    let config = config_in(
        Path::new("."),
        toml,
        &[
            ("CI", "cid-TTTT"),
            ("CS", "cs-UUUU"),
            ("U", "user-VVVV"),
            ("P", "pw-WWWW"),
        ],
    );
    let adhoc = Endpoint::adhoc("http://alice-XXXX:pw-YYYY@127.0.0.1:1/x?token=tk-ZZZZ").unwrap();
    let outputs = [
        format!("{config:?}"),
        format!("{:?}", config.endpoints[0]),
        format!("{:#?}", config.endpoints[1]),
        format!("{:?}", config.redactor()),
        format!("{:?}", config.endpoints[0].redactor()),
        format!("{adhoc:?}"),
    ];
    for out in &outputs {
        for secret in [
            "qk-PPPP",
            "hdr-QQQQ",
            "body-RRRR",
            "ts-SSSS",
            "cid-TTTT",
            "cs-UUUU",
            "user-VVVV",
            "pw-WWWW",
            "alice-XXXX",
            "pw-YYYY",
            "tk-ZZZZ",
        ] {
            assert!(!out.contains(secret), "`{secret}` in Debug output:\n{out}");
        }
    }
    // What helps debugging is still there.
    assert!(
        outputs[1].contains("api_key=***") && outputs[1].contains("page=2"),
        "{}",
        outputs[1]
    );
    assert!(outputs[1].contains("X-Request-Source"), "{}", outputs[1]);
    assert!(outputs[3].starts_with("Redactor {"), "{}", outputs[3]);
}

#[test]
fn credential_headers_belong_in_auth() {
    for name in [
        "Authorization",
        "cookie",
        "X-Api-Key",
        "X-Auth-Token",
        "Proxy-Authorization",
    ] {
        let toml = format!(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nheaders = {{ \"X-Request-Source\" = \"medic\", \"{name}\" = \"literal-AAAA\" }}\n"
        );
        let err = Config::parse("medic.toml", &toml, Path::new("."), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("medic.toml:4:")
                && err.contains(": headers:")
                && err.contains("use `auth"),
            "{err}"
        );
        assert!(!err.contains("literal-AAAA"), "{err}");
    }
}

#[tokio::test]
async fn configured_headers_and_body_stay_on_the_configured_origin() {
    let s = HttpServer::start().await;
    let other = HttpServer::start().await;
    s.route(
        "/away",
        Reply::status(307).with_header("location", &other.url("/landing")),
    );
    let r = check_one(
        &endpoint(
            &s.url("/away"),
            "method = \"POST\"\nbody = \"payload-BBBB\"\nheaders = { \"X-Request-Source\" = \"medic-hdr\" }\nfollow_redirects = 1",
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    let first = &s.requests()[0];
    assert_eq!(first.header("x-request-source"), Some("medic-hdr"));
    assert_eq!(first.body, b"payload-BBBB");
    let landed = &other.requests()[0];
    assert_eq!(landed.header("x-request-source"), None, "{landed:?}");
    assert!(landed.body.is_empty(), "{landed:?}");
}

#[tokio::test]
async fn see_other_and_post_redirects_become_get_without_body() {
    let s = HttpServer::start().await;
    s.route("/303", Reply::status(303).with_header("location", "/done"));
    s.route("/302", Reply::status(302).with_header("location", "/done"));
    s.route("/307", Reply::status(307).with_header("location", "/done"));
    s.route("/done", Reply::json(200, "{}"));
    for (path, method, body) in [
        ("/303", "GET", ""),
        ("/302", "GET", ""),
        ("/307", "POST", "payload-CCCC"),
    ] {
        let before = s.hits();
        let r = check_one(
            &endpoint(
                &s.url(path),
                "method = \"POST\"\nbody = \"payload-CCCC\"\nfollow_redirects = 1",
            ),
            &[],
        )
        .await;
        assert_eq!(r.status, Overall::Ok, "{path}: {r:#?}");
        let reqs = s.requests();
        assert_eq!(reqs[before].method, "POST");
        let followed = &reqs[before + 1];
        assert_eq!(followed.path(), "/done");
        assert_eq!(
            (followed.method.as_str(), followed.body.as_slice()),
            (method, body.as_bytes()),
            "{path}"
        );
        assert!(
            detail(&r, Stage::Http).contains(&format!("{method} /done")),
            "{r:#?}"
        );
    }
}

#[tokio::test]
async fn redirect_without_a_usable_location_is_reported() {
    let s = HttpServer::start().await;
    s.route("/none", Reply::status(302));
    s.route("/empty", Reply::status(302).with_header("location", ""));
    s.route(
        "/ftp",
        Reply::status(302).with_header("location", "ftp://files.example/"),
    );
    for path in ["/none", "/empty", "/ftp"] {
        let before = s.hits();
        let r = check_one(&endpoint(&s.url(path), "follow_redirects = 3"), &[]).await;
        expect(
            &r,
            Stage::Http,
            StageStatus::Warn,
            Some("general-troubleshooting"),
        );
        assert!(
            detail(&r, Stage::Http).contains("no usable Location header"),
            "{r:#?}"
        );
        assert_eq!(
            s.hits() - before,
            1,
            "{path}: not treated as a redirect to itself"
        );
    }
}

#[tokio::test]
async fn adhoc_userinfo_is_percent_decoded() {
    let s = HttpServer::start().await;
    let url = format!("http://a%2Bb:p+w%40x%3A@127.0.0.1:{}/ok", s.port());
    let ep = Endpoint::adhoc(&url).unwrap();
    let r = Checker::new(Arc::new(Config::default()))
        .check_endpoint(&ep)
        .await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    let want = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a+b:p+w@x:")
    );
    assert_eq!(s.requests()[0].header("authorization"), Some(want.as_str()));
}

#[tokio::test]
async fn oauth2_credentials_with_reserved_characters() {
    let auth = HttpServer::start().await;
    let api = HttpServer::start().await;
    let (id, secret) = ("client:1 +/&", "s3cr3t:+ %/=é");
    oauth_token_route(&auth, "/token", id, secret, "issued-DDDD");
    api.route(
        "/v1",
        Reply::handler(|req| match req.header("authorization") {
            Some("Bearer issued-DDDD") => Reply::json(200, "{}"),
            _ => Reply::status(401),
        }),
    );
    let toml = endpoint(
        &api.url("/v1"),
        &format!("auth = {{ kind = \"oauth2_client_credentials\", token_url = \"{}\", client_id_env = \"CI\", client_secret_env = \"CS\" }}", auth.url("/token")),
    );
    let r = check_one(&toml, &[("CI", id), ("CS", secret)]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    let sent = auth.requests()[0]
        .header("authorization")
        .unwrap()
        .to_string();
    assert_eq!(
        support::basic_client_credentials(&sent),
        Some((id.to_string(), secret.to_string()))
    );
}

// ---------------------------------------------------------------- review fixes: panics

#[tokio::test]
async fn absurd_rate_limit_headers_do_not_panic() {
    let s = HttpServer::start().await;
    for (i, (remaining, limit)) in [
        ("inf", "100"),
        ("1e19", "100"),
        ("1e19", "1e30"),
        ("NaN", "-inf"),
        ("18446744073709551615", "18446744073709551615"),
    ]
    .into_iter()
    .enumerate()
    {
        s.route(
            &format!("/rl{i}"),
            Reply::json(200, "{}")
                .with_header("x-ratelimit-remaining", remaining)
                .with_header("x-ratelimit-limit", limit)
                .with_header("x-ratelimit-reset", "1e300"),
        );
        let r = check_one(&endpoint(&s.url(&format!("/rl{i}")), ""), &[]).await;
        assert_ne!(
            r.stage(Stage::RateLimit).unwrap().status,
            StageStatus::Fail,
            "{r:#?}"
        );
    }
    let r = check_one(&endpoint(&s.url("/rl0"), ""), &[]).await;
    assert_eq!(r.facts.rate_limit.remaining, None, "`inf` is no figure");
}

#[tokio::test]
async fn rate_limit_policy_windows_and_millisecond_resets() {
    let s = HttpServer::start().await;
    let now: u64 = 1_800_000_000;
    let at = UNIX_EPOCH + Duration::from_secs(now);
    s.route(
        "/quota",
        Reply::json(429, "{}")
            .with_header("ratelimit-policy", "10;w=1, 10000;w=86400")
            .with_header("ratelimit-remaining", "0"),
    );
    let r = check_one_at(&endpoint(&s.url("/quota"), ""), &[], at).await;
    expect(
        &r,
        Stage::RateLimit,
        StageStatus::Fail,
        Some("api-quota-exceeded"),
    );
    // 429: the credentials were neither accepted nor rejected.
    let cred = r.stage(Stage::Credentials).unwrap();
    assert_eq!(cred.status, StageStatus::Skipped, "{r:#?}");

    s.route(
        "/ms",
        Reply::json(200, "{}")
            .with_header("x-ratelimit-limit", "100")
            .with_header("x-ratelimit-remaining", "50")
            .with_header("x-ratelimit-reset", &((now + 30) * 1000).to_string()),
    );
    let r = check_one_at(&endpoint(&s.url("/ms"), ""), &[], at).await;
    assert_eq!(r.facts.rate_limit.reset, Some(30), "{r:#?}");
}

#[tokio::test]
async fn credentials_are_not_judged_on_an_allowed_401_or_a_429() {
    let s = HttpServer::start().await;
    s.route("/401", Reply::status(401));
    s.route("/429", Reply::status(429));
    let bearer = "auth = { kind = \"bearer\", token_env = \"T\" }";
    let r = check_one(
        &endpoint(&s.url("/401"), &format!("{bearer}\nexpect_status = 401")),
        &[("T", "tok-EEEE")],
    )
    .await;
    let cred = r.stage(Stage::Credentials).unwrap();
    assert_eq!(cred.status, StageStatus::Skipped, "{r:#?}");
    assert!(cred.detail.contains("not judged: status 401"), "{r:#?}");
    let r = check_one(&endpoint(&s.url("/429"), bearer), &[("T", "tok-EEEE")]).await;
    let cred = r.stage(Stage::Credentials).unwrap();
    assert_eq!(cred.status, StageStatus::Skipped, "{r:#?}");
    assert!(cred.detail.contains("not judged: status 429"), "{r:#?}");
}

#[tokio::test]
async fn extreme_jwt_times_do_not_panic() {
    let s = HttpServer::start().await;
    s.route(
        "/401",
        Reply::status(401).with_header("www-authenticate", r#"Bearer error="invalid_token""#),
    );
    let b64 =
        |t: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, t);
    let raw = |claims: &str| format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64(claims));
    let bearer = "auth = { kind = \"bearer\", token_env = \"T\" }";
    for token in [
        jwt(Some(i64::MIN), None, None),
        jwt(Some(i64::MAX), Some(i64::MIN), Some(i64::MIN)),
        jwt(Some(i64::MAX), Some(i64::MAX), Some(i64::MAX)),
        raw(r#"{"exp":1e300,"nbf":-1e300,"iat":1e300}"#),
        raw(r#"{"exp":-1e300}"#),
    ] {
        for path in ["/ok", "/401"] {
            let r = check_one(&endpoint(&s.url(path), bearer), &[("T", &token)]).await;
            assert!(r.stage(Stage::Credentials).is_some(), "{r:#?}");
        }
    }
}

#[tokio::test]
async fn absurd_timeouts_are_config_errors_and_never_panic() {
    let toml = "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimeout = \"500000000000y\"\n\n[[endpoints]]\nname = \"b\"\nurl = \"https://b.example\"\ntimeout = \"11m\"\ninterval = \"500000000000y\"\n";
    let err = Config::parse("medic.toml", toml, Path::new("."), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("medic.toml:4:11: timeout:") && err.contains("allowed: 100ms to 10m"),
        "{err}"
    );
    assert!(err.contains("medic.toml:9:11: timeout:"), "{err}");
    assert!(err.contains("medic.toml:10:12: interval:"), "{err}");

    // `Endpoint` fields are public: a library caller's absurd timeout is capped, not a panic.
    let s = HttpServer::start().await;
    let mut ep = Endpoint::adhoc(&s.url("/ok")).unwrap();
    ep.timeout = Duration::MAX;
    let r = Checker::new(Arc::new(Config::default()))
        .check_endpoint(&ep)
        .await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
}

#[test]
fn endpoint_alert_thresholds_must_be_at_least_one() {
    let toml = "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nalerts = { failure_threshold = 0 }\n\n[[endpoints]]\nname = \"b\"\nurl = \"https://b.example\"\nalerts = { success_threshold = 0 }\n";
    let err = Config::parse("medic.toml", toml, Path::new("."), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("medic.toml:4:32: alerts.failure_threshold must be at least 1"),
        "{err}"
    );
    assert!(
        err.contains("medic.toml:9:32: alerts.success_threshold must be at least 1"),
        "{err}"
    );
}

#[tokio::test]
async fn every_warning_and_failure_names_a_knowledge_entry() {
    let s = HttpServer::start().await;
    let closed = closed_port().await;
    let mut toml = String::new();
    let mut add = |url: String, extra: &str| {
        let n = toml.matches("[[endpoints]]").count();
        toml.push_str(&endpoint(&url, extra).replace("name = \"t\"", &format!("name = \"e{n}\"")));
    };
    for code in [
        301u16, 302, 400, 401, 402, 403, 404, 405, 408, 409, 410, 413, 415, 418, 422, 429, 431,
        500, 501, 502, 503, 504, 507, 599, 799,
    ] {
        s.route(&format!("/s{code}"), Reply::status(code));
        add(s.url(&format!("/s{code}")), "");
    }
    s.route("/noloc", Reply::status(302));
    add(s.url("/noloc"), "follow_redirects = 2");
    s.route("/html", Reply::html(200, "<html>"));
    add(s.url("/html"), "expect_json = true");
    add(s.url("/html"), "expect_content_type = \"application/json\"");
    add(s.url("/html"), "body_contains = \"nope\"");
    s.route(
        "/slow",
        Reply::json(200, "{}").slow(Duration::from_millis(150)),
    );
    add(s.url("/slow"), "max_latency = \"10ms\"");
    s.route(
        "/low",
        Reply::json(200, "{}")
            .with_header("x-ratelimit-limit", "100")
            .with_header("x-ratelimit-remaining", "1"),
    );
    add(s.url("/low"), "");
    s.route(
        "/reset",
        Reply::ResetMidBody {
            status: 200,
            body_len: 4096,
        },
    );
    add(s.url("/reset"), "");
    s.route("/close", Reply::Close);
    add(s.url("/close"), "");
    add(format!("http://127.0.0.1:{}/", closed.port), "");
    add(format!("https://{}/", s.addr()), "");
    let config = config_in(Path::new("."), &toml, &[]);
    let reports = Checker::new(config).check_all().await;
    assert!(reports.len() > 30);
    let mut not_ok = 0;
    for r in &reports {
        assert_entries_known(r);
        not_ok += usize::from(r.status != Overall::Ok);
    }
    assert_eq!(not_ok, reports.len(), "every case warns or fails");
}

// ---------------------------------------------------------------- the CLI

fn medic(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medic"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_KNOWLEDGE_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exit_codes_json_and_dotenv() {
    let s = HttpServer::start().await;
    s.route("/ok", Reply::json(200, "{}"));
    s.route("/down", Reply::status(503));
    s.route(
        "/private",
        Reply::handler(|req| {
            if req.header("authorization") == Some("Bearer from-dotenv-JJJJ") {
                Reply::json(200, "{}")
            } else {
                Reply::status(401)
            }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[[endpoints]]\nname = \"up\"\nurl = \"{}\"\n\n[[endpoints]]\nname = \"down\"\nurl = \"{}\"\n\n[[endpoints]]\nname = \"private\"\nurl = \"{}\"\nauth = {{ kind = \"bearer\", token_env = \"MEDIC_TEST_PRIVATE_TOKEN\" }}\n",
        s.url("/ok"),
        s.url("/down"),
        s.url("/private")
    );
    std::fs::write(dir.path().join("medic.toml"), &toml).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "MEDIC_TEST_PRIVATE_TOKEN=from-dotenv-JJJJ\n",
    )
    .unwrap();
    let d = dir.path().to_path_buf();

    let run = move |args: Vec<String>| {
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            medic(&d, &args, &[])
        })
    };
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (code, out, _) = run(v(&["check", "up", "--json"])).await.unwrap();
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["endpoint"], "up");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["stages"].as_array().unwrap().len(), 7);
    assert_eq!(json["facts"]["status_code"], 200);

    let (code, out, err) = run(v(&["check", "down"])).await.unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("✖ HTTP") && out.contains("503"), "{out}");
    assert!(out.contains("[http-503]"), "guidance is printed: {out}");

    // `.env` in the working directory supplies the token; it never appears in output.
    let (code, out, err) = run(v(&["check", "private", "--json"])).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("from-dotenv-JJJJ"));

    let (code, out, _) = run(v(&["check", "--all", "--json"])).await.unwrap();
    assert_eq!(code, 1);
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);

    let (code, out, _) = run(v(&["check", &s.url("/ok")])).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✔ HTTP"), "{out}");

    // A URL in any letter case is checked ad hoc, its userinfo sent as basic auth and never
    // printed (not echoed back as an "unknown endpoint name").
    let upper = format!("HTTP://bob-user:pw-KKKK@127.0.0.1:{}/ok", s.port());
    let (code, out, err) = run(v(&["check", &upper])).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("pw-KKKK") && !err.contains("pw-KKKK"),
        "{out}{err}"
    );
    assert!(
        !out.contains("bob-user") && !err.contains("bob-user"),
        "{out}{err}"
    );
    assert!(
        s.requests()
            .last()
            .and_then(|r| r.header("authorization"))
            .is_some_and(|a| a.starts_with("Basic ")),
        "userinfo is sent as basic auth"
    );
    let broken = "HTTPS://bob-user:pw-KKKK@exa mple.com/";
    let (code, out, err) = run(v(&["check", broken])).await.unwrap();
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        !out.contains("pw-KKKK") && !err.contains("pw-KKKK"),
        "{out}{err}"
    );

    let (code, _, err) = run(v(&["check", "uq"])).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `up`"), "{err}");

    let (code, out, err) = run(v(&["config", "check"])).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 endpoint(s), no problems"), "{out}");
    assert!(!out.contains("from-dotenv-JJJJ"));

    std::fs::write(
        dir.path().join("bad.toml"),
        "[[endpoints]]\nname = \"x\"\nurl = \"https://x.example\"\ntimeout = \"ten seconds\"\n",
    )
    .unwrap();
    let (code, _, err) = run(v(&["--config", "bad.toml", "config", "check"]))
        .await
        .unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml:4:11: timeout"), "{err}");
    // `check` is lenient: the broken endpoint is reported as not configured (exit 1).
    let (code, out, _) = run(v(&["--config", "bad.toml", "check", "--all"]))
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(out.contains("x  NOT CONFIGURED: line 4: timeout"), "{out}");
}

// ---------------------------------------------------------------- hostile servers: the gate

/// What the hostile server echoes next, and where.
#[derive(Default)]
struct Echo {
    place: &'static str,
    text: String,
}

/// The places of an answer a server controls and medic shows.
const PLACES: [&str; 5] = [
    "www-authenticate",
    "body",
    "location",
    "content-type",
    "ratelimit-policy",
];

/// An API server that puts `echo.text` into `echo.place`, and a token server that issues
/// `token` or, when the place is `oauth-error`, refuses with the text as `error_description`.
fn hostile_servers(
    api: &HttpServer,
    token_server: &HttpServer,
    echo: &Arc<std::sync::Mutex<Echo>>,
    token: &str,
) {
    let e = echo.clone();
    api.set_default(Reply::handler(move |_| {
        let echo = e.lock().unwrap();
        let text = echo.text.as_str();
        let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
        match echo.place {
            "www-authenticate" => Reply::status(401).with_header(
                "www-authenticate",
                &format!(
                    "Bearer error=\"invalid_token\", error_description=\"rejected: {quoted}\""
                ),
            ),
            "body" => Reply::html(200, &format!("{text} tail")),
            "location" => {
                Reply::status(302).with_header("location", &format!("/next/{text}?echo={text}"))
            }
            "content-type" => Reply::body(200, &format!("application/{text}"), b"{}".to_vec()),
            _ => Reply::json(200, "{}").with_header(
                "ratelimit-policy",
                &format!("100;w=60;comment=\"{quoted}\""),
            ),
        }
    }));
    let e = echo.clone();
    let token = token.to_string();
    token_server.set_default(Reply::handler(move |_| {
        let echo = e.lock().unwrap();
        if echo.place == "oauth-error" {
            let body = serde_json::json!({"error": "invalid_client", "error_description": format!("client {} unknown", echo.text)});
            Reply::json(401, &body.to_string())
        } else {
            Reply::json(200, &format!(r#"{{"access_token":"{token}","expires_in":3600}}"#))
        }
    }));
}

/// Every surface a report reaches: `check` text, `check --json`, the Discord embed, and the
/// observation the alerts (and so the database and alert texts) are built from.
fn surfaces(r: &CheckReport, kb: &Knowledge) -> Vec<(&'static str, String)> {
    let observation = medic::alerts::probe::observation(r);
    vec![
        ("text", medic::render::terminal::check::report(r, kb)),
        ("json", serde_json::to_string(r).unwrap()),
        (
            "discord",
            serde_json::to_string(&medic::render::discord::check_report(r, kb).serenity_embeds())
                .unwrap(),
        ),
        ("observation", serde_json::to_string(&observation).unwrap()),
    ]
}

#[tokio::test]
async fn hostile_echoes_in_every_form_and_place_leak_nothing_for_every_auth_kind() {
    let kb = Knowledge::builtin().unwrap();
    let api = HttpServer::start().await;
    let token_server = HttpServer::start().await;
    let echo = Arc::new(std::sync::Mutex::new(Echo::default()));
    let access_token = "at-OAuth-S9t0U1v2W3x4";
    hostile_servers(&api, &token_server, &echo, access_token);
    let oauth = format!("{{ kind = \"oauth2_client_credentials\", token_url = \"{}\", client_id_env = \"CI\", client_secret_env = \"CS\" }}", token_server.url("/token"));
    type Env = Vec<(&'static str, &'static str)>;
    type Kind = (
        &'static str,
        String,
        Env,
        Vec<&'static str>,
        Vec<&'static str>,
    );
    // (kind, auth table, environment, what the API echoes, what the token endpoint echoes)
    let kinds: Vec<Kind> = vec![
        (
            "bearer",
            "{ kind = \"bearer\", token_env = \"T\" }".into(),
            vec![("T", "tok-Bearer/9f8E+7d6=C5b4")],
            vec!["tok-Bearer/9f8E+7d6=C5b4"],
            vec![],
        ),
        (
            "basic",
            "{ kind = \"basic\", user_env = \"U\", password_env = \"P\" }".into(),
            vec![("U", "svc-user-Basic"), ("P", "pw Basic/3a2B+1c0=")],
            vec![
                "svc-user-Basic",
                "pw Basic/3a2B+1c0=",
                "svc-user-Basic:pw Basic/3a2B+1c0=",
            ],
            vec![],
        ),
        (
            "header",
            "{ kind = \"header\", name = \"X-Api-Key\", value_env = \"K\" }".into(),
            vec![("K", "key-Header_A1b2C3d4/e5+F6")],
            vec!["key-Header_A1b2C3d4/e5+F6"],
            vec![],
        ),
        (
            "query",
            "{ kind = \"query\", param = \"api_token\", value_env = \"Q\" }".into(),
            vec![("Q", "q-Query/G7h8+I9j0=K1")],
            vec!["q-Query/G7h8+I9j0=K1"],
            vec![],
        ),
        (
            "oauth2",
            oauth,
            vec![("CI", "cid-OAuth-L2m3N4"), ("CS", "csec-OAuth/O5p6+Q7r8=")],
            vec![access_token],
            vec!["cid-OAuth-L2m3N4", "csec-OAuth/O5p6+Q7r8="],
        ),
    ];
    let mut cases = 0;
    for (kind, auth, env, api_echoes, token_echoes) in &kinds {
        let toml = endpoint(
            &api.url("/v1/x"),
            &format!("auth = {auth}\nexpect_content_type = \"application/json\""),
        );
        let checker = Checker::new(config_in(Path::new("."), &toml, env));
        let mut all_secrets: Vec<&str> = env.iter().map(|(_, v)| *v).collect();
        if *kind == "oauth2" {
            all_secrets.push(access_token);
        }
        let plan = api_echoes
            .iter()
            .flat_map(|s| PLACES.iter().map(move |p| (*p, *s)))
            .chain(token_echoes.iter().map(|s| ("oauth-error", *s)));
        for (n, (place, secret)) in plan.enumerate() {
            // The first secret of a kind in every form; the others in every other form, which
            // still covers each form in each place across the kinds.
            let forms = support::hostile::encodings(secret)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| n < PLACES.len() || i % 2 == n % 2)
                .map(|(_, f)| f);
            for (encoding, text) in forms {
                *echo.lock().unwrap() = Echo {
                    place,
                    text: text.clone(),
                };
                let r = checker.check_named("t").await.unwrap();
                let case = format!("{kind} / {place} / {encoding}");
                let outputs = surfaces(&r, &kb);
                assert!(
                    outputs[0].1.contains("***") || outputs[0].1.contains("[withheld"),
                    "{case}: the echo was shown, masked:\n{}",
                    outputs[0].1
                );
                let mut forbidden = support::hostile::Forbidden::default();
                forbidden.add(secret, &text);
                for other in &all_secrets {
                    forbidden.add(other, other);
                }
                for (surface, out) in &outputs {
                    forbidden.assert_absent(&format!("{case} in {surface}"), out);
                }
                cases += 1;
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
}

// ---------------------------------------------------------------- configuration bounds

fn config_error(toml: &str) -> Option<String> {
    Config::parse("medic.toml", toml, Path::new("."), &HashMap::new())
        .err()
        .map(|e| e.to_string())
}

#[test]
fn timing_settings_outside_their_bounds_are_refused_with_line_and_range() {
    let ep = |extra: &str| {
        format!("[[endpoints]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n{extra}\n")
    };
    // (configuration, line of the value, key) that must be refused.
    let refused = [
        (ep("interval = \"1ns\""), 4, "interval"),
        (ep("interval = \"999ms\""), 4, "interval"),
        (ep("timeout = \"50ms\""), 4, "timeout"),
        (ep("timeout = \"0\""), 4, "timeout"),
        (
            "[alerts]\nremind_every = \"1ms\"\n".to_string(),
            2,
            "remind_every",
        ),
        (
            ep("alerts = { remind_every = \"59s\" }"),
            4,
            "alerts.remind_every",
        ),
        ("[alerts]\nretention = \"1s\"\n".to_string(), 2, "retention"),
        ("[alerts]\nretention = \"0\"\n".to_string(), 2, "retention"),
        (ep("follow_redirects = 4294967295"), 4, "follow_redirects"),
        (ep("follow_redirects = 11"), 4, "follow_redirects"),
        ("[checks]\nconcurrency = 0\n".to_string(), 2, "concurrency"),
        (
            "[checks]\nconcurrency = 5000\n".to_string(),
            2,
            "concurrency",
        ),
    ];
    for (toml, line, key) in &refused {
        let err = config_error(toml).unwrap_or_else(|| panic!("accepted:\n{toml}"));
        assert!(
            err.starts_with(&format!("medic.toml:{line}:"))
                && err.contains(&format!(": {key}: "))
                && err.contains("allowed: "),
            "{toml}\n→ {err}"
        );
    }
    // The edges of each range are fine, and so is zero where it means "off".
    for ok in [
        ep("interval = \"1s\""),
        ep("interval = \"0\""),
        ep("timeout = \"100ms\""),
        ep("follow_redirects = 10"),
        ep("alerts = { remind_every = \"never\" }"),
        "[alerts]\nremind_every = \"1m\"\nretention = \"1h\"\n".to_string(),
        "[alerts]\nremind_every = \"0\"\n".to_string(),
        "[checks]\nconcurrency = 1024\n".to_string(),
    ] {
        assert_eq!(config_error(&ok), None, "{ok}");
    }
}

#[test]
fn config_errors_never_repeat_a_value_that_may_be_a_secret() {
    let key = "sk_live_51HxQ2eLkdIwHu7ixWqYtR";
    let ep = |name: &str, extra: &str| {
        format!("[[endpoints]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:1/\"\n{extra}\n")
    };
    let cases = [
        ep(&format!("X-Api-Key: {key}"), ""),
        ep(&format!("X-Api-Key: {key}"), "auth = { kind = \"bearer\", token_env = \"UNSET_X\" }"),
        ep("a", &format!("auth = {{ kind = \"header\", name = \"X-Api-Key: {key}\", value_env = \"UNSET_Y\" }}")),
        format!("[discord]\nalert_channel = \"{key}\"\n"),
        ep("a", &format!("alerts = {{ mention_role = \"{key}\" }}")),
        ep("a", &format!("follow_redirects = \"{key}\"")),
        ep("a", &format!("timeout = \"{key}\"")),
        ep("a", &format!("interval = \"Bearer {key}\"")),
        ep("a", &format!("method = \"{key}\"")),
        ep("a", &format!("expect_status = \"{key}\"")),
        ep("a", &format!("resolver = \"{key}\"")),
        ep("a", &format!("expect_json_pointers = [\"{key}\"]")),
        ep("a", &format!("auth = {{ kind = \"{key}\" }}")),
        ep("a", &format!("headers = {{ \"X-Token-{key}\" = \"v\" }}")),
        format!("{}\n{}", ep("same", ""), ep("same", &format!("headers = {{ \"{key}\" = 1 }}"))),
    ];
    for toml in &cases {
        let err = config_error(toml).unwrap_or_else(|| panic!("accepted:\n{toml}"));
        assert!(err.starts_with("medic.toml:"), "{err}");
        let mut forbidden = support::hostile::Forbidden::default();
        forbidden.add(key, key);
        forbidden.assert_absent(&format!("error for\n{toml}"), &err);
    }
}

// ---------------------------------------------------------------- redirect policy

/// The HTTP stage's detail, which must be a warning about a redirect not followed.
#[track_caller]
fn redirect_warning(r: &CheckReport) -> &str {
    expect(
        r,
        Stage::Http,
        StageStatus::Warn,
        Some("general-troubleshooting"),
    );
    detail(r, Stage::Http)
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_not_followed_from_a_public_name() {
    let internal = HttpServer::start().await;
    internal.set_default(Reply::json(200, r#"{"admin":"internal only"}"#));
    let edge = HttpServer::start().await;
    let dns = DnsServer::start(&[
        (
            "api.partner.test",
            DnsAnswer::A("127.0.0.1".parse().unwrap()),
        ),
        (
            "admin.partner.test",
            DnsAnswer::A("127.0.0.1".parse().unwrap()),
        ),
    ])
    .await;
    edge.route(
        "/by-name",
        Reply::status(302).with_header(
            "location",
            &format!("http://admin.partner.test:{}/admin", internal.port()),
        ),
    );
    edge.route(
        "/by-ip",
        Reply::status(302).with_header("location", &internal.url("/admin")),
    );
    let url = |path: &str| format!("http://api.partner.test:{}{path}", edge.port());
    let extra = format!("follow_redirects = 3\nresolver = \"{}\"", dns.addr);
    for path in ["/by-name", "/by-ip"] {
        let r = check_one(&endpoint(&url(path), &extra), &[]).await;
        let d = redirect_warning(&r);
        assert!(
            d.contains("not followed")
                && d.contains("127.0.0.1, a loopback address")
                && d.contains("allow_private_redirects"),
            "{path}: {d}"
        );
        assert_eq!(r.status, Overall::Warn, "{r:#?}");
    }
    assert_eq!(internal.hits(), 0, "the internal service was never asked");

    // Allowed explicitly, or when the configured URL is itself internal.
    let allowed = format!("{extra}\nallow_private_redirects = true");
    let r = check_one(&endpoint(&url("/by-name"), &allowed), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    let r = check_one(&endpoint(&edge.url("/by-ip"), "follow_redirects = 3"), &[]).await;
    assert_eq!(r.status, Overall::Ok, "{r:#?}");
    assert_eq!(internal.hits(), 2);
}

#[tokio::test]
async fn redirect_loops_and_oversized_headers_are_named() {
    let s = HttpServer::start().await;
    s.route("/a", Reply::status(302).with_header("location", "/b"));
    s.route("/b", Reply::status(302).with_header("location", "/a#again"));
    let r = check_one(&endpoint(&s.url("/a"), "follow_redirects = 10"), &[]).await;
    let d = redirect_warning(&r);
    assert!(
        d.contains("redirect loop") && d.contains("/a → ") && d.contains("/b → "),
        "{d}"
    );

    s.route(
        "/big",
        Reply::json(200, "{}").with_header("x-padding", &"p".repeat(500 * 1024)),
    );
    let r = check_one(&endpoint(&s.url("/big"), ""), &[]).await;
    expect(
        &r,
        Stage::Http,
        StageStatus::Fail,
        Some("general-troubleshooting"),
    );
    let d = detail(&r, Stage::Http);
    assert!(
        d.contains("response headers") && d.contains("larger than"),
        "{d}"
    );
}

#[tokio::test]
async fn a_503_report_shows_what_it_saw_and_commands_for_this_endpoint() {
    let s = HttpServer::start().await;
    s.route(
        "/down",
        Reply::body(503, "text/plain", b"no healthy upstream\nmore".to_vec())
            .with_header("retry-after", "120"),
    );
    let r = check_one(&endpoint(&s.url("/down"), ""), &[]).await;
    expect(&r, Stage::Http, StageStatus::Fail, Some("http-503"));
    let text = medic::render::terminal::check::report(&r, &Knowledge::builtin().unwrap());
    assert!(
        text.contains("seen: Retry-After 120 s; body starts \"no healthy upstream\""),
        "{text}"
    );
    assert!(
        text.contains("HTTP — 503 Service Unavailable, Retry-After 120 s → "),
        "{text}"
    );
    assert!(
        text.contains(&format!("`curl -sS -i {}`", s.url("/down"))),
        "{text}"
    );
}
