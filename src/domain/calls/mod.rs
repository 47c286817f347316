//! From decisions to calls, purely: coalesce each task's due assignees into one call (chunks
//! of at most the platform's limit), and order calls most overdue first with no assignee
//! starving the others.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rustc_hash::{FxHashMap, FxHashSet};

use super::decide::{self, EscalationVerdict, PairFacts, Verdict};
use super::opinion::{OpinionTemplate, OpinionValues};

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
    away: u64,
    /// People away now: no escalation goes to them (cc, chat invitations).
    away_now: Option<&'c rustc_hash::FxHashSet<String>>,
    /// `[away] deputy_action` when it moves tasks: the call and its opinion.
    deputy_moves: Option<(CallKind, &'c OpinionTemplate)>,
    /// Moves to deputies, by (task, deputy).
    moves: BTreeMap<(String, String), Vec<DeputyMove<'c>>>,
    /// With moves configured: each task's watched assignees seen, so that nobody is added to
    /// a task they hold.
    assignees: FxHashMap<String, Vec<String>>,
    any_moves: bool,
}

/// An away assignee's pair whose task goes to their deputy.
struct DeputyMove<'c> {
    row: Pair,
    user: &'c User,
    rule: usize,
    /// When they are back.
    until: DateTime<Utc>,
}

/// The opinion a move by escalation carries: `transfer_to` (转交), `add_assignee` (加签).
pub const ESCALATION_TRANSFER_OPINION: &str =
    "{user} 催办 {n} 次未处理（已等待 {age}），转给 {deputy}";
pub const ESCALATION_ADD_OPINION: &str = "{user} 催办 {n} 次未处理（已等待 {age}），加签 {deputy}";

/// A pair whose escalation is due, by the kinds not done yet.
struct DueEscalation<'c> {
    row: Pair,
    user: &'c User,
    rule: usize,
    cc: bool,
    chat: bool,
    moves: bool,
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
    /// A move's opinion.
    pub opinion: String,
    /// A move to the deputy of away assignees (it goes only while their window holds).
    pub deputy: bool,
}

/// What a planner made of the pairs it saw.
#[derive(Debug, Default)]
pub struct Planned {
    /// Expediting calls, by task; [`FairQueue`] orders them for sending.
    pub calls: Vec<Call>,
    pub escalations: Vec<Escalation>,
    /// Pairs due but outside their calendar.
    pub deferred: u64,
    /// Pairs a silence holds.
    pub silenced: u64,
    /// Pairs whose assignee is away.
    pub away: u64,
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
            away: 0,
            away_now: None,
            deputy_moves: None,
            moves: BTreeMap::new(),
            assignees: FxHashMap::default(),
            any_moves: policy
                .rules
                .iter()
                .any(|r| r.escalate.as_ref().is_some_and(|e| e.move_to.is_some())),
        }
    }

    /// Moves each task an away assignee's rule makes due to their deputy, by `kind`, with
    /// `opinion` (`[away] deputy_action` and `opinion`).
    pub fn deputy_moves(mut self, kind: Option<CallKind>, opinion: &'c OpinionTemplate) -> Self {
        self.deputy_moves = kind.map(|k| (k, opinion));
        self.any_moves |= kind.is_some();
        self
    }

    /// An away assignee's task, moved to their deputy when [`deputy_move`] says it is due.
    fn move_to_deputy(&mut self, row: &Pair, user: &'c User, deputy: &str, until: DateTime<Utc>) {
        if self.deputy_moves.is_none() {
            return;
        }
        let deputy_away = self.away_now.is_some_and(|a| a.contains(deputy));
        let Some(rule) = deputy_move(
            &self.policy,
            user,
            &row.facts(),
            deputy,
            deputy_away,
            self.now,
        )
        .due() else {
            return;
        };
        self.moves
            .entry((row.task_id.clone(), deputy.to_owned()))
            .or_default()
            .push(DeputyMove {
                row: row.clone(),
                user,
                rule,
                until,
            });
    }

    /// The moves to deputies: one call per (task, deputy), from every away assignee of the
    /// task whose deputy that is; none to a deputy who already holds the task (add_assignee).
    fn deputy_calls(&mut self, unsendable: &mut Vec<(String, String)>) -> Vec<Escalation> {
        let Some((kind, opinion)) = self.deputy_moves else {
            return Vec::new();
        };
        let rules = self.policy.rules;
        let mut out = Vec::new();
        for ((task_id, deputy), from) in std::mem::take(&mut self.moves) {
            let holders = self.assignees.get(&task_id).map_or(&[][..], Vec::as_slice);
            if !move_adds_someone(kind, holders, &deputy) {
                continue;
            }
            let lead = from.iter().min_by_key(|d| d.rule).expect("never empty");
            let rule = &rules[lead.rule];
            let Some(operator) =
                operator_of(rule, &lead.row, ": not moved to the deputy", unsendable)
            else {
                continue;
            };
            let names: Vec<String> = from
                .iter()
                .map(|d| d.user.display_name().to_owned())
                .collect();
            let until = from.iter().map(|d| d.until).max().unwrap_or(self.now);
            let until = until
                .with_timezone(&self.policy.timezone)
                .format("%Y-%m-%d %H:%M")
                .to_string();
            let row = &lead.row;
            let text = opinion.render_with(
                &OpinionValues {
                    task_id: &task_id,
                    label: display_label(&row.labels),
                    age: row.facts().wall_age(self.now),
                    n: row.sent,
                    user: &names.join(", "),
                    initiator: row.initiator_label(),
                    rule: &rule.name,
                },
                &[("deputy", name_of(self.users, &deputy)), ("until", &until)],
            );
            out.push(Escalation {
                task_id,
                kind,
                rule: lead.rule,
                operator,
                assignees: from
                    .iter()
                    .map(|d| Recipient {
                        user_id: d.user.id.clone(),
                        rule: rules[d.rule].name.clone(),
                        n: d.row.moved.as_ref().map_or(1, |m| m.next_n()),
                    })
                    .collect(),
                names,
                people: vec![deputy],
                chat_id: None,
                chat_name: String::new(),
                opinion: text,
                deputy: true,
            });
        }
        out
    }

    /// The people away now (beyond the assignees, whose pairs say so themselves): escalations
    /// copy and invite none of them, and nothing moves to them.
    pub fn away(mut self, away: &'c rustc_hash::FxHashSet<String>) -> Self {
        self.away_now = Some(away);
        self
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
        if self.any_moves {
            self.assignees
                .entry(row.task_id.clone())
                .or_default()
                .push(row.user_id.clone());
        }
        let facts = row.facts();
        let verdict = decide::decide(&self.policy, user, &facts, self.now);
        // Silenced, or the assignee away: nothing to them, neither reminder nor escalation.
        match verdict {
            Verdict::Silenced { .. } => {
                self.silenced += 1;
                return;
            }
            Verdict::Away { until, deputy, .. } => {
                self.away += 1;
                if let Some(deputy) = deputy {
                    self.move_to_deputy(&row, user, &deputy, until);
                }
                return;
            }
            // Transferred away from them: not theirs any more.
            Verdict::MovedAway { .. } => return,
            _ => {}
        }
        if let Some(EscalationVerdict::Due { cc, chat, moves }) =
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
                    moves,
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
    pub fn finish(mut self, per_call: usize) -> Planned {
        let (rules, now) = (self.policy.rules, self.now);
        let mut calls = Vec::new();
        let mut unsendable = Vec::new();
        let moves = self.deputy_calls(&mut unsendable);
        let mut escalations = plan_escalations(
            rules,
            now,
            std::mem::take(&mut self.escalate),
            self.away_now,
            &self.assignees,
            self.users,
            &mut unsendable,
        );
        escalations.extend(moves);
        // A task transferred away from an assignee this cycle is not also reminded to them: the
        // move and the reminder of one (task, assignee) are decided together, never both.
        let transferred: FxHashSet<(&str, &str)> = escalations
            .iter()
            .filter(|e| e.kind == CallKind::Transfer)
            .flat_map(|e| {
                e.assignees
                    .iter()
                    .map(move |a| (e.task_id.as_str(), a.user_id.as_str()))
            })
            .collect();
        for due in self.by_task.values_mut() {
            due.retain(|d| !transferred.contains(&(d.row.task_id.as_str(), d.user.id.as_str())));
        }
        drop(transferred);
        // A task's due assignees under rules of different owners (the file, a team's document)
        // get a call from each: a team's operator and words reach only its own people.
        let mut by_owner: Vec<(String, Vec<DuePair<'_>>)> = Vec::new();
        for (task_id, due) in self.by_task {
            let mut groups: Vec<Vec<DuePair<'_>>> = Vec::new();
            for d in due {
                let owner = rules[d.rule].owner.as_deref();
                match groups
                    .iter_mut()
                    .find(|g| rules[g[0].rule].owner.as_deref() == owner)
                {
                    Some(g) => g.push(d),
                    None => groups.push(vec![d]),
                }
            }
            by_owner.extend(groups.into_iter().map(|g| (task_id.clone(), g)));
        }
        for (task_id, due) in by_owner {
            if due.is_empty() {
                continue;
            }
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
                    initiator: row.initiator_label().to_owned(),
                    due_at,
                };
                call.render_opinion(rules);
                calls.push(call);
            }
        }
        Planned {
            calls,
            escalations,
            deferred: self.deferred,
            silenced: self.silenced,
            away: self.away,
            unsendable,
        }
    }
}

/// Whether, and when, an away assignee's task goes to `deputy`: when their rule would make it
/// due for them (as if they were here), the deputy is someone else, is here, and has not had it
/// from a move already, and no refusal of this assignee's last move is still resting. The one
/// answer the planner, the listing cadence and `plan` all go by (the cadence lists the task's
/// assignees in the tick its move falls due; `plan` says when it goes); [`move_adds_someone`]
/// then looks at who holds the task.
pub fn deputy_move(
    policy: &super::Policy<'_>,
    user: &User,
    facts: &PairFacts<'_>,
    deputy: &str,
    deputy_away: bool,
    now: DateTime<Utc>,
) -> ToDeputy {
    let resting = facts
        .moved
        .is_some_and(|m| m.refused.is_some() && m.settles(now));
    if resting || deputy_away || deputy == user.id || facts.moved_to.iter().any(|p| p == deputy) {
        return ToDeputy::Not;
    }
    let here = PairFacts {
        away: &[],
        ..facts.clone()
    };
    match decide::decide(policy, user, &here, now) {
        Verdict::Due { rule, .. } => ToDeputy::Due { rule },
        Verdict::Waiting { rule, due_at, .. } => ToDeputy::Later { rule, due_at },
        Verdict::Deferred { rule, .. } => ToDeputy::Later { rule, due_at: now },
        Verdict::Exhausted { .. }
        | Verdict::Silenced { .. }
        | Verdict::Away { .. }
        | Verdict::MovedAway { .. }
        | Verdict::NoRule => ToDeputy::Not,
    }
}

/// [`deputy_move`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToDeputy {
    /// No move goes to the deputy (the deputy is away, is the assignee, had it already; a
    /// refusal rests; or the rule would not remind them now).
    Not,
    /// Due now, under `rule`.
    Due { rule: usize },
    /// Due at `due_at` under `rule`, at its first tick inside the rule's calendar from then.
    Later { rule: usize, due_at: DateTime<Utc> },
}

impl ToDeputy {
    /// The rule that makes it due now.
    pub fn due(self) -> Option<usize> {
        match self {
            ToDeputy::Due { rule } => Some(rule),
            ToDeputy::Not | ToDeputy::Later { .. } => None,
        }
    }
}

/// Does a move of this kind to `deputy` change anything, given who holds the task now? A
/// transfer always takes the away assignee off; an add_assignee to someone who holds the task
/// adds nobody.
pub fn move_adds_someone(kind: CallKind, holders: &[String], deputy: &str) -> bool {
    kind != CallKind::AddAssignee || !holders.iter().any(|h| h == deputy)
}

/// Who a rule's call acts as for this task; `None`, with why in `unsendable` (`what` says what
/// did not happen), when that is the initiator and Feishu gave none.
fn operator_of(
    rule: &super::rule::Rule,
    row: &Pair,
    what: &str,
    unsendable: &mut Vec<(String, String)>,
) -> Option<String> {
    let who = person(&rule.operator, row);
    if who.is_none() {
        unsendable.push((
            row.task_id.clone(),
            format!(
                "rule \"{}\" acts as the initiator, but Feishu gave no initiator for this task{what}",
                rule.name
            ),
        ));
    }
    who
}

/// What every move of a cycle is planned against.
#[derive(Clone, Copy)]
struct Scene<'a, 'c> {
    rules: &'a [super::rule::Rule],
    now: DateTime<Utc>,
    users: &'a UserIndex<'c>,
    /// People away now.
    away: Option<&'a rustc_hash::FxHashSet<String>>,
}

/// A watched user's name, anyone else's id.
fn name_of<'a>(users: &'a UserIndex<'_>, id: &'a str) -> &'a str {
    users.get(id).map_or(id, |u| u.display_name())
}

/// Who an operator or cc entry names for this task: `None` when it is the initiator and Feishu
/// gave none.
fn person(who: &Operator, row: &Pair) -> Option<String> {
    match who {
        Operator::User(id) => Some(id.clone()),
        Operator::Initiator => row.initiator_id.clone(),
    }
}

mod escalations;
mod queue;

use escalations::plan_escalations;
pub use queue::{FairQueue, allowance_left, day_start, order_fairly};

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

    /// The specified order, as first written: each call taken by a scan of all that wait.
    /// Quadratic, so it serves only as the reference the fast queue is held to.
    fn reference_order(mut queue: Vec<Call>) -> Vec<Call> {
        let mut picked = Default::default();
        std::iter::from_fn(|| reference_take(&mut queue, &mut picked)).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// On small random backlogs (few assignees, so calls share them and ties abound) the
        /// queue takes calls in exactly the reference's order.
        #[test]
        fn the_fair_queue_takes_calls_in_the_specified_order(
            calls in proptest::collection::vec(
                (proptest::collection::vec(0u8..6, 1..4), 0u64..5),
                0..40,
            )
        ) {
            let calls: Vec<Call> = calls
                .into_iter()
                .enumerate()
                .map(|(i, (users, overdue))| {
                    // A call names each assignee once.
                    let mut users: Vec<String> = users.iter().map(|u| format!("u{u}")).collect();
                    users.sort();
                    users.dedup();
                    let users: Vec<&str> = users.iter().map(String::as_str).collect();
                    call(&format!("t{i:03}"), &users, overdue)
                })
                .collect();
            let want: Vec<String> = reference_order(calls.clone()).into_iter().map(|c| c.task_id).collect();
            let got: Vec<String> = order_fairly(calls).into_iter().map(|c| c.task_id).collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// Calls pushed while others are taken (users listed one by one during a cycle) come
        /// out as the reference takes them from the same growing queue.
        #[test]
        fn calls_pushed_between_takes_keep_the_order(
            batches in proptest::collection::vec(
                (proptest::collection::vec((proptest::collection::vec(0u8..5, 1..3), 0u64..4), 0..6), 0usize..4),
                1..8,
            )
        ) {
            let mut fast = FairQueue::new();
            let mut slow: Vec<Call> = Vec::new();
            let mut slow_picked: std::collections::HashMap<String, usize> = Default::default();
            let mut serial = 0;
            for (batch, takes) in batches {
                for (users, overdue) in batch {
                    let mut users: Vec<String> = users.iter().map(|u| format!("u{u}")).collect();
                    users.sort();
                    users.dedup();
                    let users: Vec<&str> = users.iter().map(String::as_str).collect();
                    let c = call(&format!("t{serial:03}"), &users, overdue);
                    serial += 1;
                    fast.push(c.clone());
                    slow.push(c);
                }
                for _ in 0..takes {
                    let want = reference_take(&mut slow, &mut slow_picked).map(|c| c.task_id);
                    let got = fast.pop().map(|c| c.task_id);
                    proptest::prop_assert_eq!(got, want);
                }
                proptest::prop_assert_eq!(fast.len(), slow.len());
            }
        }
    }

    /// One take of the reference, with its pick counts carried between takes.
    fn reference_take(
        queue: &mut Vec<Call>,
        picked: &mut std::collections::HashMap<String, usize>,
    ) -> Option<Call> {
        if queue.is_empty() {
            return None;
        }
        let times_picked = |c: &Call| {
            c.assignees
                .iter()
                .map(|a| picked.get(&a.user_id).copied().unwrap_or(0))
                .max()
                .unwrap_or(0)
        };
        let best = (0..queue.len()).min_by(|a, b| {
            let (ca, cb) = (&queue[*a], &queue[*b]);
            times_picked(ca)
                .cmp(&times_picked(cb))
                .then_with(|| ca.due_at.cmp(&cb.due_at))
                .then_with(|| ca.task_id.cmp(&cb.task_id))
        })?;
        let call = queue.swap_remove(best);
        for a in &call.assignees {
            *picked.entry(a.user_id.clone()).or_default() += 1;
        }
        Some(call)
    }

    #[test]
    fn a_skewed_backlog_waits_behind_assignees_picked_less() {
        // One assignee holds half the calls, the most overdue ones: after their first, everyone
        // picked less goes first, then the rest of theirs, most overdue first.
        let mut calls = Vec::new();
        for i in 0..2000 {
            calls.push(call(&format!("a{i:05}"), &["big"], 5000 - i));
        }
        for i in 0..2000 {
            calls.push(call(&format!("b{i:05}"), &[&format!("u{i}")], 1));
        }
        let order: Vec<String> = order_fairly(calls).into_iter().map(|c| c.task_id).collect();
        assert_eq!(order.len(), 4000);
        assert_eq!(order[0], "a00000");
        assert!(order[1..2001].iter().all(|t| t.starts_with('b')));
        assert!(
            order[2001..]
                .windows(2)
                .all(|w| w[0] < w[1] && w[0].starts_with('a'))
        );
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
                "16:30 UTC is already the next local day",
                Utc.with_ymd_and_hms(2026, 11, 20, 16, 30, 0).unwrap(),
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
