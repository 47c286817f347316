//! `expediter away …`: away windows — while one holds, nothing reminds or escalates to its user
//! (`plan` says `away until … (deputy …)`); when it ends, what is due is due once.

use std::path::Path;

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::clock::Clock;
use crate::config::Config;
use crate::holds::away::{AwayRequest, check_new};
use crate::holds::{Names, local, name_of, who_at_cli};
use crate::startup::{EXIT_FAILED, EXIT_OK, UsageError, load_config};
use crate::store::{Away, NewAway, Store};

#[derive(Debug, Subcommand)]
pub enum AwayCommand {
    /// Mark a user away (a window may start later); prints its id.
    #[command(group(clap::ArgGroup::new("when").required(true).args(["duration", "until"])))]
    Add {
        /// The watched user who is away.
        #[arg(long)]
        user: String,
        /// For how long, from --from (or now): 3d, 2w.
        #[arg(long = "for", value_name = "DUR")]
        duration: Option<String>,
        /// Until when: YYYY-MM-DD (that day's start), "YYYY-MM-DD HH:MM" or RFC 3339; in
        /// [schedule] timezone.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// From when (default now), as --until.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Who takes their work (a user id), shown in `plan` and the console.
        #[arg(long)]
        deputy: Option<String>,
        /// Why, shown in `plan` and `away list`.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The away windows now and to come (with --all, past and removed ones too).
    List {
        #[arg(long)]
        all: bool,
        /// One JSON array for scripts.
        #[arg(long)]
        json: bool,
    },
    /// End an away window now (1 if there is no such id).
    Remove {
        /// The id `away add` printed.
        id: String,
    },
}

pub async fn run(path: &Path, command: AwayCommand) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let tz = config.schedule.timezone;
    let now = Clock::system().now();
    match command {
        AwayCommand::Add {
            user,
            duration,
            until,
            from,
            deputy,
            reason,
        } => {
            let req = AwayRequest {
                user: &user,
                duration: duration.as_deref(),
                until: until.as_deref(),
                from: from.as_deref(),
                deputy: deputy.as_deref(),
            };
            let (user, from, until, deputy) =
                check_new(&config, &req, Names::Cli, now).map_err(|(_, m)| UsageError(m))?;
            let store = Store::open(&config.storage.database).await?;
            let created_by = who_at_cli();
            let id = store
                .add_away(
                    &NewAway {
                        user_id: &user,
                        from,
                        until,
                        deputy: deputy.as_deref(),
                        reason: &reason.trim().chars().take(500).collect::<String>(),
                        created_by: &created_by,
                    },
                    now,
                )
                .await?;
            store.close().await;
            println!("{id}");
            eprintln!(
                "away {id}: {} from {} until {}{} — nothing reminds or escalates to them meanwhile",
                name_of(&config, &user),
                local(from, tz),
                local(until, tz),
                deputy.as_ref().map_or(String::new(), |d| format!(
                    ", deputy {}",
                    name_of(&config, d)
                ))
            );
            if let (Some(d), Some(kind)) = (&deputy, config.away.deputy_action.kind()) {
                eprintln!(
                    "each of their tasks goes to {} as it falls due ([away] deputy_action = \"{}\")",
                    name_of(&config, d),
                    kind.as_str()
                );
                if !config.users.iter().any(|u| &u.id == d) {
                    eprintln!(
                        "note: {d} is not a watched user ([[users]]): nothing reminds them of the tasks they receive"
                    );
                }
            }
            Ok(EXIT_OK)
        }
        AwayCommand::List { all, json } => {
            let windows = match Store::open_read_only(&config.storage.database).await? {
                Some(store) => {
                    let w = store.away_windows(all, now).await?;
                    store.close().await;
                    w
                }
                None => Vec::new(),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&windows)?);
            } else {
                print!("{}", render(&windows, now, &config));
            }
            Ok(EXIT_OK)
        }
        AwayCommand::Remove { id } => {
            let id: i64 = id.trim().parse().map_err(|_| {
                UsageError(format!(
                    "away id \"{id}\" is not a number; `expediter away list` shows the ids"
                ))
            })?;
            let store = Store::open(&config.storage.database).await?;
            let before = store.end_away(id, &who_at_cli(), now).await?;
            store.close().await;
            match before {
                None => {
                    eprintln!(
                        "error: no away window with id {id}; `expediter away list --all` shows them"
                    );
                    Ok(EXIT_FAILED)
                }
                Some(a) if a.ended_at.is_some() || a.until <= now => {
                    eprintln!("away window {id} had already ended; nothing changed");
                    Ok(EXIT_OK)
                }
                Some(a) => {
                    eprintln!(
                        "away window {id} ended: {} is reminded again by the rules (what is due goes once)",
                        name_of(&config, &a.user_id)
                    );
                    Ok(EXIT_OK)
                }
            }
        }
    }
}

fn render(windows: &[Away], now: DateTime<Utc>, config: &Config) -> String {
    let tz = config.schedule.timezone;
    let lang = crate::i18n::Lang::from_env();
    let t = |key: &str| lang.t(key);
    if windows.is_empty() {
        return format!("{}\n", t("cli-no-away"));
    }
    let rows: Vec<[String; 8]> = windows
        .iter()
        .map(|a| {
            let state = if a.ended_at.is_some() {
                lang.with(
                    "cli-removed",
                    &[
                        ("at", local(a.ended_at.unwrap_or(now), tz).into()),
                        (
                            "by",
                            a.ended_by
                                .clone()
                                .unwrap_or_else(|| t("who-unknown"))
                                .into(),
                        ),
                    ],
                )
            } else if a.until <= now {
                t("away-over")
            } else if a.from > now {
                t("cli-to-come")
            } else {
                t("cli-away-now")
            };
            [
                a.id.to_string(),
                name_of(config, &a.user_id),
                local(a.from, tz),
                local(a.until, tz),
                a.deputy
                    .as_deref()
                    .map_or("-".to_owned(), |d| name_of(config, d)),
                state,
                a.created_by.clone(),
                a.reason.clone(),
            ]
        })
        .collect();
    let headers = [
        "cli-id",
        "cli-who",
        "cli-from",
        "cli-until",
        "cli-deputy",
        "cli-state",
        "cli-by",
        "cli-reason",
    ]
    .map(t);
    crate::table::render(headers.each_ref().map(String::as_str), &rows)
}
