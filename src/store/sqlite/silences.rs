//! Silences: a task (or one assignee of it) held from expediting and escalation until a time.
//! Written by `expediter silence` while the daemon runs; read by every cycle through the
//! pending pairs, so a new silence counts from the next cycle without a reload.

use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::store::model::SilenceRow;
use crate::store::{NewSilence, Silence, StoreError, ms};

impl Sqlite {
    /// Records a silence; returns its id.
    pub(in crate::store) async fn add_silence(
        &self,
        s: &NewSilence<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO silences (task_id, user_id, until, reason, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
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
        let rows: Vec<SilenceRow> = sqlx::query_as(
            "SELECT id, task_id, user_id, until, reason, created_by, created_at, ended_at FROM silences
             WHERE ?1 OR (ended_at IS NULL AND until > ?2) ORDER BY id DESC",
        )
        .bind(all)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read silences"))?;
        Ok(rows.into_iter().map(Silence::from).collect())
    }

    /// Ends a silence now. `false` when there is no silence with that id.
    pub(in crate::store) async fn end_silence(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found =
            sqlx::query("UPDATE silences SET ended_at = coalesce(ended_at, ?2) WHERE id = ?1")
                .bind(id)
                .bind(ms(now))
                .execute(&self.pool)
                .await
                .map_err(self.err("end a silence"))?
                .rows_affected();
        Ok(found > 0)
    }
}
