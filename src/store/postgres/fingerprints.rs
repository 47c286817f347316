//! What each user's last complete listing said, on PostgreSQL (see the SQLite file of the same
//! name for what a fingerprint is and when it holds).

use rustc_hash::FxHashMap;

use super::Postgres;
use crate::store::model::hashes_text;
use crate::store::{CompleteListing, ListingFingerprint, StoreError, ms};

impl Postgres {
    pub(in crate::store) async fn listing_fingerprints(
        &self,
    ) -> Result<FxHashMap<String, ListingFingerprint>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT user_id, pages, tasks, oldest_start, missing FROM user_listings
             WHERE pages IS NOT NULL AND tasks IS NOT NULL AND oldest_start IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read listing fingerprints"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(user, pages, tasks, oldest_start, missing)| {
                let d = ListingFingerprint::from_columns(&pages, &tasks, oldest_start, missing)?;
                Some((user, d))
            })
            .collect())
    }

    pub(in crate::store) async fn record_listings(
        &self,
        listed: &[CompleteListing],
    ) -> Result<(), StoreError> {
        // The last listing of a user wins, as it would row by row.
        let mut last: FxHashMap<&str, &CompleteListing> = FxHashMap::default();
        for l in listed {
            last.insert(&l.user, l);
        }
        let (mut users, mut times) = (Vec::new(), Vec::new());
        let (mut f_users, mut f_times, mut pages, mut tasks, mut oldest, mut missing) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for l in last.values() {
            match &l.fingerprint {
                None => {
                    users.push(l.user.as_str());
                    times.push(ms(l.at));
                }
                Some(d) => {
                    f_users.push(l.user.as_str());
                    f_times.push(ms(l.at));
                    pages.push(hashes_text(&d.pages));
                    tasks.push(hashes_text(&d.tasks));
                    oldest.push(ms(d.oldest_start));
                    missing.push(d.missing as i64);
                }
            }
        }
        let mut tx = self.begin().await?;
        if !users.is_empty() {
            sqlx::query(
                "INSERT INTO user_listings (user_id, listed_at) SELECT * FROM UNNEST($1::text[], $2::int8[])
                 ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at",
            )
            .bind(&users)
            .bind(&times)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record listings"))?;
        }
        if !f_users.is_empty() {
            sqlx::query(
                "INSERT INTO user_listings (user_id, listed_at, pages, tasks, oldest_start, missing)
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::int8[])
                 ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at, pages = excluded.pages,
                   tasks = excluded.tasks, oldest_start = excluded.oldest_start, missing = excluded.missing",
            )
            .bind(&f_users)
            .bind(&f_times)
            .bind(&pages)
            .bind(&tasks)
            .bind(&oldest)
            .bind(&missing)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record listing fingerprints"))?;
        }
        tx.commit().await.map_err(self.err("commit listings"))?;
        Ok(())
    }

    pub(in crate::store) async fn missing_tasks(
        &self,
        user: &str,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT task_id FROM assignments
             WHERE user_id = $1 AND finished_at IS NULL AND missing_since IS NOT NULL ORDER BY task_id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read missing tasks"))
    }
}
