//! The PostgreSQL backend: a small pool, migrations embedded from `migrations/postgres/`, batches
//! bound as arrays (`UNNEST`), and the lease that keeps one instance per app active.
//! Commits are synchronous (PostgreSQL's default `synchronous_commit = on`): an intent is on
//! disk before its call goes out.

mod digests;
mod fingerprints;
mod lease;
mod ledger;
mod listings;
mod pairs;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres as Db, Transaction};

use super::redact::{redact, redact_in};
use super::{Lease, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone)]
pub(super) struct Postgres {
    pub(in crate::store) pool: PgPool,
    /// The URL without its password, for messages.
    name: String,
    /// Set for an instance that may act: intents are written only under it.
    lease: Option<Lease>,
    /// New tasks written since the last `ANALYZE`, and tasks known then (see `analyze_if_grown`).
    growth: std::sync::Arc<std::sync::Mutex<(u64, u64)>>,
}

/// How long opening a session may take, and a pooled one later.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a session of ours may sit inside a transaction waiting for its next statement: ours
/// send them back to back, so only a frozen instance (a paused VM, `SIGSTOP`, a partition) waits
/// that long — and the server then ends its session, releasing the rows it had written, so the
/// instance that took over is not held up by them until the frozen one wakes.
const IDLE_IN_TRANSACTION: &str = "5s";

/// The options of every session of ours on `url`.
pub(super) fn session_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.options([
        // A statement that hangs (a lock, a frozen server) ends instead of holding the
        // instance; the lease does not depend on it (monotonic clock).
        ("statement_timeout", "60s"),
        ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION),
    ]);
    // Which process a session belongs to, in `pg_stat_activity`, unless the URL says.
    Ok(if url.contains("application_name=") {
        options
    } else {
        options.application_name(&format!("expediter/{}", std::process::id()))
    })
}

impl Postgres {
    async fn connect(url: &str) -> Result<Postgres, StoreError> {
        let name = redact(url);
        let open_err = |message: String| StoreError::Open {
            db: name.clone(),
            message,
        };
        let options = session_options(url)
            .map_err(|e| open_err(format!("not a PostgreSQL URL: {}", redact_in(&e, url))))?;
        // One session first, by itself: the pool retries a refused connection until its
        // timeout and then says only that it timed out; a session says why (refused, no such
        // host, authentication, no such database).
        let cannot =
            |e: &dyn std::fmt::Display| open_err(format!("cannot connect: {}", redact_in(&e, url)));
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::ConnectOptions::connect(&options)).await {
            Ok(Ok(session)) => {
                let _ = sqlx::Connection::close(session).await;
            }
            Ok(Err(e)) => return Err(cannot(&e)),
            Err(_) => return Err(cannot(&format!("no answer within {CONNECT_TIMEOUT:?}"))),
        }
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| cannot(&e))?;
        Ok(Postgres {
            pool,
            name,
            lease: None,
            growth: Default::default(),
        })
    }

    /// Connects and migrates.
    pub(super) async fn open(url: &str) -> Result<Postgres, StoreError> {
        let pg = Self::connect(url).await?;
        if let Err(e) = MIGRATOR.run(&pg.pool).await {
            let message = match &e {
                // Ours, written by a newer release, only when it has our releases table.
                sqlx::migrate::MigrateError::VersionMissing(applied)
                    if let Ok(newest) = pg.newest_release().await =>
                {
                    super::written_by_newer(newest, *applied)
                }
                _ => format!(
                    "cannot migrate (is this a database for expediter, and may this user create tables?): {e}"
                ),
            };
            return Err(StoreError::Open {
                db: pg.name.clone(),
                message,
            });
        }
        sqlx::query(
            "INSERT INTO releases (version, commit_id, first_opened_at) VALUES ($1, $2, $3)
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(super::RELEASE)
        .bind(super::COMMIT)
        .bind(super::ms(crate::clock::Clock::system().now()))
        .execute(&pg.pool)
        .await
        .map_err(|e| StoreError::Open {
            db: pg.name.clone(),
            message: format!("cannot record this release: {e}"),
        })?;
        Ok(pg)
    }

    /// The release that last recorded itself here, when one did (an error: no releases table,
    /// so not a database a newer expediter wrote).
    async fn newest_release(&self) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT version FROM releases ORDER BY first_opened_at DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
    }

    /// Connects and checks the schema is current, writing nothing; `None` for a database
    /// without any table in its schema (nothing was ever written there).
    pub(super) async fn open_read_only(url: &str) -> Result<Option<Postgres>, StoreError> {
        let pg = Self::connect(url).await?;
        let empty: Result<bool, _> = sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema())",
        )
        .fetch_one(&pg.pool)
        .await;
        if let Ok(true) = empty {
            pg.pool.close().await;
            return Ok(None);
        }
        let applied: Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pg.pool)
                .await;
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let message = match applied {
            Err(e) => Some(format!("not an expediter database: {e}")),
            Ok(v) if v.unwrap_or(0) < latest => Some(super::WRITTEN_BY_OLDER.into()),
            Ok(Some(v)) if v > latest => Some(match pg.newest_release().await {
                Ok(newest) => super::written_by_newer(newest, v),
                Err(_) => "not an expediter database (another program's migrations)".into(),
            }),
            Ok(_) => None,
        };
        if let Some(message) = message {
            pg.pool.close().await;
            return Err(StoreError::Open {
                db: pg.name,
                message,
            });
        }
        Ok(Some(pg))
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    pub(super) fn with_lease(self, lease: Lease) -> Postgres {
        Postgres {
            lease: Some(lease),
            ..self
        }
    }

    /// Tables that grew fast have no statistics until autovacuum's next round (a minute or
    /// more): a first listing of thousands of tasks would be read back with plans made for empty
    /// tables. Once as many new tasks were written as were known at the last look (at least
    /// 2,000), the growing tables are analyzed — a few times over a day-one backlog, then
    /// rarely.
    async fn analyze_if_grown(&self, new: u64) {
        let due = {
            let mut g = self.growth.lock().unwrap_or_else(|e| e.into_inner());
            g.0 += new;
            let due = g.0 >= g.1.max(2000);
            if due {
                *g = (0, g.1 + g.0);
            }
            due
        };
        if due
            && let Err(e) = sqlx::query("ANALYZE tasks, assignments, task_flows")
                .execute(&self.pool)
                .await
        {
            tracing::debug!("cannot analyze the grown tables (autovacuum will): {e}");
        }
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

    fn decode_err(&self, what: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Decode {
            db: self.name.clone(),
            what,
            message: e.to_string(),
        }
    }

    /// The elements of the JSON array bound at `param`, as a subquery: `x IN (…)`.
    pub(in crate::store) fn json_list(param: &str) -> String {
        format!("(SELECT jsonb_array_elements_text(CAST({param} AS jsonb)))")
    }

    pub(in crate::store) async fn begin(&self) -> Result<Transaction<'static, Db>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(self.err("begin a transaction"))
    }
}
