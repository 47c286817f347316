//! Where expediter keeps what it knows: one store API ([`Store`]) over two backends, chosen by
//! `[storage] database` — a file path is SQLite ([`sqlite`], one host, one process), a
//! `postgres://` URL is PostgreSQL ([`postgres`], a pair of hosts, one active by a lease).
//! Both run the same statements in spirit, each in its own dialect, with migrations per backend
//! (`migrations/sqlite/`, `migrations/postgres/`).
//!
//! What the API covers:
//! - listings: what listings saw (tasks, assignments, flows, missing and finished tasks);
//! - fingerprints: what each user's last complete listing said, to recognise it unchanged;
//! - pairs: pending (task, assignee) pairs with their history, for decisions and `plan`;
//! - the ledger: the at-most-once record of every call that acts;
//! - retention: pruning old history;
//! - silences: tasks held from expediting and escalation for a while.
#![allow(clippy::disallowed_methods)]

mod lease;
mod lock;
mod model;
mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use thiserror::Error;

use crate::domain::Pair;
use crate::domain::report::Sent;
#[cfg(test)]
use crate::feishu::ListedTask;

pub use lease::{Lease, LeaseHolder, LeaseSettings};
pub use lock::{InstanceLock, lock_path};
pub use model::{
    Absent, CompleteListing, ExpediteRecord, Intent, ListedAssignment, ListingFingerprint,
    NewSilence, Outcome, PairScope, Silence, StoredTask,
};
pub use postgres::Election;

/// Which database `[storage] database` names.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A file path: SQLite.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL. It may hold a password: shown only redacted.
    Postgres(String),
}

impl Database {
    /// A file path is SQLite; a `postgres://` or `postgresql://` URL is PostgreSQL.
    pub fn parse(text: &str) -> Database {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Database::Postgres(text.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(text))
        }
    }

    /// Whether there may be something to read: a SQLite file that exists; any PostgreSQL URL
    /// (opening it tells).
    pub fn exists(&self) -> bool {
        match self {
            Database::Sqlite(path) => path.exists(),
            Database::Postgres(_) => true,
        }
    }

    /// The backend's name, for `check` and logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Shows a path as it is and a URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {db}: {message}")]
    Open { db: String, message: String },
    #[error("database {db}: {context}: {source}")]
    Query {
        db: String,
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A row read back could not be understood (a damaged or foreign database).
    #[error("database {db}: unreadable {what}: {message}")]
    Decode {
        db: String,
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
    /// PostgreSQL: the intent was not written because this instance no longer holds the lease
    /// of the epoch it acts in (another instance took over, or the lease ran out).
    #[error("database {db}: not written: this instance no longer holds the lease (epoch {epoch})")]
    NotLeader { db: String, epoch: i64 },
}

/// The store: one API, whichever backend. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// SQLite: held by the store of `run` and `once`, so no second acting instance runs on the
    /// file. Released by [`close`](Self::close), or when the last clone is dropped.
    lock: Arc<Mutex<Option<InstanceLock>>>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

/// The store's API: each method is answered by the backend's method of the same name and
/// signature (`sqlite::Sqlite`, `postgres::Postgres`).
macro_rules! store_api {
    ($( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    match &self.backend {
                        Backend::Sqlite(s) => s.$name($($arg),*).await,
                        Backend::Postgres(p) => p.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

store_api! {
    /// Stores listed tasks — of any users and listings — in one transaction: new tasks
    /// inserted, changed ones updated (unchanged rows are not rewritten), assignments marked
    /// current, and for filtered listings the flow set that returned them; clears the
    /// fingerprints of the users involved. Returns how many tasks were new.
    fn record_listed(&self, listed: &[ListedAssignment], now: DateTime<Utc>) -> u64;
    /// For every user, the tasks pending for them with their fingerprints and start times.
    fn all_snapshots(&self) -> FxHashMap<String, FxHashMap<String, StoredTask>>;
    /// The tasks pending for `user`, as `all_snapshots` reads them.
    fn snapshot_of(&self, user: &str) -> FxHashMap<String, StoredTask>;
    /// After a complete listing of `user` at `now` that lacks the tasks in `gone`.
    ///
    /// Offset paging over a live list can skip a task that is still pending (one on an earlier
    /// page finishes while another arrives at the end: the total holds, every later task moves
    /// up a place, and the one that slid back a page is never seen). One listing that lacks a
    /// task is therefore no proof: the assignment is only marked missing (last seen at the
    /// previous complete listing). The next complete listing that lacks it too finishes it, as
    /// of the first listing that lacked it; one that holds it clears the mark. A task no
    /// watched user has pending any more is finished too; the user's listing time is recorded
    /// and their fingerprint cleared.
    fn record_absent(&self, user: &str, gone: &[String], now: DateTime<Utc>) -> Absent;
    /// How many of `task_ids` have a known membership of `flow_set` (either way).
    fn known_flow_membership(&self, task_ids: &FxHashSet<String>, flow_set: &str) -> usize;
    /// Records that these tasks are not of `flow_set` (unless a listing already said they are).
    fn record_non_members(&self, task_ids: &[String], flow_set: &str) -> ();
    /// When each user was last listed completely.
    fn last_listings(&self) -> FxHashMap<String, DateTime<Utc>>;
    /// The fingerprint of each user's last complete listing, where one is kept.
    fn listing_fingerprints(&self) -> FxHashMap<String, ListingFingerprint>;
    /// Records complete listings: their times, and fingerprints where given.
    fn record_listings(&self, listed: &[CompleteListing]) -> ();
    /// The user's pending tasks that their last complete listing lacked.
    fn missing_tasks(&self, user: &str) -> Vec<String>;
    /// Hands the pending pairs in `scope` to `visit` — only those of tasks started at or before
    /// `started_before` when given — in chunks, ordered by (task, assignee).
    fn visit_pending_pairs(&self, scope: PairScope<'_>, started_before: Option<DateTime<Utc>>,
        visit: impl FnMut(Pair)) -> ();
    /// Commits (durably) the intent of a call that acts, before the call. Refused with
    /// `AlreadyRecorded` when one of its (task, assignee, kind, n) is recorded as sent or
    /// possibly sent; on PostgreSQL with `NotLeader` when this instance's lease does not hold.
    fn record_intent(&self, intent: &Intent<'_>, now: DateTime<Utc>) -> i64;
    /// Records how a call ended (and a task chat it created).
    fn record_outcome(&self, id: i64, outcome: Outcome, code: Option<i64>, msg: Option<&str>,
        chat: Option<(&str, &str)>, now: DateTime<Utc>) -> ();
    /// Intents without an outcome that no live instance is sending: on SQLite all (the file's
    /// lock keeps other instances out); on PostgreSQL those of this instance's epoch and
    /// earlier ones, none for an instance that holds no epoch.
    fn open_intents(&self) -> Vec<ExpediteRecord>;
    /// Every recorded call, oldest first.
    fn expedites(&self) -> Vec<ExpediteRecord>;
    /// Reminders per assignee recorded since `since` (failed ones not counted).
    fn reminders_since(&self, since: DateTime<Utc>) -> HashMap<String, u32>;
    /// Calls per (task, assignee) since `since` that count, with the assignment's end.
    fn sent_since(&self, since: DateTime<Utc>) -> Vec<Sent>;
    /// Removes tasks finished before `cutoff` with their history; (tasks, calls) removed.
    fn prune(&self, cutoff: DateTime<Utc>) -> (u64, u64);
    /// Pending tasks and the earliest start among them.
    fn backlog(&self) -> (u64, Option<DateTime<Utc>>);
    /// Records a silence; its id.
    fn add_silence(&self, s: &NewSilence<'_>, now: DateTime<Utc>) -> i64;
    /// Active silences (all with `all`), newest first.
    fn silences(&self, all: bool, now: DateTime<Utc>) -> Vec<Silence>;
    /// Ends a silence; false when there is none with that id.
    fn end_silence(&self, id: i64, now: DateTime<Utc>) -> bool;
}

#[cfg(test)]
store_api! {
    /// (pending, finished) tasks.
    fn task_counts(&self) -> (u64, u64);
}

impl Store {
    /// Opens (creating and migrating when needed) the database for an instance that writes.
    pub async fn open(db: &Database) -> Result<Store, StoreError> {
        let backend = match db {
            Database::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path).await?),
            Database::Postgres(url) => Backend::Postgres(postgres::Postgres::open(url).await?),
        };
        Ok(Store {
            backend,
            lock: Default::default(),
        })
    }

    /// Opens an existing database for reading only (`plan`, reports): nothing is created,
    /// migrated or written, so a command that only looks can never change what the daemon keeps.
    pub async fn open_read_only(db: &Database) -> Result<Store, StoreError> {
        let backend = match db {
            Database::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open_read_only(path).await?),
            Database::Postgres(url) => {
                Backend::Postgres(postgres::Postgres::open_read_only(url).await?)
            }
        };
        Ok(Store {
            backend,
            lock: Default::default(),
        })
    }

    /// The database's name for messages: a path, or a URL without its password.
    pub fn name(&self) -> &str {
        match &self.backend {
            Backend::Sqlite(s) => s.name(),
            Backend::Postgres(p) => p.name(),
        }
    }

    /// This store, holding `lock` for as long as it (or a clone) lives.
    pub fn holding(self, lock: InstanceLock) -> Store {
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        self
    }

    /// PostgreSQL: this store's lease, once [`elect`](Self::elect)ed with one. SQLite: none.
    pub fn lease(&self) -> Option<&Lease> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => p.lease(),
        }
    }

    /// PostgreSQL: this store acts (lists, writes intents, sends) only under `lease`.
    pub fn with_lease(self, lease: Lease) -> Store {
        match self.backend {
            Backend::Sqlite(_) => self,
            Backend::Postgres(p) => Store {
                backend: Backend::Postgres(p.with_lease(lease)),
                lock: self.lock,
            },
        }
    }

    /// Takes the lease if it is free, expired or this instance's own (PostgreSQL, with a
    /// lease); SQLite is always active (its file lock was taken when it opened).
    pub async fn elect(&self) -> Result<Election, StoreError> {
        match &self.backend {
            Backend::Postgres(p) if p.lease().is_some() => p.elect().await,
            _ => Ok(Election::Active { epoch: 0 }),
        }
    }

    /// Renews the lease held; false when it is no longer this instance's.
    pub async fn renew(&self) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Postgres(p) if p.lease().is_some() => p.renew().await,
            _ => Ok(true),
        }
    }

    /// PostgreSQL: who holds the lease of `app_id` now, by the database's clock.
    pub async fn lease_holder(&self, app_id: &str) -> Result<Option<LeaseHolder>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(p) => p.lease_holder(app_id).await,
        }
    }

    /// Whether this instance may act now: on SQLite always (it holds the file's lock); on
    /// PostgreSQL while its lease holds by its own monotonic clock.
    pub fn acting(&self) -> bool {
        self.lease().is_none_or(Lease::acting)
    }

    /// Stores one page of `user`'s listing; see [`record_listed`](Self::record_listed).
    #[cfg(test)]
    pub async fn record_page(
        &self,
        user: &str,
        flow_set: Option<&str>,
        tasks: &[ListedTask],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let rows: Vec<ListedAssignment> = tasks
            .iter()
            .map(|t| ListedAssignment {
                user: user.to_owned(),
                flow_set: flow_set.map(str::to_owned),
                task: t.clone(),
            })
            .collect();
        self.record_listed(&rows, now).await
    }

    /// Settles the [`open_intents`](Self::open_intents) as unknown: they count as sent and
    /// are never repeated. Returns them for logging.
    pub async fn settle_unfinished_intents(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ExpediteRecord>, StoreError> {
        let open = self.open_intents().await?;
        for e in &open {
            self.record_outcome(
                e.id,
                Outcome::Unknown,
                None,
                Some("no outcome recorded (process stopped during the call)"),
                None,
                now,
            )
            .await?;
        }
        Ok(open)
    }

    /// Every pending (task, assignee) pair with its facts and expedite history.
    pub async fn pending_pairs(&self) -> Result<Vec<Pair>, StoreError> {
        let mut rows = Vec::new();
        self.visit_pending_pairs(PairScope::All, None, |r| rows.push(r))
            .await?;
        Ok(rows)
    }

    /// PostgreSQL: stops keeping the lease and gives it up if held, so this store acts no
    /// more and a standby takes over at its next look rather than when the lease runs out.
    pub async fn stand_down(&self) {
        if let Backend::Postgres(p) = &self.backend
            && let Some(l) = p.lease()
        {
            l.stop_keeper();
            if l.epoch() > 0
                && let Err(e) = p.release().await
            {
                tracing::warn!("could not give up the lease (it runs out by itself): {e}");
            }
        }
    }

    /// Closes the store, standing down first.
    pub async fn close(&self) {
        self.stand_down().await;
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(p) => p.close().await,
        }
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::domain::Recipient;
    #[cfg(test)]
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

    /// A new store of each backend, acting (PostgreSQL: holding a lease).
    async fn stores() -> Vec<(tempfile::TempDir, Store)> {
        let mut out = Vec::new();
        for db in [
            Database::Sqlite(PathBuf::from("sub/e.db")),
            Database::Postgres(crate::fake::postgres::fresh_database().await),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let db = match db {
                Database::Sqlite(p) => Database::Sqlite(dir.path().join(p)),
                pg => pg,
            };
            let store = Store::open(&db)
                .await
                .unwrap()
                .with_lease(Lease::new(LeaseSettings {
                    app_id: "cli_test".into(),
                    duration: std::time::Duration::from_secs(30),
                }));
            assert!(matches!(
                store.elect().await.unwrap(),
                Election::Active { .. }
            ));
            out.push((dir, store));
        }
        out
    }

    #[tokio::test]
    async fn pages_upsert_and_complete_listings_finish() {
        for (_d, s) in stores().await {
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
    }

    #[tokio::test]
    async fn a_fingerprint_lasts_until_the_users_tasks_change() {
        for (_d, s) in stores().await {
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
    }

    #[tokio::test]
    async fn a_task_listed_again_after_one_miss_stays_pending() {
        for (_d, s) in stores().await {
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
    }

    #[tokio::test]
    async fn read_only_opening_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = Database::Sqlite(dir.path().join("e.db"));
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
        for (_d, s) in stores().await {
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
    }

    #[tokio::test]
    async fn prune_removes_only_old_finished_tasks_and_their_history() {
        for (_d, s) in stores().await {
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
    }

    #[tokio::test]
    async fn unusable_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-db");
        std::fs::write(
            &file,
            b"this is not sqlite, just text long enough to look like a header......",
        )
        .unwrap();
        let err = Store::open(&Database::Sqlite(file))
            .await
            .err()
            .expect("garbage file must not open");
        assert!(err.to_string().contains("not-a-db"), "{err}");
    }

    /// Two instances on one PostgreSQL database: only the lease's holder of the current epoch
    /// writes intents; a standby settles nothing; a takeover settles what the old epoch left.
    #[tokio::test]
    async fn postgres_intents_are_fenced_by_the_lease() {
        let url = crate::fake::postgres::fresh_database().await;
        let db = Database::Postgres(url.clone());
        let open = |secs| {
            let db = db.clone();
            async move {
                Store::open(&db)
                    .await
                    .unwrap()
                    .with_lease(Lease::new(LeaseSettings {
                        app_id: "cli_pair".into(),
                        duration: std::time::Duration::from_secs(secs),
                    }))
            }
        };
        let (a, b) = (open(30).await, open(30).await);
        assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 1 });
        let Election::Standby(holder) = b.elect().await.unwrap() else {
            panic!("the lease is held")
        };
        assert_eq!(
            (holder.holder.as_str(), holder.epoch),
            (a.lease().unwrap().me(), 1)
        );
        assert!(a.acting() && !b.acting());
        let now = crate::clock::Clock::system().now();
        a.record_page("u1", None, &[task("1"), task("2")], now)
            .await
            .unwrap();
        let r = |n| {
            vec![Recipient {
                user_id: "u1".into(),
                rule: "r".into(),
                n,
            }]
        };
        let (r1, r2) = (r(1), r(2));
        let open_one = a.record_intent(&expedite("1", &r1), now).await.unwrap();
        // The standby writes no intent and settles nothing: the open one is the active's call.
        assert!(matches!(
            b.record_intent(&expedite("2", &r1), now).await,
            Err(StoreError::NotLeader { .. })
        ));
        assert!(b.settle_unfinished_intents(now).await.unwrap().is_empty());
        // The lease runs out (by the database's clock); the standby takes over with epoch 2.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query("UPDATE lease SET expires_at = now() - interval '1 second'")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(b.elect().await.unwrap(), Election::Active { epoch: 2 });
        // The old holder still trusts its clock, but the database refuses its intent, and it
        // stops acting.
        assert!(a.acting());
        let refused = a.record_intent(&expedite("1", &r2), now).await;
        assert!(
            matches!(refused, Err(StoreError::NotLeader { epoch: 1, .. })),
            "{refused:?}"
        );
        assert!(!a.acting());
        assert!(!a.renew().await.unwrap(), "no renewing a lease taken over");
        // The new holder settles the old epoch's open intent, and may go on.
        let settled = b.settle_unfinished_intents(now).await.unwrap();
        assert_eq!(
            settled.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![open_one]
        );
        assert!(matches!(
            b.record_intent(&expedite("1", &r1), now).await,
            Err(StoreError::AlreadyRecorded { n: 1, .. })
        ));
        b.record_intent(&expedite("1", &r2), now).await.unwrap();
        let all = b.expedites().await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
            vec!["unknown", "pending"]
        );
        // A clean close gives the lease up: the other takes it at once.
        b.close().await;
        assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 3 });
    }
}
