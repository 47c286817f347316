//! Shared by the integration tests: one fake Feishu, one temp dir, one config, the real binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use expediter::fake::{Endpoint, FakeFeishu, FakeTask};
use tempfile::TempDir;

pub const APP_ID: &str = "cli_test";
pub const APP_SECRET: &str = "s3cr3t-APP-value-9f8e7d";

pub const HOUR: Duration = Duration::from_secs(3600);

pub struct TestEnv {
    pub fake: FakeFeishu,
    pub dir: TempDir,
    pub config_path: PathBuf,
    pub db_path: PathBuf,
}

/// The users every test watches: u1 and u2 in finance, u3 in ops.
pub const USERS: &str = r#"
[[users]]
id = "u1"
name = "Zhang San"
team = "finance"

[[users]]
id = "u2"
name = "Li Si"
team = "finance"

[[users]]
id = "u3"
name = "Wang Wu"
team = "ops"
"#;

pub const RULE_ONCE_AFTER_24H: &str = r#"
[[rules]]
name = "default"
after = "24h"
opinion = "{label} waited {age} (#{n}) for {user}, rule {rule}, from {initiator}, task {task_id}"
"#;

impl TestEnv {
    pub async fn new() -> TestEnv {
        let fake = FakeFeishu::start(APP_ID, APP_SECRET)
            .await
            .expect("fake Feishu starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.toml");
        let db_path = dir.path().join("state/expediter.db");
        let env = TestEnv {
            fake,
            dir,
            config_path,
            db_path,
        };
        env.write_config("", RULE_ONCE_AFTER_24H);
        env
    }

    /// Writes a config: `feishu_extra` lines go into [feishu], `rules` after the users.
    pub fn write_config(&self, feishu_extra: &str, rules: &str) {
        self.write_config_with_users(feishu_extra, USERS, rules);
    }

    pub fn write_config_with_users(&self, feishu_extra: &str, users: &str, rules: &str) {
        // Test defaults, each replaced by a line of `feishu_extra` that sets the same key.
        let defaults = [
            "requests_per_minute = 6000",
            "request_timeout = \"2s\"",
            "retry_backoff = \"10ms\"",
        ];
        let overridden = |d: &str| {
            let key = d.split('=').next().unwrap().trim();
            feishu_extra
                .lines()
                .any(|l| l.split('=').next().unwrap().trim() == key)
        };
        let feishu_lines: Vec<&str> = defaults
            .iter()
            .copied()
            .filter(|d| !overridden(d))
            .chain(feishu_extra.lines())
            .collect();
        let feishu_lines = feishu_lines.join("\n");
        let text = format!(
            r#"[feishu]
base_url = "{url}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
{feishu_lines}

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[storage]
database = "{db}"

[expedite]
operator_user_id = "7000"
{users}
{rules}
"#,
            url = self.fake.url(),
            db = self.db_path.display(),
        );
        std::fs::write(&self.config_path, text).expect("write config");
    }

    pub fn add(&self, task: FakeTask) {
        self.fake.add_task(task);
    }

    /// Runs the real binary with this env's config.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[]).await
    }

    pub async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_expediter"));
        cmd.arg("--config").arg(&self.config_path).args(args);
        cmd.env_remove("EXPEDITER_APP_SECRET")
            .env_remove("EXPEDITER_CONFIG")
            .env_remove("JOURNAL_STREAM");
        cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("expediter finishes within 2 minutes")
            .expect("expediter runs");
        Run::from(out)
    }

    pub fn expedite_calls(&self) -> usize {
        self.fake.calls_to(Endpoint::Expedite).len()
    }

    pub async fn plan_json(&self) -> Vec<serde_json::Value> {
        let run = self.run(&["plan", "--json"]).await;
        assert_eq!(run.code, 0, "plan failed: {}", run.stderr);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("plan --json is JSON ({e}): {}", run.stdout))
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A tmpfs mounted for one test: a real file system that fills up (`size=`) or turns read-only
/// (`remount,ro`). Unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "4m") at `path`; `None`, with the reason printed, where
    /// mounting is not permitted (not root, no CAP_SYS_ADMIN).
    pub fn mount(path: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                path: path.to_owned(),
            }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here ({}); this test needs root",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount ({e}); this test needs root");
                None
            }
        }
    }

    pub fn remount(&self, mode: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path)
            .status()
            .expect("mount runs");
        assert!(ok.success(), "remount {mode}");
    }

    /// Fills the file system up with `filler` until it is full.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

impl TestEnv {
    /// The daemon's engine for this env's config, in this process, reading `clock`: one cycle
    /// can then be run at any moment without sleeping.
    pub async fn engine(&self, clock: expediter::clock::Clock) -> expediter::cycle::Engine {
        let config = expediter::config::Config::load(&self.config_path).expect("config loads");
        expediter::cli::engine_for(config, clock)
            .await
            .expect("engine starts")
    }
}
