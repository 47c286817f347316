//! The commands other than `run`: each reads the config, does one thing, and returns its exit
//! code.

pub mod audit;
pub mod away;
pub mod demo;
pub mod digest;
pub mod report;
pub mod silence;
pub mod team;

use std::path::Path;

use crate::plan;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Config;
use crate::cycle::CycleReport;
use crate::progress::Progress;
use crate::startup::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK, client_for, engine_for, load_config};
use crate::store::{Database, Store};

/// `expediter once`: one full cycle now.
pub async fn once(path: &Path, dry_run: bool) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let dry_run = dry_run || config.expedite.dry_run;
    let engine = engine_for(config, Clock::system()).await?;
    let report = engine.run_cycle(dry_run).await;
    engine.store.close().await;
    let report: CycleReport = match report {
        Ok(r) => r,
        Err(crate::cycle::CycleError::Feishu(e)) if is_credentials(e.code()) => {
            anyhow::bail!(
                "the cycle stopped: {e}. {}",
                credentials_hint(&engine.config)
            )
        }
        Err(e) => return Err(anyhow::Error::new(e).context("the cycle stopped")),
    };
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}

/// `expediter migrate`: the database upgraded to this release's schema (created when there is
/// none), nothing else — no listing, no call, no lock held past the command.
pub async fn migrate(path: &Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let store = crate::store::Store::open(&config.storage.database).await?;
    println!(
        "{}: upgraded to the schema of release {} (nothing was listed or sent)",
        store.name(),
        crate::store::RELEASE
    );
    store.close().await;
    Ok(EXIT_OK)
}

/// Feishu's answers that mean the app id or secret is wrong.
fn is_credentials(code: Option<i64>) -> bool {
    matches!(code, Some(10003 | 10014 | 10015))
}

/// Where the app secret came from and what to fix, for an answer that refused it.
fn credentials_hint(config: &Config) -> String {
    format!(
        "The app secret came from {} (app {}): fix app_secret_file, app_secret or {}, then `expediter check --online` tries it",
        config.feishu.app_secret.describe(),
        config.feishu.app_id,
        crate::config::SECRET_ENV
    )
}

/// `expediter check`: the config in plain words, and optionally the credentials proven.
pub async fn check(path: &Path, online: bool) -> anyhow::Result<u8> {
    // The config's warnings are on the report below: not logged as well.
    let config = Config::load(path)?;
    println!("{}", describe_config(&config, Clock::system().now()));
    // Said once, on the report: not logged again.
    for w in secret_exposure(&config) {
        println!("warning: {w}");
    }
    let mut unreadable = config.secret_errors().into_iter();
    if let Some(first) = unreadable.next() {
        for e in unreadable {
            eprintln!("error: {e}");
        }
        return Err(first.into());
    }
    if online {
        let client = client_for(&config, Progress::default(), &Clock::system())?;
        match client.verify_credentials().await {
            Ok(lifetime) => println!(
                "online: fetched a tenant token from {} for app {} (valid {})",
                config.feishu.base_url,
                config.feishu.app_id,
                crate::domain::opinion::human_duration(lifetime)
            ),
            Err(e) => {
                // Said once, on the report: not logged as well.
                let credentials = is_credentials(e.code());
                println!(
                    "online: FAILED to fetch a tenant token from {}: {e}{}",
                    config.feishu.base_url,
                    if credentials {
                        format!(". {}", credentials_hint(&config))
                    } else {
                        String::new()
                    }
                );
                return Ok(if credentials {
                    EXIT_CONFIG
                } else {
                    EXIT_FAILED
                });
            }
        }
    }
    if online && config.bot.is_some() {
        let secret = config
            .feishu
            .app_secret
            .resolve()
            .map_err(anyhow::Error::msg)?;
        let link =
            crate::bot::link::Link::new(&config.feishu.base_url, &config.feishu.app_id, secret)?;
        match link.probe().await {
            Ok(host) => println!(
                "online: the long connection's endpoint answered (wss://{host}): card clicks \
                 arrive once the app's callback card.action.trigger uses the long connection"
            ),
            Err((fatal, why)) => {
                println!("online: FAILED to get a long connection for the app's bot: {why}");
                return Ok(if fatal { EXIT_CONFIG } else { EXIT_FAILED });
            }
        }
    }
    if let Database::Postgres(_) = &config.storage.database {
        println!("{}", lease_line(&config).await);
    }
    if !config.teams.is_empty() && !check_documents(&config).await {
        return Ok(EXIT_CONFIG);
    }
    println!("config OK: {}", path.display());
    Ok(EXIT_OK)
}

/// Each team's stored version checked against this config, said a line each; `false` when one
/// does not validate.
async fn check_documents(config: &Config) -> bool {
    let db = &config.storage.database;
    let store = match Store::open_read_only(db).await {
        Ok(Some(s)) => s,
        Ok(None) => return true,
        Err(e) => {
            println!("Team documents: cannot read them: {e}");
            return true;
        }
    };
    let versions = store.latest_team_versions().await;
    store.close().await;
    let versions = match versions {
        Ok(v) => v,
        Err(e) => {
            println!("Team documents: cannot read them: {e}");
            return true;
        }
    };
    let mut ok = true;
    for v in &versions {
        if !config.teams.iter().any(|t| t.name == v.team) {
            ok = false;
            println!(
                "Team {}: version {} is stored but there is no [[teams]] entry for it",
                v.team, v.version
            );
        }
    }
    let merged = config.with_documents(&versions);
    for d in &merged.documents {
        match &d.problem {
            None => println!(
                "Team {}: version {} in force ({} users of its own)",
                d.team,
                d.version,
                d.users.len()
            ),
            Some(p) => {
                ok = false;
                println!(
                    "Team {}: version {} does NOT validate: {p}",
                    d.team, d.version
                );
            }
        }
    }
    for w in merged
        .warnings
        .iter()
        .filter(|w| !config.warnings.contains(w))
    {
        println!("warning: {w}");
    }
    ok
}

/// Who holds the lease of the config's app now, as the database says.
async fn lease_line(config: &Config) -> String {
    let db = &config.storage.database;
    let store = match Store::open_read_only(db).await {
        Ok(Some(s)) => s,
        Ok(None) => return "Lease: no instance has held it yet (nothing recorded yet)".to_owned(),
        Err(e) => return format!("Lease: cannot read it: {e}"),
    };
    let line = match store.lease_holder(&config.feishu.app_id).await {
        Ok(Some(h)) => format!("Lease: {}", crate::keeper::holder_words(&h)),
        Ok(None) => "Lease: no instance has held it yet".to_owned(),
        Err(e) => format!("Lease: cannot read it: {e}"),
    };
    store.close().await;
    line
}

/// The config in plain words, for `check`.
pub fn describe_config(config: &Config, now: DateTime<Utc>) -> String {
    use std::fmt::Write as _;
    let tz = config.schedule.timezone;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Feishu: {} app {} (secret from {}), {} requests/minute per API, timeout {}",
        config.feishu.base_url,
        config.feishu.app_id,
        config.feishu.app_secret.describe(),
        config.feishu.requests_per_minute,
        crate::domain::opinion::human_duration(config.feishu.request_timeout)
    );
    let kept = crate::domain::opinion::human_duration(config.storage.retention);
    let _ = match &config.storage.database {
        Database::Sqlite(path) => writeln!(
            out,
            "Database: SQLite at {} (finished tasks kept {kept}); one instance at a time: `run` and `once` hold {}",
            path.display(),
            crate::store::lock_path(path).display()
        ),
        db @ Database::Postgres(_) => writeln!(
            out,
            "Database: PostgreSQL at {db} (finished tasks kept {kept}); one active instance per app by a lease of {}, renewed every {}; the others stand by",
            crate::domain::opinion::human_duration(config.storage.lease),
            crate::domain::opinion::human_duration(config.storage.lease / 3)
        ),
    };
    if config.expedite.max_per_user_per_day > 0 {
        let _ = writeln!(
            out,
            "Daily cap: at most {} reminders per assignee per day ({}), most overdue first; the rest wait for the next day",
            config.expedite.max_per_user_per_day, tz
        );
    }
    if config.expedite.dry_run {
        let _ = writeln!(out, "Dry run: nothing is sent ([expedite] dry_run = true)");
    }
    let moves_by_escalation = config
        .rules
        .iter()
        .any(|r| r.escalate.as_ref().is_some_and(|e| e.move_to.is_some()));
    if let Some(kind) = config.away.deputy_action.kind() {
        let _ = writeln!(
            out,
            "Away: each due task of someone away goes to their deputy ({}), once; a window without a deputy only holds reminders",
            kind.as_str()
        );
    }
    if config.away.deputy_action.kind().is_some() || moves_by_escalation {
        let _ = writeln!(
            out,
            "Moves need the app's aPaaS approval-task permission (transfer / add_assignee); `check --online` cannot prove it without moving a task: the first move tells (a refusal is shown in plan and retried daily)"
        );
    }
    let _ = writeln!(out, "Users ({}):", config.users.len());
    for u in &config.users {
        let _ = writeln!(
            out,
            "  {}{}{}",
            u.id,
            u.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default(),
            u.team
                .as_ref()
                .map(|t| format!(" (team {t})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "Rules ({}), first match wins:", config.rules.len());
    for r in &config.rules {
        let _ = writeln!(out, "  {}", r.describe(&config.policy()));
    }
    let _ = writeln!(
        out,
        "Schedule: cron \"{}\" in {}; next: {}",
        config.schedule.cron.expr,
        tz,
        config
            .ticks()
            .next_n(now, 3)
            .iter()
            .map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "{}", listing_cadence(config, now));
    if !config.digests.is_empty() {
        let _ = writeln!(out, "Digests ({}):", config.digests.len());
        for d in &config.digests {
            let who = if d.users.is_empty() && d.teams.is_empty() {
                "every watched user".to_owned()
            } else {
                let mut w: Vec<String> = d.users.clone();
                w.extend(d.teams.iter().map(|t| format!("team {t}")));
                w.join(", ")
            };
            let _ = writeln!(
                out,
                "  {}: cron \"{}\" (next {}), {who}, tasks at least {} old, {}{}; {}",
                d.name,
                d.cron.expr,
                config
                    .digest_ticks(d)
                    .next_n(now, 1)
                    .first()
                    .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
                    .unwrap_or_else(|| "never".into()),
                crate::domain::opinion::human_duration(d.min_age),
                if d.sign.is_some() {
                    "signed"
                } else {
                    "unsigned"
                },
                d.calendar
                    .map(|c| format!(", on {}'s working days", config.calendars[c].name))
                    .unwrap_or_default(),
                match (&d.webhook, &d.bot) {
                    (Some(w), _) => format!("webhook from {}", w.describe()),
                    (None, Some(crate::config::BotTo::Chat(c))) =>
                        format!("the app's bot to chat {c}"),
                    (None, _) => "the app's bot to each lead".to_owned(),
                },
            );
        }
    }
    if let Some(c) = &config.console {
        let how = match &c.sign_in {
            crate::config::SignIn::Feishu { allow, .. } => {
                format!("Sign in with Feishu, allowed: {}", allow.join(", "))
            }
            crate::config::SignIn::Token => "sign in with the console's token".to_owned(),
        };
        let _ = writeln!(
            out,
            "Console: http://{}/ under `run`{} — {how}; a first sign-in link: expediter console link",
            c.listen,
            c.public_url
                .as_deref()
                .map_or(String::new(), |u| format!(", reached at {u}"))
        );
        if !c.admins.is_empty() {
            let _ = writeln!(
                out,
                "Console admins (see and do everything): {}",
                c.admins.join(", ")
            );
        }
        for t in &config.teams {
            let people = |l: &[String]| {
                if l.is_empty() {
                    "nobody".to_owned()
                } else {
                    l.join(", ")
                }
            };
            let _ = writeln!(
                out,
                "Team {}: led by {}; read by {}",
                t.name,
                people(&t.leads),
                people(&t.viewers)
            );
        }
    }
    if let Some(listen) = config.metrics {
        let _ = writeln!(out, "Metrics: http://{listen}/metrics (under `run`)");
    }
    for (i, r) in config.rules.iter().enumerate() {
        if crate::plan::misses_calendar(config, i, now) {
            let _ = writeln!(
                out,
                "warning: rule \"{}\": no tick of [schedule] cron falls inside its calendar's \
                    hours, so it never sends; make the schedule fire within them",
                r.name
            );
        }
    }
    for w in &config.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out.trim_end().to_owned()
}

/// `[schedule] listing` in words: everyone every tick, or each user's derived cadence (users
/// with the same cadence said together).
fn listing_cadence(config: &Config, now: chrono::DateTime<chrono::Utc>) -> String {
    match config.schedule.listing {
        crate::config::ListingMode::EveryTick => {
            "Listing: every watched user on every tick (listing = \"every_tick\")".to_owned()
        }
        crate::config::ListingMode::Auto => {
            let period = config
                .ticks()
                .next_and_period(now)
                .map_or(std::time::Duration::ZERO, |(_, p)| p);
            let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
            for u in &config.users {
                let said = crate::domain::listing::describe(
                    &config.rules,
                    u,
                    period,
                    config.schedule.follow_up,
                );
                match groups.iter_mut().find(|(s, _)| *s == said) {
                    Some((_, users)) => users.push(&u.id),
                    None => groups.push((said, vec![&u.id])),
                }
            }
            let mut out = "Listing: auto, under `run` (`once` lists everyone):".to_owned();
            for (said, users) in groups {
                out.push_str(&format!("\n  {}: {said}", users.join(", ")));
            }
            out
        }
    }
}

/// What a command that only looks says of a database nothing was written to yet.
pub(crate) fn nothing_recorded(db: &Database) -> String {
    let what = match db {
        Database::Sqlite(_) => "no database at",
        Database::Postgres(_) => "nothing recorded in",
    };
    format!("{what} {db} yet: run `expediter once` (or the daemon) first to list tasks")
}

/// `expediter plan`: every tracked pending pair from the database alone.
pub async fn plan(path: &Path, json: bool, wide: bool) -> anyhow::Result<u8> {
    let layout = plan::Layout {
        wide,
        lang: crate::i18n::Lang::from_env(),
        tz: chrono_tz::Tz::UTC,
    };
    let config = load_config(path)?;
    let db = &config.storage.database;
    // Read only: looking never creates, migrates or writes anything.
    let Some(store) = Store::open_read_only(db).await? else {
        // Nothing tracked yet is an empty plan, not an error.
        eprintln!("{}", nothing_recorded(db));
        if json {
            println!("[]");
        } else {
            print!("{}", plan::render_table(&[], layout));
        }
        return Ok(EXIT_OK);
    };
    // The teams' rules, in the order they decide.
    let config = crate::startup::with_documents(config, &store).await;
    let pairs = store.pending_pairs().await?;
    let now = Clock::system().now();
    let today = crate::domain::calls::day_start(now, config.schedule.timezone);
    let sent_today = store.reminders_since(today).await?;
    let last: std::collections::HashMap<_, _> = store.last_listings().await?.into_iter().collect();
    store.close().await;
    let mut entries = plan::build(&config, &pairs, now, &sent_today);
    let listed = plan::listings(&config, &last, now);
    plan::with_listings(&mut entries, &listed, config.schedule.timezone);
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        let layout = plan::Layout {
            tz: config.schedule.timezone,
            ..layout
        };
        print!("{}", plan::render_table(&entries, layout));
        print!("{}", plan::render_listings(&config, &listed));
    }
    Ok(EXIT_OK)
}

/// Secrets others may read: a file holding one (app secret, webhook URL, signing secret) that
/// is readable by its group or others, or a config with a secret written inline that is.
pub fn secret_exposure(config: &Config) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let readable =
        |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0);
    let mut sources = vec![("app secret".to_owned(), &config.feishu.app_secret)];
    for d in &config.digests {
        if let Some(webhook) = &d.webhook {
            sources.push((format!("digest \"{}\" webhook URL", d.name), webhook));
        }
        if let Some(s) = &d.sign {
            sources.push((format!("digest \"{}\" signing secret", d.name), s));
        }
    }
    if let Some(crate::config::BotMode::Http {
        encrypt_key,
        verification_token,
    }) = config.bot.as_ref().map(|b| &b.mode)
    {
        sources.push(("the bot's Encrypt Key".to_owned(), encrypt_key));
        sources.push((
            "the bot's Verification Token".to_owned(),
            verification_token,
        ));
    }
    let mut warnings = Vec::new();
    let mut inline = Vec::new();
    for (what, source) in sources {
        if source.is_inline() {
            inline.push(what);
        } else if let Some(file) = source.file()
            && readable(&file)
        {
            warnings.push(format!(
                "{} holding the {what} is readable by other users; chmod 600 it",
                file.display()
            ));
        }
    }
    if !inline.is_empty() && readable(&config.file) {
        warnings.push(format!(
            "{} holds the {} inline and is readable by other users; move it to a *_file or chmod 600 the config",
            config.file.display(),
            inline.join(", ")
        ));
    }
    warnings
}
