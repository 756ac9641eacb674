//! One `[[endpoints]]` table: its URL, request, expectations, TLS and alert override, each
//! read by its own function so that every problem in the table is reported at its line.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use toml::Spanned;
use url::Url;

use super::auth::auth;
use super::raw::{RawAlertOverride, RawEndpoint};
use super::values::{shown, Ctx, StatusSet, INTERVAL_BOUNDS, REMIND_BOUNDS, TIMEOUT_BOUNDS};
use crate::config::{
    AlertOverride, Endpoint, TlsCa, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, MAX_FOLLOW_REDIRECTS,
};
use crate::secrets::SecretSource;

/// The endpoint of one table, or `None` when any of its values was refused (the errors are
/// in `ctx`).
pub(super) fn endpoint(
    ctx: &mut Ctx,
    name: String,
    line: usize,
    raw: RawEndpoint,
    base_dir: &Path,
    secrets: &dyn SecretSource,
) -> Option<Endpoint> {
    let before = ctx.errors.len();
    let url = url(ctx, &raw.url);
    let method = method(ctx, raw.method.as_ref());
    let timeout = ctx
        .bounded("timeout", &raw.timeout, &TIMEOUT_BOUNDS)
        .unwrap_or(DEFAULT_TIMEOUT);
    headers(ctx, &raw);
    let max_latency = ctx.duration("max_latency", &raw.max_latency);
    let interval = ctx
        .bounded("interval", &raw.interval, &INTERVAL_BOUNDS)
        .unwrap_or(DEFAULT_INTERVAL);
    let follow_redirects = ctx
        .bounded_int(
            "follow_redirects",
            &raw.follow_redirects,
            0,
            i64::from(MAX_FOLLOW_REDIRECTS),
        )
        .unwrap_or(0) as u32;
    let expect_status = expect_status(ctx, raw.expect_status.as_ref());
    json_pointers(ctx, &raw.expect_json_pointers);
    let resolver = raw.resolver.as_ref().and_then(|r| resolver(ctx, r));
    let tls_ca = raw.tls_ca.as_ref().and_then(|p| tls_ca(ctx, p, base_dir));
    let auth = raw.auth.as_ref().and_then(|a| auth(ctx, &name, a, secrets));
    let alerts = raw
        .alerts
        .as_ref()
        .map_or_else(AlertOverride::default, |o| alert_override(ctx, o));
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

/// An http(s) URL with a host and no userinfo.
fn url(ctx: &mut Ctx, raw: &Spanned<String>) -> Option<Url> {
    match Url::parse(raw.get_ref().trim()) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            ctx.error(
                &raw.span(),
                format!(
                    "url: scheme `{}` is not supported; expected http:// or https://",
                    u.scheme()
                ),
            );
            None
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            ctx.error(
                &raw.span(),
                "url: has no host; expected e.g. https://api.example.com/health",
            );
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            ctx.error(&raw.span(), "url: must not contain credentials (user:password@); use `auth = { kind = \"basic\", user_env = ..., password_env = ... }`");
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            // The text may hold a secret; say what is wrong without echoing it.
            ctx.error(
                &raw.span(),
                format!("url: not a valid URL ({e}); expected e.g. https://api.example.com/health"),
            );
            None
        }
    }
}

/// The request method, upper-cased; `GET` when unset.
fn method(ctx: &mut Ctx, raw: Option<&Spanned<String>>) -> String {
    let Some(m) = raw else {
        return "GET".to_string();
    };
    let up = m.get_ref().trim().to_ascii_uppercase();
    if up.is_empty() || !up.bytes().all(|b| b.is_ascii_alphabetic()) {
        ctx.error(
            &m.span(),
            format!("method: {} is not an HTTP method", shown(m.get_ref())),
        );
    }
    up
}

/// Extra headers may not carry credentials: those belong in `auth`.
fn headers(ctx: &mut Ctx, raw: &RawEndpoint) {
    for (name, value) in &raw.headers {
        if is_credential_header(name) {
            let name = shown(name);
            ctx.error(
                &value.span(),
                format!("headers: {name} carries credentials; use `auth = {{ kind = \"header\", name = ..., value_env = \"...\" }}` (or bearer/basic) so its value is masked and sent only to this endpoint"),
            );
        }
    }
}

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

fn expect_status(ctx: &mut Ctx, raw: Option<&Spanned<toml::Value>>) -> StatusSet {
    let Some(v) = raw else {
        return StatusSet::default();
    };
    StatusSet::parse(v.get_ref()).unwrap_or_else(|e| {
        ctx.error(&v.span(), format!("expect_status: {e}"));
        StatusSet::default()
    })
}

fn json_pointers(ctx: &mut Ctx, raw: &[Spanned<String>]) {
    for p in raw {
        if !p.get_ref().is_empty() && !p.get_ref().starts_with('/') {
            ctx.error(&p.span(), format!("expect_json_pointers: {} is not a JSON pointer; expected e.g. \"/data/status\"", shown(p.get_ref())));
        }
    }
}

/// A DNS server as `IP:port` or a bare IP (port 53).
fn resolver(ctx: &mut Ctx, raw: &Spanned<String>) -> Option<SocketAddr> {
    let t = raw.get_ref().trim();
    t.parse::<SocketAddr>()
        .ok()
        .or_else(|| t.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
        .or_else(|| {
            ctx.error(&raw.span(), format!("resolver: {} is not an address; expected e.g. \"127.0.0.1:5353\" or \"1.1.1.1\"", shown(t)));
            None
        })
}

/// A PEM file of trusted CA certificates, relative to the config file's folder.
fn tls_ca(ctx: &mut Ctx, raw: &Spanned<String>, base_dir: &Path) -> Option<TlsCa> {
    let path = base_dir.join(raw.get_ref());
    match read_pem(&path) {
        Ok(certs) => Some(TlsCa { path, certs }),
        Err(e) => {
            ctx.error(&raw.span(), format!("tls_ca: {}: {e}", path.display()));
            None
        }
    }
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

fn alert_override(ctx: &mut Ctx, o: &RawAlertOverride) -> AlertOverride {
    AlertOverride {
        enabled: o.enabled.unwrap_or(true),
        failure_threshold: ctx.threshold("alerts.failure_threshold", &o.failure_threshold),
        success_threshold: ctx.threshold("alerts.success_threshold", &o.success_threshold),
        remind_every: ctx.bounded("alerts.remind_every", &o.remind_every, &REMIND_BOUNDS),
        cert_warn_days: o.cert_warn_days,
        mention_role: o.mention_role,
    }
}
