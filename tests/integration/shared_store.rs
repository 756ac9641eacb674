//! The Postgres backend, on a real server the tests start: the same behaviour as SQLite through
//! the monitor, several `medic watch` instances sharing endpoints through leases (one killed
//! with SIGKILL), CLI commands against a `postgres://` URL, and no password in any output.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medic::alerts::monitor::Monitor;
use medic::alerts::{ManualClock, Millis, Observation, Policy};
use medic::store::model::{Feedback, FeedbackKind, RequestKind, RequestResult};
use medic::store::{PostgresStore, SharedStore, SqliteStore};

use crate::support::pg::Postgres;
use crate::support::switch::{self, alert_kind, SwitchServer, Watch};

const T0: Millis = 1_800_000_000_000;
const MIN: Millis = 60_000;
const HOUR: Millis = 60 * MIN;

fn fail(at: Millis) -> Observation {
    let mut o = Observation::fail(at, "http", "HTTP 503 Service Unavailable");
    o.cause.entry = Some("http-503".into());
    o
}

fn ok(at: Millis) -> Observation {
    Observation::ok(at, (at / MIN % 7 + 10) as u64)
}

fn open(store: &SharedStore, clock: Arc<ManualClock>) -> Monitor {
    let policy = Policy {
        failure_threshold: 2,
        success_threshold: 1,
        remind_every: Duration::from_secs(3600),
        ..Policy::default()
    };
    Monitor::open(
        store.clone(),
        clock,
        &[("api".into(), policy), ("db".into(), policy)],
        Duration::from_secs(7 * 24 * 3600),
        None,
    )
    .unwrap()
}

/// One scenario through the monitor and the store; what it saw, free of random ids.
fn scenario(store: SharedStore) -> Vec<String> {
    let mut seen = Vec::new();
    let mut note = |what: &str, v: String| seen.push(format!("{what}: {v}"));
    let clock = Arc::new(ManualClock::new(T0));
    let kinds = |a: Vec<medic::alerts::Alert>| -> String {
        format!("{:?}", a.iter().map(|a| a.kind).collect::<Vec<_>>())
    };
    {
        let mut m = open(&store, clock.clone());
        note("ok", kinds(m.observe("api", &ok(T0)).unwrap()));
        note("fail", kinds(m.observe("api", &fail(T0 + MIN)).unwrap()));
        note(
            "down",
            kinds(m.observe("api", &fail(T0 + 2 * MIN)).unwrap()),
        );
        // Stops without a clean shutdown.
    }
    clock.set(T0 + 2 * HOUR);
    let mut m = open(&store, clock.clone());
    note(
        "state after restart",
        m.engine().state("api").unwrap().state_word().into(),
    );
    note("tick before a check", kinds(m.tick().unwrap()));
    note(
        "reminder",
        kinds(m.observe("api", &fail(T0 + 2 * HOUR)).unwrap()),
    );
    let ack = m.acknowledge("api", T0 + MIN, "ada").unwrap().unwrap();
    note("ack", format!("{} {}", ack.by, ack.at));
    let s = m
        .silence("db", "grace", "maintenance", Duration::from_secs(1800))
        .unwrap();
    note("silence", format!("{} {} {}", s.endpoint, s.from, s.until));
    note(
        "held",
        kinds(m.observe("db", &fail(T0 + 2 * HOUR + MIN)).unwrap()),
    );
    note(
        "held 2",
        kinds(m.observe("db", &fail(T0 + 2 * HOUR + 2 * MIN)).unwrap()),
    );
    note(
        "unsilence",
        format!("{:?}", m.unsilence("db").unwrap().map(|s| s.author)),
    );
    note(
        "recovered",
        kinds(m.observe("api", &ok(T0 + 2 * HOUR + 3 * MIN)).unwrap()),
    );
    note(
        "status",
        format!(
            "{:?}",
            m.status()
                .unwrap()
                .iter()
                .map(|s| (
                    s.name.clone(),
                    s.state,
                    s.since,
                    s.history.checks_24h,
                    s.history.p50_ms
                ))
                .collect::<Vec<_>>()
        ),
    );
    drop(m);
    let mut s = store.lock().unwrap();
    let outbox = s.outbox().unwrap();
    note(
        "outbox",
        format!(
            "{:?}",
            outbox
                .iter()
                .map(|i| (
                    i.alert.kind,
                    i.alert.endpoint.clone(),
                    i.alert.since,
                    i.alert.downtime_ms
                ))
                .collect::<Vec<_>>()
        ),
    );
    let first = s.next_pending().unwrap().unwrap();
    note(
        "next pending",
        format!("{:?} {}", first.alert.kind, first.alert.endpoint),
    );
    s.mark_failed(first.seq, "HTTP 502 from Discord", Some(T0 + 3 * HOUR))
        .unwrap();
    let again = s.next_pending().unwrap().unwrap();
    note(
        "retry",
        format!(
            "{} {} {:?}",
            again.attempts, again.next_attempt_at, again.last_error
        ),
    );
    s.mark_delivered(again.seq, T0 + 3 * HOUR, Some("m1"))
        .unwrap();
    let next = s.next_pending().unwrap().unwrap();
    s.mark_failed(next.seq, "rejected", None).unwrap();
    note("backlog", format!("{:?}", s.backlog().unwrap()));
    note(
        "alert by id",
        format!("{:?}", s.alert(&first.alert.id).unwrap().map(|a| a.kind)),
    );
    note(
        "incidents api",
        format!("{:?}", s.incidents("api").unwrap()),
    );
    note("incidents db", format!("{:?}", s.incidents("db").unwrap()));
    note("acks", format!("{:?}", s.acks("api", T0 + MIN).unwrap()));
    note(
        "history",
        format!("{:?}", s.history("api", T0 + 2 * HOUR + 4 * MIN).unwrap()),
    );
    note(
        "open silences",
        format!("{:?}", s.open_silences().unwrap().len()),
    );
    for (kind, entry, text) in [
        (FeedbackKind::NotThis, Some("http-503"), None),
        (FeedbackKind::NotThis, Some("http-503"), None),
        (FeedbackKind::Helpful, Some("http-503"), None),
        (FeedbackKind::Unanswered, None, Some("Sync Stopped ")),
        (FeedbackKind::Unanswered, None, Some("sync stopped")),
    ] {
        s.add_feedback(&Feedback {
            at: T0,
            kind,
            entry: entry.map(str::to_string),
            text: text.map(str::to_string),
        })
        .unwrap();
    }
    note("gaps", format!("{:?}", s.gaps(T0 - 1, 10).unwrap()));
    let req = medic::alerts::requests::request(
        RequestKind::Silence,
        "api",
        "cli",
        "deploy",
        Duration::from_secs(600),
    );
    let id = s.add_request(&req).unwrap();
    note(
        "pending requests",
        format!(
            "{:?}",
            s.pending_requests()
                .unwrap()
                .iter()
                .map(|r| (r.kind, r.endpoint.clone(), r.duration_ms))
                .collect::<Vec<_>>()
        ),
    );
    note(
        "result before",
        format!("{:?}", s.request_result(id).unwrap()),
    );
    s.finish_request(
        id,
        T0,
        &RequestResult {
            ok: true,
            message: "done".into(),
        },
    )
    .unwrap();
    note(
        "result after",
        format!("{:?}", s.request_result(id).unwrap()),
    );
    note("checks", s.check_count().unwrap().to_string());
    // Older than the raw window, within the retention: rolled up, and the history reads the same.
    let both: HashSet<String> = ["api".to_string(), "db".to_string()].into();
    s.prune(T0 + 9 * HOUR, Duration::from_secs(7 * 24 * 3600), &both)
        .unwrap();
    note(
        "raw checks after the roll-up",
        s.check_count().unwrap().to_string(),
    );
    note(
        "history from roll-ups",
        format!("{:?}", s.history("api", T0 + 9 * HOUR).unwrap()),
    );
    let configured: HashSet<String> = ["api".to_string()].into();
    let removed = s
        .prune(
            T0 + 30 * 24 * HOUR,
            Duration::from_secs(7 * 24 * 3600),
            &configured,
        )
        .unwrap();
    note("pruned", removed.to_string());
    note("checks after prune", s.check_count().unwrap().to_string());
    note(
        "states after prune",
        format!(
            "{:?}",
            s.load_states()
                .unwrap()
                .iter()
                .map(|(n, _)| n.clone())
                .collect::<Vec<_>>()
        ),
    );
    seen
}

#[test]
fn the_monitor_and_store_behave_the_same_on_sqlite_and_postgres() {
    let pg = Postgres::start();
    let sqlite: SharedStore = Arc::new(Mutex::new(SqliteStore::open_in_memory().unwrap()));
    let postgres: SharedStore = Arc::new(Mutex::new(
        PostgresStore::open(&pg.database(), Duration::from_secs(15)).unwrap(),
    ));
    let on_sqlite = scenario(sqlite);
    let on_postgres = scenario(postgres);
    for (a, b) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(a, b, "SQLite and Postgres differ");
    }
    assert_eq!(on_sqlite.len(), on_postgres.len());
    // And what both saw is right, not merely equal.
    let get = |what: &str| {
        on_postgres
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{what}: ")))
            .unwrap_or_else(|| panic!("{what} missing: {on_postgres:#?}"))
            .to_string()
    };
    assert_eq!(get("down"), "[Down]");
    assert_eq!(get("state after restart"), "down");
    assert_eq!(get("tick before a check"), "[]");
    assert_eq!(get("reminder"), "[Reminder]");
    assert_eq!(get("held 2"), "[]", "a silenced endpoint raises nothing");
    assert_eq!(get("unsilence"), "Some(\"grace\")");
    assert_eq!(get("recovered"), "[Recovered]");
    assert_eq!(
        get("acks"),
        format!("[Ack {{ by: \"ada\", at: {} }}]", T0 + 2 * HOUR)
    );
    assert!(
        get("gaps").contains("(\"sync stopped\", 2)"),
        "{}",
        get("gaps")
    );
    assert!(
        get("gaps").contains("(\"http-503\", 2, 1)"),
        "{}",
        get("gaps")
    );
    assert_eq!(get("checks"), "7");
    assert_eq!(get("raw checks after the roll-up"), "0");
    let rolled = get("history from roll-ups");
    assert!(
        rolled.contains("checks_24h: 5,") && rolled.contains("uptime_24h: Some(40.0)"),
        "{rolled}"
    );
    assert_eq!(get("checks after prune"), "0");
    assert_eq!(
        get("states after prune"),
        "[\"api\"]",
        "the removed endpoint is pruned with its history"
    );
    assert!(
        get("outbox").starts_with("[(Down, \"api\""),
        "{}",
        get("outbox")
    );
}

/// Alert lines of all instances: (endpoint, kind) → how many times it was printed.
fn tally(watches: &[&Watch]) -> BTreeMap<(String, String), usize> {
    let mut n = BTreeMap::new();
    for w in watches {
        for line in &w.stdout {
            let Some(kind) = alert_kind(line) else {
                continue;
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == kind).unwrap();
            *n.entry((words[at + 1].to_string(), kind.to_string()))
                .or_default() += 1;
        }
    }
    n
}

fn count_kind(t: &BTreeMap<(String, String), usize>, kind: &str) -> usize {
    t.iter()
        .filter(|((_, k), _)| k == kind)
        .map(|(_, n)| n)
        .sum()
}

fn owners(client: &mut postgres::Client) -> BTreeMap<String, i64> {
    client
        .query(
            "SELECT owner, count(*) FROM endpoint_leases WHERE owner IS NOT NULL GROUP BY owner",
            &[],
        )
        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        .unwrap_or_default()
}

fn pending(client: &mut postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND NOT dead",
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or(-1)
}

#[test]
fn three_watch_instances_share_300_endpoints_and_alert_every_transition_once_across_a_sigkill() {
    const ENDPOINTS: usize = 300;
    const TTL_S: u64 = 3;
    const INTERVAL_S: u64 = 2;
    let pg = Postgres::start();
    let url = pg.database();
    let server = SwitchServer::start();
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<(String, String)> = (0..ENDPOINTS)
        .map(|i| (format!("ep-{i:03}"), server.url()))
        .collect();
    let config = switch::write_config(dir.path(), &format!("{INTERVAL_S}s"), &names);
    let env = [("MEDIC_LEASE_TTL", "3s"), ("RUST_LOG", "medic=info")];
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut watches: Vec<Watch> = (0..3)
        .map(|i| {
            let args: &[&str] = if i == 1 {
                &["--http", &metrics_addr]
            } else {
                &[]
            };
            Watch::start_with(dir.path(), &config, url.as_ref(), &env, args)
        })
        .collect();
    let mut client = pg.client(&url);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = owners(&mut client);
        if o.len() == 3 && o.values().all(|n| *n == 100) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the endpoints were not shared out evenly: {o:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = scrape(&metrics_addr);
    assert!(
        metrics.contains("# TYPE medic_endpoints_owned gauge"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "medic_endpoints_owned 100"),
        "{metrics}"
    );
    let drain = |watches: &mut [Watch]| {
        for w in watches.iter_mut() {
            w.drain_for(Duration::from_millis(50));
        }
    };
    let wait_for = |watches: &mut Vec<Watch>, kind: &str, n: usize, within: Duration| {
        let deadline = Instant::now() + within;
        loop {
            drain(watches);
            let t = tally(&watches.iter().collect::<Vec<_>>());
            if count_kind(&t, kind) >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} {kind} alerts within {within:?}; stderr of one:\n{}",
                count_kind(&t, kind),
                watches[0]
                    .stderr()
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    };

    server.set_down(true);
    wait_for(&mut watches, "DOWN", ENDPOINTS, Duration::from_secs(90));
    // Every DOWN is delivered (and marked) before the kill: a console line printed but not yet
    // marked when the process dies is printed again by the next owner (Discord's nonce drops
    // that duplicate; stdout has none).
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending(&mut client) != 0 {
        assert!(Instant::now() < deadline, "alerts still pending");
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed_at = Instant::now();
    watches[0].sigkill();
    server.set_down(false);
    wait_for(
        &mut watches,
        "RECOVERED",
        ENDPOINTS,
        Duration::from_secs(90),
    );
    let recovered_after = killed_at.elapsed();
    // A little longer, so that a duplicate would have shown up.
    std::thread::sleep(Duration::from_secs(TTL_S + INTERVAL_S));
    drain(&mut watches);
    let t = tally(&watches.iter().collect::<Vec<_>>());
    for (name, _) in &names {
        for kind in ["DOWN", "RECOVERED"] {
            assert_eq!(
                t.get(&(name.clone(), kind.to_string()))
                    .copied()
                    .unwrap_or(0),
                1,
                "{kind} of {name} printed once across the instances"
            );
        }
    }
    assert_eq!(
        count_kind(&t, "DOWN") + count_kind(&t, "RECOVERED"),
        2 * ENDPOINTS
    );
    // The two survivors took the killed one's endpoints over.
    let o = owners(&mut client);
    assert_eq!(o.values().sum::<i64>(), ENDPOINTS as i64, "{o:?}");
    assert!(o.len() == 2 && o.values().all(|n| *n == 150), "{o:?}");
    let metrics = scrape(&metrics_addr);
    assert!(
        metrics.lines().any(|l| l == "medic_endpoints_owned 150"),
        "{metrics}"
    );
    // The database agrees: each transition is one outbox row, delivered.
    let rows = client
        .query(
            "SELECT endpoint, kind, count(*), count(delivered_at) FROM outbox GROUP BY endpoint, kind",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 2 * ENDPOINTS);
    for r in &rows {
        let (n, delivered): (i64, i64) = (r.get(2), r.get(3));
        assert_eq!(
            (n, delivered),
            (1, 1),
            "{}: {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1)
        );
    }
    // No endpoint went unchecked for longer than its last interval before the kill, the TTL,
    // and the claim period (a fifth of the TTL), plus a second of scheduling slack: the new
    // owner checks an endpoint as soon as it takes it over.
    let gaps = client
        .query(
            "SELECT e.name, max(c.at - c.prev) FROM (
               SELECT endpoint_id, at, lag(at) OVER (PARTITION BY endpoint_id ORDER BY at) AS prev FROM checks
             ) c JOIN endpoints e ON e.id = c.endpoint_id WHERE c.prev IS NOT NULL GROUP BY e.name",
            &[],
        )
        .unwrap();
    assert_eq!(gaps.len(), ENDPOINTS);
    let bound = (TTL_S * 1000 + INTERVAL_S * 1000 + TTL_S * 1000 / 5 + 1000) as i64;
    let worst = gaps.iter().map(|r| r.get::<_, i64>(1)).max().unwrap();
    assert!(
        worst <= bound,
        "an endpoint went {worst} ms without a check (bound {bound} ms)"
    );
    eprintln!("failover: worst gap between checks {worst} ms; all RECOVERED {recovered_after:?} after the SIGKILL");
    for w in &mut watches[1..] {
        assert!(w.stop().success());
    }
    // A clean stop gives every lease back.
    assert!(owners(&mut client).is_empty());
}

/// GET /metrics over a plain socket.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

fn medic(args: &[&str], db: &str, config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("MEDIC_DB", db)
        .env_remove("MEDIC_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn cli_alert_commands_and_status_work_on_a_postgres_url_while_two_instances_run() {
    let pg = Postgres::start();
    let url = pg.database();
    let server = SwitchServer::start();
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<(String, String)> = (0..4).map(|i| (format!("svc-{i}"), server.url())).collect();
    let config = switch::write_config(dir.path(), "1s", &names);
    let env = [("MEDIC_LEASE_TTL", "3s")];
    let mut a = Watch::start_with(dir.path(), &config, url.as_ref(), &env, &[]);
    let mut b = Watch::start_with(dir.path(), &config, url.as_ref(), &env, &[]);
    let mut client = pg.client(&url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while owners(&mut client).values().copied().collect::<Vec<_>>() != [2, 2] {
        assert!(Instant::now() < deadline, "{:?}", owners(&mut client));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Whichever instance owns svc-3 applies the silence; the CLI waits for its answer.
    let out = medic(
        &["silence", "svc-3", "--for", "1h", "--reason", "deploy"],
        &url,
        &config,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("silenced `svc-3` until"), "{said}");
    let out = medic(&["silences"], &url, &config);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("svc-3"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    server.set_down(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let out = medic(&["status", "--json"], &url, &config);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let down = v
            .as_array()
            .map_or(0, |a| a.iter().filter(|s| s["state"] == "down").count());
        if down == 4 {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status[3]["name"], "svc-3");
    assert!(status[3]["silence"]["reason"] == "deploy", "{status}");
    a.drain_for(Duration::from_millis(1500));
    b.drain_for(Duration::from_millis(10));
    let t = tally(&[&a, &b]);
    assert_eq!(
        count_kind(&t, "DOWN"),
        3,
        "the silenced endpoint's DOWN is held: {t:?}"
    );
    assert!(!t.contains_key(&("svc-3".to_string(), "DOWN".to_string())));
    // An ack through the CLI reaches the owner of svc-0 too.
    let out = medic(&["ack", "svc-0"], &url, &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("acknowledged `svc-0`"));
    assert!(a.stop().success() && b.stop().success());
}

#[test]
fn a_postgres_password_never_appears_in_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = SwitchServer::start();
    let config = switch::write_config(dir.path(), "1s", &[("x".into(), server.url())]);
    // A closed loopback port: the connection is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "s3cr%40t-Pa55word";
    let url = format!("postgres://medic:{secret}@127.0.0.1:{port}/medic");
    for args in [&["watch"][..], &["status"], &["silences"]] {
        let out = medic(args, &url, &config);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}: {all}");
        assert!(
            all.contains(&format!("127.0.0.1:{port}")),
            "{args:?} names the database: {all}"
        );
        for leak in [secret, "s3cr@t-Pa55word", "Pa55word"] {
            assert!(!all.contains(leak), "{args:?} leaked the password: {all}");
        }
    }
}
