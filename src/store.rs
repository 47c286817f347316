//! The SQLite database: the one place that knows the SQL.

use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use thiserror::Error;

use crate::domain::{Pair, Recipient};
use crate::feishu::ListedTask;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// A pending pair's flow knowledge and expedite history. The last expedite counts from when its
/// call ended (the intent when it never did): a call held back by a rate-limit wait reached the
/// assignee later than its intent was written, and `repeat` is the gap the assignee sees.
macro_rules! pair_history_columns {
    () => {
        "(SELECT group_concat(f.flow_set, char(10)) FROM task_flows f WHERE f.task_id = a.task_id AND f.member = 1) AS flows,
         (SELECT count(*) FROM expedite_assignees ea
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.counts = 1) AS sent,
         (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.counts = 1) AS last_sent"
    };
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("database {}: {context}: {source}", path.display())]
    Query {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The same (task, assignee, n) is already recorded as sent or possibly sent.
    #[error("expedite {n} of task {task_id} for {user_id} is already recorded")]
    AlreadyRecorded {
        task_id: String,
        user_id: String,
        n: u32,
    },
}

/// Which pending pairs to read.
#[derive(Debug, Clone, Copy)]
pub enum PairScope<'a> {
    All,
    /// The pairs of every task pending for this user, all its assignees included.
    TasksOf(&'a str),
    /// The pairs of tasks first seen at or after this time.
    FirstSeenSince(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed,
    /// The call may or may not have reached Feishu (timeout, crash).
    Unknown,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

/// One recorded expedite, for history views and tests.
#[derive(Debug, Clone)]
pub struct ExpediteRecord {
    pub id: i64,
    pub task_id: String,
    pub rule: String,
    pub operator_id: String,
    pub opinion: String,
    pub intent_at: DateTime<Utc>,
    pub outcome: String,
    pub feishu_code: Option<i64>,
    pub feishu_msg: Option<String>,
    /// (user, n)
    pub assignees: Vec<(String, u32)>,
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

/// A listed task's facts as they would be stored, for comparing with [`Store::all_snapshots`].
pub fn listed_fingerprint(t: &ListedTask) -> u64 {
    let labels = serde_json::to_string(&t.labels).unwrap_or_else(|_| "[]".into());
    fingerprint(
        t.instance_id.as_deref(),
        &labels,
        t.status.as_deref(),
        t.initiator_id.as_deref(),
        t.initiator_name.as_deref(),
        t.start_time.map(ms),
    )
}

/// A listed task to store: for whom, from which listing (a flow filter, or none).
#[derive(Debug, Clone)]
pub struct ListedRow {
    pub user: String,
    pub flow_set: Option<String>,
    pub task: ListedTask,
}

/// What a listing needs to know of a task already pending for its user.
#[derive(Debug, Clone, Copy)]
pub struct StoredTask {
    pub fingerprint: u64,
    /// Start time, or first seen when Feishu gave none: what its age counts from.
    pub started: DateTime<Utc>,
    /// The previous complete listing lacked it: a listing that holds it must say so.
    pub missing: bool,
}

/// What a complete listing's absent tasks did to a user's assignments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Absent {
    /// Lacked by two complete listings in a row: finished.
    pub finished: u64,
    /// Lacked for the first time: marked missing, finished if the next listing agrees.
    pub missing: u64,
}

fn fingerprint(
    instance_id: Option<&str>,
    labels: &str,
    status: Option<&str>,
    initiator_id: Option<&str>,
    initiator_name: Option<&str>,
    start_time: Option<i64>,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    (
        instance_id,
        labels,
        status,
        initiator_id,
        initiator_name,
        start_time,
    )
        .hash(&mut h);
    h.finish()
}

/// SQLITE_CANTOPEN: the file (or one SQLite needs beside it) cannot be opened.
fn is_cant_open(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("14"))
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

impl Store {
    /// Opens (creating and migrating when needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| open_err(e.to_string()))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Listings are cheap to redo, so their commits need not reach the disk at once;
            // expedite intents and outcomes switch to FULL (see `durably`).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // One connection: the daemon is the only writer, and one writer never meets SQLITE_BUSY
        // inside the process.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| open_err(format!("cannot open: {e}")))?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            open_err(format!(
                "cannot migrate (is this an expediter database, and writable?): {e}"
            ))
        })?;
        // Prove the file takes writes now rather than at the first expedite.
        sqlx::query("PRAGMA user_version = 1")
            .execute(&pool)
            .await
            .map_err(|e| open_err(format!("not writable: {e}")))?;
        Ok(Store {
            pool,
            path: path.to_owned(),
        })
    }

    /// Opens an existing database for reading only (`plan`, reports): nothing is created,
    /// migrated or written, so a command that only looks can never change what the daemon keeps.
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        let pool = match Self::probe_read_only(path, false).await {
            // A WAL database needs its shared-memory file, which a read-only file system
            // cannot create. Nothing can change the file there, so it may be read as immutable.
            Err(e) if is_cant_open(&e) => Self::probe_read_only(path, true).await,
            other => other,
        }
        .map_err(|e| open_err(format!("not an expediter database, or not readable: {e}")))?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .map_err(|e| open_err(format!("not an expediter database: {e}")))?;
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        if applied.unwrap_or(0) < latest {
            pool.close().await;
            return Err(open_err(
                "written by an older expediter: run `expediter once` (or restart the daemon) once to upgrade it".into(),
            ));
        }
        Ok(Store {
            pool,
            path: path.to_owned(),
        })
    }

    /// A read-only pool on `path`, proven by one read.
    async fn probe_read_only(path: &Path, immutable: bool) -> Result<SqlitePool, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(immutable)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&pool)
            .await?;
        Ok(pool)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self, context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| StoreError::Query {
            path: self.path.clone(),
            context,
            source,
        }
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.err("begin a transaction"))
    }

    /// Stores one page of `user`'s listing; see [`record_listed`](Self::record_listed).
    pub async fn record_page(
        &self,
        user: &str,
        flow_set: Option<&str>,
        tasks: &[ListedTask],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let rows: Vec<ListedRow> = tasks
            .iter()
            .map(|t| ListedRow {
                user: user.to_owned(),
                flow_set: flow_set.map(str::to_owned),
                task: t.clone(),
            })
            .collect();
        self.record_listed(&rows, now).await
    }

    /// Stores listed tasks — of any users and listings — in one transaction of a few
    /// set-based statements: new tasks inserted, changed ones updated (unchanged rows are not
    /// rewritten), assignments marked current, and for filtered listings the flow filter that
    /// returned them. Returns how many tasks were new.
    pub async fn record_listed(
        &self,
        listed: &[ListedRow],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if listed.is_empty() {
            return Ok(0);
        }
        let now = ms(now);
        let rows: Vec<_> = listed
            .iter()
            .map(
                |ListedRow {
                     user,
                     flow_set,
                     task: t,
                 }| {
                    (
                        &t.task_id,
                        &t.instance_id,
                        serde_json::to_string(&t.labels).unwrap_or_else(|_| "[]".into()),
                        &t.status,
                        &t.initiator_id,
                        &t.initiator_name,
                        t.start_time.map(ms),
                        listed_fingerprint(t) as i64,
                        user,
                        flow_set,
                    )
                },
            )
            .collect();
        let batch = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin().await?;
        let new = sqlx::query(
            "INSERT OR IGNORE INTO tasks (task_id, instance_id, labels, status, initiator_id, initiator_name, start_time, fingerprint, first_seen, last_seen)
             SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, j.value->>7, ?2, ?2
             FROM json_each(?1) j",
        )
        .bind(&batch)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("store tasks"))?
        .rows_affected();
        // Tasks that were there already: rewrite the ones whose facts changed (or that had
        // finished and are back). A page of only new tasks needs no second look.
        if new < listed.len() as u64 {
            sqlx::query(
                "UPDATE tasks SET
                   instance_id = coalesce(s.instance_id, tasks.instance_id),
                   labels = CASE WHEN s.labels = '[]' THEN tasks.labels ELSE s.labels END,
                   status = coalesce(s.status, tasks.status),
                   initiator_id = coalesce(s.initiator_id, tasks.initiator_id),
                   initiator_name = coalesce(s.initiator_name, tasks.initiator_name),
                   start_time = coalesce(s.start_time, tasks.start_time),
                   fingerprint = s.fingerprint,
                   last_seen = ?2,
                   finished_at = NULL
                 FROM (SELECT j.value->>0 AS task_id, j.value->>1 AS instance_id, j.value->>2 AS labels, j.value->>3 AS status,
                              j.value->>4 AS initiator_id, j.value->>5 AS initiator_name, j.value->>6 AS start_time,
                              j.value->>7 AS fingerprint
                       FROM json_each(?1) j) AS s
                 WHERE tasks.task_id = s.task_id
                   AND (tasks.finished_at IS NOT NULL OR tasks.fingerprint IS NOT s.fingerprint)",
            )
            .bind(&batch)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err("update tasks"))?;
        }
        sqlx::query(
            "INSERT INTO assignments (task_id, user_id, first_seen, last_seen)
             SELECT j.value->>0, j.value->>8, ?2, ?2 FROM json_each(?1) j WHERE true
             ON CONFLICT (task_id, user_id) DO UPDATE SET finished_at = NULL, missing_since = NULL, last_seen = excluded.last_seen
             WHERE assignments.finished_at IS NOT NULL OR assignments.missing_since IS NOT NULL",
        )
        .bind(&batch)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("store assignments"))?;
        if listed.iter().any(|r| r.flow_set.is_some()) {
            sqlx::query(
                "INSERT INTO task_flows (task_id, flow_set, member)
                 SELECT j.value->>0, j.value->>9, 1 FROM json_each(?1) j WHERE j.value->>9 IS NOT NULL
                 ON CONFLICT (task_id, flow_set) DO UPDATE SET member = 1 WHERE task_flows.member = 0",
            )
            .bind(&batch)
            .execute(&mut *tx)
            .await
            .map_err(self.err("store tasks' flow"))?;
        }
        tx.commit().await.map_err(self.err("commit a page"))?;
        Ok(new)
    }

    /// For every user, the tasks pending for them with their fingerprints and start times, read
    /// in a few aggregated chunks (a cycle's first read, instead of one read per user).
    pub async fn all_snapshots(
        &self,
    ) -> Result<FxHashMap<String, FxHashMap<String, StoredTask>>, StoreError> {
        const CHUNK: i64 = 5000;
        let mut all: FxHashMap<String, FxHashMap<String, StoredTask>> = FxHashMap::default();
        let mut after = (String::new(), String::new());
        loop {
            let chunk: String = sqlx::query_scalar(
                "SELECT json_group_array(json_array(user_id, task_id, fp, started, missing)) FROM (
                   SELECT a.user_id, a.task_id, coalesce(t.fingerprint, 0) AS fp, coalesce(t.start_time, t.first_seen) AS started,
                          a.missing_since IS NOT NULL AS missing
                   FROM assignments a JOIN tasks t ON t.task_id = a.task_id
                   WHERE a.finished_at IS NULL AND (a.user_id, a.task_id) > (?1, ?2)
                   ORDER BY a.user_id, a.task_id LIMIT ?3)",
            )
            .bind(&after.0)
            .bind(&after.1)
            .bind(CHUNK)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("read pending tasks"))?;
            let rows: Vec<(String, String, i64, i64, i64)> =
                serde_json::from_str(&chunk).map_err(|e| StoreError::Open {
                    path: self.path.clone(),
                    message: format!("unreadable task rows: {e}"),
                })?;
            let full = rows.len() as i64 == CHUNK;
            if let Some((u, t, _, _, _)) = rows.last() {
                after = (u.clone(), t.clone());
            }
            for (user, task, fingerprint, started, missing) in rows {
                all.entry(user).or_default().insert(
                    task,
                    StoredTask {
                        fingerprint: fingerprint as u64,
                        started: from_ms(started),
                        missing: missing != 0,
                    },
                );
            }
            if !full {
                return Ok(all);
            }
        }
    }

    /// Records that these users were listed completely at `now` (their pending tasks were seen).
    pub async fn record_listings(
        &self,
        users: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO user_listings (user_id, listed_at) SELECT value, ?2 FROM json_each(?1) WHERE true
             ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at",
        )
        .bind(serde_json::to_string(users).unwrap_or_else(|_| "[]".into()))
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("record listings"))?;
        Ok(())
    }

    /// After a complete listing of `user` at `now` that lacks the tasks in `gone`:
    ///
    /// Offset paging over a live list can skip a task that is still pending (one on an earlier
    /// page finishes while another arrives at the end: the total holds, every later task moves
    /// up a place, and the one that slid back a page is never seen). One listing that lacks a
    /// task is therefore no proof: the assignment is only marked missing (last seen at the
    /// previous complete listing). The next complete listing that lacks it too finishes it, as
    /// of the first listing that lacked it; one that holds it clears the mark. Two listings in
    /// a row cost no extra call, and a shift that strikes the same task twice in a row is
    /// improbable; a listing narrowed by start time to confirm each absent task would cost a
    /// query per finished task, which the rate budget cannot spare at scale.
    ///
    /// A task no watched user has pending any more is finished too; the user's listing time is
    /// recorded.
    pub async fn record_absent(
        &self,
        user: &str,
        gone: &[String],
        now: DateTime<Utc>,
    ) -> Result<Absent, StoreError> {
        let now = ms(now);
        let record_listing = sqlx::query(
            "INSERT INTO user_listings (user_id, listed_at) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at",
        )
        .bind(user)
        .bind(now);
        if gone.is_empty() {
            record_listing
                .execute(&self.pool)
                .await
                .map_err(self.err("record a listing"))?;
            return Ok(Absent::default());
        }
        let gone_json = serde_json::to_string(gone).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin().await?;
        let finished = sqlx::query(
            "UPDATE assignments SET finished_at = missing_since
             WHERE user_id = ?2 AND finished_at IS NULL AND missing_since IS NOT NULL AND missing_since < ?3
               AND task_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&gone_json)
        .bind(user)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("finish assignments"))?
        .rows_affected();
        let missing = sqlx::query(
            "UPDATE assignments SET missing_since = ?3,
               last_seen = coalesce((SELECT listed_at FROM user_listings WHERE user_id = ?2), last_seen)
             WHERE user_id = ?2 AND finished_at IS NULL AND missing_since IS NULL
               AND task_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&gone_json)
        .bind(user)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("mark missing assignments"))?
        .rows_affected();
        if finished > 0 {
            sqlx::query(
                "UPDATE tasks SET
                   finished_at = (SELECT max(a.finished_at) FROM assignments a WHERE a.task_id = tasks.task_id),
                   last_seen = coalesce((SELECT max(a.last_seen) FROM assignments a WHERE a.task_id = tasks.task_id), last_seen)
                 WHERE finished_at IS NULL AND task_id IN (SELECT value FROM json_each(?1))
                 AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = tasks.task_id AND a.finished_at IS NULL)",
            )
            .bind(&gone_json)
            .execute(&mut *tx)
            .await
            .map_err(self.err("finish tasks"))?;
        }
        record_listing
            .execute(&mut *tx)
            .await
            .map_err(self.err("record a listing"))?;
        tx.commit()
            .await
            .map_err(self.err("commit finished tasks"))?;
        Ok(Absent { finished, missing })
    }

    /// How many of `task_ids` have a known membership of `flow_set` (either way).
    pub async fn known_flow_membership<'a>(
        &self,
        task_ids: impl IntoIterator<Item = &'a String>,
        flow_set: &str,
    ) -> Result<usize, StoreError> {
        let ids: Vec<&String> = task_ids.into_iter().collect();
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let known: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM json_each(?2) j JOIN task_flows f ON f.task_id = j.value AND f.flow_set = ?1",
        )
        .bind(flow_set)
        .bind(ids)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("read flow knowledge"))?;
        Ok(known as usize)
    }

    /// Records that these tasks are not of `flow_set` (unless a listing already said they are).
    pub async fn record_non_members(
        &self,
        task_ids: &[String],
        flow_set: &str,
    ) -> Result<(), StoreError> {
        if task_ids.is_empty() {
            return Ok(());
        }
        sqlx::query("INSERT OR IGNORE INTO task_flows (task_id, flow_set, member) SELECT value, ?2, 0 FROM json_each(?1)")
            .bind(serde_json::to_string(task_ids).unwrap_or_else(|_| "[]".into()))
            .bind(flow_set)
            .execute(&self.pool)
            .await
            .map_err(self.err("store flow knowledge"))?;
        Ok(())
    }

    /// Every pending (task, assignee) pair with its facts and expedite history.
    pub async fn pending_pairs(&self) -> Result<Vec<Pair>, StoreError> {
        let mut rows = Vec::new();
        self.visit_pending_pairs(PairScope::All, None, |r| rows.push(r))
            .await?;
        Ok(rows)
    }

    /// Hands the pending pairs in `scope` to `visit` — only those of tasks started at or before
    /// `started_before` when given — in chunks: each chunk is one query
    /// answering one row (a JSON array of pairs), which keeps both the memory held and the
    /// round trips to SQLite's worker thread small.
    pub async fn visit_pending_pairs(
        &self,
        scope: PairScope<'_>,
        started_before: Option<DateTime<Utc>>,
        mut visit: impl FnMut(Pair),
    ) -> Result<(), StoreError> {
        const CHUNK: i64 = 2000;
        let started_before = started_before.map_or(i64::MAX, ms);
        type Wire = (
            String,
            String,
            Vec<(String, String)>,
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
            Option<String>,
            i64,
            Option<i64>,
            Option<i64>,
        );
        let mut after = (String::new(), String::new());
        loop {
            let query = match scope {
                PairScope::FirstSeenSince(since) => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_array(task_id, user_id, json(labels), initiator_id, initiator_name, start_time, first_seen, flows, sent, last_sent, missing_since)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    // CROSS JOIN keeps tasks the outer loop: the few first seen this cycle are
                    // found through their partial index, not by scanning every assignment.
                    " FROM tasks t CROSS JOIN assignments a ON a.task_id = t.task_id
                      WHERE t.first_seen >= ?1 AND t.finished_at IS NULL AND a.finished_at IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(ms(since)),
                PairScope::All => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_array(task_id, user_id, json(labels), initiator_id, initiator_name, start_time, first_seen, flows, sent, last_sent, missing_since)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    " FROM assignments a JOIN tasks t ON t.task_id = a.task_id
                      WHERE a.finished_at IS NULL AND ?1 IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(None::<i64>),
                PairScope::TasksOf(user) => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_array(task_id, user_id, json(labels), initiator_id, initiator_name, start_time, first_seen, flows, sent, last_sent, missing_since)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    " FROM assignments mine JOIN assignments a ON a.task_id = mine.task_id JOIN tasks t ON t.task_id = a.task_id
                      WHERE mine.user_id = ?1 AND mine.finished_at IS NULL AND a.finished_at IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(user),
            };
            let chunk: String = query
                .bind(&after.0)
                .bind(&after.1)
                .bind(CHUNK)
                .bind(started_before)
                .fetch_one(&self.pool)
                .await
                .map_err(self.err("read pending tasks"))?;
            let rows: Vec<Wire> = serde_json::from_str(&chunk).map_err(|e| StoreError::Open {
                path: self.path.clone(),
                message: format!("unreadable pending tasks: {e}"),
            })?;
            let full = rows.len() as i64 == CHUNK;
            for (
                task_id,
                user_id,
                labels,
                initiator_id,
                initiator_name,
                start_time,
                first_seen,
                flows,
                sent,
                last_sent,
                missing_since,
            ) in rows
            {
                after = (task_id.clone(), user_id.clone());
                visit(Pair {
                    task_id,
                    user_id,
                    labels,
                    initiator_id,
                    initiator_name,
                    start_time: start_time.map(from_ms),
                    first_seen: from_ms(first_seen),
                    flow_sets: flows
                        .map(|s| s.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    sent: sent as u32,
                    last_sent: last_sent.map(from_ms),
                    missing_since: missing_since.map(from_ms),
                });
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Writes the intent to expedite before the call. Fails with
    /// [`StoreError::AlreadyRecorded`] if any (task, assignee, n) was already sent or may have been.
    pub async fn record_intent(
        &self,
        task_id: &str,
        rule: &str,
        operator_id: &str,
        opinion: &str,
        assignees: &[Recipient],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.set_full_sync(true).await?;
        let result = self
            .insert_intent(task_id, rule, operator_id, opinion, assignees, now)
            .await;
        self.set_full_sync(false).await?;
        result
    }

    /// Expedite records must survive a power cut, not only a crash: their transactions commit
    /// with `synchronous = FULL` (per connection; the pool has one). Listings use NORMAL.
    async fn set_full_sync(&self, full: bool) -> Result<(), StoreError> {
        let sql = if full {
            "PRAGMA synchronous = FULL"
        } else {
            "PRAGMA synchronous = NORMAL"
        };
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map_err(self.err("set durability"))?;
        Ok(())
    }

    async fn insert_intent(
        &self,
        task_id: &str,
        rule: &str,
        operator_id: &str,
        opinion: &str,
        assignees: &[Recipient],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO expedites (task_id, rule, operator_id, opinion, intent_at, outcome) VALUES (?1, ?2, ?3, ?4, ?5, 'pending') RETURNING id",
        )
        .bind(task_id)
        .bind(rule)
        .bind(operator_id)
        .bind(opinion)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err("record an expedite intent"))?;
        for a in assignees {
            let result = sqlx::query("INSERT INTO expedite_assignees (expedite_id, task_id, user_id, rule, n) VALUES (?1, ?2, ?3, ?4, ?5)")
                .bind(id)
                .bind(task_id)
                .bind(&a.user_id)
                .bind(&a.rule)
                .bind(i64::from(a.n))
                .execute(&mut *tx)
                .await;
            match result {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::AlreadyRecorded {
                        task_id: task_id.to_owned(),
                        user_id: a.user_id.clone(),
                        n: a.n,
                    });
                }
                Err(e) => return Err(self.err("record an expedite intent")(e)),
            }
        }
        tx.commit()
            .await
            .map_err(self.err("commit an expedite intent"))?;
        Ok(id)
    }

    /// Writes what became of an expediting call. A failed call stops counting, so the same
    /// expedite may be tried again in a later cycle.
    pub async fn record_outcome(
        &self,
        id: i64,
        outcome: Outcome,
        code: Option<i64>,
        msg: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE expedites SET outcome = ?2, outcome_at = ?3, feishu_code = ?4, feishu_msg = ?5 WHERE id = ?1")
            .bind(id)
            .bind(outcome.as_str())
            .bind(ms(now))
            .bind(code)
            .bind(msg)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record an expedite outcome"))?;
        if outcome == Outcome::Failed {
            sqlx::query("UPDATE expedite_assignees SET counts = 0 WHERE expedite_id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.err("record an expedite outcome"))?;
        }
        tx.commit()
            .await
            .map_err(self.err("commit an expedite outcome"))?;
        Ok(())
    }

    /// Intents left without an outcome by an earlier run (a crash, a kill) or an abandoned
    /// call: they count as sent, and are marked `unknown`. Returns them for logging.
    pub async fn settle_unfinished_intents(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ExpediteRecord>, StoreError> {
        let open = self.read_expedites(true).await?;
        for e in &open {
            self.record_outcome(
                e.id,
                Outcome::Unknown,
                None,
                Some("no outcome recorded (process stopped during the call)"),
                now,
            )
            .await?;
        }
        Ok(open)
    }

    /// Every recorded expedite, oldest first.
    pub async fn expedites(&self) -> Result<Vec<ExpediteRecord>, StoreError> {
        self.read_expedites(false).await
    }

    /// Recorded expedites, oldest first: every one, or only those still without an outcome.
    async fn read_expedites(&self, open_only: bool) -> Result<Vec<ExpediteRecord>, StoreError> {
        macro_rules! select {
            ($filter:literal) => {
                concat!(
                    "SELECT e.id, e.task_id, e.rule, e.operator_id, e.opinion, e.intent_at, e.outcome, e.feishu_code, e.feishu_msg,
                            (SELECT group_concat(ea.user_id || ':' || ea.n, ',') FROM expedite_assignees ea WHERE ea.expedite_id = e.id)
                     FROM expedites e ", $filter, " ORDER BY e.id"
                )
            };
        }
        let sql = if open_only {
            select!("WHERE e.outcome = 'pending'")
        } else {
            select!("")
        };
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read expedites"))?;
        Ok(rows
            .into_iter()
            .map(|r| ExpediteRecord {
                id: r.get(0),
                task_id: r.get(1),
                rule: r.get(2),
                operator_id: r.get(3),
                opinion: r.get(4),
                intent_at: from_ms(r.get(5)),
                outcome: r.get(6),
                feishu_code: r.get(7),
                feishu_msg: r.get(8),
                assignees: r
                    .get::<Option<String>, _>(9)
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|p| {
                        let (u, n) = p.rsplit_once(':')?;
                        Some((u.to_owned(), n.parse().ok()?))
                    })
                    .collect(),
            })
            .collect())
    }

    /// Deletes tasks finished before `cutoff`, with their assignments, flow knowledge and
    /// expedite history. Returns (tasks, expedites) deleted.
    pub async fn prune(&self, cutoff: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let cutoff = ms(cutoff);
        let mut tx = self.begin().await?;
        let expedites = sqlx::query(
            "DELETE FROM expedites WHERE task_id IN (SELECT task_id FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(self.err("prune expedites"))?
        .rows_affected();
        let tasks =
            sqlx::query("DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(self.err("prune tasks"))?
                .rows_affected();
        tx.commit().await.map_err(self.err("commit pruning"))?;
        Ok((tasks, expedites))
    }

    /// How many tasks are tracked, pending and finished.
    pub async fn task_counts(&self) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query("SELECT count(*) FILTER (WHERE finished_at IS NULL), count(*) FILTER (WHERE finished_at IS NOT NULL) FROM tasks")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("count tasks"))?;
        Ok((row.get::<i64, _>(0) as u64, row.get::<i64, _>(1) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> ListedTask {
        ListedTask {
            task_id: id.into(),
            instance_id: Some(format!("w{id}")),
            labels: vec![("2052".into(), "报销".into())],
            status: None,
            initiator_id: Some("9".into()),
            initiator_name: None,
            start_time: None,
        }
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/e.db")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn pages_upsert_and_complete_listings_finish() {
        let (_d, s) = store().await;
        let t0 = Utc::now();
        assert_eq!(
            s.record_page("u1", None, &[task("1"), task("2")], t0)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.record_page("u2", Some("flowA"), &[task("2")], t0)
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.pending_pairs().await.unwrap().len(), 3);
        // One listing that lacks a task only marks it missing; the next one finishes it.
        let t1 = t0 + chrono::TimeDelta::minutes(10);
        let t2 = t1 + chrono::TimeDelta::minutes(10);
        assert_eq!(
            s.record_absent("u1", &["1".to_owned()], t1).await.unwrap(),
            Absent {
                finished: 0,
                missing: 1
            }
        );
        let pairs = s.pending_pairs().await.unwrap();
        assert_eq!(pairs.len(), 3);
        let one = pairs.iter().find(|p| p.task_id == "1").unwrap();
        assert_eq!(one.missing_since.map(ms), Some(ms(t1)));
        assert_eq!(
            s.record_absent("u1", &["1".to_owned()], t2).await.unwrap(),
            Absent {
                finished: 1,
                missing: 0
            }
        );
        let pairs = s.pending_pairs().await.unwrap();
        assert_eq!(pairs.len(), 2);
        assert!(pairs.iter().all(|p| p.task_id == "2"));
        assert_eq!(
            pairs.iter().find(|p| p.user_id == "u2").unwrap().flow_sets,
            vec!["flowA"]
        );
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        // Task 2 is still pending for u2, so it is not finished when u1 no longer has it.
        s.record_absent("u1", &["2".to_owned()], t1).await.unwrap();
        assert_eq!(
            s.record_absent("u1", &["2".to_owned()], t2)
                .await
                .unwrap()
                .finished,
            1
        );
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        // A task that comes back is pending again.
        s.record_page("u1", None, &[task("1")], t0).await.unwrap();
        assert_eq!(s.task_counts().await.unwrap(), (2, 0));
    }

    #[tokio::test]
    async fn a_task_listed_again_after_one_miss_stays_pending() {
        let (_d, s) = store().await;
        let t0 = Utc::now();
        s.record_page("u1", None, &[task("1"), task("2")], t0)
            .await
            .unwrap();
        let t1 = t0 + chrono::TimeDelta::minutes(10);
        s.record_absent("u1", &["2".to_owned()], t1).await.unwrap();
        assert!(s.all_snapshots().await.unwrap()["u1"]["2"].missing);
        // Listed again: the mark is cleared, so a later single miss does not finish it.
        s.record_page("u1", None, &[task("2")], t1).await.unwrap();
        assert!(!s.all_snapshots().await.unwrap()["u1"]["2"].missing);
        let t2 = t1 + chrono::TimeDelta::minutes(10);
        assert_eq!(
            s.record_absent("u1", &["2".to_owned()], t2).await.unwrap(),
            Absent {
                finished: 0,
                missing: 1
            }
        );
        assert_eq!(s.pending_pairs().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn read_only_opening_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        assert!(
            Store::open_read_only(&path).await.is_err(),
            "no file, no store"
        );
        assert!(!path.exists(), "nothing created");
        let s = Store::open(&path).await.unwrap();
        s.record_page("u1", None, &[task("1")], Utc::now())
            .await
            .unwrap();
        s.close().await;
        let r = Store::open_read_only(&path).await.unwrap();
        assert_eq!(r.pending_pairs().await.unwrap().len(), 1);
        let err = r
            .record_page("u1", None, &[task("2")], Utc::now())
            .await
            .expect_err("read-only");
        assert!(err.to_string().contains("e.db"), "{err}");
    }

    #[tokio::test]
    async fn the_same_expedite_is_recorded_once() {
        let (_d, s) = store().await;
        let now = Utc::now();
        s.record_page("u1", None, &[task("1")], now).await.unwrap();
        let a = vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n: 1,
        }];
        let id = s
            .record_intent("1", "r", "7000", "hi", &a, now)
            .await
            .unwrap();
        let again = s.record_intent("1", "r", "7000", "hi", &a, now).await;
        assert!(
            matches!(again, Err(StoreError::AlreadyRecorded { n: 1, .. })),
            "{again:?}"
        );
        // Once failed, the same n may be tried again.
        s.record_outcome(
            id,
            Outcome::Failed,
            Some(2320001),
            Some("param is invalid"),
            now,
        )
        .await
        .unwrap();
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 0);
        let id2 = s
            .record_intent("1", "r", "7000", "hi", &a, now)
            .await
            .unwrap();
        let pair = &s.pending_pairs().await.unwrap()[0];
        assert_eq!(
            (pair.sent, pair.last_sent.map(|t| t.timestamp_millis())),
            (1, Some(now.timestamp_millis()))
        );
        // An intent without an outcome is settled as unknown and still counts.
        let settled = s.settle_unfinished_intents(now).await.unwrap();
        assert_eq!(settled.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id2]);
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 1);
        let all = s.expedites().await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
            vec!["failed", "unknown"]
        );
        assert_eq!(all[0].feishu_code, Some(2320001));
    }

    #[tokio::test]
    async fn prune_removes_only_old_finished_tasks_and_their_history() {
        let (_d, s) = store().await;
        let long_ago = Utc::now() - chrono::TimeDelta::days(100);
        s.record_page(
            "u1",
            Some("f"),
            &[task("old"), task("new"), task("open")],
            long_ago,
        )
        .await
        .unwrap();
        let a = vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n: 1,
        }];
        s.record_intent("old", "r", "7000", "", &a, long_ago)
            .await
            .unwrap();
        s.record_intent("new", "r", "7000", "", &a, long_ago)
            .await
            .unwrap();
        for at in [long_ago, long_ago + chrono::TimeDelta::minutes(1)] {
            s.record_absent("u1", &["old".to_owned()], at)
                .await
                .unwrap();
        }
        let recently = Utc::now() - chrono::TimeDelta::minutes(1);
        for at in [recently, Utc::now()] {
            s.record_absent("u1", &["new".to_owned()], at)
                .await
                .unwrap();
        }
        let (tasks, expedites) = s
            .prune(Utc::now() - chrono::TimeDelta::days(90))
            .await
            .unwrap();
        assert_eq!((tasks, expedites), (1, 1));
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        assert_eq!(
            s.expedites()
                .await
                .unwrap()
                .iter()
                .map(|e| e.task_id.as_str())
                .collect::<Vec<_>>(),
            vec!["new"]
        );
    }

    #[tokio::test]
    async fn unusable_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-db");
        std::fs::write(
            &path,
            b"this is not sqlite, just text long enough to look like a header......",
        )
        .unwrap();
        let err = Store::open(&path)
            .await
            .err()
            .expect("garbage file must not open");
        assert!(err.to_string().contains("not-a-db"), "{err}");
    }
}
