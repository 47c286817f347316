//! One active instance per `app_id` on PostgreSQL: a lease row (holder, epoch, expiry) whose
//! every time is the database's. A standby takes over only an expired lease, incrementing the
//! epoch; the holder renews it every third of its length, and stops acting at once when a
//! renewal fails or when its own clock says the lease may have run out (the boot clock, which
//! counts a suspend: `Instant` stands still while a host sleeps).
//!
//! The local deadline is counted from the moment a grant or renewal was *asked for*: the
//! database set the expiry from its own later `now()`, so the holder's deadline falls before the
//! one a standby sees, and a tenth of the lease is kept back for clocks that run at different
//! rates. Intents are fenced in the database as well (`postgres::ledger`): a holder that froze
//! past its lease writes none when it wakes, whatever its clock says.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::BootInstant;

use chrono::{DateTime, Utc};

/// What a lease is for and how long it lasts.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// One active instance per app: the lease row's key.
    pub app_id: String,
    /// `[storage] lease`.
    pub duration: Duration,
}

/// Who holds a lease, as the database saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub epoch: i64,
    pub expires_at: DateTime<Utc>,
    /// By the database's clock at the time of reading.
    pub expired: bool,
}

/// The lease's operations, for a backend that can hold one (PostgreSQL): one active instance
/// per `app_id`, every time by the database's clock.
pub(in crate::store) trait Leased {
    /// Takes the lease when it is free, expired, or this instance's own; otherwise says who
    /// holds it. A takeover increments the epoch.
    async fn elect(&self) -> Result<Election, super::StoreError>;
    /// Renews the lease held; false when it is no longer this instance's.
    async fn renew(&self) -> Result<bool, super::StoreError>;
    /// Gives the lease up, so that a standby takes over at its next look.
    async fn release(&self) -> Result<(), super::StoreError>;
    /// Who holds the lease of `app_id` now.
    async fn lease_holder(&self, app_id: &str) -> Result<Option<LeaseHolder>, super::StoreError>;
}

/// What asking for the lease gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Election {
    /// This instance holds `epoch` (a new one when it took the lease over).
    Active { epoch: i64 },
    /// Another instance holds the lease.
    Standby(LeaseHolder),
}

/// This instance's side of the lease: who it is, and until when (by its monotonic clock) it
/// may act. Clones share it.
#[derive(Debug, Clone)]
pub struct Lease {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    app_id: String,
    /// The lease's length in milliseconds: a reload may change it (from the next renewal on).
    duration_ms: AtomicU64,
    /// `host/pid/random`: unique per process, so a restarted instance is a new holder.
    me: String,
    state: Mutex<State>,
    /// The task that renews the lease, stopped when the store closes.
    keeper: Mutex<Option<tokio::task::AbortHandle>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// The epoch this instance holds, 0 for none.
    epoch: i64,
    /// Acting stops at this moment unless a renewal moves it: on the boot clock, which counts
    /// a suspend (a host resumed after its lease ran out must not act on it).
    until: Option<BootInstant>,
}

impl Lease {
    pub fn new(settings: LeaseSettings) -> Lease {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let me = format!("{host}/{}/{:08x}", std::process::id(), fastrand::u32(..));
        Lease {
            inner: Arc::new(Inner {
                app_id: settings.app_id,
                duration_ms: AtomicU64::new(millis(settings.duration)),
                me,
                state: Mutex::default(),
                keeper: Mutex::default(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// This instance's name in the lease row.
    pub fn me(&self) -> &str {
        &self.inner.me
    }

    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.inner.duration_ms.load(Ordering::Relaxed))
    }

    /// A reloaded `[storage] lease`: the next renewal asks for it, and trusts that grant for
    /// its share; the grant held now keeps the length it was asked with.
    pub fn set_duration(&self, duration: Duration) {
        self.inner
            .duration_ms
            .store(millis(duration), Ordering::Relaxed);
    }

    /// How often the holder renews and a standby looks: a third of the lease.
    pub fn interval(&self) -> Duration {
        self.duration() / 3
    }

    /// Whether this instance may act now: it holds an epoch and its deadline has not passed.
    pub fn acting(&self) -> bool {
        let s = *self.state();
        s.epoch > 0 && s.until.is_some_and(|u| BootInstant::now() < u)
    }

    /// The epoch held, acting or not (0: none).
    pub fn epoch(&self) -> i64 {
        self.state().epoch
    }

    /// The database granted or renewed `epoch`, for `duration`, in answer to a request sent at
    /// `asked`.
    pub(super) fn granted(&self, epoch: i64, asked: BootInstant, duration: Duration) {
        *self.state() = State {
            epoch,
            until: Some(asked + trusted_for(duration)),
        };
    }

    pub fn set_keeper(&self, keeper: tokio::task::AbortHandle) {
        if let Some(old) = self
            .inner
            .keeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(keeper)
        {
            old.abort();
        }
    }

    /// Stops the keeper: nothing renews or takes the lease from here.
    pub(super) fn stop_keeper(&self) {
        if let Some(k) = self
            .inner
            .keeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            k.abort();
        }
    }

    /// The lease is lost, or can no longer be trusted: stop acting at once.
    pub fn step_down(&self) {
        *self.state() = State::default();
    }
}

/// How long after asking for a grant of `duration` the holder still trusts it: the lease less
/// a tenth.
fn trusted_for(duration: Duration) -> Duration {
    duration - duration / 10
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(secs: u64) -> Lease {
        Lease::new(LeaseSettings {
            app_id: "cli_a".into(),
            duration: Duration::from_secs(secs),
        })
    }

    #[test]
    fn acting_holds_until_the_trusted_part_of_the_lease_has_passed() {
        let l = lease(30);
        assert!(!l.acting(), "no grant, no acting");
        let now = BootInstant::now();
        let d = l.duration();
        l.granted(3, now, d);
        assert!(l.acting());
        assert_eq!(l.epoch(), 3);
        // Asked 26 s ago: 27 s are trusted of a 30 s lease.
        l.granted(3, now - Duration::from_secs(26), d);
        assert!(l.acting());
        l.granted(3, now - Duration::from_secs(28), d);
        assert!(!l.acting(), "past 27 s of 30 s: no longer trusted");
        // A grant keeps the length it was asked with, whatever the lease is set to since.
        l.set_duration(Duration::from_secs(6));
        assert_eq!(l.interval(), Duration::from_secs(2));
        l.granted(3, now - Duration::from_secs(20), d);
        assert!(l.acting(), "asked for 30 s: trusted for 27");
        l.granted(3, now - Duration::from_secs(6), l.duration());
        assert!(!l.acting(), "asked for 6 s: trusted for 5.4");
        l.granted(4, now, d);
        l.step_down();
        assert!(!l.acting());
        assert_eq!(l.epoch(), 0);
    }

    #[test]
    fn every_instance_is_a_new_holder() {
        assert_ne!(lease(30).me(), lease(30).me());
        assert_eq!(lease(30).interval(), Duration::from_secs(10));
    }
}
