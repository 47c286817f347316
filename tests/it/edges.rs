//! The promises at the edges of moves and away windows: a task moved away is not reminded to
//! whom it was moved from, a window or a silence that begins while a cycle runs holds the calls
//! still to go, a window ended by hand ends there, and an id that is not one id is refused.

use std::time::Duration;

use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind};

use crate::helpers::*;

async fn engine(env: &TestEnv) -> (expediter::cycle::Engine, expediter::clock::Clock) {
    let clock = expediter::clock::Clock::system();
    (env.engine(clock.clone()).await, clock)
}

fn reminders_to(env: &TestEnv, task: &str, user: &str) -> usize {
    env.fake
        .expedites()
        .iter()
        .filter(|e| e.task_id == task && e.expediting_user_ids.iter().any(|u| u == user))
        .count()
}

both_backends! {
    /// `transfer_to` with a repeat as short as the escalation's wait: in the cycle where both
    /// fall due, the task is transferred and its reminder to u1 is not sent (Feishu would
    /// answer "not its assignee"); later cycles remind u1 of nothing about it.
    #[tokio::test]
    pub async fn a_task_transferred_away_is_never_reminded_to_whom_it_left() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "1h"
max_times = 10
[rules.escalate]
after_times = 1
wait = "1h"
transfer_to = "9001"
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let (engine, clock) = engine(&env).await;
        engine.run_cycle(false).await.unwrap();
        assert_eq!(reminders_to(&env, "t1", "u1"), 1);
        // An hour on: reminder 2 and the transfer fall due together. Only the transfer goes.
        clock.advance(Duration::from_secs(3600 + 60));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(env.fake.moves().len(), 1, "{}", report.summary());
        assert_eq!(reminders_to(&env, "t1", "u1"), 1, "{:?}", env.fake.expedites());
        // plan says it is not u1's any more (before the next listing drops it).
        let plan = env.plan_json().await;
        if let Some(e) = plan.iter().find(|e| e["task_id"] == "t1" && e["assignee_id"] == "u1") {
            assert_eq!(e["status"], "moved_away", "{e}");
        }
        for _ in 0..3 {
            clock.advance(Duration::from_secs(3600 + 60));
            engine.run_cycle(false).await.unwrap();
        }
        assert_eq!(reminders_to(&env, "t1", "u1"), 1, "{:?}", env.fake.expedites());
        assert_eq!(env.fake.moves().len(), 1);
        engine.store.close().await;
    }
}

both_backends! {
    /// The cycle decides at its start; its calls go one by one. A window that begins while the
    /// first call hangs, and a silence made then, hold the calls still to go.
    #[tokio::test]
    pub async fn a_window_or_a_silence_that_begins_mid_cycle_holds_what_is_still_to_go() {
        let env = TestEnv::new().await;
        env.write_config(
            "request_timeout = \"10s\"",
            r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "12h"
max_times = 3
"#,
        );
        env.add(FakeTask::new("first", &["u2"], 50 * HOUR));
        env.add(FakeTask::new("t-u1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t-u3", &["u3"], 29 * HOUR));
        // The first reminder (the most overdue) takes 3 s to be answered.
        env.fake.inject(
            Fault::new(Endpoint::Acts(CallKind::Expedite), FaultKind::Hang(Duration::from_secs(3)))
                .task("first")
                .times(1),
        );
        let from = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(1500)).to_rfc3339();
        let run = env
            .run(&["away", "add", "--user", "u1", "--from", &from, "--for", "1d"])
            .await;
        assert_eq!(run.code, 0, "{}", run.all());
        let (engine, _clock) = engine(&env).await;
        let cycle = engine.run_cycle(false);
        let silence = async {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let run = env.run(&["silence", "add", "--task", "t-u3", "--for", "1d"]).await;
            assert_eq!(run.code, 0, "{}", run.all());
        };
        let (report, ()) = tokio::join!(cycle, silence);
        let report = report.unwrap();
        assert_eq!(reminders_to(&env, "first", "u2"), 1);
        assert_eq!(reminders_to(&env, "t-u1", "u1"), 0, "away since 1.5 s into the cycle: {}", report.summary());
        assert_eq!(reminders_to(&env, "t-u3", "u3"), 0, "silenced 1 s into the cycle: {}", report.summary());
        assert_eq!((report.away, report.silenced), (1, 1), "{}", report.summary());
        engine.store.close().await;
    }
}

both_backends! {
    /// A window removed by hand ends at its removal: the escalation's wait counts from there,
    /// as it does from a window that runs out by itself. (On the real clock: the CLI records
    /// the removal at the real time.)
    #[tokio::test]
    pub async fn a_window_removed_by_hand_ends_at_its_removal() {
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
wait = "4s"
transfer_to = "9001"
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let (engine, _clock) = engine(&env).await;
        engine.run_cycle(false).await.unwrap();
        assert_eq!(reminders_to(&env, "t1", "u1"), 1);
        // u1 goes away right after the reminder.
        let run = env.run(&["away", "add", "--user", "u1", "--for", "7d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let id = run.stdout.trim().to_owned();
        engine.run_cycle(false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(4500)).await;
        engine.run_cycle(false).await.unwrap();
        assert!(env.fake.moves().is_empty(), "moved while away");
        // Back early, past the wait after the reminder: the window is removed, and the wait
        // (4 s) counts from the removal.
        let run = env.run(&["away", "remove", &id]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        engine.run_cycle(false).await.unwrap();
        assert!(env.fake.moves().is_empty(), "moved the moment they were back: {:?}", env.fake.moves());
        tokio::time::sleep(Duration::from_millis(4500)).await;
        engine.run_cycle(false).await.unwrap();
        assert_eq!(env.fake.moves().len(), 1, "moved once the wait after the window is over");
        engine.store.close().await;
    }
}

both_backends! {
    /// An id with a comma, whitespace or a control character is refused where it enters —
    /// the CLI, the config — naming the field; a config that loaded before still loads.
    #[tokio::test]
    pub async fn an_id_that_is_not_one_id_is_refused_where_it_enters() {
        let env = TestEnv::new().await;
        env.write_config("", "[[rules]]\nname = \"chase\"\nafter = \"24h\"\n");
        for (deputy, says) in [("8302,8303", "\",\""), ("83 02", "whitespace"), ("83\u{202e}02", "control")] {
            let run = env
                .run(&["away", "add", "--user", "u1", "--for", "1d", "--deputy", deputy])
                .await;
            assert_eq!(run.code, 2, "{deputy:?}: {}", run.all());
            assert!(run.stderr.contains("--deputy") && run.stderr.contains(says), "{deputy:?}: {}", run.stderr);
        }
        let run = env.run(&["silence", "add", "--task", "t1,t2", "--for", "1d"]).await;
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains("--task"), "{}", run.stderr);
        // A century or more is refused, not stored with an until in the year 202031.
        let run = env.run(&["silence", "add", "--task", "t1", "--for", "200000y"]).await;
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains("century"), "{}", run.stderr);
        env.write_config(
            "",
            "[[rules]]\nname = \"chase\"\nafter = \"24h\"\nrepeat = \"1h\"\nmax_times = 3\n[rules.escalate]\nafter_times = 1\nadd_assignee = [\"8302,8303\"]\n",
        );
        let check = env.run(&["check"]).await;
        assert_eq!(check.code, 2, "{}", check.all());
        assert!(check.stderr.contains("add_assignee"), "{}", check.stderr);
        env.write_config("", "[[rules]]\nname = \"chase\"\nafter = \"24h\"\n");
        let check = env.run(&["check"]).await;
        assert_eq!(check.code, 0, "{}", check.all());
    }
}

both_backends! {
    /// A database written before a call's people were a list (comma-joined): the upgrade
    /// reads them back as lists, and nothing is moved again.
    #[tokio::test]
    pub async fn comma_joined_people_are_read_back_as_lists_after_the_upgrade() {
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
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["away", "add", "--user", "u1", "--for", "3d", "--deputy", "u3"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.fake.moves().len(), 1);
        // As the release before wrote it: the people joined by ",", migration 13 not applied.
        raw_sql(&env, "UPDATE expedites SET people = 'u3,u2' WHERE kind = 'add_assignee'").await;
        raw_sql(&env, "DELETE FROM _sqlx_migrations WHERE version = 13").await;
        for _ in 0..2 {
            let run = env.run(&["once"]).await;
            assert_eq!(run.code, 0, "{}", run.all());
        }
        assert_eq!(env.fake.moves().len(), 1, "{:?}", env.fake.moves());
        let (engine, _clock) = engine(&env).await;
        let record = engine.store.task_record("t1").await.unwrap().unwrap();
        let call = record.calls.iter().find(|c| c.kind == "add_assignee").unwrap();
        assert_eq!(call.people, vec!["u3".to_owned(), "u2".to_owned()]);
        engine.store.close().await;
    }
}

both_backends! {
    /// A task transferred to someone not watched leaves the watched lists: it is "moved
    /// away", not finished — the report does not count it done, the task's record says so.
    #[tokio::test]
    pub async fn a_task_moved_to_someone_not_watched_is_moved_away_not_done() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[away]
deputy_action = "transfer"

[[rules]]
name = "chase"
after = "24h"
repeat = "12h"
max_times = 10
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["away", "add", "--user", "u1", "--for", "3d", "--deputy", "9001"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        for _ in 0..3 {
            assert_eq!(env.run(&["once"]).await.code, 0);
        }
        assert_eq!(env.fake.moves().len(), 1);
        let run = env.run(&["report", "--json", "--since", "7d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let r: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let total = &r["total"];
        assert_eq!(total["moves"], 1, "{total}");
        assert_eq!(total["moved_tasks_finished"], 0, "{total}");
        assert_eq!(total["moved_tasks_moved_away"], 1, "{total}");
        assert!(total["median_seconds_from_move_to_done"].is_null(), "{total}");
        let table = env.run(&["report"]).await;
        assert!(table.stdout.contains("moved away, not known to be done"), "{}", table.stdout);
        let (engine, _clock) = engine(&env).await;
        let record = engine.store.task_record("t1").await.unwrap().unwrap();
        assert!(record.finished_at.is_some() && record.moved_away, "{record:?}");
        assert!(record.assignments.iter().all(|a| a.moved_away), "{record:?}");
        engine.store.close().await;
    }
}

both_backends! {
    /// A transfer whose answer proved nothing (a 504) may have been made: never repeated. When
    /// the next complete listing still holds the task for u1, it did not take: u1 is reminded
    /// again by the rule, not silenced for ever.
    #[tokio::test]
    pub async fn a_transfer_that_did_not_take_leaves_the_task_theirs() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "2h"
max_times = 10
[rules.escalate]
after_times = 1
wait = "1h"
transfer_to = "9001"
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake.inject(Fault::new(Endpoint::Acts(CallKind::Transfer), FaultKind::Status(504)).times(1));
        let (engine, clock) = engine(&env).await;
        engine.run_cycle(false).await.unwrap();
        clock.advance(Duration::from_secs(3600 + 60));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.moves_unknown, 1, "{}", report.summary());
        assert_eq!(env.fake.assignees_of("t1"), Some(vec!["u1".to_owned()]));
        // The next listing holds it for u1; the rule's next reminder goes.
        for _ in 0..3 {
            clock.advance(Duration::from_secs(3600 + 60));
            engine.run_cycle(false).await.unwrap();
        }
        assert!(reminders_to(&env, "t1", "u1") >= 2, "{:?}", env.fake.expedites());
        assert_eq!(env.fake.calls_to(Endpoint::Acts(CallKind::Transfer)).len(), 1, "never repeated");
        engine.store.close().await;
    }
}
