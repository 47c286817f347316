//! The console in the reader's language: a Chinese browser gets Chinese pages (no English state
//! code on them), the switch in the header changes to English and is remembered; the overview
//! adds up (every pending assignment in exactly one box) and starts with what needs the lead.

use std::time::Duration;

use expediter::fake::{FakePerson, FakeTask};
use serde_json::Value;

use crate::helpers::*;

/// u1 has a task whose one reminder went (all reminders sent), u2 one silenced, u3 one too
/// young; Chen Liu (u2) is away.
async fn a_mixed_day(env: &TestEnv) {
    env.add(FakeTask::new("t-over", &["u1"], 50 * HOUR).label("报销：差旅", "Expense: travel"));
    env.add(FakeTask::new("t-young", &["u3"], HOUR).label("采购：纸张", "Purchase: paper"));
    env.add(FakeTask::new("t-quiet", &["u2"], 50 * HOUR).label("请假：年假", "Leave: annual"));
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let run = env
        .run(&["silence", "add", "--task", "t-quiet", "--for", "3d"])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let run = env
        .run(&["away", "add", "--user", "u2", "--for", "2d"])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
}

both_backends! {
    #[tokio::test]
    async fn a_chinese_browser_reads_chinese_pages_and_switches_to_english() {
        use crate::console::{chromedriver, screenshot_dir, webdriver_in};
        use fantoccini::Locator;
        let env = TestEnv::new().await;
        a_mixed_day(&env).await;
        let port = with_feishu_console(&env, "allow = [\"ou_lead\"]");
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        env.fake.sign_in_as(Some(FakePerson {
            open_id: "ou_lead".into(),
            name: "Lead".into(),
            email: None,
            barred: false,
        }));
        let driver = chromedriver().await;
        let b = webdriver_in(&driver, "zh-CN,zh").await;
        b.goto(&format!("http://127.0.0.1:{port}/")).await.unwrap();
        let sign_in = b.find(Locator::Css("a.button[href^='/login/feishu']")).await.unwrap();
        assert_eq!(sign_in.text().await.unwrap(), "使用飞书登录", "the sign-in page too");
        sign_in.click().await.unwrap();
        b.wait().for_element(Locator::Css("section.needs")).await.unwrap();
        let codes = ["reminders_over", "not_reminded", "no_rule", "moved_away", "unwatched"];
        let visible = |b: fantoccini::Client| async move {
            b.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
        };
        let page = visible(b.clone()).await;
        assert!(page.contains("需要你处理") && page.contains("已催满，仍未处理"), "{page}");
        assert!(page.contains("报销：差旅"), "the lead's work list: {page}");
        assert!(page.contains("现在不在：Li Si"), "{page}");
        for code in codes {
            assert!(!page.contains(code), "{code} on the overview: {page}");
        }
        std::fs::write(screenshot_dir().join("overview-zh.png"), b.screenshot().await.unwrap()).unwrap();
        b.goto(&format!("http://127.0.0.1:{port}/tasks")).await.unwrap();
        let page = visible(b.clone()).await;
        assert!(page.contains("处理人") && page.contains("已催满，仍未处理"), "{page}");
        for code in codes {
            assert!(!page.contains(code), "{code} on the task list: {page}");
        }
        b.goto(&format!("http://127.0.0.1:{port}/tasks/t-over")).await.unwrap();
        let page = visible(b.clone()).await;
        assert!(page.contains("任务 t-over") && page.contains("已催满，仍未处理"), "{page}");
        for code in codes {
            assert!(!page.contains(code), "{code} on the task page: {page}");
        }
        assert!(page.contains("首次出现在待办列表中") && page.contains("催办 Zhang San (#1)"), "{page}");
        // Every other page in Chinese too: none of the English each used to show.
        let english = [
            "every assignee", "made by", "Remove", "Mark someone away", "Did the reminders work",
            "Over the last", "first seen", "reminder to", "sent by", "What each rule",
            "its tasks", "median to done", "Nothing to show", "Show", "removed", "until", "2d 2h",
        ];
        for path in ["/silences?all=true", "/away?all=true", "/report", "/rules", "/tasks/t-quiet"] {
            b.goto(&format!("http://127.0.0.1:{port}{path}")).await.unwrap();
            let page = visible(b.clone()).await;
            for words in english {
                assert!(!page.contains(words), "{words:?} on {path}: {page}");
            }
        }
        b.goto(&format!("http://127.0.0.1:{port}/tasks/t-over")).await.unwrap();
        // The switch: English, remembered on the next page.
        b.find(Locator::Css("a.language")).await.unwrap().click().await.unwrap();
        b.wait().for_element(Locator::Css("main h1")).await.unwrap();
        assert_eq!(b.current_url().await.unwrap().path(), "/tasks/t-over");
        let page = visible(b.clone()).await;
        assert!(page.contains("Task t-over") && page.contains("all reminders sent, still waiting"), "{page}");
        b.goto(&format!("http://127.0.0.1:{port}/")).await.unwrap();
        let page = visible(b.clone()).await;
        assert!(page.contains("Needs you") && page.contains("中文"), "{page}");
        b.close().await.unwrap();
        daemon.stop().await;
    }
}

both_backends! {
    #[tokio::test]
    async fn the_overview_adds_up_and_says_what_needs_you() {
        let env = TestEnv::new().await;
        a_mixed_day(&env).await;
        let port = with_console(&env, "");
        // Who the operator is, named beside their id.
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        let text = text.replacen(
            "operator_user_id = \"7000\"",
            "operator_user_id = \"7000\"\noperator_name = \"Liu Yang\"",
            1,
        );
        std::fs::write(&env.config_path, text).unwrap();
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let task = browser()
            .get(format!("http://127.0.0.1:{port}/tasks/t-over"))
            .bearer_auth(CONSOLE_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(task.contains("by <span title=\"7000\">Liu Yang</span>"), "{task}");
        let status: Value = browser()
            .get(format!("http://127.0.0.1:{port}/api/v1/status"))
            .bearer_auth(CONSOLE_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let counts = status["counts"].as_object().unwrap();
        let boxes: u64 = counts
            .iter()
            .filter(|(k, _)| *k != "escalated")
            .map(|(_, v)| v.as_u64().unwrap())
            .sum();
        assert_eq!(boxes, status["pending_pairs"].as_u64().unwrap(), "{status}");
        assert_eq!(status["pending_pairs"], 3, "{status}");
        let needs = status["needs_you"].as_array().unwrap();
        assert_eq!(needs.len(), 1, "{status}");
        assert_eq!(needs[0]["task_id"], "t-over");
        assert_eq!(needs[0]["state"], "reminders_over");
        assert_eq!(status["away_now"], serde_json::json!(["Li Si"]));
        // Every state has its box on the page, and the boxes on it sum to the total.
        let page = browser()
            .get(format!("http://127.0.0.1:{port}/"))
            .bearer_auth(CONSOLE_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let doc = scraper::Html::parse_document(&page);
        let sel = scraper::Selector::parse("ul.cards span.n").unwrap();
        let shown: Vec<u64> = doc
            .select(&sel)
            .map(|e| e.text().collect::<String>().trim().parse().unwrap())
            .collect();
        assert_eq!(shown.len(), expediter::plan::PlanStatus::names().count());
        assert_eq!(shown.iter().sum::<u64>(), 3, "{page}");
        daemon.stop().await;
    }
}

both_backends! {
    /// The overview is never older than the last cycle: after a cycle, the next answer is
    /// computed after it.
    #[tokio::test]
    async fn the_overview_is_never_older_than_its_last_cycle() {
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t1", &["u1"], 50 * HOUR));
        let port = with_console(&env, "");
        with_cron(&env, "*/2 * * * * *");
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let status = || async {
            browser()
                .get(format!("http://127.0.0.1:{port}/api/v1/status"))
                .bearer_auth(CONSOLE_TOKEN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        for round in 0..4 {
            daemon.wait_for("cycle finished", round + 1, Duration::from_secs(20)).await;
            let s = status().await;
            if let Some(at) = s["last_cycle"]["at"].as_str() {
                let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
                let computed = chrono::DateTime::parse_from_rfc3339(s["computed_at"].as_str().unwrap()).unwrap();
                assert!(computed >= at, "round {round}: as of {computed}, last cycle {at}");
            }
        }
        daemon.stop().await;
    }
}

both_backends! {
    /// `plan` speaks the terminal's language (`LANG`), fits 120 columns ("why" wraps), and
    /// `--wide` gives one line per row.
    #[tokio::test]
    async fn plan_speaks_the_terminals_language_and_fits_its_width() {
        let env = TestEnv::new().await;
        a_mixed_day(&env).await;
        let zh = env.run_with_env(&["plan"], &[("LANG", "zh_CN.UTF-8")]).await;
        assert_eq!(zh.code, 0, "{}", zh.all());
        assert!(zh.stdout.contains("已催满，仍未处理") && zh.stdout.contains("已静默"), "{}", zh.stdout);
        assert!(!zh.stdout.contains("reminders_over"), "{}", zh.stdout);
        let en = env.run_with_env(&["plan"], &[("LANG", "C.UTF-8")]).await;
        assert!(en.stdout.contains("all reminders sent, still waiting"), "{}", en.stdout);
        let table: Vec<&str> = en.stdout.lines().take_while(|l| !l.is_empty()).collect();
        for line in &table {
            assert!(expediter::table::width(line) <= 120, "{} columns: {line}", expediter::table::width(line));
        }
        let wide = env.run_with_env(&["plan", "--wide"], &[("LANG", "C.UTF-8")]).await;
        let rows = wide.stdout.lines().take_while(|l| !l.is_empty()).count();
        assert_eq!(rows, 4, "a header and one line per pair: {}", wide.stdout);
        assert!(table.len() >= rows, "{}", en.stdout);
        // The other tables speak it too: headings, states and ages, no English left.
        for (args, words) in [
            (&["plan"][..], &["任务", "处理人", "等待", "2天2小时"][..]),
            (&["silence", "list"][..], &["编号", "全部处理人", "生效中"][..]),
            (&["away", "list"][..], &["代理人", "离开中", "Li Si"][..]),
            (&["report"][..], &["按规则", "催办次数", "合计"][..]),
        ] {
            let run = env.run_with_env(args, &[("LANG", "zh_CN.UTF-8")]).await;
            assert_eq!(run.code, 0, "{}", run.all());
            for w in words {
                assert!(run.stdout.contains(w), "{w} in {args:?}: {}", run.stdout);
            }
            for english in ["every assignee", "active", "away now", "reminders", "total", "ASSIGNEE", "2d 2h"] {
                assert!(!run.stdout.contains(english), "{english} in {args:?}: {}", run.stdout);
            }
        }
    }
}
