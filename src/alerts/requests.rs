//! Alert commands from outside the scheduler (`medic ack`, `medic silence`, `medic unsilence`,
//! and the same in `medic chat`): another process cannot reach a running `watch`'s memory, so
//! the command is queued in the state database and the process holding the scheduler lease
//! applies it within one tick ([`super::monitor::TICK`]) and records the result. When no
//! `watch`/`serve` runs, the command takes the lease itself, applies the request through the
//! same [`Monitor`] code and gives the lease back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::monitor::{lock, Monitor};
use super::probe::Setup;
use super::Clock;
use crate::config::Config;
use crate::store::model::{Request, RequestKind, RequestResult, Silence};
use crate::store::{Location, SharedStore};
use crate::Result;

/// How long a command waits for the running scheduler: two ticks and some slack.
pub const WAIT: Duration = Duration::from_secs(15);
/// How often the result is looked for meanwhile.
const POLL: Duration = Duration::from_millis(100);

/// Who is asking, from the OS: `alice (cli)`.
pub fn os_author() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
    match user {
        Some(u) => format!("{} (cli)", crate::text::printable(u.trim())),
        None => "cli".into(),
    }
}

/// A request for `endpoint` made now.
pub fn request(
    kind: RequestKind,
    endpoint: &str,
    author: &str,
    reason: &str,
    duration: Duration,
) -> Request {
    Request {
        id: 0,
        kind,
        endpoint: endpoint.trim().to_string(),
        author: author.to_string(),
        reason: reason.trim().to_string(),
        duration_ms: duration.as_millis().min(i64::MAX as u128) as i64,
        created_at: 0,
    }
}

/// Queues `req` and waits (blocking, up to `wait`) for it to be applied: by the running
/// scheduler, or here when none runs.
pub fn submit(
    store: SharedStore,
    setup: &Setup,
    clock: Arc<dyn Clock>,
    mut req: Request,
    wait: Duration,
) -> Result<RequestResult> {
    req.created_at = clock.now_ms();
    let id = lock(&store)?.add_request(&req)?;
    let running = lock(&store)?.scheduler_running(clock.now_ms())?;
    if !running {
        // Nobody holds the lease: apply it here. A `watch` that started meanwhile holds it
        // now, and applies the request itself.
        match Monitor::open(
            store.clone(),
            clock.clone(),
            &setup.policies,
            setup.retention,
            None,
        ) {
            Ok(mut monitor) => {
                let applied = monitor.apply_requests();
                monitor.release()?;
                applied?;
            }
            Err(e) => tracing::debug!(error = %e, "the scheduler started meanwhile"),
        }
    }
    wait_for(&store, id, wait)
}

/// Queues `req` for the scheduler that owns its endpoint and waits (blocking, up to `wait`) for
/// its answer, without ever applying it here: for a process that runs no checks of its own (an
/// HTTP-only replica on a shared store).
pub fn forward(
    store: &SharedStore,
    clock: &dyn Clock,
    mut req: Request,
    wait: Duration,
) -> Result<RequestResult> {
    req.created_at = clock.now_ms();
    let id = lock(store)?.add_request(&req)?;
    wait_for(store, id, wait)
}

/// The result of request `id` once it is applied, or a "queued" answer after `wait`.
fn wait_for(store: &SharedStore, id: i64, wait: Duration) -> Result<RequestResult> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(result) = lock(store)?.request_result(id)? {
            return Ok(result);
        }
        if Instant::now() >= deadline {
            return Ok(RequestResult {
                ok: false,
                message: format!(
                    "queued, but the running medic watch/serve did not apply it within {}; it will when it can",
                    humantime::format_duration(wait)
                ),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// [`submit`] against the database file at `db` (created if missing) for the endpoints of
/// `config`, on the system clock.
pub fn submit_to(db: &Location, config: &Config, req: Request) -> Result<RequestResult> {
    let setup = Setup::from_config(config);
    let store: SharedStore = crate::store::open_shared(db, crate::store::lease_ttl_from_env()?)?;
    submit(store, &setup, Arc::new(super::SystemClock), req, WAIT)
}

/// The silences in force at `now`, oldest first; none when the database does not exist.
pub fn silences(db: &Location, now: super::Millis) -> Result<Vec<Silence>> {
    let Some(store) = crate::store::open_for_reading(db)? else {
        return Ok(Vec::new());
    };
    Ok(store
        .open_silences()?
        .into_iter()
        .filter(|s| s.until > now)
        .collect())
}
