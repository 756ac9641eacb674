//! Process-wide counters and histograms for `/metrics` (Prometheus text format 0.0.4): check
//! results by endpoint and by stage, stage latencies, alerts delivered/failed/retried, matcher
//! answered/silent, Discord REST 429s. Gauges that live in the state database (open incidents, outbox depth,
//! lease) are read at scrape time by [`server`]. Labels carry endpoint names, stage names and
//! fixed words only: never a URL, a header or a detail, so no secret can reach a label.
//!
//! One registry per process, like Prometheus clients' default registry: every part records
//! into it without being handed it, and only a scrape reads it.

pub mod server;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use once_cell::sync::Lazy;

/// Upper bounds of the stage latency histogram, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What happened to an alert delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Given up on (the platform refused it).
    Failed,
    /// Failed for now, to be retried.
    Retried,
}

#[derive(Default)]
struct Registry {
    /// (endpoint, result) → checks.
    checks: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// (stage, result) → stages.
    stages: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    stage_seconds: Mutex<BTreeMap<&'static str, Histogram>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    answered: AtomicU64,
    silent: AtomicU64,
    /// Discord REST answers 429, for one route or the whole bot.
    rate_limited_route: AtomicU64,
    rate_limited_global: AtomicU64,
    /// Shard id → last heartbeat round trip (`None` until the first acknowledgement).
    gateway: Mutex<BTreeMap<u32, Option<std::time::Duration>>>,
}

static REGISTRY: Lazy<Registry> = Lazy::new(Registry::default);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One finished check: its overall result and each stage that ran with its time.
pub fn record_check(
    endpoint: &str,
    result: &'static str,
    stages: &[(&'static str, &'static str, u64)],
) {
    let r = &*REGISTRY;
    *lock(&r.checks)
        .entry((endpoint.to_string(), result))
        .or_default() += 1;
    let mut by_stage = lock(&r.stages);
    let mut seconds = lock(&r.stage_seconds);
    for &(stage, status, ms) in stages {
        *by_stage.entry((stage, status)).or_default() += 1;
        if status != "skipped" {
            seconds
                .entry(stage)
                .or_default()
                .observe(ms as f64 / 1000.0);
        }
    }
}

pub fn record_delivery(what: Delivery) {
    let r = &*REGISTRY;
    let counter = match what {
        Delivery::Delivered => &r.delivered,
        Delivery::Failed => &r.failed,
        Delivery::Retried => &r.retried,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Discord answered a REST call with 429 (`global`: for every route of the bot).
pub fn record_discord_rate_limit(global: bool) {
    let r = &*REGISTRY;
    match global {
        true => &r.rate_limited_global,
        false => &r.rate_limited_route,
    }
    .fetch_add(1, Ordering::Relaxed);
}

/// A message diagnosed: answered with an entry, or silent.
/// The gateway heartbeat round trip of each shard this process runs, as serenity measured it.
pub fn record_gateway_latency(
    shards: impl IntoIterator<Item = (u32, Option<std::time::Duration>)>,
) {
    let mut g = lock(&REGISTRY.gateway);
    g.clear();
    g.extend(shards);
}

pub fn record_answer(answered: bool) {
    let r = &*REGISTRY;
    match answered {
        true => &r.answered,
        false => &r.silent,
    }
    .fetch_add(1, Ordering::Relaxed);
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    pub open_incidents: Option<u64>,
    pub outbox_depth: Option<u64>,
    /// 1 when this process holds the scheduler lease, 0 when not; `None` without a scheduler.
    pub lease_held: Option<u64>,
    /// Endpoint leases this process holds on a shared (Postgres) store.
    pub endpoints_owned: Option<u64>,
    pub store_up: bool,
}

/// One counter family with a single fixed-word label: `(name, help, label)` and its values.
fn counters(
    out: &mut String,
    (name, help, label): (&str, &str, &str),
    values: &[(&str, &AtomicU64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (value, c) in values {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{value}\"}} {}",
            c.load(Ordering::Relaxed)
        );
    }
}

/// Label value escaping of the text format: backslash, double quote, newline.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(g: &Gauges) -> String {
    let r = &*REGISTRY;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP medic_checks_total Endpoint checks by endpoint and result."
    );
    let _ = writeln!(out, "# TYPE medic_checks_total counter");
    for ((endpoint, result), n) in lock(&r.checks).iter() {
        let _ = writeln!(
            out,
            "medic_checks_total{{endpoint=\"{}\",result=\"{result}\"}} {n}",
            label(endpoint)
        );
    }
    let _ = writeln!(
        out,
        "# HELP medic_stage_results_total Check stages by stage and result."
    );
    let _ = writeln!(out, "# TYPE medic_stage_results_total counter");
    for ((stage, result), n) in lock(&r.stages).iter() {
        let _ = writeln!(
            out,
            "medic_stage_results_total{{stage=\"{stage}\",result=\"{result}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP medic_stage_duration_seconds Time spent in each check stage."
    );
    let _ = writeln!(out, "# TYPE medic_stage_duration_seconds histogram");
    for (stage, h) in lock(&r.stage_seconds).iter() {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "medic_stage_duration_seconds_bucket{{stage=\"{stage}\",le=\"{b}\"}} {}",
                h.counts.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "medic_stage_duration_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "medic_stage_duration_seconds_sum{{stage=\"{stage}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "medic_stage_duration_seconds_count{{stage=\"{stage}\"}} {}",
            h.count
        );
    }
    counters(
        &mut out,
        (
            "medic_alerts_total",
            "Alert delivery attempts by outcome.",
            "outcome",
        ),
        &[
            ("delivered", &r.delivered),
            ("failed", &r.failed),
            ("retried", &r.retried),
        ],
    );
    counters(
        &mut out,
        (
            "medic_matcher_messages_total",
            "Messages diagnosed, answered or left silent.",
            "result",
        ),
        &[("answered", &r.answered), ("silent", &r.silent)],
    );
    counters(
        &mut out,
        (
            "medic_discord_rate_limited_total",
            "Discord REST answers 429, by scope.",
            "scope",
        ),
        &[
            ("route", &r.rate_limited_route),
            ("global", &r.rate_limited_global),
        ],
    );
    let shards = lock(&r.gateway);
    if !shards.is_empty() {
        let _ = writeln!(
            out,
            "# HELP medic_gateway_latency_seconds Gateway heartbeat round trip per shard (absent until the first acknowledgement)."
        );
        let _ = writeln!(out, "# TYPE medic_gateway_latency_seconds gauge");
        for (shard, latency) in shards.iter() {
            if let Some(l) = latency {
                let _ = writeln!(
                    out,
                    "medic_gateway_latency_seconds{{shard=\"{shard}\"}} {}",
                    l.as_secs_f64()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP medic_gateway_shards Gateway shards this process runs."
        );
        let _ = writeln!(out, "# TYPE medic_gateway_shards gauge");
        let _ = writeln!(out, "medic_gateway_shards {}", shards.len());
    }
    drop(shards);
    let gauges = [
        (
            "medic_open_incidents",
            "Endpoints with an open incident.",
            g.open_incidents,
        ),
        (
            "medic_outbox_depth",
            "Alerts waiting for delivery.",
            g.outbox_depth,
        ),
        (
            "medic_scheduler_lease_held",
            "1 when this process holds the scheduler lease.",
            g.lease_held,
        ),
        (
            "medic_endpoints_owned",
            "Endpoints whose lease this instance holds on a shared store (it checks only those).",
            g.endpoints_owned,
        ),
        (
            "medic_store_up",
            "1 when the state database answers.",
            Some(u64::from(g.store_up)),
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(v) = value {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_histograms_cumulative() {
        record_check(
            "we\"ird\\name",
            "ok",
            &[("dns", "ok", 3), ("tcp", "ok", 40), ("tls", "skipped", 0)],
        );
        let text = render(&Gauges {
            store_up: true,
            ..Gauges::default()
        });
        assert!(
            text.contains("medic_checks_total{endpoint=\"we\\\"ird\\\\name\",result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("medic_stage_duration_seconds_bucket{stage=\"tcp\",le=\"0.05\"} "),
            "{text}"
        );
        assert!(
            !text.contains("stage=\"tls\",le"),
            "skipped stages take no time: {text}"
        );
        assert!(text.contains("medic_store_up 1"), "{text}");
        assert!(!text.contains("medic_outbox_depth"), "{text}");
    }
}
