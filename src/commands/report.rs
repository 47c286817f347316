//! `expediter report`: did the reminders work — from the database alone, as a terminal table,
//! JSON, or one self-contained HTML page with charts (inline SVG, no script, no network).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::decide;
use crate::domain::opinion::human_duration;
use crate::domain::report::{self, GroupBy, Report};
use crate::startup::{EXIT_OK, UsageError, load_config};
use crate::store::Store;

/// The report's options, as given on the command line.
pub struct Options {
    pub since: String,
    pub by: GroupBy,
    pub json: bool,
    pub html: Option<std::path::PathBuf>,
}

pub async fn run(path: &Path, opts: Options) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    report(&config, opts, Clock::system().now()).await
}

/// The report for `config` at `now`, printed or written as `opts` says.
pub async fn report(config: &Config, opts: Options, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let config = config.clone();
    let window = humantime::parse_duration(opts.since.trim()).map_err(|e| {
        UsageError(format!(
            "--since \"{}\" is not a duration ({e}); write it like 7d or 30d",
            opts.since
        ))
    })?;
    let since = chrono::TimeDelta::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .ok_or_else(|| UsageError(format!("--since \"{}\" is too long", opts.since)))?;
    let (sent, pending) = read(&config, since).await?;
    let (rep, by_user) = build(&config, opts.by, since, now, &sent, &pending);
    if let Some(file) = &opts.html {
        let page = html_page(&config, &rep, &by_user);
        std::fs::write(
            file,
            crate::domain::id::without_bidi_overrides(page.into_string()),
        )
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        eprintln!("report written to {}", file.display());
    } else if opts.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", table(&config, &rep));
    }
    Ok(EXIT_OK)
}

/// The report grouped `by`, and by assignee (for the page's response chart).
fn build(
    config: &Config,
    by: GroupBy,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    sent: &[report::Sent],
    pending: &Pending,
) -> (Report, Report) {
    let teams: HashMap<&str, &str> = config
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.team.as_deref().unwrap_or("(no team)")))
        .collect();
    let names: HashMap<&str, &str> = config
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.display_name()))
        .collect();
    let group_of = |by: GroupBy| {
        let (teams, names) = (&teams, &names);
        move |user: &str, rule: &str| -> String {
            match by {
                GroupBy::Rule => rule.to_owned(),
                GroupBy::Team => teams
                    .get(user)
                    .copied()
                    .unwrap_or("(not watched)")
                    .to_owned(),
                GroupBy::User => names.get(user).copied().unwrap_or(user).to_owned(),
            }
        }
    };
    let rep = report::build(by, since, now, sent, pending, &group_of(by));
    let by_user = report::build(
        GroupBy::User,
        since,
        now,
        sent,
        pending,
        &group_of(GroupBy::User),
    );
    (rep, by_user)
}

/// Pending pairs for the report: (task, assignee, owning rule, started).
pub type Pending = Vec<(String, String, Option<String>, DateTime<Utc>)>;

/// The report's body from the window's calls and the pending pairs as the caller has them
/// (the console: from its index of every pending pair).
pub fn body_with(
    config: &Config,
    by: GroupBy,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    sent: &[report::Sent],
    pending: &Pending,
) -> Markup {
    let (rep, by_user) = build(config, by, since, now, sent, pending);
    body(config, &rep, &by_user)
}

/// The window's calls and today's pending pairs (with their owning rule), read only.
async fn read(
    config: &Config,
    since: DateTime<Utc>,
) -> anyhow::Result<(Vec<report::Sent>, Pending)> {
    let db = &config.storage.database;
    let Some(store) = Store::open_read_only(db).await? else {
        eprintln!("{}", super::nothing_recorded(db));
        return Ok((Vec::new(), Vec::new()));
    };
    let read = read_store(config, &store, since).await;
    store.close().await;
    read
}

async fn read_store(
    config: &Config,
    store: &Store,
    since: DateTime<Utc>,
) -> anyhow::Result<(Vec<report::Sent>, Pending)> {
    let sent = store.sent_since(since).await?;
    let pairs = store.pending_pairs().await?;
    let policy = config.policy();
    let pending = pairs
        .iter()
        .map(|p| {
            let rule = config
                .users
                .iter()
                .find(|u| u.id == p.user_id)
                .and_then(|u| decide::owning_rule(policy.rules, u, &p.facts()))
                .map(|i| config.rules[i].name.clone());
            (
                p.task_id.clone(),
                p.user_id.clone(),
                rule,
                p.facts().started(),
            )
        })
        .collect();
    Ok((sent, pending))
}

fn dur(secs: Option<u64>) -> String {
    secs.map_or("-".into(), |s| human_duration(Duration::from_secs(s)))
}

fn share(s: Option<f64>) -> String {
    s.map_or("-".into(), |s| format!("{:.0}%", s * 100.0))
}

fn table(config: &Config, r: &Report) -> String {
    let tz = config.schedule.timezone;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Reminders from {} to {}, by {:?}",
        r.since.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
        r.until.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
        r.by
    );
    let _ = writeln!(
        out,
        "{} {:>9} {:>8} {:>8} {:>9} {:>9} {:>7} {:>6} {:>6} {:>10}   {:>4} {:>4} {:>4} {:>4}",
        crate::table::pad("", 24),
        "reminders",
        "tasks",
        "done",
        "median",
        "p90",
        "<24h",
        "escal",
        "moves",
        "moved→done",
        "<1d",
        "1-3d",
        "3-7d",
        "≥7d"
    );
    for g in r.groups.iter().chain(std::iter::once(&r.total)) {
        let _ = writeln!(
            out,
            "{} {:>9} {:>8} {:>8} {:>9} {:>9} {:>7} {:>6} {:>6} {:>10}   {:>4} {:>4} {:>4} {:>4}",
            crate::table::pad(&g.name, 24),
            g.reminders_sent,
            g.tasks_reminded,
            g.tasks_finished_after_reminder,
            dur(g.median_seconds_to_done),
            dur(g.p90_seconds_to_done),
            share(g.finished_within_24h_share),
            g.escalations,
            g.moves,
            dur(g.median_seconds_from_move_to_done),
            g.backlog.under_1d,
            g.backlog.from_1d_to_3d,
            g.backlog.from_3d_to_7d,
            g.backlog.over_7d
        );
    }
    if r.total.moved_tasks_moved_away > 0 {
        let _ = writeln!(
            out,
            "\n{} moved task(s) went to someone not watched and left every watched list: moved away, not known to be done, so not in \"done\".",
            r.total.moved_tasks_moved_away
        );
    }
    out
}

/// A horizontal bar chart as inline SVG: one bar (or two: median and p90) per row.
fn bars(title: &str, rows: &[(String, f64, Option<f64>)], unit: &dyn Fn(f64) -> String) -> Markup {
    let max = rows
        .iter()
        .map(|r| r.1.max(r.2.unwrap_or(0.0)))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let (label_w, bar_w, row_h) = (180.0, 420.0, 28.0);
    let height = 40.0 + row_h * rows.len().max(1) as f64;
    let width = label_w + bar_w + 120.0;
    html! {
        figure {
            figcaption { (title) }
            @if rows.is_empty() {
                p.empty { "Nothing to show yet." }
            } @else {
                svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
                    viewBox={"0 0 " (width) " " (height)} role="img" aria-label=(title) {
                    @for (i, (label, main, extra)) in rows.iter().enumerate() {
                        @let y = 20.0 + row_h * i as f64;
                        text x=(label_w - 8.0) y=(y + 15.0) text-anchor="end" class="label" { (label) }
                        @if let Some(p90) = extra {
                            rect x=(label_w) y=(y + 2.0) width=(bar_w * p90 / max) height=(row_h - 8.0) class="p90" {}
                        }
                        rect x=(label_w) y=(y + 6.0) width=(bar_w * main / max) height=(row_h - 16.0) class="main" {}
                        text x=(label_w + bar_w * main.max(extra.unwrap_or(0.0)) / max + 6.0) y=(y + 15.0) class="value" {
                            (unit(*main))
                            @if let Some(p90) = extra { " · p90 " (unit(*p90)) }
                        }
                    }
                }
            }
        }
    }
}

fn html_page(config: &Config, r: &Report, by_user: &Report) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "expediter report" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body(config, r, by_user)) }
        }
    }
}

/// The report's heading, table and charts.
fn body(config: &Config, r: &Report, by_user: &Report) -> Markup {
    let tz = config.schedule.timezone;
    let hours = |s: f64| human_duration(Duration::from_secs(s as u64));
    let time_rows: Vec<(String, f64, Option<f64>)> = r
        .groups
        .iter()
        .filter_map(|g| {
            Some((
                g.name.clone(),
                g.median_seconds_to_done? as f64,
                g.p90_seconds_to_done.map(|p| p as f64),
            ))
        })
        .collect();
    let b = &r.total.backlog;
    let backlog_rows = vec![
        ("under 1 day".to_owned(), b.under_1d as f64, None),
        ("1–3 days".to_owned(), b.from_1d_to_3d as f64, None),
        ("3–7 days".to_owned(), b.from_3d_to_7d as f64, None),
        ("7 days or more".to_owned(), b.over_7d as f64, None),
    ];
    let response_rows: Vec<(String, f64, Option<f64>)> = by_user
        .groups
        .iter()
        .filter_map(|g| Some((g.name.clone(), g.finished_within_24h_share? * 100.0, None)))
        .collect();
    let count = |n: f64| format!("{n:.0}");
    let percent = |n: f64| format!("{n:.0}%");
    html! {
                h1 { "Did the reminders work?" }
                p.meta {
                    "From " (r.since.with_timezone(&tz).format("%Y-%m-%d %H:%M"))
                    " to " (r.until.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"))
                    ", by " (format!("{:?}", r.by).to_lowercase()) "."
                }
                table {
                    thead { tr {
                        th { (format!("{:?}", r.by)) } th { "reminders" } th { "tasks reminded" }
                        th { "done after a reminder" } th { "median to done" } th { "p90 to done" }
                        th { "done within 24 h" } th { "escalations" } th { "moves" } th { "median move to done" }
                        th { "backlog <1d / 1–3d / 3–7d / ≥7d" }
                    } }
                    tbody {
                        @for g in r.groups.iter().chain(std::iter::once(&r.total)) {
                            tr class=[(g.name == "total").then_some("total")] {
                                td { (g.name) } td { (g.reminders_sent) } td { (g.tasks_reminded) }
                                td { (g.tasks_finished_after_reminder) } td { (dur(g.median_seconds_to_done)) }
                                td { (dur(g.p90_seconds_to_done)) } td { (share(g.finished_within_24h_share)) }
                                td { (g.escalations) } td { (g.moves) } td { (dur(g.median_seconds_from_move_to_done)) }
                                td { (g.backlog.under_1d) " / " (g.backlog.from_1d_to_3d) " / " (g.backlog.from_3d_to_7d) " / " (g.backlog.over_7d) }
                            }
                        }
                    }
                }
                div.charts {
                    (bars("Time from first reminder to done (median; lighter: p90)", &time_rows, &hours))
                    (bars("Today's backlog by age", &backlog_rows, &count))
                    (bars("Per assignee: reminded tasks done within 24 h", &response_rows, &percent))
                }
    }
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
p.meta { color: #52606d; margin-top: 0; }
table { border-collapse: collapse; margin: 1rem 0 2rem; }
th, td { padding: 0.35rem 0.7rem; border-bottom: 1px solid #d9e2ec; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f4f8; font-weight: 600; }
tr.total td { font-weight: 600; border-top: 2px solid #9fb3c8; }
figure { margin: 0 0 2rem; }
figcaption { font-weight: 600; margin-bottom: 0.5rem; }
svg .main { fill: #2f80ed; }
svg .p90 { fill: #bcd5f7; }
svg text { font-size: 13px; fill: #1f2933; }
svg text.value { fill: #52606d; }
p.empty { color: #829ab1; }
";
