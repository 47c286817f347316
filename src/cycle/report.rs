//! What a cycle did: one summary line in the log, the status systemd shows, `once`'s exit code.

use serde::Serialize;

use crate::feishu::StatsSnapshot;

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
    pub(super) fn merge(&mut self, other: &CycleReport) {
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

    pub(super) fn log(&self) {
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

    /// The API counters of this cycle.
    pub(super) fn fill_api_stats(&mut self, stats: StatsSnapshot) {
        self.api_query_calls = stats.query_calls;
        self.api_expedite_calls = stats.expedite_calls;
        self.rate_limit_waits = stats.rate_limit_waits;
        self.retries = stats.retries;
    }
}
