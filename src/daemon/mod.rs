//! `expediter run`: cycles on the cron schedule until SIGTERM/SIGINT; SIGHUP reloads the config.
//!
//! tokio-cron-scheduler drives the ticks, with its known gaps handled here:
//! - with a time zone it freezes the UTC offset when a cron job is created, so fire times go
//!   wrong after a DST change. Each fire time is therefore computed here from the cron in the
//!   zone's rules at that moment, and handed to the scheduler as a one-shot job that arms the
//!   next one when it fires;
//! - it works in whole seconds and may fire a little early: a tick waits for its real time;
//! - a job due within the second is due at once and can be taken up before its code is stored,
//!   and then dropped (with an ERROR of its own) — which ended the chain: a tick due within a
//!   few seconds is timed here instead (`schedule::NEAR`);
//! - it would start a slow job again on the next tick: a tick that finds a cycle running is
//!   skipped and logged;
//! - its shutdown neither waits for running jobs nor listens for SIGTERM: signals are handled
//!   here, and the running cycle is stopped and awaited (or abandoned with its outcome recorded).

mod documents;
mod prune;
mod reload;
mod schedule;
mod systemd;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_cron_scheduler::JobScheduler;

use crate::clock::Clock;
use crate::config::Config;
use crate::cycle::{CycleError, CycleReport, Engine};
use crate::progress::{Progress, Watchdog};
use crate::startup::{EXIT_OK, Role, client_for, load_config, open_store};
use documents::refresh_documents;
use prune::{PRUNE_EVERY, spawn_prune};
pub use reload::describe_changes;
use reload::reload;
use schedule::{Tick, Work, arm_schedule, catch_up_digests, post_digest};
use systemd::{notify, notify_reloading, watchdog_usec};

/// How long a stopping daemon waits for the running cycle before abandoning its call.
const STOP_GRACE: Duration = Duration::from_secs(8);
/// The whole stop, from the signal to the exit: inside the unit's `TimeoutStopSec=15`.
const STOP_BUDGET: Duration = Duration::from_millis(9_500);

pub async fn run(path: &Path) -> anyhow::Result<u8> {
    // First of all: a signal that comes while the database is opened (a SIGHUP right after the
    // election, say) is kept for the loop below, never the default action that kills the process.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let config = load_config(path)?;
    // Every secret is read at start (a digest's webhook too), not first at its first post.
    let mut unreadable = config.secret_errors().into_iter();
    if let Some(first) = unreadable.next() {
        for e in unreadable {
            tracing::error!("{e}");
        }
        return Err(first.into());
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let clock = Clock::system();
    // One record of progress across reloads: the watchdog reads it whatever client a cycle uses.
    let progress = Progress::default();
    let client = client_for(&config, progress.clone(), &clock)?;
    // Opening the database may wait out its connect timeout: a stop meanwhile is a stop.
    let store = tokio::select! {
        store = open_store(&config, &clock, Role::Daemon) => store?,
        _ = sigterm.recv() => {
            tracing::info!("stopping on SIGTERM while opening the database");
            return Ok(EXIT_OK);
        }
        _ = sigint.recv() => {
            tracing::info!("stopping on SIGINT while opening the database");
            return Ok(EXIT_OK);
        }
    };
    // The teams' documents: their users, rules and digests, as stored.
    let config = crate::startup::with_documents_or_fail(config, &store).await?;
    if let Some(listen) = config.metrics {
        crate::prometheus::serve(listen).await?;
        crate::prometheus::known_series(&config.rules, &crate::feishu::Api::ALL.map(|a| a.name()));
    }
    crate::keeper::publish(&store);
    let console_at = config.console.as_ref().map(|c| c.listen);
    let mut engine = Engine::new(config, client, store, clock, Some(stopping.clone()));
    // The console reads what the loop publishes: the engine (after each reload) and how the
    // last cycle ended.
    let (live_tx, live_rx) = tokio::sync::watch::channel(crate::console::Live {
        engine: engine.clone(),
        last_cycle: None,
    });
    // The app's bot: its long connection beside the loop, never in its way.
    let cards = crate::console::cards::Cards::new(live_rx.clone());
    let (bot_stop, bot) = start_bot(&engine.config, &cards)?;
    if let Some(listen) = console_at {
        crate::console::serve(listen, live_rx, cards).await?;
    }

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
    // Digests missed while no instance was acting are posted late, once (see `catch_up`);
    // when this instance stands by, once it takes over.
    let mut was_acting = engine.store.acting();
    if was_acting {
        catch_up_digests(&engine, generation.load(Ordering::SeqCst), &tick_tx).await;
    }
    let mut takeover_check = tokio::time::interval(Duration::from_secs(1));

    // Pruning runs beside the loop, never in its way: signals and the watchdog are answered
    // while it deletes.
    let mut pruning = engine.store.acting().then(|| spawn_prune(&engine));
    let mut prune_timer =
        tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
    let watchdog_usec = watchdog_usec();
    let watchdog = watchdog_usec.is_some();
    let watchdog_usec = watchdog_usec.unwrap_or(0);
    let mut watchdog_timer =
        tokio::time::interval(Duration::from_micros((watchdog_usec / 2).max(100_000)));
    let mut watchdog_state = Watchdog::default();

    tracing::info!(config = %path.display(), database = %engine.store.name(), cron = %engine.config.schedule.cron.expr,
        timezone = %engine.config.schedule.timezone, users = engine.config.users.len(), rules = engine.config.rules.len(),
        next = %engine.config.ticks().next_after(engine.clock.now())
            .map(|t| t.with_timezone(&engine.config.schedule.timezone).to_rfc3339()).unwrap_or_else(|| "never".into()), "expediter started");
    notify(&[
        NotifyState::Ready,
        NotifyState::Status("waiting for the first tick"),
    ]);

    let mut cycle: Option<JoinHandle<Result<CycleReport, CycleError>>> = None;
    let mut digests: std::collections::HashMap<String, JoinHandle<()>> = Default::default();
    // A reload runs beside the loop: opening another database may take its whole connect
    // timeout, and signals and the watchdog are answered meanwhile.
    let mut reloading: Option<JoinHandle<Option<Engine>>> = None;
    let mut reload_again = false;
    let why = loop {
        tokio::select! {
            Some(tick) = tick_rx.recv() => {
                if tick.generation != generation.load(Ordering::SeqCst) {
                    continue;
                }
                if !engine.store.acting() {
                    // A standby lists, sends and posts nothing: the active instance does.
                    tracing::debug!(tick = %tick.at.to_rfc3339(), "standing by; this tick is the active instance's");
                    continue;
                }
                if let Work::Digest(name) = &tick.what {
                    // Beside the cycle, never in its way: its own task and its own read-only
                    // connection to the database.
                    if digests.get(name).is_some_and(|d| !d.is_finished()) {
                        tracing::warn!(digest = %name, "the previous post of this digest is still running; this tick is skipped");
                        continue;
                    }
                    let (config, clock, name2, store) = (engine.config.clone(), engine.clock.clone(), name.clone(), engine.store.clone());
                    digests.insert(name.clone(), tokio::spawn(async move { post_digest(&config, &name2, tick.at, &store, &clock).await }));
                    continue;
                }
                if cycle.is_some() {
                    tracing::warn!(tick = %tick.at.to_rfc3339(), "the previous cycle is still running; this tick is skipped");
                    continue;
                }
                // Each cycle runs by every team's latest version: a lead's save needs no reload.
                if refresh_documents(&mut engine, &scheduler, &generation, &tick_tx).await {
                    live_tx.send_modify(|l| l.engine = engine.clone());
                }
                let e = engine.clone();
                cycle = Some(tokio::spawn(async move { e.run_cycle(e.config.expedite.dry_run).await }));
            }
            finished = async { cycle.as_mut().expect("guarded").await }, if cycle.is_some() => {
                cycle = None;
                let at = engine.clock.now();
                let last = |ok: bool, summary: String| {
                    live_tx.send_modify(|l| l.last_cycle = Some(crate::console::LastCycle { at, ok, summary }));
                };
                match &finished {
                    Ok(Ok(report)) => last(true, report.summary()),
                    Ok(Err(e)) => last(false, e.to_string()),
                    Err(e) => last(false, format!("the cycle's task failed: {e}")),
                }
                let status = match finished {
                    Ok(Ok(report)) => format!("last cycle: {}", report.summary()),
                    // The quota hold was said once, at ERROR, when it began.
                    Ok(Err(e)) if e.is_lease_lost() => {
                        tracing::warn!("cycle stopped: {e}; standing by");
                        format!("standing by: {e}")
                    }
                    Ok(Err(e)) if e.is_quota_hold() => {
                        tracing::info!("cycle stopped: {e}");
                        format!("holding: {e}")
                    }
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
            _ = takeover_check.tick(), if !engine.config.digests.is_empty() => {
                let acting = engine.store.acting();
                if acting && !was_acting {
                    catch_up_digests(&engine, generation.load(Ordering::SeqCst), &tick_tx).await;
                }
                was_acting = acting;
            }
            _ = sigterm.recv() => break "SIGTERM",
            _ = sigint.recv() => break "SIGINT",
            _ = sighup.recv() => {
                if reloading.is_some() {
                    // Read again once the one under way is done: the file may have changed since.
                    tracing::info!("a reload is under way; the config is read again after it");
                    reload_again = true;
                    continue;
                }
                notify_reloading();
                reloading = Some(spawn_reload(path, &engine, &progress));
            }
            done = async { reloading.as_mut().expect("guarded").await }, if reloading.is_some() => {
                reloading = None;
                if let Ok(Some(new)) = done {
                    crate::prometheus::known_series(&new.config.rules, &crate::feishu::Api::ALL.map(|a| a.name()));
                    let crons = |c: &Config| c.digests.iter().map(|d| (d.name.clone(), d.cron.expr.clone())).collect::<Vec<_>>();
                    let reschedule = new.config.schedule.cron.expr != engine.config.schedule.cron.expr
                        || new.config.schedule.timezone != engine.config.schedule.timezone
                        || crons(&new.config) != crons(&engine.config);
                    engine = new;
                    live_tx.send_modify(|l| l.engine = engine.clone());
                    if reschedule
                        && let Err(e) = arm_schedule(&scheduler, &engine, &generation, &tick_tx).await
                    {
                        tracing::error!("cannot arm the new schedule: {e:#}");
                    }
                }
                // The tenant may have raised its quota: a reload is the operator's word for it.
                engine.client.end_quota_hold();
                if std::mem::take(&mut reload_again) {
                    reloading = Some(spawn_reload(path, &engine, &progress));
                } else {
                    notify(&[NotifyState::Ready]);
                }
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
                if !engine.store.acting() {
                    continue;
                }
                if pruning.as_ref().is_none_or(|p| p.is_finished()) {
                    pruning = Some(spawn_prune(&engine));
                } else {
                    tracing::warn!("the previous pruning is still running; this one is skipped");
                }
            }
        }
    };

    tracing::info!("stopping on {why}");
    // Every step of a stop is bounded: a database that answers nothing (a hung server, a
    // network that drops packets) must not keep the process past systemd's TimeoutStopSec.
    let stop_by = tokio::time::Instant::now() + STOP_BUDGET;
    // First of all: the running cycle stops taking new work at once.
    stopping.store(true, Ordering::SeqCst);
    // The bot's connection is closed cleanly (a Close frame), within a second.
    let _ = bot_stop.send(true);
    if let Some(bot) = bot {
        let _ = tokio::time::timeout(Duration::from_secs(1), bot).await;
    }
    // The old config stays to the end. A reload that got as far as opening another database
    // (and perhaps its lease) gives it up: a finished one's engine is closed below with the
    // old one's; an unfinished one is cut off, and any lease it took runs out by itself.
    let mut reloaded: Option<Engine> = None;
    if let Some(r) = reloading.take() {
        if !r.is_finished() {
            r.abort();
        }
        if let Ok(Some(new)) = r.await {
            reloaded = Some(new);
        }
    }
    notify(&[NotifyState::Stopping]);
    generation.fetch_add(1, Ordering::SeqCst);
    if let Some(p) = pruning.take() {
        // Its transaction rolls back; the next start prunes again.
        p.abort();
        let _ = p.await;
    }
    let mut scheduler = scheduler;
    match tokio::time::timeout(Duration::from_secs(1), scheduler.shutdown()).await {
        Ok(Err(e)) => tracing::debug!("scheduler shutdown: {e}"),
        Err(_) => tracing::debug!("scheduler shutdown took over 1 s; not waiting for it"),
        Ok(Ok(())) => {}
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
    // An abandoned call left an intent without an outcome: record it as unknown (counted as
    // sent). The next start does it if the database does not answer in time.
    let until = |keep: Duration| {
        stop_by
            .checked_sub(keep)
            .unwrap_or(stop_by)
            .max(tokio::time::Instant::now() + Duration::from_millis(200))
    };
    if tokio::time::timeout_at(until(Duration::from_millis(700)), engine.settle_abandoned())
        .await
        .is_err()
    {
        tracing::warn!(
            "the database did not answer in time to record abandoned calls; the next start records them as unknown"
        );
    }
    let close = async {
        if let Some(new) = &reloaded {
            new.store.close().await;
        }
        engine.store.close().await;
    };
    if tokio::time::timeout_at(until(Duration::ZERO), close)
        .await
        .is_err()
    {
        tracing::warn!(
            "the database did not answer in time to close; the lease runs out by itself"
        );
    }
    tracing::info!("stopped");
    Ok(EXIT_OK)
}

/// A SIGHUP's reload, in a task of its own.
fn spawn_reload(path: &Path, engine: &Engine, progress: &Progress) -> JoinHandle<Option<Engine>> {
    let (path, engine, progress) = (path.to_path_buf(), engine.clone(), progress.clone());
    tokio::spawn(async move { reload(&path, &engine, &progress).await })
}

/// Starts the app bot's long connection when `[bot]` is enabled: card clicks answered by the
/// console's services. The sender stops it.
#[allow(clippy::type_complexity)]
fn start_bot(
    config: &crate::config::Config,
    cards: &std::sync::Arc<crate::console::cards::Cards>,
) -> anyhow::Result<(
    tokio::sync::watch::Sender<bool>,
    Option<JoinHandle<crate::bot::link::Stopped>>,
)> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // HTTP callbacks come to the console's /feishu/callback instead.
    if !matches!(
        config.bot.as_ref().map(|b| &b.mode),
        Some(crate::config::BotMode::LongConnection)
    ) {
        return Ok((stop, None));
    }
    let secret = config
        .feishu
        .app_secret
        .resolve()
        .map_err(|e| anyhow::anyhow!("[bot]: {e}"))?;
    let link = crate::bot::link::Link::new(&config.feishu.base_url, &config.feishu.app_id, secret)?;
    let handler = cards.handler();
    Ok((
        stop,
        Some(tokio::spawn(
            async move { link.run(handler, stopping).await },
        )),
    ))
}
