//! What listings saw: tasks and who they are pending for, what each filtered listing taught
//! about a task's flow, and tasks that listings no longer hold.

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
// The batch statements are fixed text plus placeholders (`values_clause`): nothing listed is
// ever written into SQL.
use sqlx::{AssertSqlSafe, Sqlite as Db};

use super::Sqlite;
use crate::store::{Absent, ListedAssignment, StoreError, StoredTask, ms};

/// Rows per multi-row statement: well inside SQLite's limits on bound values.
const ROWS_PER_STATEMENT: usize = 400;

/// One statement of a batch, its values bound in order.
type Batch<'q> = sqlx::query::Query<'q, Db, sqlx::sqlite::SqliteArguments>;

/// Binds a task's facts in the column order both statements name: task_id, instance_id,
/// labels, status, initiator_id, initiator_name, start_time, fingerprint.
fn bind_facts<'q>(q: Batch<'q>, r: &'q TaskRow<'q>) -> Batch<'q> {
    q.bind(r.task_id)
        .bind(r.instance_id)
        .bind(r.labels.as_str())
        .bind(r.status)
        .bind(r.initiator_id)
        .bind(r.initiator_name)
        .bind(r.start_time)
        .bind(r.fingerprint)
}

/// `VALUES (?, …), …`: `rows` groups of `columns` anonymous placeholders, bound in order.
/// Written out by hand: a batch binds some 40,000 values, and formatting a numbered
/// placeholder for each showed as 3% of a first cycle's instructions.
fn values_clause(rows: usize, columns: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = String::with_capacity(7 + rows * (group.len() + 2));
    sql.push_str("VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&group);
    }
    sql
}

/// One listed task as bound into SQL, column by column.
struct TaskRow<'a> {
    task_id: &'a str,
    instance_id: Option<&'a str>,
    /// JSON `[[language_code, text], …]`.
    labels: String,
    status: Option<&'a str>,
    initiator_id: Option<&'a str>,
    initiator_name: Option<&'a str>,
    start_time: Option<i64>,
    fingerprint: i64,
    user_id: &'a str,
    flow_set: Option<&'a str>,
}

/// Pending assignments with their task's fingerprint and start, as JSON: the statement up to
/// its `WHERE`, which the reader completes with the rows it wants.
macro_rules! snapshot_sql {
    () => {
        "SELECT coalesce(json_group_array(json_object('user_id', user_id, 'task_id', task_id, 'fingerprint', fp,
                                                     'started', started, 'missing', missing)), '[]') FROM (
           SELECT a.user_id, a.task_id, coalesce(t.fingerprint, 0) AS fp, coalesce(t.start_time, t.first_seen) AS started,
                  a.missing_since IS NOT NULL AS missing
           FROM assignments a JOIN tasks t ON t.task_id = a.task_id
           WHERE a.finished_at IS NULL AND "
    };
}

/// One pending assignment as read back for a listing's comparison.
#[derive(Deserialize)]
struct SnapshotRow {
    user_id: String,
    task_id: String,
    fingerprint: i64,
    started: i64,
    missing: i64,
}

impl Sqlite {
    /// Stores listed tasks — of any users and listings — in one transaction of a few
    /// set-based statements: new tasks inserted, changed ones updated (unchanged rows are not
    /// rewritten), assignments marked current, and for filtered listings the flow set that
    /// returned them. Returns how many tasks were new.
    pub(in crate::store) async fn record_listed(
        &self,
        listed: &[ListedAssignment],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if listed.is_empty() {
            return Ok(0);
        }
        let now = ms(now);
        let rows: Vec<TaskRow<'_>> = listed
            .iter()
            .map(|r| TaskRow {
                task_id: &r.task.task_id,
                instance_id: r.task.instance_id.as_deref(),
                labels: serde_json::to_string(&r.task.labels).unwrap_or_else(|_| "[]".into()),
                status: r.task.status.as_deref(),
                initiator_id: r.task.initiator_id.as_deref(),
                initiator_name: r.task.initiator_name.as_deref(),
                start_time: r.task.start_time.map(ms),
                fingerprint: r.task.text_hash as i64,
                user_id: &r.user,
                flow_set: r.flow_set.as_deref(),
            })
            .collect();
        let mut tx = self.begin().await?;
        let mut new = 0;
        // Multi-row statements with bound values, a few hundred rows each: one parse (cached by
        // sqlx for a full chunk) and one step loop per chunk, no JSON to build or take apart.
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT OR IGNORE INTO tasks (task_id, instance_id, labels, status, initiator_id, initiator_name, start_time, fingerprint, first_seen, last_seen) {}",
                values_clause(chunk.len(), 10)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = bind_facts(q, r).bind(now).bind(now);
            }
            new += q
                .execute(&mut *tx)
                .await
                .map_err(self.err("store tasks"))?
                .rows_affected();
        }
        // Tasks that were there already: rewrite the ones whose facts changed (or that had
        // finished and are back). A batch of only new tasks needs no second look.
        if new < listed.len() as u64 {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "WITH s(task_id, instance_id, labels, status, initiator_id, initiator_name, start_time, fingerprint) AS ({})
                     UPDATE tasks SET
                       instance_id = coalesce(s.instance_id, tasks.instance_id),
                       labels = CASE WHEN s.labels = '[]' THEN tasks.labels ELSE s.labels END,
                       status = coalesce(s.status, tasks.status),
                       initiator_id = coalesce(s.initiator_id, tasks.initiator_id),
                       initiator_name = coalesce(s.initiator_name, tasks.initiator_name),
                       start_time = coalesce(s.start_time, tasks.start_time),
                       fingerprint = s.fingerprint,
                       finished_at = NULL,
                       last_seen = ?
                     FROM s WHERE tasks.task_id = s.task_id
                       AND (tasks.finished_at IS NOT NULL OR tasks.fingerprint IS NOT s.fingerprint)",
                    values_clause(chunk.len(), 8)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for r in chunk {
                    q = bind_facts(q, r);
                }
                q.bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("update tasks"))?;
            }
        }
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO assignments (task_id, user_id, first_seen, last_seen) {}
                 ON CONFLICT (task_id, user_id) DO UPDATE SET finished_at = NULL, missing_since = NULL, last_seen = excluded.last_seen
                 WHERE assignments.finished_at IS NOT NULL OR assignments.missing_since IS NOT NULL",
                values_clause(chunk.len(), 4)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r.task_id).bind(r.user_id).bind(now).bind(now);
            }
            q.execute(&mut *tx)
                .await
                .map_err(self.err("store assignments"))?;
        }
        let flows: Vec<&TaskRow<'_>> = rows.iter().filter(|r| r.flow_set.is_some()).collect();
        for chunk in flows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO task_flows (task_id, flow_set, member) {}
                 ON CONFLICT (task_id, flow_set) DO UPDATE SET member = 1, confirmed = 0 WHERE task_flows.member = 0",
                values_clause(chunk.len(), 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r.task_id).bind(r.flow_set).bind(1_i64);
            }
            q.execute(&mut *tx)
                .await
                .map_err(self.err("store tasks' flow"))?;
        }
        // What these users' listings said is being rewritten: their fingerprints no longer hold.
        let mut users: Vec<&str> = listed.iter().map(|r| r.user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        sqlx::query(
            "UPDATE user_listings SET pages = NULL
             WHERE pages IS NOT NULL AND user_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(serde_json::to_string(&users).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *tx)
        .await
        .map_err(self.err("clear listing fingerprints"))?;
        tx.commit().await.map_err(self.err("commit a page"))?;
        Ok(new)
    }

    /// For every user (or only `user`), the tasks pending for them with their fingerprints and
    /// start times.
    pub(in crate::store) async fn snapshots(
        &self,
        user: Option<&str>,
    ) -> Result<FxHashMap<String, FxHashMap<String, StoredTask>>, StoreError> {
        const CHUNK: i64 = 5000;
        let mut all: FxHashMap<String, FxHashMap<String, StoredTask>> = FxHashMap::default();
        let mut after = (user.unwrap_or_default().to_owned(), String::new());
        loop {
            let chunk: String = sqlx::query_scalar(if user.is_some() {
                concat!(
                    snapshot_sql!(),
                    "a.user_id = ?4 AND a.task_id > ?2 ORDER BY a.task_id LIMIT ?3)"
                )
            } else {
                concat!(
                    snapshot_sql!(),
                    "(a.user_id, a.task_id) > (?1, ?2) ORDER BY a.user_id, a.task_id LIMIT ?3)"
                )
            })
            .bind(&after.0)
            .bind(&after.1)
            .bind(CHUNK)
            .bind(user)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("read pending tasks"))?;
            let rows: Vec<SnapshotRow> = serde_json::from_str(&chunk)
                .map_err(|e| self.decode_err("pending task rows", e))?;
            let full = rows.len() as i64 == CHUNK;
            if let Some(last) = rows.last() {
                after = (last.user_id.clone(), last.task_id.clone());
            }
            for row in rows {
                all.entry(row.user_id).or_default().insert(
                    row.task_id,
                    StoredTask::from_columns(row.fingerprint, row.started, row.missing != 0),
                );
            }
            if !full {
                return Ok(all);
            }
        }
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
    pub(in crate::store) async fn record_absent(
        &self,
        user: &str,
        gone: &[String],
        now: DateTime<Utc>,
    ) -> Result<Absent, StoreError> {
        let now = ms(now);
        // The user's tasks change: their fingerprint no longer describes what is stored.
        let record_listing = sqlx::query(
            "INSERT INTO user_listings (user_id, listed_at) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at, pages = NULL",
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
            "UPDATE assignments SET finished_at = missing_since,
               moved_away = EXISTS (SELECT 1 FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                 WHERE ea.task_id = assignments.task_id AND ea.user_id = assignments.user_id
                   AND ea.kind = 'transfer' AND ea.counts = 1 AND e.outcome <> 'failed')
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
                   moved_away = NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = tasks.task_id AND a.moved_away = 0),
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
    pub(in crate::store) async fn known_flow_membership(
        &self,
        task_ids: &FxHashSet<String>,
        flow_set: &str,
    ) -> Result<usize, StoreError> {
        let ids = serde_json::to_string(task_ids).unwrap_or_else(|_| "[]".into());
        let known: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM json_each(?2) j JOIN task_flows f ON f.task_id = j.value AND f.flow_set = ?1
             WHERE f.member = 1 OR f.confirmed = 1",
        )
        .bind(flow_set)
        .bind(ids)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("read flow knowledge"))?;
        Ok(known as usize)
    }

    pub(in crate::store) async fn record_non_members(
        &self,
        task_ids: &[String],
        flow_set: &str,
        cycle: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if task_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO task_flows (task_id, flow_set, member, doubted_in)
             SELECT DISTINCT value, ?2, 0, ?3 FROM json_each(?1) WHERE true
             ON CONFLICT (task_id, flow_set) DO UPDATE
               SET confirmed = task_flows.confirmed OR coalesce(task_flows.doubted_in, 0) < excluded.doubted_in,
                   doubted_in = coalesce(task_flows.doubted_in, excluded.doubted_in)
               WHERE task_flows.member = 0",
        )
            .bind(serde_json::to_string(task_ids).unwrap_or_else(|_| "[]".into()))
            .bind(flow_set)
            .bind(ms(cycle))
            .execute(&self.pool)
            .await
            .map_err(self.err("store flow knowledge"))?;
        Ok(())
    }
}
