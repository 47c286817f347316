//! Feishu's monthly quota (code 99991403): once it is used up, counted calls are held back, not
//! sent, until the 1st of the next month in Asia/Shanghai (or a reload); what is due stays due.

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::{FeishuClient, FeishuError, error};
use crate::domain::calendar::next_month_start;
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
        let until = next_month_start(self.inner.settings.clock.now(), chrono_tz::Asia::Shanghai);
        let mut hold = self.inner.quota_hold.lock();
        if hold.replace(until).is_none() {
            prometheus::quota_exhausted(true);
            let shown = shown(until);
            tracing::error!(code = error::QUOTA_CODE, until = %shown,
                "Feishu says the tenant's monthly API quota is used up (code 99991403): no listing or reminder is sent until {shown} Asia/Shanghai, when it resets; what is due stays due. If the tenant's quota is raised, reload (SIGHUP, `systemctl reload expediter`) or restart to resume at once");
        }
    }
}
