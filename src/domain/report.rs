//! Did the reminders work? Pure statistics over the call history and the backlog, grouped by
//! rule, team or assignee (`expediter report`).
//!
//! Definitions, per (task, assignee) pair reminded in the window:
//! - reminders sent: expedites sent (or possibly sent) in the window;
//! - tasks reminded: distinct tasks with at least one reminder in the window;
//! - finished after a reminder: reminded pairs whose assignment was finished after their first
//!   reminder in the window; time to done is from that first reminder to finished;
//! - finished within 24 h: the share of reminded pairs finished within 24 h of their latest
//!   reminder before finishing, among those that finished or whose latest reminder is at least
//!   24 h old (a reminder of an hour ago has not had its day yet);
//! - escalations: assignees escalated in the window (each kind counts);
//! - moves: assignees a task was moved from in the window (transfer, add_assignee; refused
//!   ones are not counted); moved→done is from the move to the task's finish;
//! - backlog: pending pairs today by age (< 1d, 1–3d, 3–7d, ≥ 7d).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One recipient of a call that acts, with what became of the assignment.
#[derive(Debug, Clone)]
pub struct Sent {
    pub task_id: String,
    pub user_id: String,
    pub rule: String,
    /// `expedite`, `cc`, `chat`, `transfer` or `add_assignee`.
    pub kind: String,
    pub at: DateTime<Utc>,
    /// When the assignment (this task, this user) finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// When the task finished for everyone.
    pub task_finished_at: Option<DateTime<Utc>>,
    /// The task left every watched user's list because it was moved away (to someone not
    /// watched): not known to be done, so not counted as done.
    pub task_moved_away: bool,
}

/// How a report groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Rule,
    Team,
    User,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Backlog {
    pub under_1d: u64,
    pub from_1d_to_3d: u64,
    pub from_3d_to_7d: u64,
    pub over_7d: u64,
}

impl Backlog {
    fn add(&mut self, age: Duration) {
        let days = age.as_secs_f64() / 86_400.0;
        match days {
            d if d < 1.0 => self.under_1d += 1,
            d if d < 3.0 => self.from_1d_to_3d += 1,
            d if d < 7.0 => self.from_3d_to_7d += 1,
            _ => self.over_7d += 1,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    pub name: String,
    pub reminders_sent: u64,
    pub tasks_reminded: u64,
    pub tasks_finished_after_reminder: u64,
    pub median_seconds_to_done: Option<u64>,
    pub p90_seconds_to_done: Option<u64>,
    /// 0.0..=1.0; `None` with nothing reminded.
    pub finished_within_24h_share: Option<f64>,
    pub escalations: u64,
    /// Assignees a task was moved from (to a deputy, or by escalation).
    pub moves: u64,
    /// Moved tasks finished since, and the median time from the move to done.
    pub moved_tasks_finished: u64,
    pub median_seconds_from_move_to_done: Option<u64>,
    /// Moved tasks now out of every watched user's list (moved to someone not watched): not
    /// known to be done, so not in the done figures.
    pub moved_tasks_moved_away: u64,
    pub backlog: Backlog,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub by: GroupBy,
    pub groups: Vec<Group>,
    pub total: Group,
}

/// A moved task in a report: its first move, when it finished, whether it was moved away.
type MovedTask = (DateTime<Utc>, Option<DateTime<Utc>>, bool);

/// The report over `sent` (the window's calls) and `pending` (task, assignee, started, group
/// key source) at `now`. `group_of` names the group of an (assignee, rule) — the rule, the
/// assignee's team, or the assignee.
pub fn build(
    by: GroupBy,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    sent: &[Sent],
    pending: &[(String, String, Option<String>, DateTime<Utc>)],
    group_of: &dyn Fn(&str, &str) -> String,
) -> Report {
    /// One reminded (task, assignee).
    struct Reminded {
        first: DateTime<Utc>,
        all: Vec<DateTime<Utc>>,
        finished: Option<DateTime<Utc>>,
    }
    #[derive(Default)]
    struct Acc {
        group: Group,
        tasks: HashSet<String>,
        pairs: HashMap<(String, String), Reminded>,
        /// Moved tasks: the first move, when the task finished, whether it was moved away.
        moved: HashMap<String, MovedTask>,
    }
    let mut accs: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for s in sent.iter().filter(|s| s.at >= since && s.at <= now) {
        let key = group_of(&s.user_id, &s.rule);
        for acc in [accs.entry(key.clone()).or_default(), &mut total] {
            match super::family_of(&s.kind) {
                Some(super::Family::Reminder) => {
                    acc.group.reminders_sent += 1;
                    acc.tasks.insert(s.task_id.clone());
                    let e = acc
                        .pairs
                        .entry((s.task_id.clone(), s.user_id.clone()))
                        .or_insert(Reminded {
                            first: s.at,
                            all: Vec::new(),
                            finished: s.finished_at,
                        });
                    e.first = e.first.min(s.at);
                    e.all.push(s.at);
                }
                Some(super::Family::Move) => {
                    acc.group.moves += 1;
                    let e = acc.moved.entry(s.task_id.clone()).or_insert((
                        s.at,
                        s.task_finished_at,
                        s.task_moved_away,
                    ));
                    e.0 = e.0.min(s.at);
                }
                Some(super::Family::Escalation) | None => acc.group.escalations += 1,
            }
        }
    }
    for (task, user, rule, started) in pending {
        let key = group_of(user, rule.as_deref().unwrap_or("(no rule)"));
        let _ = task;
        let age = (now - *started).to_std().unwrap_or_default();
        accs.entry(key).or_default().group.backlog.add(age);
        total.group.backlog.add(age);
    }
    let finish = |name: String, acc: Acc| -> Group {
        let mut g = acc.group;
        g.name = name;
        g.tasks_reminded = acc.tasks.len() as u64;
        let mut to_done: Vec<u64> = Vec::new();
        let mut within = 0u64;
        // Judged: the pairs that finished, and those whose latest reminder is a day old; one
        // reminded an hour ago has not had its day yet.
        let mut judged = 0u64;
        for Reminded {
            first,
            all,
            finished,
        } in acc.pairs.values()
        {
            let Some(done) = finished.filter(|f| f >= first) else {
                let latest = all.iter().max().unwrap_or(first);
                if now - *latest >= chrono::TimeDelta::hours(24) {
                    judged += 1;
                }
                continue;
            };
            judged += 1;
            to_done.push((done - *first).num_seconds().max(0) as u64);
            let latest = all.iter().filter(|r| **r <= done).max().unwrap_or(first);
            if done - *latest <= chrono::TimeDelta::hours(24) {
                within += 1;
            }
        }
        g.tasks_finished_after_reminder = to_done.len() as u64;
        to_done.sort_unstable();
        g.median_seconds_to_done = percentile(&to_done, 0.5);
        g.p90_seconds_to_done = percentile(&to_done, 0.9);
        g.finished_within_24h_share = (judged > 0).then(|| within as f64 / judged as f64);
        let mut after_move: Vec<u64> = acc
            .moved
            .values()
            .filter_map(|(at, done, _)| {
                let done = done.filter(|d| d >= at)?;
                Some((done - *at).num_seconds().max(0) as u64)
            })
            .collect();
        after_move.sort_unstable();
        g.moved_tasks_finished = after_move.len() as u64;
        g.median_seconds_from_move_to_done = percentile(&after_move, 0.5);
        g.moved_tasks_moved_away = acc.moved.values().filter(|(_, _, away)| *away).count() as u64;
        g
    };
    let groups = accs.into_iter().map(|(k, a)| finish(k, a)).collect();
    Report {
        since,
        until: now,
        by,
        groups,
        total: finish("total".into(), total),
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::hours(h)
    }

    fn sent(task: &str, user: &str, kind: &str, at: i64, done: Option<i64>) -> Sent {
        Sent {
            task_id: task.into(),
            user_id: user.into(),
            rule: "r".into(),
            kind: kind.into(),
            at: t(at),
            finished_at: done.map(t),
            task_finished_at: done.map(t),
            task_moved_away: false,
        }
    }

    #[test]
    fn a_known_history() {
        let history = vec![
            // a: reminded twice, done 6h after the second (30h after the first).
            sent("a", "u1", "expedite", 0, Some(30)),
            sent("a", "u1", "expedite", 24, Some(30)),
            // b: reminded once, done 10h later.
            sent("b", "u2", "expedite", 10, Some(20)),
            // c: reminded once, done 50h later (not within 24h).
            sent("c", "u1", "expedite", 0, Some(50)),
            // d: reminded, still pending, escalated.
            sent("d", "u2", "expedite", 5, None),
            sent("d", "u2", "cc", 40, None),
            // Before the window: ignored.
            sent("e", "u1", "expedite", -100, Some(1)),
            // g: moved from u1 (to a deputy) at 60, done at 64; h: moved from two, pending.
            Sent {
                finished_at: Some(t(60)),
                ..sent("g", "u1", "transfer", 60, Some(64))
            },
            sent("h", "u1", "add_assignee", 70, None),
            sent("h", "u2", "add_assignee", 70, None),
        ];
        let pending = vec![
            ("d".into(), "u2".into(), Some("r".into()), t(-200)),
            ("f".into(), "u1".into(), None, t(90)),
        ];
        let r = build(GroupBy::User, t(-1), t(100), &history, &pending, &|u, _| {
            u.into()
        });
        let total = &r.total;
        assert_eq!(total.reminders_sent, 5);
        assert_eq!(total.tasks_reminded, 4);
        assert_eq!(total.tasks_finished_after_reminder, 3);
        // To done: 30h, 10h, 50h → median 30h, p90 50h.
        assert_eq!(total.median_seconds_to_done, Some(30 * 3600));
        assert_eq!(total.p90_seconds_to_done, Some(50 * 3600));
        // Within 24h of a reminder: a (6h after the 2nd), b (10h); not c; d not done → 2 of 4.
        assert_eq!(total.finished_within_24h_share, Some(0.5));
        assert_eq!(total.escalations, 1);
        // Moves: three assignees, two tasks; g done 4 h after its move.
        assert_eq!(total.moves, 3);
        assert_eq!(total.moved_tasks_finished, 1);
        assert_eq!(total.median_seconds_from_move_to_done, Some(4 * 3600));
        assert_eq!(total.reminders_sent, 5, "moves are not reminders");
        assert_eq!(
            total.backlog,
            Backlog {
                under_1d: 1,
                from_1d_to_3d: 0,
                from_3d_to_7d: 0,
                over_7d: 1
            }
        );
        let names: Vec<&str> = r.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["u1", "u2"]);
        assert_eq!(r.groups[1].escalations, 1);
        assert_eq!(r.groups[1].median_seconds_to_done, Some(10 * 3600));
    }

    /// A reminder younger than a day is not yet counted against "done within 24 h".
    #[test]
    fn a_reminder_younger_than_a_day_is_not_judged_yet() {
        let history = vec![
            sent("a", "u1", "expedite", 0, Some(10)),
            sent("b", "u1", "expedite", 90, None),
        ];
        let share = |now: i64| {
            build(GroupBy::User, t(-1), t(now), &history, &[], &|u, _| {
                u.into()
            })
            .total
            .finished_within_24h_share
        };
        assert_eq!(share(100), Some(1.0), "b was reminded 10 h ago");
        assert_eq!(share(200), Some(0.5), "b has waited 110 h");
    }
}
