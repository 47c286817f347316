//! Digests: gather a `[[digests]]` entry's tasks from the database, build its card and post it
//! to the custom bot — signed when the bot has a secret, retried a bounded number of times on
//! the codes that ask for it, never printing the webhook URL or the signing secret.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::config::{Config, Digest};
use crate::domain::decide::{self, Verdict};
use crate::domain::digest::{self as card, Item};
use crate::domain::display_label;
use crate::store::Store;

/// Retries after a rate-limit or bad-request answer (9499, 11232, HTTP 429).
const MAX_RETRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("digest \"{digest}\": {message}")]
    Secret { digest: String, message: String },
    #[error("digest \"{digest}\": Feishu code {code}: {msg}{}", advice(*code).map(|a| format!(" — {a}")).unwrap_or_default())]
    Refused {
        digest: String,
        code: i64,
        msg: String,
    },
    #[error("digest \"{digest}\": {message}")]
    Transport { digest: String, message: String },
}

fn advice(code: i64) -> Option<&'static str> {
    Some(match code {
        19021 => {
            "the signature was refused: check sign_secret (and this machine's clock: the timestamp must be within an hour)"
        }
        19022 => "the bot refuses this machine's IP address: add it to the bot's allowed IPs",
        19024 => {
            "the bot requires a keyword in every message: add the keyword to the bot's settings here, or remove it there"
        }
        9499 | 11232 => "rate limited or a bad request: retried with backoff, then given up",
        _ => return None,
    })
}

/// The digest's message at `now`, from the database alone.
pub async fn build(
    config: &Config,
    digest: &Digest,
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let items = items(config, digest, store, now).await?;
    let lang = config.expedite.language;
    let public = config
        .console
        .as_ref()
        .and_then(|c| c.public_url.as_deref());
    let button = public.map(|u| format!("{u}{}", console_selection(digest)));
    Ok(card::message(
        lang,
        &digest.name,
        &subtitle(config, digest),
        items,
        button.as_deref(),
        card::BODY_LIMIT - card::SIGNATURE_ROOM,
    ))
}

/// The line under a digest's tasks: every pending task, or those at least `min_age` old.
pub fn subtitle(config: &Config, digest: &Digest) -> String {
    let lang = config.expedite.language;
    if digest.min_age.is_zero() {
        lang.t("digest-every")
    } else {
        lang.with(
            "digest-min-age",
            &[("age", lang.age(digest.min_age).into())],
        )
    }
}

/// The digest's (task, assignee) lines at `now`, from the database alone.
pub async fn items(
    config: &Config,
    digest: &Digest,
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Item>> {
    let pairs = store.pending_pairs().await?;
    let policy = config.policy();
    let public = config
        .console
        .as_ref()
        .and_then(|c| c.public_url.as_deref());
    let mut items = Vec::new();
    // Each pair's user looked up once, not by a walk of every user.
    let users: std::collections::HashMap<&str, &crate::config::User> =
        config.users.iter().map(|u| (u.id.as_str(), u)).collect();
    for p in &pairs {
        let Some(user) = users.get(p.user_id.as_str()).copied() else {
            continue;
        };
        if !digest.selects(user) || p.missing_since.is_some() {
            continue;
        }
        let facts = p.facts();
        let age = facts.wall_age(now);
        if age < digest.min_age {
            continue;
        }
        let verdict = decide::decide(&policy, user, &facts, now);
        let escalated = p.escalated.cc.is_some() || p.escalated.chat.is_some();
        let over = matches!(verdict, Verdict::Exhausted { sent, .. } if sent > 0);
        let silenced = matches!(verdict, Verdict::Silenced { .. });
        let away = match &verdict {
            Verdict::Away { until, .. } => Some(
                until
                    .with_timezone(&config.schedule.timezone)
                    .format("%m-%d %H:%M")
                    .to_string(),
            ),
            _ => None,
        };
        items.push(Item {
            assignee: user.display_name().to_owned(),
            user_id: user.id.clone(),
            needs_you: (over || escalated) && !silenced && away.is_none(),
            task_id: p.task_id.clone(),
            label: display_label(&p.labels).to_owned(),
            age,
            reminders: p.sent,
            escalated,
            silenced,
            away,
            link: public.map(|u| format!("{u}/tasks/{}", component(&p.task_id))),
        });
    }
    Ok(items)
}

/// A URL component, escaped.
pub fn component(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string()
}

/// The console's task list filtered to the digest's selection, as far as its filters go: one
/// team, or one user; otherwise every task (the list's own filters narrow it from there).
fn console_selection(digest: &Digest) -> String {
    match (digest.teams.as_slice(), digest.users.as_slice()) {
        ([team], []) => format!("/tasks?team={}", component(team)),
        ([], [user]) => format!("/tasks?assignee={}", component(user)),
        _ => "/tasks".to_owned(),
    }
}

/// Posts `message` to the digest's bot, signed when it has a secret.
pub async fn post(
    digest: &Digest,
    message: &Value,
    clock: &Clock,
    timeout: Duration,
) -> Result<(), DigestError> {
    let secret_err = |message: String| DigestError::Secret {
        digest: digest.name.clone(),
        message,
    };
    let url = digest
        .webhook
        .as_ref()
        .ok_or_else(|| secret_err("it has no webhook (it goes through the app's bot)".into()))?
        .resolve()
        .map_err(secret_err)?;
    let sign = digest
        .sign
        .as_ref()
        .map(|s| s.resolve())
        .transpose()
        .map_err(secret_err)?;
    let transport = |message: String| DigestError::Transport {
        digest: digest.name.clone(),
        message,
    };
    let http = crate::feishu::client_builder()
        .timeout(timeout)
        .build()
        .map_err(|e| transport(format!("cannot build the HTTP client: {}", e.without_url())))?;
    let mut attempt = 0;
    loop {
        let mut body = message.clone();
        if let Some(secret) = &sign {
            let ts = clock.now().timestamp();
            body["timestamp"] = json!(ts.to_string());
            body["sign"] = json!(card::sign(ts, secret.expose()));
        }
        let resp = http
            .post(url.expose())
            .json(&body)
            .send()
            .await
            // The URL is the credential: errors are shown without it.
            .map_err(|e| transport(format!("cannot post: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        let answer = read_answer(resp).await.map_err(transport)?;
        let code = answer
            .get("code")
            .or_else(|| answer.get("StatusCode"))
            .and_then(Value::as_i64);
        let msg = answer
            .get("msg")
            .or_else(|| answer.get("StatusMessage"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match code {
            Some(0) if status < 300 => return Ok(()),
            Some(c @ (9499 | 11232)) if attempt < MAX_RETRIES => {
                tracing::warn!(digest = %digest.name, code = c, msg = %msg, "the bot asked to slow down; retrying");
            }
            None if status == 429 && attempt < MAX_RETRIES => {
                tracing::warn!(digest = %digest.name, status, "the bot asked to slow down; retrying");
            }
            Some(code) => {
                return Err(DigestError::Refused {
                    digest: digest.name.clone(),
                    code,
                    msg,
                });
            }
            None => return Err(transport(format!("HTTP {status} without a Feishu answer"))),
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt)).await;
    }
}

/// The most of a bot's answer that is read: it is a few dozen bytes.
const MAX_ANSWER: usize = 64 << 10;

/// A bot's answer, read up to [`MAX_ANSWER`] like every other answer (past it the exchange
/// failed, and the digest may have been posted: it is not posted again); `Null` when it is not
/// JSON.
async fn read_answer(mut resp: reqwest::Response) -> Result<Value, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("cannot read the answer: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!(
                "the answer is larger than {} KiB; it was not read further",
                MAX_ANSWER >> 10
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Builds and posts one digest; logs the outcome. `false` when it failed.
pub async fn run_one(config: &Config, digest: &Digest, store: &Store, clock: &Clock) -> bool {
    let message = match build(config, digest, store, clock.now()).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(digest = %digest.name, "cannot build the digest: {e:#}");
            return false;
        }
    };
    match post(digest, &message, clock, config.feishu.request_timeout).await {
        Ok(()) => {
            tracing::info!(digest = %digest.name, bytes = message.to_string().len(), "digest posted");
            true
        }
        Err(e) => {
            tracing::error!(digest = %digest.name, "digest not posted: {e}");
            false
        }
    }
}

/// Is today a day this digest posts on (its calendar's working days, or every day)?
pub fn posts_today(config: &Config, digest: &Digest, now: DateTime<Utc>) -> bool {
    match digest.calendar {
        None => true,
        Some(c) => config.calendars[c]
            .is_working_day(now.with_timezone(&config.schedule.timezone).date_naive()),
    }
}
