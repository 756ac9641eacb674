//! The OAuth2 client-credentials token request, a step of its own before the checked request:
//! `invalid_client` and `invalid_grant` are named, and the token is added to the redactor.

use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use super::entries;
use super::http::{self, Outgoing};
use super::net::{self, BoxStream, TlsSetup};
use super::{Checker, Failure};
use crate::config::{Auth, Endpoint};
use crate::secrets::Redactor;

/// A token the server issued.
pub(crate) struct Token {
    pub access_token: String,
    pub expires_in: Option<u64>,
    /// How long the token request took and what it said, for the credentials stage.
    pub summary: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

pub(super) async fn fetch_token(
    checker: &Checker,
    ep: &Endpoint,
    deadline: Instant,
    redactor: &mut Redactor,
) -> Result<Token, Failure> {
    let Some(Auth::OAuth2ClientCredentials {
        token_url,
        client_id,
        client_secret,
        scopes,
        ..
    }) = &ep.auth
    else {
        return Err(Failure::new(
            "not an OAuth2 endpoint",
            Some(entries::GENERAL_TROUBLESHOOTING),
        ));
    };
    let shown = crate::secrets::redact_url(token_url, &[]);
    let prefix =
        |f: Failure| Failure::new(format!("token request to {shown}: {}", f.detail), f.entry);
    let start = Instant::now();
    let stream = open(checker, ep, token_url, deadline)
        .await
        .map_err(prefix)?;

    let req = token_request(
        token_url,
        client_id.expose(),
        client_secret.expose(),
        scopes,
        redactor,
    );
    let resp = http::send(stream, req, deadline, ep.timeout)
        .await
        .map_err(prefix)?;
    read_answer(&resp, &shown, start.elapsed().as_millis(), redactor)
}

/// The client-credentials POST (RFC 6749 §4.4); the Basic credential joins the redactor.
fn token_request(
    token_url: &Url,
    client_id: &str,
    client_secret: &str,
    scopes: &[String],
    redactor: &mut Redactor,
) -> Outgoing {
    // The serializer is not `Send`: finish it before any await.
    let form = {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.append_pair("grant_type", "client_credentials");
        if !scopes.is_empty() {
            body.append_pair("scope", &scopes.join(" "));
        }
        body.finish()
    };
    // client_secret_basic (RFC 6749 §2.3.1): the id and secret are form-encoded, then base64'd.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", enc(client_id), enc(client_secret)),
    );
    redactor.add(&basic);
    let host = token_url.host_str().unwrap_or_default();
    let host_header = match token_url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut target = token_url.path().to_string();
    if let Some(q) = token_url.query() {
        target.push('?');
        target.push_str(q);
    }
    Outgoing {
        method: "POST".into(),
        target,
        headers: vec![
            ("host".into(), host_header),
            (
                "user-agent".into(),
                concat!("medic/", env!("CARGO_PKG_VERSION")).into(),
            ),
            ("accept".into(), "application/json".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("authorization".into(), format!("Basic {basic}")),
        ],
        body: Some(form),
    }
}

/// A token endpoint's answer: the token, or why there is none (`invalid_client`,
/// `invalid_grant`, … named, the server's description masked).
fn read_answer(
    resp: &http::Response,
    shown: &str,
    ms: u128,
    redactor: &mut Redactor,
) -> Result<Token, Failure> {
    let answer: Option<TokenAnswer> = serde_json::from_slice(&resp.body).ok();
    if (200..300).contains(&resp.status) {
        let Some(TokenAnswer {
            access_token: Some(tok),
            expires_in,
            ..
        }) = answer
        else {
            return Err(Failure::new(
                format!(
                    "token request to {shown}: {} but no `access_token` in the JSON answer",
                    http::status_text(resp.status)
                ),
                Some(entries::MALFORMED_JSON),
            ));
        };
        redactor.add(&tok);
        let expires_in = expires_in.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let mut summary = format!(
            "token request {} in {ms} ms",
            http::status_text(resp.status)
        );
        if let Some(e) = expires_in {
            summary.push_str(&format!(", expires_in {e} s"));
        }
        return Ok(Token {
            access_token: tok,
            expires_in,
            summary,
        });
    }
    let (code, description) = match &answer {
        Some(a) => (
            a.error.clone().unwrap_or_default(),
            a.error_description.clone().unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    };
    let entry = match code.as_str() {
        "invalid_client" | "unauthorized_client" => Some(entries::OAUTH_INVALID_CLIENT),
        "invalid_grant" => Some(entries::OAUTH_INVALID_GRANT),
        "invalid_scope" => Some(entries::INSUFFICIENT_PERMISSIONS),
        _ => match resp.status {
            401 => Some(entries::OAUTH_INVALID_CLIENT),
            s => http::entry_for_status(s),
        },
    };
    let mut detail = format!(
        "token request to {shown}: {}",
        http::status_text(resp.status)
    );
    if !code.is_empty() {
        detail.push_str(&format!(", error `{}`", redactor.excerpt(&code, 100)));
        let hint = match code.as_str() {
            "invalid_client" => " — the client id or secret is wrong, or the client is disabled",
            "invalid_grant" => {
                " — the grant was rejected (revoked or expired client grant, wrong audience)"
            }
            "unauthorized_client" => " — this client may not use the client_credentials grant",
            "invalid_scope" => " — a requested scope is unknown or not allowed for this client",
            _ => "",
        };
        detail.push_str(hint);
    }
    if !description.is_empty() {
        // Masked before it is shortened: a cut through a secret would leave a fragment.
        detail.push_str(&format!(" ({})", redactor.excerpt(&description, 200)));
    }
    Err(Failure::new(detail, entry))
}

/// DNS, TCP and TLS for a URL other than the endpoint's own, collapsed into one result.
async fn open(
    checker: &Checker,
    ep: &Endpoint,
    url: &Url,
    deadline: Instant,
) -> Result<BoxStream, Failure> {
    let host = url
        .host()
        .ok_or_else(|| Failure::new("URL has no host", Some(entries::GENERAL_TROUBLESHOOTING)))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let ips = checker.addresses(ep, &host, deadline).await?;
    let (tcp, _) = net::connect(&net::sockets(&ips, port), deadline).await?;
    if url.scheme() != "https" {
        return Ok(Box::new(tcp));
    }
    let setup = TlsSetup::new(ep.tls_ca.as_ref(), checker.clock.clone());
    let (result, _) = net::tls(tcp, &net::tls_name(&host), &setup, deadline, ep.timeout).await;
    result.map(|(s, _)| s)
}
