//! Pending (task, assignee) pairs with everything the decision needs: the task's facts, what
//! listings taught about its flow, and the expedites sent so far.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Sqlite;
use crate::domain::Pair;
use crate::domain::decide::Escalated;
use crate::store::{PairScope, StoreError, from_ms, ms};

/// A pending pair's flow knowledge, call history, silence and chat. A call counts from when it
/// ended (its intent when it never did): a call held back by a rate-limit wait reached the
/// assignee later than its intent was written, and `repeat` is the gap the assignee sees.
macro_rules! pair_history_columns {
    () => {
        concat!("(SELECT group_concat(f.flow_set, char(10)) FROM task_flows f WHERE f.task_id = a.task_id AND f.member = 1) AS flows,
         (SELECT count(*) FROM expedite_assignees ea
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'expedite' AND ea.counts = 1) AS sent,
         (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'expedite' AND ea.counts = 1) AS last_sent,
         (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'cc' AND ea.counts = 1) AS cc_at,
         (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind = 'chat' AND ea.counts = 1) AS chat_at,
         (SELECT ul.listed_at FROM user_listings ul WHERE ul.user_id = a.user_id) AS confirmed_at,
         (SELECT json_array(s.until, s.reason) FROM silences s
           WHERE s.task_id = a.task_id AND (s.user_id IS NULL OR s.user_id = a.user_id) AND s.ended_at IS NULL
           ORDER BY s.until DESC LIMIT 1) AS silence,
         (SELECT c.chat_id FROM task_chats c WHERE c.task_id = a.task_id) AS chat_id,
         CASE WHEN ?6 THEN (SELECT json_array(ea.kind, coalesce(e.outcome_at, e.intent_at), ea.n, e.outcome, e.feishu_code, e.feishu_msg)
            FROM expedite_assignees ea JOIN expedites e ON e.id = ea.expedite_id
           WHERE ea.task_id = a.task_id AND ea.user_id = a.user_id AND ea.kind IN ", move_kinds!(), " AND ea.counts = 1
           ORDER BY e.id DESC LIMIT 1) END AS moved,
         CASE WHEN ?6 THEN (SELECT json_group_array(e.people) FROM expedites e
           WHERE e.task_id = a.task_id AND e.kind IN ", move_kinds!(), " AND e.outcome <> 'failed' AND e.people IS NOT NULL) END AS moved_to,
         CASE WHEN ?6 THEN (SELECT max(coalesce(e.outcome_at, e.intent_at)) FROM expedites e, json_each(e.people) j
           WHERE e.task_id = a.task_id AND e.kind IN ", move_kinds!(), " AND e.outcome <> 'failed'
             AND e.people IS NOT NULL AND j.value = a.user_id) END AS moved_in")
    };
}

/// One pending pair as read back, by name.
#[derive(Deserialize)]
struct PairRow {
    task_id: String,
    user_id: String,
    labels: Vec<(String, String)>,
    initiator_id: Option<String>,
    initiator_name: Option<String>,
    start_time: Option<i64>,
    first_seen: i64,
    /// Flow filters whose listing returned the task, joined by newlines.
    flows: Option<String>,
    sent: i64,
    last_sent: Option<i64>,
    missing_since: Option<i64>,
    cc_at: Option<i64>,
    chat_at: Option<i64>,
    confirmed_at: Option<i64>,
    /// `[until, reason]` of the silence that ends last.
    silence: Option<(i64, String)>,
    chat_id: Option<String>,
    /// The last move from this assignee, as [`crate::store::MovedRow`].
    moved: Option<crate::store::MovedRow>,
    /// Who moves of the task named: a JSON array of each move's array (as text).
    moved_to: Option<serde_json::Value>,
    /// When a move last named this assignee as its target.
    moved_in: Option<i64>,
}

impl Sqlite {
    /// Hands the pending pairs in `scope` to `visit` — only those of tasks started at or before
    /// `started_before` when given — in chunks: each chunk is one query
    /// answering one row (a JSON array of pairs), which keeps both the memory held and the
    /// round trips to SQLite's worker thread small.
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
                PairScope::FirstSeenSince(since) => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_object('task_id', task_id, 'user_id', user_id, 'labels', json(labels), 'initiator_id', initiator_id, 'initiator_name', initiator_name, 'start_time', start_time, 'first_seen', first_seen, 'flows', flows, 'sent', sent, 'last_sent', last_sent, 'missing_since', missing_since, 'cc_at', cc_at, 'chat_at', chat_at, 'confirmed_at', confirmed_at, 'silence', json(silence), 'chat_id', chat_id, 'moved', json(moved), 'moved_to', json(moved_to), 'moved_in', moved_in)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    // CROSS JOIN keeps tasks the outer loop: the few first seen this cycle are
                    // found through their partial index, not by scanning every assignment.
                    " FROM tasks t CROSS JOIN assignments a ON a.task_id = t.task_id
                      WHERE t.first_seen >= ?1 AND t.finished_at IS NULL AND a.finished_at IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(ms(since)),
                PairScope::All => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_object('task_id', task_id, 'user_id', user_id, 'labels', json(labels), 'initiator_id', initiator_id, 'initiator_name', initiator_name, 'start_time', start_time, 'first_seen', first_seen, 'flows', flows, 'sent', sent, 'last_sent', last_sent, 'missing_since', missing_since, 'cc_at', cc_at, 'chat_at', chat_at, 'confirmed_at', confirmed_at, 'silence', json(silence), 'chat_id', chat_id, 'moved', json(moved), 'moved_to', json(moved_to), 'moved_in', moved_in)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    " FROM assignments a JOIN tasks t ON t.task_id = a.task_id
                      WHERE a.finished_at IS NULL AND ?1 IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(None::<i64>),
                PairScope::TasksOf(user) => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_object('task_id', task_id, 'user_id', user_id, 'labels', json(labels), 'initiator_id', initiator_id, 'initiator_name', initiator_name, 'start_time', start_time, 'first_seen', first_seen, 'flows', flows, 'sent', sent, 'last_sent', last_sent, 'missing_since', missing_since, 'cc_at', cc_at, 'chat_at', chat_at, 'confirmed_at', confirmed_at, 'silence', json(silence), 'chat_id', chat_id, 'moved', json(moved), 'moved_to', json(moved_to), 'moved_in', moved_in)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    " FROM assignments mine JOIN assignments a ON a.task_id = mine.task_id JOIN tasks t ON t.task_id = a.task_id
                      WHERE mine.user_id = ?1 AND mine.finished_at IS NULL AND a.finished_at IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(user),
                PairScope::Tasks(ids) => sqlx::query_scalar(concat!(
                    "SELECT json_group_array(json_object('task_id', task_id, 'user_id', user_id, 'labels', json(labels), 'initiator_id', initiator_id, 'initiator_name', initiator_name, 'start_time', start_time, 'first_seen', first_seen, 'flows', flows, 'sent', sent, 'last_sent', last_sent, 'missing_since', missing_since, 'cc_at', cc_at, 'chat_at', chat_at, 'confirmed_at', confirmed_at, 'silence', json(silence), 'chat_id', chat_id, 'moved', json(moved), 'moved_to', json(moved_to), 'moved_in', moved_in)) FROM (",
                    "SELECT a.task_id, a.user_id, t.labels, t.initiator_id, t.initiator_name, t.start_time, t.first_seen, a.missing_since, ",
                    pair_history_columns!(),
                    " FROM assignments a JOIN tasks t ON t.task_id = a.task_id
                      WHERE a.task_id IN (SELECT value FROM json_each(?1)) AND a.finished_at IS NULL
                        AND coalesce(t.start_time, t.first_seen) <= ?5
                        AND (a.task_id, a.user_id) > (?2, ?3) ORDER BY a.task_id, a.user_id LIMIT ?4)"
                ))
                .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())),
            };
            let chunk: String = query
                .bind(&after.0)
                .bind(&after.1)
                .bind(CHUNK)
                .bind(started_before)
                .bind(any_moves)
                .fetch_one(&self.pool)
                .await
                .map_err(self.err("read pending tasks"))?;
            let rows: Vec<PairRow> =
                serde_json::from_str(&chunk).map_err(|e| self.decode_err("pending pairs", e))?;
            let full = rows.len() as i64 == CHUNK;
            for row in rows {
                after = (row.task_id.clone(), row.user_id.clone());
                visit(Pair {
                    task_id: row.task_id,
                    user_id: row.user_id,
                    labels: row.labels,
                    initiator_id: row.initiator_id,
                    initiator_name: row.initiator_name,
                    start_time: row.start_time.map(from_ms),
                    first_seen: from_ms(row.first_seen),
                    flow_sets: row
                        .flows
                        .map(|s| s.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    sent: row.sent as u32,
                    last_sent: row.last_sent.map(from_ms),
                    missing_since: row.missing_since.map(from_ms),
                    confirmed_at: row.confirmed_at.map(from_ms),
                    silence: row.silence.map(|(until, reason)| (from_ms(until), reason)),
                    escalated: Escalated {
                        cc: row.cc_at.map(from_ms),
                        chat: row.chat_at.map(from_ms),
                    },
                    chat_id: row.chat_id,
                    away: away.get(&after.1).cloned().unwrap_or_default(),
                    moved: row.moved.and_then(crate::store::move_record),
                    moved_to: crate::store::people_in(row.moved_to),
                    moved_in: row.moved_in.map(from_ms),
                });
            }
            if !full {
                return Ok(());
            }
        }
    }
}
