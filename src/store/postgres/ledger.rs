//! The ledger on PostgreSQL, fenced by the lease: an intent is written by one autocommit
//! statement that reads this instance's lease row `FOR SHARE` — holder, epoch and expiry by the
//! database's clock — and writes nothing when it does not hold. A takeover's `UPDATE` of the row
//! waits for an intent being committed, so no intent of an old epoch lands after a new epoch
//! began. The unique index `call_once` still refuses a second (task, assignee, kind, n).

use chrono::{DateTime, Utc};

use super::Postgres;
use crate::store::model::ExpediteRow;
use crate::store::{ExpediteRecord, Intent, StoreError, ms};

impl Postgres {
    pub(in crate::store) async fn record_intent(
        &self,
        intent: &Intent<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let lease = self.lease_or_err()?;
        let epoch = lease.epoch();
        let kind = intent.kind.as_str();
        let users: Vec<&str> = intent
            .recipients
            .iter()
            .map(|r| r.user_id.as_str())
            .collect();
        let rules: Vec<&str> = intent.recipients.iter().map(|r| r.rule.as_str()).collect();
        let ns: Vec<i32> = intent.recipients.iter().map(|r| r.n as i32).collect();
        let written: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "WITH held AS (
               SELECT epoch FROM lease
               WHERE app_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() FOR SHARE
             ), intent AS (
               INSERT INTO expedites (task_id, rule, operator_id, opinion, intent_at, outcome, kind, epoch, app_id, people)
               SELECT $4, $5, $6, $7, $8, 'pending', $9, held.epoch, $1, $13 FROM held RETURNING id
             ), assignees AS (
               INSERT INTO expedite_assignees (expedite_id, task_id, user_id, rule, n, kind)
               SELECT intent.id, $4, r.user_id, r.rule, r.n, $9
               FROM intent, UNNEST($10::text[], $11::text[], $12::int4[]) AS r(user_id, rule, n)
             )
             SELECT id FROM intent",
        )
        .bind(lease.app_id())
        .bind(lease.me())
        .bind(epoch)
        .bind(intent.task_id)
        .bind(intent.rule)
        .bind(intent.operator)
        .bind(intent.opinion)
        .bind(ms(now))
        .bind(kind)
        .bind(&users)
        .bind(&rules)
        .bind(&ns)
        .bind(intent.people_text())
        .fetch_optional(&self.pool)
        .await;
        match written {
            Ok(Some(id)) => Ok(id),
            Ok(None) => {
                // Not the holder of this epoch any more: stop acting until elected again.
                lease.step_down();
                Err(StoreError::NotLeader {
                    db: self.name.clone(),
                    epoch,
                })
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                // The key the index refused: `(task_id, user_id, kind, n)=(…, user, kind, n)`.
                let detail = e
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|p| p.detail())
                    .unwrap_or_default()
                    .to_owned();
                let a = intent
                    .recipients
                    .iter()
                    .find(|a| detail.contains(&format!(", {}, {kind}, {})", a.user_id, a.n)))
                    .or(intent.recipients.first());
                Err(StoreError::AlreadyRecorded {
                    task_id: intent.task_id.to_owned(),
                    user_id: a.map(|a| a.user_id.clone()).unwrap_or_default(),
                    n: a.map_or(0, |a| a.n),
                })
            }
            Err(e) => Err(self.err("record an expedite intent")(e)),
        }
    }

    /// Open intents of this instance's epoch and earlier ones: their instance stopped, lost
    /// the lease during the call, or (this one) abandoned it. Asked for by the holder when it
    /// takes the lease and after it abandoned a call; an instance that holds no epoch finds
    /// none, so a standby never touches the active one's call in flight.
    pub(in crate::store) async fn open_intents(&self) -> Result<Vec<ExpediteRecord>, StoreError> {
        let lease = self.lease_or_err()?;
        match lease.epoch() {
            0 => Ok(Vec::new()),
            up_to => self.read_expedites(Some((up_to, lease.app_id()))).await,
        }
    }

    pub(in crate::store) async fn expedites(&self) -> Result<Vec<ExpediteRecord>, StoreError> {
        self.read_expedites(None).await
    }

    /// Every call, or (`open_up_to`) the open intents of the app's epochs up to the given one
    /// (epochs count per app: another app's open intents are its own instance's calls).
    async fn read_expedites(
        &self,
        open_up_to: Option<(i64, &str)>,
    ) -> Result<Vec<ExpediteRecord>, StoreError> {
        let (up_to, app) = open_up_to.unzip();
        let rows: Vec<ExpediteRow> = sqlx::query_as(
            "SELECT e.id, e.task_id, e.rule, e.operator_id, e.opinion, e.intent_at, e.outcome, e.feishu_code,
                    e.feishu_msg, e.kind,
                    (SELECT string_agg(ea.user_id || ':' || ea.n, ',' ORDER BY ea.user_id)
                     FROM expedite_assignees ea WHERE ea.expedite_id = e.id)
             FROM expedites e
             WHERE $1::int8 IS NULL OR (e.outcome = 'pending' AND e.epoch <= $1 AND e.app_id IN ($2, ''))
             ORDER BY e.id",
        )
        .bind(up_to)
        .bind(app)
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
