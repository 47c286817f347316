//! From decisions to calls, purely: coalesce each task's due assignees into one call (chunks
//! of at most the platform's limit), and order calls most overdue first with no assignee
//! starving the others.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rustc_hash::FxHashMap;

use super::decide::{self, EscalationVerdict, Verdict};
use super::opinion::OpinionValues;

use super::rule::{Operator, Rule, User};
use super::{CallKind, Pair, Policy, Recipient, display_label};

/// One expediting call to make.
#[derive(Debug, Clone)]
pub struct Call {
    pub task_id: String,
    pub rule: usize,
    pub operator: String,
    pub opinion: String,
    pub assignees: Vec<Recipient>,
    pub names: Vec<String>,
    pub age: Duration,
    /// The task's label and initiator, as the opinion names them.
    pub label: String,
    pub initiator: String,
    /// When its earliest assignee fell due: the earlier, the more overdue. A moment rather than
    /// a duration, so calls planned at different times in a cycle compare fairly.
    pub due_at: DateTime<Utc>,
}

impl Call {
    /// Renders the opinion for the call's assignees as they are now (a daily cap may have
    /// taken some out), under the rule that speaks for the call.
    pub fn render_opinion(&mut self, rules: &[Rule]) {
        let rule = &rules[self.rule];
        self.opinion = rule.opinion.render(&OpinionValues {
            task_id: &self.task_id,
            label: &self.label,
            age: self.age,
            n: self.assignees.iter().map(|a| a.n).max().unwrap_or(1),
            user: &self.names.join(", "),
            initiator: &self.initiator,
            rule: &rule.name,
        });
    }
}

/// The watched users by id.
pub type UserIndex<'c> = FxHashMap<&'c str, &'c User>;

pub fn user_index(users: &[User]) -> UserIndex<'_> {
    users.iter().map(|u| (u.id.as_str(), u)).collect()
}

/// Decides pairs as they come and coalesces the due ones into calls: one per task (in chunks
/// the platform accepts). Keeps only what is due, so a cycle over 100k tasks holds little in memory.
pub struct Planner<'c> {
    policy: Policy<'c>,
    now: DateTime<Utc>,
    users: &'c UserIndex<'c>,
    by_task: BTreeMap<String, Vec<DuePair<'c>>>,
    escalate: BTreeMap<String, Vec<DueEscalation<'c>>>,
    deferred: u64,
    silenced: u64,
}

/// A pair whose escalation is due, by the kinds not done yet.
struct DueEscalation<'c> {
    row: Pair,
    user: &'c User,
    rule: usize,
    cc: bool,
    chat: bool,
}

/// An escalation call: one per task and kind per cycle, naming every assignee escalated.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub task_id: String,
    pub kind: CallKind,
    /// The earliest rule among the escalated assignees: its operator and chat name speak.
    pub rule: usize,
    pub operator: String,
    /// The escalated assignees (n = 1: each kind happens once per pair).
    pub assignees: Vec<Recipient>,
    pub names: Vec<String>,
    /// cc: who gets the copy; chat: who is invited (the escalated assignees, the initiator and
    /// the cc users).
    pub people: Vec<String>,
    /// chat: the task's chat to invite into, when one exists.
    pub chat_id: Option<String>,
    /// chat: the name of a new chat.
    pub chat_name: String,
}

/// What a planner made of the pairs it saw.
#[derive(Debug, Default)]
pub struct Planned {
    /// Expediting calls, most overdue first, round-robin across assignees.
    pub calls: Vec<Call>,
    pub escalations: Vec<Escalation>,
    /// Pairs due but outside their calendar.
    pub deferred: u64,
    /// Pairs a silence holds.
    pub silenced: u64,
    /// Due tasks that cannot be sent, with why.
    pub unsendable: Vec<(String, String)>,
}

struct DuePair<'c> {
    row: Pair,
    user: &'c User,
    rule: usize,
    n: u32,
    due_at: DateTime<Utc>,
}

impl<'c> Planner<'c> {
    /// A planner deciding at `now` for the watched `users` (indexed once per cycle).
    pub fn new(policy: Policy<'c>, now: DateTime<Utc>, users: &'c UserIndex<'c>) -> Self {
        Planner {
            policy,
            now,
            users,
            by_task: BTreeMap::new(),
            escalate: BTreeMap::new(),
            deferred: 0,
            silenced: 0,
        }
    }

    pub fn add(&mut self, row: Pair) {
        // Tasks of users no longer watched are never touched.
        let Some(user) = self.users.get(row.user_id.as_str()).copied() else {
            return;
        };
        // The last listing lacked it: probably finished, confirmed or cleared by the next one.
        if row.missing_since.is_some() {
            return;
        }
        let facts = row.facts();
        let verdict = decide::decide(&self.policy, user, &facts, self.now);
        if let Verdict::Silenced { .. } = verdict {
            self.silenced += 1;
            return;
        }
        if let Some(EscalationVerdict::Due { cc, chat }) =
            decide::decide_escalation(&self.policy, user, &facts, self.now)
            && let Some(rule) = verdict.rule()
        {
            self.escalate
                .entry(row.task_id.clone())
                .or_default()
                .push(DueEscalation {
                    row: row.clone(),
                    user,
                    rule,
                    cc,
                    chat,
                });
        }
        match verdict {
            Verdict::Due { rule, n, due_at } => {
                let task = row.task_id.clone();
                self.by_task.entry(task).or_default().push(DuePair {
                    row,
                    user,
                    rule,
                    n,
                    due_at,
                });
            }
            Verdict::Deferred { .. } => self.deferred += 1,
            _ => {}
        }
    }

    /// The calls (at most `per_call` assignees each) and escalations.
    pub fn finish(self, per_call: usize) -> Planned {
        let (rules, now) = (self.policy.rules, self.now);
        let mut calls = Vec::new();
        let mut unsendable = Vec::new();
        let escalations = plan_escalations(rules, now, self.escalate, &mut unsendable);
        for (task_id, due) in self.by_task {
            // The earliest rule among the due assignees speaks for the call: its operator, its opinion.
            let lead = due
                .iter()
                .min_by_key(|d| d.rule)
                .expect("a group is never empty");
            let rule = &rules[lead.rule];
            let row = &lead.row;
            let operator = match &rule.operator {
                Operator::User(id) => id.clone(),
                Operator::Initiator => match &row.initiator_id {
                    Some(id) => id.clone(),
                    None => {
                        unsendable.push((task_id, format!("rule \"{}\" expedites as the initiator, but Feishu gave no initiator for this task", rule.name)));
                        continue;
                    }
                },
            };
            let age = row.facts().wall_age(now);
            for chunk in due.chunks(per_call) {
                let names: Vec<String> = chunk
                    .iter()
                    .map(|d| d.user.display_name().to_owned())
                    .collect();
                let due_at = chunk.iter().map(|d| d.due_at).min().unwrap_or(now);
                let mut call = Call {
                    task_id: task_id.clone(),
                    rule: lead.rule,
                    operator: operator.clone(),
                    opinion: String::new(),
                    assignees: chunk
                        .iter()
                        .map(|d| Recipient {
                            user_id: d.user.id.clone(),
                            rule: rules[d.rule].name.clone(),
                            n: d.n,
                        })
                        .collect(),
                    names,
                    age,
                    label: display_label(&row.labels).to_owned(),
                    initiator: row
                        .initiator_name
                        .as_deref()
                        .or(row.initiator_id.as_deref())
                        .unwrap_or("")
                        .to_owned(),
                    due_at,
                };
                call.render_opinion(rules);
                calls.push(call);
            }
        }
        Planned {
            calls: order_fairly(calls),
            escalations,
            deferred: self.deferred,
            silenced: self.silenced,
            unsendable,
        }
    }
}

/// Who an operator or cc entry names for this task: `None` when it is the initiator and Feishu
/// gave none.
fn person(who: &Operator, row: &Pair) -> Option<String> {
    match who {
        Operator::User(id) => Some(id.clone()),
        Operator::Initiator => row.initiator_id.clone(),
    }
}

/// One cc call and one chat call per task, for the assignees whose escalation is due.
fn plan_escalations(
    rules: &[super::rule::Rule],
    now: DateTime<Utc>,
    due: BTreeMap<String, Vec<DueEscalation<'_>>>,
    unsendable: &mut Vec<(String, String)>,
) -> Vec<Escalation> {
    let mut out = Vec::new();
    for (task_id, pairs) in due {
        let lead = pairs
            .iter()
            .min_by_key(|p| p.rule)
            .expect("a group is never empty");
        let rule = &rules[lead.rule];
        let row = &lead.row;
        let Some(operator) = person(&rule.operator, row) else {
            unsendable.push((
                task_id,
                format!(
                    "rule \"{}\" acts as the initiator, but Feishu gave no initiator for this task",
                    rule.name
                ),
            ));
            continue;
        };
        // Everyone the escalated assignees' rules copy the task to.
        let mut cc_people: Vec<String> = Vec::new();
        for p in &pairs {
            let esc = rules[p.rule]
                .escalate
                .as_ref()
                .expect("due escalations have a rule");
            for who in &esc.cc {
                if let Some(id) = person(who, &p.row)
                    && !cc_people.contains(&id)
                {
                    cc_people.push(id);
                }
            }
        }
        let recipients =
            |kind_wanted: fn(&DueEscalation<'_>) -> bool| -> (Vec<Recipient>, Vec<String>) {
                pairs
                    .iter()
                    .filter(|p| kind_wanted(p))
                    .map(|p| {
                        (
                            Recipient {
                                user_id: p.user.id.clone(),
                                rule: rules[p.rule].name.clone(),
                                n: 1,
                            },
                            p.user.display_name().to_owned(),
                        )
                    })
                    .unzip()
            };
        let (cc_to, cc_names) = recipients(|p| p.cc);
        if !cc_to.is_empty() && !cc_people.is_empty() {
            out.push(Escalation {
                task_id: task_id.clone(),
                kind: CallKind::Cc,
                rule: lead.rule,
                operator: operator.clone(),
                assignees: cc_to,
                names: cc_names,
                people: cc_people.clone(),
                chat_id: None,
                chat_name: String::new(),
            });
        }
        let (chat_with, chat_names) = recipients(|p| p.chat);
        if !chat_with.is_empty() {
            let mut invite: Vec<String> = chat_with.iter().map(|r| r.user_id.clone()).collect();
            for id in row.initiator_id.iter().chain(cc_people.iter()) {
                if !invite.contains(id) {
                    invite.push(id.clone());
                }
            }
            let esc = rule.escalate.as_ref().expect("due escalations have a rule");
            let chat_name = esc.chat_name.render(&OpinionValues {
                task_id: &task_id,
                label: display_label(&row.labels),
                age: row.facts().wall_age(now),
                n: row.sent,
                user: &chat_names.join(", "),
                initiator: row
                    .initiator_name
                    .as_deref()
                    .or(row.initiator_id.as_deref())
                    .unwrap_or(""),
                rule: &rule.name,
            });
            out.push(Escalation {
                task_id: task_id.clone(),
                kind: CallKind::Chat,
                rule: lead.rule,
                operator,
                assignees: chat_with,
                names: chat_names,
                people: invite,
                chat_id: row.chat_id.clone(),
                chat_name,
            });
        }
    }
    out
}

/// Takes the next call to send from `queue`: to the assignees picked least so far, the most
/// overdue among equals.
pub fn take_fairest(queue: &mut Vec<Call>, picked: &mut HashMap<String, usize>) -> Call {
    let times_picked = |c: &Call| {
        c.assignees
            .iter()
            .map(|a| picked.get(&a.user_id).copied().unwrap_or(0))
            .max()
            .unwrap_or(0)
    };
    let best = (0..queue.len())
        .min_by(|a, b| {
            let (ca, cb) = (&queue[*a], &queue[*b]);
            times_picked(ca)
                .cmp(&times_picked(cb))
                .then_with(|| ca.due_at.cmp(&cb.due_at))
                .then_with(|| ca.task_id.cmp(&cb.task_id))
        })
        .expect("queue is not empty");
    let call = queue.swap_remove(best);
    for a in &call.assignees {
        *picked.entry(a.user_id.clone()).or_default() += 1;
    }
    call
}

/// The most overdue first, and nobody receives a run of reminders while others wait: each call
/// goes to the assignees who have been picked least so far, the most overdue among equals.
pub fn order_fairly(mut calls: Vec<Call>) -> Vec<Call> {
    let mut picked = HashMap::new();
    let mut ordered = Vec::with_capacity(calls.len());
    while !calls.is_empty() {
        ordered.push(take_fairest(&mut calls, &mut picked));
    }
    ordered
}

/// The start of `now`'s calendar day in `tz`: where the daily cap's count starts. Where
/// midnight does not exist (a DST jump at 00:00), the day starts at its first valid moment.
pub fn day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let date = now.with_timezone(&tz).date_naive();
    (0..=180)
        .filter_map(|m| {
            let local = date.and_hms_opt(0, 0, 0)? + chrono::TimeDelta::minutes(m);
            tz.from_local_datetime(&local).earliest()
        })
        .next()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// What is left of an assignee's daily allowance, given what they got today: `None` without a
/// cap (0).
pub fn allowance_left(cap: u32, sent_today: u32) -> Option<u32> {
    (cap > 0).then(|| cap.saturating_sub(sent_today))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(task: &str, users: &[&str], overdue_h: u64) -> Call {
        Call {
            task_id: task.into(),
            rule: 0,
            operator: "7000".into(),
            opinion: String::new(),
            assignees: users
                .iter()
                .map(|u| Recipient {
                    user_id: (*u).into(),
                    rule: "r".into(),
                    n: 1,
                })
                .collect(),
            names: vec![],
            age: Duration::ZERO,
            label: String::new(),
            initiator: String::new(),
            due_at: DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::days(1000)
                - chrono::TimeDelta::hours(overdue_h as i64),
        }
    }

    #[test]
    fn fair_order_table() {
        // (case, calls, expected task order)
        let cases = vec![
            (
                "most overdue first",
                vec![
                    call("a", &["u1"], 1),
                    call("b", &["u2"], 5),
                    call("c", &["u3"], 3),
                ],
                vec!["b", "c", "a"],
            ),
            (
                "round robin across assignees",
                vec![
                    call("a1", &["u1"], 10),
                    call("a2", &["u1"], 9),
                    call("a3", &["u1"], 8),
                    call("b1", &["u2"], 2),
                    call("c1", &["u3"], 1),
                ],
                vec!["a1", "b1", "c1", "a2", "a3"],
            ),
            (
                "a shared task counts for both assignees",
                vec![
                    call("ab", &["u1", "u2"], 10),
                    call("a", &["u1"], 9),
                    call("b", &["u2"], 8),
                    call("c", &["u3"], 1),
                ],
                vec!["ab", "c", "a", "b"],
            ),
            (
                "ties broken by task id",
                vec![call("z", &["u1"], 1), call("y", &["u2"], 1)],
                vec!["y", "z"],
            ),
        ];
        for (name, calls, want) in cases {
            let got: Vec<String> = order_fairly(calls).into_iter().map(|c| c.task_id).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_daily_cap_counts_from_local_midnight() {
        use chrono::TimeZone;
        let sh = chrono_tz::Asia::Shanghai;
        let at = |d: u32, h: u32, m: u32| {
            sh.with_ymd_and_hms(2026, 11, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // (case, now, the day's start)
        let cases = [
            ("just before midnight", at(20, 23, 59), at(20, 0, 0)),
            ("at midnight", at(21, 0, 0), at(21, 0, 0)),
            ("just after", at(21, 0, 1), at(21, 0, 0)),
            (
                "16:00 UTC is the next local day",
                at(21, 0, 0),
                at(21, 0, 0),
            ),
        ];
        for (name, now, want) in cases {
            assert_eq!(day_start(now, sh), want, "{name}");
        }
        // A zone whose clocks jump over midnight: the day starts at its first real moment.
        let havana = chrono_tz::America::Havana;
        let jump = havana
            .with_ymd_and_hms(2026, 3, 8, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let start = day_start(jump, havana).with_timezone(&havana);
        assert_eq!(start.date_naive().to_string(), "2026-03-08");
        // (case, cap, sent today, left)
        let allowance = [
            ("no cap", 0, 7, None),
            ("room left", 3, 1, Some(2)),
            ("used up", 3, 3, Some(0)),
            ("over (the cap was lowered)", 2, 5, Some(0)),
        ];
        for (name, cap, sent, left) in allowance {
            assert_eq!(allowance_left(cap, sent), left, "{name}");
        }
    }
}
