//! Retention: finished tasks older than `[storage] retention` pruned once a day, beside the
//! main loop (never in its way).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::cycle::Engine;

pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

pub(super) fn spawn_prune(engine: &Engine) -> JoinHandle<()> {
    let engine = engine.clone();
    tokio::spawn(async move { prune(&engine).await })
}

async fn prune(engine: &Engine) {
    let retention = engine.config.storage.retention;
    let cutoff = chrono::TimeDelta::from_std(retention)
        .ok()
        .and_then(|r| engine.clock.now().checked_sub_signed(r))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    match engine.store.prune(cutoff).await {
        Ok((tasks, expedites)) => tracing::info!(
            tasks,
            expedites,
            retention = %crate::domain::opinion::human_duration(retention),
            "pruned {tasks} finished task(s) and {expedites} expedite record(s) older than {}",
            crate::domain::opinion::human_duration(retention)
        ),
        Err(e) => tracing::error!("pruning failed: {e}"),
    }
    // The audit trail: `[storage] audit_keep`, whatever the tasks' retention.
    let keep = engine.config.storage.audit_keep;
    let cutoff = chrono::TimeDelta::from_std(keep)
        .ok()
        .and_then(|r| engine.clock.now().checked_sub_signed(r))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    match engine.store.prune_audit(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            entries = n,
            "pruned {n} audit entries older than {}",
            crate::domain::opinion::human_duration(keep)
        ),
        Err(e) => tracing::error!("pruning the audit trail failed: {e}"),
    }
    // The console's expired sign-ins and one-time grants: a day after they ended.
    let day_ago = engine.clock.now() - chrono::TimeDelta::days(1);
    if let Err(e) = engine.store.forget_console(day_ago).await {
        tracing::error!("pruning the console's expired sessions failed: {e}");
    }
}
