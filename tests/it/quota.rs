//! Feishu's monthly quota answer (99991403): every counted call held back until the first of
//! the next month in Asia/Shanghai (or a reload), said once, never retried as a rate limit.

use std::time::Duration;

use chrono::TimeZone;

use crate::helpers::*;
use expediter::clock::Clock;
use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind};

fn shanghai(y: i32, mo: u32, d: u32, h: u32) -> chrono::DateTime<chrono::Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn quota() -> FaultKind {
    FaultKind::Code {
        code: 99991403,
        http_status: 429,
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_used_up_quota_holds_every_call_until_the_first_of_the_next_month() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        // The year after next, so that every task is old enough on the engine's clock.
        let year = chrono::Utc::now()
            .format("%Y")
            .to_string()
            .parse::<i32>()
            .unwrap()
            + 2;
        let clock = Clock::starting_at(shanghai(year, 3, 15, 10));
        let engine = env.engine(clock.clone()).await;
        env.fake
            .inject(Fault::new(Endpoint::Query, quota()).user("u1"));
        let err = engine.run_cycle(false).await.unwrap_err();
        assert!(err.is_quota_hold(), "{err}");
        // Not retried as a rate limit, and nothing else was called after it.
        let listings = env.fake.calls_to(Endpoint::Query).len();
        assert_eq!(listings, 1);
        assert_eq!(
            engine.client.quota_hold(),
            Some(shanghai(year, 4, 1, 0)),
            "held until the 1st in Shanghai"
        );
        // Hours and days later in the month: no call at all.
        for days in [0, 5, 16] {
            clock.set(shanghai(year, 3, 15 + days, 12));
            let err = engine.run_cycle(false).await.unwrap_err();
            assert!(err.is_quota_hold(), "{err}");
            assert!(
                err.to_string().contains(&format!("{year}-04-01 00:00")),
                "{err}"
            );
        }
        assert_eq!(env.fake.calls_to(Endpoint::Query).len(), listings);
        assert!(env.fake.expedites().is_empty());
        // The 1st: calls resume, and the due reminder goes out.
        clock.set(shanghai(year, 4, 1, 0) + chrono::TimeDelta::seconds(1));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_sent, 1, "{report:?}");
        assert_eq!(engine.client.quota_hold(), None);
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_reminder_answered_with_the_quota_code_was_not_sent_and_stays_due() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["u2"], 31 * HOUR));
        let year = chrono::Utc::now()
            .format("%Y")
            .to_string()
            .parse::<i32>()
            .unwrap()
            + 2;
        let clock = Clock::starting_at(shanghai(year, 12, 20, 10));
        let engine = env.engine(clock.clone()).await;
        env.fake.inject(Fault::new(Endpoint::Acts(CallKind::Expedite), quota()));
        let _ = engine.run_cycle(false).await;
        // The first call got the answer; the second was held back, never sent.
        assert_eq!(env.fake.calls_to(Endpoint::Acts(CallKind::Expedite)).len(), 1);
        assert!(env.fake.expedites().is_empty());
        assert_eq!(
            engine.client.quota_hold(),
            Some(shanghai(year + 1, 1, 1, 0))
        );
        clock.set(shanghai(year + 1, 1, 1, 9));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(
            (report.expedites_sent, report.expedites_unknown),
            (2, 0),
            "both stayed due: {report:?}"
        );
        assert_eq!(env.fake.expedites().len(), 2);
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn the_daemon_says_it_once_stays_up_and_resumes_on_reload() {
        let env = TestEnv::new().await;
        let port = with_metrics(&env);
        with_cron(&env, "* * * * * *");
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake
            .inject(Fault::new(Endpoint::Query, quota()).always());
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("cycle stopped", 3, Duration::from_secs(15))
            .await;
        let metrics = || scrape(port);
        assert!(
            metrics().await.contains("expediter_quota_exhausted 1"),
            "{}",
            metrics().await
        );
        let log = daemon.log();
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        assert_eq!(errors.len(), 1, "said once, at ERROR: {log}");
        assert!(
            errors[0].contains("monthly API quota is used up") && errors[0].contains("SIGHUP"),
            "what happened and what to do: {log}"
        );
        assert_eq!(
            env.fake.calls_to(Endpoint::Query).len(),
            1,
            "nothing called during the hold"
        );
        // The tenant raised its quota; the operator reloads.
        env.fake.clear_faults();
        daemon.signal("HUP");
        daemon
            .wait_for("hold ends early on reload", 1, Duration::from_secs(10))
            .await;
        daemon.wait_for_next_cycle().await;
        assert!(metrics().await.contains("expediter_quota_exhausted 0"));
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        assert_eq!(env.fake.expedites().len(), 1, "{log}");
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_listing_that_ends_the_cycle_lets_the_call_in_flight_finish() {
        // u1 is listed and t1's reminder goes out, answered only after 1.5 s; meanwhile u3's
        // listing gets the quota answer, which ends the cycle. The reminder is not cut off: its
        // answer arrives and is recorded as it is, not settled as outcome unknown.
        let env = TestEnv::new().await;
        // Known before the cycle (a task first seen is decided only when the listing ends), and
        // due 3 s later.
        env.add(FakeTask::new(
            "t1",
            &["u1"],
            24 * HOUR - Duration::from_secs(3),
        ));
        let run = env.run(&["once"]).await;
        assert_eq!(
            (run.code, env.fake.expedites().len()),
            (0, 0),
            "{}",
            run.all()
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        env.fake.inject(
            Fault::new(
                Endpoint::Acts(CallKind::Expedite),
                FaultKind::Hang(Duration::from_millis(1500)),
            )
            .times(1),
        );
        // u2's listing takes 0.5 s (the reminder is in flight by then), u3's gets the quota answer.
        env.fake.inject(
            Fault::new(Endpoint::Query, FaultKind::Hang(Duration::from_millis(500)))
                .user("u2")
                .times(1),
        );
        env.fake
            .inject(Fault::new(Endpoint::Query, quota()).user("u3").times(1));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(run.stderr.contains("99991403"), "{}", run.stderr);
        assert_eq!(env.fake.expedites().len(), 1, "{}", run.all());
        assert!(
            !run.stderr.contains("outcome unknown"),
            "the call finished and its answer was recorded: {}",
            run.stderr
        );
    }
}
