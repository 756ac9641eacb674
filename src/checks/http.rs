//! HTTP stage: one HTTP/1.1 request with hyper on the connection the earlier stages opened;
//! time to first byte, total time, and a body read capped at [`BODY_CAP`].

use std::time::Duration;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use url::Url;

use super::entries;
use super::net::{io_entry, io_kind, BoxStream};
use super::{human, Failure, BODY_CAP};
use crate::config::{Auth, Endpoint};

pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub truncated: bool,
    pub ttfb: Duration,
    pub total: Duration,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// "404 Not Found".
pub(crate) fn status_text(status: u16) -> String {
    match hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(r) => format!("{status} {r}"),
        None => status.to_string(),
    }
}

/// The knowledge entry for an unexpected status.
pub(crate) fn entry_for_status(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => entries::HTTP_400,
        401 => entries::HTTP_401,
        403 => entries::HTTP_403,
        404 => entries::HTTP_404,
        405 => entries::HTTP_405,
        408 => entries::HTTP_408,
        409 => entries::HTTP_409,
        413 => entries::HTTP_413,
        415 => entries::HTTP_415,
        422 => entries::HTTP_422,
        429 => entries::HTTP_429,
        500 => entries::HTTP_500,
        502 => entries::HTTP_502,
        503 => entries::HTTP_503,
        504 => entries::HTTP_504,
        501 | 505..=599 => entries::HTTP_500,
        // Other client errors share the 400 entry's first steps: read the body, fix the request.
        402 | 406 | 407 | 410..=412 | 414 | 416..=421 | 423..=428 | 431..=499 => entries::HTTP_400,
        _ => entries::GENERAL_TROUBLESHOOTING,
    })
}

/// A request ready to send: what goes on the wire.
pub(crate) struct Outgoing {
    pub method: String,
    /// Origin form: path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Where one request of a check goes and what it carries.
pub(crate) struct Target<'a> {
    pub url: &'a Url,
    pub host: &'a str,
    pub port: u16,
    pub method: &'a str,
    /// The configured origin: auth, configured headers and body are sent only there.
    pub same_origin: bool,
    /// False after a redirect turned the request into a GET.
    pub with_body: bool,
}

/// The endpoint's request for `to`, with its auth applied (`bearer` overrides the bearer token,
/// e.g. one fetched by the OAuth2 step).
pub(crate) fn build(ep: &Endpoint, to: &Target<'_>, bearer: Option<&str>) -> Outgoing {
    let Target {
        url, host, port, ..
    } = *to;
    let mut u = url.clone();
    let mut headers: Vec<(String, String)> = Vec::new();
    let host_header = if Some(port) == url.port_or_known_default() && url.port().is_none() {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    headers.push(("host".into(), host_header));
    headers.push((
        "user-agent".into(),
        concat!("medic/", env!("CARGO_PKG_VERSION")).into(),
    ));
    headers.push(("accept".into(), "*/*".into()));
    // Configured headers and body are for the configured service only: a redirect to another
    // origin gets neither.
    if to.same_origin {
        for (k, v) in &ep.headers {
            headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
    }
    match ep.auth.as_ref().filter(|_| to.same_origin) {
        Some(Auth::Bearer { token, .. }) => {
            headers.push(("authorization".into(), format!("Bearer {}", token.expose())))
        }
        Some(Auth::Basic { user, password, .. }) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                user.expose(),
                password.expose()
            ));
            headers.push(("authorization".into(), format!("Basic {b64}")));
        }
        Some(Auth::Header { name, value, .. }) => {
            headers.push((name.clone(), value.expose().to_string()))
        }
        Some(Auth::Query { param, value, .. }) => {
            u.query_pairs_mut().append_pair(param, value.expose());
        }
        Some(Auth::OAuth2ClientCredentials { .. }) | None => {}
    }
    if let Some(token) = bearer {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let mut target = u.path().to_string();
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    Outgoing {
        method: to.method.to_string(),
        target,
        headers,
        body: ep.body.clone().filter(|_| to.same_origin && to.with_body),
    }
}

/// Sends `req` on `stream` and reads the answer, all before `deadline`.
pub(crate) async fn send(
    stream: BoxStream,
    req: Outgoing,
    deadline: Instant,
    budget: Duration,
) -> Result<Response, Failure> {
    let start = Instant::now();
    let timeout = |what: &str| {
        Failure::new(
            format!(
                "{what} within {} (the server accepted the connection but is stalling)",
                human(budget)
            ),
            Some(entries::NETWORK_TIMEOUT),
        )
    };
    let (mut sender, conn) = match tokio::time::timeout_at(
        deadline,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    {
        Err(_) => return Err(timeout("no HTTP connection")),
        Ok(Err(e)) => return Err(hyper_failure(&e, "starting HTTP")),
        Ok(Ok(pair)) => pair,
    };
    // The connection task lives only as long as this check.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let _abort = AbortOnDrop(driver);

    let request = to_hyper(req)?;
    let resp = match tokio::time::timeout_at(deadline, sender.send_request(request)).await {
        Err(_) => return Err(timeout("no response")),
        Ok(Err(e)) => return Err(hyper_failure(&e, "before the response headers")),
        Ok(Ok(r)) => r,
    };
    let ttfb = start.elapsed();
    let (parts, mut body) = resp.into_parts();
    let mut buf = BytesMut::new();
    let mut truncated = false;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(timeout(&format!(
                    "{} received, but the body did not finish",
                    status_text(parts.status.as_u16())
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(hyper_failure(
                    &e,
                    &format!(
                        "in the middle of the {} response body",
                        status_text(parts.status.as_u16())
                    ),
                ))
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let room = BODY_CAP - buf.len();
                    if data.len() > room {
                        buf.extend_from_slice(&data[..room]);
                        truncated = true;
                        break;
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: buf.freeze(),
        truncated,
        ttfb,
        total: start.elapsed(),
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn to_hyper(req: Outgoing) -> Result<Request<Full<Bytes>>, Failure> {
    let bad = |what: String| Failure::new(what, Some(entries::HTTP_400));
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| bad(format!("`{}` is not an HTTP method", req.method)))?;
    let mut builder = Request::builder().method(method).uri(req.target.as_str());
    for (k, v) in &req.headers {
        // Values may be secrets: never echo them in the error.
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad(format!("header name `{k}` is invalid")))?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            bad(format!(
                "the value of header `{k}` contains characters not allowed in HTTP headers"
            ))
        })?;
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(req.body.unwrap_or_default()));
    builder
        .body(body)
        .map_err(|_| bad("the request could not be built (check the URL path and headers)".into()))
}

/// A hyper error as a stage failure, by the io error kind underneath when there is one.
fn hyper_failure(e: &hyper::Error, when: &str) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Failure::new(
                format!("{} {when}", io_kind(io)),
                io_entry(io).or(Some(entries::CONNECTION_RESET)),
            );
        }
        source = s.source();
    }
    if e.is_incomplete_message() {
        return Failure::new(
            format!("the server closed the connection {when}"),
            Some(entries::CONNECTION_RESET),
        );
    }
    if e.is_parse_too_large() {
        // hyper's limit for a response head (about 400 KB): valid HTTP, just too much of it.
        return Failure::new(
            format!("the response headers {when} are larger than the ~400 KB medic reads (oversized cookies, a header repeated in a loop, or a misbehaving proxy)"),
            Some(entries::GENERAL_TROUBLESHOOTING),
        );
    }
    if e.is_parse() {
        return Failure::new(
            format!("the answer {when} is not valid HTTP/1.1 (TLS port spoken to with http://, or not an HTTP server?)"),
            Some(entries::GENERAL_TROUBLESHOOTING),
        );
    }
    if e.is_timeout() {
        return Failure::new(format!("timed out {when}"), Some(entries::NETWORK_TIMEOUT));
    }
    Failure::new(
        format!("HTTP error {when}: {e}"),
        Some(entries::CONNECTION_RESET),
    )
}
