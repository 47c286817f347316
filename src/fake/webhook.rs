//! A custom bot's webhook, for digests.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::handlers::{CallInfo, feishu_json, gate, record};
use super::{Endpoint, Shared};

/// A custom bot's webhook, as the platform checks it: the token, the body limit, `msg_type`, the
/// signature (key = timestamp + "\n" + secret; within an hour) and the keyword.
pub(super) async fn webhook_handler(
    State(state): State<Shared>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let info = CallInfo {
        at: Instant::now(),
        user: None,
        offset: None,
        task_id: None,
        api_ids: None,
    };
    if let Err(resp) = gate(&state, Endpoint::Webhook, &info).await {
        return resp;
    }
    let (code, msg) = check_webhook(&state, &token, &body);
    record(&state, Endpoint::Webhook, &info, 200, code);
    if code == 0 {
        feishu_json(200, 0, "success", Some(json!({})))
    } else {
        feishu_json(200, code, &msg, None)
    }
}

fn check_webhook(state: &Shared, token: &str, body: &[u8]) -> (i64, String) {
    let mut s = state.lock().expect("fake state");
    let Some(bot) = s.bots.get_mut(token) else {
        return (
            19001,
            "param invalid: incoming webhook access token invalid".into(),
        );
    };
    if body.len() > 20 * 1024 {
        return (
            9499,
            format!("Bad Request: body is {} bytes, over 20 KB", body.len()),
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (9499, "Bad Request: body is not JSON".into());
    };
    match v.get("msg_type").and_then(Value::as_str) {
        Some("interactive") if v.get("card").is_some_and(Value::is_object) => {}
        Some("text" | "post" | "image" | "share_chat") => {}
        _ => return (9499, "Bad Request: msg_type".into()),
    }
    if let Some(secret) = &bot.secret {
        let ts = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<i64>().ok());
        let now = chrono::Utc::now().timestamp();
        let ok = ts.is_some_and(|ts| {
            (now - ts).abs() <= 3600
                && v.get("sign").and_then(Value::as_str) == Some(expected_sign(ts, secret).as_str())
        });
        if !ok {
            return (
                19021,
                "sign match fail or timestamp is not within one hour from current time".into(),
            );
        }
    }
    if let Some(keyword) = &bot.keyword
        && !v.to_string().contains(keyword.as_str())
    {
        return (19024, "Key Words Not Found".into());
    }
    bot.messages.push(v);
    (0, String::new())
}

/// The signature the platform expects, computed here as its page describes it (HMAC-SHA256
/// keyed by `timestamp + "\n" + secret` over an empty message, Base64), independently of the
/// product's own signing.
fn expected_sign(timestamp: i64, secret: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(format!("{timestamp}\n{secret}").as_bytes())
            .expect("HMAC takes any key");
    mac.update(b"");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    /// Feishu's own example: timestamp 1599360473, secret demo_secret.
    const KNOWN: (i64, &str, &str) = (
        1599360473,
        "demo_secret",
        "sdR0eS36UO/d4NpAyDr6RpCJWLJtcheypjGCjiZTm0o=",
    );

    #[test]
    fn the_fake_checks_signatures_against_the_platform_example() {
        assert_eq!(super::expected_sign(KNOWN.0, KNOWN.1), KNOWN.2);
    }
}
