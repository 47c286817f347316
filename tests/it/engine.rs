//! The engine at organisation size and under an odd gateway: a real send deadline, listings
//! finished only on evidence, nothing counted as sent that never left, bounded answers.

use std::time::Duration;

use chrono::TimeZone;

use crate::helpers::*;
use expediter::clock::Clock;
use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind};

/// A moment in Shanghai, as UTC.
fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> chrono::DateTime<chrono::Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn calls_stop_at_the_first_tick_after_the_listing_not_an_interval_later() {
        // Twice a day: the interval after the next tick is 15 h, but the next tick itself is 2 s
        // away when the listing ends. At 600/min (0.1 s a call), about 19 calls fit before it.
        let env = TestEnv::new().await;
        env.write_config("requests_per_minute = 600", RULE_ONCE_AFTER_24H);
        with_cron(&env, "0 0 9,18 * * *");
        // Every age counts from the engine's clock, so the test means the same on any real date.
        let clock = Clock::starting_at(shanghai(2026, 11, 30, 17, 59, 58));
        for i in 0..60 {
            env.add(
                FakeTask::new(format!("t{i:02}"), &["u1"], (30 + i) as u32 * HOUR).as_of(clock.now()),
            );
        }
        let engine = env.engine(clock.clone()).await;
        let report = engine.run_cycle(false).await.unwrap();
        let sent = env.fake.expedites();
        assert_eq!(report.expedites_sent as usize, sent.len());
        assert!(
            !sent.is_empty() && sent.len() < 40,
            "calls stop before the 18:00 tick: {} sent",
            sent.len()
        );
        assert_eq!(
            report.expedites_sent + report.expedites_carried_over,
            60,
            "what did not go is carried over and counted: {report:?}"
        );
        // The most overdue went first.
        let first: Vec<&str> = sent.iter().map(|e| e.task_id.as_str()).collect();
        assert_eq!(first[0], "t59");
        assert!(first.windows(2).all(|w| w[0] > w[1]), "{first:?}");
        // The next tick (at 18:00) sends the rest, the most overdue of them first, until the
        // tick after it (09:00 the next day).
        clock.set(shanghai(2026, 11, 30, 18, 0, 0));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_carried_over, 0, "{report:?}");
        assert_eq!(env.fake.expedites().len(), 60);
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn escalations_stop_at_the_deadline_too() {
        let env = TestEnv::new().await;
        env.write_config(
            "requests_per_minute = 600",
            r#"
    [[rules]]
    name = "chase"
    after = "1h"
    max_times = 1

    [rules.escalate]
    after_times = 1
    cc = ["7000"]
    "#,
        );
        with_cron(&env, "0 0 9,18 * * *");
        let clock = Clock::starting_at(shanghai(2026, 11, 30, 9, 0, 0));
        for i in 0..40 {
            env.add(FakeTask::new(format!("t{i:02}"), &["u1"], 30 * HOUR).as_of(clock.now()));
        }
        let engine = env.engine(clock.clone()).await;
        // Every task reminded at 09:00, well before the next tick.
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_sent, 40, "{report:?}");
        // At 17:59:58 all 40 escalations are due; about 19 fit before 18:00.
        clock.set(shanghai(2026, 11, 30, 17, 59, 58));
        let report = engine.run_cycle(false).await.unwrap();
        let ccs = env.fake.ccs().len() as u64;
        assert!(
            ccs > 0 && ccs < 30,
            "escalations stop before the tick: {ccs}"
        );
        assert_eq!(report.escalations_sent, ccs);
        assert_eq!(
            report.escalations_sent + report.escalations_carried_over,
            40,
            "{report:?}"
        );
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn answers_without_a_count_finish_nothing_they_did_not_show_ended() {
        // 120 pending tasks for u1; then the gateway drops `count`. The listing pages on until a
        // short page, so it sees all three pages and finishes nothing.
        let env = TestEnv::new().await;
        for i in 0..120 {
            env.add(FakeTask::new(format!("t{i:03}"), &["u1"], HOUR));
        }
        assert_eq!(env.run(&["once"]).await.code, 0);
        env.fake.set_omit_count(true);
        for _ in 0..3 {
            let run = env.run(&["once"]).await;
            assert_eq!(run.code, 0, "{}", run.all());
            assert!(run.stderr.contains("tasks_finished=0"), "{}", run.stderr);
        }
        assert_eq!(env.plan_json().await.len(), 120);
        // Without a count, a task that really finished is still found out.
        env.fake.finish_task("t007");
        env.run(&["once"]).await;
        let run = env.run(&["once"]).await;
        assert!(run.stderr.contains("tasks_finished=1"), "{}", run.stderr);
        assert_eq!(env.plan_json().await.len(), 119);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_listing_that_never_shows_its_end_fails_and_keeps_every_task() {
        // 51 tasks: the first page is full. Then the gateway drops `count` and answers every
        // page as the first (it ignores `offset`): the page is always full, no end is ever seen,
        // and the 51st task never shows. Nothing may be finished on such a listing.
        let env = TestEnv::new().await;
        for i in 0..51 {
            env.add(FakeTask::new(format!("t{i:03}"), &["u1"], HOUR));
        }
        assert_eq!(env.run(&["once"]).await.code, 0);
        env.fake.set_omit_count(true);
        env.fake.set_repeat_first_page(true);
        for _ in 0..2 {
            let run = env.run(&["once"]).await;
            assert_eq!(run.code, 1, "{}", run.all());
            assert!(
                run.stderr
                    .contains("no end of the listing seen within 200 pages"),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("users_failed=1") && run.stderr.contains("tasks_missing=0"),
                "{}",
                run.stderr
            );
        }
        assert_eq!(env.plan_json().await.len(), 51);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn an_unreadable_entry_keeps_the_others_and_finishes_nothing() {
        let env = TestEnv::new().await;
        for i in 0..3 {
            env.add(FakeTask::new(format!("t{i}"), &["u1"], HOUR));
        }
        assert_eq!(env.run(&["once"]).await.code, 0);
        env.fake.set_unreadable("t1");
        for _ in 0..3 {
            let run = env.run(&["once"]).await;
            assert!(run.stderr.contains("could not be read"), "{}", run.stderr);
            assert!(run.stderr.contains("tasks_finished=0"), "{}", run.stderr);
        }
        let plan = env.plan_json().await;
        assert_eq!(
            plan.len(),
            3,
            "t1 is kept although its entry cannot be read"
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn no_token_at_send_time_means_not_sent_and_still_due() {
        // A token that lives 1 s (refreshed after 0.75 s) and a listing that takes longer: the
        // expedite needs a new token, and the token endpoint fails from then on.
        let env = TestEnv::new().await;
        env.fake.set_token_ttl(Duration::from_secs(1));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake.inject(
            Fault::new(
                Endpoint::Query,
                FaultKind::Hang(Duration::from_millis(1200)),
            )
            .user("u3"),
        );
        env.fake.inject(
            Fault::new(Endpoint::Token, FaultKind::Status(503))
                .after(1)
                .always(),
        );
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("expedites_sent=0")
                && run.stderr.contains("expedites_unknown=0")
                && run.stderr.contains("expedites_failed=1"),
            "{}",
            run.stderr
        );
        assert!(env.fake.expedites().is_empty());
        let plan = env.plan_json().await;
        assert_eq!(plan[0]["expedites_sent"], 0, "{plan:?}");
        // The token endpoint is back: the reminder goes out.
        env.fake.clear_faults();
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.expedites().len(), 1);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_refused_token_that_cannot_be_renewed_mid_call_is_not_sent() {
        // The expedite's token is refused (99991663); fetching a new one fails: the call never
        // reached the expediting API, so it stays due.
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::Code {
                code: 99991663,
                http_status: 400,
            },
        ));
        env.fake.inject(
            Fault::new(Endpoint::Token, FaultKind::Status(503))
                .after(1)
                .always(),
        );
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("expedites_unknown=0") && run.stderr.contains("expedites_failed=1"),
            "{}",
            run.stderr
        );
        env.fake.clear_faults();
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(
            env.fake.expedites().len(),
            1,
            "delivered once, on the next run"
        );
    }
}

/// Runs the binary to its end; its exit code, its log and the highest resident memory (KiB)
/// seen while it ran (`VmHWM`, read every 10 ms: it only grows, so the last reading before the
/// end is the peak but for the last moments).
async fn run_watching_memory(env: &TestEnv, args: &[&str]) -> (i32, u64, String) {
    let mut child = env
        .command(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .unwrap();
        text
    });
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    (status.code().unwrap_or(-1), peak, log.await.unwrap())
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn an_endless_answer_is_cut_off_and_fails_only_its_call() {
        let env = TestEnv::new().await;
        env.write_config("request_timeout = \"30s\"", RULE_ONCE_AFTER_24H);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
        // u2's listing never ends (256 MiB streamed, every try); the expedite of t1 never ends either.
        env.fake.inject(
            Fault::new(Endpoint::Query, FaultKind::EndlessBody)
                .user("u2")
                .always(),
        );
        env.fake
            .inject(Fault::new(Endpoint::Acts(CallKind::Expedite), FaultKind::EndlessBody).task("t1"));
        let (code, peak_kib, log) = run_watching_memory(&env, &["once"]).await;
        assert!(peak_kib > 0, "the process was watched");
        assert_eq!(code, 1, "{log}");
        assert!(log.contains("larger than 8 MiB"), "{log}");
        assert!(
            log.contains("users_failed=1") && log.contains("expedites_unknown=1"),
            "the listing failed, the expedite may have acted: {log}"
        );
        assert!(
            peak_kib < 96 * 1024,
            "memory stays bounded: peak {peak_kib} KiB"
        );
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_counted_listing_of_more_than_200_pages_is_read_to_its_end() {
        // The page bound holds only for answers without a count: one assignee with 10,020 tasks
        // (201 pages) is listed in full, and finishing one of them is noticed.
        let env = TestEnv::new().await;
        env.write_config("requests_per_minute = 60000", RULE_ONCE_AFTER_24H);
        for i in 0..10_020 {
            env.add(FakeTask::new(format!("t{i:05}"), &["u1"], HOUR));
        }
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stderr.contains("tasks_new=10020"), "{}", run.stderr);
        env.fake.finish_task("t10019");
        env.run(&["once"]).await;
        let run = env.run(&["once"]).await;
        assert!(run.stderr.contains("tasks_finished=1"), "{}", run.stderr);
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn sigterm_while_a_30k_backlog_is_decided_ends_the_daemon_within_10s() {
        // A day-one backlog: 30,000 overdue tasks over 300 users, decided and "sent" in a dry run
        // (no pacing between calls). SIGTERM as soon as the last page is listed, while the batch of
        // tasks first seen this cycle is decided and ordered.
        let env = TestEnv::new().await;
        let users: String = (0..300)
            .map(|i| format!("[[users]]\nid = \"b{i:03}\"\n"))
            .collect();
        env.write_config_with_users("requests_per_minute = 600000", &users, RULE_ONCE_AFTER_24H);
        let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
            "operator_user_id = \"7000\"",
            "operator_user_id = \"7000\"\ndry_run = true",
        );
        std::fs::write(&env.config_path, text).unwrap();
        with_cron(&env, "* * * * * *");
        for t in 0..30_000u32 {
            env.add(FakeTask::new(
                format!("t{t:05}"),
                &[&format!("b{:03}", t % 300)],
                (30 + t % 500) * HOUR,
            ));
        }
        let daemon = Daemon::start(&env, &[]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while env.fake.calls_to(Endpoint::Query).len() < 600 {
            assert!(tokio::time::Instant::now() < deadline, "{}", daemon.log());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (code, took, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        assert!(
            took < Duration::from_secs(10),
            "took {took:?} to stop:\n{log}"
        );
    }
}
