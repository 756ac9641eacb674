//! What an answer says beyond its status: credentials (401 vs 403, `WWW-Authenticate`, JWT
//! times), rate limits (`Retry-After`, `X-RateLimit-*`, IETF `RateLimit*`), and format (content
//! type, JSON, required pointers, `body_contains`). Pure functions of the response and a time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use super::entries;
use super::http::{status_text, Response};
use super::oauth::Token;
use super::{Failure, RateLimitFacts, Verdict};
use crate::config::{Auth, Endpoint};
use crate::secrets::Redactor;

/// Tokens expiring sooner than this are a warning.
const TOKEN_NEAR_EXPIRY: Duration = Duration::from_secs(10 * 60);
/// `nbf`/`iat` further in the future than this mean one of the clocks is wrong.
const CLOCK_SKEW_TOLERANCE: Duration = Duration::from_secs(60);
/// How much of a server's `error_description` a report quotes.
const DESCRIPTION_CHARS: usize = 200;
/// How much of a body a format failure quotes.
const SNIPPET_CHARS: usize = 60;
/// How much of a body the gate reads to quote [`SNIPPET_CHARS`] of it.
const SNIPPET_SCAN: usize = 64 * 1024;

/// `WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="..."`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the first challenge of a `WWW-Authenticate` value (RFC 9110 auth-params).
pub(crate) fn parse_challenge(value: &str) -> Challenge {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',' && !c.is_whitespace()))
                .collect();
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next_if_eq(&'=').is_none() {
            // token68 or the next scheme: stop at the first challenge.
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n)
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            val = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        params.push((key.to_ascii_lowercase(), val));
    }
    Challenge {
        scheme: scheme.to_string(),
        params,
    }
}

/// The time claims of a JWT, read without verifying it (medic is not the audience).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct JwtTimes {
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
}

pub(crate) fn decode_jwt(token: &str) -> Option<JwtTimes> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
    };
    Some(JwtTimes {
        exp: num("exp"),
        nbf: num("nbf"),
        iat: num("iat"),
    })
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn ago_or_in(secs: i64) -> String {
    let d = humantime::format_duration(Duration::from_secs(secs.unsigned_abs()));
    if secs < 0 {
        format!("{d} ago")
    } else {
        format!("in {d}")
    }
}

/// What the JWT's times say, judged at `now`: `(problem, entry)` for the worst finding.
/// Claims come from the token, so any `i64` is possible: arithmetic saturates.
fn jwt_problem(t: &JwtTimes, now: i64) -> Option<(String, &'static str)> {
    let skew = CLOCK_SKEW_TOLERANCE.as_secs() as i64;
    let late = now.saturating_add(skew);
    if let Some(nbf) = t.nbf.filter(|&n| n > late) {
        let at = UNIX_EPOCH
            .checked_add(Duration::from_secs(nbf.max(0) as u64))
            .map(super::format_time)
            .unwrap_or_else(|| format!("{nbf} (Unix time)"));
        return Some((format!("the token is not valid before {at} (`nbf` {}): this machine's clock or the issuer's is off", ago_or_in(nbf.saturating_sub(now))), entries::CLOCK_SKEW));
    }
    if let Some(iat) = t.iat.filter(|&i| i > late) {
        return Some((format!("the token was issued in the future (`iat` {}): this machine's clock or the issuer's is off", ago_or_in(iat.saturating_sub(now))), entries::CLOCK_SKEW));
    }
    if let Some(exp) = t.exp {
        let left = exp.saturating_sub(now);
        if left <= 0 {
            return Some((
                format!("the token expired {} (`exp`)", ago_or_in(left)),
                entries::EXPIRED_TOKEN,
            ));
        }
        if left < TOKEN_NEAR_EXPIRY.as_secs() as i64 {
            return Some((
                format!("the token expires {} (`exp`)", ago_or_in(left)),
                entries::EXPIRED_TOKEN,
            ));
        }
    }
    None
}

/// "the bearer token from PAYMENTS_TOKEN".
fn describe(auth: Option<&Auth>) -> String {
    match auth {
        None => "no credentials (none configured)".into(),
        Some(Auth::Bearer { token_env, .. }) => format!("the bearer token from {token_env}"),
        Some(Auth::Basic {
            user_env,
            password_env,
            ..
        }) => format!("basic auth from {user_env}/{password_env}"),
        Some(Auth::Header {
            name, value_env, ..
        }) => format!("the `{name}` header from {value_env}"),
        Some(Auth::Query {
            param, value_env, ..
        }) => format!("the `{param}` query parameter from {value_env}"),
        Some(Auth::OAuth2ClientCredentials { client_id_env, .. }) => {
            format!("the OAuth2 token issued to the client from {client_id_env}")
        }
    }
}

/// The credentials stage. Server text is masked with `redactor` before it is shortened.
pub(crate) fn credentials(
    ep: &Endpoint,
    resp: &Response,
    oauth: Option<&Token>,
    now: SystemTime,
    expected: bool,
    redactor: &Redactor,
) -> Verdict {
    let auth = ep.auth.as_ref();
    let token: Option<&str> = match (auth, oauth) {
        (_, Some(t)) => Some(t.access_token.as_str()),
        (Some(Auth::Bearer { token, .. }), _) => Some(token.expose()),
        _ => None,
    };
    let jwt = token.and_then(decode_jwt);
    let problem = jwt.as_ref().and_then(|j| jwt_problem(j, unix(now)));
    let what = describe(auth);
    let prefix = oauth
        .map(|t| format!("{}; ", t.summary))
        .unwrap_or_default();

    if matches!(resp.status, 401 | 403) && !expected {
        let challenge = resp.header("www-authenticate").map(parse_challenge);
        let error = challenge
            .as_ref()
            .and_then(|c| c.param("error"))
            .unwrap_or("")
            .to_string();
        let description = challenge
            .as_ref()
            .and_then(|c| c.param("error_description"))
            .unwrap_or("");
        let mut detail = format!(
            "{prefix}{}: the server rejected {what}",
            status_text(resp.status)
        );
        if let Some(c) = &challenge {
            detail.push_str(&format!(" (WWW-Authenticate: {}", c.scheme));
            if !error.is_empty() {
                detail.push_str(&format!(
                    " error=\"{}\"",
                    redactor.excerpt(&error, DESCRIPTION_CHARS)
                ));
            }
            if !description.is_empty() {
                detail.push_str(&format!(
                    " error_description=\"{}\"",
                    redactor.excerpt(description, DESCRIPTION_CHARS)
                ));
            }
            detail.push(')');
        }
        let entry = if resp.status == 403 {
            detail.push_str(" — authenticated, but not allowed to do this");
            if error == "insufficient_scope"
                || matches!(auth, Some(Auth::OAuth2ClientCredentials { .. }))
            {
                entries::INSUFFICIENT_PERMISSIONS
            } else {
                entries::HTTP_403
            }
        } else if let Some((p, entry)) = &problem {
            detail.push_str(&format!("; {p}"));
            entry
        } else if auth.is_none() {
            detail.push_str(" — the endpoint needs credentials; add an `auth` table");
            entries::HTTP_401
        } else if description.to_ascii_lowercase().contains("expired") {
            entries::EXPIRED_TOKEN
        } else if matches!(auth, Some(Auth::Header { .. } | Auth::Query { .. }))
            || (error == "invalid_token" && jwt.is_none())
        {
            // An API key, or an opaque token the server calls invalid: the key itself is wrong.
            entries::INVALID_API_KEY
        } else {
            entries::HTTP_401
        };
        return Verdict::Fail(Failure::new(detail, Some(entry)));
    }
    if auth.is_none() {
        return Verdict::Skipped("no auth configured".into());
    }
    // A 429 says nothing about the credentials; an allowed 401/403 is the answer that was
    // asked for, not an acceptance.
    if resp.status == 429 || matches!(resp.status, 401 | 403) {
        return Verdict::Skipped(format!(
            "{prefix}not judged: status {}",
            status_text(resp.status)
        ));
    }
    let mut detail = format!("{prefix}{what} accepted");
    if let Some(j) = &jwt {
        match j.exp {
            Some(exp) => detail.push_str(&format!(
                "; JWT expires {}",
                ago_or_in(exp.saturating_sub(unix(now)))
            )),
            None => detail.push_str("; JWT without `exp`"),
        }
    } else if let Some(secs) = oauth.and_then(|t| t.expires_in) {
        if secs < TOKEN_NEAR_EXPIRY.as_secs() {
            return Verdict::Warn(Failure::new(
                format!("{detail}; but the issued token lives only {secs} s"),
                Some(entries::EXPIRED_TOKEN),
            ));
        }
    }
    match problem {
        Some((p, entry)) => Verdict::Warn(Failure::new(format!("{detail}, but {p}"), Some(entry))),
        None => Verdict::Ok(detail),
    }
}

fn header_u64(resp: &Response, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        resp.header(n)
            .and_then(|v| v.split([',', ';']).next())
            .and_then(|v| v.trim().parse::<f64>().ok())
            // `inf` and `NaN` parse as f64; they are no figure. Huge values saturate.
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// `limit=100, remaining=5, reset=30` or the newer `"default";r=5;t=30` (IETF drafts).
fn structured(value: &str, keys: &[&str]) -> Option<u64> {
    value
        .split([',', ';'])
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| keys.iter().any(|want| k.trim().eq_ignore_ascii_case(want)))
        .and_then(|(_, v)| v.trim().trim_matches('"').parse().ok())
}

/// Every rate-limit figure in the answer, with resets as seconds from `now`.
pub(crate) fn rate_limit_facts(
    resp: &Response,
    now: SystemTime,
    redactor: &Redactor,
) -> RateLimitFacts {
    let now_s = unix(now) as u64;
    let mut f = RateLimitFacts {
        limit: header_u64(
            resp,
            &["ratelimit-limit", "x-ratelimit-limit", "x-rate-limit-limit"],
        ),
        remaining: header_u64(
            resp,
            &[
                "ratelimit-remaining",
                "x-ratelimit-remaining",
                "x-rate-limit-remaining",
            ],
        ),
        reset: header_u64(
            resp,
            &["ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset"],
        ),
        retry_after: None,
        policy: resp
            .header("ratelimit-policy")
            .map(|p| redactor.excerpt(p, DESCRIPTION_CHARS)),
    };
    if let Some(rl) = resp.header("ratelimit") {
        f.limit = f.limit.or_else(|| structured(rl, &["limit", "q"]));
        f.remaining = f.remaining.or_else(|| structured(rl, &["remaining", "r"]));
        f.reset = f.reset.or_else(|| structured(rl, &["reset", "t"]));
    }
    if let Some(p) = &f.policy {
        // `100;w=60` (older draft) or `"default";q=100;w=60` (newer).
        let first = p
            .split([',', ';'])
            .next()
            .unwrap_or("")
            .trim()
            .parse::<u64>()
            .ok();
        f.limit = f.limit.or(first).or_else(|| structured(p, &["q"]));
    }
    // X-RateLimit-Reset is often an epoch timestamp rather than a delay, in seconds or (past
    // 1e12, i.e. year 33658 in seconds) in milliseconds.
    if let Some(r) = f.reset {
        if r > 1_000_000_000_000 {
            f.reset = Some((r / 1000).saturating_sub(now_s));
        } else if r > 1_000_000_000 {
            f.reset = Some(r.saturating_sub(now_s));
        }
    }
    if let Some(ra) = resp.header("retry-after") {
        let ra = ra.trim();
        f.retry_after = match ra.parse::<u64>() {
            Ok(s) => Some(s),
            Err(_) => httpdate::parse_http_date(ra)
                .ok()
                .map(|t| t.duration_since(now).map(|d| d.as_secs()).unwrap_or(0)),
        };
    }
    f
}

/// The longest window of a `RateLimit-Policy`, in seconds (`w=`): a policy may list a burst
/// window and a daily quota, and the quota is the one that decides the entry.
fn policy_window(policy: &str) -> Option<u64> {
    policy
        .split([',', ';'])
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("w"))
        .filter_map(|(_, v)| v.trim().trim_matches('"').parse::<u64>().ok())
        .max()
}

/// The rate-limit stage.
pub(crate) fn rate_limit(f: &RateLimitFacts, status: u16, expected: bool) -> Verdict {
    let mut parts = Vec::new();
    if let (Some(r), Some(l)) = (f.remaining, f.limit) {
        parts.push(format!("{r}/{l} requests left"));
    } else if let Some(r) = f.remaining {
        parts.push(format!("{r} requests left"));
    }
    if let Some(s) = f.reset {
        parts.push(format!("window resets in {s} s"));
    }
    if let Some(p) = &f.policy {
        parts.push(format!("policy {p}"));
    }
    if let Some(s) = f.retry_after {
        parts.push(format!("Retry-After {s} s"));
    }
    let figures = parts.join(", ");
    // A quota over a day or more is a quota problem, not a burst problem.
    let long_window = f
        .policy
        .as_deref()
        .and_then(policy_window)
        .is_some_and(|w| w >= 86_400)
        || f.reset.is_some_and(|r| r >= 6 * 3600);
    let entry = if long_window {
        entries::API_QUOTA_EXCEEDED
    } else {
        entries::HTTP_429
    };
    if status == 429 && !expected {
        let detail = if figures.is_empty() {
            "429 Too Many Requests: rate limited (no Retry-After or rate-limit headers; back off exponentially)".to_string()
        } else {
            format!("429 Too Many Requests: rate limited; {figures}")
        };
        return Verdict::Fail(Failure::new(detail, Some(entry)));
    }
    if f.is_empty() {
        return Verdict::Ok("no rate-limit headers".into());
    }
    if let (Some(r), Some(l)) = (f.remaining, f.limit) {
        if l > 0 && r.saturating_mul(10) < l {
            return Verdict::Warn(Failure::new(
                format!("{figures} — under 10% of the limit remains"),
                Some(entry),
            ));
        }
    }
    Verdict::Ok(figures)
}

fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The start of a body for a message: masked whole, then cut (a secret straddling the cut
/// must not leave a fragment; masking the whole body also sees secrets that masking shortened
/// text would pull into the window).
fn snippet(body: &[u8], redactor: &Redactor) -> String {
    // The gate reads a bounded prefix: a 1 MiB body would cost time for 60 characters. The
    // excerpt is gated again with the whole report, so a secret cut at this bound is caught
    // there when its piece is long enough to count.
    let head = &body[..body.len().min(SNIPPET_SCAN)];
    redactor.excerpt(&String::from_utf8_lossy(head), SNIPPET_CHARS)
}

/// The body's first non-empty line, masked, for the report: an error body's first line
/// ("no healthy upstream", "<title>Sign in</title>") is often the whole explanation.
pub(crate) fn first_line(body: &[u8], redactor: &Redactor) -> Option<String> {
    let head = &body[..body.len().min(SNIPPET_SCAN)];
    let text = String::from_utf8_lossy(head);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(redactor.excerpt(line, FIRST_LINE_CHARS))
}

/// How much of a body's first line the report quotes.
const FIRST_LINE_CHARS: usize = 120;

/// The format stage. Body text is masked with `redactor` before it is quoted.
pub(crate) fn format(ep: &Endpoint, resp: &Response, redactor: &Redactor) -> Verdict {
    let raw = resp.header("content-type");
    let got = raw.map(essence);
    // Shown as sent, through the gate: lowercasing first (as `essence` does for comparing)
    // would turn a secret into a form the comparison no longer sees as sent.
    let got_shown = raw
        .map(|ct| redactor.excerpt(ct, DESCRIPTION_CHARS))
        .unwrap_or_else(|| "(no Content-Type)".into());
    if let Some(want) = &ep.expect_content_type {
        if got.as_deref() != Some(essence(want).as_str()) {
            return Verdict::Fail(Failure::new(
                format!(
                    "expected Content-Type {want}, got {got_shown} (body starts `{}`)",
                    snippet(&resp.body, redactor)
                ),
                Some(entries::CONTENT_TYPE_MISMATCH),
            ));
        }
    }
    let declares_json = got
        .as_deref()
        .is_some_and(|g| g == "application/json" || g.ends_with("+json"));
    let mut checked = vec![format!("Content-Type {got_shown}")];
    if ep.expect_json || declares_json {
        // A login page or a proxy's error page is not broken JSON: it is the wrong kind of
        // answer, and the content-type entry explains why one arrives.
        let html = got.as_deref() == Some("text/html")
            || resp
                .body
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|&b| b == b'<');
        if html {
            return Verdict::Fail(Failure::new(
                format!(
                    "expected JSON, got HTML (Content-Type {got_shown}; body starts `{}`)",
                    snippet(&resp.body, redactor)
                ),
                Some(entries::CONTENT_TYPE_MISMATCH),
            ));
        }
        if resp.truncated {
            return Verdict::Fail(Failure::new(
                format!(
                    "the body is larger than the {} KiB read cap, so its JSON cannot be checked",
                    super::BODY_CAP / 1024
                ),
                Some(entries::MALFORMED_JSON),
            ));
        }
        let value: serde_json::Value = match serde_json::from_slice(&resp.body) {
            Ok(v) => v,
            Err(e) => {
                return Verdict::Fail(Failure::new(
                    format!(
                        "body is not valid JSON ({e}); it starts `{}`",
                        snippet(&resp.body, redactor)
                    ),
                    Some(entries::MALFORMED_JSON),
                ))
            }
        };
        checked.push("valid JSON".into());
        let missing: Vec<&str> = ep
            .expect_json_pointers
            .iter()
            .filter(|p| value.pointer(p).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Verdict::Fail(Failure::new(
                format!("JSON is missing required field(s) {}", missing.join(", ")),
                Some(entries::SCHEMA_MISMATCH),
            ));
        }
        if !ep.expect_json_pointers.is_empty() {
            checked.push(format!(
                "{} required field(s) present",
                ep.expect_json_pointers.len()
            ));
        }
    }
    if let Some(needle) = &ep.body_contains {
        if !String::from_utf8_lossy(&resp.body).contains(needle.as_str()) {
            return Verdict::Fail(Failure::new(
                format!(
                    "body does not contain `{needle}` (it starts `{}`)",
                    snippet(&resp.body, redactor)
                ),
                Some(entries::SCHEMA_MISMATCH),
            ));
        }
        checked.push("body_contains found".into());
    }
    checked.push(format!("{} bytes", resp.body.len()));
    Verdict::Ok(checked.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_params() {
        let c = parse_challenge(
            r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("error"), Some("invalid_token"));
        assert_eq!(
            c.param("error_description"),
            Some("The access token expired")
        );
        assert_eq!(parse_challenge("Basic realm=x").param("realm"), Some("x"));
    }

    #[test]
    fn extreme_jwt_times_do_not_overflow() {
        for v in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            let t = JwtTimes {
                exp: Some(v),
                nbf: Some(v),
                iat: Some(v),
            };
            for now in [i64::MIN, 0, 1_800_000_000, i64::MAX] {
                let _ = jwt_problem(&t, now);
            }
        }
        let far = JwtTimes {
            exp: Some(i64::MIN),
            ..Default::default()
        };
        assert_eq!(
            jwt_problem(&far, i64::MAX).unwrap().1,
            entries::EXPIRED_TOKEN
        );
    }

    #[test]
    fn policy_window_is_the_longest() {
        assert_eq!(policy_window("100;w=60, 5000;w=86400"), Some(86_400));
        assert_eq!(
            policy_window(r#""burst";q=100;w=1, "daily";q=1000;w=86400"#),
            Some(86_400)
        );
        assert_eq!(policy_window("100"), None);
    }

    #[test]
    fn jwt_times() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1000,"iat":900}"#);
        let t = decode_jwt(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(t.exp, Some(1000));
        assert_eq!(jwt_problem(&t, 2000).unwrap().1, entries::EXPIRED_TOKEN);
        assert_eq!(jwt_problem(&t, 100).unwrap().1, entries::CLOCK_SKEW);
        assert_eq!(jwt_problem(&t, 950).unwrap().1, entries::EXPIRED_TOKEN);
        assert!(jwt_problem(
            &JwtTimes {
                exp: Some(10_000),
                ..Default::default()
            },
            100
        )
        .is_none());
        assert!(decode_jwt("not-a-jwt").is_none());
    }
}
