//! `medic serve --http ADDR --no-gateway`: Discord interactions over HTTP, signed with a key
//! pair of the test's own, against the binary; follow-ups go to the local fake Discord.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use crate::fake_discord::payloads::{self, Invoker};
use crate::fake_discord::FakeDiscord;
use crate::support::{http_get, http_request, HttpServer, Reply};

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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_interactions_are_answered_over_http_and_everything_else_refused() {
    let fake = FakeDiscord::start().await;
    let api = HttpServer::start().await;
    api.route("/health", Reply::json(200, "{\"ok\":true}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("medic.toml"),
        format!(
            "[discord]\ncheck_roles = [{CHECK_ROLE}]\n\n[[endpoints]]\nname = \"api\"\nurl = \"{}\"\n",
            api.url("/health")
        ),
    )
    .unwrap();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = hex(key.verifying_key().as_bytes());
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut child = replica(dir.path(), &fake, &public, port, &[]);
    assert!(listening(port).await, "serve --no-gateway did not listen");

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
    let fake = FakeDiscord::start().await;
    let api = HttpServer::start().await;
    api.route("/health", Reply::json(200, "{\"ok\":true}"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[discord]\ncheck_roles = [{CHECK_ROLE}]\n\n[[endpoints]]\nname = \"api\"\nurl = \"{}\"\ninterval = \"1s\"\n",
            api.url("/health")
        ),
    )
    .unwrap();
    // The instance with the checks (it owns `api`), and an HTTP-only replica on the same database.
    let _watch = crate::support::switch::Watch::start_with(
        dir.path(),
        &config,
        url.as_ref(),
        &[("MEDIC_LEASE_TTL", "3s")],
        &[],
    );
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = hex(key.verifying_key().as_bytes());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut replica = replica(dir.path(), &fake, &public, port, &[("MEDIC_DB", &url)]);
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

    let _ = Command::new("kill")
        .args(["-TERM", &replica.id().to_string()])
        .status();
    let status = replica.wait().unwrap();
    let mut err = String::new();
    replica
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
}
