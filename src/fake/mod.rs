//! A simulated Feishu for tests, benchmarks and `expediter demo`: a real HTTP server on
//! 127.0.0.1 that keeps tasks per user, pages by offset, issues tokens that expire, counts calls
//! per API in sliding windows, validates bodies like the platform, and misbehaves on request
//! (429s, 5xx, garbage, hangs, error codes).
// The simulated platform has a clock of its own, as the real one does.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use tokio::time::Instant;

use crate::feishu::{QUERY_PATH, TOKEN_PATH};

mod acting;
mod handlers;
pub mod longconn;
mod signin;
pub use signin::FakePerson;
pub mod postgres;
mod webhook;

pub use crate::domain::CallKind;
use handlers::{query_handler, token_handler};
use webhook::webhook_handler;

/// The endpoints the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    Query,
    /// A call that acts: its path follows from the kind ([`CallKind::route`]).
    Acts(CallKind),
    /// A custom bot's webhook (digests).
    Webhook,
}

/// A move (transfer or add_assignee) the fake accepted, and acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMove {
    /// A move's endpoint: transfer or add_assignee.
    pub endpoint: Endpoint,
    pub task_id: String,
    /// The operator (`user_id`).
    pub user_id: String,
    /// transfer: `from_user_ids`; add_assignee: empty.
    pub from_user_ids: Vec<String>,
    /// transfer: `to_user_ids`; add_assignee: `approvers`.
    pub to_user_ids: Vec<String>,
    /// add_assignee: `add_assignee_type`.
    pub add_assignee_type: Option<String>,
    pub opinion: Option<String>,
    pub at: Instant,
}

/// The code the fake refuses a move of a task that is not an approval task with.
pub const NOT_APPROVAL_TASK_CODE: i64 = 2320012;
/// The code the fake refuses a move to a user it does not know with.
pub const UNKNOWN_USER_CODE: i64 = 2320013;

/// A task in the simulated tenant.
#[derive(Debug, Clone)]
pub struct FakeTask {
    pub task_id: String,
    pub instance_id: String,
    /// (language code, text)
    pub labels: Vec<(String, String)>,
    /// Epoch milliseconds; `None` omits `task_start_time`.
    pub start_ms: Option<i64>,
    pub initiator_id: String,
    pub initiator_name: String,
    /// Current handlers: the task is listed for each of them.
    pub assignees: Vec<String>,
    /// The flow it belongs to (matched by `api_ids` filters).
    pub api_id: String,
    /// The age `new` was given, so that [`FakeTask::as_of`] can count it from another clock.
    age: Duration,
}

impl FakeTask {
    pub fn new(task_id: impl Into<String>, assignees: &[&str], age: Duration) -> Self {
        let task_id = task_id.into();
        let now_ms = chrono::Utc::now().timestamp_millis();
        Self {
            instance_id: format!("wf-{task_id}"),
            labels: vec![
                ("2052".into(), format!("报销审批 {task_id}")),
                ("1033".into(), format!("Expense approval {task_id}")),
            ],
            start_ms: Some(now_ms - age.as_millis() as i64),
            initiator_id: "9001".into(),
            initiator_name: "Initiator".into(),
            assignees: assignees.iter().map(|s| s.to_string()).collect(),
            api_id: "flow_default".into(),
            age,
            task_id,
        }
    }

    /// Counts the task's age back from `now` (the clock a test set) instead of the system
    /// clock, so that a test pinned to a moment sees the age it asked for on any real date.
    pub fn as_of(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        if self.start_ms.is_some() {
            self.start_ms = Some(now.timestamp_millis() - self.age.as_millis() as i64);
        }
        self
    }

    pub fn label(mut self, zh: &str, en: &str) -> Self {
        self.labels = vec![("2052".into(), zh.into()), ("1033".into(), en.into())];
        self
    }

    pub fn flow(mut self, api_id: &str) -> Self {
        self.api_id = api_id.into();
        self
    }

    pub fn initiator(mut self, id: &str, name: &str) -> Self {
        self.initiator_id = id.into();
        self.initiator_name = name.into();
        self
    }

    pub fn no_start_time(mut self) -> Self {
        self.start_ms = None;
        self
    }
}

/// A misbehaviour to inject.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// HTTP status with a Feishu-looking error body.
    Status(u16),
    /// HTTP 429 with code 99991400 and, when given, `x-ogw-ratelimit-reset`.
    RateLimit { reset_secs: Option<u64> },
    /// A Feishu error code with the given HTTP status.
    Code { code: i64, http_status: u16 },
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// HTTP 200 with JSON cut off in the middle.
    Truncated,
    /// Wait this long, then answer normally (the client's timeout should fire first).
    Hang(Duration),
    /// Answer normally, but process the request first (for expediting: the reminder is
    /// recorded), then hang — the platform acted, the client never hears.
    ActThenHang(Duration),
    /// Process the request (the platform acts), then answer with this fault instead: a gateway
    /// that fails the answer after the work was done.
    ActThen(Box<FaultKind>),
    /// An HTTP status with an HTML page, as a gateway sends it (`504 Gateway Time-out`).
    GatewayPage(u16),
    /// HTTP 200 with a JSON answer that opens and then never ends (256 MiB of blanks, sent as
    /// fast as the client reads).
    EndlessBody,
    /// Finish this task for everyone, then answer normally (a task finishing mid-listing).
    FinishTask(String),
    /// Finish one task and let another arrive at the end of its assignees' lists (a transfer
    /// from a colleague), then answer normally: the total holds while every task after the
    /// finished one moves up a place.
    Shift {
        finish: String,
        arrive: Box<FakeTask>,
    },
}

/// Which calls a fault applies to, and how many times.
#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub user: Option<String>,
    pub offset: Option<u64>,
    pub task_id: Option<String>,
    /// `None`: every matching call.
    pub times: Option<u32>,
    /// Skip this many matching calls before the fault starts.
    pub skip: u32,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(endpoint: Endpoint, kind: FaultKind) -> Self {
        Self {
            endpoint,
            user: None,
            offset: None,
            task_id: None,
            times: Some(1),
            skip: 0,
            kind,
        }
    }
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    pub fn task(mut self, task_id: &str) -> Self {
        self.task_id = Some(task_id.into());
        self
    }
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }
    pub fn after(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }
}

/// An expediting call the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedExpedite {
    pub task_id: String,
    pub operator_user_id: String,
    pub expediting_user_ids: Vec<String>,
    pub opinion: Option<String>,
    /// When the platform acted on it.
    pub at: Instant,
}

/// A cc (copy) call the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCc {
    pub task_id: String,
    pub operator_user_id: String,
    pub cc_user_ids: Vec<String>,
    pub at: Instant,
}

/// A chat_group call the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedChat {
    pub task_id: String,
    pub operator_user_id: String,
    pub invite_user_ids: Vec<String>,
    /// The chat_id the request named (inviting into an existing chat).
    pub chat_id_sent: Option<String>,
    pub chat_name: Option<String>,
    /// The chat the fake answered with.
    pub chat_id: String,
    pub at: Instant,
}

/// A custom bot.
#[derive(Debug, Clone)]
pub(super) struct Bot {
    pub(super) secret: Option<String>,
    pub(super) keyword: Option<String>,
    pub(super) messages: Vec<serde_json::Value>,
}

/// One call as the fake saw it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub endpoint: Endpoint,
    pub at: Instant,
    pub status: u16,
    pub code: i64,
    pub user: Option<String>,
    pub offset: Option<u64>,
    pub api_ids: Option<Vec<String>>,
}

pub(super) struct Token {
    pub(super) value: String,
    pub(super) expires: Instant,
}

pub(super) struct FakeState {
    pub(super) app_id: String,
    pub(super) app_secret: String,
    pub(super) token_ttl: Duration,
    pub(super) tokens: Vec<Token>,
    pub(super) token_serial: u64,
    pub(super) tasks: Vec<FakeTask>,
    pub(super) rate_limits: HashMap<Endpoint, (usize, Duration)>,
    pub(super) windows: HashMap<Endpoint, VecDeque<Instant>>,
    pub(super) faults: Vec<Fault>,
    pub(super) calls: Vec<CallRecord>,
    pub(super) expedites: Vec<ReceivedExpedite>,
    pub(super) ccs: Vec<ReceivedCc>,
    pub(super) chats: Vec<ReceivedChat>,
    pub(super) moves: Vec<ReceivedMove>,
    /// Tasks that are not approval tasks (fill-in tasks): moves are refused.
    pub(super) fill_in: Vec<String>,
    /// Users the tenant does not have: moves to them are refused.
    pub(super) unknown_users: Vec<String>,
    /// Chats opened, by id: the task and the members.
    pub(super) chat_members: HashMap<String, (String, Vec<String>)>,
    /// Custom bots by webhook token.
    pub(super) bots: HashMap<String, Bot>,
    /// Write `count` and `task_start_time` as numbers instead of strings.
    pub(super) numeric_fields: bool,
    /// Leave `data.count` out of listing answers.
    pub(super) omit_count: bool,
    /// Tasks listed as an entry no client can read (a bare string).
    pub(super) unreadable: Vec<String>,
    /// Answer every listing page as if it were the first (a gateway that ignores `offset`).
    pub(super) repeat_first_page: bool,
    /// Sign in with Feishu.
    pub(super) signin: signin::SignInState,
}

/// A running simulated Feishu. Stops when dropped.
pub struct FakeFeishu {
    addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    server: tokio::task::JoinHandle<()>,
    /// The app bot's long connection.
    pub long_connection: Arc<longconn::LongConn>,
    ws_server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFeishu {
    fn drop(&mut self) {
        self.server.abort();
        self.ws_server.abort();
        self.long_connection.drop_all();
    }
}

pub(super) type Shared = Arc<Mutex<FakeState>>;

impl FakeFeishu {
    /// Starts the fake on 127.0.0.1 with an ephemeral port.
    pub async fn start(app_id: &str, app_secret: &str) -> std::io::Result<FakeFeishu> {
        let state = Arc::new(Mutex::new(FakeState {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            token_ttl: Duration::from_secs(7200),
            tokens: Vec::new(),
            token_serial: 0,
            tasks: Vec::new(),
            rate_limits: HashMap::new(),
            windows: HashMap::new(),
            faults: Vec::new(),
            calls: Vec::new(),
            expedites: Vec::new(),
            ccs: Vec::new(),
            chats: Vec::new(),
            moves: Vec::new(),
            fill_in: Vec::new(),
            unknown_users: Vec::new(),
            chat_members: HashMap::new(),
            bots: HashMap::new(),
            numeric_fields: false,
            omit_count: false,
            unreadable: Vec::new(),
            repeat_first_page: false,
            signin: Default::default(),
        }));
        let long_connection = longconn::LongConn::new();
        let ws_server = long_connection.serve().await?;
        let mut app = longconn::routes(long_connection.clone())
            .route(TOKEN_PATH, post(token_handler))
            .route(QUERY_PATH, post(query_handler))
            .route("/open-apis/bot/v2/hook/{token}", post(webhook_handler))
            .route("/open-apis/authen/v1/authorize", get(signin::authorize))
            .route("/open-apis/authen/v2/oauth/token", post(signin::token))
            .route("/open-apis/authen/v1/user_info", get(signin::user_info))
            .with_state(state.clone());
        for kind in CallKind::ALL {
            app = app.route(
                &kind.route(),
                post(move |state, path, headers, body| {
                    acting::handler(kind, state, path, headers, body)
                })
                .with_state(state.clone()),
            );
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeFeishu {
            addr,
            state,
            server,
            long_connection,
            ws_server,
        })
    }

    /// Who the simulated browser is signed in to Feishu as (for Sign in with Feishu).
    pub fn sign_in_as(&self, person: Option<FakePerson>) {
        self.with(|s| s.signin.person = person);
    }

    /// The bodies of every code exchange received.
    pub fn oauth_exchanges(&self) -> Vec<serde_json::Value> {
        self.with(|s| s.signin.exchanges.clone())
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }

    pub fn add_task(&self, task: FakeTask) {
        self.with(|s| s.tasks.push(task));
    }

    /// Adds tasks from elsewhere (another task of the test) while the fake runs.
    pub fn task_adder(&self) -> impl Fn(FakeTask) + Send + Sync + 'static {
        let state = self.state.clone();
        move |task| {
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tasks
                .push(task)
        }
    }

    /// The task is no longer pending for anyone.
    pub fn finish_task(&self, task_id: &str) {
        self.with(|s| s.tasks.retain(|t| t.task_id != task_id));
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        self.with(|s| s.token_ttl = ttl);
    }

    /// At most `limit` accepted calls to `endpoint` in any sliding `window`.
    pub fn set_rate_limit(&self, endpoint: Endpoint, limit: usize, window: Duration) {
        self.with(|s| s.rate_limits.insert(endpoint, (limit, window)));
    }

    pub fn set_numeric_fields(&self, on: bool) {
        self.with(|s| s.numeric_fields = on);
    }

    /// Listing answers without `data.count`, as some gateways give them.
    pub fn set_omit_count(&self, on: bool) {
        self.with(|s| s.omit_count = on);
    }

    /// From now on this task's listing entry is unreadable (a string where an object belongs).
    pub fn set_unreadable(&self, task_id: &str) {
        self.with(|s| s.unreadable.push(task_id.to_owned()));
    }

    /// From now on `offset` is ignored: every page is the first one.
    pub fn set_repeat_first_page(&self, on: bool) {
        self.with(|s| s.repeat_first_page = on);
    }

    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    pub fn expedites(&self) -> Vec<ReceivedExpedite> {
        self.with(|s| s.expedites.clone())
    }

    pub fn ccs(&self) -> Vec<ReceivedCc> {
        self.with(|s| s.ccs.clone())
    }

    pub fn chats(&self) -> Vec<ReceivedChat> {
        self.with(|s| s.chats.clone())
    }

    /// Every move (transfer, add_assignee) the fake accepted and acted on.
    pub fn moves(&self) -> Vec<ReceivedMove> {
        self.with(|s| s.moves.clone())
    }

    /// The task is a fill-in task, not an approval task: moving it is refused.
    pub fn set_fill_in(&self, task_id: &str) {
        self.with(|s| s.fill_in.push(task_id.to_owned()));
    }

    /// The tenant has no such user: a move to them is refused.
    pub fn set_unknown_user(&self, user_id: &str) {
        self.with(|s| s.unknown_users.push(user_id.to_owned()));
    }

    /// A task's current handlers, `None` once it is finished.
    pub fn assignees_of(&self, task_id: &str) -> Option<Vec<String>> {
        self.with(|s| {
            s.tasks
                .iter()
                .find(|t| t.task_id == task_id)
                .map(|t| t.assignees.clone())
        })
    }

    /// A custom bot at `/open-apis/bot/v2/hook/{token}`, with a signing secret and a required
    /// keyword when given.
    pub fn add_bot(&self, token: &str, secret: Option<&str>, keyword: Option<&str>) {
        self.with(|s| {
            s.bots.insert(
                token.to_owned(),
                Bot {
                    secret: secret.map(str::to_owned),
                    keyword: keyword.map(str::to_owned),
                    messages: Vec::new(),
                },
            )
        });
    }

    /// What a bot accepted, bodies as sent.
    pub fn bot_messages(&self, token: &str) -> Vec<serde_json::Value> {
        self.with(|s| {
            s.bots
                .get(token)
                .map(|b| b.messages.clone())
                .unwrap_or_default()
        })
    }

    /// The members of a chat the fake opened.
    pub fn chat_members(&self, chat_id: &str) -> Option<Vec<String>> {
        self.with(|s| s.chat_members.get(chat_id).map(|(_, m)| m.clone()))
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.with(|s| s.calls.clone())
    }

    /// The calls recorded since the last take, and forgets them (a long simulation would
    /// otherwise copy a growing record every step).
    pub fn take_calls(&self) -> Vec<CallRecord> {
        self.with(|s| std::mem::take(&mut s.calls))
    }

    pub fn calls_to(&self, endpoint: Endpoint) -> Vec<CallRecord> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.endpoint == endpoint)
                .cloned()
                .collect()
        })
    }

    /// Tokens the fake has issued (for checking they never leak into output).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.with(|s| s.tokens.iter().map(|t| t.value.clone()).collect())
    }
}
