//! A click on a card the app's bot sent (`card.action.trigger`): the clicker matched to a
//! person (by open_id, or the email of their last sign-in with Feishu) and a role, the act done
//! through the console's own services — so a card may do only what that person may do on the
//! pages, and it lands in the audit trail — once per event (its `event_id` claimed in the
//! database: a redelivery, or the other host of a pair, does not act twice), answered with a
//! toast and the card redrawn.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::error::Failure;
use super::services::Services;
use super::visitor::Visitor;
use super::{Ground, Live, data, roles};
use crate::i18n::Lang;

/// How long a claimed event id is kept (a redelivery comes within minutes).
const KEEP_CLAIM: chrono::TimeDelta = chrono::TimeDelta::days(2);
/// The redraw is left out of the answer when it takes longer (the answer is due in 3 s).
const REDRAW_BUDGET: Duration = Duration::from_millis(1500);

/// Where a card is updated after the answer (the click's token, valid 30 minutes).
const CARD_UPDATE: &str = "/open-apis/interactive/v1/card/update";

/// How long an answer waits for the act itself; past it the act finishes on its own and the
/// answer says so (Feishu wants an answer within 3 s).
const ANSWER_BUDGET: Duration = Duration::from_millis(2500);

/// The card clicks' side of the console: one for the process, sharing the console's cache (a
/// snooze from a card shows on the pages at once).
pub struct Cards {
    live: watch::Receiver<Live>,
    cache: data::Cache,
    /// How long the answer waits for the redrawn card (`EXPEDITER_CARD_REDRAW_BUDGET_MS`, for
    /// a database known to be slow); past it the card is updated after the answer.
    budget: Duration,
}

/// Who clicked, as far as the click and our records say.
struct Clicker<'a> {
    open_id: &'a str,
    email: Option<&'a str>,
    admin: bool,
    /// The chat the clicked card is in.
    chat: Option<&'a str>,
}

impl Cards {
    pub fn new(live: watch::Receiver<Live>) -> Arc<Cards> {
        Cards::with_cache(live, data::Cache::default())
    }

    pub(super) fn with_cache(live: watch::Receiver<Live>, cache: data::Cache) -> Arc<Cards> {
        let budget = std::env::var("EXPEDITER_CARD_REDRAW_BUDGET_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map_or(REDRAW_BUDGET, Duration::from_millis)
            .min(REDRAW_BUDGET);
        Arc::new(Cards {
            live,
            cache,
            budget,
        })
    }

    /// The cache the console's pages share with the clicks.
    pub(super) fn cache(&self) -> data::Cache {
        self.cache.clone()
    }

    /// The long connection's handler: each event answered by [`Cards::answer`].
    pub fn handler(self: &Arc<Self>) -> crate::bot::link::Handler {
        let me = self.clone();
        Arc::new(move |event| {
            let me = me.clone();
            Box::pin(async move { me.answer(event).await })
        })
    }

    /// The answer to one event within [`ANSWER_BUDGET`]: the act runs in a task of its own, so
    /// a slow database (or a caller that goes away) never cuts it off halfway; past the budget
    /// the answer says it is being done.
    pub async fn answer(self: &Arc<Self>, event: Value) -> Option<Value> {
        let lang = self.live.borrow().engine.config.expedite.language;
        let me = self.clone();
        let act = tokio::spawn(async move { me.on_event(event).await });
        match tokio::time::timeout(ANSWER_BUDGET, act).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                tracing::error!("bot: a card click's task failed: {e}");
                Some(toast(
                    "error",
                    lang.with(
                        "card-failed",
                        &[("why", lang.t("card-why-internal").into())],
                    ),
                ))
            }
            Err(_) => Some(toast("info", lang.t("card-working"))),
        }
    }

    /// The answer to one event; `None` for an event that is not a card's click.
    async fn on_event(&self, event: Value) -> Option<Value> {
        if event["header"]["event_type"] != "card.action.trigger" {
            return None;
        }
        let ground = Ground::of(&self.live.borrow());
        let lang = ground.config.expedite.language;
        let value = &event["event"]["action"]["value"];
        let act = value["a"].as_str().unwrap_or("");
        let (Some(event_id), Some(open_id)) = (
            plain(&event["header"]["event_id"]),
            plain(&event["event"]["operator"]["open_id"]),
        ) else {
            return Some(toast(
                "error",
                lang.with("card-failed", &[("why", lang.t("card-why-event").into())]),
            ));
        };
        let token = plain(&event["event"]["token"]);
        let chat = plain(&event["event"]["context"]["open_chat_id"]);
        let (outcome, answer) = self
            .act(&ground, lang, (event_id, open_id, token, chat), act, value)
            .await;
        let action = metric_act(act);
        metrics::counter!("expediter_bot_actions_total", "action" => action, "outcome" => outcome)
            .increment(1);
        Some(answer)
    }

    async fn act(
        &self,
        ground: &Ground,
        lang: Lang,
        (event_id, open_id, token, chat): (&str, &str, Option<&str>, Option<&str>),
        act: &str,
        value: &Value,
    ) -> (&'static str, Value) {
        let config = &ground.config;
        let store = &ground.store;
        let unavailable = || {
            toast(
                "error",
                lang.with(
                    "card-failed",
                    &[("why", lang.t("card-why-database").into())],
                ),
            )
        };
        let person = match store.person(open_id).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("bot: a card click could not be checked: {e}");
                return ("failed", unavailable());
            }
        };
        let email = person.as_ref().and_then(|p| p.1.as_deref());
        if !roles::admitted(config, Some(open_id), email) {
            return if person.is_none() {
                ("unknown", toast("warning", lang.t("card-sign-in")))
            } else {
                ("refused", toast("error", lang.t("card-not-yours")))
            };
        }
        let name = person.as_ref().map_or(open_id, |p| p.0.as_str());
        let role = roles::Role::of(config, Some(open_id), email);
        let clicker = Clicker {
            open_id,
            email,
            admin: matches!(role, roles::Role::Admin),
            chat,
        };
        let visitor = Visitor {
            who: format!("{} ({open_id}) via card", strip(name)),
            csrf: None,
            session: None,
            address: Some("card".into()),
            role,
            lang,
        };
        let services = Services::new(ground.clone(), self.cache.clone());
        let key = format!("card:{event_id}");
        let expires = ground.clock.now() + KEEP_CLAIM;
        match store
            .claim_once(&key, "card_event", &visitor.who, expires)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let answer = toast("info", lang.t("card-already"));
                return (
                    "repeated",
                    self.redrawn(ground, value, answer, token, &clicker).await,
                );
            }
            Err(e) => {
                tracing::warn!("bot: a card click could not be claimed: {e}");
                return ("failed", unavailable());
            }
        }
        let done = match act {
            "snooze" => {
                // Only the spans the buttons offer.
                let span = value["d"]
                    .as_str()
                    .filter(|d| matches!(*d, "1d" | "3d"))
                    .unwrap_or("1d");
                let (task, user) = (
                    value["t"].as_str().unwrap_or(""),
                    value["u"].as_str().unwrap_or(""),
                );
                let reason = format!("{} {span}", crate::bot::send::CARD_REASON);
                services
                    .add_silence(&visitor, task, Some(user), Some(span), None, &reason)
                    .await
                    .map(|_| {
                        let who = config
                            .users
                            .iter()
                            .find(|u| u.id == user)
                            .map_or(user, |u| u.display_name());
                        let span = crate::bot::card::span_words(lang, span);
                        lang.with(
                            "card-done",
                            &[
                                ("span", span.into()),
                                ("task", task.into()),
                                ("who", who.into()),
                            ],
                        )
                    })
            }
            "undo" => match value["s"].as_i64() {
                Some(id) => services
                    .end_silence(&visitor, id)
                    .await
                    .map(|_| lang.t("card-undone")),
                None => Err(Failure::BadRequest("no silence named".into())),
            },
            other => Err(Failure::BadRequest(format!("no act {:?}", strip(other)))),
        };
        match done {
            Ok(words) => {
                let answer = toast("success", words);
                (
                    "done",
                    self.redrawn(ground, value, answer, token, &clicker).await,
                )
            }
            Err(f) => {
                let (outcome, words) = match &f {
                    Failure::Forbidden(_) | Failure::NotFound(_) => {
                        ("refused", lang.t("card-not-yours"))
                    }
                    other => (
                        "failed",
                        lang.with("card-failed", &[("why", other.message().into())]),
                    ),
                };
                // A refusal did nothing: a redelivery may ask again (and is refused the same
                // way). A database that did not answer may have written the silence: the
                // claim stays, so it is never made twice (a new click is a new event).
                if matches!(
                    f,
                    Failure::Forbidden(_)
                        | Failure::NotFound(_)
                        | Failure::BadRequest(_)
                        | Failure::BadField(..)
                ) {
                    let _ = store.release_claim(&key, "card_event").await;
                }
                (outcome, toast("error", words))
            }
        }
    }

    /// `answer` with the card the click came from redrawn as it is now; the toast alone when
    /// it cannot be drawn in time — then it is updated after the answer, with the click's
    /// `token`. The button names its digest and, for a personal card, its lead: a lead's card
    /// is redrawn only for that lead (or an admin), a chat's only in that chat, so an edited
    /// value shows nobody another's card.
    async fn redrawn(
        &self,
        ground: &Ground,
        value: &Value,
        mut answer: Value,
        token: Option<&str>,
        clicker: &Clicker<'_>,
    ) -> Value {
        let config = &ground.config;
        let Some(digest) = value["g"]
            .as_str()
            .and_then(|g| config.digests.iter().find(|d| d.name == g))
        else {
            return answer;
        };
        let lead = value["l"].as_str().filter(|l| !l.is_empty());
        let Some(to) = crate::bot::send::recipients(config, digest)
            .into_iter()
            .find(|r| r.lead.as_deref() == lead)
        else {
            return answer;
        };
        let theirs = match lead {
            Some(l) => {
                clicker.admin
                    || crate::config::names_person(l, Some(clicker.open_id), clicker.email)
            }
            None => clicker.chat == Some(to.id.as_str()),
        };
        if !theirs {
            return answer;
        }
        let task = value["t"].as_str().unwrap_or("").to_owned();
        if self.budget.is_zero() {
            if let Some(token) = token {
                update_later(ground, digest.clone(), to, task, token.to_owned());
            }
            return answer;
        }
        let draw =
            crate::bot::send::cards_for(config, digest, &ground.store, ground.clock.now(), &to);
        match tokio::time::timeout(self.budget, draw).await {
            Ok(Ok(cards)) => {
                if let Some(card) = the_one(&cards, &task) {
                    answer["card"] = json!({"type": "raw", "data": card});
                }
            }
            Ok(Err(e)) => tracing::warn!("bot: the card could not be redrawn: {e:#}"),
            Err(_) => {
                if let Some(token) = token {
                    update_later(ground, digest.clone(), to, task, token.to_owned());
                }
            }
        }
        answer
    }
}

/// Card clicks answered for `engine` alone (the demo: no daemon around it).
pub fn handler_for(engine: crate::cycle::Engine) -> crate::bot::link::Handler {
    let (_live, live) = watch::channel(Live {
        engine,
        last_cycle: None,
    });
    Cards::new(live).handler()
}

/// Of a digest's cards, the one holding `task`'s line; `None` when none does (the clicked
/// message is left as it is rather than replaced by another part).
fn the_one<'a>(cards: &'a [Value], task: &str) -> Option<&'a Value> {
    let mark = format!("\"t\":{}", Value::from(task));
    cards
        .iter()
        .find(|c| !task.is_empty() && c.to_string().contains(&mark))
}

/// The delayed update: the card redrawn after the answer went, sent with the click's token.
fn update_later(
    ground: &Ground,
    digest: crate::config::Digest,
    to: crate::bot::send::Recipient,
    task: String,
    token: String,
) {
    let (config, store, clock) = (
        ground.config.clone(),
        ground.store.clone(),
        ground.clock.clone(),
    );
    tokio::spawn(async move {
        let cards =
            match crate::bot::send::cards_for(&config, &digest, &store, clock.now(), &to).await {
                Ok(c) => c,
                Err(e) => return tracing::warn!("bot: the card could not be redrawn: {e:#}"),
            };
        let Some(card) = the_one(&cards, &task) else {
            return;
        };
        let client = match crate::startup::client_for(&config, Default::default(), &clock) {
            Ok(c) => c,
            Err(e) => return tracing::warn!("bot: the card was not updated: {e:#}"),
        };
        match client
            .bot_call(CARD_UPDATE, &json!({"token": token, "card": card}))
            .await
        {
            Ok(_) => {
                tracing::info!(digest = %digest.name, "bot: the card was updated after the answer")
            }
            Err(e) => tracing::warn!(digest = %digest.name, "bot: the card was not updated: {e}"),
        }
    });
}

fn toast(kind: &str, content: String) -> Value {
    json!({"toast": {"type": kind, "content": content}})
}

/// An id from Feishu as we keep it: short, printable, no control or direction characters.
fn plain(v: &Value) -> Option<&str> {
    v.as_str()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .filter(|s| crate::domain::id::parse_id(s).is_ok())
}

/// Text from Feishu for a log line or a record: control and direction characters removed.
fn strip(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !crate::domain::id::is_format_control(*c))
        .take(200)
        .collect()
}

fn metric_act(act: &str) -> &'static str {
    match act {
        "snooze" => "snooze",
        "undo" => "undo",
        _ => "other",
    }
}

/// The largest unsigned body opened (the URL check is a few hundred bytes).
const UNSIGNED_MAX: usize = 1024;

/// `POST /feishu/callback` (`[bot] mode = "http"`): the URL check answered with its challenge,
/// a card click opened (signature, recent timestamp, decryption, the Verification Token) and
/// answered like one over the long connection. Anything else: 401, nothing done.
pub(super) async fn http_callback(
    axum::extract::State(console): axum::extract::State<super::Console>,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    let ground = console.live();
    let Some(crate::config::BotMode::Http {
        encrypt_key,
        verification_token,
    }) = ground.config.bot.as_ref().map(|b| &b.mode)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (Ok(key), Ok(token)) = (encrypt_key.resolve(), verification_token.resolve()) else {
        tracing::error!("bot: the Encrypt Key or the Verification Token cannot be read");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let refuse = |why: &str| {
        // Anyone can post here: said at WARN at most every ten seconds, not once a request.
        static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
        let now = ground.clock.now().timestamp();
        let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= 10 {
            LAST.store(now, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!("bot: a callback was refused: {why}");
        } else {
            tracing::debug!("bot: a callback was refused: {why}");
        }
        (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": why}))).into_response()
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Ok(outer) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON");
    };
    let Some(sealed) = outer["encrypt"].as_str() else {
        return refuse("the body is not encrypted (set the app's Encrypt Key)");
    };
    let signed = header("x-lark-signature").is_some();
    // Only the URL check comes unsigned, and it is small: a larger unsigned body is not
    // decrypted at all.
    if !signed && body.len() > UNSIGNED_MAX {
        return refuse("the signature is missing");
    }
    if signed
        && let Err(e) = crate::bot::http::check(
            header("x-lark-request-timestamp"),
            header("x-lark-request-nonce"),
            header("x-lark-signature"),
            key.expose(),
            &body,
            ground.clock.now().timestamp(),
        )
    {
        return refuse(&e.to_string());
    }
    let Ok(event) = crate::bot::http::decrypt(key.expose(), sealed)
        .map_err(|e| e.to_string())
        .and_then(|plain| serde_json::from_slice::<Value>(&plain).map_err(|e| e.to_string()))
    else {
        return refuse("the body cannot be decrypted with the Encrypt Key");
    };
    let same = |given: &Value| {
        given.as_str().is_some_and(|g| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                g.as_bytes(),
                token.expose().as_bytes(),
            ))
        })
    };
    // The URL check carries no signature: its token proves it.
    if event["type"] == "url_verification" {
        if !same(&event["token"]) {
            return refuse("the verification token does not match");
        }
        return axum::Json(json!({"challenge": event["challenge"]})).into_response();
    }
    if !signed {
        return refuse("the signature is missing");
    }
    if !same(&event["header"]["token"]) {
        return refuse("the verification token does not match");
    }
    axum::Json(
        console
            .cards
            .answer(event)
            .await
            .unwrap_or_else(|| json!({})),
    )
    .into_response()
}
