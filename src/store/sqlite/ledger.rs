//! The ledger of every call that acts, the at-most-once guard: the intent is committed (durably)
//! before a call and the outcome after it; a unique index refuses a second (task, assignee, kind,
//! n) that was sent or may have been; intents left open by a crash are settled as unknown.
//!
//! Its table is named `expedites` for its first kind, but it holds all three: expediting, cc and
//! chat_group calls (the `kind` column), one row per assignee named.

use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::store::model::ExpediteRow;
use crate::store::{ExpediteRecord, Intent, StoreError, ms};

impl Sqlite {
    /// Writes the intent to make a call that acts, before the call. Fails with
    /// [`StoreError::AlreadyRecorded`] if any (task, assignee, kind, n) was already done or
    /// may have been.
    pub(in crate::store) async fn record_intent(
        &self,
        intent: &Intent<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.set_full_sync(true).await?;
        let result = self.insert_intent(intent, now).await;
        self.set_full_sync(false).await?;
        result
    }

    /// Expedite records must survive a power cut, not only a crash: their transactions commit
    /// with `synchronous = FULL` (per connection; the pool has one). Listings use NORMAL.
    async fn set_full_sync(&self, full: bool) -> Result<(), StoreError> {
        let sql = if full {
            "PRAGMA synchronous = FULL"
        } else {
            "PRAGMA synchronous = NORMAL"
        };
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map_err(self.err("set durability"))?;
        Ok(())
    }

    async fn insert_intent(
        &self,
        intent: &Intent<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let task_id = intent.task_id;
        let kind = intent.kind.as_str();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO expedites (task_id, rule, operator_id, opinion, intent_at, outcome, kind, people) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7) RETURNING id",
        )
        .bind(task_id)
        .bind(intent.rule)
        .bind(intent.operator)
        .bind(intent.opinion)
        .bind(ms(now))
        .bind(kind)
        .bind(intent.people_text())
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err("record an expedite intent"))?;
        for a in intent.recipients {
            let result = sqlx::query("INSERT INTO expedite_assignees (expedite_id, task_id, user_id, rule, n, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .bind(id)
                .bind(task_id)
                .bind(&a.user_id)
                .bind(&a.rule)
                .bind(i64::from(a.n))
                .bind(kind)
                .execute(&mut *tx)
                .await;
            match result {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::AlreadyRecorded {
                        task_id: task_id.to_owned(),
                        user_id: a.user_id.clone(),
                        n: a.n,
                    });
                }
                Err(e) => return Err(self.err("record an expedite intent")(e)),
            }
        }
        tx.commit()
            .await
            .map_err(self.err("commit an expedite intent"))?;
        Ok(id)
    }

    /// Intents left without an outcome by an earlier run (a crash, a kill) or an abandoned
    /// call: the file's lock means no other instance has a call in flight.
    pub(in crate::store) async fn open_intents(&self) -> Result<Vec<ExpediteRecord>, StoreError> {
        self.read_expedites(true).await
    }

    /// Every recorded expedite, oldest first.
    pub(in crate::store) async fn expedites(&self) -> Result<Vec<ExpediteRecord>, StoreError> {
        self.read_expedites(false).await
    }

    /// Recorded expedites, oldest first: every one, or only those still without an outcome.
    async fn read_expedites(&self, open_only: bool) -> Result<Vec<ExpediteRecord>, StoreError> {
        macro_rules! select {
            ($filter:literal) => {
                concat!(
                    "SELECT e.id, e.task_id, e.rule, e.operator_id, e.opinion, e.intent_at, e.outcome, e.feishu_code, e.feishu_msg,
                            e.kind,
                            (SELECT group_concat(ea.user_id || ':' || ea.n, ',') FROM expedite_assignees ea WHERE ea.expedite_id = e.id)
                     FROM expedites e ", $filter, " ORDER BY e.id"
                )
            };
        }
        let sql = if open_only {
            select!("WHERE e.outcome = 'pending'")
        } else {
            select!("")
        };
        let rows: Vec<ExpediteRow> = sqlx::query_as(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read expedites"))?;
        rows.into_iter()
            .map(|r| {
                ExpediteRecord::from_row(r).map_err(|e| self.decode_err("expedite outcome", e))
            })
            .collect()
    }
}
