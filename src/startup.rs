//! From a config file to a running engine, the same way for every command and the daemon:
//! config → Feishu client → store → engine.

use std::path::Path;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::cycle::Engine;
use crate::feishu::{ClientSettings, FeishuClient, RetryPolicy};
use crate::progress::Progress;
use crate::store::{Database, Election, InstanceLock, Lease, LeaseSettings, Store};

/// Exit codes of every command.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

/// A command line that cannot be carried out as given (exit 2): names the flag and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let config = Config::load(path)?;
    for w in &config.warnings {
        tracing::warn!("config {}: {w}", path.display());
    }
    Ok(config)
}

/// The Feishu client for a config; the secret is read here. Its calls report to `progress`.
pub fn client_for(
    config: &Config,
    progress: Progress,
    clock: &Clock,
) -> anyhow::Result<FeishuClient> {
    let secret = config
        .feishu
        .app_secret
        .resolve()
        .map_err(|message| ConfigError {
            file: config.file.clone(),
            key: Some("feishu.app_secret_file".into()),
            position: None,
            message,
        })?;
    Ok(FeishuClient::new(ClientSettings {
        base_url: config.feishu.base_url.clone(),
        app_id: config.feishu.app_id.clone(),
        app_secret: secret,
        requests_per_minute: config.feishu.requests_per_minute,
        request_timeout: config.feishu.request_timeout,
        retry: RetryPolicy {
            max_retries: config.feishu.max_retries,
            base_backoff: config.feishu.retry_backoff,
            ..RetryPolicy::default()
        },
        progress,
        clock: clock.clone(),
    })?)
}

/// Who opens the store to act: the daemon may stand by; `once` acts or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Daemon,
    Once,
}

/// Opens the database for an instance that acts (`run`, `once`).
///
/// SQLite: takes the single-instance lock beside the file, then settles intents an earlier run
/// left without an outcome (none can be another live instance's: it would hold the lock).
/// PostgreSQL: asks for the lease of the app; the active instance settles the open intents of
/// earlier epochs, a standby touches nothing (the daemon waits; `once` refuses, naming the
/// holder). The lease is kept from then on until the store closes.
pub async fn open_store(config: &Config, clock: &Clock, role: Role) -> anyhow::Result<Store> {
    let db = &config.storage.database;
    let store = match db {
        Database::Sqlite(path) => {
            let lock = InstanceLock::take(path)?;
            tracing::debug!(lock = %crate::store::lock_path(path).display(),
                "this instance is the active one: it holds the database's instance lock");
            Store::open(db).await?.holding(lock)
        }
        Database::Postgres(_) => Store::open(db).await?.with_lease(Lease::new(LeaseSettings {
            app_id: config.feishu.app_id.clone(),
            duration: config.storage.lease,
        })),
    };
    let elected = match store.elect().await {
        Ok(e) => e,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    if let (Role::Once, Election::Standby(holder)) = (role, &elected) {
        store.close().await;
        anyhow::bail!(
            "database {db}: another instance is active: {}; `once` acts only while no other instance does — stop it first, or use `plan`, `report` or `silence` alongside it",
            crate::keeper::holder_words(holder)
        );
    }
    if store.lease().is_some() {
        tracing::info!(database = %db, holder = %store.lease().map(|l| l.me()).unwrap_or_default(),
            "PostgreSQL: {}", crate::keeper::describe(&elected));
    }
    for e in store.settle_unfinished_intents(clock.now()).await? {
        crate::keeper::log_settled(&e, "an earlier run stopped during the call");
    }
    crate::keeper::spawn_keeper(&store, clock, &elected);
    Ok(store)
}

pub async fn engine_for(config: Config, clock: Clock) -> anyhow::Result<Engine> {
    let client = client_for(&config, Progress::default(), &clock)?;
    let store = open_store(&config, &clock, Role::Once).await?;
    let config = with_documents(config, &store).await;
    Ok(Engine::new(config, client, store, clock, None))
}

/// `config` with each team's latest stored version in force; a version that does not validate
/// is said at ERROR (its users are listed, not reminded). Teams' documents that cannot be read
/// (a database older than them) leave the file's config as it is, said.
pub async fn with_documents(config: Config, store: &Store) -> Config {
    if config.teams.is_empty() {
        return config;
    }
    match store.latest_team_versions().await {
        Ok(versions) => {
            let config = config.with_documents(&versions);
            say_problems(&config);
            config
        }
        Err(e) => {
            tracing::warn!("cannot read the teams' documents, using the file's config alone: {e}");
            config
        }
    }
}

/// For the daemon: the same, but documents that cannot be read stop the start (running on the
/// file alone would bring back what the documents replaced, and leave their people unwatched).
pub async fn with_documents_or_fail(config: Config, store: &Store) -> anyhow::Result<Config> {
    if config.teams.is_empty() {
        return Ok(config);
    }
    let versions = store
        .latest_team_versions()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the teams' documents: {e}"))?;
    let config = config.with_documents(&versions);
    say_problems(&config);
    Ok(config)
}

/// Each team version not in force, at ERROR.
pub fn say_problems(config: &Config) {
    for (team, version, problem) in config.document_problems() {
        tracing::error!(
            team,
            version,
            "team {team}'s version {version} is not in force: its users are listed, not \
                reminded: {problem}"
        );
    }
}

/// The teams' latest versions, read again (each cycle): `Some` config when one changed.
pub async fn refreshed(
    config: &Config,
    store: &Store,
) -> Result<Option<Config>, crate::store::StoreError> {
    if config.teams.is_empty() {
        return Ok(None);
    }
    let versions = store.latest_team_versions().await?;
    let latest: Vec<(&str, i64)> = config
        .teams
        .iter()
        .filter_map(|t| versions.iter().find(|v| v.team == t.name))
        .map(|v| (v.team.as_str(), v.version))
        .collect();
    let in_use: Vec<(&str, i64)> = config
        .documents
        .iter()
        .map(|d| (d.team.as_str(), d.version))
        .collect();
    if latest == in_use {
        return Ok(None);
    }
    let new = config.with_documents(&versions);
    for d in &new.documents {
        if !config.documents.contains(d) && d.problem.is_none() {
            tracing::info!(team = %d.team, version = d.version, users = d.users.len(), "team \
                {}'s version {} is in force from this cycle", d.team, d.version);
        }
    }
    say_problems(&new);
    Ok(Some(new))
}
