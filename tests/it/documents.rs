//! Team documents: a team's people, rules and digests saved as versions in the database by its
//! leads (console, API) or admins (command line), in force from the next cycle — moved out of
//! the file with no reminder twice, checked with line and column, limited to what the team may
//! name, refused when stale, rolled back, and kept valid across reloads of the file.

use std::time::Duration;

use expediter::fake::FakeTask;
use serde_json::{Value, json};

use crate::helpers::*;

/// Finance (u1, u2 in the file) has a file rule of its own; everyone else falls under
/// "default". Finance is led by ou_fin and may name 8000; ops (u3) by ou_ops. The console's port.
fn with_teams(env: &TestEnv) -> u16 {
    env.write_config(
        "",
        &format!(
            "\n[[calendars]]\nname = \"always\"\nweekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nhours = [\"00:00-24:00\"]\n\n[[rules]]\nname = \"fin\"\nteams = [\"finance\"]\nafter = \"24h\"\nopinion = \"{{rule}} #{{n}}\"\n{RULE_ONCE_AFTER_24H}"
        ),
    );
    with_feishu_console(
        env,
        "admins = [\"ou_admin\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]\nmay_name = [\"8000\"]\n\n[[teams]]\nname = \"ops\"\nleads = [\"ou_ops\"]",
    )
}

/// Finance's document: u1, u2 and `extra` people; one rule, reminding every second up to 3.
fn fast(extra: &str) -> String {
    format!(
        "[[users]]\nid = \"u1\"\nname = \"Zhang San\"\n\n[[users]]\nid = \"u2\"\n{extra}\n[[rules]]\nname = \"fast\"\nafter = \"1h\"\nrepeat = \"1s\"\nmax_times = 3\nopinion = \"{{rule}} #{{n}}\"\n"
    )
}

fn opinions(env: &TestEnv, task: &str) -> Vec<String> {
    env.fake
        .expedites()
        .into_iter()
        .filter(|e| e.task_id == task)
        .map(|e| e.opinion.unwrap_or_default())
        .collect()
}

fn rule_of(plan: &[Value], task: &str) -> String {
    plan.iter()
        .find(|e| e["task_id"] == task)
        .map(|e| e["rule"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

both_backends! {
    #[tokio::test]
    async fn an_admin_moves_a_team_out_of_the_file_and_its_versions_decide() {
        let env = TestEnv::new().await;
        with_teams(&env);
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        env.add(FakeTask::new("t3", &["u3"], 50 * HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(opinions(&env, "t1"), ["fin #1"]);

        // Moved from the file: the same people, the same rule as finance/fin; nothing twice.
        let moved = env.run(&["team", "import", "finance", "--from-config", "--yes"]).await;
        assert_eq!(moved.code, 0, "{}", moved.all());
        assert!(moved.stdout.contains("version 1 saved"), "{}", moved.all());
        let export = env.run(&["team", "export", "finance"]).await;
        assert!(export.stdout.contains("id = \"u1\"") && export.stdout.contains("name = \"fin\""), "{}", export.all());
        assert!(!export.stdout.contains("team ="), "{}", export.stdout);
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(opinions(&env, "t1"), ["fin #1"], "no reminder twice");
        assert_eq!(rule_of(&env.plan_json().await, "t1"), "finance/fin");
        let check = env.run(&["check"]).await;
        assert_eq!(check.code, 0, "{}", check.all());
        assert!(check.stdout.contains("Team finance: version 1 in force"), "{}", check.stdout);
        assert!(check.stdout.contains("remove them from the file"), "{}", check.stdout);

        // A new version: the next run reminds by it.
        let doc = env.dir.path().join("finance.toml");
        std::fs::write(&doc, fast("")).unwrap();
        let path = doc.to_str().unwrap();
        let asked = env.run(&["team", "import", "finance", path, "--comment", "faster"]).await;
        assert_eq!(asked.code, 1, "no terminal: not saved without --yes: {}", asked.all());
        assert!(asked.stdout.contains("nothing saved") && asked.stdout.contains("preview:"), "{}", asked.all());
        let saved = env.run(&["team", "import", "finance", path, "--comment", "faster", "--yes"]).await;
        assert_eq!(saved.code, 0, "{}", saved.all());
        assert!(saved.stdout.contains("finance/fin") && saved.stdout.contains("finance/fast"), "the preview names the change: {}", saved.stdout);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(opinions(&env, "t1"), ["fin #1", "finance/fast #2"]);
        assert_eq!(opinions(&env, "t3").len(), 1, "ops is the file's, as before");

        // Refused, naming what and where; nothing saved.
        std::fs::write(&doc, "[[rules]]\nname = \"r\"\nafter = \"1h").unwrap();
        let bad = env.run(&["team", "import", "finance", path, "--comment", "x", "--yes"]).await;
        assert_eq!(bad.code, 2, "{}", bad.all());
        assert!(bad.stderr.contains("line 3, column"), "{}", bad.stderr);
        for (doc_text, named) in [
            (fast("").replace("max_times = 3", "max_times = 3\noperator_user_id = \"9999\""), "9999"),
            (fast("").replace("max_times = 3", "max_times = 3\nescalate = { after_times = 1, cc = [\"u3\"] }"), "u3"),
            (fast("[[users]]\nid = \"u3\"\n"), "watched by the config file"),
        ] {
            std::fs::write(&doc, &doc_text).unwrap();
            let r = env.run(&["team", "import", "finance", path, "--comment", "x", "--yes"]).await;
            assert_eq!(r.code, 2, "{}", r.all());
            assert!(r.stderr.contains(named), "{named}: {}", r.stderr);
        }
        let history = env.run(&["team", "history", "finance"]).await;
        assert_eq!(history.code, 0, "{}", history.all());
        assert!(history.stdout.contains("faster") && history.stdout.contains("moved from the config file"), "{}", history.stdout);
        assert!(history.stdout.contains("cli:"), "the author: {}", history.stdout);
        assert_eq!(history.stdout.lines().count(), 3, "two versions: {}", history.stdout);

        // Rollback: version 1 again, as version 3; the old rule decides again.
        let back = env.run(&["team", "rollback", "finance", "--to", "1"]).await;
        assert_eq!(back.code, 0, "{}", back.all());
        assert!(back.stdout.contains("version 3"), "{}", back.stdout);
        assert_eq!(rule_of(&env.plan_json().await, "t1"), "finance/fin");
        let audit = env.run(&["audit", "--team", "finance", "--json"]).await;
        let audit: Vec<Value> = serde_json::from_str(&audit.stdout).unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["team_rolled_back", "team_saved", "team_saved"]);
        let none = env.run(&["team", "export", "nobody"]).await;
        assert_eq!(none.code, 2, "{}", none.all());
        assert!(none.stderr.contains("known: finance, ops"), "{}", none.stderr);
    }
}

both_backends! {
    #[tokio::test]
    async fn a_lead_saves_through_the_api_and_the_next_cycle_sends_by_it() {
        let env = TestEnv::new().await;
        let port = with_teams(&env);
        with_cron(&env, "*/2 * * * * *");
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        env.add(FakeTask::new("t4", &["u4"], 50 * HOUR));
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        daemon.wait_for("cycle finished", 1, Duration::from_secs(20)).await;
        assert_eq!(opinions(&env, "t1"), ["fin #1"]);
        assert!(opinions(&env, "t4").is_empty(), "u4 is nobody's yet");

        let fin = feishu_session(&env, port, "ou_fin", None).await;
        let ops = feishu_session(&env, port, "ou_ops", None).await;
        let csrf = |cookie: String| async move {
            let page = browser().get(format!("http://127.0.0.1:{port}/away")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
            csrf_of(&page)
        };
        let (fin_csrf, ops_csrf) = (csrf(fin.clone()).await, csrf(ops.clone()).await);
        let api = format!("http://127.0.0.1:{port}/api/v1/teams/finance");
        let put = |cookie: &str, token: &str, version: &str, body: Value| {
            browser().put(&api).header("cookie", cookie).header("x-csrf-token", token).header("if-match", version).json(&body).send()
        };
        let got: Value = browser().get(&api).header("cookie", &fin).send().await.unwrap().json().await.unwrap();
        assert_eq!(got["version"], 0);
        assert_eq!(got["document"], "");

        // Another team's lead: as unknown, for reading and writing.
        assert_eq!(browser().get(&api).header("cookie", &ops).send().await.unwrap().status(), 404);
        let r = put(&ops, &ops_csrf, "0", json!({"document": fast(""), "comment": "mine now"})).await.unwrap();
        assert_eq!(r.status(), 404);

        // The preview names the pairs that change, before anything is saved.
        let r = browser().post(format!("{api}/preview")).header("cookie", &fin).header("x-csrf-token", &fin_csrf)
            .json(&json!({"document": fast("")})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let preview: Value = r.json().await.unwrap();
        let changed = preview["changed"].as_array().unwrap();
        assert_eq!(changed.len(), 1, "{preview}");
        assert_eq!(changed[0]["before"]["rule"], "fin");
        assert_eq!(changed[0]["after"]["rule"], "finance/fast");

        // Saved; a save from the old version is stale; a bad one names line and column.
        let r = put(&fin, &fin_csrf, "0", json!({"document": fast(""), "comment": "faster"})).await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = put(&fin, &fin_csrf, "0", json!({"document": fast("[[users]]\nid = \"u4\"\n"), "comment": "again"})).await.unwrap();
        assert_eq!(r.status(), 409);
        let stale: Value = r.json().await.unwrap();
        assert_eq!(stale["version"], 1);
        assert!(stale["diff"].as_str().unwrap().contains("+id = \"u4\""), "{stale}");
        let r = put(&fin, &fin_csrf, "1", json!({"document": "[[rules]]\nname = 1", "comment": "x"})).await.unwrap();
        assert_eq!(r.status(), 400);
        let bad: Value = r.json().await.unwrap();
        assert_eq!(bad["line"], 2, "{bad}");
        assert!(bad["column"].as_u64().is_some(), "{bad}");
        let r = put(&fin, &fin_csrf, "1", json!({"document": fast("").replace("max_times = 3", "max_times = 3\noperator_user_id = \"u3\""), "comment": "x"})).await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("\\\"u3\\\" is not one of the team's users"));
        let r = put(&fin, &fin_csrf, "1", json!({"document": fast(""), "comment": " "})).await.unwrap();
        assert_eq!(r.status(), 400, "a comment is required");
        let got: Value = browser().get(&api).header("cookie", &fin).send().await.unwrap().json().await.unwrap();
        assert_eq!(got["version"], 1);
        assert_eq!(got["author"], "Name of ou_fin (ou_fin)");

        // The next cycle sends by it, without a reload, and says which version it ran by.
        daemon.wait_for("team finance's version 1 is in force", 1, Duration::from_secs(20)).await;
        daemon.wait_for("team_versions=finance v1", 1, Duration::from_secs(20)).await;
        assert_eq!(opinions(&env, "t1")[..2], ["fin #1".to_owned(), "finance/fast #2".to_owned()]);

        // A person added to the roster in a save is listed and reminded at the next cycle.
        let r = put(&fin, &fin_csrf, "1", json!({"document": fast("[[users]]\nid = \"u4\"\n"), "comment": "u4 joins"})).await.unwrap();
        assert_eq!(r.status(), 200);
        daemon.wait_for("team finance's version 2 is in force", 1, Duration::from_secs(20)).await;
        daemon.wait_for("cycle finished", 4, Duration::from_secs(20)).await;
        assert_eq!(opinions(&env, "t4").first().map(String::as_str), Some("finance/fast #1"));

        // The file may not take the team's ground away: a reload that would invalidate its
        // version, or drop its entry, is refused, naming it.
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        let r = put(&fin, &fin_csrf, "2", json!({"document": fast("").replace("max_times = 3", "max_times = 3\ncalendar = \"always\""), "comment": "always"})).await.unwrap();
        assert_eq!(r.status(), 200);
        daemon.wait_for("team finance's version 3 is in force", 1, Duration::from_secs(20)).await;
        std::fs::write(&env.config_path, text.replace("name = \"always\"", "name = \"weekdays\"")).unwrap();
        daemon.signal("HUP");
        daemon.wait_for("config reload refused", 1, Duration::from_secs(20)).await;
        std::fs::write(&env.config_path, text.replace("name = \"finance\"\nleads", "name = \"sales\"\nleads")).unwrap();
        daemon.signal("HUP");
        daemon.wait_for("config reload refused", 2, Duration::from_secs(20)).await;
        let log = daemon.log();
        assert!(log.contains("team \\\"finance\\\"'s version 3 would no longer validate") || log.contains("team \"finance\"'s version 3 would no longer validate"), "{log}");
        assert!(log.contains("calendar"), "{log}");
        assert!(log.contains("removing its [[teams]] entry"), "{log}");
        daemon.stop().await;
    }
}

both_backends! {
    /// A lead edits their team's rules and adds a person in a real browser: the preview lists
    /// the pairs that change, the save makes version 1, the next cycle lists the new person;
    /// another team's lead cannot open the page.
    #[tokio::test]
    async fn a_lead_edits_their_team_in_a_browser_with_a_preview() {
        use crate::console::{chromedriver, screenshot_dir, webdriver};
        use expediter::fake::FakePerson;
        use fantoccini::Locator;
        let env = TestEnv::new().await;
        let port = with_teams(&env);
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR).label("报销", "Expense"));
        env.add(FakeTask::new("t3", &["u3"], 50 * HOUR).label("采购", "Purchase"));
        assert_eq!(env.run(&["once"]).await.code, 0);
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let driver = chromedriver().await;
        let sign_in = |open_id: &'static str, name: &'static str| {
            let env = &env;
            let driver = &driver;
            async move {
                env.fake.sign_in_as(Some(FakePerson {
                    open_id: open_id.into(),
                    name: name.into(),
                    email: None,
                    barred: false,
                }));
                let b = webdriver(driver).await;
                b.goto(&format!("http://127.0.0.1:{port}/teams/finance")).await.unwrap();
                b.find(Locator::Css("a.button[href^='/login/feishu']")).await.unwrap().click().await.unwrap();
                b.wait().for_element(Locator::Css("main h1")).await.unwrap();
                b
            }
        };
        let b = sign_in("ou_fin", "Finance Lead").await;
        assert_eq!(b.current_url().await.unwrap().path(), "/teams/finance");
        let editor = b.find(Locator::Css("textarea[name=document]")).await.unwrap();
        editor.clear().await.unwrap();
        // A person added to the roster here is listed by the next cycle.
        editor
            .send_keys(&fast("[[users]]\nid = \"u4\"\nname = \"New Hire\"\n"))
            .await
            .unwrap();
        b.find(Locator::Css("button[formaction$='/preview']")).await.unwrap().click().await.unwrap();
        b.wait().for_element(Locator::Css("section.preview")).await.unwrap();
        let page = b.source().await.unwrap();
        assert!(page.contains("报销") && page.contains("finance/fast"), "the pair that changes: {page}");
        assert!(!page.contains("采购"), "another team's pair: {page}");
        std::fs::write(screenshot_dir().join("team-editor-preview.png"), b.screenshot().await.unwrap()).unwrap();
        b.find(Locator::Css("input[name=comment]")).await.unwrap().send_keys("faster, from the browser").await.unwrap();
        b.find(Locator::Css("form.editor button:not([formaction])")).await.unwrap().click().await.unwrap();
        b.wait().for_element(Locator::Css("table.history tbody tr")).await.unwrap();
        let page = b.source().await.unwrap();
        assert!(page.contains("faster, from the browser") && page.contains("Finance Lead"), "{page}");
        assert!(page.contains("Save as version 2"), "{page}");
        b.close().await.unwrap();

        let other = sign_in("ou_ops", "Ops Lead").await;
        let page = other.source().await.unwrap();
        assert!(page.contains("Not found") && !page.contains("faster"), "{page}");
        other.close().await.unwrap();
        let history = env.run(&["team", "history", "finance"]).await;
        assert!(history.stdout.contains("Finance Lead"), "{}", history.all());
        daemon.stop().await;
        env.add(FakeTask::new("t4", &["u4"], 2 * HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let plan = env.plan_json().await;
        assert_eq!(rule_of(&plan, "t4"), "finance/fast", "{plan:?}");
    }
}

/// A pair of hosts reads the teams' documents from the database: a version saved while one
/// acts is what the other runs by when it takes over.
#[tokio::test]
async fn on_a_pair_the_host_that_takes_over_runs_by_the_latest_version() {
    let env = TestEnv::new_postgres().await;
    env.write_config(
        "",
        &format!("{RULE_ONCE_AFTER_24H}\n[[teams]]\nname = \"finance\"\n"),
    );
    with_cron(&env, "* * * * * *");
    let second = env.dir.path().join("config-b.toml");
    std::fs::copy(&env.config_path, &second).unwrap();
    env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
    let a = Daemon::start(&env, &[]);
    a.wait_for("active (lease epoch", 1, Duration::from_secs(20))
        .await;
    let b = Daemon::start_with(&env, &second, &[]);
    b.wait_for("standing by", 1, Duration::from_secs(20)).await;

    let doc = env.dir.path().join("finance.toml");
    std::fs::write(&doc, fast("")).unwrap();
    let saved = env
        .run(&[
            "team",
            "import",
            "finance",
            doc.to_str().unwrap(),
            "--comment",
            "fast",
            "--yes",
        ])
        .await;
    assert_eq!(saved.code, 0, "{}", saved.all());
    a.wait_for("team_versions=finance v1", 1, Duration::from_secs(20))
        .await;
    a.signal("KILL");
    b.wait_for("team_versions=finance v1", 1, Duration::from_secs(30))
        .await;
    assert!(
        b.log().contains("team finance's version 1 is in force"),
        "{}",
        b.log()
    );
    let sent = opinions(&env, "t1");
    assert!(sent.iter().any(|o| o == "finance/fast #2"), "{sent:?}");
    b.stop().await;
}

both_backends! {
    /// A task shared by a team's person and someone else: each is reminded under their own
    /// rule's operator and words — a team's never reaches people outside it.
    #[tokio::test]
    async fn a_teams_operator_and_words_reach_only_its_own_people() {
        let env = TestEnv::new().await;
        with_teams(&env);
        env.add(FakeTask::new("t-shared", &["u1", "u3"], 50 * HOUR));
        let doc = env.dir.path().join("finance.toml");
        std::fs::write(
            &doc,
            fast("").replace("max_times = 3", "max_times = 3\noperator_user_id = \"u2\""),
        )
        .unwrap();
        let saved = env
            .run(&["team", "import", "finance", doc.to_str().unwrap(), "--comment", "x", "--yes"])
            .await;
        assert_eq!(saved.code, 0, "{}", saved.all());
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let mut calls: Vec<(String, Vec<String>)> = env
            .fake
            .expedites()
            .into_iter()
            .map(|e| (e.operator_user_id, e.expediting_user_ids))
            .collect();
        calls.sort();
        assert_eq!(
            calls,
            [
                ("7000".to_owned(), vec!["u3".to_owned()]),
                ("u2".to_owned(), vec!["u1".to_owned()]),
            ]
        );
    }
}
