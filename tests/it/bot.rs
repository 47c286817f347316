//! The app bot's long connection against the simulated Feishu, over a real WebSocket on
//! 127.0.0.1: the endpoint, pings, a fragmented event answered inside three seconds, a forced
//! disconnect survived, fatal refusals that stop retrying and say why, SIGTERM's clean close.

use std::sync::Arc;
use std::time::Duration;

use expediter::bot::link::{Handler, Link, Stopped};
use expediter::fake::FakeFeishu;
use expediter::fake::longconn::card_click;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::helpers::*;

/// A handler that says which event it saw.
fn echo() -> Handler {
    Arc::new(|event: Value| {
        Box::pin(async move {
            let id = event["header"]["event_id"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            Some(json!({"toast": {"type": "info", "content": id}}))
        })
    })
}

fn link(fake: &FakeFeishu, secret: &str) -> Link {
    Link::new(
        &fake.url(),
        APP_ID,
        expediter::secret::Secret::new(secret.into()),
    )
    .unwrap()
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..100 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test]
async fn the_long_connection_answers_a_fragmented_event_and_survives_a_forced_disconnect() {
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.unwrap();
    let lc = fake.long_connection.clone();
    let (stop, stopping) = watch::channel(false);
    let link = link(&fake, APP_SECRET);
    let running = tokio::spawn(async move { link.run(echo(), stopping).await });
    until("connected", || lc.connections() == 1).await;
    until("a ping right after connecting", || lc.pings() >= 1).await;
    // An event in four fragments, sent last part first: joined in order, answered once.
    let click = card_click("ev-1", "ou_lead", json!({"a": "snooze"}));
    let (code, answer, took) = lc.deliver(&click, 4).await.expect("an answer");
    assert_eq!(
        (code, answer["toast"]["content"].as_str()),
        (200, Some("ev-1"))
    );
    assert!(took < Duration::from_secs(3), "answered in {took:?}");
    // Pings keep coming at the server's interval (1 s here).
    let pings = lc.pings();
    until("another ping", || lc.pings() > pings).await;
    // The network drops it: a new endpoint, a new connection, events answered again.
    let endpoints = lc.endpoint_calls();
    lc.drop_all();
    until("reconnected", || {
        lc.connections() == 1 && lc.endpoint_calls() > endpoints
    })
    .await;
    let (code, answer, _) = lc
        .deliver(&card_click("ev-2", "ou_lead", json!({})), 1)
        .await
        .expect("an answer");
    assert_eq!(
        (code, answer["toast"]["content"].as_str()),
        (200, Some("ev-2"))
    );
    // SIGTERM: closed cleanly, at once.
    stop.send(true).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(3), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped, Stopped::Shutdown);
    until("closed", || lc.connections() == 0).await;
}

#[tokio::test]
async fn a_handshake_refused_for_too_many_connections_stops_retrying_and_says_why() {
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.unwrap();
    let lc = fake.long_connection.clone();
    // A refusal that is not fatal is tried again, a second later (the server's interval).
    lc.refuse(Some((500, "0")));
    let (stop, stopping) = watch::channel(false);
    let retrying = link(&fake, APP_SECRET);
    let running = tokio::spawn(async move { retrying.run(echo(), stopping).await });
    until("tried twice", || lc.refusals() >= 2).await;
    lc.refuse(None);
    until("then connected", || lc.connections() == 1).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    // Too many connections: one attempt, then a stop that names it — no tight loop.
    lc.refuse(Some((514, "1000040350")));
    let (_stop, stopping) = watch::channel(false);
    let refusals = lc.refusals();
    let stopped = tokio::time::timeout(
        Duration::from_secs(5),
        link(&fake, APP_SECRET).run(echo(), stopping),
    )
    .await
    .expect("stops by itself");
    let Stopped::Fatal(why) = stopped else {
        panic!("{stopped:?}")
    };
    assert!(why.contains("too many connections"), "{why}");
    assert_eq!(lc.refusals(), refusals + 1, "never retried");
    // Wrong credentials: the endpoint's refusal is fatal and names what to check.
    let (_stop, stopping) = watch::channel(false);
    let stopped = tokio::time::timeout(
        Duration::from_secs(5),
        link(&fake, "wrong").run(echo(), stopping),
    )
    .await
    .expect("stops by itself");
    let Stopped::Fatal(why) = stopped else {
        panic!("{stopped:?}")
    };
    assert!(
        why.contains("app secret") && !why.contains("wrong"),
        "{why}"
    );
}

/// Finance (u1, u2) led by ou_fin, viewed by ou_view; ops (u3) led by ou_ops; the app's bot on,
/// a digest to each lead and one to a chat.
fn with_bot(env: &TestEnv) -> u16 {
    with_bot_mode(env, "")
}

/// As [`with_bot`], with more `[bot]` keys.
fn with_bot_mode(env: &TestEnv, bot: &str) -> u16 {
    with_feishu_console(
        env,
        &format!(
            r#"allow = ["ou_stranger_allowed"]
admins = ["ou_admin"]

[[teams]]
name = "finance"
leads = ["ou_fin"]
viewers = ["ou_view"]

[[teams]]
name = "ops"
leads = ["ou_ops"]

[bot]
enabled = true
{bot}

[[digests]]
name = "leads"
cron = "0 0 9 * * *"
via = "bot"
to = "leads"

[[digests]]
name = "room"
cron = "0 0 9 * * *"
via = "bot"
chat_id = "oc_room"
"#
        ),
    )
}

/// The callback values of a card's buttons.
fn buttons(card: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![card];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("callback"))
                    && let Some(value) = map.get("value")
                {
                    out.push(value.clone());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out.reverse();
    out
}

fn snooze_of(card: &Value, task: &str) -> Value {
    buttons(card)
        .into_iter()
        .find(|b| b["a"] == "snooze" && b["t"] == task && b["d"] == "1d")
        .unwrap_or_else(|| panic!("a Snooze 1d for {task}: {card}"))
}

both_backends! {
    #[tokio::test]
    async fn a_leads_click_on_the_bots_digest_snoozes_once_and_undo_removes_it() {
        use expediter::fake::FakeTask;
        let env = TestEnv::new().await;
        env.write_config("", RULE_ONCE_AFTER_24H);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).label("报销：差旅", "Expense"));
        env.add(FakeTask::new("t3", &["u3"], 30 * HOUR).label("采购", "Purchase"));
        let port = with_bot(&env);
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        // The digests go through the app's bot: each lead gets their team's lines only, the
        // chat every line, each line with its buttons.
        let run = env.run(&["digest"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let lc = env.fake.long_connection.clone();
        let sent = lc.messages();
        let to = |id: &str| sent.iter().find(|m| m.receive_id == id).unwrap_or_else(|| panic!("a card to {id}: {sent:?}"));
        assert_eq!(sent.len(), 3, "{sent:?}");
        let fin = to("ou_fin");
        assert_eq!(fin.receive_id_type, "open_id");
        let values = buttons(&fin.card);
        assert!(values.iter().all(|v| v["t"] == "t1" && v["g"] == "leads" && v["l"] == "ou_fin"), "{values:?}");
        assert_eq!(values.len(), 2, "Snooze 1d and 3d: {values:?}");
        let ops = buttons(&to("ou_ops").card);
        assert!(!ops.is_empty() && ops.iter().all(|v| v["t"] == "t3"), "{ops:?}");
        let room = to("oc_room");
        assert_eq!(room.receive_id_type, "chat_id");
        assert_eq!(buttons(&room.card).len(), 4, "both tasks' buttons");
        assert!(fin.card.to_string().contains("/tasks/t1"), "Open, with public_url set: {}", fin.card);

        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        until("the bot connected", || lc.connections() == 1).await;
        for who in ["ou_fin", "ou_view", "ou_ops"] {
            feishu_session(&env, port, who, None).await;
        }
        let silences = || async {
            let run = env.run(&["silence", "list", "--json"]).await;
            serde_json::from_str::<Vec<Value>>(&run.stdout).unwrap()
        };

        // Someone Feishu knows but the console never saw: sign in first; nothing changes.
        let press = |event: &str, who: &str, value: Value| {
            let click = card_click(event, who, value);
            let lc = lc.clone();
            async move { lc.deliver(&click, 2).await.expect("answered") }
        };
        let (_, a, _) = press("ev-stranger", "ou_stranger", snooze_of(&fin.card, "t1")).await;
        assert_eq!(a["toast"]["type"], "warning", "{a}");
        // A viewer of finance, and the lead of ops: not theirs to snooze.
        for (ev, who) in [("ev-view", "ou_view"), ("ev-ops", "ou_ops")] {
            let (_, a, _) = press(ev, who, snooze_of(&fin.card, "t1")).await;
            assert_eq!(a["toast"]["type"], "error", "{who}: {a}");
        }
        assert!(silences().await.is_empty());

        // The lead: snoozed, answered in time, the card redrawn with Undo in place.
        let (code, a, took) = press("ev-1", "ou_fin", snooze_of(&fin.card, "t1")).await;
        assert_eq!((code, a["toast"]["type"].as_str()), (200, Some("success")), "{a}");
        assert!(took < Duration::from_secs(3), "answered in {took:?}");
        assert_eq!(a["card"]["type"], "raw", "{a}");
        let undo = buttons(&a["card"]["data"]).into_iter().find(|b| b["a"] == "undo").unwrap_or_else(|| panic!("Undo: {a}"));
        assert!(a["card"]["data"].to_string().contains("Name of ou"), "who snoozed it: {a}");
        let list = silences().await;
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!((list[0]["task_id"].as_str(), list[0]["user_id"].as_str()), (Some("t1"), Some("u1")));
        assert!(list[0]["created_by"].as_str().unwrap().ends_with("(ou_fin) via card"), "{list:?}");
        // Feishu delivers the same click again: one silence still.
        let (_, a, _) = press("ev-1", "ou_fin", snooze_of(&fin.card, "t1")).await;
        assert_eq!(a["toast"]["type"], "info", "{a}");
        assert_eq!(silences().await.len(), 1);
        let audit = env.run(&["audit", "--json"]).await;
        let trail: Vec<Value> = serde_json::from_str(&audit.stdout).unwrap();
        assert!(trail.iter().any(|e| e["action"] == "silence_added"
            && e["address"] == "card" && e["who"].as_str().unwrap().contains("via card")), "{trail:?}");
        // A viewer cannot undo it; the lead can.
        let (_, a, _) = press("ev-view-undo", "ou_view", undo.clone()).await;
        assert_eq!(a["toast"]["type"], "error", "{a}");
        assert_eq!(silences().await.len(), 1);
        let (_, a, _) = press("ev-2", "ou_fin", undo).await;
        assert_eq!(a["toast"]["type"], "success", "{a}");
        assert!(silences().await.is_empty());
        assert!(buttons(&a["card"]["data"]).iter().any(|b| b["a"] == "snooze" && b["t"] == "t1"), "{a}");
        // A value edited to name another lead's card: the snooze of one's own task stands, but
        // the answer shows nobody else's card.
        let mut forged = snooze_of(&to("ou_ops").card, "t3");
        forged["l"] = json!("ou_fin");
        let (_, a, _) = press("ev-forged", "ou_ops", forged).await;
        assert_eq!(a["toast"]["type"], "success", "{a}");
        assert!(a.get("card").is_none(), "no other lead's card: {a}");
        daemon.stop().await;
        until("closed on SIGTERM", || lc.connections() == 0).await;
    }
}

both_backends! {
    #[tokio::test]
    async fn check_online_asks_for_the_long_connection_without_taking_it() {
        let env = TestEnv::new().await;
        env.write_config("", RULE_ONCE_AFTER_24H);
        with_bot(&env);
        let lc = env.fake.long_connection.clone();
        let run = env.run(&["check", "--online"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stdout.contains("the long connection's endpoint answered (wss://127.0.0.1)"), "{}", run.stdout);
        assert_eq!((lc.endpoint_calls(), lc.connections()), (1, 0), "asked, not dialled");
        // The endpoint refuses the app: said, with the config's exit code.
        lc.endpoint_code(Some(1000040344));
        let run = env.run(&["check", "--online"]).await;
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stdout.contains("FAILED to get a long connection"), "{}", run.stdout);
        // Busy: worth another try later, not a config error.
        lc.endpoint_code(Some(1));
        let run = env.run(&["check", "--online"]).await;
        assert_eq!(run.code, 1, "{}", run.all());
    }
}

both_backends! {
    #[tokio::test]
    async fn http_mode_opens_only_a_signed_recent_encrypted_callback_with_the_token() {
        use expediter::fake::FakeTask;
        use expediter::fake::longconn::http_callback;
        const KEY: &str = "encrypt-KEY-for-tests";
        let env = TestEnv::new().await;
        env.write_config("", RULE_ONCE_AFTER_24H);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).label("报销", "Expense"));
        let port = with_bot_mode(
            &env,
            &format!("mode = \"http\"\nencrypt_key = \"{KEY}\"\nverification_token = \"vt-1\""),
        );
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.run(&["digest", "--name", "leads"]).await.code, 0);
        let lc = env.fake.long_connection.clone();
        let fin = lc.messages().into_iter().find(|m| m.receive_id == "ou_fin").expect("a card");
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        feishu_session(&env, port, "ou_fin", None).await;
        let url = format!("http://127.0.0.1:{port}/feishu/callback");
        let now = chrono::Utc::now().timestamp();
        // The URL check: its challenge back, with the right token only.
        let check = json!({"challenge": "c-42", "token": "vt-1", "type": "url_verification"});
        assert_eq!(http_callback(&url, KEY, &check, now, false).await, (200, json!({"challenge": "c-42"})));
        let wrong = json!({"challenge": "c-42", "token": "nope", "type": "url_verification"});
        assert_eq!(http_callback(&url, KEY, &wrong, now, false).await.0, 401);
        // A click with the token in its header, as Feishu sends it.
        let click = |id: &str, token: &str| {
            let mut c = card_click(id, "ou_fin", snooze_of(&fin.card, "t1"));
            c["header"]["token"] = json!(token);
            c
        };
        let silences = || async {
            let run = env.run(&["silence", "list", "--json"]).await;
            serde_json::from_str::<Vec<Value>>(&run.stdout).unwrap().len()
        };
        // Refused: unsigned, signed with another key, ten minutes old (a replay), the wrong token.
        assert_eq!(http_callback(&url, KEY, &click("e1", "vt-1"), now, false).await.0, 401);
        assert_eq!(http_callback(&url, "another-key", &click("e1", "vt-1"), now, true).await.0, 401);
        assert_eq!(http_callback(&url, KEY, &click("e1", "vt-1"), now - 600, true).await.0, 401);
        assert_eq!(http_callback(&url, KEY, &click("e1", "vt-0"), now, true).await.0, 401);
        assert_eq!(silences().await, 0);
        // The right one acts, once.
        let (status, answer) = http_callback(&url, KEY, &click("e1", "vt-1"), now, true).await;
        assert_eq!((status, answer["toast"]["type"].as_str()), (200, Some("success")), "{answer}");
        assert_eq!(answer["card"]["type"], "raw");
        let (_, again) = http_callback(&url, KEY, &click("e1", "vt-1"), now, true).await;
        assert_eq!(again["toast"]["type"], "info", "{again}");
        assert_eq!(silences().await, 1);
        assert_eq!(lc.connections(), 0, "no long connection in HTTP mode");
        daemon.stop().await;
    }
}

/// A pair of hosts, each holding a long connection: the same click delivered to both (a
/// redelivery that lands on the other host) makes one silence.
#[tokio::test]
async fn on_a_pair_a_click_delivered_to_both_hosts_lands_once() {
    use expediter::fake::FakeTask;
    let env = TestEnv::new_postgres().await;
    env.write_config("", RULE_ONCE_AFTER_24H);
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).label("报销", "Expense"));
    let port_a = with_bot(&env);
    let port_b = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let second = env.dir.path().join("config-b.toml");
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    let text_b = text.replace(
        &format!("127.0.0.1:{port_a}"),
        &format!("127.0.0.1:{port_b}"),
    );
    assert_ne!(text, text_b);
    std::fs::write(&second, text_b).unwrap();
    assert_eq!(env.run(&["once"]).await.code, 0);
    assert_eq!(env.run(&["digest", "--name", "leads"]).await.code, 0);
    let lc = env.fake.long_connection.clone();
    let fin = lc
        .messages()
        .into_iter()
        .find(|m| m.receive_id == "ou_fin")
        .expect("a card");
    let a = Daemon::start(&env, &[]);
    a.wait_for("active (lease epoch", 1, Duration::from_secs(20))
        .await;
    let b = Daemon::start_with(&env, &second, &[]);
    b.wait_for("standing by", 1, Duration::from_secs(20)).await;
    wait_for_console(port_a).await;
    feishu_session(&env, port_a, "ou_fin", None).await;
    until("both hosts connected", || lc.connections() == 2).await;
    let click = card_click("ev-pair", "ou_fin", snooze_of(&fin.card, "t1"));
    let (first, second_answer) = tokio::join!(
        lc.deliver_to(Some(0), &click, 1),
        lc.deliver_to(Some(1), &click, 1)
    );
    let mut toasts: Vec<String> = [first, second_answer]
        .into_iter()
        .map(|a| {
            a.expect("answered").1["toast"]["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    toasts.sort();
    assert_eq!(
        toasts,
        ["info", "success"],
        "one acted, the other found it done"
    );
    let run = env.run(&["silence", "list", "--json"]).await;
    let list: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    a.stop().await;
    b.stop().await;
}

both_backends! {
    #[tokio::test]
    async fn a_slow_redraw_is_answered_first_and_the_card_updated_after() {
        use expediter::fake::FakeTask;
        let env = TestEnv::new().await;
        env.write_config("", RULE_ONCE_AFTER_24H);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).label("报销", "Expense"));
        let port = with_bot(&env);
        assert_eq!(env.run(&["once"]).await.code, 0);
        assert_eq!(env.run(&["digest", "--name", "leads"]).await.code, 0);
        let lc = env.fake.long_connection.clone();
        let fin = lc.messages().into_iter().find(|m| m.receive_id == "ou_fin").expect("a card");
        let metrics = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(&env.config_path, format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n")).unwrap();
        // No time at all for the redraw: the answer cannot wait for it.
        let daemon = Daemon::start(&env, &[("EXPEDITER_CARD_REDRAW_BUDGET_MS", "0")]);
        wait_for_console(port).await;
        feishu_session(&env, port, "ou_fin", None).await;
        until("the bot connected", || lc.connections() == 1).await;
        let scraped = scrape(metrics).await;
        assert!(scraped.contains("expediter_bot_connected 1"), "{scraped}");
        let click = card_click("ev-slow", "ou_fin", snooze_of(&fin.card, "t1"));
        let (_, a, took) = lc.deliver(&click, 1).await.expect("answered");
        assert_eq!(a["toast"]["type"], "success", "{a}");
        assert!(a.get("card").is_none(), "the toast first: {a}");
        assert!(took < Duration::from_secs(3));
        until("the card updated after the answer", || lc.card_updates().len() == 1).await;
        let (token, card) = lc.card_updates().remove(0);
        assert_eq!(token, "c-ev-slow", "the click's token");
        assert!(buttons(&card).iter().any(|b| b["a"] == "undo"), "{card}");
        let scraped = scrape(metrics).await;
        assert!(scraped.contains("expediter_bot_actions_total{action=\"snooze\",outcome=\"done\"} 1"), "{scraped}");
        daemon.stop().await;
    }
}

both_backends! {
    #[tokio::test]
    async fn a_lead_previews_the_bots_card_for_their_team_in_a_browser() {
        use crate::console::{chromedriver, screenshot_dir, webdriver_in};
        use expediter::fake::{FakePerson, FakeTask};
        use fantoccini::Locator;
        let env = TestEnv::new().await;
        env.write_config("", RULE_ONCE_AFTER_24H);
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).label("报销：差旅", "Expense: travel"));
        env.add(FakeTask::new("t3", &["u3"], 50 * HOUR).label("采购：服务器", "Purchase: servers"));
        let port = with_bot(&env);
        assert_eq!(env.run(&["once"]).await.code, 0);
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        // A viewer has no card of theirs to preview.
        let viewer = feishu_session(&env, port, "ou_view", None).await;
        let r = browser()
            .get(format!("http://127.0.0.1:{port}/digests/card?name=leads"))
            .header("cookie", &viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        env.fake.sign_in_as(Some(FakePerson {
            open_id: "ou_fin".into(),
            name: "王芳".into(),
            email: None,
            barred: false,
        }));
        let driver = chromedriver().await;
        let b = webdriver_in(&driver, "zh-CN,zh").await;
        b.goto(&format!("http://127.0.0.1:{port}/login?next=/digests/card%3Fname%3Dleads")).await.unwrap();
        b.find(Locator::Css("a.button[href^='/login/feishu']")).await.unwrap().click().await.unwrap();
        b.wait().for_element(Locator::Css("div.card")).await.unwrap();
        let text = b.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(text.contains("报销：差旅") && text.contains("暂停 1 天") && text.contains("暂停 3 天"), "{text}");
        assert!(!text.contains("采购：服务器"), "only finance's lines for finance's lead: {text}");
        std::fs::write(screenshot_dir().join("bot-card.png"), b.screenshot().await.unwrap()).unwrap();
        b.close().await.unwrap();
        daemon.stop().await;
    }
}
