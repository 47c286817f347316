//! Pruning: finished tasks and their history (calls, chat, silences) go once older than
//! `[storage] retention`.

use chrono::{DateTime, Utc};
#[cfg(test)]
use sqlx::Row;

use super::Sqlite;
use crate::store::{StoreError, ms};

impl Sqlite {
    /// Deletes tasks finished before `cutoff`, with their assignments, flow knowledge and
    /// expedite history. Returns (tasks, expedites) deleted.
    pub(in crate::store) async fn prune(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
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
        // A pruned task's chat, and silences long over, go with it.
        sqlx::query("DELETE FROM task_chats WHERE task_id NOT IN (SELECT task_id FROM tasks)")
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune task chats"))?;
        sqlx::query("DELETE FROM silences WHERE coalesce(ended_at, until) < ?1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune silences"))?;
        sqlx::query("DELETE FROM digest_posts WHERE fire_at < ?1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune digest posts"))?;
        tx.commit().await.map_err(self.err("commit pruning"))?;
        Ok((tasks, expedites))
    }

    /// How many tasks are tracked, pending and finished.
    #[cfg(test)]
    pub(in crate::store) async fn task_counts(&self) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query("SELECT count(*) FILTER (WHERE finished_at IS NULL), count(*) FILTER (WHERE finished_at IS NOT NULL) FROM tasks")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("count tasks"))?;
        Ok((row.get::<i64, _>(0) as u64, row.get::<i64, _>(1) as u64))
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
        Ok((count as u64, oldest.map(crate::store::from_ms)))
    }
}
