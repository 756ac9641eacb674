//! Drains the alert outbox into a [`Sink`], oldest first, marking each alert delivered only after
//! the sink accepted it. Failed sends are retried with exponential backoff; the alerts behind a
//! failing one wait, so people never see a RECOVERED before its DOWN.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::monitor::lock;
use super::{Alert, Clock, Millis};
use crate::store::Store;
use crate::Result;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// 5xx, 429, network: try again later.
    Retry(String),
    /// The alert itself was refused (4xx other than 429): give up on it.
    Reject(String),
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

/// Delivers queued alerts until `shutdown` resolves. Returns early only if the store fails.
pub async fn run<S: Sink>(
    store: Arc<Mutex<Store>>,
    sink: S,
    clock: Arc<dyn Clock>,
    notify: Arc<Notify>,
    backoff: Backoff,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let pending = lock(&store)?.next_pending()?;
        let Some(item) = pending else {
            tokio::select! {
                _ = notify.notified() => continue,
                _ = &mut shutdown => return Ok(()),
            }
        };
        let now = clock.now();
        if item.next_attempt_at > now {
            let wait = Duration::from_millis((item.next_attempt_at - now) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => return Ok(()),
            }
            continue;
        }
        let sent = tokio::select! {
            sent = sink.send(&item.alert) => sent,
            _ = &mut shutdown => return Ok(()),
        };
        let a = &item.alert;
        match sent {
            Ok(message_id) => {
                lock(&store)?.mark_delivered(item.seq, clock.now(), message_id.as_deref())?;
                tracing::debug!(kind = a.kind.word(), endpoint = %a.endpoint, id = %a.id, "alert delivered");
            }
            Err(SendError::Retry(e)) => {
                let attempt = item.attempts + 1;
                let retry_at = clock.now() + backoff.delay(attempt).as_millis() as Millis;
                tracing::warn!(kind = a.kind.word(), endpoint = %a.endpoint, attempt, "alert not delivered, will retry: {e}");
                lock(&store)?.mark_failed(item.seq, &e, Some(retry_at))?;
            }
            Err(SendError::Reject(e)) => {
                tracing::error!(kind = a.kind.word(), endpoint = %a.endpoint, "alert refused, giving up on it: {e}");
                lock(&store)?.mark_failed(item.seq, &e, None)?;
            }
        }
    }
}

/// `medic watch`: alerts as text on stdout (logs go to stderr).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSink;

impl Sink for ConsoleSink {
    async fn send(&self, alert: &Alert) -> std::result::Result<Option<String>, SendError> {
        let text = crate::render::alert::terminal(alert);
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(SendError::Reject("stdout is closed".into()))
            }
            Err(e) => Err(SendError::Retry(e.to_string())),
        }
    }
}
