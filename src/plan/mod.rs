//! `expediter plan`: what the daemon will do about every tracked pending task, from the
//! database alone.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Config, User};
use crate::domain::decide::{self, Verdict};
use crate::domain::display_label;
use crate::domain::opinion::human_duration;
use crate::domain::{Pair, calls};
use crate::i18n::{FluentValue, Lang};

#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    pub task_id: String,
    pub label: String,
    pub assignee_id: String,
    pub assignee: String,
    pub age_seconds: u64,
    pub age: String,
    /// Working age under the owning rule's calendar, when it counts working time.
    pub working_age_seconds: Option<u64>,
    pub rule: Option<String>,
    pub expedites_sent: u32,
    /// The planner's decision, with what explains it; `--json` writes its name
    /// ([`PlanStatus::as_str`]).
    pub status: PlanStatus,
    /// RFC 3339 in the configured zone: when the next reminder really goes (at a tick, inside
    /// the rule's calendar, after the daily cap's day).
    pub next_due: Option<String>,
    /// Why there is no next expedite, or why it waits.
    pub why: String,
    /// RFC 3339: when the active silence ends.
    pub silenced_until: Option<String>,
    /// RFC 3339: when the assignee's away window ends (status `away`).
    pub away_until: Option<String>,
    /// Who takes the away assignee's work, when named.
    pub deputy: Option<String>,
    /// The escalation, in words, when the rule escalates: done (by what, when), or when next.
    pub escalation: Option<String>,
    /// The escalation in Chinese words (plan under a Chinese `LANG`, the console in Chinese).
    #[serde(skip)]
    pub escalation_zh: Option<String>,
    /// RFC 3339: when the pair escalates, when that is known.
    pub next_escalation: Option<String>,
    /// RFC 3339: when it was escalated.
    pub escalated_at: Option<String>,
    /// The task's move from this assignee (to the deputy, or by escalation), in words: made,
    /// or refused by Feishu with its code and message.
    pub moved: Option<String>,
    /// RFC 3339: when the move was made (or refused).
    pub moved_at: Option<String>,
    /// RFC 3339: when an away assignee's task goes to their deputy, when that is before they
    /// are back.
    pub next_move: Option<String>,
    /// RFC 3339: the assignee's last complete listing.
    pub assignee_last_listed: Option<String>,
    /// RFC 3339: when the assignee is listed next at the latest (every tick with
    /// `listing = "every_tick"`: the next fire time).
    pub assignee_next_listing: Option<String>,
    /// The owning rule's index, for when a capped call goes.
    #[serde(skip)]
    rule_idx: Option<usize>,
}

impl PlanEntry {
    /// Why, in `lang`: the planner's account in English, the state's plain words in Chinese —
    /// each with the escalation's news when the rule escalates.
    pub fn why_in(&self, lang: Lang, tz: chrono_tz::Tz) -> String {
        match lang {
            Lang::En => match &self.escalation {
                Some(esc) => format!("{}; {esc}", self.why),
                None => self.why.clone(),
            },
            Lang::Zh => match &self.escalation_zh {
                Some(esc) => format!("{}；{esc}", self.status.words(lang, tz)),
                None => self.status.words(lang, tz),
            },
        }
    }
}

/// The plan at `now`. `sent_today` is how many reminders each assignee got today (schedule
/// zone), for the daily cap.
pub fn build(
    config: &Config,
    pairs: &[Pair],
    now: DateTime<Utc>,
    sent_today: &HashMap<String, u32>,
) -> Vec<PlanEntry> {
    let tz = config.schedule.timezone;
    let users: HashMap<&str, &User> = config.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let when = When::new(config, now, sent_today);
    // Each task's assignees among the pairs: nobody is added to a task they hold.
    let mut holders: HashMap<&str, Vec<String>> = HashMap::new();
    if config.away.deputy_action.kind().is_some() {
        for p in pairs.iter().filter(|p| p.missing_since.is_none()) {
            holders
                .entry(p.task_id.as_str())
                .or_default()
                .push(p.user_id.clone());
        }
    }
    let mut entries: Vec<PlanEntry> = pairs
        .iter()
        .map(|row| {
            let facts = row.facts();
            let age = facts.wall_age(now);
            let mut e = PlanEntry {
                task_id: row.task_id.clone(),
                label: display_label(&row.labels).to_owned(),
                assignee_id: row.user_id.clone(),
                assignee: row.user_id.clone(),
                age_seconds: age.as_secs(),
                age: human_duration(age),
                working_age_seconds: None,
                rule: None,
                expedites_sent: row.sent,
                status: PlanStatus::Unwatched,
                next_due: None,
                why: "user is not in [[users]] any more; never expedited".into(),
                silenced_until: None,
                away_until: None,
                deputy: None,
                escalation: None,
                escalation_zh: None,
                next_escalation: None,
                escalated_at: None,
                moved: None,
                moved_at: None,
                next_move: None,
                assignee_last_listed: None,
                assignee_next_listing: None,
                rule_idx: None,
            };
            let Some(user) = users.get(row.user_id.as_str()) else {
                return e;
            };
            e.assignee = user.display_name().to_owned();
            let verdict = decide::decide(&config.policy(), user, &facts, now);
            let rule_of = |i: usize| &config.rules[i];
            e.rule_idx = verdict.rule();
            if let Some(r) = verdict.rule().map(rule_of) {
                e.rule = Some(r.name.clone());
                if r.age_clock == crate::config::AgeClock::Working {
                    e.working_age_seconds =
                        Some(decide::rule_age(&config.policy(), r, &facts, now).as_secs());
                }
            }
            if let Some(m) = facts.moved {
                e.moved_at = Some(m.at.with_timezone(&tz).to_rfc3339());
                let what = m.kind.words();
                e.moved = Some(match &m.refused {
                    None if m.unknown => format!(
                        "{what} at {}, possibly (no answer proved it; counted as done, not repeated)",
                        local(m.at)
                    ),
                    None => format!("{what} at {}", local(m.at)),
                    Some((code, msg)) => format!(
                        "Feishu refused the move ({}) at {} ({}); tried again after {}",
                        m.kind.as_str(),
                        local(m.at),
                        if *code == 0 {
                            msg.clone()
                        } else {
                            format!("code {code}: {msg}")
                        },
                        local(m.retry_at())
                    ),
                });
            }
            if let Some(since) = row.missing_since {
                // Not decided by the cycle until a listing confirms or clears it.
                e.status = PlanStatus::Unconfirmed { since };
                e.why = format!(
                    "not in the listing at {}; finished if the next listing agrees, expedited again if it holds it",
                    local(since)
                );
                return e;
            }
            if !matches!(
                verdict,
                Verdict::Silenced { .. } | Verdict::Away { .. } | Verdict::MovedAway { .. }
            ) {
                describe_escalation(&mut e, config, user, &facts, now, &when);
            }
            match verdict {
                Verdict::Due { n, due_at, .. } => {
                    e.status = PlanStatus::Due { n, due_at };
                    e.next_due = Some(due_at.with_timezone(&tz).to_rfc3339());
                    e.why = format!(
                        "expedite {n} due since {} — goes out next cycle",
                        local(due_at)
                    );
                }
                Verdict::Waiting { rule, n, due_at } => {
                    let (mut goes, mut why) = when.reminder(rule, &row.user_id, due_at);
                    // It would fall inside an away window still to come: it goes once they
                    // are back.
                    if let Some(w) = goes.and_then(|t| facts.away.iter().find(|w| w.holds_at(t))) {
                        let back = decide::away_until(facts.away, w.until);
                        let (later, _) = when.reminder(rule, &row.user_id, back);
                        goes = later;
                        why = format!("{} is away then, until {}", e.assignee, local(back));
                    }
                    e.next_due = goes.map(|t| t.with_timezone(&tz).to_rfc3339());
                    e.why = match goes {
                        Some(t) if why.is_empty() => format!("expedite {n} at {}", local(t)),
                        Some(t) => format!("expedite {n} at {} (due {}; {why})", local(t), local(due_at)),
                        None => format!("expedite {n} due {}, but {why}", local(due_at)),
                    };
                    e.status = PlanStatus::Waiting { n, due_at, goes };
                }
                Verdict::Deferred { rule, n, .. } => {
                    let goes = when.goes(rule, now);
                    e.next_due = goes.map(|t| t.with_timezone(&tz).to_rfc3339());
                    e.why = match goes {
                        Some(t) => format!("expedite {n} due, outside calendar until {}", local(t)),
                        None => format!("expedite {n} due, but the calendar never opens again"),
                    };
                    e.status = PlanStatus::Deferred { n, goes };
                }
                Verdict::Exhausted { rule, sent } => {
                    let r = rule_of(rule);
                    if r.max_times == 0 {
                        e.status = PlanStatus::NotReminded;
                        e.why = "its rule never reminds (an exclusion rule)".into();
                    } else {
                        // Still pending: every reminder the rule allows went, nothing more goes.
                        e.status = PlanStatus::RemindersOver { sent };
                        e.why = format!(
                            "all {sent} reminder(s) its rule allows were sent; still pending, no \
                             more reminders"
                        );
                    }
                }
                Verdict::Silenced { until, reason, .. } => {
                    e.status = PlanStatus::Silenced { until };
                    e.silenced_until = Some(until.with_timezone(&tz).to_rfc3339());
                    e.why = if reason.is_empty() {
                        format!("silenced until {}", local(until))
                    } else {
                        format!("silenced until {} ({reason})", local(until))
                    };
                }
                Verdict::Away {
                        until,
                        deputy,
                        reason,
                        ..
                    } => {
                        e.status = PlanStatus::Away { until };
                        e.away_until = Some(until.with_timezone(&tz).to_rfc3339());
                        // What goes once they are back: the rule's decision at that moment.
                        let back = decide::PairFacts {
                            away: &[],
                            ..facts.clone()
                        };
                        e.next_due = match decide::decide(&config.policy(), user, &back, until) {
                            Verdict::Due { rule, due_at, .. } | Verdict::Waiting { rule, due_at, .. } => {
                                when.reminder(rule, &row.user_id, due_at.max(until))
                                    .0
                                    .map(|t| t.with_timezone(&tz).to_rfc3339())
                            }
                            _ => None,
                        };
                        e.deputy = deputy.clone();
                        let deputy = deputy.as_deref().map_or(String::new(), |d| {
                            format!(" (deputy {})", users.get(d).map_or(d, |u| u.display_name()))
                        });
                        e.why = if reason.is_empty() {
                            format!("away until {}{deputy}", local(until))
                        } else {
                            format!("away until {}{deputy}: {reason}", local(until))
                        };
                        if let (Some(kind), Some(d)) =
                            (config.away.deputy_action.kind(), e.deputy.as_deref())
                        {
                            let holders = holders.get(row.task_id.as_str());
                            let holders = holders.map_or(&[][..], Vec::as_slice);
                            // The planner's own answer; when: as if they were here, before
                            // they are back.
                            let goes = match calls::deputy_move(
                                &config.policy(),
                                user,
                                &facts,
                                d,
                                false,
                                now,
                            ) {
                                _ if !calls::move_adds_someone(kind, holders, d) => None,
                                calls::ToDeputy::Due { .. } => Some(now),
                                calls::ToDeputy::Later { rule, due_at } => when.goes(rule, due_at),
                                calls::ToDeputy::Not => None,
                            }
                            .filter(|t| *t < until);
                            if let Some(t) = goes {
                                e.next_move = Some(t.with_timezone(&tz).to_rfc3339());
                                let at = if t <= now {
                                    "next cycle".to_owned()
                                } else {
                                    format!("at {}", local(t))
                                };
                                e.why.push_str(&format!(
                                    "; the task goes to the deputy ({}) {at} (unless the deputy is away then)",
                                    kind.as_str()
                                ));
                            }
                        }
                    }
                Verdict::MovedAway { at, .. } => {
                    // The move's own words follow (`moved`); nothing more goes to them.
                    e.status = PlanStatus::MovedAway { at };
                    e.why = format!("not {}'s any more: no more reminders to them", e.assignee);
                }
                Verdict::NoRule => {
                    e.status = PlanStatus::NoRule;
                    e.why = "no rule matches".into();
                }
            }
            e
        })
        .collect();
    for e in &mut entries {
        if let Some(m) = &e.moved {
            e.why = format!("{}; {m}", e.why);
        }
    }
    mark_capped(
        &mut entries,
        config.expedite.max_per_user_per_day,
        sent_today,
        &local,
        &when,
    );
    entries.sort_by(|a, b| {
        a.status
            .rank()
            .cmp(&b.status.rank())
            .then_with(|| b.age_seconds.cmp(&a.age_seconds))
            .then_with(|| a.task_id.cmp(&b.task_id))
            .then_with(|| a.assignee_id.cmp(&b.assignee_id))
    });
    entries
}

/// With a daily cap, each assignee's due pairs beyond what is left of today's allowance wait
/// for tomorrow, the most overdue going first.
fn mark_capped(
    entries: &mut [PlanEntry],
    cap: u32,
    sent_today: &HashMap<String, u32>,
    local: &dyn Fn(DateTime<Utc>) -> String,
    when: &When<'_>,
) {
    if cap == 0 {
        return;
    }
    let mut due: Vec<(DateTime<Utc>, &mut PlanEntry)> = entries
        .iter_mut()
        .filter_map(|e| match e.status {
            PlanStatus::Due { due_at, .. } => Some((due_at, e)),
            _ => None,
        })
        .collect();
    due.sort_by_key(|(due_at, _)| *due_at);
    let mut given: HashMap<String, u32> = HashMap::new();
    for (due_at, e) in due {
        let today = sent_today.get(&e.assignee_id).copied().unwrap_or(0);
        let n = given.entry(e.assignee_id.clone()).or_insert(today);
        if *n >= cap {
            let goes = e.rule_idx.and_then(|r| when.goes(r, when.tomorrow));
            e.next_due = goes.map(|t| t.with_timezone(&when.tz).to_rfc3339());
            e.why = format!(
                "capped: {} already had {cap} reminder(s) today, the daily limit; goes {} (due \
                 since {})",
                e.assignee,
                goes.map_or("when the calendar opens again".into(), |t| format!(
                    "at {}",
                    local(t)
                )),
                local(due_at)
            );
            e.status = PlanStatus::Capped { due_at, goes };
        } else {
            *n += 1;
        }
    }
}

/// The escalation columns: done, due, or when and on what condition.
fn describe_escalation(
    e: &mut PlanEntry,
    config: &Config,
    user: &User,
    facts: &decide::PairFacts<'_>,
    now: DateTime<Utc>,
    when: &When<'_>,
) {
    use decide::EscalationVerdict as E;
    let tz = config.schedule.timezone;
    let rfc = |t: DateTime<Utc>| t.with_timezone(&tz).to_rfc3339();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let Some(verdict) = decide::decide_escalation(&config.policy(), user, facts, now) else {
        return;
    };
    let by = |lang: Lang, cc: bool, chat: bool, moves: bool| {
        let kinds: Vec<String> = [(cc, "esc-cc"), (chat, "esc-chat"), (moves, "esc-move")]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, key)| lang.t(key))
            .collect();
        kinds.join(&lang.t("esc-and"))
    };
    let never = |lang: Lang, key: &str| lang.t(key);
    let words = |lang: Lang| -> String {
        let with = |key: &str, args: &[(&'static str, FluentValue<'_>)]| lang.with(key, args);
        match &verdict {
            E::NotYet { after_times, sent } => with(
                "esc-not-yet",
                &[("after", (*after_times).into()), ("sent", (*sent).into())],
            ),
            E::Unconfirmed => lang.t("esc-unconfirmed"),
            E::Waiting { at } => match e.rule_idx.map_or(Some(*at), |r| when.goes(r, *at)) {
                Some(t) => with("esc-waiting", &[("at", local(t).into())]),
                None => never(lang, "esc-waiting-never"),
            },
            E::Deferred { .. } => match e.rule_idx.and_then(|r| when.goes(r, now)) {
                Some(t) => with("esc-deferred", &[("at", local(t).into())]),
                None => never(lang, "esc-deferred-never"),
            },
            E::Due { cc, chat, moves } => {
                with("esc-due", &[("by", by(lang, *cc, *chat, *moves).into())])
            }
            E::Done { at } => {
                let (cc, chat) = (facts.escalated.cc.is_some(), facts.escalated.chat.is_some());
                let moved = facts.moved.is_some_and(|m| m.refused.is_none());
                with(
                    "esc-done",
                    &[
                        ("by", by(lang, cc, chat, moved).into()),
                        ("at", local(*at).into()),
                    ],
                )
            }
        }
    };
    match &verdict {
        E::Waiting { at } => {
            let at = *at;
            e.next_escalation = e.rule_idx.map_or(Some(at), |r| when.goes(r, at)).map(rfc);
        }
        E::Deferred { .. } => {
            e.next_escalation = e.rule_idx.and_then(|r| when.goes(r, now)).map(rfc);
        }
        E::Due { .. } => e.next_escalation = Some(rfc(now)),
        E::Done { at } => e.escalated_at = Some(rfc(*at)),
        E::NotYet { .. } | E::Unconfirmed => {}
    }
    e.escalation = Some(words(Lang::En));
    e.escalation_zh = Some(words(Lang::Zh));
}

/// Does rule `rule` have a calendar that still opens after `from`, but at none of the
/// schedule's ticks (a daily 03:00 tick and 09:00–10:00 hours): it never sends.
pub fn misses_calendar(config: &Config, rule: usize, from: DateTime<Utc>) -> bool {
    let Some(cal) = config.rules[rule].calendar.map(|c| &config.calendars[c]) else {
        return false;
    };
    let ticks = config.ticks();
    let tick_from = |t: DateTime<Utc>| ticks.next_from(t);
    cal.next_open(from, config.schedule.timezone).is_some()
        && ticks.next_from(from).is_some()
        && decide::goes_at(&config.policy(), rule, from, &tick_from).is_none()
}

/// When calls really go: at a tick, inside the rule's calendar, and not today for an assignee
/// the daily cap holds.
struct When<'c> {
    config: &'c Config,
    tz: chrono_tz::Tz,
    /// The start of tomorrow (schedule zone), when the daily cap lets go again.
    tomorrow: DateTime<Utc>,
    /// Assignees who already got today's allowance.
    capped_today: std::collections::HashSet<&'c str>,
}

impl<'c> When<'c> {
    fn new(config: &'c Config, now: DateTime<Utc>, sent_today: &'c HashMap<String, u32>) -> Self {
        let tz = config.schedule.timezone;
        let today = crate::domain::calls::day_start(now, tz);
        let cap = config.expedite.max_per_user_per_day;
        When {
            config,
            tz,
            tomorrow: crate::domain::calls::day_start(today + chrono::TimeDelta::hours(26), tz),
            capped_today: sent_today
                .iter()
                .filter(|(_, n)| cap > 0 && **n >= cap)
                .map(|(u, _)| u.as_str())
                .collect(),
        }
    }

    /// The first tick at or after `from` inside rule `rule`'s calendar.
    fn goes(&self, rule: usize, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tick_from = |t: DateTime<Utc>| self.config.ticks().next_from(t);
        decide::goes_at(&self.config.policy(), rule, from, &tick_from)
    }

    /// When a reminder due at `due_at` goes, and what holds it past the tick after it (empty:
    /// nothing).
    fn reminder(
        &self,
        rule: usize,
        user: &str,
        due_at: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, String) {
        let plain = self.goes(rule, due_at);
        let capped = self.capped_today.contains(user) && plain.is_some_and(|t| t < self.tomorrow);
        let goes = if capped {
            self.goes(rule, self.tomorrow)
        } else {
            plain
        };
        let opens = self.config.rules[rule].calendar.is_some();
        let why = match goes {
            None if opens && misses_calendar(self.config, rule, due_at) => {
                "no tick of the schedule falls inside its calendar: it never sends".to_owned()
            }
            None if opens => "the calendar never opens again".to_owned(),
            None => "the schedule never fires again".to_owned(),
            Some(_) if capped => "the daily cap is reached today".to_owned(),
            Some(t) if opens && self.goes_unheld(due_at).is_some_and(|u| u < t) => {
                "outside calendar then".to_owned()
            }
            Some(_) => String::new(),
        };
        (goes, why)
    }

    /// The first tick at or after `from`, calendar or not.
    fn goes_unheld(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.config.ticks().next_from(from)
    }
}

mod render;
mod status;

pub use status::PlanStatus;

pub use render::{
    Layout, PLAN_COLUMNS, UserListings, listings, render_listings, render_table, with_listings,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// A pending pair of task t1 for `user`, started and confirmed at `started`.
    fn pair(user: &str, started: DateTime<Utc>) -> Pair {
        Pair {
            task_id: "t1".into(),
            user_id: user.into(),
            labels: Vec::new(),
            initiator_id: None,
            initiator_name: None,
            start_time: Some(started),
            first_seen: started,
            flow_sets: Vec::new(),
            sent: 0,
            last_sent: None,
            missing_since: None,
            confirmed_at: Some(started),
            silence: None,
            escalated: Default::default(),
            chat_id: None,
            away: Vec::new(),
            moved: None,
            moved_to: Vec::new(),
            moved_in: None,
        }
    }

    /// The time `plan` gives is when the call really goes: at a tick, inside the calendar's
    /// hours, past a holiday, on a make-up day, and on the next day when the daily cap binds.
    #[test]
    fn the_next_time_is_when_the_call_really_goes_table() {
        use chrono::TimeZone;
        let text = r#"
[feishu]
app_id = "cli_x"
app_secret = "s3cret"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[expedite]
operator_user_id = "7000"
max_per_user_per_day = 1

[[users]]
id = "u1"

[[users]]
id = "u2"

[[calendars]]
name = "office"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
hours = ["09:00-10:00", "14:00-18:00"]
holidays = ["2031-01-01"]
workdays = ["2031-01-04"]

[[rules]]
name = "office"
after = "2h"
calendar = "office"
"#;
        let config = Config::parse(text, std::path::Path::new("/x/config.toml"), false).unwrap();
        let sh = chrono_tz::Asia::Shanghai;
        let at = |d: u32, h: u32, m: u32| {
            sh.with_ymd_and_hms(2031, 1, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // 2031-01-01 is a Wednesday (a holiday here), 01-04 a Saturday (a make-up day).
        // (case, assignee, started, now, status, next time as local "DD HH:MM")
        let cases = [
            (
                "due inside the hours: the tick at or after it",
                "u1",
                at(2, 14, 25),
                at(2, 15, 0),
                "waiting",
                "02 16:30",
            ),
            (
                "due after the hours: the next opening",
                "u1",
                at(2, 16, 25),
                at(2, 17, 0),
                "waiting",
                "03 09:00",
            ),
            (
                "due in the lunch gap",
                "u1",
                at(2, 8, 30),
                at(2, 9, 0),
                "waiting",
                "02 14:00",
            ),
            (
                "due on a holiday: the next working day",
                "u1",
                at(1, 8, 0),
                at(1, 9, 0),
                "waiting",
                "02 09:00",
            ),
            (
                "due over a weekend with a make-up Saturday",
                "u1",
                at(3, 17, 0),
                at(3, 17, 30),
                "waiting",
                "04 09:00",
            ),
            (
                "due now but closed: deferred to the opening",
                "u1",
                at(2, 10, 0),
                at(2, 12, 5),
                "deferred",
                "02 14:00",
            ),
            (
                "the daily cap reached today: tomorrow's first opening",
                "u2",
                at(2, 14, 0),
                at(2, 14, 30),
                "waiting",
                "03 09:00",
            ),
        ];
        let mut sent_today = HashMap::new();
        sent_today.insert("u2".to_owned(), 1);
        for (name, user, started, now, status, next) in cases {
            let entries = build(&config, &[pair(user, started)], now, &sent_today);
            let e = &entries[0];
            assert_eq!(e.status.as_str(), status, "{name}: {e:?}");
            let got = DateTime::parse_from_rfc3339(e.next_due.as_deref().unwrap())
                .unwrap()
                .with_timezone(&sh)
                .format("%d %H:%M")
                .to_string();
            assert_eq!(got, next, "{name}: {}", e.why);
        }
    }

    /// A daily 03:00 tick and 09:00–10:00 hours: the rule never sends, and `plan` and `check`
    /// say so (not "the calendar never opens again").
    #[test]
    fn a_schedule_that_never_fires_inside_the_calendar_is_said_so() {
        use chrono::TimeZone;
        let text = r#"
[feishu]
app_id = "cli_x"
app_secret = "s3cret"

[schedule]
cron = "0 0 3 * * *"
timezone = "Asia/Shanghai"

[expedite]
operator_user_id = "7000"

[[users]]
id = "u1"

[[calendars]]
name = "office"
weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
hours = ["09:00-10:00"]

[[rules]]
name = "office"
after = "2h"
calendar = "office"
"#;
        let config = Config::parse(text, std::path::Path::new("/x/config.toml"), false).unwrap();
        let now = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2031, 1, 2, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let started = now - chrono::TimeDelta::hours(1);
        let entries = build(&config, &[pair("u1", started)], now, &HashMap::new());
        assert!(
            entries[0]
                .why
                .contains("no tick of the schedule falls inside its calendar"),
            "{:?}",
            entries[0]
        );
        assert!(misses_calendar(&config, 0, now));
        let words = crate::commands::describe_config(&config, now);
        assert!(
            words.contains("no tick of [schedule] cron falls inside"),
            "{words}"
        );
    }
}
