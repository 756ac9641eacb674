//! Where "now" comes from: one [`Clock`] for checks, alerts and cooldowns, so tests decide what
//! time it is instead of sleeping. A leaf module.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time as milliseconds since the Unix epoch: what the store keeps.
pub type Millis = i64;

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// [`Clock::now`] as milliseconds since the epoch (0 before 1970).
    fn now_ms(&self) -> Millis {
        to_millis(self.now())
    }
}

/// `t` as milliseconds since the epoch (0 before 1970).
pub fn to_millis(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Milliseconds since the epoch as a `SystemTime` (negative values clamp to the epoch).
pub fn from_millis(ms: Millis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// Milliseconds since the epoch in RFC 3339, to the millisecond: `2026-12-03T09:30:00.123Z`.
pub fn rfc3339_ms(ms: Millis) -> String {
    humantime::format_rfc3339_millis(from_millis(ms)).to_string()
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always says the same time (reproducible check reports).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// Wall-clock time that advances with tokio's clock, so `tokio::time::pause()` and
/// `advance()` move it too.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Millis,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `base` now; must be created inside a tokio runtime.
    pub fn starting_at(base: Millis) -> TokioClock {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        from_millis(self.now_ms())
    }
    fn now_ms(&self) -> Millis {
        self.base + self.start.elapsed().as_millis() as Millis
    }
}

/// A clock that only moves when told to (the default starts at the epoch).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: Millis) -> ManualClock {
        ManualClock(AtomicI64::new(at))
    }
    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as Millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        from_millis(self.now_ms())
    }
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
