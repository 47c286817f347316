//! A digest card, purely: the selected pending tasks grouped by assignee, most overdue first,
//! cut with "and N more" so the message stays under the custom bot's body limit; and the
//! bot's signature.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::i18n::Lang;

/// Feishu refuses custom-bot bodies over 20 KB.
pub const BODY_LIMIT: usize = 20 * 1024;
/// Room kept for `timestamp` and `sign`, added after the card is built.
pub const SIGNATURE_ROOM: usize = 96;

/// One pending (task, assignee) for a digest.
#[derive(Debug, Clone)]
pub struct Item {
    pub assignee: String,
    /// The assignee's id (the app bot's buttons name it).
    pub user_id: String,
    /// Every reminder sent and still waiting, or escalated: the lead's work.
    pub needs_you: bool,
    pub task_id: String,
    pub label: String,
    pub age: Duration,
    pub reminders: u32,
    pub escalated: bool,
    pub silenced: bool,
    /// The assignee is away until then (as shown).
    pub away: Option<String>,
    /// The task's page in the console (`[console] public_url` set).
    pub link: Option<String>,
}

/// `text` safe inside a `lark_md` element: each character lark_md gives a meaning (emphasis,
/// links, tags, entities, code) is written as a numeric HTML entity, so a label someone typed
/// shows as typed and never becomes a link; the rest (a hyphen, a colon in words) stays as it
/// is.
pub fn md_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' | '<' | '>' | '*' | '~' | '_' | '[' | ']' | '(' | ')' | '`' | '\\' => {
                out.push_str(&format!("&#{};", c as u32));
            }
            // `scheme://` would be made a link by itself: its colon is written as an entity.
            ':' if chars.peek() == Some(&'/') => out.push_str("&#58;"),
            // A line break would end the task's line (and its link) early.
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// What the chat shows of a card, as text: the title, each block's lines (links as their text,
/// entities as the characters they stand for), rules between people, the button, the note.
pub fn preview(message: &Value) -> String {
    let card = &message["card"];
    let mut out = String::new();
    if let Some(title) = card["header"]["title"]["content"].as_str() {
        out.push_str(title);
        out.push('\n');
    }
    for e in card["elements"].as_array().into_iter().flatten() {
        match e["tag"].as_str() {
            Some("div") => {
                let text = e["text"]["content"].as_str().unwrap_or("");
                let md = e["text"]["tag"] == "lark_md";
                out.push_str(&if md { md_plain(text) } else { text.to_owned() });
                out.push('\n');
            }
            Some("hr") => out.push_str("────────\n"),
            Some("action") => {
                for a in e["actions"].as_array().into_iter().flatten() {
                    let label = a["text"]["content"].as_str().unwrap_or("");
                    let url = a["url"].as_str().unwrap_or("");
                    out.push_str(&format!("[ {label} ] {url}\n"));
                }
            }
            Some("note") => {
                for n in e["elements"].as_array().into_iter().flatten() {
                    out.push_str(n["content"].as_str().unwrap_or(""));
                    out.push('\n');
                }
            }
            _ => {}
        }
    }
    out
}

/// lark_md as the chat shows it: `[text](url)` as its text, `&#N;` as its character.
pub fn md_plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['[', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('[')
            && let Some(close) = rest.find("](")
            && let Some(end) = rest[close..].find(')')
        {
            out.push_str(&md_plain(&rest[1..close]));
            rest = &rest[close + end + 1..];
            continue;
        }
        if rest.starts_with("&#")
            && let Some(semi) = rest.find(';')
            && let Some(c) = rest[2..semi].parse::<u32>().ok().and_then(char::from_u32)
        {
            out.push(c);
            rest = &rest[semi + 1..];
            continue;
        }
        out.push_str(&rest[..1]);
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

/// The message (`msg_type` interactive) for digest `name`, its serialized body under
/// `limit` bytes: the oldest tasks are kept, each assignee's cut ones counted as "and N more".
pub fn message(
    lang: Lang,
    name: &str,
    subtitle: &str,
    mut items: Vec<Item>,
    button: Option<&str>,
    limit: usize,
) -> Value {
    items.sort_by(|a, b| b.age.cmp(&a.age).then_with(|| a.task_id.cmp(&b.task_id)));
    let fits = |keep: usize| {
        serde_json::to_vec(&card(lang, name, subtitle, &items, button, keep))
            .map_or(usize::MAX, |b| b.len())
            <= limit
    };
    // The most tasks that fit, oldest first (the size grows with every task kept).
    let (mut lo, mut hi) = (0, items.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    card(lang, name, subtitle, &items, button, lo)
}

/// The card showing the first `keep` of `items` (sorted most overdue first).
fn card(
    lang: Lang,
    name: &str,
    subtitle: &str,
    items: &[Item],
    button: Option<&str>,
    keep: usize,
) -> Value {
    // With links, lines are lark_md (labels escaped); without, plain text.
    let md = items.iter().any(|i| i.link.is_some());
    let text = |t: &str| if md { md_escape(t) } else { t.to_owned() };
    let oldest = items.first().map(|i| lang.age(i.age));
    // Items are (task, assignee) pairs: a task shared by two people is one task.
    let tasks: std::collections::HashSet<&str> = items.iter().map(|i| i.task_id.as_str()).collect();
    let people: std::collections::HashSet<&str> =
        items.iter().map(|i| i.assignee.as_str()).collect();
    let title = match oldest {
        Some(o) => lang.with(
            "digest-title",
            &[
                ("name", name.into()),
                ("tasks", tasks.len().into()),
                ("people", people.len().into()),
                ("oldest", o.into()),
            ],
        ),
        None => lang.with("digest-nothing", &[("name", name.into())]),
    };
    // Assignees in the order of their most overdue task.
    let mut order: Vec<&str> = Vec::new();
    for i in items {
        if !order.contains(&i.assignee.as_str()) {
            order.push(&i.assignee);
        }
    }
    let mut elements = Vec::new();
    for who in order {
        let theirs: Vec<(usize, &Item)> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.assignee == who)
            .collect();
        let mut lines = vec![lang.with(
            "digest-person",
            &[("who", text(who).into()), ("n", theirs.len().into())],
        )];
        let mut more = 0;
        for (idx, i) in &theirs {
            if *idx >= keep {
                more += 1;
                continue;
            }
            let label = match &i.link {
                Some(url) if md => format!("[{}]({url})", text(&i.label)),
                _ => text(&i.label),
            };
            let mut line = format!("• {label} · {}", lang.age(i.age));
            if i.reminders > 0 {
                line.push_str(" · ");
                line.push_str(&lang.n("digest-reminded", u64::from(i.reminders)));
            }
            if i.escalated {
                line.push_str(" · ");
                line.push_str(&lang.t("digest-escalated"));
            }
            if i.silenced {
                line.push_str(" · ");
                line.push_str(&lang.t("digest-silenced"));
            }
            if let Some(until) = &i.away {
                line.push_str(" · ");
                line.push_str(&text(
                    &lang.with("digest-away", &[("until", until.as_str().into())]),
                ));
            }
            lines.push(line);
        }
        if more > 0 {
            lines.push(lang.n("digest-more", more));
        }
        let tag = if md { "lark_md" } else { "plain_text" };
        elements.push(json!({"tag": "div", "text": {"tag": tag, "content": lines.join("\n")}}));
        elements.push(json!({"tag": "hr"}));
    }
    elements.pop();
    if let Some(url) = button {
        // A custom bot's card may carry buttons that open a URL (never callbacks).
        elements.push(json!({"tag": "action", "actions": [{
            "tag": "button",
            "text": {"tag": "plain_text", "content": lang.t("digest-open")},
            "type": "primary",
            "url": url,
        }]}));
    }
    elements.push(json!({"tag": "note", "elements": [{"tag": "plain_text", "content": subtitle}]}));
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {
                "template": if items.is_empty() { "green" } else { "orange" },
                "title": {"tag": "plain_text", "content": title},
            },
            "elements": elements,
        }
    })
}

/// The custom bot's signature: Base64(HMAC-SHA256) keyed by `timestamp + "\n" + secret`, over
/// an empty message (the key is the joined string, not the secret).
pub fn sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_platform_example() {
        // Feishu's example, computed outside the product: timestamp 1599360473, secret
        // demo_secret (HMAC-SHA256 keyed by "1599360473\ndemo_secret" over "", Base64).
        assert_eq!(
            sign(1599360473, "demo_secret"),
            "sdR0eS36UO/d4NpAyDr6RpCJWLJtcheypjGCjiZTm0o="
        );
    }

    fn item(who: &str, task: usize, hours: u64) -> Item {
        Item {
            assignee: who.into(),
            user_id: who.into(),
            needs_you: false,
            task_id: format!("t{task:04}"),
            label: format!("报销审批 {task} — 一个相当长的标签，用来撑大卡片的字节数"),
            age: Duration::from_secs(hours * 3600),
            reminders: 2,
            escalated: task.is_multiple_of(7),
            silenced: task.is_multiple_of(11),
            away: None,
            link: None,
        }
    }

    #[test]
    fn the_body_stays_under_the_limit_and_counts_what_it_cut() {
        let items: Vec<Item> = (0..500)
            .map(|i| item(["Zhang San", "Li Si", "Wang Wu"][i % 3], i, 24 + i as u64))
            .collect();
        let msg = message(
            Lang::En,
            "finance",
            "tasks at least 1d old",
            items,
            None,
            BODY_LIMIT - SIGNATURE_ROOM,
        );
        let body = serde_json::to_vec(&msg).unwrap();
        assert!(body.len() <= BODY_LIMIT - SIGNATURE_ROOM, "{}", body.len());
        assert!(
            body.len() > BODY_LIMIT / 2,
            "the room is used: {}",
            body.len()
        );
        let text = msg.to_string();
        assert!(text.contains("and ") && text.contains(" more"), "{text}");
        assert!(text.contains("500 pending tasks with 3 people"), "{text}");
        // The oldest task is kept.
        assert!(text.contains("报销审批 499 "), "{text}");
    }

    #[test]
    fn with_the_console_each_task_links_to_its_page_and_labels_stay_text() {
        let mut evil = item("A", 1, 30);
        evil.label = "[click](https://evil.example) **now**".into();
        evil.link = Some("https://exp.corp/tasks/t0001".into());
        let mut plain = item("B", 2, 50);
        plain.link = Some("https://exp.corp/tasks/t0002".into());
        let msg = message(
            Lang::En,
            "d",
            "n",
            vec![evil, plain],
            Some("https://exp.corp/tasks?team=finance"),
            BODY_LIMIT,
        );
        let div = &msg["card"]["elements"][2]["text"];
        assert_eq!(div["tag"], "lark_md");
        let content = div["content"].as_str().unwrap();
        assert!(content.starts_with("A — 1 task\n"), "{content}");
        assert!(
            content.contains("(https://exp.corp/tasks/t0001)"),
            "{content}"
        );
        assert!(
            !content.contains("[click]") && !content.contains("https://evil.example)"),
            "{content}"
        );
        assert!(
            content.contains(
                "&#91;click&#93;&#40;https&#58;//evil.example&#41; &#42;&#42;now&#42;&#42;"
            ),
            "{content}"
        );
        let actions = msg["card"]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["tag"] == "action")
            .unwrap();
        assert_eq!(
            actions["actions"][0]["url"],
            "https://exp.corp/tasks?team=finance"
        );
    }

    #[test]
    fn an_away_assignee_is_marked() {
        let mut away = item("A", 1, 30);
        away.away = Some("12-24 09:00".into());
        let text = message(
            Lang::En,
            "d",
            "n",
            vec![away, item("B", 2, 50)],
            None,
            BODY_LIMIT,
        )
        .to_string();
        assert!(text.contains(" · away until 12-24 09:00"), "{text}");
        assert_eq!(text.matches("away until").count(), 1, "{text}");
    }

    #[test]
    fn small_digests_are_whole() {
        let msg = message(
            Lang::En,
            "d",
            "n",
            vec![item("A", 1, 30), item("B", 2, 50)],
            None,
            BODY_LIMIT,
        );
        let text = msg.to_string();
        assert!(!text.contains("more"), "{text}");
        // B's task is older: B comes first.
        assert!(
            text.find("B — 1").unwrap() < text.find("A — 1").unwrap(),
            "{text}"
        );
        assert_eq!(msg["msg_type"], "interactive");
    }

    /// A task shared by two assignees is one task, shown under each of them.
    #[test]
    fn the_title_counts_tasks_and_people_not_assignments() {
        let items = vec![
            item("A", 1, 40),
            item("B", 1, 40),
            item("B", 2, 30),
            item("C", 3, 20),
        ];
        let text = message(Lang::En, "d", "n", items, None, BODY_LIMIT).to_string();
        assert!(text.contains("d: 3 pending tasks with 3 people"), "{text}");
        let one = message(Lang::En, "d", "n", vec![item("A", 1, 40)], None, BODY_LIMIT).to_string();
        assert!(one.contains("d: 1 pending task with 1 person"), "{one}");
    }

    #[test]
    fn signature_matches_the_platform_rule() {
        // Computed independently: key = "1700000000\nsecret", message empty.
        let mac = {
            let mut m = Hmac::<Sha256>::new_from_slice(b"1700000000\nsecret").unwrap();
            m.update(b"");
            m.finalize().into_bytes()
        };
        let want = base64::engine::general_purpose::STANDARD.encode(mac);
        assert_eq!(sign(1_700_000_000, "secret"), want);
        assert_ne!(sign(1_700_000_000, "secret"), sign(1_700_000_001, "secret"));
    }

    #[test]
    fn a_card_speaks_the_configured_language_and_escapes_only_what_lark_md_needs() {
        let mut a = item("张三", 1, 26);
        a.label = "报销-差旅: Q3 (紧急) *加急*".into();
        a.link = Some("https://exp.corp/tasks/t0001".into());
        a.reminders = 2;
        a.away = Some("12-08 09:00".into());
        let msg = message(Lang::Zh, "财务", "expediter", vec![a], None, BODY_LIMIT);
        let title = msg["card"]["header"]["title"]["content"].as_str().unwrap();
        assert_eq!(title, "财务：1 个待办任务，涉及 1 人，最久已等待 1天2小时");
        let content = msg["card"]["elements"][0]["text"]["content"]
            .as_str()
            .unwrap();
        assert!(content.starts_with("张三 — 1 个任务\n"), "{content}");
        assert!(
            content.contains("· 1天2小时 · 已催办 2 次 · 不在，至 12-08 09:00"),
            "{content}"
        );
        // A hyphen and a colon stay; parentheses and emphasis do not become markdown.
        assert!(
            content.contains(
                "[报销-差旅: Q3 &#40;紧急&#41; &#42;加急&#42;](https://exp.corp/tasks/t0001)"
            ),
            "{content}"
        );
        let empty = message(Lang::Zh, "财务", "expediter", vec![], None, BODY_LIMIT);
        assert_eq!(
            empty["card"]["header"]["title"]["content"],
            "财务：没有待办任务"
        );
        let one = message(
            Lang::En,
            "finance",
            "n",
            vec![item("A", 1, 26)],
            None,
            BODY_LIMIT,
        );
        assert_eq!(
            one["card"]["header"]["title"]["content"],
            "finance: 1 pending task with 1 person, the oldest 1d 2h"
        );
    }

    #[test]
    fn the_preview_shows_what_the_chat_shows() {
        let mut a = item("张三", 1, 26);
        a.label = "报销-差旅 (紧急) [x](y)".into();
        a.link = Some("https://exp.corp/tasks/t0001".into());
        let msg = message(
            Lang::Zh,
            "财务",
            "expediter",
            vec![a],
            Some("https://exp.corp/tasks"),
            BODY_LIMIT,
        );
        let text = preview(&msg);
        assert!(text.starts_with("财务：1 个待办任务"), "{text}");
        assert!(
            text.contains("• 报销-差旅 (紧急) [x](y) · 1天2小时"),
            "{text}"
        );
        assert!(
            text.contains("[ 在控制台中打开 ] https://exp.corp/tasks"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("expediter"), "{text}");
    }
}
