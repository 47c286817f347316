//! `listing = "auto"` in a cycle: which watched users this tick lists, from what is stored
//! (see `domain::listing` for the reasons). Under `every_tick`, and for `once`, everyone is.

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{CycleError, Engine};
use crate::domain::calls::user_index;
use crate::domain::decide::{self, EscalationVerdict, Verdict};
use crate::domain::listing::{self, Why};
use crate::store::PairScope;

/// The users a tick lists, and why each.
pub(super) type ToList = FxHashMap<String, Why>;

impl Engine {
    /// Under `listing = "auto"` (for `run`): the users this tick lists; `None`: everyone.
    /// Decided at `now`, the moment the cycle decides its calls at.
    pub(super) async fn users_to_list(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<ToList>, CycleError> {
        if !self.auto_listing {
            return Ok(None);
        }
        let config = &self.config;
        let tz = config.schedule.timezone;
        // A schedule that never fires again: list everyone this once.
        let Some((next_tick, period)) = config.ticks().next_and_period(now) else {
            return Ok(None);
        };
        let last = self.store.last_listings().await?;
        // An assignee the daily cap holds gets no reminder today: no confirmation for them.
        let cap = config.expedite.max_per_user_per_day;
        let capped: FxHashSet<String> = if cap > 0 {
            let today = crate::domain::calls::day_start(now, tz);
            self.store
                .reminders_since(today)
                .await?
                .into_iter()
                .filter(|(_, n)| *n >= cap)
                .map(|(u, _)| u)
                .collect()
        } else {
            FxHashSet::default()
        };
        let watched = user_index(&config.users);
        let policy = config.policy();
        let move_kind = config.away.deputy_action.kind();
        // Who is away now: nothing moves to a deputy who is.
        let away_now: FxHashSet<String> = if move_kind.is_some() {
            self.store
                .open_away()
                .await?
                .into_iter()
                .filter(|(_, w)| w.iter().any(|w| w.holds_at(now)))
                .map(|(u, _)| u)
                .collect()
        } else {
            FxHashSet::default()
        };
        let mut why: ToList = FxHashMap::default();
        let mut reminded: FxHashSet<String> = FxHashSet::default();
        // Pairs come by task: a due task's watched assignees are all listed.
        let mut task = String::new();
        let mut task_users: Vec<String> = Vec::new();
        let mut task_due = false;
        // Deputies a move of this task would go to, once its holders are all known (those whose
        // last listing held it, as the planner counts them).
        let mut task_moves: Vec<String> = Vec::new();
        let mut task_holders: Vec<String> = Vec::new();
        let flush = |users: &mut Vec<String>,
                     holders: &mut Vec<String>,
                     moves: &mut Vec<String>,
                     due: bool,
                     why: &mut ToList| {
            let move_due = move_kind.is_some_and(|kind| {
                moves
                    .iter()
                    .any(|d| crate::domain::calls::move_adds_someone(kind, holders, d))
            });
            if due || move_due {
                for u in users.iter() {
                    note(why, u, Why::Confirmation);
                }
            }
            users.clear();
            holders.clear();
            moves.clear();
        };
        self.store
            .visit_pending_pairs(PairScope::All, None, |mut row| {
                let Some(user) = watched.get(row.user_id.as_str()).copied() else {
                    return;
                };
                if row.task_id != task {
                    flush(
                        &mut task_users,
                        &mut task_holders,
                        &mut task_moves,
                        task_due,
                        &mut why,
                    );
                    task_due = false;
                    task.clone_from(&row.task_id);
                }
                task_users.push(row.user_id.clone());
                if row.missing_since.is_some() {
                    note(&mut why, &row.user_id, Why::Recheck);
                } else {
                    task_holders.push(row.user_id.clone());
                }
                if row.sent > 0 {
                    reminded.insert(row.user_id.clone());
                }
                // As a listing now would find it, were it still pending: due for a reminder,
                // or for an escalation that this listing would confirm.
                row.missing_since = None;
                row.confirmed_at = Some(now);
                let facts = row.facts();
                let verdict = decide::decide(&policy, user, &facts, now);
                let escalation = decide::decide_escalation(&policy, user, &facts, now);
                let reminder_due =
                    matches!(verdict, Verdict::Due { .. }) && !capped.contains(&row.user_id);
                // An away assignee's task that goes to their deputy once it is due: listed in
                // that tick too, like a reminder — as the planner decides it.
                if let Verdict::Away {
                    deputy: Some(d), ..
                } = &verdict
                    && move_kind.is_some()
                    && crate::domain::calls::deputy_move(
                        &policy,
                        user,
                        &facts,
                        d,
                        away_now.contains(d.as_str()),
                        now,
                    )
                    .due()
                    .is_some()
                {
                    task_moves.push(d.clone());
                }
                task_due |= reminder_due
                    || matches!(escalation, Some(EscalationVerdict::Due { .. }))
                        && !matches!(
                            verdict,
                            Verdict::Silenced { .. }
                                | Verdict::Away { .. }
                                | Verdict::MovedAway { .. }
                        );
            })
            .await?;
        flush(
            &mut task_users,
            &mut task_holders,
            &mut task_moves,
            task_due,
            &mut why,
        );
        // A digest that fires before the next tick shows what this tick lists.
        for digest in &config.digests {
            let fires_before_next = config
                .digest_ticks(digest)
                .next_after(now)
                .is_some_and(|t| t <= next_tick);
            if fires_before_next {
                for user in config.users.iter().filter(|u| digest.selects(u)) {
                    note(&mut why, &user.id, Why::Digest);
                }
            }
        }
        for user in &config.users {
            let last = last.get(&user.id).copied();
            if last.is_none() {
                note(&mut why, &user.id, Why::First);
            }
            // At the user's phase too: everyone reminded when a calendar opens would otherwise
            // be followed up in the same tick, hour after hour.
            if reminded.contains(&user.id)
                && listing::phased_overdue(
                    &user.id,
                    last,
                    config.schedule.follow_up,
                    period,
                    next_tick,
                )
            {
                note(&mut why, &user.id, Why::FollowUp);
            }
            let every = listing::discovery_interval(&config.rules, user, period);
            if listing::phased_overdue(&user.id, last, every, period, next_tick) {
                note(&mut why, &user.id, Why::Discovery);
            }
        }
        Ok(Some(why))
    }
}

/// Keeps the first reason (in `Why`'s order) a user is listed for.
fn note(why: &mut ToList, user: &str, reason: Why) {
    why.entry(user.to_owned())
        .and_modify(|w| *w = (*w).min(reason))
        .or_insert(reason);
}

/// When each watched user is listed next at the latest under `auto` (discovery), from their
/// last complete listing; for `plan`.
pub fn next_discovery(
    config: &crate::config::Config,
    user: &crate::config::User,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let (_, period) = config.ticks().next_and_period(now)?;
    let every = listing::discovery_interval(&config.rules, user, period);
    last.map(|last| listing::phased_due(&user.id, last, every, period))
}
