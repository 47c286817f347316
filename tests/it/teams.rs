//! Teams and roles on the console: a lead or a viewer signed in through the fake's Feishu sign-in
//! sees only their teams — every list, count, menu, search and API answer — gets 404 for another
//! team's task and 403 for writes out of scope; a reload that removes them signs them out; the
//! token administers everything; the audit trail says who did what from where.

use std::time::Duration;

use expediter::fake::FakeTask;
use serde_json::{Value, json};

use crate::helpers::*;

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// Finance (u1, u2) led by ou_fin and viewed by viewer@corp.example; ops (u3) led by ou_ops;
/// ou_admin administers; ou_nobody is allowed in but has no role. The console's port.
fn with_roles(env: &TestEnv) -> u16 {
    with_feishu_console(
        env,
        "allow = [\"ou_nobody\"]\nadmins = [\"ou_admin\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]\nviewers = [\"Viewer@Corp.Example\"]\n\n[[teams]]\nname = \"ops\"\nleads = [\"ou_ops\"]",
    )
}

async fn get(port: u16, path: &str, cookie: &str) -> reqwest::Response {
    browser()
        .get(url(port, path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// The session's CSRF token, from a page's form.
async fn csrf(port: u16, cookie: &str) -> String {
    let page = get(port, "/away", cookie).await.text().await.unwrap();
    csrf_of(&page)
}

async fn post(port: u16, path: &str, cookie: &str, csrf: &str, body: Value) -> reqwest::Response {
    browser()
        .post(url(port, path))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn json_of(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn pairs(page: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["task_id"].as_str().unwrap().to_owned(),
                e["assignee_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

both_backends! {
    #[tokio::test]
    async fn a_lead_sees_and_acts_on_their_team_only_and_the_audit_says_who_did_what() {
        let env = TestEnv::new().await;
        // A rule that only ops' people can fall under: its name is ops' business.
        env.write_config(
            "",
            &format!("\n[[rules]]\nname = \"ops-only\"\nteams = [\"ops\"]\nafter = \"24h\"\n{RULE_ONCE_AFTER_24H}"),
        );
        env.add(FakeTask::new("t-old", &["u1"], 50 * HOUR).label("报销 old", "Expense old"));
        env.add(FakeTask::new("t-evil", &["u2"], 30 * HOUR).label("差旅", "Travel"));
        env.add(FakeTask::new("t-new", &["u1", "u3"], HOUR).label("请假", "Leave"));
        env.add(FakeTask::new("t-ops", &["u3"], 2 * HOUR).label("采购", "Purchase"));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let port = with_roles(&env);
        let check = env.run(&["check"]).await;
        assert_eq!(check.code, 0, "{}", check.all());
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;

        let fin = feishu_session(&env, port, "ou_fin", None).await;
        // Lists, totals, counts and search: finance's pairs only.
        let mine = [("t-evil", "u2"), ("t-new", "u1"), ("t-old", "u1")]
            .map(|(t, u)| (t.to_owned(), u.to_owned()))
            .to_vec();
        let page = json_of(get(port, "/api/v1/tasks", &fin).await).await;
        assert_eq!(pairs(&page), mine, "{page}");
        assert_eq!(page["total"], 3);
        let status = json_of(get(port, "/api/v1/status", &fin).await).await;
        assert_eq!(status["pending_pairs"], 3, "{status}");
        let counted: u64 = status["counts"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "escalated")
            .map(|(_, n)| n.as_u64().unwrap())
            .sum();
        assert_eq!(counted, 3, "{status}");
        let most_overdue: Vec<&str> = status["assignees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert!(!most_overdue.contains(&"u3"), "{status}");
        let found = json_of(get(port, "/api/v1/tasks?q=%E9%87%87%E8%B4%AD", &fin).await).await;
        assert_eq!(found["total"], 0, "another team's label is not found: {found}");
        let other_team = get(port, "/api/v1/tasks?team=ops", &fin).await;
        assert_eq!(other_team.status(), 400);
        let html = get(port, "/tasks", &fin).await.text().await.unwrap();
        assert!(html.contains("t-old") && !html.contains("t-ops"), "{html}");
        assert!(!html.contains(">ops<") && !html.contains("Wang Wu"), "menus: {html}");
        assert!(html.contains("lead of finance"), "{html}");
        assert!(!html.contains("ops-only"), "the rule menu: {html}");
        let rules = get(port, "/rules", &fin).await.text().await.unwrap();
        assert!(rules.contains("default") && !rules.contains("ops-only"), "{rules}");
        // One task: another team's is unknown; a shared one shows.
        assert_eq!(get(port, "/api/v1/tasks/t-ops", &fin).await.status(), 404);
        assert_eq!(get(port, "/tasks/t-ops", &fin).await.status(), 404);
        assert_eq!(get(port, "/api/v1/tasks/t-new", &fin).await.status(), 200);

        // Writes: their team's people only; a whole task only when every assignee is theirs.
        let token = csrf(port, &fin).await;
        let r = post(port, "/api/v1/silences", &fin, &token, json!({"task_id": "t-ops", "user_id": "u3", "for": "1d"})).await;
        assert_eq!(r.status(), 403);
        let r = post(port, "/api/v1/silences", &fin, &token, json!({"task_id": "t-new", "for": "1d"})).await;
        assert_eq!(r.status(), 403, "u3 holds t-new too");
        let r = post(port, "/api/v1/silences", &fin, &token, json!({"task_id": "t-new", "user_id": "u1", "for": "1d"})).await;
        assert_eq!(r.status(), 201);
        let r = post(port, "/api/v1/away", &fin, &token, json!({"user_id": "u3", "for": "1d"})).await;
        assert_eq!(r.status(), 403);
        let r = post(port, "/api/v1/away", &fin, &token, json!({"user_id": "u1", "for": "1d", "deputy": "u3"})).await;
        assert_eq!(r.status(), 403, "a deputy from another team");
        let r = post(port, "/api/v1/away", &fin, &token, json!({"user_id": "u1", "for": "1d", "deputy": "u2"})).await;
        assert_eq!(r.status(), 201);
        // What ops made: not listed for finance, and not theirs to remove.
        let admin = |r: reqwest::RequestBuilder| r.bearer_auth(CONSOLE_TOKEN);
        let r = admin(browser().post(url(port, "/api/v1/silences")))
            .json(&json!({"task_id": "t-ops", "user_id": "u3", "for": "2d"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let ops_silence = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let listed = json_of(get(port, "/api/v1/silences", &fin).await).await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        let r = browser()
            .delete(url(port, &format!("/api/v1/silences/{ops_silence}")))
            .header("cookie", &fin)
            .header("x-csrf-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);

        // The token sees every team.
        let all = admin(browser().get(url(port, "/api/v1/tasks")))
            .send()
            .await
            .unwrap();
        assert_eq!(json_of(all).await["total"], 5);

        // A viewer (matched by email, in any case) reads the team and writes nothing.
        let viewer = feishu_session(&env, port, "ou_v", Some("viewer@corp.example")).await;
        let page = json_of(get(port, "/api/v1/tasks", &viewer).await).await;
        assert_eq!(pairs(&page), mine);
        let vtoken = csrf(port, &viewer).await;
        let r = post(port, "/api/v1/silences", &viewer, &vtoken, json!({"task_id": "t-old", "user_id": "u1", "for": "1d"})).await;
        assert_eq!(r.status(), 403);
        assert_eq!(get(port, "/audit", &viewer).await.status(), 403);

        // Allowed in, with no role: a page that says so.
        let nobody = feishu_session(&env, port, "ou_nobody", None).await;
        let r = get(port, "/tasks", &nobody).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("no role"));

        // The audit trail: each act with who and where; a lead reads their teams' only.
        let trail = env.run(&["audit", "--json"]).await;
        assert_eq!(trail.code, 0, "{}", trail.all());
        let trail: Value = serde_json::from_str(&trail.stdout).unwrap();
        let acts: Vec<(String, String)> = trail
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["who"].as_str().unwrap().to_owned()))
            .collect();
        for (action, who) in [
            ("sign_in", "Name of ou_fin (ou_fin)"),
            ("silence_added", "Name of ou_fin (ou_fin)"),
            ("away_added", "Name of ou_fin (ou_fin)"),
            ("silence_added", "token"),
        ] {
            assert!(acts.contains(&(action.into(), who.into())), "{action} by {who}: {trail}");
        }
        assert!(
            trail.as_array().unwrap().iter().all(|e| e["address"] == "127.0.0.1"),
            "{trail}"
        );
        let ops = env.run(&["audit", "--team", "ops", "--json"]).await;
        let ops: Value = serde_json::from_str(&ops.stdout).unwrap();
        assert!(
            ops.as_array().unwrap().iter().all(|e| e["teams"].as_array().unwrap().contains(&json!("ops"))),
            "{ops}"
        );
        let page = get(port, "/audit", &fin).await.text().await.unwrap();
        assert!(page.contains("away_added") && !page.contains("t-ops"), "{page}");

        // Removed from finance's leads, then a reload: the lead's next click signs them out.
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(&env.config_path, text.replace("leads = [\"ou_fin\"]", "leads = []")).unwrap();
        daemon.signal("HUP");
        daemon.wait_for("config reloaded", 1, Duration::from_secs(10)).await;
        let r = get(port, "/tasks", &fin).await;
        assert_eq!(r.status(), 303, "no longer admitted");
        daemon.stop().await;
    }
}

both_backends! {
    /// Roles need Feishu sign-in and admins; a team with no entry stays valid.
    #[tokio::test]
    async fn roles_are_checked_when_the_config_loads() {
        let env = TestEnv::new().await;
        let base = std::fs::read_to_string(&env.config_path).unwrap();
        let with = |console: &str| {
            std::fs::write(
                &env.config_path,
                format!("{base}\n[console]\nlisten = \"127.0.0.1:9\"\ntoken = \"{CONSOLE_TOKEN}\"\n{console}\n"),
            )
            .unwrap();
        };
        with(
            "public_url = \"https://x.example\"\nsign_in = \"feishu\"\nallow = [\"ou_a\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]\n",
        );
        let c = env.run(&["check"]).await;
        assert_eq!(c.code, 2, "{}", c.all());
        assert!(c.stderr.contains("console.admins"), "{}", c.all());
        with("admins = [\"ou_a\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]\n");
        let c = env.run(&["check"]).await;
        assert_eq!(c.code, 2, "{}", c.all());
        assert!(c.stderr.contains("console.sign_in"), "{}", c.all());
        with(
            "public_url = \"https://x.example\"\nsign_in = \"feishu\"\nallow = [\"ou_a\"]\nadmins = [\"ou a\"]\n",
        );
        let c = env.run(&["check"]).await;
        assert_eq!(c.code, 2, "{}", c.all());
        assert!(c.stderr.contains("console.admins"), "{}", c.all());
        with(
            "public_url = \"https://x.example\"\nsign_in = \"feishu\"\nallow = [\"ou_a\"]\nadmins = [\"ou_a\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]\n\n[[teams]]\nname = \"finance\"\n",
        );
        let c = env.run(&["check"]).await;
        assert_eq!(c.code, 2, "{}", c.all());
        assert!(c.stderr.contains("teams[1].name"), "{}", c.all());
        with(
            "public_url = \"https://x.example\"\nsign_in = \"feishu\"\nallow = [\"ou_a\"]\nadmins = [\"ou_a\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]\n",
        );
        let c = env.run(&["check"]).await;
        assert_eq!(c.code, 0, "{}", c.all());
        assert!(c.stdout.contains("Team finance: led by ou_fin; read by nobody"), "{}", c.stdout);
        assert!(c.stdout.contains("Console admins (see and do everything): ou_a"), "{}", c.stdout);
    }
}

both_backends! {
    /// A task moved from a team's user to someone no team watches stays the team's to read, as
    /// moved away; another team's lead still finds nothing.
    #[tokio::test]
    async fn a_task_moved_away_stays_visible_to_its_old_team() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            "[away]\ndeputy_action = \"transfer\"\n\n[[rules]]\nname = \"chase\"\nafter = \"24h\"\nrepeat = \"12h\"\nmax_times = 10\n",
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["away", "add", "--user", "u1", "--for", "3d", "--deputy", "9001"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        for _ in 0..3 {
            assert_eq!(env.run(&["once"]).await.code, 0);
        }
        assert_eq!(env.fake.moves().len(), 1);
        let port = with_roles(&env);
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let fin = feishu_session(&env, port, "ou_fin", None).await;
        let task = json_of(get(port, "/api/v1/tasks/t1", &fin).await).await;
        assert_eq!(task["moved_away"], true, "{task}");
        let page = get(port, "/tasks/t1", &fin).await.text().await.unwrap();
        assert!(page.contains("moved away"), "{page}");
        assert!(!page.contains("Silence it"), "read-only: {page}");
        let ops = feishu_session(&env, port, "ou_ops", None).await;
        assert_eq!(get(port, "/api/v1/tasks/t1", &ops).await.status(), 404);
        daemon.stop().await;
    }
}
