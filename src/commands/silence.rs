//! `expediter silence add|list|remove`: silences in the database, written while the daemon
//! runs (WAL and a busy timeout make that safe); the next cycle honours them without a reload.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::holds::silence::{SilenceRequest, check_new};
pub use crate::holds::{Names, local, name_of, parse_for, parse_until, watched, who_at_cli};
use crate::startup::{EXIT_FAILED, EXIT_OK, UsageError, load_config};
use crate::store::{NewSilence, Silence, Store};
use clap::Subcommand;

/// `expediter silence …`: its subcommands, defined beside what they do.
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence a task (or one assignee of it) until a time; prints the silence's id.
    #[command(group(clap::ArgGroup::new("when").required(true).args(["duration", "until"])))]
    Add {
        /// The task id.
        #[arg(long)]
        task: String,
        /// Only this assignee (a watched user's id); without it, every assignee of the task.
        #[arg(long)]
        user: Option<String>,
        /// For how long: 90m, 8h, 3d.
        #[arg(long = "for", value_name = "DUR")]
        duration: Option<String>,
        /// Until when: YYYY-MM-DD (that day's start), "YYYY-MM-DD HH:MM" or RFC 3339; in
        /// [schedule] timezone.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Why, shown in `plan` and `silence list`.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The active silences (with --all, expired and removed ones too).
    List {
        /// Ended ones too: run out, or removed.
        #[arg(long)]
        all: bool,
        /// One JSON array for scripts.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now (1 if there is no such id).
    Remove {
        /// The id `silence add` printed.
        id: String,
    },
}

pub async fn run(path: &Path, command: SilenceCommand) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let tz = config.schedule.timezone;
    let now = Clock::system().now();
    match command {
        SilenceCommand::Add {
            task,
            user,
            duration,
            until,
            reason,
        } => {
            let store = Store::open(&config.storage.database).await?;
            let request = SilenceRequest {
                task: &task,
                user: user.as_deref(),
                duration: duration.as_deref(),
                until: until.as_deref(),
            };
            let checked = match check_new(&config, &store, &request, Names::Cli, now).await? {
                Ok(c) => c,
                Err(refusal) => {
                    store.close().await;
                    return Err(UsageError(refusal.message).into());
                }
            };
            if let Some(w) = &checked.warning {
                eprintln!("warning: {w}");
            }
            let (task, user, until) = (
                checked.task.as_str(),
                checked.user.as_deref(),
                checked.until,
            );
            let created_by = who_at_cli();
            let id = store
                .add_silence(
                    &NewSilence {
                        task_id: task,
                        user_id: user,
                        until,
                        reason: reason.trim(),
                        created_by: &created_by,
                    },
                    now,
                )
                .await?;
            store.close().await;
            println!("{id}");
            eprintln!(
                "silence {id}: task {task} ({}) until {}{}",
                user.map_or("every assignee".to_owned(), |u| format!(
                    "assignee {}",
                    name_of(&config, u)
                )),
                local(until, tz),
                if reason.trim().is_empty() {
                    String::new()
                } else {
                    format!(" — {}", reason.trim())
                }
            );
            Ok(EXIT_OK)
        }
        SilenceCommand::List { all, json } => {
            let db = &config.storage.database;
            let silences = match Store::open_read_only(db).await? {
                Some(store) => {
                    let s = store.silences(all, now).await?;
                    store.close().await;
                    s
                }
                None => Vec::new(),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&silences)?);
            } else {
                print!("{}", render(&silences, now, &config));
            }
            Ok(EXIT_OK)
        }
        SilenceCommand::Remove { id } => {
            let id: i64 = id.trim().parse().map_err(|_| {
                UsageError(format!(
                    "silence id \"{id}\" is not a number; `expediter silence list` shows the ids"
                ))
            })?;
            let store = Store::open(&config.storage.database).await?;
            let before = store.end_silence(id, &who_at_cli(), now).await?;
            store.close().await;
            match before {
                None => {
                    eprintln!(
                        "error: no silence with id {id}; `expediter silence list --all` shows them"
                    );
                    Ok(EXIT_FAILED)
                }
                Some(s) if s.ended_at.is_some() => {
                    eprintln!(
                        "silence {id} had already been removed, at {} by {}; nothing changed",
                        local(s.ended_at.unwrap_or(now), tz),
                        s.ended_by.as_deref().unwrap_or("someone")
                    );
                    Ok(EXIT_OK)
                }
                Some(s) if s.until <= now => {
                    eprintln!(
                        "silence {id} had already run out, at {}; nothing changed",
                        local(s.until, tz)
                    );
                    Ok(EXIT_OK)
                }
                Some(s) => {
                    eprintln!(
                        "silence {id} ended: task {} ({}) is reminded again by its rules",
                        s.task_id,
                        s.user_id
                            .as_deref()
                            .map_or("every assignee".to_owned(), |u| format!(
                                "assignee {}",
                                name_of(&config, u)
                            ))
                    );
                    Ok(EXIT_OK)
                }
            }
        }
    }
}

fn render(silences: &[Silence], now: DateTime<Utc>, config: &crate::config::Config) -> String {
    let tz = config.schedule.timezone;
    let lang = crate::i18n::Lang::from_env();
    let t = |key: &str| lang.t(key);
    if silences.is_empty() {
        return format!("{}\n", t("cli-no-silences"));
    }
    let rows: Vec<[String; 7]> = silences
        .iter()
        .map(|s| {
            let state = match s.ended_at {
                Some(at) => lang.with(
                    "cli-removed",
                    &[
                        ("at", local(at, tz).into()),
                        (
                            "by",
                            s.ended_by
                                .clone()
                                .unwrap_or_else(|| t("who-unknown"))
                                .into(),
                        ),
                    ],
                ),
                None if s.active(now) => t("cli-active"),
                None => t("cli-run-out"),
            };
            let task = match &s.label {
                Some(l) => format!("{} ({})", s.task_id, crate::table::truncate(l, 30)),
                None => format!("{} ({})", s.task_id, t("cli-not-seen")),
            };
            [
                s.id.to_string(),
                task,
                s.user_id
                    .as_deref()
                    .map_or_else(|| t("every-assignee"), |u| name_of(config, u)),
                local(s.until, tz),
                state,
                s.created_by.clone(),
                s.reason.clone(),
            ]
        })
        .collect();
    let headers = [
        "cli-id",
        "cli-task",
        "cli-assignee",
        "cli-until",
        "cli-state",
        "cli-by",
        "cli-reason",
    ]
    .map(t);
    crate::table::render(headers.each_ref().map(String::as_str), &rows)
}
