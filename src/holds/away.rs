//! An away window asked for: the checks every new one passes.

use chrono::{DateTime, Utc};

use super::{Names, local, parse_for, parse_until, watched};
use crate::config::Config;

/// An away window asked for, as typed.
pub struct AwayRequest<'a> {
    pub user: &'a str,
    pub duration: Option<&'a str>,
    pub until: Option<&'a str>,
    pub from: Option<&'a str>,
    pub deputy: Option<&'a str>,
}

/// A window that may be recorded: (user, from, until, deputy).
pub type CheckedAway = (String, DateTime<Utc>, DateTime<Utc>, Option<String>);

/// The checks of every new away window, wherever asked for: a watched user, one end, after its
/// start and in the future; a deputy other than the user. The error names the field.
pub fn check_new(
    config: &Config,
    req: &AwayRequest<'_>,
    names: Names,
    now: DateTime<Utc>,
) -> Result<CheckedAway, (&'static str, String)> {
    let tz = config.schedule.timezone;
    let field = |f: &'static str| match (names, f) {
        (Names::Cli, "user_id") => "--user",
        (Names::Cli, "deputy") => "--deputy",
        (Names::Cli, "from") => "--from",
        (n, f) => n.of(f),
    };
    let user = req.user.trim();
    if user.is_empty() || !config.users.iter().any(|u| u.id == user) {
        return Err((
            "user_id",
            format!(
                "{} \"{user}\" is not a watched user: only [[users]] are reminded ({})",
                field("user_id"),
                watched(config)
            ),
        ));
    }
    let from = match req.from.map(str::trim).filter(|f| !f.is_empty()) {
        None => now,
        Some(f) => {
            parse_until(f, tz).map_err(|e| ("from", e.replacen("--until", field("from"), 1)))?
        }
    };
    let until = match (
        req.duration.map(str::trim).filter(|d| !d.is_empty()),
        req.until.map(str::trim).filter(|u| !u.is_empty()),
    ) {
        (Some(d), None) => parse_for(d, from, names).map_err(|e| ("for", e))?,
        (None, Some(u)) => {
            parse_until(u, tz).map_err(|e| ("until", e.replacen("--until", field("until"), 1)))?
        }
        _ => {
            return Err((
                "for",
                format!(
                    "give exactly one of {} DUR or {} DATE",
                    field("for"),
                    field("until")
                ),
            ));
        }
    };
    super::within_a_century(until, now, field("until"), tz).map_err(|e| ("until", e))?;
    super::within_a_century(from, now, field("from"), tz).map_err(|e| ("from", e))?;
    if until <= from.max(now) {
        return Err((
            "until",
            format!(
                "{} {} is not after the window's start and now; an away window must end later",
                field("until"),
                local(until, tz)
            ),
        ));
    }
    let deputy = match req.deputy.filter(|d| !d.trim().is_empty()) {
        None => None,
        Some(d) => Some(crate::domain::id::parse_id(d).map_err(|e| {
            (
                "deputy",
                format!("{} {e}: {d:?} is not a user id", field("deputy")),
            )
        })?),
    };
    if deputy == Some(user) {
        return Err((
            "deputy",
            format!("{} is the away user themself", field("deputy")),
        ));
    }
    Ok((user.to_owned(), from, until, deputy.map(str::to_owned)))
}
