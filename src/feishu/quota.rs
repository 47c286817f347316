//! Feishu's monthly quota (code 99991403): once the tenant's is used up, every counted call is
//! held back until the first of the next month in Asia/Shanghai, the platform's calendar — or
//! a reload, when the quota may have been raised. Held calls are not sent; what is due stays due.

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::{FeishuClient, FeishuError, error};
use crate::prometheus;

/// Until when counted calls are held back, if they are.
#[derive(Debug, Default)]
pub(super) struct QuotaHold(Mutex<Option<DateTime<Utc>>>);

impl QuotaHold {
    fn lock(&self) -> MutexGuard<'_, Option<DateTime<Utc>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hold's end as a lead reads it: Shanghai time, to the minute.
fn shown(until: DateTime<Utc>) -> String {
    until
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

impl FeishuClient {
    /// Until when the monthly quota hold lasts, if one does.
    pub fn quota_hold(&self) -> Option<DateTime<Utc>> {
        let mut hold = self.inner.quota_hold.lock();
        match *hold {
            Some(until) if self.inner.settings.clock.now() >= until => {
                *hold = None;
                prometheus::quota_exhausted(false);
                tracing::info!("a new month: the monthly API quota hold is over; calls resume");
                None
            }
            other => other,
        }
    }

    /// Ends the monthly quota hold now (on SIGHUP: the tenant's quota may have been raised).
    pub fn end_quota_hold(&self) {
        let mut hold = self.inner.quota_hold.lock();
        if hold.take().is_some() {
            prometheus::quota_exhausted(false);
            tracing::info!("the monthly API quota hold ends early on reload; calls resume");
        }
    }

    /// `Err` (not sent) while the monthly quota hold lasts.
    pub fn check_quota_hold(&self) -> Result<(), FeishuError> {
        match self.quota_hold() {
            Some(until) => Err(FeishuError::QuotaHeld {
                until: shown(until),
            }),
            None => Ok(()),
        }
    }

    /// Feishu said the tenant's monthly quota is used up: every counted call waits for the first
    /// of the next month in Asia/Shanghai (the platform's calendar). Said once, loudly.
    pub(super) fn hold_for_quota(&self) {
        let until = next_month_start(self.inner.settings.clock.now());
        let mut hold = self.inner.quota_hold.lock();
        if hold.replace(until).is_none() {
            prometheus::quota_exhausted(true);
            let shown = shown(until);
            tracing::error!(code = error::QUOTA_CODE, until = %shown,
                "Feishu says the tenant's monthly API quota is used up (code 99991403): no listing or reminder is sent until {shown} Asia/Shanghai, when it resets; what is due stays due. If the tenant's quota is raised, reload (SIGHUP, `systemctl reload expediter`) or restart to resume at once");
        }
    }
}

/// 00:00 on the first of the month after `now`'s, in Asia/Shanghai.
pub fn next_month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = chrono_tz::Asia::Shanghai;
    let local = now.with_timezone(&tz);
    let (y, m) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    tz.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_resets_on_the_first_in_shanghai() {
        let sh = chrono_tz::Asia::Shanghai;
        let at = |y, mo, d, h| {
            sh.with_ymd_and_hms(y, mo, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // (case, now, the hold's end)
        let cases = [
            ("mid-month", at(2026, 11, 15, 12), at(2026, 12, 1, 0)),
            ("December", at(2026, 12, 31, 23), at(2027, 1, 1, 0)),
            ("the first itself", at(2026, 12, 1, 0), at(2027, 1, 1, 0)),
            // 20:00 UTC on Nov 30 is already Dec 1 in Shanghai.
            (
                "late UTC evening",
                Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap(),
                at(2027, 1, 1, 0),
            ),
        ];
        for (name, now, want) in cases {
            assert_eq!(next_month_start(now), want, "{name}");
        }
    }
}
