//! Releases a user can tell apart and upgrade to: the version names the commit, `migrate`
//! upgrades and sends nothing, an older release on a newer database says which release wrote
//! it, and a database and config written by the releases before run under this one. (The
//! release fixtures are SQLite files: their tests are SQLite only; the migrations are tested on
//! both backends elsewhere.)

use crate::helpers::*;

#[tokio::test]
async fn the_version_names_the_release_and_the_commit() {
    let out = expediter().arg("--version").output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("expediter {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

both_backends! {
    /// `migrate` upgrades the schema and sends nothing; a database a newer release wrote is
    /// refused by name, by the writing and the reading commands alike.
    #[tokio::test]
    pub async fn migrate_sends_nothing_and_a_newer_database_is_named() {
        let env = TestEnv::new().await;
        env.add(expediter::fake::FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["migrate"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stdout.contains("nothing was listed or sent"), "{}", run.stdout);
        assert!(env.fake.expedites().is_empty());
        assert_eq!(env.fake.calls_to(expediter::fake::Endpoint::Query).len(), 0);
        // As if a later release had migrated it further.
        raw_sql(&env, "INSERT INTO releases (version, commit_id, first_opened_at) VALUES ('9.9.9', 'abc', 4102444800000)").await;
        raw_sql(&env, "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) SELECT 9999, 'later', installed_on, success, checksum, execution_time FROM _sqlx_migrations WHERE version = 1").await;
        for cmd in [&["once"][..], &["plan"][..], &["migrate"][..]] {
            let run = env.run(cmd).await;
            assert_ne!(run.code, 0, "{cmd:?}: {}", run.all());
            assert!(
                run.stderr.contains("written by a newer expediter (release 9.9.9"),
                "{cmd:?}: {}",
                run.stderr
            );
        }
        assert!(env.fake.expedites().is_empty());
    }
}

/// The rules of the release-0.1.0 fixture: one reminder, then the task gets u3 and 9001 added
/// beside its assignee (a move whose two people 0.1.0 stored joined by ",").
const FIXTURE_RULES: &str = r#"
[[rules]]
name = "once"
after = "24h"
max_times = 1
[rules.escalate]
after_times = 1
add_assignee = ["u3", "9001"]
"#;

/// The fixtures' databases, written by releases 0.1.0, 0.2.0, 0.3.0 and 0.4.0 (see
/// `make_a_release_fixture`).
const FIXTURE_DB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-0.1.0.db"
);
const FIXTURE_DB_0_2_0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-0.2.0.db"
);
const FIXTURE_DB_0_3_0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-0.3.0.db"
);
const FIXTURE_DB_0_4_0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-0.4.0.db"
);

/// Makes `tests/fixtures/release-VERSION.db` with the binary of an earlier release (a build of
/// its commit, named by `EXPEDITER_OLD_BINARY`; `EXPEDITER_OLD_VERSION` its version): t1 (u1)
/// and t2 (u2) reminded once and then given u3 and 9001 beside their assignee, t3 silenced for
/// 90 years, u2 away for 90 years with deputy u3. Run by hand when a release is made:
/// `EXPEDITER_OLD_BINARY=… EXPEDITER_OLD_VERSION=0.2.0 cargo test --test it
/// make_a_release_fixture -- --ignored`.
#[tokio::test]
#[ignore = "writes a fixture with an older release's binary"]
async fn make_a_release_fixture() {
    let old = std::env::var("EXPEDITER_OLD_BINARY").expect("EXPEDITER_OLD_BINARY");
    let version = std::env::var("EXPEDITER_OLD_VERSION").expect("EXPEDITER_OLD_VERSION");
    let fixture = format!(
        "{}/tests/fixtures/release-{version}.db",
        env!("CARGO_MANIFEST_DIR")
    );
    let env = TestEnv::new().await;
    env.write_config("", FIXTURE_RULES);
    env.add(expediter::fake::FakeTask::new("t1", &["u1"], 30 * HOUR));
    env.add(expediter::fake::FakeTask::new("t2", &["u2"], 30 * HOUR));
    env.add(expediter::fake::FakeTask::new("t3", &["u1"], 30 * HOUR));
    let run = |args: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(&old);
        cmd.arg("--config").arg(&env.config_path).args(args);
        async move {
            let out = cmd.output().await.unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    run(&[
        "silence", "add", "--task", "t3", "--for", "32850d", "--reason", "kept",
    ])
    .await;
    for _ in 0..3 {
        run(&["once"]).await;
    }
    run(&[
        "away", "add", "--user", "u2", "--for", "32850d", "--deputy", "u3",
    ])
    .await;
    assert_eq!(env.fake.moves().len(), 2, "{:?}", env.fake.moves());
    let _ = std::fs::remove_file(&fixture);
    let mut c = raw_db(&env.db_path).await;
    sqlx::Executor::execute(
        &mut c,
        sqlx::AssertSqlSafe(format!("VACUUM INTO '{fixture}'")),
    )
    .await
    .unwrap();
}

/// The database and config release 0.1.0 left, under this release: the migrations apply, the
/// comma-joined people read back as lists, the silence and the away window hold, and nothing
/// sent is sent again.
#[tokio::test]
async fn the_database_of_release_0_1_0_runs_under_this_release() {
    runs_under_this_release(FIXTURE_DB).await;
}

/// The database release 0.2.0 left, under this release: the same, and the audit trail starts
/// empty.
#[tokio::test]
async fn the_database_of_release_0_2_0_runs_under_this_release() {
    runs_under_this_release(FIXTURE_DB_0_2_0).await;
}

/// The database release 0.3.0 left, under this release: the same, and no team has a document
/// yet.
#[tokio::test]
async fn the_database_of_release_0_3_0_runs_under_this_release() {
    runs_under_this_release(FIXTURE_DB_0_3_0).await;
}

/// The database release 0.4.0 left (the release before this one): this release adds no
/// migration, so it runs as it is — nothing to migrate, nothing sent again.
#[tokio::test]
async fn the_database_of_release_0_4_0_runs_under_this_release() {
    runs_under_this_release(FIXTURE_DB_0_4_0).await;
}

async fn runs_under_this_release(fixture: &str) {
    let env = TestEnv::new().await;
    env.write_config("", FIXTURE_RULES);
    std::fs::create_dir_all(env.db_path.parent().unwrap()).unwrap();
    std::fs::copy(fixture, &env.db_path).unwrap();
    // The tasks as Feishu holds them after 0.1.0's moves.
    env.add(expediter::fake::FakeTask::new(
        "t1",
        &["u1", "u3", "9001"],
        30 * HOUR,
    ));
    env.add(expediter::fake::FakeTask::new(
        "t2",
        &["u2", "u3", "9001"],
        30 * HOUR,
    ));
    env.add(expediter::fake::FakeTask::new("t3", &["u1"], 30 * HOUR));
    // Before the upgrade: the read-only commands say what to do (a database as new as this
    // release's needs nothing).
    let plan = env.run(&["plan"]).await;
    if fixture == FIXTURE_DB_0_4_0 {
        assert_eq!(plan.code, 0, "{}", plan.all());
    } else {
        assert_ne!(plan.code, 0);
        assert!(plan.stderr.contains("expediter migrate"), "{}", plan.stderr);
    }
    let run = env.run(&["migrate"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let plan = env.plan_json().await;
    let status = |task: &str, user: &str| {
        plan.iter()
            .find(|e| e["task_id"] == task && e["assignee_id"] == user)
            .map(|e| e["status"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    assert_eq!(status("t3", "u1"), "silenced", "{plan:?}");
    assert_eq!(status("t2", "u2"), "away", "{plan:?}");
    assert_eq!(status("t1", "u1"), "reminders_over", "{plan:?}");
    for _ in 0..2 {
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
    }
    // Nothing sent again: no reminder to u1 or u2, no move at all.
    let again: Vec<_> = env
        .fake
        .expedites()
        .into_iter()
        .filter(|e| e.expediting_user_ids.iter().any(|u| u == "u1" || u == "u2"))
        .collect();
    assert!(again.is_empty(), "{again:?}");
    assert!(env.fake.moves().is_empty(), "{:?}", env.fake.moves());
    let (engine, _clock) = {
        let clock = expediter::clock::Clock::system();
        (env.engine(clock.clone()).await, clock)
    };
    let record = engine.store.task_record("t1").await.unwrap().unwrap();
    let moved = record
        .calls
        .iter()
        .find(|c| c.kind == "add_assignee")
        .unwrap();
    assert_eq!(moved.people, vec!["u3".to_owned(), "9001".to_owned()]);
    engine.store.close().await;
    let report = env.run(&["report", "--json", "--since", "3650d"]).await;
    assert_eq!(report.code, 0, "{}", report.all());
    let audit = env.run(&["audit", "--json"]).await;
    assert_eq!(audit.code, 0, "{}", audit.all());
    assert_eq!(audit.stdout.trim(), "[]");
}
