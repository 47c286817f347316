//! The cron in a zone: a validated six-field expression ([`CronSchedule`]) and the one place
//! fire times are computed ([`Schedule`]), DST-correct.

use std::fmt;
use std::time::Duration;

use chrono_tz::Tz;

/// A validated six-field cron expression (sec min hour day-of-month month day-of-week), parsed
/// exactly as the scheduler parses it.
#[derive(Clone)]
pub struct CronSchedule {
    pub expr: String,
    pub cron: croner::Cron,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

impl CronSchedule {
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "cron `{expr}` has {fields} fields; expected 6: sec min hour day-of-month month \
                 day-of-week, e.g. \"0 */10 * * * *\""
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| format!("invalid cron `{expr}`: {e}"))?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
        })
    }

    /// The next `n` fire times strictly later than `after` (as instants, on whole seconds), in
    /// `after`'s zone. DST-correct: each time is computed in the zone's rules at that instant.
    /// A fixed time of day (one value each for second, minute and hour) fires once in a
    /// repeated hour (fall-back) and, when the clocks skip it (spring-forward), when they land.
    /// Any other pattern follows the wall clock (croner's rule): in a repeated hour it fires in
    /// both occurrences, and a wall time the clocks skip does not fire.
    pub fn next_fire_times(
        &self,
        after: chrono::DateTime<Tz>,
        n: usize,
    ) -> Vec<chrono::DateTime<Tz>> {
        let mut out = Vec::with_capacity(n);
        let mut at = after;
        while out.len() < n {
            let Some(next) = self.next_after(&at) else {
                break;
            };
            out.push(next);
            at = next;
        }
        out
    }

    /// The first fire time strictly later than `after`, on a whole second. croner keeps the
    /// fraction of the moment it starts from, so it starts from `after`'s whole second; it walks
    /// local wall times and gives both instants of an ambiguous one, the earlier first — so its
    /// answers are not in instant order inside a repeated hour, and from the later occurrence
    /// it never goes back to the wall times it repeats. So: walk from three hours back when the
    /// clocks change within three hours either side, skip what is not later than `after`, and
    /// take the earliest answer, looking on until a wall time that is not ambiguous comes.
    fn next_after(&self, after: &chrono::DateTime<Tz>) -> Option<chrono::DateTime<Tz>> {
        use chrono::{Offset as _, TimeZone as _, Timelike as _};
        let tz = after.timezone();
        let whole = after.with_nanosecond(0).unwrap_or(*after);
        let back = whole - chrono::TimeDelta::hours(3);
        let ahead = whole + chrono::TimeDelta::hours(3);
        let from = if back.offset().fix() != ahead.offset().fix() {
            back
        } else {
            whole
        };
        let mut best: Option<chrono::DateTime<Tz>> = None;
        for t in self.cron.clone().iter_after(from).take(20_000) {
            if t <= *after {
                continue; // the earlier occurrence of a repeated hour, already past
            }
            let ambiguous = matches!(
                tz.from_local_datetime(&t.naive_local()),
                chrono::LocalResult::Ambiguous(..)
            );
            match &best {
                Some(b) if t >= *b && !ambiguous => break,
                Some(b) if t >= *b => {}
                _ => best = Some(t),
            }
            if !ambiguous && best.is_some() {
                break;
            }
        }
        best
    }
}

/// A cron in a zone: the one place fire times are computed — the daemon's schedule, a cycle's
/// send deadline, `listing = "auto"`, digests, `check` and `plan` all ask it.
#[derive(Clone, Copy)]
pub struct Schedule<'a> {
    pub cron: &'a CronSchedule,
    pub tz: Tz,
}

impl Schedule<'_> {
    /// The first fire time strictly later than `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.next_n(after, 1)
            .first()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The first fire time at or after `at` (a tick that fires at `at` itself counts).
    pub fn next_from(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.next_after(at - chrono::TimeDelta::milliseconds(1))
    }

    /// The next `n` fire times after `after`, in the zone.
    pub fn next_n(
        &self,
        after: chrono::DateTime<chrono::Utc>,
        n: usize,
    ) -> Vec<chrono::DateTime<Tz>> {
        self.cron.next_fire_times(after.with_timezone(&self.tz), n)
    }

    /// The next fire time after `after` and the period from it to the one after; `None` when
    /// the schedule never fires twice more.
    pub fn next_and_period(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<(chrono::DateTime<chrono::Utc>, Duration)> {
        match self.next_n(after, 2).as_slice() {
            [a, b] => Some((
                a.with_timezone(&chrono::Utc),
                (*b - *a).to_std().unwrap_or(Duration::ZERO),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fire_times_follow_dst() {
        use chrono::{Offset, TimeZone};
        let cron = CronSchedule::parse("0 0 9 * * *").unwrap();
        let tz: Tz = "America/New_York".parse().unwrap();
        // New York moves from UTC-5 to UTC-4 in the night to 2026-03-08.
        let start = tz.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        let times = cron.next_fire_times(start, 3);
        assert_eq!(times.len(), 3);
        for t in &times {
            assert_eq!(t.format("%H:%M").to_string(), "09:00", "{t}");
            assert_eq!(t.offset().fix().local_minus_utc(), -4 * 3600, "{t}");
        }
    }

    /// Fire times across both DST transitions in New York and the same dates in Shanghai (no
    /// DST): every answer strictly later than the moment asked about, in instant order.
    #[test]
    fn fire_times_are_strictly_later_across_dst_table() {
        use chrono::{TimeZone, Utc};
        let ny: Tz = "America/New_York".parse().unwrap();
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let utc = |mo, d, h, mi| Utc.with_ymd_and_hms(2026, mo, d, h, mi, 0).unwrap();
        // (case, cron, zone, after (UTC), the next fire times (UTC))
        let cases = [
            (
                "fall back: the repeated hour ticks in both occurrences, 20 min apart",
                "0 */20 * * * *",
                ny,
                utc(11, 1, 4, 55),
                vec![
                    utc(11, 1, 5, 0),
                    utc(11, 1, 5, 20),
                    utc(11, 1, 5, 40),
                    utc(11, 1, 6, 0),
                    utc(11, 1, 6, 20),
                    utc(11, 1, 6, 40),
                    utc(11, 1, 7, 0),
                ],
            ),
            (
                "a start inside the later occurrence: no stale tick from the earlier one",
                "0 */20 * * * *",
                ny,
                utc(11, 1, 6, 30),
                vec![utc(11, 1, 6, 40), utc(11, 1, 7, 0)],
            ),
            (
                "a fixed time of day in the repeated hour fires once",
                "0 30 1 * * *",
                ny,
                utc(10, 31, 12, 0),
                vec![utc(11, 1, 5, 30), utc(11, 2, 6, 30)],
            ),
            (
                "asked from inside the repeated hour after its first 01:30",
                "0 30 1 * * *",
                ny,
                utc(11, 1, 6, 10),
                vec![utc(11, 2, 6, 30)],
            ),
            (
                "spring forward: the skipped hour has no ticks",
                "0 */20 * * * *",
                ny,
                utc(3, 8, 6, 35),
                vec![utc(3, 8, 6, 40), utc(3, 8, 7, 0), utc(3, 8, 7, 20)],
            ),
            (
                "a fixed time the clocks skip fires when they land",
                "0 30 2 * * *",
                ny,
                utc(3, 7, 12, 0),
                vec![utc(3, 8, 7, 0), utc(3, 9, 6, 30)],
            ),
            (
                "no DST: the same nights are plain",
                "0 */20 * * * *",
                sh,
                utc(11, 1, 4, 55),
                vec![utc(11, 1, 5, 0), utc(11, 1, 5, 20), utc(11, 1, 5, 40)],
            ),
        ];
        for (name, expr, tz, after, want) in cases {
            let cron = CronSchedule::parse(expr).unwrap();
            let got: Vec<_> = cron
                .next_fire_times(after.with_timezone(&tz), want.len())
                .iter()
                .map(|t| t.with_timezone(&Utc))
                .collect();
            assert_eq!(got, want, "{name}");
            // One step at a time (as the daemon's chain asks) gives the same times.
            let mut at = after;
            for w in &want {
                let next = cron.next_fire_times(at.with_timezone(&tz), 1)[0].with_timezone(&Utc);
                assert_eq!(next, *w, "{name}: one step after {at}");
                at = next;
            }
        }
    }

    /// Fire times are whole seconds whatever the fraction of the moment asked about, and a
    /// tick at a moment itself counts for `next_from`.
    #[test]
    fn fire_times_are_whole_seconds() {
        use chrono::{TimeZone, Utc};
        let cron = CronSchedule::parse("0 */10 * * * *").unwrap();
        let ticks = Schedule {
            cron: &cron,
            tz: "Asia/Shanghai".parse().unwrap(),
        };
        let after = Utc.with_ymd_and_hms(2031, 1, 2, 2, 3, 27).unwrap()
            + chrono::TimeDelta::milliseconds(123);
        let tick = Utc.with_ymd_and_hms(2031, 1, 2, 2, 10, 0).unwrap();
        assert_eq!(ticks.next_after(after), Some(tick));
        assert_eq!(ticks.next_from(tick), Some(tick));
        assert_eq!(
            ticks.next_after(tick),
            Some(tick + chrono::TimeDelta::minutes(10))
        );
        assert_eq!(
            ticks.next_after(tick - chrono::TimeDelta::milliseconds(500)),
            Some(tick)
        );
    }
}
