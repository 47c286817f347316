//! Pruning, counts and silences on PostgreSQL.

use chrono::{DateTime, Utc};

use super::Postgres;
use crate::store::{StoreError, from_ms, ms};

impl Postgres {
    pub(in crate::store) async fn prune(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let cutoff = ms(cutoff);
        let mut tx = self.begin().await?;
        let expedites = sqlx::query(
            "DELETE FROM expedites WHERE task_id IN (SELECT task_id FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1)",
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
            "DELETE FROM task_chats c WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = c.task_id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(self.err("prune task chats"))?;
        sqlx::query("DELETE FROM silences WHERE coalesce(ended_at, until) < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune silences"))?;
        sqlx::query("DELETE FROM digest_posts WHERE fire_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(self.err("prune digest posts"))?;
        tx.commit().await.map_err(self.err("commit pruning"))?;
        Ok((tasks, expedites))
    }

    #[cfg(test)]
    pub(in crate::store) async fn task_counts(&self) -> Result<(u64, u64), StoreError> {
        let (pending, finished): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE finished_at IS NULL), count(*) FILTER (WHERE finished_at IS NOT NULL) FROM tasks",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("count tasks"))?;
        Ok((pending as u64, finished as u64))
    }

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
}
