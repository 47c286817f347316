//! The teams' documents at each cycle: a lead's save is in force from the next cycle, on
//! whichever host acts, with no reload.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_cron_scheduler::JobScheduler;

use super::schedule::{Tick, arm_schedule, catch_up_digests};
use crate::cycle::Engine;

/// How long reading the documents may hold the loop up: past it, the cycle runs as before.
const READ_BUDGET: Duration = Duration::from_secs(5);

/// Reads each team's latest version; when one changed, the engine takes the config made with
/// them (digests whose schedules changed re-armed). `true`: the engine changed.
pub(super) async fn refresh_documents(
    engine: &mut Engine,
    scheduler: &JobScheduler,
    generation: &Arc<AtomicU64>,
    tick_tx: &mpsc::UnboundedSender<Tick>,
) -> bool {
    let read = crate::startup::refreshed(&engine.config, &engine.store);
    let new = match tokio::time::timeout(READ_BUDGET, read).await {
        Ok(Ok(Some(new))) => new,
        Ok(Ok(None)) => return false,
        Ok(Err(e)) => {
            tracing::warn!(
                "cannot read the teams' documents; this cycle runs by the versions it had: {e}"
            );
            return false;
        }
        Err(_) => {
            tracing::warn!(
                "reading the teams' documents took over {READ_BUDGET:?}; this cycle runs by the \
                    versions it had"
            );
            return false;
        }
    };
    let crons = |c: &crate::config::Config| {
        c.digests
            .iter()
            .map(|d| (d.name.clone(), d.cron.expr.clone()))
            .collect::<Vec<_>>()
    };
    let reschedule = crons(&new) != crons(&engine.config);
    crate::prometheus::known_series(&new.rules, &crate::feishu::Api::ALL.map(|a| a.name()));
    engine.config = Arc::new(new);
    if reschedule {
        match arm_schedule(scheduler, engine, generation, tick_tx).await {
            // Re-arming drops ticks already queued: a digest due at this moment is posted by
            // the catch-up, once (its post is claimed by fire time).
            Ok(()) => {
                let current = generation.load(std::sync::atomic::Ordering::SeqCst);
                catch_up_digests(engine, current, tick_tx).await;
            }
            Err(e) => tracing::error!("cannot arm the teams' digests: {e:#}"),
        }
    }
    true
}
