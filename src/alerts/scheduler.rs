//! Runs each endpoint's check on its interval and hands the results to the monitor.
//!
//! Every endpoint gets a random phase within its interval (so 1,000 endpoints on a 10 s interval
//! start about 100 checks per second, not 1,000 at once), a shared semaphore bounds how many
//! checks run at the same time, and each check has its own timeout. A check that overruns its
//! slot skips the missed runs instead of bursting to catch up.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::monitor::Event;
use super::owned::Owned;
use super::{Clock, Observation};
use crate::checks::Overall;

/// Extra time a probe gets beyond its own timeout before the scheduler gives up on it.
const GRACE: Duration = Duration::from_secs(2);

/// One endpoint to check on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// Whatever checks an endpoint: the real [`crate::checks`] engine, or a fake in tests.
pub trait Probe: Send + Sync + 'static {
    /// Checks `target` once. The scheduler sets the observation's `at` to the start time.
    fn probe(&self, target: &Target) -> impl Future<Output = Observation> + Send;
}

/// How late checks start relative to their slot, for the logs and the scale benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    pub checks: AtomicU64,
    lateness_ms: Mutex<Vec<u32>>,
}

/// A summary of [`Stats`] since the last call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsWindow {
    pub checks: u64,
    pub lateness_p50_ms: u32,
    pub lateness_p99_ms: u32,
    pub lateness_max_ms: u32,
}

impl Stats {
    fn record(&self, lateness: Duration) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let ms = lateness.as_millis().min(u32::MAX as u128) as u32;
        if let Ok(mut v) = self.lateness_ms.lock() {
            v.push(ms);
        }
    }

    /// Lateness percentiles of the checks started since the previous call.
    pub fn take_window(&self) -> StatsWindow {
        let mut v = self
            .lateness_ms
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        if v.is_empty() {
            return StatsWindow::default();
        }
        v.sort_unstable();
        let at = |p: usize| v[((p * v.len()).div_ceil(100).max(1) - 1).min(v.len() - 1)];
        StatsWindow {
            checks: v.len() as u64,
            lateness_p50_ms: at(50),
            lateness_p99_ms: at(99),
            lateness_max_ms: *v.last().unwrap_or(&0),
        }
    }
}

/// Checks every target on its interval until `shutdown` resolves, sending each result to
/// `events`. At most `max_concurrency` checks run at once.
#[allow(clippy::too_many_arguments)]
pub async fn run<P: Probe>(
    targets: Vec<Target>,
    owned: Arc<Owned>,
    probe: Arc<P>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<Event>,
    max_concurrency: usize,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) {
    let rng = rand::rngs::StdRng::from_entropy();
    run_with_rng(
        targets,
        owned,
        probe,
        clock,
        events,
        max_concurrency,
        stats,
        shutdown,
        rng,
    )
    .await
}

/// [`run`] with the random phases drawn from `rng` (a seeded one makes tests repeatable).
#[allow(clippy::too_many_arguments)]
pub async fn run_with_rng<P: Probe>(
    targets: Vec<Target>,
    owned: Arc<Owned>,
    probe: Arc<P>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<Event>,
    max_concurrency: usize,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
    mut rng: impl Rng,
) {
    let permits = Arc::new(Semaphore::new(max_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for target in targets {
        if target.interval.is_zero() {
            continue;
        }
        let phase = target.interval.mul_f64(rng.gen::<f64>());
        tasks.spawn(check_loop(
            target,
            owned.clone(),
            phase,
            probe.clone(),
            clock.clone(),
            events.clone(),
            permits.clone(),
            stats.clone(),
        ));
    }
    drop(events);
    tokio::select! {
        _ = shutdown => {}
        // All loops end by themselves only when the monitor is gone.
        _ = async { while tasks.join_next().await.is_some() {} } => {}
    }
    tasks.abort_all();
}

#[allow(clippy::too_many_arguments)]
async fn check_loop<P: Probe>(
    target: Target,
    owned: Arc<Owned>,
    phase: Duration,
    probe: Arc<P>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<Event>,
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
) {
    let mut slot = Instant::now() + phase;
    loop {
        tokio::time::sleep_until(slot).await;
        // Another instance owns it: wait until it is ours, then check at once (the previous
        // owner's last check may be most of an interval old already).
        if !owned.owns(&target.name) {
            owned.until_owned(&target.name).await;
            slot = Instant::now();
            continue;
        }
        let Ok(permit) = permits.acquire().await else {
            return;
        };
        let started = Instant::now();
        stats.record(started.saturating_duration_since(slot));
        let at = clock.now_ms();
        let mut obs = match tokio::time::timeout(target.timeout + GRACE, probe.probe(&target)).await
        {
            Ok(obs) => obs,
            Err(_) => {
                let mut o = Observation::fail(
                    at,
                    "check",
                    &format!(
                        "did not finish within {}",
                        humantime::format_duration(target.timeout + GRACE)
                    ),
                );
                o.cause.entry = Some("network-timeout".into());
                o
            }
        };
        drop(permit);
        obs.at = at;
        if obs.health == Overall::Fail && obs.facts.latency_ms.is_none() {
            obs.facts.latency_ms = Some(started.elapsed().as_millis() as u64);
        }
        if events
            .send(Event::Observed {
                endpoint: target.name.clone(),
                obs,
            })
            .await
            .is_err()
        {
            return;
        }
        slot += target.interval;
        let now = Instant::now();
        if slot < now {
            // Overran: skip the missed runs, keep the phase.
            let behind = now - slot;
            let skip = (behind.as_nanos() / target.interval.as_nanos().max(1)) as u32 + 1;
            slot += target.interval * skip;
        }
    }
}
