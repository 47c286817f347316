//! The expediting cycle end to end: the real binary against the fake Feishu.

use std::time::Duration;

use crate::helpers::*;
use expediter::fake::{Endpoint, FakeTask, Fault, FaultKind};

both_backends! {
    #[tokio::test]
    pub async fn pages_over_120_tasks_by_offset() {
        let env = TestEnv::new().await;
        for i in 0..120 {
            env.add(FakeTask::new(format!("t{i:03}"), &["u1"], HOUR));
        }
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let offsets: Vec<Option<u64>> = env
            .fake
            .calls_to(Endpoint::Query)
            .iter()
            .filter(|c| c.user.as_deref() == Some("u1"))
            .map(|c| c.offset)
            .collect();
        assert_eq!(offsets, vec![Some(0), Some(50), Some(100)]);
        let plan = env.plan_json().await;
        assert_eq!(plan.len(), 120);
        assert!(
            plan.iter().all(|e| e["status"] == "waiting"),
            "nothing is 24h old yet"
        );
        assert!(run.stderr.contains("tasks_new=120"), "{}", run.stderr);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn shared_task_is_expedited_in_one_call_naming_both() {
        let env = TestEnv::new().await;
        env.add(
            FakeTask::new("shared", &["u1", "u2"], 30 * HOUR)
                .label("报销：差旅", "Expense: travel")
                .initiator("9001", "Zhao Lei"),
        );
        env.add(FakeTask::new("young", &["u1"], HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let sent = env.fake.expedites();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let e = &sent[0];
        assert_eq!(e.task_id, "shared");
        assert_eq!(e.expediting_user_ids, vec!["u1", "u2"]);
        assert_eq!(e.operator_user_id, "7000");
        // Chinese label, human age, n, names, rule, initiator and id all rendered.
        assert_eq!(
            e.opinion.as_deref(),
            Some(
                "报销：差旅 waited 1天6小时 (#1) for Zhang San, Li Si, rule default, from Zhao Lei, task shared"
            )
        );
        assert!(
            run.stderr.contains("expedited task shared"),
            "{}",
            run.stderr
        );
    }
}

both_backends! {
    /// A known task handed to a second watched user is reminded to that user in the cycle that
    /// first lists it for them, whichever of the two is listed first.
    #[tokio::test]
    pub async fn a_task_newly_shared_is_reminded_to_the_new_assignee_at_once() {
        for first_listed in ["u1", "u2"] {
            let env = TestEnv::new().await;
            let owner = first_listed;
            env.add(FakeTask::new("handed", &[owner], 30 * HOUR));
            assert_eq!(env.run(&["once"]).await.code, 0);
            let sent = env.fake.expedites();
            assert_eq!(sent.len(), 1, "{sent:?}");
            assert_eq!(sent[0].expediting_user_ids, [owner]);

            // The task is now pending for both watched users.
            env.fake.finish_task("handed");
            env.add(FakeTask::new("handed", &["u1", "u2"], 30 * HOUR));
            let run = env.run(&["once"]).await;
            assert_eq!(run.code, 0, "{}", run.all());
            let sent = env.fake.expedites();
            let other = if owner == "u1" { "u2" } else { "u1" };
            assert_eq!(
                sent.len(),
                2,
                "first held by {owner}: the second run reminds {other} once\n{sent:?}\n{}",
                run.stderr
            );
            assert_eq!(sent[1].task_id, "handed");
            assert_eq!(
                sent[1].expediting_user_ids,
                [other],
                "{owner} was reminded already"
            );
        }
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_second_once_within_repeat_sends_nothing() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            "[[rules]]\nname = \"r\"\nafter = \"1h\"\nrepeat = \"12h\"\nmax_times = 3\n",
        );
        env.add(FakeTask::new("t1", &["u1"], 2 * HOUR));
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.fake.expedites().len(), 1);
        let second = env.run(&["once"]).await;
        assert_eq!(second.code, 0, "{}", second.all());
        assert_eq!(env.fake.expedites().len(), 1, "nothing within repeat");
        assert!(
            second.stderr.contains("expedites_sent=0"),
            "{}",
            second.stderr
        );
        let plan = env.plan_json().await;
        assert_eq!(plan[0]["expedites_sent"], 1);
        assert_eq!(plan[0]["status"], "waiting");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn max_times_caps_expedites() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            "[[rules]]\nname = \"r\"\nafter = \"1h\"\nrepeat = \"1s\"\nmax_times = 2\n",
        );
        env.add(FakeTask::new("t1", &["u1"], 2 * HOUR));
        // On a clock the test moves: each cycle a little over the 1 s repeat after the last.
        let clock = expediter::clock::Clock::system();
        let engine = env.engine(clock.clone()).await;
        for _ in 0..3 {
            engine.run_cycle(false).await.unwrap();
            clock.advance(Duration::from_millis(1100));
        }
        engine.store.close().await;
        let sent = env.fake.expedites();
        assert_eq!(sent.len(), 2, "{sent:?}");
        let plan = env.plan_json().await;
        assert_eq!(plan[0]["status"], "reminders_over");
        assert!(
            plan[0]["why"]
                .as_str()
                .unwrap()
                .contains("all 2 reminder(s) its rule allows were sent"),
            "{plan:?}"
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn dry_run_sends_and_records_nothing() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["once", "--dry-run"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stderr.contains("would expedite task t1"),
            "{}",
            run.stderr
        );
        assert_eq!(env.expedite_calls(), 0);
        assert_eq!(env.plan_json().await[0]["expedites_sent"], 0);
        // Counted apart from what was sent, so a search for sent reminders never counts it.
        assert!(
            run.stderr.contains("expedites_sent=0") && run.stderr.contains("expedites_would_send=1"),
            "{}",
            run.stderr
        );
        // The config key does the same.
        let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
            "operator_user_id = \"7000\"",
            "operator_user_id = \"7000\"\ndry_run = true",
        );
        std::fs::write(&env.config_path, text).unwrap();
        let run = env.run(&["once"]).await;
        assert!(run.stderr.contains("would expedite"), "{}", run.stderr);
        assert_eq!(env.expedite_calls(), 0);
        // Nothing was recorded as sent, so a real run sends expedite #1.
        env.write_config("", RULE_ONCE_AFTER_24H);
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.fake.expedites().len(), 1);
        assert!(
            env.fake.expedites()[0]
                .opinion
                .as_deref()
                .unwrap()
                .contains("(#1)")
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn users_not_watched_are_never_named() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1", "outsider"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["outsider"], 30 * HOUR));
        assert_eq!(env.run(&["once"]).await.code, 0);
        let sent = env.fake.expedites();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].expediting_user_ids, vec!["u1"]);
        assert!(
            env.fake
                .calls_to(Endpoint::Query)
                .iter()
                .all(|c| c.user.as_deref() != Some("outsider"))
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn more_than_20_due_assignees_go_in_chunks_of_20() {
        let env = TestEnv::new().await;
        let users: String = (0..25)
            .map(|i| format!("[[users]]\nid = \"p{i:02}\"\n"))
            .collect();
        env.write_config_with_users("", &users, RULE_ONCE_AFTER_24H);
        let ids: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        env.add(FakeTask::new("big", &refs, 30 * HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let sizes: Vec<usize> = env
            .fake
            .expedites()
            .iter()
            .map(|e| e.expediting_user_ids.len())
            .collect();
        assert_eq!(sizes, vec![20, 5]);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn finished_tasks_leave_the_plan_only_after_a_complete_listing() {
        let env = TestEnv::new().await;
        for i in 0..60 {
            env.add(FakeTask::new(format!("t{i:02}"), &["u1"], HOUR));
        }
        env.add(FakeTask::new("other", &["u2"], HOUR));
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.plan_json().await.len(), 61);

        // t00 finishes, but u1's second page keeps failing: nothing of u1 may be marked finished.
        env.fake.finish_task("t00");
        env.fake.finish_task("other");
        env.fake.inject(
            Fault::new(Endpoint::Query, FaultKind::Status(500))
                .user("u1")
                .offset(50)
                .always(),
        );
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "a failed listing fails `once`: {}", run.all());
        assert!(run.stderr.contains("users_failed=1"), "{}", run.stderr);
        let plan = env.plan_json().await;
        let status = |plan: &[serde_json::Value], task: &str| {
            plan.iter()
                .find(|e| e["task_id"] == task)
                .map(|e| e["status"].as_str().unwrap().to_owned())
        };
        assert_eq!(
            status(&plan, "t00").as_deref(),
            Some("waiting"),
            "t00 must stay exactly as it was after an incomplete listing"
        );
        assert_eq!(
            status(&plan, "other").as_deref(),
            Some("unconfirmed"),
            "u2 was fully listed without `other`: missing once, finished if the next listing agrees"
        );

        env.fake.clear_faults();
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stderr.contains("tasks_finished=1") && run.stderr.contains("tasks_missing=1"),
            "`other` finished, t00 missing once: {}",
            run.stderr
        );
        let plan = env.plan_json().await;
        assert_eq!(plan.len(), 60);
        assert_eq!(status(&plan, "other"), None);
        assert_eq!(status(&plan, "t00").as_deref(), Some("unconfirmed"));

        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stderr.contains("tasks_finished=1"), "{}", run.stderr);
        let plan = env.plan_json().await;
        assert_eq!(plan.len(), 59);
        assert!(!plan.iter().any(|e| e["task_id"] == "t00"));
    }
}

both_backends! {
    /// A listing byte-for-byte the same as the last complete one is not taken apart again, but
    /// only while nothing changed the user's tasks since: here a cycle marked a task missing and
    /// stopped before its end, and the task came back exactly as it was.
    #[tokio::test]
    pub async fn a_listing_like_an_older_one_is_read_again_after_its_tasks_changed() {
        let env = TestEnv::new().await;
        let a = FakeTask::new("a", &["u1"], HOUR);
        let b = FakeTask::new("b", &["u1"], HOUR);
        env.add(a.clone());
        env.add(b.clone());
        env.add(FakeTask::new("c", &["u2"], HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stderr.contains("tasks_seen=3"), "{}", run.stderr);

        // b leaves u1's list; the cycle stops at u2 (the app lost its access), after u1's
        // listing marked b missing.
        env.fake.finish_task("b");
        env.fake.inject(
            Fault::new(
                Endpoint::Query,
                FaultKind::Code {
                    code: 99991672,
                    http_status: 400,
                },
            )
            .user("u2")
            .always(),
        );
        let run = env.run(&["once"]).await;
        assert_ne!(run.code, 0, "{}", run.all());
        let status = |plan: &[serde_json::Value], task: &str| {
            plan.iter()
                .find(|e| e["task_id"] == task)
                .map(|e| e["status"].as_str().unwrap().to_owned())
        };
        assert_eq!(
            status(&env.plan_json().await, "b").as_deref(),
            Some("unconfirmed")
        );

        // b is back exactly as before: u1's listing is the one of the first cycle again. It must
        // be read, not matched against that cycle's digest, or b would stay missing.
        env.fake.clear_faults();
        env.fake.finish_task("a");
        env.add(a);
        env.add(b);
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stderr.contains("tasks_seen=3"), "{}", run.stderr);
        assert_eq!(
            status(&env.plan_json().await, "b").as_deref(),
            Some("waiting")
        );

        // And an unchanged listing after that still counts what it holds, and finishes nothing.
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stderr.contains("tasks_seen=3") && run.stderr.contains("tasks_finished=0"),
            "{}",
            run.stderr
        );
        assert_eq!(env.plan_json().await.len(), 3);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn plan_reads_the_database_alone() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["u3"], 2 * HOUR));
        assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
        let calls_before = env.fake.calls().len();
        let table = env.run(&["plan"]).await;
        assert_eq!(table.code, 0, "{}", table.all());
        assert_eq!(
            env.fake.calls().len(),
            calls_before,
            "plan makes no API call"
        );
        // Rows, without the lines a wrapped "why" continues on.
        let lines: Vec<&str> = table
            .stdout
            .lines()
            .filter(|l| !l.starts_with(' '))
            .collect();
        assert!(
            lines[0].starts_with("TASK") && lines[0].contains("NEXT / WHY"),
            "{}",
            table.stdout
        );
        assert!(
            lines[1].starts_with("t1 ") && lines[1].contains("due"),
            "due first: {}",
            table.stdout
        );
        assert!(
            lines[2].starts_with("t2 ") && lines[2].contains("waiting"),
            "{}",
            table.stdout
        );
        let plan = env.plan_json().await;
        assert_eq!(plan[0]["assignee"], "Zhang San");
        assert_eq!(plan[0]["rule"], "default");
        assert!(
            plan[1]["next_due"].as_str().unwrap().ends_with("+08:00"),
            "shown in the configured zone: {plan:?}"
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn plan_without_a_database_says_what_to_do() {
        // SQLite: no file yet. PostgreSQL: a database without a table yet.
        let env = TestEnv::new().await;
        let said = if env.on_postgres() {
            "nothing recorded in"
        } else {
            "no database at"
        };
        let run = env.run(&["plan"]).await;
        assert_eq!(
            run.code,
            0,
            "nothing tracked is an empty plan: {}",
            run.all()
        );
        assert!(
            run.stderr.contains(said) && run.stderr.contains("expediter once"),
            "{}",
            run.stderr
        );
        assert!(
            run.stdout.contains("No pending tasks tracked yet"),
            "{}",
            run.stdout
        );
        let run = env.run(&["plan", "--json"]).await;
        assert_eq!((run.code, run.stdout.trim()), (0, "[]"));
        let report = env.run(&["report"]).await;
        assert_eq!(report.code, 0, "{}", report.all());
        assert!(report.stderr.contains(said), "{}", report.stderr);
        let silences = env.run(&["silence", "list", "--json"]).await;
        assert_eq!((silences.code, silences.stdout.trim()), (0, "[]"));
        if env.on_postgres() {
            assert_eq!(env.tables().await, 0, "looking creates no table");
        } else {
            assert!(!env.db_path.exists(), "plan creates no database");
        }
    }
}

/// `demo --keep DIR` leaves a working config to start from: `check` reads it.
#[tokio::test]
pub async fn demo_keep_leaves_a_config_check_reads() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("mine");
    let mut cmd = expediter();
    cmd.args(["demo", "--keep"])
        .arg(&kept)
        .env("RUST_LOG", "warn");
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("(kept)") && stdout.contains("Kept: "),
        "{stdout}"
    );
    let config = kept.join("config.toml");
    assert!(config.exists() && kept.join("expediter.db").exists());
    let check = expediter()
        .arg("-c")
        .arg(&config)
        .arg("check")
        .output()
        .await
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A second demo into the same directory refuses to overwrite it.
    let again = expediter()
        .args(["demo", "--keep"])
        .arg(&kept)
        .output()
        .await
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}

both_backends! {
    #[tokio::test]
    pub async fn demo_runs_a_real_cycle_and_exits_0() {
        let mut cmd = expediter();
        cmd.arg("demo").env("RUST_LOG", "warn");
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Expedited (6 call(s))"), "{stdout}");
        assert!(
            stdout.contains("Expedited again (2 call(s))"),
            "the second cycle's reminders are shown too: {stdout}"
        );
        assert!(
            stdout.contains("deleted when the demo ends; `expediter demo --keep DIR` keeps it"),
            "{stdout}"
        );
        assert!(
            stdout.contains("Escalated (4 call(s))")
                && stdout.contains("(the simulated Feishu received 2 cc and 2 chat_group call(s))"),
            "the demo shows an escalation: {stdout}"
        );
        assert!(
            stdout.contains("Digest \"team-daily\" (dry run")
                && stdout.contains("\"msg_type\": \"interactive\""),
            "the demo ends with a digest: {stdout}"
        );
        assert!(
            stdout.contains("by rule.") && stdout.contains("finance-expenses"),
            "and a report: {stdout}"
        );
        assert!(
            stdout.contains("through the app's bot")
                && stdout.contains("[暂停 1 天] [暂停 3 天] [打开]")
                && stdout.contains("已由 Demo Lead 暂停 1天")
                && stdout.contains("(1 silence(s) from cards)"),
            "a digest through the bot and a click on it: {stdout}"
        );
        assert!(
            stdout.contains("the simulated Feishu received 6 expediting call(s)"),
            "{stdout}"
        );
        assert!(
            stdout.contains("TASK") && stdout.contains("all reminders sent, still waiting"),
            "{stdout}"
        );
        // Chen Liu is away in the demo: held, and the plan says who stands in; their two due
        // tasks are transferred to the deputy, once.
        assert!(
            // (the plan's "why" wraps at 120 columns: its words may be on two lines)
            stdout.contains("away until") && stdout.contains("(deputy 1005)")
                && stdout.contains("annual leave"),
            "the demo shows an away user: {stdout}"
        );
        assert!(
            stdout.contains("Moved to the deputy (2 call(s))")
                && stdout.contains("(the simulated Feishu moved task 7309 from 1004 to 1005)")
                && stdout.contains("(the simulated Feishu moved task 7311 from 1004 to 1005)")
                && stdout.contains("Chen Liu 休假至"),
            "the demo shows a move: {stdout}"
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn cycles_driven_in_process_at_chosen_moments() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "chase"
    after = "24h"
    repeat = "12h"
    max_times = 2
    "#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let clock = expediter::clock::Clock::system();
        let engine = env.engine(clock.clone()).await;
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_sent, 1);
        // 11 hours on: the repeat is not due yet.
        clock.advance(11 * HOUR);
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!((report.expedites_due, report.expedites_sent), (0, 0));
        // 12 hours after the first: the second goes out, and it is the last.
        clock.advance(HOUR + Duration::from_secs(60));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_sent, 1);
        clock.advance(13 * HOUR);
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_sent, 0);
        let sent: Vec<_> = env
            .fake
            .expedites()
            .iter()
            .map(|e| e.opinion.clone().unwrap_or_default())
            .collect();
        assert_eq!(sent.len(), 2, "{sent:?}");
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn report_numbers_from_a_known_history_and_a_page_with_charts() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "chase"
    after = "24h"
    repeat = "12h"
    max_times = 3
    "#,
        );
        // Everything happens three days ago, on the engine's own clock, so the report (which reads
        // the real clock) sees it all in its window.
        let start = expediter::clock::Clock::system().now() - chrono::TimeDelta::hours(72);
        let clock = expediter::clock::Clock::starting_at(start);
        for (task, user) in [("t1", "u1"), ("t2", "u2"), ("t3", "u3")] {
            env.add(FakeTask::new(task, &[user], 100 * HOUR));
        }
        let engine = env.engine(clock.clone()).await;
        let cycle = |engine: &expediter::cycle::Engine| {
            let engine = engine.clone();
            async move { engine.run_cycle(false).await.unwrap() }
        };
        assert_eq!(cycle(&engine).await.expedites_sent, 3);
        // t1 is done 2 h later: the next listing lacks it, the one after confirms it.
        clock.advance(2 * HOUR);
        env.fake.finish_task("t1");
        cycle(&engine).await;
        clock.advance(HOUR);
        assert_eq!(cycle(&engine).await.tasks_finished, 1);
        // t2 is done 13 h after its reminder; t3 gets its second reminder then.
        clock.advance(10 * HOUR);
        env.fake.finish_task("t2");
        assert_eq!(cycle(&engine).await.expedites_sent, 1);
        clock.advance(HOUR);
        assert_eq!(cycle(&engine).await.tasks_finished, 1);
        engine.store.close().await;

        let run = env.run(&["report", "--json", "--since", "7d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let r: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let total = &r["total"];
        assert_eq!(total["reminders_sent"], 4, "{total}");
        assert_eq!(total["tasks_reminded"], 3, "{total}");
        assert_eq!(total["tasks_finished_after_reminder"], 2, "{total}");
        let near = |v: &serde_json::Value, hours: u64| {
            let s = v.as_u64().unwrap();
            s.abs_diff(hours * 3600) < 120
        };
        assert!(near(&total["median_seconds_to_done"], 2), "{total}");
        assert!(near(&total["p90_seconds_to_done"], 13), "{total}");
        let within = total["finished_within_24h_share"].as_f64().unwrap();
        assert!((within - 2.0 / 3.0).abs() < 1e-9, "{total}");
        assert_eq!(r["groups"][0]["name"], "chase");
        assert_eq!(total["backlog"]["over_7d"], 0, "{total}");
        assert_eq!(
            total["backlog"]["from_3d_to_7d"], 1,
            "t3 is about 4 days old: {total}"
        );

        let table = env.run(&["report", "--by", "user"]).await;
        assert_eq!(table.code, 0, "{}", table.all());
        assert!(
            table.stdout.contains("Zhang San") && table.stdout.contains("total"),
            "{}",
            table.stdout
        );

        let page = env.dir.path().join("report.html");
        let run = env.run(&["report", "--html", page.to_str().unwrap()]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let html = std::fs::read_to_string(&page).unwrap();
        let doc = scraper::Html::parse_document(&html);
        let select = |css: &str| scraper::Selector::parse(css).unwrap();
        assert_eq!(
            doc.select(&select("table tbody tr")).count(),
            2,
            "one rule and the total"
        );
        assert_eq!(
            doc.select(&select("figure svg")).count(),
            3,
            "three charts: {html}"
        );
        assert!(doc.select(&select("svg rect.main")).count() >= 4);
        // The chart's p90 is the table's, and the chart is wide enough to show it whole.
        let table_p90: Vec<String> = doc
            .select(&select("table tbody tr:not(.total) td.p90"))
            .map(|e| e.text().collect())
            .collect();
        let chart = doc.select(&select("figure svg")).next().unwrap();
        let width: f64 = chart.value().attr("width").unwrap().parse().unwrap();
        let values: Vec<(f64, String)> = chart
            .select(&select("text.value"))
            .map(|e| (e.value().attr("x").unwrap().parse().unwrap(), e.text().collect()))
            .collect();
        assert_eq!(values.len(), table_p90.len(), "{values:?} {table_p90:?}");
        for ((x, text), p90) in values.iter().zip(&table_p90) {
            assert!(text.ends_with(&format!("p90 {p90}")), "{text:?} against the table's {p90:?}");
            assert!(x + 8.0 * text.chars().count() as f64 <= width, "{text:?} at {x} cut off at {width}");
        }
        assert!(doc.select(&select("script")).next().is_none(), "no script");
        assert_eq!(
            html.matches("http").count(),
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
            "no address but the SVG namespace"
        );
        assert!(
            !html.contains("<link") && !html.contains("src="),
            "nothing loaded from elsewhere"
        );
    }
}
