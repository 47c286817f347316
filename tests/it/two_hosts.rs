//! Two `expediter run` on one PostgreSQL database — a pair of hosts, here two processes — with
//! a 1 s schedule and tasks coming due all the time: one acts, the other stands by; `kill -9`,
//! `SIGSTOP`/`SIGCONT` and `pg_terminate_backend` of the active one, the database refusing
//! both for a while; a digest posted once per tick by the pair. Across all of them: no (task, assignee, n) delivered twice, no pair reminded
//! sooner than `repeat`, every due task reminded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use expediter::fake::FakeTask;
use tokio::time::Instant;

use crate::helpers::*;

const REPEAT: Duration = Duration::from_secs(2);

/// A rule that reminds every 2 s, its opinion naming the task and the reminder's n.
const RULE: &str = r#"
[[rules]]
name = "chase"
after = "24h"
repeat = "2s"
max_times = 1000
opinion = "{task_id} #{n}"
"#;

struct TwoHosts {
    env: TestEnv,
    a: Daemon,
    b: Daemon,
    ports: (u16, u16),
    feeding: Arc<AtomicBool>,
    /// Tasks the feeder added so far: t0000, t0001, …
    added: Arc<AtomicUsize>,
}

/// The env's config with a 1 s schedule and a 3 s lease, and a copy of it for the second
/// instance; each with its own metrics port.
fn two_configs(env: &TestEnv, extra: &str) -> (PathBuf, u16, u16) {
    env.write_config("", RULE);
    with_cron(env, "* * * * * *");
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    assert!(text.contains("lease = \"3s\""), "{text}");
    let port = |_| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (pa, pb) = (port(0), port(1));
    let with = |p: u16| format!("{text}{extra}\n[metrics]\nlisten = \"127.0.0.1:{p}\"\n");
    std::fs::write(&env.config_path, with(pa)).unwrap();
    let second = env.dir.path().join("config-b.toml");
    std::fs::write(&second, with(pb)).unwrap();
    (second, pa, pb)
}

impl TwoHosts {
    /// Starts the first instance, waits until it is active, then the second, until it stands by.
    /// A task for one of the users comes due every 300 ms from then on.
    /// `extra` gives config text to add, once the env exists.
    async fn start(extra: impl FnOnce(&TestEnv) -> String) -> TwoHosts {
        let env = TestEnv::new_postgres().await;
        let extra = extra(&env);
        let (second, pa, pb) = two_configs(&env, &extra);
        let a = Daemon::start(&env, &[]);
        a.wait_for("active (lease epoch 1)", 1, Duration::from_secs(20))
            .await;
        let b = Daemon::start_with(&env, &second, &[]);
        b.wait_for("standing by", 1, Duration::from_secs(20)).await;
        let feeding = Arc::new(AtomicBool::new(true));
        let added = Arc::new(AtomicUsize::new(0));
        let (add, on, count) = (env.fake.task_adder(), feeding.clone(), added.clone());
        tokio::spawn(async move {
            while on.load(Ordering::SeqCst) {
                let i = count.load(Ordering::SeqCst);
                let user = ["u1", "u2", "u3"][i % 3];
                add(FakeTask::new(format!("t{i:04}"), &[user], 30 * HOUR));
                count.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        TwoHosts {
            env,
            a,
            b,
            ports: (pa, pb),
            feeding,
            added,
        }
    }

    /// The whole history's invariants, once both instances stopped.
    fn check_history(&self) {
        let mut seen: HashMap<(String, String), Vec<(u32, Instant)>> = HashMap::new();
        for e in self.env.fake.expedites() {
            let opinion = e.opinion.clone().unwrap_or_default();
            let mut words = opinion.split(' ');
            let (task, n) = (words.next(), words.next());
            let n: u32 = n
                .and_then(|n| n.strip_prefix('#'))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("an opinion naming n: {opinion:?}"));
            assert_eq!(task, Some(e.task_id.as_str()));
            assert_eq!(e.expediting_user_ids.len(), 1, "one assignee per task");
            seen.entry((e.task_id.clone(), e.expediting_user_ids[0].clone()))
                .or_default()
                .push((n, e.at));
        }
        assert!(!seen.is_empty(), "reminders went out");
        for ((task, user), mut sends) in seen {
            sends.sort_by_key(|s| s.1);
            let ns: Vec<u32> = sends.iter().map(|s| s.0).collect();
            // Never twice. A number may be missing — a call a frozen leader had its intent
            // written for counts as sent — and that call may still arrive late, once: the
            // request it was in the middle of.
            let mut once = ns.clone();
            once.sort_unstable();
            once.dedup();
            assert_eq!(
                once.len(),
                ns.len(),
                "{task} for {user}: an n twice: {ns:?}"
            );
            let late = ns.windows(2).filter(|w| w[1] < w[0]).count();
            assert!(late <= 1, "{task} for {user}: out of order: {ns:?}");
            for w in sends.windows(2).filter(|w| w[1].0 > w[0].0) {
                let gap = w[1].1 - w[0].1;
                // The repeat counts from when the previous call ended; the fake notes when it
                // acted, a little before that.
                assert!(
                    gap >= REPEAT - Duration::from_millis(150),
                    "{task} for {user}: reminded again after {gap:?}"
                );
            }
        }
    }

    /// Stops adding tasks and gives the active instance `settle` to remind the last ones.
    async fn stop_feeding(&self, settle: Duration) {
        self.feeding.store(false, Ordering::SeqCst);
        tokio::time::sleep(settle).await;
    }

    /// Every task added got at least its first reminder.
    fn check_nothing_lost(&self) {
        let due_before = self.added.load(Ordering::SeqCst);
        let reminded: std::collections::HashSet<String> = self
            .env
            .fake
            .expedites()
            .into_iter()
            .map(|e| e.task_id)
            .collect();
        for i in 0..due_before {
            let id = format!("t{i:04}");
            assert!(reminded.contains(&id), "{id} was never reminded");
        }
    }
}

fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_active_one_hands_over_within_the_lease_and_a_tick() {
    let pair = TwoHosts::start(|_| String::new()).await;
    // The active one at work: a few reminders out (rather than a fixed wait).
    pair.a
        .wait_for("expedited task", 5, Duration::from_secs(15))
        .await;
    let (ma, mb) = (scrape(pair.ports.0).await, scrape(pair.ports.1).await);
    assert_eq!(gauge(&ma, "expediter_active"), Some(1.0), "{ma}");
    assert_eq!(gauge(&ma, "expediter_lease_epoch"), Some(1.0), "{ma}");
    assert_eq!(gauge(&mb, "expediter_active"), Some(0.0), "{mb}");
    assert_eq!(gauge(&mb, "expediter_lease_epoch"), Some(0.0), "{mb}");
    assert!(
        !pair.b.log().contains("expedited task"),
        "the standby sent: {}",
        pair.b.log()
    );
    let sent_before = pair.env.expedite_calls();
    assert!(sent_before > 0, "the active one sends");
    pair.a.signal("KILL");
    let killed = Instant::now();
    pair.b
        .wait_for(
            "now the active one (lease epoch 2)",
            1,
            Duration::from_secs(3 + 1 + 2),
        )
        .await;
    let took_over = killed.elapsed();
    let deadline = Instant::now() + Duration::from_secs(4);
    while pair.env.expedite_calls() == sent_before {
        assert!(Instant::now() < deadline, "nothing sent after the takeover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_send = killed.elapsed();
    eprintln!("kill -9 → takeover after {took_over:?}, first reminder after {first_send:?}");
    // The lease (3 s, of which the holder trusts 2.7 s) plus one look of the standby (1 s).
    assert!(
        took_over <= Duration::from_secs(3 + 1) + Duration::from_millis(500),
        "took over after {took_over:?}"
    );
    // … and the next tick (1 s) sends.
    assert!(
        first_send <= took_over + Duration::from_secs(2),
        "first reminder {first_send:?}"
    );
    pair.stop_feeding(Duration::from_secs(3)).await;
    let mb = scrape(pair.ports.1).await;
    assert_eq!(gauge(&mb, "expediter_active"), Some(1.0), "{mb}");
    assert_eq!(gauge(&mb, "expediter_lease_epoch"), Some(2.0), "{mb}");
    pair.check_nothing_lost();
    pair.check_history();
}

/// An away user's tasks get their deputy added (add_assignee keeps them on the task, so a
/// second move would be possible and seen): across a `kill -9` of the active one, no task is
/// moved twice, and the new active one goes on moving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_is_never_made_twice_across_a_failover() {
    let pair = TwoHosts::start(|_| "[away]\ndeputy_action = \"add_assignee\"\n".into()).await;
    let run = pair
        .env
        .run(&[
            "away", "add", "--user", "u1", "--for", "1d", "--deputy", "u2",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    pair.a
        .wait_for("moved task", 3, Duration::from_secs(20))
        .await;
    pair.a.signal("KILL");
    pair.b
        .wait_for(
            "now the active one (lease epoch 2)",
            1,
            Duration::from_secs(8),
        )
        .await;
    pair.b
        .wait_for("moved task", 3, Duration::from_secs(20))
        .await;
    pair.stop_feeding(Duration::from_secs(3)).await;
    let moves = pair.env.fake.moves();
    let mut per_task: HashMap<String, usize> = HashMap::new();
    for m in &moves {
        assert_eq!(m.to_user_ids, vec!["u2".to_owned()], "{m:?}");
        *per_task.entry(m.task_id.clone()).or_default() += 1;
    }
    for (task, n) in &per_task {
        assert_eq!(*n, 1, "{task} moved {n} times: {moves:?}");
    }
    // Every u1 task added is moved, but for at most one whose intent the killed one wrote
    // (possibly made: never made again).
    let added = pair.added.load(Ordering::SeqCst);
    let u1_tasks: Vec<String> = (0..added).step_by(3).map(|i| format!("t{i:04}")).collect();
    let unmoved: Vec<&String> = u1_tasks
        .iter()
        .filter(|t| !per_task.contains_key(*t))
        .collect();
    assert!(unmoved.len() <= 1, "never moved: {unmoved:?}");
    pair.check_history();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_past_its_lease_wakes_as_a_standby_and_sends_nothing() {
    let pair = TwoHosts::start(|_| String::new()).await;
    pair.a
        .wait_for("expedited task", 3, Duration::from_secs(15))
        .await;
    pair.a.signal("STOP");
    let stopped = Instant::now();
    pair.b
        .wait_for(
            "now the active one (lease epoch 2)",
            1,
            Duration::from_secs(6),
        )
        .await;
    eprintln!("SIGSTOP → takeover after {:?}", stopped.elapsed());
    // The new active one works a while; then the old one wakes up.
    pair.b
        .wait_for("expedited task", 3, Duration::from_secs(15))
        .await;
    let a_log_before = pair.a.log().len();
    let thaw_ms = chrono::Utc::now().timestamp_millis();
    pair.a.signal("CONT");
    let thawed = Instant::now();
    pair.a
        .wait_for("standing by", 2, Duration::from_secs(5))
        .await;
    let stood_by = thawed.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let woke = pair.a.log()[a_log_before..].to_owned();
    let sent_after_waking = woke.matches("expedited task").count();
    eprintln!(
        "SIGCONT → standing by within {stood_by:?}; reminders it sent after waking: {sent_after_waking}"
    );
    // At most the one request it was in the middle of when it froze.
    assert!(sent_after_waking <= 1, "the thawed one sent: {woke}");
    // And no intent of its epoch written since it woke: the database refused them.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pair.env.database)
        .await
        .unwrap();
    let (stale, fresh): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE epoch = 1 AND intent_at > $1),
                count(*) FILTER (WHERE epoch = 2 AND intent_at > $1) FROM expedites",
    )
    .bind(thaw_ms)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(stale, 0, "intents of the old epoch written after it woke");
    assert!(
        fresh > 0,
        "the active one went on writing intents:\n{}\n--- the thawed one:\n{}",
        pair.b.log(),
        woke
    );
    assert!(
        woke.matches("not sent: this instance is no longer the active one")
            .count()
            + woke.matches("no longer holds the lease").count()
            <= 1,
        "it tried to act more than once after waking: {woke}"
    );
    let (ma, mb) = (scrape(pair.ports.0).await, scrape(pair.ports.1).await);
    assert_eq!(gauge(&ma, "expediter_active"), Some(0.0), "{ma}");
    assert_eq!(gauge(&mb, "expediter_active"), Some(1.0), "{mb}");
    pair.stop_feeding(Duration::from_secs(3)).await;
    pair.check_nothing_lost();
    pair.check_history();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_posts_each_digest_once_and_survives_its_sessions_being_terminated() {
    let pair = TwoHosts::start(|env| {
        env.fake.add_bot("tok-pair", None, None);
        let file = env.dir.path().join("pair_webhook");
        std::fs::write(
            &file,
            format!("{}/open-apis/bot/v2/hook/tok-pair", env.fake.url()),
        )
        .unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        format!(
            "\n[[digests]]\nname = \"pair\"\ncron = \"*/2 * * * * *\"\nwebhook_url_file = \"{}\"\n",
            file.display()
        )
    })
    .await;
    // 8 s of a 2 s digest cron: 4 ticks, each posted by the active instance alone.
    let mut arrivals: Vec<Instant> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        let n = pair.env.fake.bot_messages("tok-pair").len();
        while arrivals.len() < n {
            arrivals.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        (3..=5).contains(&arrivals.len()),
        "{} digests in 8 s of a 2 s cron",
        arrivals.len()
    );
    for w in arrivals.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(1200),
            "two digests {:?} apart: one tick posted twice",
            w[1] - w[0]
        );
    }
    assert!(
        pair.b.log().matches("digest posted").count() == 0,
        "{}",
        pair.b.log()
    );
    // Every session of the active instance cut by the database.
    let admin = expediter::fake::postgres::cluster_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(format!("expediter/{}", pair.a.pid()))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!cut.is_empty(), "the active one had sessions");
    let sent_before = pair.env.expedite_calls();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // It recovered (a new session, the lease again) or stepped down: one active either way.
    let (ma, mb) = (scrape(pair.ports.0).await, scrape(pair.ports.1).await);
    let active = gauge(&ma, "expediter_active").unwrap() + gauge(&mb, "expediter_active").unwrap();
    assert_eq!(active, 1.0, "one active after the cut:\n{ma}\n{mb}");
    for (who, d) in [("a", &pair.a), ("b", &pair.b)] {
        for line in d
            .log()
            .lines()
            .filter(|l| l.contains("lease") || l.contains("WARN") || l.contains("ERROR"))
        {
            eprintln!("{who}: {line}");
        }
    }
    assert!(
        pair.env.expedite_calls() > sent_before,
        "reminders go on after the cut"
    );
    pair.stop_feeding(Duration::from_secs(3)).await;
    pair.check_nothing_lost();
    pair.check_history();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refusing_everyone_stops_the_pair_and_its_return_elects_one() {
    let pair = TwoHosts::start(|_| String::new()).await;
    pair.a
        .wait_for("expedited task", 3, Duration::from_secs(15))
        .await;
    // The server refuses the database to every new session and ends the ones it has: to both
    // instances the database is gone, for longer than the lease.
    let name = pair
        .env
        .database
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap()
        .to_owned();
    let admin = expediter::fake::postgres::cluster_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let refuse = |allow: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(refuse(false)))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut conn)
        .await
        .unwrap();
    let cut = Instant::now();
    pair.a
        .wait_for("could not renew the lease", 1, Duration::from_secs(5))
        .await;
    eprintln!(
        "database refused → the active one stood down after {:?}",
        cut.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (ma, mb) = (scrape(pair.ports.0).await, scrape(pair.ports.1).await);
    assert_eq!(gauge(&ma, "expediter_active"), Some(0.0), "{ma}");
    assert_eq!(gauge(&mb, "expediter_active"), Some(0.0), "{mb}");
    // Nothing went out once the active one had stood down (an intent cannot be written either).
    let stood_down = cut + Duration::from_millis(1500);
    let during: Vec<_> = pair
        .env
        .fake
        .expedites()
        .into_iter()
        .filter(|e| e.at > stood_down)
        .collect();
    assert!(
        during.is_empty(),
        "sent while the database was gone: {during:?}"
    );
    let sent_before = pair.env.expedite_calls();
    sqlx::raw_sql(sqlx::AssertSqlSafe(refuse(true)))
        .execute(&mut conn)
        .await
        .unwrap();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(6);
    let active = loop {
        let (ma, mb) = (scrape(pair.ports.0).await, scrape(pair.ports.1).await);
        let on = |m: &str| gauge(m, "expediter_active") == Some(1.0);
        match (on(&ma), on(&mb)) {
            (true, false) => break &pair.a,
            (false, true) => break &pair.b,
            (true, true) => panic!("both active:\n{ma}\n{mb}"),
            (false, false) => {
                assert!(Instant::now() < deadline, "no one active again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    eprintln!("database back → one active after {:?}", back.elapsed());
    active
        .wait_for(
            "now the active one (lease epoch 2)",
            1,
            Duration::from_secs(2),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(4);
    while pair.env.expedite_calls() == sent_before {
        assert!(Instant::now() < deadline, "nothing sent after the return");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pair.stop_feeding(Duration::from_secs(4)).await;
    pair.check_nothing_lost();
    pair.check_history();
}

// What one instance says about the pair and the database.

#[tokio::test]
async fn once_beside_an_active_daemon_exits_1_naming_the_holder_and_check_names_it() {
    let env = TestEnv::new_postgres().await;
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("active (lease epoch 1)", 1, Duration::from_secs(20))
        .await;
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("another instance is active")
            && run.stderr.contains(&format!("/{}/", daemon.pid()))
            && run.stderr.contains("epoch 1"),
        "{}",
        run.stderr
    );
    assert_eq!(env.expedite_calls(), 0, "the refused `once` sent nothing");
    // Read-only commands work alongside.
    for args in [&["plan"][..], &["report"], &["silence", "list"]] {
        let run = env.run(args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
    }
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("Database: PostgreSQL at postgres")
            && run.stdout.contains("lease of 3s")
            && run.stdout.contains(&format!("/{}/", daemon.pid()))
            && run.stdout.contains("holds the lease (epoch 1)"),
        "{}",
        run.stdout
    );
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    // A clean stop gives the lease up: the next instance need not wait for it to run out.
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("active (lease epoch 2)"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_unreachable_or_foreign_postgresql_is_an_error_naming_it() {
    let env = TestEnv::new_postgres().await;
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    // No server behind this socket directory; a password that must not be shown.
    let nowhere = env.dir.path().join("no-server");
    std::fs::create_dir_all(&nowhere).unwrap();
    let unreachable = format!(
        "postgres://expediter:pw-9f8e7d@localhost/expediter?host={}",
        nowhere.display()
    );
    std::fs::write(
        &env.config_path,
        config.replace(&env.database, &unreachable),
    )
    .unwrap();
    for args in [&["once"][..], &["run"]] {
        let run = env.run(args).await;
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("cannot connect")
                && run.stderr.contains("postgres://expediter:***@"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.all().contains("pw-9f8e7d"), "{}", run.all());
    }
    // A TCP port nobody listens on: the message says the connection was refused (not only
    // that a pool timed out).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = format!("postgres://expediter:pw-9f8e7d@127.0.0.1:{port}/expediter");
    std::fs::write(&env.config_path, config.replace(&env.database, &refused)).unwrap();
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("cannot connect") && run.stderr.contains("refused"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("pw-9f8e7d"), "{}", run.all());
    // A database another program migrated with sqlx: not ours, and left as it was.
    let foreign = expediter::fake::postgres::fresh_database().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&foreign)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
           installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
           checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL);
         INSERT INTO _sqlx_migrations VALUES (20200101, 'someone else', now(), true, '\\x00', 1);
         CREATE TABLE invoices (id INT);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    std::fs::write(&env.config_path, config.replace(&env.database, &foreign)).unwrap();
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("cannot migrate") && run.stderr.contains("expediter_t"),
        "{}",
        run.stderr
    );
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        tables,
        vec![("_sqlx_migrations".into(),), ("invoices".into(),)],
        "nothing created in a foreign database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_renewal_is_refused_stops_acting_at_once() {
    let env = TestEnv::new_postgres().await;
    env.write_config("", RULE);
    with_cron(&env, "* * * * * *");
    let port = with_metrics(&env);
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(FakeTask::new("t2", &["u2"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("expedited task", 2, Duration::from_secs(20))
        .await;
    // Another holder takes the row over (as a standby would after an expiry the holder missed).
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&env.database)
        .await
        .unwrap();
    let sent = env.expedite_calls();
    sqlx::query(
        "UPDATE lease SET holder = 'elsewhere/1/0', epoch = epoch + 1, expires_at = now() + interval '1 hour'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let taken = Instant::now();
    // Its next renewal (a third of the 3 s lease) or its next intent finds the row changed; the
    // next look after that says who holds it.
    daemon
        .wait_for("standing by: elsewhere/1/0", 1, Duration::from_secs(4))
        .await;
    let stepped_down = taken.elapsed();
    tokio::time::sleep(Duration::from_secs(4)).await;
    eprintln!("a refused renewal: stood down after {stepped_down:?}");
    assert!(
        stepped_down <= Duration::from_millis(2500),
        "{stepped_down:?}"
    );
    // Nothing from it since the row changed hands — its intents are refused by the database at
    // once — but at most the request it was sending then.
    assert!(env.expedite_calls() <= sent + 1, "{}", daemon.log());
    let m = scrape(port).await;
    assert_eq!(gauge(&m, "expediter_active"), Some(0.0), "{m}");
    assert_eq!(gauge(&m, "expediter_lease_epoch"), Some(0.0), "{m}");
    assert!(
        daemon
            .log()
            .contains("elsewhere/1/0 holds the lease (epoch 2)"),
        "{}",
        daemon.log()
    );
}

#[tokio::test]
async fn a_reload_onto_another_database_gives_the_old_lease_up() {
    let env = TestEnv::new_postgres().await;
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("active (lease epoch 1)", 1, Duration::from_secs(20))
        .await;
    let other = expediter::fake::postgres::fresh_database().await;
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(&env.config_path, config.replace(&env.database, &other)).unwrap();
    daemon.signal("HUP");
    daemon
        .wait_for("active (lease epoch 1)", 2, Duration::from_secs(20))
        .await;
    daemon
        .wait_for("config reloaded", 1, Duration::from_secs(10))
        .await;
    // The database it left: the lease given up (expired now), so another instance may act there
    // at once; the new one: held by this process.
    let lease = |url: String| async move {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let row: (String, bool) = sqlx::query_as("SELECT holder, expires_at > now() FROM lease")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        row
    };
    let pid = format!("/{}/", daemon.pid());
    let (old_holder, old_live) = lease(env.database.clone()).await;
    let (new_holder, new_live) = lease(other.clone()).await;
    assert!(
        old_holder.contains(&pid) && !old_live,
        "old lease still held"
    );
    assert!(new_holder.contains(&pid) && new_live, "new lease not held");
    // Still given up a renewal interval later: no keeper of the old one is left.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !lease(env.database.clone()).await.1,
        "the old lease was taken again"
    );
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
}

#[tokio::test]
async fn a_reload_applies_a_new_lease_length_and_a_new_app_id() {
    let env = TestEnv::new_postgres().await;
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("active (lease epoch 1)", 1, Duration::from_secs(20))
        .await;
    // Per app: the holder, whether it holds now, and how long it still holds by the database.
    let lease = |app: &'static str| {
        let url = env.database.clone();
        async move {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            let row: (String, f64) = sqlx::query_as(
                "SELECT holder, extract(epoch FROM expires_at - now())::float8 FROM lease WHERE app_id = $1",
            )
            .bind(app)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            row
        }
    };
    let (_, left) = lease(APP_ID).await;
    assert!(left <= 3.0, "a 3 s lease: {left}");
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    assert!(config.contains("lease = \"3s\""));
    std::fs::write(
        &env.config_path,
        config.replace("lease = \"3s\"", "lease = \"30s\""),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon
        .wait_for("from its next renewal", 1, Duration::from_secs(10))
        .await;
    // The next renewal (a third of the old 3 s) asks for 30 s.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (_, left) = lease(APP_ID).await;
    assert!(left > 20.0, "renewed for 30 s: {left}\n{}", daemon.log());
    // Another app: its own lease row, taken by this process; the old app's given up.
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        config.replace(&format!("app_id = \"{APP_ID}\""), "app_id = \"cli_other\""),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon
        .wait_for("active (lease epoch 1)", 2, Duration::from_secs(20))
        .await;
    let pid = format!("/{}/", daemon.pid());
    let (holder, left) = lease("cli_other").await;
    assert!(holder.contains(&pid) && left > 20.0, "{holder} {left}");
    let (holder, left) = lease(APP_ID).await;
    assert!(
        holder.contains(&pid) && left <= 0.0,
        "old app's lease given up: {left}"
    );
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
}
