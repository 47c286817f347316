//! The simulated long connection: the endpoint request, a WebSocket speaking §11's frames
//! (pings answered with pongs carrying the client settings, data frames in fragments), a forced
//! disconnect, a refused handshake — and a button a test presses, reading the answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use crate::bot::frame::{self, Frame, header};

enum Cmd {
    Send(Vec<u8>),
    Close,
}

struct Inner {
    addr: Option<SocketAddr>,
    /// The settings the endpoint and every pong give (seconds).
    ping_interval: u64,
    reconnect_interval: u64,
    /// Refuse every handshake with this status and auth error code.
    refuse: Option<(u16, String)>,
    /// The endpoint answers this code instead of 0.
    endpoint_code: Option<i64>,
    conns: Vec<(u64, mpsc::UnboundedSender<Cmd>)>,
    next_conn: u64,
    endpoint_calls: u64,
    refusals: u64,
    pings: u64,
    seq: u64,
    answers: HashMap<u64, (Frame, Instant)>,
    /// Messages the app's bot sent (`im/v1/messages`), the card parsed, in order.
    messages: Vec<BotMessage>,
    /// Delayed card updates received: (the click's token, the card).
    updates: Vec<(String, serde_json::Value)>,
}

/// A message the app's bot sent.
#[derive(Debug, Clone)]
pub struct BotMessage {
    pub message_id: String,
    pub receive_id_type: String,
    pub receive_id: String,
    pub uuid: Option<String>,
    /// The card (the `content` string, parsed).
    pub card: serde_json::Value,
}

/// The long connection's side of the fake.
pub struct LongConn {
    inner: Mutex<Inner>,
    answered: Notify,
}

impl LongConn {
    pub(super) fn new() -> Arc<LongConn> {
        Arc::new(LongConn {
            inner: Mutex::new(Inner {
                addr: None,
                ping_interval: 1,
                reconnect_interval: 1,
                refuse: None,
                endpoint_code: None,
                conns: Vec::new(),
                next_conn: 0,
                endpoint_calls: 0,
                refusals: 0,
                pings: 0,
                seq: 0,
                answers: HashMap::new(),
                messages: Vec::new(),
                updates: Vec::new(),
            }),
            answered: Notify::new(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Listens for WebSocket clients on 127.0.0.1.
    pub(super) async fn serve(self: &Arc<Self>) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        self.with(|s| s.addr = listener.local_addr().ok());
        let me = self.clone();
        Ok(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move { me.connection(stream).await });
            }
        }))
    }

    /// `POST /callback/ws/endpoint`'s answer.
    pub(super) fn endpoint(&self, right_app: bool) -> serde_json::Value {
        self.with(|s| {
            s.endpoint_calls += 1;
            if !right_app {
                return serde_json::json!({"code": 1000040344, "msg": "app secret invalid"});
            }
            if let Some(code) = s.endpoint_code {
                return serde_json::json!({"code": code, "msg": "busy"});
            }
            let addr = s.addr.expect("the fake's socket is bound");
            serde_json::json!({"code": 0, "msg": "ok", "data": {
                "URL": format!("ws://{addr}/ws?device_id=d-1&service_id=33"),
                "ClientConfig": client_config(s),
            }})
        })
    }

    async fn connection(self: Arc<Self>, stream: tokio::net::TcpStream) {
        let refuse = self.with(|s| s.refuse.clone());
        // The handshake library's callback type: its error is a whole HTTP response.
        #[allow(clippy::result_large_err)]
        let check = move |_: &Request, ok: Response| -> Result<Response, ErrorResponse> {
            match &refuse {
                None => Ok(ok),
                Some((status, code)) => {
                    let mut no = ErrorResponse::new(Some("refused".to_owned()));
                    *no.status_mut() =
                        tokio_tungstenite::tungstenite::http::StatusCode::from_u16(*status)
                            .unwrap_or(tokio_tungstenite::tungstenite::http::StatusCode::FORBIDDEN);
                    let h = no.headers_mut();
                    h.insert(
                        "Handshake-Status",
                        status.to_string().parse().expect("digits"),
                    );
                    h.insert(
                        "Handshake-Msg",
                        "refused by the fake".parse().expect("ascii"),
                    );
                    h.insert("Handshake-Autherrcode", code.parse().expect("digits"));
                    Err(no)
                }
            }
        };
        let socket = match tokio_tungstenite::accept_hdr_async(stream, check).await {
            Ok(s) => s,
            Err(_) => {
                self.with(|s| s.refusals += 1);
                return;
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let id = self.with(|s| {
            s.next_conn += 1;
            s.conns.push((s.next_conn, tx));
            s.next_conn
        });
        let (mut sink, mut stream) = socket.split();
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Send(bytes)) => {
                        if sink.send(Message::Binary(bytes.into())).await.is_err() { break; }
                    }
                    Some(Cmd::Close) | None => {
                        // Dropped, not closed: a connection lost as a network loses one.
                        break;
                    }
                },
                message = stream.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        let Ok(f) = Frame::decode(&bytes) else { continue };
                        if f.method == frame::CONTROL && f.kind() == "ping" {
                            let pong = self.with(|s| {
                                s.pings += 1;
                                Frame {
                                    service: f.service,
                                    method: frame::CONTROL,
                                    headers: vec![header("type", "pong")],
                                    payload: Some(client_config(s).to_string().into_bytes()),
                                    ..Frame::default()
                                }
                            });
                            let pong = Message::Binary(pong.encode().into());
                            if sink.send(pong).await.is_err() {
                                break;
                            }
                        } else if f.method == frame::DATA {
                            self.with(|s| s.answers.insert(f.seq_id, (f, Instant::now())));
                            self.answered.notify_waiters();
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
            }
        }
        self.with(|s| s.conns.retain(|(c, _)| *c != id));
    }

    /// `POST /open-apis/im/v1/messages`: records the card (a `uuid` seen before is the same
    /// message, as Feishu dedupes it) and answers its id.
    pub(super) fn message(&self, id_type: &str, body: &serde_json::Value) -> serde_json::Value {
        let Some(card) = body["content"]
            .as_str()
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        else {
            return serde_json::json!({"code": 230001, "msg": "content is not a card's JSON"});
        };
        if body["msg_type"] != "interactive"
            || body["receive_id"].as_str().is_none_or(str::is_empty)
        {
            return serde_json::json!({"code": 230001, "msg": "invalid message"});
        }
        // The limit counts the content as sent: the card's JSON in a string.
        if serde_json::to_string(&body["content"]).map_or(0, |c| c.len()) > 30 * 1024 {
            return serde_json::json!({"code": 230025, "msg": "message content too long"});
        }
        self.with(|s| {
            let uuid = body["uuid"].as_str().map(str::to_owned);
            if let Some(m) = uuid
                .as_ref()
                .and_then(|u| s.messages.iter().find(|m| m.uuid.as_ref() == Some(u)))
            {
                return serde_json::json!({"code": 0, "data": {"message_id": m.message_id}});
            }
            let message_id = format!("om_{}", s.messages.len() + 1);
            s.messages.push(BotMessage {
                message_id: message_id.clone(),
                receive_id_type: id_type.to_owned(),
                receive_id: body["receive_id"].as_str().unwrap_or("").to_owned(),
                uuid,
                card,
            });
            serde_json::json!({"code": 0, "data": {"message_id": message_id}})
        })
    }

    /// Delayed card updates received: (token, card).
    pub fn card_updates(&self) -> Vec<(String, serde_json::Value)> {
        self.with(|s| s.updates.clone())
    }

    /// The messages the app's bot sent.
    pub fn messages(&self) -> Vec<BotMessage> {
        self.with(|s| s.messages.clone())
    }

    pub fn connections(&self) -> usize {
        self.with(|s| s.conns.len())
    }

    pub fn endpoint_calls(&self) -> u64 {
        self.with(|s| s.endpoint_calls)
    }

    pub fn refusals(&self) -> u64 {
        self.with(|s| s.refusals)
    }

    pub fn pings(&self) -> u64 {
        self.with(|s| s.pings)
    }

    /// Refuse every handshake (`Some((514, "1000040350"))`: too many connections), or stop.
    pub fn refuse(&self, how: Option<(u16, &str)>) {
        self.with(|s| s.refuse = how.map(|(st, c)| (st, c.to_owned())));
    }

    /// The endpoint answers `code` (1: busy) instead of 0.
    pub fn endpoint_code(&self, code: Option<i64>) {
        self.with(|s| s.endpoint_code = code);
    }

    /// Drops every connection without a close frame.
    pub fn drop_all(&self) {
        self.with(|s| {
            for (_, tx) in s.conns.drain(..) {
                let _ = tx.send(Cmd::Close);
            }
        });
    }

    /// Delivers `event` (the JSON of §11 D) to one connected client, in `parts` fragments, and
    /// waits up to five seconds for its answer: the answer's JSON (`data` decoded; `Null` when
    /// the client had nothing to say) and how long it took. `None`: nobody connected, or no
    /// answer in time.
    pub async fn deliver(
        &self,
        event: &serde_json::Value,
        parts: usize,
    ) -> Option<(u16, serde_json::Value, Duration)> {
        self.deliver_to(None, event, parts).await
    }

    /// As [`deliver`](Self::deliver), to the `conn`th connected client (`None`: any one, as
    /// Feishu picks).
    pub async fn deliver_to(
        &self,
        conn: Option<usize>,
        event: &serde_json::Value,
        parts: usize,
    ) -> Option<(u16, serde_json::Value, Duration)> {
        let body = event.to_string().into_bytes();
        let parts = parts.clamp(1, body.len().max(1));
        let (seq, tx) = self.with(|s| {
            s.seq += 1;
            let pick = conn.unwrap_or_else(|| fastrand::usize(0..s.conns.len().max(1)));
            (s.seq, s.conns.get(pick).map(|(_, tx)| tx.clone()))
        });
        let tx = tx?;
        let chunk = body.len().div_ceil(parts);
        let started = Instant::now();
        // Sent last part first: the client must join them in `seq` order.
        for (i, piece) in body.chunks(chunk).enumerate().rev() {
            let f = Frame {
                seq_id: seq,
                log_id: seq * 10,
                service: 33,
                method: frame::DATA,
                headers: vec![
                    header("type", "event"),
                    header("message_id", &format!("msg-{seq}")),
                    header("sum", &body.chunks(chunk).count().to_string()),
                    header("seq", &i.to_string()),
                    header("trace_id", "trace"),
                ],
                payload: Some(piece.to_vec()),
                log_id_new: Some(format!("new-{seq}")),
                ..Frame::default()
            };
            tx.send(Cmd::Send(f.encode())).ok()?;
        }
        let deadline = started + Duration::from_secs(5);
        loop {
            let notified = self.answered.notified();
            if let Some((f, at)) = self.with(|s| s.answers.remove(&seq)) {
                return Some(read_answer(&f, at - started));
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

/// The app bot's routes: the long connection's endpoint and `im/v1/messages`.
pub(super) fn routes(lc: Arc<LongConn>) -> axum::Router<super::Shared> {
    use axum::extract::{Query, State};
    use axum::routing::post;
    let im = lc.clone();
    let up = lc.clone();
    axum::Router::new()
        .route(
            "/open-apis/interactive/v1/card/update",
            post(
                move |State(state): State<super::Shared>,
                      headers: axum::http::HeaderMap,
                      axum::Json(body): axum::Json<serde_json::Value>| {
                    let up = up.clone();
                    async move {
                        if let Err((_, code, msg)) = super::handlers::check_auth(&state, &headers) {
                            return axum::Json(serde_json::json!({"code": code, "msg": msg}));
                        }
                        let token = body["token"].as_str().unwrap_or("").to_owned();
                        if token.is_empty() || !body["card"].is_object() {
                            return axum::Json(
                                serde_json::json!({"code": 10002, "msg": "bad request"}),
                            );
                        }
                        up.with(|s| s.updates.push((token, body["card"].clone())));
                        axum::Json(serde_json::json!({"code": 0, "msg": "ok"}))
                    }
                },
            ),
        )
        .route(
            "/callback/ws/endpoint",
            post(
                move |State(state): State<super::Shared>,
                      axum::Json(body): axum::Json<serde_json::Value>| {
                    let lc = lc.clone();
                    async move {
                        let right = {
                            let s = state.lock().unwrap_or_else(|p| p.into_inner());
                            body["AppID"] == s.app_id.as_str()
                                && body["AppSecret"] == s.app_secret.as_str()
                        };
                        axum::Json(lc.endpoint(right))
                    }
                },
            ),
        )
        .route(
            "/open-apis/im/v1/messages",
            post(
                move |State(state): State<super::Shared>,
                      Query(q): Query<HashMap<String, String>>,
                      headers: axum::http::HeaderMap,
                      axum::Json(body): axum::Json<serde_json::Value>| {
                    let im = im.clone();
                    async move {
                        if let Err((_, code, msg)) = super::handlers::check_auth(&state, &headers) {
                            return axum::Json(serde_json::json!({"code": code, "msg": msg}));
                        }
                        let id_type = q.get("receive_id_type").map_or("open_id", String::as_str);
                        axum::Json(im.message(id_type, &body))
                    }
                },
            ),
        )
}

fn client_config(s: &Inner) -> serde_json::Value {
    serde_json::json!({
        "ReconnectCount": -1,
        "ReconnectInterval": s.reconnect_interval,
        "ReconnectNonce": 0,
        "PingInterval": s.ping_interval,
    })
}

/// The client's answer: its HTTP-style code and the JSON inside `data`.
fn read_answer(f: &Frame, took: Duration) -> (u16, serde_json::Value, Duration) {
    use base64::Engine as _;
    let payload: serde_json::Value = f
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or_default();
    let code = payload["code"].as_u64().unwrap_or(0) as u16;
    let data = payload["data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or(serde_json::Value::Null);
    (code, data, took)
}

/// A card click as Feishu delivers it (`card.action.trigger`).
pub fn card_click(event_id: &str, open_id: &str, value: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "schema": "2.0",
        "header": {
            "event_id": event_id, "event_type": "card.action.trigger", "create_time": "0",
            "token": "", "app_id": "cli_test", "tenant_key": "t1",
        },
        "event": {
            "operator": {"open_id": open_id, "tenant_key": "t1"},
            "token": format!("c-{event_id}"),
            "action": {"value": value, "tag": "button"},
            "context": {"open_message_id": "om_1", "open_chat_id": "oc_1"},
        },
    })
}

/// Posts `event` to `url` as Feishu does in HTTP callback mode: encrypted under `encrypt_key`
/// (a random IV), signed at `at` (seconds; `sign = false` leaves the headers out). The
/// answer's status and JSON.
pub async fn http_callback(
    url: &str,
    encrypt_key: &str,
    event: &serde_json::Value,
    at: i64,
    sign: bool,
) -> (u16, serde_json::Value) {
    let iv: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    let sealed = crate::bot::http::encrypt(encrypt_key, iv, event.to_string().as_bytes());
    let body = serde_json::json!({ "encrypt": sealed }).to_string();
    let nonce = format!("n{}", fastrand::u32(..));
    let Ok(client) = crate::feishu::client_builder().build() else {
        return (0, serde_json::Value::Null);
    };
    let mut req = client.post(url).header("content-type", "application/json");
    if sign {
        let ts = at.to_string();
        let sig = crate::bot::http::signature(&ts, &nonce, encrypt_key, body.as_bytes());
        req = req
            .header("X-Lark-Request-Timestamp", ts)
            .header("X-Lark-Request-Nonce", nonce)
            .header("X-Lark-Signature", sig);
    }
    match req.body(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or_default())
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}
