//! `expediter run`: cycles on the cron schedule until SIGTERM/SIGINT; SIGHUP reloads the config.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::{EXIT_OK, engine_for, load_config};
use crate::cycle::Engine;

pub async fn run(path: &Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let mut engine = engine_for(config).await?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    tracing::info!(config = %path.display(), database = %engine.store.path().display(), cron = %engine.config.schedule.cron.expr,
        timezone = %engine.config.schedule.timezone, users = engine.config.users.len(), rules = engine.config.rules.len(), "expediter started");
    loop {
        let tz = engine.config.schedule.timezone;
        let now = Utc::now();
        // Computed afresh each time in the zone's rules, so fire times stay right across DST.
        let Some(next) = engine
            .config
            .schedule
            .cron
            .next_fire_times(now.with_timezone(&tz), 1)
            .into_iter()
            .next()
        else {
            anyhow::bail!(
                "the cron schedule \"{}\" never fires again",
                engine.config.schedule.cron.expr
            );
        };
        let wait = (next.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                let cycle = run_cycle(&engine);
                tokio::pin!(cycle);
                tokio::select! {
                    _ = &mut cycle => {}
                    _ = sigterm.recv() => { return stop(&engine, "SIGTERM during a cycle").await; }
                    _ = sigint.recv() => { return stop(&engine, "SIGINT during a cycle").await; }
                }
                let after = Utc::now();
                let skipped = engine.config.schedule.cron.next_fire_times(now.with_timezone(&tz), 1000)
                    .into_iter().filter(|t| *t > next && t.with_timezone(&Utc) <= after).count();
                if skipped > 0 {
                    tracing::warn!(skipped, "the cycle outlasted {skipped} schedule tick(s); they were skipped, not run twice");
                }
            }
            _ = sigterm.recv() => return stop(&engine, "SIGTERM").await,
            _ = sigint.recv() => return stop(&engine, "SIGINT").await,
            _ = sighup.recv() => {
                match load_config(path) {
                    Ok(config) => {
                        match engine_for(config).await {
                            Ok(new) => {
                                tracing::info!(users = new.config.users.len(), rules = new.config.rules.len(), "config reloaded");
                                engine = new;
                            }
                            Err(e) => tracing::error!("config reload failed, keeping the old config: {e:#}"),
                        }
                    }
                    Err(e) => tracing::error!("config reload failed, keeping the old config: {e:#}"),
                }
            }
        }
    }
}

async fn run_cycle(engine: &Engine) {
    if let Err(e) = engine.run_cycle(engine.config.expedite.dry_run).await {
        tracing::error!("cycle failed: {e}");
    }
}

async fn stop(engine: &Engine, why: &str) -> anyhow::Result<u8> {
    tracing::info!("stopping on {why}");
    // A call abandoned mid-flight left an intent without an outcome: record it as unknown.
    if let Err(e) = engine.store.settle_unfinished_intents(Utc::now()).await {
        tracing::error!("could not record abandoned expedites: {e}");
    }
    engine.store.close().await;
    tracing::info!("stopped");
    Ok(EXIT_OK)
}
