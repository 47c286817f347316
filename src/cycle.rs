//! One cycle: list every watched user, store what was seen, decide, expedite, report.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::{FxHashMap, FxHashSet};
use std::time::Instant;
use tokio::sync::mpsc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{Config, User};
use crate::domain::Pair;
use crate::domain::decide;
use crate::domain::opinion::human_age;
use crate::domain::planner::{Call, Planner, UserIndex, take_fairest, user_index};
use crate::feishu::{Api, FeishuClient, FeishuError, MAX_EXPEDITE_IDS, PAGE_SIZE, StatsSnapshot};
use crate::store::{
    ListedRow, Outcome, PairScope, Store, StoreError, StoredTask, listed_fingerprint,
};

/// Listed tasks are written in transactions of about this many rows (several users' pages):
/// one round trip to SQLite per batch rather than per page.
const WRITE_BATCH: usize = 1000;

/// How many times a listing whose total moved while it was paged is read again.
const MAX_LISTING_PASSES: usize = 3;

/// What a cycle did; logged as one line and returned to `once`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleReport {
    pub users_listed: u64,
    pub users_failed: u64,
    pub tasks_seen: u64,
    pub tasks_new: u64,
    pub tasks_finished: u64,
    /// Pairs a complete listing lacked for the first time: finished if the next one agrees.
    pub tasks_missing: u64,
    /// Filtered listings not needed because every task's flow was already known.
    pub listings_skipped: u64,
    pub expedites_due: u64,
    pub expedites_sent: u64,
    pub expedites_failed: u64,
    pub expedites_deferred: u64,
    pub expedites_unknown: u64,
    /// Due, but beyond what the rate budget allows before the next tick: still due next cycle.
    pub expedites_carried_over: u64,
    pub dry_run: bool,
    pub api_query_calls: u64,
    pub api_expedite_calls: u64,
    pub rate_limit_waits: u64,
    pub retries: u64,
    pub duration_ms: u64,
}

impl CycleReport {
    /// Adds the counts of `other` (the two sides of an overlapped cycle).
    fn merge(&mut self, other: &CycleReport) {
        self.users_listed += other.users_listed;
        self.users_failed += other.users_failed;
        self.tasks_seen += other.tasks_seen;
        self.tasks_new += other.tasks_new;
        self.tasks_finished += other.tasks_finished;
        self.tasks_missing += other.tasks_missing;
        self.listings_skipped += other.listings_skipped;
        self.expedites_due += other.expedites_due;
        self.expedites_sent += other.expedites_sent;
        self.expedites_failed += other.expedites_failed;
        self.expedites_deferred += other.expedites_deferred;
        self.expedites_unknown += other.expedites_unknown;
        self.expedites_carried_over += other.expedites_carried_over;
    }

    /// Every user listed and every due expedite sent.
    pub fn ok(&self) -> bool {
        self.users_failed == 0 && self.expedites_failed == 0 && self.expedites_unknown == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "users {}/{} listed, tasks {} seen ({} new, {} finished), expedites {} due: {} {}, {} failed, {} unknown, {} deferred; API calls query {} expediting {}, rate-limit waits {}, {:.1}s",
            self.users_listed,
            self.users_listed + self.users_failed,
            self.tasks_seen,
            self.tasks_new,
            self.tasks_finished,
            self.expedites_due,
            self.expedites_sent,
            if self.dry_run {
                "would be sent (dry run)"
            } else {
                "sent"
            },
            self.expedites_failed,
            self.expedites_unknown,
            self.expedites_deferred,
            self.api_query_calls,
            self.api_expedite_calls,
            self.rate_limit_waits,
            self.duration_ms as f64 / 1000.0,
        )
    }

    fn log(&self) {
        tracing::info!(
            users_listed = self.users_listed,
            users_failed = self.users_failed,
            tasks_seen = self.tasks_seen,
            tasks_new = self.tasks_new,
            tasks_finished = self.tasks_finished,
            tasks_missing = self.tasks_missing,
            listings_skipped = self.listings_skipped,
            expedites_due = self.expedites_due,
            expedites_sent = self.expedites_sent,
            expedites_failed = self.expedites_failed,
            expedites_unknown = self.expedites_unknown,
            expedites_deferred = self.expedites_deferred,
            expedites_carried_over = self.expedites_carried_over,
            dry_run = self.dry_run,
            api_query_calls = self.api_query_calls,
            api_expedite_calls = self.api_expedite_calls,
            rate_limit_waits = self.rate_limit_waits,
            retries = self.retries,
            duration_ms = self.duration_ms,
            "cycle finished: {}",
            self.summary()
        );
    }
}

/// Failures that stop a cycle: the database is the record of what was sent, so without it
/// nothing more may be sent.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every further call would fail the same way (credentials, scope, quota): the cycle stops.
    #[error("{0}")]
    Feishu(FeishuError),
}

/// Everything a cycle needs.
#[derive(Clone)]
pub struct Engine {
    pub config: Arc<Config>,
    pub client: FeishuClient,
    pub store: Store,
    /// Set on shutdown: the cycle stops before its next call.
    pub stopping: Arc<AtomicBool>,
    pub clock: Clock,
}

impl Engine {
    fn stop_requested(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// One cycle. Listing and expediting overlap: as soon as every watched assignee of a task
    /// has been listed, its decision is made and its call queued, and the expediting side sends
    /// queued calls (most overdue first, round-robin across assignees) while later users are
    /// still being listed. A task shared by several watched users waits for the last of them,
    /// so it still gets one call naming all its due assignees.
    pub async fn run_cycle(&self, dry_run: bool) -> Result<CycleReport, CycleError> {
        let started = Instant::now();
        let cycle_started = self.clock.now();
        let stats_before = self.client.stats();
        let (listed_tx, listed_rx) = mpsc::unbounded_channel::<ListedUser>();
        // Either side failing ends the cycle at once: without the database nothing more may be
        // sent, and a listing that stopped leaves nothing more to decide.
        let result = tokio::try_join!(
            self.list_all(listed_tx),
            self.expedite_as_listed(listed_rx, cycle_started, dry_run)
        );
        let (mut report, expediting) = match result {
            Ok(sides) => sides,
            Err(e) => {
                // An expediting call cut off by the other side's failure may have reached
                // Feishu: its intent is settled as outcome unknown, never repeated.
                self.settle_abandoned().await;
                return Err(e);
            }
        };
        report.merge(&expediting);
        report.dry_run = dry_run;
        let stats = self.client.stats().since(stats_before);
        fill_api_stats(&mut report, stats);
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.log();
        Ok(report)
    }

    /// Records intents left without an outcome (a call abandoned mid-flight) as unknown.
    pub async fn settle_abandoned(&self) {
        match self.store.settle_unfinished_intents(self.clock.now()).await {
            Ok(open) => {
                for e in open {
                    tracing::warn!(task_id = %e.task_id, assignees = ?e.assignees, rule = %e.rule,
                        "expedite outcome unknown: the call was abandoned; counted as sent and not repeated");
                }
            }
            Err(e) => tracing::error!("could not record abandoned expedites: {e}"),
        }
    }

    /// The listing side of a cycle: every user in turn, each handed to the expediting side
    /// once listed.
    async fn list_all(
        &self,
        listed_tx: mpsc::UnboundedSender<ListedUser>,
    ) -> Result<CycleReport, CycleError> {
        let mut report = CycleReport::default();
        let mut state = ListingState {
            oldest_due_start: self.oldest_possible_due_start(),
            // What is stored for each user: pages that bring nothing new are not written.
            snapshots: self.store.all_snapshots().await?,
            tasks_seen: FxHashSet::default(),
            quiet: Vec::new(),
            pending: Vec::new(),
        };
        for user in &self.config.users {
            if self.stop_requested() {
                break;
            }
            let listed = self.list_user(user, &mut state, &mut report).await?;
            // The expediting side may have ended already (it failed, and this side is about to
            // be dropped): nothing to hand over then.
            let _ = listed_tx.send(listed);
        }
        self.flush(&mut state.pending, &mut report).await?;
        self.store
            .record_listings(&state.quiet, self.clock.now())
            .await?;
        report.tasks_seen = state.tasks_seen.len() as u64;
        Ok(report)
    }

    /// The expediting side of a cycle: decides each user's tasks once they are listed, queues
    /// the due calls, and sends them within the cycle's budget.
    ///
    /// One `select!` waits for whichever comes first: a user listed, or the expediting API's
    /// next paced slot (only while a call is queued and the budget allows one). Every turn of
    /// the loop awaits, so a spent budget never spins: the loop then only takes in listings,
    /// which keeps the carried-over count complete, and ends when the listing side does.
    async fn expedite_as_listed(
        &self,
        mut listed_rx: mpsc::UnboundedReceiver<ListedUser>,
        cycle_started: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<CycleReport, CycleError> {
        let mut report = CycleReport::default();
        let watched = user_index(&self.config.users);
        let mut sides = Decided {
            listed: FxHashSet::default(),
            decided: FxHashSet::default(),
        };
        let mut queue: Vec<Call> = Vec::new();
        let mut picked: HashMap<String, usize> = HashMap::new();
        let budget = expedite_budget(&self.config, self.clock.now());
        let mut sent_calls = 0;
        let mut listing_done = false;
        loop {
            let may_send = !queue.is_empty() && sent_calls < budget && !self.stop_requested();
            if listing_done && !may_send {
                break;
            }
            let next_slot = self.client.next_slot(Api::Expedite);
            tokio::select! {
                // Listings first: a task decided sooner may be more overdue than the queue.
                biased;
                listed = listed_rx.recv(), if !listing_done => match listed {
                    Some(ListedUser { user, may_be_due }) => {
                        sides.listed.insert(user.clone());
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
                    }
                },
                () = tokio::time::sleep_until(next_slot), if may_send => {
                    let call = take_fairest(&mut queue, &mut picked);
                    self.expedite(call, dry_run, &mut report).await?;
                    sent_calls += 1;
                }
            }
        }
        if !queue.is_empty() {
            report.expedites_carried_over = queue.iter().map(|c| c.assignees.len() as u64).sum();
            if self.stop_requested() {
                tracing::info!(
                    left = queue.len(),
                    "shutting down: remaining expedites stay due for the next run"
                );
            } else {
                tracing::warn!(
                    due_calls = sent_calls + queue.len(),
                    budget,
                    carried_over = queue.len(),
                    "more expedites are due than fit before the next tick; the most overdue went first, the rest stay due for the next cycle"
                );
            }
        }
        Ok(report)
    }

    /// Decides the tasks in `scope` whose watched assignees have all been listed, skipping
    /// tasks first seen since `known_before` (their assignees are not all known yet).
    async fn decide_ready_tasks(
        &self,
        scope: PairScope<'_>,
        known_before: Option<DateTime<Utc>>,
        watched: &UserIndex<'_>,
        sides: &mut Decided,
        queue: &mut Vec<Call>,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let Decided { listed, decided } = sides;
        let mut by_task: BTreeMap<String, Vec<Pair>> = BTreeMap::new();
        // A task younger than every rule's `after` cannot be due: such pairs are not even read.
        let now = self.clock.now();
        let started_before = self.oldest_possible_due_start();
        self.store
            .visit_pending_pairs(scope, Some(started_before), |row| {
                let known = known_before.is_none_or(|t| row.first_seen < t);
                if known
                    && !decided.contains(&row.task_id)
                    && watched.contains_key(row.user_id.as_str())
                {
                    by_task.entry(row.task_id.clone()).or_default().push(row);
                }
            })
            .await?;
        let mut planner = Planner::new(self.config.policy(), now, watched);
        for (task_id, rows) in by_task {
            // Shared with a watched user not listed yet: decided when the last of them is.
            if rows.iter().any(|r| !listed.contains(&r.user_id)) {
                continue;
            }
            decided.insert(task_id);
            for row in rows {
                planner.add(row);
            }
        }
        let (calls, deferred, unsendable) = planner.finish(MAX_EXPEDITE_IDS);
        report.expedites_deferred += deferred;
        report.expedites_due += calls.iter().map(|c| c.assignees.len() as u64).sum::<u64>()
            + unsendable.len() as u64
            + deferred;
        for (task_id, why) in &unsendable {
            tracing::warn!(task_id = %task_id, "cannot expedite: {why}");
            report.expedites_failed += 1;
        }
        queue.extend(calls);
        Ok(())
    }

    /// Lists one user on every needed flow filter; stores pages as they come. A user whose
    /// listing failed anywhere keeps all their tasks as they were.
    async fn list_user(
        &self,
        user: &User,
        state: &mut ListingState,
        report: &mut CycleReport,
    ) -> Result<ListedUser, CycleError> {
        let ListingState {
            oldest_due_start,
            snapshots,
            tasks_seen,
            quiet,
            pending,
        } = state;
        let oldest_due_start = *oldest_due_start;
        let listing_started = self.clock.now();
        // What is stored for this user: pages that bring nothing new are not written.
        let stored = snapshots.remove(&user.id).unwrap_or_default();
        let mut seen: FxHashSet<String> = FxHashSet::default();
        // Every task any pass listed: one a re-read no longer shows has finished meanwhile.
        let mut listed_any: FxHashSet<String> = FxHashSet::default();
        // Could any of this user's tasks be due? Only tasks old enough can (new ones are decided
        // at the end of the cycle anyway).
        let mut may_be_due = stored.values().any(|t| t.started <= oldest_due_start);
        let mut complete = true;
        // What the unfiltered listing held, when it ran first and completely this cycle.
        let mut unfiltered: Option<FxHashSet<String>> = None;
        for filter in listing_filters(&self.config) {
            let flow_set = filter.as_deref().map(decide::flow_key);
            if let (Some(key), Some(all)) = (&flow_set, &unfiltered) {
                // A filtered listing only tells which tasks are of its flows. When that is
                // already known for every task this user has, it cannot change any decision.
                let known = self.store.known_flow_membership(all, key).await?;
                if known == all.len() {
                    tracing::debug!(user = %user.id, flows = %key, "flow of every task known; filtered listing skipped");
                    report.listings_skipped += 1;
                    continue;
                }
            }
            let mut stream_seen = FxHashSet::default();
            match self
                .list_stream(
                    user,
                    filter.as_deref(),
                    &stored,
                    &mut stream_seen,
                    &mut listed_any,
                    oldest_due_start,
                    &mut may_be_due,
                    pending,
                    report,
                )
                .await
            {
                Ok(true) => {
                    match (&flow_set, &unfiltered) {
                        (None, _) => unfiltered = Some(stream_seen.clone()),
                        (Some(key), Some(all)) => {
                            let outside: Vec<String> =
                                all.difference(&stream_seen).cloned().collect();
                            // Flow knowledge refers to stored tasks.
                            self.flush(pending, report).await?;
                            self.store.record_non_members(&outside, key).await?;
                        }
                        (Some(_), None) => {}
                    }
                    seen.extend(stream_seen);
                }
                Ok(false) => {
                    complete = false;
                    seen.extend(stream_seen);
                }
                Err(ListError::Store(e)) => return Err(e.into()),
                Err(ListError::Feishu(e)) if e.stops_cycle() => return Err(CycleError::Feishu(e)),
                Err(ListError::Feishu(e)) => {
                    tracing::warn!(user = %user.id, user_name = user.display_name(), code = e.code(), error = %e,
                        "listing failed; this user's tasks are kept as they were");
                    complete = false;
                    break;
                }
            }
        }
        // A task newly pending for this user may be an old one (known through another user).
        tasks_seen.extend(seen.iter().cloned());
        if complete {
            report.users_listed += 1;
            let gone: Vec<String> = stored
                .keys()
                .chain(listed_any.iter().filter(|t| !stored.contains_key(*t)))
                .filter(|t| !seen.contains(*t))
                .cloned()
                .collect();
            if gone.is_empty() {
                // Nothing to finish: the listing time is recorded with the others at the end.
                quiet.push(user.id.clone());
            } else {
                // A task stored only in the pending batch must be stored before it is finished.
                self.flush(pending, report).await?;
                let absent = self
                    .store
                    .record_absent(&user.id, &gone, listing_started)
                    .await?;
                report.tasks_finished += absent.finished;
                report.tasks_missing += absent.missing;
            }
        } else {
            report.users_failed += 1;
        }
        if may_be_due {
            // The expediting side reads this user's tasks next.
            self.flush(pending, report).await?;
        }
        Ok(ListedUser {
            user: user.id.clone(),
            may_be_due,
        })
    }

    /// Writes the listed tasks gathered so far, in one transaction.
    async fn flush(
        &self,
        pending: &mut Vec<ListedRow>,
        report: &mut CycleReport,
    ) -> Result<(), StoreError> {
        report.tasks_new += self.store.record_listed(pending, self.clock.now()).await?;
        self.client.progress().beat();
        pending.clear();
        Ok(())
    }

    /// Tasks that started after this cannot be due: every rule waits at least its `after`
    /// (working time and calendars only ever make it later).
    fn oldest_possible_due_start(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        self.config
            .rules
            .iter()
            .filter(|r| r.max_times > 0)
            .map(|r| r.after)
            .min()
            .and_then(|after| chrono::TimeDelta::from_std(after).ok())
            .and_then(|after| now.checked_sub_signed(after))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Pages through one listing, adding what it holds to `seen`. `Ok(false)` when the listing
    /// never held still long enough to be trusted as complete.
    ///
    /// Offset paging over a live list shifts when a task finishes mid-listing: a later page then
    /// skips one task. A total that changed between pages shows this happened, and the listing
    /// is read again from the start; only a pass with a steady total counts as complete.
    // The listing's working state is passed piecemeal: each piece has one reader or writer.
    #[allow(clippy::too_many_arguments)]
    async fn list_stream(
        &self,
        user: &User,
        filter: Option<&[String]>,
        stored: &FxHashMap<String, StoredTask>,
        seen: &mut FxHashSet<String>,
        listed_any: &mut FxHashSet<String>,
        oldest_due_start: DateTime<Utc>,
        may_be_due: &mut bool,
        pending: &mut Vec<ListedRow>,
        report: &mut CycleReport,
    ) -> Result<bool, ListError> {
        let flow_set = filter.map(decide::flow_key);
        for pass in 0..MAX_LISTING_PASSES {
            let mut pass_seen: FxHashSet<String> = FxHashSet::default();
            let mut offset = 0;
            let mut first_count = None;
            let mut stable = true;
            loop {
                let page = self
                    .client
                    .query_page(&user.id, offset, filter)
                    .await
                    .map_err(ListError::Feishu)?;
                if page.skipped > 0 {
                    tracing::warn!(user = %user.id, offset, skipped = page.skipped, "listing page had entries without a task id; skipped them");
                }
                let count = page.count;
                stable &= *first_count.get_or_insert(count) == count;
                let listed = page.tasks.len() + page.skipped;
                // A task that slid back onto this page from the previous one is stored once.
                let fresh: Vec<_> = page
                    .tasks
                    .into_iter()
                    .filter(|t| !pass_seen.contains(&t.task_id))
                    .collect();
                // Unchanged tasks already pending for this user need no write; a filtered
                // listing always writes, as it teaches the tasks' flow, and so does one that
                // holds a task the previous listing lacked (its missing mark is cleared).
                let changed: Vec<_> = fresh
                    .iter()
                    .filter(|t| {
                        flow_set.is_some()
                            || stored
                                .get(&t.task_id)
                                .is_none_or(|s| s.missing || s.fingerprint != listed_fingerprint(t))
                    })
                    .cloned()
                    .collect();
                pending.extend(changed.into_iter().map(|task| ListedRow {
                    user: user.id.clone(),
                    flow_set: flow_set.clone(),
                    task,
                }));
                if pending.len() >= WRITE_BATCH {
                    self.flush(pending, report)
                        .await
                        .map_err(ListError::Store)?;
                }
                for t in fresh {
                    if !stored.contains_key(&t.task_id) {
                        // New to this user: it could be old (known through another user), and
                        // then due; without a start time nobody can tell yet.
                        *may_be_due |= t.start_time.is_none_or(|s| s <= oldest_due_start);
                        if !listed_any.contains(&t.task_id) {
                            listed_any.insert(t.task_id.clone());
                        }
                    }
                    pass_seen.insert(t.task_id);
                }
                offset += PAGE_SIZE;
                if offset >= count || listed == 0 {
                    break;
                }
            }
            if stable {
                seen.extend(pass_seen);
                return Ok(true);
            }
            tracing::info!(user = %user.id, pass = pass + 1, "task count changed while paging; reading the listing again");
            if pass + 1 == MAX_LISTING_PASSES {
                seen.extend(pass_seen);
            }
        }
        Ok(false)
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
        let age = human_age(call.age);
        if dry_run {
            tracing::info!(task_id = %call.task_id, assignees = ?ids, rule = %rule, age = %age, n = ?ns, operator = %call.operator, opinion = %call.opinion,
                "would expedite task {} for {} (dry run, nothing sent)", call.task_id, call.names.join(", "));
            report.expedites_sent += ids.len() as u64;
            return Ok(());
        }
        let slot = self.client.reserve(Api::Expedite).await;
        let intent = match self
            .store
            .record_intent(
                &call.task_id,
                rule,
                &call.operator,
                &call.opinion,
                &call.assignees,
                self.clock.now(),
            )
            .await
        {
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
            .expedite(slot, &call.task_id, &call.operator, &ids, &call.opinion)
            .await;
        let now = self.clock.now();
        match result {
            Ok(()) => {
                self.store
                    .record_outcome(intent, Outcome::Sent, None, None, now)
                    .await?;
                report.expedites_sent += ids.len() as u64;
                tracing::info!(task_id = %call.task_id, assignees = ?ids, rule = %rule, age = %age, n = ?ns, operator = %call.operator,
                    "expedited task {} for {}", call.task_id, call.names.join(", "));
            }
            Err(e) if e.outcome_unknown() => {
                self.store
                    .record_outcome(intent, Outcome::Unknown, None, Some(&e.to_string()), now)
                    .await?;
                report.expedites_unknown += ids.len() as u64;
                tracing::warn!(task_id = %call.task_id, assignees = ?ids, rule = %rule, n = ?ns, error = %e,
                    "expedite outcome unknown; counted as sent and not repeated");
            }
            Err(e) => {
                self.store
                    .record_outcome(intent, Outcome::Failed, e.code(), Some(&e.msg()), now)
                    .await?;
                report.expedites_failed += ids.len() as u64;
                log_expedite_failure(&call.task_id, &ids, rule, &e);
            }
        }
        Ok(())
    }
}

/// What the expediting side knows: users listed so far, tasks already decided this cycle.
struct Decided {
    listed: FxHashSet<String>,
    decided: FxHashSet<String>,
}

/// What the listing side of a cycle carries from one user to the next.
struct ListingState {
    /// Tasks that started after this cannot be due yet.
    oldest_due_start: DateTime<Utc>,
    /// Per user, the tasks stored as pending for them when the cycle began.
    snapshots: FxHashMap<String, FxHashMap<String, StoredTask>>,
    tasks_seen: FxHashSet<String>,
    /// Users listed completely with nothing finished: their listing time is written at the end.
    quiet: Vec<String>,
    /// Listed tasks not written yet.
    pending: Vec<ListedRow>,
}

/// A user the listing side is done with, for the expediting side.
struct ListedUser {
    user: String,
    /// Could any of the user's tasks be due? When not, their decisions are skipped.
    may_be_due: bool,
}

enum ListError {
    Feishu(FeishuError),
    Store(StoreError),
}

fn log_expedite_failure(task_id: &str, ids: &[String], rule: &str, e: &FeishuError) {
    match e.class() {
        crate::feishu::ErrorClass::Final => {
            tracing::error!(task_id = %task_id, assignees = ?ids, rule = %rule, code = e.code(), msg = %e.msg(), "expedite failed: {e}")
        }
        _ => {
            tracing::warn!(task_id = %task_id, assignees = ?ids, rule = %rule, code = e.code(), msg = %e.msg(), "expedite failed, will try again next cycle: {e}")
        }
    }
}

fn fill_api_stats(report: &mut CycleReport, stats: StatsSnapshot) {
    report.api_query_calls = stats.query_calls;
    report.api_expedite_calls = stats.expedite_calls;
    report.rate_limit_waits = stats.rate_limit_waits;
    report.retries = stats.retries;
}

/// The listings each user needs: one per distinct `api_ids` set, plus one unfiltered when some
/// rule has none (or there are no rules, so tasks are still tracked).
pub fn listing_filters(config: &Config) -> Vec<Option<Vec<String>>> {
    let mut filters: Vec<Option<Vec<String>>> = Vec::new();
    if config.rules.is_empty() || config.rules.iter().any(|r| r.api_ids.is_none()) {
        filters.push(None);
    }
    for r in &config.rules {
        if let Some(ids) = &r.api_ids
            && !filters.iter().any(|f| f.as_ref() == Some(ids))
        {
            filters.push(Some(ids.clone()));
        }
    }
    filters
}

/// How many expediting calls fit between two cron ticks at the configured pace.
pub fn expedite_budget(config: &Config, now: DateTime<Utc>) -> usize {
    let tz = config.schedule.timezone;
    let fires = config
        .schedule
        .cron
        .next_fire_times(now.with_timezone(&tz), 2);
    let interval = match fires.as_slice() {
        [a, b] => (*b - *a).to_std().unwrap_or_default(),
        _ => return usize::MAX,
    };
    let period = crate::rate::Pacer::per_minute(config.feishu.requests_per_minute).period();
    ((interval.as_secs_f64() / period.as_secs_f64()).floor() as usize).max(1)
}
