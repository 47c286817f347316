//! A pair's decision as `plan`, the console and the API show it.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the planner decided for a pair, and what explains it. Each variant is one decision of
/// [`decide`](crate::domain::decide::decide) (or of the daily cap, or of the listing) as `plan`, the console and the
/// API show it; the order of the table follows from it ([`rank`](Self::rank)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumDiscriminants)]
#[strum_discriminants(name(StatusName), derive(strum::VariantArray))]
pub enum PlanStatus {
    /// Reminder `n` has been due since `due_at`: it goes next cycle.
    Due { n: u32, due_at: DateTime<Utc> },
    /// Due, but the daily cap has given the assignee today's allowance: it `goes` then.
    Capped {
        due_at: DateTime<Utc>,
        goes: Option<DateTime<Utc>>,
    },
    /// Reminder `n` falls due at `due_at` and `goes` then (a tick, the calendar, the cap).
    Waiting {
        n: u32,
        due_at: DateTime<Utc>,
        goes: Option<DateTime<Utc>>,
    },
    /// Due now, outside the rule's calendar: it `goes` when the calendar opens.
    Deferred { n: u32, goes: Option<DateTime<Utc>> },
    /// Not in a listing `since` then: decided again once a listing confirms or clears it.
    Unconfirmed { since: DateTime<Utc> },
    /// A silence holds it `until`.
    Silenced { until: DateTime<Utc> },
    /// The assignee is away `until` (their deputy may get the task meanwhile).
    Away { until: DateTime<Utc> },
    /// Every reminder the rule allows was sent (`sent`); the task is still pending.
    RemindersOver { sent: u32 },
    /// The rule never reminds (`max_times = 0`).
    NotReminded,
    /// The task was moved away from the assignee `at` then: nothing more goes to them.
    MovedAway { at: DateTime<Utc> },
    /// No rule matches the task.
    NoRule,
    /// The assignee is not in `[[users]]` any more.
    Unwatched,
}

impl PlanStatus {
    /// The status's name, as `plan`'s table, `--json` and the console's filter say it.
    pub fn as_str(self) -> &'static str {
        StatusName::from(self).as_str()
    }

    /// Every status's name, in order (the console's state filter).
    pub fn names() -> impl Iterator<Item = &'static str> {
        <StatusName as strum::VariantArray>::VARIANTS
            .iter()
            .map(|n| n.as_str())
    }

    /// Where it sorts: what goes first, then what goes later, then what is held, then what
    /// is over; within each, by the moment that explains it.
    pub fn rank(self) -> (u8, Option<DateTime<Utc>>) {
        match self {
            PlanStatus::Due { due_at, .. } => (0, Some(due_at)),
            PlanStatus::Waiting { due_at, goes, .. } => (1, goes.or(Some(due_at))),
            PlanStatus::Deferred { goes, .. } | PlanStatus::Capped { goes, .. } => (1, goes),
            PlanStatus::Unconfirmed { since: at }
            | PlanStatus::Silenced { until: at }
            | PlanStatus::Away { until: at } => (2, Some(at)),
            PlanStatus::RemindersOver { .. } | PlanStatus::NotReminded => (3, None),
            PlanStatus::MovedAway { at } => (3, Some(at)),
            PlanStatus::NoRule => (4, None),
            PlanStatus::Unwatched => (5, None),
        }
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PlanStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl StatusName {
    /// Stored nowhere, but read by scripts (`plan --json`, the API) and in URLs: never change
    /// one of these strings.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusName::Due => "due",
            StatusName::Capped => "capped",
            StatusName::Waiting => "waiting",
            StatusName::Deferred => "deferred",
            StatusName::Unconfirmed => "unconfirmed",
            StatusName::Silenced => "silenced",
            StatusName::Away => "away",
            StatusName::RemindersOver => "reminders_over",
            StatusName::NotReminded => "not_reminded",
            StatusName::MovedAway => "moved_away",
            StatusName::NoRule => "no_rule",
            StatusName::Unwatched => "unwatched",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names scripts and URLs read: every status, once, each pinned.
    #[test]
    fn every_status_keeps_its_name() {
        let names: Vec<&str> = PlanStatus::names().collect();
        assert_eq!(
            names,
            [
                "due",
                "capped",
                "waiting",
                "deferred",
                "unconfirmed",
                "silenced",
                "away",
                "reminders_over",
                "not_reminded",
                "moved_away",
                "no_rule",
                "unwatched"
            ]
        );
        assert_eq!(PlanStatus::NoRule.as_str(), "no_rule");
    }
}
