//! From the file as written to a [`Config`]: every value checked once, every error located
//! (file, key, line and column) and saying what to do.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use std::path::{Path, PathBuf};
use toml::Spanned;

use super::raw::*;
use super::secret::{SecretSource, digest_env_var};
use super::*;
use crate::domain::calendar::Calendar;
use crate::domain::opinion::OpinionTemplate;
use crate::domain::rule::{Escalation, LabelGlob};
use crate::secret::Secret;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a Path,
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

    pub(super) fn deserialize(&self) -> Result<RawConfig, ConfigError> {
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
        let users = self.users(raw.users)?;
        let calendars = self.calendars(raw.calendars)?;
        let metrics = self.metrics(&raw.metrics, &mut warnings)?;
        let digests = self.digests(raw.digests, &users, &calendars)?;
        let rules = self.rules(
            raw.rules,
            &users,
            &calendars,
            operator.as_ref(),
            &mut warnings,
        )?;
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
                max_per_user_per_day: self.daily_cap(&raw.expedite)?,
            },
            users,
            calendars,
            rules,
            metrics,
            digests,
            warnings,
        })
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
    fn users(&self, raw: Vec<Spanned<RawUser>>) -> Result<Vec<User>, ConfigError> {
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        for (i, u) in raw.into_iter().enumerate() {
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

    /// `[[digests]]`: summary cards to group chats.
    fn digests(
        &self,
        raw: Vec<Spanned<RawDigest>>,
        users: &[User],
        calendars: &[Calendar],
    ) -> Result<Vec<Digest>, ConfigError> {
        let mut out: Vec<Digest> = Vec::new();
        for (i, d) in raw.into_iter().enumerate() {
            let span = d.span();
            let d = d.into_inner();
            let key = |k: &str| format!("digests[{i}].{k}");
            let name = d.name.trim().to_owned();
            if name.is_empty() {
                return Err(self.err(key("name"), Some(span), "digest name is empty"));
            }
            if out.iter().any(|x| x.name == name) {
                return Err(self.err(
                    key("name"),
                    Some(span),
                    format!("digest \"{name}\" is defined twice"),
                ));
            }
            for u in &d.users {
                if !users.iter().any(|x| x.id == *u.get_ref()) {
                    return Err(self.err(
                        key("users"),
                        Some(u.span()),
                        format!(
                            "digest \"{name}\" names user \"{}\", who is not in [[users]]",
                            u.get_ref()
                        ),
                    ));
                }
            }
            for t in &d.teams {
                if !users
                    .iter()
                    .any(|x| x.team.as_deref() == Some(t.get_ref().as_str()))
                {
                    return Err(self.err(key("teams"), Some(t.span()), format!("digest \"{name}\" names team \"{}\", which no user in [[users]] belongs to", t.get_ref())));
                }
            }
            let calendar = match &d.calendar {
                None => None,
                Some(c) => Some(calendars.iter().position(|x| x.name == *c.get_ref()).ok_or_else(|| {
                    self.err(key("calendar"), Some(c.span()), format!("digest \"{name}\" uses calendar \"{}\", which is not defined in [[calendars]]", c.get_ref()))
                })?),
            };
            let table = format!("digests[{i}]");
            let url_var = digest_env_var(&name, "WEBHOOK_URL");
            let sign_var = digest_env_var(&name, "SIGN_SECRET");
            let set = |v: &str| std::env::var(v).is_ok_and(|v| !v.trim().is_empty());
            let webhook = self
                .secret(
                    &table,
                    "webhook_url",
                    &url_var,
                    set(&url_var),
                    d.webhook_url,
                    d.webhook_url_file,
                    Some(&format!("{name}_webhook")),
                )?
                .expect("a credential is the fallback");
            let sign = self.secret(
                &table,
                "sign_secret",
                &sign_var,
                set(&sign_var),
                d.sign_secret,
                d.sign_secret_file,
                None,
            )?;
            out.push(Digest {
                name,
                cron: d.cron,
                webhook,
                sign,
                users: d.users.into_iter().map(|s| s.into_inner()).collect(),
                teams: d.teams.into_iter().map(|s| s.into_inner()).collect(),
                min_age: d.min_age.map(|m| m.0).unwrap_or_default(),
                calendar,
            });
        }
        Ok(out)
    }

    /// `[metrics] listen`: an address and port, e.g. 127.0.0.1:9464.
    fn metrics(
        &self,
        m: &RawMetrics,
        warnings: &mut Vec<String>,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let Some(listen) = &m.listen else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = listen.get_ref().trim().parse().map_err(|_| {
            self.err(
                "metrics.listen",
                Some(listen.span()),
                format!(
                    "\"{}\" is not an address and port; write it like \"127.0.0.1:9464\"",
                    listen.get_ref()
                ),
            )
        })?;
        if !addr.ip().is_loopback() {
            warnings.push(format!(
                "metrics.listen = \"{addr}\" serves /metrics beyond this machine; anyone who can reach it can read task counts and rule names"
            ));
        }
        Ok(Some(addr))
    }

    /// `[expedite] max_per_user_per_day`: 0 means no cap.
    fn daily_cap(&self, e: &RawExpedite) -> Result<u32, ConfigError> {
        let Some(cap) = &e.max_per_user_per_day else {
            return Ok(0);
        };
        let v = *cap.get_ref();
        if !(0..=10_000).contains(&v) {
            return Err(self.err(
                "expedite.max_per_user_per_day",
                Some(cap.span()),
                format!("{v} is out of range; use 0..=10000 (0 = no daily cap)"),
            ));
        }
        Ok(v as u32)
    }

    /// `[rules.escalate]` of rule `i`.
    fn escalation(
        &self,
        i: usize,
        rule: &str,
        e: Spanned<RawEscalate>,
        max_times: u32,
    ) -> Result<Escalation, ConfigError> {
        let key = |k: &str| format!("rules[{i}].escalate.{k}");
        let span = e.span();
        let e = e.into_inner();
        let after = *e.after_times.get_ref();
        if after < 1 {
            return Err(self.err(
                key("after_times"),
                Some(e.after_times.span()),
                format!("{after} is out of range; escalate after 1 or more unanswered expedites"),
            ));
        }
        if after > i64::from(max_times) {
            return Err(self.err(
                key("after_times"),
                Some(e.after_times.span()),
                format!(
                    "rule \"{rule}\" would never escalate: after_times = {after} but max_times = {max_times}; lower after_times or raise max_times"
                ),
            ));
        }
        let mut cc = Vec::new();
        for c in &e.cc {
            let who = parse_operator(c.get_ref()).map_err(|_| {
                self.err(
                    key("cc"),
                    Some(c.span()),
                    "a cc entry is empty; use a kunlun user id or \"initiator\"",
                )
            })?;
            if !cc.contains(&who) {
                cc.push(who);
            }
        }
        if cc.is_empty() && !e.chat {
            return Err(self.err(
                format!("rules[{i}].escalate"),
                Some(span),
                format!("rule \"{rule}\": escalate does nothing; list people in cc, set chat = true, or both"),
            ));
        }
        let chat_name = match e.chat_name {
            Some(t) => t,
            None => OpinionTemplate::parse(DEFAULT_CHAT_NAME).expect("default chat name is valid"),
        };
        Ok(Escalation {
            after_times: after as u32,
            wait: e.wait.map(|w| w.0).unwrap_or_default(),
            cc,
            chat: e.chat,
            chat_name,
        })
    }

    /// `[[rules]]`, in order, with the warnings a lead should see (shadowed rules, exclusions).
    fn rules(
        &self,
        raw: Vec<Spanned<RawRule>>,
        users: &[User],
        calendars: &[Calendar],
        operator: Option<&Operator>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Rule>, ConfigError> {
        let calendar_index: HashMap<String, usize> = calendars
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let known_teams: HashSet<&str> = users.iter().filter_map(|u| u.team.as_deref()).collect();
        let mut rules: Vec<Rule> = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
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
            let repeat: Vec<Duration> = match &r.repeat {
                None => Vec::new(),
                Some(rep) => {
                    let gaps = &rep.get_ref().0;
                    if gaps.is_empty() {
                        return Err(self.err(
                            key("repeat"),
                            Some(rep.span()),
                            "repeat lists no gap; give one (\"12h\") or a ladder ([\"4h\", \"12h\", \"1d\"]), or leave it out to expedite once",
                        ));
                    }
                    if gaps.iter().any(|g| g.is_zero()) {
                        return Err(self.err(
                            key("repeat"),
                            Some(rep.span()),
                            "every repeat gap must be above 0s; leave repeat out to expedite once",
                        ));
                    }
                    gaps.clone()
                }
            };
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
            let Some(operator) = rule_operator.or_else(|| operator.cloned()) else {
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
            let escalate = match r.escalate {
                None => None,
                Some(e) => Some(self.escalation(i, &name, e, max_times)?),
            };
            rules.push(Rule {
                name,
                users: r.users.into_iter().map(|s| s.into_inner()).collect(),
                teams: r.teams.into_iter().map(|s| s.into_inner()).collect(),
                api_ids,
                label: r.label.as_deref().map(LabelGlob::new),
                after: r.after.0,
                repeat,
                max_times,
                calendar,
                age_clock,
                opinion,
                operator,
                escalate,
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
        Ok(rules)
    }
}

impl Validator<'_> {
    /// Where a secret comes from: the environment variable `var` (when `env_set`) wins, then
    /// the inline key or its `_file` (one of them), then systemd's credential `credential`
    /// (read at use, so `plan` works without access to it); `None` when none applies.
    #[allow(clippy::too_many_arguments)]
    fn secret(
        &self,
        table: &str,
        key: &str,
        var: &str,
        env_set: bool,
        inline: Option<String>,
        file: Option<PathBuf>,
        credential: Option<&str>,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let full = format!("{table}.{key}");
        Ok(Some(match (env_set, inline, file) {
            (true, _, _) => SecretSource::Env {
                var: var.to_owned(),
            },
            (false, Some(_), Some(_)) => {
                return Err(self.err(
                    full,
                    None,
                    format!("both {key} and {key}_file are set; keep one ({key}_file is safer)"),
                ));
            }
            (false, Some(s), None) => {
                if s.trim().is_empty() {
                    return Err(self.err(full, None, format!("{key} is empty")));
                }
                SecretSource::Inline {
                    key: key.to_owned(),
                    value: Secret::new(s.trim().to_owned()),
                }
            }
            (false, None, Some(p)) => SecretSource::File {
                key: key.to_owned(),
                path: resolve_credential_path(p),
            },
            (false, None, None) => match credential {
                Some(name) => SecretSource::Credential {
                    key: key.to_owned(),
                    name: name.to_owned(),
                    var: var.to_owned(),
                },
                None => return Ok(None),
            },
        }))
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
