//! `listing = "auto"` beside `every_tick`, the engine's clock moved tick by tick on a 10-minute
//! cron, the simulated tenant's tasks arriving and finishing on the same clock (fixed seed). A
//! queue preloaded with tasks 1–4 days old, two per user, that had reminders already (a warm-up
//! day); a tenth shared by two watched users; half a task arriving per user a day, nine tenths
//! of that finishing. Both modes run the same events; reported side by side.
//! - (l) 100 users over three days, the bench's own rules: after 24h, repeat 12h, at most 3,
//!   half the users under one that escalates by cc; the warm-up lists every tick.
//! - (l5k) 5,000 users over one working day with the rules, calendar and schedule of
//!   `config.example.toml` (three tenths of the tasks in the finance rule's flow); the warm-up
//!   lists as `auto` (every tick would be 1.4 million listings). Calls are not paced in the
//!   simulation: each tick's and each hour's calls are counted against Feishu's 100 a minute
//!   per API instead (980 in a 10-minute tick at the client's spacing, 6,000 an hour).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use expediter::clock::Clock;
use expediter::fake::{CallKind, Endpoint, FakeFeishu, FakeTask};

use super::{APP_ID, APP_SECRET};

const TICK: i64 = 10; // minutes
/// Calls of one API that fit in a tick at 100 a minute, spaced 2% wider than 0.6 s.
pub const PER_TICK: usize = 980;
pub const PER_HOUR: usize = 6_000;
/// The finance rule's flow in config.example.toml.
const EXAMPLE_FLOW: &str = "package_b40c28__c__action_aadfv6lfu6kai";

pub struct Scenario {
    pub key: &'static str,
    users: usize,
    warm_up_days: i64,
    days: i64,
    /// The warm-up lists every tick (else as `auto`) in both runs: the same state to start from.
    warm_up_every_tick: bool,
    /// config.example.toml's rules, calendar and schedule; else the bench's own rules.
    example: bool,
}

pub const THREE_DAYS: Scenario = Scenario {
    key: "l",
    users: 100,
    warm_up_days: 1,
    days: 3,
    warm_up_every_tick: true,
    example: false,
};

pub const ORG_DAY: Scenario = Scenario {
    key: "l5k",
    users: 5_000,
    warm_up_days: 1,
    days: 1,
    warm_up_every_tick: false,
    example: true,
};

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
    /// The most calls of one API in a tick, and which API: (listings, acting calls).
    pub busiest_tick: (usize, usize),
    /// Listings in each measured hour.
    pub by_hour: Vec<usize>,
    /// Listings in each measured tick, with the tick's fire time.
    pub by_tick: Vec<(DateTime<Utc>, usize)>,
    /// CPU of this process (engine and simulated Feishu) over the measured days.
    pub cpu: Duration,
    /// The process's peak RSS when the side ended (KiB).
    pub peak_rss_kib: u64,
    /// The database's size at the end (bytes).
    pub db_bytes: u64,
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
    format!("u{i:04}")
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

fn events(sc: &Scenario, s: DateTime<Utc>) -> Script {
    let users = sc.users;
    let mut rng = fastrand::Rng::with_seed(20_261_130);
    let first = s - TimeDelta::days(sc.warm_up_days);
    let mut serial = 0;
    let mut new_task = |rng: &mut fastrand::Rng, started: DateTime<Utc>| {
        serial += 1;
        let a = rng.usize(..users);
        let mut ids = vec![user(a)];
        if rng.u8(..10) == 0 {
            ids.push(user((a + 1 + rng.usize(..users - 1)) % users));
        }
        let t = task(format!("t{serial:06}"), &ids, started);
        if sc.example && rng.u8(..10) < 3 {
            t.flow(EXAMPLE_FLOW)
        } else {
            t
        }
    };
    // At the warm-up's start: tasks started 0–3 days before it (1–4 days old when measuring).
    let preload: Vec<FakeTask> = (0..users * 2)
        .map(|_| {
            let age = TimeDelta::minutes(rng.i64(0..3 * 24 * 60));
            new_task(&mut rng, first - age)
        })
        .collect();
    let mut pending: Vec<String> = preload.iter().map(|t| t.task_id.clone()).collect();
    let mut out = Vec::new();
    let mut finished = HashMap::new();
    // Half a task arriving per user a day, nine tenths of that finishing.
    let (arrive, finish) = (users / 2, users * 9 / 20);
    for day in 0..sc.warm_up_days + sc.days {
        let day_start = first + TimeDelta::days(day);
        let mut today: Vec<(i64, bool)> = (0..arrive + finish)
            .map(|k| (rng.i64(0..24 * 60), k < arrive))
            .collect();
        today.sort();
        for (minute, arrives) in today {
            let at = day_start + TimeDelta::minutes(minute);
            if arrives {
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

/// config.example.toml as a lead would deploy it, pointed at the simulated Feishu: its rules,
/// calendar and schedule; `users` in two teams; no digest or metrics.
fn example_config(url: &str, db: &str, listing: &str, users: usize) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let mut t: toml::Table = std::fs::read_to_string(&path)
        .expect("config.example.toml")
        .parse()
        .expect("config.example.toml is TOML");
    let feishu = t["feishu"].as_table_mut().expect("[feishu]");
    feishu.insert("base_url".into(), url.into());
    feishu.insert("app_id".into(), APP_ID.into());
    feishu.insert("app_secret".into(), APP_SECRET.into());
    feishu.remove("app_secret_file");
    // Not paced: the calls are counted against the budget instead.
    feishu.insert("requests_per_minute".into(), 1_000_000.into());
    t["schedule"]
        .as_table_mut()
        .expect("[schedule]")
        .insert("listing".into(), listing.into());
    t["storage"]
        .as_table_mut()
        .expect("[storage]")
        .insert("database".into(), db.into());
    t.remove("digests");
    t.remove("metrics");
    let people: Vec<toml::Value> = (0..users)
        .map(|i| {
            let mut u = toml::Table::new();
            u.insert("id".into(), user(i).into());
            let team = if i % 2 == 0 { "finance" } else { "ops" };
            u.insert("team".into(), team.into());
            u.into()
        })
        .collect();
    t.insert("users".into(), people.into());
    toml::to_string(&t).expect("a config")
}

fn config(url: &str, db: &str, listing: &str, users: usize) -> String {
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
"#
    );
    for i in 0..users {
        let team = if i < users / 2 { "a" } else { "b" };
        text.push_str(&format!(
            "\n[[users]]\nid = \"{}\"\nteam = \"{team}\"\n",
            user(i)
        ));
    }
    text
}

fn empty_side() -> Side {
    Side {
        mode: "every_tick (not run)",
        listings: 0,
        reminders: 0,
        escalations: 0,
        sent_at: BTreeMap::new(),
        escalated_at: BTreeMap::new(),
        stale_calls: 0,
        wall: Duration::ZERO,
        busiest_tick: (0, 0),
        by_hour: Vec::new(),
        by_tick: Vec::new(),
        cpu: Duration::ZERO,
        peak_rss_kib: 0,
        db_bytes: 0,
    }
}

async fn simulate(sc: &Scenario, dir: &Path, auto: bool) -> Side {
    let s = start();
    let (preload, events, finished) = events(sc, s);
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.expect("fake");
    for t in preload {
        fake.add_task(t);
    }
    let mode = if auto { "auto" } else { "every_tick" };
    let db = dir.join(format!(
        "cadence-{}-{mode}-{}.db",
        sc.key,
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let database = crate::database_for(&db);
    let cfg = dir.join(format!("cadence-{}-{mode}.toml", sc.key));
    let text = if sc.example {
        example_config(&fake.url(), &database, mode, sc.users)
    } else {
        config(&fake.url(), &database, mode, sc.users)
    };
    std::fs::write(&cfg, text).unwrap();
    let first = s - TimeDelta::days(sc.warm_up_days);
    let clock = Clock::starting_at(first);
    let config = expediter::config::Config::load(&cfg).expect("config");
    let mut engine = expediter::startup::engine_for(config, clock.clone())
        .await
        .expect("engine");
    let mut events = events.into_iter().peekable();
    let mut side = Side {
        mode,
        by_hour: vec![0; sc.days as usize * 24],
        ..empty_side()
    };
    let mut last_listed: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut n_of: HashMap<(String, String), usize> = HashMap::new();
    let mut cc_of: HashMap<String, usize> = HashMap::new();
    let ticks = (sc.warm_up_days + sc.days) * 24 * 60 / TICK;
    let measured_from = sc.warm_up_days * 24 * 60 / TICK;
    let mut started = std::time::Instant::now();
    let mut cpu0 = Duration::ZERO;
    let (mut e0, mut c0) = (0, 0);
    for i in 0..ticks {
        let at = first + TimeDelta::minutes(TICK * i);
        let measured = i >= measured_from;
        if i == measured_from {
            started = std::time::Instant::now();
            cpu0 = crate::proc_cpu(std::process::id());
        }
        while events.peek().is_some_and(|(t, _)| *t <= at) {
            match events.next().unwrap().1 {
                Event::Arrive(t) => fake.add_task(t),
                Event::Finish(id) => fake.finish_task(&id),
            }
        }
        if i % (60 / TICK * 6) == 0 {
            eprintln!(
                "    {mode}: simulated hour {} of {}",
                i * TICK / 60,
                ticks * TICK / 60
            );
        }
        engine.auto_listing = auto && (measured || !sc.warm_up_every_tick);
        clock.set(at + TimeDelta::seconds(1));
        engine.run_cycle(false).await.expect("cycle");
        let (mut listings, mut acting) = (0, 0);
        for call in fake.take_calls() {
            match call.endpoint {
                Endpoint::Query => {
                    if let Some(u) = call.user {
                        last_listed.insert(u, at);
                    }
                    listings += 1;
                }
                Endpoint::Acts(CallKind::Expedite)
                | Endpoint::Acts(CallKind::Cc)
                | Endpoint::Acts(CallKind::Chat)
                | Endpoint::Acts(CallKind::Transfer)
                | Endpoint::Acts(CallKind::AddAssignee) => acting += 1,
                Endpoint::Token | Endpoint::Webhook => {}
            }
        }
        if measured {
            side.listings += listings;
            side.busiest_tick.0 = side.busiest_tick.0.max(listings);
            side.busiest_tick.1 = side.busiest_tick.1.max(acting);
            let hour = ((i - measured_from) * TICK / 60) as usize;
            side.by_hour[hour] += listings;
            side.by_tick.push((at, listings));
        }
        let expedites = fake.expedites();
        for e in &expedites[e0..] {
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
        e0 = expedites.len();
        let ccs = fake.ccs();
        for c in &ccs[c0..] {
            let n = cc_of.entry(c.task_id.clone()).or_default();
            *n += 1;
            if measured {
                side.escalations += 1;
                side.escalated_at.insert((c.task_id.clone(), *n), i);
            }
        }
        c0 = ccs.len();
    }
    side.wall = started.elapsed();
    side.cpu = crate::proc_cpu(std::process::id()).saturating_sub(cpu0);
    side.peak_rss_kib = crate::proc_status_kib(std::process::id(), "VmHWM:");
    engine.store.close().await;
    side.db_bytes = database_bytes(&db, &database);
    side
}

/// The database's size: the SQLite file and its WAL, or PostgreSQL's `pg_database_size`.
fn database_bytes(file: &Path, database: &str) -> u64 {
    if database.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .args([
                "-At",
                database,
                "-c",
                "SELECT pg_database_size(current_database())",
            ])
            .output()
            .expect("psql");
        return String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
    }
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    size(file) + size(&file.with_extension("db-wal"))
}

pub async fn run(sc: &Scenario, dir: &Path) -> (Side, Side, usize, usize) {
    // EXPEDITER_BENCH_SIDES=auto runs `auto` alone (every_tick at 5,000 users lists 1.4 million
    // times a day; its row is then empty).
    let every = if std::env::var("EXPEDITER_BENCH_SIDES").as_deref() == Ok("auto") {
        empty_side()
    } else {
        eprintln!("  every_tick …");
        simulate(sc, dir, false).await
    };
    eprintln!("  auto …");
    let auto = simulate(sc, dir, true).await;
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

pub fn print(
    sc: &Scenario,
    every: &Side,
    auto: &Side,
    late_reminders: usize,
    late_escalations: usize,
) {
    let backend = if std::env::var_os("EXPEDITER_BENCH_PG").is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "\n({}) {} simulated day(s), {} users, 10-minute cron, fixed seed, {backend}\n\n| listing | listings | busiest hour (budget {PER_HOUR}) | busiest tick: listings / acting calls (fit {PER_TICK}) | reminders | escalations | sent later than every_tick | calls to tasks finished before the last listing | wall | CPU | peak RSS | database |\n|---|---|---|---|---|---|---|---|---|---|---|---|",
        sc.key, sc.days, sc.users
    );
    let not_run = every.listings == 0;
    let late = if not_run {
        "— (every_tick not run)".to_owned()
    } else {
        format!("{late_reminders} reminders, {late_escalations} escalations")
    };
    let sides = if not_run {
        vec![(auto, late)]
    } else {
        vec![(every, "—".to_owned()), (auto, late)]
    };
    for (side, late) in sides {
        let busiest_hour = side.by_hour.iter().max().copied().unwrap_or(0);
        println!(
            "| {} | {} | {} | {} / {} | {} | {} | {} | {} | {:.0} s | {:.1} s | {:.0} MiB | {:.1} MiB |",
            side.mode,
            side.listings,
            busiest_hour,
            side.busiest_tick.0,
            side.busiest_tick.1,
            side.reminders,
            side.escalations,
            late,
            side.stale_calls,
            side.wall.as_secs_f64(),
            side.cpu.as_secs_f64(),
            side.peak_rss_kib as f64 / 1024.0,
            side.db_bytes as f64 / (1024.0 * 1024.0),
        );
    }
    if every.listings > 0 {
        println!(
            "auto lists {:.1}% of what every_tick lists",
            100.0 * auto.listings as f64 / every.listings as f64
        );
    }
    let hours: Vec<String> = auto.by_hour.iter().map(|n| n.to_string()).collect();
    println!("auto's listings hour by hour: {}", hours.join(" "));
    let over: Vec<String> = auto
        .by_tick
        .iter()
        .filter(|(_, n)| *n > PER_TICK)
        .map(|(at, n)| {
            format!(
                "{} {n}",
                at.with_timezone(&chrono_tz::Asia::Shanghai).format("%H:%M")
            )
        })
        .collect();
    println!(
        "auto's ticks over the {PER_TICK} listings a tick can hold: {} of {}{}{}",
        over.len(),
        auto.by_tick.len(),
        if over.is_empty() { "" } else { ": " },
        over.join(", ")
    );
}
