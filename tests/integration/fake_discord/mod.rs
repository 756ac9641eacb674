//! A fake Discord on 127.0.0.1 for driving the real serenity/poise client: the REST API
//! (plain HTTP for proxy mode, or HTTPS with a `discord.com` certificate for tests that keep
//! serenity's rate limiter) and the gateway websocket.
//!
//! Every REST request is recorded ([`FakeDiscord::requests`], [`FakeDiscord::wait_for`]);
//! failures are scripted per route ([`FakeDiscord::fail_next`]: a status, a 429 with
//! `retry-after`, a dropped connection, or a request carried out whose answer is then lost).
//! Created messages are kept per channel ([`FakeDiscord::channel_messages`]), and a create with
//! `nonce` + `enforce_nonce` that repeats an earlier one returns the first message, as Discord
//! does. Like Discord, the fake can hold each channel to a message limit
//! ([`FakeDiscord::limit_channels`]: 429 with `retry_after` beyond it), answers a reply to a
//! deleted message ([`FakeDiscord::delete_message`]) with 400 unless `fail_if_not_exists` is
//! false, answers a second callback to one interaction with 40060 and one later than 3 s after
//! its INTERACTION_CREATE with 10062. Gateway events are sent with [`FakeDiscord::dispatch`]
//! using the builders in [`payloads`]. Events the client could not parse are collected through
//! [`FakeDiscord::unknown_event_hook`] and fail the test in [`FakeDiscord::assert_no_unknown_events`].
#![allow(dead_code)]

pub mod payloads;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The bot's user id and application id in the fake.
pub const APP_ID: u64 = 1000;
pub const BOT_TOKEN: &str = "MTAwMA.fake.bot-token-for-tests";

/// One REST request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path with query, e.g. `/api/v10/channels/20/messages`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// The status the fake answered with (0 for a dropped connection).
    pub status: u16,
    pub at: Instant,
}

impl Recorded {
    pub fn is(&self, method: &Method, path_suffix_or_part: &str) -> bool {
        self.method == *method && self.path.contains(path_suffix_or_part)
    }
}

/// A scripted answer to the next matching request.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Answer with this status and a Discord-style JSON error.
    Status(u16),
    /// 429 with `retry-after` (seconds) and Discord's rate-limit headers.
    RateLimited { retry_after: f64 },
    /// A global 429: `"global": true`, `x-ratelimit-global` and scope `global`.
    GlobalRateLimited { retry_after: f64 },
    /// Close the connection without answering.
    Drop,
    /// Carry the request out (a message is created) and then close the connection without
    /// answering: Discord accepted it but the response was lost.
    DropAfterProcessing,
}

struct Rule {
    method: Method,
    path_part: String,
    failure: Failure,
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    changed: Notify,
    rules: Mutex<VecDeque<Rule>>,
    gateway_received: Mutex<Vec<Value>>,
    unknown_events: Mutex<Vec<(String, Value)>>,
    /// Bodies answered with 400 because Discord would have refused them.
    violations: Mutex<Vec<String>>,
    /// Messages created by `POST /channels/{id}/messages`, in order, as the fake returned them.
    messages: Mutex<Vec<Value>>,
    /// The message each enforced nonce created, by (authorization, channel, nonce).
    nonces: Mutex<HashMap<(String, String, String), Value>>,
    identified: Mutex<Option<Value>>,
    /// How many IDENTIFYs arrived (a re-identify after op 9 makes it 2).
    identifies: AtomicU64,
    /// Close codes of the close frames the client sent.
    closes: Mutex<Vec<u16>>,
    /// Close code to answer IDENTIFY with instead of READY (e.g. 4014, disallowed intents).
    close_on_identify: Mutex<Option<u16>>,
    seq: AtomicU64,
    ids: AtomicU64,
    ws_url: Mutex<String>,
    /// At most this many messages per channel in any window (off when `None`).
    channel_limit: Mutex<Option<(usize, Duration)>>,
    /// When each channel accepted its recent messages.
    channel_sends: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Ids of messages deleted meanwhile (replies to them lose their reference or fail).
    deleted: Mutex<std::collections::HashSet<String>>,
    /// Interactions already answered by a callback.
    acknowledged: Mutex<std::collections::HashSet<String>>,
    /// When each INTERACTION_CREATE was dispatched, by interaction id.
    interactions: Mutex<HashMap<String, Instant>>,
}

/// How long Discord accepts an interaction's first response.
pub const CALLBACK_WINDOW: Duration = Duration::from_secs(3);

/// A gateway frame to send, and where to report when it was sent.
type Outgoing = (String, Option<tokio::sync::oneshot::Sender<Instant>>);

pub struct FakeDiscord {
    state: Arc<State>,
    rest_addr: SocketAddr,
    gateway_tx: mpsc::UnboundedSender<Outgoing>,
    tls: Option<TlsMaterial>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct TlsMaterial {
    ca_pem: String,
}

impl FakeDiscord {
    /// REST over plain HTTP: point the bot at [`Self::api_base`] (proxy mode).
    pub async fn start() -> FakeDiscord {
        Self::start_inner(false).await
    }

    /// REST over HTTPS with a certificate for `discord.com` signed by a test CA: give the bot
    /// [`Self::tls_client`], which trusts only that CA and resolves discord.com to the fake.
    pub async fn start_tls() -> FakeDiscord {
        Self::start_inner(true).await
    }

    async fn start_inner(tls: bool) -> FakeDiscord {
        let state = Arc::new(State::default());
        state.ids.store(1_000_000, Ordering::SeqCst);
        let gw_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gw_addr = gw_listener.local_addr().unwrap();
        *state.ws_url.lock().unwrap() = format!("ws://{gw_addr}");
        let (gateway_tx, gateway_rx) = mpsc::unbounded_channel();
        let mut tasks = vec![tokio::spawn(gateway(
            gw_listener,
            state.clone(),
            gateway_rx,
        ))];

        let rest_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rest_addr = rest_listener.local_addr().unwrap();
        let (acceptor, material) = if tls {
            let (acceptor, ca_pem) = tls_acceptor();
            (Some(acceptor), Some(TlsMaterial { ca_pem }))
        } else {
            (None, None)
        };
        tasks.push(tokio::spawn(rest(rest_listener, state.clone(), acceptor)));
        FakeDiscord {
            state,
            rest_addr,
            gateway_tx,
            tls: material,
            tasks,
        }
    }

    /// `http://127.0.0.1:PORT`, for `DISCORD_API_BASE` / serenity's proxy setting.
    pub fn api_base(&self) -> String {
        assert!(
            self.tls.is_none(),
            "a TLS fake is reached through tls_client()"
        );
        format!("http://{}", self.rest_addr)
    }

    /// serenity's REST client sending everything to this fake (proxy mode, limiter off), as
    /// `medic serve` does with `DISCORD_API_BASE`.
    #[allow(dead_code)] // Each test binary uses part of the harness.
    pub fn http(&self) -> std::sync::Arc<poise::serenity_prelude::Http> {
        std::sync::Arc::new(
            poise::serenity_prelude::HttpBuilder::new(BOT_TOKEN)
                .proxy(self.api_base())
                .ratelimiter_disabled(true)
                .build(),
        )
    }

    /// A reqwest client that reaches this fake as `https://discord.com` and trusts nothing else.
    pub fn tls_client(&self) -> reqwest::Client {
        let tls = self.tls.as_ref().expect("start_tls() fake");
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).unwrap())
            .resolve("discord.com", self.rest_addr)
            .no_proxy()
            .build()
            .unwrap()
    }

    /// The hook to give the bot: every event serenity parsed as `Unknown` is kept here.
    pub fn unknown_event_hook(&self) -> medic::discord::UnknownEventHook {
        let state = self.state.clone();
        Arc::new(move |kind: &str, value: &Value| {
            state
                .unknown_events
                .lock()
                .unwrap()
                .push((kind.to_string(), value.clone()));
            state.changed.notify_waiters();
        })
    }

    pub fn unknown_events(&self) -> Vec<(String, Value)> {
        self.state.unknown_events.lock().unwrap().clone()
    }

    /// Fails the test if the client dropped any event as unparseable.
    pub fn assert_no_unknown_events(&self) {
        let unknown = self.unknown_events();
        assert!(
            unknown.is_empty(),
            "the client could not parse these events: {unknown:#?}"
        );
    }

    /// Every body the fake refused with 400 (what Discord would have refused), as
    /// `METHOD path: problems`.
    pub fn violations(&self) -> Vec<String> {
        self.state.violations.lock().unwrap().clone()
    }

    /// Fails the test if the bot sent anything Discord would have refused.
    pub fn assert_valid_bodies(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "bodies Discord would refuse: {v:#?}");
    }

    /// Every message created in `channel` so far, oldest first (a create answered with the
    /// first message of its nonce creates none).
    pub fn channel_messages(&self, channel: u64) -> Vec<Value> {
        let channel = channel.to_string();
        self.state
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m["channel_id"] == channel.as_str())
            .cloned()
            .collect()
    }

    /// A fresh snowflake-like id.
    pub fn next_id(&self) -> u64 {
        self.state.ids.fetch_add(1, Ordering::SeqCst)
    }

    /// Holds every channel to `messages` per `per`, as Discord does (5 per 5 s): beyond it a
    /// create is answered 429 with the `retry_after` until the oldest leaves the window.
    pub fn limit_channels(&self, messages: usize, per: Duration) {
        *self.state.channel_limit.lock().unwrap() = Some((messages, per));
    }

    /// The message `id` is gone: a reply referencing it gets 400, or with
    /// `fail_if_not_exists: false` is posted without the reference.
    pub fn delete_message(&self, id: u64) {
        self.state.deleted.lock().unwrap().insert(id.to_string());
    }

    /// Sends a dispatch event (op 0) with the next sequence number; returns that number.
    pub fn dispatch(&self, event: &str, d: Value) -> u64 {
        if event == "INTERACTION_CREATE" {
            if let Some(id) = d["id"].as_str() {
                let mut i = self.state.interactions.lock().unwrap();
                i.insert(id.to_string(), Instant::now());
            }
        }
        let s = self.state.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let frame = json!({"op": 0, "s": s, "t": event, "d": d}).to_string();
        self.gateway_tx
            .send((frame, None))
            .expect("gateway task alive");
        s
    }

    /// Like [`Self::dispatch`], returning the instant the gateway task started writing the frame.
    pub async fn dispatch_timed(&self, event: &str, d: Value) -> Instant {
        let s = self.state.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let frame = json!({"op": 0, "s": s, "t": event, "d": d}).to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.gateway_tx
            .send((frame, Some(tx)))
            .expect("gateway task alive");
        rx.await.expect("frame sent")
    }

    /// Sends a raw text frame, for malformed-payload tests.
    pub fn send_raw(&self, frame: String) {
        self.gateway_tx
            .send((frame, None))
            .expect("gateway task alive");
    }

    /// Answers every IDENTIFY by closing the gateway with `code`, as Discord does with 4014
    /// when a privileged intent is not enabled for the application.
    pub fn close_on_identify(&self, code: u16) {
        *self.state.close_on_identify.lock().unwrap() = Some(code);
    }

    /// The IDENTIFY payload once the client has sent it.
    pub async fn wait_identified(&self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            if let Some(v) = self.state.identified.lock().unwrap().clone() {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the client never sent IDENTIFY");
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), changed).await;
        }
    }

    /// How many IDENTIFYs the gateway received so far.
    pub fn identifies(&self) -> u64 {
        self.state.identifies.load(Ordering::SeqCst)
    }

    /// The codes of the close frames the client sent, in order.
    pub fn closes(&self) -> Vec<u16> {
        self.state.closes.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn requests_matching(&self, method: Method, path_part: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is(&method, path_part))
            .collect()
    }

    /// How many requests have been recorded so far (to look only at later ones).
    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// The first request at index `from` or later that satisfies `pred`, waiting up to `timeout`.
    pub async fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            if let Some(r) = self.state.requests.lock().unwrap()[from..]
                .iter()
                .find(|r| pred(r))
                .cloned()
            {
                return r;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "no matching request within {timeout:?}; got: {:#?}",
                    self.requests()[from..]
                        .iter()
                        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                        .collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), changed).await;
        }
    }

    /// Waits until the bot has registered its slash commands (its last start-up step) and
    /// returns that request.
    #[allow(dead_code)] // Each test binary uses part of the harness.
    pub async fn commands_registered(&self, timeout: Duration) -> Recorded {
        self.wait_for(0, timeout, |r| {
            r.method == Method::PUT && r.path.contains("/commands")
        })
        .await
    }

    /// Waits `quiet` and returns every request recorded from index `from` on.
    pub async fn requests_after(&self, from: usize, quiet: Duration) -> Vec<Recorded> {
        tokio::time::sleep(quiet).await;
        self.requests()[from..].to_vec()
    }

    /// The next `times` requests whose method matches and whose path contains `path_part` get
    /// `failure` instead of the normal answer.
    pub fn fail_next(&self, method: Method, path_part: &str, failure: Failure, times: usize) {
        let mut rules = self.state.rules.lock().unwrap();
        for _ in 0..times {
            rules.push_back(Rule {
                method: method.clone(),
                path_part: path_part.to_string(),
                failure: failure.clone(),
            });
        }
    }

    /// Gateway frames the client sent (IDENTIFY, heartbeats, …).
    pub fn gateway_received(&self) -> Vec<Value> {
        self.state.gateway_received.lock().unwrap().clone()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

// ---- gateway ----

async fn gateway(listener: TcpListener, state: Arc<State>, rx: mpsc::UnboundedReceiver<Outgoing>) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let state = state.clone();
        let rx = rx.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            // One live connection owns the outgoing queue.
            let mut rx = rx.lock().await;
            let (mut sink, mut stream) = ws.split();
            let hello = json!({"op": 10, "d": {"heartbeat_interval": 45000}}).to_string();
            if sink.send(WsMessage::Text(hello)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    incoming = stream.next() => {
                        let Some(Ok(msg)) = incoming else { return };
                        let text = match msg {
                            WsMessage::Text(t) => t,
                            WsMessage::Close(frame) => {
                                let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                                state.closes.lock().unwrap().push(code);
                                state.changed.notify_waiters();
                                // Answer the close handshake, as Discord does.
                                let _ = sink.send(WsMessage::Close(frame)).await;
                                return;
                            }
                            _ => continue,
                        };
                        let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                        state.gateway_received.lock().unwrap().push(v.clone());
                        match v["op"].as_u64() {
                            Some(1) => {
                                let ack = json!({"op": 11}).to_string();
                                if sink.send(WsMessage::Text(ack)).await.is_err() { return }
                            }
                            Some(2) => {
                                state.identifies.fetch_add(1, Ordering::SeqCst);
                                let close = *state.close_on_identify.lock().unwrap();
                                if let Some(code) = close {
                                    *state.identified.lock().unwrap() = Some(v);
                                    state.changed.notify_waiters();
                                    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                                        code: code.into(),
                                        reason: "Disallowed intent(s).".into(),
                                    };
                                    let _ = sink.send(WsMessage::Close(Some(frame))).await;
                                    return;
                                }
                                let s = state.seq.fetch_add(1, Ordering::SeqCst) + 1;
                                let ws_url = state.ws_url.lock().unwrap().clone();
                                let ready = json!({"op": 0, "s": s, "t": "READY", "d": payloads::ready(&ws_url)});
                                if sink.send(WsMessage::Text(ready.to_string())).await.is_err() { return }
                                *state.identified.lock().unwrap() = Some(v);
                                state.changed.notify_waiters();
                            }
                            _ => {}
                        }
                    }
                    outgoing = rx.recv() => {
                        let Some((frame, sent)) = outgoing else { return };
                        let at = Instant::now();
                        if sink.send(WsMessage::Text(frame)).await.is_err() { return }
                        if let Some(sent) = sent { let _ = sent.send(at); }
                    }
                }
            }
        });
    }
}

// ---- REST ----

type Body = Full<Bytes>;

async fn rest(listener: TcpListener, state: Arc<State>, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let builder = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fake")
    }
}
impl std::error::Error for Dropped {}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<binary>").to_string()))
        .collect();
    let author = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let failure = {
        let mut rules = state.rules.lock().unwrap();
        let pos = rules
            .iter()
            .position(|r| r.method == method && path.contains(&r.path_part));
        pos.and_then(|p| rules.remove(p)).map(|r| r.failure)
    };
    let violations = match failure {
        None | Some(Failure::DropAfterProcessing) => validate(&method, &path, &body),
        Some(_) => Vec::new(),
    };
    let (status, response) = match failure {
        Some(Failure::Drop) => (0, None),
        Some(Failure::DropAfterProcessing) => {
            // Refused or carried out, the answer never arrives.
            if violations.is_empty() {
                route(&state, &author, &method, &path, &body);
            } else {
                let message = format!("{method} {path}: {}", violations.join("; "));
                state.violations.lock().unwrap().push(message);
            }
            (0, None)
        }
        Some(Failure::Status(code)) => (code, Some(error_response(code, None))),
        Some(Failure::RateLimited { retry_after }) => {
            (429, Some(error_response(429, Some(retry_after))))
        }
        Some(Failure::GlobalRateLimited { retry_after }) => {
            (429, Some(global_rate_limited(retry_after)))
        }
        None if !violations.is_empty() => {
            let message = format!("{method} {path}: {}", violations.join("; "));
            state.violations.lock().unwrap().push(message);
            (400, Some(invalid_form_body(&violations)))
        }
        None => match channel_turn(&state, &method, &path) {
            Turn::Wait(secs) => (429, Some(error_response(429, Some(secs)))),
            turn => {
                let (code, value) = route(&state, &author, &method, &path, &body);
                let mut resp = if code == 204 {
                    Response::builder()
                        .status(204)
                        .body(Full::new(Bytes::new()))
                        .unwrap()
                } else {
                    json_response(code, &value)
                };
                if let Turn::Go {
                    limit,
                    remaining,
                    reset_after,
                } = turn
                {
                    let h = resp.headers_mut();
                    h.insert("x-ratelimit-limit", limit.into());
                    h.insert("x-ratelimit-remaining", remaining.into());
                    h.insert(
                        "x-ratelimit-reset-after",
                        format!("{reset_after:.3}").parse().unwrap(),
                    );
                    h.insert(
                        "x-ratelimit-bucket",
                        "fake-channel-messages".parse().unwrap(),
                    );
                }
                (code, Some(resp))
            }
        },
    };
    state.requests.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
        status,
        at: Instant::now(),
    });
    state.changed.notify_waiters();
    response.ok_or(Dropped)
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap()
}

fn error_response(code: u16, retry_after: Option<f64>) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json");
    let body = match retry_after {
        Some(secs) => {
            b = b
                .header("retry-after", secs.to_string())
                .header("x-ratelimit-limit", "5")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset-after", secs.to_string())
                .header("x-ratelimit-scope", "user");
            json!({"message": "You are being rate limited.", "retry_after": secs, "global": false})
        }
        None => json!({"message": format!("{code}: fake failure"), "code": 0}),
    };
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn global_rate_limited(secs: f64) -> Response<Body> {
    let body =
        json!({"message": "You are being rate limited.", "retry_after": secs, "global": true});
    Response::builder()
        .status(429)
        .header("content-type", "application/json")
        .header("retry-after", secs.to_string())
        .header("x-ratelimit-global", "true")
        .header("x-ratelimit-scope", "global")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Whether a request may create a message now under the channel limit.
enum Turn {
    /// Not a limited request.
    Free,
    /// Accepted (and counted); the bucket's headers.
    Go {
        limit: usize,
        remaining: usize,
        reset_after: f64,
    },
    /// Over the limit: retry after this many seconds.
    Wait(f64),
}

fn channel_turn(state: &State, method: &Method, path: &str) -> Turn {
    let Some((limit, per)) = *state.channel_limit.lock().unwrap() else {
        return Turn::Free;
    };
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["api", "v10", "channels", channel, "messages"] = parts.as_slice() else {
        return Turn::Free;
    };
    if method != Method::POST {
        return Turn::Free;
    }
    let now = Instant::now();
    let mut sends = state.channel_sends.lock().unwrap();
    let sent = sends.entry(channel.to_string()).or_default();
    while sent.front().is_some_and(|t| now.duration_since(*t) >= per) {
        sent.pop_front();
    }
    if sent.len() >= limit {
        let free_at = sent[0] + per;
        return Turn::Wait(free_at.duration_since(now).as_secs_f64().max(0.001));
    }
    sent.push_back(now);
    Turn::Go {
        limit,
        remaining: limit - sent.len(),
        reset_after: (sent[0] + per).duration_since(now).as_secs_f64(),
    }
}

fn invalid_form_body(violations: &[String]) -> Response<Body> {
    json_response(
        400,
        &json!({"code": 50035, "message": "Invalid Form Body", "errors": violations}),
    )
}

// ---- what Discord refuses ----

/// Discord's limits (see docs/discord.md); serenity checks none of the per-field ones.
const CONTENT: usize = 2000;
const EMBEDS: usize = 10;
const TITLE: usize = 256;
const DESCRIPTION: usize = 4096;
const FIELDS: usize = 25;
const FIELD_NAME: usize = 256;
const FIELD_VALUE: usize = 1024;
const FOOTER: usize = 2048;
const AUTHOR: usize = 256;
const EMBEDS_TOTAL: usize = 6000;
const BUTTON_LABEL: usize = 80;
const CUSTOM_ID: usize = 100;
const ROWS: usize = 5;
const ROW_COMPONENTS: usize = 5;
const CHOICES: usize = 25;
const CHOICE_CHARS: usize = 100;

/// What is wrong with a request body, the way Discord would answer 400 to it (empty: fine).
pub fn validate(method: &Method, path: &str, body: &Value) -> Vec<String> {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path
        .strip_prefix("/api/v10")
        .unwrap_or(path)
        .trim_matches('/')
        .split('/')
        .collect();
    let mut problems = Vec::new();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["channels", _, "messages"]) | ("POST", ["webhooks", _, _]) => {
            message(body, true, &mut problems)
        }
        ("PATCH", ["webhooks", _, _, "messages", _])
        | ("PATCH", ["channels", _, "messages", _]) => message(body, false, &mut problems),
        ("POST", ["interactions", _, _, "callback"]) => {
            let data = &body["data"];
            match body["type"].as_u64() {
                // A message, or the update of the clicked one.
                Some(4) | Some(7) => message(data, true, &mut problems),
                Some(8) => choices(data, &mut problems),
                _ => {}
            }
        }
        _ => {}
    }
    problems
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn message(body: &Value, creates: bool, problems: &mut Vec<String>) {
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    if creates {
        check(
            body["allowed_mentions"]["parse"] == json!([]),
            format!(
                "allowed_mentions.parse must be [] (no pings), got {}",
                body["allowed_mentions"]
            ),
        );
    }
    let content = chars(&body["content"]);
    check(
        content <= CONTENT,
        format!("content is {content} > {CONTENT} characters"),
    );
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    check(
        embeds.len() <= EMBEDS,
        format!("{} > {EMBEDS} embeds", embeds.len()),
    );
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let title = chars(&e["title"]);
        let description = chars(&e["description"]);
        let footer = chars(&e["footer"]["text"]);
        let author = chars(&e["author"]["name"]);
        check(
            title <= TITLE,
            format!("embeds[{i}].title is {title} > {TITLE}"),
        );
        check(
            description <= DESCRIPTION,
            format!("embeds[{i}].description is {description} > {DESCRIPTION}"),
        );
        check(
            footer <= FOOTER,
            format!("embeds[{i}].footer.text is {footer} > {FOOTER}"),
        );
        check(
            author <= AUTHOR,
            format!("embeds[{i}].author.name is {author} > {AUTHOR}"),
        );
        total += title + description + footer + author;
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        check(
            fields.len() <= FIELDS,
            format!("embeds[{i}] has {} > {FIELDS} fields", fields.len()),
        );
        for (j, f) in fields.iter().enumerate() {
            let name = chars(&f["name"]);
            let value = chars(&f["value"]);
            check(
                (1..=FIELD_NAME).contains(&name),
                format!("embeds[{i}].fields[{j}].name is {name} characters (1..={FIELD_NAME})"),
            );
            check(
                (1..=FIELD_VALUE).contains(&value),
                format!("embeds[{i}].fields[{j}].value is {value} characters (1..={FIELD_VALUE})"),
            );
            total += name + value;
        }
    }
    check(
        total <= EMBEDS_TOTAL,
        format!("embeds total {total} > {EMBEDS_TOTAL} characters"),
    );
    let rows = body["components"].as_array().cloned().unwrap_or_default();
    check(
        rows.len() <= ROWS,
        format!("{} > {ROWS} action rows", rows.len()),
    );
    let mut ids = std::collections::HashSet::new();
    for (r, row) in rows.iter().enumerate() {
        let inner = row["components"].as_array().cloned().unwrap_or_default();
        check(
            inner.len() <= ROW_COMPONENTS,
            format!(
                "components[{r}] has {} > {ROW_COMPONENTS} components",
                inner.len()
            ),
        );
        for (c, comp) in inner.iter().enumerate() {
            let label = chars(&comp["label"]);
            check(
                label <= BUTTON_LABEL,
                format!("components[{r}][{c}].label is {label} > {BUTTON_LABEL}"),
            );
            if let Some(id) = comp["custom_id"].as_str() {
                let n = id.chars().count();
                check(
                    (1..=CUSTOM_ID).contains(&n),
                    format!("components[{r}][{c}].custom_id is {n} characters (1..={CUSTOM_ID})"),
                );
                check(
                    ids.insert(id.to_string()),
                    format!("COMPONENT_CUSTOM_ID_DUPLICATED: {id}"),
                );
            }
        }
    }
}

fn choices(data: &Value, problems: &mut Vec<String>) {
    let choices = data["choices"].as_array().cloned().unwrap_or_default();
    if choices.len() > CHOICES {
        problems.push(format!("{} > {CHOICES} choices", choices.len()));
    }
    for (i, c) in choices.iter().enumerate() {
        for key in ["name", "value"] {
            let n = chars(&c[key]);
            if c[key].is_string() && !(1..=CHOICE_CHARS).contains(&n) {
                problems.push(format!(
                    "choices[{i}].{key} is {n} characters (1..={CHOICE_CHARS})"
                ));
            }
        }
    }
}

fn route(state: &State, author: &str, method: &Method, path: &str, body: &Value) -> (u16, Value) {
    let path = path.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix("/api/v10") else {
        return (404, json!({"message": "404: Not Found", "code": 0}));
    };
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let ws_url = state.ws_url.lock().unwrap().clone();
    let new_id = || state.ids.fetch_add(1, Ordering::SeqCst);
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => (200, json!({"url": ws_url})),
        ("GET", ["gateway", "bot"]) => (
            200,
            json!({
                "url": ws_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            }),
        ),
        ("GET", ["oauth2", "applications", "@me"]) => (
            200,
            json!({
                "id": APP_ID.to_string(), "name": "medic", "description": "", "bot_public": true,
                "bot_require_code_grant": false, "verify_key": "00"
            }),
        ),
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => {
            let cmds: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(new_id().to_string());
                    c["application_id"] = json!(APP_ID.to_string());
                    c["version"] = json!("1");
                    if c.get("type").is_none() {
                        c["type"] = json!(1);
                    }
                    if c.get("description").is_none() {
                        c["description"] = json!("");
                    }
                    c
                })
                .collect();
            (200, Value::Array(cmds))
        }
        ("POST", ["interactions", id, _, "callback"]) => {
            let dispatched = state.interactions.lock().unwrap().get(*id).copied();
            if dispatched.is_some_and(|at| at.elapsed() > CALLBACK_WINDOW) {
                return (
                    404,
                    json!({"message": "Unknown interaction", "code": 10062}),
                );
            }
            if !state.acknowledged.lock().unwrap().insert(id.to_string()) {
                return (
                    400,
                    json!({"message": "Interaction has already been acknowledged.", "code": 40060}),
                );
            }
            (204, Value::Null)
        }
        ("POST", ["webhooks", _, _]) | ("PATCH", ["webhooks", _, _, "messages", _]) => {
            (200, payloads::bot_message(new_id(), 1, body))
        }
        ("POST", ["channels", channel, "messages"]) => {
            create_message(state, author, channel, body, new_id)
        }
        _ => (404, json!({"message": "404: Not Found", "code": 0})),
    }
}

/// Creates a message in `channel`, unless the same author already created one there with the
/// same enforced nonce: Discord then returns that first message and creates nothing (it forgets
/// nonces after a few minutes; the fake never does).
fn create_message(
    state: &State,
    author: &str,
    channel: &str,
    body: &Value,
    new_id: impl Fn() -> u64,
) -> (u16, Value) {
    let nonce = match (&body["nonce"], body["enforce_nonce"] == true) {
        (Value::String(n), true) => Some(n.clone()),
        (Value::Number(n), true) => Some(n.to_string()),
        _ => None,
    };
    let key = nonce.map(|n| (author.to_string(), channel.to_string(), n));
    // Held across the check and the insert, so two racing creates make one message.
    let mut nonces = state.nonces.lock().unwrap();
    if let Some(first) = key.as_ref().and_then(|k| nonces.get(k)) {
        return (200, first.clone());
    }
    let reference = &body["message_reference"];
    let gone = reference["message_id"]
        .as_str()
        .is_some_and(|id| state.deleted.lock().unwrap().contains(id));
    if gone && reference["fail_if_not_exists"] != false {
        // What Discord answers when `fail_if_not_exists` is unset or true.
        let errors = json!({"message_reference": {"_errors": [
            {"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}]}});
        let refused = json!({"code": 50035, "message": "Invalid Form Body", "errors": errors});
        return (400, refused);
    }
    let mut message = payloads::bot_message(new_id(), channel.parse().unwrap_or(1), body);
    if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
        message["nonce"] = nonce.clone();
    }
    if reference.is_object() && !gone {
        message["message_reference"] = reference.clone();
    }
    if let Some(key) = key {
        nonces.insert(key, message.clone());
    }
    state.messages.lock().unwrap().push(message.clone());
    (200, message)
}

// ---- TLS ----

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "medic fake discord CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["discord.com".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem())
}
