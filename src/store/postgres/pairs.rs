//! Pending (task, assignee) pairs with their history on PostgreSQL: the same columns as
//! SQLite's, read as rows in keyset-paged chunks.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::Postgres;
use crate::domain::Pair;
use crate::domain::decide::Escalated;
use crate::store::{PairScope, StoreError, from_ms, ms};

/// The statement for one scope: `$1` the scope's value, `$2`/`$3` the last pair read,
/// `$4` the latest start, `$5` the chunk size, `$6` whether the ledger holds any move.
macro_rules! pairs_sql {
    ($($from_where:expr),* $(,)?) => {
        concat!(
            "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen,
                    a.missing_since,
                    (SELECT string_agg(f.flow_set, E'\\n' ORDER BY f.flow_set) FROM task_flows f
                      WHERE f.task_id = a.task_id AND f.member) AS flows,
                    (SELECT count(*) FROM expedite_assignees ea
                      WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'expedite' AND ea.counts) AS sent,
                    (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                      WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'expedite' AND ea.counts) AS last_sent,
                    (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                      WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'cc' AND ea.counts) AS cc_at,
                    (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                      WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'chat' AND ea.counts) AS chat_at,
                    (SELECT ul.listed_at FROM user_listings ul WHERE ul.user_id = a.user_id) AS confirmed_at,
                    s.until, s.reason,
                    (SELECT c.chat_id FROM task_chats c WHERE c.task_id = a.task_id) AS chat_id,
                    CASE WHEN $6::bool THEN (SELECT json_build_array(ea.kind, coalesce(e.outcome_at, e.intent_at), ea.n, e.outcome, e.feishu_code, e.feishu_msg)::text
                       FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
                      WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind IN ", move_kinds!(), " AND ea.counts
                      ORDER BY e.id DESC LIMIT 1) END AS moved,
                    CASE WHEN $6::bool THEN (SELECT json_agg(e.people::json)::text FROM expedites e
                      WHERE e.task_id = a.task_id AND e.kind IN ", move_kinds!(), " AND e.outcome <> 'failed' AND e.people IS NOT NULL) END AS moved_to,
                    CASE WHEN $6::bool THEN (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedites e
                      WHERE e.task_id = a.task_id AND e.kind IN ", move_kinds!(), " AND e.outcome <> 'failed'
                        AND e.people IS NOT NULL AND jsonb_exists(e.people::jsonb, a.user_id)) END AS moved_in ",
            $($from_where,)*
            " AND a.finished_at IS NULL AND coalesce(t.start_time, t.first_seen) <= $4
              AND (a.task_id, a.user_id) > ($2, $3)
             ORDER BY a.task_id, a.user_id LIMIT $5"
        )
    };
}

/// The silence that holds a pair longest, if any.
macro_rules! silence_join {
    () => {
        " LEFT JOIN LATERAL (SELECT s.until, s.reason FROM silences s
            WHERE s.task_id = a.task_id AND (s.user_id IS NULL OR s.user_id = a.user_id) AND s.ended_at IS NULL
            ORDER BY s.until DESC LIMIT 1) s ON true "
    };
}

fn pair_of(r: &PgRow) -> Result<Pair, sqlx::Error> {
    let labels: String = r.try_get("labels")?;
    let until: Option<i64> = r.try_get("until")?;
    let reason: Option<String> = r.try_get("reason")?;
    let flows: Option<String> = r.try_get("flows")?;
    let moved: Option<String> = r.try_get("moved")?;
    let moved = match moved {
        Some(text) => serde_json::from_str::<crate::store::MovedRow>(&text)
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: "moved".into(),
                source: Box::new(e),
            })
            .map(crate::store::move_record)?,
        None => None,
    };
    Ok(Pair {
        task_id: r.try_get("task_id")?,
        user_id: r.try_get("user_id")?,
        labels: serde_json::from_str(&labels).map_err(|e| sqlx::Error::ColumnDecode {
            index: "labels".into(),
            source: Box::new(e),
        })?,
        initiator_id: r.try_get("initiator_id")?,
        initiator_name: r.try_get("initiator_name")?,
        start_time: r.try_get::<Option<i64>, _>(5)?.map(from_ms),
        first_seen: from_ms(r.try_get("first_seen")?),
        missing_since: r.try_get::<Option<i64>, _>(7)?.map(from_ms),
        flow_sets: flows
            .map(|s| s.split('\n').map(str::to_owned).collect())
            .unwrap_or_default(),
        sent: r.try_get::<i64, _>("sent")? as u32,
        last_sent: r.try_get::<Option<i64>, _>(10)?.map(from_ms),
        escalated: Escalated {
            cc: r.try_get::<Option<i64>, _>(11)?.map(from_ms),
            chat: r.try_get::<Option<i64>, _>(12)?.map(from_ms),
        },
        confirmed_at: r.try_get::<Option<i64>, _>(13)?.map(from_ms),
        silence: until.map(|u| (from_ms(u), reason.unwrap_or_default())),
        chat_id: r.try_get("chat_id")?,
        away: Vec::new(),
        moved,
        moved_to: crate::store::people_of(r.try_get("moved_to")?),
        moved_in: r.try_get::<Option<i64>, _>("moved_in")?.map(from_ms),
    })
}

impl Postgres {
    pub(in crate::store) async fn visit_pending_pairs(
        &self,
        scope: PairScope<'_>,
        started_before: Option<DateTime<Utc>>,
        mut visit: impl FnMut(Pair),
    ) -> Result<(), StoreError> {
        const CHUNK: i64 = 2000;
        let away = self.open_away().await?;
        // Moves are rare: without any, their two columns are not read per pair.
        let any_moves = self.any_moves().await?;
        let started_before = started_before.map_or(i64::MAX, ms);
        let mut after = (String::new(), String::new());
        loop {
            let query = match scope {
                PairScope::FirstSeenSince(since) => sqlx::query(pairs_sql!(
                    "FROM tasks t JOIN assignments a ON a.task_id = t.task_id",
                    silence_join!(),
                    // The keyset's start on the driving table too, so each chunk starts
                    // where the last ended instead of reading the scope from its beginning.
                    "WHERE t.first_seen >= $1::int8 AND t.finished_at IS NULL AND t.task_id >= $2"
                ))
                .bind(ms(since)),
                PairScope::All => sqlx::query(pairs_sql!(
                    "FROM assignments a JOIN tasks t ON t.task_id = a.task_id",
                    silence_join!(),
                    "WHERE $1::text IS NULL"
                ))
                .bind(None::<String>),
                PairScope::TasksOf(user) => sqlx::query(pairs_sql!(
                    "FROM assignments mine JOIN assignments a ON a.task_id = mine.task_id
                     JOIN tasks t ON t.task_id = a.task_id",
                    silence_join!(),
                    "WHERE mine.user_id = $1::text AND mine.finished_at IS NULL AND mine.task_id >= $2"
                ))
                .bind(user),
                PairScope::Tasks(ids) => sqlx::query(pairs_sql!(
                    "FROM assignments a JOIN tasks t ON t.task_id = a.task_id",
                    silence_join!(),
                    "WHERE a.task_id = ANY($1::text[]) AND a.task_id >= $2"
                ))
                .bind(ids),
            };
            let rows = query
                .bind(&after.0)
                .bind(&after.1)
                .bind(started_before)
                .bind(CHUNK)
                .bind(any_moves)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read pending tasks"))?;
            let full = rows.len() as i64 == CHUNK;
            for row in &rows {
                let mut pair = pair_of(row).map_err(|e| self.decode_err("pending pairs", e))?;
                if let Some(w) = away.get(&pair.user_id) {
                    pair.away = w.clone();
                }
                after = (pair.task_id.clone(), pair.user_id.clone());
                visit(pair);
            }
            if !full {
                return Ok(());
            }
        }
    }
}
