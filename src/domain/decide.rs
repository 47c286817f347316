//! The decision, as a pure function: should this (task, assignee) be expedited now, and if not,
//! when or why not. No clock, database or network in here; `now` is an argument.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Policy;
use super::rule::{AgeClock, Rule, User};

/// What is known about one pending (task, assignee).
#[derive(Debug, Clone)]
pub struct PairFacts<'a> {
    pub labels: &'a [(String, String)],
    pub start_time: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    /// Flow filters (sorted api ids joined by `,`) whose listing returned the task.
    pub flow_sets: &'a [String],
    /// Expedites sent, or possibly sent, to this assignee for this task.
    pub sent: u32,
    pub last_sent: Option<DateTime<Utc>>,
}

impl PairFacts<'_> {
    /// Age counts from the task's start, or from when it was first seen when Feishu gave no start.
    pub fn started(&self) -> DateTime<Utc> {
        self.start_time.unwrap_or(self.first_seen)
    }

    pub fn wall_age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.started()).to_std().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Expedite now: this is expedite number `n`, due since `due_at`.
    Due {
        rule: usize,
        n: u32,
        due_at: DateTime<Utc>,
    },
    /// Not yet: the next expedite falls due at `due_at`.
    Waiting {
        rule: usize,
        n: u32,
        due_at: DateTime<Utc>,
    },
    /// Due, but outside the rule's calendar; goes out when it opens.
    Deferred {
        rule: usize,
        n: u32,
        due_at: DateTime<Utc>,
        opens_at: Option<DateTime<Utc>>,
    },
    /// `max_times` reached (or the rule never expedites).
    Exhausted {
        rule: usize,
        sent: u32,
    },
    NoRule,
}

/// A flow set: the key a listing filtered by `api_ids` is known by (its sorted ids joined by `,`).
pub fn flow_set_of(api_ids: &[String]) -> String {
    api_ids.join(",")
}

/// The first rule that selects this assignee, label and flow.
pub fn owning_rule(rules: &[Rule], user: &User, facts: &PairFacts<'_>) -> Option<usize> {
    rules.iter().position(|r| {
        r.selects(user, facts.labels)
            && match &r.api_ids {
                None => true,
                Some(ids) => {
                    let key = flow_set_of(ids);
                    facts.flow_sets.contains(&key)
                }
            }
    })
}

/// Working age under the rule's clock (wall age for wall-clock rules).
pub fn rule_age(
    policy: &Policy<'_>,
    rule: &Rule,
    facts: &PairFacts<'_>,
    now: DateTime<Utc>,
) -> Duration {
    match (rule.age_clock, rule.calendar) {
        (AgeClock::Working, Some(c)) => {
            policy.calendars[c].working_between(facts.started(), now, policy.timezone)
        }
        _ => facts.wall_age(now),
    }
}

pub fn decide(
    policy: &Policy<'_>,
    user: &User,
    facts: &PairFacts<'_>,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(idx) = owning_rule(policy.rules, user, facts) else {
        return Verdict::NoRule;
    };
    let rule = &policy.rules[idx];
    let tz: Tz = policy.timezone;
    if facts.sent >= rule.max_times {
        return Verdict::Exhausted {
            rule: idx,
            sent: facts.sent,
        };
    }
    let (base, wait) = if facts.sent == 0 {
        (facts.started(), rule.after)
    } else {
        match rule.repeat {
            None => {
                return Verdict::Exhausted {
                    rule: idx,
                    sent: facts.sent,
                };
            }
            Some(repeat) => (facts.last_sent.unwrap_or(facts.started()), repeat),
        }
    };
    let calendar = rule.calendar.map(|c| &policy.calendars[c]);
    let due_at = match (rule.age_clock, calendar) {
        (AgeClock::Working, Some(cal)) => cal
            .add_working(base, wait, tz)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        _ => chrono::TimeDelta::from_std(wait)
            .ok()
            .and_then(|w| base.checked_add_signed(w))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    };
    let n = facts.sent + 1;
    if now < due_at {
        return Verdict::Waiting {
            rule: idx,
            n,
            due_at,
        };
    }
    match calendar {
        Some(cal) if !cal.is_open(now, tz) => Verdict::Deferred {
            rule: idx,
            n,
            due_at,
            opens_at: cal.next_open(now, tz),
        },
        _ => Verdict::Due {
            rule: idx,
            n,
            due_at,
        },
    }
}
