//! How many calls went to each of Feishu's APIs, and how often a call waited or retried: counted
//! since the client was made; a cycle reports the difference. A leaf: numbers only.

use std::sync::atomic::AtomicU64;

/// Counters since the client was made; a cycle reports the difference.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls per API, in the order of `feishu::Api::ALL`.
    pub calls: [AtomicU64; 6],
    pub rate_limit_waits: AtomicU64,
    pub retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub query_calls: u64,
    pub expedite_calls: u64,
    pub cc_calls: u64,
    pub chat_group_calls: u64,
    /// Moves: transfer and add_assignee calls.
    pub move_calls: u64,
    pub rate_limit_waits: u64,
    pub retries: u64,
}

impl StatsSnapshot {
    pub fn since(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            query_calls: self.query_calls - earlier.query_calls,
            expedite_calls: self.expedite_calls - earlier.expedite_calls,
            cc_calls: self.cc_calls - earlier.cc_calls,
            chat_group_calls: self.chat_group_calls - earlier.chat_group_calls,
            move_calls: self.move_calls - earlier.move_calls,
            rate_limit_waits: self.rate_limit_waits - earlier.rate_limit_waits,
            retries: self.retries - earlier.retries,
        }
    }
}
