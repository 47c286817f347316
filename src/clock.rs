//! The one place the wall clock is read. A cycle asks its [`Clock`] for "now", so a test can
//! run a cycle at any moment — past a `repeat`, on a holiday — without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// Wall time, optionally shifted by a fixed offset that tests set and move.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock; 0 in production.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `at` now and runs on from there at the system clock's pace.
    pub fn starting_at(at: DateTime<Utc>) -> Clock {
        let clock = Clock::default();
        clock.set(at);
        clock
    }

    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// From now on the clock reads `at` (and runs on from there).
    #[allow(clippy::disallowed_methods)]
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = (at - Utc::now()).num_milliseconds();
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(by, Ordering::Relaxed);
    }
}

/// A moment on the boot clock (`CLOCK_BOOTTIME`): like [`std::time::Instant`], but it goes on
/// counting while the host is suspended — `Instant` (`CLOCK_MONOTONIC`) stands still then, so a
/// deadline measured on it would outlive a suspend. For deadlines that others count in real
/// time, such as the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BootInstant(std::time::Duration);

impl BootInstant {
    pub fn now() -> BootInstant {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        BootInstant(std::time::Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        ))
    }
}

impl std::ops::Add<std::time::Duration> for BootInstant {
    type Output = BootInstant;
    fn add(self, d: std::time::Duration) -> BootInstant {
        BootInstant(self.0.saturating_add(d))
    }
}

impl std::ops::Sub<std::time::Duration> for BootInstant {
    type Output = BootInstant;
    fn sub(self, d: std::time::Duration) -> BootInstant {
        BootInstant(self.0.saturating_sub(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_shifted_clock_reads_the_set_moment_and_moves_on() {
        let clock = Clock::system();
        let real = Utc::now();
        assert!((clock.now() - real).num_milliseconds().abs() < 1000);
        let at = real + TimeDelta::days(3);
        clock.set(at);
        assert!((clock.now() - at).num_milliseconds().abs() < 1000);
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(
            (clock.now() - at - TimeDelta::hours(1))
                .num_milliseconds()
                .abs()
                < 1000
        );
        // Clones share the shift.
        let other = clock.clone();
        other.advance(std::time::Duration::from_secs(60));
        assert!(
            (clock.now() - at - TimeDelta::minutes(61))
                .num_milliseconds()
                .abs()
                < 1000
        );
    }

    #[test]
    fn the_boot_clock_runs_at_the_pace_of_time() {
        let a = BootInstant::now();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let b = BootInstant::now();
        assert!(b >= a + std::time::Duration::from_millis(50), "{a:?} {b:?}");
        assert!(b < a + std::time::Duration::from_secs(5), "{a:?} {b:?}");
        assert!(a - std::time::Duration::from_secs(1) < a);
    }
}
