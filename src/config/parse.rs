//! From TOML text to a validated [`Config`]: serde reads the shape (unknown keys and wrong types
//! are caught there, with the span of the offending key), then every value is checked and every
//! problem collected with its line.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;
use url::Url;

use super::{
    AlertOverride, AlertPolicy, Auth, CheckSettings, Config, ConfigError, ConfigErrors,
    DiscordSettings, Endpoint, TlsCa,
};
use crate::located::LineIndex;
use crate::secrets::{Secret, SecretSource};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
    #[serde(default)]
    discord: RawDiscord,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    checks: RawChecks,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    #[serde(default, deserialize_with = "ids")]
    listen_channels: Vec<u64>,
    #[serde(default, deserialize_with = "ids")]
    check_roles: Vec<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    alert_channel: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    mention_role: Option<u64>,
    #[serde(default = "yes")]
    message_content: bool,
}

impl Default for RawDiscord {
    fn default() -> Self {
        RawDiscord {
            listen_channels: Vec::new(),
            check_roles: Vec::new(),
            alert_channel: None,
            mention_role: None,
            message_content: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    failure_threshold: Option<Spanned<u32>>,
    success_threshold: Option<Spanned<u32>>,
    remind_every: Option<Spanned<String>>,
    cert_warn_days: Option<u32>,
    retention: Option<Spanned<String>>,
}

/// What a duration setting accepts, for the check and for the message that refuses it.
struct Bounds {
    min: Duration,
    max: Duration,
    /// What zero (`"0"`, `"never"`) means where it is allowed.
    zero: Option<&'static str>,
}

impl Bounds {
    fn describe(&self) -> String {
        let range = format!(
            "{} to {}",
            humantime::format_duration(self.min),
            humantime::format_duration(self.max)
        );
        match self.zero {
            Some(off) => format!("0 or \"never\" ({off}), or {range}"),
            None => range,
        }
    }
}

const TIMEOUT_BOUNDS: Bounds = Bounds {
    min: super::MIN_TIMEOUT,
    max: super::MAX_TIMEOUT,
    zero: None,
};
const INTERVAL_BOUNDS: Bounds = Bounds {
    min: super::MIN_INTERVAL,
    max: MAX_DURATION,
    zero: Some("not scheduled"),
};
const REMIND_BOUNDS: Bounds = Bounds {
    min: super::MIN_REMIND_EVERY,
    max: MAX_DURATION,
    zero: Some("no reminders"),
};
const RETENTION_BOUNDS: Bounds = Bounds {
    min: super::MIN_RETENTION,
    max: MAX_DURATION,
    zero: None,
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    concurrency: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: Spanned<String>,
    url: Spanned<String>,
    method: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    body: Option<String>,
    timeout: Option<Spanned<String>>,
    expect_status: Option<Spanned<toml::Value>>,
    max_latency: Option<Spanned<String>>,
    expect_content_type: Option<String>,
    #[serde(default)]
    expect_json: bool,
    #[serde(default)]
    expect_json_pointers: Vec<Spanned<String>>,
    body_contains: Option<String>,
    resolver: Option<Spanned<String>>,
    tls_ca: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    follow_redirects: Option<Spanned<i64>>,
    #[serde(default)]
    allow_private_redirects: bool,
    auth: Option<Spanned<RawAuth>>,
    alerts: Option<RawAlertOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    kind: Spanned<String>,
    token_env: Option<Spanned<String>>,
    user_env: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    value_env: Option<Spanned<String>>,
    param: Option<Spanned<String>>,
    token_url: Option<Spanned<String>>,
    client_id_env: Option<Spanned<String>>,
    client_secret_env: Option<Spanned<String>>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertOverride {
    enabled: Option<bool>,
    failure_threshold: Option<Spanned<u32>>,
    success_threshold: Option<Spanned<u32>>,
    remind_every: Option<Spanned<String>>,
    cert_warn_days: Option<u32>,
    #[serde(default, deserialize_with = "opt_id")]
    mention_role: Option<u64>,
}

/// Discord ids are accepted as integers or as strings (as Discord's "Copy ID" gives them).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawId {
    Int(u64),
    Str(String),
}

impl RawId {
    fn get<E: serde::de::Error>(self) -> Result<u64, E> {
        match self {
            RawId::Int(n) => Ok(n),
            RawId::Str(s) => s.trim().parse().map_err(|_| {
                E::custom(format!(
                    "expected a Discord id (digits), found {}",
                    shown(&s)
                ))
            }),
        }
    }
}

fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Vec::<RawId>::deserialize(d)?
        .into_iter()
        .map(RawId::get)
        .collect()
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<RawId>::deserialize(d)?.map(RawId::get).transpose()
}

/// Which HTTP statuses count as success: e.g. `200`, `"2xx"`, `[200, 204, "3xx"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    fn parse(value: &toml::Value) -> Result<StatusSet, String> {
        fn one(v: &toml::Value) -> Result<(u16, u16), String> {
            match v {
                toml::Value::Integer(n) if (100..=599).contains(n) => Ok((*n as u16, *n as u16)),
                toml::Value::String(s) => {
                    let s = s.trim().to_ascii_lowercase();
                    if let Some(d) = s.strip_suffix("xx") {
                        if let Ok(d @ 1..=5) = d.parse::<u16>() {
                            return Ok((d * 100, d * 100 + 99));
                        }
                    }
                    match s.parse::<u16>() {
                        Ok(n @ 100..=599) => Ok((n, n)),
                        _ => Err(format!(
                            "{} is not a status (expected e.g. 200 or \"2xx\")",
                            shown(&s)
                        )),
                    }
                }
                other => Err(format!(
                    "{} is not a status (expected e.g. 200 or \"2xx\")",
                    shown(&other.to_string())
                )),
            }
        }
        match value {
            toml::Value::Array(items) if !items.is_empty() => {
                Ok(StatusSet(items.iter().map(one).collect::<Result<_, _>>()?))
            }
            toml::Value::Array(_) => Err("expect_status is empty".into()),
            v => Ok(StatusSet(vec![one(v)?])),
        }
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else if lo % 100 == 0 && hi == lo + 99 {
                    format!("{}xx", lo / 100)
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// `"5s"`, `"1m 30s"`, `"1h"`; `"0"` and `"never"` are zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" || t.eq_ignore_ascii_case("never") {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("`{t}` is not a duration ({e}); expected e.g. \"500ms\", \"10s\", \"5m\", \"1h\"")
    })
}

/// The longest duration any setting accepts.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Header names that carry credentials: they belong in `auth`, which masks the value and sends
/// it only to the endpoint's own origin.
fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "cookie" | "proxy-authorization")
        || [
            "auth",
            "token",
            "secret",
            "password",
            "passwd",
            "api-key",
            "apikey",
            "api_key",
            "access-key",
            "session",
            "credential",
            "signature",
        ]
        .iter()
        .any(|w| n.contains(w))
}

/// `^[A-Z_][A-Z0-9_]{0,63}$`: what `*_env` keys must hold. Only such text is ever echoed.
fn is_env_name(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// Upper-case text that is still most likely a pasted secret: an AWS access key id, or a long
/// run of letters mixed with digits between `_` (words of a variable name are short).
fn looks_like_secret(text: &str) -> bool {
    let aws = text.len() == 20
        && [
            "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA",
        ]
        .iter()
        .any(|p| text.starts_with(p));
    aws || text
        .split('_')
        .any(|word| word.len() >= 12 && word.bytes().filter(u8::is_ascii_digit).count() >= 3)
}

struct Ctx<'a> {
    file: &'a str,
    lines: LineIndex,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn new<'a>(file: &'a str, text: &str) -> Ctx<'a> {
        Ctx {
            file,
            lines: LineIndex::new(text),
            errors: Vec::new(),
        }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = Some(self.line(span));
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        });
    }

    /// An alert threshold: zero would open (or resolve) alerts without any check.
    fn threshold(&mut self, key: &str, v: &Option<Spanned<u32>>) -> Option<u32> {
        let v = v.as_ref()?;
        if *v.get_ref() == 0 {
            self.error(&v.span(), format!("{key} must be at least 1"));
            return None;
        }
        Some(*v.get_ref())
    }

    fn duration(&mut self, key: &str, v: &Option<Spanned<String>>) -> Option<Duration> {
        let v = v.as_ref()?;
        match parse_duration(v.get_ref()) {
            // Durations are added to clocks; one past what a clock holds would panic there.
            Ok(d) if d > MAX_DURATION => {
                self.error(
                    &v.span(),
                    format!("{key}: {} is longer than 100 years", shown(v.get_ref())),
                );
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.error(&v.span(), format!("{key}: {} is not a duration; expected e.g. \"500ms\", \"10s\", \"5m\", \"1h\"", shown(v.get_ref())));
                None
            }
        }
    }

    /// A duration within `bounds`; outside them an error naming the allowed range.
    fn bounded(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        bounds: &Bounds,
    ) -> Option<Duration> {
        let d = self.duration(key, v)?;
        let ok = if d.is_zero() {
            bounds.zero.is_some()
        } else {
            (bounds.min..=bounds.max).contains(&d)
        };
        if !ok {
            let span = v.as_ref().map(Spanned::span).unwrap_or_default();
            let what = if d < bounds.min {
                "too short"
            } else {
                "too long"
            };
            self.error(
                &span,
                format!(
                    "{key}: {} is {what}; allowed: {}",
                    shown(v.as_ref().map_or("", |v| v.get_ref())),
                    bounds.describe()
                ),
            );
            return None;
        }
        Some(d)
    }

    /// An integer within `min..=max`; outside it an error naming the range.
    fn bounded_int(
        &mut self,
        key: &str,
        v: &Option<Spanned<i64>>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let v = v.as_ref()?;
        let n = *v.get_ref();
        if !(min..=max).contains(&n) {
            self.error(
                &v.span(),
                format!("{key}: {n} is out of range; allowed: {min} to {max}"),
            );
            return None;
        }
        Some(n)
    }
}

/// Upper bound of how much of a refused value a message repeats.
const SHOWN_CHARS: usize = 40;

/// A value for an error message: quoted when it cannot be a credential, otherwise described
/// without repeating it (a token pasted into the wrong field must not end up in a log).
fn shown(value: &str) -> String {
    let v = value.trim();
    if v.chars().count() <= SHOWN_CHARS && !may_be_secret(v) {
        format!("`{}`", crate::text::printable(v))
    } else {
        format!(
            "the value ({} characters, not repeated: it may be a credential)",
            v.chars().count()
        )
    }
}

/// Text that may hold a credential: a well-known key prefix, a `Name: value` header line, or
/// a long run of token characters that mixes letters and digits.
fn may_be_secret(text: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sk_",
        "pk_",
        "rk_",
        "sk-",
        "ghp_",
        "gho_",
        "ghs_",
        "ghu_",
        "github_pat_",
        "glpat-",
        "xox",
        "akia",
        "asia",
        "eyj",
        "bearer ",
        "basic ",
        "token ",
        "bot ",
    ];
    let lower = text.to_ascii_lowercase();
    if PREFIXES
        .iter()
        .any(|p| lower.starts_with(p) || lower.contains(&format!(" {p}")))
    {
        return true;
    }
    if text.contains(':')
        && text
            .split_once(':')
            .is_some_and(|(k, v)| !k.contains("//") && v.trim().len() >= 8)
    {
        return true;
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_+/=.~".contains(c)))
        .any(|run| {
            run.len() >= 16
                && run.bytes().any(|b| b.is_ascii_digit())
                && run.bytes().any(|b| b.is_ascii_alphabetic())
        })
        || looks_like_secret(text)
}

/// A TOML/serde message without the values it quotes (`invalid type: string "sk_live_…",
/// expected u32`): the quoted text is whatever the user typed there.
fn scrub_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let rest: Vec<&str> = parts.collect();
    for (i, part) in rest.iter().enumerate() {
        if i % 2 == 0 && i + 1 < rest.len() {
            out.push_str(&shown(part));
        } else if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push('"');
            out.push_str(part);
        }
    }
    out
}

/// Longest endpoint name: what a Discord autocomplete choice can carry.
pub const MAX_ENDPOINT_NAME: usize = 100;

pub(super) fn parse(
    file: &str,
    text: &str,
    base_dir: &Path,
    secrets: &dyn SecretSource,
) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let mut ctx = Ctx::new(file, text);
        let message = scrub_quotes(e.message().trim());
        match e.span() {
            Some(span) => ctx.error(&span, message),
            None => ctx.errors.push(ConfigError {
                file: file.into(),
                line: None,
                message,
            }),
        }
        ConfigErrors(ctx.errors)
    })?;
    let mut ctx = Ctx::new(file, text);

    let defaults = AlertPolicy::default();
    let mut alerts = AlertPolicy {
        failure_threshold: raw
            .alerts
            .failure_threshold
            .as_ref()
            .map_or(defaults.failure_threshold, |v| *v.get_ref()),
        success_threshold: raw
            .alerts
            .success_threshold
            .as_ref()
            .map_or(defaults.success_threshold, |v| *v.get_ref()),
        remind_every: ctx
            .bounded("remind_every", &raw.alerts.remind_every, &REMIND_BOUNDS)
            .unwrap_or(defaults.remind_every),
        cert_warn_days: raw.alerts.cert_warn_days.unwrap_or(defaults.cert_warn_days),
        // Zero (or a second) would delete every check, incident and alert at the next prune.
        retention: ctx
            .bounded("retention", &raw.alerts.retention, &RETENTION_BOUNDS)
            .unwrap_or(defaults.retention),
    };
    for (key, v) in [
        ("failure_threshold", &raw.alerts.failure_threshold),
        ("success_threshold", &raw.alerts.success_threshold),
    ] {
        if let Some(v) = v {
            if *v.get_ref() == 0 {
                ctx.error(&v.span(), format!("{key} must be at least 1"));
            }
        }
    }
    if alerts.failure_threshold == 0 {
        alerts.failure_threshold = 1;
    }

    let mut checks = CheckSettings::default();
    if let Some(c) = ctx.bounded_int(
        "concurrency",
        &raw.checks.concurrency,
        1,
        super::MAX_CONCURRENCY as i64,
    ) {
        checks.concurrency = c as usize;
    }

    let mut endpoints = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for raw_ep in raw.endpoints {
        let name_line = ctx.line(&raw_ep.name.span());
        let name = raw_ep.name.get_ref().trim().to_string();
        if name.is_empty() {
            ctx.error(&raw_ep.name.span(), "name is empty");
        } else if may_be_secret(&name) {
            // Names are shown everywhere (autocomplete, alerts, logs): one that holds a key
            // would publish it. Later messages about this endpoint must not repeat it either.
            ctx.error(
                &raw_ep.name.span(),
                format!("name: {}; use a short descriptive name such as \"payments-api\" and put the credential in `auth`", shown(&name)),
            );
        } else if name.chars().count() > MAX_ENDPOINT_NAME {
            // Discord autocomplete values are at most 100 characters: a longer name could be
            // offered only cut short, and a cut name matches no endpoint.
            ctx.error(
                &raw_ep.name.span(),
                format!(
                    "name is {} characters long; at most {MAX_ENDPOINT_NAME} are allowed",
                    name.chars().count()
                ),
            );
        } else if let Some(first) = seen.get(&name) {
            ctx.error(
                &raw_ep.name.span(),
                format!(
                    "duplicate endpoint name {} (first defined on line {first})",
                    shown(&name)
                ),
            );
        } else {
            seen.insert(name.clone(), name_line);
        }
        if let Some(ep) = endpoint(&mut ctx, name, name_line, raw_ep, base_dir, secrets) {
            endpoints.push(ep);
        }
    }

    let discord = DiscordSettings {
        listen_channels: raw.discord.listen_channels,
        check_roles: raw.discord.check_roles,
        alert_channel: raw.discord.alert_channel,
        mention_role: raw.discord.mention_role,
        message_content: raw.discord.message_content,
    };

    if ctx.errors.is_empty() {
        Ok(Config {
            endpoints,
            discord,
            alerts,
            checks,
            source: None,
        })
    } else {
        Err(ConfigErrors(ctx.errors))
    }
}

fn endpoint(
    ctx: &mut Ctx,
    name: String,
    line: usize,
    raw: RawEndpoint,
    base_dir: &Path,
    secrets: &dyn SecretSource,
) -> Option<Endpoint> {
    let before = ctx.errors.len();
    let url = match Url::parse(raw.url.get_ref().trim()) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            ctx.error(
                &raw.url.span(),
                format!(
                    "url: scheme `{}` is not supported; expected http:// or https://",
                    u.scheme()
                ),
            );
            None
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            ctx.error(
                &raw.url.span(),
                "url: has no host; expected e.g. https://api.example.com/health",
            );
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            ctx.error(&raw.url.span(), "url: must not contain credentials (user:password@); use `auth = { kind = \"basic\", user_env = ..., password_env = ... }`");
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            // The text may hold a secret; say what is wrong without echoing it.
            ctx.error(
                &raw.url.span(),
                format!("url: not a valid URL ({e}); expected e.g. https://api.example.com/health"),
            );
            None
        }
    };
    let method = match &raw.method {
        None => "GET".to_string(),
        Some(m) => {
            let up = m.get_ref().trim().to_ascii_uppercase();
            if up.is_empty() || !up.bytes().all(|b| b.is_ascii_alphabetic()) {
                ctx.error(
                    &m.span(),
                    format!("method: {} is not an HTTP method", shown(m.get_ref())),
                );
            }
            up
        }
    };
    let timeout = ctx
        .bounded("timeout", &raw.timeout, &TIMEOUT_BOUNDS)
        .unwrap_or(super::DEFAULT_TIMEOUT);
    for (name, value) in &raw.headers {
        if is_credential_header(name) {
            let name = shown(name);
            ctx.error(
                &value.span(),
                format!("headers: {name} carries credentials; use `auth = {{ kind = \"header\", name = ..., value_env = \"...\" }}` (or bearer/basic) so its value is masked and sent only to this endpoint"),
            );
        }
    }
    let max_latency = ctx.duration("max_latency", &raw.max_latency);
    let interval = ctx
        .bounded("interval", &raw.interval, &INTERVAL_BOUNDS)
        .unwrap_or(super::DEFAULT_INTERVAL);
    let follow_redirects = ctx
        .bounded_int(
            "follow_redirects",
            &raw.follow_redirects,
            0,
            i64::from(super::MAX_FOLLOW_REDIRECTS),
        )
        .unwrap_or(0) as u32;
    let expect_status = match &raw.expect_status {
        None => StatusSet::default(),
        Some(v) => StatusSet::parse(v.get_ref()).unwrap_or_else(|e| {
            ctx.error(&v.span(), format!("expect_status: {e}"));
            StatusSet::default()
        }),
    };
    for p in &raw.expect_json_pointers {
        if !p.get_ref().is_empty() && !p.get_ref().starts_with('/') {
            ctx.error(&p.span(), format!("expect_json_pointers: {} is not a JSON pointer; expected e.g. \"/data/status\"", shown(p.get_ref())));
        }
    }
    let resolver = raw.resolver.as_ref().and_then(|r| {
        let t = r.get_ref().trim();
        t.parse::<SocketAddr>()
            .ok()
            .or_else(|| t.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
            .or_else(|| {
                ctx.error(&r.span(), format!("resolver: {} is not an address; expected e.g. \"127.0.0.1:5353\" or \"1.1.1.1\"", shown(t)));
                None
            })
    });
    let tls_ca = raw.tls_ca.as_ref().and_then(|p| {
        let path = base_dir.join(p.get_ref());
        match read_pem(&path) {
            Ok(certs) => Some(TlsCa { path, certs }),
            Err(e) => {
                ctx.error(&p.span(), format!("tls_ca: {}: {e}", path.display()));
                None
            }
        }
    });
    let auth = raw.auth.as_ref().and_then(|a| auth(ctx, &name, a, secrets));
    let alerts = match &raw.alerts {
        None => AlertOverride::default(),
        Some(o) => AlertOverride {
            enabled: o.enabled.unwrap_or(true),
            failure_threshold: ctx.threshold("alerts.failure_threshold", &o.failure_threshold),
            success_threshold: ctx.threshold("alerts.success_threshold", &o.success_threshold),
            remind_every: ctx.bounded("alerts.remind_every", &o.remind_every, &REMIND_BOUNDS),
            cert_warn_days: o.cert_warn_days,
            mention_role: o.mention_role,
        },
    };
    if ctx.errors.len() > before {
        return None;
    }
    Some(Endpoint {
        name,
        url: url?,
        method,
        headers: raw
            .headers
            .into_iter()
            .map(|(k, v)| (k, v.into_inner()))
            .collect(),
        body: raw.body,
        timeout,
        expect_status,
        max_latency,
        expect_content_type: raw.expect_content_type,
        expect_json: raw.expect_json || !raw.expect_json_pointers.is_empty(),
        expect_json_pointers: raw
            .expect_json_pointers
            .into_iter()
            .map(Spanned::into_inner)
            .collect(),
        body_contains: raw.body_contains,
        resolver,
        tls_ca,
        interval,
        follow_redirects,
        allow_private_redirects: raw.allow_private_redirects,
        auth,
        alerts,
        line,
    })
}

fn read_pem(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read ({e})"))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file ({e})"))?;
    if certs.is_empty() {
        return Err("no `BEGIN CERTIFICATE` block found; expected a PEM file".into());
    }
    Ok(certs)
}

fn auth(
    ctx: &mut Ctx,
    endpoint: &str,
    raw: &Spanned<RawAuth>,
    secrets: &dyn SecretSource,
) -> Option<Auth> {
    let a = raw.get_ref();
    let span = raw.span();
    let kind = a.kind.get_ref().as_str();
    // A required key of this kind: its (trimmed) text, or an error at the auth table.
    let field =
        |ctx: &mut Ctx, key: &str, v: &Option<Spanned<String>>| -> Option<(String, Range<usize>)> {
            match v {
                Some(v) if !v.get_ref().trim().is_empty() => {
                    Some((v.get_ref().trim().to_string(), v.span()))
                }
                _ => {
                    ctx.error(&span, format!("auth kind `{kind}` needs `{key}`"));
                    None
                }
            }
        };
    // The value of an environment variable named by the config; absent or empty is an error.
    let env = |ctx: &mut Ctx,
               key: &str,
               v: Option<(String, Range<usize>)>|
     -> Option<(String, Secret)> {
        let (var, span) = v?;
        if !is_env_name(&var) || looks_like_secret(&var) {
            // Most likely the secret itself was pasted here (`sk_live_…`, `ghp_…`, `AKIA…`):
            // never repeat it.
            ctx.error(&span, format!("{key} must name an environment variable; the value is not an UPPER_CASE variable name (A-Z, 0-9, `_`; did you paste the secret?). Put the secret in the environment or .env and name its variable here"));
            return None;
        }
        match secrets.get(&var) {
            Some(value) if !value.is_empty() => Some((var, Secret::new(value))),
            Some(_) => {
                ctx.error(
                    &span,
                    format!(
                        "{key}: environment variable `{var}` (for endpoint {}) is empty",
                        shown(endpoint)
                    ),
                );
                None
            }
            None => {
                ctx.error(&span, format!("{key}: environment variable `{var}` (for endpoint {}) is not set; set it in the environment or in .env", shown(endpoint)));
                None
            }
        }
    };
    let allowed: &[&str] = match kind {
        "bearer" => &["token_env"],
        "basic" => &["user_env", "password_env"],
        "header" => &["name", "value_env"],
        "query" => &["param", "value_env"],
        "oauth2_client_credentials" => {
            &["token_url", "client_id_env", "client_secret_env", "scopes"]
        }
        other => {
            ctx.error(&a.kind.span(), format!("auth kind {} is unknown; expected one of bearer, basic, header, query, oauth2_client_credentials", shown(other)));
            return None;
        }
    };
    let present = [
        ("token_env", a.token_env.is_some()),
        ("user_env", a.user_env.is_some()),
        ("password_env", a.password_env.is_some()),
        ("name", a.name.is_some()),
        ("value_env", a.value_env.is_some()),
        ("param", a.param.is_some()),
        ("token_url", a.token_url.is_some()),
        ("client_id_env", a.client_id_env.is_some()),
        ("client_secret_env", a.client_secret_env.is_some()),
        ("scopes", !a.scopes.is_empty()),
    ];
    for (key, is) in present {
        if is && !allowed.contains(&key) {
            ctx.error(
                &span,
                format!(
                    "auth kind `{kind}` does not use `{key}`; it takes {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    match kind {
        "bearer" => {
            let v = field(ctx, "token_env", &a.token_env);
            let (token_env, token) = env(ctx, "token_env", v)?;
            Some(Auth::Bearer { token_env, token })
        }
        "basic" => {
            let u = field(ctx, "user_env", &a.user_env);
            let p = field(ctx, "password_env", &a.password_env);
            let user = env(ctx, "user_env", u);
            let password = env(ctx, "password_env", p);
            let ((user_env, user), (password_env, password)) = (user?, password?);
            Some(Auth::Basic {
                user_env,
                user,
                password_env,
                password,
            })
        }
        "header" => {
            let n = field(ctx, "name", &a.name);
            let v = field(ctx, "value_env", &a.value_env);
            let value = env(ctx, "value_env", v);
            let (name, nspan) = n?;
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                ctx.error(&nspan, format!("name: {} is not a valid header name (a name only, e.g. \"X-Api-Key\"; the value comes from value_env)", shown(&name)));
                return None;
            }
            let (value_env, value) = value?;
            Some(Auth::Header {
                name,
                value_env,
                value,
            })
        }
        "query" => {
            let p = field(ctx, "param", &a.param);
            let v = field(ctx, "value_env", &a.value_env);
            let value = env(ctx, "value_env", v);
            let ((param, _), (value_env, value)) = (p?, value?);
            Some(Auth::Query {
                param,
                value_env,
                value,
            })
        }
        _ => {
            let t = field(ctx, "token_url", &a.token_url);
            let i = field(ctx, "client_id_env", &a.client_id_env);
            let s = field(ctx, "client_secret_env", &a.client_secret_env);
            let token_url = t.and_then(|(t, tspan)| match Url::parse(&t) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
                _ => {
                    ctx.error(&tspan, "token_url: not an http(s) URL; expected e.g. https://auth.example.com/oauth/token");
                    None
                }
            });
            let id = env(ctx, "client_id_env", i);
            let secret = env(ctx, "client_secret_env", s);
            let ((client_id_env, client_id), (client_secret_env, client_secret)) = (id?, secret?);
            Some(Auth::OAuth2ClientCredentials {
                token_url: token_url?,
                client_id_env,
                client_id,
                client_secret_env,
                client_secret,
                scopes: a.scopes.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse("medic.toml", text, Path::new("."), &env)
    }

    #[test]
    fn discord_message_content_defaults_to_true() {
        assert!(load("", &[]).unwrap().discord.message_content);
        let c = load("[discord]\nmessage_content = false\n", &[]).unwrap();
        assert!(!c.discord.message_content);
        let err = load("[discord]\nmessage_content = \"no\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("medic.toml:2"), "{err}");
    }

    #[test]
    fn endpoint_names_fit_an_autocomplete_value() {
        let ok = format!(
            "[[endpoints]]\nname = \"{}\"\nurl = \"http://127.0.0.1/\"\n",
            "a".repeat(MAX_ENDPOINT_NAME)
        );
        assert!(load(&ok, &[]).is_ok());
        let long = format!(
            "\n[[endpoints]]\nname = \"{}\"\nurl = \"http://127.0.0.1/\"\n",
            "é".repeat(MAX_ENDPOINT_NAME + 1)
        );
        let err = load(&long, &[]).unwrap_err().to_string();
        assert!(
            err.contains("medic.toml:3") && err.contains("at most 100"),
            "{err}"
        );
    }

    #[test]
    fn full_endpoint() {
        let c = load(
            r#"
[alerts]
remind_every = "0"

[[endpoints]]
name = "payments-api"
url = "https://api.example.com/v1/health"
timeout = "5s"
interval = "60s"
expect_status = [200, "3xx"]
expect_content_type = "application/json"
auth = { kind = "bearer", token_env = "PAYMENTS_TOKEN" }
alerts = { failure_threshold = 5 }
"#,
            &[("PAYMENTS_TOKEN", "tok")],
        )
        .unwrap();
        let e = &c.endpoints[0];
        assert_eq!(e.timeout, Duration::from_secs(5));
        assert!(e.expect_status.contains(301) && !e.expect_status.contains(204));
        assert!(matches!(&e.auth, Some(Auth::Bearer { token, .. }) if token.expose() == "tok"));
        assert_eq!(e.alert_policy(&c.alerts).failure_threshold, 5);
        assert_eq!(c.alerts.remind_every, Duration::ZERO);
    }

    #[test]
    fn errors_have_lines() {
        let errs = load(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimeout = \"5 parsecs\"\n\n[[endpoints]]\nname = \"a\"\nurl = \"nope\"\nauth = { kind = \"bearer\", token_env = \"MISSING_X\" }\n",
            &[],
        )
        .unwrap_err();
        let text = errs.to_string();
        assert!(text.contains("medic.toml:4: timeout"), "{text}");
        assert!(
            text.contains("medic.toml:7: duplicate endpoint name `a`"),
            "{text}"
        );
        assert!(text.contains("medic.toml:8: url"), "{text}");
        assert!(
            text.contains("medic.toml:9: token_env: environment variable `MISSING_X`"),
            "{text}"
        );
    }

    #[test]
    fn unknown_key_has_line() {
        let errs = load(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimout = \"5s\"\n",
            &[],
        )
        .unwrap_err();
        assert!(
            errs.to_string()
                .starts_with("medic.toml:4: unknown field `timout`"),
            "{errs}"
        );
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn a_pasted_secret_is_not_echoed() {
        let text = "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nauth = { kind = \"bearer\", token_env = \"sk-live-9f8e7d\" }\n";
        let err = parse("medic.toml", text, Path::new("."), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("medic.toml:4: token_env must name an environment variable"),
            "{err}"
        );
        assert!(!err.contains("sk-live-9f8e7d"), "{err}");
    }

    #[test]
    fn adhoc_errors_do_not_echo_the_url() {
        let err = Endpoint::adhoc("https://bob:hunter 2@exa mple.com/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter"), "{err}");
    }
}
