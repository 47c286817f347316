//! From decisions to calls, purely: coalesce each task's due assignees into one call (chunks
//! of at most the platform's limit), and order calls most overdue first with no assignee
//! starving the others.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::decide::{self, Verdict};
use super::opinion::OpinionValues;
use super::rule::{Operator, User};
use super::{Pair, Policy, Recipient, display_label};

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
    /// When its earliest assignee fell due: the earlier, the more overdue. A moment rather than
    /// a duration, so calls planned at different times in a cycle compare fairly.
    pub due_at: DateTime<Utc>,
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
    deferred: u64,
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
            deferred: 0,
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
        match decide::decide(&self.policy, user, &row.facts(), self.now) {
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

    /// The calls (most overdue first, round-robin across assignees; at most `per_call`
    /// assignees each), how many pairs calendars deferred, and due tasks that cannot be sent,
    /// with why.
    pub fn finish(self, per_call: usize) -> (Vec<Call>, u64, Vec<(String, String)>) {
        let (rules, now) = (self.policy.rules, self.now);
        let mut calls = Vec::new();
        let mut unsendable = Vec::new();
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
                let n = chunk.iter().map(|d| d.n).max().unwrap_or(1);
                let opinion = rule.opinion.render(&OpinionValues {
                    task_id: &task_id,
                    label: display_label(&row.labels),
                    age,
                    n,
                    user: &names.join(", "),
                    initiator: row
                        .initiator_name
                        .as_deref()
                        .or(row.initiator_id.as_deref())
                        .unwrap_or(""),
                    rule: &rule.name,
                });
                let due_at = chunk.iter().map(|d| d.due_at).min().unwrap_or(now);
                calls.push(Call {
                    task_id: task_id.clone(),
                    rule: lead.rule,
                    operator: operator.clone(),
                    opinion,
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
                    due_at,
                });
            }
        }
        (order_fairly(calls), self.deferred, unsendable)
    }
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
}
