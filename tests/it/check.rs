//! `expediter check`: every kind of config error exits 2 naming the file, the key, the position
//! and the fix; `--online` proves the credentials.
//! SQLite only: these read and validate the config; the database is not their subject (a
//! PostgreSQL URL's checks are in two_hosts.rs).

use crate::helpers::*;
use expediter::fake::FakeTask;

/// A valid config to break in one place per case.
fn valid(url: &str, db: &str) -> String {
    format!(
        r#"[feishu]
base_url = "{url}"
app_id = "cli_test"
app_secret = "{APP_SECRET}"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[storage]
database = "{db}"

[expedite]
operator_user_id = "7000"

[[users]]
id = "u1"
team = "finance"

[[calendars]]
name = "office"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
hours = ["09:00-18:00"]

[[rules]]
name = "r"
after = "24h"
calendar = "office"
opinion = "please: {{label}}"
"#
    )
}

#[tokio::test]
async fn valid_config_is_described() {
    let env = TestEnv::new().await;
    std::fs::write(
        &env.config_path,
        valid(&env.fake.url(), &env.db_path.display().to_string()),
    )
    .unwrap();
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(
            "r: everyone; once after 1d; Mon–Fri 09:00-18:00 Asia/Shanghai (office); as 7000"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Schedule: cron \"0 */10 * * * *\" in Asia/Shanghai; next: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Database: SQLite at ")
            && run.stdout.contains("expediter.db.lock")
            && run
                .stdout
                .contains("Listing: every watched user on every tick"),
        "the backend and the listing cadence are named: {}",
        run.stdout
    );
    assert!(run.stdout.contains("config OK"), "{}", run.stdout);
    assert!(!run.all().contains(APP_SECRET));
}

#[tokio::test]
async fn each_config_error_exits_2_with_file_key_and_position() {
    let env = TestEnv::new().await;
    let base = valid(&env.fake.url(), &env.db_path.display().to_string());
    // (case, broken text, fragments the error must contain)
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "TOML syntax",
            base.replace("after = \"24h\"", "after = 24h\""),
            vec!["line 27", "TOML syntax"],
        ),
        (
            "unknown key",
            base.replace("team = \"finance\"", "team = \"finance\"\ntaem = \"x\""),
            vec!["line 19", "`users[0].taem`", "unknown field `taem`"],
        ),
        (
            "missing app_id",
            base.replace("app_id = \"cli_test\"\n", ""),
            vec!["`feishu.app_id`", "missing field `app_id`"],
        ),
        (
            "invalid cron",
            base.replace("0 */10 * * * *", "0 */10 * * *"),
            vec!["line 7", "`schedule.cron`", "expected 6"],
        ),
        (
            "bad duration",
            base.replace("after = \"24h\"", "after = \"24 parsecs\""),
            vec!["line 27", "`rules[0].after`", "invalid duration"],
        ),
        (
            "unknown placeholder",
            base.replace("{label}", "{lable}"),
            vec![
                "line 29",
                "`rules[0].opinion`",
                "unknown placeholder {lable}",
            ],
        ),
        (
            "unknown listing mode",
            base.replace(
                "timezone = \"Asia/Shanghai\"",
                "timezone = \"Asia/Shanghai\"\nlisting = \"sometimes\"",
            ),
            vec![
                "`schedule.listing`",
                "unknown variant `sometimes`",
                "every_tick",
            ],
        ),
        (
            "an unreadable PostgreSQL URL",
            base.replace(
                &env.db_path.display().to_string(),
                "postgres://expediter:s3cret@localhost:99999999/expediter",
            ),
            vec!["`storage.database`", "not a PostgreSQL URL"],
        ),
        (
            "a duration without a unit",
            base.replace("after = \"24h\"", "after = 24"),
            vec!["`rules[0].after`", "write it like \"24h\""],
        ),
        (
            "unknown team, with the known ones",
            base.replace("after = \"24h\"", "after = \"24h\"\nteams = [\"finanse\"]"),
            vec![
                "`rules[0].teams`",
                "team \"finanse\"",
                "known teams: finance",
            ],
        ),
        (
            "unknown calendar",
            base.replace("calendar = \"office\"", "calendar = \"ofice\""),
            vec![
                "line 28",
                "`rules[0].calendar`",
                "calendar \"ofice\", which is not defined",
            ],
        ),
    ];
    for (name, text, fragments) in cases {
        std::fs::write(&env.config_path, &text).unwrap();
        let run = env.run(&["check"]).await;
        assert_eq!(run.code, 2, "{name}: {}", run.all());
        let path = env.config_path.display().to_string();
        assert!(
            run.stderr.contains(&path),
            "{name} names the file: {}",
            run.stderr
        );
        for f in fragments {
            assert!(
                run.stderr.contains(f),
                "{name}: missing {f:?} in {}",
                run.stderr
            );
        }
        assert!(!run.all().contains("s3cret"), "{name}: a password shown");
        // `once` refuses the same file the same way.
        assert_eq!(env.run(&["once"]).await.code, 2, "{name}: once");
    }
}

#[tokio::test]
async fn missing_config_file_exits_2() {
    let env = TestEnv::new().await;
    std::fs::remove_file(&env.config_path).unwrap();
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("file not found") && run.stderr.contains("config.toml"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn global_flags_work_before_or_after_the_command() {
    let env = TestEnv::new().await;
    for args in [
        vec!["--config", env.config_path.to_str().unwrap(), "check"],
        vec!["check", "--config", env.config_path.to_str().unwrap()],
    ] {
        let out = expediter().args(&args).output().await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = expediter()
        .arg("check")
        .env("EXPEDITER_CONFIG", &env.config_path)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "EXPEDITER_CONFIG is honoured");
    let out = expediter().arg("frobnicate").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[tokio::test]
async fn check_online_fetches_a_token() {
    let env = TestEnv::new().await;
    let run = env.run(&["check", "--online"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("online: fetched a tenant token"),
        "{}",
        run.stdout
    );
    assert_eq!(env.fake.calls_to(expediter::fake::Endpoint::Token).len(), 1);
}

#[tokio::test]
async fn a_wrong_secret_fails_plainly_with_the_code_and_the_fix() {
    let env = TestEnv::new().await;
    env.add(expediter::fake::FakeTask::new("t1", &["u1"], 30 * HOUR));
    let wrong = [("EXPEDITER_APP_SECRET", "not-the-secret")];
    let run = env.run_with_env(&["check", "--online"], &wrong).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stdout.contains("10014") && run.stdout.contains("app secret"),
        "{}",
        run.stdout
    );
    // Said once, naming where the secret came from and what to fix.
    assert_eq!(run.all().matches("10014").count(), 1, "{}", run.all());
    assert!(
        run.stdout.contains("came from env EXPEDITER_APP_SECRET")
            && run
                .stdout
                .contains("fix app_secret_file, app_secret or EXPEDITER_APP_SECRET"),
        "{}",
        run.stdout
    );
    let run = env.run_with_env(&["once"], &wrong).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.all().matches("10014").count(), 1, "{}", run.all());
    assert!(
        run.stderr.contains("nothing was sent")
            && !run.stderr.contains("the call was not sent")
            && run.stderr.contains("came from env EXPEDITER_APP_SECRET"),
        "{}",
        run.stderr
    );
    assert!(
        !run.all().contains("not-the-secret"),
        "the secret never shows"
    );
    assert_eq!(env.expedite_calls(), 0);
}

#[tokio::test]
async fn secret_from_a_file_and_env_override() {
    let env = TestEnv::new().await;
    let secret_file = env.dir.path().join("app_secret");
    std::fs::write(&secret_file, format!("{APP_SECRET}\n")).unwrap();
    let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
        &format!("app_secret = \"{APP_SECRET}\""),
        &format!("app_secret_file = \"{}\"", secret_file.display()),
    );
    std::fs::write(&env.config_path, text).unwrap();
    assert_eq!(env.run(&["check", "--online"]).await.code, 0);
    // The environment variable wins over the file.
    let run = env
        .run_with_env(&["check", "--online"], &[("EXPEDITER_APP_SECRET", "wrong")])
        .await;
    assert_eq!(run.code, 2, "{}", run.all());
    // An unreadable file is a config error naming it.
    std::fs::remove_file(&secret_file).unwrap();
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("app_secret"), "{}", run.stderr);
}

#[tokio::test]
async fn the_example_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config =
        expediter::config::Config::parse(&std::fs::read_to_string(&path).unwrap(), &path, false)
            .unwrap_or_else(|e| panic!("config.example.toml: {e}"));
    assert_eq!(config.rules.len(), 2);
    assert_eq!(config.feishu.requests_per_minute, 100);
    assert!(
        config.console.is_none(),
        "the console is off until a lead turns it on"
    );
    // Its [console] section, uncommented, is valid too.
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("# [console]").expect("a [console] section");
    let block = &text[start..];
    let end = block.find("\n\n").unwrap_or(block.len());
    let uncommented = block[..end]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!("{}{uncommented}\n{}", &text[..start], &block[end..]);
    let config = expediter::config::Config::parse(&text, &path, false)
        .unwrap_or_else(|e| panic!("config.example.toml's [console]: {e}"));
    let console = config.console.expect("[console]");
    assert_eq!(
        console.public_url.as_deref(),
        Some("https://expediter.corp.example")
    );
    assert!(console.secure_cookies());
}

#[tokio::test]
async fn the_secret_can_come_from_systemd_credentials() {
    let env = TestEnv::new().await;
    let creds = env.dir.path().join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("app_secret"), APP_SECRET).unwrap();
    let without_secret = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace(&format!("app_secret = \"{APP_SECRET}\"\n"), "");
    std::fs::write(&env.config_path, &without_secret).unwrap();
    // `plan`-like commands work without it; `check` says what is missing.
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("no app secret") && run.stderr.contains("LoadCredential"),
        "{}",
        run.stderr
    );
    let creds_env = [("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())];
    let run = env.run_with_env(&["check", "--online"], &creds_env).await;
    assert_eq!(run.code, 0, "{}", run.all());
    // A relative app_secret_file is read from the credentials directory.
    let relative =
        without_secret.replace("[feishu]\n", "[feishu]\napp_secret_file = \"app_secret\"\n");
    std::fs::write(&env.config_path, relative).unwrap();
    let run = env.run_with_env(&["check", "--online"], &creds_env).await;
    assert_eq!(run.code, 0, "{}", run.all());
}

#[tokio::test]
async fn check_by_hand_reads_the_secret_the_unit_hands_the_service() {
    // Installed: the unit's `LoadCredential=app_secret:/etc/expediter/app_secret` hands the
    // service the file beside its config. `check` and `once --dry-run` run by hand (no
    // CREDENTIALS_DIRECTORY) read that same file.
    let env = TestEnv::new().await;
    let without_secret = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace(&format!("app_secret = \"{APP_SECRET}\"\n"), "");
    std::fs::write(&env.config_path, &without_secret).unwrap();
    let beside = env.config_path.parent().unwrap().join("app_secret");
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("{} does not exist", beside.display()))
            && run.stderr.contains("LoadCredential=app_secret:"),
        "names the file the unit reads: {}",
        run.stderr
    );
    std::fs::write(&beside, format!("{APP_SECRET}\n")).unwrap();
    std::fs::set_permissions(&beside, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let run = env.run(&["check", "--online"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.all().contains(APP_SECRET), "{}", run.all());
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let run = env.run(&["once", "--dry-run"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("would expedite"), "{}", run.stderr);
    // A relative app_secret_file is read beside the config too.
    std::fs::rename(&beside, beside.with_file_name("secret.txt")).unwrap();
    let relative =
        without_secret.replace("[feishu]\n", "[feishu]\napp_secret_file = \"secret.txt\"\n");
    std::fs::write(&env.config_path, relative).unwrap();
    let run = env.run(&["check", "--online"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
}

/// `users = []` or `teams = []` reads as "nobody" but means everyone: `check` says so, once.
#[tokio::test]
async fn an_empty_selector_list_is_warned_about_once() {
    let env = TestEnv::new().await;
    let base = valid(&env.fake.url(), &env.db_path.display().to_string());
    std::fs::write(
        &env.config_path,
        base.replace("after = \"24h\"", "after = \"24h\"\nusers = []"),
    )
    .unwrap();
    let run = env.run(&["check"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let said =
        "rules[0].users = [] is the same as leaving it out: rule \"r\" selects every watched user";
    assert_eq!(run.all().matches(said).count(), 1, "{}", run.all());
    // Without the empty list, no warning.
    std::fs::write(&env.config_path, &base).unwrap();
    let run = env.run(&["check"]).await;
    assert!(
        !run.all().contains("is the same as leaving it out"),
        "{}",
        run.all()
    );
}

/// The README's command table and `--help` agree: every command the table names exists, and
/// every flag it gives that command is in the command's help (and the reverse).
#[tokio::test]
async fn the_readmes_command_table_agrees_with_the_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Commands")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .nth(1)
        .unwrap();
    let mut seen = 0;
    for row in table.lines().filter(|l| l.starts_with("| `expediter ")) {
        let usage = row.split('`').nth(1).unwrap();
        let words: Vec<&str> = usage.split_whitespace().collect();
        // The command path: the words before the first flag or placeholder.
        let path: Vec<&str> = words[1..]
            .iter()
            .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
            .copied()
            .collect();
        let flags: std::collections::BTreeSet<String> = usage
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--"))
            .map(str::to_owned)
            .collect();
        let out = expediter()
            .args(&path)
            .arg("--help")
            .output()
            .await
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{path:?}: {help}");
        for f in &flags {
            assert!(
                help.contains(f.as_str()),
                "{path:?}: README gives {f}, --help does not:\n{help}"
            );
        }
        // Every flag of the command's own (not the global ones) is in the README's row.
        let globals = ["--config", "--log-format", "--help", "--version"];
        for line in help
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("--") || l.starts_with("-"))
        {
            let flag = line
                .split([',', ' ', '=', '<'])
                .find(|w| w.starts_with("--"))
                .unwrap_or("");
            if flag.is_empty() || globals.contains(&flag) {
                continue;
            }
            assert!(
                flags.contains(flag),
                "{path:?}: --help has {flag}, the README's row does not: {usage}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 10, "{seen} rows read");
}
