//! How many calls went to each of Feishu's APIs, and how often a call waited or retried: counted
//! since the client was made; a cycle reports the difference. A leaf: numbers only.

use std::sync::atomic::AtomicU64;

use crate::domain::CallKind;

/// The rate-limited APIs: the listing, and one per kind of call that acts.
pub const APIS: usize = 1 + CallKind::COUNT;

/// Counters since the client was made; a cycle reports the difference.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls per API, in the order of `feishu::Api::ALL`.
    pub calls: [AtomicU64; APIS],
    pub rate_limit_waits: AtomicU64,
    pub retries: AtomicU64,
}

/// The counters at one moment: calls per API (in `feishu::Api::ALL` order), waits and retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub calls: [u64; APIS],
    pub rate_limit_waits: u64,
    pub retries: u64,
}

impl StatsSnapshot {
    pub fn since(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            calls: std::array::from_fn(|i| self.calls[i] - earlier.calls[i]),
            rate_limit_waits: self.rate_limit_waits - earlier.rate_limit_waits,
            retries: self.retries - earlier.retries,
        }
    }

    /// Calls to the listing.
    pub fn query_calls(&self) -> u64 {
        self.calls[0]
    }

    /// Calls of one kind that acts.
    pub fn acting_calls(&self, kind: CallKind) -> u64 {
        self.calls[1 + kind.index()]
    }
}
