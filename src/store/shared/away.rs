//! Away windows, and what holds a task's calls back at one moment.

use super::*;

const AWAY_COLUMNS: &str =
    "id, user_id, starts_at, until, deputy, reason, created_by, created_at, ended_at, ended_by";

in_both! {
    /// Records an away window; its id.
    pub(in crate::store) async fn add_away(
        &self,
        a: &NewAway<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO away (user_id, starts_at, until, deputy, reason, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(a.user_id)
        .bind(ms(a.from))
        .bind(ms(a.until))
        .bind(a.deputy)
        .bind(a.reason)
        .bind(a.created_by)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("record an away window"))
    }

    /// Away windows not over at `now` (current and future), or every one with `all`; newest
    /// first.
    pub(in crate::store) async fn away_windows(
        &self,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Away>, StoreError> {
        let rows: Vec<AwayRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AWAY_COLUMNS} FROM away
             WHERE $1 OR (ended_at IS NULL AND until > $2) ORDER BY id DESC"
        )))
        .bind(all)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read away windows"))?;
        Ok(rows.into_iter().map(Away::from).collect())
    }

    /// Ends an away window now, by `by`: the window as it was before (`None`: no such id); one
    /// that had ended already stays as it was.
    pub(in crate::store) async fn end_away(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Away>, StoreError> {
        let mut tx = self.begin().await?;
        let ended = sqlx::query(
            "UPDATE away SET ended_at = $2, ended_by = $3 WHERE id = $1 AND ended_at IS NULL AND until > $2",
        )
        .bind(id)
        .bind(ms(now))
        .bind(by)
        .execute(&mut *tx)
        .await
        .map_err(self.err("end an away window"))?
        .rows_affected();
        let row: Option<AwayRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AWAY_COLUMNS} FROM away WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("read an away window"))?;
        tx.commit().await.map_err(self.err("commit ending an away window"))?;
        Ok(row.map(Away::from).map(|mut a| {
            if ended == 1 {
                a.ended_at = None;
                a.ended_by = None;
            }
            a
        }))
    }

    /// Every user's away windows not ended by hand, for the decisions (which ask whether one
    /// holds at their moment).
    pub(in crate::store) async fn open_away(
        &self,
    ) -> Result<rustc_hash::FxHashMap<String, Vec<AwayWindow>>, StoreError> {
        // A window removed by hand ended at its removal: every rule that reads window ends
        // (the wait after one, a deputy's grace) counts from there. One removed before it began
        // never held.
        let rows: Vec<(String, i64, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT user_id, starts_at, CASE WHEN ended_at IS NOT NULL AND ended_at < until THEN ended_at ELSE until END,
                    deputy, reason
             FROM away WHERE ended_at IS NULL OR ended_at > starts_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read away windows"))?;
        let mut by_user: rustc_hash::FxHashMap<String, Vec<AwayWindow>> = Default::default();
        for (user, from, until, deputy, reason) in rows {
            // A deputy stored before ids were checked, which is not one id (say "8302,8303"),
            // names nobody: the window holds reminders back and moves nothing.
            let deputy = deputy.map(|d| d.trim().to_owned()).filter(|d| {
                let ok = crate::domain::id::parse_id(d).is_ok();
                if !ok {
                    tracing::warn!(user = %user.escape_debug(), deputy = %d.escape_debug(),
                        "an away window's deputy is not one user id; nothing is moved to it (remove the window and add it again with one deputy)");
                }
                ok
            });
            by_user.entry(user).or_default().push(AwayWindow {
                from: from_ms(from),
                until: from_ms(until),
                deputy,
                reason,
            });
        }
        Ok(by_user)
    }

    /// What holds a task's calls back at `now`: its active silences and who is away.
    pub(in crate::store) async fn holds_now(
        &self,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::store::HoldsNow, StoreError> {
        let silenced: Vec<(Option<String>,)> = sqlx::query_as(
            "SELECT user_id FROM silences WHERE task_id = $1 AND ended_at IS NULL AND until > $2",
        )
        .bind(task_id)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read silences"))?;
        let away: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, deputy FROM away WHERE ended_at IS NULL AND starts_at <= $1 AND until > $1",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read away windows"))?;
        Ok(crate::store::HoldsNow {
            whole_task: silenced.iter().any(|(u,)| u.is_none()),
            silenced: silenced.into_iter().filter_map(|(u,)| u).collect(),
            away: away
                .into_iter()
                .map(|(u, d)| (u, d.map(|d| d.trim().to_owned())))
                .collect(),
        })
    }
}
