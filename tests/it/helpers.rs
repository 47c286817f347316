//! What every integration test starts from: one fake Feishu, one temp dir, one config, and
//! the real binary launched one way ([`expediter`]).

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use expediter::fake::{CallKind, Endpoint, FakeFeishu, FakePerson, FakeTask};
use tempfile::TempDir;
use tokio::time::Instant;

pub const APP_ID: &str = "cli_test";
pub const APP_SECRET: &str = "s3cr3t-APP-value-9f8e7d";

pub const HOUR: Duration = Duration::from_secs(3600);

pub struct TestEnv {
    pub fake: FakeFeishu,
    pub dir: TempDir,
    pub config_path: PathBuf,
    /// The SQLite file, when the env runs on SQLite.
    pub db_path: PathBuf,
    /// `[storage] database`: `db_path`, or a fresh PostgreSQL database's URL.
    pub database: String,
}

/// Which backend the envs of this thread's test use (see `both_backends!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static BACKEND: std::cell::Cell<Backend> = const { std::cell::Cell::new(Backend::Sqlite) };
}

/// Defines a test on both backends, where it is written: itself (on SQLite) and, beside it,
/// `<name>::on_postgres`, the same test with every env it makes on PostgreSQL (a fresh database
/// on the cluster `.ci/with-postgres` starts). Anything that touches the store is written in
/// it; a test that reads the SQLite file itself, or starts a pair, is not (`every_store_test_
/// runs_on_both_backends` holds the suite to that).
macro_rules! both_backends {
    ($(#[$attr:meta])* $vis:vis async fn $name:ident() $body:block) => {
        $(#[$attr])* $vis async fn $name() $body

        mod $name {
            #[test]
            fn on_postgres() {
                crate::helpers::on_backend(crate::helpers::Backend::Postgres, super::$name);
            }
        }
    };
}

/// Runs `test` (a `#[tokio::test]`, which builds its runtime on this thread) with every env it
/// makes on `backend`.
pub fn on_backend(backend: Backend, test: fn()) {
    BACKEND.with(|b| b.set(backend));
    test();
    BACKEND.with(|b| b.set(Backend::Sqlite));
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
    /// An env on PostgreSQL, whatever the thread's backend.
    pub async fn new_postgres() -> TestEnv {
        let before = BACKEND.with(|b| b.replace(Backend::Postgres));
        let env = TestEnv::new().await;
        BACKEND.with(|b| b.set(before));
        env
    }

    pub async fn new() -> TestEnv {
        away_from_midnight().await;
        let fake = FakeFeishu::start(APP_ID, APP_SECRET)
            .await
            .expect("fake Feishu starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.toml");
        let db_path = dir.path().join("state/expediter.db");
        let database = match BACKEND.with(|b| b.get()) {
            Backend::Sqlite => db_path.display().to_string(),
            Backend::Postgres => expediter::fake::postgres::fresh_database().await,
        };
        let env = TestEnv {
            fake,
            dir,
            config_path,
            db_path,
            database,
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
cron = "{DEFAULT_CRON}"
timezone = "Asia/Shanghai"

[storage]
database = "{db}"
{lease}

[expedite]
operator_user_id = "7000"
{users}
{rules}
"#,
            url = self.fake.url(),
            db = self.database,
            lease = if self.on_postgres() {
                "lease = \"3s\""
            } else {
                ""
            },
        );
        std::fs::write(&self.config_path, text).expect("write config");
    }

    pub fn on_postgres(&self) -> bool {
        self.database.starts_with("postgres")
    }

    /// PostgreSQL: how many tables the env's database holds.
    pub async fn tables(&self) -> i64 {
        let pool = sqlx::PgPool::connect(&self.database).await.unwrap();
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        n
    }

    /// After an instance was killed: on PostgreSQL its lease (3 s in tests) must run out before
    /// another instance may act; on SQLite the lock died with it.
    pub async fn wait_out_lease(&self) {
        if self.on_postgres() {
            tokio::time::sleep(Duration::from_millis(3200)).await;
        }
    }

    pub fn add(&self, task: FakeTask) {
        self.fake.add_task(task);
    }

    /// Runs the real binary with this env's config.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[]).await
    }

    pub async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("expediter finishes within 2 minutes")
            .expect("expediter runs");
        Run::from(out)
    }

    /// The binary with this env's config and `args`, not started yet.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = expediter();
        cmd.arg("--config").arg(&self.config_path).args(args);
        cmd
    }

    /// Starts the binary with `args`, output discarded (for killing it mid-way).
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("expediter starts")
    }

    pub fn expedite_calls(&self) -> usize {
        self.fake.calls_to(Endpoint::Acts(CallKind::Expedite)).len()
    }

    pub async fn plan_json(&self) -> Vec<serde_json::Value> {
        let run = self.run(&["plan", "--json"]).await;
        assert_eq!(run.code, 0, "plan failed: {}", run.stderr);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("plan --json is JSON ({e}): {}", run.stdout))
    }
}

/// The one way tests launch the binary: no inherited secret, config path or systemd
/// environment, an English terminal (`LANG=C.UTF-8`; a test that wants Chinese says so), logs
/// at info without colour, no stdin, killed if the test drops it.
pub fn expediter() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_expediter"));
    cmd.env_remove("EXPEDITER_APP_SECRET")
        .env_remove("EXPEDITER_CONFIG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
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
    /// mounting is not permitted (not root, no CAP_SYS_ADMIN). With
    /// `EXPEDITER_TESTS_NEED_MOUNT=1` (CI, as root, sets it) a refused mount fails the test.
    pub fn mount(path: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let skip = |why: String| {
            if std::env::var("EXPEDITER_TESTS_NEED_MOUNT").is_ok_and(|v| v == "1") {
                panic!(
                    "cannot mount a tmpfs ({why}), and EXPEDITER_TESTS_NEED_MOUNT=1 forbids skipping"
                );
            }
            eprintln!("SKIPPED: cannot mount a tmpfs here ({why}); this test needs root");
        };
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
                skip(String::from_utf8_lossy(&o.stderr).trim().to_owned());
                None
            }
            Err(e) => {
                skip(format!("cannot run mount: {e}"));
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
        expediter::startup::engine_for(config, clock)
            .await
            .expect("engine starts")
    }
}

/// `expediter run` as a child process, its log in a file.
pub struct Daemon {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(env: &TestEnv, extra_env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(env, &env.config_path, extra_env)
    }

    /// `run` with another config file (a second instance of a pair, say).
    pub fn start_with(
        env: &TestEnv,
        config: &std::path::Path,
        extra_env: &[(&str, &str)],
    ) -> Daemon {
        let log = env
            .dir
            .path()
            .join(format!("daemon-{}.log", fastrand::u32(..)));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = expediter();
        cmd.arg("--config").arg(config).arg("run");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    /// `run` with at most `nofile` open descriptors, as systemd's default soft limit (1,024)
    /// gives a unit without `LimitNOFILE=`.
    pub fn start_limited(env: &TestEnv, nofile: u64) -> Daemon {
        let log = env
            .dir
            .path()
            .join(format!("daemon-{}.log", fastrand::u32(..)));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -n {nofile} && exec \"$0\" --config \"$1\" run"
            ))
            .arg(env!("CARGO_BIN_EXE_expediter"))
            .arg(&env.config_path);
        cmd.env_remove("EXPEDITER_APP_SECRET")
            .env_remove("EXPEDITER_CONFIG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub async fn wait_for(&self, pattern: &str, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.log().matches(pattern).count() < count {
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {count}× {pattern:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for one more cycle than has finished so far.
    pub async fn wait_for_next_cycle(&self) {
        let cycles = self.log().matches("cycle finished").count();
        self.wait_for("cycle finished", cycles + 1, Duration::from_secs(6))
            .await;
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("running").to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// SIGTERM, then the exit code and how long it took.
    pub async fn stop(mut self) -> (i32, Duration, String) {
        let start = Instant::now();
        self.signal("TERM");
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("exits")
            .unwrap();
        (status.code().unwrap_or(-1), start.elapsed(), self.log())
    }
}

/// Tests on the real clock that count "today" in the config's zone (the daily cap, `plan`'s
/// reminders today) must not straddle midnight in Shanghai: an env made in the last minute of
/// the day waits the day out first.
async fn away_from_midnight() {
    use chrono::Timelike;
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let left = 86_400 - i64::from(now.num_seconds_from_midnight());
    if left <= 60 {
        tokio::time::sleep(Duration::from_secs(left as u64 + 1)).await;
    }
}

/// The schedule of a test's config unless it sets one: midnight on the first of January in
/// Shanghai, a tick no test runs into. (`once` sends until the next tick; with a tick every
/// ten minutes, a test that happened to run across one sent only part of its calls.)
pub const DEFAULT_CRON: &str = "0 0 0 1 1 *";

/// Replaces the default schedule with `cron`.
pub fn with_cron(env: &TestEnv, cron: &str) {
    let text = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace(DEFAULT_CRON, cron);
    std::fs::write(&env.config_path, text).unwrap();
}

/// Adds `[metrics] listen` on a free loopback port to the env's config; the port.
pub fn with_metrics(env: &TestEnv) -> u16 {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    port
}

/// The daemon's `/metrics` page on `port`.
pub async fn scrape(port: u16) -> String {
    http_get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the metrics endpoint answers")
        .text()
        .await
        .unwrap()
}

/// A GET from the test side, through the product's client builder: reqwest is built without a
/// TLS provider of its own, and the builder installs the process's one (a test that ran alone
/// in its process would otherwise panic building a client).
pub async fn http_get(url: String) -> reqwest::Result<reqwest::Response> {
    expediter::feishu::client_builder()
        .build()
        .expect("an HTTP client")
        .get(url)
        .send()
        .await
}

/// `n` users m000, m001, … with no name or team.
pub fn many_users(n: usize) -> String {
    (0..n)
        .map(|i| format!("[[users]]\nid = \"m{i:03}\"\n"))
        .collect()
}

/// One due task for each of the users from [`many_users`].
pub fn one_due_task_each(env: &TestEnv, users: usize) {
    for i in 0..users {
        env.add(FakeTask::new(
            format!("t{i:03}"),
            &[&format!("m{i:03}")],
            30 * HOUR,
        ));
    }
}

/// Largest number of calls inside any window of `window` length.
pub fn max_in_window(times: &[tokio::time::Instant], window: Duration) -> usize {
    let mut best = 0;
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < window)
            .count();
        best = best.max(n);
    }
    best
}

/// Runs SQL on the env's database as another process would (either backend).
pub async fn raw_sql(env: &TestEnv, sql: &'static str) {
    use sqlx::{Connection, Executor};
    if env.database.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&env.database).await.unwrap();
        c.execute(sql).await.unwrap();
    } else {
        let mut c = raw_db(&env.db_path).await;
        c.execute(sql).await.unwrap();
    }
}

/// A plain connection to the database, as another process would open it.
pub async fn raw_db(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    sqlx::SqliteConnection::connect_with(&opts).await.unwrap()
}

/// A test that makes an env (and so a store) says which backends it runs on: written in
/// `both_backends!`, or in a file that says why it is "SQLite only". A new test therefore runs
/// on both unless someone decides otherwise where it is written.
#[test]
fn every_store_test_runs_on_both_backends() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it");
    let mut undecided = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file_says = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .any(|l| l.contains("SQLite only"));
        if file_says {
            continue;
        }
        // Top-level tests (a test inside `both_backends!` is indented).
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if !line.starts_with("#[tokio::test") {
                continue;
            }
            let Some(sig) = lines.by_ref().find(|l| l.contains("async fn ")) else {
                break;
            };
            let name = sig
                .split("fn ")
                .nth(1)
                .unwrap_or("")
                .split('(')
                .next()
                .unwrap_or("");
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "}").collect();
            if body.iter().any(|l| l.contains("TestEnv::new()")) {
                undecided.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(
        undecided.is_empty(),
        "tests that make an env outside both_backends! in a file that does not say \"SQLite only\": {undecided:#?}"
    );
}

/// The console's token in tests.
pub const CONSOLE_TOKEN: &str = "console-T0KEN-4c1d8e";

/// Adds `[console]` on a free loopback port (token sign-in unless `extra` says otherwise);
/// the port.
pub fn with_console(env: &TestEnv, extra: &str) -> u16 {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    let token = if extra.contains("token") {
        String::new()
    } else {
        format!("token = \"{CONSOLE_TOKEN}\"\n")
    };
    std::fs::write(
        &env.config_path,
        format!("{text}\n[console]\nlisten = \"127.0.0.1:{port}\"\n{token}{extra}\n"),
    )
    .unwrap();
    port
}

/// An HTTP client that follows no redirect and keeps no cookie: each test says what it sends.
/// It asks for English pages (`Accept-Language: en`), as an English browser does.
pub fn browser() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_LANGUAGE,
        reqwest::header::HeaderValue::from_static("en"),
    );
    expediter::feishu::client_builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// Waits until the console on `port` answers.
pub async fn wait_for_console(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = http_get(format!("http://127.0.0.1:{port}/healthz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the console on {port} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `name=value` of a response's cookie `name`, and its whole Set-Cookie line.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
}

/// The CSRF token of a console page's first form.
pub fn csrf_of(page: &str) -> String {
    let doc = scraper::Html::parse_document(page);
    let sel = scraper::Selector::parse("input[name=csrf]").unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .expect("a CSRF field")
        .to_owned()
}

/// Adds a `[console]` that signs in with Feishu through the fake's accounts page (its
/// `public_url` on its own port; the console's token for Bearer), then `extra` (allow, admins,
/// `[[teams]]`…): the console's port.
pub fn with_feishu_console(env: &TestEnv, extra: &str) -> u16 {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        format!(
            "{text}\n[console]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\nsign_in = \"feishu\"\naccounts_url = \"{}\"\ntoken = \"{CONSOLE_TOKEN}\"\n{extra}\n",
            env.fake.url()
        ),
    )
    .unwrap();
    port
}

/// Signs `open_id` in through the fake's Feishu: the session cookie.
pub async fn feishu_session(
    env: &TestEnv,
    port: u16,
    open_id: &str,
    email: Option<&str>,
) -> String {
    env.fake.sign_in_as(Some(FakePerson {
        open_id: open_id.into(),
        name: format!("Name of {open_id}"),
        email: email.map(str::to_owned),
        barred: false,
    }));
    let c = browser();
    let r = c
        .get(format!("http://127.0.0.1:{port}/login/feishu?next=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let (state, _) = set_cookie(&r, "expediter_sign_in").unwrap();
    let r = c.get(&to).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let r = c.get(&back).header("cookie", &state).send().await.unwrap();
    assert_eq!(r.status(), 303, "{open_id}: {}", r.text().await.unwrap());
    set_cookie(&r, "expediter_session").unwrap().0
}
