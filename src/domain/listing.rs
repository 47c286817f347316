//! `[schedule] listing = "auto"`: when a watched user needs listing, purely. A user is listed
//! when something about them can matter:
//! - discovery: often enough that a new task is known before any rule that can own it makes it
//!   due (half the smallest `after` among those rules, at least the cron's period, at most 6 h),
//!   each user at their own phase of that interval so that thousands first listed together do
//!   not come due together;
//! - confirmation: in the tick in which one of their tasks comes due for a reminder or an
//!   escalation, with every watched assignee of that task;
//! - recheck: the tick after a listing lacked one of their tasks (one listing is no proof);
//! - follow-up: at least every `follow_up` while one of their reminded tasks is pending, at the
//!   user's phase of it too;
//! - digest: before a digest that selects them.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::rule::{Rule, User};

/// The longest discovery interval: a user is listed at least this often.
pub const MAX_DISCOVERY: Duration = Duration::from_secs(6 * 3600);

/// Why a user is listed this tick (the first reason that holds, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// Never listed completely yet.
    First,
    Confirmation,
    Recheck,
    Digest,
    FollowUp,
    Discovery,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::First => "first",
            Why::Confirmation => "confirmation",
            Why::Recheck => "recheck",
            Why::Digest => "digest",
            Why::FollowUp => "follow-up",
            Why::Discovery => "discovery",
        }
    }
}

/// How often `user` is listed to discover new tasks: half the smallest `after` among the rules
/// that can own their tasks (a rule with `max_times = 0` reminds nobody), clamped to
/// [`period`, 6 h]. No such rule: every 6 h (tasks are still tracked for `plan` and digests).
pub fn discovery_interval(rules: &[Rule], user: &User, period: Duration) -> Duration {
    let half_after = rules
        .iter()
        .filter(|r| r.max_times > 0 && r.selects_user(user))
        .map(|r| r.after / 2)
        .min()
        .unwrap_or(MAX_DISCOVERY);
    half_after.min(MAX_DISCOVERY).max(period.min(MAX_DISCOVERY))
}

/// When `user` falls due for a listing that recurs every `every` (discovery, follow-up) after
/// their last complete listing at `last`: at their own phase of the interval, so that users
/// listed together (a start, a calendar opening) spread over it instead of being listed
/// together every `every` for ever.
///
/// Each user has a fixed phase in `[0, every)` from a hash of their id (xxh3: the same in every
/// build): their points are `phase + k·every` (seconds since 1970). They fall due at the last
/// point at or before `last + every` — or at `last + every` itself when that point is within a
/// period of `last` (the listing was in the tick of it). So the gap is never longer than
/// `every`, and from the first interval after a start on a listing lands in the tick of the
/// user's point (exactly `every` apart when `every` is a whole number of periods). An interval
/// under four periods has no phases: due `every` after `last`.
pub fn phased_due(
    user_id: &str,
    last: DateTime<Utc>,
    every: Duration,
    period: Duration,
) -> DateTime<Utc> {
    let plain = TimeDelta::from_std(every)
        .ok()
        .and_then(|d| last.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if plain == DateTime::<Utc>::MAX_UTC {
        return plain;
    }
    let every_s = every.as_secs();
    if every < period.saturating_mul(4) || every_s == 0 {
        return plain;
    }
    let every_s = i64::try_from(every_s).unwrap_or(i64::MAX);
    let phase = (xxhash_rust::xxh3::xxh3_64(user_id.as_bytes()) % every_s as u64) as i64;
    let point = phase + (plain.timestamp() - phase).div_euclid(every_s) * every_s;
    let near = TimeDelta::from_std(period)
        .ok()
        .and_then(|d| last.checked_add_signed(d))
        .unwrap_or(last)
        .timestamp();
    if point > near {
        DateTime::<Utc>::from_timestamp(point, 0).unwrap_or(plain)
    } else {
        plain
    }
}

/// Would waiting for the next tick list `user` later than their phased listing falls due?
pub fn phased_overdue(
    user_id: &str,
    last: Option<DateTime<Utc>>,
    every: Duration,
    period: Duration,
    next_tick: DateTime<Utc>,
) -> bool {
    last.is_none_or(|last| next_tick > phased_due(user_id, last, every, period))
}

/// The cadence of one user, in words (for `check`).
pub fn describe(rules: &[Rule], user: &User, period: Duration, follow_up: Duration) -> String {
    let every = discovery_interval(rules, user, period);
    let owner = rules
        .iter()
        .filter(|r| r.max_times > 0 && r.selects_user(user))
        .min_by_key(|r| r.after);
    let why = match owner {
        Some(r) if every == r.after / 2 => format!("half of rule \"{}\"'s after", r.name),
        Some(_) if every == MAX_DISCOVERY => "half the smallest after, capped at 6h".to_owned(),
        Some(_) => "no more often than the schedule ticks".to_owned(),
        None => "no rule reminds them".to_owned(),
    };
    format!(
        "listed every {} ({why}; each user at their own phase of it); also in the tick a task of theirs comes due, the tick after a listing lacked one, every {} while a reminded task is pending, and before a digest that selects them",
        crate::domain::opinion::human_duration(every),
        crate::domain::opinion::human_duration(follow_up),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rule::{AgeClock, Operator};

    fn rule(name: &str, teams: &[&str], after_h: u64, max_times: u32) -> Rule {
        Rule {
            name: name.into(),
            users: vec![],
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
            api_ids: None,
            label: None,
            after: Duration::from_secs(after_h * 3600),
            repeat: vec![],
            max_times,
            calendar: None,
            age_clock: AgeClock::Wall,
            opinion: crate::domain::opinion::OpinionTemplate::parse("x").unwrap(),
            operator: Operator::User("7000".into()),
            escalate: None,
            first: false,
            owner: None,
        }
    }

    fn user(team: &str) -> User {
        User {
            id: "u1".into(),
            name: None,
            team: Some(team.into()),
        }
    }

    #[test]
    fn discovery_interval_table() {
        let ten_min = Duration::from_secs(600);
        let h = |n: u64| Duration::from_secs(n * 3600);
        // (case, rules, user's team, cron period, interval)
        let cases = [
            (
                "half the after",
                vec![rule("a", &[], 24, 3)],
                "x",
                ten_min,
                h(6),
            ),
            ("half of 4h", vec![rule("a", &[], 4, 3)], "x", ten_min, h(2)),
            (
                "the smallest after among rules that can match",
                vec![rule("a", &[], 24, 3), rule("b", &["x"], 2, 1)],
                "x",
                ten_min,
                h(1),
            ),
            (
                "a rule of another team does not count",
                vec![rule("a", &[], 8, 3), rule("b", &["y"], 2, 1)],
                "x",
                ten_min,
                h(4),
            ),
            (
                "max_times = 0 reminds nobody",
                vec![rule("a", &[], 8, 3), rule("b", &[], 1, 0)],
                "x",
                ten_min,
                h(4),
            ),
            (
                "never less than the cron's period",
                vec![rule("a", &[], 0, 3)],
                "x",
                ten_min,
                ten_min,
            ),
            ("no rule: 6 h", vec![], "x", ten_min, h(6)),
            (
                "a slow cron: the period, up to 6 h",
                vec![rule("a", &[], 2, 3)],
                "x",
                h(12),
                h(6),
            ),
        ];
        for (name, rules, team, period, want) in cases {
            assert_eq!(
                discovery_interval(&rules, &user(team), period),
                want,
                "{name}"
            );
        }
    }

    /// 3,000 users first listed in one tick, then ticking every 10 minutes for a day: each is
    /// listed at most 6 h apart, exactly 6 h once in phase, and the listings after the first
    /// spread over the ticks instead of coming back all in one.
    #[test]
    fn a_phased_listing_spreads_and_is_never_later_than_every() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(); // a tick
        let every = Duration::from_secs(6 * 3600);
        let period = Duration::from_secs(600);
        let mut per_tick = std::collections::BTreeMap::<i64, u32>::new();
        for i in 0..3000 {
            let id = format!("ou_{i:05}");
            // Listed a second after each tick it is listed in.
            let mut listed = vec![t0 + TimeDelta::seconds(1)];
            for k in 1..=144 {
                let tick = t0 + TimeDelta::seconds(600 * k);
                let last = *listed.last().unwrap();
                if phased_overdue(
                    &id,
                    Some(last),
                    every,
                    period,
                    tick + TimeDelta::seconds(600),
                ) {
                    listed.push(tick + TimeDelta::seconds(1));
                    *per_tick.entry(k).or_default() += 1;
                }
            }
            let gaps: Vec<i64> = listed
                .windows(2)
                .map(|w| (w[1] - w[0]).num_seconds())
                .collect();
            assert!(gaps.iter().all(|g| *g <= 6 * 3600), "{id}: {gaps:?}");
            assert!(
                gaps[1..].iter().all(|g| *g == 6 * 3600),
                "{id}: in phase: {gaps:?}"
            );
            assert!(listed.len() >= 5, "{id}: {gaps:?}");
        }
        // 36 ticks of about 83 users each, none crowded.
        assert!(per_tick.len() >= 140, "{per_tick:?}");
        assert!(per_tick.values().all(|&n| n < 170), "{per_tick:?}");
    }

    #[test]
    fn an_interval_under_four_ticks_has_no_phase() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_007, 0).unwrap();
        let period = Duration::from_secs(600);
        for every in [600, 900, 2399] {
            let every = Duration::from_secs(every);
            assert_eq!(
                phased_due("u1", t0, every, period),
                t0 + TimeDelta::from_std(every).unwrap()
            );
        }
        assert!(phased_overdue("u1", None, period, period, t0));
        assert!(!phased_overdue(
            "u1",
            Some(t0),
            period,
            period,
            t0 + TimeDelta::seconds(600)
        ));
        assert!(phased_overdue(
            "u1",
            Some(t0),
            period,
            period,
            t0 + TimeDelta::seconds(601)
        ));
    }
}
