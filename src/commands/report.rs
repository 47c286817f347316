//! `expediter report`: did the reminders work — from the database alone, as a terminal table,
//! JSON, or one self-contained HTML page with charts (inline SVG, no script, no network).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::decide;
use crate::domain::report::{self, GroupBy, Report};
use crate::i18n::Lang;
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
    // People read the table and the page: the terminal's language.
    let lang = Lang::from_env();
    if let Some(file) = &opts.html {
        let page = html_page(lang, &config, &rep, &by_user);
        std::fs::write(
            file,
            crate::domain::id::without_bidi_overrides(page.into_string()),
        )
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        eprintln!("report written to {}", file.display());
    } else if opts.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", table(lang, &config, &rep));
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
    lang: Lang,
    config: &Config,
    by: GroupBy,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    sent: &[report::Sent],
    pending: &Pending,
) -> Markup {
    let (rep, by_user) = build(config, by, since, now, sent, pending);
    body(lang, config, &rep, &by_user)
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

fn dur(lang: Lang, secs: Option<u64>) -> String {
    secs.map_or("-".into(), |s| lang.age(Duration::from_secs(s)))
}

fn share(s: Option<f64>) -> String {
    s.map_or("-".into(), |s| format!("{:.0}%", s * 100.0))
}

/// "from 2026-12-01 09:00 to 2026-12-08 09:00 CST, by rule." in `lang`.
fn span(lang: Lang, config: &Config, r: &Report) -> String {
    let tz = config.schedule.timezone;
    let by = match r.by {
        GroupBy::Rule => "report-by-rule",
        GroupBy::Team => "report-by-team",
        GroupBy::User => "report-by-user",
    };
    lang.with(
        "report-span",
        &[
            (
                "since",
                r.since
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
                    .into(),
            ),
            (
                "until",
                r.until
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
                    .into(),
            ),
            ("by", lang.t(by).into()),
        ],
    )
}

/// A group's name as shown: the total row (that row, not a group that happens to be called
/// "total") in the reader's words.
fn group_name(lang: Lang, r: &Report, g: &report::Group) -> String {
    if std::ptr::eq(g, &r.total) {
        lang.t("report-total")
    } else {
        g.name.clone()
    }
}

/// The terminal's table: one row a group and the total, columns lined up by display width.
fn table(lang: Lang, config: &Config, r: &Report) -> String {
    let t = |key: &str| lang.t(key);
    let headers = [
        t(match r.by {
            GroupBy::Rule => "report-by-rule",
            GroupBy::Team => "report-by-team",
            GroupBy::User => "report-by-user",
        }),
        t("report-reminders"),
        t("report-tasks"),
        t("report-done"),
        t("report-median"),
        t("report-p90"),
        t("report-within-24h"),
        t("report-escalations"),
        t("report-moves"),
        t("report-move-median"),
        t("report-backlog"),
    ];
    let mut rows = Vec::new();
    for g in r.groups.iter().chain(std::iter::once(&r.total)) {
        rows.push([
            group_name(lang, r, g),
            g.reminders_sent.to_string(),
            g.tasks_reminded.to_string(),
            g.tasks_finished_after_reminder.to_string(),
            dur(lang, g.median_seconds_to_done),
            dur(lang, g.p90_seconds_to_done),
            share(g.finished_within_24h_share),
            g.escalations.to_string(),
            g.moves.to_string(),
            dur(lang, g.median_seconds_from_move_to_done),
            format!(
                "{} / {} / {} / {}",
                g.backlog.under_1d,
                g.backlog.from_1d_to_3d,
                g.backlog.from_3d_to_7d,
                g.backlog.over_7d
            ),
        ]);
    }
    let mut out = span(lang, config, r);
    out.push('\n');
    out.push_str(&crate::table::render(
        headers.each_ref().map(String::as_str),
        &rows,
    ));
    if r.total.moved_tasks_moved_away > 0 {
        out.push('\n');
        out.push_str(&lang.n("report-moved-away", r.total.moved_tasks_moved_away));
        out.push('\n');
    }
    out
}

/// A row of a chart: its label, its bar, a lighter bar behind it (p90), each value as the
/// table writes it.
struct Bar {
    label: String,
    main: f64,
    main_text: String,
    extra: Option<(f64, String)>,
}

/// A horizontal bar chart as inline SVG: one bar (or two: median and p90) per row. Its labels
/// and values are the table's own texts, and the chart is as wide as they need (measured in
/// display columns: a Chinese name counts two), so nothing is cut off.
fn bars(lang: Lang, title: &str, rows: &[Bar]) -> Markup {
    use unicode_width::UnicodeWidthStr as _;
    let max = rows
        .iter()
        .map(|r| r.main.max(r.extra.as_ref().map_or(0.0, |e| e.0)))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let value = |r: &Bar| match &r.extra {
        Some((_, p90)) => format!("{} · p90 {p90}", r.main_text),
        None => r.main_text.clone(),
    };
    // 13px text: about 8px a column, with room to spare.
    let col = 8.0;
    let label_w = 16.0 + col * rows.iter().map(|r| r.label.width()).max().unwrap_or(0) as f64;
    let value_w = 16.0 + col * rows.iter().map(|r| value(r).width()).max().unwrap_or(0) as f64;
    let (bar_w, row_h) = (420.0, 28.0);
    let height = 40.0 + row_h * rows.len().max(1) as f64;
    let width = label_w + bar_w + value_w;
    html! {
        figure {
            figcaption { (title) }
            @if rows.is_empty() {
                p.empty { (lang.t("report-nothing")) }
            } @else {
                svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
                    viewBox={"0 0 " (width) " " (height)} role="img" aria-label=(title) {
                    @for (i, r) in rows.iter().enumerate() {
                        @let y = 20.0 + row_h * i as f64;
                        text x=(label_w - 8.0) y=(y + 15.0) text-anchor="end" class="label" { (r.label) }
                        @if let Some((p90, _)) = &r.extra {
                            rect x=(label_w) y=(y + 2.0) width=(bar_w * p90 / max) height=(row_h - 8.0) class="p90" {}
                        }
                        rect x=(label_w) y=(y + 6.0) width=(bar_w * r.main / max) height=(row_h - 16.0) class="main" {}
                        text x=(label_w + bar_w * r.main.max(r.extra.as_ref().map_or(0.0, |e| e.0)) / max + 6.0) y=(y + 15.0) class="value" {
                            (value(r))
                        }
                    }
                }
            }
        }
    }
}

fn html_page(lang: Lang, config: &Config, r: &Report, by_user: &Report) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                title { (lang.t("report-title")) " — expediter" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body(lang, config, r, by_user)) }
        }
    }
}

/// The report's heading, table and charts.
fn body(lang: Lang, config: &Config, r: &Report, by_user: &Report) -> Markup {
    let t = |key: &str| lang.t(key);
    let bar = |label: String, main: f64, main_text: String| Bar {
        label,
        main,
        main_text,
        extra: None,
    };
    let time_rows: Vec<Bar> = r
        .groups
        .iter()
        .filter_map(|g| {
            let median = g.median_seconds_to_done?;
            Some(Bar {
                extra: g
                    .p90_seconds_to_done
                    .map(|p| (p as f64, dur(lang, Some(p)))),
                ..bar(
                    group_name(lang, r, g),
                    median as f64,
                    dur(lang, Some(median)),
                )
            })
        })
        .collect();
    let b = &r.total.backlog;
    let backlog_rows: Vec<Bar> = [
        ("report-under-1d", b.under_1d),
        ("report-1-3d", b.from_1d_to_3d),
        ("report-3-7d", b.from_3d_to_7d),
        ("report-over-7d", b.over_7d),
    ]
    .into_iter()
    .map(|(key, n)| bar(t(key), n as f64, n.to_string()))
    .collect();
    let response_rows: Vec<Bar> = by_user
        .groups
        .iter()
        .filter_map(|g| {
            let s = g.finished_within_24h_share?;
            Some(bar(g.name.clone(), s * 100.0, share(Some(s))))
        })
        .collect();
    html! {
                h1 { (t("report-title")) }
                p.meta { (span(lang, config, r)) }
                table {
                    thead { tr {
                        th { (t(match r.by { GroupBy::Rule => "report-by-rule", GroupBy::Team => "report-by-team", GroupBy::User => "report-by-user" })) }
                        th { (t("report-reminders")) } th { (t("report-tasks")) }
                        th { (t("report-done")) } th { (t("report-median")) } th { (t("report-p90")) }
                        th { (t("report-within-24h")) } th { (t("report-escalations")) } th { (t("report-moves")) }
                        th { (t("report-move-median")) } th { (t("report-backlog")) }
                    } }
                    tbody {
                        @for g in r.groups.iter().chain(std::iter::once(&r.total)) {
                            tr class=[(std::ptr::eq(g, &r.total)).then_some("total")] {
                                td { (group_name(lang, r, g)) } td { (g.reminders_sent) } td { (g.tasks_reminded) }
                                td { (g.tasks_finished_after_reminder) } td { (dur(lang, g.median_seconds_to_done)) }
                                td.p90 { (dur(lang, g.p90_seconds_to_done)) } td { (share(g.finished_within_24h_share)) }
                                td { (g.escalations) } td { (g.moves) } td { (dur(lang, g.median_seconds_from_move_to_done)) }
                                td { (g.backlog.under_1d) " / " (g.backlog.from_1d_to_3d) " / " (g.backlog.from_3d_to_7d) " / " (g.backlog.over_7d) }
                            }
                        }
                    }
                }
                div.charts {
                    (bars(lang, &t("report-chart-time"), &time_rows))
                    (bars(lang, &t("report-chart-backlog"), &backlog_rows))
                    (bars(lang, &t("report-chart-response"), &response_rows))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The chart says what the table says: each row's p90 is the table's text, and the chart
    /// is wide enough for its longest label (a Chinese flow name) and value, so neither is cut.
    #[test]
    fn the_charts_p90_is_the_tables_and_is_shown_whole() {
        let lang = Lang::Zh;
        let median = 26 * 3600;
        let p90 = 12 * 86_400 + 23 * 3600;
        let rows = [Bar {
            label: "财务部-差旅报销审批流程（华东区）".to_owned(),
            main: median as f64,
            main_text: dur(lang, Some(median)),
            extra: Some((p90 as f64, dur(lang, Some(p90)))),
        }];
        let svg = bars(lang, "用时", &rows).into_string();
        let doc = scraper::Html::parse_fragment(&svg);
        let select = |css: &str| scraper::Selector::parse(css).unwrap();
        let width: f64 = doc
            .select(&select("svg"))
            .next()
            .unwrap()
            .value()
            .attr("width")
            .unwrap()
            .parse()
            .unwrap();
        let value = doc.select(&select("text.value")).next().unwrap();
        let text: String = value.text().collect();
        assert_eq!(text, "1天2小时 · p90 12天23小时");
        let x: f64 = value.value().attr("x").unwrap().parse().unwrap();
        let columns = unicode_width::UnicodeWidthStr::width(text.as_str()) as f64;
        assert!(
            x + 7.5 * columns <= width,
            "{text:?} at {x} is cut off at {width}"
        );
        let label = doc.select(&select("text.label")).next().unwrap();
        let right: f64 = label.value().attr("x").unwrap().parse().unwrap();
        let columns = unicode_width::UnicodeWidthStr::width(rows[0].label.as_str()) as f64;
        assert!(
            right - 7.5 * columns >= 0.0,
            "the label is cut off on the left"
        );
    }
}
