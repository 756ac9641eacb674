//! Local servers for integration tests, all on 127.0.0.1 port 0 (never another address):
//!
//! - [`HttpServer`]: HTTP/1.1 (or HTTPS with [`HttpServer::start_tls`]) with a reply per path and
//!   a switchable default ([`HttpServer::set_default`]) — 200/401/429/…, slow, stalled, reset
//!   mid-body, closed; every request is recorded.
//! - [`Pki`]: an rcgen CA plus leaf certificates (valid, expired, wrong name) and self-signed ones.
//! - [`DnsServer`]: UDP DNS answering A records, NXDOMAIN, SERVFAIL, or nothing.
//! - [`oauth_token_route`]: an OAuth2 client-credentials token endpoint on an [`HttpServer`].
//! - [`hostile`]: the forms in which a hostile server echoes a credential, and a leak check.
//!
//! - [`switch`]: an endpoint the alert tests switch up and down, and `medic watch` as a child.
//!
//! Helpers unused by every test are allowed.
#![allow(dead_code)]

pub mod hostile;
pub mod pg;
pub mod switch;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// What the server does with a request.
#[derive(Clone)]
pub enum Reply {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Waits, then gives the inner reply.
    Slow(Duration, Box<Reply>),
    /// Reads the request and never answers (keeps the connection open).
    Stall,
    /// Sends the headers and half the body, then resets the connection (TCP RST).
    ResetMidBody { status: u16, body_len: usize },
    /// Closes the connection without answering.
    Close,
    /// Decides per request.
    Handler(Handler),
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Response {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: format!("status {status}\n").into_bytes(),
        }
    }

    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn html(status: u16, body: &str) -> Reply {
        Reply::Response {
            status,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn body(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply::Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    pub fn handler(f: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Reply {
        Reply::Handler(Arc::new(f))
    }

    /// Adds a header to a `Response` (no effect on other replies).
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Response { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    pub fn slow(self, delay: Duration) -> Reply {
        Reply::Slow(delay, Box::new(self))
    }
}

struct State {
    routes: Mutex<HashMap<String, Reply>>,
    default: Mutex<Reply>,
    requests: Mutex<Vec<Request>>,
}

/// A local HTTP(S) server. Dropping it stops accepting.
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpServer {
    /// Plain HTTP; unknown paths get the default reply (initially `200 {"status":"ok"}`).
    pub async fn start() -> HttpServer {
        Self::spawn(None).await
    }

    /// HTTPS with the given certificate chain and key.
    pub async fn start_tls(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> HttpServer {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Self::spawn(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn spawn(tls: Option<tokio_rustls::TlsAcceptor>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            routes: Mutex::new(HashMap::new()),
            default: Mutex::new(Reply::json(200, r#"{"status":"ok"}"#)),
            requests: Mutex::new(Vec::new()),
        });
        let is_tls = tls.is_some();
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => {
                            let mut tcp = tcp;
                            if serve(&mut tcp, &st).await {
                                reset(&tcp);
                            }
                        }
                        Some(acceptor) => {
                            if let Ok(mut s) = acceptor.accept(tcp).await {
                                if serve(&mut s, &st).await {
                                    reset(s.get_ref().0);
                                }
                            }
                        }
                    }
                });
            }
        });
        HttpServer {
            addr,
            tls: is_tls,
            state,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/path` (https for a TLS server).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The reply for one path (query ignored).
    pub fn route(&self, path: &str, reply: Reply) -> &Self {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), reply);
        self
    }

    /// The reply for every path without a route — switch it to simulate an outage.
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

#[allow(deprecated)] // SO_LINGER 0 does not block on drop: it is what makes the RST.
fn reset(tcp: &TcpStream) {
    let _ = tcp.set_linger(Some(Duration::ZERO));
}

/// Serves one request on a connection; returns true when the connection must be reset.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, state: &State) -> bool {
    let req = match read_request(s).await {
        Ok(r) => r,
        Err(NotHttp::Tls) => {
            // Like real servers: a TLS hello on a plain port gets a plain-HTTP 400.
            let _ = s
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            let _ = s.shutdown().await;
            return false;
        }
        Err(NotHttp::Closed) => return false,
    };
    state.requests.lock().unwrap().push(req.clone());
    let mut reply = {
        let routes = state.routes.lock().unwrap();
        routes
            .get(req.path())
            .cloned()
            .unwrap_or_else(|| state.default.lock().unwrap().clone())
    };
    loop {
        match reply {
            Reply::Handler(h) => reply = h(&req),
            Reply::Slow(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            Reply::Stall => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return false;
            }
            Reply::Close => return false,
            Reply::ResetMidBody { status, body_len } => {
                let head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {body_len}\r\n\r\n");
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&vec![b' '; body_len / 2]).await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                return true;
            }
            Reply::Response {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str(&format!(
                    "content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                ));
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.flush().await;
                let _ = s.shutdown().await;
                return false;
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

enum NotHttp {
    Tls,
    Closed,
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Result<Request, NotHttp> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.first() == Some(&0x16) {
            return Err(NotHttp::Tls);
        }
        if buf.len() > 64 * 1024 {
            return Err(NotHttp::Closed);
        }
        let n = s.read(&mut chunk).await.map_err(|_| NotHttp::Closed)?;
        if n == 0 {
            return Err(NotHttp::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    parse_request(s, buf, head_end).await.ok_or(NotHttp::Closed)
}

async fn parse_request<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: Vec<u8>,
    head_end: usize,
) -> Option<Request> {
    let mut chunk = [0u8; 4096];
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// A TCP port on 127.0.0.1 with nothing listening (connections are refused) for as long as
/// this value lives: the port stays bound, without `listen()`, so no other test can take it.
pub struct ClosedPort {
    pub port: u16,
    _socket: tokio::net::TcpSocket,
}

pub async fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    ClosedPort {
        port,
        _socket: socket,
    }
}

/// A listener that accepts connections and never says anything (TLS/HTTP stalls).
pub async fn silent_listener() -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

/// A certificate authority for test certificates.
pub struct Pki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

/// A certificate chain and its key, ready for [`HttpServer::start_tls`].
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // A distinct name per CA: two CAs with one name make webpki report a bad signature.
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("medic test CA {n}"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = params.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// Writes the CA certificate as PEM into `dir`; the path is what `tls_ca` takes.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem()).unwrap();
        path
    }

    /// A leaf for `names` (DNS names or IP addresses) valid between the two dates (y, m, d).
    pub fn leaf(
        &self,
        names: &[&str],
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = leaf_params(names, not_before, not_after);
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    /// A self-signed certificate (no CA will ever trust it).
    pub fn self_signed(names: &[&str]) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = leaf_params(names, (2020, 1, 1), (2999, 1, 1));
        let cert = params.self_signed(&key).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

fn leaf_params(names: &[&str], nb: (i32, u8, u8), na: (i32, u8, u8)) -> rcgen::CertificateParams {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().copied().unwrap_or("leaf"),
    );
    params.not_before = rcgen::date_time_ymd(nb.0, nb.1, nb.2);
    params.not_after = rcgen::date_time_ymd(na.0, na.1, na.2);
    params
}

/// How the DNS server answers a name.
#[derive(Debug, Clone, Copy)]
pub enum DnsAnswer {
    A(Ipv4Addr),
    NxDomain,
    ServFail,
    /// NOERROR with no records.
    Empty,
    /// Never answers.
    Silent,
}

/// A UDP DNS server on 127.0.0.1; unknown names are NXDOMAIN.
pub struct DnsServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    pub async fn start(names: &[(&str, DnsAnswer)]) -> DnsServer {
        use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
        use hickory_proto::rr::{rdata, RData, Record, RecordType};

        let names: HashMap<String, DnsAnswer> = names
            .iter()
            .map(|(n, a)| (n.trim_end_matches('.').to_ascii_lowercase(), *a))
            .collect();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(q) = req.queries().first().cloned() else {
                    continue;
                };
                let name = q
                    .name()
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let answer = names.get(&name).copied().unwrap_or(DnsAnswer::NxDomain);
                let mut resp = Message::new();
                resp.set_id(req.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(OpCode::Query)
                    .set_recursion_desired(req.recursion_desired())
                    .set_recursion_available(true)
                    .add_query(q.clone());
                match answer {
                    DnsAnswer::Silent => continue,
                    DnsAnswer::NxDomain => {
                        resp.set_response_code(ResponseCode::NXDomain);
                    }
                    DnsAnswer::ServFail => {
                        resp.set_response_code(ResponseCode::ServFail);
                    }
                    DnsAnswer::Empty => {}
                    DnsAnswer::A(ip) => {
                        if q.query_type() == RecordType::A {
                            resp.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::A(rdata::A(ip)),
                            ));
                        }
                    }
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        DnsServer { addr, task }
    }
}

/// An unsigned JWT (`alg: none`) with the given time claims, for token-expiry tests.
pub fn jwt(exp: Option<i64>, nbf: Option<i64>, iat: Option<i64>) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let mut claims = serde_json::json!({ "sub": "medic-test" });
    for (k, v) in [("exp", exp), ("nbf", nbf), ("iat", iat)] {
        if let Some(v) = v {
            claims[k] = v.into();
        }
    }
    format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&claims.to_string())
    )
}

/// The client id and secret of a `client_secret_basic` Authorization header: base64 of
/// `id:secret`, each form-urlencoded first (RFC 6749 §2.3.1), so both may hold `:` or `+`.
pub fn basic_client_credentials(header: &str) -> Option<(String, String)> {
    let b64 = header.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// Makes `path` on `server` an OAuth2 client-credentials token endpoint: the right
/// `client_id`/`client_secret` (HTTP basic, decoded per RFC 6749 §2.3.1) get `token`;
/// anything else `401 invalid_client`.
pub fn oauth_token_route(
    server: &HttpServer,
    path: &str,
    client_id: &str,
    client_secret: &str,
    token: &str,
) {
    let expected = (client_id.to_string(), client_secret.to_string());
    let token = token.to_string();
    server.route(
        path,
        Reply::handler(move |req| {
            let grant_ok = String::from_utf8_lossy(&req.body).contains("grant_type=client_credentials");
            if req.method != "POST" || !grant_ok {
                return Reply::json(400, r#"{"error":"unsupported_grant_type"}"#);
            }
            let got = req.header("authorization").and_then(basic_client_credentials);
            if got.as_ref() == Some(&expected) {
                Reply::json(
                    200,
                    &format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#),
                )
            } else {
                Reply::json(401, r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#)
                    .with_header("www-authenticate", "Basic realm=\"token\"")
            }
        }),
    );
}

/// Runs `medic` in `dir` with a clean environment (no config, knowledge dir, database, token
/// or example secret from the caller's shell) plus `env`.
pub fn medic_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medic"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_DB")
        .env_remove("DISCORD_TOKEN")
        .env_remove("PAYMENTS_TOKEN")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run medic")
}

/// Runs a blocking `medic` from an async test (the servers need the runtime meanwhile).
pub async fn medic_async(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        medic_in(&dir, &args, &env)
    })
    .await
    .unwrap()
}

/// Runs `medic chat` in `dir` on `input` (clean environment as [`medic_in`], plus `env`); the
/// chat must exit 0.
pub fn chat_in(dir: &Path, input: &str, env: &[(&str, &std::ffi::OsStr)]) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medic"));
    cmd.current_dir(dir)
        .arg("chat")
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_DB")
        .env_remove("DISCORD_TOKEN")
        .env_remove("PAYMENTS_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run medic chat");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// One HTTP/1.1 GET on loopback; (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_request(port, "GET", path, &[], &[])
}

/// One HTTP/1.1 request with `headers` and `body` on loopback; (status, body). The body is
/// sent even if the server answers first (a 413 before the whole body arrived).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `name{labels}` → value, for every sample of a Prometheus text exposition; panics on a line
/// that is not a comment or a well-formed sample.
pub fn samples(text: &str) -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line:?}");
        }
        out.insert(
            series.to_string(),
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        );
    }
    out
}

/// A loopback port nothing listens on right now (for a server the test starts next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
