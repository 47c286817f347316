//! Even pacing of calls to one API: one call per `period`, never a burst. A leaf: it knows a
//! period and the monotonic clock, nothing of the calls it spaces.
//!
//! Feishu counts calls in windows; a token bucket that lets N calls through at once breaks every
//! window that starts just before the burst. Here each call takes the next free slot, so any
//! window of length W holds at most `W / period + 1` calls. A rate-limit answer pushes the next
//! free slot past the platform's reset time, which holds back every caller of that API.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Feishu receives a call some jitter after we send it; spacing calls 2% wider than the quota
/// keeps the windows the platform sees inside the quota too.
const SAFETY_FACTOR: f64 = 1.02;

#[derive(Debug)]
pub struct Pacer {
    period: Duration,
    next_free: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn per_minute(requests_per_minute: u32) -> Self {
        let n = f64::from(requests_per_minute.max(1));
        Self::with_period(Duration::from_secs_f64(60.0 / n * SAFETY_FACTOR))
    }

    pub fn with_period(period: Duration) -> Self {
        Self {
            period,
            next_free: Mutex::new(None),
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// The next free slot, without taking it.
    pub fn next_free(&self) -> Instant {
        let next = self.next_free.lock().expect("pacer lock");
        let now = Instant::now();
        next.map_or(now, |n| n.max(now))
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next_free.lock().expect("pacer lock");
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.period);
            slot
        };
        tokio::time::sleep_until(slot).await;
        // Woken late (a busy host): the call goes out now, so the next one must wait a full
        // period from now, not from the slot, or two calls would leave back to back.
        let now = Instant::now();
        if now > slot {
            let mut next = self.next_free.lock().expect("pacer lock");
            let earliest = now + self.period;
            if next.is_none_or(|n| n < earliest) {
                *next = Some(earliest);
            }
        }
    }

    /// No call before `until` (the platform said the limit resets then).
    pub fn hold_until(&self, until: Instant) {
        let mut next = self.next_free.lock().expect("pacer lock");
        if next.is_none_or(|n| n < until) {
            *next = Some(until);
        }
    }
}

/// How hard to try before giving up on one call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for transient errors.
    pub max_retries: u32,
    /// First backoff; doubled each retry, with full jitter, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How many rate-limit waits one call may sit through.
    pub max_rate_limit_waits: u32,
    /// Wait when a rate-limit answer carries no `x-ogw-ratelimit-reset`.
    pub default_reset: Duration,
    /// Never wait longer than this for a reset.
    pub max_reset: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_rate_limit_waits: 5,
            default_reset: Duration::from_secs(1),
            max_reset: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (from 0).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_backoff);
        // Full jitter, but never less than half, so retries stay spread and still back off.
        exp.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_spaced_evenly() {
        let pacer = Arc::new(Pacer::with_period(Duration::from_millis(600)));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..10 {
            let p = pacer.clone();
            handles.push(tokio::spawn(async move {
                p.acquire().await;
                Instant::now()
            }));
        }
        let mut times: Vec<Duration> = Vec::new();
        for h in handles {
            times.push(h.await.unwrap() - start);
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            assert_eq!(*t, Duration::from_millis(600 * i as u64));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_exceeds_its_share() {
        // 100/min: any 60 s window, and any shorter one, stays within its share.
        let pacer = Pacer::per_minute(100);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..250 {
            pacer.acquire().await;
            times.push((Instant::now() - start).as_secs_f64());
        }
        for window in [60.0, 6.0, 1.2] {
            let share = (100.0 * window / 60.0_f64).floor() as usize;
            for (i, t) in times.iter().enumerate() {
                let in_window = times[i..].iter().take_while(|u| **u < t + window).count();
                assert!(
                    in_window <= share.max(1),
                    "{in_window} calls in a {window}s window from {t}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_wake_keeps_a_full_period_before_the_next_call() {
        let pacer = Pacer::with_period(Duration::from_millis(100));
        let start = Instant::now();
        pacer.acquire().await;
        let late = pacer.acquire();
        tokio::pin!(late);
        // Takes the slot at 100 ms, then its caller is busy until 500 ms.
        assert!(
            tokio::time::timeout(Duration::ZERO, &mut late)
                .await
                .is_err()
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        late.await;
        pacer.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(600));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_until_delays_the_next_call() {
        let pacer = Pacer::with_period(Duration::from_millis(100));
        let start = Instant::now();
        pacer.acquire().await;
        pacer.hold_until(start + Duration::from_secs(5));
        pacer.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
        pacer.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(5100));
    }
}
