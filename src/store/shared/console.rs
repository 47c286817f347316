//! The console's rows: sessions, one-time grants, the people who signed in.

use super::*;

in_both! {
    /// One page of pending pairs as the console asks for them, keys only, with how many match.
    pub(in crate::store) async fn pair_page(
        &self,
        q: &PairQuery<'_>,
    ) -> Result<(Vec<(String, String)>, u64), StoreError> {
        let filter = pair_filter(Self::json_list("$2"), Self::json_list("$5"));
        let json = |u: &[String]| serde_json::to_string(u).unwrap_or_else(|_| "[]".into());
        let users = q.users.map(json);
        let except = q.except_users.map(json);
        let pattern = q.text.map(contains_pattern);
        let keys: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT a.task_id, a.user_id {filter} ORDER BY {} LIMIT $6 OFFSET $7",
            q.sort.order_by()
        )))
        .bind(q.user)
        .bind(users.as_deref())
        .bind(q.text)
        .bind(pattern.as_deref())
        .bind(except.as_deref())
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a page of pending tasks"))?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {filter}")))
            .bind(q.user)
            .bind(users.as_deref())
            .bind(q.text)
            .bind(pattern.as_deref())
            .bind(except.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("count pending tasks"))?;
        Ok((keys, total as u64))
    }

    /// A task as stored with every assignment and every call about it; `None`: never seen.
    pub(in crate::store) async fn task_record(
        &self,
        task_id: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        type TaskRow = (String, String, Option<String>, Option<String>, Option<i64>, i64, i64, Option<i64>, i64);
        let row: Option<TaskRow> = sqlx::query_as(
            "SELECT task_id, labels, initiator_id, initiator_name, start_time, first_seen, last_seen, finished_at,
                    CAST(moved_away AS BIGINT)
             FROM tasks WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read a task"))?;
        let Some((task_id, labels, initiator_id, initiator_name, start, first, last, finished, task_moved_away)) = row else {
            return Ok(None);
        };
        type AssignmentRow = (String, i64, Option<i64>, Option<i64>, i64);
        let assignments: Vec<AssignmentRow> = sqlx::query_as(
            "SELECT user_id, first_seen, finished_at, missing_since, CAST(moved_away AS BIGINT) FROM assignments
             WHERE task_id = $1 ORDER BY first_seen, user_id",
        )
        .bind(&task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's assignments"))?;
        type CallRow = (i64, String, String, String, i64, String, Option<i64>, Option<i64>, Option<String>, Option<String>);
        let calls: Vec<CallRow> = sqlx::query_as(
            "SELECT id, kind, rule, operator_id, intent_at, outcome, outcome_at, feishu_code, feishu_msg, people
             FROM expedites WHERE task_id = $1 ORDER BY intent_at, id",
        )
        .bind(&task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's calls"))?;
        let named: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT expedite_id, user_id, CAST(n AS BIGINT), CAST(CAST(counts AS INTEGER) AS BIGINT)
             FROM expedite_assignees WHERE task_id = $1 ORDER BY expedite_id, user_id",
        )
        .bind(&task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read a task's calls"))?;
        let labels: Vec<(String, String)> = serde_json::from_str(&labels).unwrap_or_default();
        Ok(Some(TaskRecord {
            label: crate::domain::display_label(&labels).to_owned(),
            task_id,
            initiator_id,
            initiator_name,
            start_time: start.map(from_ms),
            first_seen: from_ms(first),
            last_seen: from_ms(last),
            moved_away: finished.is_some() && task_moved_away == 1,
            finished_at: finished.map(from_ms),
            assignments: assignments
                .into_iter()
                .map(|(user_id, first, finished, missing, moved_away)| AssignmentRecord {
                    user_id,
                    first_seen: from_ms(first),
                    moved_away: finished.is_some() && moved_away == 1,
                    finished_at: finished.map(from_ms),
                    missing_since: missing.map(from_ms),
                })
                .collect(),
            calls: calls
                .into_iter()
                .map(|(id, kind, rule, operator_id, intent, outcome, outcome_at, code, msg, people)| CallRecord {
                    people: people
                        .and_then(|p| serde_json::from_str::<Vec<String>>(&p).ok())
                        .unwrap_or_default(),
                    assignees: named
                        .iter()
                        .filter(|(e, _, _, _)| *e == id)
                        .map(|(_, u, n, _)| (u.clone(), *n))
                        .collect(),
                    // A failed move that still counts is one Feishu refused.
                    refused: outcome == "failed"
                        && crate::domain::CallKind::parse(&kind).is_some_and(|k| k.moves())
                        && named.iter().any(|(e, _, _, counts)| *e == id && *counts == 1),
                    id,
                    kind,
                    rule,
                    operator_id,
                    intent_at: from_ms(intent),
                    outcome,
                    outcome_at: outcome_at.map(from_ms),
                    feishu_code: code,
                    feishu_msg: msg,
                })
                .collect(),
        }))
    }

    /// Records a console session (by the hash of the browser's id).
    pub(in crate::store) async fn add_session(
        &self,
        id_hash: &str,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, who, csrf, created_at, expires_at, kind, open_id, email, token_digest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id_hash)
        .bind(&session.who)
        .bind(&session.csrf)
        .bind(ms(now))
        .bind(ms(session.expires_at))
        .bind(&session.kind)
        .bind(&session.open_id)
        .bind(&session.email)
        .bind(&session.token_digest)
        .execute(&self.pool)
        .await
        .map_err(self.err("record a console session"))?;
        Ok(())
    }

    /// The session of this id hash, if it has neither ended nor expired at `now`.
    pub(in crate::store) async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        type Row = (String, String, i64, String, Option<String>, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT who, csrf, expires_at, kind, open_id, email, token_digest FROM console_sessions
             WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read a console session"))?;
        Ok(row.map(|(who, csrf, expires, kind, open_id, email, token_digest)| Session {
            who,
            csrf,
            expires_at: from_ms(expires),
            kind,
            open_id,
            email,
            token_digest,
        }))
    }

    /// Sessions neither ended nor expired at `now`, newest first.
    pub(in crate::store) async fn sessions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::store::SessionInfo>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id_hash, who, kind, created_at, expires_at FROM console_sessions
             WHERE ended_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, id_hash",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read console sessions"))?;
        Ok(rows
            .into_iter()
            .map(|(hash, who, kind, created, expires)| crate::store::SessionInfo {
                id: hash.chars().take(12).collect(),
                who,
                kind,
                created_at: from_ms(created),
                expires_at: from_ms(expires),
            })
            .collect())
    }

    /// Ends the open sessions whose id hash starts with `prefix` (all with `None`).
    pub(in crate::store) async fn end_sessions(
        &self,
        prefix: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let pattern = match prefix {
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()) => {
                format!("{}%", p.to_ascii_lowercase())
            }
            Some(_) => return Ok(0),
            None => "%".to_owned(),
        };
        let ended = sqlx::query(
            "UPDATE console_sessions SET ended_at = $2
             WHERE id_hash LIKE $1 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(pattern)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("end console sessions"))?
        .rows_affected();
        Ok(ended)
    }

    /// Remembers a person from their sign-in with Feishu.
    pub(in crate::store) async fn remember_person(
        &self,
        open_id: &str,
        name: &str,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO people (open_id, name, email, signed_in_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (open_id) DO UPDATE SET name = excluded.name, email = excluded.email,
               signed_in_at = excluded.signed_in_at",
        )
        .bind(open_id)
        .bind(name)
        .bind(email)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("remember a person"))?;
        Ok(())
    }

    /// Ends a session (sign-out).
    pub(in crate::store) async fn end_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL")
            .bind(id_hash)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(self.err("end a console session"))?;
        Ok(())
    }

    /// Forgets sessions and grants that expired (or ended) before `before`.
    pub(in crate::store) async fn forget_console(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sessions = sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1 OR ended_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(self.err("forget old console sessions"))?
            .rows_affected();
        let grants = sqlx::query("DELETE FROM console_grants WHERE expires_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(self.err("forget old console grants"))?
            .rows_affected();
        Ok(sessions + grants)
    }

    /// Claims `key` once (a card click's event id): `true` for the first claim, `false` when
    /// it was claimed before — also when two hosts race. Kept until `expires_at`.
    pub(in crate::store) async fn claim_once(
        &self,
        key: &str,
        kind: &str,
        who: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO console_grants (hash, kind, who, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(key)
        .bind(kind)
        .bind(who)
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await
        .map_err(self.err("claim a card click"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claim back (the act it was for did not happen): a redelivery may try again.
    pub(in crate::store) async fn release_claim(&self, key: &str, kind: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_grants WHERE hash = $1 AND kind = $2")
            .bind(key)
            .bind(kind)
            .execute(&self.pool)
            .await
            .map_err(self.err("release a card click's claim"))?;
        Ok(())
    }

    /// A person as their last sign-in with Feishu gave them: name and email.
    pub(in crate::store) async fn person(
        &self,
        open_id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        sqlx::query_as("SELECT name, email FROM people WHERE open_id = $1")
            .bind(open_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("read a person"))
    }

    /// Records a one-time grant (a sign-in link, a sign-in state) by its hash.
    pub(in crate::store) async fn add_grant(
        &self,
        hash: &str,
        kind: &str,
        who: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO console_grants (hash, kind, who, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(kind)
            .bind(who)
            .bind(ms(expires_at))
            .execute(&self.pool)
            .await
            .map_err(self.err("record a sign-in grant"))?;
        Ok(())
    }

    /// Uses a grant once: who made it, when it was of `kind`, unused and not expired at `now`;
    /// `None` otherwise (a second use included, also when two race).
    pub(in crate::store) async fn use_grant(
        &self,
        hash: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "UPDATE console_grants SET used_at = $3
             WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 RETURNING who",
        )
        .bind(hash)
        .bind(kind)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("use a sign-in grant"))
    }

    /// Adds an act to the audit trail.
    pub(in crate::store) async fn add_audit(
        &self,
        e: &crate::store::NewAudit<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let teams = serde_json::to_string(e.teams).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO audit (at, who, address, action, teams, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ms(now))
        .bind(e.who)
        .bind(e.address)
        .bind(e.action)
        .bind(teams)
        .bind(e.detail)
        .execute(&self.pool)
        .await
        .map_err(self.err("record an act in the audit trail"))?;
        Ok(())
    }

    /// The audit trail since `since`, newest first.
    pub(in crate::store) async fn audit_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::store::AuditEntry>, StoreError> {
        type Row = (i64, i64, String, Option<String>, String, String, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, who, address, action, teams, detail FROM audit
             WHERE at >= $1 ORDER BY at DESC, id DESC",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read the audit trail"))?;
        Ok(rows
            .into_iter()
            .map(|(id, at, who, address, action, teams, detail)| crate::store::AuditEntry {
                id,
                at: from_ms(at),
                who,
                address,
                action,
                teams: serde_json::from_str(&teams).unwrap_or_default(),
                detail,
            })
            .collect())
    }

    /// Forgets the audit trail older than `before`.
    pub(in crate::store) async fn prune_audit(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit WHERE at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(self.err("prune the audit trail"))?;
        Ok(done.rows_affected())
    }
}
