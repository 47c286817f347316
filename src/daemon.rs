//! `expediter run`: cycles on the cron schedule until SIGTERM/SIGINT; SIGHUP reloads the config.
//!
//! tokio-cron-scheduler drives the ticks, with its known gaps handled here:
//! - with a time zone it freezes the UTC offset when a cron job is created, so fire times go
//!   wrong after a DST change. Each fire time is therefore computed here from the cron in the
//!   zone's rules at that moment, and handed to the scheduler as a one-shot job that arms the
//!   next one when it fires;
//! - it works in whole seconds and may fire a little early: a tick waits for its real time;
//! - it would start a slow job again on the next tick: a tick that finds a cycle running is
//!   skipped and logged;
//! - its shutdown neither waits for running jobs nor listens for SIGTERM: signals are handled
//!   here, and the running cycle is stopped and awaited (or abandoned with its outcome recorded).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::clock::Clock;
use crate::config::{Config, CronSchedule};
use crate::cycle::{CycleError, CycleReport, Engine};
use crate::progress::{Progress, Watchdog};
use crate::startup::{EXIT_OK, client_for, load_config, open_store};

/// How long a stopping daemon waits for the running cycle before abandoning its call.
const STOP_GRACE: Duration = Duration::from_secs(8);
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// A schedule tick, tagged with the schedule it belongs to (a reload starts a new one).
#[derive(Debug)]
struct Tick {
    generation: u64,
    at: DateTime<Utc>,
    what: Work,
}

/// What a schedule's ticks start.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Work {
    Cycle,
    /// The `[[digests]]` entry of this name.
    Digest(String),
}

pub async fn run(path: &Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let stopping = Arc::new(AtomicBool::new(false));
    let clock = Clock::system();
    // One record of progress across reloads: the watchdog reads it whatever client a cycle uses.
    let progress = Progress::default();
    let client = client_for(&config, progress.clone())?;
    let store = open_store(&config, &clock).await?;
    if let Some(listen) = config.metrics {
        crate::prometheus::serve(listen).await?;
    }
    let mut engine = Engine {
        config: Arc::new(config),
        client,
        store,
        stopping: stopping.clone(),
        clock,
    };

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;

    let scheduler = JobScheduler::new()
        .await
        .context("cannot create the scheduler")?;
    scheduler
        .start()
        .await
        .context("cannot start the scheduler")?;
    let generation = Arc::new(AtomicU64::new(0));
    let (tick_tx, mut tick_rx) = mpsc::unbounded_channel::<Tick>();
    arm_schedule(&scheduler, &engine, &generation, &tick_tx).await?;

    // Pruning runs beside the loop, never in its way: signals and the watchdog are answered
    // while it deletes.
    let mut pruning = Some(spawn_prune(&engine));
    let mut prune_timer =
        tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
    let watchdog_usec = watchdog_usec();
    let watchdog = watchdog_usec.is_some();
    let watchdog_usec = watchdog_usec.unwrap_or(0);
    let mut watchdog_timer =
        tokio::time::interval(Duration::from_micros((watchdog_usec / 2).max(100_000)));
    let mut watchdog_state = Watchdog::default();

    tracing::info!(config = %path.display(), database = %engine.store.path().display(), cron = %engine.config.schedule.cron.expr,
        timezone = %engine.config.schedule.timezone, users = engine.config.users.len(), rules = engine.config.rules.len(),
        next = %next_tick(&engine.config.schedule.cron, engine.config.schedule.timezone, engine.clock.now())
            .map(|t| t.with_timezone(&engine.config.schedule.timezone).to_rfc3339()).unwrap_or_else(|| "never".into()), "expediter started");
    notify(&[
        NotifyState::Ready,
        NotifyState::Status("waiting for the first tick"),
    ]);

    let mut cycle: Option<JoinHandle<Result<CycleReport, CycleError>>> = None;
    let mut digests: std::collections::HashMap<String, JoinHandle<()>> = Default::default();
    let why = loop {
        tokio::select! {
            Some(tick) = tick_rx.recv() => {
                if tick.generation != generation.load(Ordering::SeqCst) {
                    continue;
                }
                if let Work::Digest(name) = &tick.what {
                    // Beside the cycle, never in its way: its own task and its own read-only
                    // connection to the database.
                    if digests.get(name).is_some_and(|d| !d.is_finished()) {
                        tracing::warn!(digest = %name, "the previous post of this digest is still running; this tick is skipped");
                        continue;
                    }
                    let (config, clock, name2) = (engine.config.clone(), engine.clock.clone(), name.clone());
                    digests.insert(name.clone(), tokio::spawn(async move { post_digest(&config, &name2, &clock).await }));
                    continue;
                }
                if cycle.is_some() {
                    tracing::warn!(tick = %tick.at.to_rfc3339(), "the previous cycle is still running; this tick is skipped");
                    continue;
                }
                let e = engine.clone();
                cycle = Some(tokio::spawn(async move { e.run_cycle(e.config.expedite.dry_run).await }));
            }
            finished = async { cycle.as_mut().expect("guarded").await }, if cycle.is_some() => {
                cycle = None;
                let status = match finished {
                    Ok(Ok(report)) => format!("last cycle: {}", report.summary()),
                    Ok(Err(e)) => {
                        tracing::error!("cycle failed: {e}");
                        format!("last cycle failed: {e}")
                    }
                    Err(e) => {
                        tracing::error!("cycle task failed: {e}");
                        format!("last cycle failed: {e}")
                    }
                };
                notify(&[NotifyState::Status(&status)]);
            }
            _ = sigterm.recv() => break "SIGTERM",
            _ = sigint.recv() => break "SIGINT",
            _ = sighup.recv() => {
                notify_reloading();
                if let Some(new) = reload(path, &engine, &progress).await {
                    let crons = |c: &Config| c.digests.iter().map(|d| (d.name.clone(), d.cron.expr.clone())).collect::<Vec<_>>();
                    let reschedule = new.config.schedule.cron.expr != engine.config.schedule.cron.expr
                        || new.config.schedule.timezone != engine.config.schedule.timezone
                        || crons(&new.config) != crons(&engine.config);
                    engine = new;
                    if reschedule
                        && let Err(e) = arm_schedule(&scheduler, &engine, &generation, &tick_tx).await
                    {
                        tracing::error!("cannot arm the new schedule: {e:#}");
                    }
                }
                notify(&[NotifyState::Ready]);
            }
            _ = watchdog_timer.tick(), if watchdog => {
                // A ping means progress: a cycle that stopped moving gets no ping, and systemd
                // restarts the service once WatchdogSec passes without one.
                let seen = progress.snapshot();
                if watchdog_state.should_ping(cycle.is_some(), seen, tokio::time::Instant::now()) {
                    notify(&[NotifyState::Watchdog]);
                } else {
                    tracing::warn!("the running cycle made no progress since the last watchdog ping; withholding the ping");
                }
            }
            _ = prune_timer.tick() => {
                if pruning.as_ref().is_none_or(|p| p.is_finished()) {
                    pruning = Some(spawn_prune(&engine));
                } else {
                    tracing::warn!("the previous pruning is still running; this one is skipped");
                }
            }
        }
    };

    tracing::info!("stopping on {why}");
    // First of all: the running cycle stops taking new work at once.
    stopping.store(true, Ordering::SeqCst);
    notify(&[NotifyState::Stopping]);
    generation.fetch_add(1, Ordering::SeqCst);
    if let Some(p) = pruning.take() {
        // Its transaction rolls back; the next start prunes again.
        p.abort();
        let _ = p.await;
    }
    let mut scheduler = scheduler;
    if let Err(e) = scheduler.shutdown().await {
        tracing::debug!("scheduler shutdown: {e}");
    }
    if let Some(mut running) = cycle {
        match tokio::time::timeout(STOP_GRACE, &mut running).await {
            Ok(_) => tracing::info!("the running cycle stopped"),
            Err(_) => {
                tracing::warn!("the running cycle did not stop in time; abandoning its call");
                running.abort();
                let _ = running.await;
            }
        }
    }
    // An abandoned call left an intent without an outcome: record it as unknown (counted as sent).
    engine.settle_abandoned().await;
    engine.store.close().await;
    tracing::info!("stopped");
    Ok(EXIT_OK)
}

/// The watchdog interval systemd asks for, as sd_watchdog_enabled(3) reads it: `WATCHDOG_USEC`,
/// for this process when `WATCHDOG_PID` names it or is absent.
fn watchdog_usec() -> Option<u64> {
    let usec = std::env::var("WATCHDOG_USEC")
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|u| *u > 0)?;
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.trim().parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => Some(usec),
    }
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!("sd_notify: {e}");
    }
}

fn notify_reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// The first fire time of `cron` strictly after `after`, computed in the zone's rules at that
/// moment (so a DST change never shifts the schedule). The schedule is a chain of these steps:
/// each tick arms the next one from its own fire time.
pub fn next_tick(cron: &CronSchedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.next_fire_times(after.with_timezone(&tz), 1)
        .into_iter()
        .next()
        .map(|t| t.with_timezone(&Utc))
}

/// Starts a new chain of one-shot jobs for the config's schedule; older chains stop.
async fn arm_schedule(
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

/// One scheduled digest: on its calendar's working days only.
async fn post_digest(config: &Config, name: &str, clock: &Clock) {
    let Some(digest) = config.digests.iter().find(|d| d.name == name) else {
        return;
    };
    if !crate::digest::posts_today(config, digest, clock.now()) {
        tracing::info!(digest = %name, "not a working day in the digest's calendar; not posted");
        return;
    }
    match crate::store::Store::open_read_only(&config.storage.database).await {
        Ok(store) => {
            crate::digest::run_one(config, digest, &store, clock).await;
            store.close().await;
        }
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
            let job = Job::new_one_shot_at_instant_async(
                std::time::Instant::now() + wait,
                move |_id, scheduler| {
                    let chain = chain.clone();
                    Box::pin(async move {
                        // Whole-second scheduling may fire early: keep to the real fire time.
                        if let Ok(early) = (at - chain.clock.now()).to_std() {
                            tokio::time::sleep(early).await;
                        }
                        if chain.live.load(Ordering::SeqCst) != chain.generation {
                            return;
                        }
                        if chain
                            .tx
                            .send(Tick {
                                generation: chain.generation,
                                at,
                                what: chain.what.clone(),
                            })
                            .is_err()
                        {
                            return;
                        }
                        if let Err(e) = chain.arm(&scheduler, at).await {
                            tracing::error!("cannot arm the next tick: {e:#}");
                        }
                    })
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
}

/// Re-reads the config. Valid: a new engine for the next cycle, with what changed logged.
/// Invalid: logged at ERROR, `None`, and the old config stays.
async fn reload(path: &Path, old: &Engine, progress: &Progress) -> Option<Engine> {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("config reload failed, keeping the old config: {e:#}");
            return None;
        }
    };
    let same_feishu = {
        let (a, b) = (&old.config.feishu, &config.feishu);
        a.base_url == b.base_url
            && a.app_id == b.app_id
            && a.requests_per_minute == b.requests_per_minute
            && a.request_timeout == b.request_timeout
            && a.max_retries == b.max_retries
            && a.retry_backoff == b.retry_backoff
            // The secret in use, not the old config's source read again: a rotated secret
            // file reads the same through both configs.
            && b.app_secret.resolve().ok().as_ref() == Some(old.client.app_secret())
    };
    // Keeping the client keeps its token and its pacing state.
    let client = if same_feishu {
        old.client.clone()
    } else {
        match client_for(&config, progress.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("config reload failed, keeping the old config: {e:#}");
                return None;
            }
        }
    };
    let store = if config.storage.database == old.config.storage.database {
        old.store.clone()
    } else {
        match open_store(&config, &old.clock).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("config reload failed, keeping the old config: {e:#}");
                return None;
            }
        }
    };
    let changes = describe_changes(&old.config, &config);
    tracing::info!(
        users = config.users.len(),
        rules = config.rules.len(),
        "config reloaded: {}",
        if changes.is_empty() {
            "no changes".to_owned()
        } else {
            changes.join("; ")
        }
    );
    Some(Engine {
        config: Arc::new(config),
        client,
        store,
        stopping: old.stopping.clone(),
        clock: old.clock.clone(),
    })
}

/// What a reload changed, in words.
pub fn describe_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut changes = Vec::new();
    let ids = |c: &Config| {
        c.users
            .iter()
            .map(|u| u.id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (before, after) = (ids(old), ids(new));
    let added: Vec<_> = after.difference(&before).cloned().collect();
    let removed: Vec<_> = before.difference(&after).cloned().collect();
    if !added.is_empty() {
        changes.push(format!("users added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        changes.push(format!("users removed: {}", removed.join(", ")));
    }
    let rules = |c: &Config| {
        c.rules
            .iter()
            .map(|r| (r.name.clone(), r.describe(&c.policy())))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (before, after) = (rules(old), rules(new));
    let added: Vec<_> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let removed: Vec<_> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v))
        .map(|(k, _)| k.clone())
        .collect();
    if !added.is_empty() {
        changes.push(format!("rules added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        changes.push(format!("rules removed: {}", removed.join(", ")));
    }
    if !changed.is_empty() {
        changes.push(format!("rules changed: {}", changed.join(", ")));
    }
    let order = |c: &Config| c.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if added.is_empty() && removed.is_empty() && order(old) != order(new) {
        changes.push("rules reordered".into());
    }
    if old.schedule.cron.expr != new.schedule.cron.expr
        || old.schedule.timezone != new.schedule.timezone
    {
        changes.push(format!(
            "schedule: \"{}\" in {}",
            new.schedule.cron.expr, new.schedule.timezone
        ));
    }
    if old.metrics != new.metrics {
        changes.push("[metrics] listen changed: takes effect at the next restart".into());
    }
    if old.expedite.dry_run != new.expedite.dry_run {
        changes.push(format!("dry_run = {}", new.expedite.dry_run));
    }
    changes
}

fn spawn_prune(engine: &Engine) -> JoinHandle<()> {
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
            retention = %crate::domain::opinion::human_age(retention),
            "pruned {tasks} finished task(s) and {expedites} expedite record(s) older than {}",
            crate::domain::opinion::human_age(retention)
        ),
        Err(e) => tracing::error!("pruning failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Offset, TimeZone};

    /// The chain's stepping — each fire time computed after the previous one in the zone's
    /// rules at that moment — keeps 09:00 local across New York's spring-forward night, where
    /// an offset frozen at arming time (UTC-5) would fire at 10:00 local from then on.
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

    #[test]
    fn reload_changes_are_described() {
        let base = r#"
[feishu]
app_id = "a"
app_secret = "s"
[expedite]
operator_user_id = "1"
[[users]]
id = "u1"
[[rules]]
name = "r1"
after = "1h"
"#;
        let old = Config::parse(base, Path::new("c.toml"), false).unwrap();
        let new_text = base
            .replace("[[rules]]", "[[users]]\nid = \"u2\"\n[[rules]]")
            .replace("after = \"1h\"", "after = \"2h\"");
        let new = Config::parse(&new_text, Path::new("c.toml"), false).unwrap();
        assert_eq!(
            describe_changes(&old, &new),
            vec!["users added: u2", "rules changed: r1"]
        );
        assert!(describe_changes(&old, &old).is_empty());
    }
}
