//! The one way medic's messages reach Discord: every channel message (free-text replies, alert
//! posts), interaction callback, follow-up and `@original` edit goes through [`Delivery`].
//!
//! A send is retried on 429 (waiting the `retry_after` Discord names, globally when it says
//! `global`), on 5xx and on connection errors (jittered exponential backoff), until the
//! [`Surface`]'s deadline: an interaction callback must land inside Discord's 3 s window, a
//! free-text reply or an alert may wait a minute. Retries are safe: channel messages carry a
//! nonce with `enforce_nonce` (Discord returns the first message instead of posting again), a
//! callback Discord already took answers 40060 (counted as delivered), an edit is idempotent.
//! Sends to one channel queue behind each other and are spaced under the channel limit (5
//! messages per 5 s, tightened by the `x-ratelimit-*` headers Discord sends), so a burst is
//! delivered in order instead of hammering the limit and being refused.
//!
//! This module owns the HTTP exchange only; what a message says is the caller's. Log lines and
//! errors name the status, the route (without any token) and the wait, never a token: bot and
//! interaction tokens sit in headers and URLs, and reqwest's errors are stripped of their URL.
//!
//! serenity's own HTTP methods cannot be used for this: with its rate limiter off (behind
//! `DISCORD_API_BASE`) a 429 comes back as an error whose body failed to decode (Discord's 429
//! has no `code`) and whose headers are gone, so the wait is lost. medic builds serenity's
//! [`Request`]s and reads the raw answer itself; with the limiter on (no proxy) the request
//! still goes through serenity's [`serenity::Ratelimiter`], which keeps its route buckets.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poise::serenity_prelude as serenity;
use rand::Rng;
use serde::Serialize;
use serenity::http::{LightMethod, Request, Route};
use serenity::{ApplicationId, ChannelId, Http, InteractionId, MessageId};
use tokio::time::Instant;

/// How long a kind of send may keep trying, and how its backoff grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surface {
    /// What the logs call it.
    pub name: &'static str,
    /// From the call to the last attempt, queueing included.
    pub deadline: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Surface {
    /// The first response to an interaction: Discord drops the interaction after 3 s, so this
    /// stops short of that (handlers that may take longer defer first).
    pub const CALLBACK: Surface = Surface {
        name: "interaction callback",
        deadline: Duration::from_millis(2_700),
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(800),
    };
    /// Follow-ups and `@original` edits: the interaction token lives 15 minutes, but the user
    /// is looking at "thinking…".
    pub const FOLLOW_UP: Surface = Surface {
        name: "interaction follow-up",
        deadline: Duration::from_secs(60),
        first_backoff: Duration::from_millis(250),
        max_backoff: Duration::from_secs(5),
    };
    /// A reply to a mention, DM or listen-channel message.
    pub const FREE_TEXT: Surface = Surface {
        name: "reply",
        deadline: Duration::from_secs(60),
        first_backoff: Duration::from_millis(250),
        max_backoff: Duration::from_secs(5),
    };
    /// An alert post; kept below the outbox's send timeout (30 s), which retries after it.
    pub const ALERT: Surface = Surface {
        name: "alert",
        deadline: Duration::from_secs(20),
        first_backoff: Duration::from_millis(250),
        max_backoff: Duration::from_secs(5),
    };
}

/// Discord's limit on messages per channel: at most `messages` in any `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimit {
    pub messages: usize,
    pub per: Duration,
}

impl Default for ChannelLimit {
    fn default() -> ChannelLimit {
        ChannelLimit {
            messages: 5,
            per: Duration::from_secs(5),
        }
    }
}

/// An interaction as the REST API addresses it. The token is a secret for 15 minutes: it is
/// only ever put in the URL.
#[derive(Clone, Copy)]
pub struct Interaction<'a> {
    pub id: InteractionId,
    pub application_id: ApplicationId,
    pub token: &'a str,
}

impl<'a> From<&'a serenity::CommandInteraction> for Interaction<'a> {
    fn from(i: &'a serenity::CommandInteraction) -> Self {
        Interaction {
            id: i.id,
            application_id: i.application_id,
            token: &i.token,
        }
    }
}

impl<'a> From<&'a serenity::ComponentInteraction> for Interaction<'a> {
    fn from(i: &'a serenity::ComponentInteraction) -> Self {
        Interaction {
            id: i.id,
            application_id: i.application_id,
            token: &i.token,
        }
    }
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Channel(ChannelId),
    Callback(Interaction<'a>),
    FollowUp(Interaction<'a>),
    EditOriginal(Interaction<'a>),
}

impl Target<'_> {
    fn route(&self) -> Route<'_> {
        match *self {
            Target::Channel(channel_id) => Route::ChannelMessages { channel_id },
            Target::Callback(i) => Route::InteractionResponse {
                interaction_id: i.id,
                token: i.token,
            },
            Target::FollowUp(i) => Route::WebhookFollowupMessages {
                application_id: i.application_id,
                token: i.token,
            },
            Target::EditOriginal(i) => Route::WebhookOriginalInteractionResponse {
                application_id: i.application_id,
                token: i.token,
            },
        }
    }

    fn method(&self) -> LightMethod {
        match self {
            Target::EditOriginal(_) => LightMethod::Patch,
            _ => LightMethod::Post,
        }
    }
}

/// The route as logs and errors show it: the path without the interaction token.
impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Channel(c) => write!(f, "POST /channels/{c}/messages"),
            Target::Callback(i) => write!(f, "POST /interactions/{}/<token>/callback", i.id),
            Target::FollowUp(i) => write!(f, "POST /webhooks/{}/<token>", i.application_id),
            Target::EditOriginal(i) => write!(
                f,
                "PATCH /webhooks/{}/<token>/messages/@original",
                i.application_id
            ),
        }
    }
}

/// What a delivered send returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The message Discord created or edited (none for callbacks).
    pub message_id: Option<MessageId>,
    /// 1 when the first try landed.
    pub attempts: u32,
}

/// A send that did not land. Its text names the route and the last answer, never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// The route, as in the logs.
    pub route: String,
    pub attempts: u32,
    /// Discord's last status (`None`: no answer, e.g. a dropped connection or the deadline).
    pub status: Option<u16>,
    /// Whether trying again later could help (429, 5xx, network): the deadline ran out first.
    /// `false`: Discord refused this request (another 4xx).
    pub retryable: bool,
    pub reason: String,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self
            .status
            .map_or("no answer".to_string(), |s| s.to_string());
        write!(
            f,
            "{} failed after {} attempt(s) ({status}): {}",
            self.route, self.attempts, self.reason
        )
    }
}

impl std::error::Error for DeliveryError {}

/// How one attempt ended.
enum Attempt {
    Delivered(Option<MessageId>),
    /// Wait this long, then try again.
    RateLimited {
        wait: Duration,
        global: bool,
        status: u16,
    },
    /// 5xx or no answer: back off and try again.
    Transient {
        status: Option<u16>,
        reason: String,
    },
    Refused {
        status: u16,
        reason: String,
    },
}

/// When a channel may take its next message.
#[derive(Default)]
struct Window {
    /// When recent sends were answered, oldest first (at most `ChannelLimit::messages`).
    sent: VecDeque<Instant>,
    /// Set by a 429 or an exhausted bucket: nothing before this.
    blocked_until: Option<Instant>,
}

impl Window {
    fn ready_at(&self, limit: ChannelLimit) -> Option<Instant> {
        let full = (self.sent.len() >= limit.messages)
            .then(|| self.sent.front().map(|first| *first + limit.per))
            .flatten();
        full.max(self.blocked_until)
    }

    fn record(&mut self, at: Instant, limit: ChannelLimit) {
        self.sent.push_back(at);
        while self.sent.len() > limit.messages {
            self.sent.pop_front();
        }
    }
}

/// Delivers medic's messages; one per bot, shared by every handler and the alert sink so that
/// a channel's queue and a global rate limit cover them all.
pub struct Delivery {
    http: Arc<Http>,
    /// Executes requests when serenity's rate limiter is off (its own client is private).
    client: reqwest::Client,
    limit: ChannelLimit,
    /// One queue per channel: a send holds its channel's lock from its first to its last try.
    channels: Mutex<HashMap<ChannelId, Arc<tokio::sync::Mutex<Window>>>>,
    global_until: Mutex<Option<Instant>>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// `client` must be the one `http` was built with (it carries TLS and proxy settings).
    pub fn new(http: Arc<Http>, client: reqwest::Client, limit: ChannelLimit) -> Delivery {
        Delivery {
            http,
            client,
            limit,
            channels: Mutex::default(),
            global_until: Mutex::default(),
        }
    }

    /// For an `Http` built without a custom reqwest client.
    pub fn with_default_client(http: Arc<Http>) -> Delivery {
        Delivery::new(http, reqwest::Client::new(), ChannelLimit::default())
    }

    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// Posts a message in `channel` (it should carry a nonce with `enforce_nonce`).
    pub async fn post(
        &self,
        channel: ChannelId,
        message: &serenity::CreateMessage,
        surface: Surface,
    ) -> Result<Delivered, DeliveryError> {
        self.send(Target::Channel(channel), message, surface).await
    }

    /// The interaction's first response (a message, a defer, autocomplete choices, an update).
    pub async fn callback(
        &self,
        interaction: Interaction<'_>,
        response: &serenity::CreateInteractionResponse,
    ) -> Result<Delivered, DeliveryError> {
        self.send(Target::Callback(interaction), response, Surface::CALLBACK)
            .await
    }

    /// A message after the first response. Execute-webhook takes no nonce: after a lost answer
    /// a retry may post twice, which beats posting nothing.
    pub async fn follow_up(
        &self,
        interaction: Interaction<'_>,
        message: &serenity::CreateInteractionResponseFollowup,
    ) -> Result<Delivered, DeliveryError> {
        self.send(Target::FollowUp(interaction), message, Surface::FOLLOW_UP)
            .await
    }

    /// Replaces the first response (what a defer's "thinking…" becomes).
    pub async fn edit_original(
        &self,
        interaction: Interaction<'_>,
        edit: &serenity::EditInteractionResponse,
    ) -> Result<Delivered, DeliveryError> {
        self.send(Target::EditOriginal(interaction), edit, Surface::FOLLOW_UP)
            .await
    }

    async fn send(
        &self,
        target: Target<'_>,
        body: &impl Serialize,
        surface: Surface,
    ) -> Result<Delivered, DeliveryError> {
        let deadline = Instant::now() + surface.deadline;
        let mut error = DeliveryError {
            route: target.to_string(),
            attempts: 0,
            status: None,
            retryable: false,
            reason: String::new(),
        };
        let body = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => {
                error.reason = format!("cannot encode the body: {e}");
                return Err(error);
            }
        };
        error.retryable = true;
        let window = match target {
            Target::Channel(c) => Some(self.window(c)),
            _ => None,
        };
        // Held for the whole send, so the channel's messages go out one by one, in order.
        let mut window = match &window {
            Some(w) => match tokio::time::timeout_at(deadline, w.lock()).await {
                Ok(guard) => Some(guard),
                Err(_) => {
                    error.reason = format!(
                        "still queued behind other messages after {:?}",
                        surface.deadline
                    );
                    return Err(self.gave_up(error, surface));
                }
            },
            None => None,
        };
        let mut backoffs = 0u32;
        loop {
            // Interaction endpoints are exempt from the global limit (Discord's rate-limit docs).
            let global = match target {
                Target::Channel(_) => *lock(&self.global_until),
                _ => None,
            };
            let ready = window
                .as_ref()
                .and_then(|w| w.ready_at(self.limit))
                .max(global);
            if let Some(at) = ready.filter(|at| *at > Instant::now()) {
                if at > deadline {
                    error.reason = format!(
                        "{} until Discord takes it again",
                        wait_text(at - Instant::now())
                    );
                    return Err(self.gave_up(error, surface));
                }
                tokio::time::sleep_until(at).await;
            }
            error.attempts += 1;
            let (attempt, exhausted) =
                match tokio::time::timeout_at(deadline, self.attempt(&target, &body)).await {
                    Ok(a) => a,
                    Err(_) => {
                        let reason = format!("no answer within {:?}", surface.deadline);
                        (
                            Attempt::Transient {
                                status: None,
                                reason,
                            },
                            None,
                        )
                    }
                };
            if let Some(w) = window.as_deref_mut() {
                // Answered-at, not sent-at: Discord counted the message no later than this.
                let now = Instant::now();
                w.record(now, self.limit);
                if let Some(after) = exhausted {
                    w.blocked_until = w.blocked_until.max(Some(now + after));
                }
            }
            let wait = match attempt {
                Attempt::Delivered(message_id) => {
                    if error.attempts > 1 {
                        tracing::info!(route = %error.route, attempts = error.attempts, "{} delivered after retrying", surface.name);
                    }
                    return Ok(Delivered {
                        message_id,
                        attempts: error.attempts,
                    });
                }
                Attempt::Refused { status, reason } => {
                    // A callback Discord already took (its answer was lost) was delivered.
                    if status == 400 && error.attempts > 1 && reason.contains("40060") {
                        if let Target::Callback(_) = target {
                            return Ok(Delivered {
                                message_id: None,
                                attempts: error.attempts,
                            });
                        }
                    }
                    error.status = Some(status);
                    error.retryable = false;
                    error.reason = reason;
                    return Err(error);
                }
                Attempt::RateLimited {
                    wait,
                    global,
                    status,
                } => {
                    let until = Instant::now() + wait;
                    if global {
                        let mut g = lock(&self.global_until);
                        *g = (*g).max(Some(until));
                    } else if let Some(w) = window.as_deref_mut() {
                        w.blocked_until = w.blocked_until.max(Some(until));
                    }
                    tracing::warn!(status, route = %error.route, wait_ms = wait.as_millis() as u64, global, attempt = error.attempts,
                        "Discord rate limited the {}; waiting as it asks", surface.name);
                    error.status = Some(status);
                    error.reason = format!(
                        "rate limited{} for {}",
                        if global { " globally" } else { "" },
                        wait_text(wait)
                    );
                    // A channel send waits in the loop (its window or the global block holds the
                    // wait); an interaction send, exempt from the global block, sleeps it here.
                    match target {
                        Target::Channel(_) => Duration::ZERO,
                        _ => wait,
                    }
                }
                Attempt::Transient { status, reason } => {
                    backoffs += 1;
                    let wait = jittered(surface, backoffs);
                    tracing::warn!(status = status.unwrap_or(0), route = %error.route, wait_ms = wait.as_millis() as u64, attempt = error.attempts,
                        "{} not delivered ({reason}); retrying", surface.name);
                    error.status = status;
                    error.reason = reason;
                    wait
                }
            };
            if Instant::now() + wait > deadline {
                return Err(self.gave_up(error, surface));
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn gave_up(&self, error: DeliveryError, surface: Surface) -> DeliveryError {
        tracing::warn!(route = %error.route, attempts = error.attempts, status = error.status.unwrap_or(0),
            "{} not delivered within {:?}: {}", surface.name, surface.deadline, error.reason);
        error
    }

    fn window(&self, channel: ChannelId) -> Arc<tokio::sync::Mutex<Window>> {
        lock(&self.channels).entry(channel).or_default().clone()
    }

    /// One request, what its answer means, and for how long the route's bucket is exhausted
    /// (`x-ratelimit-remaining: 0`), so the next message waits instead of drawing a 429.
    async fn attempt(&self, target: &Target<'_>, body: &[u8]) -> (Attempt, Option<Duration>) {
        let request = Request::new(target.route(), target.method()).body(Some(body.to_vec()));
        let response = match &self.http.ratelimiter {
            // serenity's limiter sleeps on a route's 429 itself and returns any other answer.
            Some(limiter) => limiter.perform(request).await,
            None => {
                match request.build(&self.client, self.http.token(), self.http.proxy.as_deref()) {
                    Ok(b) => match b.build() {
                        Ok(r) => self.client.execute(r).await.map_err(Into::into),
                        Err(e) => Err(e.into()),
                    },
                    Err(e) => Err(e),
                }
            }
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let reason = describe(e);
                return (
                    Attempt::Transient {
                        status: None,
                        reason,
                    },
                    None,
                );
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let exhausted = match (
            header_f64(&headers, "x-ratelimit-remaining"),
            header_f64(&headers, "x-ratelimit-reset-after"),
        ) {
            (Some(r), Some(after)) if r <= 0.0 && after > 0.0 => {
                Some(Duration::from_secs_f64(after.min(3600.0)))
            }
            _ => None,
        };
        let attempt = match status {
            200..=299 => Attempt::Delivered(
                json["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .map(MessageId::new),
            ),
            429 => {
                let limit = RateLimit::parse(&headers, &json);
                crate::metrics::record_discord_rate_limit(limit.global);
                match limit.retry_after {
                    Some(wait) => Attempt::RateLimited {
                        wait,
                        global: limit.global,
                        status,
                    },
                    None => Attempt::Transient {
                        status: Some(status),
                        reason: "rate limited without retry_after".into(),
                    },
                }
            }
            500..=599 => Attempt::Transient {
                status: Some(status),
                reason: discord_message(&json),
            },
            _ => Attempt::Refused {
                status,
                reason: discord_message(&json),
            },
        };
        (attempt, exhausted)
    }
}

/// What a 429 says: Discord's JSON body has `retry_after` (seconds, fractional) and `global`;
/// the `Retry-After` header is the fallback (and all a proxy may send).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub retry_after: Option<Duration>,
    pub global: bool,
}

impl RateLimit {
    pub fn parse(headers: &reqwest::header::HeaderMap, body: &serde_json::Value) -> RateLimit {
        let secs = body["retry_after"]
            .as_f64()
            .or_else(|| header_f64(headers, "retry-after"))
            .filter(|s| s.is_finite() && *s >= 0.0);
        let global = body["global"].as_bool().unwrap_or(false)
            || headers.get("x-ratelimit-global").is_some()
            || headers
                .get("x-ratelimit-scope")
                .is_some_and(|s| s.as_bytes() == b"global");
        RateLimit {
            // A wait of an hour or more is as good as refused; cap so a bad header cannot hang us.
            retry_after: secs.map(|s| Duration::from_secs_f64(s.min(3600.0))),
            global,
        }
    }
}

fn header_f64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Discord's error code and message, for logs (never a token: Discord does not echo them).
fn discord_message(json: &serde_json::Value) -> String {
    match (json["code"].as_i64(), json["message"].as_str()) {
        (Some(code), Some(m)) => format!("{m} (code {code})"),
        (None, Some(m)) => m.to_string(),
        _ => "no error body".to_string(),
    }
}

/// A transport error without its URL (an interaction URL holds the interaction token).
fn describe(e: serenity::Error) -> String {
    match e {
        serenity::Error::Http(serenity::HttpError::Request(e)) => {
            let kind = if e.is_connect() {
                "cannot connect"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "request failed"
            };
            let e = e.without_url();
            let source = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("{kind}{source}")
        }
        other => other.to_string(),
    }
}

/// Backoff before retry `n` (1-based): doubling from `first_backoff`, at most `max_backoff`,
/// drawn from its upper half so retries of many sends spread out.
fn jittered(surface: Surface, n: u32) -> Duration {
    let full = surface
        .first_backoff
        .saturating_mul(1 << n.saturating_sub(1).min(16))
        .min(surface.max_backoff);
    let half = full / 2;
    half + full.mul_f64(rand::thread_rng().gen_range(0.0..0.5))
}

fn wait_text(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    #[test]
    fn a_429_body_wins_over_the_header_and_names_global() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        let body =
            json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false});
        let r = RateLimit::parse(&h, &body);
        assert_eq!(r.retry_after, Some(Duration::from_millis(250)));
        assert!(!r.global);
        let r = RateLimit::parse(&h, &serde_json::Value::Null);
        assert_eq!(r.retry_after, Some(Duration::from_secs(2)));
        h.insert("x-ratelimit-scope", HeaderValue::from_static("global"));
        assert!(RateLimit::parse(&h, &body).global);
        assert!(
            RateLimit::parse(
                &HeaderMap::new(),
                &json!({"retry_after": 1, "global": true})
            )
            .global
        );
        assert_eq!(
            RateLimit::parse(&HeaderMap::new(), &json!({})).retry_after,
            None
        );
    }

    #[test]
    fn backoff_doubles_within_bounds_and_jitters() {
        let s = Surface::FREE_TEXT;
        for n in 1..20 {
            let d = jittered(s, n);
            let full = s
                .first_backoff
                .saturating_mul(1 << (n - 1).min(16))
                .min(s.max_backoff);
            assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
        }
    }

    #[test]
    fn a_full_window_waits_for_its_oldest_send() {
        let limit = ChannelLimit {
            messages: 2,
            per: Duration::from_secs(5),
        };
        let t = Instant::now();
        let mut w = Window::default();
        assert_eq!(w.ready_at(limit), None);
        w.record(t, limit);
        assert_eq!(w.ready_at(limit), None);
        w.record(t + Duration::from_secs(1), limit);
        assert_eq!(w.ready_at(limit), Some(t + Duration::from_secs(5)));
        w.record(t + Duration::from_secs(5), limit);
        assert_eq!(w.ready_at(limit), Some(t + Duration::from_secs(6)));
        w.blocked_until = Some(t + Duration::from_secs(9));
        assert_eq!(w.ready_at(limit), Some(t + Duration::from_secs(9)));
    }

    #[test]
    fn routes_in_logs_carry_no_token() {
        let i = Interaction {
            id: InteractionId::new(5),
            application_id: ApplicationId::new(7),
            token: "sekrit",
        };
        for t in [
            Target::Callback(i),
            Target::FollowUp(i),
            Target::EditOriginal(i),
            Target::Channel(ChannelId::new(3)),
        ] {
            assert!(!t.to_string().contains("sekrit"), "{t}");
        }
        assert!(
            Target::EditOriginal(i).route().path().contains("sekrit"),
            "the URL does"
        );
    }
}
