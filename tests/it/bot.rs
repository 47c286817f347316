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
    // Not JSON: answered 500, and the connection stays.
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
