//! Configuration: the TOML file as written, and the validated [`Config`] the rest of the
//! program works with. Everything is checked here once; nothing downstream re-checks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;

use crate::domain::Policy;
use crate::domain::calendar::Calendar;
pub use crate::domain::rule::{AgeClock, Escalation, LabelGlob, Operator, Rule, User};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/expediter/config.toml";
pub const SECRET_ENV: &str = "EXPEDITER_APP_SECRET";
const DEFAULT_BASE_URL: &str = "https://open.feishu.cn";
const DEFAULT_CRON: &str = "0 */10 * * * *";
const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";
const DEFAULT_DATABASE: &str = "/var/lib/expediter/expediter.db";
pub const DEFAULT_OPINION: &str = "「{label}」已等待 {age}，请尽快处理（第 {n} 次催办）";
pub const DEFAULT_CHAT_NAME: &str = "催办：{label}";

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
    /// `[metrics] listen`: where `/metrics` is served; `None` = off.
    pub metrics: Option<std::net::SocketAddr>,
    pub digests: Vec<Digest>,
    /// `[console]`: the web console `run` serves; `None` = off.
    pub console: Option<ConsoleConfig>,
    /// `[bot]`, when enabled: the app's bot and its long connection.
    pub bot: Option<BotConfig>,
    /// `[away]`: what happens to the tasks of someone away.
    pub away: AwayConfig,
    /// `[[teams]]`: who leads or views each team on the console.
    pub teams: Vec<Team>,
    /// Things that are legal but probably not what the lead meant.
    pub warnings: Vec<String>,
    /// What the file itself watches, with its rules and digests (before team documents).
    pub base: std::sync::Arc<FileParts>,
    /// The team documents in force, one per team that has one.
    pub documents: Vec<DocumentInUse>,
    /// `operator_name` beside an `operator_user_id`: (id, name).
    pub operator_names: Vec<(String, String)>,
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

/// `[away]`: what happens to an away user's tasks.
#[derive(Debug, Clone)]
pub struct AwayConfig {
    pub deputy_action: DeputyAction,
    /// The opinion a move carries: the rules' placeholders plus `{deputy}` and `{until}`.
    pub opinion: crate::domain::opinion::OpinionTemplate,
    /// `deputy_after`: how long after a task is moved to someone their first reminder comes;
    /// `None`: the rule's `after`.
    pub deputy_after: Option<Duration>,
}

/// `[away] deputy_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeputyAction {
    /// Hold their reminders only.
    None,
    /// Transfer each task that falls due to the deputy.
    Transfer,
    /// Add the deputy beside them on each task that falls due.
    AddAssignee,
}

impl DeputyAction {
    /// The call a move makes, when the action moves anything.
    pub fn kind(self) -> Option<crate::domain::CallKind> {
        match self {
            DeputyAction::None => None,
            DeputyAction::Transfer => Some(crate::domain::CallKind::Transfer),
            DeputyAction::AddAssignee => Some(crate::domain::CallKind::AddAssignee),
        }
    }
}

/// The opinion a move to a deputy carries unless `[away] opinion` says otherwise: transfer
/// (转交), add_assignee (加签).
pub const DEFAULT_AWAY_OPINION: &str = "{user} 不在（至 {until}），已转给 {deputy}";
pub const DEFAULT_AWAY_ADD_OPINION: &str = "{user} 不在（至 {until}），已加签 {deputy}";

impl Default for AwayConfig {
    fn default() -> Self {
        AwayConfig {
            deputy_action: DeputyAction::None,
            opinion: crate::domain::opinion::OpinionTemplate::parse_with(
                DEFAULT_AWAY_OPINION,
                &["deputy", "until"],
            )
            .expect("the default away opinion is valid"),
            deputy_after: None,
        }
    }
}

/// `[console]`: where the console listens, how people sign in, how long a session lasts.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub listen: std::net::SocketAddr,
    /// How people reach it, without a trailing slash: links in digest cards, the sign-in
    /// redirect. `None`: links are not made, and sign-in with Feishu is not possible.
    pub public_url: Option<String>,
    pub sign_in: SignIn,
    /// The console's token: the sign-in form's (`sign_in = "token"`) and the API's Bearer.
    pub token: Option<SecretSource>,
    pub session: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or networks).
    pub trusted_proxies: Vec<Network>,
    /// open_ids or emails who see and do everything (empty with no role set: everyone
    /// admitted is an admin).
    pub admins: Vec<String>,
}

/// An address or a network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (
                a.parse::<std::net::IpAddr>().ok()?,
                Some(p.parse::<u8>().ok()?),
            ),
            None => (text.trim().parse().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Network { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl ConsoleConfig {
    /// Cookies are `Secure` when people reach the console over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// How a person signs in to the console.
#[derive(Debug, Clone, PartialEq)]
pub enum SignIn {
    /// Sign in with Feishu (OAuth through `[feishu]`'s app); admitted when the open_id or the
    /// email is in `allow` (`"*"`: anyone the app admits).
    Feishu {
        allow: Vec<String>,
        accounts_url: String,
    },
    /// A form takes the token.
    Token,
}

/// A `[[digests]]` entry: a summary card posted to a group chat through a custom bot.
#[derive(Debug, Clone)]
pub struct Digest {
    pub name: String,
    pub cron: CronSchedule,
    /// The custom bot's webhook URL: a secret (the URL is the credential); `None` when the
    /// digest goes through the app's bot (`bot`).
    pub webhook: Option<SecretSource>,
    /// `via = "bot"`: sent by the app's bot, with buttons, to a chat or to each lead.
    pub bot: Option<BotTo>,
    /// The bot's signing secret, when it has one.
    pub sign: Option<SecretSource>,
    /// Whose tasks; both empty = every watched user.
    pub users: Vec<String>,
    pub teams: Vec<String>,
    pub min_age: std::time::Duration,
    /// Index into [`Config::calendars`]: post only on its working days.
    pub calendar: Option<usize>,
    /// A fire time missed (by a restart or a failover) by at most this is posted once, late.
    pub catch_up: std::time::Duration,
}

/// `[[digests]] catch_up` unless set.
pub const DEFAULT_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Digest {
    /// Does this digest show `user`'s tasks?
    pub fn selects(&self, user: &User) -> bool {
        crate::domain::rule::selects(&self.users, &self.teams, user)
    }
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub cron: CronSchedule,
    pub timezone: Tz,
    /// Which users a tick of `run` lists.
    pub listing: ListingMode,
    /// Under `auto`: a reminded assignee is listed at least this often.
    pub follow_up: Duration,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// A file path (SQLite) or a PostgreSQL URL.
    pub database: crate::store::Database,
    pub retention: Duration,
    /// PostgreSQL only: how long the active instance's lease lasts unrenewed.
    pub lease: Duration,
    /// How long the audit trail is kept (never shortened by `retention`).
    pub audit_keep: Duration,
}

#[derive(Debug, Clone)]
pub struct ExpediteConfig {
    pub operator: Option<Operator>,
    pub dry_run: bool,
    /// No assignee gets more reminders than this per calendar day (schedule zone); 0 = no cap.
    pub max_per_user_per_day: u32,
    /// `[expedite] language`: what `{age}` and the digest cards are said in.
    pub language: crate::i18n::Lang,
}

impl Config {
    /// What pages call a person by id: a watched user's `name`, else an `operator_name` given
    /// beside that `operator_user_id` (`[expedite]` or a rule's); `None` when nothing names them.
    pub fn person_name(&self, id: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|u| u.id == id)
            .and_then(|u| u.name.as_deref())
            .or_else(|| {
                self.operator_names
                    .iter()
                    .find(|(op, _)| op == id)
                    .map(|(_, name)| name.as_str())
            })
    }
}

mod bot;
pub use bot::{BotConfig, BotMode, BotTo};
mod console;
pub use console::CONSOLE_TOKEN_ENV;
mod schedule;
pub use schedule::{CronSchedule, Schedule};
mod teams;
pub use teams::{Team, TeamWebhook, names_person};
mod documents;
use documents::in_order;
pub use documents::{DocumentInUse, FileParts, TeamDocument};
mod outputs;
mod raw;
pub use raw::ListingMode;
mod rules;
mod secret;
mod validate;

pub use secret::SecretSource;
use validate::Validator;

// ---------------------------------------------------------------------------------------------
// Loading and validation.

impl Config {
    /// The cycle's schedule: `[schedule] cron` in `[schedule] timezone`.
    pub fn ticks(&self) -> Schedule<'_> {
        Schedule {
            cron: &self.schedule.cron,
            tz: self.schedule.timezone,
        }
    }

    /// A digest's schedule: its cron in `[schedule] timezone`.
    pub fn digest_ticks<'a>(&'a self, digest: &'a Digest) -> Schedule<'a> {
        Schedule {
            cron: &digest.cron,
            tz: self.schedule.timezone,
        }
    }

    /// Every secret read now — the app secret, each digest's webhook URL and signing secret —
    /// and what is wrong with each that cannot be read (for `check` and at start, so a missing
    /// file is found before the first post needs it).
    pub fn secret_errors(&self) -> Vec<ConfigError> {
        let mut sources = vec![("feishu.app_secret_file".to_owned(), &self.feishu.app_secret)];
        for (i, d) in self.digests.iter().enumerate() {
            if let Some(webhook) = &d.webhook {
                sources.push((format!("digests[{i}].webhook_url_file"), webhook));
            }
            if let Some(sign) = &d.sign {
                sources.push((format!("digests[{i}].sign_secret_file"), sign));
            }
        }
        if let Some(token) = self.console.as_ref().and_then(|c| c.token.as_ref()) {
            sources.push(("console.token_file".to_owned(), token));
        }
        if let Some(BotMode::Http {
            encrypt_key,
            verification_token,
        }) = self.bot.as_ref().map(|b| &b.mode)
        {
            sources.push(("bot.encrypt_key_file".to_owned(), encrypt_key));
            sources.push(("bot.verification_token_file".to_owned(), verification_token));
        }
        sources
            .into_iter()
            .filter_map(|(key, source)| {
                source.resolve().err().map(|message| ConfigError {
                    file: self.file.clone(),
                    key: Some(key),
                    position: None,
                    message,
                })
            })
            .collect()
    }

    /// The rules with what they refer to, for decisions.
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            rules: &self.rules,
            calendars: &self.calendars,
            timezone: self.schedule.timezone,
            deputy_after: self.away.deputy_after,
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
        let raw = v.deserialize()?;
        v.validate(raw, env_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The least a valid config holds (other modules' tests build on it).
    pub(in crate::config) const MINIMAL: &str = r#"
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
    fn the_console_section_is_checked() {
        let with = |console: &str| parse(&format!("{MINIMAL}\n[console]\n{console}\n"));
        let err = |console: &str| with(console).expect_err(console).to_string();
        // Token sign-in by default; the token from the systemd credential console_token.
        let c = with("listen = \"127.0.0.1:9465\"")
            .unwrap()
            .console
            .unwrap();
        assert_eq!(c.sign_in, SignIn::Token);
        assert!(format!("{:?}", c.token).contains("console_token"));
        assert_eq!(c.session, Duration::from_secs(12 * 3600));
        assert!(err("listen = \"nine\"").contains("console.listen"));
        assert!(
            err("listen = \"127.0.0.1:1\"\nsign_in = \"ldap\"")
                .contains("\"ldap\" is not a way to sign in")
        );
        let e = err(
            "listen = \"127.0.0.1:1\"\nsign_in = \"feishu\"\npublic_url = \"https://x.example\"",
        );
        assert!(
            e.contains("console.allow") && e.contains("nobody could sign in"),
            "{e}"
        );
        let e = err("listen = \"127.0.0.1:1\"\nsign_in = \"feishu\"\nallow = [\"*\"]");
        assert!(
            e.contains("console.public_url") && e.contains("/login/feishu/callback"),
            "{e}"
        );
        assert!(
            err("listen = \"127.0.0.1:1\"\npublic_url = \"expediter.corp\"")
                .contains("not a web address")
        );
        assert!(err("listen = \"127.0.0.1:1\"\nsurprise = 1").contains("surprise"));
        assert!(err("listen = \"127.0.0.1:1\"\nsession = \"10s\"").contains("console.session"));
        let c = with("listen = \"127.0.0.1:1\"\nsign_in = \"feishu\"\nallow = [\"*\"]\npublic_url = \"https://x.example/\"").unwrap();
        let console = c.console.unwrap();
        assert_eq!(
            console.public_url.as_deref(),
            Some("https://x.example"),
            "no trailing slash"
        );
        assert!(console.token.is_none(), "Feishu sign-in needs no token");
        assert!(
            matches!(&console.sign_in, SignIn::Feishu { accounts_url, .. } if accounts_url == "https://accounts.feishu.cn")
        );
        // [away]: the action, and its opinion's placeholders checked.
        let away = |a: &str| parse(&format!("{MINIMAL}\n[away]\n{a}\n"));
        assert!(
            away(
                "deputy_action = \"none\"\nopinion = \"{user} 不在（至 {until}），已转给 {deputy}\""
            )
            .is_ok()
        );
        assert_eq!(
            parse(MINIMAL).unwrap().away.deputy_action,
            DeputyAction::None,
            "holding only, by default"
        );
        for (text, want) in [
            ("transfer", DeputyAction::Transfer),
            ("add_assignee", DeputyAction::AddAssignee),
        ] {
            let got = away(&format!("deputy_action = \"{text}\"")).unwrap();
            assert_eq!(got.away.deputy_action, want);
        }
        let e = away("deputy_action = \"delegate\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("away.deputy_action") && e.contains("\"delegate\" is not one of"),
            "{e}"
        );
        let e = away("opinion = \"{boss}\"").unwrap_err().to_string();
        assert!(e.contains("away.opinion") && e.contains("{boss}"), "{e}");
        // Beyond loopback without https: said.
        let c = with("listen = \"0.0.0.0:9465\"\npublic_url = \"http://x.example\"").unwrap();
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("console.listen") && w.contains("https")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn an_operator_is_named_where_the_config_names_them() {
        let named = MINIMAL.replace(
            "operator_user_id = \"7000\"",
            "operator_user_id = \"7000\"\noperator_name = \"Liu Yang\"",
        );
        let c = parse(&named).unwrap();
        assert_eq!(c.person_name("7000"), Some("Liu Yang"));
        assert_eq!(c.person_name("u1"), None, "a watched user without a name");
        assert_eq!(parse(MINIMAL).unwrap().person_name("7000"), None);
    }

    #[test]
    fn the_language_is_chinese_unless_set() {
        use crate::i18n::Lang;
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.expedite.language, Lang::Zh);
        assert_eq!(c.rules[0].opinion.lang(), Lang::Zh);
        let en = MINIMAL.replace("[expedite]\n", "[expedite]\nlanguage = \"en\"\n");
        let c = parse(&en).unwrap();
        assert_eq!(c.expedite.language, Lang::En);
        assert_eq!(
            c.rules[0].opinion.lang(),
            Lang::En,
            "{{age}} as before: 1d 2h"
        );
        assert_eq!(c.away.opinion.lang(), Lang::En);
        let e = parse(&MINIMAL.replace("[expedite]\n", "[expedite]\nlanguage = \"fr\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expedite.language") && e.contains("\"zh-CN\" or \"en\""),
            "{e}"
        );
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
            (
                "empty ladder",
                format!("{MINIMAL}repeat = []\nmax_times = 3\n"),
                Some("rules[0].repeat"),
                Some(16),
                "repeat lists no gap",
            ),
            (
                "zero step in a ladder",
                format!("{MINIMAL}repeat = [\"4h\", \"0s\"]\nmax_times = 3\n"),
                Some("rules[0].repeat"),
                Some(16),
                "above 0s",
            ),
            (
                "escalation that can never happen",
                format!("{MINIMAL}[rules.escalate]\nafter_times = 2\ncc = [\"7000\"]\n"),
                Some("rules[0].escalate.after_times"),
                Some(17),
                "would never escalate",
            ),
            (
                "escalation that does nothing",
                format!(
                    "{MINIMAL}repeat = \"4h\"\nmax_times = 3\n[rules.escalate]\nafter_times = 2\n"
                ),
                Some("rules[0].escalate"),
                Some(18),
                "escalate does nothing",
            ),
            (
                "unknown escalation key",
                format!(
                    "{MINIMAL}repeat = \"4h\"\nmax_times = 3\n[rules.escalate]\nafter_times = 2\nchat = true\nemail = true\n"
                ),
                Some("rules[0].escalate.email"),
                Some(21),
                "unknown field",
            ),
            (
                "both ways of moving a task",
                format!(
                    "{MINIMAL}repeat = \"4h\"\nmax_times = 3\n[rules.escalate]\nafter_times = 2\ntransfer_to = \"7001\"\nadd_assignee = [\"7002\"]\n"
                ),
                Some("rules[0].escalate.add_assignee"),
                Some(21),
                "not both",
            ),
            (
                "too many people added",
                format!(
                    "{MINIMAL}repeat = \"4h\"\nmax_times = 3\n[rules.escalate]\nafter_times = 2\nadd_assignee = [{}]\n",
                    (0..21)
                        .map(|i| format!("\"{i}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some("rules[0].escalate.add_assignee"),
                Some(20),
                "1 to 20",
            ),
            (
                "a follow-up of 300,000 years (time arithmetic would overflow)",
                format!("[schedule]\nlisting = \"auto\"\nfollow_up = \"300000years\"\n{MINIMAL}"),
                Some("schedule.follow_up"),
                Some(3),
                "a century or more",
            ),
            (
                "a deputy of two people",
                format!(
                    "{MINIMAL}repeat = \"4h\"\nmax_times = 3\n[rules.escalate]\nafter_times = 2\ntransfer_to = \"8302,8303\"\n"
                ),
                Some("rules[0].escalate.transfer_to"),
                Some(20),
                "\",\"",
            ),
            (
                "an operator with a space",
                MINIMAL.replace(
                    "operator_user_id = \"7000\"",
                    "operator_user_id = \"70 00\"",
                ),
                Some("expedite.operator_user_id"),
                None,
                "whitespace",
            ),
            (
                "negative daily cap",
                MINIMAL.replace(
                    "operator_user_id = \"7000\"",
                    "operator_user_id = \"7000\"\nmax_per_user_per_day = -1",
                ),
                Some("expedite.max_per_user_per_day"),
                Some(8),
                "out of range",
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
        assert_eq!(c.rules[0].repeat, vec![Duration::from_secs(12 * 3600)]);
    }

    #[test]
    fn env_secret_wins_and_secret_sources_are_exclusive() {
        let c = Config::parse(MINIMAL, Path::new("c.toml"), true).unwrap();
        assert!(matches!(c.feishu.app_secret, SecretSource::Env { .. }));
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
    fn an_exclusion_rule_is_not_warned_about_for_its_after() {
        let rule = |extra: &str| {
            parse(&format!(
                "{MINIMAL}\n[[rules]]\nname = \"x\"\nusers = [\"u1\"]\nafter = \"0s\"\n{extra}"
            ))
            .unwrap()
            .warnings
        };
        let exclusion = rule("max_times = 0");
        assert!(
            !exclusion.iter().any(|w| w.contains("after = 0s")),
            "{exclusion:?}"
        );
        let eager = rule("max_times = 2\nrepeat = \"1h\"");
        assert!(eager.iter().any(|w| w.contains("after = 0s")), "{eager:?}");
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
}
