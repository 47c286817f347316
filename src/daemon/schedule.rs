//! The cron chain: each fire time computed in the zone's rules at that moment and armed as a
//! one-shot job that arms the next one when it fires (see the module above for why).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::clock::Clock;
use crate::config::{Config, CronSchedule, Schedule};
use crate::cycle::Engine;

/// A schedule tick, tagged with the schedule it belongs to (a reload starts a new one).
#[derive(Debug)]
pub(super) struct Tick {
    pub(super) generation: u64,
    pub(super) at: DateTime<Utc>,
    pub(super) what: Work,
}

/// What a schedule's ticks start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Work {
    Cycle,
    /// The `[[digests]]` entry of this name.
    Digest(String),
}

/// The first fire time of `cron` strictly after `after` (see [`Schedule`]). The schedule is a
/// chain of these steps: each tick arms the next one from its own fire time.
fn next_tick(cron: &CronSchedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Schedule { cron, tz }.next_after(after)
}

/// Starts a new chain of one-shot jobs for the config's schedule; older chains stop.
pub(super) async fn arm_schedule(
    scheduler: &JobScheduler,
    engine: &Engine,
    generation: &Arc<AtomicU64>,
    tx: &mpsc::UnboundedSender<Tick>,
) -> anyhow::Result<()> {
    let current = generation.fetch_add(1, Ordering::SeqCst) + 1;
    let config = &engine.config;
    let schedules = std::iter::once((Work::Cycle, config.schedule.cron.clone())).chain(
        config
            .digests
            .iter()
            .map(|d| (Work::Digest(d.name.clone()), d.cron.clone())),
    );
    for (what, cron) in schedules {
        let chain = Chain {
            cron,
            tz: config.schedule.timezone,
            generation: current,
            live: generation.clone(),
            tx: tx.clone(),
            clock: engine.clock.clone(),
            what,
        };
        chain.arm(scheduler, engine.clock.now()).await?;
    }
    Ok(())
}

/// Digest fire times missed while this instance was not acting (stopped, restarting, or
/// standing by while another held the lease and died): the latest one missed by at most the
/// digest's `catch_up` is sent as a tick now (posted once: the claim holds it to its fire
/// time); older ones are skipped and logged.
pub(super) async fn catch_up_digests(
    engine: &Engine,
    generation: u64,
    tx: &mpsc::UnboundedSender<Tick>,
) {
    let config = &engine.config;
    let now = engine.clock.now();
    for d in &config.digests {
        let schedule = Schedule {
            cron: &d.cron,
            tz: config.schedule.timezone,
        };
        let last_posted = match engine.store.last_digest_post(&d.name).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(digest = %d.name, "cannot tell which fire times were missed: {e}");
                continue;
            }
        };
        // Never posted: nothing was missed that anyone expects (a new digest, a new install).
        let Some(last_posted) = last_posted else {
            continue;
        };
        let window = chrono::TimeDelta::from_std(d.catch_up).unwrap_or_default();
        let oldest = now - window;
        // A fire time on a day the digest's calendar does not post on was not missed.
        let posts = |t: &DateTime<Utc>| crate::digest::posts_today(config, d, *t);
        let mut skipped = false;
        let mut t = last_posted;
        for _ in 0..1000 {
            match schedule.next_after(t).filter(|n| *n < oldest) {
                Some(n) if posts(&n) => {
                    skipped = true;
                    break;
                }
                Some(n) => t = n,
                None => break,
            }
        }
        if skipped {
            tracing::warn!(digest = %d.name, since = %last_posted.to_rfc3339(), catch_up = %humantime::format_duration(d.catch_up),
                "digest fire time(s) missed by more than catch_up (a restart or a failover) are skipped");
        }
        // The latest fire time in the window, after the last post.
        let mut latest = None;
        let mut from = last_posted.max(oldest - chrono::TimeDelta::milliseconds(1));
        while let Some(t) = schedule.next_after(from).filter(|t| *t <= now) {
            if posts(&t) {
                latest = Some(t);
            }
            from = t;
        }
        if let Some(at) = latest {
            tracing::info!(digest = %d.name, fire_at = %at.to_rfc3339(),
                "a digest fire time was missed (a restart or a failover); posting it now, once");
            let _ = tx.send(Tick {
                generation,
                at,
                what: Work::Digest(d.name.clone()),
            });
        }
    }
}

/// One scheduled digest: on its calendar's working days only.
pub(super) async fn post_digest(
    config: &Config,
    name: &str,
    fire_at: DateTime<Utc>,
    store: &crate::store::Store,
    clock: &Clock,
) {
    let Some(digest) = config.digests.iter().find(|d| d.name == name) else {
        return;
    };
    if !crate::digest::posts_today(config, digest, fire_at) {
        tracing::info!(digest = %name, "not a working day in the digest's calendar; not posted");
        return;
    }
    // Claimed before the post, through the lease on PostgreSQL: once per fire time, even by a
    // pair, even by an instance that slept through losing its lease.
    match store.claim_digest_post(name, fire_at, clock.now()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(digest = %name, fire_at = %fire_at.to_rfc3339(), "digest already posted for this fire time; not posted again");
            return;
        }
        Err(e) => {
            tracing::warn!(digest = %name, "digest not posted: {e}");
            return;
        }
    }
    match crate::store::Store::open_read_only(&config.storage.database).await {
        Ok(Some(store)) => {
            if digest.bot.is_some() {
                crate::bot::send::run_one(config, digest, &store, clock, fire_at).await;
            } else {
                crate::digest::run_one(config, digest, &store, clock).await;
            }
            store.close().await;
        }
        Ok(None) => tracing::warn!(digest = %name, "digest not posted: nothing recorded yet"),
        Err(e) => tracing::error!(digest = %name, "digest not posted: {e}"),
    }
}

#[derive(Clone)]
struct Chain {
    cron: CronSchedule,
    tz: Tz,
    generation: u64,
    live: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Tick>,
    clock: Clock,
    what: Work,
}

/// A fire time sooner than this is timed here, not by the scheduler. The scheduler keeps whole
/// seconds: a job due within the second is due at once, and its ticker can take it up before
/// the job's code is stored — it then drops the job with an ERROR ("Error getting … from job
/// code"), and the chain would end there. Jobs further out are due at least two seconds after
/// they are added.
const NEAR: std::time::Duration = std::time::Duration::from_secs(3);

impl Chain {
    /// Schedules the first fire time strictly after `after`.
    fn arm<'a>(
        &'a self,
        scheduler: &'a JobScheduler,
        after: DateTime<Utc>,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let Some(at) = next_tick(&self.cron, self.tz, after) else {
                tracing::warn!(cron = %self.cron.expr, "the schedule never fires again");
                return Ok(());
            };
            let wait = (at - self.clock.now()).to_std().unwrap_or_default();
            let chain = self.clone();
            if wait < NEAR {
                let scheduler = scheduler.clone();
                tokio::spawn(async move { chain.fire(&scheduler, at).await });
                return Ok(());
            }
            let job = Job::new_one_shot_at_instant_async(
                std::time::Instant::now() + wait,
                move |_id, scheduler| {
                    let chain = chain.clone();
                    Box::pin(async move { chain.fire(&scheduler, at).await })
                },
            )
            .context("cannot create a schedule job")?;
            scheduler
                .add(job)
                .await
                .context("cannot add a schedule job")?;
            Ok(())
        })
    }

    /// The tick of `at`, then the next one armed.
    async fn fire(&self, scheduler: &JobScheduler, at: DateTime<Utc>) {
        // Whole-second scheduling may fire early: keep to the real fire time.
        if let Ok(early) = (at - self.clock.now()).to_std() {
            tokio::time::sleep(early).await;
        }
        if self.live.load(Ordering::SeqCst) != self.generation {
            return;
        }
        let tick = Tick {
            generation: self.generation,
            at,
            what: self.what.clone(),
        };
        if self.tx.send(tick).is_err() {
            return;
        }
        if let Err(e) = self.arm(scheduler, at).await {
            tracing::error!("cannot arm the next tick: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Offset, TimeZone};

    /// Ticks due within a few seconds are timed here: a scheduler whose ticker never runs (not
    /// started) still sees a 1 s chain tick each second, each from the one before.
    #[tokio::test]
    async fn a_near_tick_does_not_wait_on_the_scheduler() {
        let scheduler = JobScheduler::new().await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let live = Arc::new(AtomicU64::new(1));
        let clock = Clock::system();
        let chain = Chain {
            cron: CronSchedule::parse("* * * * * *").unwrap(),
            tz: chrono_tz::Asia::Shanghai,
            generation: 1,
            live: live.clone(),
            tx,
            clock: clock.clone(),
            what: Work::Cycle,
        };
        chain.arm(&scheduler, clock.now()).await.unwrap();
        let mut at = Vec::new();
        for _ in 0..3 {
            let tick = tokio::time::timeout(std::time::Duration::from_millis(2500), rx.recv())
                .await
                .expect("a tick each second")
                .unwrap();
            assert!(clock.now() >= tick.at, "not before its fire time");
            at.push(tick.at);
        }
        assert!(
            at.windows(2)
                .all(|w| w[1] - w[0] == chrono::TimeDelta::seconds(1)),
            "{at:?}"
        );
        // A newer schedule ends the chain.
        live.store(2, Ordering::SeqCst);
        let after = tokio::time::timeout(std::time::Duration::from_millis(2500), rx.recv()).await;
        assert!(
            matches!(after, Ok(None)) || after.is_err(),
            "no tick of an old schedule: {after:?}"
        );
    }

    #[test]
    fn fire_times_stay_right_across_dst() {
        let cron = CronSchedule::parse("0 0 9 * * *").unwrap();
        let tz: Tz = "America/New_York".parse().unwrap();
        let mut at = tz
            .with_ymd_and_hms(2026, 3, 6, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let mut offsets = Vec::new();
        for _ in 0..4 {
            // The chain's own step: each tick arms the next from its fire time.
            at = next_tick(&cron, tz, at).unwrap();
            let local = at.with_timezone(&tz);
            assert_eq!(local.format("%H:%M").to_string(), "09:00", "{local}");
            offsets.push(local.offset().fix().local_minus_utc() / 3600);
        }
        assert_eq!(offsets, vec![-5, -4, -4, -4]);
    }
}
