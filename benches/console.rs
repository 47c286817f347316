//! The console at organisation size: every page and API call against a database of 100,000
//! tracked tasks (1,000 users × 100, a fifth reminded, a daily cap on), served by the release
//! binary's `run`. Each path is asked once cold, then five times; the table gives the first,
//! the median and the slowest answer. Run with `cargo bench --bench console` (`-- 20000` for
//! another size). With `-- lead` the users are in 20 teams and the pages are asked by the lead
//! of one of them, signed in with Feishu (the fake plays Feishu's accounts): what a lead waits.

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use expediter::domain::{CallKind, Recipient};
use expediter::feishu::ListedTask;
use expediter::store::{Database, Intent, ListedAssignment, NewSilence, Outcome, Store};

const TOKEN: &str = "bench-console-token";
const USERS: usize = 1_000;

/// The 20 teams of `-- lead`, and the lead who asks.
const TEAMS: usize = 20;
const LEAD: &str = "ou_lead07";

/// A user's team: finance and ops, or (`lead`) one of 20.
fn team_of(u: usize, lead: bool) -> String {
    match (lead, u % 2) {
        (true, _) => format!("team{:02}", u % TEAMS),
        (false, 0) => "finance".into(),
        (false, _) => "ops".into(),
    }
}

fn config(dir: &std::path::Path, port: u16, feishu: Option<&str>) -> String {
    let lead = feishu.is_some();
    let mut users = String::new();
    for u in 0..USERS {
        users.push_str(&format!(
            "[[users]]\nid = \"u{u:04}\"\nname = \"User {u}\"\nteam = \"{}\"\n",
            team_of(u, lead)
        ));
    }
    let (base_url, console) = match feishu {
        None => ("http://127.0.0.1:9".to_owned(), String::new()),
        Some(url) => {
            let mut teams = String::new();
            for t in 0..TEAMS {
                teams.push_str(&format!(
                    "\n[[teams]]\nname = \"team{t:02}\"\nleads = [\"ou_lead{t:02}\"]\n"
                ));
            }
            (
                url.to_owned(),
                format!(
                    "public_url = \"http://127.0.0.1:{port}\"\nsign_in = \"feishu\"\naccounts_url = \"{url}\"\nallow = []\nadmins = [\"ou_admin\"]\n{teams}"
                ),
            )
        }
    };
    format!(
        r#"[feishu]
base_url = "{base_url}"
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
teams = ["{first_team}"]
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
{console}"#,
        db = dir.join("e.db").display(),
        first_team = team_of(0, lead),
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

/// Signs the lead in as a browser would: our redirect, the fake's accounts page, our callback.
async fn lead_session(port: u16) -> String {
    let c = expediter::feishu::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let r = c
        .get(format!("http://127.0.0.1:{port}/login/feishu?next=/"))
        .send()
        .await
        .unwrap();
    let state = r.headers()["set-cookie"].to_str().unwrap();
    let state = state.split(';').next().unwrap().to_owned();
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let r = c.get(&to).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let r = c.get(&back).header("cookie", &state).send().await.unwrap();
    assert_eq!(r.status(), 303, "the lead's sign-in");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("expediter_session="))
        .expect("a session")
}

fn main() {
    let lead = std::env::args().any(|a| a == "lead");
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = lead.then(|| {
        let fake = rt
            .block_on(expediter::fake::FakeFeishu::start(
                "cli_bench",
                "bench-secret",
            ))
            .unwrap();
        fake.sign_in_as(Some(expediter::fake::FakePerson {
            open_id: LEAD.into(),
            name: "The lead of team07".into(),
            email: None,
            barred: false,
        }));
        fake
    });
    let feishu = fake.as_ref().map(|f| f.url());
    std::fs::write(&config_path, config(dir.path(), port, feishu.as_deref())).unwrap();
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
    let lead_paths = [
        "/",
        "/api/v1/status",
        "/tasks",
        "/api/v1/tasks",
        "/tasks?sort=newest&offset=2000",
        "/tasks?q=%E5%B7%AE%E6%97%85%E8%B4%B9%2042",
        "/tasks?state=due",
        "/tasks/t000007",
        "/silences",
        "/away",
        "/report",
        "/rules",
        "/audit",
    ];
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
        let session = if lead {
            Some(lead_session(port).await)
        } else {
            None
        };
        let paths: &[&str] = if lead { &lead_paths } else { &paths };
        let mut rows = Vec::new();
        for &path in paths {
            let mut times = Vec::new();
            for _ in 0..6 {
                let t = Instant::now();
                let ask = c.get(format!("http://127.0.0.1:{port}{path}"));
                let ask = match &session {
                    Some(cookie) => ask.header("cookie", cookie),
                    None => ask.bearer_auth(TOKEN),
                };
                let r = ask.send().await.unwrap();
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
    let who = if lead {
        format!(" in {TEAMS} teams, asked by the lead of one ({LEAD})")
    } else {
        String::new()
    };
    println!("\n{tasks} tracked tasks, {USERS} users{who} (SQLite, release build)\n");
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
