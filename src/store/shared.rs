//! Statements the two dialects agree on, written once: `in_both!` compiles each function below
//! for both backends (`$N` placeholders, which SQLite takes too; times as epoch ms in both).
//! Where the dialects truly differ (batch writes, the pairs query, the lease) each backend keeps
//! its own.

use chrono::{DateTime, Utc};

use super::model::SilenceRow;
use super::{NewSilence, Silence, StoreError, TaskAssignees, ms};

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
        let before: Option<SilenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences s LEFT JOIN tasks t ON t.task_id = s.task_id
             WHERE s.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read a silence"))?;
        sqlx::query(
            "UPDATE silences SET ended_at = $2, ended_by = $3
             WHERE id = $1 AND ended_at IS NULL AND until > $2",
        )
        .bind(id)
        .bind(ms(now))
        .bind(by)
        .execute(&self.pool)
        .await
        .map_err(self.err("end a silence"))?;
        Ok(before.map(Silence::from))
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
}
