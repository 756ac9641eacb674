//! Running medic as a new operator does (issue 10): the README's set-up from a temp dir, every
//! config error in one run, an endpoint with an unset secret beside good ones, `status` exit
//! codes and times, and alerts operated from the CLI while `watch` runs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{chat_in, http_get, medic_async, medic_in, samples, HttpServer, Reply};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn the_readme_setup_works_from_a_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_file("medic.example.toml"),
        dir.path().join("medic.toml"),
    )
    .unwrap();
    std::fs::copy(repo_file(".env.example"), dir.path().join(".env")).unwrap();
    let o = chat_in(dir.path(), "/help\n/endpoints\n/check payments-api\n", &[]);
    let out = stdout(&o);
    assert!(out.contains("/endpoints"), "{out}");
    // The example's endpoints need secrets .env leaves empty: listed as not configured, with
    // the variable's name, and /check says why instead of probing.
    assert!(out.contains("not configured"), "{out}");
    assert!(out.contains("PAYMENTS_TOKEN"), "{out}");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // `config check` stays strict: every problem, exit 2.
    let o = medic_in(dir.path(), &["config", "check"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let located = stderr(&o)
        .lines()
        .filter(|l| l.contains("medic.toml:") && l.contains("is empty"))
        .count();
    assert!(located >= 5, "{}", stderr(&o));
}

#[test]
fn five_mistakes_are_five_located_errors_in_one_run_sorted_by_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        r#"[alerts]
remind_evry = "1h"

[[endpoints]]
name = "a"
url = "https://a.example"
timout = "5s"
interval = 30

[[endpoints]]
name = "b"
url = "ftp://b.example"
expect_json = "yes"

[checks]
concurency = 4
"#,
    )
    .unwrap();
    let o = medic_in(dir.path(), &["config", "check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let lines: Vec<(usize, usize)> = err
        .lines()
        .filter_map(|l| {
            let rest = l
                .trim_start_matches("medic: ")
                .strip_prefix("medic.toml:")?;
            let mut parts = rest.splitn(3, ':');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(lines.len(), 6, "{err}");
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "{err}");
    assert!(err.contains("did you mean `alerts.remind_every`?"), "{err}");
    assert!(err.contains("did you mean `timeout`?"), "{err}");
    assert!(
        err.contains("interval: expected a duration like \"30s\", got the number 30"),
        "{err}"
    );
    assert!(err.contains("url: scheme `ftp` is not supported"), "{err}");
    assert!(
        err.contains("expect_json: expected true or false, got the text `yes`"),
        "{err}"
    );
    assert!(err.contains("did you mean `checks.concurrency`?"), "{err}");
}

fn two_endpoints(dir: &Path, good_url: &str) {
    std::fs::write(
        dir.join("medic.toml"),
        format!(
            "[[endpoints]]\nname = \"good\"\nurl = \"{good_url}\"\n\n[[endpoints]]\nname = \"payments-api\"\nurl = \"{good_url}\"\nauth = {{ kind = \"bearer\", token_env = \"PAYMENTS_TOKEN\" }}\n"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_secret_leaves_one_endpoint_out_and_the_others_are_checked() {
    let server = HttpServer::start().await;
    server.route("/health", Reply::json(200, "{\"ok\":true}"));
    let dir = tempfile::tempdir().unwrap();
    two_endpoints(dir.path(), &server.url("/health"));

    let o = medic_async(dir.path(), &["check", "good"], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("good"), "{}", stdout(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    let o = medic_async(dir.path(), &["check", "payments-api"], &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`payments-api` is not configured")
            && stderr(&o).contains("PAYMENTS_TOKEN"),
        "{}",
        stderr(&o)
    );

    let o = medic_async(dir.path(), &["check", "--all"], &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("✔ good"), "{out}");
    assert!(out.contains("payments-api  NOT CONFIGURED"), "{out}");

    let o = medic_async(dir.path(), &["check", "--all", "--json"], &[]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["status"], "ok");
    assert_eq!(v[1]["status"], "not_configured");
    assert_eq!(v[1]["endpoint"], "payments-api");

    // With the secret set, both are checked; its value appears nowhere.
    let secret = "tok-3f9a8b7c6d5e4f";
    let o = medic_async(
        dir.path(),
        &["check", "--all"],
        &[("PAYMENTS_TOKEN", secret)],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(!stdout(&o).contains(secret) && !stderr(&o).contains(secret));
}

/// Starts `medic watch` in `dir`, returning it and its stdout lines as they come.
fn watch(dir: &Path, db: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medic"))
        .current_dir(dir)
        .args(["watch", "--db"])
        .arg(db)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_DB")
        .env_remove("DISCORD_TOKEN")
        .env_remove("PAYMENTS_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Lines until one contains `what` (panics after `within`); the lines read.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, what: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {what:?} within {within:?}: {seen:#?}");
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn alerts_are_operated_from_the_cli_while_watch_runs() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(
        dir.path().join("medic.toml"),
        format!(
            "[alerts]\nfailure_threshold = 1\n\n[[endpoints]]\nname = \"api\"\nurl = \"http://127.0.0.1:{port}/v1/health?api_key=k-5a4b3c2d1e\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\n[[endpoints]]\nname = \"payments-api\"\nurl = \"http://127.0.0.1:{port}/\"\nauth = {{ kind = \"bearer\", token_env = \"PAYMENTS_TOKEN\" }}\n"
        ),
    )
    .unwrap();
    let db = dir.path().join("state.db");
    // Before any watch ran, a silence is applied straight to the database.
    let o = medic_in(
        dir.path(),
        &[
            "silence",
            "api",
            "--for",
            "2h",
            "--reason",
            "partner maintenance",
            "--db",
            db.to_str().unwrap(),
        ],
        &[("USER", "alice")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("silenced `api` until"),
        "{}",
        stdout(&o)
    );
    let o = medic_in(dir.path(), &["silences", "--db", db.to_str().unwrap()], &[]);
    assert!(
        stdout(&o).contains("api  until")
            && stdout(&o).contains("by alice (cli): partner maintenance"),
        "{}",
        stdout(&o)
    );
    let o = medic_in(
        dir.path(),
        &["unsilence", "api", "--db", db.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("lifted the silence on `api`"));

    let (child, rx) = watch(dir.path(), &db);
    // The endpoint with an unset secret is announced once; the other is watched.
    let seen = wait_for(&rx, "DOWN api", Duration::from_secs(20));
    let all = seen.join("\n");
    assert!(
        all.contains("WARNING payments-api") && all.contains("not configured"),
        "{all}"
    );
    // DOWN carries the masked URL: no password, no key.
    let details = wait_for(&rx, "url:", Duration::from_secs(5)).join("\n");
    assert!(details.contains("/v1/health"), "{details}");
    assert!(!details.contains("k-5a4b3c2d1e"), "{details}");

    // While watch runs: ack, silence, unsilence go through its database and come back.
    let o = medic_in(
        dir.path(),
        &["ack", "api", "--db", db.to_str().unwrap()],
        &[("USER", "bob")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("acknowledged `api`"), "{}", stdout(&o));
    let o = medic_in(
        dir.path(),
        &["ack", "api", "--db", db.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("already acknowledged by bob (cli)"),
        "{}",
        stderr(&o)
    );

    let o = medic_in(
        dir.path(),
        &[
            "silence",
            "api",
            "--for",
            "1h",
            "--db",
            db.to_str().unwrap(),
        ],
        &[("USER", "carol")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = medic_in(dir.path(), &["silences", "--db", db.to_str().unwrap()], &[]);
    assert!(stdout(&o).contains("by carol (cli)"), "{}", stdout(&o));
    let o = medic_in(
        dir.path(),
        &["unsilence", "api", "--db", db.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = medic_in(
        dir.path(),
        &["unsilence", "api", "--db", db.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`api` is not silenced"),
        "{}",
        stderr(&o)
    );
    // An endpoint that is not configured is refused before anything is queued.
    let o = medic_in(
        dir.path(),
        &[
            "silence",
            "nope",
            "--for",
            "1h",
            "--db",
            db.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no endpoint named `nope`"),
        "{}",
        stderr(&o)
    );

    // status: exit 1 while api is down and payments-api is not configured; RFC 3339 times.
    let o = medic_in(
        dir.path(),
        &["status", "--json", "--db", db.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["name"], "api");
    assert_eq!(v[0]["state"], "down");
    let since = v[0]["since"].as_str().expect("since is text");
    assert!(humantime::parse_rfc3339(since).is_ok(), "{since}");
    assert_eq!(v[1]["state"], "not_configured");
    stop(child);
    // A chat beside it shows what watch stored, not "not checked yet".
    let o = chat_in(
        dir.path(),
        "/endpoints\napi is failing again\n",
        &[("MEDIC_DB", db.as_os_str())],
    );
    let out = stdout(&o);
    assert!(
        out.contains("FAIL at") && out.contains("(from the state database)"),
        "{out}"
    );
    assert!(!out.contains("not checked yet"), "{out}");
    assert!(out.contains("/check api"), "{out}");
}

#[test]
fn status_exits_zero_only_when_everything_is_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        "[[endpoints]]\nname = \"quiet\"\nurl = \"http://127.0.0.1:9/\"\n",
    )
    .unwrap();
    // Nothing known yet is not "down".
    let o = medic_in(dir.path(), &["status"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let help = stdout(&medic_in(dir.path(), &["status", "--help"], &[]));
    assert!(help.contains("Exit status"), "{help}");
}

#[test]
fn ascii_symbols_when_the_locale_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        "[[endpoints]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/\"\n",
    )
    .unwrap();
    let o = medic_in(dir.path(), &["check", "x"], &[("LC_ALL", "C")]);
    assert!(stdout(&o).starts_with("x x  "), "{}", stdout(&o));
    assert!(!stdout(&o).contains('✖'), "{}", stdout(&o));
    let o = medic_in(dir.path(), &["check", "x"], &[("LC_ALL", "en_US.UTF-8")]);
    assert!(stdout(&o).starts_with("✖ x  "), "{}", stdout(&o));
}

#[test]
fn watch_reloads_its_config_on_sighup_and_keeps_the_old_one_when_the_new_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let endpoint = |name: &str| {
        format!("\n[[endpoints]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n")
    };
    let config = dir.path().join("medic.toml");
    let first = format!("[alerts]\nfailure_threshold = 1\n{}", endpoint("first"));
    std::fs::write(&config, &first).unwrap();
    let db = dir.path().join("state.db");
    let (child, rx) = watch(dir.path(), &db);
    wait_for(&rx, "DOWN first", Duration::from_secs(20));

    // A broken file is refused: watching goes on with the old one.
    std::fs::write(&config, format!("{first}\ntimout = \"5s\"\n[alerts\n")).unwrap();
    let hup = |child: &std::process::Child| {
        assert!(Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    hup(&child);
    std::thread::sleep(Duration::from_secs(3));
    assert!(child_alive(&child), "a broken reload must not stop watch");

    // A good one adds the new endpoint; the open incident of the first is not re-announced.
    std::fs::write(&config, format!("{first}{}", endpoint("second"))).unwrap();
    hup(&child);
    let seen = wait_for(&rx, "DOWN second", Duration::from_secs(20));
    assert!(!seen.iter().any(|l| l.contains("DOWN first")), "{seen:#?}");
    // Removing an endpoint closes its open incident, said once.
    std::fs::write(
        &config,
        format!("[alerts]\nfailure_threshold = 1\n{}", endpoint("second")),
    )
    .unwrap();
    hup(&child);
    let seen = wait_for(
        &rx,
        "removed from the configuration",
        Duration::from_secs(20),
    );
    assert!(seen.last().unwrap().contains("WARNING first"), "{seen:#?}");
    stop(child);
    let o = medic_in(
        dir.path(),
        &["status", "--json", "--db", db.to_str().unwrap()],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["name"], "second");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let open: i64 = conn
        .query_row(
            "SELECT count(*) FROM incidents WHERE endpoint = 'first' AND closed_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0, "the removed endpoint's incident is closed");
}

fn child_alive(child: &std::process::Child) -> bool {
    Path::new(&format!("/proc/{}", child.id())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn chat_silences_and_unsilences_through_the_state_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        "[[endpoints]]\nname = \"billing\"\nurl = \"http://127.0.0.1:9/\"\ninterval = \"1m\"\n",
    )
    .unwrap();
    let db = dir.path().join("state.db");
    let env = [("MEDIC_DB", db.as_os_str()), ("USER", "dana".as_ref())];
    let chat = |input: &str| stdout(&chat_in(dir.path(), input, &env));
    let out = chat("/silence billing 2h partner deploy\n/silence nope 1h\n/silence billing\n");
    assert!(out.contains("silenced `billing` until"), "{out}");
    assert!(out.contains("by dana (cli): partner deploy"), "{out}");
    assert!(out.contains("No endpoint named `nope`"), "{out}");
    assert!(out.contains("Usage: /silence NAME DURATION"), "{out}");
    let listed = stdout(&medic_in(
        dir.path(),
        &["silences", "--db", db.to_str().unwrap()],
        &[],
    ));
    assert!(listed.contains("billing  until"), "{listed}");
    let out = chat("/unsilence billing\n/ack billing\n");
    assert!(out.contains("lifted the silence on `billing`"), "{out}");
    assert!(
        out.contains("`billing` is not down: nothing to acknowledge"),
        "{out}"
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        "[[endpoints]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/\"\n",
    )
    .unwrap();
    // Piped output: no colour by default.
    let o = medic_in(dir.path(), &["check", "x"], &[]);
    assert!(!stdout(&o).contains('\u{1b}'), "{}", stdout(&o));
    let o = medic_in(dir.path(), &["--color", "always", "check", "x"], &[]);
    let out = stdout(&o);
    assert!(
        out.contains("\u{1b}[31m")
            || out.contains("\u{1b}[1m\u{1b}[31m")
            || out.contains("\u{1b}[1;31m"),
        "{out:?}"
    );
    let o = medic_in(dir.path(), &["check", "x", "--color", "never"], &[]);
    assert!(!stdout(&o).contains('\u{1b}'));
    let o = medic_in(dir.path(), &["check", "x", "--color", "sometimes"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_all_prints_each_endpoint_as_it_finishes_then_the_failures_in_full() {
    let server = HttpServer::start().await;
    server.route("/fast", Reply::json(200, "{}"));
    server.route(
        "/slow",
        Reply::json(503, "{}").slow(Duration::from_millis(800)),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        format!(
            "[[endpoints]]\nname = \"slow\"\nurl = \"{}\"\n\n[[endpoints]]\nname = \"fast\"\nurl = \"{}\"\n",
            server.url("/slow"),
            server.url("/fast")
        ),
    )
    .unwrap();
    let o = medic_async(dir.path(), &["check", "--all"], &[]).await;
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // The fast one is done first and printed first, each on one line.
    assert!(
        lines[0].starts_with("✔ fast  ") && lines[0].contains("OK in"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("✖ slow  ") && lines[1].contains("HTTP: 503 Service Unavailable"),
        "{out}"
    );
    // Then the failure in full (its stages and steps), not the healthy one.
    assert!(out.contains("  ✖ HTTP "), "{out}");
    assert_eq!(
        out.matches("  ✔ DNS").count(),
        1,
        "only the failing report in full: {out}"
    );
    assert!(
        out.contains("2 endpoints: 1 ok, 0 warning, 1 failing"),
        "{out}"
    );
}

#[test]
fn watch_serves_health_readiness_and_metrics_that_move_as_checks_run() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(
        dir.path().join("medic.toml"),
        format!("[alerts]\nfailure_threshold = 1\n\n[[endpoints]]\nname = \"api\"\nurl = \"http://127.0.0.1:{port}/?api_key=k-77a1b2c3d4\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n"),
    )
    .unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = free.local_addr().unwrap().port();
    drop(free);
    let db = dir.path().join("state.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_medic"))
        .current_dir(dir.path())
        .args(["watch", "--http", &format!("127.0.0.1:{http_port}"), "--db"])
        .arg(&db)
        .env_remove("MEDIC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("DOWN api"), "{first}");

    assert_eq!(http_get(http_port, "/healthz"), (200, "ok\n".into()));
    assert_eq!(http_get(http_port, "/readyz").0, 200);
    assert_eq!(http_get(http_port, "/nope").0, 404);
    let (status, text) = http_get(http_port, "/metrics");
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE medic_checks_total counter"), "{text}");
    assert!(
        text.contains("# TYPE medic_stage_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        !text.contains("k-77a1b2c3d4") && !text.contains("api_key"),
        "{text}"
    );
    let before = samples(&text);
    let failed = "medic_checks_total{endpoint=\"api\",result=\"fail\"}";
    assert!(before[failed] >= 1.0, "{text}");
    assert_eq!(before["medic_open_incidents"], 1.0, "{text}");
    assert_eq!(before["medic_scheduler_lease_held"], 1.0, "{text}");
    assert_eq!(before["medic_store_up"], 1.0, "{text}");
    assert!(
        before["medic_alerts_total{outcome=\"delivered\"}"] >= 1.0,
        "{text}"
    );
    assert!(
        before["medic_stage_duration_seconds_count{stage=\"tcp\"}"] >= 1.0,
        "{text}"
    );
    // Checks go on: the counters move.
    std::thread::sleep(Duration::from_millis(2500));
    let after = samples(&http_get(http_port, "/metrics").1);
    assert!(after[failed] > before[failed], "{after:?}");
    stop(child);
}
