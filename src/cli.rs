//! The command line: `run`, `once`, `check`, `plan`, `demo`, `silence`, `digest`, `report`,
//! `console`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::commands::silence::SilenceCommand;
use crate::config::{ConfigError, DEFAULT_CONFIG_PATH};
use crate::startup::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK, UsageError};
use crate::telemetry::{self, LogFormat};

/// This release and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("EXPEDITER_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "expediter",
    version = VERSION,
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
    /// Upgrade the database to this release's schema and exit; sends nothing, lists nothing.
    Migrate,
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
        /// One line per task and assignee, however wide (otherwise 120 columns, "why" wrapping).
        #[arg(long, conflicts_with = "json")]
        wide: bool,
    },
    /// Try it without a Feishu account: a simulated Feishu on 127.0.0.1 and two real cycles
    /// (now, and half a day on: repeats and an escalation), then the plan, a digest and the
    /// report.
    Demo {
        /// Keep the demo's config and database in this directory (created if missing), to
        /// start your own config from; otherwise they are deleted when the demo ends.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Then keep the demo up with its web console on 127.0.0.1 and print a sign-in link,
        /// until Ctrl-C.
        #[arg(long)]
        console: bool,
    },
    /// The web console ([console] in the config).
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Post the configured digests now (0 all posted, 1 any failed); `run` posts each on its cron.
    Digest {
        /// Only this digest.
        #[arg(long)]
        name: Option<String>,
        /// Print each message's JSON instead of posting it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Did the reminders work? From the database alone: a table, --json or --html FILE.
    Report {
        /// How far back: 7d, 30d.
        #[arg(long, default_value = "30d", value_name = "DUR")]
        since: String,
        /// Group by rule, team or user.
        #[arg(long, value_enum, default_value = "rule")]
        by: crate::domain::report::GroupBy,
        /// One JSON object for scripts.
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Write one self-contained HTML page with the table and charts.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// The console's audit trail: sign-ins and sign-outs, sessions ended, silences and away
    /// windows made or removed — who, when, from where, what.
    Audit {
        /// How far back: 7d, 30d.
        #[arg(long, default_value = "30d", value_name = "DUR")]
        since: String,
        /// Only the acts that concern this team.
        #[arg(long, value_name = "NAME")]
        team: Option<String>,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A team's own document (its users, rules and digests): export, import, history, rollback.
    #[command(subcommand)]
    Team(crate::commands::team::TeamCommand),
    /// Hold a task (or one assignee of it) from expediting and escalation for a while.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Someone is away: nothing reminds or escalates to them while a window holds.
    #[command(subcommand)]
    Away(crate::commands::away::AwayCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Print a one-time sign-in link to the console (valid once; 2 without [console]).
    Link {
        /// How long the link stays valid.
        #[arg(long = "for", default_value = "10m", value_name = "DUR")]
        valid_for: String,
    },
    /// List the console's open sessions (who, how, until when); `end ID` or `end --all` ends them.
    Sessions {
        #[command(subcommand)]
        end: Option<SessionsCommand>,
        /// Print the sessions as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// End a session now (by the ID `console sessions` shows), or every one with --all.
    End {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
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
        Command::Once { dry_run } => commands::once(&cli.config, dry_run).await,
        Command::Check { online } => commands::check(&cli.config, online).await,
        Command::Migrate => commands::migrate(&cli.config).await,
        Command::Plan { json, wide } => commands::plan(&cli.config, json, wide).await,
        Command::Console(ConsoleCommand::Link { valid_for }) => {
            crate::console::link(&cli.config, &valid_for).await
        }
        Command::Console(ConsoleCommand::Sessions { end, json }) => {
            let end = end.map(|SessionsCommand::End { id, all }| if all { None } else { id });
            crate::console::sessions(&cli.config, end, json).await
        }
        Command::Demo { keep, console } => {
            if cli.config != std::path::Path::new(DEFAULT_CONFIG_PATH) {
                eprintln!(
                    "note: the demo writes its own config; {} is not used",
                    cli.config.display()
                );
            }
            if console {
                crate::console::demo(keep).await
            } else {
                commands::demo::demo(keep, &crate::console::cards::handler_for).await
            }
        }
        Command::Silence(sub) => commands::silence::run(&cli.config, sub).await,
        Command::Team(sub) => commands::team::run(&cli.config, sub).await,
        Command::Away(sub) => commands::away::run(&cli.config, sub).await,
        Command::Digest { name, dry_run } => {
            commands::digest::run(&cli.config, name, dry_run).await
        }
        Command::Audit { since, team, json } => {
            commands::audit::run(&cli.config, &since, team.as_deref(), json).await
        }
        Command::Report {
            since,
            by,
            json,
            html,
        } => {
            commands::report::run(
                &cli.config,
                commands::report::Options {
                    since,
                    by,
                    json,
                    html,
                },
            )
            .await
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                telemetry::fatal(&ce.to_string());
                return EXIT_CONFIG;
            }
            if let Some(ue) = e.downcast_ref::<UsageError>() {
                telemetry::fatal(&ue.to_string());
                return EXIT_CONFIG;
            }
            telemetry::fatal(&format!("{e:#}"));
            EXIT_FAILED
        }
    }
}
