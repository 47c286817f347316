//! `expediter silence add|list|remove`: silences in the database, written while the daemon
//! runs (WAL and a busy timeout make that safe); the next cycle honours them without a reload.

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::clock::Clock;
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

/// A silence asked for, as typed (on the command line or in the console).
pub struct SilenceRequest<'a> {
    pub task: &'a str,
    pub user: Option<&'a str>,
    pub duration: Option<&'a str>,
    pub until: Option<&'a str>,
}

/// A silence that may be recorded.
pub struct Checked {
    pub task: String,
    pub user: Option<String>,
    pub until: DateTime<Utc>,
    /// Recorded, but worth saying (a task no listing has seen yet).
    pub warning: Option<String>,
}

/// Why a silence cannot be recorded, and which field is wrong.
#[derive(Debug)]
pub struct Refusal {
    pub field: &'static str,
    pub message: String,
}

/// How fields are called where the request came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Cli,
    Api,
}

impl Names {
    pub fn of(self, field: &'static str) -> &'static str {
        match (self, field) {
            (Names::Cli, "task_id") => "--task",
            (Names::Cli, "user_id") => "--user",
            (Names::Cli, "for") => "--for",
            (Names::Cli, "until") => "--until",
            (_, f) => f,
        }
    }
}

/// The checks every new silence passes, wherever it is asked for: a task, a watched user
/// who has it pending, one end in the future, a task not finished.
pub async fn check_new(
    config: &crate::config::Config,
    store: &Store,
    req: &SilenceRequest<'_>,
    names: Names,
    now: DateTime<Utc>,
) -> Result<Result<Checked, Refusal>, crate::store::StoreError> {
    let tz = config.schedule.timezone;
    let refuse = |field: &'static str, message: String| Ok(Err(Refusal { field, message }));
    let task = match crate::domain::id::parse_id(req.task) {
        Ok(t) => t,
        Err(crate::domain::id::IdError::Empty) => {
            return refuse(
                "task_id",
                format!(
                    "{} is empty: give the task id to silence",
                    names.of("task_id")
                ),
            );
        }
        Err(e) => {
            return refuse(
                "task_id",
                format!("{} {e}: {:?}", names.of("task_id"), req.task),
            );
        }
    };
    let user = req.user.map(str::trim);
    if user == Some("") {
        return refuse(
            "user_id",
            format!(
                "{} is empty: give a watched user's id, or leave {} out to silence every assignee",
                names.of("user_id"),
                names.of("user_id")
            ),
        );
    }
    if let Some(u) = user
        && !config.users.iter().any(|w| w.id == u)
    {
        return refuse(
            "user_id",
            format!(
                "{} {u} is not a watched user: only [[users]] are reminded, so only they can be silenced ({})",
                names.of("user_id"),
                watched(config)
            ),
        );
    }
    let duration = req.duration.map(str::trim).filter(|d| !d.is_empty());
    let until_text = req.until.map(str::trim).filter(|d| !d.is_empty());
    let until = match (duration, until_text) {
        (Some(d), None) => match parse_for(d, now, names) {
            Ok(t) => t,
            Err(e) => return refuse("for", e),
        },
        (None, Some(u)) => match parse_until(u, tz) {
            Ok(t) => t,
            Err(e) => return refuse("until", e.replacen("--until", names.of("until"), 1)),
        },
        _ => {
            return refuse(
                "for",
                format!(
                    "give exactly one of {} DUR or {} DATE",
                    names.of("for"),
                    names.of("until")
                ),
            );
        }
    };
    if let Err(e) = within_a_century(until, now, names.of("until"), tz) {
        return refuse("until", e);
    }
    if until <= now {
        return refuse(
            "until",
            format!(
                "{} {} is in the past; a silence must end later than now",
                names.of("until"),
                local(until, tz)
            ),
        );
    }
    let mut warning = None;
    match store.task_assignees(task).await? {
        None => {
            warning = Some(format!(
                "task {task} has not been seen by any listing yet; the silence is recorded and holds it once a listing finds it (`expediter plan` lists the tasks known)"
            ))
        }
        Some(t) if t.finished => {
            return refuse(
                "task_id",
                format!(
                    "task {task} is finished: nothing is sent for it any more, so there is nothing to silence"
                ),
            );
        }
        Some(t) => {
            if let Some(u) = user
                && !t.pending.iter().any(|p| p == u)
            {
                return refuse(
                    "user_id",
                    format!(
                        "{} is not a pending assignee of task {task} (its pending assignees: {})",
                        name_of(config, u),
                        t.pending
                            .iter()
                            .map(|p| name_of(config, p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    Ok(Ok(Checked {
        task: task.to_owned(),
        user: user.map(str::to_owned),
        until,
        warning,
    }))
}

pub(crate) fn parse_for(
    text: &str,
    now: DateTime<Utc>,
    names: Names,
) -> Result<DateTime<Utc>, String> {
    let flag = names.of("for");
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{flag} \"{text}\" is not a duration ({e}); write it like 90m, 8h or 3d")
    })?;
    chrono::TimeDelta::from_std(d)
        .ok()
        .filter(|d| *d < century())
        .and_then(|d| now.checked_add_signed(d))
        .filter(|_| !d.is_zero())
        .ok_or_else(|| format!("{flag} \"{text}\" must be above 0s and below a century"))
}

/// The longest a silence or an away window may last, and how far ahead one may end.
pub(crate) fn century() -> chrono::TimeDelta {
    chrono::TimeDelta::days(36_525)
}

/// An end further than a century from now is a typo, not a plan.
pub(crate) fn within_a_century(
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    flag: &str,
    tz: Tz,
) -> Result<(), String> {
    if until - now >= century() {
        return Err(format!(
            "{flag} {} is a century or more away; give an end below a century from now",
            local(until, tz)
        ));
    }
    Ok(())
}

/// `--until`: `YYYY-MM-DD` (the start of that day), `YYYY-MM-DD HH:MM[:SS]` or
/// `YYYY-MM-DDTHH:MM[:SS]` in `tz`, or RFC 3339 with its own offset.
pub fn parse_until(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)
    } else {
        [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    };
    let Some(local) = local else {
        return Err(format!(
            "--until \"{text}\" is not a date; write YYYY-MM-DD, \"YYYY-MM-DD HH:MM\" (in {tz}) or RFC 3339"
        ));
    };
    // A local time a DST jump skipped: the first moment after it.
    (0..=180)
        .find_map(|m| {
            tz.from_local_datetime(&(local + chrono::TimeDelta::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("--until \"{text}\" does not exist in {tz}"))
}

/// Who runs this command, for the record: `cli:` and the user behind sudo, else the login
/// name, else the uid.
pub fn who_at_cli() -> String {
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()));
    format!("cli:{user}")
}

/// A watched user's name as `plan` shows it (the id when not watched).
pub(crate) fn name_of(config: &crate::config::Config, id: &str) -> String {
    config
        .users
        .iter()
        .find(|u| u.id == id)
        .map_or_else(|| id.to_owned(), |u| u.display_name().to_owned())
}

/// The watched users' ids, for an error (the first ten).
pub(crate) fn watched(config: &crate::config::Config) -> String {
    let ids: Vec<&str> = config.users.iter().map(|u| u.id.as_str()).collect();
    match ids.len() {
        0 => "no [[users]] are configured".to_owned(),
        n if n <= 10 => format!("watched: {}", ids.join(", ")),
        n => format!("watched: {}, … ({n} in all)", ids[..10].join(", ")),
    }
}

pub(crate) fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

fn render(silences: &[Silence], now: DateTime<Utc>, config: &crate::config::Config) -> String {
    use std::fmt::Write as _;
    let tz = config.schedule.timezone;
    if silences.is_empty() {
        return "No silences.\n".into();
    }
    let rows: Vec<[String; 7]> = silences
        .iter()
        .map(|s| {
            let state = match s.ended_at {
                Some(at) => format!(
                    "removed {} by {}",
                    local(at, tz),
                    s.ended_by.as_deref().unwrap_or("someone")
                ),
                None if s.active(now) => "active".to_owned(),
                None => "run out".to_owned(),
            };
            let task = match &s.label {
                Some(l) => format!("{} ({})", s.task_id, truncate(l, 30)),
                None => format!("{} (not seen yet)", s.task_id),
            };
            [
                s.id.to_string(),
                task,
                s.user_id
                    .as_deref()
                    .map_or("every assignee".to_owned(), |u| name_of(config, u)),
                local(s.until, tz),
                state,
                s.created_by.clone(),
                s.reason.clone(),
            ]
        })
        .collect();
    let headers = ["ID", "TASK", "ASSIGNEE", "UNTIL", "STATE", "BY", "REASON"];
    let mut widths = headers.map(|h| h.chars().count());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 7]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(l, "{c}{}  ", " ".repeat(widths[i] - c.chars().count()));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]].map(String::as_str));
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_read_in_the_schedule_zone() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        let utc = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        // (case, text, zone, the moment)
        let cases = [
            (
                "a date is that day's start",
                "2026-12-01",
                sh,
                utc(2026, 11, 30, 16, 0),
            ),
            (
                "a local time",
                "2026-12-01 18:30",
                sh,
                utc(2026, 12, 1, 10, 30),
            ),
            (
                "T separator",
                "2026-12-01T18:30:00",
                sh,
                utc(2026, 12, 1, 10, 30),
            ),
            (
                "RFC 3339 keeps its own offset",
                "2026-12-01T18:30:00+00:00",
                sh,
                utc(2026, 12, 1, 18, 30),
            ),
            (
                "a time the DST jump skipped",
                "2026-03-08 02:30",
                ny,
                utc(2026, 3, 8, 7, 0),
            ),
        ];
        for (name, text, tz, want) in cases {
            assert_eq!(parse_until(text, tz), Ok(want), "{name}");
        }
        let err = parse_until("next friday", sh).unwrap_err();
        assert!(
            err.contains("--until") && err.contains("YYYY-MM-DD"),
            "{err}"
        );
    }
}
