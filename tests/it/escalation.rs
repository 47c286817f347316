//! When reminders are not enough: escalation by cc and group chat, silences, the daily cap and
//! repeat ladders — through the real binary against the fake.

use std::time::Duration;

use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind};

use crate::helpers::*;

/// After two unanswered expedites, copy the task to 7000 and open a chat.
const ESCALATING: &str = r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "1s"
max_times = 5
[rules.escalate]
after_times = 2
cc = ["7000"]
chat = true
chat_name = "催办：{label}"
"#;

async fn once_ok(env: &TestEnv) -> Run {
    let run = env.run(&["once"]).await;
    assert!(run.code == 0, "{}", run.all());
    run
}

/// The daemon's engine in this process on a clock the test moves: `repeat = "1s"` comes due
/// by moving the clock, not by sleeping.
async fn engine(env: &TestEnv) -> (expediter::cycle::Engine, expediter::clock::Clock) {
    let clock = expediter::clock::Clock::system();
    (env.engine(clock.clone()).await, clock)
}

/// One cycle of `engine`, which must succeed.
async fn cycle(engine: &expediter::cycle::Engine) -> expediter::cycle::CycleReport {
    engine.run_cycle(false).await.expect("the cycle succeeds")
}

const PAST_REPEAT: Duration = Duration::from_millis(1100);

both_backends! {
    #[tokio::test]
    pub async fn escalates_after_the_last_reminder_went_unanswered_and_only_once() {
        let env = TestEnv::new().await;
        env.write_config("", ESCALATING);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).initiator("9001", "Initiator"));
        let (engine, clock) = engine(&env).await;
        cycle(&engine).await; // expedite 1
        clock.advance(PAST_REPEAT);
        let report = cycle(&engine).await; // expedite 2: not escalated in the same cycle
        assert_eq!(env.fake.expedites().len(), 2);
        assert!(
            env.fake.ccs().is_empty() && env.fake.chats().is_empty(),
            "{report:?}"
        );
        // The next listing still shows t1 pending for u1: both reminders went unanswered.
        let report = cycle(&engine).await;
        assert_eq!(report.escalations_sent, 2, "{report:?}");
        let ccs = env.fake.ccs();
        assert_eq!(ccs.len(), 1, "{ccs:?}");
        assert_eq!(ccs[0].cc_user_ids, vec!["7000"]);
        let chats = env.fake.chats();
        assert_eq!(chats.len(), 1, "{chats:?}");
        assert_eq!(chats[0].chat_id_sent, None);
        assert_eq!(chats[0].chat_name.as_deref(), Some("催办：报销审批 t1"));
        let mut invited = chats[0].invite_user_ids.clone();
        invited.sort();
        assert_eq!(
            invited,
            vec!["7000", "9001", "u1"],
            "assignee, initiator, cc"
        );
        // Never again for this pair.
        for _ in 0..2 {
            clock.advance(PAST_REPEAT);
            cycle(&engine).await;
        }
        assert_eq!((env.fake.ccs().len(), env.fake.chats().len()), (1, 1));
        engine.store.close().await;
        let plan = env.plan_json().await;
        let t1 = plan.iter().find(|e| e["task_id"] == "t1").unwrap();
        assert!(
            t1["escalation"]
                .as_str()
                .unwrap()
                .starts_with("escalated by cc and chat at"),
            "{t1}"
        );
        // In Chinese too: the state's words carry the escalation's news.
        let zh = env.run_with_env(&["plan", "--wide"], &[("LANG", "zh_CN.UTF-8")]).await;
        assert!(zh.stdout.contains("通过抄送和拉群升级"), "{}", zh.stdout);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn one_chat_per_task_later_assignees_are_invited_into_it() {
        let env = TestEnv::new().await;
        env.write_config("", ESCALATING);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let (engine, clock) = engine(&env).await;
        for _ in 0..3 {
            cycle(&engine).await;
            clock.advance(PAST_REPEAT);
        }
        let first = env.fake.chats();
        assert_eq!(first.len(), 1, "{first:?}");
        let chat_id = first[0].chat_id.clone();
        // The task moves on to u2 as well, who does not answer either.
        env.fake.finish_task("t1");
        env.add(FakeTask::new("t1", &["u1", "u2"], 30 * HOUR));
        // u2 is first reminded the cycle after u2's listing shows the task (it was decided with
        // u1 before u2 was listed), then again, then escalated.
        let mut reports = Vec::new();
        for _ in 0..4 {
            reports.push(cycle(&engine).await);
            clock.advance(PAST_REPEAT);
        }
        engine.store.close().await;
        let chats = env.fake.chats();
        assert_eq!(chats.len(), 2, "{chats:?}\n{reports:?}");
        assert_eq!(
            chats[1].chat_id_sent.as_deref(),
            Some(chat_id.as_str()),
            "the second escalation invites into the task's chat"
        );
        assert!(chats[1].invite_user_ids.contains(&"u2".to_owned()));
        let members = env.fake.chat_members(&chat_id).unwrap();
        assert!(members.contains(&"u1".to_owned()) && members.contains(&"u2".to_owned()));
    }
}

both_backends! {
    #[tokio::test]
    pub async fn no_second_cc_after_an_ambiguous_answer() {
        for (name, kind) in [
            (
                "500 after acting",
                FaultKind::ActThen(Box::new(FaultKind::Status(500))),
            ),
            (
                "504 page after acting",
                FaultKind::ActThen(Box::new(FaultKind::GatewayPage(504))),
            ),
            (
                "hang after acting",
                FaultKind::ActThenHang(Duration::from_secs(3)),
            ),
        ] {
            let env = TestEnv::new().await;
            env.write_config(
                "request_timeout = \"1s\"",
                &ESCALATING.replace("chat = true\n", ""),
            );
            env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
            env.fake.inject(Fault::new(Endpoint::Acts(CallKind::Cc), kind).always());
            let (engine, clock) = engine(&env).await;
            for _ in 0..5 {
                let report = cycle(&engine).await;
                assert_eq!(report.escalations_failed, 0, "{name}: {report:?}");
                clock.advance(PAST_REPEAT);
            }
            engine.store.close().await;
            assert_eq!(env.fake.ccs().len(), 1, "{name}: copied once");
            // (A hung call the client gave up on is never recorded by the fake.)
            assert!(
                env.fake.calls_to(Endpoint::Acts(CallKind::Cc)).len() <= 1,
                "{name}: the cc call was never repeated"
            );
        }
    }
}

both_backends! {
    #[tokio::test]
    pub async fn kill_9_during_a_cc_never_repeats_it() {
        let env = TestEnv::new().await;
        env.write_config(
            "request_timeout = \"60s\"",
            &ESCALATING.replace("chat = true\n", ""),
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        // Two reminders a second apart (the repeat), by an engine on a clock that starts just
        // in the past and is moved, not slept; then the escalation is due.
        {
            let now = expediter::clock::Clock::system().now();
            let clock = expediter::clock::Clock::starting_at(
                now - chrono::TimeDelta::from_std(PAST_REPEAT * 2).unwrap(),
            );
            let engine = env.engine(clock.clone()).await;
            assert_eq!(cycle(&engine).await.expedites_sent, 1);
            clock.advance(PAST_REPEAT);
            assert_eq!(cycle(&engine).await.expedites_sent, 1);
            engine.store.close().await;
        }
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Cc),
            FaultKind::ActThenHang(Duration::from_secs(60)),
        ));
        let mut child = env.spawn(&["once"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while env.fake.ccs().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cc never went out"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.start_kill().unwrap();
        let _ = child.wait().await;
        env.fake.clear_faults();
        env.wait_out_lease().await;
        // Two more runs with the escalation still due: the open intent counts as done.
        for _ in 0..2 {
            let run = env.run(&["once"]).await;
            assert!(run.code == 0 || run.code == 1, "{}", run.all());
            assert!(run.stderr.contains("escalations_sent=0"), "{}", run.stderr);
        }
        assert_eq!(env.fake.ccs().len(), 1, "{:?}", env.fake.ccs());
    }
}

both_backends! {
    #[tokio::test]
    pub async fn silences_are_added_listed_and_removed_while_the_daemon_runs() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "chase"
    after = "24h"
    repeat = "1s"
    max_times = 100
    "#,
        );
        with_cron(&env, "* * * * * *");
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("expedited task t1", 1, Duration::from_secs(10))
            .await;
        let add = env
            .run(&[
                "silence", "add", "--task", "t1", "--for", "1h", "--reason", "on leave",
            ])
            .await;
        assert_eq!(add.code, 0, "{}", add.all());
        let id = add.stdout.trim().to_owned();
        assert!(id.parse::<i64>().is_ok(), "prints the id: {:?}", add.stdout);
        let t1 = |env: &TestEnv| {
            env.fake
                .expedites()
                .iter()
                .filter(|e| e.task_id == "t1")
                .count()
        };
        // From the next cycle on, t1 is held; t2 goes on.
        daemon.wait_for_next_cycle().await;
        let held = t1(&env);
        for _ in 0..3 {
            daemon.wait_for_next_cycle().await;
        }
        assert_eq!(t1(&env), held, "no reminder for a silenced task");
        assert!(daemon.log().contains("silenced=1"), "{}", daemon.log());
        let plan = env.plan_json().await;
        let e = plan.iter().find(|e| e["task_id"] == "t1").unwrap();
        assert_eq!(e["status"], "silenced", "{e}");
        assert!(e["why"].as_str().unwrap().contains("(on leave)"), "{e}");
        let list = env.run(&["silence", "list", "--json"]).await;
        assert_eq!(list.code, 0, "{}", list.all());
        let listed: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["task_id"], "t1");
        assert_eq!(listed[0]["reason"], "on leave");
        let table = env.run(&["silence", "list"]).await;
        assert!(
            table.stdout.contains("on leave") && table.stdout.contains("active"),
            "{}",
            table.stdout
        );
        // Removed: reminders resume without a reload.
        let rm = env.run(&["silence", "remove", &id]).await;
        assert_eq!(rm.code, 0, "{}", rm.all());
        daemon.wait_for_next_cycle().await;
        daemon.wait_for_next_cycle().await;
        assert!(
            t1(&env) > held,
            "reminders resume once the silence is removed"
        );
        let none = env.run(&["silence", "list"]).await;
        assert!(none.stdout.contains("No silences"), "{}", none.stdout);
        let all = env.run(&["silence", "list", "--all"]).await;
        assert!(all.stdout.contains("removed"), "{}", all.stdout);
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn silence_bad_input_exits_2_naming_the_flag() {
        let env = TestEnv::new().await;
        assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
        // (args, what the message names)
        let cases: [(&[&str], &str); 6] = [
            (
                &["silence", "add", "--task", "t1", "--for", "soon"],
                "--for",
            ),
            (
                &["silence", "add", "--task", "t1", "--until", "next friday"],
                "--until",
            ),
            (
                &["silence", "add", "--task", "t1", "--until", "2020-01-01"],
                "in the past",
            ),
            (
                &[
                    "silence",
                    "add",
                    "--task",
                    "t1",
                    "--for",
                    "1h",
                    "--until",
                    "2030-01-01",
                ],
                "--until",
            ),
            (
                &["silence", "add", "--task", "t1"],
                "--for <DUR>|--until <DATE>",
            ),
            (&["silence", "add", "--task", " ", "--for", "1h"], "--task"),
        ];
        for (args, names) in cases {
            let run = env.run(args).await;
            assert_eq!(run.code, 2, "{args:?}: {}", run.all());
            assert!(run.stderr.contains(names), "{args:?}: {}", run.stderr);
        }
        let run = env.run(&["silence", "remove", "999"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("no silence with id 999"),
            "{}",
            run.stderr
        );
        let run = env.run(&["silence", "remove", "abc"]).await;
        assert_eq!(run.code, 2, "{}", run.all());
    }
}

both_backends! {
    #[tokio::test]
    pub async fn the_daily_cap_keeps_the_most_overdue_and_holds_the_rest() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "chase"
    after = "24h"
    repeat = "1s"
    max_times = 10
    "#,
        );
        set_daily_cap(&env, 2);
        env.add(FakeTask::new("old", &["u1"], 90 * HOUR));
        env.add(FakeTask::new("older", &["u1"], 120 * HOUR));
        env.add(FakeTask::new("young", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("other", &["u2"], 30 * HOUR));
        let (engine, clock) = engine(&env).await;
        let report = cycle(&engine).await;
        assert_eq!(report.expedites_capped, 1, "{report:?}");
        let mut sent: Vec<String> = env
            .fake
            .expedites()
            .iter()
            .map(|e| e.task_id.clone())
            .collect();
        sent.sort();
        assert_eq!(
            sent,
            vec!["old", "older", "other"],
            "u1's two most overdue, and u2"
        );
        let plan = env.plan_json().await;
        let young = plan.iter().find(|e| e["task_id"] == "young").unwrap();
        assert_eq!(young["status"], "capped", "{young}");
        // Later the same day: u1 gets nothing more, u2 goes on.
        clock.advance(PAST_REPEAT);
        cycle(&engine).await;
        engine.store.close().await;
        let u1 = env
            .fake
            .expedites()
            .iter()
            .filter(|e| e.expediting_user_ids == ["u1"])
            .count();
        assert_eq!(u1, 2, "no more than 2 reminders for u1 today");
        let check = env.run(&["check"]).await;
        assert!(
            check
                .stdout
                .contains("at most 2 reminders per assignee per day"),
            "{}",
            check.stdout
        );
    }
}

both_backends! {
    /// A shared task whose one assignee is capped goes to the other alone, and its opinion names
    /// only who gets it.
    #[tokio::test]
    pub async fn a_capped_assignee_is_not_named_in_the_opinion() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "chase"
    after = "24h"
    opinion = "for {user}"
    "#,
        );
        set_daily_cap(&env, 1);
        // u1's most overdue task takes their one reminder of the day.
        env.add(FakeTask::new("first", &["u1"], 120 * HOUR));
        env.add(FakeTask::new("shared", &["u1", "u2"], 30 * HOUR));
        let run = once_ok(&env).await;
        assert!(run.stderr.contains("expedites_capped=1"), "{}", run.stderr);
        let sent = env.fake.expedites();
        let shared = sent
            .iter()
            .find(|e| e.task_id == "shared")
            .expect("shared sent");
        assert_eq!(shared.expediting_user_ids, ["u2"]);
        assert_eq!(shared.opinion.as_deref(), Some("for Li Si"));
        let first = sent
            .iter()
            .find(|e| e.task_id == "first")
            .expect("first sent");
        assert_eq!(first.opinion.as_deref(), Some("for Zhang San"));
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_repeat_ladder_spaces_reminders_by_its_steps() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "ladder"
    after = "24h"
    repeat = ["1s", "3s"]
    max_times = 4
    "#,
        );
        with_cron(&env, "* * * * * *");
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("expedited task t1", 4, Duration::from_secs(20))
            .await;
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        let at: Vec<_> = env.fake.expedites().iter().map(|e| e.at).collect();
        assert_eq!(at.len(), 4, "max_times");
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let tolerance = Duration::from_millis(250);
        assert!(
            gaps[0] + tolerance >= Duration::from_secs(1) && gaps[0] < Duration::from_millis(2900),
            "{gaps:?}"
        );
        assert!(
            gaps[1] + tolerance >= Duration::from_secs(3),
            "the 3rd waits the 2nd step: {gaps:?}"
        );
        assert!(
            gaps[2] + tolerance >= Duration::from_secs(3),
            "the last step repeats: {gaps:?}"
        );
        let check = env.run(&["check"]).await;
        assert!(
            check
                .stdout
                .contains("the 2nd 1s later, the 3rd 3s later, then every 3s"),
            "{}",
            check.stdout
        );
    }
}

/// Adds `max_per_user_per_day` to the env's `[expedite]` section.
fn set_daily_cap(env: &TestEnv, cap: u32) {
    let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
        "operator_user_id = \"7000\"",
        &format!("operator_user_id = \"7000\"\nmax_per_user_per_day = {cap}"),
    );
    std::fs::write(&env.config_path, text).unwrap();
}

both_backends! {
    /// `silence` refuses what cannot be meant, warns about a task not seen yet, says when a silence
    /// had already ended, and lists names and labels where `plan` shows them.
    #[tokio::test]
    pub async fn silence_refuses_mistakes_and_says_what_it_did() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1", "u2"], 30 * HOUR).label("报销：差旅", "Travel"));
        env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
        assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
        // (args, exit code, what stderr says)
        let cases: [(&[&str], i32, &str); 3] = [
            (
                &[
                    "silence", "add", "--task", "t1", "--user", "9999", "--for", "1h",
                ],
                2,
                "--user 9999 is not a watched user",
            ),
            (
                &[
                    "silence", "add", "--task", "t2", "--user", "u1", "--for", "1h",
                ],
                2,
                "is not a pending assignee of task t2",
            ),
            (
                &["silence", "add", "--task", "NOPE", "--for", "1h"],
                0,
                "warning: task NOPE has not been seen by any listing yet",
            ),
        ];
        for (args, code, said) in cases {
            let run = env.run(args).await;
            assert_eq!(run.code, code, "{args:?}: {}", run.all());
            assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
        }
        let add = env
            .run(&[
                "silence", "add", "--task", "t1", "--user", "u1", "--for", "1h",
            ])
            .await;
        assert_eq!(add.code, 0, "{}", add.all());
        assert!(add.stderr.contains("assignee Zhang San"), "{}", add.stderr);
        let id = add.stdout.trim().to_owned();
        let list = env.run(&["silence", "list"]).await;
        let line = list.stdout.lines().find(|l| l.starts_with(&id)).unwrap();
        assert!(
            line.contains("t1 (报销：差旅)") && line.contains("Zhang San") && !line.contains("unknown"),
            "{}",
            list.stdout
        );
        assert!(
            list.stdout.contains("NOPE (not seen yet)"),
            "{}",
            list.stdout
        );
        let first = env.run(&["silence", "remove", &id]).await;
        assert_eq!(first.code, 0, "{}", first.all());
        assert!(
            first.stderr.contains(&format!("silence {id} ended")),
            "{}",
            first.stderr
        );
        let again = env.run(&["silence", "remove", &id]).await;
        assert_eq!(again.code, 0, "{}", again.all());
        assert!(
            again
                .stderr
                .contains(&format!("silence {id} had already been removed")),
            "{}",
            again.stderr
        );
        let all = env.run(&["silence", "list", "--all"]).await;
        assert!(all.stdout.contains("removed 20"), "{}", all.stdout);
        assert_eq!(env.run(&["silence", "remove", "999"]).await.code, 1);
    }
}

both_backends! {
    /// The daily cap is said once a user a day, not at every tick that holds them back; the
    /// reminder's line carries the task's label.
    #[tokio::test]
    pub async fn the_daily_cap_is_logged_once_a_user_a_day() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "chase"
    after = "24h"
    "#,
        );
        set_daily_cap(&env, 1);
        with_cron(&env, "* * * * * *");
        env.add(FakeTask::new("first", &["u1"], 120 * HOUR).label("报销 first", "Expense first"));
        env.add(FakeTask::new("second", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("third", &["u1"], 29 * HOUR));
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("cycle finished", 4, Duration::from_secs(30))
            .await;
        let (_, _, log) = daemon.stop().await;
        let told: Vec<&str> = log.lines().filter(|l| l.contains("daily cap reached")).collect();
        assert_eq!(told.len(), 1, "{log}");
        assert!(told[0].contains("Zhang San"), "{log}");
        assert!(log.contains("expedited task first (报销 first) for Zhang San"), "{log}");
    }
}
