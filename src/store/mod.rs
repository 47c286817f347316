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

/// The kinds that move a task, as SQL's list of the ledger's strings: the queries about moves
/// read it (a test holds it to [`CallKind::moves`](crate::domain::CallKind::moves)).
macro_rules! move_kinds {
    () => {
        "('transfer', 'add_assignee')"
    };
}

mod lease;
mod lock;
mod model;
mod postgres;
mod redact;
mod shared;
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

use lease::Leased as _;
pub use lease::{Election, Lease, LeaseHolder, LeaseSettings};
pub use lock::{InstanceLock, lock_path};
pub use model::{
    Absent, AuditEntry, Away, CallRecord, CompleteListing, ExpediteRecord, HoldsNow, Intent,
    ListedAssignment, ListingFingerprint, MovedRow, NewAudit, NewAway, NewSilence, NewTeamVersion,
    Outcome, PairQuery, PairScope, PairSort, Session, SessionInfo, Silence, StoredTask,
    TaskAssignees, TaskRecord, TeamVersion, move_record, people_in, people_of,
};

/// This release, as recorded in the databases it writes.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");
const COMMIT: &str = env!("EXPEDITER_COMMIT");

/// What an older release says of a database a newer one migrated: which release wrote it, when
/// the newer one recorded itself there.
fn written_by_newer(newest: Option<String>, applied: i64) -> String {
    match newest {
        Some(release) => format!(
            "written by a newer expediter (release {release}; it has migration {applied} and later, which this release does not know); this is release {RELEASE}: run release {release} or later, or restore the database from before the upgrade"
        ),
        None => format!(
            "written by a newer expediter (it has migration {applied} and later, which this release does not know); this is release {RELEASE}: run the newer release, or restore the database from before the upgrade"
        ),
    }
}

/// What a read-only command says of a database no release this new has opened yet.
const WRITTEN_BY_OLDER: &str = "written by an older expediter: run `expediter migrate` once to upgrade it (it changes the schema only, and sends nothing), or restart the daemon";

/// Which database `[storage] database` names.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A file path: SQLite.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL. It may hold a password: shown only redacted.
    Postgres(String),
}

impl Database {
    /// Is `other` this same database, however it is spelled? A SQLite file named through
    /// another path (`state/../state/e.db`, a symlinked directory) is the same file: a reload
    /// onto it keeps the store (and the lock it holds) instead of tripping over that lock.
    pub fn same_as(&self, other: &Database) -> bool {
        match (self, other) {
            (Database::Sqlite(a), Database::Sqlite(b)) => {
                a == b
                    || matches!(
                        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                        (Ok(x), Ok(y)) if x == y
                    )
            }
            (a, b) => a == b,
        }
    }
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
            Database::Postgres(url) => f.write_str(&redact::redact(url)),
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

/// The store's API, and the contract of a backend, from one list: `trait $contract` with every
/// operation (documented here, once), implemented for `sqlite::Sqlite` and
/// `postgres::Postgres` by their methods of the same name and signature — written in their
/// own files, or once for both in `shared.rs`. A backend that lacks one does not compile: the
/// implementation would call itself (an async fn cannot), naming the method. `Store` answers
/// each through the backend it has.
macro_rules! store_api {
    (trait $contract:ident; $( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        /// What a backend must do (see `store_api!`).
        pub(super) trait $contract {
            $(
                $(#[$meta])*
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError>;
            )*
        }
        impl $contract for sqlite::Sqlite {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    sqlite::Sqlite::$name(self $(, $arg)*).await
                }
            )*
        }
        impl $contract for postgres::Postgres {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    postgres::Postgres::$name(self $(, $arg)*).await
                }
            )*
        }
        impl Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    match &self.backend {
                        Backend::Sqlite(s) => $contract::$name(s $(, $arg)*).await,
                        Backend::Postgres(p) => $contract::$name(p $(, $arg)*).await,
                    }
                }
            )*
        }
    };
}

store_api! {
    trait Contract;

    /// Stores listed tasks — of any users and listings — in one transaction: new tasks
    /// inserted, changed ones updated (unchanged rows are not rewritten), assignments marked
    /// current, and for filtered listings the flow set that returned them; clears the
    /// fingerprints of the users involved. Returns how many tasks were new.
    fn record_listed(&self, listed: &[ListedAssignment], now: DateTime<Utc>) -> u64;
    /// For every user (only `user`, when given), the tasks pending for them with their
    /// fingerprints and start times.
    fn snapshots(&self, user: Option<&str>) -> FxHashMap<String, FxHashMap<String, StoredTask>>;
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
    /// How many of `task_ids` have a known membership of `flow_set`: a filtered listing held
    /// them, or two complete ones lacked them.
    fn known_flow_membership(&self, task_ids: &FxHashSet<String>, flow_set: &str) -> usize;
    /// After a complete filtered listing by `flow_set`, in the cycle that started at `cycle`,
    /// that lacked these tasks (which a complete unfiltered one held): the first time a doubt;
    /// known not to be of it once a listing of a later cycle lacks them too — one listing is no
    /// proof, as for finishing. A listing that held one makes it a member.
    fn record_non_members(&self, task_ids: &[String], flow_set: &str, cycle: DateTime<Utc>) -> ();
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
    /// Claims the post of `digest` for its fire time `fire_at`, before the post: `true` for
    /// the first claim, `false` when it was claimed already; on PostgreSQL `NotLeader` when
    /// this instance's lease does not hold.
    fn claim_digest_post(&self, digest: &str, fire_at: DateTime<Utc>, now: DateTime<Utc>) -> bool;
    /// The latest fire time of `digest` claimed so far (for the catch-up after a restart).
    fn last_digest_post(&self, digest: &str) -> Option<DateTime<Utc>>;
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
    /// Ends a silence now, by `by`: the silence as it was before (`None`: no such id); one
    /// that had ended already stays as it was.
    fn end_silence(&self, id: i64, by: &str, now: DateTime<Utc>) -> Option<Silence>;
    /// A task as stored: finished or not, its pending assignees; `None`: never seen.
    fn task_assignees(&self, task_id: &str) -> Option<TaskAssignees>;
    /// One page of pending (task, assignee) keys for the console — filtered, ordered and
    /// paged in SQL — with how many match.
    fn pair_page(&self, q: &PairQuery<'_>) -> (Vec<(String, String)>, u64);
    /// A task with every assignment and every call about it; `None`: never seen.
    fn task_record(&self, task_id: &str) -> Option<TaskRecord>;
    /// Records a console session by the hash of the browser's id.
    fn add_session(&self, id_hash: &str, session: &Session, now: DateTime<Utc>) -> ();
    /// The session of this id hash, unless it ended or expired.
    fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Option<Session>;
    /// Ends a session (sign-out on the server).
    fn end_session(&self, id_hash: &str, now: DateTime<Utc>) -> ();
    /// Sessions neither ended nor expired at `now`, newest first.
    fn sessions(&self, now: DateTime<Utc>) -> Vec<SessionInfo>;
    /// Ends the sessions whose id hash starts with `prefix` (every one with `None`); how many.
    fn end_sessions(&self, prefix: Option<&str>, now: DateTime<Utc>) -> u64;
    /// Remembers a person from their sign-in with Feishu: open_id, name, email.
    fn remember_person(&self, open_id: &str, name: &str, email: Option<&str>, now: DateTime<Utc>) -> ();
    /// Forgets sessions and one-time grants that expired or ended before `before`; how many.
    fn forget_console(&self, before: DateTime<Utc>) -> u64;
    /// Adds an act to the audit trail, at `now`.
    fn add_audit(&self, e: &NewAudit<'_>, now: DateTime<Utc>) -> ();
    /// The audit trail since `since`, newest first.
    fn audit_since(&self, since: DateTime<Utc>) -> Vec<AuditEntry>;
    /// Forgets the audit trail older than `before`; how many entries.
    fn prune_audit(&self, before: DateTime<Utc>) -> u64;
    /// Saves version `based_on + 1` of a team's document; `None`: another was saved since
    /// `based_on` (stale).
    fn save_team_version(&self, v: &NewTeamVersion<'_>, now: DateTime<Utc>) -> Option<i64>;
    /// Every team's latest version, by team name.
    fn latest_team_versions(&self) -> Vec<TeamVersion>;
    /// Every version of a team's document, newest first.
    fn team_history(&self, team: &str) -> Vec<TeamVersion>;
    /// Records a one-time grant: a sign-in link, a sign-in state.
    fn add_grant(&self, hash: &str, kind: &str, who: &str, expires_at: DateTime<Utc>) -> ();
    /// Claims `key` once: `true` the first time, `false` after (two hosts racing included).
    fn claim_once(&self, key: &str, kind: &str, who: &str, expires_at: DateTime<Utc>) -> bool;
    /// Gives a claim back: the act it was for did not happen.
    fn release_claim(&self, key: &str, kind: &str) -> ();
    /// A person from their last sign-in with Feishu: (name, email).
    fn person(&self, open_id: &str) -> Option<(String, Option<String>)>;
    /// Uses a grant at most once: who made it, if it was unused, unexpired and of `kind`.
    fn use_grant(&self, hash: &str, kind: &str, now: DateTime<Utc>) -> Option<String>;
    /// Records an away window; its id.
    fn add_away(&self, a: &NewAway<'_>, now: DateTime<Utc>) -> i64;
    /// Away windows not over (current and future), every one with `all`; newest first.
    fn away_windows(&self, all: bool, now: DateTime<Utc>) -> Vec<Away>;
    /// Ends an away window now, by `by`: as it was before (`None`: no such id).
    fn end_away(&self, id: i64, by: &str, now: DateTime<Utc>) -> Option<Away>;
    /// Every user's away windows not ended by hand (the pairs carry them to the decisions).
    fn open_away(&self) -> FxHashMap<String, Vec<crate::domain::AwayWindow>>;
    /// What holds a task's calls back at `now`, looked at again just before a call goes: the
    /// assignees a silence holds (`None` in the list: the whole task), and everyone away.
    fn holds_now(&self, task_id: &str, now: DateTime<Utc>) -> HoldsNow;
}

#[cfg(test)]
store_api! {
    trait TestContract;
    /// (pending, finished) tasks.
    fn task_counts(&self) -> (u64, u64);
}

impl Store {
    /// For every user, the tasks pending for them with their fingerprints and start times, read
    /// in a few aggregated chunks (a cycle's first read, instead of one read per user).
    pub async fn all_snapshots(
        &self,
    ) -> Result<FxHashMap<String, FxHashMap<String, StoredTask>>, StoreError> {
        self.snapshots(None).await
    }

    /// The tasks pending for `user`, as [`all_snapshots`](Self::all_snapshots) reads them.
    pub async fn snapshot_of(
        &self,
        user: &str,
    ) -> Result<FxHashMap<String, StoredTask>, StoreError> {
        Ok(self
            .snapshots(Some(user))
            .await?
            .remove(user)
            .unwrap_or_default())
    }

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
    /// `None` when nothing was ever written there: no SQLite file, or a PostgreSQL database
    /// without a single table (both what a first `once` or the daemon will fill).
    pub async fn open_read_only(db: &Database) -> Result<Option<Store>, StoreError> {
        let backend = match db {
            Database::Sqlite(path) if !path.exists() => return Ok(None),
            Database::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open_read_only(path).await?),
            Database::Postgres(url) => match postgres::Postgres::open_read_only(url).await? {
                Some(pg) => Backend::Postgres(pg),
                None => return Ok(None),
            },
        };
        Ok(Some(Store {
            backend,
            lock: Default::default(),
        }))
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
mod tests;
