//! The web console, as a lead's browser and a script meet it: served by `run`, signed in by
//! token, one-time link or Feishu (the fake plays Feishu's accounts page), CSRF on every write,
//! untrusted labels as text — in a real headless Chromium too.

use std::time::Duration;

use expediter::fake::{FakePerson, FakeTask};
use serde_json::Value;

use crate::helpers::*;

/// A label someone typed to break a page.
const EVIL: &str =
    "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>";

/// An env with four tasks (one with an evil label), recorded by one `once`, and `run` serving
/// the console (token sign-in unless `console_extra` says otherwise).
async fn console_env(console_extra: &str) -> (TestEnv, Daemon, u16) {
    let env = TestEnv::new().await;
    env.add(FakeTask::new("t-old", &["u1"], 50 * HOUR).label("报销 old", "Expense old"));
    env.add(FakeTask::new("t-evil", &["u2"], 30 * HOUR).label(EVIL, EVIL));
    env.add(FakeTask::new("t-new", &["u1", "u3"], HOUR).label("请假", "Leave"));
    env.add(FakeTask::new("t-ops", &["u3"], 2 * HOUR).label("采购", "Purchase"));
    let run = env.run(&["once"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let port = with_console(&env, console_extra);
    let daemon = Daemon::start(&env, &[]);
    wait_for_console(port).await;
    (env, daemon, port)
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// A sign-in form as a browser gets it: the form's cookie and its hidden fields.
async fn form_at(port: u16, path: &str) -> (String, Vec<(String, String)>) {
    let r = browser().get(url(port, path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let (cookie, line) = set_cookie(&r, "expediter_login").expect("the form's cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("Path=/login"),
        "{line}"
    );
    let page = r.text().await.unwrap();
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("form input[type=hidden]").unwrap();
    let fields = doc
        .select(&sel)
        .map(|e| {
            (
                e.value().attr("name").unwrap().to_owned(),
                e.value().attr("value").unwrap_or("").to_owned(),
            )
        })
        .collect();
    (cookie, fields)
}

/// Posts the token form (fetched first, as a browser does) with `token` and `next`.
async fn post_token(port: u16, token: &str, next: &str) -> reqwest::Response {
    let (cookie, fields) = form_at(port, "/login").await;
    let mut form: Vec<(String, String)> = fields.into_iter().filter(|(k, _)| k != "next").collect();
    form.push(("token".into(), token.into()));
    form.push(("next".into(), next.into()));
    browser()
        .post(url(port, "/login"))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Signs in with the token form: the session cookie and the page's CSRF token.
async fn sign_in(port: u16) -> (String, String) {
    let r = post_token(port, CONSOLE_TOKEN, "/tasks").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/tasks");
    let (cookie, line) = set_cookie(&r, "expediter_session").expect("a session cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "no https public_url: {line}");
    let page = get_page(port, "/", &cookie).await;
    (cookie, csrf_of(&page))
}

async fn get_page(port: u16, path: &str, cookie: &str) -> String {
    let r = browser()
        .get(url(port, path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

both_backends! {
    #[tokio::test]
    async fn the_console_shows_every_pending_task_to_whoever_signed_in() {
        let (env, daemon, port) = console_env("").await;
        let c = browser();
        // Load balancers ask without signing in.
        let r = c.get(url(port, "/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap().trim(), "active");
        // Nobody signed in: pages go to /login (and back afterwards), the API answers 401.
        let r = c.get(url(port, "/tasks?state=due")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login?next=%2Ftasks%3Fstate%3Ddue");
        let r = c.get(url(port, "/api/v1/tasks")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = c.get(url(port, "/api/v1/tasks")).bearer_auth("not-the-token").send().await.unwrap();
        assert_eq!(r.status(), 401);
        // A wrong token signs nobody in.
        let r = post_token(port, "wrong", "/").await;
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login?error=token"));
        assert!(set_cookie(&r, "expediter_session").is_none());
        // Nor the right one posted from elsewhere (no form cookie: login CSRF).
        let r = c.post(url(port, "/login")).form(&[("token", CONSOLE_TOKEN), ("form", "guess")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login?error=form"));
        assert!(set_cookie(&r, "expediter_session").is_none());

        let (cookie, _) = sign_in(port).await;
        let r = c.get(url(port, "/tasks")).header("cookie", &cookie).send().await.unwrap();
        let h = r.headers().clone();
        let page = r.text().await.unwrap();
        // Every pending pair, the oldest first; the evil label as text.
        for id in ["t-old", "t-evil", "t-new", "t-ops"] {
            assert!(page.contains(&format!("href=\"/tasks/{id}\"")), "{id} missing:\n{page}");
        }
        assert!(page.find("t-old").unwrap() < page.find("t-evil").unwrap());
        assert!(page.contains("&lt;img src=x onerror="), "{page}");
        assert!(!page.contains("<img src=x"), "the label became markup");
        assert!(page.contains("5 matching"), "{page}");
        // Safety headers on every page.
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline';") || !csp.contains("script-src 'self' 'unsafe-inline'"));
        assert_eq!(h["referrer-policy"], "same-origin");
        // No secret on any page.
        for path in ["/", "/tasks", "/rules", "/silences", "/report", "/tasks/t-evil"] {
            let p = get_page(port, path, &cookie).await;
            assert!(!p.contains(APP_SECRET) && !p.contains(CONSOLE_TOKEN), "{path} shows a secret");
        }

        // The API: the same entries as `plan --json`, paged and filtered.
        let api = |q: &'static str| {
            let c = c.clone();
            async move {
                let r = c.get(url(port, &format!("/api/v1/tasks{q}"))).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
                assert_eq!(r.status(), 200, "{q}");
                r.json::<Value>().await.unwrap()
            }
        };
        let all = api("").await;
        assert_eq!(all["total"], 5);
        let plan = env.plan_json().await;
        let key = |e: &Value| (e["task_id"].as_str().unwrap().to_owned(), e["assignee_id"].as_str().unwrap().to_owned());
        let mut from_api: Vec<_> = all["entries"].as_array().unwrap().iter().map(|e| (key(e), e["status"].clone(), e["next_due"].clone())).collect();
        let mut from_plan: Vec<_> = plan.iter().map(|e| (key(e), e["status"].clone(), e["next_due"].clone())).collect();
        from_api.sort_by(|a, b| a.0.cmp(&b.0));
        from_plan.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(from_api, from_plan);
        let page2 = api("?limit=2&offset=2").await;
        assert_eq!(page2["total"], 5);
        let ids: Vec<_> = page2["entries"].as_array().unwrap().iter().map(|e| e["task_id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, ["t-ops", "t-new"], "the third and fourth oldest");
        let finance = api("?team=finance").await;
        assert!(finance["entries"].as_array().unwrap().iter().all(|e| e["assignee_id"] != "u3"));
        assert_eq!(finance["total"], 3);
        let by_name = api("?assignee=Wang%20Wu").await;
        assert_eq!(by_name["total"], 2);
        // Text in a label of any language, any case.
        let text = api("?q=EXPENSE").await;
        assert_eq!(text["total"], 1);
        let text = api("?q=%E6%8A%A5%E9%94%80").await;
        assert_eq!(text["total"], 1);
        let over = api("?state=reminders_over").await;
        assert!(over["total"].as_u64().unwrap() >= 2, "{over}");
        assert!(over["entries"].as_array().unwrap().iter().all(|e| e["status"] == "reminders_over"));
        let r = c.get(url(port, "/api/v1/tasks?state=nonsense")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "state");
        // One task, with its history.
        let r = c.get(url(port, "/api/v1/tasks/t-old")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        let t: Value = r.json().await.unwrap();
        assert_eq!(t["calls"][0]["kind"], "expedite");
        assert_eq!(t["calls"][0]["outcome"], "sent");
        let r = c.get(url(port, "/api/v1/tasks/nope")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let status: Value = c.get(url(port, "/api/v1/status")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(status["role"], "active");
        // No secret in any API answer either.
        for path in ["/api/v1/status", "/api/v1/tasks", "/api/v1/tasks/t-old", "/api/v1/silences?all=true", "/api/v1/away?all=true"] {
            let text = c.get(url(port, path)).bearer_auth(CONSOLE_TOKEN).send().await.unwrap().text().await.unwrap();
            assert!(!text.contains(APP_SECRET) && !text.contains(CONSOLE_TOKEN), "{path} shows a secret");
        }
        assert_eq!(status["pending_pairs"], 5);

        // Sign-out ends the session on the server: the old cookie no longer works.
        let page = get_page(port, "/", &cookie).await;
        let r = c.post(url(port, "/logout")).header("cookie", &cookie).form(&[("csrf", csrf_of(&page))]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let r = c.get(url(port, "/")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 303, "the session ended");
        daemon.stop().await;
    }
}

both_backends! {
    #[tokio::test]
    async fn silences_made_and_removed_in_the_console_record_who() {
        let (env, daemon, port) = console_env("").await;
        let c = browser();
        let (cookie, csrf) = sign_in(port).await;
        // A form without its CSRF token is refused, and nothing is recorded.
        let r = c.post(url(port, "/tasks/t-old/silence")).header("cookie", &cookie)
            .form(&[("for", "8h")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = c.post(url(port, "/tasks/t-old/silence")).header("cookie", &cookie)
            .form(&[("csrf", "forged"), ("for", "8h")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        // With it: recorded, back to the task.
        let r = c.post(url(port, "/tasks/t-old/silence")).header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("user_id", "u1"), ("for", "8h"), ("reason", "<b>on leave</b>")]).send().await.unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let page = get_page(port, "/tasks/t-old", &cookie).await;
        assert!(page.contains("silenced Zhang San until") && page.contains("by token"), "{page}");
        assert!(page.contains("&lt;b&gt;on leave&lt;/b&gt;"));
        // The API: a cookie alone does not write (CSRF); the header or the Bearer token does.
        let body = serde_json::json!({"task_id": "t-ops", "for": "2h", "reason": "waiting for a quote"});
        let r = c.post(url(port, "/api/v1/silences")).header("cookie", &cookie).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = c.post(url(port, "/api/v1/silences")).header("cookie", &cookie).header("x-csrf-token", &csrf).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let by_cookie = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let r = c.post(url(port, "/api/v1/silences")).bearer_auth(CONSOLE_TOKEN)
            .json(&serde_json::json!({"task_id": "t-new", "user_id": "u3", "until": "2099-01-01"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        // Bad input names the field; nothing is recorded.
        for (body, field) in [
            (serde_json::json!({"task_id": "t-new", "for": "soon"}), "for"),
            (serde_json::json!({"task_id": "t-new", "until": "2001-01-01"}), "until"),
            (serde_json::json!({"task_id": "t-new", "user_id": "u2", "for": "1h"}), "user_id"),
            (serde_json::json!({"for": "1h"}), "task_id"),
            (serde_json::json!({"task_id": "t-new", "for": "1h", "until": "2099-01-01"}), "for"),
        ] {
            let r = c.post(url(port, "/api/v1/silences")).bearer_auth(CONSOLE_TOKEN).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 400, "{body}");
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["field"], field, "{body}: {answer}");
        }
        let r = c.post(url(port, "/api/v1/silences")).bearer_auth(CONSOLE_TOKEN).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(r.status(), 400);
        // (On a connection of its own: the server answers before reading the rest, then closes it.)
        let r = browser().post(url(port, "/api/v1/silences")).bearer_auth(CONSOLE_TOKEN).header("content-type", "application/json").body(vec![b' '; 64 * 1024]).send().await.unwrap();
        assert_eq!(r.status(), 413, "bodies are capped");
        let listed: Value = c.get(url(port, "/api/v1/silences")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
        // Removal: by cookie needs the header; unknown ids are 404.
        let r = c.delete(url(port, &format!("/api/v1/silences/{by_cookie}"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = c.delete(url(port, &format!("/api/v1/silences/{by_cookie}"))).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let r = c.delete(url(port, "/api/v1/silences/99999")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 404);
        // Removed already: nothing to end, and said so.
        let r = c.delete(url(port, &format!("/api/v1/silences/{by_cookie}"))).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 404);
        // The form on /silences removes one too.
        let page = get_page(port, "/silences", &cookie).await;
        let first = listed.as_array().unwrap().iter().find(|s| s["task_id"] == "t-old").unwrap()["id"].as_i64().unwrap();
        assert!(page.contains(&format!("/silences/{first}/remove")), "{page}");
        let r = c.post(url(port, &format!("/silences/{first}/remove"))).header("cookie", &cookie).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // The command line sees who did what.
        let run = env.run(&["silence", "list", "--all", "--json"]).await;
        let all: Value = serde_json::from_str(&run.stdout).unwrap();
        let of = |task: &str| all.as_array().unwrap().iter().find(|s| s["task_id"] == task).unwrap().clone();
        assert_eq!(of("t-old")["created_by"], "token");
        assert_eq!(of("t-old")["removed_by"], "token");
        assert_eq!(of("t-new")["removed_by"], Value::Null);
        // And the plan holds the silenced pair.
        let plan = env.plan_json().await;
        assert!(plan.iter().any(|e| e["task_id"] == "t-new" && e["assignee_id"] == "u3" && e["status"] == "silenced"));
        daemon.stop().await;
    }
}

both_backends! {
    #[tokio::test]
    async fn a_sign_in_link_works_once() {
        let (env, daemon, port) = console_env("").await;
        let run = env.run(&["console", "link", "--for", "5m"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let link = run.stdout.trim().to_owned();
        assert!(link.starts_with(&format!("http://127.0.0.1:{port}/login/link?t=")), "{link}");
        let c = browser();
        let path = link.trim_start_matches(&format!("http://127.0.0.1:{port}")).to_owned();
        // Opening it (a chat's link preview, say) spends nothing: its page has a button.
        for _ in 0..2 {
            let r = c.get(format!("{link}&next=/silences")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(set_cookie(&r, "expediter_session").is_none());
        }
        let press = |c: reqwest::Client, path: String| async move {
            let (cookie, fields) = form_at(port, &format!("{path}&next=/silences")).await;
            c.post(url(port, "/login/link")).header("cookie", cookie).form(&fields).send().await.unwrap()
        };
        let r = press(c.clone(), path.clone()).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/silences");
        let (cookie, _) = set_cookie(&r, "expediter_session").unwrap();
        let page = get_page(port, "/silences", &cookie).await;
        assert!(page.contains("cli:"), "the session is recorded as the link's maker: {page}");
        // Used once.
        let r = press(c.clone(), path).await;
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login?error=link"));
        assert!(set_cookie(&r, "expediter_session").is_none());
        daemon.stop().await;
    }
}

both_backends! {
    #[tokio::test]
    async fn console_link_without_a_console_is_a_config_error() {
        let env = TestEnv::new().await;
        let run = env.run(&["console", "link"]).await;
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains("no [console]"), "{}", run.all());
    }
}

#[tokio::test]
async fn sign_in_attempts_are_limited_and_redirects_stay_home() {
    let (_env, daemon, port) = console_env("").await;
    let c = browser();
    // Redirects go only to our own paths.
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let r = post_token(port, CONSOLE_TOKEN, evil).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/", "{evil}");
    }
    // Past ten failures a minute from one address (the successes above do not count): 429 for
    // the next failure — but the right token is never refused (that would be a lockout anyone
    // could cause).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(post_token(port, "guess", "/").await.status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    let r = post_token(port, "guess", "/").await;
    assert_eq!(r.status(), 429);
    let r = post_token(port, CONSOLE_TOKEN, "/").await;
    assert_eq!(r.status(), 303, "the right token after ten failures");
    assert_eq!(r.headers()["location"], "/");
    let r = c
        .get(url(port, "/api/v1/status"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let r = c
        .get(url(port, "/api/v1/status"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the right Bearer after the failures");
    // Starting a sign-in with Feishu is no failure: the victim's own start is not refused.
    daemon.stop().await;
}

/// Behind a reverse proxy everyone shares its address: with `trusted_proxies` the client's
/// address comes from `X-Forwarded-For` as the proxy set it, so one client's failures do not
/// lock out the others, and a client cannot pick its address by writing the header itself.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit() {
    let (_env, daemon, port) = console_env("trusted_proxies = [\"127.0.0.0/8\"]\n").await;
    let c = browser();
    let bearer = |token: &'static str, xff: &'static str| {
        c.get(url(port, "/api/v1/status"))
            .bearer_auth(token)
            .header("x-forwarded-for", xff)
            .send()
    };
    for _ in 0..10 {
        assert_eq!(bearer("guess", "203.0.113.7").await.unwrap().status(), 401);
    }
    assert_eq!(bearer("guess", "203.0.113.7").await.unwrap().status(), 429);
    // Another client behind the same proxy is not limited by the first one's failures.
    assert_eq!(bearer("guess", "198.51.100.9").await.unwrap().status(), 401);
    // What the client wrote before the proxy's own entry is not believed: still 203.0.113.7.
    assert_eq!(
        bearer("guess", "198.51.100.10, 203.0.113.7")
            .await
            .unwrap()
            .status(),
        429
    );
    daemon.stop().await;
}

both_backends! {
    #[tokio::test]
    async fn sign_in_with_feishu_admits_only_the_allowed_and_each_state_once() {
        let env = TestEnv::new().await;
        let port = with_feishu_console(&env, "allow = [\"ou_lead\", \"Boss@Corp.Example\"]");
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let c = browser();
        let person = |open_id: &str, email: Option<&str>, barred: bool| FakePerson {
            open_id: open_id.into(),
            name: format!("Name of {open_id}"),
            email: email.map(str::to_owned),
            barred,
        };
        // One round: our redirect, Feishu's page, our callback (with this browser's cookie).
        let fake_url = env.fake.url();
        let round = |c: reqwest::Client| {
            let fake_url = fake_url.clone();
            async move {
            let r = c.get(url(port, "/login/feishu?next=/rules")).send().await.unwrap();
            assert_eq!(r.status(), 303);
            let to = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(to.starts_with(&format!("{}/open-apis/authen/v1/authorize?client_id={APP_ID}", fake_url)), "{to}");
            assert!(to.contains(&format!("redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Flogin%2Ffeishu%2Fcallback")), "{to}");
            let (state_cookie, line) = set_cookie(&r, "expediter_sign_in").unwrap();
            assert!(line.contains("HttpOnly"));
            let r = c.get(&to).send().await.unwrap();
            assert_eq!(r.status(), 302);
            let back = r.headers()["location"].to_str().unwrap().to_owned();
            (state_cookie, back)
            }
        };
        env.fake.sign_in_as(Some(person("ou_lead", None, false)));
        let (state, back) = round(c.clone()).await;
        // The callback from another browser (no state cookie) is refused.
        let r = c.get(&back).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = c.get(&back).header("cookie", &state).send().await.unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert_eq!(r.headers()["location"], "/rules");
        let (session, _) = set_cookie(&r, "expediter_session").unwrap();
        let page = get_page(port, "/rules", &session).await;
        assert!(page.contains("Name of ou_lead (ou_lead)"), "{page}");
        // The exchange sent what Feishu needs, and the secret went only there.
        let ex = env.fake.oauth_exchanges();
        assert_eq!(ex[0]["client_secret"], APP_SECRET);
        assert_eq!(ex[0]["redirect_uri"], format!("http://127.0.0.1:{port}/login/feishu/callback"));
        // The same state again: refused (single use).
        let r = c.get(&back).header("cookie", &state).send().await.unwrap();
        assert_eq!(r.status(), 403);
        // A code used once, replayed with a fresh state of this browser: Feishu refuses it.
        let old_code = back.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
        let (state2, back2) = round(c.clone()).await;
        let fresh_state = back2.split("state=").nth(1).unwrap().to_owned();
        let replay = format!("{}?code={old_code}&state={fresh_state}", back2.split('?').next().unwrap());
        let r = c.get(&replay).header("cookie", &state2).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(set_cookie(&r, "expediter_session").is_none());
        // By email, in any case.
        env.fake.sign_in_as(Some(person("ou_boss", Some("boss@corp.example"), false)));
        let (state, back) = round(c.clone()).await;
        let r = c.get(&back).header("cookie", &state).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let (boss, _) = set_cookie(&r, "expediter_session").unwrap();
        assert!(get_page(port, "/rules", &boss).await.contains("Name of ou_boss"));
        // Sessions are listed (who, how), never by their secret id.
        let list = env.run(&["console", "sessions", "--json"]).await;
        assert_eq!(list.code, 0, "{}", list.all());
        let sessions: Value = serde_json::from_str(&list.stdout).unwrap();
        assert!(sessions.as_array().unwrap().iter().any(|s| s["who"] == "Name of ou_boss (ou_boss)" && s["kind"] == "feishu"), "{sessions}");
        assert!(!list.stdout.contains(boss.split('=').nth(1).unwrap()), "a session's id was printed");
        // Removed from allow, then a reload: the boss's next click finds them signed out.
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(&env.config_path, text.replace(", \"Boss@Corp.Example\"", "")).unwrap();
        daemon.signal("HUP");
        daemon.wait_for("config reloaded", 1, Duration::from_secs(10)).await;
        let r = browser().get(url(port, "/rules")).header("cookie", &boss).send().await.unwrap();
        assert_eq!(r.status(), 303, "a session of someone no longer allowed");
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login"));
        // The lead's session holds; `console sessions end --all` ends it.
        assert!(get_page(port, "/rules", &session).await.contains("Name of ou_lead"));
        let end = env.run(&["console", "sessions", "end", "--all"]).await;
        assert_eq!(end.code, 0, "{}", end.all());
        let r = browser().get(url(port, "/rules")).header("cookie", &session).send().await.unwrap();
        assert_eq!(r.status(), 303, "ended by the CLI");
        assert_eq!(env.run(&["console", "sessions", "end", "abc123"]).await.code, 1);
        // Someone else: refused, named.
        env.fake.sign_in_as(Some(person("ou_stranger", Some("x@corp.example"), false)));
        let (state, back) = round(c.clone()).await;
        let r = c.get(&back).header("cookie", &state).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(set_cookie(&r, "expediter_session").is_none());
        assert!(r.text().await.unwrap().contains("ou_stranger"));
        // Outside the app's availability range: Feishu's 20010, said in words.
        env.fake.sign_in_as(Some(person("ou_lead", None, true)));
        let (state, back) = round(c.clone()).await;
        let r = c.get(&back).header("cookie", &state).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("availability range"));
        // A display name built to forge a log line and reorder a page: escaped in the log,
        // its direction override gone from the page.
        env.fake.sign_in_as(Some(FakePerson {
            open_id: "ou_lead".into(),
            name: "Mallory\n INFO console: signed in who=Boss\u{202e}".into(),
            email: None,
            barred: false,
        }));
        let (state, back) = round(c.clone()).await;
        let r = c.get(&back).header("cookie", &state).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let (mallory, _) = set_cookie(&r, "expediter_session").unwrap();
        let page = get_page(port, "/rules", &mallory).await;
        assert!(page.contains("Mallory") && !page.contains('\u{202e}'), "{page}");
        let (_, _, log) = daemon.stop().await;
        assert!(!log.contains(APP_SECRET), "the secret reached the log");
        assert!(!log.contains('\u{202e}'), "{log}");
        assert!(
            !log.lines().any(|l| l.trim_start().starts_with("INFO console: signed in who=Boss")),
            "a forged line: {log}"
        );
    }
}

/// Headless Chromium (Debian's package), as a lead's browser.
fn chromium() -> std::path::PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| which(b))
        .expect("a headless Chromium is needed for the console's browser tests: apt-get install chromium (.ci/run installs it)")
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(bin))
        .find(|p| p.is_file())
}

/// chromedriver (Debian's `chromium-driver`) on a free loopback port, killed when dropped.
pub(crate) struct Driver {
    _child: tokio::process::Child,
    url: String,
}

pub(crate) async fn chromedriver() -> Driver {
    let bin = which("chromedriver").expect(
        "chromedriver is needed for the console's browser tests: apt-get install chromium-driver (.ci/run installs it)",
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = tokio::process::Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while http_get(format!("{url}/status")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { _child: child, url }
}

pub(crate) async fn webdriver(driver: &Driver) -> fantoccini::Client {
    webdriver_in(driver, "en-US,en").await
}

/// A browser whose `Accept-Language` is `languages`.
pub(crate) async fn webdriver_in(driver: &Driver, languages: &str) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium().display().to_string(),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", format!("--lang={languages}")],
            "prefs": { "intl.accept_languages": languages },
        }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Where the browser test leaves its screenshots for a person to look at.
pub(crate) fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_lead_in_a_browser_signs_in_silences_a_task_removes_it_and_signs_out() {
    use fantoccini::Locator;
    let (_env, daemon, port) = console_env("").await;
    let driver = chromedriver().await;
    let b = webdriver(&driver).await;
    let path = |b: &fantoccini::Client| {
        let b = b.clone();
        async move { b.current_url().await.unwrap().path().to_owned() }
    };
    // Signing in: the form, then the page asked for.
    b.goto(&url(port, "/tasks")).await.unwrap();
    assert_eq!(path(&b).await, "/login");
    b.find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(CONSOLE_TOKEN)
        .await
        .unwrap();
    b.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("table.tasks"))
        .await
        .unwrap();
    assert_eq!(path(&b).await, "/tasks");
    // The evil label is text in the page, and none of its script ran.
    assert_eq!(b.title().await.unwrap(), "Tasks — expediter");
    let cell = b
        .find(Locator::XPath(
            "//td[@class='label'][contains(., 'onerror')]",
        ))
        .await
        .unwrap();
    assert_eq!(cell.text().await.unwrap(), EVIL);
    assert!(
        b.find_all(Locator::Css("main img"))
            .await
            .unwrap()
            .is_empty()
    );
    std::fs::write(
        screenshot_dir().join("tasks.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    // One task, silenced with its form.
    b.find(Locator::Css("a[href='/tasks/t-old']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form = b
        .wait()
        .for_element(Locator::Css("form.silence"))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=for]"))
        .await
        .unwrap()
        .send_keys("8h")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=reason]"))
        .await
        .unwrap()
        .send_keys("on leave until Monday")
        .await
        .unwrap();
    form.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//li[contains(., 'silenced every assignee until')]",
        ))
        .await
        .unwrap();
    let history = b
        .find(Locator::Css("ol.history"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        history.contains("by token (on leave until Monday)"),
        "{history}"
    );
    // On /silences, with who made it; removed with its button.
    b.goto(&url(port, "/silences")).await.unwrap();
    let table = b
        .find(Locator::Css("table.silences"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        table.contains("t-old") && table.contains("token"),
        "{table}"
    );
    b.find(Locator::Css("table.silences form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("table.silences"))
        .await
        .unwrap();
    assert!(
        b.find_all(Locator::Css("table.silences tbody tr"))
            .await
            .unwrap()
            .is_empty(),
        "no active silence left"
    );
    b.goto(&url(port, "/silences?all=true")).await.unwrap();
    let table = b
        .find(Locator::Css("table.silences"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(table.contains(" by token"), "who removed it: {table}");
    // The overview, kept current by its script.
    b.goto(&url(port, "/")).await.unwrap();
    b.wait()
        .for_element(Locator::Css("body[data-refreshed]"))
        .await
        .unwrap();
    std::fs::write(
        screenshot_dir().join("overview.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    // Sign out: the pages are refused after.
    b.find(Locator::Css("form.signout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    b.goto(&url(port, "/tasks")).await.unwrap();
    assert_eq!(path(&b).await, "/login");
    b.close().await.unwrap();
    daemon.stop().await;
    eprintln!("screenshots in {}", screenshot_dir().display());
}

both_backends! {
    /// A lead of one team signs in with Feishu in a real browser and finds only their team's tasks.
    #[tokio::test]
    async fn a_team_lead_in_a_browser_finds_only_their_teams_tasks() {
        use fantoccini::Locator;
        let env = TestEnv::new().await;
        env.add(FakeTask::new("t-old", &["u1"], 50 * HOUR).label("报销 old", "Expense old"));
        env.add(FakeTask::new("t-ops", &["u3"], 2 * HOUR).label("采购", "Purchase"));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        let port = with_feishu_console(
            &env,
            "allow = []\nadmins = [\"ou_admin\"]\n\n[[teams]]\nname = \"finance\"\nleads = [\"ou_fin\"]",
        );
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        env.fake.sign_in_as(Some(FakePerson {
            open_id: "ou_fin".into(),
            name: "Finance Lead".into(),
            email: None,
            barred: false,
        }));
        let driver = chromedriver().await;
        let b = webdriver(&driver).await;
        b.goto(&url(port, "/tasks")).await.unwrap();
        b.find(Locator::Css("a.button[href^='/login/feishu']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.wait()
            .for_element(Locator::Css("table.tasks"))
            .await
            .unwrap();
        assert_eq!(b.current_url().await.unwrap().path(), "/tasks");
        let page = b.source().await.unwrap();
        assert!(page.contains("Finance Lead") && page.contains("lead of finance"), "{page}");
        assert!(page.contains("t-old"), "{page}");
        assert!(!page.contains("t-ops") && !page.contains("采购"), "another team's task: {page}");
        std::fs::write(
            screenshot_dir().join("tasks-of-a-lead.png"),
            b.screenshot().await.unwrap(),
        )
        .unwrap();
        b.close().await.unwrap();
        daemon.stop().await;
    }
}

#[tokio::test]
async fn on_a_pair_the_standby_says_so_names_the_active_one_and_writes_to_the_shared_database() {
    let env = TestEnv::new_postgres().await;
    env.add(FakeTask::new("t-pair", &["u1"], 30 * HOUR).label("报销", "Expense"));
    assert_eq!(env.run(&["once"]).await.code, 0);
    let pa = with_console(&env, "");
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    let pb = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let second = env.dir.path().join("config-b.toml");
    std::fs::write(
        &second,
        text.replace(&format!("127.0.0.1:{pa}"), &format!("127.0.0.1:{pb}")),
    )
    .unwrap();
    let a = Daemon::start(&env, &[]);
    a.wait_for("active (lease epoch", 1, Duration::from_secs(20))
        .await;
    let b = Daemon::start_with(&env, &second, &[]);
    b.wait_for("standing by", 1, Duration::from_secs(20)).await;
    wait_for_console(pa).await;
    wait_for_console(pb).await;
    let c = browser();
    let health = |p: u16| {
        let c = c.clone();
        async move {
            c.get(url(p, "/healthz"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(health(pa).await.trim(), "active");
    assert_eq!(health(pb).await.trim(), "standby");
    let status: Value = c
        .get(url(pb, "/api/v1/status"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["role"], "standby");
    let holder = status["lease"]["holder"].as_str().unwrap().to_owned();
    assert!(!holder.is_empty());
    let (cookie, _) = {
        let r = post_token(pb, CONSOLE_TOKEN, "/").await;
        set_cookie(&r, "expediter_session").unwrap()
    };
    let page = c
        .get(url(pb, "/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The active one is") && page.contains(&holder),
        "{page}"
    );
    // The session made on the standby is a row both read: it signs in on the active one too.
    let r = c
        .get(url(pa, "/tasks"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A silence recorded through the standby holds on the active one.
    let r = c
        .post(url(pb, "/api/v1/silences"))
        .bearer_auth(CONSOLE_TOKEN)
        .json(&serde_json::json!({"task_id": "t-pair", "for": "1d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The active one's task page reads the database: silenced at once (its lists, from an
    // index kept 15 s, within that).
    let task: Value = c
        .get(url(pa, "/api/v1/tasks/t-pair"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["entries"][0]["status"], "silenced", "{task}");
    assert_eq!(task["silences"][0]["created_by"], "token", "{task}");
    b.stop().await;
    a.stop().await;
}

both_backends! {
    #[tokio::test]
    async fn with_a_daily_cap_every_page_says_what_plan_says() {
        let env = TestEnv::new().await;
        let text = std::fs::read_to_string(&env.config_path).unwrap().replace(
            "operator_user_id = \"7000\"",
            "operator_user_id = \"7000\"\nmax_per_user_per_day = 1",
        );
        std::fs::write(&env.config_path, text).unwrap();
        for (i, hours) in [30, 40, 50, 60].iter().enumerate() {
            env.add(FakeTask::new(format!("c{i}"), &["u1"], *hours * HOUR));
        }
        assert_eq!(env.run(&["once"]).await.code, 0);
        let port = with_console(&env, "");
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let plan = env.plan_json().await;
        let status_in_plan = |task: &str| plan.iter().find(|e| e["task_id"] == task).unwrap()["status"].clone();
        assert!(plan.iter().any(|e| e["status"] == "capped"), "{plan:?}");
        let c = browser();
        for offset in 0..4 {
            let page: Value = c.get(url(port, &format!("/api/v1/tasks?limit=1&offset={offset}"))).bearer_auth(CONSOLE_TOKEN)
                .send().await.unwrap().json().await.unwrap();
            let e = &page["entries"][0];
            assert_eq!(e["status"], status_in_plan(e["task_id"].as_str().unwrap()), "offset {offset}: {e}");
        }
        // A page past any number is empty, not an error.
        let r = c.get(url(port, "/tasks?offset=9223372036854775807")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = c.get(url(port, "/api/v1/tasks?limit=abc")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("limit"));
        daemon.stop().await;
    }
}

#[tokio::test]
async fn the_demo_keeps_its_console_up_with_a_sign_in_link_until_stopped() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = expediter()
        .args(["demo", "--console"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let link = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("http://127.0.0.1:")
                && line.contains("/login/link?t=")
            {
                return line[at..].trim().to_owned();
            }
        }
        panic!("the demo ended without a link");
    })
    .await
    .expect("a sign-in link within a minute");
    let port: u16 = link["http://127.0.0.1:".len()..]
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let path = link
        .trim_start_matches(&format!("http://127.0.0.1:{port}"))
        .to_owned();
    let (cookie, fields) = form_at(port, &path).await;
    let r = browser()
        .post(url(port, "/login/link"))
        .header("cookie", cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (session, _) = set_cookie(&r, "expediter_session").unwrap();
    let page = get_page(port, "/tasks", &session).await;
    assert!(page.contains("/tasks/7301"), "the demo's tasks: {page}");
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

both_backends! {
    #[tokio::test]
    async fn away_windows_from_the_console_and_the_api_hold_reminders_and_record_who() {
        let (env, daemon, port) = console_env("").await;
        let c = browser();
        let (cookie, csrf) = sign_in(port).await;
        // The form.
        let r = c.post(url(port, "/away")).header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("user_id", "u3"), ("for", "3d"), ("deputy", "u1"), ("reason", "<i>trip</i>")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let page = get_page(port, "/away", &cookie).await;
        assert!(page.contains("Wang Wu") && page.contains("Zhang San") && page.contains("&lt;i&gt;trip&lt;/i&gt;"), "{page}");
        // The API, and its refusals naming the field.
        let r = c.post(url(port, "/api/v1/away")).bearer_auth(CONSOLE_TOKEN)
            .json(&serde_json::json!({"user_id": "u2", "from": "2099-01-01", "until": "2099-01-08"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let later = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        for (body, field) in [
            (serde_json::json!({"user_id": "nobody", "for": "1d"}), "user_id"),
            (serde_json::json!({"user_id": "u2", "until": "2001-01-01"}), "until"),
            (serde_json::json!({"user_id": "u2", "for": "1d", "deputy": "u2"}), "deputy"),
            (serde_json::json!({"for": "1d"}), "user_id"),
        ] {
            let r = c.post(url(port, "/api/v1/away")).bearer_auth(CONSOLE_TOKEN).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 400, "{body}");
            assert_eq!(r.json::<Value>().await.unwrap()["field"], field, "{body}");
        }
        let r = c.post(url(port, "/api/v1/away")).header("cookie", &cookie)
            .json(&serde_json::json!({"user_id": "u2", "for": "1d"})).send().await.unwrap();
        assert_eq!(r.status(), 403, "a cookie alone does not write");
        // u3's pairs are away now; the list and the plan say so.
        let tasks: Value = c.get(url(port, "/api/v1/tasks?state=away")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(tasks["total"], 2, "{tasks}");
        assert!(tasks["entries"].as_array().unwrap().iter().all(|e| e["assignee_id"] == "u3" && e["deputy"] == "u1"));
        let listed: Value = c.get(url(port, "/api/v1/away")).bearer_auth(CONSOLE_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        let now_id = listed.as_array().unwrap().iter().find(|a| a["user_id"] == "u3").unwrap()["id"].as_i64().unwrap();
        assert_eq!(listed.as_array().unwrap().iter().find(|a| a["user_id"] == "u3").unwrap()["created_by"], "token");
        let r = c.delete(url(port, &format!("/api/v1/away/{now_id}"))).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let r = c.delete(url(port, &format!("/api/v1/away/{now_id}"))).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = c.delete(url(port, &format!("/api/v1/away/{later}"))).bearer_auth(CONSOLE_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 204, "a window to come can be removed too");
        let run = env.run(&["away", "list", "--all", "--json"]).await;
        let all: Value = serde_json::from_str(&run.stdout).unwrap();
        assert!(all.as_array().unwrap().iter().all(|a| a["removed_by"] == "token"), "{all}");
        daemon.stop().await;
    }
}

both_backends! {
    #[tokio::test]
    pub async fn a_move_shows_on_the_task_page_in_the_api_and_in_the_metrics() {
        let env = TestEnv::new().await;
        env.write_config(
            "",
            r#"
[away]
deputy_action = "transfer"

[[rules]]
name = "chase"
after = "24h"
"#,
        );
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR).label(EVIL, EVIL));
        let run = env
            .run(&["away", "add", "--user", "u1", "--for", "2d", "--deputy", "u2"])
            .await;
        assert_eq!(run.code, 0, "{}", run.all());
        with_cron(&env, "* * * * * *");
        let metrics = with_metrics(&env);
        let port = with_console(&env, "");
        let daemon = Daemon::start(&env, &[]);
        daemon
            .wait_for("moved task t1", 1, Duration::from_secs(10))
            .await;
        wait_for_console(port).await;
        let text = scrape(metrics).await;
        assert!(
            text.contains("expediter_moves_total{kind=\"transfer\",outcome=\"sent\"} 1"),
            "{text}"
        );
        let (cookie, _) = sign_in(port).await;
        let page = get_page(port, "/tasks/t1", &cookie).await;
        let doc = scraper::Html::parse_document(&page);
        let sel = scraper::Selector::parse("ol.history li.call").unwrap();
        let calls: Vec<String> = doc
            .select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect();
        assert!(
            calls
                .iter()
                .any(|c| c.contains("transferred from Zhang San to Li Si, sent by 7000") && c.ends_with("sent")),
            "{calls:?}"
        );
        let api: Value = browser()
            .get(url(port, "/api/v1/tasks/t1"))
            .bearer_auth(CONSOLE_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let moves: Vec<&Value> = api["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "transfer")
            .collect();
        assert_eq!(moves.len(), 1, "{api}");
        assert_eq!(moves[0]["people"][0], "u2", "{api}");
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
    }
}

both_backends! {
    /// A session made with the console's token ends when the token is rotated (the file holding
    /// it rewritten): the old token's sessions cannot go on creating silences.
    #[tokio::test]
    pub async fn rotating_the_token_ends_the_sessions_made_with_it() {
        let env = TestEnv::new().await;
        let token_file = env.dir.path().join("console_token");
        std::fs::write(&token_file, CONSOLE_TOKEN).unwrap();
        let port = with_console(
            &env,
            &format!("token_file = \"{}\"\n", token_file.display()),
        );
        let daemon = Daemon::start(&env, &[]);
        wait_for_console(port).await;
        let (cookie, _) = sign_in(port).await;
        assert!(get_page(port, "/rules", &cookie).await.contains("Rules"));
        std::fs::write(&token_file, "a-new-token-7f3e").unwrap();
        let r = browser()
            .get(url(port, "/rules"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "a session of the old token");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login")
        );
        let r = post_token(port, "a-new-token-7f3e", "/").await;
        assert_eq!(r.status(), 303);
        assert!(set_cookie(&r, "expediter_session").is_some());
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
        assert!(
            !log.contains("a-new-token-7f3e") && !log.contains(CONSOLE_TOKEN),
            "{log}"
        );
    }
}

both_backends! {
    /// One validation for the CLI, the pages and the API: every refusal names its field (a
    /// wrong type, an unknown field, a century), every oversized body is 413, and a silence of
    /// a task no listing has seen says so in its answer.
    #[tokio::test]
    pub async fn the_api_names_the_field_it_refuses_and_caps_every_body() {
        let (_env, daemon, port) = console_env("").await;
        let post = |path: &'static str, body: String| {
            browser()
                .post(url(port, path))
                .bearer_auth(CONSOLE_TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        for (path, body, field) in [
            ("/api/v1/silences", r#"{"task_id": "t-old", "for": "200000y"}"#, "for"),
            ("/api/v1/silences", r#"{"task_id": 5, "for": "1h"}"#, "task_id"),
            ("/api/v1/silences", r#"{"task_id": "t-old", "for": "1h", "colour": "red"}"#, "colour"),
            ("/api/v1/silences", r#"{"task_id": "t,old", "for": "1h"}"#, "task_id"),
            ("/api/v1/away", r#"{"user_id": "u1", "for": "1d", "deputy": "u2,u3"}"#, "deputy"),
            ("/api/v1/away", r#"{"user_id": ["u1"], "for": "1d"}"#, "user_id"),
            ("/api/v1/away", r#"{"user_id": "u1", "until": "202031-01-01"}"#, "until"),
        ] {
            let r = post(path, body.to_owned()).await.unwrap();
            assert_eq!(r.status(), 400, "{path} {body}");
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["field"], field, "{path} {body}: {answer}");
        }
        let big = format!(r#"{{"task_id": "t-old", "reason": "{}"}}"#, "x".repeat(17 * 1024));
        for path in ["/api/v1/silences", "/api/v1/away"] {
            let r = post(path, big.clone()).await.unwrap();
            assert_eq!(r.status(), 413, "{path}");
        }
        let r = post("/api/v1/silences", r#"{"task_id": "never-seen", "for": "1h"}"#.into()).await.unwrap();
        assert_eq!(r.status(), 201);
        let answer: Value = r.json().await.unwrap();
        assert!(answer["warning"].as_str().is_some_and(|w| w.contains("never-seen")), "{answer}");
        let (code, _, log) = daemon.stop().await;
        assert_eq!(code, 0, "{log}");
    }
}
