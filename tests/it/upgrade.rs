//! Releases a user can tell apart and upgrade to: the version names the commit, `migrate`
//! upgrades and sends nothing, an older release on a newer database says which release wrote
//! it, and a database and config written by the release before run under this one.

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
