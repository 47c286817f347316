//! (p): the alternative a lead would otherwise run — a script on a cron, written the way the
//! SDK's examples read: fetch a token, list each user's pending tasks page by page, and expedite
//! every task older than a day. No pacing, no retries, no memory between runs: a failed call is
//! logged and skipped, and the next run starts from nothing.
//!
//! Both sides run twice (two cron ticks) against their own simulated Feishu with the same tasks
//! and the same enforced limit; the table compares what reached the assignees.

use std::time::{Duration, Instant};

use expediter::fake::{CallKind, Endpoint, FakeFeishu, FakeTask};
use serde_json::{Value, json};

/// The task age the script's rule (and expediter's) calls overdue.
const OLD: Duration = Duration::from_secs(24 * 3600);

/// What one side achieved over its runs.
pub struct Side {
    pub name: &'static str,
    /// Distinct tasks whose assignee got at least one reminder.
    pub tasks_reminded: usize,
    /// Reminders the platform accepted, over every run.
    pub reminders: usize,
    /// Calls answered 429, over every run.
    pub limited: usize,
    /// Wall time of every run together.
    pub wall: Duration,
}

pub const USERS: usize = 150;

/// A fake with one overdue task per user, enforcing 1000/min as 50 calls per 3 s per API.
pub async fn fake(app_id: &str, app_secret: &str) -> FakeFeishu {
    let fake = FakeFeishu::start(app_id, app_secret).await.expect("fake");
    for endpoint in [Endpoint::Query, Endpoint::Acts(CallKind::Expedite)] {
        fake.set_rate_limit(endpoint, 50, Duration::from_secs(3));
    }
    for u in 0..USERS {
        fake.add_task(FakeTask::new(
            format!("t{u:05}"),
            &[&format!("u{u:05}")],
            Duration::from_secs(30 * 3600),
        ));
    }
    fake
}

/// Reads the outcome of `runs` runs off the fake that served them.
pub fn side(name: &'static str, fake: &FakeFeishu, wall: Duration) -> Side {
    let delivered = fake.expedites();
    let mut tasks: Vec<&str> = delivered.iter().map(|e| e.task_id.as_str()).collect();
    tasks.sort_unstable();
    tasks.dedup();
    Side {
        name,
        tasks_reminded: tasks.len(),
        reminders: delivered.len(),
        limited: fake.calls().iter().filter(|c| c.status == 429).count(),
        wall,
    }
}

/// One run of the script.
// A script reads the wall clock for task ages, as the fake sets them.
#[allow(clippy::disallowed_methods)]
pub async fn run_script(base: &str, app_id: &str, app_secret: &str) -> Duration {
    let start = Instant::now();
    let http = expediter::feishu::client_builder().build().unwrap();
    let post = |path: String, token: Option<String>, body: Value| {
        let mut req = http.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            match req.send().await {
                Ok(resp) => resp.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        }
    };
    let token = post(
        "/open-apis/auth/v3/tenant_access_token/internal".into(),
        None,
        json!({"app_id": app_id, "app_secret": app_secret}),
    )
    .await["tenant_access_token"]
        .as_str()
        .map(str::to_owned);
    let now_ms = chrono::Utc::now().timestamp_millis();
    for u in 0..USERS {
        let user = format!("u{u:05}");
        let mut offset = 0;
        loop {
            let page = post(
                "/open-apis/apaas/v1/user_task/query".into(),
                token.clone(),
                json!({"kunlun_user_id": user, "type": "pending", "source": "assignMe",
                       "limit": "50", "offset": offset.to_string()}),
            )
            .await;
            if page["code"].as_i64() != Some(0) {
                // The script logs the error and goes on with the next user.
                break;
            }
            let data = &page["data"];
            for task in data["tasks"].as_array().into_iter().flatten() {
                let started = match &task["task_start_time"] {
                    Value::String(s) => s.parse::<i64>().unwrap_or(now_ms),
                    v => v.as_i64().unwrap_or(now_ms),
                };
                if now_ms - started < OLD.as_millis() as i64 {
                    continue;
                }
                let id = task["task_id"].as_str().unwrap_or_default();
                // Sent and forgotten: a 429 or an error is not looked at.
                let _ = post(
                    format!("/open-apis/apaas/v1/user_tasks/{id}/expediting"),
                    token.clone(),
                    json!({"operator_user_id": "7000", "expediting_user_ids": [user]}),
                )
                .await;
            }
            offset += 50;
            let count = match &data["count"] {
                Value::String(s) => s.parse().unwrap_or(0),
                v => v.as_i64().unwrap_or(0),
            };
            if offset >= count {
                break;
            }
        }
    }
    start.elapsed()
}

pub fn print(sides: &[Side]) {
    println!(
        "\n(p) {USERS} users × 1 overdue task, the fake enforcing 50 calls per 3 s per API, two runs each\n"
    );
    println!("| side | tasks reminded | reminders sent (2 runs) | 429s | wall (2 runs) |");
    println!("|---|---|---|---|---|");
    for s in sides {
        println!(
            "| {} | {} of {USERS} | {} | {} | {:.2} s |",
            s.name,
            s.tasks_reminded,
            s.reminders,
            s.limited,
            s.wall.as_secs_f64()
        );
    }
}
