//! Hourly roll-ups of check results: what is kept of a check once it is older than
//! [`RAW_WINDOW`] — per endpoint and hour, the number of checks, of good ones, and a latency
//! histogram of the good ones — so that a month of history costs a few rows per endpoint and
//! hour instead of one per check. Shared by both backends: they store the [`Rollup`] rows,
//! this module computes them and reads [`History`] out of them.

use std::time::Duration;

use super::History;
use crate::clock::Millis;

/// Raw check results younger than this are kept as they are; older ones are rolled up.
pub const RAW_WINDOW: Duration = Duration::from_secs(6 * 3600);

pub const HOUR_MS: Millis = 3600 * 1000;

/// Latencies below this many milliseconds have a bucket each; above, buckets grow by 2^(1/8)
/// (about 9 %), up to [`BUCKETS`] in all (beyond ~70 s everything shares the last).
const LINEAR: u64 = 16;
const STEPS_PER_DOUBLING: f64 = 8.0;
const BUCKETS: usize = 112;

/// The bucket of a latency.
pub fn bucket(ms: u64) -> usize {
    if ms < LINEAR {
        return ms as usize;
    }
    let b = LINEAR as f64 + ((ms as f64 / LINEAR as f64).log2() * STEPS_PER_DOUBLING).floor();
    (b as usize).min(BUCKETS - 1)
}

/// The latency a bucket stands for: its lower bound (exact below [`LINEAR`]).
pub fn value(bucket: usize) -> u64 {
    if (bucket as u64) < LINEAR {
        return bucket as u64;
    }
    let steps = (bucket as u64 - LINEAR) as f64;
    (LINEAR as f64 * (steps / STEPS_PER_DOUBLING).exp2()).ceil() as u64
}

/// Counts per latency bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram(Vec<u64>);

impl Histogram {
    pub fn add(&mut self, ms: u64) {
        self.add_n(bucket(ms), 1);
    }

    fn add_n(&mut self, b: usize, n: u64) {
        if self.0.len() <= b {
            self.0.resize(b + 1, 0);
        }
        self.0[b] += n;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in other.0.iter().enumerate().filter(|(_, n)| **n > 0) {
            self.add_n(b, *n);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The nearest-rank `p`th percentile, as its bucket's value.
    pub fn percentile(&self, p: usize) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((p as u64 * total).div_ceil(100)).max(1);
        let mut seen = 0;
        for (b, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(value(b));
            }
        }
        None
    }

    /// Compact text: `bucket:count` pairs, comma-separated.
    pub fn encode(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(b, n)| format!("{b}:{n}"))
            .collect();
        pairs.join(",")
    }

    /// The inverse of [`Histogram::encode`]; pairs it cannot read are skipped.
    pub fn decode(text: &str) -> Histogram {
        let mut h = Histogram::default();
        for pair in text.split(',') {
            if let Some((b, n)) = pair.split_once(':') {
                if let (Ok(b), Ok(n)) = (b.parse::<usize>(), n.parse::<u64>()) {
                    if b < BUCKETS {
                        h.add_n(b, n);
                    }
                }
            }
        }
        h
    }
}

/// One endpoint-hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Start of the hour.
    pub hour: Millis,
    pub checks: u64,
    pub good: u64,
    /// Latencies of the good checks.
    pub latency: Histogram,
}

/// Rolls raw checks `(at, good, latency)` up into one [`Rollup`] per hour, oldest first.
pub fn roll_up(raw: impl IntoIterator<Item = (Millis, bool, Option<u64>)>) -> Vec<Rollup> {
    let mut out: Vec<Rollup> = Vec::new();
    for (at, good, latency) in raw {
        let hour = at - at.rem_euclid(HOUR_MS);
        let r = match out.iter_mut().find(|r| r.hour == hour) {
            Some(r) => r,
            None => {
                out.push(Rollup {
                    hour,
                    ..Rollup::default()
                });
                out.last_mut().expect("just pushed")
            }
        };
        r.checks += 1;
        if good {
            r.good += 1;
            if let Some(l) = latency {
                r.latency.add(l);
            }
        }
    }
    out.sort_by_key(|r| r.hour);
    out
}

/// Where raw results end and roll-ups begin at `now`: the start of the hour
/// [`RAW_WINDOW`] ago.
pub fn raw_cutoff(now: Millis) -> Millis {
    let t = now - RAW_WINDOW.as_millis() as Millis;
    t - t.rem_euclid(HOUR_MS)
}

/// History from the raw checks still kept (`(at, good, latency)`, any order) and the roll-ups
/// of older hours. Without roll-ups in the last week the figures are exact; with them, a
/// rolled-up hour counts whole when it overlaps the 24 h or 7 d window, and percentiles are
/// read off the merged histogram (within about 9 %).
pub fn history(now: Millis, raw: &[(Millis, bool, Option<u64>)], rollups: &[Rollup]) -> History {
    let day = now - 24 * HOUR_MS;
    let week = now - 7 * 24 * HOUR_MS;
    let in_window = |r: &Rollup, from: Millis| r.hour + HOUR_MS > from;
    let rolled: Vec<&Rollup> = rollups.iter().filter(|r| in_window(r, week)).collect();
    let mut h = History::default();
    let count = |from: Millis| {
        let (mut n, mut good) = (0u64, 0u64);
        for (_, ok, _) in raw.iter().filter(|c| c.0 >= from) {
            n += 1;
            good += u64::from(*ok);
        }
        for r in rolled.iter().filter(|r| in_window(r, from)) {
            n += r.checks;
            good += r.good;
        }
        (n, (n > 0).then(|| good as f64 * 100.0 / n as f64))
    };
    let (n, up) = count(day);
    h.checks_24h = n;
    h.uptime_24h = up;
    h.uptime_7d = count(week).1;
    let recent = raw.iter().filter(|c| c.0 >= day && c.1);
    let day_rollups: Vec<&&Rollup> = rolled.iter().filter(|r| in_window(r, day)).collect();
    if day_rollups.is_empty() {
        let mut lat: Vec<u64> = recent.filter_map(|c| c.2).collect();
        lat.sort_unstable();
        h.p50_ms = super::percentile(&lat, 50);
        h.p95_ms = super::percentile(&lat, 95);
    } else {
        let mut hist = Histogram::default();
        for r in day_rollups {
            hist.merge(&r.latency);
        }
        for l in recent.filter_map(|c| c.2) {
            hist.add(l);
        }
        h.p50_ms = hist.percentile(50);
        h.p95_ms = hist.percentile(95);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_16_ms_and_within_9_percent_above() {
        for ms in 0..16 {
            assert_eq!(value(bucket(ms)), ms);
        }
        for ms in [16u64, 17, 50, 99, 100, 250, 1000, 4321, 30_000] {
            let v = value(bucket(ms));
            assert!(v <= ms && ms as f64 <= v as f64 * 1.095, "{ms} → {v}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histograms_round_trip_and_merge() {
        let mut a = Histogram::default();
        for ms in [3, 3, 40, 1200] {
            a.add(ms);
        }
        assert_eq!(Histogram::decode(&a.encode()), a);
        let mut b = Histogram::decode("3:2,999:5,x:1");
        assert_eq!(
            b.total(),
            2,
            "out-of-range and unreadable pairs are skipped"
        );
        b.merge(&a);
        assert_eq!(b.total(), 6);
        assert_eq!(b.percentile(50), Some(3));
        assert_eq!(b.percentile(100), Some(value(bucket(1200))));
    }

    #[test]
    fn rolled_up_history_matches_the_raw_one_within_a_bucket() {
        let now = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS + 30 * 60_000;
        let raw: Vec<(Millis, bool, Option<u64>)> = (0..1000)
            .map(|i| {
                let at = now - 20 * HOUR_MS + i * 60_000;
                (at, i % 10 != 0, Some(20 + (i as u64 * 37) % 400))
            })
            .collect();
        let exact = history(now, &raw, &[]);
        let cutoff = raw_cutoff(now);
        let (old, new): (Vec<_>, Vec<_>) = raw.iter().partition(|c| c.0 < cutoff);
        let rolled = roll_up(old.iter().copied());
        assert!(rolled.len() >= 13, "{}", rolled.len());
        let mixed = history(now, &new, &rolled);
        assert_eq!(mixed.checks_24h, exact.checks_24h);
        assert_eq!(mixed.uptime_24h, exact.uptime_24h);
        for (m, e) in [(mixed.p50_ms, exact.p50_ms), (mixed.p95_ms, exact.p95_ms)] {
            let (m, e) = (m.unwrap() as f64, e.unwrap() as f64);
            assert!(m <= e && e <= m * 1.095, "{m} vs {e}");
        }
    }
}
