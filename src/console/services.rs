//! What the console does, shared by the pages and the API: the reads (the overview, the task
//! list, a task, silences, away windows, the report's pending pairs) and the writes (silences
//! and away windows made and ended). Each write checks what it is given once (the same checks as
//! the command line), records it with who did it, and refreshes what the pages show. The
//! handlers parse, call one of these, and render.
//!
//! [`Services`] holds narrow state — the config in force, the store, the clock and the index —
//! never the engine; it is built from the console's state for each request (axum's `FromRef`).

use super::audit;
use super::data::{self, Cache, Overview, TaskFilter, TaskPage, TaskView};
use super::error::Failure;
use super::roles::Scope;
use super::visitor::Visitor;
use super::{Console, Ground};
use crate::holds::Names;
use crate::holds::silence::{SilenceRequest, check_new};
use crate::store::{AuditEntry, Away, NewSilence, Silence};
use chrono::{DateTime, Utc};

/// The console's services, on what one request may use.
#[derive(Clone)]
pub(crate) struct Services {
    pub ground: Ground,
    cache: Cache,
}

impl axum::extract::FromRef<Console> for Services {
    fn from_ref(console: &Console) -> Services {
        Services::new(console.live(), console.cache.clone())
    }
}

impl Services {
    pub(crate) fn new(ground: Ground, cache: Cache) -> Services {
        Services { ground, cache }
    }

    /// What `v` may see and do now.
    pub(crate) fn scope(&self, v: &Visitor) -> Scope {
        v.scope(&self.ground.config)
    }

    /// The overview: the lease, the last cycle, counts by state, the most overdue — over what
    /// `v` sees.
    pub(crate) async fn overview(&self, v: &Visitor) -> Result<Overview, Failure> {
        data::overview(&self.ground, &self.cache, &self.scope(v)).await
    }

    /// One page of the pending pairs the filter keeps, of those `v` sees.
    pub(crate) async fn tasks(
        &self,
        v: &Visitor,
        filter: &TaskFilter,
    ) -> Result<TaskPage, Failure> {
        let scope = self.scope(v);
        if let Some(team) = filter.team()
            && !scope.sees_team(team)
        {
            return Err(Failure::BadField(
                "team".into(),
                format!("team \"{team}\" is not one you see"),
            ));
        }
        data::task_page(&self.ground, &self.cache, filter, &scope).await
    }

    /// One task as the console shows it, if it was ever seen and `v` sees it: one of its
    /// assignees, now or before (a task moved away from them), is theirs. Another team's task
    /// is as unknown.
    pub(crate) async fn task(
        &self,
        v: &Visitor,
        task_id: &str,
    ) -> Result<Option<TaskView>, Failure> {
        let scope = self.scope(v);
        // Theirs while one of its pending assignees is, or after it was moved away from one of
        // theirs, until it is known to be done (read-only).
        Ok(data::task_view(&self.ground, task_id).await?.filter(|t| {
            let r = &t.record;
            scope.is_all()
                || r.assignments.iter().any(|a| {
                    scope.sees(&a.user_id)
                        && (a.finished_at.is_none()
                            || (a.moved_away && (r.finished_at.is_none() || r.moved_away)))
                })
        }))
    }

    /// The report over the last `since` (a duration up to 400 days), grouped `by` rule, team
    /// or user: the window's calls from the database, the pending pairs from the index.
    pub(crate) async fn report(
        &self,
        v: &Visitor,
        since: &str,
        by: &str,
    ) -> Result<maud::Markup, Failure> {
        use crate::domain::report::GroupBy;
        let since = self.window_start(since)?;
        let by = match by {
            "rule" => GroupBy::Rule,
            "team" => GroupBy::Team,
            "user" => GroupBy::User,
            other => {
                return Err(Failure::BadField(
                    "by".into(),
                    format!("by \"{other}\" is not one of rule, team, user"),
                ));
            }
        };
        let now = self.ground.clock.now();
        let scope = self.scope(v);
        let mut sent = self.ground.store.sent_since(since).await?;
        sent.retain(|c| scope.sees(&c.user_id));
        let mut pending = data::report_pending(&self.ground, &self.cache).await?;
        pending.retain(|(_, user, _, _)| scope.sees(user));
        let config = &self.ground.config;
        Ok(crate::commands::report::body_with(
            v.lang, config, by, since, now, &sent, &pending,
        ))
    }

    /// The active silences, or (`all`) every one, of those `v` sees: one for an assignee of
    /// theirs, or for a whole task one of whose assignees is theirs.
    pub(crate) async fn silences(&self, v: &Visitor, all: bool) -> Result<Vec<Silence>, Failure> {
        let now = self.ground.clock.now();
        let mut list = self.ground.store.silences(all, now).await?;
        let scope = self.scope(v);
        if !scope.is_all() {
            let ix = data::index(&self.ground, &self.cache).await?;
            list.retain(|s| match &s.user_id {
                Some(u) => scope.sees(u),
                None => ix.assignees_of(&s.task_id).iter().any(|u| scope.sees(u)),
            });
        }
        Ok(list)
    }

    /// The away windows still to end, or (`all`) every one, of the people `v` sees.
    pub(crate) async fn away_windows(&self, v: &Visitor, all: bool) -> Result<Vec<Away>, Failure> {
        let now = self.ground.clock.now();
        let mut list = self.ground.store.away_windows(all, now).await?;
        let scope = self.scope(v);
        list.retain(|a| scope.sees(&a.user_id));
        Ok(list)
    }

    /// Records `v`'s act in the audit trail, under the teams of `whom`.
    async fn audit(&self, v: &Visitor, action: &str, whom: &[String], detail: &str) {
        let whom: Vec<&str> = whom.iter().map(String::as_str).collect();
        let teams = audit::teams_of(&self.ground.config, &whom);
        audit::record(
            &self.ground,
            &v.who,
            v.address.as_deref(),
            action,
            &teams,
            detail,
        )
        .await;
    }

    /// Whom a silence holds: its assignee, or every pending assignee of its task.
    async fn silenced_people(&self, task_id: &str, user: Option<&str>) -> Vec<String> {
        match user {
            Some(u) => vec![u.to_owned()],
            None => match data::index(&self.ground, &self.cache).await {
                Ok(ix) => ix
                    .assignees_of(task_id)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                Err(_) => Vec::new(),
            },
        }
    }

    /// The start of a window that ends now: `since` is a duration up to 400 days.
    pub(crate) fn window_start(&self, since: &str) -> Result<DateTime<Utc>, Failure> {
        let too_long = || {
            Failure::BadField(
                "since".into(),
                format!("since \"{since}\" is not a duration up to 400d; write it like 7d or 30d"),
            )
        };
        let window = humantime::parse_duration(since.trim())
            .ok()
            .filter(|w| *w <= std::time::Duration::from_secs(400 * 86_400))
            .ok_or_else(too_long)?;
        chrono::TimeDelta::from_std(window)
            .ok()
            .and_then(|w| self.ground.clock.now().checked_sub_signed(w))
            .ok_or_else(too_long)
    }

    /// The audit trail since `since` as `v` may read it: an admin everything, a lead their
    /// teams' entries, a viewer nothing (403).
    pub(crate) async fn audit_trail(
        &self,
        v: &Visitor,
        since: DateTime<Utc>,
        team: Option<&str>,
    ) -> Result<Vec<AuditEntry>, Failure> {
        let scope = self.scope(v);
        if !v.role.reads_audit() {
            return Err(Failure::Forbidden(
                "the audit trail is for admins and team leads".into(),
            ));
        }
        Ok(audit::read(&self.ground, &scope, since, team).await?)
    }

    /// May `v` silence this assignee of this task — or, with no assignee, the whole task (only
    /// if every pending assignee of it is theirs)?
    async fn may_silence(
        &self,
        scope: &Scope,
        task_id: &str,
        user: Option<&str>,
    ) -> Result<(), Failure> {
        if scope.is_all() {
            return Ok(());
        }
        let ix = data::index(&self.ground, &self.cache).await?;
        let assignees = ix.assignees_of(task_id);
        let theirs = match user {
            Some(u) => scope.acts_for(u) && assignees.contains(&u),
            None => !assignees.is_empty() && assignees.iter().all(|u| scope.acts_for(u)),
        };
        if theirs {
            Ok(())
        } else {
            Err(Failure::Forbidden(match user {
                Some(_) => "you may silence only your own team's assignees of the tasks you see \
                    (a team you lead)"
                    .into(),
                None => "a whole task is silenced only by a lead of every one of its assignees: \
                    silence your team's assignees one by one"
                    .into(),
            }))
        }
    }

    /// Ends silence `id` on behalf of `v`: `Ok(true)` if this ended it, `Ok(false)` if it was
    /// over already (removed, or run out). A lead ends the silences of their team's people.
    pub(crate) async fn end_silence(&self, v: &Visitor, id: i64) -> Result<bool, Failure> {
        let now = self.ground.clock.now();
        let scope = self.scope(v);
        if !scope.is_all() {
            let every = self.ground.store.silences(true, now).await?;
            let Some(s) = every.iter().find(|s| s.id == id) else {
                return Err(Failure::NotFound(format!("no silence {id}")));
            };
            self.may_silence(&scope, &s.task_id, s.user_id.as_deref())
                .await?;
        }
        match self.ground.store.end_silence(id, &v.who, now).await? {
            None => Err(Failure::NotFound(format!("no silence {id}"))),
            Some(s) if s.ended_at.is_none() && s.until > now => {
                tracing::info!(silence = id, by = %v.who, "console: silence removed");
                self.cache.invalidate();
                let whom = self.silenced_people(&s.task_id, s.user_id.as_deref()).await;
                let detail = format!("silence {id} on task {} removed", s.task_id);
                self.audit(v, "silence_removed", &whom, &detail).await;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    /// The checks of `silence add`, then the silence, recorded as made by `v`.
    pub(crate) async fn add_silence(
        &self,
        v: &Visitor,
        task_id: &str,
        user: Option<&str>,
        duration: Option<&str>,
        until: Option<&str>,
        reason: &str,
    ) -> Result<(i64, Option<String>), Failure> {
        let live = &self.ground;
        let store = &live.store;
        let now = live.clock.now();
        let request = SilenceRequest {
            task: task_id,
            user,
            duration,
            until,
        };
        // Out of scope first, in words that name nothing of another team: the checks below
        // would say who else holds a task, or which people are watched.
        let scope = self.scope(v);
        self.may_silence(
            &scope,
            task_id.trim(),
            user.map(str::trim).filter(|u| !u.is_empty()),
        )
        .await?;
        let checked = check_new(&live.config, store, &request, Names::Api, now)
            .await?
            .map_err(|r| Failure::BadField(r.field.into(), r.message))?;
        self.may_silence(&scope, &checked.task, checked.user.as_deref())
            .await?;
        let reason: String = reason.trim().chars().take(500).collect();
        let id = store
            .add_silence(
                &NewSilence {
                    task_id: &checked.task,
                    user_id: checked.user.as_deref(),
                    until: checked.until,
                    reason: &reason,
                    created_by: &v.who,
                },
                now,
            )
            .await?;
        tracing::info!(silence = id, task = %checked.task, by = %v.who, "console: silence added");
        let whom = self
            .silenced_people(&checked.task, checked.user.as_deref())
            .await;
        let detail = format!(
            "silence {id} on task {}{} until {}",
            checked.task,
            checked
                .user
                .as_deref()
                .map_or(String::new(), |u| format!(" for {u}")),
            checked.until.to_rfc3339()
        );
        self.audit(v, "silence_added", &whom, &detail).await;
        self.cache.invalidate();
        Ok((id, checked.warning))
    }

    /// Records an away window on behalf of `v`, after the checks of `away add`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn add_away_window(
        &self,
        v: &Visitor,
        user: &str,
        duration: Option<&str>,
        until: Option<&str>,
        from: Option<&str>,
        deputy: Option<&str>,
        reason: &str,
    ) -> Result<i64, Failure> {
        use crate::holds::away::{AwayRequest, check_new};
        let live = &self.ground;
        let now = live.clock.now();
        let req = AwayRequest {
            user,
            duration,
            until,
            from,
            deputy,
        };
        let scope = self.scope(v);
        let refused =
            || Failure::Forbidden("you may mark away only the people of a team you lead".into());
        if !scope.acts_for(user.trim()) {
            return Err(refused());
        }
        let (user, from, until, deputy) = check_new(&live.config, &req, Names::Api, now)
            .map_err(|(field, message)| Failure::BadField(field.into(), message))?;
        if !scope.acts_for(&user) {
            return Err(refused());
        }
        if let Some(d) = deputy.as_deref()
            && !scope.may_name(d)
        {
            return Err(Failure::Forbidden(
                "a deputy is one of your team's people or one its may_name lists".into(),
            ));
        }
        let reason: String = reason.trim().chars().take(500).collect();
        let id = live
            .store
            .add_away(
                &crate::store::NewAway {
                    user_id: &user,
                    from,
                    until,
                    deputy: deputy.as_deref(),
                    reason: &reason,
                    created_by: &v.who,
                },
                now,
            )
            .await?;
        tracing::info!(away = id, user = %user, by = %v.who, "console: away window added");
        let detail = format!(
            "away window {id}: {user} from {} until {}{}",
            from.to_rfc3339(),
            until.to_rfc3339(),
            deputy
                .as_deref()
                .map_or(String::new(), |d| format!(", deputy {d}"))
        );
        self.audit(v, "away_added", std::slice::from_ref(&user), &detail)
            .await;
        self.cache.invalidate();
        Ok(id)
    }

    /// Ends an away window on behalf of `v`: `Ok(true)` if this ended it, `Ok(false)` if it
    /// was over already.
    pub(crate) async fn end_away_window(&self, v: &Visitor, id: i64) -> Result<bool, Failure> {
        let scope = self.scope(v);
        if !scope.is_all() {
            let now = self.ground.clock.now();
            let every = self.ground.store.away_windows(true, now).await?;
            let Some(a) = every.iter().find(|a| a.id == id) else {
                return Err(Failure::NotFound(format!("no away window {id}")));
            };
            if !scope.acts_for(&a.user_id) {
                return Err(Failure::Forbidden(
                    "you may end the away windows of a team you lead only".into(),
                ));
            }
        }
        let live = &self.ground;
        let now = live.clock.now();
        match live.store.end_away(id, &v.who, now).await? {
            None => Err(Failure::NotFound(format!("no away window {id}"))),
            Some(a) if a.ended_at.is_none() && a.until > now => {
                tracing::info!(away = id, by = %v.who, "console: away window removed");
                self.cache.invalidate();
                let detail = format!("away window {id} of {} removed", a.user_id);
                self.audit(v, "away_removed", std::slice::from_ref(&a.user_id), &detail)
                    .await;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }
}

/// The services run as the pages and the API call them, without HTTP: a real SQLite store, the
/// config's checks, the index refreshed after each write.
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::store::{Database, Store};

    const CONFIG: &str = r#"
[feishu]
app_id = "cli_x"
app_secret = "s3cret"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[expedite]
operator_user_id = "7000"

[[users]]
id = "u1"
name = "Ann"

[[users]]
id = "u2"

[[rules]]
name = "all"
after = "1d"
"#;

    async fn services() -> (tempfile::TempDir, Services) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Database::Sqlite(dir.path().join("e.db")))
            .await
            .unwrap();
        let path = dir.path().join("config.toml");
        let config = crate::config::Config::parse(CONFIG, &path, false).unwrap();
        let ground = Ground {
            config: Arc::new(config),
            store,
            clock: Clock::system(),
            last_cycle: None,
            quota_hold: None,
            app_secret: crate::secret::Secret::new("s3cret".into()),
        };
        (dir, Services::new(ground, Cache::default()))
    }

    fn lead() -> Visitor {
        Visitor {
            who: "Lead (ou_1)".into(),
            csrf: None,
            session: None,
            address: None,
            role: crate::console::roles::Role::Admin,
            lang: crate::i18n::Lang::En,
        }
    }

    fn field(f: Failure) -> String {
        match f {
            Failure::BadField(field, _) => field.into_owned(),
            other => panic!("not a refused field: {}", other.message()),
        }
    }

    #[tokio::test]
    async fn a_silence_is_checked_made_listed_and_ended_once() {
        let (_dir, s) = services().await;
        let v = lead();
        let bad = s.add_silence(&v, "t 1", None, Some("2d"), None, "").await;
        assert_eq!(field(bad.unwrap_err()), "task_id");
        let bad = s.add_silence(&v, "t1", None, Some("soon"), None, "").await;
        assert_eq!(field(bad.unwrap_err()), "for");
        let bad = s
            .add_silence(&v, "t1", Some("u9"), Some("2d"), None, "")
            .await;
        assert_eq!(field(bad.unwrap_err()), "user_id");
        let (id, warning) = s
            .add_silence(
                &v,
                "t1",
                Some("u1"),
                Some("2d"),
                None,
                " waiting on finance ",
            )
            .await
            .unwrap();
        assert!(warning.is_some(), "no listing has seen t1: said so");
        let listed = s.silences(&v, false).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, id);
        assert_eq!(listed[0].reason, "waiting on finance");
        assert_eq!(listed[0].created_by, "Lead (ou_1)");
        assert!(s.end_silence(&v, id).await.unwrap(), "ended by this call");
        assert!(!s.end_silence(&v, id).await.unwrap(), "over already");
        assert!(s.silences(&v, false).await.unwrap().is_empty());
        assert!(matches!(
            s.end_silence(&v, id + 1).await,
            Err(Failure::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn an_away_window_is_checked_made_listed_and_ended_once() {
        let (_dir, s) = services().await;
        let v = lead();
        let bad = s
            .add_away_window(&v, "u1", Some("3d"), None, None, Some("u1"), "")
            .await;
        assert_eq!(field(bad.unwrap_err()), "deputy");
        let bad = s
            .add_away_window(&v, "", Some("3d"), None, None, None, "")
            .await;
        assert_eq!(field(bad.unwrap_err()), "user_id");
        let id = s
            .add_away_window(&v, "u1", Some("3d"), None, None, Some("u2"), "leave")
            .await
            .unwrap();
        let listed = s.away_windows(&v, false).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].deputy.as_deref(), Some("u2"));
        assert!(s.end_away_window(&v, id).await.unwrap());
        assert!(!s.end_away_window(&v, id).await.unwrap());
        assert!(matches!(
            s.end_away_window(&v, id + 1).await,
            Err(Failure::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn the_reads_answer_on_an_empty_store_and_the_report_checks_its_fields() {
        let (_dir, s) = services().await;
        let o = s.overview(&lead()).await.unwrap();
        assert!(o.counts.values().all(|n| *n == 0), "{:?}", o.counts);
        let filter: TaskFilter = serde_json::from_str("{}").unwrap();
        assert!(s.tasks(&lead(), &filter).await.unwrap().entries.is_empty());
        assert!(s.task(&lead(), "t1").await.unwrap().is_none());
        assert!(s.report(&lead(), "30d", "rule").await.is_ok());
        assert_eq!(
            field(s.report(&lead(), "500d", "rule").await.unwrap_err()),
            "since"
        );
        assert_eq!(
            field(s.report(&lead(), "7d", "room").await.unwrap_err()),
            "by"
        );
    }
}
