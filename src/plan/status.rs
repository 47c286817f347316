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

impl PlanStatus {
    /// Why, in plain words in `lang`: what a lead reads beside the state (no configuration
    /// keys); times in `tz`.
    pub fn words(self, lang: crate::i18n::Lang, tz: chrono_tz::Tz) -> String {
        use crate::i18n::FluentValue;
        let at = |t: DateTime<Utc>| -> FluentValue<'static> {
            t.with_timezone(&tz)
                .format("%m-%d %H:%M")
                .to_string()
                .into()
        };
        let goes = |t: Option<DateTime<Utc>>| -> FluentValue<'static> {
            match t {
                Some(t) => at(t),
                None => lang.t("why-never").into(),
            }
        };
        let key = format!("why-{}", self.as_str());
        match self {
            PlanStatus::Due { n, due_at } => {
                lang.with(&key, &[("n", n.into()), ("at", at(due_at))])
            }
            PlanStatus::Capped { due_at, goes: g } => {
                lang.with(&key, &[("at", at(due_at)), ("goes", goes(g))])
            }
            PlanStatus::Waiting { n, goes: g, due_at } => {
                lang.with(&key, &[("n", n.into()), ("goes", goes(g.or(Some(due_at))))])
            }
            PlanStatus::Deferred { n, goes: g } => {
                lang.with(&key, &[("n", n.into()), ("goes", goes(g))])
            }
            PlanStatus::Unconfirmed { since: t }
            | PlanStatus::Silenced { until: t }
            | PlanStatus::Away { until: t }
            | PlanStatus::MovedAway { at: t } => lang.with(&key, &[("at", at(t))]),
            PlanStatus::RemindersOver { sent } => lang.with(&key, &[("n", sent.into())]),
            PlanStatus::NotReminded | PlanStatus::NoRule | PlanStatus::Unwatched => lang.t(&key),
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

    /// Every state's "why" in both languages: said in words, no configuration key, no state
    /// code, Chinese in Chinese.
    #[test]
    fn every_state_says_why_in_plain_words_in_both_languages() {
        use crate::i18n::Lang;
        let t = DateTime::parse_from_rfc3339("2026-12-08T01:00:00Z")
            .unwrap()
            .to_utc();
        let all = [
            PlanStatus::Due { n: 2, due_at: t },
            PlanStatus::Capped {
                due_at: t,
                goes: Some(t),
            },
            PlanStatus::Waiting {
                n: 1,
                due_at: t,
                goes: None,
            },
            PlanStatus::Deferred {
                n: 3,
                goes: Some(t),
            },
            PlanStatus::Unconfirmed { since: t },
            PlanStatus::Silenced { until: t },
            PlanStatus::Away { until: t },
            PlanStatus::RemindersOver { sent: 3 },
            PlanStatus::NotReminded,
            PlanStatus::MovedAway { at: t },
            PlanStatus::NoRule,
            PlanStatus::Unwatched,
        ];
        assert_eq!(all.len(), PlanStatus::names().count(), "every state");
        let tz = chrono_tz::Asia::Shanghai;
        for s in all {
            for lang in Lang::ALL {
                let w = s.words(lang, tz);
                assert!(
                    !w.is_empty() && !w.starts_with("why-"),
                    "{s:?} {lang:?}: {w}"
                );
                for config_word in ["max_times", "max_per_user", "_", "[["] {
                    assert!(!w.contains(config_word), "{s:?} {lang:?}: {w}");
                }
                if lang == Lang::Zh {
                    assert!(
                        w.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                        "{w}"
                    );
                }
            }
        }
        assert_eq!(
            PlanStatus::RemindersOver { sent: 3 }.words(Lang::Zh, tz),
            "已催办 3 次，已催满，仍未处理，不再催办"
        );
        assert_eq!(
            PlanStatus::Due { n: 2, due_at: t }.words(Lang::En, tz),
            "reminder 2 due since 12-08 09:00; it goes at the next cycle"
        );
    }
}
