//! Statements the two dialects agree on, written once: `in_both!` compiles each function below
//! for both backends (`$N` placeholders, which SQLite takes too; times as epoch ms in both).
//! Where the dialects truly differ (batch writes, the pairs query, the lease) each backend keeps
//! its own.

use chrono::{DateTime, Utc};

use super::model::SilenceRow;
use super::model::{
    AssignmentRecord, Away, AwayRow, CallRecord, NewAway, PairQuery, Session, TaskRecord,
};
use super::{NewSilence, Outcome, Silence, StoreError, TaskAssignees, from_ms, ms};
use crate::domain::AwayWindow;

/// The same functions in `impl Sqlite` and `impl Postgres`: both have `pool` and `err`.
macro_rules! in_both {
    ($($item:item)*) => {
        impl super::sqlite::Sqlite { $($item)* }
        impl super::postgres::Postgres { $($item)* }
    };
}

/// A silence's columns, with the task's labels where the task is known.
const SILENCE_COLUMNS: &str = "s.id, s.task_id, s.user_id, s.until, s.reason, s.created_by, s.created_at, s.ended_at, s.ended_by, t.labels";

in_both! {
    /// Records a silence; returns its id.
    pub(in crate::store) async fn add_silence(
        &self,
        s: &NewSilence<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO silences (task_id, user_id, until, reason, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(s.task_id)
        .bind(s.user_id)
        .bind(ms(s.until))
        .bind(s.reason)
        .bind(s.created_by)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("record a silence"))
    }

    /// Silences active at `now`, or every one with `all`; newest first.
    pub(in crate::store) async fn silences(
        &self,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Silence>, StoreError> {
        let rows: Vec<SilenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences s LEFT JOIN tasks t ON t.task_id = s.task_id
             WHERE $1 OR (s.ended_at IS NULL AND s.until > $2) ORDER BY s.id DESC"
        )))
        .bind(all)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read silences"))?;
        Ok(rows.into_iter().map(Silence::from).collect())
    }

    /// Ends a silence now, by `by`; the silence as it was before (`None`: no such id). One
    /// that had ended already (removed, or run out) is left as it was.
    pub(in crate::store) async fn end_silence(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Silence>, StoreError> {
        // One transaction: two removals at once get "ended" and "had already been removed".
        let mut tx = self.begin().await?;
        let ended = sqlx::query(
            "UPDATE silences SET ended_at = $2, ended_by = $3
             WHERE id = $1 AND ended_at IS NULL AND until > $2",
        )
        .bind(id)
        .bind(ms(now))
        .bind(by)
        .execute(&mut *tx)
        .await
        .map_err(self.err("end a silence"))?
        .rows_affected();
        let row: Option<SilenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences s LEFT JOIN tasks t ON t.task_id = s.task_id
             WHERE s.id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("read a silence"))?;
        tx.commit().await.map_err(self.err("commit ending a silence"))?;
        // As it was before: the one this call ended shows no end yet.
        Ok(row.map(Silence::from).map(|mut s| {
            if ended == 1 {
                s.ended_at = None;
                s.ended_by = None;
            }
            s
        }))
    }

    /// A task as stored: finished or not, and its pending assignees (`None`: never seen).
    pub(in crate::store) async fn task_assignees(
        &self,
        task_id: &str,
    ) -> Result<Option<TaskAssignees>, StoreError> {
        let finished: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT finished_at FROM tasks WHERE task_id = $1")
                .bind(task_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("read a task"))?;
        let Some((finished_at,)) = finished else {
            return Ok(None);
        };
        let pending: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM assignments WHERE task_id = $1 AND finished_at IS NULL ORDER BY user_id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's assignees"))?;
        Ok(Some(TaskAssignees {
            finished: finished_at.is_some(),
            pending,
        }))
    }

    /// Writes a call's outcome, once: only while it is still pending (a settling that raced
    /// an answer, or the reverse, keeps the first). A chat opened by the call is recorded for
    /// its task; a call that failed no longer counts towards its assignees' reminders.
    pub(in crate::store) async fn record_outcome(
        &self,
        id: i64,
        outcome: Outcome,
        code: Option<i64>,
        msg: Option<&str>,
        chat: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let written = sqlx::query(
            "UPDATE expedites SET outcome = $2, outcome_at = $3, feishu_code = $4, feishu_msg = $5
             WHERE id = $1 AND outcome = 'pending'",
        )
        .bind(id)
        .bind(outcome.as_str())
        .bind(ms(now))
        .bind(code)
        .bind(msg)
        .execute(&mut *tx)
        .await
        .map_err(self.err("record an expedite outcome"))?;
        if written.rows_affected() == 0 {
            return Ok(());
        }
        if let Some((task_id, chat_id)) = chat {
            sqlx::query(
                "INSERT INTO task_chats (task_id, chat_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (task_id) DO UPDATE SET chat_id = excluded.chat_id",
            )
            .bind(task_id)
            .bind(chat_id)
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(self.err("record a task's chat"))?;
        }
        if outcome == Outcome::Failed {
            sqlx::query("UPDATE expedite_assignees SET counts = $2 WHERE expedite_id = $1")
                .bind(id)
                .bind(false)
                .execute(&mut *tx)
                .await
                .map_err(self.err("record an expedite outcome"))?;
        }
        tx.commit()
            .await
            .map_err(self.err("commit an expedite outcome"))?;
        Ok(())
    }

    /// Deletes tasks finished before `cutoff`, with their assignments, flow knowledge, call
    /// history and chat, and silences and digest posts long over. Returns (tasks, calls)
    /// deleted.
    pub(in crate::store) async fn prune(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let cutoff = ms(cutoff);
        let mut tx = self.begin().await?;
        let expedites = sqlx::query(
            "DELETE FROM expedites WHERE task_id IN
               (SELECT task_id FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(self.err("prune expedites"))?
        .rows_affected();
        let tasks =
            sqlx::query("DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(self.err("prune tasks"))?
                .rows_affected();
        sqlx::query(
            "DELETE FROM task_chats
             WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = task_chats.task_id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(self.err("prune task chats"))?;
        sqlx::query("DELETE FROM silences WHERE coalesce(ended_at, until) < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune silences"))?;
        sqlx::query("DELETE FROM away WHERE coalesce(ended_at, until) < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune away windows"))?;
                sqlx::query("DELETE FROM digest_posts WHERE fire_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune digest posts"))?;
        tx.commit().await.map_err(self.err("commit pruning"))?;
        Ok((tasks, expedites))
    }

    /// How many tasks are pending, and when the oldest of them started.
    pub(in crate::store) async fn backlog(
        &self,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(coalesce(start_time, first_seen)) FROM tasks WHERE finished_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("read the backlog"))?;
        Ok((count as u64, oldest.map(from_ms)))
    }

    /// How many tasks are tracked, pending and finished.
    #[cfg(test)]
    pub(in crate::store) async fn task_counts(&self) -> Result<(u64, u64), StoreError> {
        let (pending, finished): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE finished_at IS NULL),
                    count(*) FILTER (WHERE finished_at IS NOT NULL) FROM tasks",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("count tasks"))?;
        Ok((pending as u64, finished as u64))
    }

    /// When each user was last listed completely.
    pub(in crate::store) async fn last_listings(
        &self,
    ) -> Result<rustc_hash::FxHashMap<String, DateTime<Utc>>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT user_id, listed_at FROM user_listings")
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read last listings"))?;
        Ok(rows.into_iter().map(|(u, at)| (u, from_ms(at))).collect())
    }

    /// How many reminders each assignee got since `since` (sent or possibly sent; a failed call
    /// does not count), for the daily cap.
    pub(in crate::store) async fn reminders_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, u32>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT ea.user_id, count(*) FROM expedites e JOIN expedite_assignees ea ON ea.expedite_id = e.id
             WHERE e.intent_at >= $1 AND ea.kind = 'expedite' AND ea.counts = $2 GROUP BY ea.user_id",
        )
        .bind(ms(since))
        .bind(true)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("count today's reminders"))?;
        Ok(rows.into_iter().map(|(u, n)| (u, n as u32)).collect())
    }

    /// Whether the ledger holds any move (transfer, add_assignee): without one, the pairs
    /// query skips the columns about moves.
    pub(in crate::store) async fn any_moves(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM expedites
               WHERE kind IN ('transfer', 'add_assignee') LIMIT 1) AS m",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("look for moves"))?;
        Ok(n > 0)
    }

    /// Every recipient of a call that acts since `since` (sent or possibly sent; not a move
    /// Feishu refused), with when its assignment and its task finished: the report's history,
    /// in the order the calls were made.
    pub(in crate::store) async fn sent_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::report::Sent>, StoreError> {
        let rows: Vec<super::model::SentRow> = sqlx::query_as(
            "SELECT ea.task_id, ea.user_id, ea.rule, ea.kind, e.intent_at,
                    CASE WHEN a.moved_away = 1 THEN NULL ELSE a.finished_at END,
                    CASE WHEN t.moved_away = 1 THEN NULL ELSE t.finished_at END,
                    CAST(CASE WHEN t.finished_at IS NOT NULL AND t.moved_away = 1 THEN 1 ELSE 0 END AS BIGINT)
             FROM expedites e JOIN expedite_assignees ea ON ea.expedite_id = e.id
             LEFT JOIN assignments a ON a.task_id = ea.task_id AND a.user_id = ea.user_id
             LEFT JOIN tasks t ON t.task_id = ea.task_id
             WHERE e.intent_at >= $1 AND ea.counts = $2 AND e.outcome <> 'failed'
             ORDER BY e.intent_at, e.id",
        )
        .bind(ms(since))
        .bind(true)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read the call history"))?;
        Ok(rows.into_iter().map(super::model::sent_of).collect())
    }
}

/// A LIKE pattern matching `text` anywhere, its wildcards taken literally (`ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The console's filters on pending pairs (`$1` assignee, `$2` assignees as JSON, `$3` text,
/// `$4` its LIKE pattern, `$5` assignees excluded as JSON), for both dialects.
fn pair_filter(users: String, except: String) -> String {
    format!(
        "FROM assignments a JOIN tasks t ON t.task_id = a.task_id
         WHERE a.finished_at IS NULL
           AND (CAST($1 AS TEXT) IS NULL OR a.user_id = $1)
           AND (CAST($2 AS TEXT) IS NULL OR a.user_id IN {users})
           AND (CAST($3 AS TEXT) IS NULL OR a.task_id = $3 OR lower(t.labels) LIKE $4 ESCAPE '\\')
           AND (CAST($5 AS TEXT) IS NULL OR a.user_id NOT IN {except})"
    )
}

in_both! {
    /// One page of pending pairs as the console asks for them, keys only, with how many match.
    pub(in crate::store) async fn pair_page(
        &self,
        q: &PairQuery<'_>,
    ) -> Result<(Vec<(String, String)>, u64), StoreError> {
        let filter = pair_filter(Self::json_list("$2"), Self::json_list("$5"));
        let json = |u: &[String]| serde_json::to_string(u).unwrap_or_else(|_| "[]".into());
        let users = q.users.map(json);
        let except = q.except_users.map(json);
        let pattern = q.text.map(contains_pattern);
        let keys: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT a.task_id, a.user_id {filter} ORDER BY {} LIMIT $6 OFFSET $7",
            q.sort.order_by()
        )))
        .bind(q.user)
        .bind(users.as_deref())
        .bind(q.text)
        .bind(pattern.as_deref())
        .bind(except.as_deref())
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a page of pending tasks"))?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {filter}")))
            .bind(q.user)
            .bind(users.as_deref())
            .bind(q.text)
            .bind(pattern.as_deref())
            .bind(except.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("count pending tasks"))?;
        Ok((keys, total as u64))
    }

    /// A task as stored with every assignment and every call about it; `None`: never seen.
    pub(in crate::store) async fn task_record(
        &self,
        task_id: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        type TaskRow = (String, String, Option<String>, Option<String>, Option<i64>, i64, i64, Option<i64>, i64);
        let row: Option<TaskRow> = sqlx::query_as(
            "SELECT task_id, labels, initiator_id, initiator_name, start_time, first_seen, last_seen, finished_at,
                    CAST(moved_away AS BIGINT)
             FROM tasks WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read a task"))?;
        let Some((task_id, labels, initiator_id, initiator_name, start, first, last, finished, task_moved_away)) = row else {
            return Ok(None);
        };
        type AssignmentRow = (String, i64, Option<i64>, Option<i64>, i64);
        let assignments: Vec<AssignmentRow> = sqlx::query_as(
            "SELECT user_id, first_seen, finished_at, missing_since, CAST(moved_away AS BIGINT) FROM assignments
             WHERE task_id = $1 ORDER BY first_seen, user_id",
        )
        .bind(&task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's assignments"))?;
        type CallRow = (i64, String, String, String, i64, String, Option<i64>, Option<i64>, Option<String>, Option<String>);
        let calls: Vec<CallRow> = sqlx::query_as(
            "SELECT id, kind, rule, operator_id, intent_at, outcome, outcome_at, feishu_code, feishu_msg, people
             FROM expedites WHERE task_id = $1 ORDER BY intent_at, id",
        )
        .bind(&task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's calls"))?;
        let named: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT expedite_id, user_id, CAST(n AS BIGINT), CAST(CAST(counts AS INTEGER) AS BIGINT)
             FROM expedite_assignees WHERE task_id = $1 ORDER BY expedite_id, user_id",
        )
        .bind(&task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's calls"))?;
        let labels: Vec<(String, String)> = serde_json::from_str(&labels).unwrap_or_default();
        Ok(Some(TaskRecord {
            label: crate::domain::display_label(&labels).to_owned(),
            task_id,
            initiator_id,
            initiator_name,
            start_time: start.map(from_ms),
            first_seen: from_ms(first),
            last_seen: from_ms(last),
            moved_away: finished.is_some() && task_moved_away == 1,
            finished_at: finished.map(from_ms),
            assignments: assignments
                .into_iter()
                .map(|(user_id, first, finished, missing, moved_away)| AssignmentRecord {
                    user_id,
                    first_seen: from_ms(first),
                    moved_away: finished.is_some() && moved_away == 1,
                    finished_at: finished.map(from_ms),
                    missing_since: missing.map(from_ms),
                })
                .collect(),
            calls: calls
                .into_iter()
                .map(|(id, kind, rule, operator_id, intent, outcome, outcome_at, code, msg, people)| CallRecord {
                    people: people
                        .and_then(|p| serde_json::from_str::<Vec<String>>(&p).ok())
                        .unwrap_or_default(),
                    assignees: named
                        .iter()
                        .filter(|(e, _, _, _)| *e == id)
                        .map(|(_, u, n, _)| (u.clone(), *n))
                        .collect(),
                    // A failed move that still counts is one Feishu refused.
                    refused: outcome == "failed"
                        && matches!(kind.as_str(), "transfer" | "add_assignee")
                        && named.iter().any(|(e, _, _, counts)| *e == id && *counts == 1),
                    id,
                    kind,
                    rule,
                    operator_id,
                    intent_at: from_ms(intent),
                    outcome,
                    outcome_at: outcome_at.map(from_ms),
                    feishu_code: code,
                    feishu_msg: msg,
                })
                .collect(),
        }))
    }

    /// Records a console session (by the hash of the browser's id).
    pub(in crate::store) async fn add_session(
        &self,
        id_hash: &str,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, who, csrf, created_at, expires_at, kind, open_id, email, token_digest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id_hash)
        .bind(&session.who)
        .bind(&session.csrf)
        .bind(ms(now))
        .bind(ms(session.expires_at))
        .bind(&session.kind)
        .bind(&session.open_id)
        .bind(&session.email)
        .bind(&session.token_digest)
        .execute(&self.pool)
        .await
        .map_err(self.err("record a console session"))?;
        Ok(())
    }

    /// The session of this id hash, if it has neither ended nor expired at `now`.
    pub(in crate::store) async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        type Row = (String, String, i64, String, Option<String>, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT who, csrf, expires_at, kind, open_id, email, token_digest FROM console_sessions
             WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read a console session"))?;
        Ok(row.map(|(who, csrf, expires, kind, open_id, email, token_digest)| Session {
            who,
            csrf,
            expires_at: from_ms(expires),
            kind,
            open_id,
            email,
            token_digest,
        }))
    }

    /// Sessions neither ended nor expired at `now`, newest first.
    pub(in crate::store) async fn sessions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<super::SessionInfo>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id_hash, who, kind, created_at, expires_at FROM console_sessions
             WHERE ended_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, id_hash",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read console sessions"))?;
        Ok(rows
            .into_iter()
            .map(|(hash, who, kind, created, expires)| super::SessionInfo {
                id: hash.chars().take(12).collect(),
                who,
                kind,
                created_at: from_ms(created),
                expires_at: from_ms(expires),
            })
            .collect())
    }

    /// Ends the open sessions whose id hash starts with `prefix` (all with `None`).
    pub(in crate::store) async fn end_sessions(
        &self,
        prefix: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let pattern = match prefix {
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()) => {
                format!("{}%", p.to_ascii_lowercase())
            }
            Some(_) => return Ok(0),
            None => "%".to_owned(),
        };
        let ended = sqlx::query(
            "UPDATE console_sessions SET ended_at = $2
             WHERE id_hash LIKE $1 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(pattern)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("end console sessions"))?
        .rows_affected();
        Ok(ended)
    }

    /// Remembers a person from their sign-in with Feishu.
    pub(in crate::store) async fn remember_person(
        &self,
        open_id: &str,
        name: &str,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO people (open_id, name, email, signed_in_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (open_id) DO UPDATE SET name = excluded.name, email = excluded.email,
               signed_in_at = excluded.signed_in_at",
        )
        .bind(open_id)
        .bind(name)
        .bind(email)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("remember a person"))?;
        Ok(())
    }

    /// Ends a session (sign-out).
    pub(in crate::store) async fn end_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL")
            .bind(id_hash)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(self.err("end a console session"))?;
        Ok(())
    }

    /// Forgets sessions and grants that expired (or ended) before `before`.
    pub(in crate::store) async fn forget_console(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sessions = sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1 OR ended_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(self.err("forget old console sessions"))?
            .rows_affected();
        let grants = sqlx::query("DELETE FROM console_grants WHERE expires_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(self.err("forget old console grants"))?
            .rows_affected();
        Ok(sessions + grants)
    }

    /// Records a one-time grant (a sign-in link, a sign-in state) by its hash.
    pub(in crate::store) async fn add_grant(
        &self,
        hash: &str,
        kind: &str,
        who: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO console_grants (hash, kind, who, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(kind)
            .bind(who)
            .bind(ms(expires_at))
            .execute(&self.pool)
            .await
            .map_err(self.err("record a sign-in grant"))?;
        Ok(())
    }

    /// Uses a grant once: who made it, when it was of `kind`, unused and not expired at `now`;
    /// `None` otherwise (a second use included, also when two race).
    pub(in crate::store) async fn use_grant(
        &self,
        hash: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "UPDATE console_grants SET used_at = $3
             WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 RETURNING who",
        )
        .bind(hash)
        .bind(kind)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("use a sign-in grant"))
    }
}

const AWAY_COLUMNS: &str =
    "id, user_id, starts_at, until, deputy, reason, created_by, created_at, ended_at, ended_by";

in_both! {
    /// Records an away window; its id.
    pub(in crate::store) async fn add_away(
        &self,
        a: &NewAway<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO away (user_id, starts_at, until, deputy, reason, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(a.user_id)
        .bind(ms(a.from))
        .bind(ms(a.until))
        .bind(a.deputy)
        .bind(a.reason)
        .bind(a.created_by)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("record an away window"))
    }

    /// Away windows not over at `now` (current and future), or every one with `all`; newest
    /// first.
    pub(in crate::store) async fn away_windows(
        &self,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Away>, StoreError> {
        let rows: Vec<AwayRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AWAY_COLUMNS} FROM away
             WHERE $1 OR (ended_at IS NULL AND until > $2) ORDER BY id DESC"
        )))
        .bind(all)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read away windows"))?;
        Ok(rows.into_iter().map(Away::from).collect())
    }

    /// Ends an away window now, by `by`: the window as it was before (`None`: no such id); one
    /// that had ended already stays as it was.
    pub(in crate::store) async fn end_away(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Away>, StoreError> {
        let mut tx = self.begin().await?;
        let ended = sqlx::query(
            "UPDATE away SET ended_at = $2, ended_by = $3 WHERE id = $1 AND ended_at IS NULL AND until > $2",
        )
        .bind(id)
        .bind(ms(now))
        .bind(by)
        .execute(&mut *tx)
        .await
        .map_err(self.err("end an away window"))?
        .rows_affected();
        let row: Option<AwayRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AWAY_COLUMNS} FROM away WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("read an away window"))?;
        tx.commit().await.map_err(self.err("commit ending an away window"))?;
        Ok(row.map(Away::from).map(|mut a| {
            if ended == 1 {
                a.ended_at = None;
                a.ended_by = None;
            }
            a
        }))
    }

    /// Every user's away windows not ended by hand, for the decisions (which ask whether one
    /// holds at their moment).
    pub(in crate::store) async fn open_away(
        &self,
    ) -> Result<rustc_hash::FxHashMap<String, Vec<AwayWindow>>, StoreError> {
        // A window removed by hand ended at its removal: every rule that reads window ends
        // (the wait after one, a deputy's grace) counts from there. One removed before it began
        // never held.
        let rows: Vec<(String, i64, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT user_id, starts_at, CASE WHEN ended_at IS NOT NULL AND ended_at < until THEN ended_at ELSE until END,
                    deputy, reason
             FROM away WHERE ended_at IS NULL OR ended_at > starts_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read away windows"))?;
        let mut by_user: rustc_hash::FxHashMap<String, Vec<AwayWindow>> = Default::default();
        for (user, from, until, deputy, reason) in rows {
            // A deputy stored before ids were checked, which is not one id (say "8302,8303"),
            // names nobody: the window holds reminders back and moves nothing.
            let deputy = deputy.map(|d| d.trim().to_owned()).filter(|d| {
                let ok = crate::domain::id::parse_id(d).is_ok();
                if !ok {
                    tracing::warn!(user = %user.escape_debug(), deputy = %d.escape_debug(),
                        "an away window's deputy is not one user id; nothing is moved to it (remove the window and add it again with one deputy)");
                }
                ok
            });
            by_user.entry(user).or_default().push(AwayWindow {
                from: from_ms(from),
                until: from_ms(until),
                deputy,
                reason,
            });
        }
        Ok(by_user)
    }

    /// What holds a task's calls back at `now`: its active silences and who is away.
    pub(in crate::store) async fn holds_now(
        &self,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> Result<super::HoldsNow, StoreError> {
        let silenced: Vec<(Option<String>,)> = sqlx::query_as(
            "SELECT user_id FROM silences WHERE task_id = $1 AND ended_at IS NULL AND until > $2",
        )
        .bind(task_id)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read silences"))?;
        let away: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, deputy FROM away WHERE ended_at IS NULL AND starts_at <= $1 AND until > $1",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read away windows"))?;
        Ok(super::HoldsNow {
            whole_task: silenced.iter().any(|(u,)| u.is_none()),
            silenced: silenced.into_iter().filter_map(|(u,)| u).collect(),
            away: away
                .into_iter()
                .map(|(u, d)| (u, d.map(|d| d.trim().to_owned())))
                .collect(),
        })
    }
}
