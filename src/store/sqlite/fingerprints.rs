//! What each user's last complete listing said: the hash of every page, the tasks it held, the
//! earliest start among the user's pending tasks, and how many were missing from it. A listing
//! whose pages hash the same is the same listing: nothing in it needs decoding or writing.
//!
//! A fingerprint describes what is stored only while nothing else changed the user's tasks: every
//! write of a listing's tasks or absences clears the fingerprints of the users involved, in the same
//! transaction, and a fingerprint is written only after all of its listing's writes.

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::Sqlite;
use crate::store::model::hashes_text;
use crate::store::{CompleteListing, ListingFingerprint, StoreError, ms};

#[derive(Deserialize)]
struct FingerprintRow {
    user_id: String,
    pages: String,
    tasks: String,
    oldest_start: i64,
    missing: i64,
}

impl Sqlite {
    /// Every stored fingerprint, by user.
    pub(in crate::store) async fn listing_fingerprints(
        &self,
    ) -> Result<FxHashMap<String, ListingFingerprint>, StoreError> {
        let rows: String = sqlx::query_scalar(
            "SELECT coalesce(json_group_array(json_object('user_id', user_id, 'pages', pages,
                    'tasks', tasks, 'oldest_start', oldest_start, 'missing', missing)), '[]')
             FROM user_listings WHERE pages IS NOT NULL AND tasks IS NOT NULL AND oldest_start IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("read listing fingerprints"))?;
        let rows: Vec<FingerprintRow> =
            serde_json::from_str(&rows).map_err(|e| self.decode_err("listing fingerprints", e))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let d = ListingFingerprint::from_columns(
                    &r.pages,
                    &r.tasks,
                    r.oldest_start,
                    r.missing,
                )?;
                Some((r.user_id, d))
            })
            .collect())
    }

    /// Records that these users were listed completely, with their new fingerprints.
    pub(in crate::store) async fn record_listings(
        &self,
        listed: &[CompleteListing],
    ) -> Result<(), StoreError> {
        if listed.is_empty() {
            return Ok(());
        }
        let times: Vec<(&str, i64)> = listed
            .iter()
            .filter(|l| l.fingerprint.is_none())
            .map(|l| (l.user.as_str(), ms(l.at)))
            .collect();
        let fingerprints: Vec<serde_json::Value> = listed
            .iter()
            .filter_map(|l| {
                let d = l.fingerprint.as_ref()?;
                Some(serde_json::json!({
                    "user_id": l.user,
                    "listed_at": ms(l.at),
                    "pages": hashes_text(&d.pages),
                    "tasks": hashes_text(&d.tasks),
                    "oldest_start": ms(d.oldest_start),
                    "missing": d.missing,
                }))
            })
            .collect();
        let mut tx = self.begin().await?;
        if !times.is_empty() {
            sqlx::query(
                "INSERT INTO user_listings (user_id, listed_at) SELECT value->>0, value->>1 FROM json_each(?1) WHERE true
                 ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at",
            )
            .bind(serde_json::to_string(&times).unwrap_or_else(|_| "[]".into()))
            .execute(&mut *tx)
            .await
            .map_err(self.err("record listings"))?;
        }
        if !fingerprints.is_empty() {
            sqlx::query(
                "INSERT INTO user_listings (user_id, listed_at, pages, tasks, oldest_start, missing)
                 SELECT value->>'user_id', value->>'listed_at', value->>'pages', value->>'tasks',
                        value->>'oldest_start', value->>'missing'
                 FROM json_each(?1) WHERE true
                 ON CONFLICT (user_id) DO UPDATE SET listed_at = excluded.listed_at, pages = excluded.pages,
                   tasks = excluded.tasks, oldest_start = excluded.oldest_start, missing = excluded.missing",
            )
            .bind(serde_json::Value::Array(fingerprints).to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("record listing fingerprints"))?;
        }
        tx.commit().await.map_err(self.err("commit listings"))?;
        Ok(())
    }

    /// The tasks pending for `user` that the last complete listing lacked.
    pub(in crate::store) async fn missing_tasks(
        &self,
        user: &str,
    ) -> Result<Vec<String>, StoreError> {
        let ids: String = sqlx::query_scalar(
            "SELECT coalesce(json_group_array(task_id), '[]') FROM assignments
             WHERE user_id = ?1 AND finished_at IS NULL AND missing_since IS NOT NULL",
        )
        .bind(user)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("read missing tasks"))?;
        serde_json::from_str(&ids).map_err(|e| self.decode_err("missing tasks", e))
    }
}
