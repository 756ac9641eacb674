//! A real Postgres server for the tests that need one: `initdb` into a temporary directory and
//! `pg_ctl start` on a free loopback port, stopped when the value is dropped. As root, the
//! server runs as the `postgres` user (`initdb` refuses root). A machine without Postgres fails
//! the test with what to install: nothing is skipped silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::free_port;

pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<String>,
    _dir: tempfile::TempDir,
}

/// The newest Debian Postgres under /usr/lib/postgresql, or `pg_ctl` on the PATH.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    let which = Command::new("sh")
        .args(["-c", "command -v pg_ctl"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match which {
        Some(p) if !p.is_empty() => Path::new(&p).parent().unwrap().to_path_buf(),
        _ => panic!(
            "these tests need a Postgres server: no initdb under /usr/lib/postgresql/*/bin or pg_ctl \
             on the PATH. Install it (`apt-get install -y postgresql`; .ci/run does this)"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("medic-pg-")
            .tempdir()
            .unwrap();
        let run_as = is_root().then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the test database directory to {user} failed");
        }
        let data = dir.path().join("data");
        let mut pg = Postgres {
            bin,
            data: data.clone(),
            port: 0,
            run_as,
            _dir: dir,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "medic",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        // A free port, then the server on it; another test taking it meanwhile fails the start,
        // so a few are tried.
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
                pg._dir.path().display()
            );
            let log = pg._dir.path().join("server.log");
            let started = pg.try_run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-o",
                    &options,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if started {
                pg.port = port;
                return pg;
            }
        }
        let log = std::fs::read_to_string(pg._dir.path().join("server.log")).unwrap_or_default();
        panic!("the test Postgres did not start:\n{log}");
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe).args(args);
                c
            }
            None => {
                let mut c = Command::new(exe);
                c.args(args);
                c
            }
        }
    }

    fn try_run(&self, tool: &str, args: &[&str]) -> bool {
        let out = self.command(tool, args).output().unwrap();
        out.status.success()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A new empty database on this server; its URL.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("medic_test_{}", N.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test Postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url(&name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://medic@127.0.0.1:{}/{db}", self.port)
    }

    /// A client of the test's own, to look at what medic wrote.
    pub fn client(&self, url: &str) -> postgres::Client {
        postgres::Client::connect(url, postgres::NoTls).unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command(
                "pg_ctl",
                &["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"],
            )
            .output();
    }
}
