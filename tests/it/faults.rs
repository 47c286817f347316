//! Every fault path: injected into the fake Feishu, or into the process and its database.
//! SQLite only: faults of Feishu's side and of the SQLite file (a full disk, a read-only file
//! system, a locked file); PostgreSQL's faults are in two_hosts.rs and stop.rs.

use std::time::Duration;

use crate::helpers::*;
use expediter::fake::{CallKind, Endpoint, FakeTask, Fault, FaultKind};

#[tokio::test]
async fn rate_budget_keeps_every_window_under_the_limit() {
    let env = TestEnv::new().await;
    let users = 200;
    env.write_config_with_users(
        "requests_per_minute = 1000",
        &many_users(users),
        RULE_ONCE_AFTER_24H,
    );
    env.fake
        .set_rate_limit(Endpoint::Query, 50, Duration::from_secs(3));
    env.fake.set_rate_limit(
        Endpoint::Acts(CallKind::Expedite),
        50,
        Duration::from_secs(3),
    );
    one_due_task_each(&env, users);
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let calls = env.fake.calls();
    let limited = calls.iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 0, "no 429 at 1000/min against 50 per 3 s");
    for endpoint in [Endpoint::Query, Endpoint::Acts(CallKind::Expedite)] {
        let times: Vec<_> = calls
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .map(|c| c.at)
            .collect();
        assert_eq!(times.len(), users, "{endpoint:?}");
        assert!(
            max_in_window(&times, Duration::from_secs(3)) <= 50,
            "{endpoint:?}"
        );
        // No burst either: 1000/min is 20 calls per 1.2 s, plus the pacer's burst of 2. (A
        // shorter window measures the host's scheduling jitter more than the pacing.)
        let short = max_in_window(&times, Duration::from_millis(1200));
        let gaps: Vec<u128> = times
            .windows(2)
            .map(|w| w[1].duration_since(w[0]).as_millis())
            .collect();
        assert!(
            short <= 22,
            "{endpoint:?}: no burst in a short window: {short}, gaps {gaps:?}"
        );
    }
    assert_eq!(env.fake.expedites().len(), users);
}

#[tokio::test]
async fn calls_past_the_next_tick_are_carried_over_and_go_next_cycle() {
    // Ticks every 2 s at 90/min (0.67 s a call): each of three users has four due tasks, far
    // more than fit before the tick after the listing. The cycle ends at that tick, what is
    // left is carried over and counted, and the next cycles send it.
    let env = TestEnv::new().await;
    let users = 3;
    env.write_config_with_users(
        "requests_per_minute = 90",
        &many_users(users),
        RULE_ONCE_AFTER_24H,
    );
    with_cron(&env, "*/2 * * * * *");
    for u in 0..users {
        for t in 0..4 {
            env.add(FakeTask::new(
                format!("t{u}-{t}"),
                &[&format!("m{u:03}")],
                (30 + t) as u32 * HOUR,
            ));
        }
    }
    assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
    let mut sent_before = 0;
    for run_no in 0..12 {
        let run = tokio::time::timeout(Duration::from_secs(40), env.run(&["once"]))
            .await
            .expect("`once` ends at the tick after its listing");
        assert_eq!(run.code, 0, "{}", run.all());
        let sent = env.fake.expedites().len();
        let carried = run
            .stderr
            .split("expedites_carried_over=")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .expect("the cycle line counts what was carried over");
        assert_eq!(
            sent - sent_before + carried,
            12 - sent_before,
            "every due call is sent or carried over: {}",
            run.stderr
        );
        assert!(
            sent > sent_before,
            "each cycle sends something: {}",
            run.stderr
        );
        if run_no == 0 {
            assert!(
                carried > 0,
                "12 calls do not fit in 2 s at 0.67 s: {}",
                run.stderr
            );
        }
        sent_before = sent;
        if carried == 0 {
            break;
        }
    }
    assert_eq!(env.fake.expedites().len(), 12);
    // Each user's most overdue task went before their others.
    let order: Vec<String> = env
        .fake
        .expedites()
        .iter()
        .map(|e| e.task_id.clone())
        .collect();
    for u in 0..users {
        let theirs: Vec<&String> = order
            .iter()
            .filter(|t| t.starts_with(&format!("t{u}-")))
            .collect();
        assert_eq!(theirs[0], &format!("t{u}-3"), "{order:?}");
    }
}

#[tokio::test]
async fn a_429_pauses_that_api_for_the_reset_then_retries() {
    for (reset, min_gap) in [
        (Some(2), Duration::from_millis(1900)),
        (None, Duration::from_millis(900)),
    ] {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake.inject(
            Fault::new(Endpoint::Query, FaultKind::RateLimit { reset_secs: reset }).user("u1"),
        );
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::Code {
                code: 99991400,
                http_status: 400,
            },
        ));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let q = env.fake.calls_to(Endpoint::Query);
        let gap = q[1].at.duration_since(q[0].at);
        assert!(
            q[0].status == 429 && gap >= min_gap,
            "reset {reset:?}: waited {gap:?}"
        );
        assert_eq!(
            env.fake.expedites().len(),
            1,
            "the expedite went through after its rate-limit answer"
        );
        assert!(run.stderr.contains("rate_limit_waits=2"), "{}", run.stderr);
        assert!(
            run.stderr.contains("rate limited by Feishu"),
            "{}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn short_lived_tokens_over_a_long_cycle() {
    let env = TestEnv::new().await;
    let users = 50;
    env.write_config_with_users(
        "requests_per_minute = 600",
        &many_users(users),
        RULE_ONCE_AFTER_24H,
    );
    env.fake.set_token_ttl(Duration::from_secs(2));
    one_due_task_each(&env, users);
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let calls = env.fake.calls();
    let first = calls.first().unwrap().at;
    let span = calls.last().unwrap().at.duration_since(first);
    assert!(
        span >= Duration::from_secs(9),
        "the cycle outlives several tokens: {span:?}"
    );
    let tokens = env.fake.calls_to(Endpoint::Token).len();
    let rejected = calls.iter().filter(|c| c.code == 99991663).count();
    assert!(tokens >= 4, "tokens were refreshed: {tokens}");
    assert!(
        rejected <= tokens,
        "at most one rejected call per expiry: {rejected} rejected, {tokens} tokens"
    );
    assert_eq!(env.fake.expedites().len(), users, "every call completed");
}

#[tokio::test]
async fn a_refused_token_is_replaced_and_the_call_retried_once() {
    for code in [99991663, 99991661, 99991665, 99991671] {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake.inject(Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::Code {
                code,
                http_status: 400,
            },
        ));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{code}: {}", run.all());
        assert_eq!(
            env.fake.calls_to(Endpoint::Token).len(),
            2,
            "{code}: a new token was fetched"
        );
        assert_eq!(env.fake.expedites().len(), 1, "{code}");
    }
    // Refused twice in a row: retried once only, then given up.
    let env = TestEnv::new().await;
    env.fake.inject(
        Fault::new(
            Endpoint::Query,
            FaultKind::Code {
                code: 99991663,
                http_status: 400,
            },
        )
        .user("u1")
        .times(2),
    );
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        env.fake
            .calls_to(Endpoint::Query)
            .iter()
            .filter(|c| c.user.as_deref() == Some("u1"))
            .count(),
        2
    );
}

fn transient_faults() -> Vec<(&'static str, FaultKind)> {
    vec![
        ("HTTP 500", FaultKind::Status(500)),
        ("HTTP 503", FaultKind::Status(503)),
        ("garbage body", FaultKind::Garbage),
        ("truncated body", FaultKind::Truncated),
        (
            "code 1500",
            FaultKind::Code {
                code: 1500,
                http_status: 200,
            },
        ),
        (
            "code 5000",
            FaultKind::Code {
                code: 5000,
                http_status: 200,
            },
        ),
        (
            "code 10101",
            FaultKind::Code {
                code: 10101,
                http_status: 200,
            },
        ),
        (
            "code 2200",
            FaultKind::Code {
                code: 2200,
                http_status: 200,
            },
        ),
        (
            "hang past request_timeout",
            FaultKind::Hang(Duration::from_secs(3)),
        ),
    ]
}

#[tokio::test]
async fn transient_listing_errors_are_retried_then_succeed() {
    for (name, kind) in transient_faults() {
        let env = TestEnv::new().await;
        env.write_config("request_timeout = \"1s\"", RULE_ONCE_AFTER_24H);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake
            .inject(Fault::new(Endpoint::Query, kind).user("u1").times(2));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{name}: {}", run.all());
        let u1 = env
            .fake
            .calls_to(Endpoint::Query)
            .iter()
            .filter(|c| c.user.as_deref() == Some("u1"))
            .count();
        // A hung call never reaches the fake's record; the others do.
        if !name.starts_with("hang") {
            assert_eq!(u1, 3, "{name}: two failures, one success");
        }
        assert!(run.stderr.contains("retries=2"), "{name}: {}", run.stderr);
        assert_eq!(env.fake.expedites().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn persistent_transient_errors_give_up_that_user_and_carry_on() {
    for (name, kind) in transient_faults() {
        let env = TestEnv::new().await;
        env.write_config(
            "request_timeout = \"1s\"\nmax_retries = 2",
            RULE_ONCE_AFTER_24H,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
        assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
        env.fake
            .inject(Fault::new(Endpoint::Query, kind).user("u1").always());
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "{name}: {}", run.all());
        assert!(
            run.stderr.contains("users_listed=2") && run.stderr.contains("users_failed=1"),
            "{name}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("listing failed; this user's tasks are kept as they were"),
            "{name}: {}",
            run.stderr
        );
        // u1's task stays pending and is still expedited from what is known; u2 carries on.
        let sent: Vec<String> = env
            .fake
            .expedites()
            .iter()
            .map(|e| e.task_id.clone())
            .collect();
        assert_eq!(sent, vec!["t1", "t2"], "{name}");
    }
}

#[tokio::test]
async fn a_refused_connection_fails_the_cycle_plainly() {
    let env = TestEnv::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let text = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace(&env.fake.url(), &format!("http://127.0.0.1:{port}"));
    std::fs::write(&env.config_path, text).unwrap();
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("cannot reach Feishu"), "{}", run.stderr);
    assert!(run.stderr.contains("users_failed=3"), "{}", run.stderr);
}

#[tokio::test]
async fn final_errors_are_not_retried_and_say_what_to_do() {
    // (name, endpoint, code, http status, advice in the log)
    let cases = [
        (
            "scope missing",
            Endpoint::Query,
            99991672,
            403,
            "app_engine:approval:read",
        ),
        (
            "quota used up",
            Endpoint::Query,
            99991403,
            403,
            "monthly API quota",
        ),
        ("bad app id", Endpoint::Token, 10003, 400, "app_id"),
        (
            "app unavailable",
            Endpoint::Token,
            10014,
            400,
            "app is unavailable",
        ),
        (
            "wrong secret",
            Endpoint::Token,
            10015,
            400,
            "wrong app secret",
        ),
    ];
    for (name, endpoint, code, http_status, advice) in cases {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        env.fake
            .inject(Fault::new(endpoint, FaultKind::Code { code, http_status }).always());
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "{name}: {}", run.all());
        assert_eq!(
            env.fake.calls_to(endpoint).len(),
            1,
            "{name}: one call, not retried, and the cycle stops"
        );
        assert!(
            run.stderr.contains(&code.to_string()) && run.stderr.contains(advice),
            "{name}: {}",
            run.stderr
        );
        assert_eq!(env.fake.expedites().len(), 0, "{name}");
    }
    // 2320001 on expediting: final for that task, recorded as failed, others carry on.
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
    env.fake.inject(
        Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::Code {
                code: 2320001,
                http_status: 400,
            },
        )
        .task("t1")
        .always(),
    );
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        env.fake.calls_to(Endpoint::Acts(CallKind::Expedite)).len(),
        2
    );
    assert!(
        run.stderr.contains("2320001") && run.stderr.contains("no longer pending"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.fake
            .expedites()
            .iter()
            .map(|e| e.task_id.as_str())
            .collect::<Vec<_>>(),
        vec!["t2"]
    );
    assert_eq!(
        env.plan_json()
            .await
            .iter()
            .find(|e| e["task_id"] == "t1")
            .unwrap()["expedites_sent"],
        0
    );
}

#[tokio::test]
async fn ambiguous_expedite_answers_are_never_repeated() {
    // Feishu acts, then the answer fails: each task must be reminded exactly once, across
    // several cycles, whatever the failed answer looked like.
    let acted_then = [
        ("504 page", FaultKind::GatewayPage(504)),
        ("502 page", FaultKind::GatewayPage(502)),
        ("500 with a code", FaultKind::Status(500)),
        (
            "503 with code 5000",
            FaultKind::Code {
                code: 5000,
                http_status: 503,
            },
        ),
        (
            "200 with code 1500",
            FaultKind::Code {
                code: 1500,
                http_status: 200,
            },
        ),
        ("garbage body", FaultKind::Garbage),
        ("truncated body", FaultKind::Truncated),
        (
            "hang past request_timeout",
            FaultKind::Hang(Duration::from_secs(3)),
        ),
    ];
    let env = TestEnv::new().await;
    env.write_config("request_timeout = \"1s\"", RULE_ONCE_AFTER_24H);
    let users = acted_then.len();
    env.write_config_with_users(
        "request_timeout = \"1s\"",
        &many_users(users),
        RULE_ONCE_AFTER_24H,
    );
    one_due_task_each(&env, users);
    for (i, (_, kind)) in acted_then.iter().enumerate() {
        env.fake.inject(
            Fault::new(
                Endpoint::Acts(CallKind::Expedite),
                FaultKind::ActThen(Box::new(kind.clone())),
            )
            .task(&format!("t{i:03}"))
            .always(),
        );
    }
    let run = env.run(&["once"]).await;
    assert_eq!(
        run.code,
        1,
        "an unknown outcome is not a clean success: {}",
        run.all()
    );
    assert!(
        run.stderr
            .contains("expedite outcome unknown; counted as sent and not repeated"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("expedites_unknown={users}")),
        "{}",
        run.stderr
    );
    for _ in 0..2 {
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
    }
    for (i, (name, _)) in acted_then.iter().enumerate() {
        let task = format!("t{i:03}");
        let delivered = env
            .fake
            .expedites()
            .iter()
            .filter(|e| e.task_id == task)
            .count();
        assert_eq!(delivered, 1, "{name}: reminded once");
        let calls = env.fake.calls_to(Endpoint::Acts(CallKind::Expedite)).len();
        assert!(
            calls <= users + 1,
            "{name}: no call repeated ({calls} calls)"
        );
    }
    let plan = env.plan_json().await;
    assert!(
        plan.iter().all(|e| e["expedites_sent"] == 1),
        "each counts as sent: {plan:?}"
    );
}

#[tokio::test]
async fn a_5xx_before_acting_is_not_retried_either_but_a_refused_token_is() {
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
    // Nobody can tell a 502 that came before Feishu acted from one that came after.
    env.fake
        .inject(Fault::new(Endpoint::Acts(CallKind::Expedite), FaultKind::Status(502)).task("t1"));
    // Answers that prove nothing happened are retried.
    env.fake.inject(
        Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::RateLimit {
                reset_secs: Some(1),
            },
        )
        .task("t2"),
    );
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    let sent: Vec<String> = env
        .fake
        .expedites()
        .iter()
        .map(|e| e.task_id.clone())
        .collect();
    assert_eq!(sent, vec!["t2"], "t1 not retried; t2 retried after its 429");
    let t1_calls = env.fake.calls_to(Endpoint::Acts(CallKind::Expedite)).len();
    assert_eq!(t1_calls, 3, "t1 once, t2 twice");
    assert_eq!(env.run(&["once"]).await.code, 0);
    assert_eq!(env.fake.expedites().len(), 1, "t1 is never repeated");
}

#[tokio::test]
async fn a_task_finishing_mid_listing_loses_no_other_task() {
    let env = TestEnv::new().await;
    for i in 0..120 {
        env.add(FakeTask::new(format!("t{i:03}"), &["u1"], HOUR));
    }
    // t010 finishes just before page 2 is read: every later task slides back one place.
    env.fake.inject(
        Fault::new(Endpoint::Query, FaultKind::FinishTask("t010".into()))
            .user("u1")
            .offset(50),
    );
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("reading the listing again"),
        "{}",
        run.stderr
    );
    let ids = |plan: &[serde_json::Value]| -> std::collections::BTreeSet<String> {
        plan.iter()
            .map(|e| e["task_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let plan = env.plan_json().await;
    assert_eq!(plan.len(), 120, "each task once");
    assert_eq!(ids(&plan).len(), 120);
    assert!(
        ids(&plan).contains("t050"),
        "the task that slid onto page 1 is not lost"
    );
    let t010 = plan.iter().find(|e| e["task_id"] == "t010").unwrap();
    assert_eq!(t010["status"], "unconfirmed", "{t010}");
    // The next complete listing confirms it.
    assert_eq!(env.run(&["once"]).await.code, 0);
    let plan = env.plan_json().await;
    assert_eq!(plan.len(), 119, "each task once");
    assert_eq!(ids(&plan).len(), 119);
    assert!(ids(&plan).contains("t050"));
    assert!(
        !ids(&plan).contains("t010"),
        "the finished task is finished"
    );
}

#[tokio::test]
async fn a_shift_that_keeps_the_total_never_finishes_a_pending_task() {
    let env = TestEnv::new().await;
    for i in 0..120 {
        env.add(FakeTask::new(format!("t{i:03}"), &["u1"], HOUR));
    }
    assert_eq!(env.run(&["once"]).await.code, 0);
    // Just before page 2: t010 (page 1) finishes and an old task arrives at the end. The total
    // stays 120, so nothing looks wrong, and t050 slides onto page 1, which was read already.
    env.fake.inject(
        Fault::new(
            Endpoint::Query,
            FaultKind::Shift {
                finish: "t010".into(),
                arrive: Box::new(FakeTask::new("transferred", &["u1"], 40 * HOUR)),
            },
        )
        .user("u1")
        .offset(50),
    );
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let u1_pages: Vec<_> = env
        .fake
        .calls_to(Endpoint::Query)
        .into_iter()
        .filter(|c| c.user.as_deref() == Some("u1"))
        .map(|c| c.offset)
        .collect();
    assert_eq!(
        u1_pages[3..],
        [Some(0), Some(50), Some(100)],
        "one pass: the shift leaves no trace in the total"
    );
    let status = |plan: &[serde_json::Value], task: &str| {
        plan.iter()
            .find(|e| e["task_id"] == task)
            .map(|e| e["status"].as_str().unwrap().to_owned())
    };
    let plan = env.plan_json().await;
    assert_eq!(
        status(&plan, "t050").as_deref(),
        Some("unconfirmed"),
        "t050 was not seen, but one listing is no proof: it stays"
    );
    assert!(status(&plan, "transferred").is_some());
    // t010 was read on page 1 before it finished: this listing saw it.
    assert_eq!(status(&plan, "t010").as_deref(), Some("waiting"));
    // The next listing holds t050 again: it is pending as before. It lacks t010, once.
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let plan = env.plan_json().await;
    assert_eq!(status(&plan, "t050").as_deref(), Some("waiting"));
    assert_eq!(status(&plan, "t010").as_deref(), Some("unconfirmed"));
    // And the one after confirms t010 finished; t050 stays.
    let run = env.run(&["once"]).await;
    assert!(run.stderr.contains("tasks_finished=1"), "{}", run.stderr);
    let plan = env.plan_json().await;
    assert_eq!(status(&plan, "t050").as_deref(), Some("waiting"));
    assert_eq!(status(&plan, "t010"), None);
    assert_eq!(plan.len(), 120);
}

#[tokio::test]
async fn lenient_decoding_keeps_the_rest_of_the_page() {
    let env = TestEnv::new().await;
    env.fake.set_numeric_fields(true);
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u1"], 30 * HOUR).no_start_time());
    env.add(FakeTask::new("t3", &["u1"], 2 * HOUR));
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let plan = env.plan_json().await;
    assert_eq!(plan.len(), 3);
    // t2 has no start time: its age counts from first seen, so it is not due yet.
    let t2 = plan.iter().find(|e| e["task_id"] == "t2").unwrap();
    assert!(t2["age_seconds"].as_u64().unwrap() < 60, "{t2}");
    assert_eq!(
        env.fake
            .expedites()
            .iter()
            .map(|e| e.task_id.as_str())
            .collect::<Vec<_>>(),
        vec!["t1"]
    );
}

#[tokio::test]
async fn kill_9_while_expediting_never_repeats_the_expedite() {
    let env = TestEnv::new().await;
    env.write_config("request_timeout = \"60s\"", RULE_ONCE_AFTER_24H);
    env.add(FakeTask::new("a", &["u1"], 50 * HOUR));
    env.add(FakeTask::new("b", &["u2"], 40 * HOUR));
    env.add(FakeTask::new("c", &["u3"], 30 * HOUR));
    // The platform acts on `b`, then the answer hangs: the process is killed inside that call.
    env.fake.inject(
        Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::ActThenHang(Duration::from_secs(60)),
        )
        .task("b"),
    );
    let mut child = env.spawn(&["once"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !env.fake.expedites().iter().any(|e| e.task_id == "b") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "b was never expedited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    env.fake.clear_faults();

    let run = env.run(&["once"]).await;
    assert!(run.stderr.contains("outcome unknown"), "{}", run.stderr);
    let sent: Vec<String> = env
        .fake
        .expedites()
        .iter()
        .map(|e| e.task_id.clone())
        .collect();
    assert_eq!(
        sent.iter().filter(|t| *t == "b").count(),
        1,
        "b never sent twice: {sent:?}"
    );
    assert_eq!(
        sent,
        vec!["a", "b", "c"],
        "a before the kill, c after the restart"
    );
    let plan = env.plan_json().await;
    assert!(plan.iter().all(|e| e["expedites_sent"] == 1), "{plan:?}");
}

#[tokio::test]
async fn kill_9_at_random_moments_never_sends_twice() {
    let env = TestEnv::new().await;
    env.write_config("requests_per_minute = 300", RULE_ONCE_AFTER_24H);
    for i in 0..12 {
        let user = ["u1", "u2", "u3"][i % 3];
        env.add(FakeTask::new(format!("k{i:02}"), &[user], 30 * HOUR));
    }
    // Each expedite is acted on, then its answer takes 300 ms: most moments of a run are
    // inside a call, where a kill leaves an intent without an outcome.
    env.fake.inject(
        Fault::new(
            Endpoint::Acts(CallKind::Expedite),
            FaultKind::ActThenHang(Duration::from_millis(300)),
        )
        .always(),
    );
    for round in 0..8u64 {
        let mut child = env.spawn(&["once"]);
        tokio::time::sleep(Duration::from_millis(150 + (round * 397) % 1500)).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let run = env.run(&["once"]).await;
    assert!(run.code == 0 || run.code == 1, "{}", run.all());
    let mut per_task = std::collections::HashMap::new();
    for e in env.fake.expedites() {
        *per_task.entry(e.task_id).or_insert(0) += 1;
    }
    assert!(
        per_task.values().all(|n| *n == 1),
        "each task expedited at most once: {per_task:?}"
    );
    // Everything that was not lost in an interrupted call has been sent by now.
    assert!(per_task.len() >= 4, "{per_task:?}");
    // Some kill landed mid-call: its intent was settled as unknown, and the reminder the
    // platform had acted on was not sent again.
    let mut conn = raw_db(&env.db_path).await;
    let unknown: i64 =
        sqlx::query_scalar("SELECT count(*) FROM expedites WHERE outcome = 'unknown'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(unknown >= 1, "no kill landed inside a call: {per_task:?}");
}

#[tokio::test]
async fn an_unusable_database_at_start_exits_non_zero_naming_it() {
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    // A directory where the file should be.
    std::fs::create_dir_all(&env.db_path).unwrap();
    let run = env.run(&["once"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(&env.db_path.display().to_string()),
        "{}",
        run.stderr
    );
    std::fs::remove_dir(&env.db_path).unwrap();
    // Not a database at all.
    std::fs::write(&env.db_path, vec![b'x'; 8192]).unwrap();
    let run = env.run(&["once"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(&env.db_path.display().to_string()) && run.stderr.contains("database"),
        "{}",
        run.stderr
    );
    assert_eq!(env.expedite_calls(), 0);
}

#[tokio::test]
async fn a_locked_database_at_start_exits_non_zero_naming_it() {
    use sqlx::Executor;
    let env = TestEnv::new().await;
    assert_eq!(env.run(&["once"]).await.code, 0);
    let mut conn = raw_db(&env.db_path).await;
    conn.execute("BEGIN EXCLUSIVE").await.unwrap();
    conn.execute(
        "INSERT INTO tasks (task_id, labels, first_seen, last_seen) VALUES ('lock', '[]', 0, 0)",
    )
    .await
    .unwrap();
    let run = env.run(&["once"]).await;
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&env.db_path.display().to_string()),
        "{}",
        run.stderr
    );
    conn.execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn no_expedite_is_sent_whose_intent_could_not_be_recorded() {
    use sqlx::Executor;
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
    // The database refuses to record intents (as a full disk would).
    let mut conn = raw_db(&env.db_path).await;
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON expedites BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        .await
        .unwrap();
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("record an expedite intent") && run.stderr.contains("disk is full"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.expedite_calls(),
        0,
        "nothing sent without a recorded intent"
    );
    conn.execute("DROP TRIGGER refuse").await.unwrap();
    assert_eq!(env.run(&["once"]).await.code, 0);
    assert_eq!(env.fake.expedites().len(), 1);
}

#[tokio::test]
async fn a_disk_filling_up_mid_cycle_sends_nothing_unrecorded_and_nothing_twice() {
    let env = TestEnv::new().await;
    let Some(disk) = Tmpfs::mount(env.db_path.parent().unwrap(), "8m") else {
        return;
    };
    let users = 30;
    env.write_config_with_users(
        "requests_per_minute = 300",
        &many_users(users),
        RULE_ONCE_AFTER_24H,
    );
    one_due_task_each(&env, users);
    assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
    let child = env
        .command(&["once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env.fake.expedites().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no expedite went out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The disk fills up while the cycle is expediting.
    let filler = disk.fill();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the cycle ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&env.db_path.display().to_string()) && stderr.contains("full"),
        "the error names the database and the cause: {stderr}"
    );
    let sent_while_full = env.fake.expedites().len();
    assert!(
        sent_while_full < users,
        "the cycle stopped sending once nothing could be recorded: {sent_while_full}"
    );
    // Space comes back: the rest go out, and nothing goes out twice, now or later.
    std::fs::remove_file(filler).unwrap();
    for _ in 0..2 {
        let run = env.run(&["once"]).await;
        assert!(run.code == 0 || run.code == 1, "{}", run.all());
    }
    let mut per_task = std::collections::HashMap::new();
    for e in env.fake.expedites() {
        *per_task.entry(e.task_id).or_insert(0) += 1;
    }
    assert!(
        per_task.values().all(|n| *n == 1),
        "each task reminded exactly once: {per_task:?}"
    );
    assert_eq!(per_task.len(), users, "{per_task:?}");
}

#[tokio::test]
async fn a_read_only_file_system_stops_sending_but_not_plan() {
    let env = TestEnv::new().await;
    let Some(disk) = Tmpfs::mount(env.db_path.parent().unwrap(), "8m") else {
        return;
    };
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
    assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
    disk.remount("ro");
    let run = env.run(&["once"]).await;
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&env.db_path.display().to_string()),
        "the error names the database: {}",
        run.stderr
    );
    assert_eq!(
        env.expedite_calls(),
        0,
        "nothing sent without a recorded intent"
    );
    // Looking needs no writes.
    let plan = env.plan_json().await;
    assert_eq!(plan.len(), 2, "{plan:?}");
    disk.remount("rw");
    assert_eq!(env.run(&["once"]).await.code, 0);
    assert_eq!(env.run(&["once"]).await.code, 0);
    assert_eq!(
        env.fake.expedites().len(),
        2,
        "each once, after the disk came back"
    );
}
