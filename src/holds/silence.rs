//! A silence asked for: the checks every new one passes.

use chrono::{DateTime, Utc};

use super::{Names, local, name_of, parse_for, parse_until, watched, within_a_century};
use crate::store::Store;

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
