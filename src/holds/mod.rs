//! What holds a task back that a person asks for — a silence, an away window — checked once,
//! wherever it is asked for (the command line, the console's pages and its API), with the field
//! named in the words of the place it came from.

pub mod away;
pub mod silence;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

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

pub fn parse_for(text: &str, now: DateTime<Utc>, names: Names) -> Result<DateTime<Utc>, String> {
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
pub fn century() -> chrono::TimeDelta {
    chrono::TimeDelta::days(36_525)
}

/// An end further than a century from now is a typo, not a plan.
pub fn within_a_century(
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
/// name, else the name the system gives the uid (`cli:root` from a unit or `env -i`), else the
/// uid.
pub fn who_at_cli() -> String {
    let uid = rustix::process::getuid().as_raw();
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .or_else(|| {
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            user_of(&passwd, uid)
        })
        .unwrap_or_else(|| format!("uid {uid}"));
    format!("cli:{user}")
}

/// The name `/etc/passwd` gives `uid` (`name:password:uid:…` lines).
fn user_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// A watched user's name as `plan` shows it (the id when not watched).
pub fn name_of(config: &crate::config::Config, id: &str) -> String {
    config
        .users
        .iter()
        .find(|u| u.id == id)
        .map_or_else(|| id.to_owned(), |u| u.display_name().to_owned())
}

/// The watched users' ids, for an error (the first ten).
pub fn watched(config: &crate::config::Config) -> String {
    let ids: Vec<&str> = config.users.iter().map(|u| u.id.as_str()).collect();
    match ids.len() {
        0 => "no [[users]] are configured".to_owned(),
        n if n <= 10 => format!("watched: {}", ids.join(", ")),
        n => format!("watched: {}, … ({n} in all)", ids[..10].join(", ")),
    }
}

pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
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
