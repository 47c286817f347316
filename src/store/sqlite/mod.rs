//! The SQLite backend: one file, one writer connection (WAL, busy timeout), migrations embedded
//! from `migrations/sqlite/`. Batches travel as JSON (`json_each`, `json_group_array`): one
//! statement and one row per chunk instead of one per item.

mod digests;
mod fingerprints;
mod ledger;
mod listings;
mod pairs;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite as Db, Transaction};

use super::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Clone)]
pub(super) struct Sqlite {
    pub(in crate::store) pool: SqlitePool,
    /// The file's path, for messages.
    name: String,
}

/// The release that last recorded itself in this database (an error: no releases table, so
/// not a database a newer expediter wrote).
async fn newest_release(pool: &SqlitePool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM releases ORDER BY first_opened_at DESC LIMIT 1")
        .fetch_optional(pool)
        .await
}

/// SQLITE_CANTOPEN: the file (or one SQLite needs beside it) cannot be opened.
fn is_cant_open(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("14"))
}

impl Sqlite {
    pub(super) async fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let open_err = |message: String| StoreError::Open {
            db: path.display().to_string(),
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
        if let Err(e) = MIGRATOR.run(&pool).await {
            let message = match &e {
                // Ours, written by a newer release, only when it has our releases table.
                sqlx::migrate::MigrateError::VersionMissing(applied)
                    if let Ok(newest) = newest_release(&pool).await =>
                {
                    super::written_by_newer(newest, *applied)
                }
                _ => format!("cannot migrate (is this an expediter database, and writable?): {e}"),
            };
            pool.close().await;
            return Err(open_err(message));
        }
        sqlx::query(
            "INSERT INTO releases (version, commit_id, first_opened_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(super::RELEASE)
        .bind(super::COMMIT)
        .bind(super::ms(crate::clock::Clock::system().now()))
        .execute(&pool)
        .await
        .map_err(|e| open_err(format!("not writable: {e}")))?;
        // Prove the file takes writes now rather than at the first expedite.
        sqlx::query("PRAGMA user_version = 1")
            .execute(&pool)
            .await
            .map_err(|e| open_err(format!("not writable: {e}")))?;
        Ok(Sqlite {
            pool,
            name: path.display().to_string(),
        })
    }

    /// Opens an existing database for reading only (`plan`, reports): nothing is created,
    /// migrated or written, so a command that only looks can never change what the daemon keeps.
    pub(super) async fn open_read_only(path: &Path) -> Result<Sqlite, StoreError> {
        let open_err = |message: String| StoreError::Open {
            db: path.display().to_string(),
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
        let applied = applied.unwrap_or(0);
        if applied < latest {
            pool.close().await;
            return Err(open_err(super::WRITTEN_BY_OLDER.into()));
        }
        if applied > latest {
            let message = match newest_release(&pool).await {
                Ok(newest) => super::written_by_newer(newest, applied),
                Err(_) => "not an expediter database (another program's migrations)".into(),
            };
            pool.close().await;
            return Err(open_err(message));
        }
        Ok(Sqlite {
            pool,
            name: path.display().to_string(),
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

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    pub(in crate::store) fn err(
        &self,
        context: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| StoreError::Query {
            db: self.name.clone(),
            context,
            source,
        }
    }

    pub(in crate::store) async fn begin(&self) -> Result<Transaction<'static, Db>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.err("begin a transaction"))
    }

    /// The elements of the JSON array bound at `param`, as a subquery: `x IN (…)`.
    pub(in crate::store) fn json_list(param: &str) -> String {
        format!("(SELECT value FROM json_each({param}))")
    }

    /// A row read back that cannot be understood.
    pub(super) fn decode_err(&self, what: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Decode {
            db: self.name.clone(),
            what,
            message: e.to_string(),
        }
    }
}
