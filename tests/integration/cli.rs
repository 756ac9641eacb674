//! The built `medic` binary: diagnose (text, JSON, streaming batch), kb commands, exit codes;
//! and what it prints facing hostile servers (control characters, the Discord token), bounds
//! in `config check`, `status` on stopped or missing databases.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use support::{medic_async, medic_in, HttpServer, Reply};

fn medic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(args)
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .env_remove("MEDIC_CONFIG")
        .output()
        .expect("run medic")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn diagnose_prints_title_summary_steps_and_why() {
    let o = medic(&["diagnose", "429", "Too", "Many", "Requests"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("429 · Too Many Requests  [http-429]"),
        "{out}"
    );
    assert!(out.contains("\n  1. "), "{out}");
    assert!(out.contains("Retry-After"), "{out}");
    assert!(out.contains("Related: "), "{out}");
    assert!(out.contains("Why: code \"429\""), "{out}");
}

#[test]
fn diagnose_json_has_the_documented_shape() {
    let o = medic(&[
        "diagnose", "--json", "--top", "2", "our", "calls", "are", "rate", "limted:", "HTTP 429",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["query"], "our calls are rate limted: HTTP 429");
    assert_eq!(v["codes"][0], "429");
    let matches = v["matches"].as_array().unwrap();
    assert!(!matches.is_empty() && matches.len() <= 2);
    assert_eq!(matches[0]["id"], "http-429");
    assert_eq!(matches[0]["title"], "429 · Too Many Requests");
    let score = matches[0]["score"].as_f64().unwrap();
    assert!(score > 0.5 && score <= 1.0);
    let reasons = matches[0]["reasons"].as_array().unwrap();
    assert!(reasons
        .iter()
        .any(|r| r["kind"] == "code" && r["term"] == "429"));
    assert!(
        reasons.iter().any(|r| r["matched"] == "rate limted"),
        "{reasons:?}"
    );
}

#[test]
fn chit_chat_gets_an_empty_result_and_exit_zero() {
    let o = medic(&["diagnose", "--json", "room 404 at 3pm"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["matches"], serde_json::json!([]));
    let o = medic(&["diagnose", "good", "morning"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("No confident answer"),
        "{}",
        stdout(&o)
    );
}

/// `medic diagnose --json --batch` with piped stdin and stdout.
fn batch_child() -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["diagnose", "--json", "--batch"])
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn batch_streams_one_result_per_line_in_order() {
    let mut child = batch_child();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Streaming: the answer to the first line arrives while stdin is still open.
    writeln!(
        stdin,
        r#"{{"text": "ECONNREFUSED 127.0.0.1:5432", "id": 7}}"#
    )
    .unwrap();
    stdin.flush().unwrap();
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["matches"][0]["id"], "connection-refused");
    writeln!(stdin, "not json").unwrap();
    writeln!(stdin, r#"{{"text": "see you tomorrow"}}"#).unwrap();
    writeln!(
        stdin,
        r#"{{"text": "x509: certificate signed by unknown authority"}}"#
    )
    .unwrap();
    drop(stdin);
    let rest: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest.len(), 3);
    assert!(rest[0]["error"].as_str().unwrap().starts_with("line 2: "));
    assert_eq!(rest[1]["matches"], serde_json::json!([]));
    assert_eq!(rest[2]["matches"][0]["id"], "tls-untrusted-certificate");
}

#[test]
fn huge_and_binary_arguments_are_handled() {
    let huge = format!("{} 503 service unavailable", "lorem ipsum ".repeat(10_000));
    let o = medic(&["diagnose", "--json", &huge]);
    assert!(o.status.success());
    let o = medic(&["diagnose", "\u{202e}x\u{feff}🙂 **bold** `code` \u{7}"]);
    assert!(o.status.success());
}

#[test]
fn kb_list_show_export() {
    let o = medic(&["kb", "list"]);
    assert!(o.status.success());
    let list = stdout(&o);
    assert!(list
        .lines()
        .any(|l| l.starts_with("http-429") && l.contains("Too Many Requests")));
    let o = medic(&["kb", "show", "dns-resolution-failure"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("Steps:"));
    let o = medic(&["kb", "export", "--json"]);
    assert!(o.status.success());
    let all: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(all.len(), list.lines().count());
    for field in [
        "id", "title", "summary", "codes", "keywords", "steps", "related",
    ] {
        assert!(all.iter().all(|e| !e[field].is_null()), "field {field}");
    }
}

#[test]
fn exit_codes_for_bad_usage_and_bad_files() {
    let o = medic(&["kb", "show", "no-such-id"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no knowledge entry with id `no-such-id`"));
    let o = medic(&["diagnose"]);
    assert_eq!(o.status.code(), Some(2));
    let o = medic(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "id = \"broken\"\nsteps = [\n",
    )
    .unwrap();
    let o = medic(&["kb", "lint", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("broken.toml:"), "{}", stderr(&o));
    // The same directory given as --knowledge refuses to start rather than half-load.
    let o = medic(&[
        "--knowledge",
        dir.path().to_str().unwrap(),
        "diagnose",
        "429",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = medic(&["kb", "lint", "/nonexistent-medic-dir"]);
    assert_eq!(o.status.code(), Some(2));

    let o = medic(&[
        "kb",
        "lint",
        concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The shipped catalogue, checked on its own as the built-in catalogue.
    let o = medic(&[
        "kb",
        "lint",
        "--standalone",
        concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("entries, no problems"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn knowledge_dir_from_the_environment_adds_entries() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sftp-drop-empty.toml"),
        "id = \"sftp-drop-empty\"\ntitle = \"Partner SFTP drop is empty\"\n\
         summary = \"The nightly partner file did not arrive.\"\ncodes = [\"SFTP_EMPTY_DROP\"]\n\
         steps = [\"List the inbox: `sftp -b - partner@example.org <<< 'ls -l inbox'`.\"]\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["diagnose", "--json", "SFTP_EMPTY_DROP again"])
        .env("MEDIC_KNOWLEDGE_DIR", dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["matches"][0]["id"], "sftp-drop-empty");
}

// ---------------------------------------------------------------- hostile servers

/// `medic` in `dir` with `env`, stdin closed.
/// C0/C1 controls other than newline and tab, and bidi overrides, in `bytes`.
fn terminal_controls(bytes: &[u8]) -> Vec<char> {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| {
            (c.is_control() && *c != '\n' && *c != '\t')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_control_characters_never_reach_the_terminal() {
    let s = HttpServer::start().await;
    // Repaints the line as a success, retitles the window, rings, backspaces, flips the text.
    let paint = "\u{1b}[2K\r\u{1b}[32m✔ all good\u{1b}[0m\u{1b}]0;owned\u{7}\u{8}\u{8}\u{202E}lave\u{9b}31m";
    s.route("/html", Reply::html(200, paint));
    let token = HttpServer::start().await;
    token.set_default(Reply::json(
        401,
        &serde_json::json!({"error": "invalid_client\u{1b}[8m", "error_description": paint})
            .to_string(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[[endpoints]]\nname = \"html\"\nurl = \"{}\"\nexpect_content_type = \"application/json\"\n\n\
         [[endpoints]]\nname = \"oauth\"\nurl = \"{}\"\n\
         auth = {{ kind = \"oauth2_client_credentials\", token_url = \"{}\", client_id_env = \"CI\", client_secret_env = \"CS\" }}\n",
        s.url("/html"),
        s.url("/ok"),
        token.url("/token")
    );
    std::fs::write(dir.path().join("medic.toml"), toml).unwrap();
    let env = [("CI", "client-id-1"), ("CS", "client-secret-1")];
    for args in [
        vec!["check", "html"],
        vec!["check", "oauth"],
        vec!["check", "--all"],
        vec!["check", "--all", "--json"],
    ] {
        let o = medic_async(dir.path(), &args, &env).await;
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("all good") || out.contains("lave"),
            "{args:?}: the body is quoted: {out}"
        );
        assert_eq!(
            terminal_controls(&o.stdout),
            Vec::<char>::new(),
            "{args:?} stdout: {out:?}"
        );
        assert_eq!(
            terminal_controls(&o.stderr),
            Vec::<char>::new(),
            "{args:?} stderr"
        );
        if args.contains(&"--json") {
            // Not even escaped: the JSON's strings hold no control character either.
            assert!(
                !out.contains("\\u001b") && !out.contains("\\u0007"),
                "{out}"
            );
        }
    }
}

/// A Discord bot token (three dot-separated parts, as serenity checks).
const BOT_TOKEN: &str = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GxYzAb.Q1w2E3r4T5y6U7i8O9p0AsDfGhJkLzXcVbNm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_errors_never_show_the_discord_token() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(BOT_TOKEN);
    let pct: String = BOT_TOKEN.bytes().map(|b| format!("%{b:02x}")).collect();
    let cut = &BOT_TOKEN[..BOT_TOKEN.len() - 4];
    // Four ways a REST base can fail, each quoting the Authorization header it was sent.
    let modes: Vec<(&str, Reply)> = vec![
        (
            "401 json",
            Reply::json(
                401,
                &format!(
                    r#"{{"message":"401: Unauthorized (Authorization: Bot {BOT_TOKEN})","code":0}}"#
                ),
            ),
        ),
        (
            "500 json",
            Reply::json(
                500,
                &format!(
                    r#"{{"message":"upstream saw Bot {b64} / {}","code":0}}"#,
                    BOT_TOKEN.to_lowercase()
                ),
            ),
        ),
        (
            "502 text",
            Reply::body(
                502,
                "text/plain",
                format!("bad gateway for authorization=Bot%20{pct}").into_bytes(),
            ),
        ),
        (
            "200 not json",
            Reply::body(
                200,
                "application/json",
                format!("{{not json: Bot {cut}").into_bytes(),
            ),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("medic.toml"), "").unwrap();
    let mut forbidden = support::hostile::Forbidden::default();
    forbidden.add(BOT_TOKEN, &b64).add(BOT_TOKEN, &pct);
    for (mode, reply) in modes {
        let s = HttpServer::start().await;
        s.set_default(reply);
        let db = dir.path().join(format!("{}.db", mode.replace(' ', "-")));
        let o = medic_async(
            dir.path(),
            &["serve"],
            &[
                ("DISCORD_TOKEN", BOT_TOKEN),
                ("DISCORD_API_BASE", &s.url("")),
                ("MEDIC_DB", db.to_str().unwrap()),
                ("RUST_LOG", "debug"),
            ],
        )
        .await;
        assert_eq!(o.status.code(), Some(1), "{mode}: {}", stderr(&o));
        assert!(s.hits() > 0, "{mode}: the REST base was asked");
        let err = stderr(&o);
        assert!(err.contains("DISCORD_API_BASE"), "{mode}: {err}");
        forbidden.assert_absent(&format!("{mode}: stderr"), &err);
        forbidden.assert_absent(&format!("{mode}: stdout"), &stdout(&o));
    }
}

// ---------------------------------------------------------------- configuration and files

#[test]
fn config_check_refuses_a_one_millisecond_reminder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        "[alerts]\nremind_every = \"1ms\"\n",
    )
    .unwrap();
    let o = medic_in(dir.path(), &["config", "check"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("medic.toml:2:16: remind_every: `1ms` is too short; allowed: 0 or \"never\""),
        "{err}"
    );
}

#[test]
fn chat_starts_on_a_broken_config_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    // The README's setup with secrets not filled in yet, plus a typo.
    std::fs::write(
        dir.path().join("medic.toml"),
        "[[endpoints]]\nname = \"payments-api\"\nurl = \"https://127.0.0.1:9/health\"\nauth = { kind = \"bearer\", token_env = \"PAYMENTS_TOKEN\" }\ntimeuot = \"5s\"\n",
    )
    .unwrap();
    let o = support::chat_in(
        dir.path(),
        "/help\nwhat does 422 mean\n/check payments-api\nlunch?\n",
        &[],
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("/endpoints"), "help is answered: {out}");
    assert!(out.contains("[http-422]"), "{out}");
    assert!(
        !out.contains("medic kb list"),
        "a chat user is told chat commands: {out}"
    );
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert!(err.contains("medic config check"), "{err}");
}

#[test]
fn invalid_utf8_in_config_and_knowledge_files_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        b"[[endpoints]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\xff\"\n",
    )
    .unwrap();
    let o = medic_in(dir.path(), &["config", "check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("medic.toml:3: not valid UTF-8"),
        "{}",
        stderr(&o)
    );

    let kb = dir.path().join("kb");
    std::fs::create_dir(&kb).unwrap();
    std::fs::write(
        kb.join("latin1.toml"),
        b"id = \"latin1\"\ntitle = \"Caf\xe9\"\nsummary = \"s\"\nsteps = [\"x\"]\n",
    )
    .unwrap();
    let o = medic_in(dir.path(), &["kb", "lint", kb.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("latin1.toml:2: not valid UTF-8"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn status_reads_a_stopped_database_without_writing_and_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(
        dir.path().join("medic.toml"),
        format!("[[endpoints]]\nname = \"a\"\nurl = \"http://127.0.0.1:{port}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n[alerts]\nfailure_threshold = 1\n"),
    )
    .unwrap();
    let db = dir.path().join("state.db");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_medic"))
        .current_dir(dir.path())
        .args(["watch", "--db", db.to_str().unwrap()])
        .env_remove("MEDIC_CONFIG")
        .env_remove("DISCORD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The DOWN alert on stdout means a check and an incident are in the database.
    let mut first = String::new();
    BufReader::new(watch.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("DOWN"), "{first}");
    let pid = watch.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert!(watch.wait().unwrap().success());
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let o = medic_in(dir.path(), &["status", "--db", db.to_str().unwrap()], &[]);
    // Exit 1: an endpoint is down.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("down"), "{}", stdout(&o));
    assert_eq!(listing(), before, "status wrote next to the database");

    let o = medic_in(dir.path(), &["status", "--db", "stat.db"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("stat.db does not exist"),
        "{}",
        stderr(&o)
    );
    let o = medic_in(dir.path(), &["status"], &[("MEDIC_DB", "typo.db")]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}

#[test]
fn batch_lines_over_the_cap_get_an_error_and_the_stream_goes_on() {
    let mut child = batch_child();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        writeln!(stdin, r#"{{"text": "HTTP 429 too many requests"}}"#).unwrap();
        // 3 MiB of one line, written in pieces.
        let piece = format!(r#"{{"text": "{}"#, "a".repeat(64 * 1024));
        for _ in 0..48 {
            stdin.write_all(piece.as_bytes()).unwrap();
        }
        stdin.write_all(b"\"}\n").unwrap();
        writeln!(stdin, r#"{{"text": "ECONNREFUSED 127.0.0.1:5432"}}"#).unwrap();
    });
    let lines: Vec<serde_json::Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["matches"][0]["id"], "http-429");
    let err = lines[1]["error"].as_str().unwrap();
    assert!(err.starts_with("line 2: longer than 1024 KiB"), "{err}");
    assert_eq!(lines[2]["matches"][0]["id"], "connection-refused");
}
