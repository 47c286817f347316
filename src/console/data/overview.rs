//! The overview's figures: active or standby, the last cycle, counts by state, the most overdue.

use super::*;

/// The overview: who is active, the last cycle, the next tick, a quota hold, counts by state,
/// the most overdue assignees and rules.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Overview {
    pub role: &'static str,
    /// On PostgreSQL: who holds the lease.
    pub lease: Option<LeaseView>,
    pub last_cycle: Option<LastCycle>,
    pub next_tick: Option<DateTime<Utc>>,
    /// Feishu's monthly quota answer holds calls back until then.
    pub quota_hold_until: Option<DateTime<Utc>>,
    pub pending_pairs: u64,
    /// Pairs by state: every pending pair in exactly one (they sum to `pending_pairs`), and
    /// `escalated` beside them (escalated pairs are also in their state's count).
    pub counts: BTreeMap<String, u64>,
    /// What needs the lead first: every reminder sent and still waiting, or escalated; the
    /// oldest first (at most 20 here; `needs_you_total` says how many).
    pub needs_you: Vec<Need>,
    pub needs_you_total: u64,
    /// The people away now (of those the visitor sees), by name.
    pub away_now: Vec<String>,
    pub assignees: Vec<Overdue>,
    pub rules: Vec<Overdue>,
    pub computed_at: DateTime<Utc>,
    /// The times above as the pages show them, in `[schedule] timezone`.
    pub display: Display,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Display {
    pub next_tick: String,
    pub last_cycle: Option<String>,
    pub computed_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LeaseView {
    pub holder: String,
    pub epoch: i64,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
}

/// An assignee (or a rule) with its due pairs and its longest wait.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Overdue {
    pub id: String,
    pub name: String,
    pub due: u64,
    pub pending: u64,
    pub oldest_age_seconds: u64,
}

/// How long an overview's counts are kept before they are read again.
pub(crate) async fn overview(
    live: &Ground,
    cache: &Cache,
    scope: &Scope,
) -> Result<Overview, Failure> {
    let config = &live.config;
    let store = &live.store;
    let ix = index(live, cache).await?;
    let tally = ix.tally(scope);
    let (needs_you, needs_you_total) = ix.needs_you(scope, 20);
    let now = live.clock.now();
    let mut away_now: Vec<String> = store
        .away_windows(false, now)
        .await?
        .into_iter()
        .filter(|a| a.from <= now && a.until > now && a.ended_at.is_none())
        .filter(|a| scope.sees(&a.user_id))
        .map(|a| {
            config
                .users
                .iter()
                .find(|u| u.id == a.user_id)
                .map_or(a.user_id.clone(), |u| u.display_name().to_owned())
        })
        .collect();
    away_now.sort();
    away_now.dedup();
    let lease = store
        .lease_holder(&config.feishu.app_id)
        .await?
        .map(|l| LeaseView {
            holder: l.holder,
            epoch: l.epoch,
            expires_at: l.expires_at,
            expired: l.expired,
        });
    let tz = config.schedule.timezone;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let next_tick = config.ticks().next_after(now);
    let display = Display {
        next_tick: next_tick.map_or_else(|| "never".to_owned(), local),
        last_cycle: live.last_cycle.as_ref().map(|c| {
            format!(
                "{} — {}{}",
                local(c.at),
                if c.ok { "ok: " } else { "FAILED: " },
                c.summary
            )
        }),
        computed_at: local(ix.computed_at),
    };
    // How the last cycle went, in counts over every team: a team's visitor sees when and
    // whether it went well.
    let mut display = display;
    let mut last_cycle = live.last_cycle.clone();
    if !scope.is_all() {
        if let Some(c) = last_cycle.as_mut() {
            c.summary = String::new();
        }
        display.last_cycle = last_cycle
            .as_ref()
            .map(|c| format!("{} — {}", local(c.at), if c.ok { "ok" } else { "FAILED" }));
    }
    Ok(Overview {
        display,
        role: if store.acting() { "active" } else { "standby" },
        lease,
        last_cycle,
        next_tick,
        quota_hold_until: live.quota_hold,
        pending_pairs: tally.pairs,
        counts: tally.counts,
        needs_you,
        needs_you_total,
        away_now,
        assignees: tally.assignees,
        rules: tally.rules,
        computed_at: ix.computed_at,
    })
}
