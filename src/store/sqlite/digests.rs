//! Digest posts: claimed before the post, so a digest is posted once per fire time.

use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::store::{StoreError, ms};

impl Sqlite {
    pub(in crate::store) async fn claim_digest_post(
        &self,
        digest: &str,
        fire_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO digest_posts (digest, fire_at, posted_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING RETURNING 1",
        )
        .bind(digest)
        .bind(ms(fire_at))
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("claim a digest post"))?;
        Ok(claimed.is_some())
    }

    pub(in crate::store) async fn last_digest_post(
        &self,
        digest: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT max(fire_at) FROM digest_posts WHERE digest = ?1")
                .bind(digest)
                .fetch_one(&self.pool)
                .await
                .map_err(self.err("read digest posts"))?;
        Ok(at.map(crate::store::from_ms))
    }
}
