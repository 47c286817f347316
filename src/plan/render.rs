//! What `plan` prints: each user's listings, the table of pairs.

use super::*;

/// A watched user's listings: their id, last complete listing, next one at the latest.
pub type UserListings = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Each watched user's last complete listing and their next one at the latest: the next tick
/// with `listing = "every_tick"`; with `auto`, when discovery lists them (earlier when a task
/// of theirs comes due, a listing lacked one, a reminded task is followed up or a digest
/// selects them).
pub fn listings(
    config: &Config,
    last: &HashMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<UserListings> {
    let next_tick = config.ticks().next_after(now);
    config
        .users
        .iter()
        .map(|u| {
            let last = last.get(&u.id).copied();
            let next = match config.schedule.listing {
                crate::config::ListingMode::EveryTick => next_tick,
                crate::config::ListingMode::Auto => {
                    crate::cycle::next_discovery(config, u, last, now).map(|t| t.max(now))
                }
            };
            (u.id.clone(), last, next.or(next_tick))
        })
        .collect()
}

/// Fills each entry's assignee listing times.
pub fn with_listings(entries: &mut [PlanEntry], listed: &[UserListings], tz: chrono_tz::Tz) {
    let by_user: HashMap<&str, _> = listed
        .iter()
        .map(|(u, l, n)| (u.as_str(), (l, n)))
        .collect();
    for e in entries {
        if let Some((last, next)) = by_user.get(e.assignee_id.as_str()) {
            e.assignee_last_listed = last.map(|t| t.with_timezone(&tz).to_rfc3339());
            e.assignee_next_listing = next.map(|t| t.with_timezone(&tz).to_rfc3339());
        }
    }
}

/// The listings section under the table.
pub fn render_listings(config: &Config, listed: &[UserListings]) -> String {
    let tz = config.schedule.timezone;
    let local = |t: Option<DateTime<Utc>>| {
        t.map_or("never".to_owned(), |t| {
            t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
        })
    };
    let mode = match config.schedule.listing {
        crate::config::ListingMode::EveryTick => "every tick",
        crate::config::ListingMode::Auto => "auto: when something about the user can matter",
    };
    let mut out = format!(
        "
Listings ({mode}):
"
    );
    for (user, last, next) in listed {
        let _ = writeln!(
            out,
            "  {user}: last {}, next by {}",
            local(*last),
            local(*next)
        );
    }
    out
}

/// How `plan` lays its table out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// One line per row, however wide (`--wide`); otherwise 120 columns, "why" wrapping.
    pub wide: bool,
    /// What the states are called (`LANG`).
    pub lang: crate::i18n::Lang,
    /// The zone times are said in.
    pub tz: chrono_tz::Tz,
}

/// The terminal width `plan` fits by default.
pub const PLAN_COLUMNS: usize = 120;

/// An aligned table, one line per (task, assignee), soonest due first.
pub fn render_table(entries: &[PlanEntry], layout: Layout) -> String {
    if entries.is_empty() {
        return format!("{}\n", layout.lang.t("plan-none"));
    }
    let headers = [
        "cli-task",
        "cli-assignee",
        "cli-age",
        "cli-rule",
        "cli-sent",
        "cli-status",
        "cli-next-why",
        "cli-label",
    ]
    .map(|key| layout.lang.t(key));
    let headers = headers.each_ref().map(String::as_str);
    let rows: Vec<[String; 8]> = entries
        .iter()
        .map(|e| {
            let lang = layout.lang;
            let age = lang.age(std::time::Duration::from_secs(e.age_seconds));
            let age = match e.working_age_seconds {
                Some(w) => lang.with(
                    "plan-working-age",
                    &[
                        ("age", age.into()),
                        ("work", lang.age(std::time::Duration::from_secs(w)).into()),
                    ],
                ),
                None => age,
            };
            [
                e.task_id.clone(),
                e.assignee.clone(),
                age,
                e.rule.clone().unwrap_or_else(|| "-".into()),
                e.expedites_sent.to_string(),
                layout.lang.t(&format!("state-{}", e.status.as_str())),
                e.why_in(layout.lang, layout.tz),
                crate::table::truncate(&e.label, if layout.wide { 40 } else { 20 }),
            ]
        })
        .collect();
    let mut out = if layout.wide {
        crate::table::render(headers, &rows)
    } else {
        crate::table::render_fitted(headers, &rows, 6, PLAN_COLUMNS)
    };
    let count = |status: &str| {
        entries
            .iter()
            .filter(|e| e.status.as_str() == status)
            .count()
    };
    let lang = layout.lang;
    let away = match count("away") {
        0 => String::new(),
        n => lang.n("plan-summary-away", n as u64),
    };
    let summary = lang.with(
        "plan-summary",
        &[
            ("n", entries.len().into()),
            ("due", count("due").into()),
            ("waiting", count("waiting").into()),
            ("deferred", count("deferred").into()),
            ("capped", count("capped").into()),
            ("silenced", count("silenced").into()),
        ],
    );
    let _ = writeln!(out, "\n{summary}{away}");
    out
}
