//! The decisions, as pure functions: should this (task, assignee) be expedited now — and
//! escalated — and if not, when or why not. No clock, database or network in here; `now` is an
//! argument.

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
    /// The assignee's last complete listing (which held the task): an expedite before it went
    /// unanswered.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The silence on this pair that ends last, if any: until, reason.
    pub silence: Option<(DateTime<Utc>, &'a str)>,
    /// When this pair was escalated, per kind (done or possibly done).
    pub escalated: Escalated,
    /// The assignee's away windows (current and future).
    pub away: &'a [super::AwayWindow],
    /// The last move of the task from this assignee, if any.
    pub moved: Option<&'a super::MoveRecord>,
    /// Everyone the task was moved to so far (by anyone's move).
    pub moved_to: &'a [String],
    /// When the task was last moved to this assignee, if it was.
    pub moved_in: Option<DateTime<Utc>>,
}

/// When a pair was escalated, by each kind of escalation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Escalated {
    pub cc: Option<DateTime<Utc>>,
    pub chat: Option<DateTime<Utc>>,
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
    /// A silence holds it until `until`: neither expedited nor escalated nor counted as due.
    Silenced {
        rule: Option<usize>,
        until: DateTime<Utc>,
        reason: String,
    },
    /// The assignee is away until `until`: nothing reminds or escalates to them meanwhile;
    /// when it ends, what is due then is due once.
    Away {
        rule: Option<usize>,
        until: DateTime<Utc>,
        deputy: Option<String>,
        reason: String,
    },
    /// The task was transferred away from this assignee (sent, or possibly sent): it is not
    /// theirs any more, so nothing reminds or escalates to them about it.
    MovedAway {
        rule: Option<usize>,
        at: DateTime<Utc>,
    },
    NoRule,
}

impl Verdict {
    /// The rule that owns the pair, when one does.
    pub fn rule(&self) -> Option<usize> {
        match self {
            Verdict::Due { rule, .. }
            | Verdict::Waiting { rule, .. }
            | Verdict::Deferred { rule, .. }
            | Verdict::Exhausted { rule, .. } => Some(*rule),
            Verdict::Silenced { rule, .. }
            | Verdict::Away { rule, .. }
            | Verdict::MovedAway { rule, .. } => *rule,
            Verdict::NoRule => None,
        }
    }
}

/// Of the windows holding at `now`, the one that speaks (its deputy, its reason): the one that
/// started last — but one with a deputy is not hidden by one without (a long leave entered
/// without a deputy and a trip with one: the trip's deputy takes the work).
pub fn holding_window(
    windows: &[super::AwayWindow],
    now: DateTime<Utc>,
) -> Option<&super::AwayWindow> {
    windows
        .iter()
        .filter(|w| w.holds_at(now))
        .max_by_key(|w| (w.deputy.is_some(), w.from, w.until))
}

/// When someone away until `until` is back: windows that touch or overlap it chain on.
pub fn away_until(windows: &[super::AwayWindow], mut until: DateTime<Utc>) -> DateTime<Utc> {
    loop {
        let further = windows
            .iter()
            .filter(|w| w.from <= until && w.until > until)
            .map(|w| w.until)
            .max();
        match further {
            Some(t) => until = t,
            None => return until,
        }
    }
}

/// The escalation of one pair, under its rule's `[rules.escalate]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationVerdict {
    /// Fewer than `after_times` expedites so far.
    NotYet { after_times: u32, sent: u32 },
    /// Enough expedites, but no complete listing has shown the task still pending since the last.
    Unconfirmed,
    /// Unanswered; escalates at `at` (the rule's `wait` after the last expedite).
    Waiting { at: DateTime<Utc> },
    /// Due, but outside the rule's calendar.
    Deferred { opens_at: Option<DateTime<Utc>> },
    /// Escalate now, by these kinds (those not done yet); `moves`: move the task
    /// (`transfer_to` / `add_assignee`).
    Due { cc: bool, chat: bool, moves: bool },
    /// Every configured kind is done (or may be): at when the last one was.
    Done { at: DateTime<Utc> },
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
    let owner = owning_rule(policy.rules, user, facts);
    // Until a complete listing after the move shows the task still theirs: then the transfer
    // did not take (an unknown answer that was not a move after all) or it came back to them.
    if let Some(m) = facts.moved
        && m.kind == super::CallKind::Transfer
        && m.refused.is_none()
        && facts.confirmed_at.is_none_or(|c| c <= m.at)
    {
        return Verdict::MovedAway {
            rule: owner,
            at: m.at,
        };
    }
    if let Some((until, reason)) = facts.silence
        && now < until
    {
        return Verdict::Silenced {
            rule: owner,
            until,
            reason: reason.to_owned(),
        };
    }
    if let Some(w) = holding_window(facts.away, now) {
        return Verdict::Away {
            rule: owner,
            until: away_until(facts.away, w.until),
            deputy: w.deputy.clone(),
            reason: w.reason.clone(),
        };
    }
    let Some(idx) = owner else {
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
        // Someone a task was moved to has it only since the move: the first reminder waits
        // `deputy_after` (the rule's `after`) from there.
        match facts.moved_in {
            Some(at) if at > facts.started() => (at, policy.deputy_after.unwrap_or(rule.after)),
            _ => (facts.started(), rule.after),
        }
    } else {
        match rule.gap_before(facts.sent + 1) {
            None => {
                return Verdict::Exhausted {
                    rule: idx,
                    sent: facts.sent,
                };
            }
            Some(gap) => (facts.last_sent.unwrap_or(facts.started()), gap),
        }
    };
    let calendar = rule.calendar.map(|c| &policy.calendars[c]);
    let due_at = later_by(policy, rule, base, wait);
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

/// When a call of rule `rule` that may go from `from` on really goes: the first tick at or
/// after `from` at which the rule's calendar is open (`tick_from(t)`: the schedule's first fire
/// time at or after `t`). `None` when the schedule or the calendar never allows it.
pub fn goes_at(
    policy: &Policy<'_>,
    rule: usize,
    from: DateTime<Utc>,
    tick_from: &dyn Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let calendar = policy.rules[rule].calendar.map(|c| &policy.calendars[c]);
    let mut at = from;
    // Each round moves to a later opening; a calendar open at none of a hundred ticks in a row
    // (a schedule that fires only while it is closed) never lets the call go.
    for _ in 0..100 {
        let tick = tick_from(at)?;
        match calendar {
            Some(cal) if !cal.is_open(tick, policy.timezone) => {
                at = cal.next_open(tick, policy.timezone)?;
            }
            _ => return Some(tick),
        }
    }
    None
}

/// `base` plus `wait` under the rule's clock: working time when it counts working time.
fn later_by(
    policy: &Policy<'_>,
    rule: &Rule,
    base: DateTime<Utc>,
    wait: Duration,
) -> DateTime<Utc> {
    match (rule.age_clock, rule.calendar.map(|c| &policy.calendars[c])) {
        (AgeClock::Working, Some(cal)) => cal
            .add_working(base, wait, policy.timezone)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        _ => chrono::TimeDelta::from_std(wait)
            .ok()
            .and_then(|w| base.checked_add_signed(w))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    }
}

/// Should this pair be escalated now? `None` when its rule has no `[rules.escalate]` (or no
/// rule owns it). A silenced pair is never escalated: callers check [`Verdict::Silenced`] first.
///
/// Escalation comes once `after_times` expedites went unanswered — a complete listing after
/// the last one still showed the task pending for the assignee — and `wait` has passed since
/// the last; inside the rule's calendar. Each kind (cc, chat) happens at most once per pair.
pub fn decide_escalation(
    policy: &Policy<'_>,
    user: &User,
    facts: &PairFacts<'_>,
    now: DateTime<Utc>,
) -> Option<EscalationVerdict> {
    let rule = &policy.rules[owning_rule(policy.rules, user, facts)?];
    let esc = rule.escalate.as_ref()?;
    let need_cc = !esc.cc.is_empty() && facts.escalated.cc.is_none();
    let need_chat = esc.chat && facts.escalated.chat.is_none();
    // A move is owed while someone it names does not have the task yet (nor is this assignee),
    // unless Feishu refused this assignee's last move less than a day ago.
    let resting = facts
        .moved
        .filter(|m| m.refused.is_some() && m.settles(now));
    let need_move = esc.move_to.as_ref().is_some_and(|to| {
        to.people()
            .iter()
            .any(|p| *p != user.id && !facts.moved_to.contains(p))
    }) && resting.is_none();
    if !need_cc && !need_chat && !need_move {
        let moved = facts.moved.filter(|m| m.refused.is_none()).map(|m| m.at);
        let at = facts.escalated.cc.max(facts.escalated.chat).max(moved);
        return match (at, resting) {
            (Some(at), _) => Some(EscalationVerdict::Done { at }),
            // Only a refused move, tried again a day later.
            (None, Some(m)) => Some(EscalationVerdict::Waiting { at: m.retry_at() }),
            // Nothing this assignee's escalation does is left (moved to its people by another).
            (None, None) => None,
        };
    }
    if facts.sent < esc.after_times {
        return Some(EscalationVerdict::NotYet {
            after_times: esc.after_times,
            sent: facts.sent,
        });
    }
    let last = facts.last_sent.unwrap_or(facts.started());
    if facts.confirmed_at.is_none_or(|c| c <= last) {
        return Some(EscalationVerdict::Unconfirmed);
    }
    // A reminder that reached someone who then went away was not ignored: the wait counts
    // from the end of an away window that began after it.
    let back = facts
        .away
        .iter()
        .filter(|w| w.until <= now && w.until > last)
        .map(|w| w.until)
        .max();
    let at = later_by(policy, rule, back.unwrap_or(last).max(last), esc.wait);
    if now < at {
        return Some(EscalationVerdict::Waiting { at });
    }
    let tz = policy.timezone;
    match rule.calendar.map(|c| &policy.calendars[c]) {
        Some(cal) if !cal.is_open(now, tz) => Some(EscalationVerdict::Deferred {
            opens_at: cal.next_open(now, tz),
        }),
        _ => Some(EscalationVerdict::Due {
            cc: need_cc,
            chat: need_chat,
            moves: need_move,
        }),
    }
}

#[cfg(test)]
mod window_tests {
    use super::super::AwayWindow;
    use super::holding_window;
    use chrono::{TimeZone, Utc};

    fn w(from_day: u32, until_day: u32, deputy: Option<&str>) -> AwayWindow {
        AwayWindow {
            from: Utc.with_ymd_and_hms(2030, 3, from_day, 0, 0, 0).unwrap(),
            until: Utc.with_ymd_and_hms(2030, 3, until_day, 0, 0, 0).unwrap(),
            deputy: deputy.map(str::to_owned),
            reason: format!("{from_day}-{until_day}"),
        }
    }

    #[test]
    fn the_window_that_started_last_holds_and_a_deputy_is_not_hidden() {
        let now = Utc.with_ymd_and_hms(2030, 3, 5, 12, 0, 0).unwrap();
        // A two-week leave without a deputy, a three-day trip with one inside it: the trip's
        // deputy (it would be hidden by "the one ending last").
        let leave = w(1, 15, None);
        let trip = w(4, 7, Some("8302"));
        let both = [leave.clone(), trip.clone()];
        assert_eq!(holding_window(&both, now), Some(&trip));
        // Two with deputies: the one that started last.
        let later = w(5, 6, Some("8303"));
        let three = [leave.clone(), trip.clone(), later.clone()];
        assert_eq!(holding_window(&three, now), Some(&later));
        // None with a deputy: the one that started last.
        let short = w(5, 6, None);
        assert_eq!(
            holding_window(&[leave.clone(), short.clone()], now),
            Some(&short)
        );
        // A window over or to come holds nothing.
        assert_eq!(
            holding_window(&[w(1, 2, Some("x")), w(9, 10, Some("y"))], now),
            None
        );
    }
}
