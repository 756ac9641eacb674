//! Starts the whole alerting pipeline — scheduler → monitor → store/outbox → delivery — for
//! `medic watch` (console sink) and `medic serve` (Discord sink), and hands back a [`Handle`]
//! through which chat surfaces acknowledge, silence and ask for status.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::delivery::{self, Sink, SinkHealth, Stopped};
use super::engine::AckError;
use super::monitor::{lock, EndpointStatus, Event, Monitor};
use super::probe::Setup;
use super::scheduler::{self, Probe, Stats};
use super::{Ack, Clock, Millis, Silence};
use crate::knowledge::Knowledge;
use crate::store::SharedStore;
use crate::{Error, Result};

/// How often the scheduler's figures are logged.
const STATS_EVERY: Duration = Duration::from_secs(60);

/// Talks to a running pipeline; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    events: mpsc::Sender<Event>,
    store: SharedStore,
    clock: Arc<dyn Clock>,
    names: Arc<Vec<String>>,
    health: Arc<SinkHealth>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("endpoints", &self.names.len())
            .finish()
    }
}

fn stopped() -> Error {
    Error::AlertsNotRunning
}

impl Handle {
    /// Acknowledges the open incident of `endpoint` on behalf of `by`, if it is the incident
    /// that started at `incident` (the `since` of the alert whose button was clicked).
    pub async fn acknowledge(
        &self,
        endpoint: &str,
        incident: Millis,
        by: &str,
    ) -> Result<std::result::Result<Ack, AckError>> {
        let (reply, answer) = oneshot::channel();
        let event = Event::Acknowledge {
            endpoint: endpoint.into(),
            incident,
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

    /// Every watched endpoint's state and history, read from the store through a read-only
    /// connection of its own on a blocking thread: the history queries must hold up neither
    /// the monitor's writes nor the async workers.
    pub async fn status(&self) -> Result<Vec<EndpointStatus>> {
        let (store, names, now) = (self.store.clone(), self.names.clone(), self.clock.now_ms());
        tokio::task::spawn_blocking(move || {
            let reader = lock(&store)?.reader()?;
            match reader {
                Some(reader) => super::monitor::status(&*reader, &names, now),
                None => super::monitor::status(&*lock(&store)?, &names, now),
            }
        })
        .await
        .map_err(|source| Error::TaskFailed {
            task: "reading the status",
            source,
        })?
    }

    /// Since when and why no alert can be posted (bad token, channel or permission), if so.
    pub fn delivery_problem(&self) -> Option<(Millis, String)> {
        self.health.problem()
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }
}

/// Starts the pipeline on the current tokio runtime. It runs until `shutdown` resolves, or
/// until the delivery loop ends (the sink closed, or the loop failed). The returned task then
/// stops the scheduler, lets the monitor record the last results, gives up the database's
/// scheduler lease and checkpoints it; it returns an error if delivery failed, so that the
/// process exits non-zero instead of checking on without anyone hearing of it.
pub fn spawn<P: Probe, S: Sink>(
    setup: Setup,
    probe: Arc<P>,
    sink: S,
    store: SharedStore,
    clock: Arc<dyn Clock>,
    knowledge: Option<Arc<Knowledge>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Handle, JoinHandle<Result<()>>)> {
    let mut monitor = Monitor::open(
        store.clone(),
        clock.clone(),
        &setup.policies,
        setup.retention,
        knowledge,
    )?
    .with_placeholders(&setup.placeholders);
    if !setup.not_configured.is_empty() {
        monitor.announce_not_configured(&setup.not_configured)?;
    }
    // After the lease is ours (Monitor::open took it): no second process writes meanwhile.
    if !setup.configured.is_empty() {
        let configured = setup.configured.iter().cloned().collect();
        super::monitor::close_removed(&store, clock.now_ms(), &configured)?;
    }
    let notify = monitor.outbox_notify();
    let owned = monitor.owned();
    let (events, rx) = mpsc::channel(1024);
    let names = Arc::new(
        setup
            .targets
            .iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>(),
    );
    let options = delivery::Options::default();
    let handle = Handle {
        events: events.clone(),
        store: store.clone(),
        clock: clock.clone(),
        names,
        health: options.health.clone(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let until_stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let task = tokio::spawn(async move {
        // The monitor ends when told to, not when every sender is gone: chat surfaces keep
        // handles (and so senders) for as long as they like.
        let monitor = tokio::spawn(monitor.run_until(rx, until_stopped()));
        let mut sender = tokio::spawn(delivery::run(
            store.clone(),
            sink,
            clock.clone(),
            notify,
            options,
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
        let (abort, aborted) = oneshot::channel::<()>();
        let mut scheduler = tokio::spawn(scheduler::run(
            setup.targets,
            owned,
            probe,
            clock,
            events,
            setup.concurrency,
            stats,
            async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = aborted => {}
                }
            },
        ));
        // Whichever ends first: the scheduler (shutdown) or the delivery loop (sink closed or
        // failed), which then stops the scheduler.
        let outcome = tokio::select! {
            _ = &mut scheduler => {
                let _ = stop_tx.send(true);
                delivery_outcome(sender.await)
            }
            ended = &mut sender => {
                let _ = abort.send(());
                let _ = scheduler.await;
                let _ = stop_tx.send(true);
                delivery_outcome(ended)
            }
        };
        let _ = reporter.await;
        let outcome = match monitor.await {
            Ok(Ok(())) => outcome,
            Ok(Err(e)) => {
                tracing::error!("{e}");
                Err(e)
            }
            Err(e) => {
                tracing::error!("the alert monitor failed: {e}");
                Err(Error::TaskFailed {
                    task: "the alert monitor",
                    source: e,
                })
            }
        };
        if let Ok(store) = store.lock() {
            if let Err(e) = store.checkpoint() {
                tracing::warn!("{e}");
            }
        }
        outcome
    });
    Ok((handle, task))
}

/// Whether the end of the delivery loop means the process should fail.
fn delivery_outcome(ended: std::result::Result<Stopped, tokio::task::JoinError>) -> Result<()> {
    match ended {
        Ok(Stopped::Shutdown) => Ok(()),
        // A closed stdout is a normal end for a command-line tool (`medic watch | head -1`).
        Ok(Stopped::SinkClosed) => Ok(()),
        Err(e) => {
            tracing::error!("alert delivery failed, stopping: {e}");
            Err(Error::TaskFailed {
                task: "alert delivery",
                source: e,
            })
        }
    }
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

/// The gauges of a process running the alert pipeline on `store`: read through a second
/// connection where the store has one, so a scrape does not wait behind the monitor's writes.
pub fn gauges(store: SharedStore) -> crate::metrics::server::GaugeSource {
    Arc::new(move || {
        let Ok(main) = store.lock() else {
            return crate::metrics::Gauges::default();
        };
        let lease_held = Some(u64::from(main.holds_lease()));
        let reader = main.reader().ok().flatten();
        let read = |s: &dyn crate::store::Store| -> crate::Result<(u64, u64, Option<u64>)> {
            let open = s
                .load_states()?
                .iter()
                .filter(|(_, st)| st.incident.is_some())
                .count() as u64;
            Ok((open, s.backlog()?.pending, s.endpoints_owned()?))
        };
        let figures = match &reader {
            Some(r) => {
                drop(main);
                read(&**r)
            }
            None => read(&*main),
        };
        match figures {
            Ok((open, pending, owned)) => crate::metrics::Gauges {
                open_incidents: Some(open),
                outbox_depth: Some(pending),
                lease_held,
                endpoints_owned: owned,
                store_up: true,
            },
            Err(_) => crate::metrics::Gauges {
                lease_held,
                ..crate::metrics::Gauges::default()
            },
        }
    })
}
