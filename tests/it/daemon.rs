//! `expediter run` as a real process: schedule, overlap, signals, reload, systemd notify.
//! SQLite only: the daemon as a process — signals, systemd, logs, metrics, the SQLite lock;
//! the same on PostgreSQL (a pair, a silent database) is in two_hosts.rs and stop.rs.

use std::time::Duration;

use crate::helpers::*;
use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind};
use tokio::time::Instant;

#[tokio::test]
async fn runs_cycles_on_the_cron_and_stops_cleanly_on_sigterm() {
    let env = TestEnv::new().await;
    with_cron(&env, "*/2 * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("expediter started", 1, Duration::from_secs(10))
        .await;
    daemon
        .wait_for("cycle finished", 3, Duration::from_secs(12))
        .await;
    let (code, took, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        log.contains("stopping on SIGTERM") && log.contains("stopped"),
        "{log}"
    );
    assert_eq!(
        env.fake.expedites().len(),
        1,
        "expedited once over several cycles"
    );
    // Ticks are 2 s apart: cycles start on even seconds.
    let starts: Vec<_> = env
        .fake
        .calls_to(Endpoint::Query)
        .iter()
        .filter(|c| c.user.as_deref() == Some("u1"))
        .map(|c| c.at)
        .collect();
    // No tick runs two cycles; over the run they average one per 2 s tick. (One tick a loaded
    // host delays shortens the next gap and lengthens this one: each gap alone proves little.)
    let gaps: Vec<Duration> = starts
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    assert!(gaps.len() >= 2, "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(500)),
        "two cycles in one tick: {gaps:?}"
    );
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    assert!(
        mean >= Duration::from_millis(1500) && mean <= Duration::from_millis(2500),
        "cycles on the 2 s cron: mean gap {mean:?} of {gaps:?}"
    );
}

#[tokio::test]
async fn a_slow_cycle_is_never_run_twice_at_once() {
    let env = TestEnv::new().await;
    env.write_config("request_timeout = \"10s\"", RULE_ONCE_AFTER_24H);
    with_cron(&env, "* * * * * *");
    // Listing u1 takes 2.5 s: every cycle outlasts the 1-second tick.
    env.fake.inject(
        Fault::new(
            Endpoint::Query,
            FaultKind::Hang(Duration::from_millis(2500)),
        )
        .user("u1")
        .always(),
    );
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("cycle finished", 2, Duration::from_secs(15))
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("the previous cycle is still running; this tick is skipped"),
        "{log}"
    );
    let arrivals: Vec<_> = env
        .fake
        .calls_to(Endpoint::Query)
        .iter()
        .filter(|c| c.user.as_deref() == Some("u1"))
        .map(|c| c.at)
        .collect();
    assert!(arrivals.len() >= 2);
    for w in arrivals.windows(2) {
        assert!(
            w[1].duration_since(w[0]) >= Duration::from_millis(2400),
            "u1 listed twice at once: {:?}",
            w[1].duration_since(w[0])
        );
    }
}

#[tokio::test]
async fn sighup_reloads_a_valid_config_and_keeps_the_old_one_when_broken() {
    let env = TestEnv::new().await;
    let one_user = "[[users]]\nid = \"u1\"\nname = \"Zhang San\"\n";
    env.write_config_with_users("", one_user, RULE_ONCE_AFTER_24H);
    with_cron(&env, "*/2 * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(10))
        .await;
    assert!(
        !env.fake.expedites().iter().any(|e| e.task_id == "t2"),
        "u2 is not watched yet"
    );

    // Add u2 and reload.
    env.write_config_with_users(
        "",
        &format!("{one_user}\n[[users]]\nid = \"u2\"\n"),
        RULE_ONCE_AFTER_24H,
    );
    with_cron(&env, "*/2 * * * * *");
    daemon.signal("HUP");
    daemon
        .wait_for(
            "config reloaded: users added: u2",
            1,
            Duration::from_secs(5),
        )
        .await;
    daemon.wait_for_next_cycle().await;
    assert!(
        env.fake.expedites().iter().any(|e| e.task_id == "t2"),
        "the new user's task was expedited"
    );

    // A broken file: logged at ERROR with the reason, the old config kept, the daemon lives on.
    std::fs::write(&env.config_path, "[feishu\nthis is not toml").unwrap();
    daemon.signal("HUP");
    daemon
        .wait_for(
            "config reload failed, keeping the old config",
            1,
            Duration::from_secs(5),
        )
        .await;
    daemon.wait_for_next_cycle().await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("config reload failed"))
        .unwrap();
    assert!(
        line.contains("ERROR") && line.contains("TOML syntax"),
        "{line}"
    );
}

#[tokio::test]
async fn sigterm_during_a_hung_call_exits_0_within_10s_and_records_the_outcome() {
    let env = TestEnv::new().await;
    env.write_config("request_timeout = \"60s\"", RULE_ONCE_AFTER_24H);
    with_cron(&env, "*/2 * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.fake.inject(Fault::new(
        Endpoint::Acts(CallKind::Expedite),
        FaultKind::ActThenHang(Duration::from_secs(60)),
    ));
    let daemon = Daemon::start(&env, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.fake.expedites().is_empty() {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, took, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(took <= Duration::from_secs(10), "stopped in {took:?}");
    assert!(
        log.contains("abandoning its call") && log.contains("outcome unknown"),
        "{log}"
    );
    env.fake.clear_faults();
    assert_eq!(env.run(&["once"]).await.code, 0);
    assert_eq!(env.fake.expedites().len(), 1, "never sent twice");
}

#[tokio::test]
async fn systemd_notify_ready_status_and_watchdog() {
    let env = TestEnv::new().await;
    with_cron(&env, "* * * * * *");
    let socket_path = env.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let daemon = Daemon::start(
        &env,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut messages: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut buf = vec![0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buf)).await
        {
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let pings = messages.iter().filter(|m| m.contains("WATCHDOG=1")).count();
        if pings >= 6 && messages.iter().any(|m| m.contains("STATUS=last cycle")) {
            break;
        }
    }
    let (code, _, log) = daemon.stop().await;
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buf)).await
    {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(code, 0, "{log}");
    assert!(
        messages.first().is_some_and(|m| m.contains("READY=1")),
        "{messages:?}"
    );
    assert!(
        messages.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 6,
        "pings every 0.5 s: {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("STATUS=last cycle: users 3/3 listed")),
        "{messages:?}"
    );
    assert!(
        messages.last().is_some_and(|m| m.contains("STOPPING=1")),
        "{messages:?}"
    );
}

/// Logs read by a person at a terminal carry the local time with its offset (JSON keeps UTC).
#[tokio::test]
async fn pretty_logs_run_by_hand_show_local_time_with_its_offset() {
    let env = TestEnv::new().await;
    let run = env
        .run_with_env(&["once", "--dry-run"], &[("TZ", "Asia/Shanghai")])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("cycle finished"))
        .expect("a cycle line");
    let stamp = line.split_whitespace().next().unwrap();
    assert!(stamp.ends_with("+08:00"), "{line}");
    chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{e}: {line}"));
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_nothing_else() {
    let env = TestEnv::new().await;
    with_cron(&env, "* * * * * *");
    // A task id from Feishu with a direction override in it: the JSON lines stay JSON.
    env.add(FakeTask::new("t\u{202e}1", &["u1"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[("EXPEDITER_LOG_FORMAT", "json")]);
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(10))
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
    }
    let summary = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["users_listed"].is_number())
        .expect("summary line");
    for field in [
        "users_failed",
        "tasks_seen",
        "tasks_new",
        "tasks_finished",
        "expedites_due",
        "expedites_sent",
        "expedites_failed",
        "expedites_deferred",
        "api_query_calls",
        "api_expedite_calls",
        "rate_limit_waits",
        "duration_ms",
    ] {
        assert!(
            summary.get(field).is_some(),
            "summary has {field}: {summary}"
        );
    }
    let expedite = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("expedited task"))
        })
        .expect("expedite line");
    for field in ["task_id", "assignees", "rule", "age", "n"] {
        assert!(
            expedite.get(field).is_some(),
            "expedite line has {field}: {expedite}"
        );
    }
}

#[tokio::test]
async fn under_systemd_log_lines_carry_no_timestamp() {
    let env = TestEnv::new().await;
    with_cron(&env, "* * * * * *");
    let daemon = Daemon::start(&env, &[("JOURNAL_STREAM", "8:12345")]);
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(10))
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0);
    let year = chrono::Utc::now().format("%Y-").to_string();
    assert!(log.lines().all(|l| !l.starts_with(&year)), "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with(" INFO") || l.starts_with("INFO")),
        "{log}"
    );
}

#[tokio::test]
async fn finished_tasks_older_than_retention_are_pruned() {
    use sqlx::{Connection, Executor};
    let env = TestEnv::new().await;
    env.add(FakeTask::new("recent", &["u1"], HOUR));
    assert_eq!(env.run(&["once"]).await.code, 0);
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&env.db_path);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let old = (chrono::Utc::now() - chrono::TimeDelta::days(100)).timestamp_millis();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO tasks (task_id, labels, first_seen, last_seen, finished_at) VALUES ('ancient', '[]', {old}, {old}, {old});
         INSERT INTO expedites (task_id, rule, operator_id, opinion, intent_at, outcome) VALUES ('ancient', 'r', '7000', '', {old}, 'sent');"
    )))
    .await
    .unwrap();
    conn.close().await.unwrap();
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for(
            "pruned 1 finished task(s) and 1 expedite record(s) older than 90d",
            1,
            Duration::from_secs(10),
        )
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert_eq!(env.plan_json().await.len(), 1, "the pending task is kept");
}

#[tokio::test]
async fn the_watchdog_is_withheld_while_a_cycle_is_stuck_and_resumes_after() {
    use sqlx::{Connection, Executor};
    let env = TestEnv::new().await;
    with_cron(&env, "*/2 * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 2 * HOUR));
    let socket_path = env.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let daemon = Daemon::start(
        &env,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(10))
        .await;
    // Another process holds the database's write lock: the next cycle's first write waits
    // (up to the 5 s busy timeout) without any progress.
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&env.db_path);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    conn.execute("BEGIN IMMEDIATE").await.unwrap();
    conn.execute("INSERT INTO user_listings (user_id, listed_at) VALUES ('lock', 0)")
        .await
        .unwrap();
    let locked_at = Instant::now();
    let mut pings: Vec<Instant> = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut released_at = None;
    let deadline = locked_at + Duration::from_secs(9);
    while Instant::now() < deadline {
        if released_at.is_none() && locked_at.elapsed() >= Duration::from_millis(4600) {
            conn.execute("ROLLBACK").await.unwrap();
            released_at = Some(Instant::now());
        }
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await
            && String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1")
        {
            pings.push(Instant::now());
        }
    }
    let released_at = released_at.unwrap();
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    let longest_gap = pings
        .windows(2)
        .filter(|w| w[1] <= released_at + Duration::from_millis(500))
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest_gap >= Duration::from_millis(1500),
        "pings (every 0.5 s otherwise) stop while the cycle is stuck: longest gap {longest_gap:?}"
    );
    assert!(
        log.contains("withholding the ping"),
        "the withheld ping is logged: {log}"
    );
    let after = pings.iter().filter(|p| **p > released_at).count();
    assert!(
        after >= 4,
        "pings resume once the cycle moves again: {after} after release; {log}"
    );
    assert!(
        log.matches("cycle finished").count() >= 2,
        "the stuck cycle finished once the lock was gone: {log}"
    );
}

#[tokio::test]
async fn sighup_after_rotating_the_secret_file_uses_the_new_secret() {
    let env = TestEnv::new().await;
    with_cron(&env, "*/2 * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let secret_file = env.dir.path().join("app_secret");
    std::fs::write(&secret_file, "an-old-secret-no-longer-valid").unwrap();
    let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
        &format!("app_secret = \"{APP_SECRET}\""),
        &format!("app_secret_file = \"{}\"", secret_file.display()),
    );
    std::fs::write(&env.config_path, text).unwrap();
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("cycle failed", 1, Duration::from_secs(10))
        .await;
    assert!(daemon.log().contains("10014"), "{}", daemon.log());
    // The secret is rotated in its file (as a credential update does), then SIGHUP.
    std::fs::write(&secret_file, APP_SECRET).unwrap();
    daemon.signal("HUP");
    daemon
        .wait_for("config reloaded", 1, Duration::from_secs(5))
        .await;
    daemon
        .wait_for("expedited task t1", 1, Duration::from_secs(10))
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(APP_SECRET), "the secret is never logged");
}

#[tokio::test]
async fn default_log_level_keeps_library_chatter_out() {
    let env = TestEnv::new().await;
    with_cron(&env, "* * * * * *");
    let daemon = Daemon::start(&env, &[("RUST_LOG", "")]);
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(10))
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("expediter started"), "{log}");
    assert!(
        !log.contains("Job creator created") && !log.contains("Uninited"),
        "the scheduler's own INFO lines are not the product's log: {log}"
    );
}

#[tokio::test]
async fn logs_to_a_file_or_pipe_carry_no_colour_codes() {
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    // NO_COLOR empty counts as unset (no-color.org): only the pipe keeps colour out.
    let run = env.run_with_env(&["once"], &[("NO_COLOR", "")]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("cycle finished"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no ANSI escape codes: {:?}",
        run.stderr
    );
    let daemon = Daemon::start(&env, &[("NO_COLOR", "")]);
    daemon
        .wait_for("expediter started", 1, Duration::from_secs(10))
        .await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}

#[tokio::test]
async fn soak_run_with_live_queues_and_random_faults() {
    // A fixed seed by default, so that CI runs the same sequence every time; SOAK_SEED=…
    // replays another (a failure prints its seed), SOAK_SEED=random draws one.
    let seed = match std::env::var("SOAK_SEED").ok().as_deref() {
        Some("random") => fastrand::u64(..),
        Some(s) => s.parse().expect("SOAK_SEED is a number or \"random\""),
        None => 20_261_130,
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    eprintln!("soak seed {seed}");
    let env = TestEnv::new().await;
    let users = 5;
    let user_ids: Vec<String> = (0..users).map(|i| format!("m{i:03}")).collect();
    let users_toml: String = user_ids
        .iter()
        .map(|u| format!("[[users]]\nid = \"{u}\"\n"))
        .collect();
    let (repeat, max_times) = (Duration::from_secs(3), 3);
    env.write_config_with_users(
        "requests_per_minute = 600\nrequest_timeout = \"1s\"",
        &users_toml,
        r#"
[[rules]]
name = "soak"
after = "24h"
repeat = "3s"
max_times = 3
"#,
    );
    with_cron(&env, "* * * * * *");
    let mut next_task = 0;
    let mut live: Vec<String> = Vec::new();
    let mut add_task = |rng: &mut fastrand::Rng, live: &mut Vec<String>| {
        let id = format!("s{next_task:03}");
        next_task += 1;
        let a = &user_ids[rng.usize(..users)];
        let b = &user_ids[rng.usize(..users)];
        env.add(FakeTask::new(
            id.clone(),
            &[a.as_str(), b.as_str()],
            30 * HOUR,
        ));
        live.push(id);
    };
    for _ in 0..12 {
        add_task(&mut rng, &mut live);
    }
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("expediter started", 1, Duration::from_secs(10))
        .await;
    let soak = Duration::from_secs(25);
    let started = Instant::now();
    while started.elapsed() < soak {
        tokio::time::sleep(Duration::from_millis(500 + rng.u64(..500))).await;
        match rng.u8(..10) {
            0..=1 if !live.is_empty() => {
                let gone = live.swap_remove(rng.usize(..live.len()));
                env.fake.finish_task(&gone);
            }
            2..=4 => add_task(&mut rng, &mut live),
            5..=6 => {}
            _ => {
                let endpoint = if rng.bool() {
                    Endpoint::Query
                } else {
                    Endpoint::Acts(CallKind::Expedite)
                };
                let kind = match rng.u8(..8) {
                    0 => FaultKind::Status(500),
                    1 => FaultKind::GatewayPage(504),
                    2 => FaultKind::ActThen(Box::new(FaultKind::Status(502))),
                    3 => FaultKind::ActThen(Box::new(FaultKind::Hang(Duration::from_secs(2)))),
                    4 => FaultKind::RateLimit {
                        reset_secs: Some(1),
                    },
                    5 => FaultKind::Garbage,
                    6 => FaultKind::Code {
                        code: 99991663,
                        http_status: 400,
                    },
                    _ => FaultKind::Hang(Duration::from_secs(2)),
                };
                env.fake.inject(Fault::new(endpoint, kind));
            }
        }
    }
    let (code, took, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    let cycles = log.matches("cycle finished").count();
    assert!(
        cycles >= 6,
        "kept cycling: {cycles} cycles (seed {seed})\n{log}"
    );
    assert!(
        !log.contains("cycle failed") && !log.contains("panicked"),
        "seed {seed}: {log}"
    );
    // Never more than max_times, never sooner than repeat, per (task, assignee).
    let mut deliveries: std::collections::HashMap<(String, String), Vec<Instant>> =
        std::collections::HashMap::new();
    for e in env.fake.expedites() {
        for u in e.expediting_user_ids {
            deliveries
                .entry((e.task_id.clone(), u))
                .or_default()
                .push(e.at);
        }
    }
    assert!(
        !deliveries.is_empty(),
        "seed {seed}: something was expedited"
    );
    for (pair, times) in &deliveries {
        assert!(
            times.len() <= max_times,
            "seed {seed}: {pair:?} reminded {} times",
            times.len()
        );
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap + Duration::from_millis(250) >= repeat,
                "seed {seed}: {pair:?} reminded again after {gap:?}"
            );
        }
    }
    // Never faster than the rate: 600/min is 30 calls in any 3 s, retries included.
    for endpoint in [Endpoint::Query, Endpoint::Acts(CallKind::Expedite)] {
        let times: Vec<Instant> = env.fake.calls_to(endpoint).iter().map(|c| c.at).collect();
        let most = max_in_window(&times, Duration::from_secs(3));
        assert!(
            most <= 30,
            "seed {seed}: {endpoint:?} had {most} calls in 3 s"
        );
    }
}

/// Counters the README lists are on `/metrics` at 0 from the start, before their first
/// increase (a rate() over a series that does not exist yet is empty, not 0).
#[tokio::test]
async fn counters_are_exposed_at_zero_before_they_first_increase() {
    let env = TestEnv::new().await;
    let port = with_metrics(&env);
    // No tick runs during the test: nothing is counted.
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("expediter started", 1, Duration::from_secs(15))
        .await;
    let body = scrape(port).await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    for series in [
        "expediter_expedites_total{rule=\"default\",outcome=\"sent\"} 0",
        "expediter_expedites_total{rule=\"default\",outcome=\"unknown\"} 0",
        "expediter_api_calls_total{api=\"user_task.expediting\",result=\"ok\"} 0",
        "expediter_rate_limit_waits_total 0",
    ] {
        assert!(body.contains(series), "missing {series}:\n{body}");
    }
}

#[tokio::test]
async fn metrics_are_scraped_during_run() {
    let env = TestEnv::new().await;
    let port = with_metrics(&env);
    with_cron(&env, "* * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u2"], 2 * HOUR));
    env.fake.inject(
        Fault::new(
            Endpoint::Query,
            FaultKind::RateLimit {
                reset_secs: Some(1),
            },
        )
        .user("u3"),
    );
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("cycle finished", 2, Duration::from_secs(15))
        .await;
    let body = scrape(port).await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    for series in [
        "expediter_expedites_total{rule=\"default\",outcome=\"sent\"} 1",
        "expediter_api_calls_total{api=\"user_task.query\",result=\"ok\"}",
        "expediter_api_calls_total{api=\"user_task.query\",result=\"rate_limited\"} 1",
        "expediter_api_calls_total{api=\"user_task.expediting\",result=\"ok\"} 1",
        "expediter_rate_limit_waits_total 1",
        "expediter_cycle_duration_seconds_bucket{le=\"0.5\"}",
        "expediter_cycle_duration_seconds_count",
        "expediter_last_cycle_success_timestamp_seconds",
        "expediter_pending_tasks 2",
        "expediter_oldest_pending_task_age_seconds",
    ] {
        assert!(body.contains(series), "missing {series}:\n{body}");
    }
    let oldest: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("expediter_oldest_pending_task_age_seconds "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(oldest >= 30.0 * 3600.0, "{oldest}");
    assert!(!body.contains(APP_SECRET), "no secret in metrics");
}

#[tokio::test]
async fn a_second_instance_on_one_sqlite_file_is_refused_naming_the_first() {
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let first = Daemon::start(&env, &[]);
    first
        .wait_for("expediter started", 1, Duration::from_secs(10))
        .await;
    let pid = first.pid();
    for command in [vec!["run"], vec!["once"], vec!["once", "--dry-run"]] {
        let run = env.run(&command).await;
        assert_eq!(run.code, 1, "{command:?}: {}", run.all());
        assert!(
            run.stderr.contains(&format!("pid {pid}")) && run.stderr.contains("expediter.db.lock"),
            "{command:?} names the process holding the database: {}",
            run.stderr
        );
    }
    // Read-only commands, and silences, work alongside.
    for command in [
        vec!["plan"],
        vec!["report"],
        vec!["silence", "list"],
        vec!["silence", "add", "--task", "t1", "--for", "1h"],
    ] {
        let run = env.run(&command).await;
        assert_eq!(run.code, 0, "{command:?}: {}", run.all());
    }
    let (code, _, log) = first.stop().await;
    assert_eq!(code, 0, "{log}");
    // Once it is gone, the next one starts.
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
}

#[tokio::test]
async fn a_reload_naming_the_same_sqlite_file_another_way_keeps_the_store() {
    let env = TestEnv::new().await;
    with_cron(&env, "*/2 * * * * *");
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(10))
        .await;
    // The same file through another path: the daemon holds its lock, and keeps holding it.
    let state = env.db_path.parent().unwrap();
    let other = state.join("..").join("state").join("expediter.db");
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        text.replace(
            &format!("database = \"{}\"", env.db_path.display()),
            &format!("database = \"{}\"", other.display()),
        ),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon
        .wait_for("config reloaded", 1, Duration::from_secs(5))
        .await;
    daemon.wait_for_next_cycle().await;
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("reload failed"), "{log}");
    assert_eq!(env.fake.expedites().len(), 1, "{log}");
}
