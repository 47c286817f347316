//! What listings saw, and each user's last complete listing, on PostgreSQL. Batches are bound
//! as one array per column and read back with `UNNEST`: one statement per batch, whatever its
//! size. `ON CONFLICT … DO UPDATE` may not touch a row twice in one statement, so rows are made
//! distinct first.

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};

use super::Postgres;
use crate::store::{Absent, ListedAssignment, StoreError, StoredTask, ms};

/// A task's facts, one array per column, each task once (its last listing wins).
#[derive(Default)]
struct TaskColumns<'a> {
    task_id: Vec<&'a str>,
    instance_id: Vec<Option<&'a str>>,
    labels: Vec<String>,
    status: Vec<Option<&'a str>>,
    initiator_id: Vec<Option<&'a str>>,
    initiator_name: Vec<Option<&'a str>>,
    start_time: Vec<Option<i64>>,
    fingerprint: Vec<i64>,
}

impl<'a> TaskColumns<'a> {
    fn of(listed: &'a [ListedAssignment]) -> TaskColumns<'a> {
        let mut last: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, r) in listed.iter().enumerate() {
            last.insert(&r.task.task_id, i);
        }
        let mut c = TaskColumns::default();
        for (i, r) in listed.iter().enumerate() {
            if last.get(r.task.task_id.as_str()) != Some(&i) {
                continue;
            }
            let t = &r.task;
            c.task_id.push(&t.task_id);
            c.instance_id.push(t.instance_id.as_deref());
            c.labels
                .push(serde_json::to_string(&t.labels).unwrap_or_else(|_| "[]".into()));
            c.status.push(t.status.as_deref());
            c.initiator_id.push(t.initiator_id.as_deref());
            c.initiator_name.push(t.initiator_name.as_deref());
            c.start_time.push(t.start_time.map(ms));
            c.fingerprint.push(t.text_hash as i64);
        }
        c
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl TaskColumns<'_> {
    /// Binds the columns as `$1`…`$8`, in the order both statements name them.
    fn bind<'q>(&'q self, q: Query<'q>) -> Query<'q> {
        q.bind(&self.task_id)
            .bind(&self.instance_id)
            .bind(&self.labels)
            .bind(&self.status)
            .bind(&self.initiator_id)
            .bind(&self.initiator_name)
            .bind(&self.start_time)
            .bind(&self.fingerprint)
    }
}

/// Distinct pairs, in first-seen order.
fn distinct<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut seen = FxHashSet::default();
    pairs.filter(|p| seen.insert(*p)).unzip()
}

impl Postgres {
    pub(in crate::store) async fn record_listed(
        &self,
        listed: &[ListedAssignment],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if listed.is_empty() {
            return Ok(0);
        }
        let now = ms(now);
        let c = TaskColumns::of(listed);
        let mut tx = self.begin().await?;
        let new = c.bind(sqlx::query(
            "INSERT INTO tasks (task_id, instance_id, labels, status, initiator_id, initiator_name,
                                start_time, fingerprint, first_seen, last_seen)
             SELECT s.*, $9, $9 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                            $6::text[], $7::int8[], $8::int8[]) AS s
             ON CONFLICT (task_id) DO NOTHING",
        ))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("store tasks"))?
        .rows_affected();
        if new < c.task_id.len() as u64 {
            c.bind(sqlx::query(
                "UPDATE tasks SET
                   instance_id = coalesce(s.instance_id, tasks.instance_id),
                   labels = CASE WHEN s.labels = '[]' THEN tasks.labels ELSE s.labels END,
                   status = coalesce(s.status, tasks.status),
                   initiator_id = coalesce(s.initiator_id, tasks.initiator_id),
                   initiator_name = coalesce(s.initiator_name, tasks.initiator_name),
                   start_time = coalesce(s.start_time, tasks.start_time),
                   fingerprint = s.fingerprint,
                   finished_at = NULL,
                   last_seen = $9
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::int8[], $8::int8[])
                   AS s(task_id, instance_id, labels, status, initiator_id, initiator_name, start_time, fingerprint)
                 WHERE tasks.task_id = s.task_id
                   AND (tasks.finished_at IS NOT NULL OR tasks.fingerprint IS DISTINCT FROM s.fingerprint)",
            ))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err("update tasks"))?;
        }
        let (tasks, users) = distinct(
            listed
                .iter()
                .map(|r| (r.task.task_id.as_str(), r.user.as_str())),
        );
        sqlx::query(
            "INSERT INTO assignments (task_id, user_id, first_seen, last_seen)
             SELECT t, u, $3, $3 FROM UNNEST($1::text[], $2::text[]) AS s(t, u)
             ON CONFLICT (task_id, user_id) DO UPDATE SET finished_at = NULL, missing_since = NULL, last_seen = excluded.last_seen
             WHERE assignments.finished_at IS NOT NULL OR assignments.missing_since IS NOT NULL",
        )
        .bind(&tasks)
        .bind(&users)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("store assignments"))?;
        let (flow_tasks, flow_sets) = distinct(
            listed
                .iter()
                .filter_map(|r| Some((r.task.task_id.as_str(), r.flow_set.as_deref()?))),
        );
        if !flow_tasks.is_empty() {
            sqlx::query(
                "INSERT INTO task_flows (task_id, flow_set, member)
                 SELECT t, f, true FROM UNNEST($1::text[], $2::text[]) AS s(t, f)
                 ON CONFLICT (task_id, flow_set) DO UPDATE SET member = true, confirmed = false WHERE NOT task_flows.member",
            )
            .bind(&flow_tasks)
            .bind(&flow_sets)
            .execute(&mut *tx)
            .await
            .map_err(self.err("store tasks' flow"))?;
        }
        // What these users' listings said is being rewritten: their fingerprints no longer hold.
        let users: FxHashSet<&str> = users.into_iter().collect();
        sqlx::query(
            "UPDATE user_listings SET pages = NULL WHERE pages IS NOT NULL AND user_id = ANY($1)",
        )
        .bind(users.into_iter().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(self.err("clear listing fingerprints"))?;
        tx.commit().await.map_err(self.err("commit a page"))?;
        self.analyze_if_grown(new).await;
        Ok(new)
    }

    /// For every user (or only `user`), the tasks pending for them with their fingerprints and
    /// start times.
    pub(in crate::store) async fn snapshots(
        &self,
        user: Option<&str>,
    ) -> Result<FxHashMap<String, FxHashMap<String, StoredTask>>, StoreError> {
        let rows: Vec<(String, String, i64, i64, bool)> = sqlx::query_as(
            "SELECT a.user_id, a.task_id, coalesce(t.fingerprint, 0), coalesce(t.start_time, t.first_seen),
                    a.missing_since IS NOT NULL
             FROM assignments a JOIN tasks t ON t.task_id = a.task_id
             WHERE a.finished_at IS NULL AND ($1::text IS NULL OR a.user_id = $1)",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read pending tasks"))?;
        let mut all: FxHashMap<String, FxHashMap<String, StoredTask>> = FxHashMap::default();
        for (user_id, task_id, text_hash, started, missing) in rows {
            all.entry(user_id).or_default().insert(
                task_id,
                StoredTask::from_columns(text_hash, started, missing),
            );
        }
        Ok(all)
    }

    pub(in crate::store) async fn record_absent(
        &self,
        user: &str,
        gone: &[String],
        now: DateTime<Utc>,
    ) -> Result<Absent, StoreError> {
        let now = ms(now);
        let mut tx = self.begin().await?;
        let mut absent = Absent::default();
        if !gone.is_empty() {
            absent.finished = sqlx::query(
                "UPDATE assignments SET finished_at = missing_since,
                   moved_away = CASE WHEN EXISTS (SELECT 1 FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                     WHERE ea.task_id = assignments.task_id AND ea.user_id = assignments.user_id
                       AND ea.kind = 'transfer' AND ea.counts AND e.outcome <> 'failed') THEN 1 ELSE 0 END
                 WHERE user_id = $2 AND finished_at IS NULL AND missing_since IS NOT NULL AND missing_since < $3
                   AND task_id = ANY($1)",
            )
            .bind(gone)
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err("finish assignments"))?
            .rows_affected();
            absent.missing = sqlx::query(
                "UPDATE assignments SET missing_since = $3,
                   last_seen = coalesce((SELECT listed_at FROM user_listings WHERE user_id = $2), last_seen)
                 WHERE user_id = $2 AND finished_at IS NULL AND missing_since IS NULL AND task_id = ANY($1)",
            )
            .bind(gone)
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err("mark missing assignments"))?
            .rows_affected();
        }
        if absent.finished > 0 {
            sqlx::query(
                "UPDATE tasks SET
                   finished_at = (SELECT max(a.finished_at) FROM assignments a WHERE a.task_id = tasks.task_id),
                   moved_away = CASE WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = tasks.task_id AND a.moved_away = 0) THEN 0 ELSE 1 END,
                   last_seen = coalesce((SELECT max(a.last_seen) FROM assignments a WHERE a.task_id = tasks.task_id), last_seen)
                 WHERE finished_at IS NULL AND task_id = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = tasks.task_id AND a.finished_at IS NULL)",
            )
            .bind(gone)
            .execute(&mut *tx)
            .await
            .map_err(self.err("finish tasks"))?;
        }
        // The user's tasks change: their fingerprint no longer describes what is stored.
        sqlx::query(
            "INSERT INTO user_listings (user_id, listed_at) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at, pages = NULL",
        )
        .bind(user)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("record a listing"))?;
        tx.commit()
            .await
            .map_err(self.err("commit finished tasks"))?;
        Ok(absent)
    }

    pub(in crate::store) async fn known_flow_membership(
        &self,
        task_ids: &FxHashSet<String>,
        flow_set: &str,
    ) -> Result<usize, StoreError> {
        let ids: Vec<&str> = task_ids.iter().map(String::as_str).collect();
        let known: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM task_flows WHERE flow_set = $1 AND task_id = ANY($2) AND (member OR confirmed)",
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
             SELECT DISTINCT t, $2, false, $3 FROM UNNEST($1::text[]) AS s(t)
             ON CONFLICT (task_id, flow_set) DO UPDATE
               SET confirmed = task_flows.confirmed OR coalesce(task_flows.doubted_in, 0) < excluded.doubted_in,
                   doubted_in = coalesce(task_flows.doubted_in, excluded.doubted_in)
               WHERE NOT task_flows.member",
        )
        .bind(task_ids)
        .bind(flow_set)
        .bind(ms(cycle))
        .execute(&self.pool)
        .await
        .map_err(self.err("store flow knowledge"))?;
        Ok(())
    }
}
