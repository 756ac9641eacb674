//! Alerts: the incident state machine under a controlled clock, the SQLite store (restarts,
//! outbox, corrupted files), the scheduler and delivery loop under paused tokio time, and
//! `medic watch` as a child process.

use crate::fake_discord;
use crate::support::{self, switch};

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medic::alerts::delivery::{self, Backoff, SendError, Sink};
use medic::alerts::engine::AckError;
use medic::alerts::monitor::Monitor;
use medic::alerts::scheduler::{self, Probe, Stats, Target};
use medic::alerts::{
    Alert, AlertKind, Clock, Engine, Facts, ManualClock, Millis, Observation, Policy, Silence,
    TokioClock, Warning,
};
use medic::store::{SqliteStore, Store};

use switch::{SwitchServer, Watch};

const T0: Millis = 1_800_000_000_000;
const MIN: Millis = 60_000;
const HOUR: Millis = 60 * MIN;

fn kinds(alerts: &[Alert]) -> Vec<AlertKind> {
    alerts.iter().map(|a| a.kind).collect()
}

fn fail(at: Millis) -> Observation {
    let mut o = Observation::fail(at, "http", "503 Service Unavailable");
    o.cause.entry = Some("http-503".into());
    o.facts.status_code = Some(503);
    o
}

fn ok(at: Millis) -> Observation {
    let mut o = Observation::ok(at, 40);
    o.facts.status_code = Some(200);
    o
}

fn policy(failures: u32, successes: u32, remind_every: Duration) -> Policy {
    Policy {
        failure_threshold: failures,
        success_threshold: successes,
        remind_every,
        ..Policy::default()
    }
}

fn silence(endpoint: &str, from: Millis, until: Millis) -> Silence {
    Silence {
        id: 1,
        endpoint: endpoint.into(),
        author: "alice".into(),
        reason: "deploy".into(),
        from,
        until,
    }
}

// ---------------------------------------------------------------- state machine

#[test]
fn down_after_failure_threshold_and_recovered_with_downtime() {
    let mut e = Engine::new(Policy::default());
    assert!(e.observe("api", &ok(T0)).is_empty());
    assert!(
        e.observe("api", &fail(T0 + MIN)).is_empty(),
        "one failure is below the threshold of 2"
    );
    let down = e.observe("api", &fail(T0 + 2 * MIN));
    assert_eq!(kinds(&down), [AlertKind::Down]);
    assert_eq!(
        down[0].since,
        Some(T0 + MIN),
        "since the first failed check"
    );
    assert_eq!(down[0].failures, 2);
    assert_eq!(down[0].cause.stage.as_deref(), Some("http"));
    assert_eq!(down[0].cause.entry.as_deref(), Some("http-503"));
    assert!(
        e.observe("api", &fail(T0 + 3 * MIN)).is_empty(),
        "no second DOWN"
    );
    let rec = e.observe("api", &ok(T0 + 4 * MIN));
    assert_eq!(kinds(&rec), [AlertKind::Recovered]);
    assert_eq!(rec[0].downtime_ms, Some(3 * MIN));
    assert_eq!(rec[0].failures, 3);
    assert_eq!(rec[0].check_at, Some(T0 + 4 * MIN));
    assert!(e.observe("api", &ok(T0 + 5 * MIN)).is_empty());
}

#[test]
fn success_threshold_needs_consecutive_good_checks() {
    let mut e = Engine::new(policy(1, 2, Duration::ZERO));
    assert_eq!(kinds(&e.observe("api", &fail(T0))), [AlertKind::Down]);
    assert!(e.observe("api", &ok(T0 + MIN)).is_empty());
    assert!(
        e.observe("api", &fail(T0 + 2 * MIN)).is_empty(),
        "same incident"
    );
    assert!(e.observe("api", &ok(T0 + 3 * MIN)).is_empty());
    let rec = e.observe("api", &ok(T0 + 4 * MIN));
    assert_eq!(kinds(&rec), [AlertKind::Recovered]);
    assert_eq!(
        rec[0].downtime_ms,
        Some(3 * MIN),
        "down until the first good check of the final streak"
    );
    assert_eq!(rec[0].failures, 2);
}

#[test]
fn flapping_below_the_threshold_alerts_nothing() {
    let mut e = Engine::new(Policy::default());
    for i in 0..20 {
        let obs = if i % 2 == 0 {
            fail(T0 + i * MIN)
        } else {
            ok(T0 + i * MIN)
        };
        assert!(e.observe("api", &obs).is_empty(), "check {i}");
    }
    assert_eq!(e.state("api").unwrap().state_word(), "up");
}

#[test]
fn flapping_around_an_open_incident_sends_one_down_and_one_recovered() {
    let mut e = Engine::new(policy(2, 2, Duration::ZERO));
    let mut all = Vec::new();
    let pattern = [
        false, false, true, false, true, false, true, true, true, false,
    ];
    for (i, up) in pattern.iter().enumerate() {
        let at = T0 + i as Millis * MIN;
        all.extend(e.observe("api", &if *up { ok(at) } else { fail(at) }));
    }
    assert_eq!(kinds(&all), [AlertKind::Down, AlertKind::Recovered]);
    assert_eq!(all[1].downtime_ms, Some(6 * MIN));
}

#[test]
fn reminders_follow_remind_every_and_zero_means_never() {
    let mut e = Engine::new(policy(1, 1, Duration::from_secs(3600)));
    e.observe("api", &fail(T0));
    assert!(e.observe("api", &fail(T0 + 30 * MIN)).is_empty());
    assert!(e.tick(T0 + 59 * MIN).is_empty());
    let r1 = e.tick(T0 + HOUR);
    assert_eq!(kinds(&r1), [AlertKind::Reminder]);
    assert_eq!(r1[0].reminder, 1);
    assert_eq!(r1[0].since, Some(T0));
    assert!(e.tick(T0 + HOUR + MIN).is_empty());
    // A check can also be the moment a reminder falls due.
    let r2 = e.observe("api", &fail(T0 + 2 * HOUR));
    assert_eq!(kinds(&r2), [AlertKind::Reminder]);
    assert_eq!(r2[0].reminder, 2);
    assert_eq!(r2[0].failures, 3);

    let mut never = Engine::new(policy(1, 1, Duration::ZERO));
    never.observe("api", &fail(T0));
    assert!(never.tick(T0 + 100 * HOUR).is_empty());
}

#[test]
fn acknowledgement_stops_reminders_but_not_recovery() {
    let mut e = Engine::new(policy(1, 1, Duration::from_secs(3600)));
    assert_eq!(
        e.acknowledge("api", T0, "bob", T0),
        Err(AckError::NoIncident)
    );
    e.observe("api", &fail(T0));
    let ack = e.acknowledge("api", T0, "bob", T0 + 5 * MIN).unwrap();
    assert_eq!((ack.by.as_str(), ack.at), ("bob", T0 + 5 * MIN));
    assert_eq!(
        e.acknowledge("api", T0, "carol", T0 + 6 * MIN),
        Err(AckError::AlreadyAcknowledged(ack.clone()))
    );
    assert_eq!(
        e.state("api").unwrap().incident.as_ref().unwrap().ack,
        Some(ack)
    );
    assert!(
        e.tick(T0 + 5 * HOUR).is_empty(),
        "no reminders once acknowledged"
    );
    assert_eq!(
        kinds(&e.observe("api", &ok(T0 + 6 * HOUR))),
        [AlertKind::Recovered]
    );
    // The next incident is not acknowledged.
    e.observe("api", &fail(T0 + 7 * HOUR));
    assert_eq!(kinds(&e.tick(T0 + 8 * HOUR)), [AlertKind::Reminder]);
}

#[test]
fn an_old_alerts_acknowledge_button_does_not_acknowledge_a_newer_incident() {
    let mut e = Engine::new(policy(1, 1, Duration::from_secs(3600)));
    let first = e.observe("api", &fail(T0));
    let first_since = first[0].since.unwrap();
    e.observe("api", &ok(T0 + MIN));
    let second = e.observe("api", &fail(T0 + 2 * MIN));
    assert_eq!(kinds(&second), [AlertKind::Down]);
    assert_eq!(
        e.acknowledge("api", first_since, "bob", T0 + 3 * MIN),
        Err(AckError::DifferentIncident),
        "the first DOWN's button"
    );
    assert_eq!(
        AckError::DifferentIncident.to_string(),
        "this alert's incident is over"
    );
    assert!(e
        .state("api")
        .unwrap()
        .incident
        .as_ref()
        .unwrap()
        .ack
        .is_none());
    assert_eq!(
        kinds(&e.tick(T0 + 2 * MIN + HOUR)),
        [AlertKind::Reminder],
        "still reminded"
    );
    let ack = e.acknowledge("api", second[0].since.unwrap(), "bob", T0 + 2 * HOUR);
    assert!(ack.is_ok(), "{ack:?}");
}

#[test]
fn silence_holds_down_and_one_alert_when_it_ends_still_down() {
    let mut e = Engine::new(policy(2, 1, Duration::from_secs(3600)));
    e.silence(silence("api", T0, T0 + HOUR));
    assert!(e.observe("api", &fail(T0 + MIN)).is_empty());
    assert!(
        e.observe("api", &fail(T0 + 2 * MIN)).is_empty(),
        "DOWN held by the silence"
    );
    assert_eq!(
        e.state("api").unwrap().state_word(),
        "down",
        "still checked and recorded"
    );
    assert!(e.tick(T0 + 30 * MIN).is_empty());
    let end = e.tick(T0 + HOUR);
    assert_eq!(
        kinds(&end),
        [AlertKind::Down],
        "exactly one alert when the silence ends"
    );
    assert_eq!(end[0].note.as_deref(), Some("silence ended"));
    assert_eq!(end[0].since, Some(T0 + MIN));
    assert!(e.silence_of("api").is_none());
    let ended = e.take_ended_silences();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, T0 + HOUR);
    assert!(e.tick(T0 + HOUR + 30 * MIN).is_empty());
    assert_eq!(
        kinds(&e.tick(T0 + 2 * HOUR)),
        [AlertKind::Reminder],
        "reminders count from the held DOWN"
    );
}

#[test]
fn silence_over_an_announced_incident() {
    // Down and announced, then silenced: no reminders; still down at the end → one REMINDER.
    let mut e = Engine::new(policy(1, 1, Duration::from_secs(600)));
    assert_eq!(kinds(&e.observe("api", &fail(T0))), [AlertKind::Down]);
    e.silence(silence("api", T0 + MIN, T0 + HOUR));
    assert!(e.tick(T0 + 30 * MIN).is_empty());
    assert!(e.observe("api", &fail(T0 + 40 * MIN)).is_empty());
    let end = e.tick(T0 + HOUR);
    assert_eq!(kinds(&end), [AlertKind::Reminder]);
    assert_eq!(end[0].note.as_deref(), Some("silence ended; still down"));

    // Recovered during the silence: RECOVERED held until the end, posted once.
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    e.observe("api", &fail(T0));
    e.silence(silence("api", T0 + MIN, T0 + HOUR));
    assert!(e.observe("api", &ok(T0 + 10 * MIN)).is_empty());
    let end = e.tick(T0 + HOUR);
    assert_eq!(kinds(&end), [AlertKind::Recovered]);
    assert_eq!(end[0].downtime_ms, Some(10 * MIN));
    assert!(e.tick(T0 + 2 * HOUR).is_empty());

    // Never announced and recovered before the end: nothing at all.
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    e.silence(silence("api", T0, T0 + HOUR));
    e.observe("api", &fail(T0 + MIN));
    e.observe("api", &ok(T0 + 2 * MIN));
    assert!(e.tick(T0 + HOUR).is_empty());
}

#[test]
fn a_check_after_the_silence_expired_ends_it_before_a_tick_does() {
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    e.silence(silence("api", T0, T0 + HOUR));
    assert!(e.observe("api", &fail(T0 + MIN)).is_empty());
    let end = e.observe("api", &fail(T0 + HOUR + MIN));
    assert_eq!(kinds(&end), [AlertKind::Down]);
    assert_eq!(end[0].note.as_deref(), Some("silence ended"));
    assert!(e.tick(T0 + HOUR + 2 * MIN).is_empty(), "ended once");
}

#[test]
fn a_good_check_right_after_the_silence_expired_is_not_preceded_by_a_down() {
    // Down during the silence, never announced, up again by the first check after it.
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    e.silence(silence("api", T0, T0 + HOUR));
    assert!(e.observe("api", &fail(T0 + MIN)).is_empty());
    assert!(
        e.observe("api", &ok(T0 + HOUR + MIN)).is_empty(),
        "came and went unannounced: nothing, not DOWN then RECOVERED"
    );
    assert!(e.silence_of("api").is_none());
    assert_eq!(e.take_ended_silences().len(), 1);

    // Announced before the silence, up at the first check after it: one RECOVERED.
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    assert_eq!(kinds(&e.observe("api", &fail(T0))), [AlertKind::Down]);
    e.silence(silence("api", T0 + MIN, T0 + HOUR));
    assert!(e.observe("api", &fail(T0 + 2 * MIN)).is_empty());
    let alerts = e.observe("api", &ok(T0 + HOUR + MIN));
    assert_eq!(kinds(&alerts), [AlertKind::Recovered]);
    assert!(e.tick(T0 + 2 * HOUR).is_empty());
}

#[test]
fn unsilence_early_posts_what_was_held() {
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    assert_eq!(e.unsilence("api", T0), None, "nothing to lift");
    e.silence(silence("api", T0, T0 + 10 * HOUR));
    assert!(e.observe("api", &fail(T0 + MIN)).is_empty());
    let alerts = e.unsilence("api", T0 + 2 * MIN).unwrap();
    assert_eq!(kinds(&alerts), [AlertKind::Down]);
    assert!(e.observe("api", &fail(T0 + 3 * MIN)).is_empty());
    assert_eq!(
        kinds(&e.observe("api", &ok(T0 + 4 * MIN))),
        [AlertKind::Recovered]
    );
}

#[test]
fn warnings_alert_once_per_incident() {
    let mut e = Engine::new(Policy::default());
    let expiring = |at: Millis, days: i64| {
        let mut o = ok(at);
        o.facts.cert_days_left = Some(days);
        o
    };
    let w = e.observe("api", &expiring(T0, 10));
    assert_eq!(kinds(&w), [AlertKind::Warning]);
    assert_eq!(w[0].cause.stage.as_deref(), Some("tls"));
    assert!(w[0].cause.detail.as_deref().unwrap().contains("10 days"));
    for i in 1..50 {
        assert!(
            e.observe("api", &expiring(T0 + i * MIN, 10)).is_empty(),
            "check {i}"
        );
    }
    // Still expiring across an outage: no second WARNING after it recovers.
    let mut e2 = Engine::new(policy(1, 1, Duration::ZERO));
    assert_eq!(
        kinds(&e2.observe("api", &expiring(T0, 10))),
        [AlertKind::Warning]
    );
    e2.observe("api", &fail(T0 + MIN));
    assert_eq!(
        kinds(&e2.observe("api", &expiring(T0 + 2 * MIN, 10))),
        [AlertKind::Recovered]
    );
    // Renewed: the warning clears, and a later expiry warns again.
    assert!(e.observe("api", &expiring(T0 + HOUR, 90)).is_empty());
    assert_eq!(
        kinds(&e.observe("api", &expiring(T0 + 2 * HOUR, 13))),
        [AlertKind::Warning]
    );

    // A warning from the checks (quota) is raised once too, and several kinds are independent.
    let quota = |at: Millis| {
        let mut o = ok(at);
        o.health = medic::checks::Overall::Warn;
        o.warnings.push(Warning {
            key: "rate_limit".into(),
            detail: "5% of quota left".into(),
            entry: Some("http-429".into()),
        });
        o
    };
    let mut e = Engine::new(Policy::default());
    assert_eq!(kinds(&e.observe("api", &quota(T0))), [AlertKind::Warning]);
    assert!(e.observe("api", &quota(T0 + MIN)).is_empty());
    let mut both = quota(T0 + 2 * MIN);
    both.facts.cert_days_left = Some(3);
    assert_eq!(kinds(&e.observe("api", &both)), [AlertKind::Warning]);

    // Warnings during a silence are dropped, not saved for later, and not remembered either:
    // the first check after the silence that still warns raises it.
    let mut e = Engine::new(Policy::default());
    e.silence(silence("api", T0, T0 + HOUR));
    assert!(e.observe("api", &quota(T0 + MIN)).is_empty());
    assert!(e.state("api").unwrap().warned.is_empty());
    assert!(e.tick(T0 + HOUR).is_empty());
    assert_eq!(
        kinds(&e.observe("api", &quota(T0 + HOUR + MIN))),
        [AlertKind::Warning]
    );
    assert!(e.observe("api", &quota(T0 + HOUR + 2 * MIN)).is_empty());
}

#[test]
fn down_alert_says_what_changed_since_the_last_good_check() {
    let mut e = Engine::new(policy(1, 1, Duration::ZERO));
    let mut good = ok(T0);
    good.facts = Facts {
        addresses: vec!["127.0.0.1".into()],
        status_code: Some(200),
        cert_fingerprint: Some("aa".repeat(32)),
        cert_days_left: Some(80),
        latency_ms: Some(40),
    };
    e.observe("api", &good);
    let mut bad = fail(T0 + MIN);
    bad.facts = Facts {
        addresses: vec!["127.0.0.2".into()],
        status_code: Some(503),
        cert_fingerprint: Some("bb".repeat(32)),
        cert_days_left: Some(80),
        latency_ms: Some(900),
    };
    let down = e.observe("api", &bad);
    let parts: Vec<(&str, String, String)> = down[0]
        .changes
        .iter()
        .map(medic::render::text::change_parts)
        .collect();
    let changes: Vec<(&str, &str, &str)> = parts
        .iter()
        .map(|(w, b, a)| (*w, b.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            ("addresses", "127.0.0.1", "127.0.0.2"),
            ("status", "200", "503"),
            ("certificate", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"),
            ("latency", "40 ms", "900 ms"),
        ]
    );
}

#[test]
fn restored_engine_continues_the_open_incident() {
    let mut e = Engine::new(Policy::default());
    e.observe("api", &fail(T0));
    e.observe("api", &fail(T0 + MIN));
    let saved = serde_json::to_string(e.state("api").unwrap()).unwrap();
    let mut e = Engine::restore(
        Policy::default(),
        [("api".to_string(), serde_json::from_str(&saved).unwrap())],
        [],
    );
    assert!(
        e.observe("api", &fail(T0 + HOUR)).is_empty(),
        "no second DOWN after a restart"
    );
    let rec = e.observe("api", &ok(T0 + 2 * HOUR));
    assert_eq!(kinds(&rec), [AlertKind::Recovered]);
    assert_eq!(rec[0].downtime_ms, Some(2 * HOUR));
}

// ---------------------------------------------------------------- rendering

#[test]
fn console_alert_starts_with_kind_then_endpoint() {
    let mut e = Engine::new(policy(1, 1, Duration::from_secs(60)));
    let mut down = e.observe("payments-api", &fail(T0)).remove(0);
    down.steps = vec![
        "Check the upstream".into(),
        "Look at the logs".into(),
        "Retry".into(),
        "Fourth".into(),
    ];
    let text = medic::render::terminal::alert::terminal(&down);
    let first = text.lines().next().unwrap();
    let words: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(
        &words[..4],
        ["2027-01-15T08:00:00Z", "✖", "DOWN", "payments-api"],
        "{text}"
    );
    assert!(
        first.ends_with("http failed: 503 Service Unavailable"),
        "{text}"
    );
    assert!(
        text.lines().skip(1).all(|l| l.starts_with("    ")),
        "details indented:\n{text}"
    );
    assert!(text.contains("1 failed check"), "{text}");
    assert!(
        text.contains("what to do (http-503):\n      1. Check the upstream\n"),
        "{text}"
    );
    assert!(!text.contains("Fourth"), "only the top 3 steps");

    let reminder = e.tick(T0 + MIN).remove(0);
    assert!(medic::render::terminal::alert::terminal(&reminder)
        .starts_with("2027-01-15T08:01:00Z ↻ REMINDER payments-api — still down"));
    let rec = e
        .observe("payments-api", &ok(T0 + 5 * MIN + 30_000))
        .remove(0);
    let text = medic::render::terminal::alert::terminal(&rec);
    assert!(
        text.starts_with(
            "2027-01-15T08:05:30Z ✔ RECOVERED payments-api — is up again after 5m 30s down"
        ),
        "{text}"
    );
    assert!(
        text.contains("recovered by the check at 2027-01-15T08:05:30Z (status 200, 40 ms)"),
        "{text}"
    );

    let embed = medic::render::discord::alert::embed(&down);
    assert_eq!(embed.color, medic::render::discord::alert::RED);
    assert_eq!(embed.title, "✖ DOWN · payments-api");
    assert_eq!(
        medic::render::discord::alert::embed(&rec).color,
        medic::render::discord::alert::GREEN
    );
}

// ---------------------------------------------------------------- store

#[test]
fn store_creates_a_wal_database_with_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let store = SqliteStore::open(&path).unwrap();
    let version = store.schema_version().unwrap();
    assert!(version >= 1);
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        version,
        "reopening does not migrate again"
    );
    let conn = rusqlite_journal_mode(&path);
    assert_eq!(conn, "wal");
}

fn rusqlite_journal_mode(path: &std::path::Path) -> String {
    // A second connection sees the mode stored in the file.
    let store = SqliteStore::open(path).unwrap();
    drop(store);
    let bytes = std::fs::read(path).unwrap();
    // Bytes 18 and 19 of the header are 2 in WAL mode.
    if bytes[18] == 2 && bytes[19] == 2 {
        "wal".into()
    } else {
        "other".into()
    }
}

#[test]
fn corrupted_or_unusable_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not an sqlite database, just some text. ".repeat(200),
    )
    .unwrap();
    let e = SqliteStore::open(&garbage).unwrap_err().to_string();
    assert!(
        e.contains("garbage.db") && e.contains("not a medic database"),
        "{e}"
    );

    // A real database with a damaged page.
    let damaged = dir.path().join("damaged.db");
    {
        let (mut m, _) = monitor_on(&damaged, Arc::new(ManualClock::new(T0)), Policy::default());
        for i in 0..500 {
            m.observe("api", &fail(T0 + i * MIN)).unwrap();
        }
    }
    checkpoint(&damaged);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let len = bytes.len();
    assert!(len >= 4096 * 2);
    for b in &mut bytes[4096..len.min(4096 * 3)] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    // The full read happens only when watch/serve start, not on every open.
    let e = SqliteStore::open(&damaged)
        .and_then(|s| s.check_integrity())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("damaged.db") && (e.contains("corrupted") || e.contains("not a medic database")),
        "{e}"
    );

    let e = SqliteStore::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
    let e = SqliteStore::open(&dir.path().join("missing/dir/medic.db"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be opened"), "{e}");
    // A directory in the path that is a regular file: creating the database fails, root or not.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let e = SqliteStore::open(&file.join("medic.db"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plain-file/medic.db") && e.contains("cannot be"),
        "{e}"
    );

    // Permissions only bind non-root users.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let file = ro.join("medic.db");
    drop(SqliteStore::open(&file).unwrap());
    checkpoint(&file);
    for f in std::fs::read_dir(&ro).unwrap() {
        let f = f.unwrap().path();
        if f != file {
            std::fs::remove_file(f).unwrap();
        }
    }
    set_mode(&file, 0o444);
    set_mode(&ro, 0o555);
    if std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .is_err()
    {
        let e = SqliteStore::open(&file).unwrap_err().to_string();
        assert!(e.contains("cannot be"), "{e}");
    }
    set_mode(&ro, 0o755);
}

#[test]
fn two_processes_creating_the_same_database_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        let path = dir.path().join(format!("race-{i}.db"));
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path).map(|_| ())
                })
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Folds the WAL into the main file (as a clean shutdown would), so the file alone is the DB.
fn checkpoint(path: &std::path::Path) {
    let store = SqliteStore::open(path).unwrap();
    store.checkpoint().unwrap();
}

fn monitor_on(
    path: &std::path::Path,
    clock: Arc<dyn Clock>,
    policy: Policy,
) -> (Monitor, Arc<Mutex<SqliteStore>>) {
    let store = Arc::new(Mutex::new(SqliteStore::open(path).unwrap()));
    let kb = Arc::new(medic::knowledge::Knowledge::builtin().unwrap());
    let m = Monitor::open(
        store.clone(),
        clock,
        &[("api".into(), policy)],
        Duration::from_secs(7 * 24 * 3600),
        Some(kb),
    )
    .unwrap();
    (m, store)
}

fn outbox_kinds(store: &Mutex<SqliteStore>) -> Vec<AlertKind> {
    store
        .lock()
        .unwrap()
        .outbox()
        .unwrap()
        .iter()
        .map(|i| i.alert.kind)
        .collect()
}

#[test]
fn restart_mid_incident_keeps_it_open_and_recovers_once_with_full_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock = Arc::new(ManualClock::new(T0));
    {
        let (mut m, store) = monitor_on(&path, clock.clone(), Policy::default());
        m.observe("api", &ok(T0)).unwrap();
        m.observe("api", &fail(T0 + MIN)).unwrap();
        let down = m.observe("api", &fail(T0 + 2 * MIN)).unwrap();
        assert_eq!(kinds(&down), [AlertKind::Down]);
        assert!(!down[0].steps.is_empty(), "steps from the knowledge entry");
        assert_eq!(outbox_kinds(&store), [AlertKind::Down]);
        // medic stops here: no clean shutdown.
    }
    clock.set(T0 + 3 * HOUR);
    let (mut m, store) = monitor_on(&path, clock.clone(), Policy::default());
    assert_eq!(m.engine().state("api").unwrap().state_word(), "down");
    assert!(
        m.tick().unwrap().is_empty(),
        "no REMINDER from the stored state before the first check after the start"
    );
    let again = m.observe("api", &fail(T0 + 3 * HOUR)).unwrap();
    assert_eq!(
        kinds(&again),
        [AlertKind::Reminder],
        "a reminder is due, but no second DOWN"
    );
    let rec = m.observe("api", &ok(T0 + 3 * HOUR + MIN)).unwrap();
    assert_eq!(kinds(&rec), [AlertKind::Recovered]);
    assert_eq!(rec[0].downtime_ms, Some(3 * HOUR));
    assert!(m
        .observe("api", &ok(T0 + 3 * HOUR + 2 * MIN))
        .unwrap()
        .is_empty());
    assert_eq!(
        outbox_kinds(&store),
        [AlertKind::Down, AlertKind::Reminder, AlertKind::Recovered]
    );
    let store = store.lock().unwrap();
    let incidents = store.incidents("api").unwrap();
    assert_eq!(incidents, [(T0 + MIN, Some(T0 + 3 * HOUR + MIN), 3)]);
}

#[test]
fn silences_and_acknowledgements_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock = Arc::new(ManualClock::new(T0));
    let p = policy(1, 1, Duration::from_secs(600));
    {
        let (mut m, _) = monitor_on(&path, clock.clone(), p);
        let s = m
            .silence("api", "alice", "deploy", Duration::from_secs(3600))
            .unwrap();
        assert!(s.id > 0);
        assert!(
            m.silence("nope", "alice", "x", Duration::from_secs(1))
                .is_err(),
            "unknown endpoint"
        );
        assert!(m.observe("api", &fail(T0 + MIN)).unwrap().is_empty());
    }
    // The silence expired while medic was not running: the held DOWN is posted with the first
    // check after the start (not by a tick from the stale state before it).
    clock.set(T0 + 2 * HOUR);
    let (mut m, store) = monitor_on(&path, clock.clone(), p);
    assert!(
        m.tick().unwrap().is_empty(),
        "nothing before the first check"
    );
    let first = m.observe("api", &fail(T0 + 2 * HOUR)).unwrap();
    assert_eq!(kinds(&first), [AlertKind::Down]);
    assert_eq!(first[0].note.as_deref(), Some("silence ended"));
    assert!(store.lock().unwrap().open_silences().unwrap().is_empty());
    let ack = m.acknowledge("api", T0 + MIN, "bob").unwrap().unwrap();
    assert_eq!(store.lock().unwrap().acks("api", T0 + MIN).unwrap(), [ack]);
    drop(m);
    clock.set(T0 + 5 * HOUR);
    let (mut m, store) = monitor_on(&path, clock.clone(), p);
    assert!(
        m.observe("api", &fail(T0 + 5 * HOUR)).unwrap().is_empty(),
        "acknowledged: no reminders after a restart either"
    );
    assert!(m.tick().unwrap().is_empty());
    assert_eq!(outbox_kinds(&store), [AlertKind::Down]);
    assert!(m.unsilence("api").unwrap().is_none());
}

/// Makes the database refuse check results and state writes (as a full disk or an I/O error
/// would) until [`allow_writes`]: a trigger added through a second connection.
fn refuse_writes(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch(
        "CREATE TRIGGER refuse_checks BEFORE INSERT ON checks BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
         CREATE TRIGGER refuse_states BEFORE UPDATE ON endpoints BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
}

fn allow_writes(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch("DROP TRIGGER refuse_checks; DROP TRIGGER refuse_states;")
        .unwrap();
}

#[test]
fn a_failed_commit_loses_no_alert_and_the_next_commit_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock = Arc::new(ManualClock::new(T0));
    let (mut m, store) = monitor_on(&path, clock.clone(), policy(1, 1, Duration::ZERO));
    m.observe("api", &ok(T0)).unwrap();
    refuse_writes(&path);
    let e = m.observe("api", &fail(T0 + MIN)).unwrap_err().to_string();
    assert!(e.contains("refused by the test"), "{e}");
    assert_eq!(kinds(m.unsaved_alerts()), [AlertKind::Down]);
    assert!(outbox_kinds(&store).is_empty());
    // Still refused: the incident goes on, and its DOWN is neither lost nor raised twice.
    assert!(m.observe("api", &fail(T0 + 2 * MIN)).is_err());
    assert_eq!(kinds(m.unsaved_alerts()), [AlertKind::Down]);
    allow_writes(&path);
    clock.set(T0 + 3 * MIN);
    assert!(m.tick().unwrap().is_empty(), "no new alert from the tick");
    assert!(m.unsaved_alerts().is_empty());
    assert_eq!(outbox_kinds(&store), [AlertKind::Down]);
    {
        let s = store.lock().unwrap();
        assert_eq!(
            s.check_count().unwrap(),
            3,
            "the refused checks were kept too"
        );
        let states: std::collections::HashMap<_, _> =
            s.load_states().unwrap().into_iter().collect();
        assert_eq!(states["api"].incident.as_ref().unwrap().failures, 2);
        assert_eq!(s.incidents("api").unwrap(), [(T0 + MIN, None, 2)]);
    }
    drop(m);
    drop(store);
    // What was written is whole: a restart continues the incident and recovers it once.
    let (mut m, store) = monitor_on(&path, clock.clone(), policy(1, 1, Duration::ZERO));
    assert!(m.observe("api", &fail(T0 + 4 * MIN)).unwrap().is_empty());
    let rec = m.observe("api", &ok(T0 + 5 * MIN)).unwrap();
    assert_eq!(kinds(&rec), [AlertKind::Recovered]);
    assert_eq!(rec[0].downtime_ms, Some(4 * MIN));
    assert_eq!(
        outbox_kinds(&store),
        [AlertKind::Down, AlertKind::Recovered]
    );
}

#[test]
fn an_acknowledgement_that_cannot_be_stored_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock = Arc::new(ManualClock::new(T0 + MIN));
    let (mut m, store) = monitor_on(&path, clock.clone(), policy(1, 1, Duration::from_secs(600)));
    assert_eq!(
        kinds(&m.observe("api", &fail(T0)).unwrap()),
        [AlertKind::Down]
    );
    refuse_writes(&path);
    assert!(m.acknowledge("api", T0, "bob").is_err());
    let incident = m.engine().state("api").unwrap().incident.clone().unwrap();
    assert_eq!(incident.ack, None, "not acknowledged in memory either");
    allow_writes(&path);
    let ack = m.acknowledge("api", T0, "bob").unwrap().unwrap();
    assert_eq!(store.lock().unwrap().acks("api", T0).unwrap(), [ack]);
    assert_eq!(
        m.acknowledge("api", T0 - HOUR, "carol").unwrap(),
        Err(AckError::DifferentIncident)
    );
}

#[test]
fn one_scheduler_per_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    drop(SqliteStore::open(&path).unwrap());
    let open = |at: Millis| {
        let store = Arc::new(Mutex::new(SqliteStore::open(&path).unwrap()));
        Monitor::open(
            store,
            Arc::new(ManualClock::new(at)),
            &[("api".into(), Policy::default())],
            Duration::from_secs(3600),
            None,
        )
        .err()
        .map(|e| e.to_string())
    };
    let set_holder = |pid: u32, heartbeat: Millis| {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "INSERT OR REPLACE INTO scheduler_lease (id, pid, token, heartbeat) VALUES (1, ?1, 'other', ?2)",
            rusqlite::params![pid, heartbeat],
        )
        .unwrap();
    };
    // Another live process with a fresh heartbeat holds it.
    let mut other = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    set_holder(other.id(), T0);
    let e = open(T0 + 1000).expect("refused");
    assert!(
        e.contains("medic.db")
            && e.contains(&format!("another medic watch/serve (pid {})", other.id())),
        "{e}"
    );
    // A holder that stopped its heartbeat (hung) loses it after the TTL.
    assert_eq!(
        open(T0 + medic::store::LEASE_TTL.as_millis() as Millis + 1000),
        None
    );
    // A holder that died (SIGKILL) loses it at once.
    set_holder(other.id(), T0);
    other.kill().unwrap();
    other.wait().unwrap();
    assert_eq!(open(T0 + 1000), None);

    // One that lost its lease (stalled past the TTL and taken over) notices at its next tick.
    let store = Arc::new(Mutex::new(SqliteStore::open(&path).unwrap()));
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let mut m = Monitor::open(
        store,
        clock.clone(),
        &[("api".into(), Policy::default())],
        Duration::from_secs(3600),
        None,
    )
    .unwrap();
    assert!(m.tick().is_ok());
    set_holder(std::process::id() + 1, T0 + HOUR);
    let e = m.tick().unwrap_err().to_string();
    assert!(e.contains("took over this database"), "{e}");
}

#[test]
fn pruning_removes_old_history_of_every_kind_but_keeps_what_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock = Arc::new(ManualClock::new(T0));
    let configured = |names: &[&str]| {
        names
            .iter()
            .map(|n| (n.to_string(), policy(1, 1, Duration::ZERO)))
            .collect::<Vec<_>>()
    };
    let open = |names: &[&str], clock: Arc<ManualClock>| {
        let store = Arc::new(Mutex::new(SqliteStore::open(&path).unwrap()));
        let m = Monitor::open(
            store.clone(),
            clock,
            &configured(names),
            Duration::from_secs(7 * 24 * 3600),
            None,
        )
        .unwrap();
        (m, store)
    };
    {
        let (mut m, store) = open(&["api", "old"], clock.clone());
        m.observe("api", &fail(T0)).unwrap();
        m.acknowledge("api", T0, "bob").unwrap().unwrap();
        m.observe("api", &ok(T0 + MIN)).unwrap();
        m.observe("old", &ok(T0)).unwrap();
        m.silence("api", "alice", "deploy", Duration::from_secs(60))
            .unwrap();
        clock.set(T0 + 2 * MIN);
        m.unsilence("api").unwrap().unwrap();
        // A DOWN given up on, a RECOVERED delivered, and a DOWN still waiting.
        m.observe("api", &fail(T0 + 3 * MIN)).unwrap();
        let s = &mut *store.lock().unwrap();
        let outbox = s.outbox().unwrap();
        assert_eq!(outbox.len(), 3);
        s.mark_failed(outbox[0].seq, "refused", None).unwrap();
        s.mark_delivered(outbox[1].seq, T0 + 2 * MIN, None).unwrap();
    }
    // Eight days later, "old" is no longer configured.
    let clock = Arc::new(ManualClock::new(T0 + 8 * 24 * HOUR));
    let (mut m, store) = open(&["api"], clock.clone());
    m.tick().unwrap();
    let s = store.lock().unwrap();
    let outbox = s.outbox().unwrap();
    assert_eq!(outbox.len(), 1, "only the pending alert is left");
    assert!(outbox[0].delivered_at.is_none() && !outbox[0].dead);
    assert_eq!(
        s.incidents("api").unwrap(),
        [(T0 + 3 * MIN, None, 1)],
        "the closed incident is gone, the open one stays"
    );
    assert!(s.acks("api", T0).unwrap().is_empty());
    let names: Vec<String> = s
        .load_states()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["api"], "the removed endpoint is gone");
    let c = rusqlite::Connection::open(&path).unwrap();
    let silences: i64 = c
        .query_row("SELECT COUNT(*) FROM silences", [], |r| r.get(0))
        .unwrap();
    assert_eq!(silences, 0, "the ended silence is gone");
    assert_eq!(s.check_count().unwrap(), 0);
}

#[test]
fn retention_zero_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let env = std::collections::HashMap::<String, String>::new();
    let e = medic::config::Config::parse(
        "medic.toml",
        "[alerts]\nretention = \"0\"\n",
        dir.path(),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("medic.toml:2") && e.contains("retention"), "{e}");
}

#[test]
fn history_uptime_latency_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let now = T0 + 10 * 24 * HOUR;
    let clock = Arc::new(ManualClock::new(now));
    let (mut m, store) = monitor_on(&path, clock.clone(), policy(100, 1, Duration::ZERO));
    // 9 days ago: 10 failures (outside 7 d, pruned). Last 24 h: 90 good (latency 1..=90), 10 bad.
    for i in 0..10 {
        m.observe("api", &fail(now - 9 * 24 * HOUR + i * MIN))
            .unwrap();
    }
    for i in 0..100 {
        let at = now - 23 * HOUR + i * MIN;
        let mut o = if i % 10 == 0 { fail(at) } else { ok(at) };
        o.facts.latency_ms = Some(i as u64 + 1);
        m.observe("api", &o).unwrap();
    }
    let h = store.lock().unwrap().history("api", now).unwrap();
    assert_eq!(h.checks_24h, 100);
    assert_eq!(h.uptime_24h, Some(90.0));
    assert!((h.uptime_7d.unwrap() - 90.0).abs() < 1e-9);
    assert_eq!(h.p50_ms, Some(50), "{h:?}");
    assert_eq!(h.p95_ms, Some(96), "{h:?}");
    assert_eq!(store.lock().unwrap().check_count().unwrap(), 110);
    m.tick().unwrap();
    // The 10 checks older than the retention are gone; the 100 older than the raw window
    // (6 h) are rolled up per hour, and the history reads the same from the roll-ups, its
    // percentiles to within a histogram bucket (9 %).
    assert_eq!(
        store.lock().unwrap().check_count().unwrap(),
        0,
        "no raw check is kept beyond the raw window"
    );
    let rolled = store.lock().unwrap().history("api", now).unwrap();
    assert_eq!(rolled.checks_24h, 100);
    assert_eq!(rolled.uptime_24h, Some(90.0));
    assert!(
        (rolled.uptime_7d.unwrap() - 90.0).abs() < 1e-9,
        "{rolled:?}"
    );
    for (got, exact) in [(rolled.p50_ms, 50.0), (rolled.p95_ms, 96.0)] {
        let got = got.unwrap() as f64;
        assert!(got <= exact && exact <= got * 1.095, "{rolled:?}");
    }
    let status = m.status().unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].state, "up");
    assert_eq!(status[0].since, Some(now - 23 * HOUR + 91 * MIN));
}

// ---------------------------------------------------------------- delivery and scheduling

/// Fails the first `failures` sends with `error`, then records what it delivered.
#[derive(Clone, Default)]
struct FlakySink {
    failures: Arc<AtomicU32>,
    reject: bool,
    sent: Arc<Mutex<Vec<Alert>>>,
}

impl Sink for FlakySink {
    async fn send(&self, alert: &Alert) -> Result<Option<String>, SendError> {
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(if self.reject {
                SendError::Reject("400".into())
            } else {
                SendError::Retry("503".into())
            });
        }
        self.sent.lock().unwrap().push(alert.clone());
        Ok(Some(format!("msg-{}", alert.id)))
    }
}

#[tokio::test(start_paused = true)]
async fn failed_sends_are_retried_with_backoff_in_order_and_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    m.observe("api", &fail(T0)).unwrap();
    m.observe("api", &ok(T0 + 1000)).unwrap();
    let sink = FlakySink {
        failures: Arc::new(AtomicU32::new(3)),
        ..FlakySink::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(delivery::run(
        store.clone(),
        sink.clone(),
        clock.clone(),
        m.outbox_notify(),
        Backoff::default(),
        async {
            let _ = stopped.await;
        },
    ));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let sent = sink.sent.lock().unwrap().clone();
    assert_eq!(
        kinds(&sent),
        [AlertKind::Down, AlertKind::Recovered],
        "in order, each once"
    );
    let outbox = store.lock().unwrap().outbox().unwrap();
    assert_eq!(outbox[0].attempts, 4);
    assert_eq!(
        outbox[0].delivered_at,
        Some(T0 + 7000),
        "retried after 1 s, 2 s, 4 s"
    );
    assert_eq!(
        outbox[0].message_id.as_deref(),
        Some(format!("msg-{}", outbox[0].alert.id).as_str())
    );
    assert_eq!(outbox[1].attempts, 1);
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), delivery::Stopped::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn undelivered_alerts_are_sent_after_a_restart_and_rejected_ones_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    {
        let (mut m, _) = monitor_on(&path, clock.clone(), policy(1, 1, Duration::ZERO));
        m.observe("api", &fail(T0)).unwrap();
        m.observe("api", &ok(T0 + 1)).unwrap();
    }
    let (m, store) = monitor_on(&path, clock.clone(), policy(1, 1, Duration::ZERO));
    let sink = FlakySink {
        failures: Arc::new(AtomicU32::new(1)),
        reject: true,
        ..FlakySink::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(delivery::run(
        store.clone(),
        sink.clone(),
        clock.clone(),
        m.outbox_notify(),
        Backoff::default(),
        async {
            let _ = stopped.await;
        },
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(kinds(&sink.sent.lock().unwrap()), [AlertKind::Recovered]);
    let outbox = store.lock().unwrap().outbox().unwrap();
    assert!(outbox[0].dead && outbox[0].delivered_at.is_none());
    assert_eq!(outbox[0].last_error.as_deref(), Some("400"));
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), delivery::Stopped::Shutdown);
}

/// Answers each send with the next scripted result (`None`: never answers), then accepts.
#[derive(Clone, Default)]
struct ScriptedSink {
    script: Arc<Mutex<std::collections::VecDeque<Option<SendError>>>>,
    sent: Arc<Mutex<Vec<Alert>>>,
}

impl ScriptedSink {
    fn new(script: impl IntoIterator<Item = Option<SendError>>) -> ScriptedSink {
        ScriptedSink {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            ..ScriptedSink::default()
        }
    }
}

impl Sink for ScriptedSink {
    async fn send(&self, alert: &Alert) -> Result<Option<String>, SendError> {
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Some(e)) => Err(e),
            Some(None) => std::future::pending().await,
            None => {
                self.sent.lock().unwrap().push(alert.clone());
                Ok(None)
            }
        }
    }
}

/// Starts the delivery loop on `store`; stop it with the returned sender.
fn deliver<S: Sink>(
    store: &Arc<Mutex<SqliteStore>>,
    sink: S,
    clock: &Arc<dyn Clock>,
    m: &Monitor,
    options: delivery::Options,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<delivery::Stopped>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(delivery::run(
        store.clone(),
        sink,
        clock.clone(),
        m.outbox_notify(),
        options,
        async {
            let _ = stopped.await;
        },
    ));
    (stop, run)
}

/// A Discord error body may quote the request's `Authorization` header: what the sink reports
/// is masked of the bot token, in every encoding, before the outbox stores it.
#[tokio::test(start_paused = true)]
async fn a_sink_error_quoting_the_bot_token_is_stored_masked_in_every_form() {
    let token = "MTk4NjIyNDgzNDcxOTI1MjQ4.GaBcDe.outbox-echo-9f8e7d6c5b4a";
    medic::redact::remember(token);
    let forms = support::hostile::encodings(token);
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    m.observe("api", &fail(T0)).unwrap();
    let mut forbidden = support::hostile::Forbidden::default();
    for (_, echoed) in &forms {
        forbidden.add(token, echoed);
    }
    for (i, (name, echoed)) in forms.iter().enumerate() {
        // One scripted failure per form: after each, the stored error is the masked one.
        let sink = ScriptedSink::new([Some(SendError::Retry(format!(
            "Discord answered 502: {{\"message\": \"bad gateway\", \"authorization\": \"Bot {echoed}\"}}"
        )))]);
        let (stop, run) = deliver(&store, sink, &clock, &m, delivery::Options::default());
        let mut waited = 0;
        let pending = loop {
            waited += 1;
            assert!(waited < 20_000, "attempt {} never happened", i + 1);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let outbox = store.lock().unwrap().outbox().unwrap();
            if outbox[0].attempts as usize > i {
                break outbox[0].last_error.clone();
            }
        };
        let stored = pending.expect("the failure is recorded");
        assert!(stored.contains("Discord answered 502"), "{stored}");
        forbidden.assert_absent(&format!("outbox last_error ({name})"), &stored);
        stop.send(()).unwrap();
        run.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_send_that_never_answers_times_out_and_later_alerts_still_go_out() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    m.observe("api", &fail(T0)).unwrap();
    m.observe("api", &ok(T0 + 1000)).unwrap();
    let sink = ScriptedSink::new([None]);
    let (stop, run) = deliver(
        &store,
        sink.clone(),
        &clock,
        &m,
        delivery::Options::default(),
    );
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(sink.sent.lock().unwrap().is_empty(), "the first send hangs");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        kinds(&sink.sent.lock().unwrap()),
        [AlertKind::Down, AlertKind::Recovered],
        "given up after 30 s, retried 1 s later, in order"
    );
    let outbox = store.lock().unwrap().outbox().unwrap();
    assert_eq!(outbox[0].attempts, 2);
    assert!(outbox[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("no answer within 30s"));
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), delivery::Stopped::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_broken_sink_keeps_alerts_queued_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    m.observe("api", &fail(T0)).unwrap();
    m.observe("api", &ok(T0 + 1000)).unwrap();
    let broken = || {
        Some(SendError::Broken(
            "Discord answered 403: Missing Access".into(),
        ))
    };
    let sink = ScriptedSink::new([broken(), broken(), broken()]);
    let options = delivery::Options::default();
    let health = options.health.clone();
    let (stop, run) = deliver(&store, sink.clone(), &clock, &m, options);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (since, why) = health.problem().expect("reported");
    assert_eq!(since, T0);
    assert!(why.contains("403"), "{why}");
    let backlog = store.lock().unwrap().backlog().unwrap();
    assert_eq!(backlog.pending, 2, "nothing given up");
    assert!(backlog.last_error.unwrap().contains("Missing Access"));
    // Fixed (here: the sink answers again): everything goes out, in order.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        kinds(&sink.sent.lock().unwrap()),
        [AlertKind::Down, AlertKind::Recovered]
    );
    assert_eq!(health.problem(), None);
    assert!(store
        .lock()
        .unwrap()
        .outbox()
        .unwrap()
        .iter()
        .all(|i| !i.dead));
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_alert_failing_for_a_day_is_given_up_and_the_next_goes_out() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    // Raised 25 hours ago (the outbox waited through a long outage).
    m.observe("api", &fail(T0 - 25 * HOUR)).unwrap();
    m.observe("api", &ok(T0)).unwrap();
    let sink = ScriptedSink::new([Some(SendError::Retry("502".into()))]);
    let (stop, run) = deliver(
        &store,
        sink.clone(),
        &clock,
        &m,
        delivery::Options::default(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(kinds(&sink.sent.lock().unwrap()), [AlertKind::Recovered]);
    let outbox = store.lock().unwrap().outbox().unwrap();
    assert!(outbox[0].dead && outbox[0].delivered_at.is_none());
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn delivery_keeps_going_through_store_errors_and_sends_each_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (mut m, store) = monitor_on(&path, clock.clone(), policy(1, 1, Duration::ZERO));
    m.observe("api", &fail(T0)).unwrap();
    // The alert goes out, but marking it delivered fails for a while.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("CREATE TRIGGER refuse_marks BEFORE UPDATE ON outbox BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;")
        .unwrap();
    let sink = FlakySink::default();
    let (stop, run) = deliver(
        &store,
        sink.clone(),
        &clock,
        &m,
        delivery::Options::default(),
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(kinds(&sink.sent.lock().unwrap()), [AlertKind::Down]);
    assert!(!run.is_finished(), "the loop keeps running");
    c.execute_batch("DROP TRIGGER refuse_marks;").unwrap();
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(store.lock().unwrap().outbox().unwrap()[0]
        .delivered_at
        .is_some());
    m.observe("api", &ok(clock.now_ms())).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        kinds(&sink.sent.lock().unwrap()),
        [AlertKind::Down, AlertKind::Recovered],
        "the DOWN was not sent again"
    );
    stop.send(()).unwrap();
    run.await.unwrap();
}

/// An endpoint switched up and down by the test.
#[derive(Default)]
struct Switch {
    down: AtomicBool,
    calls: AtomicU32,
}

impl Probe for Switch {
    async fn probe(&self, _target: &Target) -> Observation {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        if self.down.load(Ordering::SeqCst) {
            fail(0)
        } else {
            ok(0)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn scheduler_checks_on_interval_and_alerts_arrive_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        Policy::default(),
    );
    let notify = m.outbox_notify();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let monitor = tokio::spawn(m.run(rx));
    let probe = Arc::new(Switch::default());
    let stats = Arc::new(Stats::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let target = Target {
        name: "api".into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
    };
    let sched = tokio::spawn(scheduler::run(
        vec![target],
        Default::default(),
        probe.clone(),
        clock.clone(),
        tx,
        4,
        stats.clone(),
        until_stopped(stopped.clone()),
    ));
    let sink = FlakySink::default();
    let delivery = tokio::spawn(delivery::run(
        store.clone(),
        sink.clone(),
        clock.clone(),
        notify,
        Backoff::default(),
        until_stopped(stopped.clone()),
    ));

    tokio::time::sleep(Duration::from_secs(60)).await;
    let calls = probe.calls.load(Ordering::SeqCst);
    assert!(
        (6..=7).contains(&calls),
        "one check per 10 s interval, got {calls}"
    );
    assert!(sink.sent.lock().unwrap().is_empty());
    probe.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    probe.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let sent = sink.sent.lock().unwrap().clone();
    assert_eq!(kinds(&sent), [AlertKind::Down, AlertKind::Recovered]);
    let downtime = sent[1].downtime_ms.unwrap();
    assert!((55_000..=65_000).contains(&downtime), "downtime {downtime}");
    assert!(stats.take_window().checks >= 14);

    stop.send(true).unwrap();
    sched.await.unwrap();
    assert_eq!(delivery.await.unwrap(), delivery::Stopped::Shutdown);
    monitor.await.unwrap().unwrap();
}

/// Counts how many probes run at once; each takes `ms`.
struct Timed {
    ms: u64,
    running: AtomicU32,
    peak: AtomicU32,
}

impl Probe for Timed {
    async fn probe(&self, _t: &Target) -> Observation {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        ok(0)
    }
}

/// Runs 200 endpoints on a 10 s interval for `run_for`; returns the probe and the check starts.
async fn run_200(
    probe_ms: u64,
    concurrency: usize,
    run_for: Duration,
) -> (Arc<Timed>, Vec<Millis>) {
    use rand::SeedableRng;
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(T0));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let probe = Arc::new(Timed {
        ms: probe_ms,
        running: AtomicU32::new(0),
        peak: AtomicU32::new(0),
    });
    let targets: Vec<Target> = (0..200)
        .map(|i| Target {
            name: format!("e{i}"),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        })
        .collect();
    let drain = tokio::spawn(async move {
        let mut starts = Vec::new();
        while let Some(medic::alerts::monitor::Event::Observed { obs, .. }) = rx.recv().await {
            starts.push(obs.at);
        }
        starts
    });
    let stats = Arc::new(Stats::default());
    // Seeded: the spread is checked on the same phases every run.
    scheduler::run_with_rng(
        targets,
        Default::default(),
        probe.clone(),
        clock,
        tx,
        concurrency,
        stats,
        tokio::time::sleep(run_for),
        rand::rngs::StdRng::seed_from_u64(20261126),
    )
    .await;
    (probe, drain.await.unwrap())
}

#[tokio::test(start_paused = true)]
async fn scheduler_spreads_checks_over_the_interval() {
    let (_, starts) = run_200(10, 64, Duration::from_millis(9_990)).await;
    // Each endpoint once in its first interval (a check started in the last 10 ms may not
    // have reported yet).
    assert!((195..=200).contains(&starts.len()), "{}", starts.len());
    // Random phases: 200 checks over 10 s land in most of the 100 slots of 100 ms (about 86
    // expected), never in a burst.
    let mut per_slot = std::collections::HashMap::new();
    for t in &starts {
        *per_slot.entry((t - T0) / 100).or_insert(0u32) += 1;
    }
    assert!(
        per_slot.len() > 60,
        "check starts fall in {} different 100 ms slots",
        per_slot.len()
    );
    assert!(per_slot.values().all(|n| *n <= 12), "{per_slot:?}");
}

#[tokio::test(start_paused = true)]
async fn scheduler_bounds_concurrency() {
    let (probe, starts) = run_200(2_000, 8, Duration::from_secs(10)).await;
    assert_eq!(
        probe.peak.load(Ordering::SeqCst),
        8,
        "never more than 8 checks at once"
    );
    assert!(starts.len() >= 30, "{}", starts.len());
}

// ---------------------------------------------------------------- `medic watch` processes

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Check results as stored: (start time, failed).
fn stored_checks(db: &std::path::Path) -> Vec<(Millis, bool)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c
        .prepare("SELECT at, health FROM checks ORDER BY at")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? == 2)))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

fn medic_status_json(config: &std::path::Path, db: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["status", "--json", "--config"])
        .arg(config)
        .env("MEDIC_DB", db)
        .output()
        .unwrap();
    // 1 while anything is down or failing.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn watch_alerts_on_stdout_in_order_and_a_restart_mid_incident_recovers_once() {
    let server = SwitchServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = switch::write_config(dir.path(), "1s", &[("local-api".into(), server.url())]);
    let db = dir.path().join("state.db");
    let mut w = Watch::start(dir.path(), &config, &db);
    wait_until("good checks", Duration::from_secs(10), || {
        server.hits() >= 3
    });
    server.set_down(true);
    let down = w.wait_for("DOWN", Duration::from_secs(15));
    let words: Vec<&str> = down.split_whitespace().collect();
    assert_eq!(words[1..4], ["✖", "DOWN", "local-api"], "{down}");
    assert!(
        down.contains("HTTP failed") && down.contains("503"),
        "{down}"
    );
    w.drain_for(Duration::from_millis(300));
    assert!(
        w.stdout[1..].iter().all(|l| l.starts_with("    ")),
        "details are indented: {:#?}",
        w.stdout
    );

    // Killed mid-incident, started again on the same database while still down.
    w.sigkill();
    let hits = server.hits();
    let mut w2 = Watch::start(dir.path(), &config, &db);
    wait_until(
        "three checks by the restarted watch",
        Duration::from_secs(15),
        || server.hits() >= hits + 3,
    );
    w2.drain_for(Duration::from_millis(300));
    assert!(
        w2.kinds().is_empty(),
        "no second DOWN after the restart: {:#?}",
        w2.stdout
    );

    // Meanwhile a second scheduler on the same file is refused, and `medic status` reads it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["watch", "--config"])
        .arg(&config)
        .env("MEDIC_DB", &db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "another medic watch/serve (pid {}) is using this database",
            w2.child.id()
        )),
        "{stderr}"
    );
    assert_eq!(medic_status_json(&config, &db)[0]["state"], "down");

    server.set_down(false);
    let recovered = w2.wait_for("RECOVERED", Duration::from_secs(15));
    assert!(
        recovered.contains("RECOVERED local-api — is up again after"),
        "{recovered}"
    );
    assert!(w2.stop().success());
    assert_eq!(w.kinds(), ["DOWN"]);
    assert_eq!(w2.kinds(), ["RECOVERED"]);
    let stderr = w2.stderr();
    assert!(stderr.contains("watching"), "logs go to stderr: {stderr}");
    assert!(
        !stderr.contains("RECOVERED local-api —"),
        "alerts do not go to stderr"
    );

    let store = SqliteStore::open(&db).unwrap();
    let outbox = store.outbox().unwrap();
    assert_eq!(
        outbox.iter().map(|i| i.alert.kind).collect::<Vec<_>>(),
        [AlertKind::Down, AlertKind::Recovered]
    );
    assert!(outbox.iter().all(|i| i.delivered_at.is_some()));
    // The downtime is from the first failed check to the first good one, across the restart.
    let checks = stored_checks(&db);
    let first_failed = checks.iter().position(|c| c.1).unwrap();
    let first_good = checks[first_failed..].iter().find(|c| !c.1).unwrap();
    let downtime = outbox[1].alert.downtime_ms.unwrap();
    assert_eq!(
        downtime,
        first_good.0 - checks[first_failed].0,
        "{checks:?}"
    );
    assert_eq!(outbox[1].alert.since, Some(checks[first_failed].0));

    let status = medic_status_json(&config, &db);
    assert_eq!(status[0]["name"], "local-api");
    assert_eq!(status[0]["state"], "up");
    let up = status[0]["uptime_24h"].as_f64().unwrap();
    assert!(up > 0.0 && up < 100.0, "{status}");
}

/// After a SIGKILL: every check and alert seen committed is there, and incidents, incident
/// rows and DOWN alerts agree. Returns the outbox.
fn assert_consistent_after_kill(
    db: &std::path::Path,
    seen_checks: u64,
    seen_alerts: &[String],
) -> Vec<medic::store::OutboxItem> {
    let store = SqliteStore::open(db).expect("the database opens after SIGKILL");
    store.check_integrity().unwrap();
    assert!(
        store.check_count().unwrap() >= seen_checks,
        "committed checks are kept"
    );
    let outbox = store.outbox().unwrap();
    let ids: Vec<&str> = outbox.iter().map(|i| i.alert.id.as_str()).collect();
    assert!(
        seen_alerts.iter().all(|id| ids.contains(&id.as_str())),
        "committed alerts are kept"
    );
    assert!(outbox
        .iter()
        .all(|i| i.alert.kind == AlertKind::Down && i.alert.endpoint.starts_with("refused-")));
    let states: std::collections::HashMap<String, medic::alerts::EndpointState> =
        store.load_states().unwrap().into_iter().collect();
    for (name, state) in &states {
        let downs: Vec<_> = outbox
            .iter()
            .filter(|i| &i.alert.endpoint == name)
            .collect();
        match &state.incident {
            Some(incident) => {
                assert!(name.starts_with("refused-"), "{name}");
                assert!(incident.announced);
                assert_eq!(downs.len(), 1, "{name}: one DOWN per incident");
                assert_eq!(downs[0].alert.since, Some(incident.started_at), "{name}");
                let open: Vec<_> = store
                    .incidents(name)
                    .unwrap()
                    .into_iter()
                    .filter(|i| i.1.is_none())
                    .collect();
                assert_eq!(open.len(), 1, "{name}");
                assert_eq!(open[0].0, incident.started_at);
            }
            None => assert!(downs.is_empty(), "{name}: a DOWN without an incident"),
        }
    }
    outbox
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed_and_state_stays_consistent() {
    use rand::Rng;
    let server = SwitchServer::start();
    // Bound but not listening: connections are refused, and no other program can take the port
    // while the test runs.
    let refusing = tokio::net::TcpSocket::new_v4().unwrap();
    refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = refusing.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut endpoints: Vec<(String, String)> =
        (0..20).map(|i| (format!("up-{i}"), server.url())).collect();
    endpoints.extend((0..20).map(|i| (format!("refused-{i}"), format!("http://{closed}/health"))));
    let config = switch::write_config(dir.path(), "1s", &endpoints);
    let db = dir.path().join("state.db");

    let mut rng = rand::thread_rng();
    let mut seen_checks = 0;
    let mut seen_alerts: Vec<String> = Vec::new();
    let mut outbox = Vec::new();
    for round in 0..4 {
        let mut w = Watch::start(dir.path(), &config, &db);
        // First until every refused endpoint is DOWN; then a random number of checks more.
        let want_alerts = if round == 0 { 20 } else { 0 };
        let want_checks = seen_checks + rng.gen_range(40..400);
        let mut last_error = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            // Watched from outside, read-only, while medic writes.
            match SqliteStore::open_read_only(&db).and_then(|s| Ok((s.check_count()?, s.outbox()?)))
            {
                Ok((checks, o)) => {
                    seen_checks = checks;
                    seen_alerts = o.into_iter().map(|i| i.alert.id).collect();
                }
                Err(e) => last_error = e.to_string(),
            }
            if seen_alerts.len() >= want_alerts && seen_checks >= want_checks {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: {seen_checks} checks, {} alerts; last error: {last_error}; stderr:\n{}",
                seen_alerts.len(),
                w.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Somewhere inside the next write batch or two.
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        w.sigkill();
        outbox = assert_consistent_after_kill(&db, seen_checks, &seen_alerts);
        assert_eq!(
            outbox.len(),
            20,
            "round {round}: one DOWN per refused endpoint"
        );
    }

    // Started again: the open incidents continue silently; alerts committed but not yet printed
    // before the last kill are printed now, once.
    let undelivered = outbox.iter().filter(|i| i.delivered_at.is_none()).count();
    let hits = server.hits();
    let mut w2 = Watch::start(dir.path(), &config, &db);
    wait_until(
        "checks and deliveries by the restarted watch",
        Duration::from_secs(30),
        || {
            server.hits() >= hits + 60
                && SqliteStore::open_read_only(&db)
                    .and_then(|s| s.outbox())
                    .is_ok_and(|o| o.iter().all(|i| i.delivered_at.is_some()))
        },
    );
    assert!(w2.stop().success());
    assert_eq!(
        w2.kinds().len(),
        undelivered,
        "only the undelivered ones: {:#?}",
        w2.stdout
    );
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(
        store.outbox().unwrap().len(),
        outbox.len(),
        "no new alerts after the restart"
    );
    drop(refusing);
}

#[test]
fn watch_stops_cleanly_when_stdout_is_closed() {
    use std::io::BufRead;
    let server = SwitchServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = switch::write_config(dir.path(), "1s", &[("local-api".into(), server.url())]);
    let db = dir.path().join("state.db");
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["watch", "--config"])
        .arg(&config)
        .env("MEDIC_DB", &db)
        .env_remove("MEDIC_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    wait_until("good checks", Duration::from_secs(10), || {
        server.hits() >= 3
    });
    server.set_down(true);
    {
        // `medic watch | head -1`: one line read, then the pipe is closed.
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert!(first.contains(" DOWN local-api "), "{first}");
    }
    server.set_down(false);
    let mut status = None;
    wait_until("medic watch to stop", Duration::from_secs(20), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        status.unwrap().success(),
        "a closed pipe is a normal end: {log}"
    );
    let outbox = SqliteStore::open_read_only(&db).unwrap().outbox().unwrap();
    assert_eq!(
        outbox.iter().map(|i| i.alert.kind).collect::<Vec<_>>(),
        [AlertKind::Down, AlertKind::Recovered]
    );
    assert!(outbox[0].delivered_at.is_some());
    assert!(
        outbox[1].delivered_at.is_none() && !outbox[1].dead,
        "the unprinted alert stays queued for the next run, not given up"
    );
}

#[test]
fn status_only_reads_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = switch::write_config(
        dir.path(),
        "1s",
        &[("x".into(), "http://127.0.0.1:9/".into())],
    );
    let db = dir.path().join("empty.db");
    std::fs::write(&db, b"").unwrap();
    let status = medic_status_json(&config, &db);
    assert_eq!(status[0]["state"], "unknown");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "not migrated");
    // A mistyped --db is an error (exit 2), not a table of "unknown" endpoints.
    let missing = dir.path().join("missing.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["status", "--json", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!missing.exists(), "not created");
}

#[test]
fn watch_with_a_corrupted_database_fails_clearly_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = switch::write_config(
        dir.path(),
        "1s",
        &[("x".into(), "http://127.0.0.1:9/".into())],
    );
    let db = dir.path().join("broken.db");
    std::fs::write(&db, vec![7u8; 8192]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["watch", "--config"])
        .arg(&config)
        .env("MEDIC_DB", &db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.db") && stderr.contains("not a medic database"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------- Discord delivery

#[tokio::test]
async fn discord_alerts_post_once_each_in_order_through_500_429_and_dropped_connections() {
    use fake_discord::{Failure, FakeDiscord};
    use hyper::Method;
    use medic::alerts::SystemClock;
    use medic::discord::alerts::DiscordSink;
    use medic::render::discord::{ALERT_ACK as ACK, ALERT_RERUN as RERUN};

    let fake = FakeDiscord::start().await;
    let http = fake.http();
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    let now = clock.now_ms();
    m.observe("api", &fail(now - 60_000)).unwrap();
    m.observe("api", &ok(now)).unwrap();

    const CHANNEL: u64 = 77;
    let path = format!("/channels/{CHANNEL}/messages");
    fake.fail_next(Method::POST, &path, Failure::Status(500), 1);
    fake.fail_next(
        Method::POST,
        &path,
        Failure::RateLimited { retry_after: 0.05 },
        1,
    );
    fake.fail_next(Method::POST, &path, Failure::Drop, 1);
    let sink = DiscordSink::new(http, CHANNEL, Some(55));
    let backoff = Backoff {
        first: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(delivery::run(
        store.clone(),
        sink,
        clock,
        m.outbox_notify(),
        backoff,
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store
        .lock()
        .unwrap()
        .outbox()
        .unwrap()
        .iter()
        .any(|i| i.delivered_at.is_none())
    {
        assert!(std::time::Instant::now() < deadline, "alerts not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), delivery::Stopped::Shutdown);
    // The 429 is counted for /metrics (one registry per process: at least this one).
    let metrics = medic::metrics::render(&Default::default());
    let m = crate::support::samples(&metrics);
    assert!(
        m["medic_discord_rate_limited_total{scope=\"route\"}"] >= 1.0,
        "{metrics}"
    );

    let outbox = store.lock().unwrap().outbox().unwrap();
    let (down, recovered) = (&outbox[0], &outbox[1]);
    let posts = fake.requests_matching(Method::POST, &path);
    let statuses: Vec<u16> = posts.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 429, 0, 200, 200], "one success per alert");
    for p in &posts[..4] {
        assert_eq!(
            p.body["nonce"],
            down.alert.id.as_str(),
            "every retry reuses the nonce"
        );
        assert_eq!(p.body["enforce_nonce"], true);
    }
    assert_eq!(posts[4].body["nonce"], recovered.alert.id.as_str());
    assert!(down.message_id.is_some() && recovered.message_id.is_some());
    // The sink's delivery path rode out the 500, the 429 and the drop itself: one outbox try.
    assert_eq!(down.attempts, 1);

    let body = &posts[3].body;
    assert_eq!(
        body["embeds"][0]["color"],
        medic::render::discord::alert::RED
    );
    assert_eq!(body["embeds"][0]["title"], "✖ DOWN · api");
    assert_eq!(
        body["content"], "<@&55>",
        "the mention role is the only ping, on DOWN"
    );
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert_eq!(body["allowed_mentions"]["roles"], serde_json::json!(["55"]));
    let buttons = &body["components"][0]["components"];
    assert_eq!(buttons[0]["label"], "Re-run check");
    assert_eq!(buttons[0]["custom_id"], format!("{RERUN}{}", down.alert.id));
    assert_eq!(buttons[1]["label"], "Acknowledge");
    assert_eq!(buttons[1]["custom_id"], format!("{ACK}{}", down.alert.id));
    let steps = body["embeds"][0]["fields"][0]["value"].as_str().unwrap();
    assert!(steps.starts_with("1. "), "{steps}");

    let body = &posts[4].body;
    assert_eq!(
        body["embeds"][0]["color"],
        medic::render::discord::alert::GREEN
    );
    assert!(
        body["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("is up again after 1m down"),
        "{body}"
    );
    assert!(
        body.get("content").is_none_or(|c| c.is_null()),
        "RECOVERED never pings: {body}"
    );
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(
        body["allowed_mentions"]
            .get("roles")
            .is_none_or(|r| r == &serde_json::json!([])),
        "{body}"
    );
    assert!(body
        .get("components")
        .is_none_or(|c| c == &serde_json::json!([])));
    fake.assert_valid_bodies();
}

#[tokio::test]
async fn a_discord_post_whose_answer_is_lost_is_retried_with_its_nonce_and_appears_once() {
    use fake_discord::{Failure, FakeDiscord};
    use hyper::Method;
    use medic::alerts::SystemClock;
    use medic::discord::alerts::DiscordSink;

    let fake = FakeDiscord::start().await;
    let http = fake.http();
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (mut m, store) = monitor_on(
        &dir.path().join("medic.db"),
        clock.clone(),
        policy(1, 1, Duration::ZERO),
    );
    m.observe("api", &fail(clock.now_ms())).unwrap();

    const CHANNEL: u64 = 77;
    let path = format!("/channels/{CHANNEL}/messages");
    // Discord creates the message, but medic never hears so.
    fake.fail_next(Method::POST, &path, Failure::DropAfterProcessing, 1);
    let backoff = Backoff {
        first: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    let (stop, run) = deliver(
        &store,
        DiscordSink::new(http, CHANNEL, None),
        &clock,
        &m,
        backoff.into(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.lock().unwrap().outbox().unwrap()[0]
        .delivered_at
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "DOWN not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), delivery::Stopped::Shutdown);

    let outbox = store.lock().unwrap().outbox().unwrap();
    let down = &outbox[0];
    let posts = fake.requests_matching(Method::POST, &path);
    let statuses: Vec<u16> = posts.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [0, 200],
        "lost answer, then the delivery path's retry"
    );
    for p in &posts {
        assert_eq!(p.body["nonce"], down.alert.id.as_str());
        assert_eq!(p.body["enforce_nonce"], true);
    }
    let messages = fake.channel_messages(CHANNEL);
    assert_eq!(
        messages.len(),
        1,
        "exactly one DOWN in the channel: {messages:#?}"
    );
    assert_eq!(messages[0]["embeds"][0]["title"], "✖ DOWN · api");
    assert_eq!(
        down.message_id.as_deref(),
        messages[0]["id"].as_str(),
        "the retry was answered with the message the lost post created"
    );
    assert_eq!(down.attempts, 1, "retried inside one outbox try");
    fake.assert_valid_bodies();
}

#[tokio::test]
async fn discord_bad_token_channel_or_permission_is_a_broken_sink_and_a_400_rejects_the_alert() {
    use fake_discord::{Failure, FakeDiscord};
    use hyper::Method;
    use medic::discord::alerts::DiscordSink;

    let fake = FakeDiscord::start().await;
    let http = fake.http();
    const CHANNEL: u64 = 77;
    let path = format!("/channels/{CHANNEL}/messages");
    let now = medic::alerts::SystemClock.now_ms();
    let alert = Engine::new(policy(1, 1, Duration::ZERO))
        .observe("api", &fail(now))
        .remove(0);
    let sink = DiscordSink::new(http, CHANNEL, None);
    for (code, broken) in [(401, true), (403, true), (404, true), (400, false)] {
        fake.fail_next(Method::POST, &path, Failure::Status(code), 1);
        match sink.send(&alert).await {
            Err(SendError::Broken(e)) if broken => assert!(e.contains(&code.to_string()), "{e}"),
            Err(SendError::Reject(e)) if !broken => assert!(e.contains("400"), "{e}"),
            other => panic!("{code}: {other:?}"),
        }
    }
    assert!(matches!(sink.send(&alert).await, Ok(Some(_))));
    fake.assert_valid_bodies();
}

#[test]
fn bot_posts_alerts_and_handles_acknowledge_rerun_silence_and_unsilence() {
    use fake_discord::payloads::{self, Invoker};
    use fake_discord::{FakeDiscord, BOT_TOKEN};
    use hyper::Method;
    use medic::alerts::probe::Setup;
    use medic::alerts::{service, SystemClock};
    use medic::checks::Checker;
    use medic::commands::Services;
    use medic::config::Config;
    use medic::discord::alerts::{DeliverySlot, DiscordSink};
    use medic::discord::{Bot, Settings};
    use medic::render::discord::{ALERT_ACK as ACK, ALERT_RERUN as RERUN};

    const CHANNEL: u64 = 77;
    const GUILD: u64 = 10;
    const ROLE: u64 = 500;
    const WAIT: Duration = Duration::from_secs(15);
    let server = SwitchServer::start();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[discord]\nalert_channel = {CHANNEL}\ncheck_roles = [{ROLE}]\n\n[alerts]\nfailure_threshold = 1\nremind_every = \"0\"\n\n\
         [[endpoints]]\nname = \"api\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"2s\"\n",
        server.url()
    );
    let env = std::collections::HashMap::<String, String>::new();
    let config = Arc::new(Config::parse("medic.toml", &toml, dir.path(), &env).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeDiscord::start().await;
        let checker = Arc::new(Checker::new(config.clone()));
        let store = Arc::new(Mutex::new(
            SqliteStore::open(&dir.path().join("medic.db")).unwrap(),
        ));
        let slot = DeliverySlot::default();
        let kb = Arc::new(medic::knowledge::Knowledge::builtin().unwrap());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let (handle, alerts_task) = service::spawn(
            Setup::from_config(&config),
            checker.clone(),
            DiscordSink::deferred(slot.clone(), CHANNEL, None),
            store.clone(),
            Arc::new(SystemClock),
            Some(kb.clone()),
            until(stopped.clone()),
        )
        .unwrap();
        let matcher = Arc::new(medic::matcher::Matcher::new(kb));
        let services = Services::new(matcher, Some(checker)).with_alerts(Some(handle));
        let mut settings = Settings::from_env(|k| match k {
            "DISCORD_TOKEN" => Some(BOT_TOKEN.to_string()),
            "DISCORD_GUILD_ID" => Some(GUILD.to_string()),
            _ => None,
        })
        .unwrap();
        settings.api_base = Some(fake.api_base());
        settings.check_roles = vec![ROLE];
        let bot = Bot::new(settings, services)
            .alert_delivery(slot)
            .on_unknown_event(fake.unknown_event_hook());
        let bot_task = tokio::spawn(medic::discord::run(bot, until(stopped.clone())));

        let registered = fake.commands_registered(WAIT).await;
        let cmds = registered.body.as_array().unwrap();
        let silence = cmds
            .iter()
            .find(|c| c["name"] == "silence")
            .expect("/silence registered");
        let options: Vec<&str> = silence["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        assert_eq!(options, ["endpoint", "for", "reason"]);
        assert!(cmds.iter().any(|c| c["name"] == "unsilence"));

        let posts = format!("/channels/{CHANNEL}/messages");
        let is_post = |r: &fake_discord::Recorded| {
            r.method == Method::POST && r.path.ends_with(&posts) && r.status == 200
        };
        server.set_down(true);
        let down = fake.wait_for(0, WAIT, is_post).await;
        assert_eq!(down.body["embeds"][0]["title"], "✖ DOWN · api");
        assert_eq!(
            down.body["allowed_mentions"]["parse"],
            serde_json::json!([])
        );
        let alert_id = down.body["nonce"].as_str().unwrap().to_string();

        let plain = Invoker::guild_member(GUILD, CHANNEL, payloads::member(30, "alice", &[], 0));
        let checker_role =
            Invoker::guild_member(GUILD, CHANNEL, payloads::member(31, "bob", &[ROLE], 0));
        let click = |custom_id: String, who: &Invoker| {
            let id = fake.next_id();
            let from = fake.request_count();
            fake.dispatch(
                "INTERACTION_CREATE",
                payloads::button(id, &custom_id, 4242, who),
            );
            (id, from)
        };
        let callback = |id: u64, from: usize| {
            let path = format!("/interactions/{id}/");
            let fake = &fake;
            async move { fake.wait_for(from, WAIT, |r| r.path.contains(&path)).await }
        };

        // Re-run is gated like /check.
        let (id, from) = click(format!("{RERUN}{alert_id}"), &plain);
        let refused = callback(id, from).await;
        assert_eq!(refused.body["type"], 4);
        assert_eq!(refused.body["data"]["flags"], 64, "ephemeral refusal");
        let (id, from) = click(format!("{RERUN}{alert_id}"), &checker_role);
        assert_eq!(
            callback(id, from).await.body["type"],
            5,
            "deferred, then edited with the report"
        );
        fake.wait_for(from, WAIT, |r| {
            r.method == Method::PATCH && r.path.contains("/messages/@original")
        })
        .await;

        // Acknowledge: anyone; the alert then shows who and when, and the button is disabled.
        let (id, from) = click(format!("{ACK}{alert_id}"), &plain);
        let ack = callback(id, from).await;
        assert_eq!(ack.body["type"], 7, "updates the alert message");
        let fields = ack.body["data"]["embeds"][0]["fields"].as_array().unwrap();
        let acked = fields.iter().find(|f| f["name"] == "Acknowledged").unwrap();
        assert!(
            acked["value"]
                .as_str()
                .unwrap()
                .starts_with("by alice at <t:"),
            "{acked}"
        );
        assert_eq!(
            ack.body["data"]["components"][0]["components"][1]["disabled"],
            true
        );
        let (id, from) = click(format!("{ACK}{alert_id}"), &checker_role);
        assert!(callback(id, from).await.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Already acknowledged by alice"));

        // Silenced: recovery is held; lifting the silence posts it.
        let cmd = |name: &str, options: &[(&str, &str)], who: &Invoker| {
            let id = fake.next_id();
            let from = fake.request_count();
            fake.dispatch(
                "INTERACTION_CREATE",
                payloads::command(id, name, options, who),
            );
            (id, from)
        };
        let (id, from) = cmd(
            "silence",
            &[("endpoint", "api"), ("for", "1h"), ("reason", "deploy")],
            &plain,
        );
        assert_eq!(
            callback(id, from).await.body["data"]["flags"],
            64,
            "silence is gated"
        );
        let (id, from) = cmd(
            "silence",
            &[("endpoint", "api"), ("for", "1h"), ("reason", "deploy")],
            &checker_role,
        );
        let said = callback(id, from).await;
        let text = said.body["data"]["content"].as_str().unwrap();
        assert!(
            text.contains("**api** silenced by bob until <t:")
                && text.ends_with("alerts are held, and one sums up when the silence ends."),
            "{text}"
        );
        let from = fake.request_count();
        let hits = server.hits();
        server.set_down(false);
        // Wait until the recovery is recorded (and held), and a few checks more have run.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let recorded = store
                .lock()
                .unwrap()
                .load_states()
                .unwrap()
                .iter()
                .any(|(n, s)| n == "api" && s.incident.is_none() && s.held_recovery.is_some());
            if recorded && server.hits() >= hits + 3 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "recovery not recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            fake.requests()[from..].iter().all(|r| !is_post(r)),
            "RECOVERED is held while silenced"
        );
        let (id, from) = cmd("unsilence", &[("endpoint", "api")], &checker_role);
        assert!(callback(id, from).await.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("alerts resumed"));
        let recovered = fake.wait_for(from, WAIT, is_post).await;
        assert_eq!(recovered.body["embeds"][0]["title"], "✔ RECOVERED · api");
        assert!(recovered.body["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("recovered during the silence"));

        // /endpoints shows the history-based status while scheduled checks run.
        let (id, from) = cmd("endpoints", &[], &plain);
        let listed = callback(id, from).await;
        let table = listed.body["data"]["embeds"][0]["description"]
            .as_str()
            .unwrap();
        assert!(
            table.contains("ENDPOINT") && table.contains("UP 24H") && table.contains("\napi "),
            "{table}"
        );

        tokio::time::sleep(Duration::from_millis(500)).await;
        let channel_posts: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| is_post(r))
            .map(|r| r.body["embeds"][0]["title"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            channel_posts,
            ["✖ DOWN · api", "✔ RECOVERED · api"],
            "exactly these alerts, in order"
        );
        fake.assert_no_unknown_events();
        fake.assert_valid_bodies();
        stop.send(true).unwrap();
        alerts_task.await.unwrap().unwrap();
        let _ = tokio::time::timeout(WAIT, bot_task).await;
    });
}

#[test]
fn medic_serve_stops_the_bot_and_exits_1_when_its_alerts_stop() {
    use fake_discord::{FakeDiscord, BOT_TOKEN};

    const WAIT: Duration = Duration::from_secs(20);
    let server = SwitchServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[discord]\nalert_channel = 77\n\n[[endpoints]]\nname = \"api\"\nurl = \"{}\"\n\
             interval = \"1s\"\ntimeout = \"2s\"\n",
            server.url()
        ),
    )
    .unwrap();
    let db = dir.path().join("medic.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeDiscord::start().await;
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .env("DISCORD_TOKEN", BOT_TOKEN)
            .env("DISCORD_API_BASE", fake.api_base())
            .env("DISCORD_GUILD_ID", "10")
            .env("MEDIC_DB", &db)
            .env_remove("MEDIC_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The lease is taken before the bot connects, so it is there once commands are registered.
        fake.commands_registered(WAIT).await;
        let c = rusqlite::Connection::open(&db).unwrap();
        c.busy_timeout(WAIT).unwrap();
        let taken = c
            .execute(
                "UPDATE scheduler_lease SET pid = ?1, token = 'other' WHERE id = 1",
                [std::process::id()],
            )
            .unwrap();
        assert_eq!(taken, 1, "medic serve holds the scheduler lease");

        let out = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("medic serve stops at its next tick")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("medic: scheduled checks and alerts stopped: database ")
                && stderr.contains("took over this database"),
            "{stderr}"
        );
        assert!(
            stderr.contains("shutting down"),
            "the bot was stopped, not cut off: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        fake.assert_valid_bodies();
    });
}

/// An endpoint that fails while `down` is set, recording when each check ran.
#[derive(Default)]
struct Flipper {
    down: AtomicBool,
    starts: Mutex<Vec<std::time::Instant>>,
}

impl Probe for Flipper {
    async fn probe(&self, _target: &Target) -> Observation {
        self.starts.lock().unwrap().push(std::time::Instant::now());
        if self.down.load(Ordering::SeqCst) {
            fail(0)
        } else {
            ok(0)
        }
    }
}

/// Another process holds the database locked (`BEGIN EXCLUSIVE`) for 8 s while the endpoint
/// goes down and up twice: the checks keep their rate (SQLite's busy wait runs off the async
/// workers), and once the lock is gone every delivered alert has its incident row, although
/// both incidents opened and closed while nothing could be written.
#[test]
fn a_locked_database_neither_stalls_checks_nor_loses_incident_rows() {
    use medic::alerts::probe::Setup;
    use medic::alerts::service;
    use std::time::Instant;

    const INTERVAL: Duration = Duration::from_millis(100);
    const LOCKED_FOR: Duration = Duration::from_secs(8);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("medic.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let probe = Arc::new(Flipper::default());
    let sink = FlakySink::default();
    runtime.block_on(async {
        let store = Arc::new(Mutex::new(SqliteStore::open(&db).unwrap()));
        let setup = Setup {
            targets: vec![Target {
                name: "api".into(),
                interval: INTERVAL,
                timeout: Duration::from_secs(1),
            }],
            policies: vec![("api".into(), policy(1, 1, Duration::ZERO))],
            retention: Duration::from_secs(7 * 24 * 3600),
            concurrency: 4,
            placeholders: Vec::new(),
            not_configured: Vec::new(),
            configured: Vec::new(),
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut rx = stopped.clone();
        let (_handle, task) = service::spawn(
            setup,
            probe.clone(),
            sink.clone(),
            store.clone(),
            Arc::new(medic::alerts::SystemClock),
            None,
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The other process: a writer lock held for LOCKED_FOR.
        let locker = rusqlite::Connection::open(&db).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let locked_at = Instant::now();
        for (down, after) in [(true, 1000), (false, 1500), (true, 1500), (false, 1500)] {
            tokio::time::sleep(Duration::from_millis(after)).await;
            probe.down.store(down, Ordering::SeqCst);
        }
        tokio::time::sleep(LOCKED_FOR.saturating_sub(locked_at.elapsed())).await;
        let unlocked_at = Instant::now();
        locker.execute_batch("ROLLBACK").unwrap();
        drop(locker);
        // Give the queued results time to be written and their alerts delivered.
        let deadline = Instant::now() + Duration::from_secs(20);
        while sink.sent.lock().unwrap().len() < 4 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();

        let during = probe
            .starts
            .lock()
            .unwrap()
            .iter()
            .filter(|t| **t >= locked_at && **t < unlocked_at)
            .count();
        let expected = (unlocked_at - locked_at).as_millis() / INTERVAL.as_millis();
        assert!(
            during as f64 >= 0.9 * expected as f64,
            "{during} checks while the database was locked, {expected} expected"
        );
    });
    let sent = sink.sent.lock().unwrap().clone();
    assert_eq!(
        kinds(&sent),
        [
            AlertKind::Down,
            AlertKind::Recovered,
            AlertKind::Down,
            AlertKind::Recovered
        ]
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut rows: Vec<(i64, Option<i64>)> = conn
        .prepare("SELECT started_at, closed_at FROM incidents WHERE endpoint = 'api' ORDER BY started_at")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    let downs: Vec<i64> = sent
        .iter()
        .filter(|a| a.kind == AlertKind::Down)
        .map(|a| a.since.unwrap())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        downs,
        "one incident row per DOWN"
    );
    for (row, rec) in rows
        .iter()
        .zip(sent.iter().filter(|a| a.kind == AlertKind::Recovered))
    {
        assert_eq!(row.1, Some(rec.since.unwrap() + rec.downtime_ms.unwrap()));
    }
}
