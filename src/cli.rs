//! The command line: `run`, `once`, `check`, `plan`, `demo`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH, Operator};
use crate::cycle::{CycleReport, Engine};
use crate::feishu::{ClientSettings, FeishuClient, RetryPolicy};
use crate::progress::Progress;
use crate::store::Store;
use crate::telemetry::{self, LogFormat};

/// Exit codes.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "expediter",
    version,
    about = "Expedites overdue Feishu aPaaS tasks on a schedule, within Feishu's rate limits"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, env = "EXPEDITER_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        env = "EXPEDITER_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a daemon: a cycle on every cron tick until SIGTERM/SIGINT; SIGHUP reloads the config.
    Run,
    /// Run one full cycle now, then exit (0: everything listed and sent; 1: something failed).
    Once {
        /// Do everything but the expediting call; record nothing as sent.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the config and show what it means (0 valid, 2 invalid).
    Check {
        /// Also fetch a tenant token to prove the app id and secret work.
        #[arg(long)]
        online: bool,
    },
    /// Show every tracked pending task: assignee, age, rule, expedites so far, next due or why none.
    Plan {
        /// One JSON array for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Try it without a Feishu account: a simulated Feishu on 127.0.0.1, one real cycle, the plan.
    Demo,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CONFIG } else { EXIT_OK });
        }
    };
    telemetry::init(cli.log_format);
    // The daemon's scheduler needs worker threads; everything else is one cycle of mostly
    // waiting on the network and SQLite, cheapest on one thread.
    let runtime = match &cli.command {
        Command::Run => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Do not wait on stray blocking work (e.g. a hung request) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Run => crate::daemon::run(&cli.config).await,
        Command::Once { dry_run } => once(&cli.config, dry_run).await,
        Command::Check { online } => check(&cli.config, online).await,
        Command::Plan { json } => plan(&cli.config, json).await,
        Command::Demo => crate::demo::demo().await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                telemetry::fatal(&ce.to_string());
                return EXIT_CONFIG;
            }
            telemetry::fatal(&format!("{e:#}"));
            EXIT_FAILED
        }
    }
}

pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let config = Config::load(path)?;
    for w in &config.warnings {
        tracing::warn!("config {}: {w}", path.display());
    }
    Ok(config)
}

/// The Feishu client for a config; the secret is read here. Its calls report to `progress`.
pub fn client_for(config: &Config, progress: Progress) -> anyhow::Result<FeishuClient> {
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
    })?)
}

/// Opens the database and settles intents an earlier run left without an outcome.
pub async fn open_store(config: &Config, clock: &Clock) -> anyhow::Result<Store> {
    let store = Store::open(&config.storage.database).await?;
    for e in store.settle_unfinished_intents(clock.now()).await? {
        tracing::warn!(task_id = %e.task_id, assignees = ?e.assignees, rule = %e.rule,
            "expedite outcome unknown: an earlier run stopped during the call; counted as sent, not repeated");
    }
    Ok(store)
}

pub async fn engine_for(config: Config, clock: Clock) -> anyhow::Result<Engine> {
    let client = client_for(&config, Progress::default())?;
    let store = open_store(&config, &clock).await?;
    Ok(Engine {
        config: Arc::new(config),
        client,
        store,
        stopping: Default::default(),
        clock,
    })
}

async fn once(path: &Path, dry_run: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let dry_run = dry_run || config.expedite.dry_run;
    let engine = engine_for(config, Clock::system()).await?;
    let report = engine.run_cycle(dry_run).await;
    engine.store.close().await;
    let report: CycleReport = report.context("the cycle stopped")?;
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}

async fn check(path: &Path, online: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    println!("{}", describe_config(&config, Utc::now()));
    if let Err(message) = config.feishu.app_secret.resolve() {
        return Err(ConfigError {
            file: config.file.clone(),
            key: Some("feishu.app_secret_file".into()),
            position: None,
            message,
        }
        .into());
    }
    if online {
        let client = client_for(&config, Progress::default())?;
        match client.verify_credentials().await {
            Ok(lifetime) => println!(
                "online: fetched a tenant token from {} for app {} (valid {})",
                config.feishu.base_url,
                config.feishu.app_id,
                crate::domain::opinion::human_age(lifetime)
            ),
            Err(e) => {
                println!(
                    "online: FAILED to fetch a tenant token from {}: {e}",
                    config.feishu.base_url
                );
                tracing::error!(code = e.code(), "fetching a tenant token failed: {e}");
                let credentials = matches!(e.code(), Some(10003 | 10014 | 10015));
                return Ok(if credentials {
                    EXIT_CONFIG
                } else {
                    EXIT_FAILED
                });
            }
        }
    }
    println!("config OK: {}", path.display());
    Ok(EXIT_OK)
}

/// The config in plain words, for `check`.
pub fn describe_config(config: &Config, now: chrono::DateTime<Utc>) -> String {
    use std::fmt::Write as _;
    let tz = config.schedule.timezone;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Feishu: {} app {} (secret from {}), {} requests/minute per API, timeout {}",
        config.feishu.base_url,
        config.feishu.app_id,
        config.feishu.app_secret.describe(),
        config.feishu.requests_per_minute,
        crate::domain::opinion::human_age(config.feishu.request_timeout)
    );
    let _ = writeln!(
        out,
        "Database: {} (finished tasks kept {})",
        config.storage.database.display(),
        crate::domain::opinion::human_age(config.storage.retention)
    );
    if config.expedite.dry_run {
        let _ = writeln!(out, "Dry run: nothing is sent ([expedite] dry_run = true)");
    }
    let _ = writeln!(out, "Users ({}):", config.users.len());
    for u in &config.users {
        let _ = writeln!(
            out,
            "  {}{}{}",
            u.id,
            u.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default(),
            u.team
                .as_ref()
                .map(|t| format!(" (team {t})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "Rules ({}), first match wins:", config.rules.len());
    for r in &config.rules {
        let _ = writeln!(out, "  {}", describe_rule(config, r));
    }
    let _ = writeln!(
        out,
        "Schedule: cron \"{}\" in {}; next: {}",
        config.schedule.cron.expr,
        tz,
        config
            .schedule
            .cron
            .next_fire_times(now.with_timezone(&tz), 3)
            .iter()
            .map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for w in &config.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out.trim_end().to_owned()
}

pub fn describe_rule(config: &Config, r: &crate::config::Rule) -> String {
    let mut who = Vec::new();
    if !r.users.is_empty() {
        who.push(format!("users {}", r.users.join(", ")));
    }
    if !r.teams.is_empty() {
        who.push(format!("team {}", r.teams.join(", ")));
    }
    if who.is_empty() {
        who.push("everyone".into());
    }
    if let Some(ids) = &r.api_ids {
        who.push(format!("flow {}", ids.join(", ")));
    }
    if let Some(l) = &r.label {
        who.push(format!("label {}", l.pattern));
    }
    let d = crate::domain::opinion::human_age;
    let clock = if r.age_clock == crate::config::AgeClock::Working {
        " working time"
    } else {
        ""
    };
    let when = if r.max_times == 0 {
        "never expedited (max_times = 0)".to_owned()
    } else {
        match r.repeat {
            None => format!("once after {}{clock}", d(r.after)),
            Some(rep) => format!(
                "first after {}{clock}, then every {}, at most {} times",
                d(r.after),
                d(rep),
                r.max_times
            ),
        }
    };
    let cal = match r.calendar {
        Some(c) => format!(
            "; {} {} ({})",
            config.calendars[c].describe(),
            config.schedule.timezone,
            config.calendars[c].name
        ),
        None => "; any time".into(),
    };
    let op = match &r.operator {
        Operator::User(id) => format!("; as {id}"),
        Operator::Initiator => "; as the task's initiator".into(),
    };
    format!("{}: {}; {}{cal}{op}", r.name, who.join(", "), when)
}

async fn plan(path: &Path, json: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let db = &config.storage.database;
    if !db.exists() {
        // Nothing tracked yet is an empty plan, not an error.
        eprintln!(
            "no database at {} yet: run `expediter once` (or the daemon) first to list tasks",
            db.display()
        );
        if json {
            println!("[]");
        } else {
            print!("{}", crate::plan::render_table(&[]));
        }
        return Ok(EXIT_OK);
    }
    // Read only: looking never creates, migrates or writes anything.
    let store = Store::open_read_only(db).await?;
    let pairs = store.pending_pairs().await?;
    store.close().await;
    let entries = crate::plan::build(&config, &pairs, Utc::now());
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        print!("{}", crate::plan::render_table(&entries));
    }
    Ok(EXIT_OK)
}
