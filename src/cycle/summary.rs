//! What a cycle did: one summary line in the log, the status systemd shows, `once`'s exit code.

use serde::Serialize;

use crate::domain::CallKind;
use crate::feishu::StatsSnapshot;

/// What a cycle did; logged as one line and returned to `once`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleReport {
    pub users_listed: u64,
    pub users_failed: u64,
    /// Under `listing = "auto"`: users not due for a listing this tick.
    pub users_not_due: u64,
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
    /// Due, but the assignee had their daily cap of reminders: waits for tomorrow.
    pub expedites_capped: u64,
    /// Pairs a silence held (neither expedited nor escalated nor counted as due).
    pub silenced: u64,
    /// Pairs whose assignee was away (held like silenced ones).
    pub away: u64,
    /// Escalated pairs (an assignee counts once per kind: cc, chat).
    pub escalations_due: u64,
    pub escalations_sent: u64,
    pub escalations_failed: u64,
    pub escalations_unknown: u64,
    /// Escalations (and moves) due but past the cycle's deadline: still due next cycle.
    pub escalations_carried_over: u64,
    /// Moves (transfer, add_assignee), counted by the assignees moved from.
    pub moves_due: u64,
    pub moves_sent: u64,
    pub moves_failed: u64,
    pub moves_unknown: u64,
    /// Refused by Feishu: recorded, tried again a day later.
    pub moves_refused: u64,
    /// The teams' document versions the cycle ran by (`finance v3, ops v1`).
    pub team_versions: String,
    pub dry_run: bool,
    pub api_query_calls: u64,
    pub api_expedite_calls: u64,
    pub api_cc_calls: u64,
    pub api_chat_group_calls: u64,
    pub api_move_calls: u64,
    pub rate_limit_waits: u64,
    pub retries: u64,
    pub duration_ms: u64,
}

impl CycleReport {
    /// Adds the counts of `other` (the two sides of an overlapped cycle).
    pub(super) fn merge(&mut self, other: &CycleReport) {
        self.users_listed += other.users_listed;
        self.users_failed += other.users_failed;
        self.users_not_due += other.users_not_due;
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
        self.escalations_carried_over += other.escalations_carried_over;
        self.expedites_capped += other.expedites_capped;
        self.silenced += other.silenced;
        self.away += other.away;
        self.escalations_due += other.escalations_due;
        self.escalations_sent += other.escalations_sent;
        self.escalations_failed += other.escalations_failed;
        self.escalations_unknown += other.escalations_unknown;
        self.moves_due += other.moves_due;
        self.moves_sent += other.moves_sent;
        self.moves_failed += other.moves_failed;
        self.moves_unknown += other.moves_unknown;
        self.moves_refused += other.moves_refused;
    }

    /// Every user listed and every due expedite and escalation sent.
    pub fn ok(&self) -> bool {
        self.users_failed == 0
            && self.expedites_failed == 0
            && self.expedites_unknown == 0
            && self.escalations_failed == 0
            && self.escalations_unknown == 0
            && self.moves_failed == 0
            && self.moves_unknown == 0
            && self.moves_refused == 0
    }

    /// The cycle in one short line: what happened, nothing about what did not (the log
    /// line's fields have every count).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let users = self.users_listed + self.users_failed;
        parts.push(if self.users_failed > 0 {
            format!(
                "users {}/{users} listed ({} FAILED)",
                self.users_listed, self.users_failed
            )
        } else {
            format!("users {}/{users} listed", self.users_listed)
        });
        if self.tasks_new + self.tasks_finished > 0 {
            parts.push(format!(
                "tasks {} new, {} finished",
                self.tasks_new, self.tasks_finished
            ));
        }
        let sent = if self.dry_run {
            "would be sent (dry run)"
        } else {
            "sent"
        };
        let calls = |what: &str, due, done, failed, unknown, extra: Vec<(u64, &str)>| {
            let mut p = vec![format!("{what} {done} {sent}")];
            for (n, word) in [(failed, "FAILED"), (unknown, "unknown")]
                .into_iter()
                .chain(extra)
            {
                if n > 0 {
                    p.push(format!("{n} {word}"));
                }
            }
            if due == 0 { None } else { Some(p.join(", ")) }
        };
        parts.extend(calls(
            "reminders",
            self.expedites_due,
            self.expedites_sent,
            self.expedites_failed,
            self.expedites_unknown,
            vec![
                (self.expedites_deferred, "outside calendar"),
                (self.expedites_capped, "capped"),
                (self.expedites_carried_over, "carried over"),
            ],
        ));
        parts.extend(calls(
            "escalations",
            self.escalations_due,
            self.escalations_sent,
            self.escalations_failed,
            self.escalations_unknown,
            vec![(self.escalations_carried_over, "carried over")],
        ));
        parts.extend(calls(
            "moves",
            self.moves_due,
            self.moves_sent,
            self.moves_failed,
            self.moves_unknown,
            vec![(self.moves_refused, "REFUSED")],
        ));
        if self.expedites_due + self.escalations_due + self.moves_due == 0 {
            parts.push("nothing due".to_owned());
        }
        if self.away > 0 {
            parts.push(format!("{} held (assignee away)", self.away));
        }
        if self.silenced > 0 {
            parts.push(format!("{} silenced", self.silenced));
        }
        if self.rate_limit_waits > 0 {
            parts.push(format!("{} rate-limit waits", self.rate_limit_waits));
        }
        format!(
            "{}; {:.1}s",
            parts.join("; "),
            self.duration_ms as f64 / 1000.0
        )
    }

    pub(super) fn log(&self) {
        tracing::info!(
            users_listed = self.users_listed,
            users_failed = self.users_failed,
            users_not_due = self.users_not_due,
            tasks_seen = self.tasks_seen,
            tasks_new = self.tasks_new,
            tasks_finished = self.tasks_finished,
            tasks_missing = self.tasks_missing,
            listings_skipped = self.listings_skipped,
            expedites_due = self.expedites_due,
            // A dry run sends nothing: what it would have sent is counted apart, so a search
            // for what was sent never counts it.
            expedites_sent = if self.dry_run { 0 } else { self.expedites_sent },
            expedites_would_send = if self.dry_run { self.expedites_sent } else { 0 },
            expedites_failed = self.expedites_failed,
            expedites_unknown = self.expedites_unknown,
            expedites_deferred = self.expedites_deferred,
            expedites_carried_over = self.expedites_carried_over,
            expedites_capped = self.expedites_capped,
            silenced = self.silenced,
            away = self.away,
            escalations_due = self.escalations_due,
            escalations_sent = if self.dry_run {
                0
            } else {
                self.escalations_sent
            },
            escalations_would_send = if self.dry_run {
                self.escalations_sent
            } else {
                0
            },
            escalations_failed = self.escalations_failed,
            escalations_unknown = self.escalations_unknown,
            escalations_carried_over = self.escalations_carried_over,
            moves_due = self.moves_due,
            moves_sent = if self.dry_run { 0 } else { self.moves_sent },
            moves_would_send = if self.dry_run { self.moves_sent } else { 0 },
            moves_failed = self.moves_failed,
            moves_unknown = self.moves_unknown,
            moves_refused = self.moves_refused,
            dry_run = self.dry_run,
            team_versions = %self.team_versions,
            api_query_calls = self.api_query_calls,
            api_expedite_calls = self.api_expedite_calls,
            api_cc_calls = self.api_cc_calls,
            api_chat_group_calls = self.api_chat_group_calls,
            api_move_calls = self.api_move_calls,
            rate_limit_waits = self.rate_limit_waits,
            retries = self.retries,
            duration_ms = self.duration_ms,
            "cycle finished: {}",
            self.summary()
        );
    }

    /// The API counters of this cycle.
    pub(super) fn fill_api_stats(&mut self, stats: StatsSnapshot) {
        self.api_query_calls = stats.query_calls();
        self.api_move_calls = 0;
        for kind in CallKind::ALL {
            let calls = stats.acting_calls(kind);
            match kind {
                CallKind::Expedite => self.api_expedite_calls = calls,
                CallKind::Cc => self.api_cc_calls = calls,
                CallKind::Chat => self.api_chat_group_calls = calls,
                CallKind::Transfer | CallKind::AddAssignee => self.api_move_calls += calls,
            }
        }
        self.rate_limit_waits = stats.rate_limit_waits;
        self.retries = stats.retries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_happened_and_little_else() {
        let quiet = CycleReport {
            users_listed: 3,
            duration_ms: 120,
            ..Default::default()
        };
        assert_eq!(quiet.summary(), "users 3/3 listed; nothing due; 0.1s");
        let busy = CycleReport {
            users_listed: 3,
            users_failed: 1,
            tasks_new: 2,
            expedites_due: 5,
            expedites_sent: 3,
            expedites_unknown: 1,
            expedites_capped: 1,
            escalations_due: 1,
            escalations_sent: 1,
            duration_ms: 2_000,
            ..Default::default()
        };
        assert_eq!(
            busy.summary(),
            "users 3/4 listed (1 FAILED); tasks 2 new, 0 finished; reminders 3 sent, 1 unknown, 1 capped; escalations 1 sent; 2.0s"
        );
        assert!(quiet.summary().len() < 60 && busy.summary().len() < 140);
    }
}
