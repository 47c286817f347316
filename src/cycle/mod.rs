//! One cycle: list every watched user, store what was seen, decide, expedite, report.
//!
//! The two sides run at once and meet through a channel: [`sync`] lists users one by one and
//! stores what each listing holds ([`unchanged`]: a listing the same as the user's last one);
//! [`send`] decides each user's tasks as soon as they are
//! listed and sends the due calls at the expediting API's pace. [`report`] is the summary.

mod cadence;
mod escalate;
mod recheck;
mod send;
mod summary;
mod sync;
mod unchanged;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::Config;
use crate::feishu::{FeishuClient, FeishuError};
use crate::store::{Store, StoreError};

pub use cadence::next_discovery;
pub use send::send_deadline;
pub use summary::CycleReport;
use sync::ListingDone;
pub use sync::listing_flows;

/// Failures that stop a cycle: the database is the record of what was sent, so without it
/// nothing more may be sent.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every further call would fail the same way (credentials, scope, quota): the cycle stops.
    #[error("{0}")]
    Feishu(FeishuError),
}

impl CycleError {
    /// PostgreSQL: the cycle stopped because this instance no longer holds the lease; the
    /// active instance goes on.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, CycleError::Store(StoreError::NotLeader { .. }))
            || matches!(self, CycleError::Feishu(FeishuError::NotActive))
    }

    /// The tenant's monthly API quota is used up: the cycle stopped, and so will the next ones
    /// until the hold ends.
    pub fn is_quota_hold(&self) -> bool {
        matches!(self, CycleError::Feishu(e) if e.code() == Some(crate::feishu::error::QUOTA_CODE))
    }
}

/// Everything a cycle needs.
#[derive(Clone)]
pub struct Engine {
    pub config: Arc<Config>,
    pub client: FeishuClient,
    pub store: Store,
    /// Set on shutdown: the cycle stops before its next call.
    pub stopping: Arc<AtomicBool>,
    /// Set when one side of the running cycle failed: the other stops at its next step, a call
    /// in flight finishing first so that its real outcome is recorded.
    pub halted: Arc<AtomicBool>,
    pub clock: Clock,
    /// `[schedule] listing = "auto"` under `run`: each tick lists only the users something
    /// about whom can matter. `once` (and `every_tick`) lists everyone.
    pub auto_listing: bool,
    /// Who the daily cap held back, and the day it was said (once a user a day in the log).
    cap_told:
        Arc<std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>>,
}

impl Engine {
    /// An engine for `config`. `daemon`: for `run`, where `[schedule] listing = "auto"` applies
    /// (`once` lists everyone); `stopping` is the daemon's shutdown flag, kept across reloads.
    pub fn new(
        config: Config,
        client: FeishuClient,
        store: Store,
        clock: Clock,
        daemon: Option<Arc<AtomicBool>>,
    ) -> Engine {
        let auto_listing =
            daemon.is_some() && config.schedule.listing == crate::config::ListingMode::Auto;
        Engine {
            config: Arc::new(config),
            client,
            store,
            stopping: daemon.unwrap_or_default(),
            halted: Default::default(),
            clock,
            auto_listing,
            cap_told: Arc::default(),
        }
    }

    /// Shutdown, or (PostgreSQL) this instance no longer holds the lease: nothing more is
    /// listed or sent.
    fn stop_requested(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
            || self.halted.load(Ordering::Relaxed)
            || !self.store.acting()
    }

    /// Asked right before each request that acts: this instance still holds its lease by its
    /// own monotonic clock (always, on SQLite).
    fn fence(&self) -> crate::feishu::Fence {
        let store = self.store.clone();
        std::sync::Arc::new(move || store.acting())
    }

    /// One cycle. Listing and expediting overlap: as soon as every watched assignee of a task
    /// has been listed, its decision is made and its call queued, and the expediting side sends
    /// queued calls (most overdue first, round-robin across assignees) while later users are
    /// still being listed. A task shared by several watched users waits for the last of them,
    /// so it still gets one call naming all its due assignees.
    pub async fn run_cycle(&self, dry_run: bool) -> Result<CycleReport, CycleError> {
        // Under a monthly quota hold nothing counted may be called, not even a listing.
        self.client.check_quota_hold().map_err(CycleError::Feishu)?;
        let started = Instant::now();
        let cycle_started = self.clock.now();
        let stats_before = self.client.stats();
        let to_list = self.users_to_list(cycle_started).await?;
        let (listed_tx, listed_rx) = mpsc::unbounded_channel::<ListingDone>();
        // Either side failing ends the cycle: without the database nothing more may be sent,
        // and a listing that stopped leaves nothing more to decide. The other side is stopped
        // by its flag, not cut off: a call in flight finishes within its timeout and its real
        // outcome is recorded (an answer that proves nothing was sent keeps it due).
        self.halted.store(false, Ordering::Relaxed);
        // Which side failed first (1 listing, 2 expediting): its error is the cause; the other
        // side's, if any, came after (a database that failed one side fails the other too).
        let first = std::sync::atomic::AtomicU8::new(0);
        let halt_on_error = |failed: bool, side: u8| {
            if failed {
                let _ = first.compare_exchange(0, side, Ordering::Relaxed, Ordering::Relaxed);
                self.halted.store(true, Ordering::Relaxed);
            }
        };
        let (listing, expediting) = tokio::join!(
            async {
                let r = self.list_all(listed_tx, to_list.as_ref()).await;
                halt_on_error(r.is_err(), 1);
                r
            },
            async {
                let r = self
                    .expedite_as_listed(listed_rx, cycle_started, dry_run)
                    .await;
                halt_on_error(r.is_err(), 2);
                r
            }
        );
        self.halted.store(false, Ordering::Relaxed);
        let sides = match (listing, expediting) {
            (Ok(l), Ok(e)) => Ok((l, e)),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            (Err(l), Err(e)) => Err(if first.load(Ordering::Relaxed) == 2 {
                e
            } else {
                l
            }),
        };
        let (mut report, expediting) = match sides {
            Ok(sides) => sides,
            Err(e) => {
                // Only an intent whose call never got its outcome written (the database went
                // away meanwhile) is left open: settled as outcome unknown, never repeated.
                self.settle_abandoned().await;
                return Err(e);
            }
        };
        report.merge(&expediting);
        report.dry_run = dry_run;
        report.team_versions = self
            .config
            .documents
            .iter()
            .map(|d| format!("{} v{}", d.team, d.version))
            .collect::<Vec<_>>()
            .join(", ");
        let stats = self.client.stats().since(stats_before);
        report.fill_api_stats(stats);
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.log();
        if self.config.metrics.is_some() {
            let now = self.clock.now();
            crate::prometheus::cycle_finished(started.elapsed(), now);
            // The backlog for dashboards; a failed read only leaves the gauges as they were.
            match self.store.backlog().await {
                Ok((pending, oldest)) => crate::prometheus::backlog(
                    pending,
                    oldest
                        .and_then(|t| (now - t).to_std().ok())
                        .unwrap_or_default(),
                ),
                Err(e) => tracing::warn!("cannot read the backlog for metrics: {e}"),
            }
        }
        Ok(report)
    }

    /// Records intents left without an outcome (a call abandoned mid-flight) as unknown.
    pub async fn settle_abandoned(&self) {
        match self.store.settle_unfinished_intents(self.clock.now()).await {
            Ok(open) => {
                for e in open {
                    tracing::warn!(task_id = %e.task_id, assignees = ?e.assignees, rule = %e.rule,
                        "expedite outcome unknown: the call was abandoned; counted as sent and not repeated");
                }
            }
            Err(e) => tracing::error!("could not record abandoned expedites: {e}"),
        }
    }
}
