//! The SQLite backend of [`Store`]: one file in WAL mode, migrations kept in code.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::model::{
    Ack, Alert, AlertKind, EndpointState, Feedback, Gaps, Incident, Millis, Request, RequestKind,
    RequestResult, Silence,
};
use super::{rollup, Backlog, Commit, History, OutboxItem, Store, LEASE_TTL};
use crate::checks::Overall;
use crate::{Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied so far.
/// Never edit one that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE endpoints (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT '{}'
    );
    -- One row per check; compact (integer endpoint id, no rowid) because there are many.
    CREATE TABLE checks (
        endpoint_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        health INTEGER NOT NULL,
        latency_ms INTEGER,
        stage TEXT,
        detail TEXT,
        PRIMARY KEY (endpoint_id, at)
    ) WITHOUT ROWID;
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        endpoint TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        closed_at INTEGER,
        failures INTEGER NOT NULL,
        stage TEXT,
        detail TEXT,
        announced INTEGER NOT NULL,
        UNIQUE (endpoint, started_at)
    );
    CREATE TABLE acknowledgements (
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        by_user TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        endpoint TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        from_at INTEGER NOT NULL,
        until INTEGER NOT NULL,
        ended_at INTEGER
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        endpoint TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        alert TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        delivered_at INTEGER,
        message_id TEXT,
        last_error TEXT,
        dead INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_pending ON outbox (delivered_at, dead, seq);",
    // 2: who runs the scheduler on this file (one `watch` or `serve` at a time).
    "CREATE TABLE scheduler_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        token TEXT NOT NULL,
        heartbeat INTEGER NOT NULL
    );",
    // 3: alert changes became tagged values; drop the old word triples from stored alerts
    // (only a "what changed" line is lost).
    "UPDATE outbox SET alert = json_remove(alert, '$.changes');
    UPDATE endpoints SET state = json_remove(state, '$.held_recovery.changes')
        WHERE json_extract(state, '$.held_recovery') IS NOT NULL;",
    // 4: alert commands from other processes (`medic ack`, `medic silence`), applied by the
    // scheduler that holds the lease.
    "CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        duration_ms INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        done_at INTEGER,
        ok INTEGER,
        result TEXT
    );
    CREATE INDEX requests_pending ON requests (done_at, id);",
    // 5: feedback on answers and unanswered direct questions (masked), for `medic kb gaps`.
    "CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        entry TEXT,
        text TEXT
    );
    CREATE INDEX feedback_at ON feedback (at);",
    // 6: check results older than the raw window, rolled up per endpoint and hour.
    "CREATE TABLE rollups (
        endpoint_id INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        checks INTEGER NOT NULL,
        good INTEGER NOT NULL,
        latency TEXT NOT NULL,
        PRIMARY KEY (endpoint_id, hour)
    ) WITHOUT ROWID;",
];

/// The SQLite file and the ids of the endpoints seen so far.
pub struct SqliteStore {
    conn: Connection,
    path: String,
    endpoint_ids: HashMap<String, i64>,
    /// Our token in `scheduler_lease`, once taken.
    lease: Option<String>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database. A file that is not a medic database
    /// or cannot be written is a clear error here, before any check runs; damaged pages further
    /// in are found by [`Store::check_integrity`].
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(store_error(&shown, "is a directory, not a database file"));
        }
        // Two processes creating or migrating the same file at once can get SQLITE_BUSY without
        // SQLite's busy handler being asked (lock upgrades); the loser simply tries again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let conn = Connection::open(path).map_err(|e| db_error(&shown, e))?;
            match Self::init(conn, shown.clone()) {
                Err(Error::Store { message, .. })
                    if message == LOCKED && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// Opens the database read-only without writing anything next to it. A database whose
    /// writer has stopped has no `-wal` file; a plain read-only open would still create `-wal`
    /// and `-shm` (and fail where the directory is not writable), so it is opened as
    /// immutable. While a writer runs, its `-wal` exists and the ordinary read-only open
    /// shares it.
    pub fn open_for_reading(path: &Path) -> Result<SqliteStore> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if Path::new(&wal).exists() {
            return SqliteStore::open_read_only(path);
        }
        let absolute = std::path::absolute(path)
            .map_err(|e| store_error(&path.display().to_string(), &e.to_string()))?;
        // SQLite URI: `?`, `#` and `%` in the path must be escaped.
        let escaped: String = absolute
            .to_string_lossy()
            .chars()
            .map(|c| match c {
                '?' | '#' | '%' => format!("%{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect();
        SqliteStore::open_read_only(Path::new(&format!("file:{escaped}?immutable=1")))
    }

    /// Opens an existing database for reading only: no migrations, no integrity check, no
    /// writes (`medic status`, `/endpoints`). A file without medic's schema yet reads as empty
    /// through [`Store::is_empty_schema`].
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(store_error(&shown, "is a directory, not a database file"));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| db_error(&shown, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| db_error(&shown, e))?;
        let store = SqliteStore {
            conn,
            path: shown,
            endpoint_ids: HashMap::new(),
            lease: None,
        };
        let version = store.schema_version()?;
        if version as usize > MIGRATIONS.len() {
            return Err(store_error(
                &store.path,
                &format!(
                    "schema version {version} is newer than this medic understands ({}); upgrade medic",
                    MIGRATIONS.len()
                ),
            ));
        }
        Ok(store)
    }

    /// Whether the file has no medic tables yet (never used by `watch` or `serve`).
    pub fn is_empty_schema(&self) -> Result<bool> {
        Ok(self.schema_version()? == 0)
    }

    /// A private database that lives as long as the value (tests, `--db :memory:`).
    pub fn open_in_memory() -> Result<SqliteStore> {
        let conn = Connection::open_in_memory().map_err(|e| db_error(":memory:", e))?;
        Self::init(conn, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<SqliteStore> {
        let err = |e| db_error(&path, e);
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        // Reading the header is what detects a corrupted or foreign file.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if mode != "wal" && path != ":memory:" {
            return Err(store_error(
                &path,
                &format!("cannot use WAL mode (journal mode is {mode})"),
            ));
        }
        // NORMAL is durable against a crash of the process in WAL mode (only power loss can
        // lose the last transactions), and much cheaper than FULL.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(err)?;
        let mut store = SqliteStore {
            conn,
            path,
            endpoint_ids: HashMap::new(),
            lease: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Reads every page once (`PRAGMA quick_check`), so that corruption stops `watch`/`serve`
    /// at start-up instead of surfacing mid-run. Costs a full read of the file: start-up only.
    pub fn check_integrity(&self) -> Result<()> {
        let ok: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if ok != "ok" {
            return Err(store_error(
                &self.path,
                &format!("database is corrupted ({ok})"),
            ));
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let read = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        let newer = |v: i64| {
            store_error(
                &path,
                &format!(
                    "schema version {v} is newer than this medic understands ({}); upgrade medic",
                    MIGRATIONS.len()
                ),
            )
        };
        let version = read(&self.conn).map_err(err)?;
        if version as usize > MIGRATIONS.len() {
            return Err(newer(version));
        }
        if version as usize == MIGRATIONS.len() {
            return Ok(());
        }
        // Another process may be migrating the same file right now: take the write lock first,
        // then look at the version again.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let version = read(&tx).map_err(err)?;
        if version as usize > MIGRATIONS.len() {
            return Err(newer(version));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).map_err(err)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The schema version in the file.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    fn endpoint_id(
        conn: &Connection,
        cache: &mut HashMap<String, i64>,
        name: &str,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = cache.get(name) {
            return Ok(*id);
        }
        conn.execute("INSERT OR IGNORE INTO endpoints (name) VALUES (?1)", [name])?;
        let id = conn.query_row("SELECT id FROM endpoints WHERE name = ?1", [name], |r| {
            r.get(0)
        })?;
        cache.insert(name.to_string(), id);
        Ok(id)
    }

    /// Rolls the checks of endpoint `id` from `cutoff` (the retention) to `raw_cutoff` up into
    /// hourly rows, then deletes every raw check before the later of the two and every roll-up
    /// older than the retention, in one transaction. Returns the raw rows removed.
    fn roll_up(&mut self, id: i64, cutoff: Millis, raw_cutoff: Millis) -> rusqlite::Result<usize> {
        let tx = self.conn.transaction()?;
        if raw_cutoff > cutoff {
            let raw: Vec<(Millis, bool, Option<u64>)> = tx
                .prepare_cached(
                    "SELECT at, health < 2, latency_ms FROM checks WHERE endpoint_id = ?1 AND at >= ?2 AND at < ?3",
                )?
                .query_map(params![id, cutoff, raw_cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for mut r in rollup::roll_up(raw) {
                let old: Option<(u64, u64, String)> = tx
                    .prepare_cached("SELECT checks, good, latency FROM rollups WHERE endpoint_id = ?1 AND hour = ?2")?
                    .query_row(params![id, r.hour], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))
                    .optional()?;
                // A check of an hour already rolled up (it arrived late): merged in.
                if let Some((checks, good, latency)) = old {
                    r.checks += checks;
                    r.good += good;
                    r.latency.merge(&rollup::Histogram::decode(&latency));
                }
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO rollups (endpoint_id, hour, checks, good, latency) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![id, r.hour, r.checks, r.good, r.latency.encode()])?;
            }
        }
        let removed = tx
            .prepare_cached("DELETE FROM checks WHERE endpoint_id = ?1 AND at < ?2")?
            .execute(params![id, raw_cutoff.max(cutoff)])?;
        tx.prepare_cached("DELETE FROM rollups WHERE endpoint_id = ?1 AND hour < ?2")?
            .execute(params![id, cutoff - rollup::HOUR_MS])?;
        tx.commit()?;
        Ok(removed)
    }

    fn outbox_query(&self, tail: &str) -> Result<Vec<OutboxItem>> {
        let sql = format!(
            "SELECT seq, alert, attempts, next_attempt_at, delivered_at, message_id, last_error, dead FROM outbox {tail}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, bool>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json, attempts, next_attempt_at, delivered_at, message_id, last_error, dead) =
                row.map_err(|e| self.err(e))?;
            let alert = serde_json::from_str(&json).map_err(|e| {
                store_error(
                    &self.path,
                    &format!("outbox entry {seq} is unreadable: {e}"),
                )
            })?;
            out.push(OutboxItem {
                seq,
                alert,
                attempts,
                next_attempt_at,
                delivered_at,
                message_id,
                last_error,
                dead,
            });
        }
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn add_feedback(&mut self, f: &Feedback) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO feedback (at, kind, entry, text) VALUES (?1, ?2, ?3, ?4)",
                params![f.at, f.kind.word(), f.entry, f.text],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn gaps(&self, since: Millis, limit: usize) -> Result<Gaps> {
        let limit = limit as i64;
        let unanswered = self
            .conn
            .prepare(
                "SELECT lower(trim(text)) AS t, count(*) AS n FROM feedback
                 WHERE kind = 'unanswered' AND at >= ?1 AND text IS NOT NULL
                 GROUP BY t ORDER BY n DESC, t LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![since, limit], |r| {
                    Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        let not_this = self
            .conn
            .prepare(
                "SELECT entry, sum(kind = 'not_this') AS no, sum(kind = 'helpful') AS yes FROM feedback
                 WHERE kind IN ('not_this', 'helpful') AND at >= ?1 AND entry IS NOT NULL
                 GROUP BY entry HAVING no > 0 ORDER BY no DESC, entry LIMIT ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![since, limit], |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        Ok(Gaps {
            unanswered,
            not_this,
        })
    }

    fn add_request(&mut self, r: &Request) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO requests (kind, endpoint, author, reason, duration_ms, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    r.kind.word(),
                    r.endpoint,
                    r.author,
                    r.reason,
                    r.duration_ms,
                    r.created_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    fn pending_requests(&self) -> Result<Vec<Request>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, endpoint, author, reason, duration_ms, created_at
                 FROM requests WHERE done_at IS NULL ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    Request {
                        id: r.get(0)?,
                        kind: RequestKind::Ack,
                        endpoint: r.get(2)?,
                        author: r.get(3)?,
                        reason: r.get(4)?,
                        duration_ms: r.get(5)?,
                        created_at: r.get(6)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, mut req) = row.map_err(|e| self.err(e))?;
            // A kind this version does not know (written by a newer medic) waits for it.
            if let Some(k) = RequestKind::from_word(&kind) {
                req.kind = k;
                out.push(req);
            }
        }
        Ok(out)
    }

    fn finish_request(&mut self, id: i64, at: Millis, result: &RequestResult) -> Result<()> {
        self.conn
            .execute(
                "UPDATE requests SET done_at = ?2, ok = ?3, result = ?4 WHERE id = ?1",
                params![id, at, result.ok, result.message],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn request_result(&self, id: i64) -> Result<Option<RequestResult>> {
        self.conn
            .query_row(
                "SELECT ok, result FROM requests WHERE id = ?1 AND done_at IS NOT NULL",
                [id],
                |r| {
                    Ok(RequestResult {
                        ok: r.get(0)?,
                        message: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn holds_lease(&self) -> bool {
        self.lease.is_some()
    }

    fn scheduler_running(&self, now: Millis) -> Result<bool> {
        let holder: Option<(u32, Millis)> = self
            .conn
            .query_row(
                "SELECT pid, heartbeat FROM scheduler_lease WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(holder.is_some_and(|(pid, heartbeat)| {
            now - heartbeat < LEASE_TTL.as_millis() as Millis && process_alive(pid)
        }))
    }

    /// Claims the scheduler for this process: one `watch` or `serve` per file, or two engines
    /// would raise every alert twice and steal each other's outbox rows. The claim is free when
    /// nobody holds it, when the holder's heartbeat is older than [`LEASE_TTL`], or when the
    /// holder's pid no longer runs (after a crash or SIGKILL).
    fn take_scheduler_lease(&mut self, now: Millis) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let me = std::process::id();
        let token = format!("{me}-{:016x}", rand::random::<u64>());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let holder: Option<(u32, Millis)> = tx
            .query_row(
                "SELECT pid, heartbeat FROM scheduler_lease WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        if let Some((pid, heartbeat)) = holder {
            let fresh = now - heartbeat < LEASE_TTL.as_millis() as Millis;
            // Our own pid: an earlier store of this process that was dropped without releasing.
            if pid != me && fresh && process_alive(pid) {
                return Err(store_error(
                    &path,
                    &format!(
                        "another medic watch/serve (pid {pid}) is using this database; stop it \
                         first, or give this one its own file with MEDIC_DB"
                    ),
                ));
            }
        }
        tx.execute(
            "INSERT INTO scheduler_lease (id, pid, token, heartbeat) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, token = ?2, heartbeat = ?3",
            params![me, token, now],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.lease = Some(token);
        Ok(())
    }

    /// Keeps our scheduler lease alive. `false` if another process took it over (this one was
    /// stalled for longer than [`LEASE_TTL`]): this one must stop.
    fn heartbeat(&mut self, now: Millis) -> Result<bool> {
        let Some(token) = &self.lease else {
            return Ok(true);
        };
        let n = self
            .conn
            .prepare_cached("UPDATE scheduler_lease SET heartbeat = ?2 WHERE id = 1 AND token = ?1")
            .and_then(|mut s| s.execute(params![token, now]))
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Gives the scheduler lease up (clean shutdown), so the next start need not check the pid.
    fn release_scheduler_lease(&mut self) -> Result<()> {
        let Some(token) = self.lease.take() else {
            return Ok(());
        };
        self.conn
            .execute("DELETE FROM scheduler_lease WHERE token = ?1", [token])
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn path(&self) -> &str {
        &self.path
    }

    /// Every endpoint's saved state.
    fn load_states(&self) -> Result<Vec<(String, EndpointState)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, state FROM endpoints")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, json) = row.map_err(|e| self.err(e))?;
            let state = serde_json::from_str(&json).map_err(|e| {
                store_error(
                    &self.path,
                    &format!("state of endpoint {name:?} is unreadable: {e}"),
                )
            })?;
            out.push((name, state));
        }
        Ok(out)
    }

    /// Silences not yet ended (including ones that expired while medic was not running, so
    /// their end is still handled).
    fn open_silences(&self) -> Result<Vec<Silence>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, endpoint, author, reason, from_at, until FROM silences WHERE ended_at IS NULL ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Silence {
                    id: r.get(0)?,
                    endpoint: r.get(1)?,
                    author: r.get(2)?,
                    reason: r.get(3)?,
                    from: r.get(4)?,
                    until: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Stores a new silence and returns its id. A silence it replaces is ended at `from`.
    fn insert_silence(&mut self, s: &Silence) -> Result<i64> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| db_error(&self.path, e))?;
        let result = (|| {
            tx.execute(
                "UPDATE silences SET ended_at = ?2 WHERE endpoint = ?1 AND ended_at IS NULL",
                params![s.endpoint, s.from],
            )?;
            tx.execute(
                "INSERT INTO silences (endpoint, author, reason, from_at, until) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.endpoint, s.author, s.reason, s.from, s.until],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })();
        result.map_err(|e| db_error(&self.path, e))
    }

    /// Writes one event's changes in a single transaction.
    fn commit(&mut self, c: &Commit<'_>) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&path, e))?;
        let ids = &mut self.endpoint_ids;
        let result = (|| -> rusqlite::Result<()> {
            for &(name, obs) in &c.checks {
                let id = Self::endpoint_id(&tx, ids, name)?;
                let health = match obs.health {
                    Overall::Ok => 0,
                    Overall::Warn => 1,
                    Overall::Fail => 2,
                };
                let (stage, detail) = if obs.health == Overall::Ok {
                    (None, None)
                } else {
                    (obs.cause.stage.as_deref(), obs.cause.detail.as_deref())
                };
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO checks (endpoint_id, at, health, latency_ms, stage, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![id, obs.at, health, obs.facts.latency_ms.map(|l| l as i64), stage, detail])?;
            }
            for (name, state) in &c.states {
                let id = Self::endpoint_id(&tx, ids, name)?;
                let json = serde_json::to_string(state)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                tx.prepare_cached("UPDATE endpoints SET state = ?2 WHERE id = ?1")?
                    .execute(params![id, json])?;
                write_incident(&tx, name, state)?;
            }
            for a in c.alerts {
                let json = serde_json::to_string(a)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                tx.prepare_cached(
                    "INSERT INTO outbox (id, endpoint, kind, created_at, alert, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4)",
                )?
                .execute(params![a.id, a.endpoint, a.kind.word(), a.at, json])?;
                write_incident_event(&tx, a)?;
            }
            for (s, at) in c.ended_silences {
                tx.execute(
                    "UPDATE silences SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
                    params![s.id, at],
                )?;
            }
            Ok(())
        })();
        result
            .and_then(|()| tx.commit())
            .map_err(|e| db_error(&path, e))
    }

    /// The oldest alert not yet delivered (and not given up on), whatever its retry time: alerts
    /// go out in order, so a failing one holds back the ones after it.
    fn next_pending(&self) -> Result<Option<OutboxItem>> {
        self.outbox_query("WHERE delivered_at IS NULL AND dead = 0 ORDER BY seq LIMIT 1")
            .map(|mut v| v.pop())
    }

    /// Every outbox row, oldest first (for tests and diagnostics).
    fn outbox(&self) -> Result<Vec<OutboxItem>> {
        self.outbox_query("ORDER BY seq")
    }

    /// An alert by its id (the id in a button's custom id).
    fn alert(&self, id: &str) -> Result<Option<Alert>> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT alert FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    fn mark_delivered(&mut self, seq: i64, at: Millis, message_id: Option<&str>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET delivered_at = ?2, message_id = ?3, attempts = attempts + 1 WHERE seq = ?1",
                params![seq, at, message_id],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a failed attempt; `retry_at` `None` gives up on the alert (Discord rejected it).
    fn mark_failed(&mut self, seq: i64, error: &str, retry_at: Option<Millis>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                 next_attempt_at = COALESCE(?3, next_attempt_at), dead = (?3 IS NULL) WHERE seq = ?1",
                params![seq, error, retry_at],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Deletes what is older than `retention`: check results, delivered and given-up alerts,
    /// closed incidents with their acknowledgements, ended silences, and endpoints that are no
    /// longer in `configured` once none of their checks is left. Returns rows removed.
    fn prune(
        &mut self,
        now: Millis,
        retention: Duration,
        configured: &std::collections::HashSet<String>,
    ) -> Result<usize> {
        // Zero is refused by the configuration; never delete the history of the last hour.
        let retention = retention.max(Duration::from_secs(3600));
        let cutoff = now - retention.as_millis() as Millis;
        // Per endpoint, so each delete is a range of the primary key (no index on `at` needed).
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM endpoints")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| self.err(e))?;
        let raw_cutoff = rollup::raw_cutoff(now);
        let mut checks = 0;
        for id in ids {
            checks += self
                .roll_up(id, cutoff, raw_cutoff)
                .map_err(|e| self.err(e))?;
        }
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_error(&path, e))?;
        let result = (|| -> rusqlite::Result<(usize, Vec<String>)> {
            let mut removed = 0;
            for sql in [
                "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < ?1)
                 OR (dead = 1 AND created_at < ?1)",
                "DELETE FROM acknowledgements WHERE incident_id IN
                 (SELECT id FROM incidents WHERE closed_at IS NOT NULL AND closed_at < ?1)",
                "DELETE FROM incidents WHERE closed_at IS NOT NULL AND closed_at < ?1",
                "DELETE FROM silences WHERE ended_at IS NOT NULL AND ended_at < ?1",
                "DELETE FROM requests WHERE done_at IS NOT NULL AND done_at < ?1",
                "DELETE FROM feedback WHERE at < ?1",
            ] {
                removed += tx.execute(sql, [cutoff])?;
            }
            // Endpoints gone from the configuration, once their last check is pruned.
            let candidates: Vec<(i64, String)> = tx
                .prepare(
                    "SELECT id, name FROM endpoints e
                     WHERE NOT EXISTS (SELECT 1 FROM checks c WHERE c.endpoint_id = e.id)
                     AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.endpoint_id = e.id)",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut gone = Vec::new();
            for (id, name) in candidates {
                if configured.contains(&name) {
                    continue;
                }
                removed += tx.execute("DELETE FROM endpoints WHERE id = ?1", [id])?;
                removed += tx.execute(
                    "DELETE FROM acknowledgements WHERE incident_id IN
                     (SELECT id FROM incidents WHERE endpoint = ?1)",
                    [&name],
                )?;
                removed += tx.execute("DELETE FROM incidents WHERE endpoint = ?1", [&name])?;
                removed += tx.execute("DELETE FROM silences WHERE endpoint = ?1", [&name])?;
                gone.push(name);
            }
            Ok((removed, gone))
        })();
        let (removed, gone) = result
            .and_then(|r| tx.commit().map(|()| r))
            .map_err(|e| db_error(&path, e))?;
        for name in gone {
            self.endpoint_ids.remove(&name);
        }
        Ok(checks + removed)
    }

    /// How many alerts wait for delivery, and why the oldest has not gone out.
    fn backlog(&self) -> Result<Backlog> {
        let (pending, oldest): (u64, Option<Millis>) = self
            .conn
            .query_row(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL AND dead = 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        let last_error = self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND dead = 0 ORDER BY seq LIMIT 1",
                [],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        Ok(Backlog {
            pending,
            oldest,
            last_error,
        })
    }

    /// Copies the WAL into the main file (done at a clean shutdown, so the file alone is
    /// complete for backups).
    fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(|e| self.err(e))
    }

    /// Number of stored check results (for tests and the benchmark).
    fn check_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM checks", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Uptime over 24 h and 7 d and latency percentiles over 24 h.
    fn history(&self, endpoint: &str, now: Millis) -> Result<History> {
        let Some(id) = self
            .conn
            .query_row(
                "SELECT id FROM endpoints WHERE name = ?1",
                [endpoint],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
        else {
            return Ok(History::default());
        };
        let week = now - 7 * 24 * rollup::HOUR_MS;
        let raw: Vec<(Millis, bool, Option<u64>)> = self
            .conn
            .prepare_cached(
                "SELECT at, health < 2, latency_ms FROM checks WHERE endpoint_id = ?1 AND at >= ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![id, week], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.err(e))?;
        let rollups: Vec<rollup::Rollup> = self
            .conn
            .prepare_cached(
                "SELECT hour, checks, good, latency FROM rollups WHERE endpoint_id = ?1 AND hour > ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![id, week - rollup::HOUR_MS], |r| {
                    Ok(rollup::Rollup {
                        hour: r.get(0)?,
                        checks: r.get(1)?,
                        good: r.get(2)?,
                        latency: rollup::Histogram::decode(&r.get::<_, String>(3)?),
                    })
                })?
                .collect()
            })
            .map_err(|e| self.err(e))?;
        Ok(rollup::history(now, &raw, &rollups))
    }

    /// Past and open incidents of an endpoint, newest first: (started_at, closed_at, failures).
    fn incidents(&self, endpoint: &str) -> Result<Vec<(Millis, Option<Millis>, u32)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT started_at, closed_at, failures FROM incidents WHERE endpoint = ?1 ORDER BY started_at DESC")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([endpoint], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Who acknowledged the incident that started at `started_at`.
    fn acks(&self, endpoint: &str, started_at: Millis) -> Result<Vec<Ack>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.by_user, a.at FROM acknowledgements a JOIN incidents i ON i.id = a.incident_id
                 WHERE i.endpoint = ?1 AND i.started_at = ?2 ORDER BY a.at",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![endpoint, started_at], |r| {
                Ok(Ack {
                    by: r.get(0)?,
                    at: r.get(1)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    fn reader(&self) -> Result<Option<Box<dyn Store>>> {
        if self.path == ":memory:" {
            return Ok(None);
        }
        Ok(Some(Box::new(SqliteStore::open_read_only(Path::new(
            &self.path,
        ))?)))
    }
}

/// Keeps the incidents table in step with the state: the open incident upserted, any other
/// open row closed at the start of the good streak that ended it.
fn write_incident(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    state: &EndpointState,
) -> rusqlite::Result<()> {
    let open_start = state.incident.as_ref().map(|i| i.started_at);
    let closed_at = state.up_since.or(state.last_check);
    tx.prepare_cached(
        "UPDATE incidents SET closed_at = ?3 WHERE endpoint = ?1 AND closed_at IS NULL AND started_at IS NOT ?2",
    )?
    .execute(params![name, open_start, closed_at])?;
    if let Some(Incident {
        started_at,
        failures,
        cause,
        announced,
        ack,
        ..
    }) = &state.incident
    {
        let (stage, detail) = (&cause.stage, &cause.detail);
        tx.prepare_cached(
            "INSERT INTO incidents (endpoint, started_at, failures, stage, detail, announced) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (endpoint, started_at) DO UPDATE SET failures = ?3, stage = ?4, detail = ?5, announced = ?6",
        )?
        .execute(params![name, started_at, failures, stage, detail, announced])?;
        // The acknowledgement lands in the same transaction as the state that holds it.
        if let Some(ack) = ack {
            tx.prepare_cached(
                "INSERT INTO acknowledgements (incident_id, by_user, at)
                 SELECT i.id, ?3, ?4 FROM incidents i WHERE i.endpoint = ?1 AND i.started_at = ?2
                 AND NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.incident_id = i.id)",
            )?
            .execute(params![name, started_at, ack.by, ack.at])?;
        }
    }
    Ok(())
}

/// The incident row an alert speaks of, written with the alert itself: when the database
/// refused writes while an incident opened and closed, the state written afterwards no longer
/// holds it, but its DOWN and RECOVERED do, so every delivered alert has its incident row.
fn write_incident_event(tx: &rusqlite::Transaction<'_>, a: &Alert) -> rusqlite::Result<()> {
    let Some(since) = a.since else { return Ok(()) };
    match a.kind {
        AlertKind::Down | AlertKind::Recovered => {
            tx.prepare_cached(
                "INSERT INTO incidents (endpoint, started_at, failures, stage, detail, announced) VALUES (?1, ?2, ?3, ?4, ?5, 1)
                 ON CONFLICT (endpoint, started_at) DO NOTHING",
            )?
            .execute(params![a.endpoint, since, a.failures, a.cause.stage, a.cause.detail])?;
        }
        AlertKind::Reminder | AlertKind::Warning => return Ok(()),
    }
    if a.kind == AlertKind::Recovered {
        let closed_at = since + a.downtime_ms.unwrap_or(0);
        tx.prepare_cached(
            "UPDATE incidents SET closed_at = ?3 WHERE endpoint = ?1 AND started_at = ?2 AND closed_at IS NULL",
        )?
        .execute(params![a.endpoint, since, closed_at])?;
    }
    Ok(())
}

/// Whether `pid` is a running (not zombie) process; `true` where `/proc` cannot tell, so that
/// only the heartbeat's age decides there.
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn store_error(path: &str, message: &str) -> Error {
    Error::Store {
        path: path.to_string(),
        message: message.to_string(),
    }
}

const LOCKED: &str = "is locked by another process";

/// Turns SQLite's error codes into messages that say what to do.
fn db_error(path: &str, e: rusqlite::Error) -> Error {
    let message = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::NotADatabase => "is not a medic database or is corrupted (SQLite: file is not a database); move it away or set MEDIC_DB to another path".to_string(),
            ErrorCode::DatabaseCorrupt => "is corrupted; move it away or set MEDIC_DB to another path".to_string(),
            ErrorCode::ReadOnly => "cannot be written (read-only file or directory); check its permissions".to_string(),
            ErrorCode::CannotOpen => "cannot be opened (missing directory or no permission); check the path and permissions".to_string(),
            ErrorCode::PermissionDenied => "cannot be opened: permission denied".to_string(),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => LOCKED.to_string(),
            ErrorCode::DiskFull => "cannot be written: disk full".to_string(),
            ErrorCode::SystemIoFailure => format!("I/O error: {e}"),
            _ => e.to_string(),
        },
        _ => e.to_string(),
    };
    store_error(path, &message)
}
