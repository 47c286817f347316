//! Rules end to end: flows, calendars, operators, fairness.

use crate::helpers::*;
use chrono::{Datelike, Utc};
use expediter::fake::{Endpoint, FakeTask, Fault, FaultKind};

both_backends! {
    #[tokio::test]
    pub async fn outside_the_calendar_an_expedite_is_deferred_then_released() {
        let env = TestEnv::new().await;
        // Closed today and tomorrow (in Shanghai), so that midnight passing while the test runs
        // changes nothing.
        let today = Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive();
        let tomorrow = today.succ_opt().unwrap();
        let closed = [today, tomorrow].map(|d| d.weekday().num_days_from_monday());
        let other_days: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .enumerate()
            .filter(|(i, _)| !closed.contains(&(*i as u32)))
            .map(|(_, d)| format!("\"{d}\""))
            .collect();
        let rules = |workdays: &str| {
            format!(
                "[[calendars]]\nname = \"office\"\nweekdays = [{}]\nhours = [\"00:00-24:00\"]\nworkdays = [{workdays}]\n\n\
                 [[rules]]\nname = \"office-hours\"\nafter = \"24h\"\ncalendar = \"office\"\n",
                other_days.join(", ")
            )
        };
        env.write_config("", &rules(""));
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "deferred is not a failure: {}", run.all());
        assert!(
            run.stderr.contains("expedites_deferred=1"),
            "{}",
            run.stderr
        );
        assert_eq!(env.expedite_calls(), 0, "closed today");
        let plan = env.plan_json().await;
        assert_eq!(plan[0]["status"], "deferred");
        assert!(
            plan[0]["why"]
                .as_str()
                .unwrap()
                .contains("outside calendar until"),
            "{plan:?}"
        );

        // Today (and tomorrow) become make-up working days: the deferred expedite goes out in the
        // next cycle.
        env.write_config("", &rules(&format!("\"{today}\", \"{tomorrow}\"")));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.expedites().len(), 1);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn one_listing_per_distinct_api_ids_set_then_only_what_is_unknown() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "flow-a"
    api_ids = ["fa"]
    after = "1h"

    [[rules]]
    name = "flow-bc"
    api_ids = ["fc", "fb"]
    after = "1h"

    [[rules]]
    name = "flow-bc-finance"
    api_ids = ["fb", "fc"]
    teams = ["finance"]
    after = "1h"

    [[rules]]
    name = "rest"
    after = "100h"
    "#,
        );
        env.add(FakeTask::new("a1", &["u1"], 2 * HOUR).flow("fa"));
        env.add(FakeTask::new("b1", &["u1", "u2"], 2 * HOUR).flow("fb"));
        env.add(FakeTask::new("x1", &["u2"], 2 * HOUR).flow("other"));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let queries = env.fake.calls_to(Endpoint::Query);
        let per_user = |u: &str| {
            queries
                .iter()
                .filter(|c| c.user.as_deref() == Some(u))
                .map(|c| c.api_ids.clone())
                .collect::<Vec<_>>()
        };
        // u1 and u2: unfiltered, [fa], [fb, fc] — one listing per distinct set, never per rule or id.
        let expected = vec![
            None,
            Some(vec!["fa".to_owned()]),
            Some(vec!["fb".to_owned(), "fc".to_owned()]),
        ];
        assert_eq!(per_user("u1"), expected);
        assert_eq!(per_user("u2"), expected);
        // u3 has no tasks: nothing to learn from filtered listings.
        assert_eq!(per_user("u3"), vec![None]);
        let mut sent: Vec<(String, Vec<String>)> = env
            .fake
            .expedites()
            .into_iter()
            .map(|e| (e.task_id, e.expediting_user_ids))
            .collect();
        sent.sort();
        assert_eq!(
            sent,
            vec![
                ("a1".into(), vec!["u1".into()]),
                ("b1".into(), vec!["u1".into(), "u2".into()])
            ]
        );
        let plan = env.plan_json().await;
        let rule_of = |t: &str, u: &str| {
            plan.iter()
                .find(|e| e["task_id"] == t && e["assignee_id"] == u)
                .unwrap()["rule"]
                .clone()
        };
        assert_eq!(rule_of("a1", "u1"), "flow-a");
        assert_eq!(rule_of("b1", "u2"), "flow-bc");
        assert_eq!(rule_of("x1", "u2"), "rest");

        // Second cycle: a task one filtered listing lacked is only a doubt (a listing can skip a
        // task); the filtered listings run again and confirm it. (A listing of the same cycle
        // does not: u1's and u2's listings by fa both lacked b1, and it is still a doubt.)
        let before = env.fake.calls_to(Endpoint::Query).len();
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.calls_to(Endpoint::Query).len() - before, 3 + 4);
        // Third cycle: every task's flow is known, so only the unfiltered listings run.
        let before = env.fake.calls_to(Endpoint::Query).len();
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(
            env.fake.calls_to(Endpoint::Query).len() - before,
            3,
            "one unfiltered listing per user"
        );
        assert!(run.stderr.contains("listings_skipped=6"), "{}", run.stderr);
        // A new task of unknown flow brings the filtered listings back for its user only.
        env.add(FakeTask::new("a2", &["u1"], 2 * HOUR).flow("fa"));
        let before = env.fake.calls_to(Endpoint::Query).len();
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.fake.calls_to(Endpoint::Query).len() - before, 5);
        assert!(env.fake.expedites().iter().any(|e| e.task_id == "a2"));
    }
}

both_backends! {
    #[tokio::test]
    pub async fn the_initiator_can_be_the_operator() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            "[[rules]]\nname = \"nudge\"\nafter = \"1h\"\noperator_user_id = \"initiator\"\nopinion = \"{initiator} asks {user}\"\n",
        );
        env.add(FakeTask::new("t1", &["u1"], 2 * HOUR).initiator("4242", "Qian Mei"));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let sent = env.fake.expedites();
        assert_eq!(sent[0].operator_user_id, "4242");
        assert_eq!(sent[0].opinion.as_deref(), Some("Qian Mei asks Zhang San"));
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_short_budget_sends_the_most_overdue_first_round_robin() {
        use chrono::TimeZone;
        let env = TestEnv::new().await;
        // 120/min (one call per 0.5 s) and a tick at 18:00; the cycle starts at 17:59:57 (a day
        // ahead of now, so every task is old enough). The listing of three users takes 1 s, calls
        // may start until 17:59:59.5: three fit.
        env.write_config("requests_per_minute = 120", RULE_ONCE_AFTER_24H);
        with_cron(&env, "0 0 9,18 * * *");
        for (id, user, hours) in [
            ("u1-old", "u1", 100),
            ("u1-mid", "u1", 90),
            ("u1-new", "u1", 80),
            ("u2-mid", "u2", 50),
            ("u2-new", "u2", 40),
            ("u3-new", "u3", 30),
        ] {
            env.add(FakeTask::new(id, &[user], hours * HOUR));
        }
        let tomorrow = expediter::clock::Clock::system()
            .now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
            .succ_opt()
            .unwrap();
        let at = |h, m, s| {
            chrono_tz::Asia::Shanghai
                .from_local_datetime(&tomorrow.and_hms_opt(h, m, s).unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let clock = expediter::clock::Clock::starting_at(at(17, 59, 57));
        let engine = env.engine(clock.clone()).await;
        let report = engine.run_cycle(false).await.unwrap();
        let order: Vec<String> = env
            .fake
            .expedites()
            .into_iter()
            .map(|e| e.task_id)
            .collect();
        assert_eq!(
            order,
            vec!["u1-old", "u2-mid", "u3-new"],
            "one each, most overdue first"
        );
        assert_eq!(report.expedites_carried_over, 3, "{report:?}");
        // The next tick sends the rest.
        clock.set(at(18, 0, 0));
        let report = engine.run_cycle(false).await.unwrap();
        assert_eq!(report.expedites_carried_over, 0, "{report:?}");
        // Which of them goes first depends on when each user's listing lands; all three go.
        let mut rest: Vec<String> = env
            .fake
            .expedites()
            .into_iter()
            .map(|e| e.task_id)
            .skip(3)
            .collect();
        rest.sort();
        assert_eq!(
            rest,
            vec!["u1-mid", "u1-new", "u2-new"],
            "the rest stayed due"
        );
        engine.store.close().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn check_explains_rules_and_warns_about_shadowed_ones() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[calendars]]
    name = "cn-office"
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    hours = ["09:00-12:00", "13:30-18:30"]
    holidays = ["2026-10-01"]

    [[rules]]
    name = "finance-approvals"
    teams = ["finance"]
    api_ids = ["flow_x"]
    label = "报销*"
    after = "24h"
    repeat = "12h"
    max_times = 3
    calendar = "cn-office"

    [[rules]]
    name = "everyone"
    after = "48h"

    [[rules]]
    name = "never"
    teams = ["ops"]
    after = "1h"
    "#,
        );
        let run = env.run(&["check"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stdout.contains("finance-approvals: team finance, flow flow_x, label 报销*; first after 1d, then every 12h, at most 3 times; Mon–Fri 09:00-12:00, 13:30-18:30, except 1 holiday(s) Asia/Shanghai (cn-office)"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("rule \"never\" is fully shadowed by the earlier rule \"everyone\""),
            "{}",
            run.stdout
        );
    }
}

both_backends! {
    /// A filtered listing that skipped a task of its flow (a task finished and another arrived
    /// between its pages: the total held) does not settle the task's flow for good: the next
    /// filtered listing finds it, and the flow's rule owns it.
    #[tokio::test]
    pub async fn a_task_a_shifted_filtered_listing_skipped_is_still_owned_by_its_flows_rule() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
    [[rules]]
    name = "flow-a"
    api_ids = ["fa"]
    after = "1h"
    max_times = 0

    [[rules]]
    name = "rest"
    after = "100h"
    "#,
        );
        for i in 0..120 {
            env.add(FakeTask::new(format!("t{i:03}"), &["u1"], 2 * HOUR).flow("fa"));
        }
        // The first cycle lists u1 unfiltered (offsets 0, 50, 100), then by flow fa: just before
        // the filtered listing's second page t010 finishes and a task of fa arrives at the end, so
        // t050 slides onto the first page, already read, and that listing lacks it.
        env.fake.inject(
            Fault::new(
                Endpoint::Query,
                FaultKind::Shift {
                    finish: "t010".into(),
                    arrive: Box::new(FakeTask::new("arrived", &["u1"], 2 * HOUR).flow("fa")),
                },
            )
            .user("u1")
            .offset(50)
            .after(1),
        );
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let filtered = |env: &TestEnv| {
            env.fake
                .calls_to(Endpoint::Query)
                .iter()
                .filter(|c| c.user.as_deref() == Some("u1") && c.api_ids.is_some())
                .count()
        };
        assert_eq!(filtered(&env), 3, "the shift leaves no trace in the total");
        // Whatever that listing lacked is a doubt: the next cycle lists by flow again, finds t050,
        // and its flow's rule owns it.
        for _ in 0..2 {
            assert_eq!(env.run(&["once"]).await.code, 0);
        }
        let plan = env.plan_json().await;
        let rule_of = |t: &str| {
            plan.iter()
                .find(|e| e["task_id"] == t)
                .map(|e| e["rule"].clone())
        };
        assert_eq!(rule_of("t050"), Some("flow-a".into()), "t050");
        assert_eq!(rule_of("t051"), Some("flow-a".into()));
        assert!(filtered(&env) > 3, "listed by flow again");
    }
}
