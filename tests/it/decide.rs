//! The decision as a table: injected moments on holidays, make-up days, at the end of the
//! afternoon, over weekends and across a DST night.

use std::time::Duration;

use chrono::TimeZone;
use chrono::{DateTime, Utc};
use expediter::config::Config;
use expediter::domain::decide::{PairFacts, Verdict, decide};
use std::path::Path;

const CONFIG: &str = r#"
[feishu]
app_id = "cli_x"
app_secret = "s"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[expedite]
operator_user_id = "7000"

[[users]]
id = "fin1"
team = "finance"

[[users]]
id = "ops1"
team = "ops"

[[users]]
id = "ny1"
team = "newyork"

[[calendars]]
name = "cn-office"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
hours = ["09:00-12:00", "13:30-18:00"]
holidays = ["2026-10-01"]
workdays = ["2026-09-27", "2026-10-10"]

[[rules]]
name = "flow-x"
api_ids = ["flow_x"]
after = "1h"

[[rules]]
name = "finance"
teams = ["finance"]
label = "报销*"
after = "24h"
repeat = "12h"
max_times = 3
calendar = "cn-office"

[[rules]]
name = "finance-working"
teams = ["finance"]
after = "4h"
calendar = "cn-office"
age_clock = "working"

[[rules]]
name = "excluded"
users = ["ops1"]
label = "*secret*"
after = "0s"
max_times = 0

[[rules]]
name = "default"
after = "48h"
"#;

fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn labels(text: &str) -> Vec<(String, String)> {
    vec![("2052".to_owned(), text.to_owned())]
}

struct Case {
    name: &'static str,
    user: &'static str,
    label: &'static str,
    flows: Vec<String>,
    start: DateTime<Utc>,
    sent: u32,
    last_sent: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    want: Verdict,
}

#[test]
fn decision_table() {
    let config = Config::parse(CONFIG, Path::new("t.toml"), false).unwrap();
    // 2026-09-28 is a Monday; 2026-10-01 a holiday; 2026-09-27 (Sun) and 2026-10-10 (Sat)
    // make-up workdays; the afternoon ends at 18:00.
    let mon9 = sh(2026, 9, 28, 9, 0);
    let cases = vec![
        Case {
            name: "flow rule owns a task its listing returned",
            user: "ops1",
            label: "x",
            flows: vec!["flow_x".into()],
            start: mon9,
            sent: 0,
            last_sent: None,
            now: sh(2026, 9, 28, 10, 0),
            want: Verdict::Due {
                rule: 0,
                n: 1,
                due_at: sh(2026, 9, 28, 10, 0),
            },
        },
        Case {
            name: "not due a second early",
            user: "ops1",
            label: "x",
            flows: vec!["flow_x".into()],
            start: mon9,
            sent: 0,
            last_sent: None,
            now: sh(2026, 9, 28, 9, 59),
            want: Verdict::Waiting {
                rule: 0,
                n: 1,
                due_at: sh(2026, 9, 28, 10, 0),
            },
        },
        Case {
            name: "label glob, inside hours",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 28, 9, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 9, 29, 17, 59),
            want: Verdict::Due {
                rule: 1,
                n: 1,
                due_at: sh(2026, 9, 29, 9, 0),
            },
        },
        Case {
            name: "18:00 is closed: deferred to the next morning",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 28, 9, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 9, 29, 18, 0),
            want: Verdict::Deferred {
                rule: 1,
                n: 1,
                due_at: sh(2026, 9, 29, 9, 0),
                opens_at: Some(sh(2026, 9, 30, 9, 0)),
            },
        },
        Case {
            name: "holiday defers past it",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 28, 9, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 10, 1, 10, 0),
            want: Verdict::Deferred {
                rule: 1,
                n: 1,
                due_at: sh(2026, 9, 29, 9, 0),
                opens_at: Some(sh(2026, 10, 2, 9, 0)),
            },
        },
        Case {
            name: "make-up Sunday is open",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 25, 9, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 9, 27, 10, 0),
            want: Verdict::Due {
                rule: 1,
                n: 1,
                due_at: sh(2026, 9, 26, 9, 0),
            },
        },
        Case {
            name: "repeat not yet passed",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 28, 9, 0),
            sent: 1,
            last_sent: Some(sh(2026, 9, 29, 10, 0)),
            now: sh(2026, 9, 29, 21, 59),
            want: Verdict::Waiting {
                rule: 1,
                n: 2,
                due_at: sh(2026, 9, 29, 22, 0),
            },
        },
        Case {
            name: "repeat passed",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 28, 9, 0),
            sent: 1,
            last_sent: Some(sh(2026, 9, 29, 10, 0)),
            now: sh(2026, 9, 30, 9, 0),
            want: Verdict::Due {
                rule: 1,
                n: 2,
                due_at: sh(2026, 9, 29, 22, 0),
            },
        },
        Case {
            name: "max_times reached",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 9, 20, 9, 0),
            sent: 3,
            last_sent: Some(sh(2026, 9, 25, 10, 0)),
            now: sh(2026, 9, 30, 10, 0),
            want: Verdict::Exhausted { rule: 1, sent: 3 },
        },
        Case {
            name: "make-up Saturday is open",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 10, 8, 10, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 10, 10, 10, 0),
            want: Verdict::Due {
                rule: 1,
                n: 1,
                due_at: sh(2026, 10, 9, 10, 0),
            },
        },
        Case {
            name: "an ordinary Saturday defers to Monday",
            user: "fin1",
            label: "报销单",
            flows: vec![],
            start: sh(2026, 10, 15, 10, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 10, 17, 10, 0),
            want: Verdict::Deferred {
                rule: 1,
                n: 1,
                due_at: sh(2026, 10, 16, 10, 0),
                opens_at: Some(sh(2026, 10, 19, 9, 0)),
            },
        },
        Case {
            // Fri 17:00-18:00 counts 1h, the weekend nothing, Monday 09:00-12:00 the other 3h.
            name: "working age across a weekend",
            user: "fin1",
            label: "请假",
            flows: vec![],
            start: sh(2026, 10, 16, 17, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 10, 19, 11, 59),
            want: Verdict::Waiting {
                rule: 2,
                n: 1,
                due_at: sh(2026, 10, 19, 12, 0),
            },
        },
        Case {
            name: "working age reached at lunch: deferred to 13:30",
            user: "fin1",
            label: "请假",
            flows: vec![],
            start: sh(2026, 10, 16, 17, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 10, 19, 12, 0),
            want: Verdict::Deferred {
                rule: 2,
                n: 1,
                due_at: sh(2026, 10, 19, 12, 0),
                opens_at: Some(sh(2026, 10, 19, 13, 30)),
            },
        },
        Case {
            name: "working age reached, calendar open",
            user: "fin1",
            label: "请假",
            flows: vec![],
            start: sh(2026, 10, 16, 17, 0),
            sent: 0,
            last_sent: None,
            now: sh(2026, 10, 19, 13, 30),
            want: Verdict::Due {
                rule: 2,
                n: 1,
                due_at: sh(2026, 10, 19, 12, 0),
            },
        },
        Case {
            name: "exclusion rule owns and never expedites",
            user: "ops1",
            label: "top secret",
            flows: vec![],
            start: sh(2026, 9, 1, 9, 0),
            sent: 0,
            last_sent: None,
            now: mon9,
            want: Verdict::Exhausted { rule: 3, sent: 0 },
        },
        Case {
            name: "first matching rule wins over the default",
            user: "ops1",
            label: "x",
            flows: vec![],
            start: sh(2026, 9, 26, 9, 0),
            sent: 0,
            last_sent: None,
            now: mon9,
            want: Verdict::Due {
                rule: 4,
                n: 1,
                due_at: sh(2026, 9, 28, 9, 0),
            },
        },
        Case {
            name: "repeat omitted means once",
            user: "ops1",
            label: "x",
            flows: vec![],
            start: sh(2026, 9, 1, 9, 0),
            sent: 1,
            last_sent: Some(sh(2026, 9, 3, 9, 0)),
            now: mon9,
            want: Verdict::Exhausted { rule: 4, sent: 1 },
        },
    ];
    for c in cases {
        let user = config.users.iter().find(|u| u.id == c.user).unwrap();
        let labels = labels(c.label);
        let facts = PairFacts {
            labels: &labels,
            start_time: Some(c.start),
            first_seen: c.start,
            flow_sets: &c.flows,
            sent: c.sent,
            last_sent: c.last_sent,
            confirmed_at: None,
            silence: None,
            escalated: Default::default(),
            away: &[],
            moved: None,
            moved_to: &[],
            moved_in: None,
        };
        assert_eq!(
            decide(&config.policy(), user, &facts, c.now),
            c.want,
            "{}",
            c.name
        );
    }
}

#[test]
fn missing_start_time_counts_from_first_seen() {
    let config = Config::parse(CONFIG, Path::new("t.toml"), false).unwrap();
    let user = &config.users[1];
    let labels = labels("x");
    let seen = sh(2026, 9, 20, 9, 0);
    let facts = PairFacts {
        labels: &labels,
        start_time: None,
        first_seen: seen,
        flow_sets: &[],
        sent: 0,
        last_sent: None,
        confirmed_at: None,
        silence: None,
        escalated: Default::default(),
        away: &[],
        moved: None,
        moved_to: &[],
        moved_in: None,
    };
    assert_eq!(
        facts.wall_age(sh(2026, 9, 21, 9, 0)),
        Duration::from_secs(86_400)
    );
    assert_eq!(
        decide(&config.policy(), user, &facts, sh(2026, 9, 22, 9, 0)),
        Verdict::Due {
            rule: 4,
            n: 1,
            due_at: sh(2026, 9, 22, 9, 0)
        }
    );
}

#[test]
fn dst_night_in_a_zone_that_has_one() {
    // New York springs forward at 02:00 on 2026-03-08: the night is an hour shorter.
    let text = CONFIG
        .replace(
            "timezone = \"Asia/Shanghai\"",
            "timezone = \"America/New_York\"",
        )
        .replace(
            "hours = [\"09:00-12:00\", \"13:30-18:00\"]",
            "hours = [\"00:00-24:00\"]",
        )
        .replace(
            "weekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            "weekdays = [\"sat\", \"sun\"]",
        );
    let config = Config::parse(&text, Path::new("t.toml"), false).unwrap();
    let user = &config.users[0];
    let labels = labels("请假");
    let ny = chrono_tz::America::New_York;
    let start = ny
        .with_ymd_and_hms(2026, 3, 7, 23, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let facts = PairFacts {
        labels: &labels,
        start_time: Some(start),
        first_seen: start,
        flow_sets: &[],
        sent: 0,
        last_sent: None,
        confirmed_at: None,
        silence: None,
        escalated: Default::default(),
        away: &[],
        moved: None,
        moved_to: &[],
        moved_in: None,
    };
    // Four working hours from 23:00 on a 23-hour day end at 04:00 local, not 03:00.
    let due = ny
        .with_ymd_and_hms(2026, 3, 8, 4, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        decide(&config.policy(), user, &facts, due),
        Verdict::Due {
            rule: 2,
            n: 1,
            due_at: due
        }
    );
    assert_eq!(
        config.calendars[0].working_between(start, due, ny),
        Duration::from_secs(4 * 3600)
    );
}

const ESCALATING: &str = r#"
[feishu]
app_id = "cli_x"
app_secret = "s"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[expedite]
operator_user_id = "7000"

[[users]]
id = "fin1"
team = "finance"

[[calendars]]
name = "cn-office"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
hours = ["09:00-18:00"]

[[rules]]
name = "ladder"
after = "24h"
repeat = ["4h", "12h", "1d"]
max_times = 6
calendar = "cn-office"
[rules.escalate]
after_times = 2
wait = "2h"
cc = ["7000"]
chat = true
"#;

#[test]
fn ladder_silence_and_escalation_table() {
    use expediter::domain::decide::{Escalated, EscalationVerdict as E, decide_escalation};
    let config = Config::parse(ESCALATING, Path::new("t.toml"), false).unwrap();
    let user = &config.users[0];
    let labels = labels("报销");
    // Monday 2026-09-28 in Shanghai.
    let start = sh(2026, 9, 20, 9, 0);
    let facts = |sent: u32, last: Option<DateTime<Utc>>| PairFacts {
        labels: &labels,
        start_time: Some(start),
        first_seen: start,
        flow_sets: &[],
        sent,
        last_sent: last,
        confirmed_at: None,
        silence: None,
        escalated: Escalated::default(),
        away: &[],
        moved: None,
        moved_to: &[],
        moved_in: None,
    };
    // The ladder: 2nd 4h after the 1st, 3rd 12h after the 2nd, then every 1d.
    // (case, sent, last sent, now, want)
    let ladder = [
        (
            "2nd waits 4h",
            1,
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 28, 12, 59),
            None,
        ),
        (
            "2nd at 4h",
            1,
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 28, 13, 0),
            Some(2),
        ),
        (
            "3rd waits 12h",
            2,
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 28, 20, 59),
            None,
        ),
        (
            "3rd gap is 12h (inside hours next morning)",
            2,
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 29, 9, 0),
            Some(3),
        ),
        (
            "4th gap is 1d",
            3,
            sh(2026, 9, 28, 9, 0),
            sh(2026, 9, 29, 8, 59),
            None,
        ),
        (
            "5th: the last step repeats",
            4,
            sh(2026, 9, 28, 10, 0),
            sh(2026, 9, 29, 10, 0),
            Some(5),
        ),
    ];
    for (name, sent, last, now, want) in ladder {
        let got = decide(&config.policy(), user, &facts(sent, Some(last)), now);
        match (want, got.clone()) {
            (Some(n), Verdict::Due { n: got_n, .. }) => assert_eq!(got_n, n, "{name}"),
            (None, Verdict::Waiting { .. }) => {}
            _ => panic!("{name}: {got:?}"),
        }
    }
    // A silence holds the pair until it ends, then the decision is as before.
    let mut f = facts(0, None);
    f.silence = Some((sh(2026, 9, 28, 12, 0), "on leave"));
    assert!(matches!(
        decide(&config.policy(), user, &f, sh(2026, 9, 28, 11, 59)),
        Verdict::Silenced { rule: Some(0), ref reason, .. } if reason == "on leave"
    ));
    assert!(matches!(
        decide(&config.policy(), user, &f, sh(2026, 9, 28, 12, 0)),
        Verdict::Due { n: 1, .. }
    ));
    // Escalation: after 2 unanswered expedites and 2h, inside the calendar, once per kind.
    let last = sh(2026, 9, 28, 10, 0);
    let listed_after = Some(sh(2026, 9, 28, 10, 10));
    let esc = |sent: u32, confirmed: Option<DateTime<Utc>>, escalated: Escalated, now| {
        let mut f = facts(sent, Some(last));
        f.confirmed_at = confirmed;
        f.escalated = escalated;
        decide_escalation(&config.policy(), user, &f, now)
    };
    let cc_done = Escalated {
        cc: Some(sh(2026, 9, 28, 12, 0)),
        chat: None,
    };
    let both_done = Escalated {
        cc: Some(sh(2026, 9, 28, 12, 0)),
        chat: Some(sh(2026, 9, 28, 12, 1)),
    };
    let cases = [
        (
            "one expedite is not enough",
            esc(
                1,
                listed_after,
                Escalated::default(),
                sh(2026, 9, 28, 15, 0),
            ),
            Some(E::NotYet {
                after_times: 2,
                sent: 1,
            }),
        ),
        (
            "no listing since the last expedite",
            esc(
                2,
                Some(sh(2026, 9, 28, 9, 50)),
                Escalated::default(),
                sh(2026, 9, 28, 15, 0),
            ),
            Some(E::Unconfirmed),
        ),
        (
            "unanswered, waiting 2h",
            esc(
                2,
                listed_after,
                Escalated::default(),
                sh(2026, 9, 28, 11, 59),
            ),
            Some(E::Waiting {
                at: sh(2026, 9, 28, 12, 0),
            }),
        ),
        (
            "due inside the calendar",
            esc(
                2,
                listed_after,
                Escalated::default(),
                sh(2026, 9, 28, 12, 0),
            ),
            Some(E::Due {
                cc: true,
                chat: true,
                moves: false,
            }),
        ),
        (
            "outside the calendar: deferred to the morning",
            esc(
                2,
                listed_after,
                Escalated::default(),
                sh(2026, 9, 28, 19, 0),
            ),
            Some(E::Deferred {
                opens_at: Some(sh(2026, 9, 29, 9, 0)),
            }),
        ),
        (
            "cc done, the chat still due",
            esc(3, listed_after, cc_done, sh(2026, 9, 29, 12, 0)),
            Some(E::Due {
                cc: false,
                chat: true,
                moves: false,
            }),
        ),
        (
            "both done",
            esc(3, listed_after, both_done, sh(2026, 9, 29, 12, 0)),
            Some(E::Done {
                at: sh(2026, 9, 28, 12, 1),
            }),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn away_windows_hold_from_their_start_to_their_end_and_chain() {
    use expediter::domain::AwayWindow;
    use expediter::domain::decide::away_until;
    let w = |from: DateTime<Utc>, until: DateTime<Utc>| AwayWindow {
        from,
        until,
        deputy: None,
        reason: String::new(),
    };
    let (d1, d5, d9, d12, d20) = (
        sh(2026, 12, 1, 9, 0),
        sh(2026, 12, 5, 9, 0),
        sh(2026, 12, 9, 9, 0),
        sh(2026, 12, 12, 9, 0),
        sh(2026, 12, 20, 9, 0),
    );
    let a = w(d1, d9);
    assert!(a.holds_at(d1), "from its start");
    assert!(!a.holds_at(d9), "not at its end");
    assert!(!a.holds_at(d1 - chrono::TimeDelta::seconds(1)));
    // Back-to-back and overlapping windows chain: back when the last of them ends.
    let windows = [a.clone(), w(d9, d12), w(d5, d20)];
    assert_eq!(away_until(&windows, d9), d20);
    // A gap ends the chain.
    let windows = [a, w(d12, d20)];
    assert_eq!(away_until(&windows, d9), d9);
}

#[test]
fn an_escalation_that_moves_rests_a_day_after_a_refusal_and_is_done_once_moved() {
    use expediter::domain::decide::{EscalationVerdict as E, decide_escalation};
    use expediter::domain::{CallKind, MoveRecord};
    let text = ESCALATING.replace("cc = [\"7000\"]\nchat = true\n", "transfer_to = \"7001\"\n");
    let config = Config::parse(&text, Path::new("t.toml"), false).unwrap();
    let user = &config.users[0];
    let labels = labels("报销");
    let last = sh(2026, 9, 28, 10, 0);
    let target = ["7001".to_owned()];
    let facts = |moved: Option<&'static MoveRecord>| PairFacts {
        labels: &labels,
        start_time: Some(sh(2026, 9, 20, 9, 0)),
        first_seen: sh(2026, 9, 20, 9, 0),
        flow_sets: &[],
        sent: 2,
        last_sent: Some(last),
        confirmed_at: Some(sh(2026, 9, 28, 10, 10)),
        silence: None,
        escalated: Default::default(),
        away: &[],
        moved,
        // Once moved (not refused), the task is the target's.
        moved_to: if moved.is_some_and(|m| m.refused.is_none()) {
            &target
        } else {
            &[]
        },
        moved_in: None,
    };
    let refused_at = sh(2026, 9, 28, 12, 0);
    let refused: &'static MoveRecord = Box::leak(Box::new(MoveRecord {
        kind: CallKind::Transfer,
        at: refused_at,
        n: 1,
        refused: Some((2320012, "task is not an approval task".into())),
        unknown: false,
    }));
    let moved: &'static MoveRecord = Box::leak(Box::new(MoveRecord {
        refused: None,
        ..refused.clone()
    }));
    let policy = config.policy();
    // (case, the move on record, now, the verdict)
    let cases = [
        (
            "unanswered for 2h: the move is due",
            None,
            sh(2026, 9, 28, 12, 0),
            Some(E::Due {
                cc: false,
                chat: false,
                moves: true,
            }),
        ),
        (
            "refused an hour ago: rests until a day after the refusal",
            Some(refused),
            sh(2026, 9, 28, 13, 0),
            Some(E::Waiting {
                at: refused_at + chrono::TimeDelta::days(1),
            }),
        ),
        (
            "a day after the refusal: tried again",
            Some(refused),
            sh(2026, 9, 29, 12, 0),
            Some(E::Due {
                cc: false,
                chat: false,
                moves: true,
            }),
        ),
        (
            "moved: done, for good",
            Some(moved),
            sh(2026, 10, 9, 12, 0),
            Some(E::Done { at: refused_at }),
        ),
    ];
    for (name, record, now, want) in cases {
        let got = decide_escalation(&policy, user, &facts(record), now);
        assert_eq!(got, want, "{name}");
    }
    // Moved to the target by another assignee's escalation: nothing left for this one.
    let by_another = PairFacts {
        moved_to: &target,
        moved_in: None,
        ..facts(None)
    };
    assert_eq!(
        decide_escalation(&policy, user, &by_another, sh(2026, 9, 28, 12, 0)),
        None
    );
    assert_eq!(refused.next_n(), 2, "a retry is the next attempt");
}
