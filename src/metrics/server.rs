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

/// The gauges of a process running the alert pipeline on `store`: read through a second
/// connection where the store has one, so a scrape does not wait behind the monitor's writes.
pub fn store_gauges(store: crate::store::SharedStore) -> GaugeSource {
    Arc::new(move || {
        let Ok(main) = store.lock() else {
            return Gauges::default();
        };
        let lease_held = Some(u64::from(main.holds_lease()));
        let reader = main.reader().ok().flatten();
        let read = |s: &dyn crate::store::Store| -> crate::Result<(u64, u64)> {
            let open = s
                .load_states()?
                .iter()
                .filter(|(_, st)| st.incident.is_some())
                .count() as u64;
            Ok((open, s.backlog()?.pending))
        };
        let figures = match &reader {
            Some(r) => {
                drop(main);
                read(&**r)
            }
            None => read(&*main),
        };
        match figures {
            Ok((open, pending)) => Gauges {
                open_incidents: Some(open),
                outbox_depth: Some(pending),
                lease_held,
                store_up: true,
            },
            Err(_) => Gauges {
                lease_held,
                ..Gauges::default()
            },
        }
    })
}

/// Binds `addr` now, so a taken port is an error at start, not a silent missing endpoint.
pub fn bind(addr: std::net::SocketAddr) -> crate::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| crate::Error::io(format!("listening on {addr} (--http)"), e))?;
    l.set_nonblocking(true)
        .map_err(|e| crate::Error::io("listening (--http)", e))?;
    Ok(l)
}

/// Serves until `shutdown` resolves. Each connection is its own task; a slow or hostile client
/// holds up nobody else.
pub async fn serve(
    listener: std::net::TcpListener,
    gauges: GaugeSource,
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
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(req, gauges.clone()));
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
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
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
