//! The sending side of a cycle: decides each user's tasks once every watched assignee of them
//! is listed, queues the due calls, and sends them at the expediting API's pace within the
//! cycle's budget — each call at most once, its intent on disk before it leaves.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sync::ListingDone;
use super::{CycleError, CycleReport, Engine};
use crate::config::Config;
use crate::domain::calls::{
    Call, Escalation, FairQueue, Planner, UserIndex, allowance_left, day_start, user_index,
};
use crate::domain::opinion::human_duration;
use crate::domain::rule::Rule;
use crate::domain::{CallKind, Pair};
use crate::feishu::{Act, Api, FeishuError, MAX_EXPEDITE_IDS};
use crate::store::{Intent, Outcome, PairScope, StoreError};

impl Engine {
    /// The expediting side of a cycle: decides each user's tasks once they are listed, queues
    /// the due calls, and sends them within the cycle's budget.
    ///
    /// One `select!` waits for whichever comes first: a user listed, the expediting API's next
    /// paced slot (only while a call is queued and the budget allows one), or the next
    /// escalation's API slot. Every turn of the loop awaits, so a spent budget never spins: the
    /// loop then only takes in listings, which keeps the carried-over count complete, and ends
    /// when the listing side does and nothing more may be sent.
    pub(super) async fn expedite_as_listed(
        &self,
        mut listed_rx: mpsc::UnboundedReceiver<ListingDone>,
        cycle_started: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<CycleReport, CycleError> {
        let mut report = CycleReport::default();
        let watched = user_index(&self.config.users);
        // Who is away at the cycle's moment: escalations copy and invite none of them.
        let away_now: FxHashSet<String> = self
            .store
            .open_away()
            .await?
            .into_iter()
            .filter(|(_, windows)| windows.iter().any(|w| w.holds_at(cycle_started)))
            .map(|(user, _)| user)
            .collect();
        let mut sides = Decided {
            away_now,
            at: cycle_started,
            listed: FxHashSet::default(),
            complete_at: HashMap::new(),
            decided: FxHashMap::default(),
            moved_to: FxHashSet::default(),
        };
        let mut queue = Queues::default();
        let mut cap = DailyCap {
            rules: &self.config.rules,
            today: day_start(cycle_started, self.config.schedule.timezone),
            told: &self.cap_told,
            cap: self.config.expedite.max_per_user_per_day,
            given: if self.config.expedite.max_per_user_per_day > 0 {
                let today = day_start(cycle_started, self.config.schedule.timezone);
                self.store.reminders_since(today).await?
            } else {
                HashMap::new()
            },
        };
        // Calls go out while the listing runs (a tick that comes meanwhile is skipped anyway),
        // then until the first tick after it ended, less one slot.
        let mut deadline: Option<Instant> = None;
        let mut listing_done = false;
        let mut taken = 0usize;
        loop {
            // A quota hold keeps every counted call back: what is queued stays due.
            let stopping = self.stop_requested() || self.client.quota_hold().is_some();
            let next_slot = self.client.next_slot(Api::Acts(CallKind::Expedite));
            let next_escalation = queue
                .escalations
                .front()
                .map_or(next_slot, |e| self.client.next_slot(api_of(e.kind)));
            let in_time = |slot: Instant| deadline.is_none_or(|d| slot <= d);
            let may_send = !queue.calls.is_empty() && !stopping && in_time(next_slot);
            let may_escalate =
                !queue.escalations.is_empty() && !stopping && in_time(next_escalation);
            if listing_done && !may_send && !may_escalate {
                break;
            }
            tokio::select! {
                // Listings first: a task decided sooner may be more overdue than the queue.
                biased;
                listed = listed_rx.recv(), if !listing_done => match listed {
                    Some(ListingDone { user, may_be_due, complete_at }) => {
                        sides.listed.insert(user.clone());
                        if let Some(at) = complete_at {
                            sides.complete_at.insert(user.clone(), at);
                        }
                        if may_be_due {
                            self.decide_ready_tasks(PairScope::TasksOf(&user), Some(cycle_started),
                                &watched, &mut sides, &mut queue, &mut report).await?;
                        }
                    }
                    None => {
                        listing_done = true;
                        // Tasks first seen this cycle: only now is it known which watched users
                        // have them.
                        self.decide_ready_tasks(PairScope::FirstSeenSince(cycle_started), None,
                            &watched, &mut sides, &mut queue, &mut report).await?;
                        deadline = Some(self.send_deadline());
                    }
                },
                () = at(next_slot), if may_send => {
                    let call = queue.calls.pop().expect("guarded");
                    if let Some(call) = self.still_free(call, &mut report).await?
                        && let Some(call) = cap.admit(call, &mut report)
                    {
                        self.expedite(call, dry_run, &mut report).await?;
                    }
                    taken += 1;
                    if taken.is_multiple_of(YIELD_EVERY) {
                        // A dry run takes calls without waiting for a slot: let others run.
                        tokio::task::yield_now().await;
                    }
                }
                () = at(next_escalation), if may_escalate => {
                    let escalation = queue.escalations.pop_front().expect("guarded");
                    if let Some(escalation) = self.escalation_still_free(escalation, &mut report).await? {
                        self.escalate(escalation, dry_run, &mut report).await?;
                    }
                }
            }
        }
        report.expedites_carried_over = queue
            .calls
            .remaining()
            .map(|c| c.assignees.len() as u64)
            .sum();
        report.escalations_carried_over = queue
            .escalations
            .iter()
            .map(|e| e.assignees.len() as u64)
            .sum();
        let left = queue.calls.len() + queue.escalations.len();
        if left > 0 {
            if self.halted.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::info!(
                    left,
                    "the cycle stopped: remaining expedites and escalations stay due for the next run"
                );
            } else if self.stop_requested() {
                tracing::info!(
                    left,
                    "shutting down: remaining expedites and escalations stay due for the next run"
                );
            } else if self.client.quota_hold().is_some() {
                tracing::info!(
                    left,
                    "the monthly quota hold keeps the remaining expedites and escalations back; they stay due"
                );
            } else {
                tracing::warn!(
                    carried_over = queue.calls.len(),
                    escalations_carried_over = queue.escalations.len(),
                    "more calls are due than fit before the next tick; the most overdue went first, the rest stay due for the next cycle"
                );
            }
        }
        Ok(report)
    }

    /// When calls stop: the first fire time after now (the listing just ended), less one of the
    /// expediting API's pacing slots so the last call is done before the tick.
    fn send_deadline(&self) -> Instant {
        let now = self.clock.now();
        let until = send_deadline(&self.config, now);
        Instant::now() + (until - now).to_std().unwrap_or(Duration::ZERO)
    }

    /// Decides the tasks in `scope` whose watched assignees have all been listed, skipping
    /// tasks first seen since `known_before` (their assignees are not all known yet).
    async fn decide_ready_tasks(
        &self,
        scope: PairScope<'_>,
        known_before: Option<DateTime<Utc>>,
        watched: &UserIndex<'_>,
        sides: &mut Decided,
        queue: &mut Queues,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let Decided {
            at: now,
            listed,
            complete_at,
            decided,
            away_now,
            moved_to,
        } = sides;
        let now = *now;
        let mut by_task: BTreeMap<String, Vec<Pair>> = BTreeMap::new();
        // A task younger than every rule's `after` cannot be due: such pairs are not even read.
        let started_before = self.oldest_possible_due_start();
        self.store
            .visit_pending_pairs(scope, Some(started_before), |row| {
                let known = known_before.is_none_or(|t| row.first_seen < t);
                // Pairs are decided once; a task's other pairs may still come (a task handed
                // to a second watched user during the cycle is theirs to be reminded of).
                if known
                    && watched.contains_key(row.user_id.as_str())
                    && !decided
                        .get(&row.task_id)
                        .is_some_and(|users| users.contains(&row.user_id))
                {
                    by_task.entry(row.task_id.clone()).or_default().push(row);
                }
            })
            .await?;
        let mut planner = Planner::new(self.config.policy(), now, watched)
            .away(away_now)
            .deputy_moves(
                self.config.away.deputy_action.kind(),
                &self.config.away.opinion,
            );
        for (i, (task_id, rows)) in by_task.into_iter().enumerate() {
            if i % YIELD_EVERY == YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
                if self.stop_requested() {
                    // Nothing decided is sent now; every pair stays due for the next run.
                    return Ok(());
                }
            }
            // Shared with a watched user not listed yet: decided when the last of them is.
            if rows.iter().any(|r| !listed.contains(&r.user_id)) {
                continue;
            }
            decided
                .entry(task_id)
                .or_default()
                .extend(rows.iter().map(|r| r.user_id.clone()));
            for mut row in rows {
                // This cycle's complete listing showed the task pending for the assignee.
                if let Some(at) = complete_at.get(&row.user_id) {
                    row.confirmed_at = Some(*at);
                }
                planner.add(row);
            }
        }
        let mut planned = planner.finish(MAX_EXPEDITE_IDS);
        planned.escalations.retain_mut(|e| {
            if !e.kind.moves() {
                return true;
            }
            e.people
                .retain(|p| !moved_to.contains(&(e.task_id.clone(), p.clone())));
            for p in &e.people {
                moved_to.insert((e.task_id.clone(), p.clone()));
            }
            !e.people.is_empty()
        });
        report.expedites_deferred += planned.deferred;
        report.silenced += planned.silenced;
        report.away += planned.away;
        report.expedites_due += planned
            .calls
            .iter()
            .map(|c| c.assignees.len() as u64)
            .sum::<u64>()
            + planned.unsendable.len() as u64
            + planned.deferred;
        for e in &planned.escalations {
            if e.kind.moves() {
                report.moves_due += e.assignees.len() as u64;
            } else {
                report.escalations_due += e.assignees.len() as u64;
            }
        }
        for (task_id, why) in &planned.unsendable {
            tracing::warn!(task_id = %task_id, "cannot expedite: {why}");
            report.expedites_failed += 1;
        }
        for (i, call) in planned.calls.into_iter().enumerate() {
            queue.calls.push(call);
            if i % YIELD_EVERY == YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
        }
        queue.escalations.extend(planned.escalations);
        Ok(())
    }

    async fn expedite(
        &self,
        call: Call,
        dry_run: bool,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let rule = &self.config.rules[call.rule].name;
        let ids: Vec<String> = call.assignees.iter().map(|a| a.user_id.clone()).collect();
        let ns: Vec<u32> = call.assignees.iter().map(|a| a.n).collect();
        let age = human_duration(call.age);
        if dry_run {
            tracing::info!(task_id = %call.task_id, assignees = ?ids, rule = %rule, age = %age, n = ?ns, operator = %call.operator, opinion = %call.opinion,
                "would expedite task {} for {} (dry run, nothing sent)", call.task_id, call.names.join(", "));
            report.expedites_sent += ids.len() as u64;
            return Ok(());
        }
        if let Err(e) = self.client.ready_to_call().await {
            // Nothing was written and nothing left: the reminder stays due.
            report.expedites_failed += ids.len() as u64;
            count_outcome(&call, "failed");
            log_expedite_failure(&call.task_id, &ids, rule, &e);
            return Ok(());
        }
        let slot = self
            .client
            .reserve(Api::Acts(CallKind::Expedite))
            .await
            .fenced_by(self.fence());
        let intent = Intent {
            kind: CallKind::Expedite,
            task_id: &call.task_id,
            rule,
            operator: &call.operator,
            opinion: &call.opinion,
            people: &[],
            recipients: &call.assignees,
        };
        let intent = match self.store.record_intent(&intent, self.clock.now()).await {
            Ok(id) => id,
            Err(StoreError::AlreadyRecorded {
                task_id,
                user_id,
                n,
            }) => {
                tracing::warn!(task_id = %task_id, user = %user_id, n, "expedite already recorded as sent; not sending it again");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let result = self
            .client
            .act(
                slot,
                &call.task_id,
                &call.operator,
                Act::Expedite {
                    user_ids: &ids,
                    opinion: &call.opinion,
                },
            )
            .await
            .map(|_| ());
        self.record_call_outcome(intent, &result, None).await?;
        match result {
            Ok(()) => {
                report.expedites_sent += ids.len() as u64;
                count_outcome(&call, "sent");
                let label = if call.label.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", call.label)
                };
                tracing::info!(task_id = %call.task_id, label = %call.label, assignees = ?ids,
                    rule = %rule, age = %age, n = ?ns, operator = %call.operator,
                    "expedited task {}{label} for {}", call.task_id, call.names.join(", "));
            }
            Err(e) if e.outcome_unknown() => {
                report.expedites_unknown += ids.len() as u64;
                count_outcome(&call, "unknown");
                tracing::warn!(task_id = %call.task_id, assignees = ?ids, rule = %rule, n = ?ns, error = %e,
                    "expedite outcome unknown; counted as sent and not repeated");
            }
            Err(e) => {
                report.expedites_failed += ids.len() as u64;
                count_outcome(&call, "failed");
                log_expedite_failure(&call.task_id, &ids, rule, &e);
            }
        }
        Ok(())
    }

    /// Records how a call that acts ended: sent; failed, with Feishu's code and message; or
    /// unknown, for an answer that may mean the platform acted (never repeated). `chat` is a
    /// group chat the call opened.
    pub(super) async fn record_call_outcome<T>(
        &self,
        intent: i64,
        result: &Result<T, FeishuError>,
        chat: Option<(&str, &str)>,
    ) -> Result<(), CycleError> {
        let now = self.clock.now();
        let (outcome, code, msg) = match result {
            Ok(_) => (Outcome::Sent, None, None),
            Err(e) if e.outcome_unknown() => (Outcome::Unknown, None, Some(e.to_string())),
            Err(e) => (Outcome::Failed, e.code(), Some(e.msg())),
        };
        self.store
            .record_outcome(intent, outcome, code, msg.as_deref(), chat, now)
            .await?;
        Ok(())
    }
}

/// What the expediting side knows: users listed so far, (task, assignee) pairs already decided
/// this cycle.
struct Decided {
    /// The moment every decision of the cycle is made at: its start, whichever user is
    /// listed when (so a reminder falls due in the same tick whoever is listed first).
    at: DateTime<Utc>,
    listed: FxHashSet<String>,
    /// Users whose listing this cycle was complete, with when it started.
    complete_at: HashMap<String, DateTime<Utc>>,
    /// The assignees each task was already decided for this cycle.
    decided: FxHashMap<String, FxHashSet<String>>,
    /// People away at the cycle's moment.
    away_now: FxHashSet<String>,
    /// (task, person) a move planned this cycle names: nobody is moved to twice in one cycle
    /// (a deputy's move and an escalation's, two rules, two planners).
    moved_to: FxHashSet<(String, String)>,
}

/// What waits to be sent.
#[derive(Default)]
struct Queues {
    calls: FairQueue,
    escalations: VecDeque<Escalation>,
}

/// The daily cap at send time: reminders each assignee got today, this cycle's included.
struct DailyCap<'r> {
    /// The rules, for the opinion of a call the cap trimmed.
    rules: &'r [Rule],
    /// The start of today (schedule zone).
    today: DateTime<Utc>,
    /// Whom the log has told about today already.
    told: &'r std::sync::Mutex<HashMap<String, DateTime<Utc>>>,
    cap: u32,
    given: HashMap<String, u32>,
}

impl DailyCap<'_> {
    /// The call with only the assignees who may still be reminded today (`None` when nobody
    /// may); the others are counted as capped and wait for tomorrow. Calls come most overdue
    /// first, so each assignee's most overdue tasks take the day's allowance.
    fn admit(&mut self, mut call: Call, report: &mut CycleReport) -> Option<Call> {
        if self.cap == 0 {
            return Some(call);
        }
        let before = call.assignees.len();
        let mut names = call.names.clone().into_iter();
        let mut kept_names = Vec::new();
        let mut held = Vec::new();
        call.assignees.retain(|a| {
            let name = names.next();
            let given = self.given.get(&a.user_id).copied().unwrap_or(0);
            let ok = allowance_left(self.cap, given).is_none_or(|left| left > 0);
            if ok {
                kept_names.push(name.unwrap_or_default());
            } else {
                held.push((a.user_id.clone(), name.unwrap_or_default()));
            }
            ok
        });
        // Said once a user a day: a lead reads a line that means something new.
        let mut told = self.told.lock().unwrap_or_else(|p| p.into_inner());
        for (user, name) in held {
            if told.get(&user) != Some(&self.today) {
                tracing::info!(user = %user, cap = self.cap,
                    "daily cap reached for {name}: {} reminder(s) today; the rest wait for \
                    tomorrow", self.cap);
                told.insert(user, self.today);
            }
        }
        drop(told);
        call.names = kept_names;
        let capped = before - call.assignees.len();
        if capped > 0 {
            report.expedites_capped += capped as u64;
            tracing::debug!(task_id = %call.task_id, capped, "capped for today");
            // The opinion names who is reminded: those the cap let through.
            call.render_opinion(self.rules);
        }
        for a in &call.assignees {
            *self.given.entry(a.user_id.clone()).or_default() += 1;
        }
        (!call.assignees.is_empty()).then_some(call)
    }
}

/// Each assignee of a call under their own rule, for `expediter_expedites_total`.
fn count_outcome(call: &Call, outcome: &'static str) {
    for a in &call.assignees {
        crate::prometheus::expedites(&a.rule, outcome, 1);
    }
}

/// The API a call goes through.
pub(super) fn api_of(kind: CallKind) -> Api {
    Api::Acts(kind)
}

fn log_expedite_failure(task_id: &str, ids: &[String], rule: &str, e: &FeishuError) {
    if matches!(e, FeishuError::NotActive) {
        // Another instance acts now; the reminder is not lost, it is theirs to send.
        tracing::warn!(task_id = %task_id, assignees = ?ids, rule = %rule, "expedite not sent: {e}");
        return;
    }
    match e.class() {
        crate::feishu::ErrorClass::Final => {
            tracing::error!(task_id = %task_id, assignees = ?ids, rule = %rule, code = e.code(), msg = %e.msg(), "expedite failed: {e}")
        }
        _ => {
            tracing::warn!(task_id = %task_id, assignees = ?ids, rule = %rule, code = e.code(), msg = %e.msg(), "expedite failed, will try again next cycle: {e}")
        }
    }
}

/// Until when calls may start after a listing that ended at `listing_end`: the first fire time
/// after it, less one pacing slot. Without a next fire time, a day on.
pub fn send_deadline(config: &Config, listing_end: DateTime<Utc>) -> DateTime<Utc> {
    let period = crate::pace::Pacer::per_minute(config.feishu.requests_per_minute).period();
    let next = config
        .ticks()
        .next_after(listing_end)
        .unwrap_or(listing_end + chrono::TimeDelta::days(1));
    next - chrono::TimeDelta::from_std(period).unwrap_or_default()
}

/// Ready at `t`: at once when `t` has passed (a sleep would wait for the timer's next tick).
async fn at(t: Instant) {
    if t > Instant::now() {
        tokio::time::sleep_until(t).await;
    }
}

/// Long stretches of synchronous work give the runtime a turn this often (items).
const YIELD_EVERY: usize = 512;
