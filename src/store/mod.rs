//! The SQLite database: the one place that knows the SQL. One writer connection (WAL, busy
//! timeout), migrations embedded from `migrations/`.
//!
//! - [`listings`]: what listings saw (tasks, assignments, flows, missing and finished tasks);
//! - [`fingerprints`]: what each user's last complete listing said, to recognise it unchanged;
//! - [`pairs`]: pending (task, assignee) pairs with their history, for decisions and `plan`;
//! - [`ledger`]: the at-most-once record of every expediting call;
//! - [`retention`]: pruning old history;
//! - [`silences`]: tasks held from expediting and escalation for a while.
#![allow(clippy::disallowed_methods)]

mod fingerprints;
mod ledger;
mod listings;
mod lock;
mod pairs;
mod retention;
mod silences;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use thiserror::Error;

pub use fingerprints::{CompleteListing, ListingFingerprint};
pub use ledger::{ExpediteRecord, Intent, Outcome};
pub use listings::{Absent, ListedAssignment, StoredTask};
pub use lock::{InstanceLock, lock_path};
pub use pairs::PairScope;
pub use silences::{NewSilence, Silence};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("database {}: {context}: {source}", path.display())]
    Query {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A row read back could not be understood (a damaged or foreign database).
    #[error("database {}: unreadable {what}: {message}", path.display())]
    Decode {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    /// The same (task, assignee, n) is already recorded as sent or possibly sent.
    #[error("expedite {n} of task {task_id} for {user_id} is already recorded")]
    AlreadyRecorded {
        task_id: String,
        user_id: String,
        n: u32,
    },
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    /// Held by the store of `run` and `once`: no second acting instance on this database.
    /// Released by [`close`](Self::close), or when the last clone is dropped.
    lock: std::sync::Arc<std::sync::Mutex<Option<InstanceLock>>>,
}

/// SQLITE_CANTOPEN: the file (or one SQLite needs beside it) cannot be opened.
fn is_cant_open(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("14"))
}

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

impl Store {
    /// Opens (creating and migrating when needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| open_err(e.to_string()))?
            .filename(path)
            .create_if_missing(true)
            // For a new file only (an existing one keeps its size): 16 KiB pages make the
            // b-trees a first listing fills shallower, −3% of a first cycle's instructions at
            // 100k tasks and fewer write calls.
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            // Listings are cheap to redo, so their commits need not reach the disk at once;
            // expedite intents and outcomes switch to FULL (see `durably`).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // One connection: the daemon is the only writer, and one writer never meets SQLITE_BUSY
        // inside the process.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| open_err(format!("cannot open: {e}")))?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            open_err(format!(
                "cannot migrate (is this an expediter database, and writable?): {e}"
            ))
        })?;
        // Prove the file takes writes now rather than at the first expedite.
        sqlx::query("PRAGMA user_version = 1")
            .execute(&pool)
            .await
            .map_err(|e| open_err(format!("not writable: {e}")))?;
        Ok(Store {
            pool,
            path: path.to_owned(),
            lock: Default::default(),
        })
    }

    /// Opens an existing database for reading only (`plan`, reports): nothing is created,
    /// migrated or written, so a command that only looks can never change what the daemon keeps.
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        let pool = match Self::probe_read_only(path, false).await {
            // A WAL database needs its shared-memory file, which a read-only file system
            // cannot create. Nothing can change the file there, so it may be read as immutable.
            Err(e) if is_cant_open(&e) => Self::probe_read_only(path, true).await,
            other => other,
        }
        .map_err(|e| open_err(format!("not an expediter database, or not readable: {e}")))?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .map_err(|e| open_err(format!("not an expediter database: {e}")))?;
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        if applied.unwrap_or(0) < latest {
            pool.close().await;
            return Err(open_err(
                "written by an older expediter: run `expediter once` (or restart the daemon) once to upgrade it".into(),
            ));
        }
        Ok(Store {
            pool,
            path: path.to_owned(),
            lock: Default::default(),
        })
    }

    /// A read-only pool on `path`, proven by one read.
    async fn probe_read_only(path: &Path, immutable: bool) -> Result<SqlitePool, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(immutable)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&pool)
            .await?;
        Ok(pool)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This store, holding `lock` for as long as it (or a clone) lives.
    pub fn holding(self, lock: InstanceLock) -> Store {
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        self
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub(super) fn err(&self, context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| StoreError::Query {
            path: self.path.clone(),
            context,
            source,
        }
    }

    pub(super) async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.err("begin a transaction"))
    }

    /// A row read back that cannot be understood.
    pub(super) fn decode_err(&self, what: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Decode {
            path: self.path.clone(),
            what,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::domain::Recipient;
    use crate::feishu::ListedTask;

    fn task(id: &str) -> ListedTask {
        ListedTask {
            task_id: id.into(),
            instance_id: Some(format!("w{id}")),
            labels: vec![("2052".into(), "报销".into())],
            status: None,
            initiator_id: Some("9".into()),
            initiator_name: None,
            start_time: None,
            fingerprint: 1,
        }
    }

    fn expedite<'a>(task_id: &'a str, recipients: &'a [Recipient]) -> Intent<'a> {
        Intent {
            kind: crate::domain::CallKind::Expedite,
            task_id,
            rule: "r",
            operator: "7000",
            opinion: "hi",
            recipients,
        }
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/e.db")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn pages_upsert_and_complete_listings_finish() {
        let (_d, s) = store().await;
        let t0 = Clock::system().now();
        assert_eq!(
            s.record_page("u1", None, &[task("1"), task("2")], t0)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.record_page("u2", Some("flowA"), &[task("2")], t0)
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.pending_pairs().await.unwrap().len(), 3);
        // One listing that lacks a task only marks it missing; the next one finishes it.
        let t1 = t0 + chrono::TimeDelta::minutes(10);
        let t2 = t1 + chrono::TimeDelta::minutes(10);
        assert_eq!(
            s.record_absent("u1", &["1".to_owned()], t1).await.unwrap(),
            Absent {
                finished: 0,
                missing: 1
            }
        );
        let pairs = s.pending_pairs().await.unwrap();
        assert_eq!(pairs.len(), 3);
        let one = pairs.iter().find(|p| p.task_id == "1").unwrap();
        assert_eq!(one.missing_since.map(ms), Some(ms(t1)));
        assert_eq!(
            s.record_absent("u1", &["1".to_owned()], t2).await.unwrap(),
            Absent {
                finished: 1,
                missing: 0
            }
        );
        let pairs = s.pending_pairs().await.unwrap();
        assert_eq!(pairs.len(), 2);
        assert!(pairs.iter().all(|p| p.task_id == "2"));
        assert_eq!(
            pairs.iter().find(|p| p.user_id == "u2").unwrap().flow_sets,
            vec!["flowA"]
        );
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        // Task 2 is still pending for u2, so it is not finished when u1 no longer has it.
        s.record_absent("u1", &["2".to_owned()], t1).await.unwrap();
        assert_eq!(
            s.record_absent("u1", &["2".to_owned()], t2)
                .await
                .unwrap()
                .finished,
            1
        );
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        // A task that comes back is pending again.
        s.record_page("u1", None, &[task("1")], t0).await.unwrap();
        assert_eq!(s.task_counts().await.unwrap(), (2, 0));
    }

    #[tokio::test]
    async fn a_fingerprint_lasts_until_the_users_tasks_change() {
        let (_d, s) = store().await;
        let t0 = from_ms(ms(Clock::system().now()));
        s.record_page("u1", None, &[task("1"), task("2")], t0)
            .await
            .unwrap();
        let fingerprint = |pages: Vec<u64>| ListingFingerprint {
            pages,
            tasks: vec![1, 2],
            oldest_start: t0,
            missing: 0,
        };
        let listed = |user: &str, fingerprint: Option<ListingFingerprint>| CompleteListing {
            user: user.into(),
            at: t0,
            fingerprint,
        };
        s.record_listings(&[
            listed("u1", Some(fingerprint(vec![7, u64::MAX]))),
            listed("u2", Some(fingerprint(vec![9]))),
        ])
        .await
        .unwrap();
        let read = s.listing_fingerprints().await.unwrap();
        assert_eq!(read["u1"], fingerprint(vec![7, u64::MAX]));
        // A listing time alone keeps the fingerprint.
        s.record_listings(&[listed("u1", None)]).await.unwrap();
        assert_eq!(s.listing_fingerprints().await.unwrap().len(), 2);
        // Writing u1's tasks clears u1's fingerprint, not u2's.
        s.record_page("u1", None, &[task("3")], t0).await.unwrap();
        let read = s.listing_fingerprints().await.unwrap();
        assert!(!read.contains_key("u1") && read.contains_key("u2"));
        // So does marking one of u2's tasks missing.
        s.record_absent("u2", &["1".to_owned()], t0).await.unwrap();
        assert!(s.listing_fingerprints().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_task_listed_again_after_one_miss_stays_pending() {
        let (_d, s) = store().await;
        let t0 = Clock::system().now();
        s.record_page("u1", None, &[task("1"), task("2")], t0)
            .await
            .unwrap();
        let t1 = t0 + chrono::TimeDelta::minutes(10);
        s.record_absent("u1", &["2".to_owned()], t1).await.unwrap();
        assert!(s.all_snapshots().await.unwrap()["u1"]["2"].missing);
        // Listed again: the mark is cleared, so a later single miss does not finish it.
        s.record_page("u1", None, &[task("2")], t1).await.unwrap();
        assert!(!s.all_snapshots().await.unwrap()["u1"]["2"].missing);
        let t2 = t1 + chrono::TimeDelta::minutes(10);
        assert_eq!(
            s.record_absent("u1", &["2".to_owned()], t2).await.unwrap(),
            Absent {
                finished: 0,
                missing: 1
            }
        );
        assert_eq!(s.pending_pairs().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn read_only_opening_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        assert!(
            Store::open_read_only(&path).await.is_err(),
            "no file, no store"
        );
        assert!(!path.exists(), "nothing created");
        let s = Store::open(&path).await.unwrap();
        s.record_page("u1", None, &[task("1")], Clock::system().now())
            .await
            .unwrap();
        s.close().await;
        let r = Store::open_read_only(&path).await.unwrap();
        assert_eq!(r.pending_pairs().await.unwrap().len(), 1);
        let err = r
            .record_page("u1", None, &[task("2")], Clock::system().now())
            .await
            .expect_err("read-only");
        assert!(err.to_string().contains("e.db"), "{err}");
    }

    #[tokio::test]
    async fn the_same_expedite_is_recorded_once() {
        let (_d, s) = store().await;
        let now = Clock::system().now();
        s.record_page("u1", None, &[task("1")], now).await.unwrap();
        let a = vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n: 1,
        }];
        let id = s.record_intent(&expedite("1", &a), now).await.unwrap();
        let again = s.record_intent(&expedite("1", &a), now).await;
        assert!(
            matches!(again, Err(StoreError::AlreadyRecorded { n: 1, .. })),
            "{again:?}"
        );
        // Once failed, the same n may be tried again.
        s.record_outcome(
            id,
            Outcome::Failed,
            Some(2320001),
            Some("param is invalid"),
            None,
            now,
        )
        .await
        .unwrap();
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 0);
        let id2 = s.record_intent(&expedite("1", &a), now).await.unwrap();
        let pair = &s.pending_pairs().await.unwrap()[0];
        assert_eq!(
            (pair.sent, pair.last_sent.map(|t| t.timestamp_millis())),
            (1, Some(now.timestamp_millis()))
        );
        // An intent without an outcome is settled as unknown and still counts.
        let settled = s.settle_unfinished_intents(now).await.unwrap();
        assert_eq!(settled.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id2]);
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 1);
        let all = s.expedites().await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
            vec!["failed", "unknown"]
        );
        assert_eq!(all[0].feishu_code, Some(2320001));
    }

    #[tokio::test]
    async fn prune_removes_only_old_finished_tasks_and_their_history() {
        let (_d, s) = store().await;
        let long_ago = Clock::system().now() - chrono::TimeDelta::days(100);
        s.record_page(
            "u1",
            Some("f"),
            &[task("old"), task("new"), task("open")],
            long_ago,
        )
        .await
        .unwrap();
        let a = vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n: 1,
        }];
        s.record_intent(&expedite("old", &a), long_ago)
            .await
            .unwrap();
        s.record_intent(&expedite("new", &a), long_ago)
            .await
            .unwrap();
        for at in [long_ago, long_ago + chrono::TimeDelta::minutes(1)] {
            s.record_absent("u1", &["old".to_owned()], at)
                .await
                .unwrap();
        }
        let recently = Clock::system().now() - chrono::TimeDelta::minutes(1);
        for at in [recently, Clock::system().now()] {
            s.record_absent("u1", &["new".to_owned()], at)
                .await
                .unwrap();
        }
        let (tasks, expedites) = s
            .prune(Clock::system().now() - chrono::TimeDelta::days(90))
            .await
            .unwrap();
        assert_eq!((tasks, expedites), (1, 1));
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        assert_eq!(
            s.expedites()
                .await
                .unwrap()
                .iter()
                .map(|e| e.task_id.as_str())
                .collect::<Vec<_>>(),
            vec!["new"]
        );
    }

    #[tokio::test]
    async fn unusable_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-db");
        std::fs::write(
            &path,
            b"this is not sqlite, just text long enough to look like a header......",
        )
        .unwrap();
        let err = Store::open(&path)
            .await
            .err()
            .expect("garbage file must not open");
        assert!(err.to_string().contains("not-a-db"), "{err}");
    }
}
