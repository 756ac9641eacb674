//! Latency of the HTTP interactions endpoint (not a test; `cargo bench --bench interactions`):
//! the real binary as `medic serve --no-gateway --http 127.0.0.1:PORT`, sent signed
//! interactions one after another over one keep-alive connection. A PING (signature check and
//! HTTP only) and a `/diagnose` (the same plus matching and rendering) alternate, so the
//! PING's round trip is the baseline measured side by side. `MEDIC_BENCH_N` (default 2000)
//! requests of each. Prints p50/p95/p99 per kind. Figures: docs/benchmarks.md.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `/diagnose` slash command from a guild member, as Discord sends it.
fn diagnose(id: u64, query: &str) -> Value {
    json!({
        "id": id.to_string(), "application_id": "1000", "type": 2, "version": 1,
        "token": format!("itoken-{id}"), "channel_id": "20", "guild_id": "10",
        "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
        "app_permissions": "2147483647", "attachment_size_limit": 8388608,
        "data": {"id": "900", "name": "diagnose", "type": 1,
                 "options": [{"name": "query", "type": 3, "value": query}]},
        "member": {
            "user": {"id": "30", "username": "alice", "discriminator": "0", "global_name": null,
                     "avatar": null, "bot": false},
            "roles": [], "deaf": false, "mute": false, "flags": 0,
            "joined_at": "2024-01-01T00:00:00.000000+00:00", "permissions": "0"
        }
    })
}

fn ping(id: u64) -> Value {
    json!({"id": id.to_string(), "application_id": "1000", "type": 1, "token": "t", "version": 1})
}

struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(kind: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = percentile(&times, 0.5);
    println!(
        "{kind:<9} n={} p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        times.len(),
        ms(p50),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().expect("at least one request")),
    );
    p50
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::var("MEDIC_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let _replica = Replica(
        Command::new(env!("CARGO_BIN_EXE_medic"))
            .current_dir(dir.path())
            .args([
                "serve",
                "--no-gateway",
                "--http",
                &format!("127.0.0.1:{port}"),
            ])
            .env("DISCORD_PUBLIC_KEY", hex(key.verifying_key().as_bytes()))
            // Nothing here calls Discord's REST API; a closed local port if anything did.
            .env("DISCORD_API_BASE", "http://127.0.0.1:9")
            .env_remove("DISCORD_TOKEN")
            .env_remove("MEDIC_CONFIG")
            .env_remove("MEDIC_KNOWLEDGE_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start medic serve"),
    );
    let url = format!("http://127.0.0.1:{port}/interactions");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("an HTTP client");
    let up = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < up, "medic serve did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let queries: Vec<String> = include_str!("../tests/data/labelled.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    let send = |body: Value| {
        let body = body.to_string();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs()
            .to_string();
        let sig = hex(&key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
        let request = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Signature-Ed25519", sig)
            .header("X-Signature-Timestamp", ts)
            .body(body);
        async move {
            let started = Instant::now();
            let response = request.send().await.expect("a response");
            let status = response.status();
            let text = response.text().await.expect("a body");
            let elapsed = started.elapsed();
            assert!(status.is_success(), "{status}: {text}");
            let kind = serde_json::from_str::<Value>(&text).expect("a JSON answer")["type"].clone();
            (elapsed, kind)
        }
    };

    let (mut pings, mut diagnoses) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let warm_up = 100;
    // Ids start at 1: Discord ids (and serenity's types for them) are never zero.
    for i in 1..=n + warm_up {
        let (p, kind) = send(ping(i as u64)).await;
        assert_eq!(kind, 1, "PING answers PONG");
        let query = &queries[i % queries.len()];
        let (d, kind) = send(diagnose(i as u64, query)).await;
        assert_eq!(kind, 4, "/diagnose answers in the response");
        if i > warm_up {
            pings.push(p);
            diagnoses.push(d);
        }
    }
    let base = report("PING", pings);
    let diag = report("/diagnose", diagnoses);
    println!(
        "/diagnose p50 - PING p50 = {:.3} ms",
        (diag.as_secs_f64() - base.as_secs_f64()) * 1e3
    );
}
