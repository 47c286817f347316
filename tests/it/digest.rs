//! Digests: summary cards posted to a custom bot, signed, within the body limit, on their own
//! cron under `run` — through the real binary against the fake.

use std::time::Duration;

use expediter::fake::{Endpoint, FakeTask};

use crate::helpers::*;

const SIGN: &str = "bot-sign-secret-4d2c";

/// Appends a digest to the env's config, its URL and signing secret in files readable by the
/// owner only.
fn with_digest(env: &TestEnv, extra: &str, sign: Option<&str>) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let url = format!("{}/open-apis/bot/v2/hook/tok-finance", env.fake.url());
    let url_file = env.dir.path().join("finance_webhook");
    std::fs::write(&url_file, &url).unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut text = std::fs::read_to_string(&env.config_path).unwrap();
    text.push_str(&format!(
        "\n[[digests]]\nname = \"finance-daily\"\ncron = \"*/2 * * * * *\"\nwebhook_url_file = \"{}\"\n",
        url_file.display()
    ));
    if let Some(secret) = sign {
        let sign_file = env.dir.path().join("finance_sign");
        std::fs::write(&sign_file, secret).unwrap();
        std::fs::set_permissions(&sign_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        text.push_str(&format!("sign_secret_file = \"{}\"\n", sign_file.display()));
    }
    text.push_str(extra);
    std::fs::write(&env.config_path, text).unwrap();
    url
}

both_backends! {
    #[tokio::test]
    pub async fn a_signed_digest_holds_only_the_selected_old_enough_tasks() {
        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", Some(SIGN), None);
        env.add(FakeTask::new("old-fin", &["u1"], 50 * HOUR).label("报销：差旅", "Travel"));
        env.add(FakeTask::new("young-fin", &["u2"], 2 * HOUR).label("报销：打车", "Taxi"));
        env.add(FakeTask::new("old-ops", &["u3"], 90 * HOUR).label("采购：服务器", "Servers"));
        let url = with_digest(
            &env,
            "teams = [\"finance\"]\nmin_age = \"24h\"\n",
            Some(SIGN),
        );
        assert_eq!(env.run(&["once"]).await.code, 0);
        let run = env.run(&["digest"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stderr.contains("digest posted"), "{}", run.stderr);
        let messages = env.fake.bot_messages("tok-finance");
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m["msg_type"], "interactive");
        assert!(
            m["timestamp"].is_string() && m["sign"].is_string(),
            "signed: {m}"
        );
        let text = m["card"].to_string();
        assert!(
            text.contains("报销：差旅") && text.contains("Zhang San"),
            "{text}"
        );
        assert!(!text.contains("报销：打车"), "younger than min_age: {text}");
        assert!(
            !text.contains("采购：服务器"),
            "not the selected team: {text}"
        );
        // In the default language, zh-CN.
        assert!(text.contains("1 个待办任务，涉及 1 人"), "{text}");
        for secret in [url.as_str(), SIGN, "tok-finance"] {
            assert!(!run.all().contains(secret), "never printed: {secret}");
        }
        // --dry-run prints the message and posts nothing.
        let dry = env
            .run(&["digest", "--dry-run", "--name", "finance-daily"])
            .await;
        assert_eq!(dry.code, 0, "{}", dry.all());
        let printed: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
        assert_eq!(printed["card"], m["card"]);
        // And, for a person, the text the chat shows: words, not markup.
        assert!(
            dry.stderr.contains("as the chat shows it:\nfinance-daily：1 个待办任务")
                && dry.stderr.contains("• 报销：差旅"),
            "{}",
            dry.stderr
        );
        assert_eq!(env.fake.bot_messages("tok-finance").len(), 1);
        let unknown = env.run(&["digest", "--name", "nope"]).await;
        assert_eq!(unknown.code, 2, "{}", unknown.all());
        assert!(unknown.stderr.contains("--name nope"), "{}", unknown.stderr);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_wrong_signing_secret_or_a_missing_keyword_is_reported_plainly() {
        let env = TestEnv::new().await;
        env.fake
            .add_bot("tok-finance", Some("the-bots-real-secret"), None);
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        with_digest(&env, "", Some(SIGN));
        assert_eq!(env.run(&["once"]).await.code, 0);
        let run = env.run(&["digest"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("19021") && run.stderr.contains("check sign_secret"),
            "{}",
            run.stderr
        );
        assert!(!run.all().contains(SIGN) && !run.all().contains("the-bots-real-secret"));

        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", None, Some("【催办】"));
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        with_digest(&env, "", None);
        assert_eq!(env.run(&["once"]).await.code, 0);
        let run = env.run(&["digest"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("19024") && run.stderr.contains("requires a keyword"),
            "{}",
            run.stderr
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn five_hundred_tasks_fit_under_the_body_limit() {
        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", Some(SIGN), None);
        for i in 0..500 {
            let user = ["u1", "u2", "u3"][i % 3];
            env.add(
                FakeTask::new(format!("t{i:03}"), &[user], HOUR * (30 + i as u32)).label(
                    &format!("报销审批：第 {i} 号，一个很长很长的标签"),
                    "Expense",
                ),
            );
        }
        with_digest(&env, "", Some(SIGN));
        assert_eq!(env.run(&["once", "--dry-run"]).await.code, 0);
        let run = env.run(&["digest"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let m = &env.fake.bot_messages("tok-finance")[0];
        let bytes = serde_json::to_vec(m).unwrap().len();
        assert!(bytes <= 20 * 1024, "{bytes} bytes");
        let text = m["card"].to_string();
        assert!(
            text.contains("500 个待办任务") && text.contains("还有"),
            "{text}"
        );
        assert!(text.contains("第 499 号"), "the oldest is shown");
    }
}

both_backends! {
    #[tokio::test]
    pub async fn digests_post_on_their_own_cron_under_run() {
        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", Some(SIGN), None);
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        with_digest(&env, "", Some(SIGN));
        // No cycle tick comes during the test, the digest fires every 2 s: only the digest posts here.
        let daemon = Daemon::start(&env, &[]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while env.fake.bot_messages("tok-finance").len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "two digests in 15 s: {}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        assert!(!log.contains("cycle finished"), "no cycle ran: {log}");
        assert!(log.matches("digest posted").count() >= 2, "{log}");
        assert_eq!(env.fake.calls_to(Endpoint::Query).len(), 0);
    }
}

both_backends! {
    #[tokio::test]
    pub async fn check_warns_about_secrets_others_can_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let env = TestEnv::new().await;
        with_digest(&env, "", Some(SIGN));
        let sign_file = env.dir.path().join("finance_sign");
        std::fs::set_permissions(&sign_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&env.config_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = env.run(&["check"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stdout.contains("finance_sign holding the digest \"finance-daily\" signing secret is readable by other users"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("holds the app secret inline and is readable by other users"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("finance-daily: cron"), "{}", run.stdout);
        assert!(!run.all().contains(SIGN));
        std::fs::set_permissions(&sign_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&env.config_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let run = env.run(&["check"]).await;
        assert!(
            !run.stdout.contains("readable by other users"),
            "{}",
            run.stdout
        );
    }
}

both_backends! {
    #[tokio::test]
    pub async fn an_endless_answer_from_the_bot_is_cut_off_and_not_posted_again() {
        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", None, None);
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        with_digest(&env, "", None);
        assert_eq!(env.run(&["once"]).await.code, 0);
        env.fake.inject(
            expediter::fake::Fault::new(Endpoint::Webhook, expediter::fake::FaultKind::EndlessBody)
                .times(1),
        );
        let started = std::time::Instant::now();
        let run = env.run(&["digest"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains("the answer is larger than 64 KiB"),
            "read under a cap like every other answer: {}",
            run.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            env.fake.calls_to(Endpoint::Webhook).len(),
            1,
            "it may have been posted: not posted again"
        );
    }
}

both_backends! {
    /// A digest's webhook file that is not there fails `check` and `run` at once, naming the key
    /// and the systemd line that provides it — not at the first post.
    #[tokio::test]
    pub async fn a_missing_webhook_file_fails_check_and_start_naming_its_credential_line() {
        let env = TestEnv::new().await;
        with_digest(&env, "", None);
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        let url_file = env.dir.path().join("finance_webhook");
        std::fs::write(
            &env.config_path,
            text.replace(
                &format!("webhook_url_file = \"{}\"", url_file.display()),
                "webhook_url_file = \"finance-daily_webhook\"",
            ),
        )
        .unwrap();
        let beside = env.dir.path().join("finance-daily_webhook");
        for args in [&["check"][..], &["run"][..]] {
            let run = env.run(args).await;
            assert_eq!(run.code, 2, "{args:?}: {}", run.all());
            for said in [
                "digests[0].webhook_url_file",
                &format!("{} does not exist", beside.display()),
                &format!("LoadCredential=finance-daily_webhook:{}", beside.display()),
            ] {
                assert!(
                    run.stderr.contains(said),
                    "{args:?}: {said:?} in {}",
                    run.stderr
                );
            }
        }
        // Put there, it is read from beside the config.
        std::fs::write(
            &beside,
            format!("{}/open-apis/bot/v2/hook/tok-finance", env.fake.url()),
        )
        .unwrap();
        std::fs::set_permissions(&beside, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let run = env.run(&["check"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
    }
}

both_backends! {
    #[tokio::test]
    pub async fn with_a_console_each_task_links_to_its_page() {
        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", None, None);
        env.add(FakeTask::new("fin/1", &["u1"], 50 * HOUR).label("报销 [x](https://evil.example)", "Travel"));
        with_digest(&env, "teams = [\"finance\"]\n", None);
        with_console(&env, "public_url = \"https://exp.corp.example/\"\n");
        assert_eq!(env.run(&["once"]).await.code, 0);
        let dry = env.run(&["digest", "--dry-run"]).await;
        assert_eq!(dry.code, 0, "{}", dry.all());
        let m: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
        let text = m["card"].to_string();
        assert!(text.contains("(https://exp.corp.example/tasks/fin%2F1)"), "{text}");
        assert!(!text.contains("](https://evil.example)"), "the label became a link: {text}");
        assert!(text.contains("\"url\":\"https://exp.corp.example/tasks?team=finance\""), "{text}");
    }
}

both_backends! {
    /// A fire time that passed while the daemon was down is posted once, late, at the restart
    /// (within `catch_up`).
    #[tokio::test]
    pub async fn a_digest_missed_by_a_restart_is_posted_once_late() {
        let env = TestEnv::new().await;
        env.fake.add_bot("tok-finance", None, None);
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        with_digest(&env, "catch_up = \"1m\"\n", None);
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(&env.config_path, text.replace("*/2 * * * * *", "*/5 * * * * *")).unwrap();
        let posts = |env: &TestEnv| env.fake.bot_messages("tok-finance").len();
        let daemon = Daemon::start(&env, &[]);
        daemon.wait_for("digest posted", 1, Duration::from_secs(15)).await;
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        let before = posts(&env);
        // Down across at least one fire time.
        tokio::time::sleep(Duration::from_millis(5500)).await;
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("posting it now, once", 1, Duration::from_secs(5))
            .await;
        daemon.wait_for("digest posted", 1, Duration::from_secs(5)).await;
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        assert!(posts(&env) > before, "{log}");
        assert!(!log.contains("not posted again"), "{log}");
    }
}
