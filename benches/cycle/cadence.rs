//! (l) `listing = "auto"` beside `every_tick` over three simulated days: the engine's clock
//! moved tick by tick on a 10-minute cron, the simulated tenant's tasks arriving and finishing
//! on the same clock (fixed seed). 100 users; a queue preloaded with tasks 1–4 days old that had
//! 0–2 reminders already (a warm-up day under `every_tick`); 50 tasks arriving and 45 finishing
//! a day; a tenth shared by two watched users; rules after 24h, repeat 12h, at most 3, one
//! escalating by cc. Both modes run the same events; reported side by side.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use expediter::clock::Clock;
use expediter::fake::{Endpoint, FakeFeishu, FakeTask};

use super::{APP_ID, APP_SECRET};

const USERS: usize = 100;
const TICK: i64 = 10; // minutes
const WARM_UP_DAYS: i64 = 1;
const DAYS: i64 = 3;

enum Event {
    Arrive(FakeTask),
    Finish(String),
}

pub struct Side {
    pub mode: &'static str,
    pub listings: usize,
    pub reminders: usize,
    pub escalations: usize,
    /// (task, assignee, n) → tick index
    sent_at: BTreeMap<(String, String, usize), i64>,
    /// (task, nth cc call of it) → tick index
    escalated_at: BTreeMap<(String, usize), i64>,
    /// Calls that named an assignee whose task had finished before their last listing.
    pub stale_calls: usize,
    pub wall: Duration,
}

fn start() -> DateTime<Utc> {
    let year = Clock::system()
        .now()
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap()
        + 2;
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(year, 3, 6, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn user(i: usize) -> String {
    format!("u{i:03}")
}

fn task(id: String, users: &[String], started: DateTime<Utc>) -> FakeTask {
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let mut t = FakeTask::new(id, &refs, Duration::ZERO);
    t.start_ms = Some(started.timestamp_millis());
    t
}

/// The preloaded queue and every arrival and finish, by time, from a fixed seed.
/// The preloaded tasks, the events by time, and when each task finished.
type Script = (
    Vec<FakeTask>,
    Vec<(DateTime<Utc>, Event)>,
    HashMap<String, DateTime<Utc>>,
);

fn events(s: DateTime<Utc>) -> Script {
    let mut rng = fastrand::Rng::with_seed(20_261_130);
    let first = s - TimeDelta::days(WARM_UP_DAYS);
    let mut serial = 0;
    let mut new_task = |rng: &mut fastrand::Rng, started: DateTime<Utc>| {
        serial += 1;
        let a = rng.usize(..USERS);
        let mut users = vec![user(a)];
        if rng.u8(..10) == 0 {
            users.push(user((a + 1 + rng.usize(..USERS - 1)) % USERS));
        }
        task(format!("t{serial:05}"), &users, started)
    };
    // At the warm-up's start: tasks started 0–3 days before it (1–4 days old when measuring).
    let preload: Vec<FakeTask> = (0..USERS * 2)
        .map(|_| {
            let age = TimeDelta::minutes(rng.i64(0..3 * 24 * 60));
            new_task(&mut rng, first - age)
        })
        .collect();
    let mut pending: Vec<String> = preload.iter().map(|t| t.task_id.clone()).collect();
    let mut out = Vec::new();
    let mut finished = HashMap::new();
    for day in 0..WARM_UP_DAYS + DAYS {
        let day_start = first + TimeDelta::days(day);
        let mut today: Vec<(i64, bool)> = Vec::with_capacity(95);
        for k in 0..95 {
            today.push((rng.i64(0..24 * 60), k < 50));
        }
        today.sort();
        for (minute, arrive) in today {
            let at = day_start + TimeDelta::minutes(minute);
            if arrive {
                let t = new_task(&mut rng, at);
                pending.push(t.task_id.clone());
                out.push((at, Event::Arrive(t)));
            } else if !pending.is_empty() {
                let id = pending.swap_remove(rng.usize(..pending.len()));
                finished.insert(id.clone(), at);
                out.push((at, Event::Finish(id)));
            }
        }
    }
    (preload, out, finished)
}

fn config(url: &str, db: &Path, listing: &str) -> String {
    let mut text = format!(
        r#"[feishu]
base_url = "{url}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
requests_per_minute = 1000000
request_timeout = "10s"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"
listing = "{listing}"

[storage]
database = "{db}"

[expedite]
operator_user_id = "7000"

[[rules]]
name = "escalating"
teams = ["a"]
after = "24h"
repeat = "12h"
max_times = 3
[rules.escalate]
after_times = 2
wait = "6h"
cc = ["7000"]

[[rules]]
name = "plain"
after = "24h"
repeat = "12h"
max_times = 3
"#,
        db = crate::database_for(db)
    );
    for i in 0..USERS {
        let team = if i < USERS / 2 { "a" } else { "b" };
        text.push_str(&format!(
            "\n[[users]]\nid = \"{}\"\nteam = \"{team}\"\n",
            user(i)
        ));
    }
    text
}

async fn simulate(dir: &Path, auto: bool) -> Side {
    let s = start();
    let (preload, events, finished) = events(s);
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.expect("fake");
    for t in preload {
        fake.add_task(t);
    }
    let mode = if auto { "auto" } else { "every_tick" };
    let db = dir.join(format!("cadence-{mode}.db"));
    let _ = std::fs::remove_file(&db);
    let cfg = dir.join(format!("cadence-{mode}.toml"));
    std::fs::write(&cfg, config(&fake.url(), &db, mode)).unwrap();
    let first = s - TimeDelta::days(WARM_UP_DAYS);
    let clock = Clock::starting_at(first);
    let config = expediter::config::Config::load(&cfg).expect("config");
    let mut engine = expediter::startup::engine_for(config, clock.clone())
        .await
        .expect("engine");
    let mut events = events.into_iter().peekable();
    let mut side = Side {
        mode,
        listings: 0,
        reminders: 0,
        escalations: 0,
        sent_at: BTreeMap::new(),
        escalated_at: BTreeMap::new(),
        stale_calls: 0,
        wall: Duration::ZERO,
    };
    let mut last_listed: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut n_of: HashMap<(String, String), usize> = HashMap::new();
    let mut cc_of: HashMap<String, usize> = HashMap::new();
    let ticks = (WARM_UP_DAYS + DAYS) * 24 * 60 / TICK;
    let measured_from = WARM_UP_DAYS * 24 * 60 / TICK;
    let started = std::time::Instant::now();
    for i in 0..ticks {
        let at = first + TimeDelta::minutes(TICK * i);
        while events.peek().is_some_and(|(t, _)| *t <= at) {
            match events.next().unwrap().1 {
                Event::Arrive(t) => fake.add_task(t),
                Event::Finish(id) => fake.finish_task(&id),
            }
        }
        // The warm-up lists everyone every tick in both runs: the same state to start from.
        engine.auto_listing = auto && i >= measured_from;
        clock.set(at + TimeDelta::seconds(1));
        let (q0, e0, c0) = (
            fake.calls_to(Endpoint::Query).len(),
            fake.expedites().len(),
            fake.ccs().len(),
        );
        engine.run_cycle(false).await.expect("cycle");
        let measured = i >= measured_from;
        for call in &fake.calls_to(Endpoint::Query)[q0..] {
            if let Some(u) = &call.user {
                last_listed.insert(u.clone(), at);
            }
            side.listings += usize::from(measured);
        }
        for e in &fake.expedites()[e0..] {
            for u in &e.expediting_user_ids {
                let n = n_of.entry((e.task_id.clone(), u.clone())).or_default();
                *n += 1;
                if measured {
                    side.reminders += 1;
                    side.sent_at.insert((e.task_id.clone(), u.clone(), *n), i);
                    let stale = finished
                        .get(&e.task_id)
                        .is_some_and(|f| last_listed.get(u).is_some_and(|l| f <= l));
                    side.stale_calls += usize::from(stale);
                }
            }
        }
        for c in &fake.ccs()[c0..] {
            let n = cc_of.entry(c.task_id.clone()).or_default();
            *n += 1;
            if measured {
                side.escalations += 1;
                side.escalated_at.insert((c.task_id.clone(), *n), i);
            }
        }
    }
    side.wall = started.elapsed();
    engine.store.close().await;
    side
}

pub async fn run(dir: &Path) -> (Side, Side, usize, usize) {
    eprintln!("  every_tick …");
    let every = simulate(dir, false).await;
    eprintln!("  auto …");
    let auto = simulate(dir, true).await;
    // Reminders and escalations auto sent later than every_tick (or not at all).
    let late_reminders = every
        .sent_at
        .iter()
        .filter(|(k, tick)| auto.sent_at.get(*k).is_none_or(|t| t > *tick))
        .count();
    let late_escalations = every
        .escalated_at
        .iter()
        .filter(|(k, tick)| auto.escalated_at.get(*k).is_none_or(|t| t > *tick))
        .count();
    (every, auto, late_reminders, late_escalations)
}

pub fn print(every: &Side, auto: &Side, late_reminders: usize, late_escalations: usize) {
    println!(
        "\n(l) three simulated days, 100 users, 10-minute cron (fixed seed)\n\n| listing | listings | reminders | escalations | sent later than every_tick | calls to tasks finished before the last listing | wall |\n|---|---|---|---|---|---|---|"
    );
    for (side, late) in [
        (every, "—".to_owned()),
        (
            auto,
            format!("{late_reminders} reminders, {late_escalations} escalations"),
        ),
    ] {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} s |",
            side.mode,
            side.listings,
            side.reminders,
            side.escalations,
            late,
            side.stale_calls,
            side.wall.as_secs_f64()
        );
    }
    println!(
        "auto lists {:.1}% of what every_tick lists",
        100.0 * auto.listings as f64 / every.listings.max(1) as f64
    );
}
