//! From a config file to a running engine, the same way for every command and the daemon:
//! config → Feishu client → store → engine.

use std::path::Path;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::cycle::Engine;
use crate::feishu::{ClientSettings, FeishuClient, RetryPolicy};
use crate::progress::Progress;
use crate::store::{InstanceLock, Store};

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

/// Opens the database for an acting instance (`run`, `once`): takes its single-instance lock,
/// then settles intents an earlier run left without an outcome (none can be another live
/// instance's: it would hold the lock).
pub async fn open_store(config: &Config, clock: &Clock) -> anyhow::Result<Store> {
    let lock = InstanceLock::take(&config.storage.database)?;
    tracing::debug!(lock = %crate::store::lock_path(&config.storage.database).display(),
        "this instance is the active one: it holds the database's instance lock");
    let store = Store::open(&config.storage.database).await?.holding(lock);
    for e in store.settle_unfinished_intents(clock.now()).await? {
        tracing::warn!(task_id = %e.task_id, assignees = ?e.assignees, rule = %e.rule,
            "expedite outcome unknown: an earlier run stopped during the call; counted as sent, not repeated");
    }
    Ok(store)
}

pub async fn engine_for(config: Config, clock: Clock) -> anyhow::Result<Engine> {
    let client = client_for(&config, Progress::default(), &clock)?;
    let store = open_store(&config, &clock).await?;
    Ok(Engine {
        config: Arc::new(config),
        client,
        store,
        stopping: Default::default(),
        clock,
        auto_listing: false,
    })
}
