//! What the console does, shared by the pages and the API: the reads (the overview, the task
//! list, a task, silences, away windows, the report's pending pairs) and the writes (silences
//! and away windows made and ended). Each write checks what it is given once (the same checks as
//! the command line), records it with who did it, and refreshes what the pages show. The
//! handlers parse, call one of these, and render.
//!
//! [`Services`] holds narrow state — the config in force, the store, the clock and the index —
//! never the engine; it is built from the console's state for each request (axum's `FromRef`).

use super::data::{self, Cache, Overview, TaskFilter, TaskPage, TaskView};
use super::error::Failure;
use super::visitor::Visitor;
use super::{Console, Ground};
use crate::holds::Names;
use crate::holds::silence::{SilenceRequest, check_new};
use crate::store::{Away, NewSilence, Silence};

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

    /// The overview: the lease, the last cycle, counts by state, the most overdue.
    pub(crate) async fn overview(&self) -> Result<Overview, Failure> {
        data::overview(&self.ground, &self.cache).await
    }

    /// One page of the pending pairs the filter keeps.
    pub(crate) async fn tasks(&self, filter: &TaskFilter) -> Result<TaskPage, Failure> {
        data::task_page(&self.ground, &self.cache, filter).await
    }

    /// One task as the console shows it, if it was ever seen.
    pub(crate) async fn task(&self, task_id: &str) -> Result<Option<TaskView>, Failure> {
        data::task_view(&self.ground, task_id).await
    }

    /// The report over the last `since` (a duration up to 400 days), grouped `by` rule, team
    /// or user: the window's calls from the database, the pending pairs from the index.
    pub(crate) async fn report(&self, since: &str, by: &str) -> Result<maud::Markup, Failure> {
        use crate::domain::report::GroupBy;
        let too_long = || {
            Failure::BadField(
                "since".into(),
                format!("since \"{since}\" is not a duration up to 400d; write it like 7d or 30d"),
            )
        };
        let window = humantime::parse_duration(since)
            .ok()
            .filter(|w| *w <= std::time::Duration::from_secs(400 * 86_400))
            .ok_or_else(too_long)?;
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
        let since = chrono::TimeDelta::from_std(window)
            .ok()
            .and_then(|w| now.checked_sub_signed(w))
            .ok_or_else(too_long)?;
        let sent = self.ground.store.sent_since(since).await?;
        let pending = data::report_pending(&self.ground, &self.cache).await?;
        let config = &self.ground.config;
        Ok(crate::commands::report::body_with(
            config, by, since, now, &sent, &pending,
        ))
    }

    /// The active silences, or (`all`) every one.
    pub(crate) async fn silences(&self, all: bool) -> Result<Vec<Silence>, Failure> {
        let now = self.ground.clock.now();
        Ok(self.ground.store.silences(all, now).await?)
    }

    /// The away windows still to end, or (`all`) every one.
    pub(crate) async fn away_windows(&self, all: bool) -> Result<Vec<Away>, Failure> {
        let now = self.ground.clock.now();
        Ok(self.ground.store.away_windows(all, now).await?)
    }

    /// Ends silence `id` on behalf of `v`: `Ok(true)` if this ended it, `Ok(false)` if it was
    /// over already (removed, or run out).
    pub(crate) async fn end_silence(&self, v: &Visitor, id: i64) -> Result<bool, Failure> {
        let now = self.ground.clock.now();
        match self.ground.store.end_silence(id, &v.who, now).await? {
            None => Err(Failure::NotFound(format!("no silence {id}"))),
            Some(s) if s.ended_at.is_none() && s.until > now => {
                tracing::info!(silence = id, by = %v.who, "console: silence removed");
                self.cache.invalidate();
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
        let checked = check_new(&live.config, store, &request, Names::Api, now)
            .await?
            .map_err(|r| Failure::BadField(r.field.into(), r.message))?;
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
        let (user, from, until, deputy) = check_new(&live.config, &req, Names::Api, now)
            .map_err(|(field, message)| Failure::BadField(field.into(), message))?;
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
        self.cache.invalidate();
        Ok(id)
    }

    /// Ends an away window on behalf of `v`: `Ok(true)` if this ended it, `Ok(false)` if it
    /// was over already.
    pub(crate) async fn end_away_window(&self, v: &Visitor, id: i64) -> Result<bool, Failure> {
        let live = &self.ground;
        let now = live.clock.now();
        match live.store.end_away(id, &v.who, now).await? {
            None => Err(Failure::NotFound(format!("no away window {id}"))),
            Some(a) if a.ended_at.is_none() && a.until > now => {
                tracing::info!(away = id, by = %v.who, "console: away window removed");
                self.cache.invalidate();
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
        let listed = s.silences(false).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, id);
        assert_eq!(listed[0].reason, "waiting on finance");
        assert_eq!(listed[0].created_by, "Lead (ou_1)");
        assert!(s.end_silence(&v, id).await.unwrap(), "ended by this call");
        assert!(!s.end_silence(&v, id).await.unwrap(), "over already");
        assert!(s.silences(false).await.unwrap().is_empty());
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
        let listed = s.away_windows(false).await.unwrap();
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
        let o = s.overview().await.unwrap();
        assert!(o.counts.values().all(|n| *n == 0), "{:?}", o.counts);
        let filter: TaskFilter = serde_json::from_str("{}").unwrap();
        assert!(s.tasks(&filter).await.unwrap().entries.is_empty());
        assert!(s.task("t1").await.unwrap().is_none());
        assert!(s.report("30d", "rule").await.is_ok());
        assert_eq!(field(s.report("500d", "rule").await.unwrap_err()), "since");
        assert_eq!(field(s.report("7d", "room").await.unwrap_err()), "by");
    }
}
