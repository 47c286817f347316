//! The digest as the app's bot sends it: a card (JSON 2.0) with, on each task's line, buttons
//! that call back — Snooze 1d, Snooze 3d — and Open (the console's task page); a line a card
//! snoozed says so, with Undo. Split into cards of at most 30 KB.

use serde_json::{Value, json};

use crate::domain::digest::{Item, md_escape};
use crate::i18n::Lang;

/// A card's most bytes (the platform's limit for a card).
pub const CARD_LIMIT: usize = 30 * 1024;

/// A silence a card made, shown on its line.
#[derive(Debug, Clone)]
pub struct Snoozed {
    pub silence_id: i64,
    /// "1d", "3d".
    pub span: String,
    /// Who clicked, by name.
    pub by: String,
}

/// One line of the card: the digest's item, and the silence a card made on it.
#[derive(Debug, Clone)]
pub struct Line {
    pub item: Item,
    pub snoozed: Option<Snoozed>,
}

/// What a button's callback carries: the act, and enough to redraw the card it sits on.
pub fn value(act: &str, digest: &str, lead: Option<&str>, extra: Value) -> Value {
    let mut v = json!({"a": act, "g": digest, "l": lead.unwrap_or("")});
    if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v
}

fn button(text: &str, kind: &str, behavior: Value) -> Value {
    json!({
        "tag": "button",
        "text": {"tag": "plain_text", "content": text},
        "type": kind,
        "size": "small",
        "behaviors": [behavior],
    })
}

/// The elements of one line: its text and its buttons in a row.
fn line_elements(lang: Lang, digest: &str, lead: Option<&str>, l: &Line) -> Vec<Value> {
    let i = &l.item;
    let mut text = format!(
        "• {} · {} · {}",
        md_escape(&i.assignee),
        md_escape(&i.label),
        lang.age(i.age)
    );
    if i.reminders > 0 {
        text.push_str(" · ");
        text.push_str(&lang.n("digest-reminded", u64::from(i.reminders)));
    }
    if i.escalated {
        text.push_str(" · ");
        text.push_str(&lang.t("digest-escalated"));
    }
    if let Some(until) = &i.away {
        text.push_str(" · ");
        text.push_str(&md_escape(
            &lang.with("digest-away", &[("until", until.as_str().into())]),
        ));
    }
    let mut buttons = Vec::new();
    match &l.snoozed {
        Some(s) => {
            text.push_str(" · ");
            text.push_str(&md_escape(&lang.with(
                "card-snoozed",
                &[
                    ("span", span_words(lang, &s.span).into()),
                    ("by", s.by.as_str().into()),
                ],
            )));
            buttons.push(button(
                &lang.t("card-undo"),
                "default",
                json!({
                    "type": "callback",
                    "value": value("undo", digest, lead,
                        json!({"s": s.silence_id, "t": i.task_id, "u": i.user_id})),
                }),
            ));
        }
        None if i.silenced => {
            text.push_str(" · ");
            text.push_str(&lang.t("digest-silenced"));
        }
        None => {
            for (span, key) in [("1d", "card-snooze-1d"), ("3d", "card-snooze-3d")] {
                buttons.push(button(
                    &lang.t(key),
                    "default",
                    json!({"type": "callback", "value": value("snooze", digest, lead,
                        json!({"t": i.task_id, "u": i.user_id, "d": span}))}),
                ));
            }
        }
    }
    if let Some(url) = &i.link {
        buttons.push(button(
            &lang.t("card-open"),
            "default",
            json!({"type": "open_url", "default_url": url}),
        ));
    }
    let mut out = vec![json!({"tag": "markdown", "content": text})];
    if !buttons.is_empty() {
        out.push(json!({
            "tag": "column_set",
            "flex_mode": "none",
            "horizontal_spacing": "small",
            "columns": buttons.into_iter().map(|b| json!({
                "tag": "column", "width": "auto", "elements": [b],
            })).collect::<Vec<_>>(),
        }));
    }
    out
}

fn card(
    lang: Lang,
    title: &str,
    needs_you: Option<usize>,
    subtitle: &str,
    lines: Vec<Value>,
) -> Value {
    let mut elements = Vec::new();
    if let Some(n) = needs_you {
        let words = lang.n("card-needs-you", n as u64);
        elements.push(json!({"tag": "markdown", "content": format!("**{words}**")}));
    }
    elements.extend(lines);
    elements
        .push(json!({"tag": "markdown", "content": md_escape(subtitle), "text_size": "notation"}));
    json!({
        "schema": "2.0",
        "config": {"update_multi": true},
        "header": {
            "template": if needs_you.unwrap_or(0) > 0 { "orange" } else { "blue" },
            "title": {"tag": "plain_text", "content": title},
        },
        "body": {"elements": elements},
    })
}

/// The digest's cards: every line, oldest first, in as many cards as keep each under
/// [`CARD_LIMIT`] (their titles numbered when there are several). `lead`: a personal card,
/// with "needs you: N" first.
pub fn cards(
    lang: Lang,
    digest: &str,
    lead: Option<&str>,
    subtitle: &str,
    mut lines: Vec<Line>,
) -> Vec<Value> {
    lines.sort_by(|a, b| {
        b.item
            .age
            .cmp(&a.item.age)
            .then_with(|| a.item.task_id.cmp(&b.item.task_id))
    });
    let needs = lead.map(|_| {
        lines
            .iter()
            .filter(|l| l.item.needs_you && l.snoozed.is_none())
            .count()
    });
    let title = |part: Option<(usize, usize)>| {
        let base = lang.with(
            "card-title",
            &[("name", digest.into()), ("n", lines.len().into())],
        );
        match part {
            Some((k, n)) if n > 1 => format!("{base} ({k}/{n})"),
            _ => base,
        }
    };
    // Greedy: each card takes lines while it stays under the limit (with room for a title's
    // part number). A card's size is its frame's plus each element's and a comma.
    let frame = sent_size(&card(
        lang,
        &title(Some((99, 99))),
        needs,
        subtitle,
        Vec::new(),
    ));
    let mut parts: Vec<Vec<Value>> = vec![Vec::new()];
    let mut size = frame;
    for l in &lines {
        let elements = line_elements(lang, digest, lead, l);
        let adds: usize = elements.iter().map(|e| sent_size(e) + 1).sum();
        let last = parts.last_mut().expect("never empty");
        if size + adds > CARD_LIMIT && !last.is_empty() {
            parts.push(elements);
            size = frame + adds;
        } else {
            last.extend(elements);
            size += adds;
        }
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(k, p)| {
            card(
                lang,
                &title(Some((k + 1, n))),
                if k == 0 { needs } else { None },
                subtitle,
                p,
            )
        })
        .collect()
}

/// What a chat shows of a card, as text: the title, each line (entities as the characters
/// they stand for) and its buttons in brackets.
pub fn preview(card: &Value) -> String {
    let mut out = vec![
        card["header"]["title"]["content"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    ];
    for e in card["body"]["elements"].as_array().into_iter().flatten() {
        match e["tag"].as_str() {
            Some("markdown") => out.push(crate::domain::digest::md_plain(
                e["content"].as_str().unwrap_or(""),
            )),
            Some("column_set") => {
                let labels: Vec<String> = e["columns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["elements"].as_array().into_iter().flatten())
                    .filter_map(|b| b["text"]["content"].as_str())
                    .map(|t| format!("[{t}]"))
                    .collect();
                out.push(format!("    {}", labels.join(" ")));
            }
            _ => {}
        }
    }
    out.join("\n")
}

/// The bytes a card (or one of its elements) takes in the message: its JSON as a string inside
/// the message's `content`, quotes escaped.
pub fn sent_size(v: &Value) -> usize {
    serde_json::to_string(&v.to_string()).map_or(usize::MAX, |s| s.len() - 2)
}

/// "1d" as the reader says it: 「1天」, "1d".
pub fn span_words(lang: Lang, span: &str) -> String {
    humantime::parse_duration(span).map_or_else(|_| span.to_owned(), |d| lang.age(d))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn line(n: usize) -> Line {
        Line {
            item: Item {
                assignee: format!("同事 {}", n % 7),
                user_id: format!("u{}", n % 7),
                needs_you: n.is_multiple_of(3),
                task_id: format!("t{n:04}"),
                label: format!("报销审批 {n} — 一个相当长的标签，用来撑大卡片"),
                age: Duration::from_secs(3600 * (n as u64 + 1)),
                reminders: 2,
                escalated: false,
                silenced: false,
                away: None,
                link: Some(format!("https://console.example/tasks/t{n:04}")),
            },
            snoozed: None,
        }
    }

    /// A long digest is split into cards under 30 KB each, numbered, every line (with its
    /// buttons) in exactly one of them, "needs you" once, on the first.
    #[test]
    fn a_long_digest_is_split_into_cards_under_the_limit() {
        let cards = cards(
            Lang::Zh,
            "finance",
            Some("ou_lead"),
            "expediter",
            (0..300).map(line).collect(),
        );
        assert!(cards.len() >= 3, "{} cards", cards.len());
        for (k, c) in cards.iter().enumerate() {
            let text = c.to_string();
            // As sent: the card's JSON inside a string.
            let sent = serde_json::to_string(&text).unwrap().len();
            assert!(sent <= CARD_LIMIT, "card {k}: {sent} bytes as sent");
            let title = c["header"]["title"]["content"].as_str().unwrap();
            assert!(
                title.ends_with(&format!("({}/{})", k + 1, cards.len())),
                "{title}"
            );
            assert_eq!(text.contains("需要你处理"), k == 0, "card {k}");
        }
        for n in 0..300 {
            let mark = format!("\"t\":\"t{n:04}\",\"u\"");
            let holding = cards
                .iter()
                .filter(|c| c.to_string().contains(&mark))
                .count();
            assert_eq!(holding, 1, "t{n:04} is in {holding} cards");
        }
        // The oldest first.
        assert!(cards[0].to_string().contains("t0299"));
        // A short one is one card, unnumbered.
        let one = super::cards(Lang::En, "finance", None, "expediter", vec![line(1)]);
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0]["header"]["title"]["content"],
            "finance: 1 pending assignment"
        );
    }
}
