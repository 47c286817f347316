//! Evidence that the daemon is moving, for the systemd watchdog.
//!
//! A watchdog ping must mean progress, not merely that some thread is alive: the scheduler and
//! the ping run on other worker threads than a stuck cycle. So the cycle's parts report here —
//! an answer from Feishu, a database write, a wait whose end is known (a paced slot, a backoff,
//! a request bounded by its timeout) — and the daemon pings only while no cycle runs or the
//! running one moved since the last ping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    beats: AtomicU64,
    next_wait: AtomicU64,
    /// Waits on a known timer under way, by id, with when each ends at the latest: until then
    /// the cycle is waiting, not stuck.
    waits: Mutex<Vec<(u64, Instant)>>,
}

impl Progress {
    /// Something happened: a page listed, a call answered, a write committed.
    pub fn beat(&self) {
        self.inner.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// A wait that ends by `until` at the latest (a paced slot, a backoff, a request bounded
    /// by its timeout) starts; it counts as progress until the returned guard is dropped.
    #[must_use = "the wait ends when the guard is dropped"]
    pub fn waiting_until(&self, until: Instant) -> Wait {
        self.beat();
        let id = self.inner.next_wait.fetch_add(1, Ordering::Relaxed);
        self.inner
            .waits
            .lock()
            .expect("progress lock")
            .push((id, until));
        Wait {
            progress: self.clone(),
            id,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            beats: self.inner.beats.load(Ordering::Relaxed),
            waiting_until: self
                .inner
                .waits
                .lock()
                .expect("progress lock")
                .iter()
                .map(|(_, until)| *until)
                .max(),
        }
    }
}

/// A wait on a known timer under way; dropping it ends the wait (and counts as a beat).
#[derive(Debug)]
pub struct Wait {
    progress: Progress,
    id: u64,
}

impl Drop for Wait {
    fn drop(&mut self) {
        let inner = &self.progress.inner;
        if let Ok(mut waits) = inner.waits.lock() {
            waits.retain(|(id, _)| *id != self.id);
        }
        self.progress.beat();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub beats: u64,
    pub waiting_until: Option<Instant>,
}

/// Decides each watchdog ping from what it saw at the previous one.
#[derive(Debug, Default)]
pub struct Watchdog {
    beats_at_last_check: u64,
}

impl Watchdog {
    /// Ping now? Yes when no cycle runs, when the running cycle moved since the last check, or
    /// while it waits on a known timer.
    pub fn should_ping(&mut self, cycle_running: bool, seen: Snapshot, now: Instant) -> bool {
        let moved = seen.beats != self.beats_at_last_check;
        self.beats_at_last_check = seen.beats;
        !cycle_running || moved || seen.waiting_until.is_some_and(|t| now <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wait_counts_until_its_guard_is_dropped() {
        let p = Progress::default();
        let t0 = Instant::now();
        let a = p.waiting_until(t0 + Duration::from_secs(5));
        let b = p.waiting_until(t0 + Duration::from_secs(9));
        assert_eq!(
            p.snapshot().waiting_until,
            Some(t0 + Duration::from_secs(9))
        );
        drop(b);
        assert_eq!(
            p.snapshot().waiting_until,
            Some(t0 + Duration::from_secs(5))
        );
        let beats = p.snapshot().beats;
        drop(a);
        assert_eq!(p.snapshot().waiting_until, None);
        assert_eq!(p.snapshot().beats, beats + 1, "the end of a wait is a beat");
    }

    #[test]
    fn pings_mean_progress() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let snap = |beats, wait: Option<u64>| Snapshot {
            beats,
            waiting_until: wait.map(|w| t0 + s(w)),
        };
        // (case, cycle running, what is seen at each check in turn, when, expected pings)
        type Case = (&'static str, bool, Vec<(Snapshot, u64)>, Vec<bool>);
        let cases: Vec<Case> = vec![
            (
                "idle between cycles",
                false,
                vec![
                    (snap(0, None), 0),
                    (snap(0, None), 60),
                    (snap(0, None), 120),
                ],
                vec![true, true, true],
            ),
            (
                "a cycle that moves",
                true,
                vec![
                    (snap(1, None), 0),
                    (snap(5, None), 60),
                    (snap(9, None), 120),
                ],
                vec![true, true, true],
            ),
            (
                "a stuck cycle stops the pings, and they resume when it moves",
                true,
                vec![
                    (snap(3, None), 0),
                    (snap(3, None), 60),
                    (snap(3, None), 120),
                    (snap(4, None), 180),
                ],
                vec![true, false, false, true],
            ),
            (
                "a paced wait on a known timer is progress until it ends",
                true,
                vec![
                    (snap(2, Some(100)), 0),
                    (snap(2, Some(100)), 60),
                    (snap(2, Some(100)), 120),
                ],
                vec![true, true, false],
            ),
        ];
        for (name, running, checks, want) in cases {
            let mut w = Watchdog::default();
            let got: Vec<bool> = checks
                .into_iter()
                .map(|(seen, at)| w.should_ping(running, seen, t0 + s(at)))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
