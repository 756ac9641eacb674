//! Helpers for the alert tests: a local HTTP endpoint that the test switches up and down, and a
//! `medic watch` child process with its own config and database.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{HttpServer, Reply};

/// The shared [`HttpServer`] on its own runtime (the alert tests are synchronous), answering
/// 200 with JSON while up and 503 while down.
pub struct SwitchServer {
    server: HttpServer,
    _runtime: tokio::runtime::Runtime,
}

impl SwitchServer {
    pub fn start() -> SwitchServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(HttpServer::start());
        let switch = SwitchServer {
            server,
            _runtime: runtime,
        };
        switch.set_down(false);
        switch
    }

    pub fn set_down(&self, down: bool) {
        self.server.set_default(if down {
            Reply::body(503, "application/json", b"unavailable".to_vec())
        } else {
            Reply::json(200, "{\"ok\":true}")
        });
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.server.hits()
    }

    pub fn url(&self) -> String {
        format!("http://{}/health", self.server.addr())
    }
}

/// A `medic watch` child with stdout lines collected on a channel and stderr in a file.
pub struct Watch {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    pub stderr_path: PathBuf,
}

impl Watch {
    pub fn start(dir: &Path, config: &Path, db: &Path) -> Watch {
        Watch::start_with(dir, config, db.as_os_str(), &[], &[])
    }

    /// [`Watch::start`] with `db` a file or a URL, extra environment variables and arguments.
    pub fn start_with(
        dir: &Path,
        config: &Path,
        db: &std::ffi::OsStr,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Watch {
        let stderr_path = dir.join(format!(
            "stderr-{}.log",
            std::process::id() as u64 + rand_suffix()
        ));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_medic"))
            .arg("watch")
            .arg("--config")
            .arg(config)
            .args(args)
            .current_dir(dir)
            .env("MEDIC_DB", db)
            .env("RUST_LOG", "medic=debug")
            .env_remove("MEDIC_CONFIG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            stdout: Vec::new(),
            stderr_path,
        }
    }

    /// Waits for a stdout line starting an alert of `kind` (e.g. "DOWN"), keeping every line.
    pub fn wait_for(&mut self, kind: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if alert_kind(&line) == Some(kind) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {kind} alert within {timeout:?}; stdout so far:\n{}\nstderr:\n{}",
                    self.stdout.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Collects stdout lines for `period`.
    pub fn drain_for(&mut self, period: Duration) {
        let deadline = Instant::now() + period;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.stdout.push(line);
        }
    }

    pub fn stderr(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.stderr_path).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// The alert kinds seen on stdout so far, in order.
    pub fn kinds(&self) -> Vec<String> {
        self.stdout
            .iter()
            .filter_map(|l| alert_kind(l))
            .map(str::to_string)
            .collect()
    }

    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.drain_to_end(Duration::from_secs(5));
    }

    /// Collects stdout lines until the process closed it (or `timeout`).
    pub fn drain_to_end(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.stdout.push(line);
        }
    }

    /// SIGTERM and wait for a clean exit; every line it printed is collected.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain_to_end(Duration::from_secs(5));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "medic watch did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// The kind of an alert line: the first all-capitals word among the first three.
pub fn alert_kind(line: &str) -> Option<&str> {
    line.split_whitespace()
        .take(3)
        .find(|w| matches!(*w, "DOWN" | "RECOVERED" | "REMINDER" | "WARNING"))
}

/// Writes a medic.toml with the given endpoints `(name, url)` on a short interval.
pub fn write_config(dir: &Path, interval: &str, endpoints: &[(String, String)]) -> PathBuf {
    let mut toml = String::from("[alerts]\nfailure_threshold = 2\nsuccess_threshold = 1\nremind_every = \"0\"\n\n[checks]\nconcurrency = 64\n\n");
    for (name, url) in endpoints {
        toml.push_str(&format!(
            "[[endpoints]]\nname = \"{name}\"\nurl = \"{url}\"\ninterval = \"{interval}\"\ntimeout = \"2s\"\n\n"
        ));
    }
    let path = dir.join("medic.toml");
    std::fs::write(&path, toml).unwrap();
    path
}
