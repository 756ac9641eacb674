//! Starts the whole alerting pipeline — scheduler → monitor → store/outbox → delivery — for
//! `medic watch` (console sink) and `medic serve` (Discord sink), and hands back a [`Handle`]
//! through which chat surfaces acknowledge, silence and ask for status.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::delivery::{self, Backoff, Sink};
use super::engine::AckError;
use super::monitor::{lock, EndpointStatus, Event, Monitor};
use super::probe::Setup;
use super::scheduler::{self, Probe, Stats};
use super::{Ack, Clock, Silence};
use crate::knowledge::Knowledge;
use crate::store::Store;
use crate::{Error, Result};

/// How often the scheduler's figures are logged.
const STATS_EVERY: Duration = Duration::from_secs(60);

/// Talks to a running pipeline; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    events: mpsc::Sender<Event>,
    store: Arc<Mutex<Store>>,
    clock: Arc<dyn Clock>,
    names: Arc<Vec<String>>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("endpoints", &self.names.len())
            .finish()
    }
}

fn stopped() -> Error {
    Error::Other("the alert scheduler is not running".into())
}

impl Handle {
    /// Acknowledges the open incident of `endpoint` on behalf of `by`.
    pub async fn acknowledge(
        &self,
        endpoint: &str,
        by: &str,
    ) -> Result<std::result::Result<Ack, AckError>> {
        let (reply, answer) = oneshot::channel();
        let event = Event::Acknowledge {
            endpoint: endpoint.into(),
            by: by.into(),
            reply,
        };
        self.events.send(event).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub async fn silence(
        &self,
        endpoint: &str,
        author: &str,
        reason: &str,
        duration: Duration,
    ) -> Result<Silence> {
        let (reply, answer) = oneshot::channel();
        let event = Event::Silence {
            endpoint: endpoint.into(),
            author: author.into(),
            reason: reason.into(),
            duration,
            reply,
        };
        self.events.send(event).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Lifts a silence; `None` if the endpoint was not silenced.
    pub async fn unsilence(&self, endpoint: &str) -> Result<Option<Silence>> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(Event::Unsilence {
                endpoint: endpoint.into(),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Records a check run outside the schedule (the "Re-run check" button).
    pub async fn observe(&self, endpoint: &str, obs: super::Observation) -> Result<()> {
        self.events
            .send(Event::Observed {
                endpoint: endpoint.into(),
                obs,
            })
            .await
            .map_err(|_| stopped())
    }

    /// An alert by id (from a button's custom id).
    pub fn alert(&self, id: &str) -> Result<Option<super::Alert>> {
        lock(&self.store)?.alert(id)
    }

    /// Every watched endpoint's state and history, read from the store.
    pub fn status(&self) -> Result<Vec<EndpointStatus>> {
        super::monitor::status(&*lock(&self.store)?, &self.names, self.clock.now())
    }

    pub fn store(&self) -> &Arc<Mutex<Store>> {
        &self.store
    }
}

/// Starts the pipeline on the current tokio runtime. It runs until `shutdown` resolves; the
/// returned task then finishes delivering nothing new, lets the monitor drain, and checkpoints
/// the database.
pub fn spawn<P: Probe, S: Sink>(
    setup: Setup,
    probe: Arc<P>,
    sink: S,
    store: Arc<Mutex<Store>>,
    clock: Arc<dyn Clock>,
    knowledge: Option<Arc<Knowledge>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Handle, JoinHandle<()>)> {
    let monitor = Monitor::open(
        store.clone(),
        clock.clone(),
        &setup.policies,
        setup.retention,
        knowledge,
    )?;
    let notify = monitor.outbox_notify();
    let (events, rx) = mpsc::channel(1024);
    let names = Arc::new(
        setup
            .targets
            .iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>(),
    );
    let handle = Handle {
        events: events.clone(),
        store: store.clone(),
        clock: clock.clone(),
        names,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let until_stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let task = tokio::spawn(async move {
        let monitor = tokio::spawn(monitor.run(rx));
        let sender = tokio::spawn(delivery::run(
            store.clone(),
            sink,
            clock.clone(),
            notify,
            Backoff::default(),
            until_stopped(),
        ));
        let stats = Arc::new(Stats::default());
        let reporter = tokio::spawn(report_stats(stats.clone(), until_stopped()));
        let count = setup.targets.len();
        tracing::info!(
            endpoints = count,
            concurrency = setup.concurrency,
            "scheduled checks started"
        );
        scheduler::run(
            setup.targets,
            probe,
            clock,
            events,
            setup.concurrency,
            stats,
            shutdown,
        )
        .await;
        let _ = stop_tx.send(true);
        match sender.await {
            Ok(Err(e)) => tracing::error!("alert delivery stopped: {e}"),
            Err(e) => tracing::error!("alert delivery failed: {e}"),
            Ok(Ok(())) => {}
        }
        let _ = reporter.await;
        // The monitor ends once every handle (and the scheduler's sender) is gone; do not wait
        // for handles kept by chat surfaces.
        monitor.abort();
        if let Ok(store) = store.lock() {
            if let Err(e) = store.checkpoint() {
                tracing::warn!("{e}");
            }
        }
    });
    Ok((handle, task))
}

async fn report_stats(stats: Arc<Stats>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(STATS_EVERY);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {
                let w = stats.take_window();
                tracing::info!(
                    checks = w.checks,
                    lateness_p50_ms = w.lateness_p50_ms,
                    lateness_p99_ms = w.lateness_p99_ms,
                    lateness_max_ms = w.lateness_max_ms,
                    "scheduler: checks started in the last minute and how late they started"
                );
            }
            _ = &mut stop => return,
        }
    }
}
