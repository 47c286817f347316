//! `[schedule] listing = "auto"`: a user is listed when something about them can matter, on the
//! engine's movable clock, tick by tick (10 minutes apart).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::helpers::*;
use expediter::clock::Clock;
use expediter::cycle::{CycleReport, Engine};
use expediter::fake::{Endpoint, FakeTask};

const RULES: &str = r#"
[[rules]]
name = "chase"
after = "4h"
repeat = "3h"
max_times = 3
"#;

/// A test tenant on a clock of its own: ticks every 10 minutes from a Monday 09:00 (Shanghai)
/// two years on, so every real task age is in the past.
struct Sim {
    env: TestEnv,
    clock: Clock,
    engine: Engine,
    start: DateTime<Utc>,
}

impl Sim {
    async fn new(extra: &str) -> Sim {
        let env = TestEnv::new().await;
        env.write_config("", &format!("{RULES}\n{extra}"));
        with_cron(&env, "0 */10 * * * *");
        let year = Utc::now().format("%Y").to_string().parse::<i32>().unwrap() + 2;
        let start = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(year, 3, 1, 9, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::starting_at(start);
        let mut engine = env.engine(clock.clone()).await;
        engine.auto_listing = true;
        Sim {
            env,
            clock,
            engine,
            start,
        }
    }

    /// A task for `users` that started `minutes` after the simulation's start.
    fn task(&self, id: &str, users: &[&str], minutes: i64) {
        let mut t = FakeTask::new(id, users, Duration::ZERO);
        t.start_ms = Some((self.start + TimeDelta::minutes(minutes)).timestamp_millis());
        self.env.add(t);
    }

    /// Runs the tick `n` ticks after the start (a second after its fire time, as a daemon's
    /// tick comes); the users it listed.
    async fn tick(&self, n: i64) -> (BTreeSet<String>, CycleReport) {
        self.clock
            .set(self.start + TimeDelta::minutes(10 * n) + TimeDelta::seconds(1));
        let before = self.env.fake.calls_to(Endpoint::Query).len();
        let report = self.engine.run_cycle(false).await.unwrap();
        let listed = self.env.fake.calls_to(Endpoint::Query)[before..]
            .iter()
            .filter_map(|c| c.user.clone())
            .collect();
        (listed, report)
    }
}

/// `listing = "auto"` in the env's config.
fn auto_listing(env: &TestEnv) {
    let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
        "timezone = \"Asia/Shanghai\"",
        "timezone = \"Asia/Shanghai\"\nlisting = \"auto\"",
    );
    std::fs::write(&env.config_path, text).unwrap();
}

fn set(users: &[&str]) -> BTreeSet<String> {
    users.iter().map(|u| (*u).to_owned()).collect()
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_new_task_is_discovered_before_it_can_be_due_and_reminded_in_its_tick() {
        let sim = Sim::new("").await;
        // The first tick lists everyone; the next ones nobody (after = 4h: every 2 h).
        let (listed, _) = sim.tick(0).await;
        assert_eq!(listed, set(&["u1", "u2", "u3"]));
        let (listed, report) = sim.tick(1).await;
        assert!(listed.is_empty(), "{listed:?}");
        assert_eq!(report.users_not_due, 3);
        // A task arrives at 09:25; it is due at 13:25, so the 13:30 tick reminds it.
        sim.task("t1", &["u1"], 25);
        let mut discovered_at = None;
        let mut reminded_at = None;
        for n in 2..=27 {
            let (listed, report) = sim.tick(n).await;
            if listed.contains("u1") && discovered_at.is_none() {
                discovered_at = Some(n);
            }
            if report.expedites_sent > 0 {
                assert!(listed.contains("u1"), "confirmed in the tick it is due");
                reminded_at.get_or_insert(n);
            }
        }
        let discovered_at = discovered_at.expect("discovered");
        assert!(
            discovered_at * 10 - 25 < 4 * 60,
            "known before it can be due: tick {discovered_at}"
        );
        assert_eq!(reminded_at, Some(27), "13:30, the first tick after 13:25");
        // Listings: everyone at the start, discovery every 2 h, the confirmation: far fewer than
        // 28 ticks × 3 users.
        let listings = sim.env.fake.calls_to(Endpoint::Query).len();
        assert!(listings <= 3 * 4 + 2, "{listings} listings");
        sim.engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_due_shared_task_lists_every_watched_assignee_in_its_tick() {
        let sim = Sim::new("").await;
        // Started long ago: due from the start. The first tick lists everyone and reminds.
        sim.task("shared", &["u1", "u2"], -10 * 60);
        let (_, report) = sim.tick(0).await;
        assert_eq!(report.expedites_sent, 2);
        // 3 h after the reminder (sent a moment after the 09:00 tick) the repeat is due, at the
        // 12:10 tick: both assignees are listed in that tick, not only one.
        for n in 1..19 {
            let (listed, report) = sim.tick(n).await;
            assert!(
                !(listed.contains("u1") ^ listed.contains("u2")) || report.expedites_sent == 0,
                "tick {n}: {listed:?}"
            );
            assert_eq!(report.expedites_sent, 0, "tick {n}");
        }
        let (listed, report) = sim.tick(19).await;
        assert_eq!(listed, set(&["u1", "u2"]), "both confirmed before the call");
        assert_eq!(report.expedites_sent, 2, "{report:?}");
        sim.engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_task_missing_from_a_listing_is_rechecked_next_tick() {
        let sim = Sim::new("").await;
        sim.task("t2", &["u1"], -5); // due at 12:55
        sim.tick(0).await;
        // t2 finishes at once; u1's next listing (discovery, within 2 h 20 min) lacks it.
        sim.env.fake.finish_task("t2");
        let mut lacked_at = None;
        for n in 1..=14 {
            let (listed, report) = sim.tick(n).await;
            assert_eq!(
                report.tasks_finished, 0,
                "one listing is no proof: {report:?}"
            );
            if report.tasks_missing == 1 {
                assert!(listed.contains("u1"));
                lacked_at = Some(n);
                break;
            }
        }
        let lacked_at = lacked_at.expect("u1 listed for discovery");
        // The next tick lists u1 again (nothing else would: nothing of theirs is due or reminded,
        // and the discovery that lacked it was at u1's point, the next one 2 h on) and finishes
        // t2, as `every_tick` would.
        let (listed, report) = sim.tick(lacked_at + 1).await;
        assert!(listed.contains("u1"), "{listed:?}");
        assert_eq!(report.tasks_finished, 1, "{report:?}");
        sim.engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_reminded_assignee_is_followed_up_every_hour_while_the_task_is_pending() {
        let sim = Sim::new("").await;
        sim.task("t1", &["u1"], -10 * 60);
        sim.tick(0).await; // reminded
        let mut u1_ticks = Vec::new();
        for n in 1..=12 {
            let (listed, _) = sim.tick(n).await;
            if listed.contains("u1") {
                u1_ticks.push(n);
            }
        }
        // Every 6 ticks (1 h, at u1's point of the hour, which falls in the tick on the hour),
        // not every tick; u2 and u3 only on discovery (2 h).
        assert_eq!(u1_ticks, vec![6, 12], "{u1_ticks:?}");
        // The task finishes; follow-up finds it out within the hour.
        sim.env.fake.finish_task("t1");
        let mut finished = 0;
        for n in 13..=30 {
            finished += sim.tick(n).await.1.tasks_finished;
        }
        assert_eq!(finished, 1);
        sim.engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn users_a_digest_selects_are_listed_in_the_tick_before_it() {
        let digest = |env_dir: &std::path::Path| {
            let hook = env_dir.join("hook");
            std::fs::write(&hook, "http://127.0.0.1:9/open-apis/bot/v2/hook/x").unwrap();
            format!(
                "[[digests]]\nname = \"ops\"\ncron = \"0 5 10 * * *\"\nteams = [\"ops\"]\nwebhook_url_file = \"{}\"\n",
                hook.display()
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let sim = Sim::new(&digest(dir.path())).await;
        std::fs::set_permissions(
            dir.path().join("hook"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        sim.tick(0).await;
        // 10:00 is the last tick before the 10:05 digest: u3 (ops) is listed then, not before.
        for n in 1..6 {
            let (listed, _) = sim.tick(n).await;
            assert!(listed.is_empty(), "tick {n}: {listed:?}");
        }
        let (listed, report) = sim.tick(6).await;
        assert_eq!(listed, set(&["u3"]), "{report:?}");
        sim.engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn plan_shows_each_users_last_and_next_listing() {
        let env = TestEnv::new().await;
        auto_listing(&env);
        env.add(FakeTask::new("t1", &["u1"], HOUR));
        assert_eq!(env.run(&["once"]).await.code, 0);
        let plan = env.run(&["plan"]).await;
        assert_eq!(plan.code, 0, "{}", plan.all());
        assert!(
            plan.stdout
                .contains("Listings (auto: when something about the user can matter):"),
            "{}",
            plan.stdout
        );
        // Listed just now; with after = 24h, discovery lists them again 6 h later.
        let line = plan
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("u1:"))
            .unwrap();
        assert!(
            line.contains("last 20") && line.contains("next by 20"),
            "{line}"
        );
        let json = env.plan_json().await;
        let last =
            chrono::DateTime::parse_from_rfc3339(json[0]["assignee_last_listed"].as_str().unwrap())
                .unwrap();
        let next =
            chrono::DateTime::parse_from_rfc3339(json[0]["assignee_next_listing"].as_str().unwrap())
                .unwrap();
        assert_eq!(next - last, TimeDelta::hours(6), "{json:?}");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn the_daemon_lists_by_the_cadence_and_once_lists_everyone() {
        let env = TestEnv::new().await;
        auto_listing(&env);
        with_cron(&env, "* * * * * *");
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("cycle finished", 4, Duration::from_secs(15))
            .await;
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        // The first tick lists everyone and reminds; later ticks list nobody (after = 24h: every
        // 6 h; the reminded u1 every hour).
        assert_eq!(env.fake.expedites().len(), 1, "{log}");
        assert!(log.contains("users_not_due=3"), "{log}");
        assert!(log.contains("users_listed=3"), "{log}");
        // `once` lists everyone whatever the cadence says.
        let run = env.run(&["once"]).await;
        assert!(
            run.stderr.contains("users_listed=3") && run.stderr.contains("users_not_due=0"),
            "{}",
            run.stderr
        );
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn an_away_users_task_is_listed_and_moved_in_the_tick_it_falls_due() {
        let sim = Sim::new("[away]\ndeputy_action = \"transfer\"\n").await;
        sim.tick(0).await;
        sim.engine
            .store
            .add_away(
                &expediter::store::NewAway {
                    user_id: "u1",
                    from: sim.start,
                    until: sim.start + TimeDelta::days(7),
                    deputy: Some("u2"),
                    reason: "leave",
                    created_by: "test",
                },
                sim.start,
            )
            .await
            .unwrap();
        // A task arrives at 09:25; due at 13:25: the 13:30 tick lists u1 and moves it.
        sim.task("t1", &["u1"], 25);
        let mut moved_at = None;
        for n in 1..=40 {
            let (listed, report) = sim.tick(n).await;
            if report.moves_sent > 0 {
                assert!(listed.contains("u1"), "confirmed in the tick it is due");
                moved_at.get_or_insert(n);
            }
        }
        assert_eq!(moved_at, Some(27), "13:30, the first tick after 13:25");
        assert_eq!(sim.env.fake.moves().len(), 1);
        sim.engine.store.close().await;
    }
}

both_backends! {
    /// An away user whose task is due for a move that the planner will not make — the deputy
    /// is away too, or already holds the task (add_assignee) — is not listed every tick for
    /// it: the cadence asks the planner's own question.
    #[tokio::test]
    pub async fn an_away_user_whose_move_cannot_go_is_not_listed_every_tick() {
        for (action, deputy_away) in [("transfer", true), ("add_assignee", false)] {
            let sim = Sim::new(&format!("[away]\ndeputy_action = \"{action}\"\n")).await;
            sim.tick(0).await;
            for (user, deputy) in [("u1", "u2"), ("u2", "u3")] {
                if user == "u2" && !deputy_away {
                    continue;
                }
                sim.engine
                    .store
                    .add_away(
                        &expediter::store::NewAway {
                            user_id: user,
                            from: sim.start,
                            until: sim.start + TimeDelta::days(7),
                            deputy: Some(deputy),
                            reason: "leave",
                            created_by: "test",
                        },
                        sim.start,
                    )
                    .await
                    .unwrap();
            }
            // Due at 13:25 (after 4 h); with add_assignee, u2 holds the task already.
            let holders: &[&str] = if deputy_away { &["u1"] } else { &["u1", "u2"] };
            sim.task("t1", holders, 25);
            let mut u1_listed = 0;
            for n in 1..=60 {
                let (listed, _) = sim.tick(n).await;
                if n > 27 && listed.contains("u1") {
                    u1_listed += 1;
                }
            }
            assert!(sim.env.fake.moves().is_empty(), "{action}: {:?}", sim.env.fake.moves());
            // 32 ticks after it fell due: discovery only (every 2 h), not every tick.
            assert!(u1_listed <= 4, "{action}: u1 listed in {u1_listed} ticks after the move fell due");
            sim.engine.store.close().await;
        }
    }
}
