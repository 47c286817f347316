//! Moves: an away user's due tasks transferred (or an assignee added) to their deputy, and
//! escalation by `transfer_to` — each at most once, through the ledger, against the fake that
//! moves assignments as Feishu does.

use std::time::Duration;

use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind, NOT_APPROVAL_TASK_CODE};

use crate::helpers::*;

/// u1's tasks go to the deputy when due (after 24 h); the deputy u2 is watched and reminded.
fn away_rules(action: &str) -> String {
    format!(
        r#"
[away]
deputy_action = "{action}"
opinion = "{{user}} 不在（至 {{until}}），已转给 {{deputy}}：{{label}}"

[[rules]]
name = "chase"
after = "24h"
repeat = "12h"
max_times = 10
opinion = "{{task_id}} #{{n}}"
"#
    )
}

/// The daemon's engine in this process on a clock the test moves.
async fn engine(env: &TestEnv) -> (expediter::cycle::Engine, expediter::clock::Clock) {
    let clock = expediter::clock::Clock::system();
    (env.engine(clock.clone()).await, clock)
}

async fn cycle(engine: &expediter::cycle::Engine) -> expediter::cycle::CycleReport {
    engine.run_cycle(false).await.expect("the cycle succeeds")
}

async fn away(env: &TestEnv, user: &str, deputy: &str) {
    let run = env
        .run(&[
            "away", "add", "--user", user, "--for", "3d", "--deputy", deputy, "--reason", "leave",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
}

fn moves_of(env: &TestEnv, task: &str) -> usize {
    env.fake
        .moves()
        .iter()
        .filter(|m| m.task_id == task)
        .count()
}

both_backends! {
    #[tokio::test]
    pub async fn an_away_users_due_task_goes_to_the_deputy_once() {
        let env = TestEnv::new().await;
        env.write_config("", &away_rules("transfer"));
        with_cron(&env, "0 */10 * * * *");
        env.add(FakeTask::new("due", &["u1"], 30 * HOUR).label("付款 <b>", "Payment"));
        env.add(FakeTask::new("young", &["u1"], 2 * HOUR));
        env.add(FakeTask::new("hushed", &["u1"], 30 * HOUR));
        away(&env, "u1", "u2").await;
        let run = env.run(&["silence", "add", "--task", "hushed", "--for", "1w"]).await;
        assert_eq!(run.code, 0, "{}", run.all());

        // away add says where the tasks go, and that an unwatched deputy is not reminded.
        let run = env
            .run(&["away", "add", "--user", "u3", "--for", "1d", "--deputy", "9999"])
            .await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stderr.contains("each of their tasks goes to 9999 as it falls due ([away] deputy_action = \"transfer\")")
                && run.stderr.contains("9999 is not a watched user"),
            "{}",
            run.stderr
        );
        // check says what moves and what permission it needs.
        let check = env.run(&["check"]).await;
        assert_eq!(check.code, 0, "{}", check.all());
        assert!(
            check.stdout.contains("goes to their deputy (transfer)")
                && check.stdout.contains("approval-task permission"),
            "{}",
            check.stdout
        );
        // A dry run says what it would do and moves nothing.
        let dry = env.run(&["once", "--dry-run"]).await;
        assert!(dry.stderr.contains("would transfer task due from Zhang San to u2"), "{}", dry.stderr);
        assert!(env.fake.moves().is_empty());

        let (engine, clock) = engine(&env).await;
        let report = cycle(&engine).await;
        assert_eq!((report.moves_due, report.moves_sent), (1, 1), "{}", report.summary());
        assert!(report.summary().contains("moves 1 sent"), "{}", report.summary());
        let moves = env.fake.moves();
        assert_eq!(moves.len(), 1, "{moves:?}");
        let m = &moves[0];
        assert_eq!((m.endpoint, m.task_id.as_str(), m.user_id.as_str()), (Endpoint::Acts(CallKind::Transfer), "due", "7000"));
        assert_eq!((m.from_user_ids.clone(), m.to_user_ids.clone()), (vec!["u1".to_owned()], vec!["u2".to_owned()]));
        let opinion = m.opinion.clone().unwrap_or_default();
        assert!(opinion.starts_with("Zhang San 不在（至 20") && opinion.ends_with("已转给 Li Si：付款 <b>"), "{opinion}");
        // The fake moved it: u2 holds it now, u1 no more. Neither the young task (not due)
        // nor the silenced one moved, and u1 was reminded of nothing.
        assert_eq!(env.fake.assignees_of("due"), Some(vec!["u2".to_owned()]));
        assert_eq!(env.fake.assignees_of("young"), Some(vec!["u1".to_owned()]));
        assert_eq!(env.fake.assignees_of("hushed"), Some(vec!["u1".to_owned()]));
        let u1 = "u1".to_owned();
        assert!(
            env.fake.expedites().iter().all(|e| !e.expediting_user_ids.contains(&u1)),
            "{:?}",
            env.fake.expedites()
        );

        // The deputy, an assignee like any other, is first reminded the rule's `after` (24 h)
        // after the move — not half a minute later because the task is old; nothing moves twice.
        for _ in 0..3 {
            clock.advance(Duration::from_secs(60));
            cycle(&engine).await;
        }
        assert_eq!(moves_of(&env, "due"), 1);
        let to_u2 = |env: &TestEnv| -> Vec<_> {
            env.fake.expedites().into_iter().filter(|e| e.task_id == "due").collect()
        };
        assert!(to_u2(&env).is_empty(), "{:?}", to_u2(&env));
        let plan = env.plan_json().await;
        let deputy = plan.iter()
            .find(|e| e["task_id"] == "due" && e["assignee_id"] == "u2")
            .expect("the deputy's pair is planned");
        assert_eq!(deputy["status"], "waiting", "{deputy}");
        let _ = &clock;
        // On the record: the task's history names the move, from whom and to whom.
        let record = engine.store.task_record("due").await.unwrap().unwrap();
        let call = record.calls.iter().find(|c| c.kind == "transfer").expect("the move is in the history");
        assert_eq!((call.outcome.as_str(), call.people.clone()), ("sent", vec!["u2".to_owned()]));
        assert_eq!(call.assignees, vec![("u1".to_owned(), 1)]);
        engine.store.close().await;

        // A restart (a new process, the same database) moves nothing again.
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.moves().len(), 1);

        let plan = env.plan_json().await;
        let young = plan.iter().find(|e| e["task_id"] == "young").unwrap();
        // 2 h old, after = 24 h: it goes to the deputy at its 24th hour, inside the window.
        assert!(
            young["why"].as_str().unwrap().contains("the task goes to the deputy (transfer) at "),
            "{young}"
        );
        let next_move = chrono::DateTime::parse_from_rfc3339(young["next_move"].as_str().unwrap()).unwrap();
        let in_22h = chrono::Utc::now() + chrono::TimeDelta::hours(22);
        assert!((next_move.timestamp() - in_22h.timestamp()).abs() < 3600, "{young}");
        // The deputy approves it: the report counts the move and how long the task then took.
        env.fake.finish_task("due");
        for _ in 0..2 {
            assert_eq!(env.run(&["once"]).await.code, 0);
        }
        let run = env.run(&["report", "--json", "--since", "7d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let r: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let total = &r["total"];
        assert_eq!((total["moves"].as_u64(), total["moved_tasks_finished"].as_u64()), (Some(1), Some(1)), "{total}");
        assert!(total["median_seconds_from_move_to_done"].as_u64().is_some_and(|s| s < 600), "{total}");
        let table = env.run(&["report"]).await;
        assert!(table.stdout.contains("median move to done"), "{}", table.stdout);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn add_assignee_puts_the_deputy_beside_the_away_user_once() {
        let env = TestEnv::new().await;
        env.write_config("", &away_rules("add_assignee"));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        away(&env, "u1", "u3").await;
        let (engine, clock) = engine(&env).await;
        cycle(&engine).await;
        let moves = env.fake.moves();
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[0].endpoint, Endpoint::Acts(CallKind::AddAssignee));
        assert_eq!(moves[0].to_user_ids, vec!["u3".to_owned()]);
        assert_eq!(moves[0].add_assignee_type.as_deref(), Some("currentAndAddAssign"));
        assert_eq!(env.fake.assignees_of("t1"), Some(vec!["u1".to_owned(), "u3".to_owned()]));
        // u1 still holds it, still away: held, and not added to again.
        for _ in 0..3 {
            clock.advance(Duration::from_secs(13 * 3600));
            cycle(&engine).await;
        }
        assert_eq!(env.fake.moves().len(), 1, "{:?}", env.fake.moves());
        assert!(env.fake.expedites().iter().all(|e| !e.expediting_user_ids.contains(&"u1".to_owned())));
        engine.store.close().await;
        let plan = env.plan_json().await;
        let u1 = plan.iter().find(|e| e["assignee_id"] == "u1").unwrap();
        assert_eq!(u1["status"], "away", "{u1}");
        assert!(u1["moved"].as_str().unwrap().starts_with("assignee added at"), "{u1}");
        assert!(u1["moved_at"].is_string(), "{u1}");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn an_ambiguous_answer_to_a_move_is_never_repeated() {
        let env = TestEnv::new().await;
        env.write_config("", &away_rules("transfer"));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        away(&env, "u1", "u2").await;
        // The platform moves it, the gateway answers 504.
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Transfer),
            FaultKind::ActThen(Box::new(FaultKind::GatewayPage(504))),
        ));
        let (engine, clock) = engine(&env).await;
        let report = cycle(&engine).await;
        assert_eq!((report.moves_unknown, report.moves_sent), (1, 0), "{}", report.summary());
        // Undo the move on the fake's side: the task is u1's again, still due. It is still not
        // moved again — the answer may have meant "done".
        env.fake.finish_task("t1");
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        for _ in 0..3 {
            clock.advance(Duration::from_secs(13 * 3600));
            cycle(&engine).await;
        }
        assert_eq!(env.fake.calls_to(Endpoint::Acts(CallKind::Transfer)).len(), 1);
        engine.store.close().await;
        let plan = env.plan_json().await;
        assert!(plan[0]["moved"].as_str().unwrap().starts_with("transferred at"), "{}", plan[0]);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn no_token_at_move_time_means_not_sent_and_moved_once_later() {
        let env = TestEnv::new().await;
        env.write_config("", &away_rules("transfer"));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        away(&env, "u1", "u2").await;
        // The move's token is refused and no new one can be had: the call never reached the
        // transfer API.
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Transfer),
            FaultKind::Code { code: 99991663, http_status: 400 },
        ));
        env.fake.inject(Fault::new(Endpoint::Token, FaultKind::Status(503)).after(1).always());
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("moves_failed=1") && run.stderr.contains("moves_unknown=0"),
            "{}",
            run.stderr
        );
        assert!(env.fake.moves().is_empty());
        assert_eq!(env.fake.assignees_of("t1"), Some(vec!["u1".to_owned()]));
        env.fake.clear_faults();
        for _ in 0..2 {
            let run = env.run(&["once"]).await;
            assert_eq!(run.code, 0, "{}", run.all());
        }
        assert_eq!(env.fake.moves().len(), 1, "moved once, on the next run");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_refused_move_is_shown_and_tried_again_only_a_day_later() {
        let env = TestEnv::new().await;
        env.write_config("", &away_rules("transfer"));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake.set_fill_in("t1");
        away(&env, "u1", "u2").await;
        let (engine, clock) = engine(&env).await;
        let report = cycle(&engine).await;
        assert_eq!(report.moves_refused, 1, "{}", report.summary());
        assert!(report.summary().contains("1 REFUSED"), "{}", report.summary());
        // Every tick for hours: not tried again.
        for _ in 0..5 {
            clock.advance(Duration::from_secs(3600));
            cycle(&engine).await;
        }
        assert_eq!(env.fake.calls_to(Endpoint::Acts(CallKind::Transfer)).len(), 1);
        let entries = expediter::plan::build(
            &engine.config,
            &engine.store.pending_pairs().await.unwrap(),
            clock.now(),
            &Default::default(),
        );
        let why = entries[0].moved.clone().unwrap_or_default();
        assert!(
            why.contains("refused") && why.contains(&format!("code {NOT_APPROVAL_TASK_CODE}")) && why.contains("not an approval task"),
            "{why}"
        );
        // A day later it is tried once more (and refused again).
        clock.advance(Duration::from_secs(20 * 3600));
        cycle(&engine).await;
        cycle(&engine).await;
        assert_eq!(env.fake.calls_to(Endpoint::Acts(CallKind::Transfer)).len(), 2);
        assert!(env.fake.moves().is_empty());
        let record = engine.store.task_record("t1").await.unwrap().unwrap();
        let tries: Vec<_> = record.calls.iter().filter(|c| c.kind == "transfer").collect();
        assert_eq!(tries.len(), 2);
        assert!(tries.iter().all(|c| c.outcome == "failed" && c.feishu_code == Some(NOT_APPROVAL_TASK_CODE)));
        assert_eq!(tries[1].assignees, vec![("u1".to_owned(), 2)], "the second attempt's number");
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn escalation_by_transfer_to_moves_the_task_once() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "12h"
max_times = 10
[rules.escalate]
after_times = 1
wait = "1h"
transfer_to = "u3"
"#,
        );
        env.add(FakeTask::new("t1", &["u1", "u2"], 30 * HOUR));
        let (engine, clock) = engine(&env).await;
        cycle(&engine).await; // reminded
        assert!(env.fake.moves().is_empty());
        clock.advance(Duration::from_secs(30 * 60));
        cycle(&engine).await; // unanswered, but the wait is not over
        assert!(env.fake.moves().is_empty());
        clock.advance(Duration::from_secs(45 * 60));
        let report = cycle(&engine).await;
        assert_eq!((report.moves_due, report.moves_sent), (2, 2), "{}", report.summary());
        let moves = env.fake.moves();
        assert_eq!(moves.len(), 1, "one call for the task: {moves:?}");
        assert_eq!(moves[0].from_user_ids, vec!["u1".to_owned(), "u2".to_owned()]);
        assert_eq!(moves[0].to_user_ids, vec!["u3".to_owned()]);
        assert_eq!(env.fake.assignees_of("t1"), Some(vec!["u3".to_owned()]));
        for _ in 0..3 {
            clock.advance(Duration::from_secs(13 * 3600));
            cycle(&engine).await;
        }
        assert_eq!(env.fake.moves().len(), 1);
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn kill_9_during_a_move_never_repeats_it() {
        let env = TestEnv::new().await;
        env.write_config("request_timeout = \"60s\"", &away_rules("transfer"));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        away(&env, "u1", "u2").await;
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Transfer),
            FaultKind::ActThenHang(Duration::from_secs(60)),
        ));
        let mut child = env.spawn(&["once"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while env.fake.moves().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "the move never went out");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.start_kill().unwrap(); // SIGKILL, mid-call
        let _ = child.wait().await;
        env.fake.clear_faults();
        // Put the task back in u1's hands: were the open intent forgotten, it would move again.
        env.fake.finish_task("t1");
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.wait_out_lease().await;
        for _ in 0..2 {
            let run = env.run(&["once"]).await;
            assert!(run.code == 0 || run.code == 1, "{}", run.all());
            assert!(run.stderr.contains("moves_sent=0"), "{}", run.stderr);
        }
        assert_eq!(env.fake.moves().len(), 1, "{:?}", env.fake.moves());
        let plan = env.plan_json().await;
        let t1 = plan.iter().find(|e| e["task_id"] == "t1").unwrap();
        assert!(t1["moved"].as_str().unwrap().starts_with("transferred at"), "{t1}");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn two_away_assignees_with_one_deputy_make_one_call_and_nobody_is_added_twice() {
        let env = TestEnv::new().await;
        env.write_config("", &away_rules("add_assignee"));
        // u1 and u2 are away, both with u3 as deputy: one call adds u3 to t-both. u3 already
        // holds t-held: nothing to add.
        env.add(FakeTask::new("t-both", &["u1", "u2"], 30 * HOUR));
        env.add(FakeTask::new("t-held", &["u1", "u3"], 30 * HOUR));
        away(&env, "u1", "u3").await;
        away(&env, "u2", "u3").await;
        let (engine, clock) = engine(&env).await;
        for _ in 0..3 {
            cycle(&engine).await;
            clock.advance(Duration::from_secs(13 * 3600));
        }
        let moves = env.fake.moves();
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!((moves[0].task_id.as_str(), moves[0].to_user_ids.clone()), ("t-both", vec!["u3".to_owned()]));
        let opinion = moves[0].opinion.clone().unwrap_or_default();
        assert!(opinion.starts_with("Zhang San, Li Si 不在"), "{opinion}");
        let record = engine.store.task_record("t-both").await.unwrap().unwrap();
        let call = record.calls.iter().find(|c| c.kind == "add_assignee").unwrap();
        assert_eq!(call.assignees, vec![("u1".to_owned(), 1), ("u2".to_owned(), 1)]);
        engine.store.close().await;
        // plan promises no move to the deputy who holds t-held already.
        let plan = env.plan_json().await;
        let held = plan.iter().find(|e| e["task_id"] == "t-held" && e["assignee_id"] == "u1").unwrap();
        assert_eq!(held["status"], "away", "{held}");
        assert!(!held["why"].as_str().unwrap().contains("goes to the deputy"), "{held}");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_deputys_move_does_not_stand_in_for_the_escalations_move() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[away]
deputy_action = "add_assignee"

[[rules]]
name = "chase"
after = "24h"
repeat = "12h"
max_times = 10
[rules.escalate]
after_times = 1
wait = "1h"
transfer_to = "7001"
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env
            .run(&["away", "add", "--user", "u1", "--for", "1d", "--deputy", "u3"])
            .await;
        assert_eq!(run.code, 0, "{}", run.all());
        let id = run.stdout.trim().to_owned();
        let (engine, clock) = engine(&env).await;
        cycle(&engine).await;
        assert_eq!(env.fake.moves().len(), 1, "u3 added while u1 is away");
        // u1 is back, reminded, and does not answer: the rule's transfer_to still happens.
        assert_eq!(env.run(&["away", "remove", &id]).await.code, 0);
        clock.advance(Duration::from_secs(60));
        cycle(&engine).await;
        let to_u1 = |env: &TestEnv| {
            env.fake
                .expedites()
                .iter()
                .filter(|e| e.expediting_user_ids.contains(&"u1".to_owned()))
                .count()
        };
        assert_eq!(to_u1(&env), 1);
        clock.advance(Duration::from_secs(2 * 3600));
        cycle(&engine).await;
        let moves = env.fake.moves();
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(moves[1].endpoint, Endpoint::Acts(CallKind::Transfer));
        // From the overdue assignees: u1 only — u3 has the task since the move, 3 h ago, and
        // is first reminded the rule's `after` (24 h) after it, so is not overdue.
        assert_eq!(moves[1].from_user_ids, vec!["u1".to_owned()]);
        assert_eq!(moves[1].to_user_ids, vec!["7001".to_owned()]);
        for _ in 0..3 {
            clock.advance(Duration::from_secs(13 * 3600));
            cycle(&engine).await;
        }
        assert_eq!(env.fake.moves().len(), 2);
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_deputys_move_and_an_escalations_move_to_one_person_make_one_call() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[away]
deputy_action = "add_assignee"

[[rules]]
name = "chase"
after = "24h"
repeat = "1s"
max_times = 10
[rules.escalate]
after_times = 1
wait = "1s"
add_assignee = ["u3"]
"#,
        );
        env.add(FakeTask::new("t1", &["u1", "u2"], 30 * HOUR));
        let (engine, clock) = engine(&env).await;
        cycle(&engine).await; // both reminded
        // u1 leaves, u3 standing in; a moment on, u1's next reminder and u2's escalation both
        // fall due in the same cycle, and both would add u3.
        away(&env, "u1", "u3").await;
        clock.advance(Duration::from_secs(3));
        let report = cycle(&engine).await;
        assert_eq!(report.moves_sent, 1, "{}", report.summary());
        let moves = env.fake.moves();
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[0].to_user_ids, vec!["u3".to_owned()]);
        for _ in 0..3 {
            clock.advance(Duration::from_secs(3));
            cycle(&engine).await;
        }
        assert_eq!(env.fake.moves().len(), 1, "{:?}", env.fake.moves());
        engine.store.close().await;
    }
}

both_backends! {
    /// The deputy is first reminded the rule's `after` after the move, or `[away]
    /// deputy_after` when set; the away user is never reminded of the task moved from them.
    #[tokio::test]
    pub async fn the_deputy_is_first_reminded_deputy_after_the_move() {
        let env = TestEnv::new().await;
        env.write_config("", &format!("{}\n", away_rules("transfer")).replace(
            "[away]\n", "[away]\ndeputy_after = \"4h\"\n"));
        with_cron(&env, "0 */10 * * * *");
        env.add(FakeTask::new("due", &["u1"], 30 * HOUR));
        away(&env, "u1", "u2").await;
        let (engine, clock) = engine(&env).await;
        cycle(&engine).await;
        assert_eq!(moves_of(&env, "due"), 1);
        let to = |env: &TestEnv, who: &str| {
            env.fake
                .expedites()
                .iter()
                .filter(|e| e.task_id == "due" && e.expediting_user_ids.contains(&who.to_owned()))
                .count()
        };
        for hours in [1, 2, 3] {
            clock.advance(Duration::from_secs(3600));
            cycle(&engine).await;
            assert_eq!(to(&env, "u2"), 0, "{hours} h after the move");
        }
        clock.advance(Duration::from_secs(3600 + 60));
        cycle(&engine).await;
        cycle(&engine).await;
        assert_eq!(to(&env, "u2"), 1, "4 h after the move: {:?}", env.fake.expedites());
        assert_eq!(to(&env, "u1"), 0, "{:?}", env.fake.expedites());
        engine.store.close().await;
    }
}
