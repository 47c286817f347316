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
        impl crate::store::sqlite::Sqlite { $($item)* }
        impl crate::store::postgres::Postgres { $($item)* }
    };
}

mod away;
mod console;
mod teams;

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
        let n: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM (SELECT 1 FROM expedites WHERE kind IN ",
            move_kinds!(),
            " LIMIT 1) AS m",
        ))
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
