//! `medic serve --http ADDR --no-gateway`: Discord interactions over HTTP, signed with a key
//! pair of the test's own, against the binary; follow-ups go to the local fake Discord.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use crate::fake_discord::payloads::{self, Invoker};
use crate::fake_discord::FakeDiscord;
use crate::support::{free_port, http_get, http_request, HttpServer, Reply};

const GUILD: u64 = 10;
const CHANNEL: u64 = 20;
const CHECK_ROLE: u64 = 50;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON POST; (status, body).
fn post(port: u16, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let mut headers = headers.to_vec();
    headers.push(("Content-Type", "application/json".to_string()));
    http_request(port, "POST", path, &headers, body)
}

struct Signed<'a> {
    key: &'a SigningKey,
    port: u16,
}

impl Signed<'_> {
    fn send_at(&self, body: &Value, at: u64) -> (u16, String) {
        let body = body.to_string();
        let ts = at.to_string();
        let sig = self.key.sign(format!("{ts}{body}").as_bytes());
        post(
            self.port,
            "/interactions",
            &[
                ("X-Signature-Ed25519", hex(&sig.to_bytes())),
                ("X-Signature-Timestamp", ts),
            ],
            body.as_bytes(),
        )
    }

    fn send(&self, body: &Value) -> (u16, String) {
        self.send_at(body, now())
    }
}

/// A request made with a signer, run off the async workers.
type SignedCall = Box<dyn FnOnce(Signed) -> (u16, String) + Send>;

/// The world a test runs in: a fake Discord, an API whose `/health` answers `health` (bind
/// `api` for as long as it should answer), and `medic.toml` in a temporary folder, written by
/// `config` from that health URL.
struct World {
    fake: FakeDiscord,
    api: HttpServer,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

async fn world(health: u16, config: impl FnOnce(&str) -> String) -> World {
    let fake = FakeDiscord::start().await;
    let api = HttpServer::start().await;
    let ok = health == 200;
    api.route("/health", Reply::json(health, &format!("{{\"ok\":{ok}}}")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.toml");
    std::fs::write(&path, config(&api.url("/health"))).unwrap();
    World {
        fake,
        api,
        dir,
        config: path,
    }
}

/// The test application's public key, in hex (its signing key is `[7; 32]`).
fn test_public_key() -> String {
    hex(SigningKey::from_bytes(&[7u8; 32])
        .verifying_key()
        .as_bytes())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A listening `--no-gateway` replica on one healthy endpoint `api`, and its port.
async fn stateless_replica() -> (World, u16, std::process::Child) {
    let w = world(200, |url| {
        format!("[discord]\ncheck_roles = [{CHECK_ROLE}]\n\n[[endpoints]]\nname = \"api\"\nurl = \"{url}\"\n")
    })
    .await;
    let port = free_port();
    let child = replica(w.dir.path(), &w.fake, &test_public_key(), port, &[]);
    assert!(listening(port).await, "serve --no-gateway did not listen");
    (w, port, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_interactions_are_answered_over_http_and_everything_else_refused() {
    let (
        World {
            fake, api: _api, ..
        },
        port,
        child,
    ) = stateless_replica().await;

    let run = move |f: SignedCall| {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        tokio::task::spawn_blocking(move || f(Signed { key: &key, port }))
    };
    let member = |roles: &[u64]| {
        Invoker::guild_member(GUILD, CHANNEL, payloads::member(30, "alice", roles, 0))
    };

    // PING → PONG.
    let (status, body) = run(Box::new(|s| {
        s.send(&json!({"id": "1", "application_id": "1000", "type": 1, "token": "t", "version": 1}))
    }))
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["type"], 1);

    // /diagnose answers as over the gateway.
    let who = member(&[]);
    let cmd = payloads::command(2, "diagnose", &[("query", "429")], &who);
    let (status, body) = run(Box::new(move |s| s.send(&cmd))).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], 4);
    assert_eq!(v["data"]["embeds"][0]["title"], "429 · Too Many Requests");
    assert_eq!(v["data"]["allowed_mentions"]["parse"], json!([]), "{v}");

    // Autocomplete.
    let ac = payloads::autocomplete(3, "check", "endpoint", "a", &who);
    let (_, body) = run(Box::new(move |s| s.send(&ac))).await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], 8);
    assert_eq!(v["data"]["choices"][0]["value"], "api", "{v}");

    // /check without the role: refused at once, only to the asker.
    let cmd = payloads::command(4, "check", &[("endpoint", "api")], &who);
    let (_, body) = run(Box::new(move |s| s.send(&cmd))).await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], 4);
    assert_eq!(v["data"]["flags"], 64, "{v}");

    // With the role: deferred, then the report edits the original over REST.
    let checker = member(&[CHECK_ROLE]);
    let cmd = payloads::command(5, "check", &[("endpoint", "api")], &checker);
    let (_, body) = run(Box::new(move |s| s.send(&cmd))).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["type"],
        5,
        "{body}"
    );
    let edit = fake
        .wait_for(0, Duration::from_secs(10), |r| {
            r.path
                .contains("/webhooks/1000/itoken-5/messages/@original")
        })
        .await;
    let text = edit.body.to_string();
    assert!(text.contains("api"), "{text}");

    // Refused: no signature, a stale timestamp, a tampered body, another key, a huge body.
    let cmd = payloads::command(6, "diagnose", &[("query", "429")], &who);
    let body = cmd.to_string();
    let (status, _) =
        tokio::task::spawn_blocking(move || post(port, "/interactions", &[], body.as_bytes()))
            .await
            .unwrap();
    assert_eq!(status, 401);
    let stale = cmd.clone();
    let (status, _) = run(Box::new(move |s| s.send_at(&stale, now() - 600)))
        .await
        .unwrap();
    assert_eq!(status, 401);
    let tampered = cmd.clone();
    let (status, _) = tokio::task::spawn_blocking(move || {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let ts = now().to_string();
        let sig = key.sign(format!("{ts}{tampered}").as_bytes());
        let mut changed = tampered.clone();
        changed["data"]["options"][0]["value"] = json!("503");
        post(
            port,
            "/interactions",
            &[
                ("X-Signature-Ed25519", hex(&sig.to_bytes())),
                ("X-Signature-Timestamp", ts),
            ],
            changed.to_string().as_bytes(),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 401);
    let other = cmd.clone();
    let (status, _) = tokio::task::spawn_blocking(move || {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        Signed { key: &key, port }.send(&other)
    })
    .await
    .unwrap();
    assert_eq!(status, 401);
    let (status, _) = tokio::task::spawn_blocking(move || {
        post(port, "/interactions", &[], &vec![b'x'; 200 * 1024])
    })
    .await
    .unwrap();
    assert_eq!(status, 413);
    // Health is served beside it.
    let (status, _) = tokio::task::spawn_blocking(move || http_get(port, "/healthz"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    stop(child);
}

/// `medic serve --no-gateway --http 127.0.0.1:PORT` in `dir`, verifying with `public`,
/// following up on the fake Discord, with extra environment variables.
fn replica(
    dir: &std::path::Path,
    fake: &FakeDiscord,
    public: &str,
    port: u16,
    env: &[(&str, &str)],
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .current_dir(dir)
        .args([
            "serve",
            "--no-gateway",
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .env("DISCORD_PUBLIC_KEY", public)
        .env("DISCORD_API_BASE", fake.api_base())
        .envs(env.iter().copied())
        .env_remove("DISCORD_TOKEN")
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until something listens on `port`.
async fn listening(port: u16) -> bool {
    let up = Instant::now() + Duration::from_secs(20);
    loop {
        let h = tokio::task::spawn_blocking(move || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await
        .unwrap();
        if h || Instant::now() > up {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_over_http_on_a_replica_is_applied_by_the_instance_that_owns_the_endpoint() {
    use crate::support::pg::Postgres;
    // The postgres client blocks: never on the test's async workers.
    let (_pg, url) = tokio::task::spawn_blocking(|| {
        let pg = Postgres::start();
        let url = pg.database();
        (pg, url)
    })
    .await
    .unwrap();
    let World {
        fake, dir, config, api: _api, ..
    } = world(200, |url| {
        format!("[discord]\ncheck_roles = [{CHECK_ROLE}]\n\n[[endpoints]]\nname = \"api\"\nurl = \"{url}\"\ninterval = \"1s\"\n")
    })
    .await;
    // The instance with the checks (it owns `api`), and an HTTP-only replica on the same database.
    let _watch = crate::support::switch::Watch::start_with(
        dir.path(),
        &config,
        url.as_ref(),
        &[("MEDIC_LEASE_TTL", "3s")],
        &[],
    );
    let public = test_public_key();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let replica = replica(dir.path(), &fake, &public, port, &[("MEDIC_DB", &url)]);
    assert!(listening(port).await, "the replica did not listen");
    let run = move |f: SignedCall| {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        tokio::task::spawn_blocking(move || f(Signed { key: &key, port }))
    };
    let member = |roles: &[u64]| {
        Invoker::guild_member(GUILD, CHANNEL, payloads::member(30, "alice", roles, 0))
    };
    let options = [("endpoint", "api"), ("for", "1h"), ("reason", "deploy")];

    // Without a check role: refused, only to the asker, nothing queued.
    let cmd = payloads::command(11, "silence", &options, &member(&[]));
    let (_, body) = run(Box::new(move |s| s.send(&cmd))).await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["type"].clone(), v["data"]["flags"].clone()),
        (json!(4), json!(64)),
        "{v}"
    );

    // With one: deferred, then the owner's answer edits the original.
    let cmd = payloads::command(12, "silence", &options, &member(&[CHECK_ROLE]));
    let (status, body) = run(Box::new(move |s| s.send(&cmd))).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["type"],
        5,
        "{body}"
    );
    let edit = fake
        .wait_for(0, Duration::from_secs(15), |r| {
            r.path
                .contains("/webhooks/1000/itoken-12/messages/@original")
        })
        .await;
    let text = edit.body.to_string();
    assert!(
        text.contains("silenced `api` until") && text.contains("alice") && text.contains("deploy"),
        "{text}"
    );
    let db = url.clone();
    let open: i64 = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        client
            .query_one("SELECT count(*) FROM silences WHERE endpoint = 'api' AND ended_at IS NULL AND reason = 'deploy'", &[])
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert_eq!(open, 1, "the silence is in the shared database");

    // And lifted the same way.
    let cmd = payloads::command(
        13,
        "unsilence",
        &[("endpoint", "api")],
        &member(&[CHECK_ROLE]),
    );
    let (_, body) = run(Box::new(move |s| s.send(&cmd))).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["type"],
        5,
        "{body}"
    );
    let edit = fake
        .wait_for(0, Duration::from_secs(15), |r| {
            r.path
                .contains("/webhooks/1000/itoken-13/messages/@original")
        })
        .await;
    assert!(
        edit.body
            .to_string()
            .contains("lifted the silence on `api`"),
        "{}",
        edit.body
    );

    stop(replica);
}

/// POSTs a signed click (type 3) of `custom_id` on bot message 4242 to the endpoint on `port`,
/// off the async workers; the JSON answer (the status must be 200).
async fn click(port: u16, id: u64, custom_id: &str, who: &Invoker) -> Value {
    let body = payloads::button(id, custom_id, 4242, who);
    let (status, text) = tokio::task::spawn_blocking(move || {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        Signed { key: &key, port }.send(&body)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn guild_member(id: u64, name: &str, roles: &[u64]) -> Invoker {
    Invoker::guild_member(GUILD, CHANNEL, payloads::member(id, name, roles, 0))
}

/// SIGTERM, then a clean exit that logged no interaction token.
fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        !err.contains("itoken-"),
        "an interaction token in the logs: {err}"
    );
}

/// The embed field `name` of an alert message body.
fn field<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no {name} field: {data}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_over_http_are_answered_as_over_the_gateway() {
    let (
        World {
            fake, api: _api, ..
        },
        port,
        child,
    ) = stateless_replica().await;
    let alice = guild_member(30, "alice", &[]);
    let checker = guild_member(31, "bob", &[CHECK_ROLE]);
    let ephemeral = |v: &Value| {
        assert_eq!(v["type"], 4, "{v}");
        assert_eq!(v["data"]["flags"], 64, "only to the one who clicked: {v}");
        assert_eq!(v["data"]["allowed_mentions"]["parse"], json!([]), "{v}");
    };

    // A related-entry button: that entry, only to the clicker.
    let v = click(port, 101, "medic:entry:http-503", &alice).await;
    ephemeral(&v);
    let title = v["data"]["embeds"][0]["title"].as_str().unwrap();
    assert!(title.starts_with("503"), "{v}");

    // "Not this": other candidates than the entry it was clicked under.
    let v = click(port, 102, "medic:fb-no:http-429", &alice).await;
    ephemeral(&v);
    let shown = v["data"].to_string();
    assert!(
        shown.contains("\"embeds\"") || shown.contains("content"),
        "{v}"
    );
    assert!(!shown.contains("\"title\":\"429"), "a different entry: {v}");

    // "Helpful": thanked (a replica on a file records nothing: it is stateless).
    let v = click(port, 103, "medic:fb-yes:http-429", &alice).await;
    ephemeral(&v);
    assert!(v["data"]["content"].as_str().unwrap().starts_with("Thanks"));

    // "Check api": refused without a check role, as over the gateway.
    let v = click(port, 104, "medic:check:api", &alice).await;
    ephemeral(&v);
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Only members with one of medic's check roles"),
        "{v}"
    );
    // With one: deferred at once, then the report edits the original response over REST.
    let from = fake.request_count();
    let v = click(port, 105, "medic:check:api", &checker).await;
    assert_eq!(v["type"], 5, "deferred: {v}");
    let edit = fake
        .wait_for(from, Duration::from_secs(10), |r| {
            r.path
                .contains("/webhooks/1000/itoken-105/messages/@original")
        })
        .await;
    assert!(edit.body.to_string().contains("api"), "{}", edit.body);

    // Alert buttons on a stateless replica: no alert pipeline, the gateway's answer.
    for (id, custom_id) in [(106, "medic:alert-ack:a1"), (107, "medic:alert-rerun:a1")] {
        let v = click(port, id, custom_id, &checker).await;
        ephemeral(&v);
        assert!(
            v["data"]["content"]
                .as_str()
                .unwrap()
                .starts_with("Scheduled checks are not running"),
            "{v}"
        );
    }

    // A component medic does not own: a short note, not an error status.
    let v = click(port, 108, "someone-else:thing", &alice).await;
    ephemeral(&v);

    // A click signed with another key, or tampered with, is refused like any interaction.
    let body = payloads::button(109, "medic:entry:http-503", 4242, &alice);
    let (wrong_key, tampered) = tokio::task::spawn_blocking(move || {
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let wrong_key = Signed { key: &other, port }.send(&body).0;
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let ts = now().to_string();
        let sig = key.sign(format!("{ts}{body}").as_bytes());
        let mut changed = body.clone();
        changed["data"]["custom_id"] = json!("medic:check:api");
        let tampered = post(
            port,
            "/interactions",
            &[
                ("X-Signature-Ed25519", hex(&sig.to_bytes())),
                ("X-Signature-Timestamp", ts),
            ],
            changed.to_string().as_bytes(),
        )
        .0;
        (wrong_key, tampered)
    })
    .await
    .unwrap();
    assert_eq!((wrong_key, tampered), (401, 401));

    stop(child);
    fake.assert_valid_bodies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_over_http_on_a_serve_with_alerts_acknowledge_rerun_and_record_feedback() {
    use crate::fake_discord::BOT_TOKEN;
    const WAIT: Duration = Duration::from_secs(20);
    let World {
        fake,
        dir,
        api: _api,
        ..
    } = world(503, |url| {
        format!(
            "[discord]\nalert_channel = {CHANNEL}\ncheck_roles = [{CHECK_ROLE}]\n\n\
             [alerts]\nfailure_threshold = 1\nremind_every = \"0\"\n\n\
             [[endpoints]]\nname = \"api\"\nurl = \"{url}\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
        )
    })
    .await;
    let db = dir.path().join("medic.db");
    let public = test_public_key();
    let port = free_port();
    // The whole bot: gateway, scheduled checks posting to the alert channel, and
    // interactions over HTTP beside them.
    let child = Command::new(env!("CARGO_BIN_EXE_medic"))
        .current_dir(dir.path())
        .args(["serve", "--http", &format!("127.0.0.1:{port}")])
        .env("DISCORD_PUBLIC_KEY", &public)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("DISCORD_GUILD_ID", GUILD.to_string())
        .env("MEDIC_DB", &db)
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(listening(port).await, "serve --http did not listen");
    let posts = format!("/channels/{CHANNEL}/messages");
    let down = fake
        .wait_for(0, WAIT, |r| {
            r.method == hyper::Method::POST && r.path.ends_with(&posts) && r.status == 200
        })
        .await;
    assert_eq!(down.body["embeds"][0]["title"], "✖ DOWN · api");
    let alert_id = down.body["nonce"].as_str().unwrap().to_string();
    let alice = guild_member(30, "alice", &[]);
    let bob = guild_member(31, "bob", &[CHECK_ROLE]);

    // "Re-run check" is gated like /check; with a check role deferred, then edited.
    let rerun = format!("medic:alert-rerun:{alert_id}");
    let v = click(port, 201, &rerun, &alice).await;
    assert_eq!((&v["type"], &v["data"]["flags"]), (&json!(4), &json!(64)));
    let from = fake.request_count();
    let v = click(port, 202, &rerun, &bob).await;
    assert_eq!(v["type"], 5, "{v}");
    let edit = fake
        .wait_for(from, WAIT, |r| {
            r.method == hyper::Method::PATCH
                && r.path
                    .contains("/webhooks/1000/itoken-202/messages/@original")
        })
        .await;
    assert!(edit.body.to_string().contains("api"), "{}", edit.body);

    // "Acknowledge": anyone; the alert message is updated to show who, its button disabled.
    let ack = format!("medic:alert-ack:{alert_id}");
    let v = click(port, 203, &ack, &alice).await;
    assert_eq!(v["type"], 7, "updates the alert message: {v}");
    let by = field(&v["data"], "Acknowledged")["value"].as_str().unwrap();
    assert!(by.starts_with("by alice at <t:"), "{by}");
    assert_eq!(
        v["data"]["components"][0]["components"][1]["disabled"],
        true
    );
    let v = click(port, 204, &ack, &bob).await;
    assert_eq!(v["data"]["flags"], 64, "{v}");
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Already acknowledged by alice"),
        "{v}"
    );
    // An alert medic never raised.
    let v = click(port, 205, "medic:alert-ack:no-such-alert", &alice).await;
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("medic no longer knows this alert"),
        "{v}"
    );

    // "Not this" and "Helpful" are recorded in the state database, for `medic kb gaps`.
    let v = click(port, 206, "medic:fb-no:http-429", &alice).await;
    assert_eq!(v["data"]["flags"], 64, "{v}");
    let v = click(port, 207, "medic:fb-yes:http-429", &alice).await;
    assert!(v["data"]["content"].as_str().unwrap().starts_with("Thanks"));
    let deadline = Instant::now() + WAIT;
    loop {
        let out = crate::support::medic_async(
            dir.path(),
            &["kb", "gaps", "--db", db.to_str().unwrap()],
            &[],
        )
        .await;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("1  http-429 (1 helpful)") {
            break;
        }
        assert!(Instant::now() < deadline, "feedback not recorded: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    stop(child);
    fake.assert_valid_bodies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledge_over_http_on_a_replica_is_forwarded_to_the_instance_that_owns_the_endpoint() {
    use crate::support::pg::Postgres;
    const WAIT: Duration = Duration::from_secs(20);
    // The postgres client blocks: never on the test's async workers.
    let (_pg, url) = tokio::task::spawn_blocking(|| {
        let pg = Postgres::start();
        let url = pg.database();
        (pg, url)
    })
    .await
    .unwrap();
    let World {
        fake,
        dir,
        config,
        api: _api,
        ..
    } = world(503, |url| {
        format!(
            "[discord]\ncheck_roles = [{CHECK_ROLE}]\n\n\
             [alerts]\nfailure_threshold = 1\nremind_every = \"0\"\n\n\
             [[endpoints]]\nname = \"api\"\nurl = \"{url}\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
        )
    })
    .await;
    // The instance with the checks (it owns `api`), and an HTTP-only replica on the same database.
    let _watch = crate::support::switch::Watch::start_with(
        dir.path(),
        &config,
        url.as_ref(),
        &[("MEDIC_LEASE_TTL", "3s")],
        &[],
    );
    let public = test_public_key();
    let port = free_port();
    let replica = replica(dir.path(), &fake, &public, port, &[("MEDIC_DB", &url)]);
    assert!(listening(port).await, "the replica did not listen");
    let query = |sql: &'static str| {
        let db = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
            client
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<String>>()
        })
    };
    // The owner's DOWN alert, as its buttons name it.
    let deadline = Instant::now() + WAIT;
    let alert_id = loop {
        let ids = query("SELECT id FROM outbox WHERE endpoint = 'api' AND lower(kind) = 'down'")
            .await
            .unwrap();
        if let Some(id) = ids.into_iter().next() {
            break id;
        }
        assert!(Instant::now() < deadline, "no DOWN alert in the database");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let alice = guild_member(30, "alice", &[]);
    let bob = guild_member(31, "bob", &[CHECK_ROLE]);

    // Acknowledge: a deferred update now, then the owner's acknowledgement edits the alert.
    let ack = format!("medic:alert-ack:{alert_id}");
    let from = fake.request_count();
    let v = click(port, 301, &ack, &alice).await;
    assert_eq!(v["type"], 6, "a deferred update: {v}");
    let edit = fake
        .wait_for(from, WAIT, |r| {
            r.method == hyper::Method::PATCH
                && r.path
                    .contains("/webhooks/1000/itoken-301/messages/@original")
        })
        .await;
    let by = field(&edit.body, "Acknowledged")["value"].as_str().unwrap();
    assert!(by.starts_with("by alice at <t:"), "{}", edit.body);
    assert_eq!(
        edit.body["components"][0]["components"][1]["disabled"], true,
        "{}",
        edit.body
    );
    let acked = query("SELECT by_user FROM acknowledgements").await.unwrap();
    assert_eq!(
        acked,
        ["alice"],
        "applied by the owner, in the shared database"
    );

    // Clicked again: refused at once from the shared state, with the gateway's text.
    let v = click(port, 302, &ack, &bob).await;
    assert_eq!((&v["type"], &v["data"]["flags"]), (&json!(4), &json!(64)));
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Already acknowledged by alice"),
        "{v}"
    );

    // "Re-run check" on the replica: the alert is read from the database; gated, then deferred.
    let rerun = format!("medic:alert-rerun:{alert_id}");
    let v = click(port, 303, &rerun, &alice).await;
    assert_eq!(v["data"]["flags"], 64, "{v}");
    let from = fake.request_count();
    let v = click(port, 304, &rerun, &bob).await;
    assert_eq!(v["type"], 5, "{v}");
    let edit = fake
        .wait_for(from, WAIT, |r| {
            r.path
                .contains("/webhooks/1000/itoken-304/messages/@original")
        })
        .await;
    assert!(edit.body.to_string().contains("api"), "{}", edit.body);

    stop(replica);
    fake.assert_valid_bodies();
}
