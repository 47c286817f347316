//! From the file as written to a [`Config`]: every value checked once, every error located
//! (file, key, line and column) and saying what to do. The sections are checked here (feishu,
//! users, calendars) and beside it: `rules` (rules, escalation, the daily cap) and `outputs`
//! (digests, metrics, secrets).

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::raw::*;
use super::*;
use crate::domain::calendar::Calendar;
use crate::store::Database;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a Path,
}

impl Validator<'_> {
    pub(super) fn err(
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

    pub(super) fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
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

    pub(super) fn validate(&self, raw: RawConfig, env_secret: bool) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let feishu = self.feishu(raw.feishu, env_secret, &mut warnings)?;
        let operator = self.default_operator(&raw.expedite)?;
        // With teams, the file may watch nobody itself: each team's document does.
        let users = self.users(raw.users, raw.teams.is_empty())?;
        let calendars = self.calendars(raw.calendars)?;
        let metrics = self.metrics(&raw.metrics, &mut warnings)?;
        let team_names: Vec<String> = raw
            .teams
            .iter()
            .map(|t| t.get_ref().name.get_ref().trim().to_owned())
            .collect();
        let digests = self.digests(
            raw.digests,
            &users,
            &team_names,
            &calendars,
            None,
            &mut warnings,
        )?;
        let language = self.language(&raw.expedite)?;
        let operator_names = self.operator_names(&raw.expedite, &raw.rules);
        let mut away = match &raw.away {
            Some(away) => self.away(away)?,
            None => AwayConfig::default(),
        };
        away.opinion = away.opinion.in_language(language);
        let admins = raw
            .console
            .as_ref()
            .and_then(|c| c.get_ref().admins.clone());
        let mut console = match raw.console {
            Some(c) => Some(self.console(c, &mut warnings)?),
            None => None,
        };
        let teams = self.teams(raw.teams, &users, &mut warnings)?;
        self.roles(admins, console.as_mut(), &teams)?;
        let bot = self.bot(raw.bot, console.as_ref())?;
        if bot.is_some() {
            self.bot_people(console.as_ref(), &teams)?;
        }
        if bot.is_none()
            && let Some(i) = digests.iter().position(|d| d.bot.is_some())
        {
            return Err(self.err(
                format!("digests[{i}].via"),
                None,
                format!(
                    "digest \"{}\" goes through the app's bot, but [bot] is not enabled: add \
                     [bot] enabled = true",
                    digests[i].name
                ),
            ));
        }
        let rules = self.rules(
            raw.rules,
            &users,
            &team_names,
            &calendars,
            operator.as_ref(),
            &mut warnings,
        )?;
        let rules = in_language(rules, language);
        let base = std::sync::Arc::new(FileParts {
            users: users.clone(),
            rules: rules.clone(),
            digests: digests.clone(),
            warnings: warnings.clone(),
        });
        let rules = in_order(Vec::new(), rules);
        Ok(Config {
            base,
            documents: Vec::new(),
            operator_names,
            file: self.file.to_owned(),
            feishu,
            schedule: ScheduleConfig {
                cron: raw.schedule.cron,
                timezone: raw.schedule.timezone.0,
                listing: raw.schedule.listing,
                follow_up: self.follow_up(raw.schedule.follow_up.0)?,
            },
            storage: StorageConfig {
                database: self.database(raw.storage.database)?,
                retention: raw.storage.retention.0,
                lease: self.lease(raw.storage.lease.0)?,
                audit_keep: raw.storage.audit_keep.0,
            },
            expedite: ExpediteConfig {
                operator,
                dry_run: raw.expedite.dry_run,
                max_per_user_per_day: self.daily_cap(&raw.expedite)?,
                language,
            },
            users,
            calendars,
            rules,
            metrics,
            digests,
            console,
            bot,
            away,
            teams,
            warnings,
        })
    }

    /// Each `operator_name` with the `operator_user_id` beside it (`[expedite]`, then rules).
    fn operator_names(&self, e: &RawExpedite, rules: &[Spanned<RawRule>]) -> Vec<(String, String)> {
        let pairs = std::iter::once((&e.operator_user_id, &e.operator_name)).chain(
            rules
                .iter()
                .map(|r| (&r.get_ref().operator_user_id, &r.get_ref().operator_name)),
        );
        let mut out: Vec<(String, String)> = Vec::new();
        for (id, name) in pairs {
            if let (Some(id), Some(name)) = (id, name) {
                let (id, name) = (id.trim(), name.trim());
                if !id.is_empty() && !name.is_empty() && !out.iter().any(|(i, _)| i == id) {
                    out.push((id.to_owned(), name.to_owned()));
                }
            }
        }
        out
    }

    /// `[expedite] language`: `zh-CN` (default) or `en`.
    fn language(&self, e: &RawExpedite) -> Result<crate::i18n::Lang, ConfigError> {
        match &e.language {
            None => Ok(crate::i18n::Lang::default()),
            Some(l) => l
                .get_ref()
                .trim()
                .parse()
                .map_err(|m| self.err("expedite.language", Some(l.span()), m)),
        }
    }

    /// `[schedule] follow_up`: at least a minute (a listing costs an API call).
    fn follow_up(&self, d: Duration) -> Result<Duration, ConfigError> {
        self.at_least(
            "schedule.follow_up",
            d,
            "1m",
            "it is how often a reminded assignee is listed again",
        )
    }

    /// `[storage] lease`: long enough to renew (a third of it) over a slow network.
    fn lease(&self, d: Duration) -> Result<Duration, ConfigError> {
        self.at_least(
            "storage.lease",
            d,
            "3s",
            "the active instance renews it every third of it",
        )
    }

    /// `d`, unless it is shorter than `min` (humantime), which `why` explains.
    fn at_least(
        &self,
        key: &str,
        d: Duration,
        min: &str,
        why: &str,
    ) -> Result<Duration, ConfigError> {
        let floor = humantime::parse_duration(min).expect("a valid minimum");
        if d < floor {
            return Err(self.err(key, None, format!("must be at least {min}: {why}")));
        }
        Ok(d)
    }

    /// `[storage] database`: a file path is SQLite, a `postgres://` or `postgresql://` URL is
    /// PostgreSQL — checked to be readable as one here, so a typo is a config error.
    fn database(&self, path: PathBuf) -> Result<Database, ConfigError> {
        let db = Database::parse(&path.to_string_lossy());
        if let Database::Postgres(url) = &db
            && let Err(e) = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)
        {
            // The driver's message may quote the URL: shown redacted, never as given.
            let e = e.to_string().replace(url.as_str(), &db.to_string());
            return Err(self.err(
                "storage.database",
                None,
                format!("not a PostgreSQL URL ({db}): {e}"),
            ));
        }
        Ok(db)
    }

    /// `[feishu]`: where and how to call.
    fn feishu(
        &self,
        f: RawFeishu,
        env_secret: bool,
        warnings: &mut Vec<String>,
    ) -> Result<FeishuConfig, ConfigError> {
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
        let app_secret = self
            .secret(
                "feishu",
                "app_secret",
                SECRET_ENV,
                env_secret,
                f.app_secret,
                f.app_secret_file,
                Some("app_secret"),
            )?
            .expect("a credential is the fallback");
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
        Ok(FeishuConfig {
            base_url,
            app_id,
            app_secret,
            requests_per_minute: rpm as u32,
            request_timeout: f.request_timeout.0,
            max_retries: max_retries as u32,
            retry_backoff: f.retry_backoff.0,
        })
    }

    /// `[expedite] operator_user_id`: who expedites when a rule does not say.
    fn default_operator(&self, e: &RawExpedite) -> Result<Option<Operator>, ConfigError> {
        e.operator_user_id
            .as_deref()
            .map(parse_operator)
            .transpose()
            .map_err(|m| self.err("expedite.operator_user_id", None, m))
    }

    /// `[[users]]`: whose tasks are watched.
    pub(super) fn users(
        &self,
        raw: Vec<Spanned<RawUser>>,
        required: bool,
    ) -> Result<Vec<User>, ConfigError> {
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        for (i, u) in raw.into_iter().enumerate() {
            let span = u.span();
            let u = u.into_inner();
            let id = crate::domain::id::check_id("user id", u.id.get_ref())
                .map_err(|m| self.err(format!("users[{i}].id"), Some(u.id.span()), m))?;
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
        if users.is_empty() && required {
            return Err(self.err(
                "users",
                None,
                "no [[users]]: add at least one user whose pending tasks are watched",
            ));
        }
        Ok(users)
    }

    /// `[[calendars]]`: working hours, holidays and make-up days.
    fn calendars(&self, raw: Vec<Spanned<RawCalendar>>) -> Result<Vec<Calendar>, ConfigError> {
        let mut calendars = Vec::new();
        for (i, c) in raw.into_iter().enumerate() {
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
        Ok(calendars)
    }
}

pub(super) fn parse_operator(s: &str) -> Result<Operator, String> {
    if s.trim().is_empty() {
        Err("operator_user_id is empty; use a kunlun user id or \"initiator\"".to_owned())
    } else if s.trim() == "initiator" {
        Ok(Operator::Initiator)
    } else {
        crate::domain::id::check_id("operator_user_id", s).map(Operator::User)
    }
}

/// A relative `*_file` is looked up in systemd's credentials directory when there is one, and
/// beside the config file otherwise: that is where the unit's `LoadCredential=NAME:/etc/expediter/NAME`
/// takes it from, so `check` run by hand reads the file the service is handed.
pub(super) fn resolve_credential_path(p: PathBuf, config: &Path) -> PathBuf {
    if p.is_relative() {
        return match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => Path::new(&dir).join(p),
            None => config_dir(config).join(p),
        };
    }
    p
}

/// The directory a config file is in (`.` for a bare file name).
pub(super) fn config_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The rules' texts said in `lang`: the opinion's and the chat name's `{age}`.
pub(super) fn in_language(mut rules: Vec<Rule>, lang: crate::i18n::Lang) -> Vec<Rule> {
    for r in &mut rules {
        r.opinion = r.opinion.clone().in_language(lang);
        if let Some(e) = &mut r.escalate {
            e.chat_name = e.chat_name.clone().in_language(lang);
        }
    }
    rules
}
