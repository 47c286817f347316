//! The console at organisation size: every page and API call against a database of 100,000
//! tracked tasks (1,000 users × 100, a fifth reminded, a daily cap on), served by the release
//! binary's `run`. Each path is asked once cold, then five times; the table gives the first,
//! the median and the slowest answer. Run with `cargo bench --bench console` (`-- 20000` for
//! another size).

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use expediter::domain::{CallKind, Recipient};
use expediter::feishu::ListedTask;
use expediter::store::{Database, Intent, ListedAssignment, NewSilence, Outcome, Store};

const TOKEN: &str = "bench-console-token";
const USERS: usize = 1_000;

fn config(dir: &std::path::Path, port: u16) -> String {
    let mut users = String::new();
    for u in 0..USERS {
        users.push_str(&format!(
            "[[users]]\nid = \"u{u:04}\"\nname = \"User {u}\"\nteam = \"{}\"\n",
            if u % 2 == 0 { "finance" } else { "ops" }
        ));
    }
    format!(
        r#"[feishu]
base_url = "http://127.0.0.1:9"
app_id = "cli_bench"
app_secret = "bench-secret"

[schedule]
cron = "0 0 0 1 1 *"
timezone = "Asia/Shanghai"

[storage]
database = "{db}"

[expedite]
operator_user_id = "7000"
max_per_user_per_day = 3

{users}
[[rules]]
name = "finance"
teams = ["finance"]
after = "24h"
repeat = "12h"
max_times = 3

[rules.escalate]
after_times = 2
cc = ["7000"]

[[rules]]
name = "everyone"
after = "48h"

[console]
listen = "127.0.0.1:{port}"
token = "{TOKEN}"
"#,
        db = dir.join("e.db").display()
    )
}

async fn seed(db: &Database, tasks: usize) {
    let store = Store::open(db).await.unwrap();
    let now = Utc::now();
    let per_user = tasks / USERS;
    let mut batch = Vec::new();
    for t in 0..tasks {
        let user = t % USERS;
        let age_hours = 1 + (t / USERS) as i64 * 720 / per_user.max(1) as i64;
        batch.push(ListedAssignment {
            user: format!("u{user:04}"),
            flow_set: None,
            task: ListedTask {
                task_id: format!("t{t:06}"),
                instance_id: Some(format!("w{t}")),
                labels: vec![
                    ("2052".into(), format!("报销审批 {t} 差旅费")),
                    ("1033".into(), format!("Expense {t} travel")),
                ],
                status: None,
                initiator_id: Some("9".into()),
                initiator_name: Some("Zhao Lei".into()),
                start_time: Some(now - chrono::TimeDelta::hours(age_hours)),
                text_hash: t as u64,
            },
        });
        if batch.len() == 5_000 {
            store.record_listed(&batch, now).await.unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.record_listed(&batch, now).await.unwrap();
    }
    // A fifth of them reminded once, yesterday.
    let yesterday = now - chrono::TimeDelta::days(1);
    for t in (0..tasks).step_by(5) {
        let recipients = [Recipient {
            user_id: format!("u{:04}", t % USERS),
            rule: "finance".into(),
            n: 1,
        }];
        let id = store
            .record_intent(
                &Intent {
                    kind: CallKind::Expedite,
                    task_id: &format!("t{t:06}"),
                    rule: "finance",
                    operator: "7000",
                    opinion: "please",
                    recipients: &recipients,
                    people: &[],
                },
                yesterday,
            )
            .await
            .unwrap();
        store
            .record_outcome(id, Outcome::Sent, None, None, None, yesterday)
            .await
            .unwrap();
    }
    for t in (0..tasks).step_by(tasks / 100) {
        store
            .add_silence(
                &NewSilence {
                    task_id: &format!("t{t:06}"),
                    user_id: None,
                    until: now + chrono::TimeDelta::days(3),
                    reason: "on leave",
                    created_by: "cli:bench",
                },
                now,
            )
            .await
            .unwrap();
    }
    store.close().await;
}

fn main() {
    let tasks: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let bin = std::env::var_os("EXPEDITER_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_expediter")));
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config(dir.path(), port)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    rt.block_on(seed(&Database::Sqlite(dir.path().join("e.db")), tasks));
    eprintln!(
        "seeded {tasks} tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut child = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&config_path)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let paths = [
        "/healthz",
        "/",
        "/api/v1/status",
        "/tasks",
        "/api/v1/tasks",
        "/tasks?sort=newest&offset=50000",
        "/tasks?assignee=u0007",
        "/tasks?team=finance",
        "/tasks?q=%E5%B7%AE%E6%97%85%E8%B4%B9%2042",
        "/tasks?state=due",
        "/api/v1/tasks?state=capped&limit=100",
        "/tasks?rule=everyone",
        "/tasks/t004242",
        "/api/v1/tasks/t004242",
        "/silences",
        "/api/v1/silences?all=true",
        "/report",
        "/rules",
    ];
    let rows = rt.block_on(async {
        let c = expediter::feishu::client_builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while c
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the console never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut rows = Vec::new();
        for path in paths {
            let mut times = Vec::new();
            for _ in 0..6 {
                let t = Instant::now();
                let r = c
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let bytes = r.bytes().await.unwrap().len();
                times.push(t.elapsed());
                assert!(status.is_success(), "{path}: {status}");
                if times.len() == 1 {
                    eprintln!("{path}: {status}, {bytes} bytes");
                }
            }
            let first = times[0];
            let mut rest = times[1..].to_vec();
            rest.sort();
            rows.push((path, first, rest[rest.len() / 2], *rest.last().unwrap()));
        }
        rows
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    println!("\n{tasks} tracked tasks, {USERS} users (SQLite, release build)\n");
    println!("| path | first | median of 5 | slowest of 5 |");
    println!("|---|---|---|---|");
    for (path, first, median, max) in rows {
        println!(
            "| `{path}` | {:.0} ms | {:.0} ms | {:.0} ms |",
            first.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
}
