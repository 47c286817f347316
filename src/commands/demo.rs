//! `expediter demo`: a simulated Feishu on loopback with sample tasks, two real cycles of the
//! daemon's own code against it (now, and half a day on), then what was expedited, the plan, a
//! digest and the report.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::domain::{Family, family_of};
use crate::fake::{FakeFeishu, FakeTask};
use crate::startup::{EXIT_FAILED, EXIT_OK, engine_for, load_config};

const HOUR: u64 = 3600;

fn sample_tasks() -> Vec<FakeTask> {
    let h = |n: u64| Duration::from_secs(n * HOUR);
    vec![
        FakeTask::new("7301", &["1001"], h(30))
            .label("报销：差旅费 3,200 元", "Expense: travel 3,200")
            .initiator("2001", "Zhao Lei"),
        FakeTask::new("7302", &["1001", "1002"], h(80))
            .label("报销：设备采购", "Expense: equipment")
            .initiator("2002", "Qian Mei"),
        FakeTask::new("7303", &["1002"], h(5))
            .label("报销：团建", "Expense: team event")
            .initiator("2003", "Sun Hao"),
        FakeTask::new("7304", &["1002"], h(50))
            .label("合同审批：年度框架协议", "Contract: annual framework")
            .initiator("2001", "Zhao Lei"),
        FakeTask::new("7305", &["1003"], h(120))
            .label("请假：年假 3 天", "Leave: 3 days")
            .initiator("2004", "Li Na"),
        FakeTask::new("7306", &["1003"], h(10))
            .label("请假：病假", "Leave: sick")
            .initiator("2005", "Zhou Yu"),
        FakeTask::new("7307", &["1003"], h(72))
            .label("采购申请：服务器", "Purchase: servers")
            .initiator("2002", "Qian Mei"),
        FakeTask::new("7308", &["1001"], h(2))
            .label("报销：打车", "Expense: taxi")
            .initiator("2006", "Wu Di"),
        FakeTask::new("7309", &["1004"], h(240))
            .label("用印申请", "Seal request")
            .initiator("2003", "Sun Hao"),
        FakeTask::new("7310", &["1004"], h(26))
            .label("报销：办公用品", "Expense: office supplies")
            .initiator("2004", "Li Na"),
        FakeTask::new("7311", &["1004", "1003"], h(49))
            .label("付款申请：供应商", "Payment: supplier")
            .initiator("2005", "Zhou Yu"),
        FakeTask::new("7312", &["1005"], h(100))
            .label("报销：培训费", "Expense: training")
            .initiator("2006", "Wu Di"),
    ]
}

fn demo_config(base_url: &str, database: &std::path::Path, console: Option<&Console>) -> String {
    let console = console.map_or(String::new(), |c| {
        format!(
            "\n[console]\nlisten = \"127.0.0.1:{}\"\nsign_in = \"token\"\ntoken = \"{}\"\n",
            c.port, c.token
        )
    });
    format!(
        r#"# Written by `expediter demo`; the simulated Feishu accepts 600 calls a minute.
[feishu]
base_url = "{base_url}"
app_id = "cli_demo"
app_secret = "demo-secret"
requests_per_minute = 600
request_timeout = "5s"

[schedule]
cron = "0 */10 * * * *"
timezone = "Asia/Shanghai"

[storage]
database = "{database}"

[expedite]
operator_user_id = "7000"

[[users]]
id = "1001"
name = "Zhang San"
team = "finance"

[[users]]
id = "1002"
name = "Li Si"
team = "finance"

[[users]]
id = "1003"
name = "Wang Wu"
team = "ops"

[[users]]
id = "1004"
name = "Chen Liu"
team = "ops"

[[rules]]
name = "finance-expenses"
teams = ["finance"]
label = "报销*"
after = "24h"
repeat = "12h"
max_times = 3
opinion = "「{{label}}」已等待 {{age}}，请尽快处理（第 {{n}} 次催办）"
[rules.escalate]
after_times = 1
wait = "12h"
cc = ["7000"]
chat = true
chat_name = "催办：{{label}}"

[[rules]]
name = "everyone-else"
after = "48h"
operator_user_id = "initiator"
opinion = "{{initiator}} 的「{{label}}」已等待 {{age}}，麻烦 {{user}} 尽快处理"

[away]
deputy_action = "transfer"
opinion = "{{user}} 休假至 {{until}}，「{{label}}」已转给 {{deputy}}"

[[digests]]
name = "team-daily"
cron = "0 30 9 * * mon-fri"
webhook_url = "{base_url}/open-apis/bot/v2/hook/demo"
min_age = "24h"
{console}"#,
        database = database.display().to_string().replace('\\', "\\\\")
    )
}

/// `demo --console`: the console's port (already bound) and its token.
pub struct Console {
    pub port: u16,
    pub token: String,
}

/// A demo that ran, kept up for its console: the engine, the simulated Feishu it talks to,
/// and the directory holding its config and database.
pub struct Demo {
    pub engine: crate::cycle::Engine,
    pub fake: FakeFeishu,
    pub code: u8,
    pub config_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub async fn demo(keep: Option<std::path::PathBuf>, clicks: &Clicks) -> anyhow::Result<u8> {
    let kept = keep.is_some();
    let d = run(keep, None, clicks).await?;
    d.engine.store.close().await;
    if kept {
        println!(
            "\nKept: {} and its database. Its [feishu] section points at this demo's simulated Feishu, which is gone now: put your app's base_url, app_id and secret there (see config.example.toml), your users and rules, then `expediter -c {} check`.",
            d.config_path.display(),
            d.config_path.display()
        );
    }
    Ok(d.code)
}

/// The demo's two cycles and what they did, printed; the engine and the simulated Feishu are
/// handed back (`demo --console` keeps them up).
pub async fn run(
    keep: Option<std::path::PathBuf>,
    console: Option<&Console>,
    clicks: &Clicks,
) -> anyhow::Result<Demo> {
    let fake = FakeFeishu::start("cli_demo", "demo-secret").await?;
    for t in sample_tasks() {
        fake.add_task(t);
    }
    // A directory of its own, deleted at the end unless kept.
    let temp = tempfile::tempdir()?;
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| {
                anyhow::anyhow!("cannot create --keep directory {}: {e}", d.display())
            })?;
            let d = std::fs::canonicalize(d)?;
            for f in ["config.toml", "expediter.db"] {
                if d.join(f).exists() {
                    anyhow::bail!(
                        "{} exists already; give --keep an empty or new directory",
                        d.join(f).display()
                    );
                }
            }
            d
        }
        None => temp.path().to_path_buf(),
    };
    let config_path = dir.join("config.toml");
    std::fs::write(
        &config_path,
        demo_config(&fake.url(), &dir.join("expediter.db"), console),
    )?;
    println!(
        "Simulated Feishu at {} with 12 pending tasks for 5 users (4 of them watched).",
        fake.url()
    );
    match &keep {
        Some(_) => println!("Config: {} (kept) — rules:", config_path.display()),
        None => println!(
            "Config: {} (deleted when the demo ends; `expediter demo --keep DIR` keeps it) — rules:",
            config_path.display()
        ),
    }
    let config = load_config(&config_path)?;
    for r in &config.rules {
        println!("  {}", r.describe(&config.policy()));
    }
    let engine = engine_for(config, crate::clock::Clock::system()).await?;
    // Chen Liu is on leave this week, Zhou Qi (1005) standing in: nothing reminds Chen Liu
    // meanwhile, and each of their tasks goes to Zhou Qi as it falls due.
    let now = engine.clock.now();
    engine
        .store
        .add_away(
            &crate::store::NewAway {
                user_id: "1004",
                from: now,
                until: now + chrono::TimeDelta::days(7),
                deputy: Some("1005"),
                reason: "annual leave",
                created_by: "demo",
            },
            now,
        )
        .await?;
    println!(
        "Chen Liu (1004) is away for a week, 1005 standing in (`expediter away add`): nothing reminds them meanwhile, and with [away] deputy_action = \"transfer\" each of their tasks goes to 1005 as it falls due."
    );
    println!("\nRunning a cycle…");
    let report = engine.run_cycle(false).await?;
    println!("\n{}\n", report.summary());

    let ledger = engine.store.expedites().await?;
    let sent: Vec<_> = ledger
        .iter()
        .filter(|e| family_of(&e.kind) == Some(Family::Reminder))
        .collect();
    println!("Expedited ({} call(s)):", sent.len());
    for e in &sent {
        let who: Vec<String> = e
            .assignees
            .iter()
            .map(|(u, n)| format!("{u} (#{n})"))
            .collect();
        println!(
            "  task {} → {} by rule {}, as {}: {} [{}]",
            e.task_id,
            who.join(", "),
            e.rule,
            e.operator_id,
            e.opinion,
            e.outcome
        );
    }
    let received = fake.expedites();
    println!(
        "(the simulated Feishu received {} expediting call(s))",
        received.len()
    );
    let moves: Vec<_> = ledger
        .iter()
        .filter(|e| family_of(&e.kind) == Some(Family::Move))
        .collect();
    println!("Moved to the deputy ({} call(s)):", moves.len());
    for e in &moves {
        let from: Vec<&str> = e.assignees.iter().map(|(u, _)| u.as_str()).collect();
        println!(
            "  task {} from {} ({}): {} [{}]",
            e.task_id,
            from.join(", "),
            e.kind,
            e.opinion,
            e.outcome
        );
    }
    for m in fake.moves() {
        println!(
            "  (the simulated Feishu moved task {} from {} to {})",
            m.task_id,
            m.from_user_ids.join(", "),
            m.to_user_ids.join(", ")
        );
    }

    // Half a day on, nobody has acted: the finance reminders repeat, and their rule escalates.
    // The engine's clock moves; nothing sleeps.
    engine
        .clock
        .advance(std::time::Duration::from_secs(12 * 3600 + 60));
    println!("\nHalf a day later, nobody has acted. Running another cycle…");
    let later = engine.run_cycle(false).await?;
    println!("\n{}\n", later.summary());
    let repeated: Vec<_> = engine
        .store
        .expedites()
        .await?
        .into_iter()
        .filter(|e| {
            family_of(&e.kind) == Some(Family::Reminder) && !sent.iter().any(|s| s.id == e.id)
        })
        .collect();
    println!("Expedited again ({} call(s)):", repeated.len());
    for e in &repeated {
        let who: Vec<String> = e
            .assignees
            .iter()
            .map(|(u, n)| format!("{u} (#{n})"))
            .collect();
        println!(
            "  task {} → {} by rule {}: {} [{}]",
            e.task_id,
            who.join(", "),
            e.rule,
            e.opinion,
            e.outcome
        );
    }
    let escalations: Vec<_> = engine
        .store
        .expedites()
        .await?
        .into_iter()
        .filter(|e| matches!(e.kind.as_str(), "cc" | "chat"))
        .collect();
    println!("Escalated ({} call(s)):", escalations.len());
    for e in &escalations {
        let who: Vec<&str> = e.assignees.iter().map(|(u, _)| u.as_str()).collect();
        let what = if e.kind == "cc" {
            "task copied to the lead (cc)".to_owned()
        } else {
            format!("group chat \"{}\"", e.opinion)
        };
        println!(
            "  task {} for {}: {what} [{}]",
            e.task_id,
            who.join(", "),
            e.outcome
        );
    }
    let (ccs, chats) = (fake.ccs(), fake.chats());
    println!(
        "(the simulated Feishu received {} cc and {} chat_group call(s))",
        ccs.len(),
        chats.len()
    );

    let pairs = engine.store.pending_pairs().await?;
    let now = engine.clock.now();
    let today = crate::domain::calls::day_start(now, engine.config.schedule.timezone);
    let sent_today = engine.store.reminders_since(today).await?;
    let entries = crate::plan::build(&engine.config, &pairs, now, &sent_today);
    println!(
        "\nPlan:\n{}",
        crate::plan::render_table(
            &entries,
            crate::plan::Layout {
                wide: false,
                lang: crate::i18n::Lang::from_env(),
                tz: engine.config.schedule.timezone,
            },
        )
    );

    // What the team chat would get at 09:30 (a dry run: printed, not posted).
    let digest = &engine.config.digests[0];
    let message = crate::digest::build(&engine.config, digest, &engine.store, now).await?;
    println!(
        "Digest \"{}\" (dry run, {} bytes):\n{}",
        digest.name,
        message.to_string().len(),
        serde_json::to_string_pretty(&message)?
    );
    bot(&engine, &fake.url(), &config_path, clicks).await?;
    println!();
    super::report::report(
        &engine.config,
        super::report::Options {
            since: "30d".into(),
            by: crate::domain::report::GroupBy::Rule,
            json: false,
            html: None,
        },
        now,
    )
    .await?;
    let code = if report.ok() && later.ok() && received.len() == sent.len() {
        EXIT_OK
    } else {
        EXIT_FAILED
    };
    Ok(Demo {
        engine,
        fake,
        code,
        config_path,
        _dir: temp,
    })
}

/// What answers the demo's card clicks, for an engine: the console's card service (handed in
/// by the caller, the console being above the commands).
pub type Clicks = dyn Fn(crate::cycle::Engine) -> crate::bot::link::Handler + Sync;

/// What the demo adds to show the app's bot: the finance lead (known from a sign-in with
/// Feishu), the bot, and a digest to each lead.
const BOT_DEMO: &str = r#"
[console]
listen = "127.0.0.1:9"
public_url = "http://127.0.0.1:9"
sign_in = "feishu"
admins = ["ou_demo_admin"]

[[teams]]
name = "finance"
leads = ["ou_demo_lead"]

[bot]
enabled = true

[[digests]]
name = "leads-by-bot"
cron = "0 0 9 * * mon-fri"
via = "bot"
to = "leads"
"#;

/// The digest through the app's bot — the finance lead's card, buttons on each line — and
/// the lead's click on Snooze 1d, answered as the long connection would deliver it.
async fn bot(
    engine: &crate::cycle::Engine,
    base_url: &str,
    config_path: &std::path::Path,
    clicks: &Clicks,
) -> anyhow::Result<()> {
    let database = engine.store.name();
    let db = std::path::Path::new(database.strip_prefix("sqlite:").unwrap_or(database));
    let text = format!("{}{BOT_DEMO}", demo_config(base_url, db, None));
    let config = crate::config::Config::parse(&text, config_path, false)?;
    let mut engine = engine.clone();
    engine.config = std::sync::Arc::new(config);
    let config = engine.config.clone();
    let digest = config
        .digests
        .iter()
        .find(|d| d.name == "leads-by-bot")
        .ok_or_else(|| anyhow::anyhow!("the demo's bot digest is missing"))?;
    let now = engine.clock.now();
    let to = crate::bot::send::recipients(&config, digest)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the demo's bot digest has no lead"))?;
    let cards = crate::bot::send::cards_for(&config, digest, &engine.store, now, &to).await?;
    println!(
        "\nDigest \"{}\" through the app's bot ([bot] enabled, via = \"bot\", to = \"leads\"): \
         the finance lead's card, with buttons on each line (a dry run: not sent):",
        digest.name
    );
    for card in &cards {
        println!("{}", crate::bot::card::preview(card));
    }
    let Some(snooze) = cards.first().and_then(first_snooze) else {
        return Ok(());
    };
    // The lead signed in to the console once: the click knows who they are.
    engine
        .store
        .remember_person("ou_demo_lead", "Demo Lead", None, now)
        .await?;
    let click = crate::fake::longconn::card_click("demo-click", "ou_demo_lead", snooze.clone());
    let answer_click = clicks(engine.clone());
    let answer = answer_click(click.clone()).await.unwrap_or_default();
    println!(
        "The lead presses [{}] on task {}'s line: Feishu delivers card.action.trigger, the \
         answer is the toast \"{}\" and the card redrawn:",
        config.expedite.language.t("card-snooze-1d"),
        snooze["t"].as_str().unwrap_or(""),
        answer["toast"]["content"].as_str().unwrap_or("")
    );
    if answer["card"]["data"].is_object() {
        println!("{}", crate::bot::card::preview(&answer["card"]["data"]));
    }
    let again = answer_click(click).await.unwrap_or_default();
    println!(
        "Delivered twice, it acts once: \"{}\" ({} silence(s) from cards).",
        again["toast"]["content"].as_str().unwrap_or(""),
        engine
            .store
            .silences(false, now)
            .await?
            .iter()
            .filter(|s| s.created_by.ends_with("via card"))
            .count()
    );
    Ok(())
}

/// The first Snooze button's value on a card.
fn first_snooze(card: &serde_json::Value) -> Option<serde_json::Value> {
    let mut stack = vec![card];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(value) = map.get("value")
                    && value["a"] == "snooze"
                {
                    return Some(value.clone());
                }
                let mut children: Vec<&serde_json::Value> = map.values().collect();
                children.reverse();
                stack.extend(children);
            }
            serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
            _ => {}
        }
    }
    None
}
