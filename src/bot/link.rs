//! The long connection (§11 A–D of the API notes): fetch the endpoint with the app's
//! credentials, dial the WebSocket it names, ping at the server's interval, join fragments,
//! answer every completed data frame within three seconds, reconnect after the server's jitter
//! and interval — and stop, saying why once, on a fatal answer (bad credentials, too many
//! connections). The engine never waits on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{self, Message};

use super::frame::{self, Fragments, Frame};
use crate::secret::Secret;

/// What answers an event: its JSON in, our answer's JSON out (`None`: nothing to say).
pub type Handler =
    Arc<dyn Fn(serde_json::Value) -> BoxFuture<'static, Option<serde_json::Value>> + Send + Sync>;

/// The server's settings for the client, all in seconds (`ReconnectCount` < 0: no limit).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClientConfig {
    pub reconnect_count: i64,
    pub reconnect_interval: u64,
    pub reconnect_nonce: u64,
    pub ping_interval: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            reconnect_count: -1,
            reconnect_interval: 120,
            reconnect_nonce: 30,
            ping_interval: 120,
        }
    }
}

/// The most a handshake may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection attempt or a connection ended.
#[derive(Debug)]
enum Failure {
    /// Try again after the reconnect interval.
    Retry(String),
    /// Stop: retrying cannot help (bad credentials, too many connections).
    Fatal(String),
}

/// How the long connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to (SIGTERM): the socket was closed cleanly.
    Shutdown,
    /// A fatal answer, said once in the log.
    Fatal(String),
}

enum Ended {
    Shutdown,
    /// The server closed or the socket failed after it was up: reconnect after the jitter.
    Closed(String),
}

pub struct Link {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_secret: Secret,
}

impl Link {
    /// The app's long connection through `base_url` (Feishu's, or the simulated one).
    pub fn new(base_url: &str, app_id: &str, app_secret: Secret) -> anyhow::Result<Link> {
        let http = crate::feishu::client_builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Link {
            http,
            base_url: base_url.to_owned(),
            app_id: app_id.to_owned(),
            app_secret,
        })
    }

    /// Runs until `shutdown` turns true or a fatal answer.
    pub async fn run(&self, handler: Handler, mut shutdown: watch::Receiver<bool>) -> Stopped {
        let mut config = ClientConfig::default();
        let mut failures: i64 = 0;
        loop {
            if *shutdown.borrow() {
                return Stopped::Shutdown;
            }
            let began = Instant::now();
            let outcome = match self.session(&handler, &mut shutdown, &mut config).await {
                // Closed before a ping interval went by: a server that takes connections and
                // drops them is a failed attempt, not a connection (no loop of dials).
                Ok(Ended::Closed(why))
                    if began.elapsed() < Duration::from_secs(config.ping_interval.max(1)) =>
                {
                    Err(Failure::Retry(format!(
                        "closed right after connecting ({why})"
                    )))
                }
                other => other,
            };
            let wait = match outcome {
                Ok(Ended::Shutdown) => return Stopped::Shutdown,
                Ok(Ended::Closed(why)) => {
                    failures = 0;
                    tracing::warn!("bot: the long connection closed ({why}); reconnecting");
                    // The server's jitter, so that every client does not come back at once.
                    Duration::from_millis(fastrand::u64(
                        0..=config.reconnect_nonce.saturating_mul(1000),
                    ))
                }
                Err(Failure::Fatal(why)) => {
                    tracing::error!("bot: the long connection stopped and will not retry: {why}");
                    metrics::counter!("expediter_bot_connection_failures_total", "kind" => "fatal")
                        .increment(1);
                    return Stopped::Fatal(why);
                }
                Err(Failure::Retry(why)) => {
                    failures += 1;
                    metrics::counter!("expediter_bot_connection_failures_total", "kind" => "retry")
                        .increment(1);
                    if config.reconnect_count >= 0 && failures > config.reconnect_count {
                        let why = format!("gave up after {failures} failed attempts: {why}");
                        tracing::error!("bot: the long connection stopped: {why}");
                        return Stopped::Fatal(why);
                    }
                    tracing::warn!(
                        "bot: cannot connect ({why}); trying again in {} s",
                        config.reconnect_interval
                    );
                    Duration::from_secs(config.reconnect_interval)
                }
            }
            // Never sooner than a second, whatever the server's settings say.
            .max(Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return Stopped::Shutdown,
            }
        }
    }

    /// `check --online`: does the endpoint give this app a long connection? The WebSocket's
    /// host when it does (it is not dialled: a connection would take callbacks meant for the
    /// daemon); why not, and whether retrying could help, when it does not.
    pub async fn probe(&self) -> Result<String, (bool, String)> {
        match self.endpoint().await {
            Ok((url, _)) => Ok(reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()),
            Err(Failure::Fatal(why)) => Err((true, why)),
            Err(Failure::Retry(why)) => Err((false, why)),
        }
    }

    /// The endpoint: the WebSocket's URL and the server's client settings.
    async fn endpoint(&self) -> Result<(String, Option<ClientConfig>), Failure> {
        let url = format!(
            "{}/callback/ws/endpoint",
            self.base_url.trim_end_matches('/')
        );
        let answer = self
            .http
            .post(&url)
            .header("locale", "zh")
            .json(&serde_json::json!({
                "AppID": self.app_id,
                "AppSecret": self.app_secret.expose(),
            }))
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("the endpoint request failed: {e}")))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(Failure::Retry(format!(
                "the endpoint answered HTTP {status}"
            )));
        }
        #[derive(Deserialize)]
        struct Answer {
            code: i64,
            #[serde(default)]
            msg: String,
            data: Option<Data>,
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(rename = "URL", default)]
            url: String,
            #[serde(rename = "ClientConfig")]
            client_config: Option<ClientConfig>,
        }
        let answer: Answer = answer
            .json()
            .await
            .map_err(|e| Failure::Retry(format!("the endpoint's answer is not readable: {e}")))?;
        let msg = crate::domain::id::without_bidi_overrides(answer.msg.escape_debug().to_string());
        match answer.code {
            0 => {}
            // Busy, or the server's own trouble.
            1 | 1_000_040_343 => {
                return Err(Failure::Retry(format!(
                    "the endpoint is busy ({}: {msg})",
                    answer.code
                )));
            }
            code => {
                return Err(Failure::Fatal(format!(
                    "the endpoint refused the app ({code}: {msg}); check app_id and the app \
                     secret, and that the app is self-built"
                )));
            }
        }
        let data = answer
            .data
            .filter(|d| !d.url.is_empty())
            .ok_or_else(|| Failure::Retry("the endpoint gave no URL".into()))?;
        Ok((data.url, data.client_config))
    }

    async fn session(
        &self,
        handler: &Handler,
        shutdown: &mut watch::Receiver<bool>,
        config: &mut ClientConfig,
    ) -> Result<Ended, Failure> {
        // Asking and dialling are bounded, and a stop meanwhile is a stop. The server's settings
        // hold from its answer on, for the wait after a refused dial too.
        let (url, given) = tokio::select! {
            asked = self.endpoint() => asked?,
            _ = shutdown.changed() => return Ok(Ended::Shutdown),
        };
        if let Some(given) = given {
            *config = given;
        }
        let dial = async {
            let service_id = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "service_id")
                        .and_then(|(_, v)| v.parse::<i32>().ok())
                })
                .unwrap_or(0);
            let (socket, _) =
                tokio::time::timeout(DIAL_TIMEOUT, tokio_tungstenite::connect_async(&url))
                    .await
                    .map_err(|_| Failure::Retry("the handshake took longer than 10 s".into()))?
                    .map_err(refused)?;
            Ok::<_, Failure>((socket, service_id))
        };
        let (socket, service_id) = tokio::select! {
            dialled = dial => dialled?,
            _ = shutdown.changed() => return Ok(Ended::Shutdown),
        };
        let (mut sink, mut stream) = socket.split();
        metrics::gauge!("expediter_bot_connected").set(1.0);
        tracing::info!("bot: the long connection is up");
        let ended = async {
            let (answers, mut to_send) = mpsc::channel::<Frame>(64);
            let mut fragments = Fragments::new(Duration::from_secs(5));
            let mut ping_every = Duration::from_secs(config.ping_interval.max(1));
            let mut ping = tokio::time::interval(ping_every);
            let mut heard = Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.changed() => {
                        let _ = sink.send(Message::Close(None)).await;
                        return Ok(Ended::Shutdown);
                    }
                    _ = ping.tick() => {
                        // No pong in three intervals: the connection is gone without a close.
                        if heard.elapsed() > ping_every * 3 {
                            return Ok(Ended::Closed("no answer to three pings".into()));
                        }
                        let ping = Frame::ping(service_id).encode();
                        if let Err(e) = sink.send(Message::Binary(ping.into())).await {
                            return Ok(Ended::Closed(e.to_string()));
                        }
                    }
                    Some(answer) = to_send.recv() => {
                        if let Err(e) = sink.send(Message::Binary(answer.encode().into())).await {
                            return Ok(Ended::Closed(e.to_string()));
                        }
                    }
                    message = stream.next() => {
                        let bytes = match message {
                            None => return Ok(Ended::Closed("the server closed it".into())),
                            Some(Err(e)) => return Ok(Ended::Closed(e.to_string())),
                            Some(Ok(Message::Close(c))) => {
                                return Ok(Ended::Closed(format!("the server closed it ({c:?})")));
                            }
                            Some(Ok(Message::Binary(b))) => b,
                            // Text and WebSocket pings are not the protocol's frames.
                            Some(Ok(_)) => continue,
                        };
                        heard = Instant::now();
                        let Ok(frame) = Frame::decode(&bytes) else {
                            tracing::warn!("bot: a frame that is not a pbbp2 frame was dropped");
                            continue;
                        };
                        match frame.method {
                            frame::CONTROL => {
                                if frame.kind() == "pong"
                                    && let Some(given) = frame
                                        .payload
                                        .as_deref()
                                        .and_then(|p| serde_json::from_slice(p).ok())
                                {
                                    *config = given;
                                    let every = Duration::from_secs(config.ping_interval.max(1));
                                    if every != ping_every {
                                        ping_every = every;
                                        ping = tokio::time::interval_at(
                                            tokio::time::Instant::now() + every,
                                            every,
                                        );
                                    }
                                }
                            }
                            frame::DATA => {
                                if let Some(payload) = fragments.add(&frame) {
                                    answer(handler.clone(), frame, payload, answers.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        .await;
        metrics::gauge!("expediter_bot_connected").set(0.0);
        ended
    }
}

/// Answers one completed message on its own task: the handler's JSON, base64 in the echoed
/// frame; 500 when the payload is not JSON.
fn answer(handler: Handler, frame: Frame, payload: Vec<u8>, answers: mpsc::Sender<Frame>) {
    tokio::spawn(async move {
        let started = Instant::now();
        let reply = match serde_json::from_slice::<serde_json::Value>(&payload) {
            Ok(event) => frame.answer(200, handler(event).await.as_ref(), started.elapsed()),
            Err(e) => {
                tracing::warn!("bot: an event that is not JSON: {e}");
                frame.answer(500, None, started.elapsed())
            }
        };
        let _ = answers.send(reply).await;
    });
}

/// A failed dial: a refused handshake says why in its headers; 403, or 514 with 1000040350
/// (too many connections), is fatal; anything else is tried again.
fn refused(e: tungstenite::Error) -> Failure {
    let tungstenite::Error::Http(response) = &e else {
        return Failure::Retry(format!("cannot dial the long connection: {e}"));
    };
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let status: u16 = header("Handshake-Status")
        .parse()
        .unwrap_or(response.status().as_u16());
    let code = header("Handshake-Autherrcode");
    let msg = crate::domain::id::without_bidi_overrides(
        header("Handshake-Msg").escape_debug().to_string(),
    );
    let why = format!("the handshake was refused ({status}, code {code}: {msg})");
    if status == 403 {
        Failure::Fatal(format!("{why}: the app may not use the long connection"))
    } else if status == 514 && code == "1000040350" {
        Failure::Fatal(format!(
            "{why}: too many connections for this app (at most 50); stop another instance"
        ))
    } else {
        Failure::Retry(why)
    }
}
