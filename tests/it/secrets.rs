//! The app secret and tokens never appear in any output, at any log level.
//! SQLite only: what the logs say, whatever the database.

use crate::helpers::*;
use expediter::fake::{Endpoint, FakeTask, Fault, FaultKind};

#[tokio::test]
async fn secrets_absent_at_trace_level() {
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t1", &["u1", "u2"], 30 * HOUR));
    // A token refusal forces a second token through the logs' path too.
    env.fake.inject(
        Fault::new(
            Endpoint::Query,
            FaultKind::Code {
                code: 99991663,
                http_status: 400,
            },
        )
        .user("u2"),
    );
    let mut outputs = String::new();
    for (args, format) in [
        (vec!["once"], "pretty"),
        (vec!["check", "--online"], "pretty"),
        (vec!["once"], "json"),
    ] {
        let run = env
            .run_with_env(
                &args,
                &[("RUST_LOG", "trace"), ("EXPEDITER_LOG_FORMAT", format)],
            )
            .await;
        assert!(run.code == 0, "{args:?}: {}", run.all());
        outputs.push_str(&run.all());
    }
    let tokens = env.fake.issued_tokens();
    assert!(tokens.len() >= 3, "tokens were issued: {tokens:?}");
    assert!(
        outputs.len() > 10_000,
        "trace level really logged: {} bytes",
        outputs.len()
    );
    assert!(!outputs.contains(APP_SECRET), "the app secret leaked");
    for t in tokens {
        assert!(!outputs.contains(&t), "token {t} leaked");
    }
    assert_eq!(env.fake.expedites().len(), 1);
}
