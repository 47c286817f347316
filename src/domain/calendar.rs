//! Working-time calendars: which moments are inside working hours, when the next working period
//! opens, and how much working time lies between two instants. All in the configured zone.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;

/// How far ahead to look for working time before giving up (covers any sane holiday list).
const SEARCH_DAYS: u64 = 800;

/// `HH:MM-HH:MM`, minutes since midnight; the end may be 24:00 (1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HourRange {
    pub start: u16,
    pub end: u16,
}

impl HourRange {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid hours \"{text}\"; write HH:MM-HH:MM, e.g. \"09:00-12:00\" (an end may be 24:00)"
            )
        };
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let minutes = |s: &str, allow_24: bool| -> Option<u16> {
            let (h, m) = s.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            match (h, m) {
                (24, 0) if allow_24 => Some(1440),
                (0..=23, 0..=59) => Some(h * 60 + m),
                _ => None,
            }
        };
        let start = minutes(a, false).ok_or_else(bad)?;
        let end = minutes(b, true).ok_or_else(bad)?;
        if end <= start {
            return Err(format!(
                "hours \"{text}\" end before they start; ranges may not cross midnight (split them: \"22:00-24:00\", \"00:00-06:00\")"
            ));
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for HourRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl<'de> Deserialize<'de> for HourRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HourRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone)]
pub struct Calendar {
    pub name: String,
    pub weekdays: Vec<Weekday>,
    pub hours: Vec<HourRange>,
    pub holidays: BTreeSet<NaiveDate>,
    pub workdays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Could this calendar ever be open?
    pub fn has_working_time(&self) -> bool {
        !self.hours.is_empty()
            && (!self.weekdays.is_empty()
                || self.workdays.iter().any(|d| !self.holidays.contains(d)))
    }

    /// Holidays beat everything; make-up workdays (调休) count whatever their weekday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        self.workdays.contains(&date) || self.weekdays.contains(&date.weekday())
    }

    /// The working periods of one local day, as UTC instants, in order.
    fn periods_on(&self, date: NaiveDate, tz: Tz) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(date) {
            return Vec::new();
        }
        let mut ranges = self.hours.clone();
        ranges.sort();
        ranges
            .iter()
            .map(|r| {
                (
                    local_instant(tz, date, r.start),
                    local_instant(tz, date, r.end),
                )
            })
            .filter(|(a, b)| a < b)
            .collect()
    }

    pub fn is_open(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let date = at.with_timezone(&tz).date_naive();
        // A period belongs to its local day; checking the day before too covers zone transitions.
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.periods_on(d, tz))
            .any(|(a, b)| a <= at && at < b)
    }

    /// `at` itself when open, else the start of the next working period.
    pub fn next_open(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let first = at.with_timezone(&tz).date_naive().pred_opt()?;
        (0..SEARCH_DAYS)
            .filter_map(|i| first.checked_add_days(Days::new(i)))
            .flat_map(|d| self.periods_on(d, tz))
            .find(|(_, b)| *b > at)
            .map(|(a, _)| a.max(at))
    }

    /// Working time inside `[from, to)`.
    pub fn working_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Duration {
        if to <= from {
            return Duration::ZERO;
        }
        let first = from
            .with_timezone(&tz)
            .date_naive()
            .pred_opt()
            .unwrap_or(NaiveDate::MIN);
        let last = to.with_timezone(&tz).date_naive();
        let mut total = chrono::TimeDelta::zero();
        let mut d = first;
        while d <= last {
            for (a, b) in self.periods_on(d, tz) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += b - a;
                }
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        total.to_std().unwrap_or_default()
    }

    /// The instant when `amount` of working time has passed since `from`.
    pub fn add_working(
        &self,
        from: DateTime<Utc>,
        amount: Duration,
        tz: Tz,
    ) -> Option<DateTime<Utc>> {
        let mut left = chrono::TimeDelta::from_std(amount).ok()?;
        let first = from.with_timezone(&tz).date_naive().pred_opt()?;
        if left.is_zero() {
            return Some(from);
        }
        for i in 0..SEARCH_DAYS * 4 {
            let d = first.checked_add_days(Days::new(i))?;
            for (a, b) in self.periods_on(d, tz) {
                let a = a.max(from);
                if a >= b {
                    continue;
                }
                if b - a >= left {
                    return Some(a + left);
                }
                left -= b - a;
            }
        }
        None
    }

    /// A one-line description: `Mon–Fri 09:00-12:00, 13:30-18:30, except 2 holidays`.
    pub fn describe(&self) -> String {
        let mut days: Vec<Weekday> = self.weekdays.clone();
        days.sort_by_key(|d| d.num_days_from_monday());
        days.dedup();
        let idx: Vec<u32> = days.iter().map(|d| d.num_days_from_monday()).collect();
        let contiguous = idx.windows(2).all(|w| w[1] == w[0] + 1);
        let name = |d: &Weekday| {
            let s = d.to_string();
            s[..1].to_uppercase() + &s[1..].to_lowercase()
        };
        let days_text = match days.as_slice() {
            [] => "no weekdays".to_owned(),
            [one] => name(one),
            [first, .., last] if contiguous && days.len() > 2 => {
                format!("{}–{}", name(first), name(last))
            }
            _ => days.iter().map(name).collect::<Vec<_>>().join(", "),
        };
        let hours: Vec<String> = self.hours.iter().map(|h| h.to_string()).collect();
        let mut text = format!("{days_text} {}", hours.join(", "));
        if !self.holidays.is_empty() {
            text += &format!(", except {} holiday(s)", self.holidays.len());
        }
        if !self.workdays.is_empty() {
            text += &format!(", plus {} make-up workday(s)", self.workdays.len());
        }
        text
    }
}

/// The instant of a local wall time. In a DST gap the first valid moment after it is used; in a
/// repeated hour, the earlier one.
fn local_instant(tz: Tz, date: NaiveDate, minutes: u16) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    let mut ndt: NaiveDateTime = midnight + chrono::TimeDelta::minutes(i64::from(minutes));
    for _ in 0..=180 {
        match tz.from_local_datetime(&ndt) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => ndt += chrono::TimeDelta::minutes(1),
        }
    }
    // No zone has a gap over three hours; fall back to reading the time as UTC.
    Utc.from_utc_datetime(&ndt)
}

/// 00:00 on the first of the month after `now`'s, in `tz` (Feishu's monthly quota resets then,
/// in Asia/Shanghai).
pub fn next_month_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
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

    fn office() -> Calendar {
        Calendar {
            name: "cn-office".into(),
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            hours: vec![
                HourRange::parse("09:00-12:00").unwrap(),
                HourRange::parse("13:30-18:30").unwrap(),
            ],
            holidays: [NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()].into(),
            workdays: [NaiveDate::from_ymd_opt(2026, 9, 27).unwrap()].into(),
        }
    }

    fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn hour_ranges_parse() {
        assert_eq!(
            HourRange::parse("00:00-24:00").unwrap(),
            HourRange {
                start: 0,
                end: 1440
            }
        );
        for bad in [
            "9:00-12:00",
            "12:00-09:00",
            "25:00-26:00",
            "09:00",
            "09:00-24:01",
            "24:00-24:00",
        ] {
            assert!(HourRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn openness_table() {
        let tz = chrono_tz::Asia::Shanghai;
        let cal = office();
        // (moment, open?) — 2026-09-28 is a Monday.
        let cases = [
            (sh(2026, 9, 28, 8, 59), false),
            (sh(2026, 9, 28, 9, 0), true),
            (sh(2026, 9, 28, 12, 0), false),
            (sh(2026, 9, 28, 17, 59), true),
            (sh(2026, 9, 28, 18, 30), false),
            (sh(2026, 9, 27, 10, 0), true),  // Sunday, make-up workday
            (sh(2026, 9, 26, 10, 0), false), // Saturday
            (sh(2026, 10, 1, 10, 0), false), // Thursday, holiday
        ];
        for (at, open) in cases {
            assert_eq!(cal.is_open(at, tz), open, "{}", at.with_timezone(&tz));
        }
    }

    #[test]
    fn next_open_skips_closed_time() {
        let tz = chrono_tz::Asia::Shanghai;
        let cal = office();
        assert_eq!(
            cal.next_open(sh(2026, 9, 30, 19, 0), tz),
            Some(sh(2026, 10, 2, 9, 0))
        );
        assert_eq!(
            cal.next_open(sh(2026, 9, 28, 12, 30), tz),
            Some(sh(2026, 9, 28, 13, 30))
        );
        assert_eq!(
            cal.next_open(sh(2026, 9, 28, 10, 0), tz),
            Some(sh(2026, 9, 28, 10, 0))
        );
    }

    #[test]
    fn working_time_across_a_weekend() {
        let tz = chrono_tz::Asia::Shanghai;
        let cal = office();
        // Fri 2026-10-09 17:00 → Mon 2026-10-12 10:00: 1.5h Friday + 1h Monday.
        let w = cal.working_between(sh(2026, 10, 9, 17, 0), sh(2026, 10, 12, 10, 0), tz);
        assert_eq!(w, Duration::from_secs(150 * 60));
        assert_eq!(
            cal.add_working(sh(2026, 10, 9, 17, 0), Duration::from_secs(150 * 60), tz),
            Some(sh(2026, 10, 12, 10, 0))
        );
    }

    #[test]
    fn describes_itself() {
        assert_eq!(
            office().describe(),
            "Mon–Fri 09:00-12:00, 13:30-18:30, except 1 holiday(s), plus 1 make-up workday(s)"
        );
    }

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
            assert_eq!(next_month_start(now, sh), want, "{name}");
        }
    }
}
