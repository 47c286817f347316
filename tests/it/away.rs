//! Away windows: while one holds, nothing reminds or escalates to its user; `plan`, the console
//! and digests say so; when it ends, what is due goes once.

use std::time::Duration;

use expediter::fake::FakeTask;
use serde_json::Value;

use crate::helpers::*;

const RULE: &str = r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "12h"
max_times = 10
opinion = "{task_id} #{n}"

[rules.escalate]
after_times = 1
wait = "1h"
cc = ["7000"]
"#;

both_backends! {
    #[tokio::test]
    pub async fn an_away_users_reminders_are_held_and_resume_once_when_the_window_ends() {
        let env = TestEnv::new().await;
        env.write_config("", RULE);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
        let run = env.run(&["away", "add", "--user", "u1", "--for", "2d", "--deputy", "u2", "--reason", "annual leave"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let id = run.stdout.trim().to_owned();
        assert!(run.stderr.contains("Zhang San") && run.stderr.contains("deputy Li Si"), "{}", run.stderr);
        // Bad input names the flag.
        let bad = env.run(&["away", "add", "--user", "nobody", "--for", "1d"]).await;
        assert_eq!(bad.code, 2, "{}", bad.all());
        assert!(bad.stderr.contains("--user"), "{}", bad.stderr);
        let bad = env.run(&["away", "add", "--user", "u1", "--until", "2001-01-01"]).await;
        assert_eq!(bad.code, 2, "{}", bad.all());
        assert!(bad.stderr.contains("--until"), "{}", bad.stderr);

        let clock = expediter::clock::Clock::system();
        let engine = env.engine(clock.clone()).await;
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.away, 1, "{}", report.summary());
        assert!(report.summary().contains("1 held (assignee away)"), "{}", report.summary());
        // u2 is reminded; u1, away, is not.
        let sent = env.fake.expedites();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].task_id, "t2");
        let plan = env.plan_json().await;
        let t1 = plan.iter().find(|e| e["task_id"] == "t1").unwrap();
        assert_eq!(t1["status"], "away", "{t1}");
        assert_eq!(t1["deputy"], "u2");
        let why = t1["why"].as_str().unwrap();
        assert!(why.starts_with("away until") && why.contains("(deputy Li Si): annual leave"), "{why}");
        // Two days on (four repeats of 12 h "missed", and the escalation's hour): u1's
        // window is over, and one reminder goes — not a burst of the held ones.
        clock.advance(Duration::from_secs(49 * 3600));
        engine.run_cycle(false).await.unwrap();
        clock.advance(Duration::from_secs(60));
        engine.run_cycle(false).await.unwrap();
        let to_u1: Vec<_> = env
            .fake
            .expedites()
            .into_iter()
            .filter(|e| e.task_id == "t1")
            .collect();
        assert_eq!(to_u1.len(), 1, "{to_u1:?}");
        // Nothing escalated about u1 while away: its cc waits for an unanswered reminder.
        assert!(env.fake.ccs().iter().all(|c| c.task_id != "t1"), "{:?}", env.fake.ccs());
        engine.store.close().await;

        // Who made it; removing it records who did.
        let list = env.run(&["away", "list", "--all", "--json"]).await;
        let all: Value = serde_json::from_str(&list.stdout).unwrap();
        assert!(all[0]["created_by"].as_str().unwrap().starts_with("cli:"), "{all}");
        assert_eq!(all[0]["deputy"], "u2");
        let rm = env.run(&["away", "remove", &id]).await;
        assert_eq!(rm.code, 0, "{}", rm.all());
        let list = env.run(&["away", "list", "--all", "--json"]).await;
        let all: Value = serde_json::from_str(&list.stdout).unwrap();
        assert!(all[0]["removed_by"].as_str().unwrap().starts_with("cli:"), "{all}");
        assert_eq!(env.run(&["away", "remove", "999"]).await.code, 1);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_window_to_come_holds_nothing_yet() {
        let env = TestEnv::new().await;
        env.write_config("", RULE);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let from = (chrono::Utc::now() + chrono::TimeDelta::days(3))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d")
            .to_string();
        let run = env.run(&["away", "add", "--user", "u1", "--from", &from, "--for", "1w"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.expedite_calls(), 1, "not away yet");
        let list = env.run(&["away", "list"]).await;
        assert!(list.stdout.contains("  to come  "), "{}", list.stdout);
        // A reminder that would fall inside a window to come goes when they are back, and plan
        // says so.
        with_cron(&env, "0 */10 * * * *");
        env.add(FakeTask::new("t2", &["u2"], 20 * HOUR));
        assert_eq!(env.run(&["once"]).await.code, 0);
        let from = chrono::Utc::now() + chrono::TimeDelta::hours(1);
        let run = env.run(&["away", "add", "--user", "u2", "--from", &from.to_rfc3339(), "--for", "1d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let plan = env.plan_json().await;
        let t2 = plan.iter().find(|e| e["task_id"] == "t2").unwrap();
        assert_eq!(t2["status"], "waiting", "{t2}");
        assert!(t2["why"].as_str().unwrap().contains("Li Si is away then, until"), "{t2}");
        let next = chrono::DateTime::parse_from_rfc3339(t2["next_due"].as_str().unwrap()).unwrap();
        assert!(next >= from + chrono::TimeDelta::days(1) - chrono::TimeDelta::seconds(1), "{t2}");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_reminder_before_someone_went_away_escalates_only_a_wait_after_they_are_back() {
        let env = TestEnv::new().await;
        env.write_config("", RULE);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let clock = expediter::clock::Clock::system();
        let engine = env.engine(clock.clone()).await;
        engine.run_cycle(false).await.unwrap();
        assert_eq!(env.expedite_calls(), 1, "reminded before the leave");
        let from = (clock.now() + chrono::TimeDelta::minutes(10)).to_rfc3339();
        let run = env.run(&["away", "add", "--user", "u1", "--from", &from, "--for", "2d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        // Away: the escalation's hour passes, nothing goes to them.
        clock.advance(Duration::from_secs(2 * 3600));
        engine.run_cycle(false).await.unwrap();
        assert!(env.fake.ccs().is_empty(), "{:?}", env.fake.ccs());
        assert_eq!(env.expedite_calls(), 1);
        // Back: the next reminder goes, and no cc in the same tick about the one they could not
        // answer.
        clock.advance(Duration::from_secs(2 * 86_400 - 3600));
        engine.run_cycle(false).await.unwrap();
        assert_eq!(env.expedite_calls(), 2);
        assert!(env.fake.ccs().is_empty(), "escalated at once on return: {:?}", env.fake.ccs());
        // A wait after the reminder since their return, unanswered: escalated.
        clock.advance(Duration::from_secs(2 * 3600));
        engine.run_cycle(false).await.unwrap();
        assert_eq!(env.fake.ccs().len(), 1, "{:?}", env.fake.ccs());
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn an_escalation_copies_nobody_who_is_away_and_goes_when_they_are_back() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            "[[rules]]\nname = \"chase\"\nafter = \"24h\"\nrepeat = \"30d\"\nmax_times = 5\n[rules.escalate]\nafter_times = 1\nwait = \"1h\"\ncc = [\"u2\"]\n",
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let clock = expediter::clock::Clock::system();
        let engine = env.engine(clock.clone()).await;
        engine.run_cycle(false).await.unwrap();
        assert_eq!(env.expedite_calls(), 1);
        // The lead the rule copies is away for a day.
        let run = env.run(&["away", "add", "--user", "u2", "--for", "1d"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        clock.advance(Duration::from_secs(2 * 3600));
        engine.run_cycle(false).await.unwrap();
        assert!(env.fake.ccs().is_empty(), "copied to someone away: {:?}", env.fake.ccs());
        // Back: the cc goes to them.
        clock.advance(Duration::from_secs(86_400));
        engine.run_cycle(false).await.unwrap();
        let ccs = env.fake.ccs();
        assert_eq!(ccs.len(), 1, "{ccs:?}");
        engine.store.close().await;
    }
}

both_backends! {
    /// Run with no login name in the environment (a unit, `env -i`), the command line still
    /// records who it was by the name the system gives their uid — `cli:root`, not `cli:uid 0`.
    #[tokio::test]
    async fn who_made_a_window_is_named_without_a_login_name_in_the_environment() {
        let env = TestEnv::new().await;
        let mut cmd = env.command(&["away", "add", "--user", "u1", "--for", "1d"]);
        cmd.env_remove("SUDO_USER").env_remove("USER").env_remove("LOGNAME");
        let out = cmd.output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let me = std::process::Command::new("id").arg("-un").output().unwrap();
        let me = String::from_utf8(me.stdout).unwrap().trim().to_owned();
        let list = env.run(&["away", "list", "--json"]).await;
        let all: Value = serde_json::from_str(&list.stdout).unwrap();
        assert_eq!(all[0]["created_by"], format!("cli:{me}"), "{all}");
    }
}

both_backends! {
    /// `away list` lines up with Chinese names: each column starts at the same terminal column
    /// on every line (a Chinese character takes two).
    #[tokio::test]
    async fn the_away_list_lines_up_with_chinese_names() {
        let env = TestEnv::new().await;
        env.write_config_with_users(
            "",
            "\n[[users]]\nid = \"u1\"\nname = \"张三丰\"\n\n[[users]]\nid = \"u2\"\nname = \"Li Si\"\n",
            RULE_ONCE_AFTER_24H,
        );
        for user in ["u1", "u2"] {
            let run = env.run(&["away", "add", "--user", user, "--for", "2d"]).await;
            assert_eq!(run.code, 0, "{}", run.all());
        }
        let list = env.run(&["away", "list"]).await;
        assert_eq!(list.code, 0, "{}", list.all());
        let starts: Vec<usize> = list
            .stdout
            .lines()
            .map(|l| {
                let at = l.find("FROM").or_else(|| l.find("20")).expect("a FROM column");
                expediter::table::width(&l[..at])
            })
            .collect();
        assert_eq!(starts.len(), 3, "{}", list.stdout);
        assert!(starts.iter().all(|s| *s == starts[0]), "{starts:?}\n{}", list.stdout);
    }
}
