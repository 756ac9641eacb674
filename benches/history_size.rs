//! Database size under a month of checks (not a test; `cargo bench --bench history_size`):
//! N endpoints checked every 10 s for DAYS simulated days through the real SQLite store, pruned
//! (and rolled up) once an hour as the monitor does, on a simulated clock. Prints the file size
//! at the end of every simulated day and what the same checks would take kept raw.
//! `MEDIC_BENCH_N` (default 1000) and `MEDIC_BENCH_DAYS` (default 30) change the run.
//! Figures: docs/benchmarks.md.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use medic::alerts::Observation;
use medic::store::{Commit, SqliteStore, Store};

const INTERVAL_MS: i64 = 10_000;
const HOUR_MS: i64 = 3_600_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn file_bytes(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let n = env("MEDIC_BENCH_N", 1000) as usize;
    let days = env("MEDIC_BENCH_DAYS", 30) as i64;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    let mut store = SqliteStore::open(&path).expect("open the store");
    let names: Vec<String> = (0..n).map(|i| format!("ep-{i:04}")).collect();
    let configured: HashSet<String> = names.iter().cloned().collect();
    let retention = Duration::from_secs(30 * 24 * 3600);
    let t0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let started = Instant::now();
    let mut total_checks: u64 = 0;
    let mut raw_bytes_per_check = None;
    println!("{n} endpoints every 10 s, {days} simulated days, retention 30 d, pruned hourly");
    for tick in 0..(days * 24 * HOUR_MS / INTERVAL_MS) {
        let now = t0 + tick * INTERVAL_MS;
        let observations: Vec<Observation> = (0..n)
            .map(|i| {
                let r = next();
                // One check in a hundred fails; latencies spread from 5 to ~400 ms.
                let mut o = if r % 100 == 0 {
                    Observation::fail(now + i as i64, "http", "HTTP 503 Service Unavailable")
                } else {
                    Observation::ok(now + i as i64, 5 + (r >> 8) % 400)
                };
                o.facts.latency_ms.get_or_insert(5 + (r >> 20) % 400);
                o
            })
            .collect();
        let checks = names
            .iter()
            .map(String::as_str)
            .zip(observations.iter())
            .collect();
        store
            .commit(&Commit {
                checks,
                ..Commit::default()
            })
            .expect("commit");
        total_checks += n as u64;
        let next_now = now + INTERVAL_MS;
        if next_now % HOUR_MS == 0 {
            // Before the first roll-up (6 h in): the size of raw checks alone.
            if next_now - t0 == 6 * HOUR_MS {
                store.checkpoint().expect("checkpoint");
                raw_bytes_per_check = Some(file_bytes(&path) as f64 / total_checks as f64);
            }
            store
                .prune(next_now, retention, &configured)
                .expect("prune");
        }
        if (next_now - t0) % (24 * HOUR_MS) == 0 {
            store.checkpoint().expect("checkpoint");
            let day = (next_now - t0) / (24 * HOUR_MS);
            let raw = raw_bytes_per_check.unwrap_or(0.0) * total_checks as f64;
            println!(
                "day {day:>2}: {:>7.1} MB on disk ({} raw checks kept, {total_checks} taken so far, which kept raw would take {:.0} MB) [{:.0} s]",
                file_bytes(&path) as f64 / 1e6,
                store.check_count().expect("count"),
                raw / 1e6,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let h = store
        .history("ep-0000", t0 + days * 24 * HOUR_MS)
        .expect("history");
    println!(
        "history of ep-0000 at the end: {} checks in 24 h, uptime 24 h {:.2} %, 7 d {:.2} %, p50 {:?} ms, p95 {:?} ms",
        h.checks_24h,
        h.uptime_24h.unwrap_or(0.0),
        h.uptime_7d.unwrap_or(0.0),
        h.p50_ms,
        h.p95_ms
    );
}
