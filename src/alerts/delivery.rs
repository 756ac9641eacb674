//! Drains the alert outbox into a [`Sink`], oldest first, marking each alert delivered only after
//! the sink accepted it. Failed sends are retried with exponential backoff; the alerts behind a
//! failing one wait, so people never see a RECOVERED before its DOWN. What a failure means is the
//! sink's call ([`SendError`]); how long to wait, when a send has hung and when an alert is too
//! old to hold the queue for are this loop's ([`Options`]). Database errors never end the loop.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::monitor::{lock, off_async};
use super::{Alert, Clock, Millis};
use crate::store::SharedStore;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// 5xx, 429, network, no answer: try again later (until the alert is too old).
    Retry(String),
    /// The alert itself was refused (a message-level 4xx, an unusable request): give up on it.
    Reject(String),
    /// The sink cannot post anything (bad token, missing channel or permission): keep every
    /// alert queued and try again now and then, loudly, until someone fixes it.
    Broken(String),
    /// The sink is gone for good (stdout closed by `medic watch | head`): stop delivering and
    /// let the service stop; the alerts stay queued for the next run.
    Closed,
}

impl SendError {
    /// The error with every process-wide secret (the Discord token) masked from its text.
    fn gated(self) -> SendError {
        let gate = |t: String| crate::redact::process().redact(&t);
        match self {
            SendError::Retry(t) => SendError::Retry(gate(t)),
            SendError::Reject(t) => SendError::Reject(gate(t)),
            SendError::Broken(t) => SendError::Broken(gate(t)),
            SendError::Closed => SendError::Closed,
        }
    }
}

/// Where alerts go: the console or a Discord channel.
pub trait Sink: Send + Sync + 'static {
    /// Sends one alert; `Ok` carries the platform's message id, if any. Must be idempotent for
    /// the same alert id (Discord: `nonce` + `enforce_nonce`), because a send whose answer was
    /// lost is sent again.
    fn send(
        &self,
        alert: &Alert,
    ) -> impl Future<Output = std::result::Result<Option<String>, SendError>> + Send;
}

/// How long to wait before retrying a failed send: `first`, doubling per attempt, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s … up to 5 minutes.
    fn default() -> Backoff {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// Delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max)
    }
}

/// How the delivery loop treats failures.
#[derive(Debug, Clone)]
pub struct Options {
    pub backoff: Backoff,
    /// A send without an answer after this long counts as failed and is retried: one hung
    /// request must not hold back every later alert.
    pub send_timeout: Duration,
    /// An alert still failing this long after it was raised is given up (logged as an error):
    /// news a day old is no longer worth holding the queue for.
    pub give_up_after: Duration,
    /// Where the loop reports that the sink is broken, for `medic status` and `/endpoints`.
    pub health: Arc<SinkHealth>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            backoff: Backoff::default(),
            send_timeout: Duration::from_secs(30),
            give_up_after: Duration::from_secs(24 * 3600),
            health: Arc::default(),
        }
    }
}

impl From<Backoff> for Options {
    fn from(backoff: Backoff) -> Options {
        Options {
            backoff,
            ..Options::default()
        }
    }
}

/// Whether the sink currently refuses everything, and why; shared with the status surfaces.
#[derive(Debug, Default)]
pub struct SinkHealth(Mutex<Option<(Millis, String)>>);

impl SinkHealth {
    /// Since when and why no alert can be posted, if that is the case.
    pub fn problem(&self) -> Option<(Millis, String)> {
        self.0.lock().ok().and_then(|p| p.clone())
    }

    fn set(&self, at: Millis, why: &str) {
        if let Ok(mut p) = self.0.lock() {
            let since = p.as_ref().map_or(at, |(since, _)| *since);
            *p = Some((since, why.to_string()));
        }
    }

    fn clear(&self) {
        if let Ok(mut p) = self.0.lock() {
            *p = None;
        }
    }
}

/// How often delivery looks for alerts on a shared store when it was not notified.
const SHARED_POLL: Duration = Duration::from_secs(2);

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `shutdown` resolved.
    Shutdown,
    /// The sink reported [`SendError::Closed`].
    SinkClosed,
}

/// Delivers queued alerts until `shutdown` resolves or the sink is closed. Errors of the store
/// are logged and retried with backoff: the loop keeps going as long as the checks do.
pub async fn run<S: Sink>(
    store: SharedStore,
    sink: S,
    clock: Arc<dyn Clock>,
    notify: Arc<Notify>,
    options: impl Into<Options>,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    let options = options.into();
    let backoff = options.backoff;
    tokio::pin!(shutdown);
    // Consecutive store errors, for their backoff.
    let mut store_errors = 0u32;
    // Sent but not yet marked (the store failed right after): marked before anything else, so
    // it is not sent twice.
    let mut unmarked: Option<(i64, Millis, Option<String>)> = None;
    let shared = lock(&store).is_ok_and(|s| s.shared());
    loop {
        if let Some((seq, at, message_id)) = &unmarked {
            match off_async(|| {
                lock(&store).and_then(|mut s| s.mark_delivered(*seq, *at, message_id.as_deref()))
            }) {
                Ok(()) => unmarked = None,
                Err(e) => {
                    if store_pause(&mut store_errors, &e, &mut shutdown).await {
                        return Stopped::Shutdown;
                    }
                    continue;
                }
            }
        }
        let pending = match off_async(|| lock(&store).and_then(|s| s.next_pending())) {
            Ok(p) => p,
            Err(e) => {
                if store_pause(&mut store_errors, &e, &mut shutdown).await {
                    return Stopped::Shutdown;
                }
                continue;
            }
        };
        store_errors = 0;
        let Some(item) = pending else {
            // On a shared store other instances queue alerts too (and a stopped one's claims
            // fall free), without notifying this one: look again every SHARED_POLL.
            let poll = async {
                match shared {
                    true => tokio::time::sleep(SHARED_POLL).await,
                    false => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notify.notified() => continue,
                _ = poll => continue,
                _ = &mut shutdown => return Stopped::Shutdown,
            }
        };
        let now = clock.now_ms();
        if item.next_attempt_at > now {
            let wait = Duration::from_millis((item.next_attempt_at - now) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => return Stopped::Shutdown,
            }
            continue;
        }
        let sent = tokio::select! {
            sent = tokio::time::timeout(options.send_timeout, sink.send(&item.alert)) => {
                sent.unwrap_or_else(|_| Err(SendError::Retry(format!(
                    "no answer within {}s", options.send_timeout.as_secs_f64()
                ))))
            }
            _ = &mut shutdown => return Stopped::Shutdown,
        };
        // What a sink says may quote a server that echoed the bot token: gated before it is
        // logged or stored in the outbox.
        let sent = sent.map_err(SendError::gated);
        let a = &item.alert;
        let now = clock.now_ms();
        let attempt = item.attempts + 1;
        let retry_at = now + backoff.delay(attempt).as_millis() as Millis;
        let marked = match sent {
            Ok(message_id) => {
                crate::metrics::record_delivery(crate::metrics::Delivery::Delivered);
                options.health.clear();
                tracing::debug!(kind = a.kind.word(), endpoint = %a.endpoint, id = %a.id, "alert delivered");
                let marked = off_async(|| {
                    lock(&store)
                        .and_then(|mut s| s.mark_delivered(item.seq, now, message_id.as_deref()))
                });
                if marked.is_err() {
                    unmarked = Some((item.seq, now, message_id));
                }
                marked
            }
            Err(SendError::Retry(e))
                if now - a.at >= options.give_up_after.as_millis() as Millis =>
            {
                crate::metrics::record_delivery(crate::metrics::Delivery::Failed);
                tracing::error!(kind = a.kind.word(), endpoint = %a.endpoint, id = %a.id, attempt,
                    "alert still not delivered after {}, giving up on it: {e}",
                    humantime::format_duration(options.give_up_after));
                off_async(|| lock(&store).and_then(|mut s| s.mark_failed(item.seq, &e, None)))
            }
            Err(SendError::Retry(e)) => {
                crate::metrics::record_delivery(crate::metrics::Delivery::Retried);
                tracing::warn!(kind = a.kind.word(), endpoint = %a.endpoint, attempt, "alert not delivered, will retry: {e}");
                off_async(|| {
                    lock(&store).and_then(|mut s| s.mark_failed(item.seq, &e, Some(retry_at)))
                })
            }
            Err(SendError::Reject(e)) => {
                crate::metrics::record_delivery(crate::metrics::Delivery::Failed);
                tracing::error!(kind = a.kind.word(), endpoint = %a.endpoint, id = %a.id, "alert refused, giving up on it: {e}");
                off_async(|| lock(&store).and_then(|mut s| s.mark_failed(item.seq, &e, None)))
            }
            Err(SendError::Broken(e)) => {
                crate::metrics::record_delivery(crate::metrics::Delivery::Retried);
                options.health.set(now, &e);
                tracing::error!(
                    pending_from = %a.id,
                    retry_in_s = backoff.delay(attempt).as_secs(),
                    "no alert can be posted: {e}; alerts stay queued and go out once this is fixed"
                );
                off_async(|| {
                    lock(&store).and_then(|mut s| s.mark_failed(item.seq, &e, Some(retry_at)))
                })
            }
            Err(SendError::Closed) => {
                tracing::info!(
                    "the alert output is closed; stopping (undelivered alerts stay queued)"
                );
                return Stopped::SinkClosed;
            }
        };
        if let Err(e) = marked {
            if store_pause(&mut store_errors, &e, &mut shutdown).await {
                return Stopped::Shutdown;
            }
        }
    }
}

/// Logs a store error and waits (1 s, 2 s … at most a minute); `true` if `shutdown` came first.
async fn store_pause(
    errors: &mut u32,
    e: &crate::Error,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> bool {
    *errors += 1;
    let wait = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(60),
    }
    .delay(*errors);
    tracing::error!(
        retry_in_s = wait.as_secs(),
        "alert delivery cannot use the state database: {e}"
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = shutdown.as_mut() => true,
    }
}
