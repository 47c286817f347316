//! Configuration: the TOML file as written, and the validated [`Config`] the rest of the
//! program works with. Everything is checked here once; nothing downstream re-checks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::domain::Policy;
use crate::domain::calendar::{Calendar, HourRange};
use crate::domain::opinion::OpinionTemplate;
pub use crate::domain::rule::{AgeClock, LabelGlob, Operator, Rule, User};
use crate::secret::Secret;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/expediter/config.toml";
pub const SECRET_ENV: &str = "EXPEDITER_APP_SECRET";
const DEFAULT_BASE_URL: &str = "https://open.feishu.cn";
const DEFAULT_CRON: &str = "0 */10 * * * *";
const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";
const DEFAULT_DATABASE: &str = "/var/lib/expediter/expediter.db";
pub const DEFAULT_OPINION: &str = "「{label}」已等待 {age}，请尽快处理（第 {n} 次催办）";

/// A configuration problem, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted key path, e.g. `rules[1].after`.
    pub key: Option<String>,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config error in {}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, " at line {line}, column {col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub feishu: FeishuConfig,
    pub schedule: ScheduleConfig,
    pub storage: StorageConfig,
    pub expedite: ExpediteConfig,
    pub users: Vec<User>,
    pub calendars: Vec<Calendar>,
    pub rules: Vec<Rule>,
    /// Things that are legal but probably not what the lead meant.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FeishuConfig {
    pub base_url: String,
    pub app_id: String,
    pub app_secret: SecretSource,
    pub requests_per_minute: u32,
    pub request_timeout: Duration,
    /// Retries of a transient failure (5xx, timeout, garbage) before giving up on that call.
    pub max_retries: u32,
    /// First retry delay; doubled each retry (with jitter), at most 8 s.
    pub retry_backoff: Duration,
}

/// Where the app secret comes from. It is read only by the commands that call Feishu, so
/// `plan` works for someone who may read the config but not the credential.
#[derive(Clone)]
pub enum SecretSource {
    Env,
    /// No key set: systemd's `LoadCredential=app_secret:…`, `$CREDENTIALS_DIRECTORY/app_secret`.
    Credential,
    Inline(Secret),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env => write!(f, "env {SECRET_ENV}"),
            SecretSource::Credential => write!(f, "systemd credential app_secret"),
            SecretSource::Inline(_) => write!(f, "inline app_secret"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

impl SecretSource {
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }

    /// Reads the secret. An unreadable or empty source is an error naming it.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Env => match std::env::var(SECRET_ENV) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_owned())),
                _ => Err(format!("{SECRET_ENV} is set but empty")),
            },
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Credential => match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(dir) => SecretSource::File(Path::new(&dir).join("app_secret")).resolve(),
                None => Err(format!(
                    "no app secret: set app_secret_file (or app_secret) in [feishu], the environment variable {SECRET_ENV}, or run under systemd with LoadCredential=app_secret:…"
                )),
            },
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read app_secret_file {}: {e}", path.display()))?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(format!("app_secret_file {} is empty", path.display()));
                }
                Ok(Secret::new(text.to_owned()))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub cron: CronSchedule,
    pub timezone: Tz,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub database: PathBuf,
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct ExpediteConfig {
    pub operator: Option<Operator>,
    pub dry_run: bool,
}

/// A validated six-field cron expression (sec min hour day-of-month month day-of-week), parsed
/// exactly as the scheduler parses it.
#[derive(Clone)]
pub struct CronSchedule {
    pub expr: String,
    pub cron: croner::Cron,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

impl CronSchedule {
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "cron `{expr}` has {fields} fields; expected 6: sec min hour day-of-month month \
                 day-of-week, e.g. \"0 */10 * * * *\""
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| format!("invalid cron `{expr}`: {e}"))?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
        })
    }

    /// The next `n` fire times strictly after `after`, in the given zone. DST-correct: each
    /// time is computed in the zone's rules at that instant.
    pub fn next_fire_times(
        &self,
        after: chrono::DateTime<Tz>,
        n: usize,
    ) -> Vec<chrono::DateTime<Tz>> {
        self.cron.clone().iter_after(after).take(n).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    feishu: RawFeishu,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    expedite: RawExpedite,
    #[serde(default)]
    users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    calendars: Vec<Spanned<RawCalendar>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeishu {
    #[serde(default = "default_base_url")]
    base_url: Spanned<String>,
    app_id: Spanned<String>,
    app_secret: Option<String>,
    app_secret_file: Option<PathBuf>,
    #[serde(default = "default_rpm")]
    requests_per_minute: Spanned<i64>,
    #[serde(default = "default_timeout")]
    request_timeout: HumanDuration,
    #[serde(default = "default_max_retries")]
    max_retries: Spanned<i64>,
    #[serde(default = "default_retry_backoff")]
    retry_backoff: HumanDuration,
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
struct RawSchedule {
    cron: CronSchedule,
    timezone: ZoneName,
}

impl Default for RawSchedule {
    fn default() -> Self {
        Self {
            cron: CronSchedule::parse(DEFAULT_CRON).expect("default cron is valid"),
            timezone: ZoneName(DEFAULT_TIMEZONE.parse().expect("default zone is valid")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    #[serde(default = "default_database")]
    database: PathBuf,
    #[serde(default = "default_retention")]
    retention: HumanDuration,
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
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpedite {
    operator_user_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: Spanned<String>,
    name: Option<String>,
    team: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: String,
    #[serde(default)]
    weekdays: Vec<WeekdayName>,
    #[serde(default)]
    hours: Vec<HourRange>,
    #[serde(default)]
    holidays: Vec<DateValue>,
    #[serde(default)]
    workdays: Vec<DateValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    users: Vec<Spanned<String>>,
    #[serde(default)]
    teams: Vec<Spanned<String>>,
    api_ids: Option<Spanned<Vec<String>>>,
    label: Option<String>,
    after: HumanDuration,
    repeat: Option<HumanDuration>,
    max_times: Option<Spanned<i64>>,
    calendar: Option<Spanned<String>>,
    #[serde(default)]
    age_clock: Option<Spanned<AgeClockName>>,
    opinion: Option<OpinionTemplate>,
    operator_user_id: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum AgeClockName {
    Wall,
    Working,
}

/// A humantime duration (`90s`, `10m`, `24h`, `3d`).
#[derive(Debug, Clone, Copy)]
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration \"{text}\" ({e}); write it like \"90s\", \"10m\", \"24h\" or \"3d\""
                ))
            })
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CronSchedule::parse(text.trim()).map_err(serde::de::Error::custom)
    }
}

struct ZoneName(Tz);

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

struct WeekdayName(Weekday);

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

struct DateValue(NaiveDate);

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

// ---------------------------------------------------------------------------------------------
// Loading and validation.

impl Config {
    /// The rules with what they refer to, for decisions.
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            rules: &self.rules,
            calendars: &self.calendars,
            timezone: self.schedule.timezone,
        }
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            key: None,
            position: None,
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "file not found ({e}); pass --config PATH, set EXPEDITER_CONFIG, or start from \
                     config.example.toml"
                )
            } else {
                format!("cannot read the file: {e}")
            },
        })?;
        let env_secret = std::env::var(SECRET_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        Self::parse(&text, path, env_secret.is_some())
    }

    /// Parses and validates `text`, reporting errors against `file`. `env_secret` says whether
    /// the secret environment variable is set (it wins over the file's keys).
    pub fn parse(text: &str, file: &Path, env_secret: bool) -> Result<Config, ConfigError> {
        let v = Validator { text, file };
        let raw: RawConfig = v.deserialize()?;
        v.validate(raw, env_secret)
    }
}

struct Validator<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Validator<'_> {
    fn err(
        &self,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            key: Some(key.into()),
            position: span
                .filter(|s| s.end > 0)
                .map(|s| line_col(self.text, s.start)),
            message: message.into(),
        }
    }

    fn deserialize(&self) -> Result<RawConfig, ConfigError> {
        let de = toml::Deserializer::parse(self.text).map_err(|e| {
            let position = e.span().map(|s| line_col(self.text, s.start));
            // Quote the offending line: some TOML messages ("duplicate key") name nothing.
            let line = position
                .and_then(|(l, _)| self.text.lines().nth(l - 1))
                .map(|l| format!(" in `{}`", l.trim()))
                .unwrap_or_default();
            ConfigError {
                file: self.file.to_owned(),
                key: None,
                position,
                message: format!("TOML syntax: {}{line}", e.message().trim()),
            }
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            // Spanned<T> shows up in the path as a private marker segment; readers need the key only.
            let path = e
                .path()
                .to_string()
                .split('.')
                .filter(|seg| !seg.starts_with("$__serde_spanned"))
                .collect::<Vec<_>>()
                .join(".");
            let inner = e.into_inner();
            let message = inner.message().trim().to_owned();
            // Name the missing key itself, not only the table it is missing from.
            let path = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                Some(field) if path.is_empty() || path == "." => field.to_owned(),
                Some(field) => format!("{path}.{field}"),
                None => path,
            };
            let message = if message.starts_with("unknown field") {
                format!("{message}; remove it or check its spelling (see config.example.toml)")
            } else if message.starts_with("missing field") {
                format!("{message}; it is required")
            } else {
                message
            };
            ConfigError {
                file: self.file.to_owned(),
                key: (path != "." && !path.is_empty()).then_some(path),
                position: inner.span().map(|s| line_col(self.text, s.start)),
                message,
            }
        })
    }

    fn validate(&self, raw: RawConfig, env_secret: bool) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();

        // [feishu]
        let f = raw.feishu;
        let base_url = f.base_url.get_ref().trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(self.err(
                "feishu.base_url",
                Some(f.base_url.span()),
                format!("\"{base_url}\" is not an http(s) URL; use \"https://open.feishu.cn\" (or https://open.larksuite.com for Lark)"),
            ));
        }
        let app_id = f.app_id.get_ref().trim().to_owned();
        if app_id.is_empty() {
            return Err(self.err(
                "feishu.app_id",
                Some(f.app_id.span()),
                "app_id is empty; copy it from the app's page in the Feishu developer console (cli_…)",
            ));
        }
        let app_secret = match (env_secret, f.app_secret, f.app_secret_file) {
            (true, _, _) => SecretSource::Env,
            (false, Some(_), Some(_)) => {
                return Err(self.err(
                    "feishu.app_secret",
                    None,
                    "both app_secret and app_secret_file are set; keep one (app_secret_file is safer)",
                ));
            }
            (false, Some(s), None) => {
                if s.trim().is_empty() {
                    return Err(self.err("feishu.app_secret", None, "app_secret is empty"));
                }
                SecretSource::Inline(Secret::new(s.trim().to_owned()))
            }
            (false, None, Some(p)) => SecretSource::File(resolve_credential_path(p)),
            // Read at use: systemd's credential, so `plan` works without access to it.
            (false, None, None) => SecretSource::Credential,
        };
        let rpm = *f.requests_per_minute.get_ref();
        if !(1..=1_000_000).contains(&rpm) {
            return Err(self.err(
                "feishu.requests_per_minute",
                Some(f.requests_per_minute.span()),
                format!("{rpm} is out of range; use 1..=1000000 (Feishu allows 100 per API)"),
            ));
        }
        let real_feishu =
            base_url.contains("open.feishu.cn") || base_url.contains("open.larksuite.com");
        if rpm > 100 && real_feishu {
            warnings.push(format!(
                "feishu.requests_per_minute = {rpm} is above Feishu's documented 100 per minute; expect rate-limit waits"
            ));
        }
        if f.request_timeout.0.is_zero() {
            return Err(self.err(
                "feishu.request_timeout",
                None,
                "request_timeout must be above 0s",
            ));
        }
        let max_retries = *f.max_retries.get_ref();
        if !(0..=10).contains(&max_retries) {
            return Err(self.err(
                "feishu.max_retries",
                Some(f.max_retries.span()),
                format!("{max_retries} is out of range; use 0..=10"),
            ));
        }
        let feishu = FeishuConfig {
            base_url,
            app_id,
            app_secret,
            requests_per_minute: rpm as u32,
            request_timeout: f.request_timeout.0,
            max_retries: max_retries as u32,
            retry_backoff: f.retry_backoff.0,
        };

        // [expedite]
        let operator = raw
            .expedite
            .operator_user_id
            .as_deref()
            .map(parse_operator)
            .transpose()
            .map_err(|m| self.err("expedite.operator_user_id", None, m))?;

        // [[users]]
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        for (i, u) in raw.users.into_iter().enumerate() {
            let span = u.span();
            let u = u.into_inner();
            let id = u.id.get_ref().trim().to_owned();
            if id.is_empty() {
                return Err(self.err(
                    format!("users[{i}].id"),
                    Some(u.id.span()),
                    "user id is empty",
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(self.err(
                    format!("users[{i}].id"),
                    Some(span),
                    format!("user \"{id}\" is listed twice"),
                ));
            }
            users.push(User {
                id,
                name: u.name.filter(|s| !s.trim().is_empty()),
                team: u.team.filter(|s| !s.trim().is_empty()),
            });
        }
        if users.is_empty() {
            return Err(self.err(
                "users",
                None,
                "no [[users]]: add at least one user whose pending tasks are watched",
            ));
        }

        // [[calendars]]
        let mut calendars = Vec::new();
        for (i, c) in raw.calendars.into_iter().enumerate() {
            let span = c.span();
            let c = c.into_inner();
            if calendars.iter().any(|x: &Calendar| x.name == c.name) {
                return Err(self.err(
                    format!("calendars[{i}].name"),
                    Some(span),
                    format!("calendar \"{}\" is defined twice", c.name),
                ));
            }
            let cal = Calendar {
                name: c.name,
                weekdays: c.weekdays.into_iter().map(|w| w.0).collect(),
                hours: c.hours,
                holidays: c.holidays.into_iter().map(|d| d.0).collect::<BTreeSet<_>>(),
                workdays: c.workdays.into_iter().map(|d| d.0).collect::<BTreeSet<_>>(),
            };
            if !cal.has_working_time() {
                return Err(self.err(
                    format!("calendars[{i}]"),
                    Some(span),
                    format!(
                        "calendar \"{}\" has no working time (no weekdays/workdays or no hours); a rule using it could never expedite",
                        cal.name
                    ),
                ));
            }
            calendars.push(cal);
        }
        let calendar_index: HashMap<String, usize> = calendars
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();

        // [[rules]]
        let known_teams: HashSet<&str> = users.iter().filter_map(|u| u.team.as_deref()).collect();
        let mut rules: Vec<Rule> = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let rule_span = r.span();
            let r = r.into_inner();
            let key = |k: &str| format!("rules[{i}].{k}");
            let name = r.name.trim().to_owned();
            if name.is_empty() {
                return Err(self.err(key("name"), Some(rule_span), "rule name is empty"));
            }
            if rules.iter().any(|x| x.name == name) {
                return Err(self.err(
                    key("name"),
                    Some(rule_span),
                    format!("rule \"{name}\" is defined twice"),
                ));
            }
            for u in &r.users {
                if !users.iter().any(|x| x.id == *u.get_ref()) {
                    return Err(self.err(
                        key("users"),
                        Some(u.span()),
                        format!("rule \"{name}\" names user \"{}\", who is not in [[users]]; add the user or fix the id", u.get_ref()),
                    ));
                }
            }
            for t in &r.teams {
                if !known_teams.contains(t.get_ref().as_str()) {
                    return Err(self.err(
                        key("teams"),
                        Some(t.span()),
                        format!("rule \"{name}\" names team \"{}\", which no user in [[users]] belongs to", t.get_ref()),
                    ));
                }
            }
            let api_ids = match r.api_ids {
                None => None,
                Some(ids) => {
                    let span = ids.span();
                    let mut ids: Vec<String> = ids
                        .into_inner()
                        .into_iter()
                        .map(|s| s.trim().to_owned())
                        .collect();
                    ids.sort();
                    ids.dedup();
                    if ids.is_empty() || ids.iter().any(|s| s.is_empty()) {
                        return Err(self.err(key("api_ids"), Some(span), "api_ids must list 1 to 100 non-empty flow api ids (or be left out for every flow)"));
                    }
                    if ids.len() > 100 {
                        return Err(self.err(
                            key("api_ids"),
                            Some(span),
                            format!(
                                "{} api_ids; Feishu accepts at most 100 per listing",
                                ids.len()
                            ),
                        ));
                    }
                    Some(ids)
                }
            };
            let max_times = match (&r.repeat, &r.max_times) {
                (_, Some(m)) => {
                    let v = *m.get_ref();
                    if !(0..=1000).contains(&v) {
                        return Err(self.err(key("max_times"), Some(m.span()), format!("{v} is out of range; use 0..=1000 (0 = never expedite what this rule matches)")));
                    }
                    v as u32
                }
                (Some(_), None) => {
                    return Err(self.err(
                        key("repeat"),
                        Some(rule_span),
                        format!("rule \"{name}\" has repeat but no max_times; say how many expedites at most (max_times = 3)"),
                    ));
                }
                (None, None) => 1,
            };
            if let Some(rep) = &r.repeat
                && rep.0.is_zero()
            {
                return Err(self.err(
                    key("repeat"),
                    Some(rule_span),
                    "repeat must be above 0s; leave it out to expedite once",
                ));
            }
            let calendar = match &r.calendar {
                None => None,
                Some(c) => match calendar_index.get(c.get_ref()) {
                    Some(idx) => Some(*idx),
                    None => {
                        let known: Vec<&str> = calendars.iter().map(|c| c.name.as_str()).collect();
                        return Err(self.err(
                            key("calendar"),
                            Some(c.span()),
                            format!(
                                "rule \"{name}\" uses calendar \"{}\", which is not defined; define it in [[calendars]] (known: {})",
                                c.get_ref(),
                                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                            ),
                        ));
                    }
                },
            };
            let age_clock = match &r.age_clock {
                None => AgeClock::Wall,
                Some(a) => match a.get_ref() {
                    AgeClockName::Wall => AgeClock::Wall,
                    AgeClockName::Working => {
                        if calendar.is_none() {
                            return Err(self.err(
                                key("age_clock"),
                                Some(a.span()),
                                format!(
                                    "rule \"{name}\": age_clock = \"working\" needs a calendar"
                                ),
                            ));
                        }
                        AgeClock::Working
                    }
                },
            };
            let rule_operator = r
                .operator_user_id
                .as_deref()
                .map(parse_operator)
                .transpose()
                .map_err(|m| self.err(key("operator_user_id"), Some(rule_span.clone()), m))?;
            let Some(operator) = rule_operator.or_else(|| operator.clone()) else {
                return Err(self.err(
                    key("operator_user_id"),
                    Some(rule_span),
                    format!("rule \"{name}\" has no operator: set operator_user_id in the rule or in [expedite]"),
                ));
            };
            let opinion = match r.opinion {
                Some(o) => o,
                None => OpinionTemplate::parse(DEFAULT_OPINION).expect("default opinion is valid"),
            };
            if r.after.0.is_zero() {
                warnings.push(format!(
                    "rule \"{name}\": after = 0s expedites a task as soon as it is seen"
                ));
            }
            if max_times == 0 {
                warnings.push(format!(
                    "rule \"{name}\": max_times = 0 — the tasks it matches are never expedited (an exclusion rule)"
                ));
            }
            rules.push(Rule {
                name,
                users: r.users.into_iter().map(|s| s.into_inner()).collect(),
                teams: r.teams.into_iter().map(|s| s.into_inner()).collect(),
                api_ids,
                label: r.label.as_deref().map(LabelGlob::new),
                after: r.after.0,
                repeat: r.repeat.map(|d| d.0),
                max_times,
                calendar,
                age_clock,
                opinion,
                operator,
            });
        }
        for (b, later) in rules.iter().enumerate() {
            if let Some(earlier) = rules[..b].iter().find(|a| a.shadows(later)) {
                warnings.push(format!(
                    "rule \"{}\" is fully shadowed by the earlier rule \"{}\": every task it matches is owned by \"{}\"; move it up or narrow the earlier one",
                    later.name, earlier.name, earlier.name
                ));
            }
        }
        if rules.is_empty() {
            warnings.push(
                "no [[rules]]: tasks are listed and tracked, but nothing is expedited".to_owned(),
            );
        }

        Ok(Config {
            file: self.file.to_owned(),
            feishu,
            schedule: ScheduleConfig {
                cron: raw.schedule.cron,
                timezone: raw.schedule.timezone.0,
            },
            storage: StorageConfig {
                database: raw.storage.database,
                retention: raw.storage.retention.0,
            },
            expedite: ExpediteConfig {
                operator,
                dry_run: raw.expedite.dry_run,
            },
            users,
            calendars,
            rules,
            warnings,
        })
    }
}

fn parse_operator(s: &str) -> Result<Operator, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("operator_user_id is empty; use a kunlun user id or \"initiator\"".to_owned())
    } else if s == "initiator" {
        Ok(Operator::Initiator)
    } else {
        Ok(Operator::User(s.to_owned()))
    }
}

/// A relative `app_secret_file` is looked up in systemd's credentials directory when there is one.
fn resolve_credential_path(p: PathBuf) -> PathBuf {
    if p.is_relative()
        && let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY")
    {
        return Path::new(&dir).join(p);
    }
    p
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[feishu]
app_id = "cli_x"
app_secret = "s3cret"

[expedite]
operator_user_id = "7000"

[[users]]
id = "u1"
team = "finance"

[[rules]]
name = "all"
after = "24h"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/expediter/config.toml"), false)
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.feishu.base_url, "https://open.feishu.cn");
        assert_eq!(c.feishu.requests_per_minute, 100);
        assert_eq!(c.feishu.request_timeout, Duration::from_secs(10));
        assert_eq!(c.schedule.cron.expr, "0 */10 * * * *");
        assert_eq!(c.schedule.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(c.rules[0].max_times, 1);
        assert_eq!(c.rules[0].operator, Operator::User("7000".into()));
        assert!(!c.expedite.dry_run);
    }

    #[test]
    fn errors_name_key_and_position() {
        // (case, config text, expected key, expected line, message fragment)
        type Case<'a> = (&'a str, String, Option<&'a str>, Option<usize>, &'a str);
        let cases: &[Case] = &[
            (
                "syntax",
                MINIMAL.replace("after = \"24h\"", "after = \"24h"),
                None,
                Some(15),
                "TOML syntax",
            ),
            (
                "unknown key",
                MINIMAL.replace("team = \"finance\"", "team = \"finance\"\nteem = 1"),
                Some("users[0].teem"),
                Some(12),
                "unknown field",
            ),
            (
                "missing app_id",
                MINIMAL.replace("app_id = \"cli_x\"\n", ""),
                Some("feishu.app_id"),
                Some(2),
                "missing field `app_id`",
            ),
            (
                "bad cron",
                format!("{MINIMAL}\n[schedule]\ncron = \"61 * * * * *\"\ntimezone = \"UTC\"\n"),
                Some("schedule.cron"),
                Some(18),
                "invalid cron",
            ),
            (
                "five-field cron",
                format!("{MINIMAL}\n[schedule]\ncron = \"*/5 * * * *\"\ntimezone = \"UTC\"\n"),
                Some("schedule.cron"),
                Some(18),
                "expected 6",
            ),
            (
                "bad duration",
                MINIMAL.replace("\"24h\"", "\"24 hourz\""),
                Some("rules[0].after"),
                Some(15),
                "invalid duration",
            ),
            (
                "unknown placeholder",
                format!("{MINIMAL}opinion = \"hi {{nope}}\"\n"),
                Some("rules[0].opinion"),
                Some(16),
                "{nope}",
            ),
            (
                "unknown calendar",
                format!("{MINIMAL}calendar = \"office\"\n"),
                Some("rules[0].calendar"),
                Some(16),
                "not defined",
            ),
            (
                "unknown zone",
                format!(
                    "{MINIMAL}\n[schedule]\ncron = \"0 * * * * *\"\ntimezone = \"Mars/Olympus\"\n"
                ),
                Some("schedule.timezone"),
                Some(19),
                "unknown time zone",
            ),
            (
                "unknown user in rule",
                format!("{MINIMAL}users = [\"u9\"]\n"),
                Some("rules[0].users"),
                Some(16),
                "not in [[users]]",
            ),
            (
                "repeat without max_times",
                format!("{MINIMAL}repeat = \"1h\"\n"),
                Some("rules[0].repeat"),
                Some(13),
                "max_times",
            ),
            (
                "no users",
                MINIMAL.replace("[[users]]\nid = \"u1\"\nteam = \"finance\"\n", ""),
                Some("users"),
                None,
                "no [[users]]",
            ),
            (
                "zero rpm",
                MINIMAL.replace(
                    "app_id = \"cli_x\"",
                    "app_id = \"cli_x\"\nrequests_per_minute = 0",
                ),
                Some("feishu.requests_per_minute"),
                Some(4),
                "out of range",
            ),
            (
                "working without calendar",
                format!("{MINIMAL}age_clock = \"working\"\n"),
                Some("rules[0].age_clock"),
                Some(16),
                "needs a calendar",
            ),
        ];
        for (name, text, key, line, fragment) in cases {
            let err = parse(text)
                .err()
                .unwrap_or_else(|| panic!("{name}: expected an error"));
            assert_eq!(err.key.as_deref(), *key, "{name}: {err}");
            assert_eq!(err.position.map(|p| p.0), *line, "{name}: {err}");
            assert!(err.to_string().contains(fragment), "{name}: {err}");
            assert!(
                err.to_string().contains("/etc/expediter/config.toml"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn edge_values_have_documented_meanings() {
        let c = parse(&format!("{MINIMAL}max_times = 0\n")).unwrap();
        assert_eq!(c.rules[0].max_times, 0);
        assert!(c.warnings.iter().any(|w| w.contains("exclusion")));
        let c = parse(&MINIMAL.replace("\"24h\"", "\"0s\"")).unwrap();
        assert!(c.rules[0].after.is_zero());
        let c = parse(&format!("{MINIMAL}repeat = \"12h\"\nmax_times = 3\n")).unwrap();
        assert_eq!(c.rules[0].repeat, Some(Duration::from_secs(12 * 3600)));
    }

    #[test]
    fn env_secret_wins_and_secret_sources_are_exclusive() {
        let c = Config::parse(MINIMAL, Path::new("c.toml"), true).unwrap();
        assert!(matches!(c.feishu.app_secret, SecretSource::Env));
        let both = MINIMAL.replace(
            "app_secret = \"s3cret\"",
            "app_secret = \"a\"\napp_secret_file = \"/x\"",
        );
        assert!(parse(&both).unwrap_err().message.contains("both"));
        let none = MINIMAL.replace("app_secret = \"s3cret\"\n", "");
        let c = parse(&none).unwrap();
        if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
            assert!(
                c.feishu
                    .app_secret
                    .resolve()
                    .unwrap_err()
                    .contains("no app secret")
            );
        }
    }

    #[test]
    fn secret_never_in_debug_output() {
        let c = parse(MINIMAL).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn shadowed_rules_are_warned_about() {
        // (earlier rule, later rule, shadowed?)
        let cases = [
            ("after = \"1h\"", "after = \"2h\"", true),
            (
                "after = \"1h\"\nteams = [\"finance\"]",
                "after = \"2h\"",
                false,
            ),
            (
                "after = \"1h\"\nteams = [\"finance\"]",
                "after = \"2h\"\nteams = [\"finance\"]\nlabel = \"报销*\"",
                true,
            ),
            ("after = \"1h\"\nlabel = \"报销*\"", "after = \"2h\"", false),
            (
                "after = \"1h\"\napi_ids = [\"a\"]",
                "after = \"2h\"\napi_ids = [\"a\"]",
                true,
            ),
            (
                "after = \"1h\"\napi_ids = [\"a\"]",
                "after = \"2h\"\napi_ids = [\"b\"]",
                false,
            ),
            (
                "after = \"1h\"\nusers = [\"u1\"]",
                "after = \"2h\"\nteams = [\"finance\"]",
                false,
            ),
        ];
        for (a, b, shadowed) in cases {
            let text = MINIMAL.replace("[[rules]]\nname = \"all\"\nafter = \"24h\"\n", "")
                + &format!("[[rules]]\nname = \"a\"\n{a}\n\n[[rules]]\nname = \"b\"\n{b}\n");
            let c = parse(&text).unwrap();
            let warned = c
                .warnings
                .iter()
                .any(|w| w.contains("\"b\" is fully shadowed by the earlier rule \"a\""));
            assert_eq!(warned, shadowed, "{a} / {b}: {:?}", c.warnings);
        }
    }

    #[test]
    fn label_glob_matches_any_language() {
        let c = parse(&format!("{MINIMAL}label = \"报销*\"\n")).unwrap();
        let u = &c.users[0];
        let zh = vec![
            ("1033".to_owned(), "Expense".to_owned()),
            ("2052".to_owned(), "报销单 #12".to_owned()),
        ];
        let other = vec![("1033".to_owned(), "Leave".to_owned())];
        assert!(c.rules[0].selects(u, &zh));
        assert!(!c.rules[0].selects(u, &other));
    }

    #[test]
    fn cron_fire_times_follow_dst() {
        use chrono::{Offset, TimeZone};
        let cron = CronSchedule::parse("0 0 9 * * *").unwrap();
        let tz: Tz = "America/New_York".parse().unwrap();
        // New York moves from UTC-5 to UTC-4 in the night to 2026-03-08.
        let start = tz.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        let times = cron.next_fire_times(start, 3);
        assert_eq!(times.len(), 3);
        for t in &times {
            assert_eq!(t.format("%H:%M").to_string(), "09:00", "{t}");
            assert_eq!(t.offset().fix().local_minus_utc(), -4 * 3600, "{t}");
        }
    }
}
