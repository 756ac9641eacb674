//! `medic.toml`: the endpoints to check, the Discord surface's settings, the alert policy.
//!
//! This module owns the configuration *model* and its validation with `file:line` errors (in
//! `parse.rs`). It never reads `.env` itself (the CLI does that once) and never reads the
//! process environment unless asked to: secrets are resolved through a [`SecretSource`].
//! Checking endpoints lives in [`crate::checks`]; using the alert policy in [`crate::alerts`].

mod parse;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use url::Url;

use crate::secrets::{ProcessEnv, Redactor, Secret, SecretSource};

pub use parse::{parse_duration, StatusSet};

/// Default per-check timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `timeout` accepted: a check that may take longer is a mistake.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The shortest `timeout`: less cannot hold a DNS lookup and a TLS handshake.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// The shortest non-zero `interval` (`"1ns"` would check a thousand times a second).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest non-zero `remind_every` (`"1ms"` is a typo for `"1m"`, not a wish).
pub const MIN_REMIND_EVERY: Duration = Duration::from_secs(60);
/// The shortest `retention` (`"1s"` would wipe the history at start-up).
pub const MIN_RETENTION: Duration = Duration::from_secs(3600);
/// The most redirects an endpoint may follow.
pub const MAX_FOLLOW_REDIRECTS: u32 = 10;
/// The most endpoints checked at once.
pub const MAX_CONCURRENCY: usize = 1024;
/// Default interval between scheduled checks of an endpoint.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default number of endpoints checked at once by `check --all`.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// The whole `medic.toml`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub endpoints: Vec<Endpoint>,
    pub discord: DiscordSettings,
    pub alerts: AlertPolicy,
    pub checks: CheckSettings,
    /// Endpoints left out because their table has problems (loaded leniently only): shown as
    /// "not configured" with the reasons, while every other endpoint is checked.
    pub not_configured: Vec<NotConfigured>,
    /// The file it was loaded from; `None` for the empty default configuration.
    pub source: Option<PathBuf>,
}

/// An endpoint table that could not be used: its name (or where it is, when the name itself
/// is the problem) and every problem, none of which repeats a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotConfigured {
    pub name: String,
    /// First line of its `[[endpoints]]` table.
    pub line: usize,
    pub problems: Vec<ConfigError>,
}

impl NotConfigured {
    /// The problems, in one line: `line 7: token_env: environment variable … is not set`.
    pub fn reason(&self) -> String {
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| match p.line {
                Some(line) => format!("line {line}: {}", p.message),
                None => p.message.clone(),
            })
            .collect();
        parts.join("; ")
    }
}

/// `[discord]`: where the bot listens and who may run checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordSettings {
    /// Channels whose messages the bot diagnoses unprompted; empty means none (mentions only).
    pub listen_channels: Vec<u64>,
    /// Roles allowed to run `/check`; empty means everyone.
    pub check_roles: Vec<u64>,
    /// Channel that receives scheduled-check alerts.
    pub alert_channel: Option<u64>,
    /// Role mentioned when an alert opens.
    pub mention_role: Option<u64>,
    /// Ask Discord for the privileged MESSAGE_CONTENT intent (default true). Off: slash
    /// commands, mentions and DMs still work; listen channels see empty messages.
    pub message_content: bool,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        DiscordSettings {
            listen_channels: Vec::new(),
            check_roles: Vec::new(),
            alert_channel: None,
            mention_role: None,
            message_content: true,
        }
    }
}

/// `[alerts]`: when a run of failures becomes an alert and how it is repeated and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Consecutive failing checks before an alert opens.
    pub failure_threshold: u32,
    /// Consecutive passing checks before an open alert resolves.
    pub success_threshold: u32,
    /// Repeat an open alert this often; zero means never.
    pub remind_every: Duration,
    /// Warn when a certificate expires in fewer days than this.
    pub cert_warn_days: u32,
    /// How long check history is kept.
    pub retention: Duration,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            failure_threshold: 2,
            success_threshold: 1,
            remind_every: Duration::from_secs(3600),
            cert_warn_days: 14,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// An endpoint's `alerts = { ... }` table: overrides of the global [`AlertPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertOverride {
    pub enabled: bool,
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,
    pub remind_every: Option<Duration>,
    pub cert_warn_days: Option<u32>,
    pub mention_role: Option<u64>,
}

impl Default for AlertOverride {
    fn default() -> Self {
        AlertOverride {
            enabled: true,
            failure_threshold: None,
            success_threshold: None,
            remind_every: None,
            cert_warn_days: None,
            mention_role: None,
        }
    }
}

/// `[checks]`: how checks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    /// Endpoints checked at once by `check --all` and the scheduler.
    pub concurrency: usize,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// One `[[endpoints]]` entry, validated, with its secrets resolved.
///
/// `Debug` is hand-written: it shows [`Endpoint::display_url`], header names and the body's
/// length, never query values, header values or the body.
#[derive(Clone)]
pub struct Endpoint {
    pub name: String,
    pub url: Url,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Budget for the whole check, all stages together.
    pub timeout: Duration,
    pub expect_status: StatusSet,
    /// Slower answers than this are a warning.
    pub max_latency: Option<Duration>,
    pub expect_content_type: Option<String>,
    /// The body must parse as JSON.
    pub expect_json: bool,
    /// JSON pointers (RFC 6901, e.g. `/data/status`) that must exist in the body.
    pub expect_json_pointers: Vec<String>,
    pub body_contains: Option<String>,
    /// DNS server to ask instead of the system's.
    pub resolver: Option<SocketAddr>,
    /// Extra trusted root(s) for this endpoint, besides the public web roots.
    pub tls_ca: Option<TlsCa>,
    pub interval: Duration,
    /// Redirects to follow; 0 reports a redirect instead of following it.
    pub follow_redirects: u32,
    /// Follow redirects to loopback, private, link-local or unique-local addresses even when the
    /// configured URL is not such an address.
    pub allow_private_redirects: bool,
    pub auth: Option<Auth>,
    pub alerts: AlertOverride,
    /// Line of the entry in the config file (0 for ad-hoc endpoints).
    pub line: usize,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &self.display_url())
            .field("method", &self.method)
            .field("headers", &header_names)
            .field("body_len", &self.body.as_ref().map(String::len))
            .field("timeout", &self.timeout)
            .field("expect_status", &self.expect_status)
            .field("max_latency", &self.max_latency)
            .field("expect_content_type", &self.expect_content_type)
            .field("expect_json", &self.expect_json)
            .field("expect_json_pointers", &self.expect_json_pointers)
            .field("body_contains", &self.body_contains)
            .field("resolver", &self.resolver)
            .field("tls_ca", &self.tls_ca.as_ref().map(|c| &c.path))
            .field("interval", &self.interval)
            .field("follow_redirects", &self.follow_redirects)
            .field("allow_private_redirects", &self.allow_private_redirects)
            .field("auth", &self.auth)
            .field("alerts", &self.alerts)
            .field("line", &self.line)
            .finish()
    }
}

/// PEM roots read from an endpoint's `tls_ca` file.
#[derive(Debug, Clone)]
pub struct TlsCa {
    pub path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
}

/// How a request proves who it is. Env names are kept for messages; values are [`Secret`]s.
/// `Debug` shows the kind and variable names; `token_url` only redacted.
#[derive(Clone)]
pub enum Auth {
    Bearer {
        token_env: String,
        token: Secret,
    },
    Basic {
        user_env: String,
        user: Secret,
        password_env: String,
        password: Secret,
    },
    Header {
        name: String,
        value_env: String,
        value: Secret,
    },
    Query {
        param: String,
        value_env: String,
        value: Secret,
    },
    OAuth2ClientCredentials {
        token_url: Url,
        client_id_env: String,
        client_id: Secret,
        client_secret_env: String,
        client_secret: Secret,
        scopes: Vec<String>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Auth");
        d.field("kind", &self.kind());
        match self {
            Auth::Bearer { token_env, .. } => d.field("token_env", token_env),
            Auth::Basic {
                user_env,
                password_env,
                ..
            } => d
                .field("user_env", user_env)
                .field("password_env", password_env),
            Auth::Header {
                name, value_env, ..
            } => d.field("name", name).field("value_env", value_env),
            Auth::Query {
                param, value_env, ..
            } => d.field("param", param).field("value_env", value_env),
            Auth::OAuth2ClientCredentials {
                token_url,
                client_id_env,
                client_secret_env,
                scopes,
                ..
            } => d
                .field("token_url", &crate::secrets::redact_url(token_url, &[]))
                .field("client_id_env", client_id_env)
                .field("client_secret_env", client_secret_env)
                .field("scopes", scopes),
        };
        d.finish_non_exhaustive()
    }
}

impl Auth {
    /// The `kind` as written in `medic.toml`.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::Bearer { .. } => "bearer",
            Auth::Basic { .. } => "basic",
            Auth::Header { .. } => "header",
            Auth::Query { .. } => "query",
            Auth::OAuth2ClientCredentials { .. } => "oauth2_client_credentials",
        }
    }

    /// Adds every secret value of this auth to a redactor.
    pub fn add_to(&self, r: &mut Redactor) {
        match self {
            Auth::Bearer { token, .. } => r.add_secret(token),
            Auth::Basic { user, password, .. } => r.add_basic(user.expose(), password.expose()),
            Auth::Header { value, .. } | Auth::Query { value, .. } => r.add_secret(value),
            Auth::OAuth2ClientCredentials {
                client_id,
                client_secret,
                ..
            } => r.add_basic(client_id.expose(), client_secret.expose()),
        }
    }
}

impl Endpoint {
    /// A throwaway endpoint for `medic check URL` (CLI only): defaults everywhere; URL userinfo
    /// becomes basic auth so it is sent as a header and redacted like any other secret.
    pub fn adhoc(url: &str) -> Result<Endpoint, ConfigError> {
        let err = |message: String| ConfigError {
            file: "<command line>".into(),
            line: None,
            column: None,
            message,
        };
        // The text may hold credentials: say what is wrong without echoing it.
        let mut parsed = Url::parse(url.trim()).map_err(|e| {
            err(format!(
                "not a URL ({e}); expected e.g. https://api.example.com/health"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(err("expected an http:// or https:// URL with a host".into()));
        }
        let auth = if !parsed.username().is_empty() || parsed.password().is_some() {
            // Userinfo is percent-encoded (RFC 3986 §3.2.1), not form-encoded: `+` is a plus.
            let decode = percent_decode;
            let user = decode(parsed.username());
            let password = decode(parsed.password().unwrap_or(""));
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            Some(Auth::Basic {
                user_env: "(URL userinfo)".into(),
                user: Secret::new(user),
                password_env: "(URL userinfo)".into(),
                password: Secret::new(password),
            })
        } else {
            None
        };
        Ok(Endpoint {
            name: parsed.host_str().unwrap_or("adhoc").to_string(),
            url: parsed,
            auth,
            ..Endpoint::template()
        })
    }

    /// Defaults for every optional field; `url` is a placeholder.
    fn template() -> Endpoint {
        Endpoint {
            name: String::new(),
            url: Url::parse("http://invalid.invalid/").expect("static URL"),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            timeout: DEFAULT_TIMEOUT,
            expect_status: StatusSet::default(),
            max_latency: None,
            expect_content_type: None,
            expect_json: false,
            expect_json_pointers: Vec::new(),
            body_contains: None,
            resolver: None,
            tls_ca: None,
            interval: DEFAULT_INTERVAL,
            follow_redirects: 0,
            allow_private_redirects: false,
            auth: None,
            alerts: AlertOverride::default(),
            line: 0,
        }
    }

    /// The global policy with this endpoint's overrides applied.
    pub fn alert_policy(&self, global: &AlertPolicy) -> AlertPolicy {
        let o = &self.alerts;
        AlertPolicy {
            failure_threshold: o.failure_threshold.unwrap_or(global.failure_threshold),
            success_threshold: o.success_threshold.unwrap_or(global.success_threshold),
            remind_every: o.remind_every.unwrap_or(global.remind_every),
            cert_warn_days: o.cert_warn_days.unwrap_or(global.cert_warn_days),
            retention: global.retention,
        }
    }

    /// Every secret this endpoint sends, ready to mask output.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::new();
        if let Some(auth) = &self.auth {
            auth.add_to(&mut r);
        }
        for (k, v) in self.url.query_pairs() {
            if crate::secrets::is_secret_param(&k) {
                r.add(&v);
            }
        }
        r
    }

    /// The URL fit for output (userinfo and secret query values masked).
    pub fn display_url(&self) -> String {
        let extra: Vec<&str> = match &self.auth {
            Some(Auth::Query { param, .. }) => vec![param.as_str()],
            _ => vec![],
        };
        self.redactor()
            .redact(&crate::secrets::redact_url(&self.url, &extra))
    }
}

/// `%XX` escapes to bytes, everything else as is (`+` stays a plus), then UTF-8 (lossy).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Config {
    /// Loads and validates a file, resolving secrets from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with(path, &ProcessEnv)
    }

    /// Loads a file leniently: an endpoint whose table has problems (an unset secret, a bad
    /// value) is left out and listed in [`Config::not_configured`]; problems anywhere else
    /// still fail the load, with every problem of the file.
    pub fn load_lenient(path: &Path) -> Result<Config, ConfigErrors> {
        Config::read(path, &ProcessEnv, parse::Parsed::lenient)
    }

    /// Loads and validates a file, resolving secrets from `secrets`.
    pub fn load_with(path: &Path, secrets: &dyn SecretSource) -> Result<Config, ConfigErrors> {
        Config::read(path, secrets, parse::Parsed::strict)
    }

    fn read(
        path: &Path,
        secrets: &dyn SecretSource,
        finish: fn(parse::Parsed) -> Result<Config, ConfigErrors>,
    ) -> Result<Config, ConfigErrors> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: name.clone(),
                line: None,
                column: None,
                message: format!("cannot read: {e}"),
            }])
        })?;
        let text = crate::located::utf8_text(&name, bytes)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = finish(parse::parse(&name, &text, base, secrets))?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses configuration text; `file` names it in errors, `base_dir` anchors relative paths.
    pub fn parse(
        file: &str,
        text: &str,
        base_dir: &Path,
        secrets: &dyn SecretSource,
    ) -> Result<Config, ConfigErrors> {
        parse::parse(file, text, base_dir, secrets).strict()
    }

    /// [`Config::parse`], leniently (see [`Config::load_lenient`]).
    pub fn parse_lenient(
        file: &str,
        text: &str,
        base_dir: &Path,
        secrets: &dyn SecretSource,
    ) -> Result<Config, ConfigErrors> {
        parse::parse(file, text, base_dir, secrets).lenient()
    }

    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Every secret of every endpoint, for masking output that may mention any of them.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::new();
        for e in &self.endpoints {
            r.extend(&e.redactor());
        }
        r
    }
}

/// A problem in the configuration.
pub type ConfigError = crate::located::Located;

/// Every problem found in a configuration; loading fails if there is at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::located::write_lines(f, &self.0)
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
