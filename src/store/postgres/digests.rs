//! Digest posts on PostgreSQL: claimed before the post through the lease row, as intents are,
//! so a pair posts each digest once per fire time.

use chrono::{DateTime, Utc};

use super::Postgres;
use crate::store::{StoreError, ms};

impl Postgres {
    pub(in crate::store) async fn claim_digest_post(
        &self,
        digest: &str,
        fire_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let lease = self.lease_or_err()?;
        let epoch = lease.epoch();
        let (held, claimed): (i64, i64) = sqlx::query_as(
            "WITH held AS (
               SELECT epoch FROM lease
               WHERE app_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() FOR SHARE
             ), claim AS (
               INSERT INTO digest_posts (app_id, digest, fire_at, posted_at, epoch)
               SELECT $1, $4, $5, $6, held.epoch FROM held ON CONFLICT DO NOTHING RETURNING 1
             )
             SELECT (SELECT count(*) FROM held), (SELECT count(*) FROM claim)",
        )
        .bind(lease.app_id())
        .bind(lease.me())
        .bind(epoch)
        .bind(digest)
        .bind(ms(fire_at))
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("claim a digest post"))?;
        if held == 0 {
            // Not the holder of this epoch any more: stop acting until elected again.
            lease.step_down();
            return Err(StoreError::NotLeader {
                db: self.name.clone(),
                epoch,
            });
        }
        Ok(claimed == 1)
    }

    pub(in crate::store) async fn last_digest_post(
        &self,
        digest: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let app_id = self.lease_or_err()?.app_id().to_owned();
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT max(fire_at) FROM digest_posts WHERE app_id = $1 AND digest = $2",
        )
        .bind(app_id)
        .bind(digest)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("read digest posts"))?;
        Ok(at.map(crate::store::from_ms))
    }
}
