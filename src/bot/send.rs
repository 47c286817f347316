//! Digests through the app's bot: each recipient's lines (a chat gets every line of the digest;
//! each lead, with `to = "leads"`, their teams' lines), as cards with buttons, through
//! `im/v1/messages` — paced on their own (one message at a time, 220 ms apart: under 5 a
//! second to a chat and 1,000 a minute for the app), each with a `uuid` so that a message
//! Feishu received twice shows once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::card::{self, Line, Snoozed};
use crate::clock::Clock;
use crate::config::{BotTo, Config, Digest};
use crate::feishu::FeishuClient;
use crate::store::Store;

const MESSAGES: &str = "/open-apis/im/v1/messages";
/// Between two messages of the bot.
const SPACING: Duration = Duration::from_millis(220);
/// What a silence made from a card says in its reason: `card 1d`.
pub const CARD_REASON: &str = "card";

/// Who receives a digest, and which part: a chat everything, a lead their teams' lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `chat_id`, `open_id` or `email`.
    pub id_type: &'static str,
    pub id: String,
    /// For a lead: the teams whose lines they get (`None`: every line).
    pub teams: Option<BTreeSet<String>>,
    /// A lead's personal card (its buttons redraw that lead's card).
    pub lead: Option<String>,
}

/// The recipients of a `via = "bot"` digest.
pub fn recipients(config: &Config, digest: &Digest) -> Vec<Recipient> {
    match &digest.bot {
        None => Vec::new(),
        Some(BotTo::Chat(chat)) => vec![Recipient {
            id_type: "chat_id",
            id: chat.clone(),
            teams: None,
            lead: None,
        }],
        Some(BotTo::Leads) => {
            // The teams the digest shows: those it names, its users' teams, or every team.
            let shown = |team: &str| {
                if digest.teams.is_empty() && digest.users.is_empty() {
                    return true;
                }
                digest.teams.iter().any(|t| t == team)
                    || config
                        .users
                        .iter()
                        .any(|u| digest.users.contains(&u.id) && u.team.as_deref() == Some(team))
            };
            let mut leads: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for t in config.teams.iter().filter(|t| shown(&t.name)) {
                for l in &t.leads {
                    leads.entry(l.clone()).or_default().insert(t.name.clone());
                }
            }
            leads
                .into_iter()
                .map(|(lead, teams)| Recipient {
                    id_type: if lead.contains('@') {
                        "email"
                    } else {
                        "open_id"
                    },
                    id: lead.clone(),
                    teams: Some(teams),
                    lead: Some(lead),
                })
                .collect()
        }
    }
}

/// The cards of `digest` for one recipient at `now`, from the database.
pub async fn cards_for(
    config: &Config,
    digest: &Digest,
    store: &Store,
    now: DateTime<Utc>,
    to: &Recipient,
) -> anyhow::Result<Vec<Value>> {
    Ok(cards_of(
        config,
        digest,
        &read(config, digest, store, now).await?,
        to,
    ))
}

/// A digest's lines as read once, for every recipient.
pub struct Read {
    items: Vec<crate::domain::digest::Item>,
    snoozes: BTreeMap<(String, String), Snoozed>,
}

/// The digest's lines and the silences cards made, from the database at `now`.
pub async fn read(
    config: &Config,
    digest: &Digest,
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<Read> {
    Ok(Read {
        items: crate::digest::items(config, digest, store, now).await?,
        snoozes: card_silences(store, now).await?,
    })
}

/// One recipient's cards of what was read: a lead's teams' lines, or every line.
pub fn cards_of(config: &Config, digest: &Digest, read: &Read, to: &Recipient) -> Vec<Value> {
    let team_of: std::collections::HashMap<&str, &str> = config
        .users
        .iter()
        .filter_map(|u| Some((u.id.as_str(), u.team.as_deref()?)))
        .collect();
    let lines: Vec<Line> = read
        .items
        .iter()
        .filter(|i| match &to.teams {
            None => true,
            Some(teams) => team_of
                .get(i.user_id.as_str())
                .is_some_and(|t| teams.contains(*t)),
        })
        .map(|item| Line {
            item: item.clone(),
            snoozed: read
                .snoozes
                .get(&(item.task_id.clone(), item.user_id.clone()))
                .cloned(),
        })
        .collect();
    card::cards(
        config.expedite.language,
        &digest.name,
        to.lead.as_deref(),
        &crate::digest::subtitle(config, digest),
        lines,
    )
}

/// The active silences made from a card, by (task, assignee).
async fn card_silences(
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<(String, String), Snoozed>> {
    let mut out = BTreeMap::new();
    for s in store.silences(false, now).await? {
        let (Some(user), Some(span)) = (
            s.user_id.clone(),
            s.reason.strip_prefix(CARD_REASON).map(str::trim),
        ) else {
            continue;
        };
        let by = s
            .created_by
            .split(" (")
            .next()
            .unwrap_or(&s.created_by)
            .to_owned();
        out.insert(
            (s.task_id.clone(), user),
            Snoozed {
                silence_id: s.id,
                span: span.to_owned(),
                by,
            },
        );
    }
    Ok(out)
}

/// Sends a `via = "bot"` digest for its fire time: every recipient's cards, one message each.
/// `false` when any failed (each is logged; the others still go).
pub async fn run_one(
    config: &Config,
    digest: &Digest,
    store: &Store,
    clock: &Clock,
    fire_at: DateTime<Utc>,
) -> bool {
    let client = match crate::startup::client_for(config, Default::default(), clock) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(digest = %digest.name, "digest not sent: {e:#}");
            return false;
        }
    };
    let mut ok = true;
    let mut sent = 0;
    // Read once: every lead's card is drawn from the same lines.
    let read = match read(config, digest, store, clock.now()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(digest = %digest.name, "cannot build the digest: {e:#}");
            return false;
        }
    };
    for to in recipients(config, digest) {
        let cards = cards_of(config, digest, &read, &to);
        for (part, card) in cards.iter().enumerate() {
            if sent > 0 {
                tokio::time::sleep(SPACING).await;
            }
            sent += 1;
            let uuid = format!(
                "{:016x}",
                xxhash_rust::xxh3::xxh3_64(
                    format!("{}|{}|{}|{part}", digest.name, fire_at.timestamp(), to.id).as_bytes()
                )
            );
            match send_retried(&client, &to, card, &uuid).await {
                Ok(id) => {
                    let bytes = card.to_string().len();
                    tracing::info!(digest = %digest.name, to = %to.id, message_id = %id, bytes,
                        "digest sent by the app's bot");
                }
                Err(e) => {
                    ok = false;
                    tracing::error!(digest = %digest.name, to = %to.id,
                        "digest not sent by the app's bot: {e}");
                }
            }
        }
    }
    ok
}

/// One card to one recipient, tried again (twice, a second and then four apart) after a
/// rate limit or an answer that proves nothing: the same `uuid` makes a message Feishu did
/// receive show once.
async fn send_retried(
    client: &FeishuClient,
    to: &Recipient,
    card: &Value,
    uuid: &str,
) -> Result<String, crate::feishu::FeishuError> {
    use crate::feishu::ErrorClass;
    let mut wait = Duration::from_secs(1);
    for _ in 0..2 {
        match send(client, to, card, uuid).await {
            Err(e) if matches!(e.class(), ErrorClass::Transient | ErrorClass::RateLimited) => {
                tracing::warn!(to = %to.id, "a message of the app's bot is tried again: {e}");
                tokio::time::sleep(wait).await;
                wait *= 4;
            }
            other => return other,
        }
    }
    send(client, to, card, uuid).await
}

/// One card to one recipient; the message's id.
pub async fn send(
    client: &FeishuClient,
    to: &Recipient,
    card: &Value,
    uuid: &str,
) -> Result<String, crate::feishu::FeishuError> {
    let data = client
        .bot_call(
            &format!("{MESSAGES}?receive_id_type={}", to.id_type),
            &json!({
                "receive_id": to.id,
                "msg_type": "interactive",
                "content": card.to_string(),
                "uuid": uuid,
            }),
        )
        .await?;
    Ok(data["message_id"].as_str().unwrap_or("").to_owned())
}
