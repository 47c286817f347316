//! The file as written: serde structs that accept what TOML gives, with positions kept for
//! error messages. Nothing here judges values; `validate` does.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use super::{CronSchedule, DEFAULT_BASE_URL, DEFAULT_CRON, DEFAULT_DATABASE, DEFAULT_TIMEZONE};
use crate::domain::calendar::HourRange;
use crate::domain::opinion::OpinionTemplate;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) feishu: RawFeishu,
    #[serde(default)]
    pub(super) schedule: RawSchedule,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) expedite: RawExpedite,
    #[serde(default)]
    pub(super) users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    pub(super) calendars: Vec<Spanned<RawCalendar>>,
    #[serde(default)]
    pub(super) rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) digests: Vec<Spanned<RawDigest>>,
    pub(super) console: Option<Spanned<RawConsole>>,
    pub(super) bot: Option<super::bot::RawBot>,
    pub(super) away: Option<RawAway>,
    #[serde(default)]
    pub(super) teams: Vec<Spanned<RawTeam>>,
}

/// A `[[teams]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    pub(super) name: Spanned<String>,
    pub(super) leads: Option<Vec<Spanned<String>>>,
    pub(super) viewers: Option<Vec<Spanned<String>>>,
    pub(super) members: Option<Vec<Spanned<String>>>,
    pub(super) may_name: Option<Vec<Spanned<String>>>,
    /// The custom bots a team's digests may post to, by name.
    pub(super) webhooks: Option<std::collections::BTreeMap<String, RawTeamWebhook>>,
}

/// `[[teams]] webhooks.NAME`: a custom bot the admin names for a team's digests.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeamWebhook {
    pub(super) url_file: PathBuf,
    pub(super) sign_secret_file: Option<PathBuf>,
}

/// A team's own document as written: its watched users, rules and digests.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocument {
    #[serde(default)]
    pub(super) users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    pub(super) rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub(super) digests: Vec<Spanned<RawDigest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAway {
    pub(super) deputy_action: Option<Spanned<String>>,
    pub(super) opinion: Option<Spanned<String>>,
    pub(super) deputy_after: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    pub(super) listen: Spanned<String>,
    pub(super) public_url: Option<Spanned<String>>,
    pub(super) sign_in: Option<Spanned<String>>,
    pub(super) allow: Option<Vec<Spanned<String>>>,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) accounts_url: Option<Spanned<String>>,
    pub(super) session: Option<HumanDuration>,
    pub(super) trusted_proxies: Option<Vec<Spanned<String>>>,
    pub(super) admins: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    pub(super) name: String,
    pub(super) cron: CronSchedule,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_url_file: Option<PathBuf>,
    pub(super) sign_secret: Option<String>,
    pub(super) sign_secret_file: Option<PathBuf>,
    /// `None` when the key is absent; `Some(empty)` for `[]` (the same: a warning).
    pub(super) users: Option<Vec<Spanned<String>>>,
    pub(super) teams: Option<Vec<Spanned<String>>>,
    pub(super) min_age: Option<HumanDuration>,
    pub(super) calendar: Option<Spanned<String>>,
    pub(super) catch_up: Option<HumanDuration>,
    /// In a team's document: the name of a webhook its `[[teams]]` entry lists.
    pub(super) webhook: Option<Spanned<String>>,
    /// `"webhook"` (a custom bot, the default) or `"bot"` (the app's bot, with buttons).
    pub(super) via: Option<Spanned<String>>,
    /// `via = "bot"`: a group the bot is in.
    pub(super) chat_id: Option<Spanned<String>>,
    /// `via = "bot"`: `"leads"`, a personal card to each lead.
    pub(super) to: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeishu {
    #[serde(default = "default_base_url")]
    pub(super) base_url: Spanned<String>,
    pub(super) app_id: Spanned<String>,
    pub(super) app_secret: Option<String>,
    pub(super) app_secret_file: Option<PathBuf>,
    #[serde(default = "default_rpm")]
    pub(super) requests_per_minute: Spanned<i64>,
    #[serde(default = "default_timeout")]
    pub(super) request_timeout: HumanDuration,
    #[serde(default = "default_max_retries")]
    pub(super) max_retries: Spanned<i64>,
    #[serde(default = "default_retry_backoff")]
    pub(super) retry_backoff: HumanDuration,
}

fn default_max_retries() -> Spanned<i64> {
    Spanned::new(0..0, 3)
}
fn default_retry_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(500))
}

fn default_base_url() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_BASE_URL.to_owned())
}
fn default_rpm() -> Spanned<i64> {
    Spanned::new(0..0, 100)
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) cron: CronSchedule,
    pub(super) timezone: ZoneName,
    #[serde(default)]
    pub(super) listing: ListingMode,
    #[serde(default = "default_follow_up")]
    pub(super) follow_up: HumanDuration,
}

fn default_follow_up() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}

/// `[schedule] listing`: which users a tick lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingMode {
    /// Every watched user, every tick.
    #[default]
    EveryTick,
    /// Each user when something about them can matter (under `run`).
    Auto,
}

impl Default for RawSchedule {
    fn default() -> Self {
        Self {
            cron: CronSchedule::parse(DEFAULT_CRON).expect("default cron is valid"),
            timezone: ZoneName(DEFAULT_TIMEZONE.parse().expect("default zone is valid")),
            listing: ListingMode::default(),
            follow_up: default_follow_up(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    #[serde(default = "default_database")]
    pub(super) database: PathBuf,
    #[serde(default = "default_retention")]
    pub(super) retention: HumanDuration,
    #[serde(default = "default_lease")]
    pub(super) lease: HumanDuration,
    #[serde(default = "default_audit_keep")]
    pub(super) audit_keep: HumanDuration,
}

fn default_audit_keep() -> HumanDuration {
    HumanDuration(Duration::from_secs(400 * 86_400))
}

fn default_lease() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_database() -> PathBuf {
    PathBuf::from(DEFAULT_DATABASE)
}
fn default_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(90 * 86_400))
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            database: default_database(),
            retention: default_retention(),
            lease: default_lease(),
            audit_keep: default_audit_keep(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpedite {
    pub(super) operator_user_id: Option<String>,
    /// Who `operator_user_id` is, as pages name them.
    pub(super) operator_name: Option<String>,
    #[serde(default)]
    pub(super) dry_run: bool,
    #[serde(default)]
    pub(super) max_per_user_per_day: Option<Spanned<i64>>,
    /// `zh-CN` (default) or `en`: `{age}` in reminder text, digest cards.
    pub(super) language: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) team: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub(super) name: String,
    #[serde(default)]
    pub(super) weekdays: Vec<WeekdayName>,
    #[serde(default)]
    pub(super) hours: Vec<HourRange>,
    #[serde(default)]
    pub(super) holidays: Vec<DateValue>,
    #[serde(default)]
    pub(super) workdays: Vec<DateValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) name: String,
    /// `None` when the key is absent; `Some(empty)` for `[]` (the same: a warning).
    pub(super) users: Option<Vec<Spanned<String>>>,
    pub(super) teams: Option<Vec<Spanned<String>>>,
    pub(super) api_ids: Option<Spanned<Vec<String>>>,
    pub(super) label: Option<String>,
    pub(super) after: HumanDuration,
    pub(super) repeat: Option<Spanned<RawRepeat>>,
    pub(super) max_times: Option<Spanned<i64>>,
    pub(super) calendar: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) age_clock: Option<Spanned<AgeClockName>>,
    pub(super) opinion: Option<OpinionTemplate>,
    pub(super) operator_user_id: Option<String>,
    /// Who the rule's `operator_user_id` is, as pages name them.
    pub(super) operator_name: Option<String>,
    pub(super) escalate: Option<Spanned<RawEscalate>>,
    /// In the file: run before every team's rules (an exclusion or a cap teams must not
    /// override).
    pub(super) first: Option<Spanned<bool>>,
}

/// `repeat = "12h"`, or a ladder of gaps: `repeat = ["4h", "12h", "1d"]`.
pub(super) struct RawRepeat(pub(super) Vec<Duration>);

impl<'de> Deserialize<'de> for RawRepeat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawRepeat;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration (\"12h\") or a list of them ([\"4h\", \"12h\", \"1d\"])")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawRepeat, E> {
                let d = HumanDuration::deserialize(serde::de::value::StrDeserializer::<E>::new(v))?;
                Ok(RawRepeat(vec![d.0]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawRepeat, A::Error> {
                let mut gaps = Vec::new();
                while let Some(d) = seq.next_element::<HumanDuration>()? {
                    gaps.push(d.0);
                }
                Ok(RawRepeat(gaps))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalate {
    pub(super) after_times: Spanned<i64>,
    pub(super) wait: Option<HumanDuration>,
    #[serde(default)]
    pub(super) cc: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) chat: bool,
    pub(super) chat_name: Option<OpinionTemplate>,
    pub(super) transfer_to: Option<Spanned<String>>,
    pub(super) add_assignee: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum AgeClockName {
    Wall,
    Working,
}

/// The longest duration a config may give (a century, exclusive).
pub(super) const MAX_DURATION: Duration = Duration::from_secs(36_525 * 86_400);

/// A humantime duration (`90s`, `10m`, `24h`, `3d`).
#[derive(Debug, Clone, Copy)]
pub(super) struct HumanDuration(pub(super) Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A string; a bare number is said back with the fix (`after = 24` has no unit).
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => return Err(unitless(n)),
            toml::Value::Float(n) => return Err(unitless(n)),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a duration string like \"24h\", found {}",
                    other.type_str()
                )));
            }
        };
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration \"{text}\" ({e}); write it like \"90s\", \"10m\", \"24h\" or \"3d\""
            ))
        })?;
        // Time arithmetic on a duration past this could leave the calendar's range; nothing
        // here waits that long.
        if d >= MAX_DURATION {
            return Err(serde::de::Error::custom(format!(
                "duration \"{text}\" is a century or more; give one below \"36525d\""
            )));
        }
        Ok(HumanDuration(d))
    }
}

/// The error for a duration written as a bare number.
fn unitless<E: serde::de::Error>(n: impl std::fmt::Display) -> E {
    E::custom(format!(
        "a duration is a string with a unit: write it like \"{n}h\" (or \"{n}m\", \"{n}d\"), not {n}"
    ))
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CronSchedule::parse(text.trim()).map_err(serde::de::Error::custom)
    }
}

pub(super) struct ZoneName(pub(super) Tz);

impl<'de> Deserialize<'de> for ZoneName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse::<Tz>().map(ZoneName).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone \"{text}\"; use an IANA name such as \"Asia/Shanghai\" or \"UTC\""
            ))
        })
    }
}

pub(super) struct WeekdayName(pub(super) Weekday);

impl<'de> Deserialize<'de> for WeekdayName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.trim()
            .parse::<Weekday>()
            .map(WeekdayName)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "unknown weekday \"{text}\"; use mon, tue, wed, thu, fri, sat or sun"
                ))
            })
    }
}

pub(super) struct DateValue(pub(super) NaiveDate);

impl<'de> Deserialize<'de> for DateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept both "2026-10-01" and the bare TOML date 2026-10-01.
        let value = toml::Value::deserialize(d)?;
        let text = match &value {
            toml::Value::String(s) => s.trim().to_owned(),
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a date like \"2026-10-01\", found {other}"
                )));
            }
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(DateValue)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "invalid date \"{text}\"; write it as YYYY-MM-DD, e.g. \"2026-10-01\""
                ))
            })
    }
}
