//! `expediter team`: a team's document from the command line, for admins and automation —
//! export, import (with the preview, asked unless `--yes`), import from the file, history,
//! rollback. The same checks and records as the console's editor.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::clock::Clock;
use crate::config::Config;
use crate::documents::{self, Preview, PreviewError, Save, SaveError};
use crate::holds::who_at_cli;
use crate::startup::{EXIT_FAILED, EXIT_OK, UsageError, load_config, with_documents};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Print the team's latest version (nothing yet: an empty document to start from).
    Export { name: String },
    /// Save FILE (or, with --from-config, the file's users and rules of the team) as the team's
    /// next version: checked, previewed, asked unless --yes.
    Import {
        name: String,
        /// The document to save (`-`: standard input).
        #[arg(
            required_unless_present = "from_config",
            conflicts_with = "from_config"
        )]
        file: Option<PathBuf>,
        /// Move the team's [[users]] and its rules (teams = ["NAME"]) from the config file into
        /// its first version.
        #[arg(long)]
        from_config: bool,
        /// Why (shown in the history); required.
        #[arg(long, default_value = "")]
        comment: String,
        /// Save without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Every version: who saved it, when, why.
    History {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Save an old version again as the newest.
    Rollback {
        name: String,
        #[arg(long, value_name = "N")]
        to: i64,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

pub async fn run(path: &Path, command: TeamCommand) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let name = match &command {
        TeamCommand::Export { name }
        | TeamCommand::Import { name, .. }
        | TeamCommand::History { name, .. }
        | TeamCommand::Rollback { name, .. } => name.trim().to_owned(),
    };
    if !config.teams.iter().any(|t| t.name == name) {
        let known: Vec<&str> = config.teams.iter().map(|t| t.name.as_str()).collect();
        return Err(UsageError(format!(
            "there is no [[teams]] entry named \"{name}\" (known: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
        .into());
    }
    let store = Store::open(&config.storage.database).await?;
    let config = with_documents(config, &store).await;
    let result = team(&config, &store, &name, command).await;
    store.close().await;
    result
}

async fn team(
    config: &Config,
    store: &Store,
    name: &str,
    command: TeamCommand,
) -> anyhow::Result<u8> {
    let now = Clock::system().now();
    let tz = config.schedule.timezone;
    let latest = documents::current(store, name).await?;
    let at = latest.as_ref().map_or(0, |v| v.version);
    let author = who_at_cli();
    match command {
        TeamCommand::Export { .. } => {
            match latest {
                Some(v) => {
                    eprintln!(
                        "team {name}: version {} by {}",
                        v.version,
                        v.author.escape_debug()
                    );
                    print!("{}", v.document);
                }
                None => eprintln!("team {name} has no document yet"),
            }
            Ok(EXIT_OK)
        }
        TeamCommand::History { json, .. } => {
            let history = store.team_history(name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
                return Ok(EXIT_OK);
            }
            if history.is_empty() {
                println!("team {name} has no document yet");
            }
            let rows: Vec<[String; 4]> = history
                .iter()
                .map(|v| {
                    [
                        v.version.to_string(),
                        v.saved_at
                            .with_timezone(&tz)
                            .format("%Y-%m-%d %H:%M")
                            .to_string(),
                        v.author.escape_debug().to_string(),
                        match v.restores {
                            Some(n) => format!("(version {n} again) {}", v.comment.escape_debug()),
                            None => v.comment.escape_debug().to_string(),
                        },
                    ]
                })
                .collect();
            if !rows.is_empty() {
                print!(
                    "{}",
                    crate::table::render(["version", "saved", "by", "comment"], &rows)
                );
            }
            Ok(EXIT_OK)
        }
        TeamCommand::Rollback { to, comment, .. } => {
            let comment = if comment.trim().is_empty() {
                format!("rollback to version {to}")
            } else {
                comment
            };
            let save = Save {
                team: name,
                based_on: at,
                document: "",
                author: &author,
                address: None,
                comment: &comment,
            };
            match documents::rollback(config, store, &save, to, now).await {
                Ok(v) => {
                    println!(
                        "team {name}: version {v} (version {to} again) saved; in force from the \
                            next cycle"
                    );
                    Ok(EXIT_OK)
                }
                Err(e) => refused(e),
            }
        }
        TeamCommand::Import {
            file,
            from_config,
            comment,
            yes,
            ..
        } => {
            let document = if from_config {
                documents::from_config(config, name).map_err(UsageError)?
            } else {
                read(file.as_deref().expect("required without --from-config"))?
            };
            let comment = match (comment.trim(), from_config) {
                ("", true) => "moved from the config file".to_owned(),
                ("", false) => {
                    return Err(UsageError(
                        "--comment TEXT is required: say what changed and why".into(),
                    )
                    .into());
                }
                (c, _) => c.to_owned(),
            };
            let preview = match documents::preview(config, store, name, &document, now).await {
                Ok(p) => p,
                Err(PreviewError::Invalid(e)) => return refused(SaveError::Invalid(e)),
                Err(PreviewError::Store(e)) => return Err(e.into()),
            };
            print!("{}", render_preview(&preview));
            if !yes && !confirm(&format!("save this as team {name}'s version {}?", at + 1))? {
                println!("nothing saved");
                return Ok(EXIT_FAILED);
            }
            let save = Save {
                team: name,
                based_on: at,
                document: &document,
                author: &author,
                address: None,
                comment: &comment,
            };
            match documents::save(config, store, &save, now).await {
                Ok(v) => {
                    println!("team {name}: version {v} saved; in force from the next cycle");
                    if from_config {
                        println!(
                            "remove the team's [[users]] and rules for it alone from {} (its \
                                document replaces them)",
                            config.file.display()
                        );
                    }
                    Ok(EXIT_OK)
                }
                Err(e) => refused(e),
            }
        }
    }
}

/// A refused save: said, exit 2 for a document that does not validate, 1 otherwise.
fn refused(e: SaveError) -> anyhow::Result<u8> {
    match e {
        SaveError::Store(e) => Err(e.into()),
        SaveError::Invalid(e) => Err(e.into()),
        SaveError::NoComment | SaveError::NoTeam(_) | SaveError::NoVersion { .. } => {
            Err(UsageError(e.to_string()).into())
        }
        SaveError::Stale { .. } => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

fn read(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())).into())
}

/// Asks on the terminal; without one (a script), the answer is no: pass --yes.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!("{question} — no terminal to ask on; pass --yes to save");
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// The preview as the command line shows it.
pub fn render_preview(p: &Preview) -> String {
    let mut out = format!(
        "preview: {} pending pair(s) of team {}; {} change\n",
        p.pairs,
        p.team,
        p.changed.len()
    );
    if let Some(tick) = &p.next_tick {
        out.push_str(&format!(
            "at the next tick ({tick}): reminders {} → {}, escalations {} → {}\n",
            p.reminders_before, p.reminders_after, p.escalations_before, p.escalations_after
        ));
    }
    for w in &p.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    if !p.changed.is_empty() {
        let side = |s: &documents::Side| {
            format!(
                "{} {}{}",
                s.rule.as_deref().unwrap_or("-"),
                s.state,
                s.next_due
                    .as_deref()
                    .map(|d| format!(" {d}"))
                    .unwrap_or_default()
            )
        };
        let rows: Vec<[String; 4]> = p
            .changed
            .iter()
            .map(|r| {
                [
                    r.task_id.clone(),
                    r.assignee.clone(),
                    side(&r.before),
                    side(&r.after),
                ]
            })
            .collect();
        out.push_str(&crate::table::render(
            ["task", "assignee", "before", "after"],
            &rows,
        ));
    }
    out
}
