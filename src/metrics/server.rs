//! `--http ADDR`: `/healthz` (the process answers), `/readyz` (the state database answers) and
//! `/metrics` (the Prometheus exposition), on the address given and nothing else.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::Gauges;

/// Reads the gauges that live outside the registry (blocking: it may query the database).
pub type GaugeSource = Arc<dyn Fn() -> Gauges + Send + Sync>;

/// The largest POST body read; more is refused with 413 before it is all received.
pub const MAX_POST_BODY: usize = 64 * 1024;

/// What a POST handler answers, and work to start once the answer is sent.
pub struct PostAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub after: Option<futures::future::BoxFuture<'static, ()>>,
}

impl PostAnswer {
    pub fn text(status: u16, body: &str) -> PostAnswer {
        PostAnswer {
            status,
            content_type: "text/plain",
            body: body.to_string(),
            after: None,
        }
    }
}

/// POST requests (Discord's `/interactions`): path, headers, body.
pub type PostHandler = Arc<
    dyn Fn(String, hyper::HeaderMap, Bytes) -> futures::future::BoxFuture<'static, PostAnswer>
        + Send
        + Sync,
>;

/// The gauges of a process without a state database: nothing to be unready about.
pub fn no_store() -> GaugeSource {
    Arc::new(|| Gauges {
        store_up: true,
        ..Gauges::default()
    })
}

/// Binds `addr` now, so a taken port is an error at start, not a silent missing endpoint.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serves until `shutdown` resolves. Each connection is its own task; a slow or hostile client
/// holds up nobody else.
pub async fn serve(
    listener: std::net::TcpListener,
    gauges: GaugeSource,
    post: Option<PostHandler>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let gauges = gauges.clone();
        let post = post.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| answer(req, gauges.clone(), post.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .max_buf_size(16 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // Bounded: a client that never finishes its request is dropped.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await;
        });
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    gauges: GaugeSource,
    post: Option<PostHandler>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.method() == Method::POST {
        let Some(post) = post else {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "GET only\n".into(),
            );
        };
        use http_body_util::BodyExt;
        let path = req.uri().path().to_string();
        let (parts, body) = req.into_parts();
        let body = match http_body_util::Limited::new(body, MAX_POST_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain",
                    "body too large\n".into(),
                )
            }
        };
        let a = post(path, parts.headers, body).await;
        if let Some(after) = a.after {
            tokio::spawn(after);
        }
        let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return reply(status, a.content_type, a.body);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    let read = || async {
        let g = gauges.clone();
        tokio::task::spawn_blocking(move || g())
            .await
            .unwrap_or_default()
    };
    match req.uri().path() {
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            let g = read().await;
            match g.store_up {
                true => reply(StatusCode::OK, "text/plain", "ready\n".into()),
                false => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "not ready: the state database does not answer\n".into(),
                ),
            }
        }
        "/metrics" => {
            let g = read().await;
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                super::render(&g),
            )
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: /healthz, /readyz, /metrics\n".into(),
        ),
    }
}
