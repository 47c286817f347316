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
}
